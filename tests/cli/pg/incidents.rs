//! `lastgood incidents` over a real WAL archive: a throwaway cluster archiving through `lastgood
//! wal-archive`, a bad `UPDATE t SET price = 0` at a recorded xid and time among small writes, and
//! the real pg_waldump reading the segments. Also: the filter by table and time, aborted and
//! subtransactions, compressed segments, a damaged and a missing segment, and the refusals.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::cluster_or_skip;

/// Restarts `c` archiving into a new repository `dir/repo` through `lastgood wal-archive`.
fn archive_into_repo(c: &Cluster) -> PathBuf {
    let top = c.dir.path().join("archive");
    let repo = top.join("repo");
    fs::create_dir_all(&repo).unwrap();
    c.give_to_server_user(&top);
    let bin = assert_cmd::cargo::cargo_bin("lastgood");
    let command = format!("{} wal-archive %p %f --repo {}", bin.display(), s(&repo));
    c.restart_with(&[("archive_mode", "on"), ("archive_command", &command)]);
    repo
}

/// Switches to a new segment and waits until the one just left is archived.
fn switch_and_wait(c: &Cluster) -> String {
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())").trim().to_string();
    let start = Instant::now();
    loop {
        let row = c.psql("postgres", "SELECT failed_count, coalesce(last_archived_wal, '') FROM pg_stat_archiver");
        let (failed, last) = row.trim().split_once('|').unwrap();
        assert_eq!(failed, "0", "archive_command failed:\n{}", c.server_log());
        if last >= seg.as_str() {
            return seg;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{seg} not archived after 60 s:\n{}", c.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `lastgood [--json] incidents ARGS` with pg_waldump from the cluster's bin folder.
fn incidents(c: &Cluster, json: bool, args: &[&str]) -> (i32, String, String) {
    let mut cmd = lastgood(c.dir.path());
    cmd.env("LASTGOOD_PG_BIN", &c.bin);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.arg("incidents").args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!e.contains("panicked"), "{e}");
    (out.status.code().unwrap_or(-1), o, e)
}

fn parsed(out: &str, err: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

/// Runs `sql` in one psql call and returns its output lines (unaligned, tuples only).
fn lines(c: &Cluster, sql: &str) -> Vec<String> {
    c.psql("shop", sql).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

fn txn(v: &serde_json::Value, xid: u64) -> Option<&serde_json::Value> {
    v["transactions"].as_array().unwrap().iter().find(|t| t["xid"] == xid)
}

/// The bad transaction's xid and its commit time (seconds since the epoch, just before COMMIT).
fn bad_update(c: &Cluster) -> (u64, f64) {
    let out = lines(
        c,
        "BEGIN; SELECT txid_current(); UPDATE t SET price = 0; \
         SELECT extract(epoch FROM clock_timestamp()); COMMIT;",
    );
    (out[0].parse().unwrap(), out[1].parse().unwrap())
}

#[test]
fn incidents_lists_the_bad_transaction_first_with_its_commit_time() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    c.psql(
        "shop",
        "CREATE TABLE t(id int PRIMARY KEY, price int NOT NULL, note text);
         CREATE TABLE u(id serial PRIMARY KEY, what text);
         INSERT INTO t SELECT x, x * 10, 'item ' || x FROM generate_series(1, 1000) x;",
    );
    // The load is in a segment finished before archiving starts, as before a base backup.
    c.psql("postgres", "SELECT pg_switch_wal()");
    let repo = archive_into_repo(&c);
    // Small writes, one with a released savepoint (a subtransaction folded into its top xid).
    c.psql("shop", "UPDATE t SET price = price + 1 WHERE id = 5; INSERT INTO u(what) VALUES ('a'), ('b')");
    let sub = lines(
        &c,
        "BEGIN; SELECT txid_current(); UPDATE t SET price = 1 WHERE id = 1; SAVEPOINT s; \
         UPDATE t SET price = 2 WHERE id = 2; RELEASE s; COMMIT;",
    );
    let sub: u64 = sub[0].parse().unwrap();
    let aborted = lines(&c, "BEGIN; SELECT txid_current(); DELETE FROM t WHERE id <= 9; ROLLBACK;");
    let aborted: u64 = aborted[0].parse().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (bad, bad_at) = bad_update(&c);
    std::thread::sleep(Duration::from_millis(1500));
    // Later writes: a damaged row updated again, and the other table.
    c.psql(
        "shop",
        "UPDATE t SET price = 77 WHERE id = 7; INSERT INTO u(what) SELECT 'later' FROM generate_series(1, 5000)",
    );
    switch_and_wait(&c);

    let live = c.url("shop");
    let (code, out, err) = incidents(&c, true, &["--table", "t", "--repo", s(&repo), "--live", &live]);
    assert_eq!(code, 0, "{err}");
    let v = parsed(&out, &err);
    let first = &v["transactions"][0];
    assert_eq!(first["xid"], bad, "{v:#}");
    assert_eq!(first["status"], "committed");
    assert_eq!(first["rows"], 1000, "{first:#}");
    let rel = &first["relations"][0];
    assert_eq!(rel["table"], "t");
    assert_eq!(rel["updates"].as_u64().unwrap() + rel["hot_updates"].as_u64().unwrap(), 1000, "{rel:#}");
    let at: chrono::DateTime<chrono::Utc> = first["commit_time"].as_str().unwrap().parse().unwrap();
    let truth = chrono::DateTime::from_timestamp_micros((bad_at * 1e6) as i64).unwrap();
    assert!((at - truth).num_milliseconds().abs() < 1000, "commit time {at} vs {truth}");
    let next: Vec<&str> = first["next"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(next.iter().any(|n| n.contains(&format!("revert --txn {bad} "))), "{next:?}");
    assert!(next.iter().any(|n| n.contains(&format!("restore --before-txn {bad} --tables t"))), "{next:?}");
    // Only t: u's inserts are not there.
    for t in v["transactions"].as_array().unwrap() {
        for r in t["relations"].as_array().unwrap() {
            assert_eq!(r["table"], "t", "{t:#}");
        }
    }
    assert_eq!(txn(&v, aborted).unwrap()["status"], "aborted", "{v:#}");
    assert_eq!(txn(&v, aborted).unwrap()["relations"][0]["deletes"], 9);
    assert_eq!(txn(&v, sub).unwrap()["rows"], 2, "the savepoint's update counts under its top xid: {v:#}");

    // Without --table, u's writes show: the filter is what kept them out above.
    let (code, out, err) = incidents(&c, true, &["--repo", s(&repo), "--live", &live, "--limit", "0"]);
    assert_eq!(code, 0, "{err}");
    let all = parsed(&out, &err);
    let tables: Vec<&str> = all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["relations"].as_array().unwrap())
        .filter_map(|r| r["table"].as_str())
        .collect();
    assert!(tables.contains(&"u"), "{tables:?}");
    // The later writes (one transaction: row 7 of t, 5000 rows of u) are the biggest.
    let biggest = &all["transactions"][0];
    assert_eq!(biggest["rows"], 5001, "{all:#}");
    let u = biggest["relations"].as_array().unwrap().iter().find(|r| r["table"] == "u").unwrap();
    assert_eq!(u["inserts"], 5000, "{biggest:#}");

    // --since after the incident leaves it out; the later update of row 7 stays.
    let since = (truth + chrono::TimeDelta::milliseconds(800)).to_rfc3339();
    let (code, out, err) =
        incidents(&c, true, &["--table", "t", "--repo", s(&repo), "--live", &live, "--since", &since]);
    assert_eq!(code, 0, "{err}");
    let later = parsed(&out, &err);
    assert!(txn(&later, bad).is_none(), "{later:#}");
    assert_eq!(later["transactions"][0]["rows"], 1, "{later:#}");
    // --until before it too.
    let until = (truth - chrono::TimeDelta::milliseconds(800)).to_rfc3339();
    let (_, out, err) = incidents(&c, true, &["--table", "t", "--repo", s(&repo), "--live", &live, "--until", &until]);
    let before = parsed(&out, &err);
    assert!(txn(&before, bad).is_none() && txn(&before, aborted).is_some(), "{before:#}");

    // The human table names it too, with the command to run next.
    let (code, out, err) = incidents(&c, false, &["--table", "t", "--repo", s(&repo), "--live", &live]);
    assert_eq!(code, 0, "{err}");
    let first_row = out.lines().skip_while(|l| !l.contains("XID")).nth(1).unwrap_or_else(|| panic!("{out}"));
    assert!(first_row.trim_start().starts_with(&format!("{bad} ")), "{out}");
    assert!(out.contains(&format!("lastgood revert --txn {bad} --live")), "{out}");
}

/// Copies every segment of `from` into `to`, each compressed (gzip and zstd in turn).
fn compressed_copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for (i, name) in files_in(from).iter().enumerate() {
        let bytes = fs::read(from.join(name)).unwrap();
        if i % 2 == 0 {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &bytes).unwrap();
            fs::write(to.join(format!("{name}.gz")), gz.finish().unwrap()).unwrap();
        } else {
            fs::write(to.join(format!("{name}.zst")), zstd::encode_all(&bytes[..], 1).unwrap()).unwrap();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for name in files_in(from) {
        fs::copy(from.join(&name), to.join(&name)).unwrap();
    }
}

#[test]
fn incidents_reads_compressed_segments_names_damaged_ones_and_refuses_bad_flags() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    c.psql("shop", "CREATE TABLE t(id int PRIMARY KEY, price int NOT NULL); INSERT INTO t SELECT x, x FROM generate_series(1, 500) x");
    c.psql("postgres", "SELECT pg_switch_wal()");
    let repo = archive_into_repo(&c);
    c.psql("shop", "UPDATE t SET price = 1 WHERE id = 1");
    switch_and_wait(&c);
    // A middle segment of small writes, then the bad update in a segment of its own.
    c.psql("shop", "CREATE TABLE filler AS SELECT x, md5(x::text) AS h FROM generate_series(1, 20000) x");
    let middle = switch_and_wait(&c);
    let (bad, _) = bad_update(&c);
    switch_and_wait(&c);
    let live = c.url("shop");
    let wal = repo.join("wal");
    let work = c.dir.path();

    // Compressed segments read as the plain ones.
    let packed = work.join("packed");
    compressed_copy(&wal, &packed);
    let (code, out, err) = incidents(&c, true, &["--table", "t", "--wal", s(&packed), "--live", &live]);
    assert_eq!(code, 0, "{err}");
    let v = parsed(&out, &err);
    assert_eq!(v["transactions"][0]["xid"], bad, "{v:#}");
    assert_eq!(v["transactions"][0]["rows"], 500);

    // A damaged segment: named, exit 3, and what could be read is still listed.
    let damaged = work.join("damaged");
    copy_dir(&wal, &damaged);
    let mut bytes = fs::read(damaged.join(&middle)).unwrap();
    for b in &mut bytes[60..8000] {
        *b ^= 0x5a;
    }
    fs::write(damaged.join(&middle), &bytes).unwrap();
    let (code, out, err) = incidents(&c, true, &["--table", "t", "--wal", s(&damaged), "--live", &live]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains(&middle), "{err}");
    let v = parsed(&out, &err);
    assert_eq!(v["wal"]["problems"][0]["segment"], middle.as_str(), "{v:#}");
    assert_eq!(v["wal"]["problems"][0]["kind"], "unreadable");
    assert_eq!(v["transactions"][0]["xid"], bad, "read on after the damaged segment: {v:#}");

    // A missing one: a gap, exit 3, the rest read.
    let gap = work.join("gap");
    copy_dir(&wal, &gap);
    fs::remove_file(gap.join(&middle)).unwrap();
    let (code, out, err) = incidents(&c, true, &["--table", "t", "--wal", s(&gap), "--live", &live]);
    assert_eq!(code, 3, "{out}{err}");
    let v = parsed(&out, &err);
    assert_eq!(v["wal"]["problems"][0]["kind"], "gap", "{v:#}");
    assert_eq!(v["wal"]["problems"][0]["segment"], middle.as_str());
    assert_eq!(v["transactions"][0]["xid"], bad);

    // Refusals.
    let (code, _, err) = incidents(&c, false, &["--table", "t", "--repo", s(&repo)]);
    assert_eq!(code, 2, "--table without --live: {err}");
    assert!(err.contains("--live"), "{err}");
    let (code, _, err) = incidents(&c, false, &["--table", "nope", "--repo", s(&repo), "--live", &live]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("nope"), "{err}");
    let empty = work.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = incidents(&c, false, &["--wal", s(&empty), "--live", &live]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(s(&empty)), "{err}");
    let mut cmd = lastgood(work);
    let out =
        cmd.env("LASTGOOD_PG_BIN", work.join("no-such-bin")).args(["incidents", "--wal", s(&wal)]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_waldump"));
}
