//! PostgreSQL merge in batches (1000 rows per statement): compare-and-set across batch
//! boundaries with a concurrent session meddling while the merge waits, `--strict`, exact typed
//! values, and a constraint error inside a batch (rolled back to the savepoint, replayed row by
//! row, nothing written).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::cluster_or_skip;
use crate::common::*;
use crate::pgcluster::Cluster;

/// Rows in the table: two full batches and a partial one.
const ROWS: i64 = 2500;

/// `live` with `ROWS` rows of typed values, `scr` a copy of it, then every row of `live` damaged.
fn make_pair(c: &Cluster, live: &str, scr: &str) {
    c.create_db(live);
    c.psql(
        live,
        &format!(
            "CREATE TABLE t(id int PRIMARY KEY, v varchar(12), n numeric(8,2), b bytea, at timestamptz);
             INSERT INTO t SELECT g, 'v' || g, g / 4.0, decode(lpad(to_hex(g), 4, '0'), 'hex'),
               '2026-11-24 06:00:00+00'::timestamptz + g * interval '1 second' FROM generate_series(1, {ROWS}) g;"
        ),
    );
    c.psql("postgres", &format!("CREATE DATABASE \"{scr}\" TEMPLATE \"{live}\""));
    c.psql(live, "UPDATE t SET v = 'bad', n = n + 1, b = '\\x00', at = at + interval '1 day'");
}

/// The rows of `t` as text, one line per row, ordered by key.
fn table_text(c: &Cluster, db: &str) -> Vec<String> {
    c.psql(db, "SELECT id, v, n, encode(b, 'hex'), at FROM t ORDER BY id").lines().map(str::to_string).collect()
}

/// Safety snapshot files in `dir` or its snapshot folder.
fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> =
        files_in(dir).into_iter().filter(|f| f.contains("snapshot") && dir.join(f).is_file()).collect();
    let sub = dir.join("lastgood-snapshots");
    if sub.is_dir() {
        found.extend(files_in(&sub));
    }
    found
}

/// Runs `merge --restore updated --apply` (plus `extra`) while another session holds an
/// EXCLUSIVE lock on `t`: once the merge waits for it, that session changes rows 1000 and 1001
/// (the last of the first batch and the first of the second), 2500 (the last row), deletes row 7
/// and commits; the merge then finds them changed since the plan.
fn merge_with_meddling(c: &Cluster, dir: &Path, live: &str, scr: &str, extra: &[&str]) -> Output {
    let mut meddler = postgres::Client::connect(&c.url(live), postgres::NoTls).unwrap();
    let mut m = meddler.transaction().unwrap();
    m.batch_execute("LOCK TABLE t IN EXCLUSIVE MODE").unwrap();
    let child = lastgood(dir)
        .args(["--json", "merge", "--scratch", &c.url(scr), "--live", &c.url(live), "--restore", "updated", "--apply"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting =
        "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation WHERE r.relname = 't' AND NOT l.granted";
    let started = Instant::now();
    while c.psql(live, waiting).trim() == "0" {
        assert!(started.elapsed() < Duration::from_secs(60), "the merge never waited for the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    m.batch_execute("UPDATE t SET v = 'meddled' WHERE id IN (1000, 1001, 2500); DELETE FROM t WHERE id = 7").unwrap();
    m.commit().unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn batched_merge_skips_exactly_the_rows_a_concurrent_session_changed() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    make_pair(&c, "live", "scr");
    let scratch = table_text(&c, "scr");
    let out = merge_with_meddling(&c, dir.path(), "live", "scr", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["applied"].as_u64(), report["skipped"].as_u64()),
        (Some(ROWS as u64 - 4), Some(4)),
        "{report:#}"
    );
    let skipped: Vec<(i64, String)> = report["skipped_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"][0][1].as_i64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    let want = [(7, "deleted since"), (1000, "updated since"), (1001, "updated since"), (2500, "updated since")];
    assert_eq!(skipped, want.map(|(k, r)| (k, r.to_string())));
    // The re-diff finds the three rows still updated; row 7 is now a deleted row, which this
    // merge (`--restore updated`) does not select.
    assert_eq!(report["residual"].as_u64(), Some(3));

    // Every other row holds scratch's exact values; the meddled ones keep the meddler's.
    let live = table_text(&c, "live");
    let meddled = |line: &String| ["7|", "1000|", "1001|", "2500|"].iter().any(|k| line.starts_with(k));
    let expected: Vec<&String> = scratch.iter().filter(|l| !meddled(l)).collect();
    let got: Vec<&String> = live.iter().filter(|l| !meddled(l)).collect();
    assert_eq!(got, expected);
    assert_eq!(
        c.psql("live", "SELECT id, v FROM t WHERE id IN (7, 1000, 1001, 2500) ORDER BY id"),
        "1000|meddled\n1001|meddled\n2500|meddled\n"
    );
    let snapshot = report["snapshot"].as_str().unwrap();
    assert!(dir.path().join(snapshot).is_file(), "the safety snapshot {snapshot} is kept");
}

#[test]
fn batched_strict_merge_aborts_at_the_first_changed_row_and_writes_nothing() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    make_pair(&c, "live", "scr");
    let out = merge_with_meddling(&c, dir.path(), "live", "scr", &["--strict"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--strict") && err.contains("id=7") && err.contains("nothing was written"), "{err}");
    assert_eq!(c.psql("live", "SELECT count(*) FROM t WHERE v = 'bad'").trim(), (ROWS - 4).to_string());
    assert_eq!(c.psql("live", "SELECT count(*) FROM t WHERE v = 'meddled'").trim(), "3");
    assert_eq!(snapshot_files(dir.path()), Vec::<String>::new(), "no snapshot left behind");
}

#[test]
fn a_constraint_broken_inside_a_batch_rolls_back_everything_and_names_the_row() {
    let c = cluster_or_skip!();
    let dir = tempdir();
    make_pair(&c, "live", "scr");
    // Restoring the deleted rows 1..1200 (two batches) collides with a unique value at row 1100.
    c.psql(
        "live",
        "CREATE UNIQUE INDEX t_v ON t(v) WHERE v <> 'bad'; DELETE FROM t WHERE id <= 1200; \
         INSERT INTO t(id, v) VALUES (9000, 'v1100')",
    );
    let before = table_text(&c, "live");
    let out = lastgood(dir.path())
        .args(["merge", "--scratch", &c.url("scr"), "--live", &c.url("live"), "--restore", "deleted", "--apply"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("(id=1100)") && err.contains("duplicate key") && err.contains("t_v"), "{err}");
    assert_eq!(table_text(&c, "live"), before, "nothing was written");
    assert_eq!(snapshot_files(dir.path()), Vec::<String>::new(), "no snapshot left behind");
}
