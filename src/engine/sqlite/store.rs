//! A small table store in one SQLite file, for lastgood's own bookkeeping (the catalog cache,
//! `core::catalog::cache`): named tables of rows of `Value`s, each with a primary key, read by
//! key or whole, written in one transaction.
//!
//! Layout versions: the file's `user_version` is the caller's layout version. Opening it at
//! another version drops the tables not marked `kept` before anything is read (their rows mean
//! something else now); kept tables survive. Every table is created when missing, so a table
//! added in a later layout appears in an older file without losing the others.

use std::path::Path;

use anyhow::Result;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};

use super::to_value;
use crate::value::{Row, Value};

/// One table of a store: its columns with their declared types, the leading `key` columns its
/// primary key, and whether its rows survive a layout version change.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// (name, declared type such as `TEXT NOT NULL`).
    pub columns: &'static [(&'static str, &'static str)],
    /// How many leading columns make the primary key.
    pub key: usize,
    pub kept: bool,
}

impl Table {
    fn create_sql(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(|(n, t)| format!("\"{n}\" {t}")).collect();
        let key: Vec<String> = self.columns[..self.key].iter().map(|(n, _)| format!("\"{n}\"")).collect();
        format!("CREATE TABLE IF NOT EXISTS \"{}\"({}, PRIMARY KEY ({}))", self.name, cols.join(", "), key.join(", "))
    }

    fn names(&self, from: usize) -> String {
        self.columns[from..].iter().map(|(n, _)| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
    }

    fn key_condition(&self, columns: &[&str]) -> String {
        columns.iter().enumerate().map(|(i, c)| format!("\"{c}\" = ?{}", i + 1)).collect::<Vec<_>>().join(" AND ")
    }
}

/// An open store file.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating) the store at `path` with `tables` at layout `version` (module docs).
    /// Writers wait up to 2 s for each other. Errors: the file cannot be opened or written.
    pub fn open(path: &Path, version: i64, tables: &[Table]) -> Result<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mut present: Vec<String> = {
            let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
            st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        let mut sql = String::new();
        if found != version {
            for t in tables.iter().filter(|t| !t.kept) {
                sql.push_str(&format!("DROP TABLE IF EXISTS \"{}\";\n", t.name));
                present.retain(|n| n != t.name);
            }
        }
        // Only what is missing: a store on read-only media opens, unchanged, for reading.
        for t in tables.iter().filter(|t| !present.iter().any(|n| n == t.name)) {
            sql.push_str(&t.create_sql());
            sql.push_str(";\n");
        }
        if found != version {
            sql.push_str(&format!("PRAGMA user_version = {version};"));
        }
        if !sql.is_empty() {
            conn.execute_batch(&sql)?;
        }
        Ok(Store { conn })
    }

    /// Opens an existing store read-only. Errors: no such file, or not a store.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        Ok(Store { conn: Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)? })
    }

    /// Every row of `table`, every column.
    pub fn rows(&self, table: &Table) -> Result<Vec<Row>> {
        let mut st = self.conn.prepare(&format!("SELECT {} FROM \"{}\"", table.names(0), table.name))?;
        let n = table.columns.len();
        let rows =
            st.query_map([], |r| (0..n).map(|i| r.get_ref(i).map(to_value)).collect::<rusqlite::Result<Row>>())?;
        Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
    }

    /// The columns after the key of the row whose key is `key`, if there is one. The statement is
    /// prepared once per store.
    pub fn find(&self, table: &Table, key: &[Value]) -> Result<Option<Row>> {
        let keys: Vec<&str> = table.columns[..table.key].iter().map(|(n, _)| *n).collect();
        let sql =
            format!("SELECT {} FROM \"{}\" WHERE {}", table.names(table.key), table.name, table.key_condition(&keys));
        let mut st = self.conn.prepare_cached(&sql)?;
        let n = table.columns.len() - table.key;
        let row =
            st.query_row(params_from_iter(key), |r| (0..n).map(|i| r.get_ref(i).map(to_value)).collect()).optional()?;
        Ok(row)
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    pub fn write(&mut self, f: impl FnOnce(&Writer) -> Result<()>) -> Result<()> {
        let tx = self.conn.transaction()?;
        f(&Writer { conn: &tx })?;
        tx.commit()?;
        Ok(())
    }

    /// Writes one row, replacing the row with its key (a transaction of its own).
    pub fn put(&self, table: &Table, row: &[Value]) -> Result<()> {
        Writer { conn: &self.conn }.put(table, row)
    }

    /// Deletes the rows whose `columns` hold `values` (a transaction of its own).
    pub fn delete(&self, table: &Table, columns: &[&str], values: &[Value]) -> Result<()> {
        Writer { conn: &self.conn }.delete(table, columns, values)
    }
}

/// Writes inside `Store::write`'s transaction.
pub struct Writer<'a> {
    conn: &'a Connection,
}

impl Writer<'_> {
    /// Writes one row (every column, in order), replacing the row with its key.
    pub fn put(&self, table: &Table, row: &[Value]) -> Result<()> {
        let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
        let sql =
            format!("INSERT OR REPLACE INTO \"{}\"({}) VALUES ({})", table.name, table.names(0), marks.join(", "));
        self.conn.prepare_cached(&sql)?.execute(params_from_iter(row))?;
        Ok(())
    }

    /// Deletes the rows whose `columns` hold `values`.
    pub fn delete(&self, table: &Table, columns: &[&str], values: &[Value]) -> Result<()> {
        let sql = format!("DELETE FROM \"{}\" WHERE {}", table.name, table.key_condition(columns));
        self.conn.prepare_cached(&sql)?.execute(params_from_iter(values))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = Table {
        name: "t",
        columns: &[("k", "TEXT NOT NULL"), ("n", "INTEGER NOT NULL"), ("v", "TEXT")],
        key: 1,
        kept: false,
    };
    const KEPT: Table = Table { name: "kept", columns: &[("k", "TEXT NOT NULL"), ("v", "TEXT")], key: 1, kept: true };

    fn text(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn rows_by_key_and_whole_and_a_version_change_drops_what_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = Store::open(&path, 1, &[T, KEPT]).unwrap();
        s.write(|w| {
            w.put(&T, &[text("a"), Value::Integer(1), Value::Null])?;
            w.put(&T, &[text("b"), Value::Integer(2), text("x")])?;
            w.put(&T, &[text("a"), Value::Integer(3), text("y")])
        })
        .unwrap();
        s.put(&KEPT, &[text("m"), text("kept")]).unwrap();
        assert_eq!(s.find(&T, &[text("a")]).unwrap(), Some(vec![Value::Integer(3), text("y")]));
        assert_eq!(s.find(&T, &[text("z")]).unwrap(), None);
        assert_eq!(s.rows(&T).unwrap().len(), 2);
        s.delete(&T, &["n"], &[Value::Integer(2)]).unwrap();
        assert_eq!(s.rows(&T).unwrap(), vec![vec![text("a"), Value::Integer(3), text("y")]]);
        drop(s);
        let r = Store::open_read_only(&path).unwrap();
        assert_eq!(r.rows(&T).unwrap().len(), 1);
        drop(r);
        let s = Store::open(&path, 2, &[T, KEPT]).unwrap();
        assert!(s.rows(&T).unwrap().is_empty(), "another layout: its rows are gone");
        assert_eq!(s.rows(&KEPT).unwrap().len(), 1, "kept tables survive");
    }
}
