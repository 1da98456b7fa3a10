//! PostgreSQL `drill` over pg_dump archives: passes, fails on a truncated newest archive, and
//! leaves no scratch database on the server.

use quick_junit::Report;

use super::*;
use crate::cluster_or_skip;

#[test]
fn drill_on_postgres_archives_passes_fails_on_a_truncated_newest_and_leaves_no_scratch() {
    let c = cluster_or_skip!();
    make_shop(&c, 300);
    let dir = tempdir();
    let r = repo(dir.path(), "repo");
    backup(dir.path(), &c.url("shop"), &[&r]);
    let junit = dir.path().join("drill.xml");
    let (code, v) = drill(
        dir.path(),
        &[
            "--repo",
            r.to_str().unwrap(),
            "--scratch-url",
            &c.url("postgres"),
            "--max-age",
            "1h",
            "--min-rows",
            "orders=300",
            "--check",
            "SELECT sum(amount) = 67725 FROM orders;",
            "--check",
            "SELECT sum(amount) FROM orders",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    assert!(v["databases"][0]["rto_seconds"].as_f64().unwrap() > 0.0);
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).expect("valid JUnit XML");
    let names: Vec<String> = report.test_suites[0].test_cases.iter().map(|c| c.name.to_string()).collect();
    for expected in
        ["newest backup", "restore", "integrity_check", "min_rows orders", "check 1", "check 2", "drop scratch"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert_eq!(report.failures, 0);
    assert_eq!(scratch_dbs(&c), "", "the drill dropped its scratch database");

    // A failing assertion fails the drill, and the scratch database is gone all the same.
    let (code, v) = drill(
        dir.path(),
        &[
            "--repo",
            r.to_str().unwrap(),
            "--scratch-url",
            &c.url("postgres"),
            "--check",
            "SELECT count(*) = 0 FROM orders",
        ],
    );
    assert_eq!(code, 1);
    assert!(failed_checks(&v).iter().any(|f| f.starts_with("check 1: assertion is false")), "{:?}", failed_checks(&v));
    assert_eq!(scratch_dbs(&c), "");

    // A newer backup, cut short: the drill fails naming it (config file with `server`).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let newest = backup(dir.path(), &c.url("shop"), &[&r]);
    let file = r.join(newest["file"].as_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let cfg = dir.path().join("drill.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[database]]\nname = \"shop\"\nrepos = [\"repo\"]\nserver = \"{}\"\nmin_rows = {{ orders = 300 }}\n",
            c.url("postgres")
        ),
    )
    .unwrap();
    let junit = dir.path().join("fail.xml");
    let (code, v) = drill(dir.path(), &["--config", cfg.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 1);
    let failed = failed_checks(&v);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(failed.iter().any(|f| f.starts_with("restore:") && f.contains("truncated")), "{failed:?}");
    assert!(failed.iter().any(|f| f.contains(name)), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("min_rows orders: not run")), "{failed:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let id = v["databases"][0]["backup_id"].as_str().unwrap();
    assert!(xml.contains(&format!("backup {id}: restore")), "{xml}");
    assert_eq!(scratch_dbs(&c), "", "nothing left after the failed drill");

    // Without a server for the scratch database the restore check fails and says what is missing.
    std::fs::remove_file(&file).unwrap();
    let (code, v) = drill(dir.path(), &["--repo", r.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        failed_checks(&v).iter().any(|f| f.starts_with("restore:") && f.contains("needs a server")),
        "{:?}",
        failed_checks(&v)
    );
    assert_eq!(scratch_dbs(&c), "");
}
