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
    // Catalogued first, so that the restore reads cached facts and reaches its rows sooner.
    json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let mut child = lastgood(dir.path())
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
    // The interrupt must land mid-restore: wait for the real condition, pg_restore copying rows
    // into the scratch database (1M rows: seconds of COPY). A loaded machine may take long to
    // get there, hence the generous deadline; a restore that ends first fails the test at once.
    let copying = || {
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'lastgood%' AND state = 'active' AND query ILIKE 'COPY %'",
        )
        .trim()
            != "0"
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while !copying() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the restore ended ({status}) before it copied any row: {err}");
        }
        assert!(std::time::Instant::now() < deadline, "the restore copied no row within 10 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_ne!(scratch_count(&c), "0", "rows are being copied into the scratch database");
    let st = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(scratch_count(&c), "0", "the interrupted restore left its database");
}
