//! PostgreSQL's own archiver running `lastgood wal-archive %p %f` as its `archive_command`: the
//! segments land in the repository, `pg_waldump` reads them, an unreachable off-site repository
//! does not stop archiving and catches up once it is back.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::cluster_or_skip;

/// pg_stat_archiver: (archived_count, failed_count, last_archived_wal).
fn archiver(c: &Cluster) -> (i64, i64, String) {
    let row = c
        .psql("postgres", "SELECT archived_count, failed_count, coalesce(last_archived_wal, '') FROM pg_stat_archiver");
    let f: Vec<&str> = row.trim().split('|').collect();
    (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].to_string())
}

/// Waits until the server has archived at least `count` files, none failing; returns the last one.
fn wait_archived(c: &Cluster, count: i64) -> String {
    let start = Instant::now();
    loop {
        let (archived, failed, last) = archiver(c);
        assert_eq!(failed, 0, "archive_command failed:\n{}", c.server_log());
        if archived >= count {
            return last;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "nothing archived after 60 s:\n{}", c.server_log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes some WAL and has the server switch to a new segment, so the last one is archived.
fn write_and_switch(c: &Cluster, table: &str) {
    c.psql(
        "postgres",
        &format!("CREATE TABLE {table} AS SELECT x, md5(x::text) AS h FROM generate_series(1, 20000) x"),
    );
    c.psql("postgres", "SELECT pg_switch_wal()");
}

#[test]
fn postgresql_archives_its_wal_through_wal_archive() {
    let c = cluster_or_skip!();
    let top = c.dir.path().join("archive");
    let main = top.join("main");
    fs::create_dir_all(&main).unwrap();
    // The off-site repository is unplugged: its path goes through a file.
    let mount = top.join("offsite");
    fs::write(&mount, b"unplugged").unwrap();
    let offsite = mount.join("repo");
    c.give_to_server_user(&top);
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let command = format!("{} wal-archive %p %f --repo {} --repo {}", bin.display(), s(&main), s(&offsite));
    c.restart_with(&[("archive_mode", "on"), ("archive_command", &command)]);

    write_and_switch(&c, "t1");
    let seg = wait_archived(&c, 1);
    let file = main.join("wal").join(&seg);
    let dump = Command::new(c.bin.join("pg_waldump")).arg(&file).output().unwrap();
    assert!(dump.status.success(), "pg_waldump {}: {}", file.display(), String::from_utf8_lossy(&dump.stderr));
    assert!(String::from_utf8_lossy(&dump.stdout).contains("SWITCH"), "the segment ends with the switch record");
    if let Ok(original) = fs::read(c.data_dir().join("pg_wal").join(&seg)) {
        assert_eq!(fs::read(&file).unwrap(), original, "byte for byte (while the server keeps its copy)");
    }

    let v = json(c.dir.path(), &["catalog", "--repo", s(&main)]);
    assert_eq!(v["backups"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["ignored"], serde_json::json!([]), "archived WAL files are not backups: {v:#}");
    assert_eq!(v["wal_lag"][0]["repository"], s(&offsite), "{v:#}");
    assert!(v["wal_lag"][0]["files"].as_u64().unwrap() >= 1, "{v:#}");

    // The off-site repository is back: the next segment brings it up to date.
    fs::remove_file(&mount).unwrap();
    fs::create_dir_all(&offsite).unwrap();
    c.give_to_server_user(&top);
    let (done, _, _) = archiver(&c);
    write_and_switch(&c, "t2");
    wait_archived(&c, done + 1);
    let archived = files_in(&main.join("wal"));
    assert!(archived.len() >= 2, "{archived:?}");
    assert_eq!(files_in(&offsite.join("wal")), archived);
    for name in &archived {
        assert_eq!(fs::read(offsite.join("wal").join(name)).unwrap(), fs::read(main.join("wal").join(name)).unwrap());
    }
    let v = json(c.dir.path(), &["catalog", "--repo", s(&main)]);
    assert_eq!(v["wal_lag"], serde_json::json!([]), "{v:#}");
}
