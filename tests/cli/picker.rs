//! The interactive picker of `restore`, driven in a real pseudo-terminal (tmux), and its refusal
//! without a terminal.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn three_backups(dir: &Path) -> std::path::PathBuf {
    let live = dir.join("live.db");
    let repo = dir.join("repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 10);
    for (i, stamp) in ["2026-11-24T06-00-00", "2026-11-24T07-00-00", "2026-11-24T08-00-00"].iter().enumerate() {
        if i > 0 {
            sqlite3(&live, "INSERT INTO orders(customer_id, item) VALUES (1, 'later')");
        }
        sqlite3(&live, &format!(".backup '{}'", repo.join(format!("shop-{stamp}.db")).display()));
    }
    repo
}

#[test]
fn without_a_terminal_restore_refuses_and_names_the_flags() {
    let dir = tempdir();
    let repo = three_backups(dir.path());
    let out = lastgood(dir.path()).args(["restore", "--repo", repo.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--at TIME or --backup ID"), "{err}");
    assert!(
        !dir.path()
            .join("lastgood-scratch")
            .read_dir()
            .map(|mut d| d.any(|e| e.unwrap().path().extension().is_some_and(|x| x == "db")))
            .unwrap_or(false)
    );
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux installed (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(session: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if screen.contains(needle) {
            return screen;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {needle:?}; screen:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn picker_in_a_pseudo_terminal_restores_the_backup_chosen_with_arrow_keys() {
    let dir = tempdir();
    let repo = three_backups(dir.path());
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let target = dir.path().join("picked.db");
    let session = format!("lastgood-picker-{}", std::process::id());
    let script = format!(
        "export TZ=UTC; cd '{}' && '{}' restore --utc --repo '{}' --into '{}'; echo EXIT=$?; sleep 30",
        dir.path().display(),
        bin.display(),
        repo.display(),
        target.display()
    );
    tmux(&["new-session", "-d", "-s", &session, "-x", "160", "-y", "30", &script]);
    let screen = wait_for(&session, "Pick the backup to restore");
    // The newest backup (08:00) is preselected; two steps up is the 06:00 one.
    assert!(screen.contains("2026-11-24 06:00:00"), "{screen}");
    tmux(&["send-keys", "-t", &session, "Up"]);
    tmux(&["send-keys", "-t", &session, "Up"]);
    tmux(&["send-keys", "-t", &session, "Enter"]);
    let screen = wait_for(&session, "EXIT=");
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("EXIT=0"), "{screen}");
    // The 06:00 backup has the initial 10 orders; the later ones have 11 and 12.
    assert_eq!(rows(&target, "orders").len(), 10, "{screen}");
}
