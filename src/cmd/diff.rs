//! `lastgood diff`: what changed in live since the backup restored into scratch, per table.
//!
//! Output forms: a summary table (human), `--rows` for the first rows of each kind, `--json` as
//! JSON Lines (`type`: `table`, `change`, `summary`, `end`; streamed as the diff runs), and `--sql`
//! a patch that turns live into scratch for the chosen kinds. Exit 0 when equal, 1 when
//! differences of the chosen kinds were found.
//!
//! The patch is one transaction whose statements come in the write order merge uses
//! (`order::steps`: by foreign keys, removals before updates before re-inserts), so its
//! statements are spooled to disk per table and kind (`spool::TableSpool`) while the diff runs
//! and printed at the end: an error on the way prints no patch at all.

use std::io::{BufWriter, Write};

use anyhow::Result;
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::core::diff::{self, Change, ChangeKind, Counts, KeyMode, KindName, Kinds, Prepared, TableSpec};
use crate::core::merge::order::{self, Part};
use crate::core::pair::{Pair, open_pair};
use crate::core::spool::TableSpool;
use crate::core::sqlgen::{Dialect, TableSql, undo_statement};
use crate::engine::ForeignKey;
use crate::error::usage;
use crate::value::Value;

use super::{Context, PairArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Only these kinds of change: updated, deleted, inserted (default: all).
    #[arg(long, value_delimiter = ',', value_enum, value_name = "KINDS")]
    pub kinds: Option<Vec<KindName>>,
    /// Show the changed rows (the first --limit of each kind per table).
    #[arg(long)]
    pub rows: bool,
    /// How many rows of each kind --rows shows per table.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub limit: u64,
    /// Print an SQL patch that turns live into scratch (for the chosen kinds) instead.
    #[arg(long, conflicts_with = "rows")]
    pub sql: bool,
}

pub fn run(args: &Args, ctx: &Context) -> Result<i32> {
    if args.sql && ctx.out.json {
        return Err(usage("--sql and --json cannot be combined").into());
    }
    let kinds = args.kinds.as_deref().map(Kinds::from_names).unwrap_or(Kinds::ALL);
    let Pair { scratch: s, live: l, scratch_db: mut sdb, live_db: mut ldb } =
        open_pair(&args.pair.scratch, &args.pair.live)?;
    let prepared = diff::prepare(sdb.as_mut(), ldb.as_mut(), &args.pair.selection(false))?;
    for w in &prepared.warnings {
        ctx.out.warn(w);
    }
    if let Some(note) = crate::engine::skipped_note(&prepared.skipped, "not compared") {
        ctx.out.note(&note);
    }
    let dialect = Dialect::of(ldb.engine());
    // The patch's order follows live's foreign keys.
    let fks =
        if args.sql { order::foreign_keys(&mut |q, p, sink| ldb.query(q, p, sink), dialect)? } else { Vec::new() };
    drop((sdb, ldb));
    let mut out = Lines::new();
    let mut render = Render::new(args, ctx, kinds, dialect)?;
    let mut total = 0;
    for (ti, spec) in prepared.tables.iter().enumerate() {
        render.table_start(ti, spec, &mut out)?;
        let bar = ctx.out.spinner(&format!("comparing `{}`", spec.table));
        let counts = diff::diff_table(&s, &l, spec, None, &mut |c| render.change(spec, c, &mut out))?;
        bar.finish_and_clear();
        let counts = kinds.filter(counts);
        total += counts.changes();
        render.table_end(spec, counts, &mut out)?;
    }
    render.finish(&prepared, &fks, total, &mut out)?;
    out.flush()?;
    Ok(if total > 0 { crate::exit::FOUND } else { crate::exit::OK })
}

/// Buffered stdout; a closed pipe ends the process quietly with exit 0.
pub(super) struct Lines {
    w: BufWriter<std::io::Stdout>,
}

impl Lines {
    pub fn new() -> Lines {
        Lines { w: BufWriter::with_capacity(64 * 1024, std::io::stdout()) }
    }

    pub fn text(&mut self, s: &str) -> Result<()> {
        let r = self.w.write_all(s.as_bytes());
        Self::check(r)
    }

    pub fn json<T: Serialize>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer(&mut self.w, v)?;
        let r = self.w.write_all(b"\n");
        Self::check(r)
    }

    /// Copies everything `r` holds to stdout.
    pub fn copy(&mut self, r: &mut impl std::io::Read) -> Result<()> {
        let r = std::io::copy(r, &mut self.w).map(|_| ());
        Self::check(r)
    }

    pub fn flush(&mut self) -> Result<()> {
        let r = self.w.flush();
        Self::check(r)
    }

    fn check(r: std::io::Result<()>) -> Result<()> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
            other => Ok(other?),
        }
    }
}

impl Default for Lines {
    fn default() -> Self {
        Self::new()
    }
}

/// A row as a JSON object `{column: value}`.
pub(super) struct RowObject<'a>(pub &'a [String], pub &'a [Value]);

impl Serialize for RowObject<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.1.len()))?;
        for (c, v) in self.0.iter().zip(self.1) {
            m.serialize_entry(c, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct TableLine<'a> {
    r#type: &'static str,
    table: &'a str,
    mode: KeyMode,
    key: &'a [String],
    columns: &'a [String],
    drift: &'a diff::Drift,
}

/// One change as a JSON Lines object.
#[derive(Serialize)]
struct ChangeLine<'a> {
    pub r#type: &'static str,
    pub table: &'a str,
    pub kind: &'static str,
    pub key: RowObject<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<&'a [String]>,
    pub scratch: Option<RowObject<'a>>,
    pub live: Option<RowObject<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch_copies: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_copies: Option<u64>,
}

impl<'a> ChangeLine<'a> {
    pub fn new(spec: &'a TableSpec, c: &'a Change) -> ChangeLine<'a> {
        let key_cols = &spec.columns[..c.key.len()];
        let multiset = spec.mode == KeyMode::Multiset;
        let (scratch, live) = if multiset {
            (None, None)
        } else {
            (
                c.scratch_row.as_deref().map(|r| RowObject(&spec.columns, r)),
                c.live_row.as_deref().map(|r| RowObject(&spec.columns, r)),
            )
        };
        ChangeLine {
            r#type: "change",
            table: &spec.table,
            kind: c.kind.name(),
            key: RowObject(key_cols, &c.key),
            columns: match &c.kind {
                ChangeKind::Updated { columns } => Some(columns),
                _ => None,
            },
            scratch,
            live,
            scratch_copies: multiset.then_some(c.scratch_copies),
            live_copies: multiset.then_some(c.live_copies),
        }
    }
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    r#type: &'static str,
    table: &'a str,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
struct EndLine<'a> {
    r#type: &'static str,
    tables: usize,
    changes: u64,
    equal: bool,
    only_in_scratch: &'a [String],
    only_in_live: &'a [String],
    /// Virtual, shadow and foreign tables left out.
    skipped_tables: &'a [crate::engine::SkippedTable],
}

/// How the diff is shown, as it streams.
struct Render {
    mode: Mode,
    kinds: Kinds,
    limit: u64,
    dialect: Dialect,
    shown: [u64; 3],
    summary: Vec<Vec<String>>,
    table_sql: Option<TableSql>,
    /// `--sql`: the patch's statements, by part (`order::Part`), each table in its segment.
    patch: Option<[TableSpool; 3]>,
    /// The index of the table being compared.
    table: usize,
}

#[derive(PartialEq)]
enum Mode {
    Summary,
    Rows,
    Json,
    Sql,
}

impl Render {
    fn new(args: &Args, ctx: &Context, kinds: Kinds, dialect: Dialect) -> Result<Render> {
        let mode = if ctx.out.json {
            Mode::Json
        } else if args.sql {
            Mode::Sql
        } else if args.rows {
            Mode::Rows
        } else {
            Mode::Summary
        };
        let patch =
            if mode == Mode::Sql { Some([TableSpool::new()?, TableSpool::new()?, TableSpool::new()?]) } else { None };
        Ok(Render {
            mode,
            kinds,
            limit: args.limit,
            dialect,
            shown: [0; 3],
            summary: Vec::new(),
            table_sql: None,
            patch,
            table: 0,
        })
    }

    fn table_start(&mut self, ti: usize, spec: &TableSpec, out: &mut Lines) -> Result<()> {
        self.shown = [0; 3];
        self.table = ti;
        self.table_sql = Some(TableSql::for_spec(self.dialect, spec));
        match self.mode {
            Mode::Json => out.json(&TableLine {
                r#type: "table",
                table: &spec.table,
                mode: spec.mode,
                key: spec.key_columns(),
                columns: &spec.columns,
                drift: &spec.drift,
            }),
            Mode::Rows => out.text(&format!("== {} ({})\n", spec.table, key_text(spec))),
            _ => Ok(()),
        }
    }

    fn change(&mut self, spec: &TableSpec, c: Change, out: &mut Lines) -> Result<()> {
        if !self.kinds.wants(&c.kind) {
            return Ok(());
        }
        match self.mode {
            Mode::Json => out.json(&ChangeLine::new(spec, &c)),
            Mode::Sql => {
                let statement = undo_statement(self.table_sql.as_ref().expect("table"), spec, &c)?;
                let part = &mut self.patch.as_mut().expect("a patch")[Part::of(&c.kind).index()];
                part.write(self.table, format!("{statement}\n").as_bytes())
            }
            Mode::Rows => {
                let slot = &mut self.shown[kind_slot(&c.kind)];
                *slot += 1;
                if *slot <= self.limit { out.text(&human_change(spec, &c)) } else { Ok(()) }
            }
            Mode::Summary => Ok(()),
        }
    }

    fn table_end(&mut self, spec: &TableSpec, counts: Counts, out: &mut Lines) -> Result<()> {
        match self.mode {
            Mode::Json => out.json(&SummaryLine { r#type: "summary", table: &spec.table, counts }),
            Mode::Rows => {
                for (i, name) in ["updated", "deleted", "inserted"].iter().enumerate() {
                    if self.shown[i] > self.limit {
                        out.text(&format!("  … {} more {name}\n", self.shown[i] - self.limit))?;
                    }
                }
                self.summary.push(summary_row(spec, counts));
                Ok(())
            }
            Mode::Summary => {
                self.summary.push(summary_row(spec, counts));
                Ok(())
            }
            Mode::Sql => Ok(()),
        }
    }

    fn finish(&mut self, p: &Prepared, fks: &[ForeignKey], total: u64, out: &mut Lines) -> Result<()> {
        match self.mode {
            Mode::Json => out.json(&EndLine {
                r#type: "end",
                tables: p.tables.len(),
                changes: total,
                equal: total == 0,
                only_in_scratch: &p.only_in_scratch,
                only_in_live: &p.only_in_live,
                skipped_tables: &p.skipped,
            }),
            Mode::Sql => {
                out.text(&patch_head("lastgood diff --sql: turns live into scratch", self.dialect))?;
                let patch = self.patch.as_mut().expect("a patch");
                for step in order::steps(&p.tables, fks, self.dialect) {
                    let mut segment = patch[step.part.index()].segment(step.table)?;
                    out.copy(&mut segment)?;
                }
                out.text("COMMIT;\n")
            }
            Mode::Rows | Mode::Summary => {
                let header =
                    ["table", "key", "scratch rows", "live rows", "updated", "deleted", "inserted", "unchanged"];
                let mut text = crate::output::table(&header, &self.summary);
                for spec in &p.tables {
                    text.push_str(&drift_text(spec));
                }
                for (names, side) in [(&p.only_in_scratch, "scratch"), (&p.only_in_live, "live")] {
                    if !names.is_empty() {
                        text.push_str(&format!("only in {side} (not compared): {}\n", names.join(", ")));
                    }
                }
                text.push_str(&if total == 0 {
                    "no differences\n".to_string()
                } else {
                    format!("{total} difference(s)\n")
                });
                out.text(&text)
            }
        }
    }
}

/// The start of a patch: the transaction, foreign keys checked at its commit (SQLite: all of
/// them; PostgreSQL: those declared DEFERRABLE, the others are met by the order), and on
/// PostgreSQL the settings lastgood reads values under, so that text forms read back as they
/// were written (timestamps, intervals) and a backslash is a backslash.
pub(super) fn patch_head(title: &str, dialect: Dialect) -> String {
    let settings = match dialect {
        Dialect::Sqlite => "PRAGMA defer_foreign_keys = ON;\n",
        Dialect::Postgres => {
            "SET CONSTRAINTS ALL DEFERRED;\nSET LOCAL TimeZone = 'UTC';\nSET LOCAL DateStyle = 'ISO, YMD';\n\
             SET LOCAL IntervalStyle = 'postgres';\nSET LOCAL standard_conforming_strings = on;\n"
        }
    };
    format!("-- {title}\nBEGIN;\n{settings}")
}

fn kind_slot(k: &ChangeKind) -> usize {
    match k {
        ChangeKind::Updated { .. } => 0,
        ChangeKind::Deleted => 1,
        ChangeKind::Inserted => 2,
    }
}

fn key_text(spec: &TableSpec) -> String {
    match spec.mode {
        KeyMode::PrimaryKey => format!("key {}", spec.key_columns().join(", ")),
        KeyMode::Rowid => spec.key_columns().join(", "),
        KeyMode::Multiset => "no key: multiset".to_string(),
    }
}

fn summary_row(spec: &TableSpec, c: Counts) -> Vec<String> {
    vec![
        spec.table.clone(),
        key_text(spec).trim_start_matches("key ").to_string(),
        c.scratch_rows.to_string(),
        c.live_rows.to_string(),
        c.updated.to_string(),
        c.deleted.to_string(),
        c.inserted.to_string(),
        c.unchanged.to_string(),
    ]
}

fn drift_text(spec: &TableSpec) -> String {
    let d = &spec.drift;
    let mut s = String::new();
    if !d.only_in_scratch.is_empty() {
        s.push_str(&format!("{}: columns dropped since the backup: {}\n", spec.table, d.only_in_scratch.join(", ")));
    }
    if !d.only_in_live.is_empty() {
        s.push_str(&format!("{}: columns added since the backup: {}\n", spec.table, d.only_in_live.join(", ")));
    }
    for t in &d.type_changed {
        s.push_str(&format!("{}: column {} changed type: {} → {}\n", spec.table, t.column, t.scratch, t.live));
    }
    s
}

fn key_words(spec: &TableSpec, key: &[Value]) -> String {
    spec.columns.iter().zip(key).map(|(c, v)| format!("{c}={}", v.display())).collect::<Vec<_>>().join(", ")
}

fn row_words(spec: &TableSpec, row: &[Value]) -> String {
    spec.columns.iter().zip(row).map(|(c, v)| format!("{c}: {}", v.display())).collect::<Vec<_>>().join(", ")
}

/// One change for humans: `updated  (id=3)  v: 1.0 → 1` (scratch's value → live's value).
fn human_change(spec: &TableSpec, c: &Change) -> String {
    match (&c.kind, spec.mode) {
        (ChangeKind::Updated { columns }, _) => {
            let (a, b) = (c.scratch_row.as_ref().expect("row"), c.live_row.as_ref().expect("row"));
            let diffs: Vec<String> = columns
                .iter()
                .map(|name| {
                    let i = spec.columns.iter().position(|x| x == name).expect("compared column");
                    format!("{name}: {} → {}", a[i].display(), b[i].display())
                })
                .collect();
            format!("  updated   ({})  {}\n", key_words(spec, &c.key), diffs.join("; "))
        }
        (kind, KeyMode::Multiset) => format!(
            "  {:<9} {{{}}}  ×{} (scratch has {}, live has {})\n",
            kind.name(),
            row_words(spec, &c.key),
            c.copies(),
            c.scratch_copies,
            c.live_copies
        ),
        (kind, _) => format!("  {:<9} ({})  {{{}}}\n", kind.name(), key_words(spec, &c.key), row_words(spec, c.row())),
    }
}
