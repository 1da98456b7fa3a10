//! `lastgood merge`: the seed scenario, dry runs, compare-and-set, the lock, bad input, and
//! SIGKILL at many moments of an `--apply`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rusqlite::Connection;

use crate::common::*;

fn merge(dir: &Path, scratch: &Path, live: &Path, extra: &[&str]) -> std::process::Output {
    lastgood(dir).arg("merge").arg("--scratch").arg(scratch).arg("--live").arg(live).args(extra).output().unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn query_one(db: &Path, sql: &str) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn seed_scenario_bad_update_of_every_filename_is_undone_and_no_order_is_lost() {
    let dir = tempdir();
    let (live, repo, scratch) = (path(&dir, "live.db"), path(&dir, "repo"), path(&dir, "scratch.db"));
    std::fs::create_dir(&repo).unwrap();
    make_shop(&live, 2000);
    // 06:00: the nightly backup, by the real sqlite3 tool.
    sqlite3(&live, &format!(".backup '{}'", repo.join("shop-2026-11-24T06-00-00.db").display()));
    let good_downloads = rows(&live, "downloads");
    // 09:14: the bad script meant for one row rewrites every filename.
    sqlite3(&live, "UPDATE downloads SET filename = 'oops.zip'");
    // Orders and their downloads keep coming in afterwards.
    sqlite3(
        &live,
        "INSERT INTO orders(customer_id, item, amount) SELECT 7, 'late ' || x, x * 2.5 FROM
           (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40) SELECT x FROM c);
         INSERT INTO downloads(order_id, filename) SELECT id, 'late-' || id || '.zip' FROM orders WHERE id > 2000;",
    );
    let orders_before = rows(&live, "orders");
    let downloads_before = rows(&live, "downloads");
    let audit_before = rows(&live, "audit");
    assert_eq!(orders_before.len(), 2040);

    let r = lastgood(dir.path())
        .args(["restore", "--repo"])
        .arg(&repo)
        .args(["--backup", "latest", "--tables", "downloads", "--into"])
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = lastgood(dir.path())
        .args(["--json", "merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        // The shop's `downloads_audit` trigger would log every repair write as an update.
        .args([
            "--tables",
            "downloads",
            "--restore",
            "updated",
            "--columns",
            "filename",
            "--apply",
            "--triggers",
            "skip",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["applied"].as_u64(), Some(good_downloads.len() as u64));
    assert_eq!((report["skipped"].as_u64(), report["residual"].as_u64()), (Some(0), Some(0)));

    assert_eq!(rows(&live, "orders"), orders_before, "not one order row lost or changed");
    assert_eq!(rows(&live, "audit"), audit_before, "the audit trigger was skipped");
    let after = rows(&live, "downloads");
    assert_eq!(after.len(), downloads_before.len());
    for (i, row) in after.iter().enumerate() {
        if i < good_downloads.len() {
            assert_eq!(row, &good_downloads[i], "filename restored from the backup");
        } else {
            assert_eq!(row, &downloads_before[i], "downloads made after the backup untouched");
        }
    }
    // The safety snapshot holds live as it was just before the merge, and the undo command names it.
    let snapshot = PathBuf::from(report["snapshot"].as_str().unwrap());
    // Named like promote's snapshots: a UTC stamp with Z.
    let name = snapshot.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("live.db.lastgood-snapshot-") && name.ends_with("Z.db"), "{name}");
    assert_eq!(rows(&snapshot, "downloads"), downloads_before);
    assert_eq!(rows(&snapshot, "orders"), orders_before);
    // And the printed undo command (promote the snapshot) really undoes the merge.
    let undo = report["undo"].as_str().unwrap();
    let words: Vec<&str> = undo.split_whitespace().collect();
    assert_eq!(&words[..2], ["lastgood", "promote"]);
    let out = lastgood(dir.path()).args(&words[1..]).output().unwrap();
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows(&live, "downloads"), downloads_before);
    assert_eq!(rows(&live, "orders"), orders_before);
}

/// scratch and live with `t(id, v)`: rows 1..=n, live's `v` rewritten for every row.
fn damaged_pair(dir: &Path, n: u32) -> (PathBuf, PathBuf) {
    let (scratch, live) = (dir.join("scratch.db"), dir.join("live.db"));
    sqlite3(
        &scratch,
        &format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, n INTEGER);
             INSERT INTO t SELECT x, 'good ' || x, x FROM
               (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c);"
        ),
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(&live, "UPDATE t SET v = 'bad'; INSERT INTO t VALUES (1000000000, 'new', 0);");
    (scratch, live)
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 100);
    let bytes = std::fs::read(&live).unwrap();
    let files = files_in(dir.path());
    let out = lastgood(dir.path())
        .args(["--json", "merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .args(["--restore", "updated,inserted"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["tables"][0]["updated"], 100);
    assert_eq!(plan["tables"][0]["inserted"], 1);
    assert_eq!(plan["first_statements"][0], "UPDATE \"t\" SET \"v\" = 'good 1' WHERE \"id\" = 1;");
    assert_eq!(std::fs::read(&live).unwrap(), bytes, "live bytes unchanged");
    assert_eq!(files_in(dir.path()), files, "no snapshot, no lock file");
}

/// A trigger in live changes row 2 while the merge writes row 1: row 2 no longer holds what the
/// plan saw, exactly as if another writer had changed it between plan and apply.
fn pair_with_meddling_trigger(dir: &Path) -> (PathBuf, PathBuf) {
    let (scratch, live) = (dir.join("scratch.db"), dir.join("live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    );
    sqlite3(
        &live,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z');
         CREATE TRIGGER meddle AFTER UPDATE ON t WHEN NEW.id = 1 BEGIN UPDATE t SET v = 'moved' WHERE id = 2; END;",
    );
    (scratch, live)
}

#[test]
fn a_row_changed_since_the_plan_is_skipped_and_reported() {
    let dir = tempdir();
    let (scratch, live) = pair_with_meddling_trigger(dir.path());
    let out = lastgood(dir.path())
        .args(["--json", "merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        // The trigger stands in for another writer: it must run.
        .args(["--restore", "updated", "--apply", "--triggers", "fire"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["applied"].as_u64(), report["skipped"].as_u64()), (Some(2), Some(1)));
    assert_eq!(report["skipped_rows"][0]["key"][0][1], 2);
    assert_eq!(report["residual"].as_u64(), Some(1));
    assert_eq!(report["trigger_writes"]["tables"], serde_json::json!([{"table": "t", "rows": 1}]));
    let c = Connection::open(&live).unwrap();
    let v: Vec<String> = c
        .prepare("SELECT v FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(v, ["a", "moved", "c"]);
}

#[test]
fn strict_aborts_the_whole_merge_and_writes_nothing() {
    let dir = tempdir();
    let (scratch, live) = pair_with_meddling_trigger(dir.path());
    let bytes = std::fs::read(&live).unwrap();
    let out =
        merge(dir.path(), &scratch, &live, &["--restore", "updated", "--apply", "--strict", "--triggers", "fire"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--strict") && err.contains("id=2") && err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
    assert!(!files_in(dir.path()).iter().any(|f| f.contains("snapshot")), "no snapshot left behind");
}

#[test]
fn a_second_writer_is_refused_naming_the_lock_holder() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    let bytes = std::fs::read(&live).unwrap();
    let _held = lastgood::core::lock::LiveLock::acquire(&live, "promote").unwrap();
    let out = merge(dir.path(), &scratch, &live, &["--restore", "updated", "--apply"]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", std::process::id())) && err.contains("promote"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
}

#[test]
fn another_process_writing_live_is_refused_as_live_in_use() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    // A real second writer: the sqlite3 shell holds a write transaction open on live.
    let mut writer = std::process::Command::new("sqlite3")
        .arg(&live)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3 installed");
    let mut stdin = writer.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"BEGIN IMMEDIATE; INSERT INTO t VALUES (-1, 'theirs', 0); SELECT 'held';\n")
        .unwrap();
    let mut held = [0u8; 5];
    std::io::Read::read_exact(writer.stdout.as_mut().unwrap(), &mut held).unwrap();
    assert_eq!(&held, b"held\n");
    let out = merge(dir.path(), &scratch, &live, &["--restore", "updated", "--apply"]);
    drop(stdin);
    writer.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("locked by another connection") && err.contains("live.db"), "{err}");
    assert_eq!(query_one(&live, "SELECT count(*) FROM t WHERE v = 'bad'"), 10, "nothing merged");
    assert_eq!(query_one(&live, "SELECT count(*) FROM t WHERE id = -1"), 0, "the other writer rolled back");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    let bytes = std::fs::read(&live).unwrap();
    let files = files_in(dir.path());
    let cases: [(&[&str], i32, &str); 4] = [
        (&["--restore", "updated", "--where", "id >", "--apply"], 3, "--where `id >`"),
        (&["--restore", "updated", "--where", "nosuch = 1", "--apply"], 3, "no such column"),
        (&["--restore", "updated", "--columns", "nosuch", "--apply"], 3, "column `nosuch`"),
        (&["--restore", "sideways"], 2, "sideways"),
    ];
    for (args, code, msg) in cases {
        let out = merge(dir.path(), &scratch, &live, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(msg), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let same = merge(dir.path(), &live, &live, &["--restore", "updated", "--apply"]);
    assert_eq!(same.status.code(), Some(3));
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
    assert_eq!(files_in(dir.path()), files);
}

#[test]
fn where_filter_is_evaluated_on_scratch_rows() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 100);
    let out = merge(
        dir.path(),
        &scratch,
        &live,
        &["--restore", "updated", "--where", "n % 10 = 0 AND v LIKE 'good%'", "--apply"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(query_one(&live, "SELECT count(*) FROM t WHERE v LIKE 'good %'"), 10);
    assert_eq!(query_one(&live, "SELECT count(*) FROM t WHERE v LIKE 'good %' AND n % 10 <> 0"), 0);
}

#[test]
fn read_only_live_is_an_environment_error_and_stays_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    let bytes = std::fs::read(&live).unwrap();
    std::fs::set_permissions(&live, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = merge(dir.path(), &scratch, &live, &["--restore", "updated", "--apply"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
}

/// A tmpfs mounted for one test and unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&at).status();
        ok.ok().filter(|s| s.success()).map(|_| Tmpfs(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_an_environment_error_and_live_stays_unchanged() {
    let dir = tempdir();
    let Some(fs) = Tmpfs::mount(dir.path().join("small"), "1200k") else {
        // Skipping must not pass silently where the test is meant to run.
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI=true but no tmpfs could be mounted (needs root)");
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let (scratch, live) = damaged_pair(dir.path(), 40_000);
    let small_live = fs.0.join("live.db");
    std::fs::copy(&live, &small_live).unwrap();
    let bytes = std::fs::read(&small_live).unwrap();
    assert!(bytes.len() > 600_000 && bytes.len() < 1_100_000, "live fits, a snapshot beside it does not");
    let out = merge(dir.path(), &scratch, &small_live, &["--restore", "updated", "--apply"]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&small_live).unwrap(), bytes);
    assert!(!files_in(&fs.0).iter().any(|f| f.contains("snapshot")), "{:?}", files_in(&fs.0));
}

/// Row-level equality of table `t` in two files (EXCEPT both ways, and equal counts).
fn same_rows(a: &Path, b: &Path) -> bool {
    let c = Connection::open(a).unwrap();
    c.execute("ATTACH ?1 AS other", [b.to_str().unwrap()]).unwrap();
    let q = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    q("SELECT count(*) FROM main.t") == q("SELECT count(*) FROM other.t")
        && q("SELECT count(*) FROM (SELECT * FROM main.t EXCEPT SELECT * FROM other.t)") == 0
        && q("SELECT count(*) FROM (SELECT * FROM other.t EXCEPT SELECT * FROM main.t)") == 0
}

#[test]
fn sigkill_at_any_moment_leaves_live_before_or_fully_merged() {
    const ROWS: u32 = 50_000;
    const KILLS: u32 = 20;
    let dir = tempdir();
    let (scratch, pristine) = damaged_pair(dir.path(), ROWS);
    // The expected outcome, computed by SQLite itself, independently of lastgood.
    let merged = dir.path().join("merged.db");
    std::fs::copy(&pristine, &merged).unwrap();
    sqlite3(
        &merged,
        &format!(
            "ATTACH '{}' AS s; UPDATE main.t SET v = (SELECT x.v FROM s.t AS x WHERE x.id = main.t.id) WHERE id IN (SELECT id FROM s.t);",
            scratch.display()
        ),
    );
    // One uninterrupted run gives the duration to spread the kills over.
    let full = dir.path().join("full.db");
    std::fs::copy(&pristine, &full).unwrap();
    let started = Instant::now();
    assert!(merge(dir.path(), &scratch, &full, &["--restore", "updated", "--apply"]).status.success());
    let whole = started.elapsed();
    assert!(same_rows(&full, &merged));

    let (mut seen, mut mid_run) = ((0, 0), 0);
    let mut rng = crate::diff::Rng::new(7);
    // The run time on a shared machine drifts: a kill that finds the process already gone
    // shortens the estimate, so the kills keep landing inside the run.
    let mut estimate = whole;
    // KILLS kills spread over the run, then (up to 10 more) aimed at its end until one lands
    // after the commit while the process still runs (the re-diff after the commit).
    let mut tail = 0;
    for i in 0..4 * KILLS {
        if mid_run >= KILLS && (seen.1 > 0 || tail >= 10) {
            break;
        }
        let sub = dir.path().join(format!("run{i}"));
        std::fs::create_dir(&sub).unwrap();
        let live = sub.join("live.db");
        std::fs::copy(&pristine, &live).unwrap();
        // Spread over the whole run, with jitter, so kills land in every phase: plan, snapshot,
        // writes, commit, and the re-diff after the commit.
        let jitter = rng.below(1000) as f64 / 1000.0;
        let frac = if mid_run < KILLS {
            ((i % KILLS) as f64 + jitter) / KILLS as f64
        } else {
            tail += 1;
            0.85 + 0.15 * jitter
        };
        let mut child = crate::common::lastgood(dir.path())
            .arg("merge")
            .arg("--scratch")
            .arg(&scratch)
            .arg("--live")
            .arg(&live)
            .args(["--restore", "updated", "--apply"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(estimate.mul_f64(frac));
        let running = child.try_wait().unwrap().is_none();
        if !running {
            estimate = estimate.mul_f64(if tail > 0 { 0.95 } else { frac.max(0.5) * 0.9 });
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        mid_run += usize::from(running) as u32;
        let c = Connection::open(&live).unwrap();
        let check: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "kill {i} at {frac:.2}");
        drop(c);
        if same_rows(&live, &pristine) {
            seen.0 += 1;
            if tail > 0 && running {
                // Still before the commit: aim later next time.
                estimate = estimate.mul_f64(1.1);
            }
        } else if same_rows(&live, &merged) {
            seen.1 += usize::from(running);
        } else {
            panic!("kill {i} at {frac:.2} of a run left live partially merged");
        }
        // A snapshot that reached its final name is whole.
        for f in files_in(&sub).iter().filter(|f| f.contains("snapshot") && f.ends_with(".db")) {
            assert!(same_rows(&sub.join(f), &pristine), "snapshot {f} is whole");
        }
    }
    assert!(mid_run >= KILLS, "only {mid_run} kills landed while merge ran");
    assert!(seen.0 > 0, "kills landed before the commit: {seen:?}");
    eprintln!("{mid_run} kills while running; live before: {}, fully merged: {}", seen.0, seen.1);
}

#[test]
fn merge_keeps_text_that_is_not_utf8_byte_for_byte() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, CAST(X'41FF42' AS TEXT)), (2, CAST(X'C328' AS TEXT));",
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(&live, "UPDATE t SET v = 'bad' WHERE id = 1; DELETE FROM t WHERE id = 2;");
    let out = merge(dir.path(), &scratch, &live, &["--restore", "updated,deleted", "--apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = Connection::open(&live).unwrap();
    let got: Vec<(String, String)> = c
        .prepare("SELECT hex(v), typeof(v) FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(got, [("41FF42".to_string(), "text".to_string()), ("C328".to_string(), "text".to_string())]);
    // And diff --json names such text by its bytes.
    sqlite3(&live, "UPDATE t SET v = 'x' WHERE id = 1");
    let out = lastgood(dir.path())
        .args(["--json", "diff", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(r#""v":{"text_hex":"41ff42"}"#), "{text}");
}

#[test]
fn where_must_be_one_condition_checked_by_the_sql_that_runs() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    let bytes = std::fs::read(&live).unwrap();
    for (filter, msg) in [
        ("1) OR (1", "closes more than it opened"),
        ("1; DELETE FROM t", "`;`"),
        ("1 -- trailing", "comment"),
        ("(n > 1", "not closed"),
        // Valid in `WHERE (…)` but not in the `CASE WHEN (…)` the scan runs: an aggregate.
        ("count(*) > 0", "not a valid condition"),
    ] {
        for apply in [false, true] {
            let mut args = vec!["--restore", "updated", "--where", filter];
            if apply {
                args.push("--apply");
            }
            let out = merge(dir.path(), &scratch, &live, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{filter}: {err}");
            assert!(err.contains(msg), "{filter}: {err}");
        }
    }
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
}

#[test]
fn residual_changes_beyond_the_skipped_rows_exit_1() {
    let dir = tempdir();
    let (scratch, live) = (dir.path().join("scratch.db"), dir.path().join("live.db"));
    sqlite3(&scratch, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');");
    // Writing row 2 makes a trigger spoil row 1 again, after row 1 was merged and read back.
    sqlite3(
        &live,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');
         CREATE TRIGGER spoil AFTER UPDATE ON t WHEN NEW.id = 2 BEGIN UPDATE t SET v = 'spoilt' WHERE id = 1; END;",
    );
    let out = lastgood(dir.path())
        .args(["--json", "merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .args(["--restore", "updated", "--apply", "--triggers", "fire"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["applied"].as_u64(), report["skipped"].as_u64()), (Some(2), Some(0)));
    assert_eq!(report["residual"].as_u64(), Some(1));
    // The trigger's write is counted, not only visible through the re-diff.
    assert_eq!(report["trigger_writes"]["tables"], serde_json::json!([{"table": "t", "rows": 1}]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("beyond the 0 skipped"));
}

#[test]
fn nothing_to_merge_takes_no_snapshot() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 10);
    std::fs::copy(&scratch, &live).unwrap();
    let bytes = std::fs::read(&live).unwrap();
    let out = lastgood(dir.path())
        .args(["merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .args(["--restore", "updated,deleted", "--apply"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to merge"));
    assert_eq!(std::fs::read(&live).unwrap(), bytes);
    assert!(!files_in(dir.path()).iter().any(|f| f.contains("snapshot")), "{:?}", files_in(dir.path()));
    let report = json(
        dir.path(),
        &[
            "merge",
            "--scratch",
            scratch.to_str().unwrap(),
            "--live",
            live.to_str().unwrap(),
            "--restore",
            "updated",
            "--apply",
        ],
    );
    assert_eq!((report["snapshot"].is_null(), report["total"].as_u64()), (true, Some(0)));
}

#[test]
fn a_broken_constraint_names_table_row_and_constraint_and_live_is_unchanged() {
    let dir = tempdir();
    let (scratch, live) = (dir.path().join("scratch.db"), dir.path().join("live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);
         CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
         CREATE TABLE u(id INTEGER PRIMARY KEY, v TEXT UNIQUE);
         INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (1, 1), (2, 2); INSERT INTO u VALUES (1, 'a');",
    );
    std::fs::copy(&scratch, &live).unwrap();
    // The sqlite3 shell does not enforce foreign keys: live lost parent 2 and its child.
    sqlite3(
        &live,
        "DELETE FROM child WHERE id = 2; DELETE FROM parent WHERE id = 2; UPDATE u SET v = 'b'; INSERT INTO u VALUES (2, 'a');",
    );
    let bytes = std::fs::read(&live).unwrap();

    let orphan = merge(dir.path(), &scratch, &live, &["--tables", "child", "--restore", "deleted", "--apply"]);
    let err = String::from_utf8_lossy(&orphan.stderr);
    assert_eq!(orphan.status.code(), Some(3), "{err}");
    assert!(err.contains("FOREIGN KEY") && err.contains("`child`") && err.contains("`parent`"), "{err}");
    assert!(err.contains("rowid 2") && err.contains("nothing was written") && err.contains("hint"), "{err}");

    let unique = merge(dir.path(), &scratch, &live, &["--tables", "u", "--restore", "updated", "--apply"]);
    let err = String::from_utf8_lossy(&unique.stderr);
    assert_eq!(unique.status.code(), Some(3), "{err}");
    assert!(err.contains("`u` (id=1)") && err.contains("UNIQUE constraint failed: u.v"), "{err}");

    assert_eq!(std::fs::read(&live).unwrap(), bytes, "live rolled back");
    assert!(!files_in(dir.path()).iter().any(|f| f.contains("snapshot")), "no snapshot left behind");

    // Parent and child together merge fine, whatever order the tables are written in.
    let both = merge(dir.path(), &scratch, &live, &["--tables", "child,parent", "--restore", "deleted", "--apply"]);
    assert!(both.status.success(), "{}", String::from_utf8_lossy(&both.stderr));
    assert_eq!(rows(&live, "child"), rows(&scratch, "child"));
}

#[test]
fn reading_wal_mode_databases_leaves_no_side_files() {
    let dir = tempdir();
    let (scratch, live) = damaged_pair(dir.path(), 50);
    for db in [&scratch, &live] {
        sqlite3(db, "PRAGMA journal_mode = WAL;");
    }
    let files = files_in(dir.path());
    assert!(!files.iter().any(|f| f.ends_with("-wal") || f.ends_with("-shm")), "{files:?}");
    let diff =
        lastgood(dir.path()).arg("diff").arg("--scratch").arg(&scratch).arg("--live").arg(&live).output().unwrap();
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stderr));
    assert_eq!(files_in(dir.path()), files, "diff left side files");
    let plan = merge(dir.path(), &scratch, &live, &["--restore", "updated"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    assert_eq!(files_in(dir.path()), files, "a dry run left side files");
    let out = merge(dir.path(), &scratch, &live, &["--restore", "updated", "--apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let side: Vec<String> =
        files_in(dir.path()).into_iter().filter(|f| f.ends_with("-wal") || f.ends_with("-shm")).collect();
    assert!(side.is_empty(), "merge left side files: {side:?}");
    assert_eq!(query_one(&live, "SELECT count(*) FROM t WHERE v LIKE 'good %'"), 50);

    // Side files that belong to someone else's open connection stay where they are.
    let holder = Connection::open(&scratch).unwrap();
    holder.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap();
    let diff = lastgood(dir.path())
        .args(["diff", "--kinds", "updated", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stderr));
    assert!(dir.path().join("scratch.db-wal").exists() && dir.path().join("scratch.db-shm").exists());
    drop(holder);
}

#[test]
fn a_column_named_rowid_does_not_shadow_the_rowid_in_diff_or_merge() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    sqlite3(&scratch, "CREATE TABLE ev(rowid INT, v TEXT); INSERT INTO ev VALUES (7,'a'),(7,'b'),(7,'c');");
    let s = scratch.to_str().unwrap();
    for extra in [&[][..], &["--rowid"][..]] {
        std::fs::copy(&scratch, &live).unwrap();
        sqlite3(&live, "INSERT INTO ev VALUES (7,'z');");
        let l = live.to_str().unwrap();
        let diff = lastgood(dir.path()).args(["diff", "--scratch", s, "--live", l]).args(extra).output().unwrap();
        assert_eq!(diff.status.code(), Some(1), "{extra:?}: {}", String::from_utf8_lossy(&diff.stderr));
        let mut args = vec!["--restore", "inserted", "--apply"];
        args.extend_from_slice(extra);
        let out = merge(dir.path(), &scratch, &live, &args);
        assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(rows(&live, "ev"), rows(&scratch, "ev"), "{extra:?}: live holds exactly scratch's rows");
        for f in files_in(dir.path()).iter().filter(|f| f.contains("snapshot")) {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
    }

    // Columns named rowid, _rowid_ and oid leave no way to the rowid: refused, live unchanged.
    let (s3, l3) = (path(&dir, "s3.db"), path(&dir, "l3.db"));
    sqlite3(&s3, "CREATE TABLE a(rowid, _ROWID_, oid, v); INSERT INTO a VALUES (1,1,1,1),(1,1,1,1);");
    std::fs::copy(&s3, &l3).unwrap();
    sqlite3(&l3, "INSERT INTO a VALUES (1,1,1,1);");
    let bytes = std::fs::read(&l3).unwrap();
    let (s3, l3) = (s3.to_str().unwrap(), l3.to_str().unwrap());
    let err = fails(dir.path(), &["diff", "--rowid", "--scratch", s3, "--live", l3], 3);
    assert!(err.contains("`a`") && err.contains("rowid is unreachable"), "{err}");
    let err = fails(dir.path(), &["merge", "--restore", "inserted", "--apply", "--scratch", s3, "--live", l3], 3);
    assert!(err.contains("`a`") && err.contains("rowid is unreachable"), "{err}");
    assert_eq!(std::fs::read(l3).unwrap(), bytes, "live unchanged");
}

#[test]
fn keys_sqlite_calls_equal_but_diff_tells_apart_are_replaced_not_lost() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    sqlite3(&scratch, "CREATE TABLE t(k PRIMARY KEY, v); INSERT INTO t VALUES (1,'int'), (2,'two');");
    sqlite3(&live, "CREATE TABLE t(k PRIMARY KEY, v); INSERT INTO t VALUES (1.0,'real'), (2,'two');");

    // Only the deleted row asked for: the insert meets the row the plan saw as inserted, and
    // says so (not "inserted since").
    let out = lastgood(dir.path())
        .args(["--json", "merge", "--restore", "deleted", "--apply", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["skipped"].as_u64(), Some(1), "{report}");
    let reason = report["skipped_rows"][0]["reason"].as_str().unwrap().to_string();
    assert!(!reason.contains("inserted since") && reason.contains("k=1.0"), "{reason}");
    for f in files_in(dir.path()).iter().filter(|f| f.contains("snapshot")) {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }

    let out = merge(dir.path(), &scratch, &live, &["--restore", "deleted,inserted", "--apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = Connection::open(&live).unwrap();
    let got: Vec<(String, String)> = c
        .prepare("SELECT typeof(k), v FROM t ORDER BY k")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, [("integer".to_string(), "int".to_string()), ("integer".into(), "two".into())]);
}

#[test]
fn a_delete_that_would_cascade_into_another_table_is_refused() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE c(id INTEGER PRIMARY KEY, code TEXT UNIQUE);
         CREATE TABLE o(id INTEGER PRIMARY KEY, cid INT REFERENCES c(id) ON DELETE CASCADE);
         CREATE TABLE n(id INTEGER PRIMARY KEY, code TEXT REFERENCES c(code) ON UPDATE SET NULL);
         INSERT INTO c VALUES (1, 'one'), (3, 'three');",
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(
        &live,
        "PRAGMA foreign_keys=ON; INSERT INTO c VALUES (2, 'two'); INSERT INTO o VALUES (10,2),(11,2);
         UPDATE c SET code = 'THREE' WHERE id = 3; INSERT INTO n VALUES (5, 'THREE');",
    );
    let bytes = std::fs::read(&live).unwrap();
    let (s, l) = (scratch.to_str().unwrap(), live.to_str().unwrap());
    for apply in [false, true] {
        let mut args = vec!["merge", "--scratch", s, "--live", l, "--tables", "c", "--restore", "inserted"];
        if apply {
            args.push("--apply");
        }
        let err = fails(dir.path(), &args, 5);
        assert!(err.contains("`c` (id=2)") && err.contains("2 row(s) of `o`") && err.contains("CASCADE"), "{err}");
        assert_eq!(std::fs::read(&live).unwrap(), bytes, "live unchanged");
    }
    let err = fails(dir.path(), &["merge", "--scratch", s, "--live", l, "--tables", "c", "--restore", "updated"], 5);
    assert!(err.contains("`c` (id=3)") && err.contains("1 row(s) of `n`") && err.contains("SET NULL"), "{err}");
    let err = fails(
        dir.path(),
        &["merge", "--scratch", s, "--live", l, "--tables", "c", "--restore", "updated", "--apply"],
        5,
    );
    assert!(err.contains("1 row(s) of `n`"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), bytes, "live unchanged");
    assert!(!files_in(dir.path()).iter().any(|f| f.contains("snapshot")), "no snapshot left behind");

    // Once nothing depends on the row, the same merge goes through.
    sqlite3(&live, "DELETE FROM o;");
    let out = merge(dir.path(), &scratch, &live, &["--tables", "c", "--restore", "inserted", "--apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(query_one(&live, "SELECT count(*) FROM c"), 2);
    assert_eq!(query_one(&live, "SELECT count(*) FROM n WHERE code = 'THREE'"), 1, "n untouched");
}
