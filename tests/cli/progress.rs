//! Progress bars, seen on a real pseudo-terminal (tmux): a table copy counts rows, with the
//! catalog's row count as its length, while SQLite copies.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux installed (apt-get install tmux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first line of the screen showing `N/total rows` with 0 < N < total, polled until `done`
/// shows or the deadline passes; `None` if the copy never showed such a line.
fn rows_line_mid_copy(session: &str, total: &str, done: &str) -> (Option<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = None;
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if seen.is_none() {
            seen = screen
                .lines()
                .find(|l| {
                    l.split_whitespace().any(|w| {
                        w.strip_suffix(&format!("/{total}"))
                            .is_some_and(|n| n.chars().any(|c| c.is_ascii_digit() && c != '0'))
                    }) && l.contains(" rows ")
                })
                .map(str::to_string);
        }
        if screen.contains(done) || Instant::now() > deadline {
            return (seen, screen);
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn a_table_copy_shows_rows_copied_against_the_catalogs_count() {
    let dir = tempdir();
    let d = dir.path();
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let backup = repo.join("shop-2026-11-23T06-00-00.db");
    sqlite3(
        &backup,
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT);
         CREATE INDEX orders_customer ON orders(customer);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
           INSERT INTO orders SELECT x, x % 977, 'item ' || x FROM c;",
    );
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let r = repo.to_str().unwrap();
    // Catalog first, so the restore's own scan is not what the screen shows.
    assert!(lastgood(d).args(["--repo", r, "catalog"]).status().unwrap().success());
    let session = format!("lastgood-progress-{}", std::process::id());
    let script = format!(
        "cd '{}' && '{}' --repo '{r}' restore --backup latest --tables orders --into out.db; echo EXIT=$?; sleep 30",
        d.display(),
        bin.display()
    );
    tmux(&["new-session", "-d", "-s", &session, "-x", "200", "-y", "20", &script]);
    let (line, screen) = rows_line_mid_copy(&session, "400,000", "EXIT=");
    tmux(&["kill-session", "-t", &session]);
    assert!(screen.contains("EXIT=0"), "{screen}");
    let line = line.unwrap_or_else(|| panic!("no bar counting rows mid-copy; last screen:\n{screen}"));
    assert!(line.contains("copying `orders`") && line.contains("/s"), "{line}");
    let c = rusqlite::Connection::open(d.join("out.db")).unwrap();
    assert_eq!(c.query_row("SELECT count(*) FROM orders", [], |r| r.get::<_, i64>(0)).unwrap(), 400_000);
}
