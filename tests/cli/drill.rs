//! `lastgood backup`, `drill`, `prune` and copy checks: the datacenter-fire questions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use quick_junit::Report;
use rusqlite::Connection;

use crate::common::*;

fn repos(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let r = dir.join(format!("repo{i}"));
            std::fs::create_dir_all(&r).unwrap();
            r
        })
        .collect()
}

fn backup(dir: &Path, live: &Path, repos: &[PathBuf], extra: &[&str]) -> std::process::Output {
    let mut cmd = lastgood(dir);
    cmd.args(["backup", "--live", live.to_str().unwrap()]);
    for r in repos {
        cmd.args(["--repo", r.to_str().unwrap()]);
    }
    cmd.args(extra).output().unwrap()
}

fn drill(dir: &Path, repos: &[PathBuf], extra: &[&str]) -> (i32, serde_json::Value) {
    let mut cmd = lastgood(dir);
    cmd.args(["--json", "drill"]);
    for r in repos {
        cmd.args(["--repo", r.to_str().unwrap()]);
    }
    let out = cmd.args(extra).output().unwrap();
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn failed_checks(v: &serde_json::Value) -> Vec<String> {
    v["databases"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| format!("{}: {}", c["name"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect()
}

#[test]
fn backup_writes_checksummed_copies_with_manifests_and_a_healthy_drill_passes_with_junit() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 500);
    // Two places: the second repository on another filesystem (two repositories on one disk are
    // one place for --require-copies).
    let other = tempdir_on_another_device("drill::backup_writes_checksummed_copies");
    let mut rs = repos(dir.path(), 1);
    rs.push(other.as_ref().map_or(dir.path(), |o| o.path()).join("repo1"));
    std::fs::create_dir_all(&rs[1]).unwrap();
    let required = if other.is_some() { "2" } else { "1" };
    let out = backup(dir.path(), &live, &rs, &["--compress", "gzip"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for r in &rs {
        let files: Vec<_> =
            std::fs::read_dir(r).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        let data = files.iter().find(|f| f.ends_with(".db.gz")).expect("a .db.gz copy");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r.join(format!("{data}.lastgood.json"))).unwrap()).unwrap();
        let sha = sha256_hex(&r.join(data));
        assert_eq!(manifest["sha256"], sha.as_str());
        assert_eq!(manifest["engine"], "sqlite");
        assert!(manifest["tables"].as_array().unwrap().iter().any(|t| t["name"] == "orders" && t["rows"] == 500));
        assert!(!files.iter().any(|f| f.starts_with(".lastgood-tmp")), "{files:?}");
    }
    let junit = dir.path().join("drill.xml");
    let (code, v) = drill(
        dir.path(),
        &rs,
        &[
            "--max-age",
            "1h",
            "--require-copies",
            required,
            "--min-rows",
            "orders=500",
            "--check",
            "SELECT count(*) = 50 FROM customers",
            "--max-restore-time",
            "10m",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    assert!(v["databases"][0]["rpo_seconds"].as_i64().unwrap() < 60);
    assert!(v["databases"][0]["rto_seconds"].as_f64().unwrap() > 0.0);
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).expect("valid JUnit XML");
    let names: Vec<String> = report.test_suites[0].test_cases.iter().map(|c| c.name.to_string()).collect();
    for expected in [
        "newest backup",
        "backup age (RPO)",
        "copies",
        "restore",
        "integrity_check",
        "min_rows orders",
        "check 1",
        "restore time (RTO)",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("verify ")).count(), 2, "{names:?}");
    assert_eq!(report.failures, 0);
}

#[test]
fn drill_fails_and_names_the_reason_for_corrupt_old_or_under_replicated_backups() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 200);
    let rs = repos(dir.path(), 1);
    assert!(backup(dir.path(), &live, &rs, &[]).status.success());

    // One copy, two required.
    let (code, v) = drill(dir.path(), &rs, &["--require-copies", "2"]);
    assert_eq!(code, 1);
    assert!(
        failed_checks(&v).iter().any(|c| c.starts_with("copies:") && c.contains("held in 1 place (1 copy")),
        "{:?}",
        failed_checks(&v)
    );

    // Older than --max-age: a newer-than-zero bound fails.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, v) = drill(dir.path(), &rs, &["--max-age", "1s"]);
    assert_eq!(code, 1);
    assert!(failed_checks(&v).iter().any(|c| c.starts_with("backup age (RPO)")), "{:?}", failed_checks(&v));

    // The newest backup corrupt: a page of its orders table overwritten.
    let file = std::fs::read_dir(&rs[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let page = 4096 * 3;
    for b in &mut bytes[page + 100..page + 900] {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let junit = dir.path().join("j.xml");
    let (code, v) = drill(dir.path(), &rs, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(code, 1);
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|c| c.starts_with("verify ") && c.contains("checksum")), "{failed:?}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert!(report.failures >= 1);
    let id = v["databases"][0]["backup_id"].as_str().unwrap();
    assert!(xml.contains(&format!("backup {id}: verify")), "{xml}");
}

#[test]
fn backup_under_a_concurrent_writer_is_consistent() {
    let dir = tempdir();
    let live = path(&dir, "bank.db");
    {
        let c = Connection::open(&live).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE ledger(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, amount INTEGER NOT NULL);",
        )
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (live, stop) = (live.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut c = Connection::open(&live).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                // Each transaction moves money between two accounts: the sum stays 0.
                let tx = c.transaction().unwrap();
                tx.execute("INSERT INTO ledger(account, amount) VALUES (?1, ?2)", (n % 7, n + 1)).unwrap();
                tx.execute("INSERT INTO ledger(account, amount) VALUES (?1, ?2)", ((n + 3) % 7, -(n + 1))).unwrap();
                tx.commit().unwrap();
                n += 1;
            }
            n
        })
    };
    let rs = repos(dir.path(), 1);
    for _ in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let out = backup(dir.path(), &live, &rs, &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 10, "the writer made progress ({written} transactions)");
    let files: Vec<PathBuf> = std::fs::read_dir(&rs[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "db"))
        .collect();
    assert_eq!(files.len(), 4);
    let mut counts = Vec::new();
    for f in files {
        let c = Connection::open(&f).unwrap();
        let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let (rows, sum): (i64, i64) = c
            .query_row("SELECT count(*), coalesce(sum(amount), 0) FROM ledger", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(sum, 0, "{}", f.display());
        assert_eq!(rows % 2, 0);
        counts.push(rows);
    }
    assert!(counts.iter().any(|&n| n > 0), "{counts:?}");
}

#[test]
fn an_unreachable_repository_fails_the_backup_but_the_others_complete() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 10);
    let good = repos(dir.path(), 1);
    let gone = dir.path().join("offsite-not-mounted");
    let out = backup(dir.path(), &live, &[good[0].clone(), gone.clone()], &[]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("offsite-not-mounted") && err.contains("1 of 2"), "{err}");
    let n = std::fs::read_dir(&good[0])
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "db"))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn a_copy_corrupted_after_the_fact_is_found_by_verify_all_and_shown_in_catalog() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 100);
    let rs = repos(dir.path(), 2);
    assert!(backup(dir.path(), &live, &rs, &[]).status.success());
    let copy = std::fs::read_dir(&rs[1])
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let mut bytes = std::fs::read(&copy).unwrap();
    let last = bytes.len() - 50;
    bytes[last] ^= 0xff;
    std::fs::write(&copy, &bytes).unwrap();

    let mut cmd = lastgood(dir.path());
    cmd.args(["verify", "--all", "--repo", rs[0].to_str().unwrap(), "--repo", rs[1].to_str().unwrap()]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("FAILED") && l.contains("repo1") && l.contains("differs from manifest")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("OK") && l.contains("repo0")), "{text}");

    let v = json(
        dir.path(),
        &["catalog", "--require-copies", "2", "--repo", rs[0].to_str().unwrap(), "--repo", rs[1].to_str().unwrap()],
    );
    let backups = v["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "the damaged copy no longer matches the good one");
    assert!(backups.iter().all(|b| !b["differing_copies"].as_array().unwrap().is_empty()));
    assert!(backups.iter().all(|b| b["under_replicated"] == true));
    assert!(
        backups.iter().any(|b| b["problem"].as_str().is_some_and(|p| p.contains("checksum differs from its manifest")))
    );
}

#[test]
fn prune_keeps_by_rules_and_never_the_newest_verified_backup() {
    let dir = tempdir();
    let repo = repos(dir.path(), 1).remove(0);
    let live = path(&dir, "shop.db");
    make_shop(&live, 5);
    // Six hourly backups, then a damaged newest one.
    for h in 1..=6 {
        sqlite3(&live, "INSERT INTO customers(name) VALUES ('x')");
        sqlite3(&live, &format!(".backup '{}'", repo.join(format!("shop-2026-11-20T{h:02}-00-00.db")).display()));
    }
    std::fs::write(repo.join("shop-2026-11-20T07-00-00.db"), b"SQLite format 3\0 but cut short").unwrap();
    let r = repo.to_str().unwrap();
    // Mark 05:00 as verified (verify writes the mark) by verifying it.
    let v = json(dir.path(), &["catalog", "--repo", r]);
    let five = v["backups"].as_array().unwrap().iter().find(|b| b["taken_at"] == "2026-11-20T05:00:00Z").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(lastgood(dir.path()).args(["verify", &five, "--repo", r]).status().unwrap().success());

    let plan = json(dir.path(), &["prune", "--keep-last", "1", "--dry-run", "--repo", r]);
    let kept: Vec<&str> = plan["plan"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| d["backup_id"].as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "the newest (damaged) by --keep-last and 05:00 as newest healthy: {plan}");
    assert!(kept.contains(&five.as_str()));
    assert_eq!(
        std::fs::read_dir(&repo)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "db"))
            .count(),
        7,
        "dry run removed nothing"
    );

    json(dir.path(), &["prune", "--keep-last", "1", "--repo", r]);
    let mut left: Vec<String> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".db"))
        .collect();
    left.sort();
    assert_eq!(left, ["shop-2026-11-20T05-00-00.db", "shop-2026-11-20T07-00-00.db"]);

    let out = lastgood(dir.path()).args(["prune", "--repo", r]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no rule: refuse to remove everything");
}

#[test]
fn a_drill_config_with_an_unknown_key_names_the_line_and_key() {
    let dir = tempdir();
    let cfg = dir.path().join("drill.toml");
    std::fs::write(&cfg, "[[database]]\nname = \"shop\"\nrepos = [\"r\"]\nmax_age = \"26h\"\nrequire_copys = 2\n")
        .unwrap();
    let out = lastgood(dir.path()).args(["drill", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 5") && err.contains("require_copys"), "{err}");
}

#[test]
fn a_drill_config_naming_a_window_no_repository_holds_is_a_config_error_naming_it() {
    let dir = tempdir();
    let r = repos(dir.path(), 1);
    let live = dir.path().join("live.db");
    sqlite3(&live, "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);");
    assert!(backup(dir.path(), &live, &r, &[]).status.success());
    let cfg = dir.path().join("drill.toml");
    let text = format!("[[database]]\nname = \"shop\"\nrepos = [\"{}\"]\nwindow = \"7301234567890123456\"\n", s(&r[0]));
    std::fs::write(&cfg, text).unwrap();
    let err = fails(dir.path(), &["drill", "--config", s(&cfg)], 2);
    assert!(err.contains("7301234567890123456") && err.contains("shop"), "{err}");
    let err = fails(dir.path(), &["drill", "--repo", s(&r[0]), "--window", "backups/wal"], 2);
    assert!(err.contains("backups/wal"), "{err}");
    // `match` is for file backups.
    std::fs::write(&cfg, "[[database]]\nname = \"shop\"\nwindow = \"1\"\nmatch = \"shop-*\"\n").unwrap();
    let err = fails(dir.path(), &["drill", "--repo", s(&r[0]), "--config", s(&cfg)], 2);
    assert!(err.contains("match"), "{err}");
}

fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(p).unwrap()))
}

/// A tmpfs of `kib` KiB mounted at `dir`, unmounted on drop; `None` where mounting is not allowed.
pub struct TinyDisk(PathBuf);

impl TinyDisk {
    pub fn mount(dir: &Path, kib: u32) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs", dir.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_during_backup_leaves_no_file_under_a_final_name() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 3000);
    let full = dir.path().join("full");
    let Some(_disk) = TinyDisk::mount(&full, 64) else {
        skip_or_fail_in_ci("a_full_disk_during_backup", "cannot mount a tmpfs here (needs root)");
        return;
    };
    let ok = repos(dir.path(), 1).remove(0);
    let out = backup(dir.path(), &live, &[full.clone(), ok.clone()], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "nothing left on the full disk: {left:?}");
    assert_eq!(
        std::fs::read_dir(&ok)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "db"))
            .count(),
        1
    );
}

/// A drill slower than --max-restore-time fails on that check (exit 1), the JUnit report has the
/// failing RTO testcase, and the drill's scratch folder is removed all the same.
#[test]
fn a_drill_over_its_max_restore_time_fails_and_leaves_no_scratch_folder() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 200);
    let rs = repos(dir.path(), 1);
    assert!(backup(dir.path(), &live, &rs, &[]).status.success());
    let tmp = path(&dir, "tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let junit = path(&dir, "rto.xml");
    let out = lastgood(dir.path())
        .env("TMPDIR", &tmp)
        .args(["--json", "drill", "--repo", rs[0].to_str().unwrap(), "--max-restore-time", "1ns"])
        .args(["--junit", junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = failed_checks(&v);
    assert_eq!(failed.len(), 1, "only the RTO check fails: {failed:?}");
    assert!(failed[0].starts_with("restore time (RTO)") && failed[0].contains("max_restore_time"), "{failed:?}");
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    let rto = report.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "restore time (RTO)")
        .expect("RTO testcase");
    assert!(matches!(rto.status, quick_junit::TestCaseStatus::NonSuccess { .. }), "{rto:?}");
    assert_eq!(report.failures, 1);
    let left: Vec<String> = files_in(&tmp).into_iter().filter(|f| f.starts_with("lastgood-drill-")).collect();
    assert!(left.is_empty(), "scratch folder left behind after a failed drill: {left:?}");
}

/// The newest backup, beside its manifest, with its header overwritten: the drill fails on it
/// (it does not pass on the older backup), and the catalog lists it as damaged.
#[test]
fn a_newest_backup_with_a_damaged_header_beside_its_manifest_fails_the_drill() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    sqlite3(&live, "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);");
    let rs = repos(dir.path(), 1);
    assert!(backup(dir.path(), &live, &rs, &[]).status.success());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sqlite3(&live, "INSERT INTO t VALUES (2);");
    let out = backup(dir.path(), &live, &rs, &["--compress", "zstd"]);
    assert!(out.status.success());
    let mut files: Vec<String> =
        files_in(&rs[0]).into_iter().filter(|f| !f.ends_with(".json") && !f.starts_with('.')).collect();
    files.sort();
    let newest = rs[0].join(files.iter().find(|f| f.ends_with(".zst")).unwrap());
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[..4].copy_from_slice(b"XXXX");
    std::fs::write(&newest, bytes).unwrap();

    let (code, v) = drill(dir.path(), &rs, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["databases"][0]["backup_path"], newest.to_str().unwrap(), "{v:#}");
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|f| f.starts_with("verify ") && f.contains("differs from manifest")), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("restore: ") && f.contains("cannot be restored")), "{failed:?}");
}

/// A failed data check names the backup it restored, not the drill's scratch file.
#[test]
fn a_failed_min_rows_check_names_the_backup_not_the_scratch_file() {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    make_shop(&live, 20);
    let rs = repos(dir.path(), 1);
    assert!(backup(dir.path(), &live, &rs, &["--compress", "gzip"]).status.success());
    let (code, v) = drill(dir.path(), &rs, &["--min-rows", "invoices=1", "--min-rows", "orders=20"]);
    assert_eq!(code, 1, "{v:#}");
    let failed = failed_checks(&v);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let path = v["databases"][0]["backup_path"].as_str().unwrap();
    assert!(path.ends_with(".db.gz"), "{path}");
    assert!(failed[0].starts_with("min_rows invoices: ") && failed[0].contains(path), "{failed:?}");
    assert!(!failed[0].contains("drill.db") && !failed[0].contains("lastgood-drill-"), "{failed:?}");
}

/// `--require-copies` counts places, not files: two files in one folder, or two repositories on
/// one filesystem, are one place; a repository on another filesystem is a second place. A copy
/// that fails verify is no place either.
#[test]
fn require_copies_counts_places_not_files() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 50);
    let rs = repos(dir.path(), 2);
    assert!(backup(dir.path(), &live, &rs[..1], &[]).status.success());
    let file = std::fs::read_dir(&rs[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    // A second file of the same content in the same folder, and one in a second repository on the
    // same filesystem.
    std::fs::copy(&file, rs[0].join(format!("copy-of-{name}"))).unwrap();
    std::fs::copy(&file, rs[1].join(&name)).unwrap();
    let (code, v) = drill(dir.path(), &rs, &["--require-copies", "2"]);
    assert_eq!(code, 1, "three files in one place passed: {:?}", failed_checks(&v));
    let failed = failed_checks(&v);
    assert!(failed.iter().any(|c| c.starts_with("copies:") && c.contains("held in 1 place (3 copies")), "{failed:?}");
    let cat = json(dir.path(), &["catalog", "--require-copies", "2", "--repo", s(&rs[0]), "--repo", s(&rs[1])]);
    assert_eq!((cat["backups"][0]["places"].as_u64(), &cat["backups"][0]["under_replicated"]), (Some(1), &true.into()));

    let Some(other) = tempdir_on_another_device("drill::require_copies_counts_places_not_files") else { return };
    let far = other.path().join("offsite");
    std::fs::create_dir(&far).unwrap();
    std::fs::copy(&file, far.join(&name)).unwrap();
    let all = [rs[0].clone(), rs[1].clone(), far.clone()];
    let (code, v) = drill(dir.path(), &all, &["--require-copies", "2"]);
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    let (code, v) = drill(dir.path(), &all, &["--require-copies", "3"]);
    assert_eq!(code, 1, "two filesystems are two places, not three: {:?}", failed_checks(&v));
    // The offsite copy damaged since it was catalogued (same size and mtime, so still a copy of
    // this backup): it fails verify and no longer counts.
    let mut bytes = std::fs::read(far.join(&name)).unwrap();
    let last = bytes.len() - 50;
    bytes[last] ^= 0xff;
    replace_keeping_stamp(&far.join(&name), &bytes);
    let (code, v) = drill(dir.path(), &all, &["--require-copies", "2"]);
    assert_eq!(code, 1, "{:?}", failed_checks(&v));
    let failed = failed_checks(&v);
    assert!(
        failed.iter().any(|c| c.starts_with("copies:") && c.contains("held in 1 place (4 copies, 3 passed verify")),
        "{failed:?}"
    );
}

/// A newest backup dated in the future (the backup host's clock ahead): the drill says so in
/// words, counts the RPO as 0 (a warning, no failure), and never prints "is in the future old".
#[test]
fn a_future_taken_at_is_worded_as_clock_skew_and_counts_as_rpo_zero() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 20);
    let repo = repos(dir.path(), 1).remove(0);
    let ahead = chrono::Utc::now() + chrono::TimeDelta::hours(3);
    cli_backup(&live, &repo.join(format!("shop-{}.db", ahead.format("%Y-%m-%dT%H-%M-%S"))));
    let (code, v) = drill(dir.path(), std::slice::from_ref(&repo), &["--max-age", "1h"]);
    assert_eq!(code, 0, "{:?}", failed_checks(&v));
    let db = &v["databases"][0];
    assert_eq!(db["rpo_seconds"], 0);
    let checks = db["checks"].as_array().unwrap();
    let age = checks.iter().find(|c| c["name"] == "backup age (RPO)").unwrap()["message"].as_str().unwrap();
    assert!(age.contains("in the future (clock skew?)") && age.contains("RPO counted as 0"), "{age}");
    assert!(!age.contains("future old"), "{age}");
    let warnings = db["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("clock skew")), "{db:#}");
    let out = lastgood(dir.path()).args(["drill", "--repo", s(&repo), "--max-age", "1h"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warning: backup") && !text.contains("future old"), "{text}");
}

/// Two newest backups with one taken-at: the drill names both and which it drilled.
#[test]
fn two_newest_backups_with_one_taken_at_are_named() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 20);
    let repo = repos(dir.path(), 1).remove(0);
    cli_backup(&live, &repo.join("shop-2026-11-20T06-00-00.db"));
    sqlite3(&live, "INSERT INTO customers(name) VALUES ('twin')");
    cli_backup(&live, &repo.join("twin-2026-11-20T06-00-00.db"));
    let (_, v) = drill(dir.path(), std::slice::from_ref(&repo), &[]);
    let db = &v["databases"][0];
    let w = db["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(w.contains("share the newest taken-at") && w.contains(db["backup_id"].as_str().unwrap()), "{w}");
}

/// A drill whose repository is missing used to exit 4 with no JUnit file, so CI showed no failing
/// test. Now it is a failing `repositories` testcase naming the folder (exit 1, the drill's
/// failure), and the other databases of the config are still drilled.
#[test]
fn a_missing_repository_is_a_failing_junit_testcase_and_the_other_databases_are_drilled() {
    let dir = tempdir();
    let live = path(&dir, "shop.db");
    make_shop(&live, 50);
    let rs = repos(dir.path(), 1);
    assert!(backup(dir.path(), &live, &rs, &[]).status.success());
    let missing = path(&dir, "gone");
    let config = path(&dir, "drill.toml");
    std::fs::write(
        &config,
        format!(
            "[[database]]\nname = \"crm\"\nrepos = [\"{}\"]\n[[database]]\nname = \"shop\"\nrepos = [\"{}\"]\n",
            missing.display(),
            rs[0].display()
        ),
    )
    .unwrap();
    let junit = path(&dir, "drill.xml");
    let out = lastgood(dir.path())
        .args(["--json", "drill", "--config", config.to_str().unwrap(), "--junit", junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["databases"][1]["ok"], true, "{v:#}");
    let report = Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap();
    assert_eq!(report.failures, 1);
    let case = &report.test_suites[0].test_cases[0];
    assert_eq!(case.name.as_str(), "repositories");
    let quick_junit::TestCaseStatus::NonSuccess { message, .. } = &case.status else { panic!("{case:?}") };
    assert!(message.as_deref().unwrap().contains(missing.to_str().unwrap()), "{message:?}");

    // Flags only, the same.
    let junit = path(&dir, "flags.xml");
    let out = lastgood(dir.path())
        .args(["drill", "--repo", missing.to_str().unwrap(), "--junit", junit.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL default"));
    assert_eq!(Report::deserialize_from_str(&std::fs::read_to_string(&junit).unwrap()).unwrap().failures, 1);
}
