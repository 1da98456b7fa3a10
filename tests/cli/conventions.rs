//! CLI conventions (issue 17, item 3): completion scripts that load in a real bash and complete
//! subcommands and flags, a manual page that `man -l` renders, `--version` with the commit, and
//! `LASTGOOD_LOG` as the log level.

use std::process::Command;

use super::common::*;

fn stdout_of(args: &[&str]) -> String {
    let dir = tempdir();
    let out = lastgood(dir.path()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Completes `words` (the last one partial) in a real bash that sourced the script.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _lastgood lastgood '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)]
    );
    let out = Command::new("bash").arg("-c").arg(&line).output().expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_loads_and_completes_subcommands_and_flags() {
    let dir = tempdir();
    let script = dir.path().join("lastgood.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    let load = Command::new("bash").arg("-c").arg(format!("source '{}'", script.display())).output().unwrap();
    assert!(load.status.success() && load.stderr.is_empty(), "{}", String::from_utf8_lossy(&load.stderr));
    assert_eq!(bash_completes(&script, &["lastgood", "rev"]), ["revert"]);
    let restore: Vec<String> = bash_completes(&script, &["lastgood", "restore", "--ta"]);
    assert!(restore.contains(&"--tables".to_string()), "{restore:?}");
    for shell in ["zsh", "fish", "powershell"] {
        let text = stdout_of(&["completions", shell]);
        assert!(text.contains("revert") && text.contains("wal-archive"), "{shell}");
    }
}

#[test]
fn the_manual_page_renders_with_man() {
    if Command::new("man").arg("--version").output().is_err() {
        skip_or_fail_in_ci("the_manual_page_renders_with_man", "man is not installed (apt-get install man-db)");
        return;
    }
    let dir = tempdir();
    let page = dir.path().join("lastgood.1");
    std::fs::write(&page, stdout_of(&["man"])).unwrap();
    let out = Command::new("man").arg("-l").arg(&page).env("MANPAGER", "cat").env("COLUMNS", "100").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NAME") && text.contains("lastgood") && text.contains("revert"), "{text}");
    // One page per subcommand with --dir.
    let pages = dir.path().join("pages");
    let st = lastgood(dir.path()).args(["man", "--dir", pages.to_str().unwrap()]).status().unwrap();
    assert!(st.success());
    assert!(pages.join("lastgood-restore.1").is_file() && pages.join("lastgood.1").is_file());
}

#[test]
fn version_names_the_commit_built_from() {
    let v = stdout_of(&["--version"]);
    let head =
        Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok().filter(|o| o.status.success());
    let want = head.map_or("unknown".to_string(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(v.trim(), format!("lastgood {} ({want})", env!("CARGO_PKG_VERSION")));
}

#[test]
fn lastgood_log_sets_the_level_when_no_flag_does() {
    let dir = tempdir();
    std::fs::write(dir.path().join("old.db"), b"not a database").unwrap();
    let catalog = |env: Option<&str>, flags: &[&str]| {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("lastgood"));
        c.current_dir(dir.path()).env_remove("LASTGOOD_REPO").args(flags).args(["catalog", "--repo", "."]);
        match env {
            Some(v) => c.env("LASTGOOD_LOG", v),
            None => c.env_remove("LASTGOOD_LOG"),
        };
        c.output().unwrap()
    };
    let quiet = catalog(None, &[]);
    let debug = catalog(Some("debug"), &[]);
    assert!(quiet.status.success() && debug.status.success());
    let (q, d) = (String::from_utf8_lossy(&quiet.stderr), String::from_utf8_lossy(&debug.stderr));
    assert!(!q.contains("ignored") && d.contains("ignored `./old.db`"), "default: {q}\ndebug: {d}");
    // An explicit flag wins over the variable; a bad level is a usage error.
    let flagged = catalog(Some("debug"), &["--quiet"]);
    assert!(!String::from_utf8_lossy(&flagged.stderr).contains("ignored"));
    let bad = catalog(Some("loud"), &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("LASTGOOD_LOG"));
}

/// `--color`: in a real terminal (a pty from `script`), `auto` colors the labels unless NO_COLOR
/// is set; `never` and a pipe give plain text; `always` colors even into a pipe.
#[test]
fn labels_are_colored_in_a_terminal_unless_no_color_or_never() {
    let dir = tempdir();
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let line = |color: &str| format!("{} -q --color {color} restore --backup nope --repo .", bin.display());
    let in_pty = |cmd: &str, no_color: bool| {
        let mut c = Command::new("script");
        c.current_dir(dir.path()).args(["-qec", cmd, "/dev/null"]).env_remove("LASTGOOD_REPO");
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().expect("script (util-linux)").stdout).into_owned()
    };
    let red = "\x1b[1;31merror:\x1b[0m";
    let colored = in_pty(&line("auto"), false);
    assert!(colored.contains(red) && colored.contains("\x1b[36mhint:"), "{colored:?}");
    let plain = in_pty(&line("auto"), true);
    assert!(plain.contains("error: no backup") && !plain.contains('\x1b'), "{plain:?}");
    let never = in_pty(&line("never"), false);
    assert!(never.contains("error: no backup") && !never.contains('\x1b'), "{never:?}");
    let piped = lastgood(dir.path()).args(["restore", "--backup", "nope", "--repo", "."]).output().unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains('\x1b'));
    let always = lastgood(dir.path())
        .args(["--color", "always", "restore", "--backup", "nope", "--repo", "."])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&always.stderr).contains(red));
}
