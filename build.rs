//! Build script: records the git commit the binary is built from (`lastgood --version`), or
//! `unknown` outside a git checkout.

use std::process::Command;

/// `git ARGS`, trimmed, when it succeeds with some output.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=LASTGOOD_COMMIT={commit}");
    // Rebuild the stamp when the commit moves: HEAD, the branch file it names, packed refs. In a
    // worktree HEAD lives in its own git folder and the refs in the common one, so git says where
    // both are. Only existing paths are watched (cargo reruns a script whose watched path is
    // missing).
    let (Some(dir), Some(common)) = (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"])) else {
        return;
    };
    let mut watched = vec![format!("{dir}/HEAD"), format!("{common}/packed-refs")];
    if let Ok(head) = std::fs::read_to_string(format!("{dir}/HEAD"))
        && let Some(branch) = head.trim().strip_prefix("ref: ")
    {
        watched.push(format!("{common}/{branch}"));
    }
    for w in watched.iter().filter(|w| std::path::Path::new(w).exists()) {
        println!("cargo:rerun-if-changed={w}");
    }
}
