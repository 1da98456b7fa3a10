//! PostgreSQL: Ctrl-C during a restore exits 130 and drops the scratch database it was filling.

use super::*;
use crate::cluster_or_skip;

#[test]
fn ctrl_c_during_a_restore_drops_the_scratch_database_and_exits_130() {
    let c = cluster_or_skip!();
    c.create_db("big");
    let out = c.tool("pgbench", "big").args(["-i", "-s", "10", "-q"]).output().unwrap();
    assert!(out.status.success());
    let dir = tempdir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    c.pg_dump("big", &["-Fc", "-Z0"], &repo.join("big.dump"));
    let child = lastgood(dir.path())
        .args([
            "restore",
            "--repo",
            repo.to_str().unwrap(),
            "--backup",
            "latest",
            "--live",
            &c.url("big"),
            "--jobs",
            "1",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while scratch_count(&c) == "0" {
        assert!(std::time::Instant::now() < deadline, "the scratch database never appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let st = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(scratch_count(&c), "0", "the interrupted restore left its database");
}
