//! The SQLite engine: `SqliteDb`, the `Database` trait over rusqlite (reading tables, triggers,
//! one write transaction with its safety snapshot); `engine`: its entry in the registry; `file`:
//! the database file on disk (header, side files, the read-only URI of a backup); `restore`:
//! backups into scratch files; `promote`: a scratch file atomically over live; `backup`: the
//! `VACUUM INTO` snapshot `lastgood backup` stores; `snapshot`: safety snapshot names and the undo
//! command; `demo`: the demo's incident sandbox; `scan`: the batch scan that diff, merge and
//! revert read tables through.
//!
//! Invariants: a backup is only ever opened read-only (`immutable=1` when no `-wal` sits beside
//! it, so nothing is created next to it); a file is checked for the SQLite header before SQLite
//! sees it, so a text file named `.db` is reported as such rather than as "file is not a
//! database"; SQLite errors are classified (corruption → `BadInput`, I/O → `Environment`).

pub mod backup;
pub mod demo;
pub mod engine;
pub mod file;
pub mod probe;
pub mod promote;
pub mod restore;
mod scan;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod stored;

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql};

use super::{
    Access, Database, EngineKind, QueryProblem, RowWrites, Scan, SchemaObject, SkipKind, SkippedTable, TableSchema,
    Trigger, TriggerEvent, TriggerKind, TriggerState, WriteTxn, quote_ident,
};
use crate::error::{bad_input, environment, refused};
use crate::rows::Batch;
use crate::value::{Row, Value};
use file::{backup_flags, backup_uri, check_header, check_header_as, would_leave_side_files};

/// Turns a SQLite error about `path` into a classified failure with one clear line.
pub fn classify(err: rusqlite::Error, path: &Path) -> anyhow::Error {
    use rusqlite::ErrorCode::*;
    let code = err.sqlite_error_code();
    let what = path.display();
    match code {
        Some(DatabaseCorrupt) | Some(NotADatabase) => bad_input(format!("`{what}` is corrupt: {err}"))
            .hint("run `lastgood verify` on it, or restore from another backup")
            .into(),
        Some(DiskFull) => environment(format!("disk full while writing `{what}`: {err}")).into(),
        Some(ReadOnly) | Some(PermissionDenied) | Some(CannotOpen) | Some(SystemIoFailure) => {
            environment(format!("cannot access `{what}`: {err}")).into()
        }
        // Another process is writing: "live in use", refused like the other safety stops.
        Some(DatabaseBusy) | Some(DatabaseLocked) => {
            refused(format!("`{what}` is locked by another connection: {err}"))
                .hint("retry when the other writer is done")
                .into()
        }
        _ => anyhow::Error::new(err).context(format!("SQLite error on `{what}`")),
    }
}

/// The most ORDER BY terms SQLite takes: `SQLITE_LIMIT_COLUMN`, whose ceiling (and the bundled
/// SQLite's default) is `SQLITE_MAX_COLUMN`, 2000.
const MAX_ORDER_TERMS: usize = 2000;

/// A scan that SQLite cannot order (see `SqliteDb::scan_sql`): rows of `width` values are sorted
/// by the values at `key`, then cut to their first `keep` values.
struct SortHere {
    key: Vec<usize>,
    width: usize,
    keep: usize,
}

/// The SELECT of a scan (see `SqliteDb::scan_sql`), in parts: the select list, and the rest
/// (`FROM` and `ORDER BY`), so that the list can also be handed to a function (`scan`).
struct ScanSql {
    select: Vec<String>,
    tail: String,
    sort_here: Option<SortHere>,
}

impl ScanSql {
    fn sql(&self) -> String {
        format!("SELECT {} {}", self.select.join(", "), self.tail)
    }
}

/// An open SQLite database.
pub struct SqliteDb {
    conn: Connection,
    path: PathBuf,
    /// The file that messages name: `path`, or the backup a temporary copy was made from.
    shown: PathBuf,
}

impl SqliteDb {
    /// Opens a live or scratch database. The file must exist and carry the SQLite header.
    ///
    /// Read-only access to a WAL-mode file that no one has open (no `-wal`, no `-shm` beside it)
    /// would leave a `-wal` and a `-shm` behind: a read-only connection creates them but never
    /// removes them. Such a file is opened read-write with `PRAGMA query_only` instead: it still
    /// cannot change anything, and as the last connection to close it removes the side files as
    /// SQLite always does (only when no other connection uses them). Side files that existed
    /// before are never touched.
    pub fn open(path: &Path, access: Access) -> Result<SqliteDb> {
        check_header(path)?;
        let common = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | common;
        let rw = OpenFlags::SQLITE_OPEN_READ_WRITE | common;
        let conn = match access {
            Access::ReadWrite => Connection::open_with_flags(path, rw),
            Access::ReadOnly if would_leave_side_files(path) => match Connection::open_with_flags(path, rw)
                .and_then(|c| c.execute_batch("PRAGMA query_only = ON").map(|_| c))
            {
                Ok(c) => Ok(c),
                Err(_) => Connection::open_with_flags(path, ro),
            },
            Access::ReadOnly => Connection::open_with_flags(path, ro),
        }
        .map_err(|e| classify(e, path))?;
        let db = SqliteDb { conn, path: path.to_path_buf(), shown: path.to_path_buf() };
        db.conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| classify(e, path))?;
        // Reading the schema is the cheapest way to surface "not a database" or corruption now.
        db.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
            .map_err(|e| classify(e, path))?;
        Ok(db)
    }

    /// Opens a backup file in place, read-only, creating nothing beside it.
    pub fn open_backup(path: &Path) -> Result<SqliteDb> {
        Self::open_backup_as(path, path)
    }

    /// As `open_backup`, for a temporary copy (decompressed, or copied with its WAL) of the backup
    /// `shown`: errors name `shown`, never the temporary file.
    pub fn open_backup_as(path: &Path, shown: &Path) -> Result<SqliteDb> {
        Self::open_backup_uri(&backup_uri(path), path, shown)
    }

    /// As `open_backup_as`, through `uri` (see `backup_uri_with`).
    pub fn open_backup_uri(uri: &str, path: &Path, shown: &Path) -> Result<SqliteDb> {
        check_header_as(path, shown)?;
        let conn = Connection::open_with_flags(uri, backup_flags()).map_err(|e| classify(e, shown))?;
        let db = SqliteDb { conn, path: path.to_path_buf(), shown: shown.to_path_buf() };
        db.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
            .map_err(|e| classify(e, shown))?;
        Ok(db)
    }

    /// Names `shown` instead of this file in messages from now on (a scratch copy of a backup).
    pub fn shown_as(mut self, shown: &Path) -> SqliteDb {
        self.shown = shown.to_path_buf();
        self
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn map_err(&self, e: rusqlite::Error) -> anyhow::Error {
        classify(e, &self.shown)
    }

    /// Whether `table` exists as an ordinary table.
    pub fn has_table(&self, table: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n > 0)
            .map_err(|e| self.map_err(e))
    }

    /// The SELECT for a scan. ORDER BY sorts exactly like `Value::cmp`: every key column with
    /// BINARY collation (bytes for text), and after a column whose affinity lets an INTEGER and an
    /// equal REAL coexist (no affinity, or `ANY`), `typeof(c) = 'real'` so that on such a tie the
    /// INTEGER comes first (SQLite alone would leave their order unspecified). Other affinities
    /// convert one into the other on storage, so no tie can occur there.
    ///
    /// SQLite refuses more than `MAX_ORDER_TERMS` ORDER BY terms (a wide table without a key is
    /// ordered by all its columns): such a scan selects without ORDER BY, plus any order column
    /// not selected, and returns the positions to sort by for `sort::ExternalSort`.
    fn scan_sql(&self, scan: &Scan) -> Result<ScanSql> {
        self.refuse_virtual(&scan.table, "scans read")?;
        let mut order = Vec::new();
        for c in &scan.order_by {
            let (decl, coll) = self.column_meta(&scan.table, c)?;
            let q = quote_ident(c);
            if coll.eq_ignore_ascii_case("BINARY") {
                order.push(q.clone());
            } else {
                order.push(format!("{q} COLLATE BINARY"));
            }
            if may_mix_integer_and_real(&decl) {
                order.push(format!("typeof({q}) = 'real'"));
            }
        }
        // A list, not a string: a scan may ask for no column and only the filter's flag (as
        // `Database::has_null_in`'s default does).
        let mut select: Vec<String> = scan.columns.iter().map(|c| quote_ident(c)).collect();
        if let Some(f) = &scan.filter {
            select.push(format!("CASE WHEN ({f}) THEN 1 ELSE 0 END"));
        }
        let width = scan.columns.len() + usize::from(scan.filter.is_some());
        let mut sort_here = None;
        if order.len() > MAX_ORDER_TERMS {
            let mut key = Vec::new();
            let mut extra = 0;
            for c in &scan.order_by {
                match scan.columns.iter().position(|x| x == c) {
                    Some(i) => key.push(i),
                    None => {
                        select.push(quote_ident(c));
                        key.push(width + extra);
                        extra += 1;
                    }
                }
            }
            sort_here = Some(SortHere { key, width: width + extra, keep: width });
            order.clear();
        }
        let mut tail = format!("FROM {}", quote_ident(&scan.table));
        if !order.is_empty() {
            tail.push_str(" ORDER BY ");
            tail.push_str(&order.join(", "));
        }
        Ok(ScanSql { select, tail, sort_here })
    }

    /// Runs the unordered `sql` of `scan` and hands its rows to `sink` in the order SQLite could
    /// not produce, through an external sort (bounded memory, temporary files).
    fn scan_sorted_here(
        &self,
        sql: &str,
        scan: &Scan,
        order: SortHere,
        sink: &mut dyn FnMut(Row) -> Result<()>,
    ) -> Result<()> {
        let mut sorter = crate::sort::ExternalSort::new(order.width, order.key);
        let mut st = self.conn.prepare(sql).map_err(|e| self.scan_error(e, scan))?;
        let mut rows = st.query([]).map_err(|e| self.scan_error(e, scan))?;
        while let Some(r) = rows.next().map_err(|e| self.scan_error(e, scan))? {
            let row = (0..order.width).map(|i| r.get_ref(i).map(to_value)).collect::<rusqlite::Result<Row>>()?;
            sorter.push(row)?;
        }
        let keep = order.keep;
        sorter.finish(&mut |mut row| {
            row.truncate(keep);
            sink(row)
        })
    }

    /// Refuses a virtual table (see `SkippedTable`). Besides running a module, reading one breaks
    /// `column_meta`: SQLite's `sqlite3_table_column_metadata` looks columns up without
    /// connecting the virtual table, and on a connection that has not used it yet the table has no
    /// columns, which that lookup does not expect (3.54: it reads column 0 of an empty array and
    /// the process dies of SIGSEGV).
    fn refuse_virtual(&self, table: &str, what: &str) -> Result<()> {
        let sql: Option<String> = self
            .conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1 AND sql LIKE 'CREATE VIRTUAL TABLE%'",
                [table],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.map_err(e))?;
        match sql {
            Some(sql) => {
                let t = SkippedTable { name: table.to_string(), kind: SkipKind::Virtual, of: virtual_module(&sql) };
                Err(t.refusal(what))
            }
            None => Ok(()),
        }
    }

    /// A scan error; an invalid operator filter is bad input, anything else is classified.
    fn scan_error(&self, e: rusqlite::Error, scan: &Scan) -> anyhow::Error {
        match &scan.filter {
            Some(f) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::Unknown) => {
                bad_input(format!("--where `{f}` is not a valid condition on table `{}`: {e}", scan.table)).into()
            }
            _ => classify(e, &self.shown),
        }
    }

    /// Declared type and collation of a column (the rowid, by any of its names that no column
    /// shadows, has none: INTEGER, BINARY).
    fn column_meta(&self, table: &str, column: &str) -> Result<(String, String)> {
        let alias = ["rowid", "_rowid_", "oid"].iter().any(|a| column.eq_ignore_ascii_case(a));
        if alias && !self.has_column(table, column)? {
            return Ok(("INTEGER".into(), "BINARY".into()));
        }
        let meta = self.conn.column_metadata(Some("main"), table, column).map_err(|e| self.map_err(e))?;
        let decl = meta.0.map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
        let coll = meta.1.map(|c| c.to_string_lossy().into_owned()).unwrap_or_else(|| "BINARY".into());
        Ok((decl, coll))
    }

    fn has_column(&self, table: &str, column: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM pragma_table_xinfo(?1) WHERE name = ?2 COLLATE NOCASE",
                [table, column],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.map_err(e))
    }
}

/// A table of `main` as `PRAGMA table_list` sees it: `type` is `table`, `virtual` or `shadow`
/// (SQLite marks a table as the shadow of a virtual table when the virtual table's module,
/// registered on this connection, claims it).
struct Listed {
    name: String,
    kind: String,
    sql: Option<String>,
}

/// The user tables of `main` (no `sqlite_` internals, no views), sorted by name.
fn table_list(conn: &Connection) -> rusqlite::Result<Vec<Listed>> {
    let mut st = conn.prepare(
        "SELECT l.name, l.type, s.sql FROM pragma_table_list AS l \
         LEFT JOIN sqlite_schema AS s ON s.type = 'table' AND s.name = l.name \
         WHERE l.schema = 'main' AND l.type IN ('table', 'virtual', 'shadow') \
         AND l.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY l.name",
    )?;
    st.query_map([], |r| Ok(Listed { name: r.get(0)?, kind: r.get(1)?, sql: r.get(2)? }))?.collect()
}

/// The virtual tables of `main` and their shadow tables (see `SkippedTable`), sorted by name. A
/// virtual table whose module this SQLite lacks is listed too; its shadow tables, which only the
/// module can name, then count as ordinary tables.
pub fn skipped_tables(conn: &Connection) -> rusqlite::Result<Vec<SkippedTable>> {
    let listed = table_list(conn)?;
    let virtuals: Vec<&Listed> = listed.iter().filter(|t| t.kind == "virtual").collect();
    let owner = |shadow: &str| {
        let lower = shadow.to_lowercase();
        virtuals
            .iter()
            .filter(|v| lower.starts_with(&format!("{}_", v.name.to_lowercase())))
            .max_by_key(|v| v.name.len())
            .map_or_else(String::new, |v| v.name.clone())
    };
    Ok(listed
        .iter()
        .filter_map(|t| match t.kind.as_str() {
            "virtual" => Some(SkippedTable {
                name: t.name.clone(),
                kind: SkipKind::Virtual,
                of: t.sql.as_deref().map_or_else(|| "unknown module".to_string(), virtual_module),
            }),
            "shadow" => Some(SkippedTable { name: t.name.clone(), kind: SkipKind::Shadow, of: owner(&t.name) }),
            _ => None,
        })
        .collect())
}

/// The module of `CREATE VIRTUAL TABLE [IF NOT EXISTS] name USING module(…)`, lowercased: the
/// word after the first `USING` outside a quoted name.
fn virtual_module(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let close = match chars[i] {
            '"' => Some('"'),
            '`' => Some('`'),
            '[' => Some(']'),
            '\'' => Some('\''),
            _ => None,
        };
        if let Some(close) = close {
            // A quoted name (its closing quote doubled inside): skipped whole.
            i += 1;
            while i < chars.len() {
                if chars[i] == close {
                    if close != ']' && chars.get(i + 1) == Some(&close) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
        } else if is_word(chars[i]) {
            let start = i;
            while i < chars.len() && is_word(chars[i]) {
                i += 1;
            }
            if chars[start..i].iter().collect::<String>().eq_ignore_ascii_case("USING") {
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                let from = i;
                while i < chars.len() && is_word(chars[i]) {
                    i += 1;
                }
                return chars[from..i].iter().collect::<String>().to_lowercase();
            }
        } else {
            i += 1;
        }
    }
    "unknown module".to_string()
}

/// Whether a column of this declared type can hold an INTEGER and an equal REAL side by side:
/// only with BLOB ("none") affinity (no type, or a type naming none of INT, CHAR/CLOB/TEXT,
/// REAL/FLOA/DOUB… that is BLOB), or `ANY` (which keeps values as given in STRICT tables).
fn may_mix_integer_and_real(decl: &str) -> bool {
    let t = decl.to_ascii_uppercase();
    if t.contains("INT") || t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        return false;
    }
    t.is_empty() || t.contains("BLOB") || t == "ANY"
}

/// Copies the whole database behind `conn` into the new file `dest` through the online backup
/// API (one step, so a concurrent writer cannot starve it), under a temporary name in the same
/// folder, with the permissions and owner of `mode_of`, fsynced, then renamed into place.
/// Errors: `Refused` if `dest` exists, `Environment` for I/O problems (disk full included); the
/// temporary file is removed on failure.
pub fn snapshot_to(conn: &Connection, dest: &Path, mode_of: &Path) -> Result<()> {
    if dest.exists() {
        return Err(crate::error::refused(format!("snapshot `{}` already exists", dest.display())).into());
    }
    let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Ctrl-C removes it (registered as it is created); any other failure drops (removes) it below.
    let tmp = crate::interrupt::create_tracked(
        || tempfile::Builder::new().prefix(".lastgood-snapshot-").suffix(".tmp").tempfile_in(dir),
        |t| vec![t.path().to_path_buf()],
    )
    .map_err(|e| environment(format!("cannot create a snapshot in `{}`: {e}", dir.display())))?;
    let tmp_path = tmp.path().to_path_buf();
    let written = copy_pages(conn, &tmp, mode_of).and_then(|_| {
        tmp.persist_noclobber(dest)
            .map(|_| ())
            .map_err(|e| environment(format!("cannot write snapshot `{}`: {}", dest.display(), e.error)).into())
    });
    crate::interrupt::untrack(&tmp_path);
    written?;
    crate::util::fs::sync_dir(dir);
    Ok(())
}

/// Copies every page of `conn`'s database into `tmp` in one backup step, then gives it the
/// permissions and owner of `mode_of` (it may be promoted back over live one day) and fsyncs it.
fn copy_pages(conn: &Connection, tmp: &tempfile::NamedTempFile, mode_of: &Path) -> Result<()> {
    {
        let mut dst = Connection::open(tmp.path()).map_err(|e| classify(e, tmp.path()))?;
        let backup = rusqlite::backup::Backup::new(conn, &mut dst).map_err(|e| classify(e, tmp.path()))?;
        // Busy/Locked only come from another connection's lock, so retry briefly.
        let mut tries = 0;
        loop {
            match backup.step(-1).map_err(|e| classify(e, tmp.path()))? {
                rusqlite::backup::StepResult::Done => break,
                _ if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => {
                    return Err(crate::error::environment(format!(
                        "snapshot of live did not finish ({other:?}): live stayed busy"
                    ))
                    .into());
                }
            }
        }
    }
    // The snapshot may be promoted back over live one day: give it live's permissions and owner.
    crate::util::fs::copy_mode_and_owner(mode_of, tmp.as_file())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| environment(format!("cannot sync snapshot `{}`: {e}", tmp.path().display())).into())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Converts a SQLite cell to a `Value` (TEXT keeps its bytes exactly, UTF-8 or not).
pub fn to_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(t.to_vec()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl Database for SqliteDb {
    fn engine(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn describe(&self) -> String {
        self.shown.display().to_string()
    }

    fn tables(&mut self) -> Result<Vec<String>> {
        let listed = table_list(&self.conn).map_err(|e| classify(e, &self.shown))?;
        Ok(listed.into_iter().filter(|t| t.kind == "table").map(|t| t.name).collect())
    }

    fn skipped_tables(&mut self) -> Result<Vec<SkippedTable>> {
        skipped_tables(&self.conn).map_err(|e| classify(e, &self.shown))
    }

    fn table_schema(&mut self, table: &str) -> Result<TableSchema> {
        if !self.has_table(table)? {
            return Err(bad_input(format!("`{}` has no table `{table}`", self.shown.display())).into());
        }
        self.refuse_virtual(table, "lastgood reads")?;
        let mut st = self
            .conn
            // `hidden` 2 and 3 are generated columns (VIRTUAL, STORED), which `table_info` leaves
            // out; 1 marks a virtual table's hidden columns, which are not part of its rows.
            .prepare(
                "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?1) WHERE hidden IN (0, 2, 3) ORDER BY cid",
            )
            .map_err(|e| classify(e, &self.shown))?;
        let mut columns = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut rows = st.query([table]).map_err(|e| classify(e, &self.shown))?;
        while let Some(r) = rows.next().map_err(|e| classify(e, &self.shown))? {
            let name: String = r.get(0)?;
            let pos: i64 = r.get(3)?;
            if pos > 0 {
                pk.push((pos, name.clone()));
            }
            let fill = if r.get::<_, i64>(4)? == 0 { super::Fill::Written } else { super::Fill::Generated };
            columns.push(super::Column {
                name,
                decl_type: r.get(1)?,
                not_null: r.get::<_, i64>(2)? != 0,
                fill,
                read_as: super::ReadAs::Native,
            });
        }
        pk.sort();
        Ok(TableSchema {
            name: table.to_string(),
            columns,
            primary_key: pk.into_iter().map(|(_, n)| n).collect(),
            partitioned: false,
        })
    }

    fn row_count(&mut self, table: &str) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(table));
        self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(|e| classify(e, &self.shown))
    }

    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema \
                 WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
            )
            .map_err(|e| classify(e, &self.shown))?;
        let objs = st
            .query_map([], |r| Ok(SchemaObject { kind: r.get(0)?, name: r.get(1)?, table: r.get(2)?, sql: r.get(3)? }))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
        objs.map_err(|e| classify(e, &self.shown))
    }

    fn scan(&mut self, scan: &Scan, sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let q = self.scan_sql(scan)?;
        let sql = q.sql();
        if let Some(order) = q.sort_here {
            return self.scan_sorted_here(&sql, scan, order, sink);
        }
        let mut st = self.conn.prepare(&sql).map_err(|e| self.scan_error(e, scan))?;
        let n = st.column_count();
        let mut rows = st.query([]).map_err(|e| self.scan_error(e, scan))?;
        while let Some(r) = rows.next().map_err(|e| self.scan_error(e, scan))? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(to_value(r.get_ref(i)?));
            }
            sink(row)?;
        }
        Ok(())
    }

    fn scan_batches(
        &mut self,
        scan: &Scan,
        batch_bytes: usize,
        sink: &mut dyn FnMut(Batch) -> Result<Batch>,
    ) -> Result<()> {
        self.batches(scan, batch_bytes, sink)
    }

    fn check_expression(&mut self, scan: &Scan) -> Result<()> {
        let Some(expr) = &scan.filter else { return Ok(()) };
        // The scan itself, and the condition as a WHERE clause, which also refuses what a CASE in
        // the select list would take but that is no row condition (an aggregate: `count(*) > 0`
        // would turn the scan into one row).
        let as_where = format!("SELECT 1 FROM {} WHERE ({expr}) LIMIT 0", quote_ident(&scan.table));
        let sql = self.scan_sql(scan)?.sql();
        match self.conn.prepare(&sql).and_then(|_| self.conn.prepare(&as_where)) {
            Ok(_) => Ok(()),
            Err(e) => {
                Err(bad_input(format!("--where `{expr}` is not a valid condition on table `{}`: {e}", scan.table))
                    .hint("write an SQL boolean expression over the table's columns, e.g. --where \"id > 100\"")
                    .into())
            }
        }
    }

    fn has_null_in(&mut self, table: &str, columns: &[String]) -> Result<bool> {
        if columns.is_empty() {
            return Ok(false);
        }
        let cond = columns.iter().map(|c| format!("{} IS NULL", quote_ident(c))).collect::<Vec<_>>().join(" OR ");
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE {cond})", quote_ident(table));
        self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).map(|n| n != 0).map_err(|e| self.map_err(e))
    }

    fn integrity_problems(&mut self, quick: bool) -> Result<Vec<String>> {
        integrity_problems(&self.conn, quick)
    }

    fn one_value(&mut self, sql: &str) -> Result<std::result::Result<Value, QueryProblem>> {
        Ok(one_value(&self.conn, sql))
    }

    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let mut st = self.conn.prepare(sql).map_err(|e| classify(e, &self.path))?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(|e| classify(e, &self.path))?;
        while let Some(r) = rows.next().map_err(|e| classify(e, &self.path))? {
            let row = (0..n).map(|i| r.get_ref(i).map(to_value)).collect::<rusqlite::Result<Row>>()?;
            sink(row)?;
        }
        Ok(())
    }

    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>> {
        list_triggers(&self.conn, tables).map_err(|e| classify(e, &self.shown))
    }

    /// Foreign keys are enforced (as the bundled SQLite does by default, unlike the `sqlite3`
    /// shell), deferred to the commit so that parent and child rows may be written in any order.
    /// An update hook counts the rows written per table (`row_writes`); it stays on the
    /// connection until the next `begin_write` replaces it.
    fn begin_write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let path = self.path.clone();
        self.conn.execute_batch("PRAGMA foreign_keys = ON").map_err(|e| classify(e, &path))?;
        let written = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
        let counts = written.clone();
        self.conn
            .update_hook(Some(move |_: rusqlite::hooks::Action, db: &str, table: &str, _: i64| {
                if db == "main"
                    && let Ok(mut m) = counts.lock()
                {
                    match m.get_mut(table) {
                        Some(n) => *n += 1,
                        None => {
                            m.insert(table.to_string(), 1);
                        }
                    }
                }
            }))
            .map_err(|e| classify(e, &path))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| classify(e, &path))?;
        tx.execute_batch("PRAGMA defer_foreign_keys = ON").map_err(|e| classify(e, &path))?;
        Ok(Box::new(SqliteTxn { tx, path, written }))
    }
}

/// The triggers on `tables` (matched case-insensitively, as SQLite names are), in creation order
/// (rowid of `sqlite_schema`). Every SQLite trigger is row-level and enabled; its timing and
/// events are read from the head of its SQL (`parse_trigger_head`), and when that fails it is
/// taken to fire on every write.
fn list_triggers(conn: &Connection, tables: &[String]) -> rusqlite::Result<Vec<Trigger>> {
    let mut st = conn.prepare("SELECT tbl_name, name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY rowid")?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (on, name, sql): (String, String, Option<String>) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let Some(table) = tables.iter().find(|t| t.eq_ignore_ascii_case(&on)) else { continue };
        let sql = sql.unwrap_or_default();
        let (timing, events, update_of) = parse_trigger_head(&sql).unwrap_or_default();
        out.push(Trigger {
            table: table.clone(),
            relation: table.clone(),
            address: format!("\"main\".{}", quote_ident(&name)),
            name,
            kind: TriggerKind::Trigger,
            timing,
            row_level: true,
            events,
            update_of,
            enabled: TriggerState::Enabled,
            active: true,
            sql,
        });
    }
    Ok(out)
}

/// A token of SQL: a bare word, a quoted name (`"…"`, `` `…` ``, `[…]`, `'…'`, unquoted here) or
/// one punctuation character.
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// The tokens of `sql` up to the first `ON` word (comments and white space skipped), at most 200.
fn head_tokens(sql: &str) -> Option<Vec<Token>> {
    let b: Vec<char> = sql.chars().collect();
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() && out.len() < 200 {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && b.get(i + 1) == Some(&'-') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '"' | '`' | '\'' | '[') {
            let close = if c == '[' { ']' } else { c };
            let mut name = String::new();
            i += 1;
            loop {
                let ch = *b.get(i)?;
                i += 1;
                if ch == close {
                    // A doubled quote stands for itself (not inside `[…]`).
                    if close != ']' && b.get(i) == Some(&close) {
                        name.push(close);
                        i += 1;
                        continue;
                    }
                    break;
                }
                name.push(ch);
            }
            out.push(Token::Quoted(name));
        } else if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$' || !b[i].is_ascii()) {
                i += 1;
            }
            let w: String = b[start..i].iter().collect();
            let on = w.eq_ignore_ascii_case("ON");
            out.push(Token::Word(w));
            if on {
                return Some(out);
            }
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    None
}

/// Reads the timing, events and `UPDATE OF` columns from the head of a `CREATE TRIGGER`
/// statement: `CREATE [TEMP] TRIGGER [IF NOT EXISTS] [schema.]name [BEFORE|AFTER|INSTEAD OF]
/// DELETE|INSERT|UPDATE [OF col, …] ON …`. `None` when it does not read exactly so.
pub fn parse_trigger_head(sql: &str) -> Option<(String, Vec<TriggerEvent>, Vec<String>)> {
    let toks = head_tokens(sql)?;
    let mut it = toks.iter().peekable();
    let is = |t: Option<&&Token>, w: &str| matches!(t, Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    let name = |t: Option<&Token>| match t {
        Some(Token::Word(x)) | Some(Token::Quoted(x)) => Some(x.clone()),
        _ => None,
    };
    if !is(it.next().as_ref(), "CREATE") {
        return None;
    }
    if is(it.peek(), "TEMP") || is(it.peek(), "TEMPORARY") {
        it.next();
    }
    if !is(it.next().as_ref(), "TRIGGER") {
        return None;
    }
    if is(it.peek(), "IF") {
        it.next();
        if !(is(it.next().as_ref(), "NOT") && is(it.next().as_ref(), "EXISTS")) {
            return None;
        }
    }
    name(it.next())?;
    if it.peek() == Some(&&Token::Punct('.')) {
        it.next();
        name(it.next())?;
    }
    let timing = if is(it.peek(), "BEFORE") || is(it.peek(), "AFTER") {
        let Some(Token::Word(w)) = it.next() else { return None };
        w.to_ascii_uppercase()
    } else if is(it.peek(), "INSTEAD") {
        it.next();
        if !is(it.next().as_ref(), "OF") {
            return None;
        }
        "INSTEAD OF".to_string()
    } else {
        "BEFORE".to_string()
    };
    let (event, mut columns) = match it.next() {
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("INSERT") => (TriggerEvent::Insert, Vec::new()),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("DELETE") => (TriggerEvent::Delete, Vec::new()),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("UPDATE") => (TriggerEvent::Update, Vec::new()),
        _ => return None,
    };
    if event == TriggerEvent::Update && is(it.peek(), "OF") {
        it.next();
        loop {
            columns.push(name(it.next())?);
            match it.next() {
                Some(Token::Punct(',')) => continue,
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("ON") => return Some((timing, vec![event], columns)),
                _ => return None,
            }
        }
    }
    is(it.next().as_ref(), "ON").then_some((timing, vec![event], columns))
}

/// Runs `PRAGMA quick_check` or `integrity_check`; returns the problems (empty when `ok`). A check
/// that cannot even run (corruption in the schema) is itself reported as the problem.
/// See `Database::one_value`: "no such table/column" is a missing object; a statement that is
/// not read-only is refused before it runs.
fn one_value(conn: &Connection, sql: &str) -> std::result::Result<Value, QueryProblem> {
    let mut st = match conn.prepare(sql) {
        Ok(st) => st,
        Err(e) => {
            let m = e.to_string();
            let missing = m.contains("no such table") || m.contains("no such column");
            return Err(if missing { QueryProblem::MissingObject(m) } else { QueryProblem::NotSql(m) });
        }
    };
    if !st.readonly() {
        return Err(QueryProblem::Writes);
    }
    if st.column_count() != 1 {
        return Err(QueryProblem::Columns(st.column_count()));
    }
    let unreadable = |e: rusqlite::Error| QueryProblem::Unreadable(e.to_string());
    let mut rows = st.query([]).map_err(unreadable)?;
    let value = match rows.next().map_err(unreadable)? {
        Some(row) => to_value(row.get_ref(0).map_err(unreadable)?),
        None => return Err(QueryProblem::NoRow),
    };
    match rows.next().map_err(unreadable)? {
        Some(_) => Err(QueryProblem::SeveralRows),
        None => Ok(value),
    }
}

pub fn integrity_problems(conn: &Connection, quick: bool) -> Result<Vec<String>> {
    let pragma = if quick { "PRAGMA quick_check" } else { "PRAGMA integrity_check" };
    let run = || -> rusqlite::Result<Vec<String>> {
        let mut st = conn.prepare(pragma)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    };
    match run() {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(Vec::new()),
        Ok(lines) => Ok(lines.iter().map(|l| without_banner(l)).filter(|l| !l.is_empty()).collect()),
        Err(e) => Ok(vec![e.to_string()]),
    }
}

/// An integrity-check line without the `*** in database main ***` banner SQLite puts before the
/// first problem it found.
pub fn without_banner(line: &str) -> String {
    match line.strip_prefix("*** in database ") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, r)| r).trim().to_string(),
        None => line.trim().to_string(),
    }
}

struct SqliteTxn<'a> {
    tx: rusqlite::Transaction<'a>,
    path: PathBuf,
    /// Rows written per table since `begin_write`, counted by the update hook (rowid tables only).
    written: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>,
}

/// A write's error: a broken constraint (UNIQUE, NOT NULL, CHECK, FOREIGN KEY) is `BadInput`
/// carrying SQLite's words (e.g. `UNIQUE constraint failed: t.v`), for the caller to say which row;
/// anything else as `classify` says.
fn write_error(e: rusqlite::Error, path: &Path) -> anyhow::Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
        let words = match &e {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
            other => other.to_string(),
        };
        return bad_input(words).into();
    }
    classify(e, path)
}

impl SqliteTxn<'_> {
    /// Rows that break a foreign key, as `PRAGMA foreign_key_check` lists them (at most `max`).
    fn foreign_key_violations(&self, max: usize) -> Vec<String> {
        let run = || -> rusqlite::Result<Vec<String>> {
            let mut st = self.tx.prepare("PRAGMA foreign_key_check")?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                if out.len() == max {
                    break;
                }
                let (table, rowid, parent): (String, Option<i64>, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let at = rowid.map_or_else(|| "a row".to_string(), |id| format!("the row with rowid {id}"));
                out.push(format!("{at} of `{table}` refers to a row of `{parent}` that does not exist"));
            }
            Ok(out)
        };
        run().unwrap_or_default()
    }
}

impl WriteTxn for SqliteTxn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut st = self.tx.prepare_cached(sql).map_err(|e| classify(e, &self.path))?;
        let n = st.execute(rusqlite::params_from_iter(params.iter())).map_err(|e| write_error(e, &self.path))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let mut st = self.tx.prepare_cached(sql).map_err(|e| classify(e, &self.path))?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(|e| classify(e, &self.path))?;
        while let Some(r) = rows.next().map_err(|e| classify(e, &self.path))? {
            let row = (0..n).map(|i| r.get_ref(i).map(to_value)).collect::<rusqlite::Result<Row>>()?;
            sink(row)?;
        }
        Ok(())
    }

    fn safety_snapshot(&mut self, dest: &Path, _tables: &[String]) -> Result<()> {
        // The backup API refuses a source connection that is in a write transaction, so the copy
        // is read through a second connection. It sees exactly the state this transaction started
        // from: nothing is written yet, and no other writer can commit while we hold the lock.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let src = Connection::open_with_flags(&self.path, flags).map_err(|e| classify(e, &self.path))?;
        snapshot_to(&src, dest, &self.path)
    }

    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>> {
        list_triggers(&self.tx, tables).map_err(|e| classify(e, &self.path))
    }

    /// DDL is transactional in SQLite: the trigger is dropped inside this transaction, and
    /// `resume_trigger` creates it again from its exact SQL before the commit, so readers never
    /// see it missing and a crash or kill rolls the drop back with everything else.
    fn suspend_trigger(&mut self, trigger: &Trigger) -> Result<()> {
        self.tx.execute_batch(&format!("DROP TRIGGER {}", trigger.address)).map_err(|e| classify(e, &self.path))
    }

    fn resume_trigger(&mut self, trigger: &Trigger) -> Result<()> {
        self.tx.execute(&trigger.sql, []).map(|_| ()).map_err(|e| classify(e, &self.path))
    }

    /// `total_changes()` counts every row written, triggers' included (not SQLite's own tables);
    /// the update hook names the tables, except `WITHOUT ROWID` ones, which it does not see.
    fn row_writes(&mut self, tables: &[String]) -> Result<Option<RowWrites>> {
        let seen = self.written.lock().map_err(|_| anyhow::anyhow!("the row counter was poisoned"))?.clone();
        let mut by_table = std::collections::BTreeMap::new();
        for (t, n) in seen {
            // Named as the merge names it (SQLite names are case-insensitive).
            let name = tables.iter().find(|w| w.eq_ignore_ascii_case(&t)).cloned().unwrap_or(t);
            *by_table.entry(name).or_default() += n;
        }
        Ok(Some(RowWrites { total: self.tx.total_changes(), by_table }))
    }

    /// A deferred foreign key still broken fails the COMMIT, which leaves the transaction open:
    /// the offending rows are then named, and dropping the transaction rolls everything back.
    fn commit(self: Box<Self>) -> Result<()> {
        match self.tx.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                let found = self.foreign_key_violations(3);
                let what = if found.is_empty() { e.to_string() } else { found.join("; ") };
                Err(bad_input(format!("FOREIGN KEY constraint failed: {what}")).into())
            }
            Err(e) => Err(classify(e, &self.path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_heads_give_timing_events_and_update_columns() {
        let p = |s: &str| parse_trigger_head(s);
        let upd = vec![TriggerEvent::Update];
        assert_eq!(
            p("CREATE TRIGGER a AFTER UPDATE ON t BEGIN SELECT 1; END"),
            Some(("AFTER".into(), upd.clone(), vec![]))
        );
        assert_eq!(
            p("create temp trigger if not exists main.\"x y\" instead of delete on v begin select 1; end"),
            Some(("INSTEAD OF".into(), vec![TriggerEvent::Delete], vec![]))
        );
        assert_eq!(
            p("CREATE TRIGGER [on] /* ON */ -- ON\n UPDATE OF `a``b`, \"on\" ON t BEGIN SELECT 1; END"),
            Some(("BEFORE".into(), upd, vec!["a`b".into(), "on".into()]))
        );
        assert_eq!(p("CREATE TRIGGER b INSERT ON t BEGIN END").map(|h| h.1), Some(vec![TriggerEvent::Insert]));
        // Anything else is not read (and then taken to fire on every write).
        assert_eq!(p("CREATE TRIGGER c AFTER UPSERT ON t BEGIN END"), None);
        assert_eq!(p("CREATE TRIGGER \"unclosed AFTER UPDATE ON t"), None);
        assert_eq!(p(""), None);
    }
}
