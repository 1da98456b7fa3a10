//! `lastgood revert` on SQLite: the music shop incident end to end (backups by the real sqlite3,
//! both restored, revert) against an expectation computed from base by hand, and what a two-way
//! merge loses on the same data; take-base; rows the incident inserted; exact equality; dry runs
//! and `--strict` that write nothing; triggers; `--json` and `--sql`; SIGKILL during `--apply`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use rusqlite::Connection;

use crate::common::*;

fn revert(dir: &Path, args: &[&str]) -> Output {
    lastgood(dir).arg("revert").args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A music shop: 200 tracks (every 7th without composer, every 5th at 1.99), albums, invoices.
fn make_music_shop(live: &Path) {
    sqlite3(
        live,
        "CREATE TABLE albums(AlbumId INTEGER PRIMARY KEY, Title TEXT NOT NULL);
         CREATE TABLE tracks(TrackId INTEGER PRIMARY KEY, Name TEXT NOT NULL, AlbumId INTEGER REFERENCES albums(AlbumId),
           Composer TEXT, Milliseconds INTEGER NOT NULL, UnitPrice NUMERIC(10,2) NOT NULL);
         CREATE TABLE invoices(InvoiceId INTEGER PRIMARY KEY, TrackId INTEGER, Total NUMERIC(10,2));
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20)
           INSERT INTO albums SELECT x, 'Album ' || x FROM c;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200)
           INSERT INTO tracks SELECT x, 'Track ' || x, x % 20 + 1, CASE WHEN x % 7 = 0 THEN NULL ELSE 'Composer ' || (x % 30) END,
             180000 + x, CASE WHEN x % 5 = 0 THEN 1.99 ELSE 0.99 END FROM c;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50)
           INSERT INTO invoices SELECT x, x * 3, 0.99 FROM c;",
    );
}

/// The incident, as a bad script did it: every track at price 0 by 'Unknown', track 13 gone,
/// two placeholder tracks added.
const INCIDENT: &str = "UPDATE tracks SET UnitPrice = 0, Composer = 'Unknown';
     DELETE FROM tracks WHERE TrackId = 13;
     INSERT INTO tracks VALUES (1001, 'Untitled 1', 1, 'Unknown', 0, 0), (1002, 'Untitled 2', 1, 'Unknown', 0, 0);";

/// The legitimate writes after it: a clerk re-prices track 2, track 3 is renamed, track 4 is
/// deleted, two new tracks and an invoice, and someone fixes the name of placeholder 1002.
const AFTER: &str = "UPDATE tracks SET UnitPrice = 1.29 WHERE TrackId = 2;
     UPDATE tracks SET Name = 'Track 3 (remastered)' WHERE TrackId = 3;
     DELETE FROM tracks WHERE TrackId = 4;
     INSERT INTO tracks VALUES (501, 'New single', 2, 'Composer 1', 200000, 0.89), (502, 'B-side', 2, NULL, 150000, 0.89);
     INSERT INTO invoices VALUES (51, 501, 0.89);
     UPDATE tracks SET Name = 'Intro' WHERE TrackId = 1002;";

/// The shop through the incident: backups at 06:00 (before) and 07:00 (after) into `repo`,
/// restored into `base.db` and `damaged.db` (tracks only); live then gets `AFTER`.
/// Returns (live, base, damaged, the 06:00 backup).
fn incident(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let (live, repo) = (dir.join("live.db"), dir.join("repo"));
    std::fs::create_dir(&repo).unwrap();
    make_music_shop(&live);
    let good = repo.join("shop-2026-11-24T06-00-00.db");
    let bad = repo.join("shop-2026-11-24T07-00-00.db");
    cli_backup(&live, &good);
    sqlite3(&live, INCIDENT);
    cli_backup(&live, &bad);
    sqlite3(&live, AFTER);
    let (base, damaged) = (dir.join("base.db"), dir.join("damaged.db"));
    for (backup, into) in [(&good, &base), (&bad, &damaged)] {
        ok(&lastgood(dir)
            .args(restore_args(s(&repo), s(backup), &["--tables", "tracks", "--into", s(into)]))
            .output()
            .unwrap());
    }
    (live, base, damaged, good)
}

fn real(f: f64) -> String {
    format!("{:?}", rusqlite::types::Value::Real(f))
}

fn text(t: &str) -> String {
    format!("{:?}", rusqlite::types::Value::Text(t.to_string()))
}

/// What live's tracks must be after reverting the incident, built from base's rows and the
/// legitimate writes, without lastgood: every later write kept, the incident's cells undone.
fn expected_tracks(base: &Path, damaged: &Path, remove_inserted: bool) -> Vec<Vec<String>> {
    let damaged_rows = rows(damaged, "tracks");
    let mut want: Vec<Vec<String>> = rows(base, "tracks")
        .into_iter()
        .filter(|r| r[0] != "Integer(4)") // deleted in live after the incident: stays deleted
        .map(|mut r| {
            match r[0].as_str() {
                "Integer(2)" => r[5] = real(1.29), // the clerk's price
                "Integer(3)" => r[1] = text("Track 3 (remastered)"),
                _ => {}
            }
            r
        })
        .collect();
    if !remove_inserted {
        let mut kept =
            damaged_rows.into_iter().filter(|r| r[0] == "Integer(1001)" || r[0] == "Integer(1002)").collect::<Vec<_>>();
        kept[1][1] = text("Intro");
        want.extend(kept);
    } else {
        // 1001 is as the incident left it: removed. 1002 was edited since: kept as live has it.
        let mut k = damaged_rows.into_iter().find(|r| r[0] == "Integer(1002)").unwrap();
        k[1] = text("Intro");
        want.push(k);
    }
    let new = |id: i64, name: &str, composer: rusqlite::types::Value, ms: i64| {
        vec![
            format!("Integer({id})"),
            text(name),
            "Integer(2)".to_string(),
            format!("{composer:?}"),
            format!("Integer({ms})"),
            real(0.89),
        ]
    };
    want.push(new(501, "New single", rusqlite::types::Value::Text("Composer 1".into()), 200000));
    want.push(new(502, "B-side", rusqlite::types::Value::Null, 150000));
    want.sort_by_key(|r| r[0].trim_start_matches("Integer(").trim_end_matches(')').parse::<i64>().unwrap());
    want
}

fn price(db: &Path, id: i64) -> f64 {
    Connection::open(db)
        .unwrap()
        .query_row("SELECT UnitPrice FROM tracks WHERE TrackId = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_music_shop_incident_is_reverted_and_no_later_write_is_lost() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let invoices = rows(&live, "invoices");
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    // The dry run counts the incident's cells per column and lists the conflicts.
    let before = std::fs::read(&live).unwrap();
    let plan = ok(&revert(dir.path(), &args));
    assert_eq!(std::fs::read(&live).unwrap(), before, "the dry run wrote nothing");
    assert!(plan.contains("dry run: nothing written"), "{plan}");
    assert!(plan.contains("UnitPrice: base 0.99, damaged 0, live 1.29"), "{plan}");
    assert!(plan.contains("live deleted the row after the incident"), "{plan}");

    let report = ok(&revert(dir.path(), &[&args[..], &["--apply"]].concat()));
    assert!(report.contains("re-check after the revert: 0 write(s)"), "{report}");
    assert_eq!(rows(&live, "tracks"), expected_tracks(&base, &damaged, false));
    assert_eq!(rows(&live, "invoices"), invoices, "another table untouched");
    // Run again: nothing left to write, the same conflicts listed.
    let again = ok(&revert(dir.path(), &[&args[..], &["--apply"]].concat()));
    assert!(again.contains("nothing to revert"), "{again}");
}

/// The point: a two-way merge of the same columns puts back the clerk's price too.
#[test]
fn two_way_merge_loses_the_clerks_price_where_revert_loses_nothing() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let merged = dir.path().join("merged.db");
    std::fs::copy(&live, &merged).unwrap();
    let m = lastgood(dir.path())
        .args(["merge", "--scratch", s(&base), "--live", s(&merged), "--tables", "tracks"])
        .args(["--columns", "UnitPrice,Composer", "--restore", "updated", "--apply"])
        .output()
        .unwrap();
    ok(&m);
    assert_eq!(price(&merged, 2), 0.99, "merge overwrote the clerk's 1.29 without a word");
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    ok(&revert(dir.path(), &[&args[..], &["--apply"]].concat()));
    assert_eq!(price(&live, 2), 1.29, "revert kept it");
    assert_eq!(rows(&live, "tracks"), expected_tracks(&base, &damaged, false));
    // Both agree on every row but the clerk's, and track 13, which only revert re-inserted.
    let by_key = |db: &Path| -> std::collections::BTreeMap<String, Vec<String>> {
        rows(db, "tracks").into_iter().map(|r| (r[0].clone(), r)).collect()
    };
    let (a, b) = (by_key(&merged), by_key(&live));
    let differ: Vec<&String> = b.keys().filter(|k| a.get(*k) != b.get(*k)).collect();
    assert_eq!(differ, ["Integer(13)", "Integer(2)"]);
}

#[test]
fn take_base_writes_base_over_the_conflicting_cells_only() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    ok(&revert(dir.path(), &[&args[..], &["--conflicts", "take-base", "--apply"]].concat()));
    let mut want = expected_tracks(&base, &damaged, false);
    want.iter_mut().find(|r| r[0] == "Integer(2)").unwrap()[5] = real(0.99);
    assert_eq!(rows(&live, "tracks"), want);
    assert_eq!(rows(&live, "tracks").iter().find(|r| r[0] == "Integer(3)").unwrap()[1], text("Track 3 (remastered)"));
}

#[test]
fn rows_the_incident_inserted_go_only_when_asked_and_only_as_it_left_them() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--all-columns"];
    let plan = common_json_lines(dir.path(), &[&args[..], &["--kinds", "updated,deleted,inserted"]].concat());
    let summary = plan.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["rows_to_remove"], 1, "{summary}");
    assert_eq!(summary["row_conflicts"]["inserted"], 1, "1002 was edited since");
    assert_eq!(summary["rows_to_reinsert"], 1, "track 13");
    ok(&revert(dir.path(), &[&args[..], &["--kinds", "updated,deleted,inserted", "--apply"]].concat()));
    assert_eq!(rows(&live, "tracks"), expected_tracks(&base, &damaged, true));
}

/// Runs `lastgood --json revert ARGS`, asserts exit 0, parses the JSON Lines.
fn common_json_lines(dir: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = lastgood(dir).arg("--json").arg("revert").args(args).output().unwrap();
    ok(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The JSON Lines shapes, parsed strictly so that a renamed or added field is noticed.
#[derive(serde::Deserialize, Debug)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[allow(dead_code)]
enum Line {
    Table {
        table: String,
        mode: String,
        key: Vec<String>,
        columns: Vec<String>,
        scope: Vec<String>,
        drift: serde_json::Value,
        drift_damaged: serde_json::Value,
    },
    Change {
        table: String,
        kind: String,
        key: serde_json::Map<String, serde_json::Value>,
        columns: Option<Vec<String>>,
        base: Option<serde_json::Map<String, serde_json::Value>>,
        damaged: Option<serde_json::Map<String, serde_json::Value>>,
        live: Option<serde_json::Map<String, serde_json::Value>>,
    },
    Conflict {
        table: String,
        key: serde_json::Map<String, serde_json::Value>,
        kind: String,
        column: Option<String>,
        base: serde_json::Value,
        damaged: serde_json::Value,
        live: serde_json::Value,
        resolution: String,
        reason: String,
    },
    Summary {
        table: String,
        base_rows: u64,
        damaged_rows: u64,
        live_rows: u64,
        cells: Vec<Cells>,
        incident: Kinds,
        in_scope: Kinds,
        outside_where: u64,
        cells_to_revert: u64,
        cells_already_reverted: u64,
        cell_conflicts: u64,
        cells_taking_base: u64,
        rows_to_reinsert: u64,
        rows_to_remove: u64,
        rows_already_reverted: u64,
        row_conflicts: Kinds,
        untouched: u64,
        writes: u64,
    },
    End {
        base: String,
        damaged: String,
        live: String,
        span: serde_json::Value,
        kinds: serde_json::Value,
        conflict_policy: String,
        tables: usize,
        writes: u64,
        conflicts: u64,
        triggers: Vec<serde_json::Value>,
        skipped_tables: Vec<serde_json::Value>,
        applied: bool,
        report: Option<serde_json::Value>,
    },
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Cells {
    column: String,
    changed: u64,
    in_scope: bool,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct Kinds {
    updated: u64,
    deleted: u64,
    inserted: u64,
}

#[test]
fn json_lines_keep_their_documented_shape() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    let lines: Vec<Line> = common_json_lines(dir.path(), &args)
        .into_iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}")))
        .collect();
    assert!(matches!(&lines[0], Line::Table { scope, .. } if scope == &["Composer", "UnitPrice"]));
    let clerk = lines.iter().find_map(|l| match l {
        Line::Conflict { key, column: Some(c), base, damaged, live, resolution, .. } if key["TrackId"] == 2 => {
            Some((c.clone(), base.clone(), damaged.clone(), live.clone(), resolution.clone()))
        }
        _ => None,
    });
    let want = (
        "UnitPrice".to_string(),
        serde_json::json!(0.99),
        serde_json::json!(0),
        serde_json::json!(1.29),
        "kept".into(),
    );
    assert_eq!(clerk, Some(want));
    let deleted_in_live = lines.iter().any(|l| {
        matches!(l, Line::Conflict { key, column: None, live, kind, .. } if key["TrackId"] == 4 && live.is_null() && kind == "updated")
    });
    assert!(deleted_in_live);
    let Some(Line::Summary { cells, incident, in_scope, cell_conflicts, rows_to_reinsert, writes, .. }) =
        lines.iter().find(|l| matches!(l, Line::Summary { .. }))
    else {
        panic!("no summary")
    };
    let composer = cells.iter().find(|c| c.column == "Composer").unwrap();
    // 199 tracks are in both; 28 of them had no composer, 171 had one: all now 'Unknown'.
    assert_eq!((composer.changed, composer.in_scope), (199, true));
    assert_eq!(*incident, Kinds { updated: 199, deleted: 1, inserted: 2 });
    assert_eq!(*in_scope, Kinds { updated: 199, deleted: 1, inserted: 0 });
    assert_eq!((*cell_conflicts, *rows_to_reinsert), (1, 1));
    // Every updated track but 4 (deleted in live), plus track 13.
    assert_eq!(*writes, 198 + 1);
    let changes = lines.iter().filter(|l| matches!(l, Line::Change { .. })).count() as u64;
    assert_eq!(changes, *writes);
    assert!(matches!(lines.last(), Some(Line::End { applied: false, conflicts: 2, .. })));
}

#[test]
fn the_sql_patch_applies_and_gives_what_apply_gives() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let patched = dir.path().join("patched.db");
    std::fs::copy(&live, &patched).unwrap();
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    let patch = ok(&revert(dir.path(), &[&args[..], &["--sql"]].concat()));
    assert!(patch.starts_with("-- lastgood revert --sql"), "{patch}");
    let st = std::process::Command::new("sqlite3")
        .arg(&patched)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(patch.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(st.success());
    ok(&revert(dir.path(), &[&args[..], &["--apply"]].concat()));
    assert_eq!(rows(&patched, "tracks"), rows(&live, "tracks"));
    assert_eq!(rows(&patched, "tracks"), expected_tracks(&base, &damaged, false));
}

/// Values SQL calls equal but diff does not: INTEGER 1 and REAL 1.0, 'a' and 'A' under NOCASE.
#[test]
fn equality_is_exact_so_sql_equal_values_are_conflicts() {
    let dir = tempdir();
    let [base, damaged, live] = ["base.db", "damaged.db", "live.db"].map(|n| path(&dir, n));
    let schema = "CREATE TABLE t(id INTEGER PRIMARY KEY, v, s TEXT COLLATE NOCASE);";
    sqlite3(&base, &format!("{schema} INSERT INTO t VALUES (1, 5, 'good'), (2, 5, 'good'), (3, 5, 'good');"));
    sqlite3(&damaged, &format!("{schema} INSERT INTO t VALUES (1, 1, 'a'), (2, 1, 'a'), (3, 1, 'a');"));
    // Row 1 as damaged left it; row 2 with 1.0 and 'A' (SQL-equal to damaged's); row 3 half of each.
    sqlite3(&live, &format!("{schema} INSERT INTO t VALUES (1, 1, 'a'), (2, 1.0, 'A'), (3, 1, 'A');"));
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--all-columns", "--apply"];
    let lines = common_json_lines(dir.path(), &args);
    let conflicts: Vec<(i64, &str)> = lines
        .iter()
        .filter(|l| l["type"] == "conflict")
        .map(|l| (l["key"]["id"].as_i64().unwrap(), l["column"].as_str().unwrap()))
        .collect();
    assert_eq!(conflicts, [(2, "v"), (2, "s"), (3, "s")]);
    let c = Connection::open(&live).unwrap();
    let got: Vec<(i64, String, String)> = c
        .prepare("SELECT id, typeof(v) || ':' || v, s FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want = [(1, "integer:5", "good"), (2, "real:1.0", "A"), (3, "integer:5", "A")];
    assert_eq!(got, want.map(|(i, v, s)| (i, v.to_string(), s.to_string())));
}

#[test]
fn strict_refuses_any_conflict_and_writes_nothing() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let before = std::fs::read(&live).unwrap();
    let args = ["revert", "--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice"];
    let err = fails(dir.path(), &[&args[..], &["--strict", "--apply"]].concat(), 5);
    assert!(err.contains("--strict: 2 conflict(s)"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), before, "live's bytes unchanged");
    assert!(!files_in(dir.path()).iter().any(|f| f.contains("snapshot")), "{:?}", files_in(dir.path()));
    // The dry run says it would refuse, and exits 0.
    let plan = ok(&revert(dir.path(), &[&args[1..], &["--strict"]].concat()));
    assert!(plan.contains("--apply --strict is refused"), "{plan}");
}

#[test]
fn bad_command_lines_are_refused_before_anything_is_read() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    let sides = ["revert", "--base", s(&base), "--damaged", s(&damaged), "--live", s(&live)];
    let out = lastgood(dir.path()).args(sides).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--columns or --all-columns is required");
    let err = fails(
        dir.path(),
        &["revert", "--base", s(&live), "--damaged", s(&damaged), "--live", s(&live), "--all-columns"],
        3,
    );
    assert!(err.contains("--base and --live are the same database"), "{err}");
    let err = fails(dir.path(), &[&sides[..], &["--columns", "Price"]].concat(), 3);
    assert!(err.contains("column `Price` is not in table `tracks` in base"), "{err}");
    let err = fails(dir.path(), &[&sides[..], &["--all-columns", "--tables", "invoices"]].concat(), 3);
    assert!(err.contains("table `invoices` is not in base"), "{err}");
    // The window forms: a repository is needed, and base's transaction comes first; live's
    // bytes are untouched either way.
    let before = std::fs::read(&live).unwrap();
    let err = fails(dir.path(), &["revert", "--txn", "725", "--live", s(&live)], 2);
    assert!(err.contains("give --repo"), "{err}");
    let repo = dir.path().join("empty-repo");
    std::fs::create_dir(&repo).unwrap();
    let err = fails(
        dir.path(),
        &["revert", "--base-txn", "9", "--damaged-txn", "5", "--repo", s(&repo), "--live", s(&live)],
        2,
    );
    assert!(err.contains("--base-txn 9 is newer than --damaged-txn 5"), "{err}");
    let err = fails(dir.path(), &["revert", "--txn", "725", "--repo", s(&repo), "--live", s(&live)], 3);
    assert!(err.contains("725"), "{err}");
    let out =
        lastgood(dir.path()).args(["revert", "--txn", "7", "--base", s(&base), "--live", s(&live)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--txn and --base exclude each other");
    assert_eq!(std::fs::read(&live).unwrap(), before);
}

/// Trigger policy as merge: refused by default (nothing written), skipped on request.
#[test]
fn triggers_are_refused_or_skipped_as_for_merge() {
    let dir = tempdir();
    let (live, base, damaged, _) = incident(dir.path());
    sqlite3(
        &live,
        "CREATE TABLE price_log(TrackId INTEGER, at TEXT);
         CREATE TRIGGER log_price AFTER UPDATE OF UnitPrice ON tracks BEGIN INSERT INTO price_log VALUES (NEW.TrackId, 'x'); END;",
    );
    let before = std::fs::read(&live).unwrap();
    let args =
        ["revert", "--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "UnitPrice,Composer"];
    let err = fails(dir.path(), &[&args[..], &["--apply"]].concat(), 5);
    assert!(err.contains("log_price"), "{err}");
    assert_eq!(std::fs::read(&live).unwrap(), before);
    ok(&revert(dir.path(), &[&args[1..], &["--apply", "--triggers", "skip"]].concat()));
    assert_eq!(rows(&live, "price_log"), Vec::<Vec<String>>::new(), "the trigger did not fire");
    assert_eq!(rows(&live, "tracks"), expected_tracks(&base, &damaged, false));
    let c = Connection::open(&live).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'log_price'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "the trigger is back");
}

/// Row-level equality of table `t` in two files.
fn same_rows(a: &Path, b: &Path) -> bool {
    rows(a, "t") == rows(b, "t")
}

#[test]
fn sigkill_during_apply_leaves_live_before_or_fully_reverted() {
    const ROWS: u32 = 50_000;
    const KILLS: u32 = 16;
    let dir = tempdir();
    let [base, damaged, pristine] = ["base.db", "damaged.db", "pristine.db"].map(|n| path(&dir, n));
    sqlite3(
        &base,
        &format!(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, w INTEGER);
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {ROWS}) INSERT INTO t SELECT x, 'good ' || x, x FROM c;"
        ),
    );
    std::fs::copy(&base, &damaged).unwrap();
    sqlite3(&damaged, "UPDATE t SET v = 'damaged' WHERE id % 2 = 0");
    std::fs::copy(&damaged, &pristine).unwrap();
    sqlite3(
        &pristine,
        "UPDATE t SET v = 'later' WHERE id % 1000 = 0; UPDATE t SET w = -w WHERE id % 10 = 0; INSERT INTO t VALUES (900000, 'new', 0);",
    );
    // The expected outcome, by SQLite itself: base's v where live still holds damaged's.
    let reverted = path(&dir, "reverted.db");
    std::fs::copy(&pristine, &reverted).unwrap();
    sqlite3(
        &reverted,
        &format!(
            "ATTACH '{}' AS b; ATTACH '{}' AS d;
             UPDATE main.t SET v = (SELECT v FROM b.t WHERE b.t.id = main.t.id)
               WHERE v = (SELECT v FROM d.t WHERE d.t.id = main.t.id) AND v <> (SELECT v FROM b.t WHERE b.t.id = main.t.id);",
            base.display(),
            damaged.display()
        ),
    );
    let args = |live: &Path| -> Vec<String> {
        ["revert", "--base", s(&base), "--damaged", s(&damaged), "--live", s(live), "--columns", "v", "--apply"]
            .map(String::from)
            .to_vec()
    };
    let full = path(&dir, "full.db");
    std::fs::copy(&pristine, &full).unwrap();
    let started = Instant::now();
    ok(&lastgood(dir.path()).args(args(&full)).output().unwrap());
    let whole = started.elapsed();
    assert!(same_rows(&full, &reverted), "an uninterrupted revert gives SQLite's answer");

    let mut rng = crate::diff::Rng::new(11);
    let (mut seen, mut mid_run) = ((0, 0), 0);
    for i in 0..3 * KILLS {
        if mid_run >= KILLS {
            break;
        }
        let sub = dir.path().join(format!("run{i}"));
        std::fs::create_dir(&sub).unwrap();
        let live = sub.join("live.db");
        std::fs::copy(&pristine, &live).unwrap();
        let frac = ((i % KILLS) as f64 + rng.below(1000) as f64 / 1000.0) / KILLS as f64;
        let mut child = lastgood(dir.path()).args(args(&live)).stdout(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(frac));
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        mid_run += u32::from(running);
        let check: String =
            Connection::open(&live).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "kill {i} at {frac:.2}");
        if same_rows(&live, &pristine) {
            seen.0 += 1;
        } else if same_rows(&live, &reverted) {
            seen.1 += 1;
        } else {
            panic!("kill {i} at {frac:.2} of a run left live partially reverted");
        }
        for f in files_in(&sub).iter().filter(|f| f.contains("snapshot") && f.ends_with(".db")) {
            assert!(same_rows(&sub.join(f), &pristine), "snapshot {f} is whole");
        }
    }
    assert!(mid_run >= KILLS / 2, "only {mid_run} kills landed while revert ran");
    assert!(seen.0 > 0, "no kill landed before the commit: {seen:?}");
    eprintln!("{mid_run} kills while running; live before: {}, fully reverted: {}", seen.0, seen.1);
}

/// The re-check after the commit (which reads live against the incident's rows the plan kept)
/// sees damage written back inside the revert's own transaction: a live trigger, fired by
/// `--triggers fire`, puts row 1's damaged value back when row 2 is reverted. The revert
/// commits, and exits 1 naming the write still to do; with no such trigger it exits 0.
#[test]
fn the_recheck_finds_damage_written_back_during_the_revert() {
    let dir = tempdir();
    let [base, damaged, live] = ["base.db", "damaged.db", "live.db"].map(|f| dir.path().join(f));
    let setup = |p: &Path, sql: &str| Connection::open(p).unwrap().execute_batch(sql).unwrap();
    setup(
        &base,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, status TEXT, n INTEGER);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
         INSERT INTO t SELECT x, 'ok', x FROM c;",
    );
    std::fs::copy(&base, &damaged).unwrap();
    setup(&damaged, "UPDATE t SET status = 'void' WHERE id IN (1, 2, 300)");
    std::fs::copy(&damaged, &live).unwrap();
    setup(&live, "UPDATE t SET n = -1 WHERE id = 400; INSERT INTO t VALUES (501, 'new', 0);");
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&live), "--columns", "status", "--apply"];
    let clean = dir.path().join("clean.db");
    std::fs::copy(&live, &clean).unwrap();
    setup(
        &live,
        "CREATE TRIGGER redamage AFTER UPDATE OF status ON t WHEN NEW.id = 2
         BEGIN UPDATE t SET status = 'void' WHERE id = 1; END;",
    );
    let out = revert(dir.path(), &[&args[..], &["--triggers", "fire"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the revert is committed, but the re-check found 1 write(s) still to do"), "{err}");
    let status = |p: &Path, id: i64| -> String {
        Connection::open(p).unwrap().query_row("SELECT status FROM t WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    };
    assert_eq!([status(&live, 1), status(&live, 2), status(&live, 300)], ["void", "ok", "ok"]);
    // Without the trigger: everything reverted, the later writes kept, exit 0.
    let args = ["--base", s(&base), "--damaged", s(&damaged), "--live", s(&clean), "--columns", "status", "--apply"];
    let report = ok(&revert(dir.path(), &args));
    assert!(report.contains("re-check after the revert: 0 write(s)"), "{report}");
    let all: Vec<(i64, String, i64)> = Connection::open(&clean)
        .unwrap()
        .prepare("SELECT id, status, n FROM t WHERE id IN (1, 2, 300, 400, 501) ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want = [(1, "ok", 1), (2, "ok", 2), (300, "ok", 300), (400, "ok", -1), (501, "new", 0)];
    assert_eq!(all, want.map(|(i, s, n)| (i, s.to_string(), n)));
    // The printed undo puts the live file back as it was before the revert, byte for byte.
    let undo = report.lines().find_map(|l| l.strip_prefix("to undo: ")).expect("an undo line").to_string();
    let words: Vec<&str> = undo.split_whitespace().collect();
    assert_eq!(&words[..2], ["lastgood", "promote"], "{undo}");
    let out = lastgood(dir.path()).args(&words[1..]).output().unwrap();
    assert!(out.status.success(), "{undo}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!([status(&clean, 1), status(&clean, 300)], ["void", "void"], "{undo}");
}
