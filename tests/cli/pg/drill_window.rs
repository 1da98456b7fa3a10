//! `drill` on a recovery window (issue 13, items 6 and 7): a real cluster archives its WAL through
//! `lastgood wal-archive`, `lastgood backup --base` starts the window, rows written after it prove
//! that the drill restored the window's end and not a base backup; JSON and JUnit say which
//! window and moment; a missing segment fails the drill naming it (between base backups: the end
//! still restored; after the newest: nothing restored); an unknown window is a config error;
//! nothing (server, instance folder, scratch database) is left behind.

use std::fs;
use std::path::Path;
use std::process::Command;

use quick_junit::Report;

use super::pitr::switch_and_archive;
use super::*;
use crate::cluster_or_skip;

/// No process names the scratch folder, and it holds at most lastgood's marker.
fn nothing_left(scratch: &Path) {
    let ps = Command::new("pgrep").arg("-af").arg(s(scratch)).output().unwrap();
    assert!(ps.stdout.is_empty(), "processes left: {}", String::from_utf8_lossy(&ps.stdout));
    let left: Vec<String> = files_in(scratch).into_iter().filter(|f| f != ".lastgood-scratch").collect();
    assert!(left.is_empty(), "left in the scratch folder: {left:?}");
}

/// A drill config for database `shop` naming `window`.
fn config(c: &Cluster, window: &str) -> String {
    format!(
        "[[database]]\nname = \"shop\"\nrepos = [\"archive/repo\"]\nwindow = \"{window}\"\nserver = \"{}\"\n\
         dbname = \"shop\"\nscratch_dir = \"scratch\"\nmax_age = \"1h\"\nmax_restore_time = \"10m\"\n\
         min_rows = {{ orders = 300 }}\n[[database.check]]\nname = \"rows written after the base backups\"\n\
         sql = \"SELECT count(*) = 100 FROM orders WHERE id > 200\"\n",
        c.url("postgres")
    )
}

#[test]
fn drill_on_a_recovery_window_restores_its_newest_moment_and_fails_on_a_gap() {
    let c = cluster_or_skip!();
    let top = c.dir.path().join("archive");
    let repo = top.join("repo");
    let wal = repo.join("wal");
    fs::create_dir_all(&repo).unwrap();
    c.give_to_server_user(&top);
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let command = format!("{} wal-archive %p %f --repo {}", bin.display(), s(&repo));
    c.restart_with(&[("archive_mode", "on"), ("archive_command", &command)]);
    let scratch = c.dir.path().join("scratch");
    fs::create_dir_all(&scratch).unwrap();
    c.give_to_server_user(&scratch);
    let cwd = c.dir.path();

    c.create_db("shop");
    c.psql("shop", "CREATE TABLE orders(id int PRIMARY KEY, amount int NOT NULL)");
    c.psql("shop", "INSERT INTO orders SELECT x, x FROM generate_series(1, 100) x");
    json(cwd, &["backup", "--base", "--live", &c.url("shop"), "--repo", s(&repo)]);
    c.psql("shop", "INSERT INTO orders SELECT x, x FROM generate_series(101, 150) x");
    let middle = switch_and_archive(&c, &wal);
    c.psql("shop", "INSERT INTO orders SELECT x, x FROM generate_series(151, 200) x");
    json(cwd, &["backup", "--base", "--live", &c.url("shop"), "--repo", s(&repo)]);
    // Rows only the WAL after the newest base backup holds.
    c.psql("shop", "INSERT INTO orders SELECT x, x FROM generate_series(201, 250) x");
    let late = switch_and_archive(&c, &wal);
    c.psql("shop", "INSERT INTO orders SELECT x, x FROM generate_series(251, 300) x");
    switch_and_archive(&c, &wal);

    let catalog = json(cwd, &["catalog", "--repo", s(&repo)]);
    let w = &catalog["windows"][0];
    assert_eq!(w["gaps"].as_array().map(Vec::len), Some(0), "{catalog:#}");
    let system = c.psql("postgres", "SELECT system_identifier FROM pg_control_system()").trim().to_string();
    assert_eq!(w["system"].as_str(), Some(system.as_str()), "{w:#}");

    // The window named by system identifier: restored to its end, the rows written after the
    // base backup there, the report saying which window and moment.
    let cfg = cwd.join("drill.toml");
    fs::write(&cfg, config(&c, &system)).unwrap();
    let junit = cwd.join("drill.xml");
    let (code, v) = drill(cwd, &["--config", s(&cfg), "--junit", s(&junit)]);
    assert_eq!(code, 0, "{:?}\n{v:#}", failed_checks(&v));
    let db = &v["databases"][0];
    let drilled = &db["window"];
    assert_eq!(drilled["id"], w["id"], "{db:#}");
    assert_eq!(drilled["system"].as_str(), Some(system.as_str()), "{db:#}");
    let to = |x: &serde_json::Value| chrono::DateTime::parse_from_rfc3339(x.as_str().unwrap()).unwrap();
    assert_eq!(to(&drilled["moment"]), to(&w["to"]), "the moment drilled is the window's end: {db:#}");
    assert_eq!(to(&drilled["to"]), to(&w["to"]));
    assert_eq!(to(&db["taken_at"]), to(&w["to"]));
    assert_eq!(db["backup_id"], w["id"]);
    let rpo = db["rpo_seconds"].as_i64().unwrap();
    assert!((0..600).contains(&rpo), "RPO {rpo} s: {db:#}");
    assert!(db["rto_seconds"].as_f64().unwrap() > 0.0, "{db:#}");
    let report = Report::deserialize_from_str(&fs::read_to_string(&junit).unwrap()).expect("valid JUnit XML");
    assert_eq!((report.tests, report.failures, report.errors), (report.tests, 0, 0));
    let suite = &report.test_suites[0];
    let names: Vec<String> = suite.test_cases.iter().map(|c| c.name.to_string()).collect();
    for expected in [
        "recovery window",
        "WAL age (RPO)",
        "gaps",
        "restore",
        "integrity_check",
        "min_rows orders",
        "check rows written after the base backups",
        "drop scratch",
        "restore time (RTO)",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    let props: Vec<(String, String)> =
        suite.properties.iter().map(|p| (p.name.to_string(), p.value.to_string())).collect();
    assert!(props.contains(&("recovery window".to_string(), w["id"].as_str().unwrap().to_string())), "{props:?}");
    assert!(props.iter().any(|(n, m)| n == "moment" && to(&serde_json::json!(m)) == to(&w["to"])), "{props:?}");
    assert_eq!(scratch_dbs(&c), "", "the drill dropped its scratch database");
    nothing_left(&scratch);

    // An unknown system identifier is a config error naming it (exit 2), before any restore.
    fs::write(&cfg, config(&c, "1234567")).unwrap();
    let err = fails(cwd, &["drill", "--config", s(&cfg)], 2);
    assert!(err.contains("1234567") && err.contains("shop"), "{err}");
    let err = fails(cwd, &["drill", "--repo", s(&repo), "--window", "no/such/wal"], 2);
    assert!(err.contains("no/such/wal"), "{err}");

    // A segment missing between the two base backups: the end is still restored (from the newer
    // one) and every data check passes, but the gap fails the drill, named with its segment.
    fs::remove_file(wal.join(&middle)).unwrap();
    fs::write(&cfg, config(&c, &system)).unwrap();
    let (code, v) = drill(cwd, &["--config", s(&cfg)]);
    assert_eq!(code, 1, "{v:#}");
    let failed = failed_checks(&v);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].starts_with("gaps:") && failed[0].contains(&middle), "{failed:?}");
    let drilled = &v["databases"][0]["window"];
    assert_eq!(to(&drilled["moment"]), to(&w["to"]), "{v:#}");
    assert_eq!(drilled["gaps"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert_eq!(scratch_dbs(&c), "");
    nothing_left(&scratch);

    // A segment missing after the newest base backup: the window ends in a gap; the drill
    // (naming the archive folder this time) fails naming the segment, restores nothing, leaves
    // nothing.
    fs::remove_file(wal.join(&late)).unwrap();
    // Without `repos`, the repository is the one whose wal/ folder is named.
    fs::write(&cfg, config(&c, "archive/repo/wal").replace("repos = [\"archive/repo\"]\n", "")).unwrap();
    assert!(!fs::read_to_string(&cfg).unwrap().contains("repos"));
    let junit = cwd.join("gap.xml");
    let (code, v) = drill(cwd, &["--config", s(&cfg), "--junit", s(&junit)]);
    assert_eq!(code, 1, "{v:#}");
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|f| f.starts_with("gaps:") && f.contains(&middle) && f.contains(&late)), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("restore:") && f.contains(&late)), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("min_rows orders: not run")), "{failed:?}");
    let drilled = &v["databases"][0]["window"];
    assert_eq!(drilled["gaps"].as_array().map(Vec::len), Some(2), "{v:#}");
    assert!(drilled["moment"].is_null(), "{v:#}");
    let xml = fs::read_to_string(&junit).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert!(report.failures >= 2, "{xml}");
    assert!(xml.contains(&late) && xml.contains(&format!("recovery window {}", w["id"].as_str().unwrap())), "{xml}");
    assert_eq!(scratch_dbs(&c), "");
    nothing_left(&scratch);
}
