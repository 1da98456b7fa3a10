//! The PostgreSQL engine: reading tables and writing in one transaction, over the `postgres`
//! crate, with the connection settings of `conn.rs`. The other files: `engine` is its entry in the
//! registry, `archive`/`archive_data` read pg_dump archives, `restore` restores them into scratch
//! databases (`scratch`: creating, listing, dropping those), `load` loads table rows over several
//! connections, `promote` swaps a scratch database in for live, `backup` takes the pg_dump that
//! `lastgood backup` stores, `snapshot` names merge's safety snapshots and their undo, `tools`
//! runs the client programs, `walscan` reads a WAL archive for `incidents` (`walfiles`: the
//! archive's segments; `waldump`: pg_waldump's records, grouped by transaction; `walnames`: file
//! nodes named through live).
//!
//! Table names: a table in schema `public` is named by its bare name (`Order Items`), any other
//! as `schema.name`; a name that exists verbatim in `public` wins over the split at its first dot.
//! In SQL every part is quoted (`"public"."Order Items"`).
//!
//! Rows: every table means its own rows. An inheritance parent is read, counted and written with
//! `ONLY` (`TableRef::rows`), since its children are tables of their own, listed, diffed and
//! merged apart (without `ONLY` a merge into the parent could update or delete a child's rows,
//! and its key would not even be unique); its children's triggers never fire on its writes. A
//! partitioned table holds no rows of its own: its rows are its partitions', which are not listed
//! as tables, so it is read and written without `ONLY` (statements on it reach its partitions,
//! whose triggers fire) and its partitions count under it.
//!
//! Values (documented in the README): `int2/int4/int8/oid` → Integer; `float4/float8` → Real;
//! `bool` → Integer 0/1; `bytea` → Blob; `text/varchar/char/name` → Text; every other type
//! (numeric, date, timestamp, uuid, json, arrays, enums…) → Text of PostgreSQL's own output
//! (`col::text`), which is exact when both sides run on the same server version and settings
//! (DateStyle, TimeZone, extra_float_digits).
//!
//! Ordering: `scan` with `order_by` sorts exactly like `Value::cmp`: NULLS FIRST; numbers and
//! bytea by value; text by bytes (`COLLATE "C"`); text-mapped types by their text form
//! (`col::text COLLATE "C"`), never by their native order; `character(n)` by the padded text it
//! is read as, not by its own comparison, which ignores trailing spaces. `-0.0` and `0.0` sort as
//! equal, in PostgreSQL as in `Value`.
//!
//! Streaming: a scan runs in a read-only REPEATABLE READ transaction, so memory is bounded
//! whatever the table size: `scan` through a portal fetched `PAGE_ROWS` rows at a time;
//! `scan_batches` (diff, merge plans, history) through a binary COPY on a second connection of
//! the same settings, driven by `tokio_postgres` directly so that the client takes the rows
//! 256 KiB at a time instead of entering its runtime once per row.
//!
//! Writes: parameters are bound, never spliced. SQLite-style placeholders (`?`, `?N`) are
//! rewritten to `$N`. Values are sent in text format and cast by the server to the column's
//! type (bytea in binary), so an Integer binds to int2/int4/numeric alike. Batched merge writes
//! (`WriteTxn::batch_types`) cast each parameter to its column's type without the modifier,
//! which gives the same values and errors as binding it in place.

pub mod archive;
pub mod archive_data;
pub mod backup;
pub mod base_take;
pub mod basebackup;
pub mod conn;
pub mod copy;
pub mod engine;
pub mod instance;
pub mod load;
pub mod pgbackrest;
pub mod pitr;
pub mod probe;
pub mod promote;
pub mod restore;
pub mod scratch;
pub mod snapshot;
pub mod source;
pub mod tools;
pub mod wal;
pub mod waldump;
pub mod walfiles;
pub mod walnames;
pub mod walscan;

use anyhow::Result;
use bytes::BytesMut;
use postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Row as PgRow};

use super::{
    Column, Database, EngineKind, Fill, QueryProblem, ReadAs, RowWrites, Scan, SchemaObject, SkipKind, SkippedTable,
    TableSchema, Trigger, TriggerEvent, TriggerKind, TriggerState, WriteTxn, quote_ident,
};
use crate::error::bad_input;
use crate::value::{Row, Value};
use conn::PgConn;

/// Rows fetched per round trip while scanning.
const PAGE_ROWS: i32 = 5000;

/// The advisory lock key every lastgood write transaction takes (`lastgood` in ASCII).
pub const ADVISORY_LOCK_KEY: i64 = 0x6c61_7374_676f_6f64;

/// An open PostgreSQL database.
pub struct PgDb {
    client: Client,
    conn: PgConn,
    /// The connection streaming scans run on, opened at the first scan.
    scanner: Option<Scanner>,
}

/// A `tokio_postgres` connection and the runtime that drives it. `postgres::Client` enters its
/// runtime once per COPY message, which is once per row; driving the stream directly takes
/// `REFILL` bytes (thousands of rows) per entry, and rows are decoded in place from that buffer.
struct Scanner {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

/// Bytes of COPY data taken from the connection per runtime entry.
const REFILL: usize = 256 << 10;

impl Scanner {
    fn connect(conn: &PgConn) -> Result<Scanner> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| crate::error::environment(format!("cannot start an I/O runtime: {e}")))?;
        let (client, connection) = rt
            .block_on(conn.async_config().connect(tokio_postgres::NoTls))
            .map_err(|e| conn.classify(e, "connecting"))?;
        // Runs whenever the runtime is entered, i.e. while a scan waits for data.
        rt.spawn(async move {
            let _ = connection.await;
        });
        Ok(Scanner { rt, client })
    }
}

/// The bytes of a `COPY … TO STDOUT`, taken from the connection `REFILL` at a time into one
/// buffer that rows are decoded from in place.
struct CopyOutBuffer<'a> {
    rt: &'a tokio::runtime::Runtime,
    stream: std::pin::Pin<Box<tokio_postgres::CopyOutStream>>,
    buf: Vec<u8>,
    /// Where the unread bytes start.
    pos: usize,
    done: bool,
}

impl CopyOutBuffer<'_> {
    /// Makes at least `n` unread bytes available; false when the stream ends first.
    fn need(&mut self, n: usize) -> std::io::Result<bool> {
        while self.buf.len() - self.pos < n {
            if self.done {
                return Ok(false);
            }
            self.buf.drain(..self.pos);
            self.pos = 0;
            let (stream, buf) = (&mut self.stream, &mut self.buf);
            let target = buf.len() + REFILL.max(n);
            self.done = self.rt.block_on(async {
                use futures_util::StreamExt;
                while buf.len() < target {
                    match stream.next().await {
                        Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                        Some(Err(e)) => return Err(std::io::Error::other(e)),
                        None => return Ok(true),
                    }
                }
                Ok(false)
            })?;
        }
        Ok(true)
    }

    /// The next `n` bytes (made available by `need`), consumed.
    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.pos;
        self.pos += n;
        &self.buf[start..start + n]
    }
}

/// A table, resolved: its schema, name and oid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    /// A partitioned table (`relkind = 'p'`): its rows are its partitions'.
    pub partitioned: bool,
}

impl TableRef {
    /// `"schema"."name"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The table's rows in a FROM, UPDATE or DELETE (module docs): `ONLY "schema"."name"`, a
    /// partitioned table without `ONLY`.
    pub fn rows(&self) -> String {
        own_rows(&self.qualified(), self.partitioned)
    }

    /// lastgood's name for it: bare in `public`, else `schema.name`.
    pub fn display(&self) -> String {
        display_name(&self.schema, &self.name)
    }
}

/// `qualified` (a quoted table name) as statements name its own rows: with `ONLY`, unless the
/// table is partitioned (module docs).
pub fn own_rows(qualified: &str, partitioned: bool) -> String {
    if partitioned { qualified.to_string() } else { format!("ONLY {qualified}") }
}

/// lastgood's name for a table: bare in `public`, else `schema.name`.
pub fn display_name(schema: &str, name: &str) -> String {
    if schema == "public" { name.to_string() } else { format!("{schema}.{name}") }
}

/// How a column's cells become `Value`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    Integer,
    Real,
    Bool,
    Blob,
    Text,
    /// Any other type: read as `col::text`.
    TextForm,
}

fn mapping_of(ty: &Type) -> Mapping {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Mapping::Integer,
        Type::FLOAT4 | Type::FLOAT8 => Mapping::Real,
        Type::BOOL => Mapping::Bool,
        Type::BYTEA => Mapping::Blob,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Mapping::Text,
        _ => Mapping::TextForm,
    }
}

impl PgDb {
    /// Connects to the database `conn` names.
    pub fn connect(conn: &PgConn) -> Result<PgDb> {
        Ok(PgDb { client: conn.connect()?, conn: conn.clone(), scanner: None })
    }

    /// Opens a `postgres://` URL or key=value string, filled in from the environment.
    pub fn open(spec: &str) -> Result<PgDb> {
        PgDb::connect(&PgConn::resolve(spec)?)
    }

    /// As `open`; with `Access::ReadOnly` every transaction of the session is read-only.
    pub fn open_with(spec: &str, access: super::Access) -> Result<PgDb> {
        let mut db = PgDb::open(spec)?;
        if access == super::Access::ReadOnly {
            db.client
                .batch_execute("SET default_transaction_read_only = on")
                .map_err(|e| db.conn.classify(e, "opening read-only"))?;
        }
        Ok(db)
    }

    fn read_only_transaction(&mut self) -> Result<postgres::Transaction<'_>> {
        let conn = &self.conn;
        self.client
            .build_transaction()
            .read_only(true)
            .start()
            .map_err(|e| conn.classify(e, "starting a read-only transaction"))
    }

    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    pub fn conn(&self) -> &PgConn {
        &self.conn
    }

    fn err(&self, e: postgres::Error, doing: &str) -> anyhow::Error {
        self.conn.classify(e, doing)
    }

    /// Finds `table` (see the module docs for names). Errors: `BadInput` when it does not exist.
    pub fn resolve_table(&mut self, table: &str) -> Result<TableRef> {
        resolve_table_in(&mut self.client, &self.conn, table)
    }

    /// Column names, PostgreSQL types and mappings of a table, in column order.
    fn columns(&mut self, t: &TableRef) -> Result<Vec<(Column, Type)>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atttypid, \
                 a.attidentity = 'a', a.attgenerated <> '' \
                 FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&t.oid],
            )
            .map_err(|e| self.err(e, "reading columns"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let oid: u32 = r.get(3);
                let ty = Type::from_oid(oid).unwrap_or(Type::UNKNOWN);
                // Types without a built-in oid (domains, enums, extensions) read as text form.
                let ty = if Type::from_oid(oid).is_none() { Type::JSON } else { ty };
                let fill = match (r.get(4), r.get(5)) {
                    (_, true) => Fill::Generated,
                    (true, _) => Fill::IdentityAlways,
                    _ => Fill::Written,
                };
                let read_as = match mapping_of(&ty) {
                    Mapping::Bool => ReadAs::Boolean,
                    Mapping::TextForm => ReadAs::TextForm,
                    _ => ReadAs::Native,
                };
                (Column { name: r.get(0), decl_type: r.get(1), not_null: r.get(2), fill, read_as }, ty)
            })
            .collect())
    }

    fn primary_key(&mut self, t: &TableRef) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_index i \
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord",
                &[&t.oid],
            )
            .map_err(|e| self.err(e, "reading the primary key"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The SELECT that reads `scan` with every value in its mapped form, plus the mappings.
    fn scan_sql(&mut self, scan: &Scan) -> Result<(String, Vec<Mapping>)> {
        let t = self.resolve_table(&scan.table)?;
        let cols = self.columns(&t)?;
        let find_type = |name: &str| {
            cols.iter()
                .find(|(c, _)| c.name == name)
                .map(|(_, ty)| ty.clone())
                .ok_or_else(|| anyhow::Error::from(bad_input(format!("table `{}` has no column `{name}`", scan.table))))
        };
        let find = |name: &str| find_type(name).map(|ty| mapping_of(&ty));
        let mut select = Vec::new();
        let mut maps = Vec::new();
        for c in &scan.columns {
            let m = find(c)?;
            let q = quote_ident(c);
            // Every cell arrives as int2/4/8, float4/8, bool, bytea or text; oid (unsigned) as int8.
            select.push(match m {
                Mapping::TextForm => format!("{q}::text"),
                Mapping::Integer if find_type(c)? == Type::OID => format!("{q}::int8"),
                _ => q,
            });
            maps.push(if m == Mapping::TextForm { Mapping::Text } else { m });
        }
        if let Some(f) = &scan.filter {
            // The operator's `--where` (checked by `check_expression`): one more 0/1 column.
            select.push(format!("CASE WHEN ({f}) THEN 1 ELSE 0 END"));
            maps.push(Mapping::Integer);
        }
        let mut order = Vec::new();
        for c in &scan.order_by {
            let q = quote_ident(c);
            // NULLs sort first, as in `Value` order. A NOT NULL column (every primary-key column)
            // holds none, so the clause is left out there: `NULLS FIRST` on an ascending column
            // would not match its btree index, and the server would sort the whole table instead
            // of walking the index.
            let not_null = cols.iter().any(|(col, _)| col.name == *c && col.not_null);
            let nulls = if not_null { "" } else { " NULLS FIRST" };
            order.push(match find(c)? {
                // `character(n)` compares without its trailing spaces but is read with them, so
                // `a` (read `a  `) would sort before `a\t` (read `a\t `): sorted by the text it
                // is read as.
                Mapping::Text if find_type(c)? == Type::BPCHAR => {
                    format!("textin(bpcharout({q})) COLLATE \"C\"{nulls}")
                }
                Mapping::Text => format!("{q} COLLATE \"C\"{nulls}"),
                Mapping::TextForm => format!("{q}::text COLLATE \"C\"{nulls}"),
                _ => format!("{q}{nulls}"),
            });
        }
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), t.rows());
        if !order.is_empty() {
            sql.push_str(" ORDER BY ");
            sql.push_str(&order.join(", "));
        }
        Ok((sql, maps))
    }

    fn table_ddl(&mut self, t: &TableRef) -> Result<String> {
        let cols = self.columns(t)?;
        let cons = self
            .client
            .query(
                "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1 ORDER BY conname",
                &[&t.oid],
            )
            .map_err(|e| self.err(e, "reading constraints"))?;
        let mut parts: Vec<String> = cols
            .iter()
            .map(|(c, _)| {
                format!("{} {}{}", quote_ident(&c.name), c.decl_type, if c.not_null { " NOT NULL" } else { "" })
            })
            .collect();
        for r in &cons {
            parts.push(format!("CONSTRAINT {} {}", quote_ident(r.get::<_, &str>(0)), r.get::<_, &str>(1)));
        }
        Ok(format!("CREATE TABLE {} (\n    {}\n)", t.qualified(), parts.join(",\n    ")))
    }
}

/// Sorts a failed check query into a `QueryProblem`; errors that are not about the query (the
/// connection) stay errors.
fn query_problem(e: postgres::Error, conn: &PgConn) -> Result<QueryProblem> {
    use postgres::error::SqlState;
    let Some(db) = e.as_db_error() else { return Err(conn.classify(e, "running the check")) };
    let message = db.message().to_string();
    let code = db.code().clone();
    Ok(if [SqlState::UNDEFINED_TABLE, SqlState::UNDEFINED_COLUMN, SqlState::INVALID_SCHEMA_NAME].contains(&code) {
        QueryProblem::MissingObject(message)
    } else if code == SqlState::READ_ONLY_SQL_TRANSACTION {
        QueryProblem::Writes
    } else if code.code().starts_with("42") || code.code().starts_with("0A") {
        QueryProblem::NotSql(message)
    } else {
        QueryProblem::Unreadable(message)
    })
}

/// Whether `st` writes, for a check query that does not return one column: SQLite tells from the
/// statement alone and refuses a write before counting its columns, so the same `UPDATE …` must
/// be a write here too, not "0 columns". The read-only transaction refuses a write as it starts
/// to run, before any row; one row at most is fetched from a query.
fn starts_writing(tx: &mut postgres::Transaction<'_>, st: &postgres::Statement) -> bool {
    let read_only = |e: postgres::Error| e.code() == Some(&postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION);
    match tx.bind(st, &[]) {
        Ok(portal) => tx.query_portal(&portal, 1).err().is_some_and(read_only),
        Err(e) => read_only(e),
    }
}

/// `PgDb::resolve_table` through any client (a connection or a transaction).
fn resolve_table_in(client: &mut impl postgres::GenericClient, conn: &PgConn, table: &str) -> Result<TableRef> {
    let mut candidates = vec![("public".to_string(), table.to_string())];
    if let Some((s, n)) = table.split_once('.') {
        candidates.push((s.to_string(), n.to_string()));
    }
    for (schema, name) in candidates {
        let rows = client
            .query(
                "SELECT c.oid, c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname = $1 AND c.relname = $2",
                &[&schema, &name],
            )
            .map_err(|e| conn.classify(e, "looking up a table"))?;
        if let Some(r) = rows.first() {
            return Ok(TableRef { schema, name, oid: r.get(0), partitioned: r.get(1) });
        }
    }
    Err(bad_input(format!("`{}` has no table `{table}`", conn.describe()))
        .hint("tables outside schema public are named schema.table")
        .into())
}

/// Decodes one cell by its mapping.
fn cell(row: &PgRow, i: usize, m: Mapping) -> Result<Value> {
    let ty = row.columns()[i].type_().clone();
    Ok(match m {
        Mapping::Integer => match ty {
            Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Integer(v.into())),
            Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Integer(v.into())),
            Type::OID => row.try_get::<_, Option<u32>>(i)?.map(|v| Value::Integer(v.into())),
            _ => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
        },
        Mapping::Real => match ty {
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into())),
            _ => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        },
        Mapping::Bool => row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Integer(b.into())),
        Mapping::Blob => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        Mapping::Text | Mapping::TextForm => row.try_get::<_, Option<String>>(i)?.map(|s| Value::Text(s.into_bytes())),
    }
    .unwrap_or(Value::Null))
}

fn decode_row(row: &PgRow, maps: &[Mapping]) -> Result<Row> {
    maps.iter().enumerate().map(|(i, m)| cell(row, i, *m)).collect()
}

impl Database for PgDb {
    fn engine(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn describe(&self) -> String {
        self.conn.describe()
    }

    fn tables(&mut self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'lastgood\\_%'",
                &[],
            )
            .map_err(|e| self.err(e, "listing tables"))?;
        let mut names: Vec<String> = rows.iter().map(|r| display_name(r.get(0), r.get(1))).collect();
        names.sort();
        Ok(names)
    }

    fn skipped_tables(&mut self) -> Result<Vec<SkippedTable>> {
        let rows = self
            .client
            .query(
                "SELECT n.nspname::text, c.relname::text, s.srvname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_foreign_table f ON f.ftrelid = c.oid \
                 JOIN pg_foreign_server s ON s.oid = f.ftserver \
                 WHERE c.relkind = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'lastgood\\_%'",
                &[],
            )
            .map_err(|e| self.err(e, "listing foreign tables"))?;
        let mut out: Vec<SkippedTable> = rows
            .iter()
            .map(|r| SkippedTable { name: display_name(r.get(0), r.get(1)), kind: SkipKind::Foreign, of: r.get(2) })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn table_schema(&mut self, table: &str) -> Result<TableSchema> {
        let t = self.resolve_table(table)?;
        let columns = self.columns(&t)?.into_iter().map(|(c, _)| c).collect();
        let primary_key = self.primary_key(&t)?;
        Ok(TableSchema { name: table.to_string(), columns, primary_key, partitioned: t.partitioned })
    }

    fn row_count(&mut self, table: &str) -> Result<u64> {
        let t = self.resolve_table(table)?;
        let r = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}", t.rows()), &[])
            .map_err(|e| self.err(e, "counting rows"))?;
        Ok(r.get::<_, i64>(0) as u64)
    }

    fn schema_objects(&mut self) -> Result<Vec<SchemaObject>> {
        let mut out = Vec::new();
        for name in self.tables()? {
            let t = self.resolve_table(&name)?;
            out.push(SchemaObject {
                kind: "table".into(),
                name: name.clone(),
                table: name.clone(),
                sql: self.table_ddl(&t)?,
            });
            let rows = self
                .client
                .query(
                    "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE i.indrelid = $1 AND NOT i.indisprimary ORDER BY c.relname",
                    &[&t.oid],
                )
                .map_err(|e| self.err(e, "reading indexes"))?;
            for r in rows {
                out.push(SchemaObject { kind: "index".into(), name: r.get(0), table: name.clone(), sql: r.get(1) });
            }
            let rows = self
                .client
                .query(
                    "SELECT tgname::text, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname",
                    &[&t.oid],
                )
                .map_err(|e| self.err(e, "reading triggers"))?;
            for r in rows {
                out.push(SchemaObject { kind: "trigger".into(), name: r.get(0), table: name.clone(), sql: r.get(1) });
            }
        }
        Ok(out)
    }

    fn scan(&mut self, scan: &Scan, sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let (sql, maps) = self.scan_sql(scan)?;
        let conn = self.conn.clone();
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(|e| conn.classify(e, "starting a read"))?;
        let portal = tx.bind(sql.as_str(), &[]).map_err(|e| conn.classify(e, &format!("reading `{}`", scan.table)))?;
        loop {
            let page = tx
                .query_portal(&portal, PAGE_ROWS)
                .map_err(|e| conn.classify(e, &format!("reading `{}`", scan.table)))?;
            let done = page.len() < PAGE_ROWS as usize;
            for r in &page {
                sink(decode_row(r, &maps)?)?;
            }
            if done {
                break;
            }
        }
        tx.commit().map_err(|e| conn.classify(e, "ending a read"))
    }

    /// Streams through `COPY (SELECT …) TO STDOUT (FORMAT binary)` and encodes each cell straight
    /// into the batch: no `Value` per cell, one buffer per batch, bounded memory. The COPY runs
    /// in a read-only REPEATABLE READ transaction on the scan connection (`Scanner`), which is
    /// closed after an error so that an abandoned COPY never holds up the next scan.
    fn scan_batches(
        &mut self,
        scan: &Scan,
        batch_bytes: usize,
        sink: &mut dyn FnMut(crate::rows::Batch) -> Result<crate::rows::Batch>,
    ) -> Result<()> {
        let (sql, maps) = self.scan_sql(scan)?;
        if self.scanner.is_none() {
            self.scanner = Some(Scanner::connect(&self.conn)?);
        }
        let scanner = self.scanner.as_ref().expect("connected above");
        let result = stream_copy(scanner, &self.conn, &sql, &maps, &scan.table, batch_bytes, sink);
        if result.is_err() {
            self.scanner = None;
        }
        result
    }

    fn check_expression(&mut self, scan: &Scan) -> Result<()> {
        let Some(expr) = scan.filter.as_deref() else { return Ok(()) };
        let table = scan.table.as_str();
        let t = self.resolve_table(table)?;
        let sql = format!("SELECT 1 FROM {} WHERE ({expr}) LIMIT 0", t.rows());
        match self.client.prepare(&sql) {
            Ok(_) => Ok(()),
            Err(e) => {
                let why = self.conn.scrub(&e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string()));
                Err(bad_input(format!("--where `{expr}` is not a valid condition on table `{table}`: {why}"))
                    .hint("write an SQL boolean expression over the table's columns, e.g. --where \"id > 100\"")
                    .into())
            }
        }
    }

    fn has_null_in(&mut self, table: &str, columns: &[String]) -> Result<bool> {
        if columns.is_empty() {
            return Ok(false);
        }
        let t = self.resolve_table(table)?;
        let cond = columns.iter().map(|c| format!("{} IS NULL", quote_ident(c))).collect::<Vec<_>>().join(" OR ");
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE {cond})", t.rows());
        let row = self.client.query_one(&sql, &[]).map_err(|e| self.err(e, "looking for NULL keys"))?;
        Ok(row.get::<_, bool>(0))
    }

    fn integrity_problems(&mut self, quick: bool) -> Result<Vec<String>> {
        // A server keeps its own pages consistent; reading the catalog proves the database answers.
        self.client.query_one("SELECT count(*) FROM pg_class", &[]).map_err(|e| self.err(e, "checking"))?;
        if quick {
            return Ok(Vec::new());
        }
        // The full check reads every row of every table: each one is readable.
        let mut problems = Vec::new();
        for table in self.tables()? {
            if let Err(e) = self.row_count(&table) {
                problems.push(format!("`{table}` cannot be read: {e:#}"));
            }
        }
        Ok(problems)
    }

    fn one_value(&mut self, sql: &str) -> Result<std::result::Result<Value, QueryProblem>> {
        // A trailing `;` would break the wrapping below.
        let sql = sql.trim().trim_end_matches(';').trim_end();
        let conn = self.conn.clone();
        let mut tx = self.read_only_transaction()?;
        let st = match tx.prepare(sql) {
            Ok(st) => st,
            Err(e) => return query_problem(e, &conn).map(Err),
        };
        if st.columns().len() != 1 {
            let writes = starts_writing(&mut tx, &st);
            return Ok(Err(if writes { QueryProblem::Writes } else { QueryProblem::Columns(st.columns().len()) }));
        }
        // Types read as text elsewhere are read here as numbers (numeric) or as their text form.
        let ty = st.columns()[0].type_().clone();
        let wrapped = match mapping_of(&ty) {
            Mapping::TextForm if ty == Type::NUMERIC => Some(format!("SELECT (q.v)::float8 FROM ({sql}) AS q(v)")),
            Mapping::TextForm => Some(format!("SELECT (q.v)::text FROM ({sql}) AS q(v)")),
            _ => None,
        };
        let rows = match tx.query(wrapped.as_deref().unwrap_or(sql), &[]) {
            Ok(rows) => rows,
            Err(e) => return query_problem(e, &conn).map(Err),
        };
        let value = match rows.as_slice() {
            [] => return Ok(Err(QueryProblem::NoRow)),
            [row] => {
                let st_ty = row.columns()[0].type_().clone();
                cell(row, 0, mapping_of(&st_ty))?
            }
            _ => return Ok(Err(QueryProblem::SeveralRows)),
        };
        Ok(Ok(value))
    }

    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let conn = self.conn.clone();
        let mut tx = self.read_only_transaction()?;
        let st = tx.prepare(&to_pg_placeholders(sql)).map_err(|e| conn.classify(e, "preparing a query"))?;
        let maps: Vec<Mapping> = st.columns().iter().map(|c| mapping_of(c.type_())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = tx.query(&st, &refs).map_err(|e| conn.classify(e, "querying"))?;
        for r in &rows {
            sink(decode_row(r, &maps)?)?;
        }
        Ok(())
    }

    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>> {
        list_triggers(&mut self.client, &self.conn, tables)
    }

    fn begin_write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let conn = self.conn.clone();
        let mut tx = self.client.transaction().map_err(|e| conn.classify(e, "starting a transaction"))?;
        // One writer of ours per database: a transaction-scoped advisory lock, released at commit
        // or rollback (also when the process dies).
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&ADVISORY_LOCK_KEY])
            .map_err(|e| conn.classify(e, "taking lastgood's advisory lock"))?
            .get(0);
        if !locked {
            return Err(crate::error::refused(format!(
                "another lastgood is writing to `{}` (it holds lastgood's advisory lock)",
                conn.describe()
            ))
            .hint("wait for it to finish; `SELECT pid FROM pg_locks WHERE locktype = 'advisory'` shows who")
            .into());
        }
        // Foreign keys declared DEFERRABLE are checked at the commit, so parent and child rows
        // may come in any order (NOT DEFERRABLE ones are checked at each statement: see
        // `order`, which writes parents' rows before their children's).
        tx.batch_execute("SET CONSTRAINTS ALL DEFERRED").map_err(|e| conn.classify(e, "deferring constraints"))?;
        Ok(Box::new(PgTxn { tx, conn, statements: std::collections::HashMap::new() }))
    }
}

/// The body of `scan_batches`.
fn stream_copy(
    scanner: &Scanner,
    conn: &PgConn,
    sql: &str,
    maps: &[Mapping],
    table: &str,
    batch_bytes: usize,
    sink: &mut dyn FnMut(crate::rows::Batch) -> Result<crate::rows::Batch>,
) -> Result<()> {
    let what = format!("reading `{table}`");
    let client = &scanner.client;
    scanner
        .rt
        .block_on(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        .map_err(|e| conn.classify(e, "starting a read"))?;
    let stream = scanner
        .rt
        .block_on(client.copy_out(format!("COPY ({sql}) TO STDOUT (FORMAT binary)").as_str()))
        .map_err(|e| conn.classify(e, &what))?;
    let data = CopyOutBuffer { rt: &scanner.rt, stream: Box::pin(stream), buf: Vec::new(), pos: 0, done: false };
    let mut copy = CopyBinary::new(data, maps).map_err(|e| read_failed(conn, &what, e))?;
    let mut batch = crate::rows::Batch::new(maps.len());
    while copy.read_row(&mut batch).map_err(|e| read_failed(conn, &what, e))? {
        if batch.bytes() >= batch_bytes {
            let full = std::mem::replace(&mut batch, crate::rows::Batch::new(maps.len()));
            batch = sink(full)?;
            batch.reset(maps.len());
        }
    }
    drop(copy);
    if batch.rows() > 0 {
        sink(batch)?;
    }
    scanner.rt.block_on(client.batch_execute("COMMIT")).map_err(|e| conn.classify(e, "ending a read"))
}

/// A failed read of the COPY stream: the server's error when it sent one, else the stream's.
fn read_failed(conn: &PgConn, what: &str, e: std::io::Error) -> anyhow::Error {
    match e.into_inner().map(|inner| inner.downcast::<postgres::Error>()) {
        Some(Ok(pg)) => conn.classify(*pg, what),
        Some(Err(other)) => crate::error::environment(format!("{what}: {other}")).into(),
        None => crate::error::environment(format!("{what}: the COPY stream ended early")).into(),
    }
}

/// A reader of PostgreSQL's binary COPY format (header, then per row a 16-bit field count and
/// per field a 32-bit length, -1 for NULL, and the value in the type's binary send format),
/// decoding straight from the stream's buffer.
struct CopyBinary<'a, 'm> {
    data: CopyOutBuffer<'a>,
    maps: &'m [Mapping],
}

fn cut_short() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the COPY stream ended inside a row")
}

fn invalid(what: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl<'a, 'm> CopyBinary<'a, 'm> {
    fn new(mut data: CopyOutBuffer<'a>, maps: &'m [Mapping]) -> std::io::Result<Self> {
        if !data.need(19)? {
            return Err(cut_short());
        }
        let head = data.take(19);
        if &head[..11] != b"PGCOPY\n\xff\r\n\0" {
            return Err(invalid("not a binary COPY stream"));
        }
        let ext = u32::from_be_bytes([head[15], head[16], head[17], head[18]]) as usize;
        if !data.need(ext)? {
            return Err(cut_short());
        }
        data.take(ext);
        Ok(CopyBinary { data, maps })
    }

    /// Appends the next row to `batch`; false at the end of the stream.
    fn read_row(&mut self, batch: &mut crate::rows::Batch) -> std::io::Result<bool> {
        let data = &mut self.data;
        if !data.need(2)? {
            return Err(cut_short());
        }
        let n = data.take(2);
        let fields = i16::from_be_bytes([n[0], n[1]]);
        if fields == -1 {
            return Ok(false);
        }
        if fields as usize != self.maps.len() {
            return Err(invalid("unexpected field count in COPY row"));
        }
        for m in self.maps {
            if !data.need(4)? {
                return Err(cut_short());
            }
            let l = data.take(4);
            let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
            if len < 0 {
                batch.push_null();
                continue;
            }
            let len = len as usize;
            if !data.need(len)? {
                return Err(cut_short());
            }
            let b = data.take(len);
            match (m, b.len()) {
                (Mapping::Integer, 2) => batch.push_integer(i16::from_be_bytes([b[0], b[1]]).into()),
                (Mapping::Integer, 4) => batch.push_integer(i32::from_be_bytes(b.try_into().unwrap()).into()),
                (Mapping::Integer, 8) => batch.push_integer(i64::from_be_bytes(b.try_into().unwrap())),
                (Mapping::Real, 4) => batch.push_real(f32::from_be_bytes(b.try_into().unwrap()).into()),
                (Mapping::Real, 8) => batch.push_real(f64::from_be_bytes(b.try_into().unwrap())),
                (Mapping::Bool, 1) => batch.push_integer(i64::from(b[0] != 0)),
                (Mapping::Blob, _) => batch.push_blob(b),
                (Mapping::Text | Mapping::TextForm, _) => batch.push_text(b),
                _ => return Err(invalid("unexpected value size in COPY row")),
            }
        }
        Ok(true)
    }
}

struct PgTxn<'a> {
    tx: postgres::Transaction<'a>,
    conn: PgConn,
    /// Prepared statements by SQL text: a merge runs the same few statements once per row.
    statements: std::collections::HashMap<String, postgres::Statement>,
}

impl PgTxn<'_> {
    fn prepared(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(st) = self.statements.get(sql) {
            return Ok(st.clone());
        }
        let st =
            self.tx.prepare(&to_pg_placeholders(sql)).map_err(|e| self.conn.classify(e, "preparing a statement"))?;
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

impl WriteTxn for PgTxn<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let st = self.prepared(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        self.tx.execute(&st, &refs).map_err(|e| self.conn.classify(e, "writing"))
    }

    fn query(&mut self, sql: &str, params: &[Value], sink: &mut dyn FnMut(Row) -> Result<()>) -> Result<()> {
        let stmt = self.prepared(sql)?;
        let maps: Vec<Mapping> = stmt.columns().iter().map(|c| mapping_of(c.type_())).collect();
        let stmt = if maps.contains(&Mapping::TextForm) {
            let sql = to_pg_placeholders(sql);
            // Re-read every column of a type without a native mapping as its text form.
            let names: Vec<String> = (1..=maps.len()).map(|i| format!("c{i}")).collect();
            let select: Vec<String> = names
                .iter()
                .zip(&maps)
                .map(|(n, m)| if *m == Mapping::TextForm { format!("{n}::text") } else { n.clone() })
                .collect();
            let wrapped = format!(
                "WITH lastgood_q({}) AS ({sql}) SELECT {} FROM lastgood_q",
                names.join(", "),
                select.join(", ")
            );
            self.prepared(&wrapped)?
        } else {
            stmt
        };
        let maps: Vec<Mapping> = stmt.columns().iter().map(|c| mapping_of(c.type_())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&stmt, &refs).map_err(|e| self.conn.classify(e, "querying"))?;
        for r in &rows {
            sink(decode_row(r, &maps)?)?;
        }
        Ok(())
    }

    /// Each column's type as `"schema"."name"` (arrays by their internal name, e.g. `_int4`):
    /// quoted, so the grammar adds no default modifier (bare `bit` would mean `bit(1)`), and
    /// without the column's modifier, so assignment applies it exactly as for a bound parameter.
    fn batch_types(&mut self, table: &str, columns: &[String]) -> Result<Option<Vec<String>>> {
        let t = resolve_table_in(&mut self.tx, &self.conn, table)?;
        let rows = self
            .tx
            .query(
                "SELECT a.attname::text, n.nspname::text, y.typname::text FROM pg_attribute a \
                 JOIN pg_type y ON y.oid = a.atttypid JOIN pg_namespace n ON n.oid = y.typnamespace \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&t.oid],
            )
            .map_err(|e| self.conn.classify(e, "reading column types"))?;
        let types: std::collections::HashMap<String, String> =
            rows.iter().map(|r| (r.get(0), format!("{}.{}", quote_ident(r.get(1)), quote_ident(r.get(2))))).collect();
        // A batch joins the table to a `VALUES` list of at most 1000 keys: the planner would
        // often pick a hash join, reading the whole table once per batch; key lookups through
        // the index keep a batch's cost independent of the table size. For the rest of this
        // transaction only (it runs nothing but the merge's key lookups, and live's triggers).
        self.tx
            .batch_execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
            .map_err(|e| self.conn.classify(e, "setting up batched writes"))?;
        // A column missing here (changed since the plan): write row by row, which reports it.
        Ok(columns.iter().map(|c| types.get(c).cloned()).collect())
    }

    /// Serial and identity columns: the sequences that depend on a column of the table
    /// (`pg_depend` kinds `a` and `i`, as `pg_get_serial_sequence` finds them).
    fn sequences(&mut self, table: &str) -> Result<Vec<(String, String)>> {
        let t = resolve_table_in(&mut self.tx, &self.conn, table)?;
        let rows = self
            .tx
            .query(
                "SELECT a.attname::text, n.nspname::text, s.relname::text FROM pg_depend d \
                 JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace n ON n.oid = s.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
                 AND d.refobjid = $1 AND d.deptype IN ('a', 'i') ORDER BY a.attnum",
                &[&t.oid],
            )
            .map_err(|e| self.conn.classify(e, "reading the table's sequences"))?;
        Ok(rows.iter().map(|r| (r.get(0), format!("{}.{}", quote_ident(r.get(1)), quote_ident(r.get(2))))).collect())
    }

    /// Reads the sequence's state and, if its next value would not lie past `top`, sets it to
    /// `top` (`setval`, so the next value is `top` + increment). Descending sequences are left
    /// alone. `setval` takes effect at once for every session and is not undone by a rollback;
    /// between the read and the `setval` another session's `nextval` could slip in, which is why
    /// the write is a single statement that re-checks the state it moves from.
    fn advance_sequence(&mut self, sequence: &str, top: i64) -> Result<Option<i64>> {
        let r = self
            .tx
            .query_one(
                &format!(
                    "SELECT s.last_value, s.is_called, p.seqincrement FROM {sequence} AS s, pg_sequence AS p \
                     WHERE p.seqrelid = $1::text::regclass"
                ),
                &[&sequence],
            )
            .map_err(|e| self.conn.classify(e, "reading a sequence"))?;
        let (last, called, inc): (i64, bool, i64) = (r.get(0), r.get(1), r.get(2));
        let next = if called { last.saturating_add(inc) } else { last };
        if inc <= 0 || next > top {
            return Ok(None);
        }
        let moved = self
            .tx
            .execute(
                &format!(
                    "SELECT setval($1::text::regclass, $2) FROM {sequence} AS s \
                     WHERE CASE WHEN s.is_called THEN s.last_value + $3 ELSE s.last_value END <= $2"
                ),
                &[&sequence, &top, &inc],
            )
            .map_err(|e| self.conn.classify(e, "advancing a sequence"))?;
        Ok((moved > 0).then_some(top))
    }

    /// pg_dump (custom format) of the whole database as this transaction sees it before its first
    /// write: the transaction exports its snapshot and pg_dump reads through it
    /// (`--snapshot`), so the copy is exactly the state the merge starts from.
    fn safety_snapshot(&mut self, dest: &std::path::Path, tables: &[String]) -> Result<()> {
        let id: String = self
            .tx
            .query_one("SELECT pg_export_snapshot()", &[])
            .map_err(|e| self.conn.classify(e, "exporting the snapshot"))?
            .get(0);
        let dir = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let tmp =
            tempfile::Builder::new().prefix(".lastgood-snapshot-").suffix(".tmp").tempfile_in(dir).map_err(|e| {
                crate::error::environment(format!("cannot create a snapshot in `{}`: {e}", dir.display()))
            })?;
        let mut cmd = tools::command("pg_dump", Some(&self.conn))?;
        cmd.args(["-Fc", "--no-password"]).arg(format!("--snapshot={id}")).arg("-f").arg(tmp.path());
        // Only the merged tables: undoing the merge must not roll back other tables' later writes.
        // None named: the whole database (a merge whose triggers run may write anywhere). A
        // partitioned table's rows are its partitions', which `-t` of the parent leaves out.
        for t in tables {
            cmd.arg("-t").arg(dump_pattern(t));
            for p in partitions_of(&mut self.tx, &self.conn, t)? {
                cmd.arg("-t").arg(dump_pattern(&p));
            }
        }
        let out = tools::output(&mut cmd)?;
        if !out.status.success() {
            return Err(crate::error::environment(format!(
                "pg_dump of `{}` for the safety snapshot failed: {}",
                self.conn.describe(),
                tools::stderr_tail(&out, Some(&self.conn), 3)
            ))
            .into());
        }
        tmp.as_file().sync_all().map_err(|e| crate::error::environment(format!("syncing the snapshot: {e}")))?;
        tmp.persist_noclobber(dest).map_err(|e| {
            crate::error::refused(format!("cannot put the safety snapshot at `{}`: {}", dest.display(), e.error))
        })?;
        Ok(())
    }

    fn triggers(&mut self, tables: &[String]) -> Result<Vec<Trigger>> {
        list_triggers(&mut self.tx, &self.conn, tables)
    }

    /// `ALTER TABLE ONLY` on the relation the trigger is defined on (a partition's clone of its
    /// parent's trigger is disabled on that partition): inside this transaction, so other
    /// sessions never see it disabled; it takes a SHARE ROW EXCLUSIVE lock on that relation
    /// until the commit, so other writers of the table wait.
    fn suspend_trigger(&mut self, trigger: &Trigger) -> Result<()> {
        anyhow::ensure!(trigger.kind == TriggerKind::Trigger, "a rule cannot be suspended");
        let sql = format!("ALTER TABLE ONLY {} DISABLE TRIGGER {}", trigger.address, quote_ident(&trigger.name));
        self.tx.batch_execute(&sql).map_err(|e| self.conn.classify(e, "disabling a trigger (--triggers skip)"))
    }

    /// Enables it again in the mode it had (`ENABLE`, `ENABLE ALWAYS`, `ENABLE REPLICA`).
    fn resume_trigger(&mut self, trigger: &Trigger) -> Result<()> {
        let mode = match trigger.enabled {
            TriggerState::Enabled => "ENABLE",
            TriggerState::Always => "ENABLE ALWAYS",
            TriggerState::Replica => "ENABLE REPLICA",
            TriggerState::Disabled => "DISABLE",
        };
        let sql = format!("ALTER TABLE ONLY {} {mode} TRIGGER {}", trigger.address, quote_ident(&trigger.name));
        self.tx.batch_execute(&sql).map_err(|e| self.conn.classify(e, "enabling a trigger again"))
    }

    fn run_deferred(&mut self) -> Result<()> {
        self.tx.batch_execute("SET CONSTRAINTS ALL IMMEDIATE").map_err(|e| self.conn.classify(e, "writing"))
    }

    /// `pg_stat_xact_user_tables`: inserted, updated and deleted rows per table in this
    /// transaction (plus, in PostgreSQL 15, counts of earlier transactions of the session not yet
    /// reported, which cancel out in differences). A partition's rows count under the table
    /// asked about; an inheritance child's under its own name (a table of its own, which writes
    /// to its parent never reach).
    fn row_writes(&mut self, tables: &[String]) -> Result<Option<RowWrites>> {
        let on: bool = self
            .tx
            .query_one("SELECT current_setting('track_counts')::bool", &[])
            .map_err(|e| self.conn.classify(e, "reading track_counts"))?
            .get(0);
        if !on {
            return Ok(None);
        }
        let mut oids = Vec::new();
        for t in tables {
            oids.push(resolve_table_in(&mut self.tx, &self.conn, t)?.oid.to_string());
        }
        let sql = "WITH RECURSIVE w(root, oid) AS ( \
                     SELECT u.ord::int4, u.o FROM unnest($1::text::oid[]) WITH ORDINALITY AS u(o, ord) \
                     UNION SELECT w.root, i.inhrelid FROM pg_inherits i JOIN w ON i.inhparent = w.oid \
                       JOIN pg_class k ON k.oid = i.inhrelid AND k.relispartition) \
                   SELECT (SELECT min(w.root) FROM w WHERE w.oid = s.relid), s.schemaname::text, s.relname::text, \
                     (s.n_tup_ins + s.n_tup_upd + s.n_tup_del)::int8 \
                   FROM pg_stat_xact_user_tables s WHERE s.n_tup_ins + s.n_tup_upd + s.n_tup_del > 0";
        let list = format!("{{{}}}", oids.join(","));
        let rows = self.tx.query(sql, &[&list]).map_err(|e| self.conn.classify(e, "counting written rows"))?;
        let mut out = RowWrites::default();
        for r in rows {
            let (root, n): (Option<i32>, i64) = (r.get(0), r.get(3));
            let name = match root {
                Some(i) => tables[i as usize - 1].clone(),
                None => display_name(r.get(1), r.get(2)),
            };
            *out.by_table.entry(name).or_default() += n as u64;
            out.total += n as u64;
        }
        Ok(Some(out))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let conn = self.conn.clone();
        self.tx.commit().map_err(|e| conn.classify(e, "committing"))
    }
}

/// The user triggers (not the internal ones that check foreign keys) on each of `tables` and on
/// its partitions (not on inheritance children: statements naming a table reach its own rows
/// only, see the module docs, so their triggers never fire), and the rules on it (not a view's `_RETURN`), in
/// table order, then by relation and name. `active`: the state lets it fire in this session
/// (`O` in an origin or local session, `R` in a replica session, `A` always).
fn list_triggers(client: &mut impl postgres::GenericClient, conn: &PgConn, tables: &[String]) -> Result<Vec<Trigger>> {
    const ACTIVE: &str = "CASE WHEN {e} = 'A' THEN true WHEN {e} = 'D' THEN false \
                          WHEN current_setting('session_replication_role') = 'replica' THEN {e} = 'R' ELSE {e} = 'O' END";
    let triggers = format!(
        "WITH RECURSIVE tree(oid) AS (SELECT $1::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid \
           JOIN pg_class k ON k.oid = i.inhrelid AND k.relispartition) \
         SELECT n.nspname::text, c.relname::text, t.tgname::text, t.tgtype::int4, t.tgenabled::text, {}, \
           ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr) ORDER BY a.attnum), \
           pg_get_triggerdef(t.oid) \
         FROM tree JOIN pg_trigger t ON t.tgrelid = tree.oid JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT t.tgisinternal ORDER BY c.oid <> $1, n.nspname, c.relname, t.tgname",
        ACTIVE.replace("{e}", "t.tgenabled")
    );
    let rules = format!(
        "SELECT r.rulename::text, r.ev_type::text, r.ev_enabled::text, {}, r.is_instead, pg_get_ruledef(r.oid) \
         FROM pg_rewrite r WHERE r.ev_class = $1 AND r.rulename <> '_RETURN' ORDER BY r.rulename",
        ACTIVE.replace("{e}", "r.ev_enabled")
    );
    let state = |s: &str| match s {
        "A" => TriggerState::Always,
        "R" => TriggerState::Replica,
        "D" => TriggerState::Disabled,
        _ => TriggerState::Enabled,
    };
    let mut out = Vec::new();
    for table in tables {
        let t = resolve_table_in(client, conn, table)?;
        for r in client.query(&triggers, &[&t.oid]).map_err(|e| conn.classify(e, "reading triggers"))? {
            let (schema, rel, tgtype): (String, String, i32) = (r.get(0), r.get(1), r.get(3));
            let bit = |b: i32| tgtype & b != 0;
            let events = [
                (4, TriggerEvent::Insert),
                (8, TriggerEvent::Delete),
                (16, TriggerEvent::Update),
                (32, TriggerEvent::Truncate),
            ]
            .into_iter()
            .filter(|(b, _)| bit(*b))
            .map(|(_, e)| e)
            .collect();
            let timing = if bit(64) {
                "INSTEAD OF"
            } else if bit(2) {
                "BEFORE"
            } else {
                "AFTER"
            };
            out.push(Trigger {
                table: table.clone(),
                relation: display_name(&schema, &rel),
                address: TableRef { schema, name: rel, oid: 0, partitioned: false }.qualified(),
                name: r.get(2),
                kind: TriggerKind::Trigger,
                timing: timing.to_string(),
                row_level: bit(1),
                events,
                update_of: r.get(6),
                enabled: state(r.get(4)),
                active: r.get(5),
                sql: r.get(7),
            });
        }
        for r in client.query(&rules, &[&t.oid]).map_err(|e| conn.classify(e, "reading rules"))? {
            let event = match r.get::<_, String>(1).as_str() {
                "2" => vec![TriggerEvent::Update],
                "3" => vec![TriggerEvent::Insert],
                "4" => vec![TriggerEvent::Delete],
                _ => continue, // ON SELECT: not set off by writes
            };
            out.push(Trigger {
                table: table.clone(),
                relation: table.clone(),
                address: t.qualified(),
                name: r.get(0),
                kind: TriggerKind::Rule,
                timing: if r.get(4) { "INSTEAD" } else { "ALSO" }.to_string(),
                row_level: false,
                events: event,
                update_of: Vec::new(),
                enabled: state(r.get(2)),
                active: r.get(3),
                sql: r.get(5),
            });
        }
    }
    Ok(out)
}

/// The partitions of `table` (and theirs, all levels) by lastgood's names; none for a table that
/// is not partitioned.
fn partitions_of(client: &mut impl postgres::GenericClient, conn: &PgConn, table: &str) -> Result<Vec<String>> {
    let t = resolve_table_in(client, conn, table)?;
    if !t.partitioned {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_partition_tree($1::oid::regclass) p \
             JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE p.relid <> $1::oid::regclass ORDER BY 1, 2",
            &[&t.oid],
        )
        .map_err(|e| conn.classify(e, "listing partitions"))?;
    Ok(rows.iter().map(|r| display_name(r.get(0), r.get(1))).collect())
}

/// A pg_dump `-t` pattern naming exactly lastgood's table name (`t` in public, `schema.t`
/// otherwise): inside double quotes pattern characters are literal.
fn dump_pattern(table: &str) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", q(schema), q(name)),
        None => format!("public.{}", q(table)),
    }
}

/// Rewrites SQLite-style placeholders (`?`, `?N`) to PostgreSQL's `$N`, leaving quoted strings and
/// identifiers alone. `$N` placeholders pass through.
pub fn to_pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0u32;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    next += 1;
                    next
                } else {
                    let n: u32 = digits.parse().unwrap_or(0);
                    next = next.max(n);
                    n
                };
                out.push_str(&format!("${n}"));
            }
            c => out.push(c),
        }
    }
    out
}

/// Values are sent in text format (the server casts to the column's type), bytea in binary.
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text = match self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Blob(b) if *ty == Type::BYTEA => {
                out.extend_from_slice(b);
                return Ok(IsNull::No);
            }
            Value::Blob(b) => format!("\\x{}", hex::encode(b)),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) if f.is_nan() => "NaN".to_string(),
            Value::Real(f) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
            Value::Real(f) => format!("{f:?}"),
            Value::Text(bytes) => {
                // Text that is not valid UTF-8 (possible from a SQLite side) is refused by the
                // server with an encoding error: an error, never a silent change.
                out.extend_from_slice(bytes);
                return Ok(IsNull::No);
            }
        };
        out.extend_from_slice(text.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self {
            Value::Blob(_) if *ty == Type::BYTEA => Format::Binary,
            _ => Format::Text,
        }
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(to_pg_placeholders("SELECT ? , ?"), "SELECT $1 , $2");
        assert_eq!(to_pg_placeholders("UPDATE t SET a = ?2 WHERE b = ?1"), "UPDATE t SET a = $2 WHERE b = $1");
        assert_eq!(
            to_pg_placeholders("SELECT '?', \"a?\" FROM t WHERE x = ?"),
            "SELECT '?', \"a?\" FROM t WHERE x = $1"
        );
    }

    #[test]
    fn names() {
        assert_eq!(display_name("public", "Order Items"), "Order Items");
        assert_eq!(display_name("sales", "x"), "sales.x");
        let t = TableRef { schema: "public".into(), name: "Order \"Items\"".into(), oid: 1, partitioned: false };
        assert_eq!(t.qualified(), "\"public\".\"Order \"\"Items\"\"\"");
    }
}
