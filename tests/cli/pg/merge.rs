//! PostgreSQL `merge`: the seed scenario with live on PostgreSQL, SIGKILL at many moments of an
//! `--apply`, refused cascades, and merges in batches (1000 rows per statement): compare-and-set
//! across batch boundaries with a concurrent session meddling while the merge waits, `--strict`,
//! exact typed values, and a constraint error inside a batch (rolled back to the savepoint,
//! replayed row by row, nothing written).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use super::*;
use crate::cluster_or_skip;
use crate::pgcluster::Cluster;

/// The seed scenario with live on PostgreSQL: a bad script rewrites every download's filename
/// after the 06:00 pg_dump; orders keep coming. Restore `downloads` from the archive into scratch,
/// merge back only the updated filenames: every filename is good again, no order is lost, the
/// safety snapshot is a pg_dump archive of live as it was, and a second lastgood writer is refused.
#[test]
fn seed_scenario_with_live_on_postgres_merges_filenames_and_loses_no_order() {
    let c = cluster_or_skip!();
    make_pg_shop(&c, "shop");
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop-06.dump"));
    c.psql("shop", "UPDATE downloads SET filename = 'oops.zip'; INSERT INTO orders(customer_id, amount) SELECT 1, 9.99 FROM generate_series(1, 25); INSERT INTO downloads(order_id, filename) VALUES (501, 'new.zip');");
    let live = c.url("shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &live, "--tables", "downloads"]));
    let scratch = c.url(v["target_database"].as_str().unwrap());

    let args = [
        "merge",
        "--scratch",
        scratch.as_str(),
        "--live",
        live.as_str(),
        "--tables",
        "downloads",
        "--restore",
        "updated",
        "--columns",
        "filename",
        // `downloads_lower` would only lowercase what the archive holds lowercased already.
        "--triggers",
        "skip",
    ];
    let plan = json(dir.path(), &args);
    assert_eq!(plan["total"], 250, "{plan:#}");
    assert_eq!(
        c.psql("shop", "SELECT count(*) FROM downloads WHERE filename = 'oops.zip'").trim(),
        "250",
        "dry run wrote nothing"
    );

    // Another session holding lastgood's advisory lock: refused, nothing written.
    let mut holder = c.session(
        "shop",
        &format!("SELECT pg_advisory_lock({}); SELECT pg_sleep(3);", lastgood::engine::postgres::ADVISORY_LOCK_KEY),
    );
    std::thread::sleep(std::time::Duration::from_millis(700));
    let mut with_apply = args.to_vec();
    with_apply.push("--apply");
    let (code, text) = run_text(dir.path(), &with_apply, &[]);
    holder.wait().unwrap();
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("advisory lock"), "{text}");

    let report = json(dir.path(), &with_apply);
    assert_eq!(report["applied"], 250, "{report:#}");
    assert_eq!(report["residual"], 0);
    assert_eq!(c.psql("shop", "SELECT count(*) FROM downloads WHERE filename = 'oops.zip'").trim(), "0");
    assert_eq!(c.psql("shop", "SELECT filename FROM downloads WHERE order_id = 4").trim(), "file-4.zip");
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "525", "no order lost");
    assert_eq!(
        c.psql("shop", "SELECT count(*) FROM downloads WHERE filename = 'new.zip'").trim(),
        "1",
        "new download kept"
    );
    // The safety snapshot is a pg_dump archive of live before the merge.
    let snapshot = dir.path().join(report["snapshot"].as_str().unwrap());
    let cat = json(dir.path(), &["catalog", "--repo", snapshot.parent().unwrap().to_str().unwrap()]);
    let snap = cat["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["copies"][0]["path"].as_str().unwrap().ends_with(report["snapshot"].as_str().unwrap()))
        .expect("snapshot catalogued");
    assert_eq!(snap["format"], "pg-custom");
    assert_eq!(snap["archive"]["dbname"], "shop");
    let check =
        c.tool("pg_restore", "shop").args(["-a", "-t", "downloads", "-f", "-"]).arg(&snapshot).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout).matches("oops.zip").count(), 250);
    let dumped = c.tool("pg_restore", "shop").args(["-l"]).arg(&snapshot).output().unwrap();
    let toc = String::from_utf8_lossy(&dumped.stdout);
    assert!(
        toc.contains("TABLE DATA public downloads") && !toc.contains("TABLE DATA public orders"),
        "only the merged table: {toc}"
    );

    // An order placed after the merge; then the printed undo puts back only `downloads`.
    c.psql("shop", "INSERT INTO orders(customer_id, amount) VALUES (1, 1.00);");
    let undo = report["undo"]
        .as_str()
        .unwrap()
        .replace("lastgood ", &format!("{} --quiet ", assert_cmd::cargo::cargo_bin("lastgood").display()));
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(&undo)
        .current_dir(dir.path())
        .env_remove("LASTGOOD_REPO")
        .status()
        .unwrap();
    assert!(st.success(), "undo failed: {undo}");
    assert_eq!(
        c.psql("shop", "SELECT count(*) FROM downloads WHERE filename = 'oops.zip'").trim(),
        "250",
        "merge undone"
    );
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "526", "the order placed after the merge is kept");
}

/// SIGKILL of `merge --apply` into a PostgreSQL live at 20+ moments: live is always either as it
/// was or fully merged (one transaction), and the next merge is never blocked by a leftover lock.
#[test]
fn sigkill_of_a_postgres_merge_leaves_live_before_or_fully_merged() {
    let c = cluster_or_skip!();
    make_pg_shop(&c, "shop");
    c.psql(
        "shop",
        "INSERT INTO downloads(order_id, filename) SELECT x, 'bulk-' || x FROM generate_series(1, 40000) x;",
    );
    let dir = tempdir();
    let repo = repo(dir.path(), "repo");
    c.pg_dump("shop", &["-Fc"], &repo.join("shop.dump"));
    let live = c.url("shop");
    let v = json(dir.path(), &restore_args(s(&repo), "latest", &["--live", &live, "--tables", "downloads"]));
    let scratch = c.url(v["target_database"].as_str().unwrap());
    let state = || {
        c.psql("shop", "SELECT md5(string_agg(id || ':' || filename, ',' ORDER BY id)) FROM downloads")
            .trim()
            .to_string()
    };
    let merged = state();
    let damage = || c.psql("shop", "UPDATE downloads SET filename = 'oops.zip'");
    damage();
    let pristine = state();
    let args = [
        "merge",
        "--scratch",
        scratch.as_str(),
        "--live",
        live.as_str(),
        "--tables",
        "downloads",
        "--restore",
        "updated",
        "--apply",
        "--triggers",
        "skip",
    ];
    let started = std::time::Instant::now();
    let (code, text) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{text}");
    let whole = started.elapsed();
    assert_eq!(state(), merged);
    // The merge's write transaction has written something once its session holds a transaction id.
    let writing = || {
        c.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lastgood' AND backend_xid IS NOT NULL",
        )
        .trim()
            != "0"
    };
    let (mut before, mut after, mut while_running, mut mid_write) = (0, 0, 0, 0);
    for i in 0..24u32 {
        damage();
        let mut child = lastgood(dir.path()).args(args).stdout(std::process::Stdio::null()).spawn().unwrap();
        let frac = f64::from(i % 12) / 12.0;
        if i % 2 == 0 {
            // Spread over the whole run: plan, snapshot, writes, commit.
            std::thread::sleep(whole.mul_f64(frac));
        } else {
            // Aimed inside the write transaction: after its first write, before its commit.
            let deadline = std::time::Instant::now() + whole * 3;
            while !writing() && child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            mid_write += usize::from(writing() && child.try_wait().unwrap().is_none());
        }
        while_running += usize::from(child.try_wait().unwrap().is_none());
        let _ = child.kill();
        child.wait().unwrap();
        // The killed session's transaction ends when the server notices the closed socket.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while c.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lastgood'").trim()
            != "0"
        {
            assert!(std::time::Instant::now() < deadline, "the killed merge's session lingers");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let trigger = c.psql("shop", "SELECT tgenabled FROM pg_trigger WHERE tgname = 'downloads_lower'");
        assert_eq!(trigger.trim(), "O", "kill {i}: the skipped trigger is enabled as before");
        let s = state();
        if s == pristine {
            before += 1;
        } else if s == merged {
            after += 1;
        } else {
            panic!("kill {i} left live partially merged");
        }
    }
    eprintln!(
        "{while_running} kills while running, {mid_write} inside the write transaction; live before: {before}, merged: {after}"
    );
    assert!(while_running >= 20, "only {while_running} kills landed while merge ran");
    assert!(mid_write >= 5, "only {mid_write} kills landed inside the write transaction");
    assert!(before > 0, "some kills landed before the commit ({before} before, {after} after)");
    // Nothing lingers: a merge after all the kills runs and completes.
    damage();
    let (code, text) = run_text(dir.path(), &args, &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(state(), merged);
    // Snapshots are whole archives or absent, never partial ones under the final name.
    let snapshots = dir.path().join("lastgood-snapshots");
    let mut whole_snapshots = 0;
    for e in std::fs::read_dir(&snapshots).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dump") && name.contains("lastgood-snapshot") {
            let out = c.tool("pg_restore", "shop").arg("-l").arg(e.path()).output().unwrap();
            assert!(out.status.success(), "snapshot {name} is whole");
            whole_snapshots += 1;
        }
    }
    assert!(whole_snapshots >= 2, "the uninterrupted merges left their snapshots");
}

/// PostgreSQL live: a merge that would remove a row other tables depend on through ON DELETE
/// CASCADE is refused (exit 5) in the plan and under --apply, and live keeps every row.
#[test]
fn a_postgres_merge_that_would_cascade_into_another_table_is_refused() {
    let c = cluster_or_skip!();
    let schema = "CREATE TABLE c(id int PRIMARY KEY);
        CREATE TABLE o(id int PRIMARY KEY, cid int REFERENCES c(id) ON DELETE CASCADE);
        INSERT INTO c VALUES (1);";
    for db in ["casc", "casc_scratch"] {
        c.create_db(db);
        c.psql(db, schema);
    }
    c.psql("casc", "INSERT INTO c VALUES (2); INSERT INTO o VALUES (10, 2), (11, 2);");
    let dir = tempdir();
    let (live, scratch) = (c.url("casc"), c.url("casc_scratch"));
    for apply in [false, true] {
        let mut args = vec!["merge", "--scratch", &scratch, "--live", &live, "--tables", "c", "--restore", "inserted"];
        if apply {
            args.push("--apply");
        }
        let (code, text) = run_text(dir.path(), &args, &[]);
        assert_eq!(code, 5, "{text}");
        assert!(text.contains("(id=2)") && text.contains("2 row(s) of `o`") && text.contains("CASCADE"), "{text}");
        assert_eq!(c.psql("casc", "SELECT count(*) FROM o").trim(), "2", "o untouched");
        assert_eq!(c.psql("casc", "SELECT count(*) FROM c").trim(), "2", "c untouched");
    }
}

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
