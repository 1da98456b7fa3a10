//! `lastgood bisect`: finding the last known good backup with a check query.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The incident, hour by hour: a shop whose backups are taken by `sqlite3 .backup` every hour
/// from 00:00 to 12:00; orders arrive every hour; at 09:14 a bad script sets every
/// `downloads.filename` to `bad.zip`, so the 10:00, 11:00 and 12:00 backups hold the bad data.
/// Returns (dir holding `repo/` and `live.db`, repo).
pub fn incident_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let live = path(&dir, "live.db");
    let repo = path(&dir, "repo");
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 200);
    for hour in 0..=12 {
        sqlite3(&live, &format!(".backup '{}'", repo.join(format!("shop-2026-11-24T{hour:02}-00-00.db")).display()));
        sqlite3(&live, "INSERT INTO orders(customer_id, item) SELECT 1, 'hourly' FROM customers LIMIT 10");
        if hour == 9 {
            sqlite3(&live, "UPDATE downloads SET filename = 'bad.zip'");
        }
    }
    (dir, repo)
}

pub const CHECK: &str = "SELECT count(*) = 0 FROM downloads WHERE filename = 'bad.zip'";

fn run(dir: &Path, repo: &Path, args: &[&str]) -> Output {
    lastgood(dir).arg("--json").arg("--repo").arg(repo).arg("bisect").args(args).output().unwrap()
}

fn ok_json(out: &Output) -> serde_json::Value {
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hour_of(v: &serde_json::Value) -> String {
    v["taken_at"].as_str().unwrap()[11..16].to_string()
}

#[test]
fn binary_search_names_the_0900_backup_in_at_most_4_checks_and_marks_it_in_the_catalog() {
    let (dir, repo) = incident_repo();
    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK]));
    assert_eq!(hour_of(&v["last_known_good"]), "09:00");
    assert_eq!(hour_of(&v["first_bad"]), "10:00");
    assert_eq!(v["candidates"], 13);
    let checks = v["checks_run"].as_u64().unwrap();
    assert!(checks <= 4, "{checks} checks for 13 backups");
    for e in v["evaluations"].as_array().unwrap() {
        let good = e["taken_at"].as_str().unwrap()[11..13].parse::<u32>().unwrap() <= 9;
        assert_eq!(e["verdict"], if good { "good" } else { "bad" }, "{e}");
        assert_eq!(e["value"], if good { "1" } else { "0" });
    }

    let cat = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let marked: Vec<String> =
        cat["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).map(hour_of).collect();
    assert_eq!(marked, ["09:00"]);

    // A later bisect with another answer moves the mark.
    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK, "--until", "2026-11-24 05:30 +00:00"]));
    assert_eq!(hour_of(&v["last_known_good"]), "05:00");
    let cat = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    let marked: Vec<String> =
        cat["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).map(hour_of).collect();
    assert_eq!(marked, ["05:00"]);
}

#[test]
fn scan_evaluates_every_backup_and_warns_when_good_and_bad_alternate() {
    let (dir, repo) = incident_repo();
    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK, "--scan"]));
    assert_eq!(v["checks_run"], 13);
    assert_eq!(v["alternates"], false);
    assert_eq!(hour_of(&v["last_known_good"]), "09:00");

    // Someone restored a good copy at 11:30: good, bad, good, bad.
    std::fs::copy(repo.join("shop-2026-11-24T09-00-00.db"), repo.join("shop-2026-11-24T11-30-00.db")).unwrap();
    sqlite3(&repo.join("shop-2026-11-24T11-30-00.db"), "INSERT INTO customers(name) VALUES ('distinct content')");
    let out = lastgood(dir.path())
        .args(["--json", "--repo", repo.to_str().unwrap(), "bisect", "--check", CHECK, "--scan"])
        .env_remove("LASTGOOD_REPO")
        .output()
        .unwrap();
    let v = ok_json(&out);
    assert_eq!(v["alternates"], true);
    assert_eq!(hour_of(&v["last_known_good"]), "11:30");
    assert_eq!(hour_of(&v["first_bad"]), "12:00");
    // Without --quiet the warning reaches stderr.
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lastgood"));
    let out = cmd.args(["--repo", repo.to_str().unwrap(), "bisect", "--check", CHECK, "--scan"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("alternate"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("last known good: "));
}

#[test]
fn backups_without_the_table_cannot_tell_and_damaged_or_compressed_backups_are_handled() {
    let (dir, repo) = incident_repo();
    // Three older backups from before the downloads table existed.
    let early = path(&dir, "early.db");
    sqlite3(&early, "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT); INSERT INTO orders(item) VALUES ('x');");
    for h in 21..=23 {
        sqlite3(&early, &format!(".backup '{}'", repo.join(format!("shop-2026-11-23T{h}-00-00.db")).display()));
        sqlite3(&early, "INSERT INTO orders(item) VALUES ('y')");
    }
    // A damaged one, and a gzip-compressed one.
    std::fs::write(repo.join("shop-2026-11-24T06-30-00.db"), b"SQLite format 3\0truncated").unwrap();
    let gz =
        std::process::Command::new("gzip").arg("-k").arg(repo.join("shop-2026-11-24T11-00-00.db")).status().unwrap();
    assert!(gz.success());
    std::fs::remove_file(repo.join("shop-2026-11-24T11-00-00.db")).unwrap();

    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK, "--scan"]));
    assert_eq!(v["candidates"], 16);
    assert_eq!(v["skipped_damaged"].as_array().unwrap().len(), 1);
    let by_hour = |h: &str| v["evaluations"].as_array().unwrap().iter().find(|e| hour_of(e) == h).unwrap().clone();
    assert_eq!(by_hour("21:00")["verdict"], "cannot-tell");
    assert!(by_hour("21:00")["reason"].as_str().unwrap().contains("no such table"));
    assert_eq!(by_hour("11:00")["verdict"], "bad", "the gzip backup is evaluated");
    assert_eq!(hour_of(&v["last_known_good"]), "09:00");

    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK]));
    assert_eq!(hour_of(&v["last_known_good"]), "09:00");
    assert_eq!(hour_of(&v["first_bad"]), "10:00");

    // --tables makes a backup without the table cannot-tell without running the check.
    let v = ok_json(&run(dir.path(), &repo, &["--check", "SELECT 1", "--tables", "downloads", "--scan"]));
    assert_eq!(by_hour("22:00")["verdict"], "cannot-tell");
    let e = v["evaluations"].as_array().unwrap().iter().find(|e| hour_of(e) == "22:00").unwrap().clone();
    assert_eq!(e["reason"], "no table `downloads`");
}

#[test]
fn bad_checks_are_refused_with_documented_exit_codes() {
    let (dir, repo) = incident_repo();
    let code = |check: &str| {
        let out = run(dir.path(), &repo, &["--check", check]);
        assert!(out.stdout.is_empty(), "nothing on stdout for `{check}`");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.starts_with("error: "), "{err}");
        (out.status.code().unwrap(), err)
    };
    assert_eq!(code("SELEC count(*) FROM orders").0, 2);
    assert_eq!(code("SELECT 1; SELECT 2").0, 2);
    assert_eq!(code("DELETE FROM orders").0, 2);
    let (c, err) = code("SELECT 1 WHERE 0");
    assert_eq!(c, 3);
    assert!(err.contains("returned no row"), "{err}");
    let (c, err) = code("SELECT id FROM orders");
    assert_eq!(c, 3);
    assert!(err.contains("several rows"), "{err}");
    let (c, err) = code("SELECT 'yes'");
    assert_eq!(c, 3);
    assert!(err.contains("the text 'yes'"), "{err}");
    assert_eq!(code("SELECT NULL").0, 3);
    // Nothing recorded by a failed bisect.
    let cat = json(dir.path(), &["catalog", "--repo", repo.to_str().unwrap()]);
    assert!(cat["backups"].as_array().unwrap().iter().all(|b| b["last_known_good"] == false));
}

#[test]
fn no_good_backup_exits_1_and_time_window_takes_human_times() {
    let (dir, repo) = incident_repo();
    let out = run(dir.path(), &repo, &["--check", "SELECT count(*) > 1000000 FROM orders"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["last_known_good"].is_null());
    assert_eq!(hour_of(&v["first_bad"]), "00:00");

    let out = lastgood(dir.path())
        .args(["--json", "--utc", "--repo", repo.to_str().unwrap(), "bisect", "--check", CHECK])
        .args(["--since", "2026-11-24 10:00", "--until", "2026-11-24T12:00:00Z"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "every backup since 10:00 is bad");
    assert_eq!(v["candidates"], 3);
    assert_eq!(v["since"], "2026-11-24T10:00:00Z");

    // A relative time right after the flag (clap must not take `-100000h` for a flag).
    let v = ok_json(&run(dir.path(), &repo, &["--check", CHECK, "--since", "-100000h"]));
    assert_eq!(v["candidates"], 13);

    let out = run(dir.path(), &repo, &["--check", CHECK, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("understood `yesterday`"));

    // Bounds the wrong way round are a usage error, not "no usable backup".
    let out = run(
        dir.path(),
        &repo,
        &["--check", CHECK, "--since", "2026-11-24T10:00:00Z", "--until", "2026-11-24T05:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is later than --until") && err.lines().count() <= 2, "{err}");
}

/// The `--json` shape, pinned: a field added, renamed or removed fails here.
#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportShape {
    check: String,
    mode: String,
    since: Option<String>,
    until: Option<String>,
    candidates: usize,
    skipped_damaged: Vec<String>,
    checks_run: usize,
    evaluations: Vec<EvaluationShape>,
    last_known_good: Option<BackupShape>,
    first_bad: Option<BackupShape>,
    cannot_tell_between: Vec<String>,
    alternates: bool,
    seconds: f64,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationShape {
    step: usize,
    backup_id: String,
    taken_at: String,
    path: String,
    verdict: String,
    value: Option<String>,
    reason: Option<String>,
    seconds: f64,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupShape {
    id: String,
    sha256: String,
    content_sha256: String,
    taken_at: String,
    path: String,
}

#[test]
fn json_output_has_the_documented_shape() {
    let (dir, repo) = incident_repo();
    let out = run(dir.path(), &repo, &["--check", CHECK]);
    let r: ReportShape = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.mode, "binary");
    assert_eq!(r.evaluations.len(), r.checks_run);
    assert!(r.evaluations.iter().all(|e| e.verdict == "good" || e.verdict == "bad"));
}

fn lkg_hours(dir: &Path, repo: &Path) -> Vec<String> {
    let catalog = json(dir, &["catalog", "--repo", repo.to_str().unwrap()]);
    catalog["backups"].as_array().unwrap().iter().filter(|b| b["last_known_good"] == true).map(hour_of).collect()
}

#[test]
fn the_lkg_mark_follows_the_newest_verdict_over_all_backups() {
    let (dir, repo) = incident_repo();
    ok_json(&run(dir.path(), &repo, &["--check", CHECK]));
    assert_eq!(lkg_hours(dir.path(), &repo), ["09:00"]);
    // A search limited to a window that holds no good backup says nothing of the others.
    let out = run(dir.path(), &repo, &["--check", CHECK, "--since", "2026-11-24T10:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lkg_hours(dir.path(), &repo), ["09:00"]);
    // A search over every backup with a check no backup passes leaves no stale mark behind.
    let out = run(dir.path(), &repo, &["--check", "SELECT count(*) < 0 FROM orders"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(lkg_hours(dir.path(), &repo).is_empty());
}

/// A check that no backup can evaluate (a table-name typo) used to search, find "no good backup"
/// (exit 1) and clear the LKG mark. It is an invalid check: exit 2 naming the missing table, and
/// the mark stays. A table that only later backups have is not that: the older ones cannot tell.
#[test]
fn a_check_no_backup_can_evaluate_is_a_usage_error_and_leaves_the_lkg_mark() {
    let (dir, repo) = incident_repo();
    ok_json(&run(dir.path(), &repo, &["--check", CHECK]));
    assert_eq!(lkg_hours(dir.path(), &repo), ["09:00"]);
    let typo = "SELECT count(*) = 0 FROM dowloads WHERE filename = 'bad.zip'";
    for extra in [&[][..], &["--scan"][..]] {
        let mut args = vec!["--repo", repo.to_str().unwrap(), "bisect", "--check", typo];
        args.extend(extra);
        let line = fails(dir.path(), &args, 2);
        assert!(line.contains("dowloads") && line.contains("any of the 13 backup(s)"), "{line}");
    }
    let line = fails(
        dir.path(),
        &["--repo", repo.to_str().unwrap(), "bisect", "--check", "SELECT count(nme) FROM customers"],
        2,
    );
    assert!(line.contains("no such column: nme"), "{line}");
    let line = fails(
        dir.path(),
        &["--repo", repo.to_str().unwrap(), "bisect", "--check", "SELECT 1", "--tables", "custmers"],
        2,
    );
    assert!(line.contains("custmers") && line.contains("--tables"), "{line}");
    assert_eq!(lkg_hours(dir.path(), &repo), ["09:00"], "the mark was touched");

    // A table added at 06:00: the backups before cannot tell, the search still answers.
    let live = path(&dir, "live2.db");
    make_shop(&live, 10);
    sqlite3(&live, "CREATE TABLE refunds(id INTEGER PRIMARY KEY)");
    let repo2 = path(&dir, "repo2");
    std::fs::create_dir(&repo2).unwrap();
    for h in 0..9 {
        sqlite3(&live, "INSERT INTO orders(customer_id) VALUES (1)");
        let f = repo2.join(format!("shop-2026-11-24T{h:02}-00-00.db"));
        cli_backup(&live, &f);
        if h < 6 {
            sqlite3(&f, "DROP TABLE refunds");
        }
    }
    for scan in [true, false] {
        let mut args = vec!["--check", "SELECT count(*) = 0 FROM refunds"];
        if scan {
            args.push("--scan");
        }
        let v = ok_json(&run(dir.path(), &repo2, &args));
        assert_eq!(hour_of(&v["last_known_good"]), "08:00", "{v}");
    }
}
