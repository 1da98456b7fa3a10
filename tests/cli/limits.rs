//! Values and shapes at the engines' limits: wide tables without a key (more columns than SQLite
//! takes ORDER BY terms or AND-chain depth), and REALs JSON numbers cannot carry (±Infinity,
//! NaN), which `--json` must tell apart from TEXT.

use std::path::Path;

use rusqlite::Connection;

use crate::cluster_or_skip;
use crate::common::*;

/// Runs `lastgood ARGS` in `cwd`; returns exit code, stdout and stderr.
fn run(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = lastgood(cwd).args(args).output().expect("runs");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A table without a key with `n` untyped columns: two equal rows, and one that differs.
fn make_wide(db: &Path, n: usize) {
    let cols: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let vals: Vec<String> = (0..n).map(|i| if i % 7 == 0 { format!("'t{i}'") } else { i.to_string() }).collect();
    let c = Connection::open(db).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE wide({}); INSERT INTO wide VALUES ({v}); INSERT INTO wide VALUES ({v}); INSERT INTO wide VALUES ({v});",
        cols.join(", "),
        v = vals.join(", ")
    ))
    .unwrap();
}

#[test]
fn a_keyless_table_of_1500_columns_diffs_and_merges_exactly() {
    let dir = tempdir();
    let d = dir.path();
    let (scratch, live) = (d.join("scratch.db"), d.join("live.db"));
    make_wide(&scratch, 1500);
    std::fs::copy(&scratch, &live).unwrap();
    // One copy changed in one column (an integer becomes an equal real: a different value), one
    // copy removed: one row deleted twice over, one inserted.
    sqlite3(&live, "UPDATE wide SET c1499 = 1499.0 WHERE rowid = 1; DELETE FROM wide WHERE rowid = 2;");
    let (code, out, err) = run(d, &["--json", "diff", "--scratch", "scratch.db", "--live", "live.db"]);
    assert_eq!(code, 1, "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().find(|l| l.contains("\"summary\"")).expect("summary line")).unwrap();
    assert_eq!((summary["deleted"].as_u64(), summary["inserted"].as_u64()), (Some(2), Some(1)), "{summary}");
    assert_eq!(summary["unchanged"], 1, "{summary}");
    let (code, _, err) =
        run(d, &["merge", "--scratch", "scratch.db", "--live", "live.db", "--restore", "deleted,inserted", "--apply"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(d, &["diff", "--scratch", "scratch.db", "--live", "live.db"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows(&live, "wide"), rows(&scratch, "wide"));
    // history digests it too (the same ordered scan).
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(&scratch, repo.join("w-2026-11-23T06-00-00.db")).unwrap();
    let (code, _, err) = run(d, &["--repo", repo.to_str().unwrap(), "history", "--table", "wide"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_postgres_keyless_table_of_1500_columns_diffs_exactly() {
    let c = cluster_or_skip!();
    let cols: Vec<String> = (0..1500).map(|i| format!("c{i} int")).collect();
    let vals: Vec<String> = (0..1500).map(|i| i.to_string()).collect();
    for db in ["a", "b"] {
        c.create_db(db);
        c.psql(
            db,
            &format!(
                "CREATE TABLE wide({}); INSERT INTO wide VALUES ({v}); INSERT INTO wide VALUES ({v});",
                cols.join(", "),
                v = vals.join(", ")
            ),
        );
    }
    c.psql("b", "UPDATE wide SET c1499 = -1 WHERE ctid = (SELECT min(ctid) FROM wide)");
    let dir = tempdir();
    let (code, out, err) = run(dir.path(), &["--json", "diff", "--scratch", &c.url("a"), "--live", &c.url("b")]);
    assert_eq!(code, 1, "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().find(|l| l.contains("\"summary\"")).expect("summary line")).unwrap();
    assert_eq!((summary["deleted"].as_u64(), summary["inserted"].as_u64()), (Some(1), Some(1)), "{summary}");
}

/// The `--json` value of column `col` in the diff's change lines for key `id`.
fn changed_value(out: &str, id: i64, side: &str, col: &str) -> serde_json::Value {
    out.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["type"] == "change" && v["key"]["id"] == id)
        .unwrap_or_else(|| panic!("no change for id {id}: {out}"))[side][col]
        .clone()
}

#[test]
fn infinite_reals_in_json_are_tagged_and_never_read_as_text() {
    let dir = tempdir();
    let d = dir.path();
    let (scratch, live) = (d.join("scratch.db"), d.join("live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v);
         INSERT INTO t VALUES (1, 9e999), (2, -9e999), (3, 'inf'), (4, 'Infinity'), (5, 1.5);",
    );
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(&live, "UPDATE t SET v = 0");
    let (code, out, err) = run(d, &["--json", "diff", "--scratch", "scratch.db", "--live", "live.db"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(changed_value(&out, 1, "scratch", "v"), serde_json::json!({"real": "Infinity"}));
    assert_eq!(changed_value(&out, 2, "scratch", "v"), serde_json::json!({"real": "-Infinity"}));
    assert_eq!(changed_value(&out, 3, "scratch", "v"), serde_json::json!("inf"));
    assert_eq!(changed_value(&out, 4, "scratch", "v"), serde_json::json!("Infinity"));
    assert_eq!(changed_value(&out, 5, "scratch", "v"), serde_json::json!(1.5));
    // Human output names them too, not as the literal `9e999`.
    let (code, out, _) = run(d, &["diff", "--rows", "--scratch", "scratch.db", "--live", "live.db"]);
    assert_eq!(code, 1);
    assert!(out.contains("v: Infinity → 0") && out.contains("v: -Infinity → 0"), "{out}");
    assert!(!out.contains("9e999"), "{out}");
}

#[test]
fn postgres_nan_and_infinity_in_json_are_tagged_and_never_read_as_text() {
    let c = cluster_or_skip!();
    for db in ["a", "b"] {
        c.create_db(db);
        c.psql(
            db,
            "CREATE TABLE t(id int PRIMARY KEY, x float8, s text);
             INSERT INTO t VALUES (1, 'NaN', 'NaN'), (2, 'Infinity', 'Infinity'), (3, '-Infinity', 'inf');",
        );
    }
    c.psql("b", "UPDATE t SET x = 0, s = 'z'");
    let dir = tempdir();
    let (code, out, err) = run(dir.path(), &["--json", "diff", "--scratch", &c.url("a"), "--live", &c.url("b")]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(changed_value(&out, 1, "scratch", "x"), serde_json::json!({"real": "NaN"}));
    assert_eq!(changed_value(&out, 1, "scratch", "s"), serde_json::json!("NaN"));
    assert_eq!(changed_value(&out, 2, "scratch", "x"), serde_json::json!({"real": "Infinity"}));
    assert_eq!(changed_value(&out, 2, "scratch", "s"), serde_json::json!("Infinity"));
    assert_eq!(changed_value(&out, 3, "scratch", "x"), serde_json::json!({"real": "-Infinity"}));
}
