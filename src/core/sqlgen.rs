//! Every SQL statement diff and merge write, in one place, for each engine's dialect.
//! (It lives in the core for now because it builds on `diff`'s types; phase 2 of issue 11 moves the
//! dialects behind the engine registry.)
//!
//! Two forms of each statement: with bound parameters (`?`, what merge executes on live) and with
//! literals (what `diff --sql` prints and what the merge plan shows). Identifiers are always
//! quoted with `quote_ident`; the only dialect differences are how a key is matched (SQLite keys
//! may be NULL, so `IS`; PostgreSQL keys cannot, so `=`, which its indexes serve), how a value is
//! matched exactly in a table without a key (SQLite compares across storage classes, so the
//! storage class is checked too), how one copy of a duplicated row is addressed (SQLite's rowid,
//! through whichever of `rowid`, `_rowid_`, `oid` no column of the table shadows, vs `ctid`, with
//! the partition's `tableoid` in a partitioned table), and BLOB and special REAL literals
//! (PostgreSQL: `'NaN'::float8`, `'Infinity'::float8`, `'-Infinity'::float8`, `'-0'::float8`;
//! SQLite has no NaN). PostgreSQL statements name a table's own rows (`ONLY`), a partitioned
//! table's through its partitions (`TableSql::rows`).
//!
//! Statements follow live's declaration of each column (`TableSql::fill`, `read_as`): a column
//! the database generates is never written (left out of INSERTs, never SET: it follows from
//! the others), an INSERT that writes a PostgreSQL identity ALWAYS column says `OVERRIDING SYSTEM
//! VALUE`, and an update of one is refused (PostgreSQL allows only DEFAULT there). Literals read
//! back exactly as the value scanned: PostgreSQL booleans (scanned as 0/1) as `false`/`true`,
//! text-form types as plain string literals (typed by the column they meet), TEXT with NUL or
//! invalid UTF-8 as its bytes, SQLite REALs in a form every SQLite reads bit for bit
//! (`sqlite_real`).

use crate::core::diff::{Change, ChangeKind, KeyMode, TableSpec};
use crate::engine::{EngineKind, Fill, ReadAs, quote_ident};
use crate::value::Value;

/// The SQL dialect of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of(engine: EngineKind) -> Dialect {
        match engine {
            EngineKind::Sqlite => Dialect::Sqlite,
            EngineKind::Postgres => Dialect::Postgres,
        }
    }

    /// A literal the engine reads back as exactly this value, for a column read natively.
    pub fn literal(self, v: &Value) -> String {
        self.literal_as(v, ReadAs::Native)
    }

    /// A literal the engine reads back as exactly this value in a column read as `read_as`:
    /// PostgreSQL booleans (read as 0/1) are written `false`/`true`; values of text-form types are
    /// plain string literals, which take the column's type from where they stand.
    pub fn literal_as(self, v: &Value, read_as: ReadAs) -> String {
        match (self, v) {
            (Dialect::Postgres, Value::Integer(i)) if read_as == ReadAs::Boolean => {
                if *i == 0 { "false" } else { "true" }.to_string()
            }
            (Dialect::Sqlite, Value::Real(f)) => sqlite_real(*f),
            (_, Value::Text(b)) => self.text_literal(b),
            (Dialect::Postgres, Value::Blob(b)) => format!("'\\x{}'::bytea", hex::encode(b)),
            // A bare `-0.0` is read as numeric, which has no negative zero; NaN has no literal.
            (Dialect::Postgres, Value::Real(f)) if f.is_nan() => "'NaN'::float8".to_string(),
            (Dialect::Postgres, Value::Real(f)) if f.is_infinite() => {
                if *f > 0.0 { "'Infinity'::float8" } else { "'-Infinity'::float8" }.to_string()
            }
            (Dialect::Postgres, Value::Real(f)) if *f == 0.0 && f.is_sign_negative() => "'-0'::float8".to_string(),
            _ => v.sql_literal(),
        }
    }

    /// TEXT as a literal carrying its exact bytes. Valid UTF-8 without NUL is quoted as it is;
    /// anything else is spelled as bytes: SQLite `CAST(X'…' AS TEXT)` (a raw NUL would end the
    /// statement's text in the `sqlite3` shell), PostgreSQL `E'\\x..'` escapes (which a UTF-8
    /// database refuses with an error rather than storing other bytes; its text holds no NUL).
    fn text_literal(self, b: &[u8]) -> String {
        match std::str::from_utf8(b) {
            Ok(s) if !s.contains('\0') => format!("'{}'", s.replace('\'', "''")),
            _ => match self {
                Dialect::Sqlite => format!("CAST(X'{}' AS TEXT)", hex::encode_upper(b)),
                Dialect::Postgres => format!("E'{}'", b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>()),
            },
        }
    }

    /// Every foreign key of the database, one row per column pair: child table, constraint id,
    /// position, parent table, child column, parent column, ON UPDATE and ON DELETE actions,
    /// deferrable as 0/1 (see `engine::ForeignKey::from_rows`). Tables are named as the engine names them (in
    /// PostgreSQL `schema.name` outside `public`); a SQLite key that names no parent columns
    /// refers to the parent's primary key.
    pub fn foreign_keys_query(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT m.name, f.id, f.seq, f.\"table\", f.\"from\", \
                 coalesce(f.\"to\", (SELECT p.name FROM pragma_table_info(f.\"table\") AS p WHERE p.pk = f.seq + 1)), \
                 f.on_update, f.on_delete, 1 \
                 FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f \
                 WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq"
            }
            Dialect::Postgres => {
                "SELECT CASE WHEN cn.nspname = 'public' THEN cc.relname::text ELSE cn.nspname || '.' || cc.relname END, \
                 con.oid::int8, k.i, \
                 CASE WHEN pn.nspname = 'public' THEN pc.relname::text ELSE pn.nspname || '.' || pc.relname END, \
                 ca.attname::text, pa.attname::text, con.confupdtype::text, con.confdeltype::text, \
                 CASE WHEN con.condeferrable THEN 1 ELSE 0 END \
                 FROM pg_constraint AS con \
                 JOIN pg_class AS cc ON cc.oid = con.conrelid JOIN pg_namespace AS cn ON cn.oid = cc.relnamespace \
                 JOIN pg_class AS pc ON pc.oid = con.confrelid JOIN pg_namespace AS pn ON pn.oid = pc.relnamespace \
                 CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(c, p, i) \
                 JOIN pg_attribute AS ca ON ca.attrelid = con.conrelid AND ca.attnum = k.c \
                 JOIN pg_attribute AS pa ON pa.attrelid = con.confrelid AND pa.attnum = k.p \
                 WHERE con.contype = 'f' ORDER BY 1, 2, 3"
            }
        }
    }

    /// `SELECT count(*) FROM child WHERE c1 = ? AND …`: the rows of `child` whose `columns` equal
    /// the parameters (the rows a foreign key ties to one parent row). PostgreSQL counts `ONLY`
    /// the child's own rows: a foreign key is not inherited by inheritance children, and one on a
    /// partitioned table is cloned onto each partition, which `foreign_keys_query` lists too.
    pub fn count_referencing(self, child: &str, columns: &[String]) -> String {
        let t = TableSql {
            dialect: self,
            table: child.to_string(),
            columns: Vec::new(),
            key_len: 0,
            rowid: None,
            fill: Vec::new(),
            read_as: Vec::new(),
            partitioned: false,
        };
        let cond: Vec<String> = columns.iter().map(|c| format!("{} = ?", quote_ident(c))).collect();
        format!("SELECT count(*) FROM {} WHERE {}", t.rows(), cond.join(" AND "))
    }

    /// Matches a key column against a parameter.
    fn key_eq_param(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{} IS ?", quote_ident(col)),
            Dialect::Postgres => format!("{} = ?", quote_ident(col)),
        }
    }

    /// Matches a key column against a literal.
    fn key_eq_literal(self, col: &str, v: &Value, read_as: ReadAs) -> String {
        match v {
            Value::Null => format!("{} IS NULL", quote_ident(col)),
            _ => format!("{} = {}", quote_ident(col), self.literal_as(v, read_as)),
        }
    }

    /// Matches a column exactly (storage class included) against `rhs` (a literal or `?`). A
    /// PostgreSQL text-form column is matched by that text form, exactly what was read (some
    /// such types, json among them, have no equality at all).
    fn exact_eq(self, col: &str, rhs: &str, v: &Value, read_as: ReadAs) -> String {
        let q = quote_ident(col);
        match (self, v) {
            (_, Value::Null) => format!("{q} IS NULL"),
            (Dialect::Sqlite, _) => format!("({q} IS {rhs} AND typeof({q}) = '{}')", v.type_name()),
            (Dialect::Postgres, _) if read_as == ReadAs::TextForm => format!("{q}::text IS NOT DISTINCT FROM {rhs}"),
            (Dialect::Postgres, _) => format!("{q} IS NOT DISTINCT FROM {rhs}"),
        }
    }
}

/// The statements for one table: its name and the columns involved, keys first.
#[derive(Debug, Clone)]
pub struct TableSql {
    pub dialect: Dialect,
    pub table: String,
    /// All columns read, key columns first.
    pub columns: Vec<String>,
    /// How many of `columns` form the key (0 for a table compared as a multiset).
    pub key_len: usize,
    /// SQLite: the name that reaches the rowid (`TableSpec::rowid`); `None` when columns shadow
    /// every alias. Unused for PostgreSQL (`ctid`).
    pub rowid: Option<String>,
    /// How live fills each of `columns` (empty: every column is written). Generated columns
    /// are left out of every INSERT and UPDATE; identity `ALWAYS` columns make an INSERT say
    /// `OVERRIDING SYSTEM VALUE`.
    pub fill: Vec<Fill>,
    /// How each of `columns` is read (empty: natively), which types its literals.
    pub read_as: Vec<ReadAs>,
    /// PostgreSQL: live's table is partitioned (`TableSpec::partitioned`); see `rows`.
    pub partitioned: bool,
}

impl TableSql {
    /// The statements for one table of a diff.
    pub fn for_spec(dialect: Dialect, spec: &TableSpec) -> TableSql {
        TableSql {
            dialect,
            table: spec.table.clone(),
            columns: spec.columns.clone(),
            key_len: spec.key_len,
            rowid: spec.rowid.clone(),
            fill: spec.live_columns.iter().map(|c| c.fill).collect(),
            read_as: spec.live_columns.iter().map(|c| c.read_as).collect(),
            partitioned: spec.partitioned,
        }
    }

    fn fill_of(&self, i: usize) -> Fill {
        self.fill.get(i).copied().unwrap_or_default()
    }

    fn read_as_of(&self, i: usize) -> ReadAs {
        self.read_as.get(i).copied().unwrap_or_default()
    }

    /// Column `i`'s value `v` as a literal of its type.
    fn lit(&self, i: usize, v: &Value) -> String {
        self.dialect.literal_as(v, self.read_as_of(i))
    }

    /// The columns an INSERT writes: all but those live generates.
    fn inserted_columns(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| self.fill_of(i) != Fill::Generated).collect()
    }

    /// The values of `row` (all of `columns`) an INSERT writes, in the order of its column list.
    pub fn insert_values(&self, row: &[Value]) -> Vec<Value> {
        self.inserted_columns().into_iter().map(|i| row[i].clone()).collect()
    }

    /// `INSERT INTO t (cols)` and, where a PostgreSQL identity `ALWAYS` column is written,
    /// `OVERRIDING SYSTEM VALUE` (without it PostgreSQL refuses any value there).
    fn insert_head(&self) -> String {
        let cols = self.inserted_columns();
        let overriding =
            self.dialect == Dialect::Postgres && cols.iter().any(|&i| self.fill_of(i) == Fill::IdentityAlways);
        format!(
            "INSERT INTO {} ({}){}",
            self.t(),
            self.col_list(&cols),
            if overriding { " OVERRIDING SYSTEM VALUE" } else { "" }
        )
    }

    /// The columns an update of `changed` (indexes into `columns`) writes: the changed columns
    /// but those live generates (which follow from the others). Errors: `BadInput` when one is a
    /// PostgreSQL identity `ALWAYS` column, which an UPDATE can only set to DEFAULT.
    pub fn update_set(&self, changed: &[usize]) -> anyhow::Result<Vec<usize>> {
        if let Some(&i) = changed.iter().find(|&&i| self.fill_of(i) == Fill::IdentityAlways) {
            return Err(crate::error::bad_input(format!(
                "column `{}` of `{}` differs, and it is GENERATED ALWAYS AS IDENTITY: PostgreSQL lets an UPDATE set it only to DEFAULT, so its value cannot be restored",
                self.columns[i], self.table
            ))
            .hint("leave the column out with --columns, or the table with --tables")
            .into());
        }
        Ok(changed.iter().copied().filter(|&i| self.fill_of(i) != Fill::Generated).collect())
    }

    /// How one row is addressed: SQLite's rowid under a name no column shadows, PostgreSQL's
    /// `ctid` — with the partition's `tableoid` in a partitioned table, where each partition has
    /// its own `ctid`s (`(0,1)` is in every partition), as the text `tableoid:ctid`. Errors:
    /// `BadInput` when columns shadow every name of the rowid.
    fn row_address(&self) -> anyhow::Result<String> {
        match (self.dialect, &self.rowid) {
            (Dialect::Postgres, _) if self.partitioned => Ok("tableoid::text || ':' || ctid::text".to_string()),
            (Dialect::Postgres, _) => Ok("ctid".to_string()),
            (Dialect::Sqlite, Some(name)) => Ok(quote_ident(name)),
            (Dialect::Sqlite, None) => Err(crate::error::bad_input(format!(
                "table `{}` has columns named rowid, _rowid_ and oid, so SQLite's rowid is unreachable and single copies of its rows cannot be removed",
                self.table
            ))
            .hint("leave the table out with --tables, or rename one of those columns")
            .into()),
        }
    }

    /// The table, quoted. PostgreSQL tables outside `public` are named `schema.table` by the
    /// engine (see `engine::postgres::display_name`) and quoted as `"schema"."table"`.
    fn t(&self) -> String {
        match (self.dialect, self.table.split_once('.')) {
            (Dialect::Postgres, Some((schema, name))) => format!("{}.{}", quote_ident(schema), quote_ident(name)),
            _ => quote_ident(&self.table),
        }
    }

    /// The table's own rows as SELECT, UPDATE and DELETE name them: PostgreSQL `ONLY "t"` (an
    /// inheritance parent's statements would also reach its children, which are tables of their
    /// own), a partitioned table without `ONLY` (its rows are its partitions'; see
    /// `engine::postgres`). An INSERT names `t`: it never reaches another table's rows.
    fn rows(&self) -> String {
        match self.dialect {
            Dialect::Postgres if self.partitioned => self.t(),
            Dialect::Postgres => format!("ONLY {}", self.t()),
            Dialect::Sqlite => self.t(),
        }
    }

    fn key_where_params(&self) -> String {
        let parts: Vec<String> = self.columns[..self.key_len].iter().map(|c| self.dialect.key_eq_param(c)).collect();
        all_of(&parts)
    }

    fn key_where_literals(&self, row: &[Value]) -> String {
        let parts: Vec<String> = (0..self.key_len)
            .map(|i| self.dialect.key_eq_literal(&self.columns[i], &row[i], self.read_as_of(i)))
            .collect();
        all_of(&parts)
    }

    fn col_list(&self, idx: &[usize]) -> String {
        idx.iter().map(|&i| quote_ident(&self.columns[i])).collect::<Vec<_>>().join(", ")
    }

    /// `SELECT <cols> FROM t WHERE <key> = ?…` (parameters: the key values).
    pub fn select_by_key(&self, cols: &[usize]) -> String {
        let list = if cols.is_empty() { "1".to_string() } else { self.col_list(cols) };
        format!("SELECT {list} FROM {} WHERE {}", self.rows(), self.key_where_params())
    }

    /// `UPDATE t SET c = ?… WHERE <key>` (parameters: the new values, then the key values).
    pub fn update(&self, set: &[usize]) -> String {
        let sets: Vec<String> = set.iter().map(|&i| format!("{} = ?", quote_ident(&self.columns[i]))).collect();
        format!("UPDATE {} SET {} WHERE {}", self.rows(), sets.join(", "), self.key_where_params())
    }

    /// `INSERT INTO t (written columns) VALUES (?…)` (parameters: `insert_values`).
    pub fn insert(&self) -> String {
        let marks = vec!["?"; self.inserted_columns().len()].join(", ");
        format!("{} VALUES ({marks})", self.insert_head())
    }

    /// `DELETE FROM t WHERE <key>` (parameters: the key values).
    pub fn delete(&self) -> String {
        format!("DELETE FROM {} WHERE {}", self.rows(), self.key_where_params())
    }

    fn exact_row_match(&self, row: &[Value], literals: bool) -> String {
        let parts: Vec<String> = (0..self.columns.len())
            .map(|i| {
                let v = &row[i];
                let rhs = match (literals, self.read_as_of(i)) {
                    // Compared as its text form (see `exact_eq`): a plain string literal.
                    (true, ReadAs::TextForm) => self.dialect.literal(v),
                    (true, _) => self.lit(i, v),
                    (false, _) => "?".to_string(),
                };
                self.dialect.exact_eq(&self.columns[i], &rhs, v, self.read_as_of(i))
            })
            .collect();
        if parts.is_empty() { "1 = 1".to_string() } else { all_of(&parts) }
    }

    /// Parameters for the exact-match statements: the non-NULL values of `row` (NULLs are
    /// matched with `IS NULL` in the text itself).
    pub fn exact_params(row: &[Value]) -> Vec<Value> {
        row.iter().filter(|v| !matches!(v, Value::Null)).cloned().collect()
    }

    /// `SELECT <row address>, <all columns> FROM t WHERE <every column matches>` (parameters:
    /// `exact_params`): the copies of `row` and rows SQL cannot tell from it (`-0.0` matches
    /// `0.0`), which the caller sorts out by exact comparison.
    pub fn select_copies(&self, row: &[Value]) -> anyhow::Result<String> {
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let a = self.row_address()?;
        Ok(format!(
            "SELECT {a}, {} FROM {} WHERE {}",
            self.col_list(&all),
            self.rows(),
            self.exact_row_match(row, false)
        ))
    }

    /// Deletes the row at one address (parameter: the address `select_copies` returned).
    pub fn delete_at(&self) -> anyhow::Result<String> {
        if self.dialect == Dialect::Postgres && self.partitioned {
            // Split apart again, so that each partition is searched by ctid (a TID scan).
            return Ok(format!(
                "DELETE FROM {} WHERE tableoid = split_part(?1, ':', 1)::oid AND ctid = split_part(?1, ':', 2)::tid",
                self.rows()
            ));
        }
        Ok(format!("DELETE FROM {} WHERE {} = ?", self.rows(), self.row_address()?))
    }

    // Batched forms (PostgreSQL): many rows per statement. Values are listed in a `VALUES` table
    // `lastgood_v`, each parameter cast to its column's type (`types`, by column index: a type
    // name without a modifier, so the column's own modifier still applies on assignment, exactly
    // as for a bound parameter); keys are matched with `=`, which the key's index serves.

    /// `(?::type, …), …` for `rows` rows of the columns `idx`, each row led by its ordinal when
    /// `ordinal` (a literal: the batch's own numbering, not a value).
    fn values_rows(idx: &[usize], types: &[String], rows: usize, ordinal: bool) -> String {
        let marks: Vec<String> = idx.iter().map(|&i| format!("?::{}", types[i])).collect();
        let marks = marks.join(", ");
        (0..rows)
            .map(|r| if ordinal { format!("({r}, {marks})") } else { format!("({marks})") })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `lastgood_t.k1 = lastgood_v.k1 AND …`.
    fn key_join(&self) -> String {
        (0..self.key_len)
            .map(|i| format!("lastgood_t.{} = lastgood_v.k{i}", quote_ident(&self.columns[i])))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn key_aliases(&self) -> Vec<String> {
        (0..self.key_len).map(|i| format!("k{i}")).collect()
    }

    /// Reads `rows` rows by key and locks them: `SELECT <ordinal>, <cols> FROM t JOIN (VALUES …)
    /// ON <key> FOR UPDATE` (parameters: the key values, row after row). Each result row starts
    /// with the ordinal of the key it matched (0-based, as an integer).
    pub fn select_batch(&self, cols: &[usize], types: &[String], rows: usize) -> String {
        let keys: Vec<usize> = (0..self.key_len).collect();
        let list: String = cols.iter().map(|&i| format!(", lastgood_t.{}", quote_ident(&self.columns[i]))).collect();
        format!(
            "SELECT lastgood_v.lastgood_i{list} FROM {} AS lastgood_t JOIN (VALUES {}) AS lastgood_v(lastgood_i, {}) ON {} FOR UPDATE OF lastgood_t",
            self.rows(),
            Self::values_rows(&keys, types, rows, true),
            self.key_aliases().join(", "),
            self.key_join()
        )
    }

    /// `UPDATE t SET c = lastgood_v.s… FROM (VALUES …) WHERE <key>` (parameters, row after row:
    /// the key values, then the values of `set`).
    pub fn update_batch(&self, set: &[usize], types: &[String], rows: usize) -> String {
        let idx: Vec<usize> = (0..self.key_len).chain(set.iter().copied()).collect();
        let sets: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(j, &i)| format!("{} = lastgood_v.s{j}", quote_ident(&self.columns[i])))
            .collect();
        let mut aliases = self.key_aliases();
        aliases.extend((0..set.len()).map(|j| format!("s{j}")));
        format!(
            "UPDATE {} AS lastgood_t SET {} FROM (VALUES {}) AS lastgood_v({}) WHERE {}",
            self.rows(),
            sets.join(", "),
            Self::values_rows(&idx, types, rows, false),
            aliases.join(", "),
            self.key_join()
        )
    }

    /// `INSERT INTO t (written columns) VALUES (?…), …` for `rows` rows (parameters: each row's
    /// `insert_values`; the target columns type them, as in `insert`).
    pub fn insert_batch(&self, rows: usize) -> String {
        let one = format!("({})", vec!["?"; self.inserted_columns().len()].join(", "));
        format!("{} VALUES {}", self.insert_head(), vec![one; rows].join(", "))
    }

    /// `DELETE FROM t USING (VALUES …) WHERE <key>` (parameters: the key values, row after row).
    pub fn delete_batch(&self, types: &[String], rows: usize) -> String {
        let keys: Vec<usize> = (0..self.key_len).collect();
        format!(
            "DELETE FROM {} AS lastgood_t USING (VALUES {}) AS lastgood_v({}) WHERE {}",
            self.rows(),
            Self::values_rows(&keys, types, rows, false),
            self.key_aliases().join(", "),
            self.key_join()
        )
    }

    // Literal forms, for `diff --sql` and the merge plan.

    /// Restores the values of `set` (see `update_set`) from `row` (key first) into live.
    pub fn update_literal(&self, set: &[usize], row: &[Value]) -> String {
        let sets: Vec<String> =
            set.iter().map(|&i| format!("{} = {}", quote_ident(&self.columns[i]), self.lit(i, &row[i]))).collect();
        format!("UPDATE {} SET {} WHERE {};", self.rows(), sets.join(", "), self.key_where_literals(row))
    }

    /// Inserts `row` (`copies` times, in one statement).
    pub fn insert_literal(&self, row: &[Value], copies: u64) -> String {
        let vals: Vec<String> = self.inserted_columns().into_iter().map(|i| self.lit(i, &row[i])).collect();
        let one = format!("({})", vals.join(", "));
        let many = vec![one; copies.max(1) as usize].join(", ");
        format!("{} VALUES {many};", self.insert_head())
    }

    /// Deletes the row with `row`'s key.
    pub fn delete_literal(&self, row: &[Value]) -> String {
        format!("DELETE FROM {} WHERE {};", self.rows(), self.key_where_literals(row))
    }

    /// Deletes `copies` copies of `row` from a table without a key. (SQL cannot tell `-0.0` from
    /// `0.0`, so where both occur in otherwise equal rows the patch may remove the other one.)
    pub fn delete_copies_literal(&self, row: &[Value], copies: u64) -> anyhow::Result<String> {
        // A partitioned table's rows by (partition, ctid): a bare ctid is in every partition.
        let (a, picked) = if self.dialect == Dialect::Postgres && self.partitioned {
            ("(tableoid, ctid)".to_string(), "tableoid, ctid".to_string())
        } else {
            (self.row_address()?, self.row_address()?)
        };
        Ok(format!(
            "DELETE FROM {t} WHERE {a} IN (SELECT {picked} FROM {t} WHERE {} LIMIT {copies});",
            self.exact_row_match(row, true),
            t = self.rows()
        ))
    }
}

/// A REAL as SQLite text that every SQLite reads back bit for bit. SQLite's own text-to-REAL
/// conversion is not always correctly rounded (the 3.40 shell reads about one literal in a
/// thousand one bit off, most below 1e-290: it scales by powers of ten in `long double` and
/// rounds twice). A decimal literal is kept where it is exactly the value with a power of ten
/// of at most 22 (so every step of any such conversion is exact: `1.5`, `-0.25`, `1e20`); any
/// other value is written as its exact binary form, an integer scaled by powers of two, each
/// step exact in IEEE arithmetic: `(CAST(3602879701896397 AS REAL) / 36028797018963968)` for
/// 0.1. NaN has no SQLite form (SQLite stores it as NULL), ±∞ is `±9e999`.
pub fn sqlite_real(f: f64) -> String {
    if f.is_nan() || f.is_infinite() || f == 0.0 {
        return Value::Real(f).sql_literal();
    }
    let short = Value::Real(f).sql_literal();
    let (n, x) = binary_parts(f.abs());
    if decimal_is_exact(&short, n, x) {
        return short;
    }
    const STEP: u32 = 62;
    let sign = if f < 0.0 { "-" } else { "" };
    // An integer below 2^63: one integer literal, exact, converted exactly.
    if (0..64).contains(&x) && (n as u128) << x < 1u128 << 63 {
        return format!("CAST({sign}{} AS REAL)", (n as u128) << x);
    }
    let (op, mut left) = if x >= 0 { ("*", x as u32) } else { ("/", x.unsigned_abs()) };
    let mut out = format!("(CAST({sign}{n} AS REAL)");
    while left > 0 {
        let k = left.min(STEP);
        out.push_str(&format!(" {op} {}", 1u64 << k));
        left -= k;
    }
    out.push(')');
    out
}

/// `f` (finite, positive) as `n × 2^x` with `n` odd.
fn binary_parts(f: f64) -> (u64, i32) {
    let bits = f.to_bits();
    let (exp, frac) = ((bits >> 52) as i32, bits & ((1 << 52) - 1));
    let (mut n, mut x) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    let shift = n.trailing_zeros();
    n >>= shift;
    x += shift as i32;
    (n, x)
}

/// Whether the decimal literal `lit` (Rust's shortest form, e.g. `-1.25e-7`) is exactly the
/// value `n × 2^x`, with a power of ten of at most 22 either way.
fn decimal_is_exact(lit: &str, n: u64, x: i32) -> bool {
    let lit = lit.trim_start_matches('-');
    let (mantissa, exp) = match lit.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(i32::MAX)),
        None => (lit, 0),
    };
    let frac_digits = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let Ok(s) = mantissa.replace('.', "").parse::<u128>() else { return false };
    let d = exp.saturating_sub(frac_digits);
    if !(-22..=22).contains(&d) {
        return false;
    }
    let k = d.unsigned_abs();
    // d >= 0: s × 10^d = n × 2^x. d < 0: s = n × 5^k × 2^(x + k), as 10^k = 5^k × 2^k.
    let (lhs, rhs) = if d >= 0 {
        (s.checked_mul(10u128.pow(k)), (0..64).contains(&x).then(|| (n as u128) << x))
    } else {
        let e = x + k as i32;
        (Some(s), (0..40).contains(&e).then(|| (n as u128).checked_mul(5u128.pow(k))?.checked_mul(1 << e)).flatten())
    };
    matches!((lhs, rhs), (Some(a), Some(b)) if a == b)
}

/// Checks that an operator's `--where` condition is one self-contained expression, so that it
/// cannot reach outside the parentheses it is put in: parentheses balance and never close more
/// than they opened, and there is no `;` and no comment outside string literals and quoted
/// identifiers. Errors: `BadInput` saying what was found.
pub fn check_self_contained(expr: &str) -> anyhow::Result<()> {
    let refuse = |what: &str| -> anyhow::Result<()> {
        Err(crate::error::bad_input(format!("--where `{expr}` is not one SQL condition: {what}"))
            .hint("write one SQL boolean expression over the table's columns, e.g. --where \"id > 100\"")
            .into())
    };
    let mut depth = 0usize;
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                loop {
                    match chars.next() {
                        None => return refuse("a quote is not closed"),
                        Some(x) if x == close && c != '[' && chars.peek() == Some(&close) => {
                            chars.next();
                        }
                        Some(x) if x == close => break,
                        Some(_) => {}
                    }
                }
            }
            '(' => depth += 1,
            ')' if depth == 0 => return refuse("a `)` closes more than it opened"),
            ')' => depth -= 1,
            ';' => return refuse("`;` (one expression, not statements)"),
            '-' if chars.peek() == Some(&'-') => return refuse("a `--` comment"),
            '/' if chars.peek() == Some(&'*') => return refuse("a `/*` comment"),
            _ => {}
        }
    }
    if depth > 0 {
        return refuse("a `(` is not closed");
    }
    Ok(())
}

/// The statement that undoes `c` in live (turns live's row back into scratch's). Errors:
/// `BadInput` for copies of a row to remove where nothing reaches the rowid.
pub fn undo_statement(t: &TableSql, spec: &TableSpec, c: &Change) -> anyhow::Result<String> {
    Ok(match (&c.kind, spec.mode) {
        (ChangeKind::Updated { columns }, _) => {
            let changed: Vec<usize> =
                columns.iter().map(|n| spec.columns.iter().position(|x| x == n).expect("column")).collect();
            let set = t.update_set(&changed)?;
            if set.is_empty() {
                return Ok(generated_only_comment(spec, c, columns));
            }
            t.update_literal(&set, c.scratch_row.as_ref().expect("row"))
        }
        (ChangeKind::Deleted, KeyMode::Multiset) => t.insert_literal(&c.key, c.copies()),
        (ChangeKind::Inserted, KeyMode::Multiset) => t.delete_copies_literal(&c.key, c.copies())?,
        (ChangeKind::Deleted, _) => t.insert_literal(c.scratch_row.as_ref().expect("row"), 1),
        (ChangeKind::Inserted, _) => t.delete_literal(&c.key),
    })
}

/// `a AND b AND …`; past 64 terms parenthesized as a balanced tree. SQLite refuses an expression
/// deeper than 1000 (`SQLITE_MAX_EXPR_DEPTH`): a chain of n ANDs is n deep, so matching a whole row
/// of a wide table without a key (up to 2000 columns) would fail, while the tree is log2 n deep.
fn all_of(parts: &[String]) -> String {
    if parts.len() <= 64 {
        return parts.join(" AND ");
    }
    let mid = parts.len() / 2;
    format!("({}) AND ({})", all_of(&parts[..mid]), all_of(&parts[mid..]))
}

/// A comment line for an update in which only columns the database generates differ (live
/// computes them otherwise, e.g. with another expression): no statement can write them. Line
/// breaks in names and values are blanked, so nothing after `--` escapes the comment.
fn generated_only_comment(spec: &TableSpec, c: &Change, columns: &[String]) -> String {
    let key: Vec<String> = spec.columns.iter().zip(&c.key).map(|(n, v)| format!("{n}={}", v.display())).collect();
    let text = format!(
        "-- `{}` ({}): only generated columns differ ({}); the database computes them, so no statement writes them",
        spec.table,
        key.join(", "),
        columns.join(", ")
    );
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> TableSql {
        TableSql {
            dialect: Dialect::Sqlite,
            table: "or\"ders".into(),
            columns: vec!["id".into(), "note".into()],
            key_len: 1,
            rowid: Some("rowid".into()),
            fill: Vec::new(),
            read_as: Vec::new(),
            partitioned: false,
        }
    }

    #[test]
    fn statements_quote_identifiers_and_bind_values() {
        let t = orders();
        assert_eq!(t.update(&[1]), "UPDATE \"or\"\"ders\" SET \"note\" = ? WHERE \"id\" IS ?");
        assert_eq!(t.insert(), "INSERT INTO \"or\"\"ders\" (\"id\", \"note\") VALUES (?, ?)");
        assert_eq!(
            t.update_literal(&[1], &[Value::Integer(7), Value::Text("it's".into())]),
            "UPDATE \"or\"\"ders\" SET \"note\" = 'it''s' WHERE \"id\" = 7;"
        );
    }

    #[test]
    fn batched_statements_cast_each_value_and_match_keys() {
        let t = TableSql { dialect: Dialect::Postgres, ..orders() };
        let types = ["\"pg_catalog\".\"int4\"".to_string(), "\"pg_catalog\".\"text\"".to_string()];
        assert_eq!(
            t.update_batch(&[1], &types, 2),
            "UPDATE ONLY \"or\"\"ders\" AS lastgood_t SET \"note\" = lastgood_v.s0 FROM (VALUES (?::\"pg_catalog\".\"int4\", ?::\"pg_catalog\".\"text\"), (?::\"pg_catalog\".\"int4\", ?::\"pg_catalog\".\"text\")) AS lastgood_v(k0, s0) WHERE lastgood_t.\"id\" = lastgood_v.k0"
        );
        assert_eq!(
            t.select_batch(&[], &types, 1),
            "SELECT lastgood_v.lastgood_i FROM ONLY \"or\"\"ders\" AS lastgood_t JOIN (VALUES (0, ?::\"pg_catalog\".\"int4\")) AS lastgood_v(lastgood_i, k0) ON lastgood_t.\"id\" = lastgood_v.k0 FOR UPDATE OF lastgood_t"
        );
        assert_eq!(t.insert_batch(2), "INSERT INTO \"or\"\"ders\" (\"id\", \"note\") VALUES (?, ?), (?, ?)");
    }

    /// PostgreSQL statements reach a table's own rows only (`ONLY`: an inheritance parent's
    /// statements would reach its children's rows too), a partitioned table's through its
    /// partitions (no `ONLY`, which would reach no row at all); an INSERT never needs it.
    #[test]
    fn postgres_statements_name_only_the_tables_own_rows_unless_it_is_partitioned() {
        let t = TableSql { dialect: Dialect::Postgres, ..orders() };
        let row = [Value::Integer(7), Value::Text("x".into())];
        assert_eq!(t.update(&[1]), "UPDATE ONLY \"or\"\"ders\" SET \"note\" = ? WHERE \"id\" = ?");
        assert_eq!(t.delete(), "DELETE FROM ONLY \"or\"\"ders\" WHERE \"id\" = ?");
        assert_eq!(t.select_by_key(&[1]), "SELECT \"note\" FROM ONLY \"or\"\"ders\" WHERE \"id\" = ?");
        assert_eq!(t.delete_literal(&row), "DELETE FROM ONLY \"or\"\"ders\" WHERE \"id\" = 7;");
        assert!(t.insert().starts_with("INSERT INTO \"or\"\"ders\" ("), "{}", t.insert());
        let keyless = TableSql { key_len: 0, ..t.clone() };
        assert!(keyless.delete_at().unwrap().starts_with("DELETE FROM ONLY \"or\"\"ders\" WHERE ctid"));
        let copies = keyless.delete_copies_literal(&row, 1).unwrap();
        assert_eq!(copies.matches("FROM ONLY \"or\"\"ders\"").count(), 2, "{copies}");
        let parted = TableSql { partitioned: true, ..t.clone() };
        assert_eq!(parted.delete(), "DELETE FROM \"or\"\"ders\" WHERE \"id\" = ?");
        // Each partition has its own ctids: a row is addressed by partition and ctid.
        let parted_keyless = TableSql { key_len: 0, ..parted.clone() };
        assert!(
            parted_keyless.select_copies(&row).unwrap().starts_with("SELECT tableoid::text || ':' || ctid::text, ")
        );
        assert!(parted_keyless.delete_at().unwrap().contains("tableoid = split_part(?1, ':', 1)::oid AND ctid ="));
        let copies = parted_keyless.delete_copies_literal(&row, 1).unwrap();
        assert!(
            copies.starts_with("DELETE FROM \"or\"\"ders\" WHERE (tableoid, ctid) IN (SELECT tableoid, ctid FROM"),
            "{copies}"
        );
        assert!(parted.update_batch(&[1], &["int4".into(), "text".into()], 1).starts_with("UPDATE \"or\"\"ders\" AS"));
        assert_eq!(
            Dialect::Postgres.count_referencing("sales.items", &["order_id".into()]),
            "SELECT count(*) FROM ONLY \"sales\".\"items\" WHERE \"order_id\" = ?"
        );
        assert_eq!(orders().delete(), "DELETE FROM \"or\"\"ders\" WHERE \"id\" IS ?", "SQLite has no ONLY");
    }

    #[test]
    fn where_conditions_must_be_self_contained() {
        for ok in ["id > 100", "note = 'a)b;--'", "(a OR b) AND \"c)\" = 1", "x IN (1, (2))", "[a(] = 'it''s'"] {
            assert!(check_self_contained(ok).is_ok(), "{ok}");
        }
        for bad in ["1) OR (1", "1; DROP TABLE t", "1 -- x", "1 /* x */", "(1", "'open", "a = \"b"] {
            assert!(check_self_contained(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postgres_spells_nan_infinity_and_negative_zero_as_float8() {
        let pg = |f: f64| Dialect::Postgres.literal(&Value::Real(f));
        assert_eq!(pg(f64::NAN), "'NaN'::float8");
        assert_eq!(pg(f64::INFINITY), "'Infinity'::float8");
        assert_eq!(pg(f64::NEG_INFINITY), "'-Infinity'::float8");
        assert_eq!(pg(-0.0), "'-0'::float8");
        assert_eq!(pg(0.0), "0.0");
        assert_eq!(pg(-1.5), "-1.5");
        // SQLite has no NaN (it stores NULL) and reads -0.0 as a REAL.
        assert_eq!(Dialect::Sqlite.literal(&Value::Real(-0.0)), "-0.0");
        assert_eq!(Dialect::Sqlite.literal(&Value::Real(f64::NAN)), "NULL");
    }

    #[test]
    fn sqlite_reals_are_exact_decimals_or_exact_binary_expressions() {
        assert_eq!(sqlite_real(1.5), "1.5");
        assert_eq!(sqlite_real(-0.25), "-0.25");
        assert_eq!(sqlite_real(123.0), "123.0");
        assert_eq!(sqlite_real(1e20), "1e20");
        assert_eq!(sqlite_real(0.1), "(CAST(3602879701896397 AS REAL) / 36028797018963968)");
        assert_eq!(sqlite_real(2f64.powi(60)), "CAST(1152921504606846976 AS REAL)");
        assert_eq!(sqlite_real(-2f64.powi(70)), "(CAST(-1 AS REAL) * 4611686018427387904 * 256)");
        assert_eq!(
            sqlite_real(5e-324),
            format!("(CAST(1 AS REAL){})", " / 4611686018427387904".repeat(17) + " / 1048576")
        );
        // Every form reads back bit for bit (here through the bundled SQLite, on a database the
        // real sqlite3 tool made).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        assert!(
            std::process::Command::new("sqlite3").arg(&path).arg("PRAGMA user_version = 1").status().unwrap().success()
        );
        let loc = crate::engine::Location::parse(path.to_str().unwrap());
        let mut c = crate::engine::open(&loc, crate::engine::Access::ReadOnly).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut values =
            vec![f64::MAX, f64::MIN_POSITIVE, -f64::MIN_POSITIVE / 3.0, 2.2606631148481385e-299, 9e15, 2f64.powi(63)];
        values.extend((0..3000).map(|_| f64::from_bits(rng.u64(..))).filter(|f| f.is_finite() && *f != 0.0));
        for f in values {
            let lit = sqlite_real(f);
            let back = c.one_value(&format!("SELECT {lit}")).unwrap().unwrap();
            assert_eq!(back, Value::Real(f), "{f:?} written {lit}");
        }
    }

    #[test]
    fn multiset_matching_checks_the_storage_class() {
        let t = TableSql { key_len: 0, ..orders() };
        let row = [Value::Integer(1), Value::Null];
        assert_eq!(
            t.delete_copies_literal(&row, 2).unwrap(),
            "DELETE FROM \"or\"\"ders\" WHERE \"rowid\" IN (SELECT \"rowid\" FROM \"or\"\"ders\" WHERE (\"id\" IS 1 AND typeof(\"id\") = 'integer') AND \"note\" IS NULL LIMIT 2);"
        );
        // A column named rowid shadows the rowid: another of its names reaches it, or none.
        let shadowed = TableSql { rowid: Some("_rowid_".into()), ..t.clone() };
        assert!(shadowed.delete_at().unwrap().ends_with("WHERE \"_rowid_\" = ?"));
        assert!(TableSql { rowid: None, ..t }.delete_at().is_err());
        assert_eq!(TableSql::exact_params(&row).len(), 1);
    }
}
