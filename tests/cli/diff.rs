//! `lastgood diff`, checked against SQLite's own `sqldiff` on generated database pairs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::common::*;

/// A small deterministic generator (xorshift64*), so every seed gives the same pair of databases.
pub struct Rng(u64, bool);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, false)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random value of any storage class: NULL, INTEGER, REAL, TEXT (quotes and non-ASCII
/// included), BLOB. REALs take any finite non-zero bits, unless the generator is limited to
/// values of at most 15 significant digits (`sqldiff` prints REALs with 15 digits, so its
/// patches round other values: measured, `0.30000000000000004` comes out as `0.3`).
fn any_value(rng: &mut Rng) -> Value {
    match rng.below(5) {
        0 => Value::Null,
        1 => Value::Integer(rng.below(2_000_000) as i64 - 1_000_000),
        2 if rng.1 => Value::Real((rng.below(1 << 30) as f64) / 4.0 - 1e8),
        2 => loop {
            let f = f64::from_bits(rng.next());
            if f.is_finite() && f != 0.0 {
                break Value::Real(f);
            }
        },
        3 => Value::Text(format!("t'{}é\"{}", rng.below(1_000_000), rng.below(100))),
        _ => Value::Blob((0..rng.below(12)).map(|_| rng.next() as u8).collect()),
    }
}

fn real(rng: &mut Rng) -> Value {
    if rng.chance(10) { Value::Null } else { Value::Real((rng.below(1 << 40) as f64) / 4.0 - 1e11) }
}

const SCHEMA: &str = "
    CREATE TABLE t1(id INTEGER PRIMARY KEY, a, b TEXT, c REAL, d BLOB);
    CREATE TABLE t2(k1 TEXT NOT NULL, k2 INTEGER NOT NULL, v, w REAL, PRIMARY KEY (k1, k2)) WITHOUT ROWID;
    CREATE TABLE t3(x, y);";

fn t1_row(rng: &mut Rng, id: i64) -> Vec<Value> {
    let b = if rng.chance(10) { Value::Null } else { Value::Text(format!("name {}", rng.below(1000))) };
    let d = if rng.chance(20) { Value::Null } else { Value::Blob((0..8).map(|_| rng.next() as u8).collect()) };
    vec![Value::Integer(id), any_value(rng), b, real(rng), d]
}

fn t2_row(rng: &mut Rng, k1: &str, k2: i64) -> Vec<Value> {
    vec![Value::Text(k1.to_string()), Value::Integer(k2), any_value(rng), real(rng)]
}

/// Rows of the keyless table come from a small domain, so duplicates occur.
fn t3_row(rng: &mut Rng) -> Vec<Value> {
    let x = match rng.below(3) {
        0 => Value::Integer(rng.below(4) as i64),
        1 => Value::Real(rng.below(4) as f64 + 0.5),
        _ => Value::Null,
    };
    vec![x, Value::Text(format!("y{}", rng.below(3)))]
}

fn insert(c: &Connection, table: &str, row: &[Value]) {
    let marks = vec!["?"; row.len()].join(", ");
    c.execute(&format!("INSERT INTO {table} VALUES ({marks})"), rusqlite::params_from_iter(row)).unwrap();
}

/// Scratch (the backup) and live (scratch after random updates, deletes and inserts).
pub fn generate_pair(seed: u64, short_reals: bool, scratch: &Path, live: &Path) {
    let mut rng = Rng::new(seed);
    rng.1 = short_reals;
    let c = Connection::open(scratch).unwrap();
    c.execute_batch(SCHEMA).unwrap();
    c.execute_batch("BEGIN").unwrap();
    for id in 1..=300 {
        insert(&c, "t1", &t1_row(&mut rng, id));
    }
    for i in 0..200 {
        insert(&c, "t2", &t2_row(&mut rng, &format!("k{}", i % 20), i / 20));
    }
    for _ in 0..150 {
        insert(&c, "t3", &t3_row(&mut rng));
    }
    set_invalid_utf8(&c, &mut Rng::new(seed ^ 0x00ff_00ff));
    c.execute_batch("COMMIT").unwrap();
    drop(c);
    std::fs::copy(scratch, live).unwrap();
    let c = Connection::open(live).unwrap();
    c.execute_batch("BEGIN").unwrap();
    for id in 1..=300 {
        if rng.chance(5) {
            c.execute("DELETE FROM t1 WHERE id = ?1", [id]).unwrap();
        } else if rng.chance(10) {
            let r = t1_row(&mut rng, id);
            let col = ["a", "b", "c", "d"][rng.below(4) as usize];
            let v = &r[1 + ["a", "b", "c", "d"].iter().position(|x| *x == col).unwrap()];
            c.execute(&format!("UPDATE t1 SET {col} = ?1 WHERE id = ?2"), rusqlite::params![v, id]).unwrap();
        }
    }
    for id in 301..330 {
        insert(&c, "t1", &t1_row(&mut rng, id));
    }
    for i in 0..200i64 {
        let (k1, k2) = (format!("k{}", i % 20), i / 20);
        if rng.chance(5) {
            c.execute("DELETE FROM t2 WHERE k1 = ?1 AND k2 = ?2", rusqlite::params![k1, k2]).unwrap();
        } else if rng.chance(10) {
            let v = any_value(&mut rng);
            c.execute("UPDATE t2 SET v = ?1 WHERE k1 = ?2 AND k2 = ?3", rusqlite::params![v, k1, k2]).unwrap();
        }
    }
    for i in 0..15 {
        insert(&c, "t2", &t2_row(&mut rng, &format!("new{i}"), i));
    }
    for rowid in 1..=150 {
        if rng.chance(8) {
            c.execute("DELETE FROM t3 WHERE rowid = ?1", [rowid]).unwrap();
        }
    }
    for _ in 0..10 {
        insert(&c, "t3", &t3_row(&mut rng));
    }
    set_invalid_utf8(&c, &mut Rng::new(seed ^ 0xff00_ff00));
    c.execute_batch("COMMIT").unwrap();
}

/// Stores TEXT that is not valid UTF-8 (SQLite takes any bytes as TEXT) in a few rows of t1 and
/// t3: diff and its patch must carry those bytes exactly, as sqldiff does. (Its own generator, so
/// the rest of the generated data stays as it was.)
fn set_invalid_utf8(c: &Connection, rng: &mut Rng) {
    for _ in 0..6 {
        let bytes = format!("41{:02x}ff{:02x}", 1 + rng.below(255), 1 + rng.below(127));
        let id = 1 + rng.below(300);
        c.execute(&format!("UPDATE t1 SET b = CAST(X'{bytes}' AS TEXT) WHERE id = ?1"), [id as i64]).unwrap();
    }
    c.execute(&format!("INSERT INTO t3 VALUES (CAST(X'c3{:02x}' AS TEXT), 'y0')", 0x28 + rng.below(2)), []).unwrap();
}

/// Every row of `table`, exactly (storage class included), sorted: a multiset comparison.
pub fn row_multiset(db: &Path, table: &str) -> Vec<String> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
    let n = st.column_count();
    let mut rows: Vec<String> = st
        .query_map([], |r| {
            let vals: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Real(f) => format!("Real({:#x})", f.to_bits()),
                    v => format!("{v:?}"),
                })
                .collect();
            Ok(vals.join("|"))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.sort();
    rows
}

/// Logs every key a patch touches: (table, op, key) with op u(pdate), d(elete), i(nsert).
const LOG_TRIGGERS: &str = "
    CREATE TABLE patch_log(tbl, op, k);
    CREATE TRIGGER l1u AFTER UPDATE ON t1 BEGIN INSERT INTO patch_log VALUES ('t1', 'u', OLD.id); END;
    CREATE TRIGGER l1d AFTER DELETE ON t1 BEGIN INSERT INTO patch_log VALUES ('t1', 'd', OLD.id); END;
    CREATE TRIGGER l1i AFTER INSERT ON t1 BEGIN INSERT INTO patch_log VALUES ('t1', 'i', NEW.id); END;
    CREATE TRIGGER l2u AFTER UPDATE ON t2 BEGIN INSERT INTO patch_log VALUES ('t2', 'u', NEW.k1 || '/' || NEW.k2); END;
    CREATE TRIGGER l2d AFTER DELETE ON t2 BEGIN INSERT INTO patch_log VALUES ('t2', 'd', OLD.k1 || '/' || OLD.k2); END;
    CREATE TRIGGER l2i AFTER INSERT ON t2 BEGIN INSERT INTO patch_log VALUES ('t2', 'i', NEW.k1 || '/' || NEW.k2); END;";

/// Applies an SQL patch to a copy of `live` with the key-logging triggers; returns the copy and
/// the sorted log.
fn apply_patch(live: &Path, copy: &Path, patch: &[u8]) -> Vec<(String, String, String)> {
    std::fs::copy(live, copy).unwrap();
    sqlite3(copy, LOG_TRIGGERS);
    let mut child = Command::new("sqlite3").arg("-bail").arg(copy).stdin(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(patch).unwrap();
    assert!(child.wait().unwrap().success(), "patch failed on {}", copy.display());
    let c = Connection::open(copy).unwrap();
    let mut st = c.prepare("SELECT tbl, op, CAST(k AS TEXT) FROM patch_log").unwrap();
    let mut log: Vec<(String, String, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap();
    log.sort();
    log
}

/// Keys per table and kind from `diff --json`, in the log's terms (restoring a deleted row is an
/// insert, restoring an inserted one a delete).
fn keys_from_json(lines: &[serde_json::Value]) -> Vec<(String, String, String)> {
    let mut keys = Vec::new();
    for l in lines.iter().filter(|l| l["type"] == "change") {
        let table = l["table"].as_str().unwrap().to_string();
        if table == "t3" {
            continue;
        }
        let op = match l["kind"].as_str().unwrap() {
            "updated" => "u",
            "deleted" => "i",
            _ => "d",
        };
        let k = &l["key"];
        let key =
            if table == "t1" { k["id"].to_string() } else { format!("{}/{}", k["k1"].as_str().unwrap(), k["k2"]) };
        keys.push((table, op.to_string(), key));
    }
    keys.sort();
    keys
}

/// Runs `lastgood diff --scratch S --live L EXTRA…` in `dir`.
fn diff_cmd(dir: &Path, scratch: &Path, live: &Path, extra: &[&str]) -> std::process::Output {
    lastgood(dir).arg("diff").arg("--scratch").arg(scratch).arg("--live").arg(live).args(extra).output().unwrap()
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn changes_equal_sqldiffs_on_generated_pairs() {
    for seed in [1, 2, 3, 4, 5] {
        let dir = tempdir();
        let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
        generate_pair(seed, true, &scratch, &live);

        let ours = diff_cmd(dir.path(), &scratch, &live, &["--sql"]);
        assert_eq!(ours.status.code(), Some(1), "seed {seed}: differences exit 1");
        let theirs = Command::new("sqldiff").arg(&live).arg(&scratch).output().expect("sqldiff installed");
        assert!(theirs.status.success());

        let our_log = apply_patch(&live, &path(&dir, "ours.db"), &ours.stdout);
        let their_log = apply_patch(&live, &path(&dir, "theirs.db"), &theirs.stdout);
        assert!(!our_log.is_empty());
        assert_eq!(our_log, their_log, "seed {seed}: changed keys differ from sqldiff's");
        for t in ["t1", "t2", "t3"] {
            let want = row_multiset(&scratch, t);
            assert_eq!(row_multiset(&path(&dir, "theirs.db"), t), want, "seed {seed}: sqldiff's patch on {t}");
            assert_eq!(row_multiset(&path(&dir, "ours.db"), t), want, "seed {seed}: our patch on {t}");
        }

        let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
        assert_eq!(out.status.code(), Some(1));
        let lines = json_lines(&out.stdout);
        assert_eq!(keys_from_json(&lines), our_log, "seed {seed}: --json keys");
        let end = lines.last().unwrap();
        assert_eq!(end["type"], "end");
        assert_eq!(end["equal"], false);
        let t3 = lines.iter().find(|l| l["type"] == "table" && l["table"] == "t3").unwrap();
        assert_eq!(t3["mode"], "multiset");
    }
}

#[test]
fn our_patch_restores_any_real_bit_for_bit() {
    for seed in [11, 12] {
        let dir = tempdir();
        let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
        generate_pair(seed, false, &scratch, &live);
        let ours = diff_cmd(dir.path(), &scratch, &live, &["--sql"]);
        assert_eq!(ours.status.code(), Some(1));
        apply_patch(&live, &path(&dir, "ours.db"), &ours.stdout);
        for t in ["t1", "t2", "t3"] {
            assert_eq!(row_multiset(&path(&dir, "ours.db"), t), row_multiset(&scratch, t), "seed {seed}: {t}");
        }
        let again = diff_cmd(dir.path(), &scratch, &path(&dir, "ours.db"), &[]);
        assert_eq!(again.status.code(), Some(0), "after our patch live equals scratch");
    }
}

#[test]
fn counts_per_table_match_sqldiff_summary() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    generate_pair(9, true, &scratch, &live);
    let theirs = Command::new("sqldiff").arg("--summary").arg(&live).arg(&scratch).output().unwrap();
    // sqldiff's summary line: "t1: 12 changes, 3 inserts, 4 deletes, 281 unchanged" (live → scratch).
    let mut summary = BTreeMap::new();
    for line in String::from_utf8(theirs.stdout).unwrap().lines() {
        let (t, rest) = line.split_once(": ").unwrap();
        let n: Vec<u64> = rest.split(", ").map(|p| p.split(' ').next().unwrap().parse().unwrap()).collect();
        summary.insert(t.to_string(), n);
    }
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    for l in json_lines(&out.stdout).iter().filter(|l| l["type"] == "summary" && l["table"] != "t3") {
        let n = &summary[l["table"].as_str().unwrap()];
        assert_eq!(l["updated"].as_u64().unwrap(), n[0], "{l}");
        assert_eq!(l["deleted"].as_u64().unwrap(), n[1], "{l}");
        assert_eq!(l["inserted"].as_u64().unwrap(), n[2], "{l}");
        assert_eq!(l["unchanged"].as_u64().unwrap(), n[3], "{l}");
    }
}

#[test]
fn storage_classes_blobs_and_reals_are_compared_exactly() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1), (2, '1'), (3, x'00'), (4, 0.1), (5, NULL), (6, 1.0);",
    );
    sqlite3(
        &live,
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1.0), (2, 1), (3, x'0000'), (4, 0.1), (5, NULL), (6, 1.0);",
    );
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    let lines = json_lines(&out.stdout);
    let updated: Vec<i64> =
        lines.iter().filter(|l| l["kind"] == "updated").map(|l| l["key"]["id"].as_i64().unwrap()).collect();
    assert_eq!(updated, [1, 2, 3]);
    let s = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!((s["updated"].as_u64(), s["unchanged"].as_u64()), (Some(3), Some(3)));
}

#[test]
fn keyless_table_with_integer_and_equal_real_is_a_multiset_in_value_order() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    sqlite3(&scratch, "CREATE TABLE n(a, b); INSERT INTO n VALUES (1, 'x'), (1.0, 'a'), (1, 'x'), (2, NULL);");
    sqlite3(&live, "CREATE TABLE n(a, b); INSERT INTO n VALUES (1.0, 'a'), (1, 'x'), (2, NULL), (2, NULL);");
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let changes: Vec<(String, u64, u64)> = lines
        .iter()
        .filter(|l| l["type"] == "change")
        .map(|l| {
            (
                l["kind"].as_str().unwrap().into(),
                l["scratch_copies"].as_u64().unwrap(),
                l["live_copies"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [("deleted".into(), 2, 1), ("inserted".into(), 1, 2)]);
}

#[test]
fn equal_databases_exit_0_and_schema_drift_is_reported() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    sqlite3(&scratch, "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, old INT); INSERT INTO t VALUES (1, 'x', 5);");
    sqlite3(&live, "CREATE TABLE t(id INTEGER PRIMARY KEY, a BLOB, new INT); INSERT INTO t VALUES (1, 'x', 7);");
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "rows equal on the common columns");
    let lines = json_lines(&out.stdout);
    let drift = &lines[0]["drift"];
    assert_eq!(drift["only_in_scratch"], serde_json::json!(["old"]));
    assert_eq!(drift["only_in_live"], serde_json::json!(["new"]));
    assert_eq!(drift["type_changed"][0]["column"], "a");
}

#[test]
fn bad_input_is_refused_with_exit_3() {
    let dir = tempdir();
    let (scratch, live, other) = (path(&dir, "scratch.db"), path(&dir, "live.db"), path(&dir, "other.db"));
    sqlite3(&scratch, "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT);");
    sqlite3(&live, "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT);");
    sqlite3(&other, "CREATE TABLE u(id INTEGER PRIMARY KEY);");
    let cases: [(&Path, &Path, &[&str], &str); 4] = [
        (&scratch, &other, &[], "no table in common"),
        (&scratch, &live, &["--columns", "nope"], "column `nope`"),
        (&live, &live, &[], "same database"),
        (&scratch, &live, &["--tables", "zzz"], "table `zzz`"),
    ];
    for (s, l, extra, msg) in cases {
        let out = diff_cmd(dir.path(), s, l, extra);
        assert_eq!(out.status.code(), Some(3), "{msg}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: ") && err.contains(msg), "{err}");
    }
}

/// The JSON Lines shapes, parsed strictly so that a renamed or added field is noticed.
#[derive(serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[allow(dead_code)]
enum Line {
    Table {
        table: String,
        mode: String,
        key: Vec<String>,
        columns: Vec<String>,
        drift: serde_json::Value,
    },
    Change {
        table: String,
        kind: String,
        key: serde_json::Map<String, serde_json::Value>,
        columns: Option<Vec<String>>,
        scratch: Option<serde_json::Value>,
        live: Option<serde_json::Value>,
        scratch_copies: Option<u64>,
        live_copies: Option<u64>,
    },
    Summary {
        table: String,
        scratch_rows: u64,
        live_rows: u64,
        deleted: u64,
        inserted: u64,
        updated: u64,
        unchanged: u64,
    },
    End {
        tables: usize,
        changes: u64,
        equal: bool,
        only_in_scratch: Vec<String>,
        only_in_live: Vec<String>,
        skipped_tables: Vec<serde_json::Value>,
    },
}

#[test]
fn json_lines_keep_their_documented_shape() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    generate_pair(3, true, &scratch, &live);
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Line> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(matches!(lines.first(), Some(Line::Table { .. })));
    assert!(matches!(lines.last(), Some(Line::End { equal: false, tables: 3, .. })));
    assert_eq!(lines.iter().filter(|l| matches!(l, Line::Summary { .. })).count(), 3);
}

#[test]
fn nocase_keys_kinds_rows_limit_and_rowid() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
    let schema = "CREATE TABLE k(name TEXT COLLATE NOCASE PRIMARY KEY, v INT); CREATE TABLE n(a, b);";
    sqlite3(
        &scratch,
        &format!(
            "{schema} INSERT INTO k VALUES ('a', 1), ('B', 2), ('c', 3), ('D', 4); INSERT INTO n VALUES (1, 'x'), (2, 'y');"
        ),
    );
    sqlite3(
        &live,
        &format!(
            "{schema} INSERT INTO k VALUES ('a', 10), ('B', 20), ('c', 30), ('e', 5); INSERT INTO n VALUES (1, 'x'), (2, 'Y');"
        ),
    );
    let run = |args: &[&str]| diff_cmd(dir.path(), &scratch, &live, args);
    // NOCASE sorts 'a' < 'B' but keys are compared byte for byte ('B' < 'a'): no order error.
    let out = run(&["--json", "--tables", "k", "--kinds", "updated"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let keys: Vec<&str> =
        lines.iter().filter(|l| l["type"] == "change").map(|l| l["key"]["name"].as_str().unwrap()).collect();
    assert_eq!(keys, ["B", "a", "c"]);
    let s = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!((s["updated"].as_u64(), s["deleted"].as_u64(), s["inserted"].as_u64()), (Some(3), Some(0), Some(0)));
    // --rows --limit 2: two updated rows shown, then how many more.
    let text = String::from_utf8(run(&["--tables", "k", "--rows", "--limit", "2"]).stdout).unwrap();
    assert_eq!(text.lines().filter(|l| l.trim_start().starts_with("updated ")).count(), 2, "{text}");
    assert!(text.contains("… 1 more updated"), "{text}");
    // --rowid: the keyless table is matched by rowid, so row 2 is one update, with a warning.
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json", "--rowid", "--tables", "n"]);
    let lines = json_lines(&out.stdout);
    let change = lines.iter().find(|l| l["type"] == "change").unwrap();
    assert_eq!((change["kind"].as_str(), change["key"]["rowid"].as_i64()), (Some("updated"), Some(2)));
    let warned = Command::new(assert_cmd::cargo::cargo_bin("lastgood"))
        .args(["diff", "--rowid", "--tables", "n", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&warned.stderr).contains("VACUUM"));
}

#[test]
fn null_keys_in_a_text_primary_key_are_compared_as_a_multiset() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    sqlite3(&scratch, "CREATE TABLE k(k TEXT PRIMARY KEY, v); INSERT INTO k VALUES (NULL, 1), (NULL, 2), ('a', 3);");
    std::fs::copy(&scratch, &live).unwrap();
    let same = diff_cmd(dir.path(), &scratch, &live, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stderr));
    sqlite3(&live, "DELETE FROM k WHERE v = 2; INSERT INTO k VALUES (NULL, 4);");
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["mode"], "multiset");
    let s = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!((s["deleted"].as_u64(), s["inserted"].as_u64(), s["unchanged"].as_u64()), (Some(1), Some(1), Some(2)));
    let by_rowid = diff_cmd(dir.path(), &scratch, &live, &["--rowid", "--json"]);
    assert_eq!(by_rowid.status.code(), Some(1), "{}", String::from_utf8_lossy(&by_rowid.stderr));
    // And merge puts the lost row back.
    let m = lastgood(dir.path())
        .args(["merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .args(["--restore", "deleted,inserted", "--apply"])
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    assert_eq!(row_multiset(&live, "k"), row_multiset(&scratch, "k"));
}

#[test]
fn negative_zero_next_to_zero_is_a_change_not_an_error() {
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    let c = Connection::open(&scratch).unwrap();
    c.execute_batch(
        "CREATE TABLE t(v, w); CREATE TABLE p(k PRIMARY KEY, v); CREATE TABLE r(id INTEGER PRIMARY KEY, v);",
    )
    .unwrap();
    for (v, w) in [(-0.0f64, 1), (0.0, 1), (-0.0, 1), (0.0, 2)] {
        c.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![v, w]).unwrap();
    }
    c.execute("INSERT INTO p VALUES (?1, 'zero')", [-0.0f64]).unwrap();
    c.execute("INSERT INTO r VALUES (1, ?1)", [-0.0f64]).unwrap();
    // SQLite really stores the sign (checked, since some paths normalise -0.0).
    let stored: f64 = c.query_row("SELECT k FROM p", [], |r| r.get(0)).unwrap();
    assert!(stored == 0.0 && stored.is_sign_negative());
    drop(c);
    std::fs::copy(&scratch, &live).unwrap();
    let same = diff_cmd(dir.path(), &scratch, &live, &[]);
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stderr));

    let c = Connection::open(&live).unwrap();
    c.execute_batch("DELETE FROM t WHERE rowid = 1; UPDATE p SET k = 0.0; UPDATE r SET v = 0.0;").unwrap();
    c.execute("INSERT INTO t VALUES (?1, 1)", [0.0f64]).unwrap();
    drop(c);
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let summary = |t: &str| lines.iter().find(|l| l["type"] == "summary" && l["table"] == t).unwrap().clone();
    let t = summary("t");
    assert_eq!((t["deleted"].as_u64(), t["inserted"].as_u64(), t["unchanged"].as_u64()), (Some(1), Some(1), Some(3)));
    // A key that SQLite calls the same (-0.0 = 0.0) is the same row, its key column updated.
    let p = summary("p");
    assert_eq!((p["updated"].as_u64(), p["deleted"].as_u64(), p["inserted"].as_u64()), (Some(1), Some(0), Some(0)));
    assert_eq!(summary("r")["updated"].as_u64(), Some(1));

    let m = lastgood(dir.path())
        .args(["merge", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .args(["--restore", "updated,deleted,inserted", "--apply"])
        .output()
        .unwrap();
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    for t in ["t", "p", "r"] {
        assert_eq!(row_multiset(&live, t), row_multiset(&scratch, t), "{t}");
    }
}

#[test]
fn two_spellings_of_one_postgres_database_are_refused_as_the_same() {
    // Refused before any connection is made (port 1 is never reached).
    let dir = crate::common::tempdir();
    let out = crate::common::lastgood(dir.path())
        .args([
            "diff",
            "--scratch",
            "postgres://app@127.0.0.1:1/shop",
            "--live",
            "host=127.0.0.1 port=1 user=other dbname=shop",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same database"));
}

#[test]
fn values_that_run_together_byte_for_byte_are_still_different() {
    // ('a\x03', 'c') and ('a', '\x03c'): same bytes once concatenated (3 is also TEXT's tag in
    // diff's row encoding), different values. In a composite key and in non-key columns.
    let dir = tempdir();
    let (scratch, live) = (path(&dir, "s.db"), path(&dir, "l.db"));
    let schema = "CREATE TABLE k(k1 TEXT NOT NULL, k2 TEXT NOT NULL, v INT, PRIMARY KEY (k1, k2)) WITHOUT ROWID;
        CREATE TABLE r(id INTEGER PRIMARY KEY, a TEXT, b TEXT, c BLOB, d BLOB);";
    sqlite3(
        &scratch,
        &format!(
            "{schema} INSERT INTO k VALUES ('a' || char(3), 'c', 1), ('x', 'y', 2);
            INSERT INTO r VALUES (1, 'a' || char(3), 'c', x'01', x'02'), (2, 'p', 'q', x'0104', x'02');"
        ),
    );
    sqlite3(
        &live,
        &format!(
            "{schema} INSERT INTO k VALUES ('a', char(3) || 'c', 1), ('x', 'y', 2);
            INSERT INTO r VALUES (1, 'a', char(3) || 'c', x'01', x'02'), (2, 'p', 'q', x'01', x'0402');"
        ),
    );
    let out = diff_cmd(dir.path(), &scratch, &live, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "differences exit 1: {}", String::from_utf8_lossy(&out.stdout));
    let lines = json_lines(&out.stdout);
    let summary = |t: &str| {
        let s = lines.iter().find(|l| l["type"] == "summary" && l["table"] == t).unwrap();
        [&s["deleted"], &s["inserted"], &s["updated"], &s["unchanged"]].map(|n| n.as_u64().unwrap())
    };
    assert_eq!(summary("k"), [1, 1, 0, 1]);
    assert_eq!(summary("r"), [0, 0, 2, 0]);
    let changes: Vec<(String, String, serde_json::Value)> = lines
        .iter()
        .filter(|l| l["type"] == "change")
        .map(|l| (l["table"].as_str().unwrap().into(), l["kind"].as_str().unwrap().into(), l["columns"].clone()))
        .collect();
    let cols = |c: &[&str]| serde_json::json!(c);
    assert_eq!(
        changes,
        [
            ("k".into(), "inserted".into(), serde_json::Value::Null),
            ("k".into(), "deleted".into(), serde_json::Value::Null),
            ("r".into(), "updated".into(), cols(&["a", "b"])),
            ("r".into(), "updated".into(), cols(&["c", "d"])),
        ]
    );
    // sqldiff counts the same (live → scratch: its deletes are our inserts).
    let theirs = Command::new("sqldiff").arg("--summary").arg(&live).arg(&scratch).output().expect("sqldiff installed");
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout),
        "k: 0 changes, 1 inserts, 1 deletes, 1 unchanged\nr: 2 changes, 0 inserts, 0 deletes, 0 unchanged\n"
    );
}
