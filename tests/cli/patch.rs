//! SQLite: `diff --sql` patches that apply with the real `sqlite3` (foreign keys on) and leave
//! exactly scratch, and merges that do the same, on the data that used to break them: TEXT with
//! NUL bytes, keys the table calls equal although the diff tells them apart (NOCASE, INTEGER 2
//! and REAL 2.0), parents and children, generated columns, REALs the `sqlite3` shell misreads.
//! The last test checks all of them at once by property, on random data.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::common::*;
use crate::diff::row_multiset;

/// `lastgood diff --sql`; asserts exit 1 (differences found) and returns the patch.
pub fn diff_sql(dir: &Path, scratch: &Path, live: &Path) -> Vec<u8> {
    let out =
        lastgood(dir).arg("diff").arg("--scratch").arg(scratch).arg("--live").arg(live).arg("--sql").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "diff --sql: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `lastgood diff` exit code.
fn diff_code(dir: &Path, scratch: &Path, live: &Path) -> i32 {
    let out = lastgood(dir).arg("diff").arg("--scratch").arg(scratch).arg("--live").arg(live).output().unwrap();
    out.status.code().unwrap()
}

/// Copies `live` to `copy` and applies `patch` with the real `sqlite3 -bail`, foreign keys
/// enforced (as an application's connection would have them). Returns the shell's stderr when
/// it fails.
fn apply(live: &Path, copy: &Path, patch: &[u8]) -> Result<(), String> {
    std::fs::copy(live, copy).unwrap();
    let mut child = Command::new("sqlite3")
        .args(["-bail", "-cmd", "PRAGMA foreign_keys = ON"])
        .arg(copy)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sqlite3 installed");
    child.stdin.take().unwrap().write_all(patch).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// Every table of `db`, every row exactly (storage class, REAL bits), sorted.
fn dump(db: &Path) -> Vec<(String, Vec<String>)> {
    tables(db).into_iter().map(|t| (t.clone(), row_multiset(db, &t))).collect()
}

/// Applies the patch of (scratch, live) to a copy of live and asserts the copy equals scratch,
/// by `lastgood diff` and by an independent dump.
fn patch_restores_scratch(dir: &Path, scratch: &Path, live: &Path, what: &str) {
    let patch = diff_sql(dir, scratch, live);
    let copy = dir.join("patched.db");
    if let Err(e) = apply(live, &copy, &patch) {
        panic!("{what}: the patch does not apply: {e}\n{}", String::from_utf8_lossy(&patch));
    }
    assert_eq!(
        dump(&copy),
        dump(scratch),
        "{what}: patched live differs from scratch\n{}",
        String::from_utf8_lossy(&patch)
    );
    assert_eq!(diff_code(dir, scratch, &copy), 0, "{what}: diff after the patch");
}

/// Merges every kind of change into a copy of live and asserts it then equals scratch.
fn merge_restores_scratch(dir: &Path, scratch: &Path, live: &Path, what: &str) {
    let copy = dir.join("merged.db");
    std::fs::copy(live, &copy).unwrap();
    let out = lastgood(dir)
        .args(["--json", "merge", "--restore", "updated,deleted,inserted", "--apply", "--scratch"])
        .arg(scratch)
        .arg("--live")
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{what}: merge: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(dump(&copy), dump(scratch), "{what}: merged live differs from scratch");
}

/// A pair of databases: `schema` and `scratch_rows` in scratch, live = scratch + `live_changes`
/// (run with foreign keys on).
fn pair(dir: &Path, schema: &str, scratch_rows: &str, live_changes: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (scratch, live) = (dir.join("scratch.db"), dir.join("live.db"));
    let c = Connection::open(&scratch).unwrap();
    c.execute_batch(&format!("PRAGMA foreign_keys = ON; {schema} {scratch_rows}")).unwrap();
    drop(c);
    std::fs::copy(&scratch, &live).unwrap();
    let c = Connection::open(&live).unwrap();
    c.execute_batch(&format!("PRAGMA foreign_keys = ON; {live_changes}")).unwrap();
    (scratch, live)
}

#[test]
fn a_patch_carries_text_with_nul_bytes() {
    let dir = tempdir();
    let (scratch, live) = pair(
        dir.path(),
        "CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT); CREATE TABLE bag(s TEXT);",
        "INSERT INTO t VALUES (1, 'a' || char(0) || 'b'), (2, char(0)), (3, 'x');
         INSERT INTO bag VALUES ('n' || char(0) || 'ul'), ('n' || char(0) || 'ul');",
        "DELETE FROM t WHERE id = 1; UPDATE t SET s = 'y' WHERE id = 2; UPDATE t SET s = 'x' || char(0) WHERE id = 3;
         DELETE FROM bag WHERE rowid = 1; INSERT INTO bag VALUES (char(0) || char(0));",
    );
    patch_restores_scratch(dir.path(), &scratch, &live, "NUL");
    merge_restores_scratch(dir.path(), &scratch, &live, "NUL");
}

#[test]
fn a_patch_removes_rows_before_it_reinserts_keys_the_table_calls_equal() {
    let dir = tempdir();
    let (scratch, live) = pair(
        dir.path(),
        "CREATE TABLE names(k TEXT COLLATE NOCASE PRIMARY KEY, v); CREATE TABLE nums(k PRIMARY KEY, v);",
        "INSERT INTO names VALUES ('Ab', 1), ('c', 2); INSERT INTO nums VALUES (1, 'one'), (2, 'two'), (3.0, 'three');",
        "DELETE FROM names WHERE k = 'Ab'; INSERT INTO names VALUES ('aB', 9);
         DELETE FROM nums WHERE k IN (2, 3); INSERT INTO nums VALUES (2.0, 'real two'), (3, 'integer three');",
    );
    patch_restores_scratch(dir.path(), &scratch, &live, "equal keys");
}

/// `c_kid` sorts before its parent `p_mum` (so re-inserting in name order puts children first),
/// `z_kid` after it with ON DELETE CASCADE: one of its rows was pointed at a parent row live
/// gained, and the patch must point it back before removing that parent, or the removal would
/// delete it.
#[test]
fn a_patch_puts_parents_before_children_and_defers_foreign_keys() {
    let dir = tempdir();
    let (scratch, live) = pair(
        dir.path(),
        "CREATE TABLE p_mum(id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE c_kid(id INTEGER PRIMARY KEY, mum INTEGER REFERENCES p_mum(id), v TEXT);
         CREATE TABLE z_kid(id INTEGER PRIMARY KEY, mum INTEGER REFERENCES p_mum(id) ON DELETE CASCADE, v TEXT);",
        "INSERT INTO p_mum VALUES (1, 'one'), (2, 'two'), (3, 'three');
         INSERT INTO c_kid VALUES (10, 1, 'a'), (11, 2, 'b');
         INSERT INTO z_kid VALUES (20, 3, 'c'), (21, 3, 'd');",
        "DELETE FROM c_kid WHERE mum = 1; DELETE FROM p_mum WHERE id = 1;
         INSERT INTO p_mum VALUES (9, 'new'); INSERT INTO c_kid VALUES (12, 9, 'e');
         UPDATE z_kid SET mum = 9 WHERE id = 21;",
    );
    patch_restores_scratch(dir.path(), &scratch, &live, "foreign keys");
}

/// Generated columns are compared (the diff shows them) and never written.
#[test]
fn generated_columns_are_compared_and_never_written() {
    let dir = tempdir();
    let (scratch, live) = pair(
        dir.path(),
        "CREATE TABLE g(id INTEGER PRIMARY KEY, a TEXT, v INT GENERATED ALWAYS AS (length(a)) VIRTUAL,
           s TEXT GENERATED ALWAYS AS (upper(a)) STORED, b);
         CREATE TABLE gbag(a, s GENERATED ALWAYS AS (a || '!') STORED);",
        "INSERT INTO g(id, a, b) VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);
         INSERT INTO gbag(a) VALUES ('x'), ('x'), ('y');",
        "DELETE FROM g WHERE id = 1; UPDATE g SET a = 'deux' WHERE id = 2; INSERT INTO g(id, a) VALUES (4, 'four');
         DELETE FROM gbag WHERE rowid = 1; INSERT INTO gbag(a) VALUES ('z');",
    );
    let out = lastgood(dir.path())
        .args(["--json", "diff", "--rows", "--scratch"])
        .arg(&scratch)
        .arg("--live")
        .arg(&live)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let table = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["table"] == "g")
        .unwrap();
    assert_eq!(table["columns"], serde_json::json!(["id", "a", "v", "s", "b"]), "{text}");
    assert!(text.contains(r#""columns":["a","v","s"]"#), "the update shows the generated columns too: {text}");
    patch_restores_scratch(dir.path(), &scratch, &live, "generated");
    merge_restores_scratch(dir.path(), &scratch, &live, "generated");
}

/// Live computes a generated column with another expression: rows differ only there, which no
/// statement can write. The patch says so in a comment and the merge skips them, saying why.
#[test]
fn rows_in_which_only_generated_columns_differ_are_not_written_and_said_so() {
    let dir = tempdir();
    let (scratch, live) = (dir.path().join("scratch.db"), dir.path().join("live.db"));
    sqlite3(
        &scratch,
        "CREATE TABLE g(id INTEGER PRIMARY KEY, a TEXT, s TEXT GENERATED ALWAYS AS (a || '!') STORED); INSERT INTO g(id, a) VALUES (1, 'x');",
    );
    sqlite3(
        &live,
        "CREATE TABLE g(id INTEGER PRIMARY KEY, a TEXT, s TEXT GENERATED ALWAYS AS (a || '?') STORED); INSERT INTO g(id, a) VALUES (1, 'x');",
    );
    let patch = String::from_utf8(diff_sql(dir.path(), &scratch, &live)).unwrap();
    assert!(patch.contains("-- `g` (id=1): only generated columns differ (s)"), "{patch}");
    assert!(!patch.contains("UPDATE"), "{patch}");
    let copy = dir.path().join("patched.db");
    apply(&live, &copy, patch.as_bytes()).unwrap();
    let report = json(
        dir.path(),
        &[
            "merge",
            "--restore",
            "updated",
            "--apply",
            "--scratch",
            scratch.to_str().unwrap(),
            "--live",
            live.to_str().unwrap(),
        ],
    );
    assert_eq!((report["applied"].as_u64(), report["skipped"].as_u64()), (Some(0), Some(1)), "{report}");
    let reason = report["skipped_rows"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("only columns the database generates differ"), "{reason}");
}

/// REALs the 3.40 `sqlite3` shell reads one bit off from their shortest decimal form.
#[test]
fn a_patch_carries_reals_the_shell_misreads_as_decimals() {
    let dir = tempdir();
    let values = [-2.2606631148481385e-299, -1.576209342660012e-294, 1.829402849984213e-298, 5e-324, 0.1, 1.5e300];
    let (scratch, live) = (dir.path().join("scratch.db"), dir.path().join("live.db"));
    let c = Connection::open(&scratch).unwrap();
    c.execute_batch("CREATE TABLE r(id INTEGER PRIMARY KEY, x REAL)").unwrap();
    for (i, v) in values.iter().enumerate() {
        c.execute("INSERT INTO r VALUES (?1, ?2)", rusqlite::params![i as i64, v]).unwrap();
    }
    drop(c);
    std::fs::copy(&scratch, &live).unwrap();
    sqlite3(&live, "UPDATE r SET x = 0");
    patch_restores_scratch(dir.path(), &scratch, &live, "reals");
}

// The property: on random tricky data, the patch applied to a copy of live yields scratch.

/// A cell as the generator makes it (TEXT as bytes: NUL and invalid UTF-8 included).
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(*i),
            Cell::Real(f) => ValueRef::Real(*f),
            Cell::Text(t) => ValueRef::Text(t),
            Cell::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn tricky_text(rng: &mut fastrand::Rng) -> Vec<u8> {
    let pieces: [&[u8]; 10] = [
        b"plain",
        b"it's",
        b"a\0b",
        b"\0",
        b"\xff\xfe",
        b"\xc3(",
        "é😀\u{202e}".as_bytes(),
        b"line\nbreak",
        b"back\\slash",
        b"--",
    ];
    (0..rng.usize(0..3)).flat_map(|_| pieces[rng.usize(..pieces.len())].to_vec()).collect()
}

fn tricky_real(rng: &mut fastrand::Rng) -> f64 {
    match rng.u8(0..6) {
        0 => -0.0,
        1 => f64::from_bits(rng.u64(1..1 << 52)) * if rng.bool() { 1.0 } else { -1.0 }, // subnormal
        2 => rng.i32(-1000..1000) as f64 / 4.0,
        3 => rng.f64() * 10f64.powi(rng.i32(-308..308)),
        _ => loop {
            let f = f64::from_bits(rng.u64(..));
            if f.is_finite() {
                break f;
            }
        },
    }
}

fn tricky_cell(rng: &mut fastrand::Rng) -> Cell {
    match rng.u8(0..6) {
        0 => Cell::Null,
        1 => Cell::Int([i64::MIN, i64::MAX, 0, -1, rng.i64(..)][rng.usize(0..5)]),
        2 => Cell::Real(tricky_real(rng)),
        3 | 4 => Cell::Text(tricky_text(rng)),
        _ => Cell::Blob((0..rng.usize(0..6)).map(|_| rng.u8(..)).collect()),
    }
}

const PROPERTY_SCHEMA: &str = "
    CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT, v);
    CREATE TABLE child(id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent(id) ON DELETE ACTION, a, r REAL, t TEXT,
      g TEXT GENERATED ALWAYS AS (typeof(a) || length(t)) VIRTUAL, s GENERATED ALWAYS AS (coalesce(r, 0) * 2) STORED);
    CREATE TABLE names(k TEXT COLLATE NOCASE PRIMARY KEY, v);
    CREATE TABLE nums(k PRIMARY KEY, v);
    CREATE TABLE pairs(k1 TEXT NOT NULL, k2 NOT NULL, v, PRIMARY KEY (k1, k2)) WITHOUT ROWID;
    CREATE TABLE bag(x, y);";

fn ins(c: &Connection, sql: &str, cells: &[Cell]) {
    c.execute(sql, rusqlite::params_from_iter(cells)).unwrap_or_else(|e| panic!("{sql} {cells:?}: {e}"));
}

fn ids(c: &Connection, sql: &str) -> Vec<i64> {
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
}

fn case_of(rng: &mut fastrand::Rng, s: &str) -> String {
    s.chars().map(|ch| if rng.bool() { ch.to_ascii_uppercase() } else { ch }).collect()
}

/// A number key: INTEGER `i` or the equal REAL (or `-0.0` for 0).
fn num_key(rng: &mut fastrand::Rng, i: i64) -> Cell {
    match (rng.u8(0..3), i) {
        (0, 0) => Cell::Real(-0.0),
        (0 | 1, _) => Cell::Real(i as f64),
        _ => Cell::Int(i),
    }
}

fn fill_scratch(c: &Connection, rng: &mut fastrand::Rng) {
    for id in 1..=25 {
        ins(
            c,
            "INSERT INTO parent VALUES (?1, ?2, ?3)",
            &[Cell::Int(id), Cell::Text(tricky_text(rng)), tricky_cell(rng)],
        );
    }
    for id in 1..=60 {
        let pid = if rng.u8(0..8) == 0 { Cell::Null } else { Cell::Int(rng.i64(1..=25)) };
        let row = [Cell::Int(id), pid, tricky_cell(rng), Cell::Real(tricky_real(rng)), Cell::Text(tricky_text(rng))];
        ins(c, "INSERT INTO child(id, pid, a, r, t) VALUES (?1, ?2, ?3, ?4, ?5)", &row);
    }
    for i in 0..20 {
        ins(
            c,
            "INSERT INTO names VALUES (?1, ?2)",
            &[Cell::Text(case_of(rng, &format!("key{i}")).into_bytes()), tricky_cell(rng)],
        );
    }
    for i in 0..15 {
        ins(c, "INSERT INTO nums VALUES (?1, ?2)", &[num_key(rng, i), tricky_cell(rng)]);
    }
    for i in 0..30 {
        let k2 = if rng.bool() { Cell::Int(i % 4) } else { Cell::Text(tricky_text(rng)) };
        ins(
            c,
            "INSERT OR IGNORE INTO pairs VALUES (?1, ?2, ?3)",
            &[Cell::Text(tricky_text(rng)), k2, tricky_cell(rng)],
        );
    }
    for _ in 0..30 {
        let x = [Cell::Int(1), Cell::Real(1.0), Cell::Real(-0.0), Cell::Text(b"a\0".to_vec()), Cell::Null]
            [rng.usize(0..5)]
        .clone();
        ins(c, "INSERT INTO bag VALUES (?1, ?2)", &[x, Cell::Int(rng.i64(0..2))]);
    }
}

/// Live: scratch after random deletes, updates and inserts, foreign keys kept (parents removed
/// with their children gone or pointed elsewhere; children pointed at new parents too).
fn change_live(c: &Connection, rng: &mut fastrand::Rng, cascade: bool) {
    for id in ids(c, "SELECT id FROM parent") {
        if rng.u8(0..6) == 0 {
            if !cascade {
                for kid in ids(c, &format!("SELECT id FROM child WHERE pid = {id}")) {
                    if rng.bool() {
                        c.execute("DELETE FROM child WHERE id = ?1", [kid]).unwrap();
                    } else {
                        c.execute("UPDATE child SET pid = NULL WHERE id = ?1", [kid]).unwrap();
                    }
                }
            }
            c.execute("DELETE FROM parent WHERE id = ?1", [id]).unwrap();
        } else if rng.u8(0..6) == 0 {
            ins(
                c,
                "UPDATE parent SET name = ?1, v = ?2 WHERE id = ?3",
                &[Cell::Text(tricky_text(rng)), tricky_cell(rng), Cell::Int(id)],
            );
        }
    }
    for id in 100..105 {
        ins(
            c,
            "INSERT INTO parent VALUES (?1, ?2, ?3)",
            &[Cell::Int(id), Cell::Text(tricky_text(rng)), tricky_cell(rng)],
        );
    }
    let parents = ids(c, "SELECT id FROM parent");
    for id in ids(c, "SELECT id FROM child") {
        match rng.u8(0..10) {
            0 => {
                c.execute("DELETE FROM child WHERE id = ?1", [id]).unwrap();
            }
            1 => ins(
                c,
                "UPDATE child SET pid = ?1 WHERE id = ?2",
                &[Cell::Int(parents[rng.usize(..parents.len())]), Cell::Int(id)],
            ),
            2 => ins(
                c,
                "UPDATE child SET a = ?1, t = ?2 WHERE id = ?3",
                &[tricky_cell(rng), Cell::Text(tricky_text(rng)), Cell::Int(id)],
            ),
            3 => ins(c, "UPDATE child SET r = ?1 WHERE id = ?2", &[Cell::Real(tricky_real(rng)), Cell::Int(id)]),
            _ => {}
        }
    }
    for id in 200..210 {
        let pid = Cell::Int(parents[rng.usize(..parents.len())]);
        let row = [Cell::Int(id), pid, tricky_cell(rng), Cell::Real(tricky_real(rng)), Cell::Text(tricky_text(rng))];
        ins(c, "INSERT INTO child(id, pid, a, r, t) VALUES (?1, ?2, ?3, ?4, ?5)", &row);
    }
    // NOCASE keys: a removed key comes back in another case, with other values.
    for i in 0..20 {
        let k = format!("key{i}");
        match rng.u8(0..5) {
            0 => {
                c.execute("DELETE FROM names WHERE k = ?1", [&k]).unwrap();
                ins(
                    c,
                    "INSERT INTO names VALUES (?1, ?2)",
                    &[Cell::Text(case_of(rng, &k).into_bytes()), tricky_cell(rng)],
                );
            }
            1 => {
                c.execute("DELETE FROM names WHERE k = ?1", [&k]).unwrap();
            }
            2 => ins(c, "UPDATE names SET v = ?1 WHERE k = ?2", &[tricky_cell(rng), Cell::Text(k.into_bytes())]),
            _ => {}
        }
    }
    // Number keys: a removed key comes back as the other storage class.
    for i in 0..15i64 {
        match rng.u8(0..4) {
            0 => {
                c.execute("DELETE FROM nums WHERE k = ?1", [i]).unwrap();
                ins(c, "INSERT INTO nums VALUES (?1, ?2)", &[num_key(rng, i), tricky_cell(rng)]);
            }
            1 => ins(c, "UPDATE nums SET v = ?1 WHERE k = ?2", &[tricky_cell(rng), Cell::Int(i)]),
            _ => {}
        }
    }
    let nth = "(SELECT k1, k2 FROM pairs ORDER BY k1, k2 LIMIT 1 OFFSET ?2)";
    for _ in 0..8 {
        let at = Cell::Int(rng.i64(0..25));
        if rng.bool() {
            ins(c, &format!("DELETE FROM pairs WHERE (k1, k2) = {nth} AND ?1 IS NULL"), &[Cell::Null, at]);
        } else {
            ins(c, &format!("UPDATE pairs SET v = ?1 WHERE (k1, k2) = {nth}"), &[tricky_cell(rng), at]);
        }
    }
    for _ in 0..6 {
        let row = [Cell::Text(tricky_text(rng)), Cell::Int(rng.i64(0..4)), tricky_cell(rng)];
        ins(c, "INSERT OR REPLACE INTO pairs VALUES (?1, ?2, ?3)", &row);
    }
    for rowid in ids(c, "SELECT rowid FROM bag") {
        if rng.u8(0..4) == 0 {
            c.execute("DELETE FROM bag WHERE rowid = ?1", [rowid]).unwrap();
        }
    }
    for _ in 0..5 {
        let x = [Cell::Int(1), Cell::Real(1.0), Cell::Real(-0.0), Cell::Text(b"a\0".to_vec()), Cell::Null]
            [rng.usize(0..5)]
        .clone();
        ins(c, "INSERT INTO bag VALUES (?1, ?2)", &[x, Cell::Int(rng.i64(0..2))]);
    }
}

#[test]
fn any_patch_applied_to_live_yields_scratch_and_so_does_a_merge() {
    let seeds: Vec<u64> = match std::env::var("LASTGOOD_PATCH_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => (0..6).map(|i| 0x5eed_0000 + i).collect(),
    };
    for seed in seeds {
        let cascade = seed % 2 == 1;
        let dir = tempdir();
        let (scratch, live) = (path(&dir, "scratch.db"), path(&dir, "live.db"));
        let mut rng = fastrand::Rng::with_seed(seed);
        let schema = PROPERTY_SCHEMA.replace("ACTION", if cascade { "CASCADE" } else { "NO ACTION" });
        let c = Connection::open(&scratch).unwrap();
        c.execute_batch(&format!("PRAGMA foreign_keys = ON; {schema} BEGIN;")).unwrap();
        fill_scratch(&c, &mut rng);
        c.execute_batch("COMMIT").unwrap();
        drop(c);
        std::fs::copy(&scratch, &live).unwrap();
        let c = Connection::open(&live).unwrap();
        c.execute_batch("PRAGMA foreign_keys = ON; BEGIN").unwrap();
        change_live(&c, &mut rng, cascade);
        c.execute_batch("COMMIT").unwrap();
        drop(c);
        let what = format!("seed {seed} (rerun with LASTGOOD_PATCH_SEED={seed})");
        patch_restores_scratch(dir.path(), &scratch, &live, &what);
        // A merge refuses removals that would cascade (it changes only the rows it was asked to).
        if !cascade {
            merge_restores_scratch(dir.path(), &scratch, &live, &what);
        }
    }
}
