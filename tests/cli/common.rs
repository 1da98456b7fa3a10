//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use rusqlite::Connection;

/// A `lastgood` command with `--quiet`, run in `cwd`, with no repository from the environment.
pub fn lastgood(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("lastgood").expect("binary built");
    cmd.current_dir(cwd)
        .env_remove("LASTGOOD_REPO")
        .env_remove("LASTGOOD_SCRATCH_DIR")
        .env_remove("LASTGOOD_LIVE")
        .arg("--quiet");
    cmd
}

/// Runs `lastgood --json ARGS` in `cwd`, asserts exit 0, and parses stdout.
pub fn json(cwd: &Path, args: &[&str]) -> serde_json::Value {
    let out = lastgood(cwd).arg("--json").args(args).output().expect("runs");
    assert!(out.status.success(), "lastgood {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `sqlite3 DB SQL` (the real command-line tool) and asserts success.
pub fn sqlite3(db: &Path, sql: &str) {
    let st = Command::new("sqlite3").arg(db).arg(sql).status().expect("sqlite3 installed (apt-get install sqlite3)");
    assert!(st.success(), "sqlite3 {} {sql:?} failed", db.display());
}

/// A small shop: `orders` (n rows, index on customer), `downloads` (AUTOINCREMENT, trigger),
/// `customers`.
pub fn make_shop(path: &Path, orders: i64) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, item TEXT, amount REAL, note BLOB);
         CREATE INDEX orders_customer ON orders(customer_id);
         CREATE TABLE downloads(id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER, filename TEXT NOT NULL);
         CREATE TABLE audit(at TEXT, what TEXT);
         CREATE TRIGGER downloads_audit AFTER UPDATE ON downloads BEGIN INSERT INTO audit VALUES (datetime('now'), NEW.filename); END;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50)
           INSERT INTO customers SELECT x, 'customer ' || x FROM c;
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {orders})
           INSERT INTO orders SELECT x, x % 50 + 1, 'item ' || x, x * 1.25, CASE WHEN x % 3 = 0 THEN NULL ELSE randomblob(8) END FROM c;
         INSERT INTO downloads(order_id, filename) SELECT id, 'file-' || id || '.zip' FROM orders WHERE id % 2 = 0;"
    ))
    .unwrap();
}

/// All rows of `table` as text, ordered, for row-by-row comparison across files.
pub fn rows(db: &Path, table: &str) -> Vec<Vec<String>> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1")).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i)?;
                Ok(format!("{v:?}"))
            })
            .collect::<rusqlite::Result<Vec<String>>>()
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<_>>>()
    .unwrap()
}

/// Names of the tables in a SQLite file.
pub fn tables(db: &Path) -> Vec<String> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<Vec<_>>>().unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
