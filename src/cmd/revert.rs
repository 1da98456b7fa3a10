//! `lastgood revert`: the three-way repair (see `core/revert/`). Base and damaged (typically two
//! scratch restores: the last good backup and the first bad one) tell which cells the incident
//! wrote; live gets back exactly those where it still holds the damaged value. A dry run by
//! default (the plan: per table, cells changed per column, rows per kind in scope, what would be
//! written, the conflicts); `--apply` writes under the writer lock, after a safety snapshot, in
//! one transaction (merge's), and prints the undo.
//!
//! Output forms: human text, `--rows` (also the planned writes), `--json` JSON Lines (`type`:
//! `table`, `change`, `conflict`, `summary`, `end`), `--sql` the patch of the planned writes in
//! merge's write order. Lines are kept in an unnamed temporary file while the tables are compared
//! and printed at the end, so an error on the way prints nothing to stdout.
//!
//! Exit codes: 0 when everything in scope was reverted or kept as a listed conflict (or, dry
//! run, planned); 1 when the re-check after the commit finds more to revert than the rows
//! compare-and-set skipped; 5 for `--strict` with a conflict (nothing written); others as merge.

use std::io::{BufWriter, Seek, Write};

use anyhow::Result;
use serde::Serialize;

use super::Context;
use super::diff::{Lines, RowObject, patch_head};
use crate::core::diff::{ChangeKind, Drift, KeyMode, KindName, Kinds};
use crate::core::lock::LiveLock;
use crate::core::merge::order::{self, Part};
use crate::core::pair::check_pair;
use crate::core::revert::window::{Restored, WindowSides};
use crate::core::revert::{
    self, ConflictPolicy, Event, Incident, Prepared, Resolution, RevertPlan, RevertReport, RevertRequest,
    RevertSelection, RevertTable, Seen, Sides, Span, TableCounts,
};
use crate::core::spool::TableSpool;
use crate::core::sqlgen::{Dialect, TableSql, undo_statement};
use crate::core::triggers::TriggerPolicy;
use crate::engine::{self, Access, Database, ForeignKey, Location};
use crate::error::{Failure, usage};
use crate::value::Value;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("scope").args(["columns", "all_columns"])))]
pub struct Args {
    /// The state just before the incident (e.g. a scratch restore of the last good backup).
    #[arg(long, value_name = "DB", required_unless_present_any = ["txn", "base_txn"], requires = "damaged")]
    pub base: Option<String>,
    /// The state just after it (e.g. a scratch restore of the first bad backup).
    #[arg(long, value_name = "DB", requires = "base")]
    pub damaged: Option<String>,
    /// Undo transaction XID (PostgreSQL, from a recovery window in --repo): base and damaged are
    /// restored just before and just after it by one replay (`lastgood incidents` finds XID).
    /// Every column and all three kinds by default: the sides are exactly one transaction apart.
    #[arg(long, value_name = "XID", conflicts_with_all = ["base", "damaged", "base_txn", "damaged_txn"])]
    pub txn: Option<u64>,
    /// With --damaged-txn: an incident of several transactions, base restored just before
    /// this one. As between two backups, name the columns (or --all-columns), and inserted rows
    /// are removed only with --kinds: other transactions lie between the two sides.
    #[arg(long, value_name = "XID", requires = "damaged_txn", conflicts_with_all = ["base", "damaged"])]
    pub base_txn: Option<u64>,
    /// With --base-txn: damaged restored just after this one.
    #[arg(long, value_name = "XID", requires = "base_txn", conflicts_with_all = ["base", "damaged"])]
    pub damaged_txn: Option<u64>,
    /// With --txn or --base-txn: follow this timeline of the recovery window (default: the
    /// newest timeline that holds the transactions).
    #[arg(long, value_name = "N", conflicts_with_all = ["base", "damaged"])]
    pub timeline: Option<u32>,
    /// With --txn or --base-txn: the folder for the recovery instance.
    #[arg(long, value_name = "DIR", env = "LASTGOOD_SCRATCH_DIR")]
    pub scratch_dir: Option<std::path::PathBuf>,
    /// With --txn or --base-txn: keep the two scratch databases (default: dropped when done).
    #[arg(long)]
    pub keep_scratch: bool,
    /// The live database.
    #[arg(long, value_name = "DB")]
    pub live: String,
    /// Only these tables (comma-separated; default: every table all three hold).
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub tables: Option<Vec<String>>,
    /// The columns the incident damaged: only their cells are reverted (the plan counts the
    /// changed cells of every column, to choose from).
    #[arg(long, value_delimiter = ',', value_name = "C1,C2")]
    pub columns: Option<Vec<String>>,
    /// Revert every column: between two backups the difference also holds every legitimate
    /// edit made between them, so this must be asked for.
    #[arg(long)]
    pub all_columns: bool,
    /// Only rows for which this SQL condition holds: on base's row for updated and deleted
    /// rows, on damaged's row for inserted rows.
    #[arg(long = "where", value_name = "SQL")]
    pub filter: Option<String>,
    /// What to revert (comma-separated): updated (cells), deleted (re-insert rows the incident
    /// deleted), inserted (remove rows the incident inserted; between two backups these
    /// include legitimate new rows, so they are removed only when asked).
    /// Default: updated,deleted; with --txn or --base-txn also inserted.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "KINDS")]
    pub kinds: Option<Vec<KindName>>,
    /// Cells live changed after the incident: keep-live (leave them, listed) or take-base
    /// (write base's value over them). Row conflicts are always kept.
    #[arg(long, value_enum, default_value_t = ConflictPolicy::KeepLive, value_name = "POLICY")]
    pub conflicts: ConflictPolicy,
    /// Refuse (exit 5, nothing written) when anything is in conflict.
    #[arg(long)]
    pub strict: bool,
    /// Write to live (default: print the plan and write nothing).
    #[arg(long)]
    pub apply: bool,
    /// Triggers the writes would fire: refuse (exit 5), skip (disabled inside the transaction)
    /// or fire (run, rows they change counted), as for merge.
    #[arg(long, value_enum, default_value_t = TriggerPolicy::Refuse, value_name = "POLICY")]
    pub triggers: TriggerPolicy,
    /// Also list the planned writes (the first --limit of each kind per table).
    #[arg(long)]
    pub rows: bool,
    /// How many conflicts (and with --rows, writes of each kind) to list per table.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: u64,
    /// Print an SQL patch of the planned writes instead (no compare-and-set: review it first).
    #[arg(long, conflicts_with_all = ["rows", "apply"])]
    pub sql: bool,
    /// How many of the planned statements the plan shows.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,
}

/// Whether base and damaged are exactly one transaction apart (`--txn X`, or `--base-txn X
/// --damaged-txn X`): then every column and all three kinds are the default, since nothing but
/// that transaction lies between them.
fn one_transaction(args: &Args) -> bool {
    args.txn.is_some() || (args.base_txn.is_some() && args.base_txn == args.damaged_txn)
}

pub fn run(args: &Args, ctx: &Context) -> Result<i32> {
    if args.sql && ctx.out.json {
        return Err(usage("--sql and --json cannot be combined").into());
    }
    let window_mode = args.txn.is_some() || args.base_txn.is_some();
    if let (Some(a), Some(b)) = (args.base_txn, args.damaged_txn)
        && a > b
    {
        return Err(usage(format!(
            "--base-txn {a} is newer than --damaged-txn {b}: base is taken just before the first transaction of the incident, damaged just after its last"
        ))
        .into());
    }
    if !one_transaction(args) && args.columns.is_none() && !args.all_columns {
        return Err(usage("revert needs --columns C,… or --all-columns: between two backups the difference also holds every legitimate edit made between them")
            .hint("the plan counts the changed cells per column: run it with --all-columns first to choose")
            .into());
    }
    let restored = if window_mode { Some(restore_sides(args, ctx)?) } else { None };
    let result = revert_with(args, ctx, restored.as_ref().map(|(r, _)| r));
    if let Some((r, catalog)) = &restored {
        if args.keep_scratch {
            ctx.out.note(&format!("scratch databases kept: {} (base) and {} (damaged)", r.names[0], r.names[1]));
        } else {
            r.drop_all(catalog, &args.live, &ctx.out);
        }
    }
    result
}

/// Restores base and damaged from the recovery window that holds the transactions asked for.
fn restore_sides(args: &Args, ctx: &Context) -> Result<(Restored, crate::core::catalog::Catalog)> {
    let (a, b) = match (args.txn, args.base_txn, args.damaged_txn) {
        (Some(x), _, _) => (x, x),
        (None, Some(a), Some(b)) => (a, b),
        _ => return Err(usage("--base-txn and --damaged-txn go together").into()),
    };
    if ctx.repos.is_empty() {
        return Err(usage("--txn restores both sides from a recovery window: give --repo (or LASTGOOD_REPO)").into());
    }
    let mut catalog = ctx.catalog()?;
    if let Some(n) = args.timeline {
        catalog.follow_timeline(n)?;
    }
    let req = WindowSides {
        base_txn: a,
        damaged_txn: b,
        live: &args.live,
        tables: args.tables.clone(),
        scratch_dir: args.scratch_dir.clone(),
        now: ctx.now,
    };
    let r = crate::core::revert::window::restore(&catalog, req, &ctx.out)?;
    if !ctx.out.json && !ctx.out.quiet {
        eprint!("{}", r.report);
    }
    Ok((r, catalog))
}

fn revert_with(args: &Args, ctx: &Context, restored: Option<&Restored>) -> Result<i32> {
    let (base, damaged) = match restored {
        Some(r) => (r.base.clone(), r.damaged.clone()),
        None => (
            Location::parse(args.base.as_deref().unwrap_or_default()),
            Location::parse(args.damaged.as_deref().unwrap_or_default()),
        ),
    };
    let (sides, mut dbs) = open_sides(&base, &damaged, &args.live)?;
    let [b, d, l] = &mut dbs;
    // No --columns is every column (--all-columns, or --txn: its sides are one transaction apart).
    let sel = RevertSelection { tables: args.tables.clone(), columns: args.columns.clone() };
    let prepared = revert::prepare(b.as_mut(), d.as_mut(), l.as_mut(), &sel)?;
    for w in &prepared.warnings {
        ctx.out.warn(w);
    }
    if let Some(note) = engine::skipped_note(&prepared.skipped, "not compared") {
        ctx.out.note(&note);
    }
    let dialect = Dialect::of(l.engine());
    let fks = if args.sql { order::foreign_keys(&mut |q, p, sink| l.query(q, p, sink), dialect)? } else { Vec::new() };
    drop(dbs);
    let span = match restored {
        Some(r) => r.span.clone(),
        None => span(args, ctx),
    };
    let kinds = match &args.kinds {
        Some(k) => k.clone(),
        None if one_transaction(args) => vec![KindName::Updated, KindName::Deleted, KindName::Inserted],
        None => vec![KindName::Updated, KindName::Deleted],
    };
    let request = RevertRequest {
        kinds: Kinds::from_names(&kinds),
        filter: args.filter.clone(),
        conflicts: args.conflicts,
        strict: args.strict,
        trigger_policy: args.triggers,
        show: args.show,
    };
    let mut render = Render::new(args, ctx, dialect)?;
    if !args.apply {
        let plan = revert::plan(&sides, &prepared, request, span, false, &ctx.out, &mut |e| render.event(e))?;
        render.finish_plan(&plan, &prepared, &fks)?;
        return Ok(crate::exit::OK);
    }
    let lock_file = engine::registry::for_location(&sides.live).lock_file(&sides.live);
    let _lock = match &lock_file {
        Some(p) => {
            super::merge::check_writable(p)?;
            Some(LiveLock::acquire(p, "revert")?)
        }
        None => None, // the engine's write transaction takes its own lock
    };
    let plan = revert::plan(&sides, &prepared, request, span, true, &ctx.out, &mut |e| render.event(e))?;
    let snapshot = crate::core::snapshot::snapshot_path(&sides.live, ctx.now)?;
    let report = revert::apply(plan, &snapshot, &ctx.out)?;
    render.finish_report(&report)?;
    let m = &report.merge;
    // Not confirmed is the answer "no" (exit 1), said even under --quiet: the revert is committed.
    if let Some(n) = m.unexpected_residual() {
        eprintln!(
            "error: the revert is committed, but the re-check found {n} write(s) still to do beyond the {} skipped row(s): live changed after the commit (another writer, or a trigger); run `lastgood revert` again to see them",
            m.skipped
        );
    } else if let Some(e) = &m.residual_error {
        eprintln!("error: the revert is committed, but the re-check that confirms it failed: {e}");
    }
    Ok(if m.confirmed() { crate::exit::OK } else { crate::exit::FOUND })
}

/// Locates and opens the three sides (read-only), each error naming its side, and refuses any
/// two that are the same database or of different engines.
fn open_sides(base: &Location, damaged: &Location, live: &str) -> Result<(Sides, [Box<dyn Database>; 3])> {
    let live = Location::parse(live);
    let named = [("--base", base), ("--damaged", damaged), ("--live", &live)];
    let mut dbs = Vec::with_capacity(3);
    for (flag, loc) in named {
        dbs.push(engine::open(loc, Access::ReadOnly).map_err(|e| e.context(format!("opening {flag}")))?);
    }
    for (a, b) in [(0, 2), (1, 2), (0, 1)] {
        distinct(named[a], named[b])?;
    }
    let sides = Sides { base: base.clone(), damaged: damaged.clone(), live };
    let dbs: [Box<dyn Database>; 3] = dbs.try_into().map_err(|_| anyhow::anyhow!("three databases expected"))?;
    Ok((sides, dbs))
}

/// `pair::open_pair`'s checks (not the same database; one engine) for two of the sides, its
/// refusal worded with the flags of these two.
fn distinct((a_flag, a): (&str, &Location), (b_flag, b): (&str, &Location)) -> Result<()> {
    check_pair(a, b).map_err(|e| match crate::error::classify(&e) {
        Some(f) if f.message.starts_with("--scratch") => {
            let message = f.message.replacen("--scratch", a_flag, 1).replacen("--live", b_flag, 1);
            let mut g = Failure::new(f.kind, message);
            g.hint =
                f.hint.as_ref().map(|h| h.replace("the scratch database restored from a backup", "another database"));
            g.into()
        }
        _ => e,
    })
}

/// When base and damaged were taken, where known (the catalog is read when repositories are
/// given; a catalog that cannot be read only leaves the span unknown).
fn span(args: &Args, ctx: &Context) -> Span {
    let catalog = if ctx.repos.is_empty() {
        None
    } else {
        match ctx.catalog() {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.out.warn(&format!("the span of base and damaged is unknown: {e:#}"));
                None
            }
        }
    };
    revert::span(
        args.base.as_deref().unwrap_or_default(),
        args.damaged.as_deref().unwrap_or_default(),
        catalog.as_ref(),
    )
}

#[derive(PartialEq)]
enum Mode {
    Human,
    Rows,
    Json,
    Sql,
}

/// How the revert is shown as it streams: lines go to an unnamed temporary file (`buf`), or
/// for `--sql` statements to a spool per part of the write order, printed at the end.
struct Render {
    mode: Mode,
    limit: u64,
    dialect: Dialect,
    buf: BufWriter<std::fs::File>,
    /// The current table's listed lines (at most `limit` of each sort), and how many were not.
    listed: Vec<String>,
    shown: [u64; 4],
    table_sql: Option<TableSql>,
    table: usize,
    patch: Option<[TableSpool; 3]>,
}

impl Render {
    fn new(args: &Args, ctx: &Context, dialect: Dialect) -> Result<Render> {
        let mode = match () {
            _ if ctx.out.json => Mode::Json,
            _ if args.sql => Mode::Sql,
            _ if args.rows => Mode::Rows,
            _ => Mode::Human,
        };
        let file = tempfile::tempfile()
            .map_err(|e| crate::error::environment(format!("cannot create a temporary file: {e}")))?;
        let patch =
            if mode == Mode::Sql { Some([TableSpool::new()?, TableSpool::new()?, TableSpool::new()?]) } else { None };
        Ok(Render {
            mode,
            limit: args.limit,
            dialect,
            buf: BufWriter::with_capacity(64 * 1024, file),
            listed: Vec::new(),
            shown: [0; 4],
            table_sql: None,
            table: 0,
            patch,
        })
    }

    fn json<T: Serialize>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer(&mut self.buf, v)?;
        Ok(self.buf.write_all(b"\n")?)
    }

    fn event(&mut self, e: Event) -> Result<()> {
        match e {
            Event::Table(t) => self.table_start(t),
            // Lines are built only where they are printed (a dry run's summary prints none).
            Event::Write { table, kind, change, damaged } => {
                let line = || ChangeLine::new(table, kind, change, damaged);
                match self.mode {
                    Mode::Json => self.json(&line()),
                    Mode::Sql => {
                        let sql = undo_statement(self.table_sql.as_ref().expect("table"), &table.spec, change)?;
                        let part = &mut self.patch.as_mut().expect("a patch")[Part::of(&change.kind).index()];
                        part.write(self.table, format!("{sql}\n").as_bytes())
                    }
                    Mode::Rows => {
                        self.list(kind_slot(kind), || human_write(&line()));
                        Ok(())
                    }
                    Mode::Human => Ok(()),
                }
            }
            Event::Conflict { table, conflict } => {
                let line = || ConflictLine::new(table, conflict);
                match self.mode {
                    Mode::Json => self.json(&line()),
                    Mode::Sql => Ok(()),
                    Mode::Human | Mode::Rows => {
                        self.list(3, || human_conflict(&line()));
                        Ok(())
                    }
                }
            }
            Event::Summary { table, counts } => self.table_end(table, counts),
        }
    }

    /// Counts one line of `slot` and keeps it while fewer than `--limit` are kept.
    fn list(&mut self, slot: usize, line: impl FnOnce() -> String) {
        self.shown[slot] += 1;
        if self.shown[slot] <= self.limit {
            self.listed.push(line());
        }
    }

    fn table_start(&mut self, t: &RevertTable) -> Result<()> {
        self.table_sql = Some(TableSql::for_spec(self.dialect, &t.spec));
        (self.listed, self.shown) = (Vec::new(), [0; 4]);
        if self.mode != Mode::Json {
            return Ok(());
        }
        let spec = &t.spec;
        self.json(&TableLine {
            r#type: "table",
            table: &spec.table,
            mode: spec.mode,
            key: spec.key_columns(),
            columns: &spec.columns,
            scope: t.scope_names(),
            drift: &t.drift_base,
            drift_damaged: &t.drift_damaged,
        })
    }

    fn table_end(&mut self, t: &RevertTable, counts: &TableCounts) -> Result<()> {
        self.table += 1;
        match self.mode {
            Mode::Json => self.json(&SummaryLine { r#type: "summary", counts }),
            Mode::Sql => Ok(()),
            Mode::Human | Mode::Rows => {
                let mut text = human_table(t, counts);
                for line in std::mem::take(&mut self.listed) {
                    text.push_str(&line);
                }
                for (slot, what) in ["updated", "deleted", "inserted", "conflict"].iter().enumerate() {
                    if self.shown[slot] > self.limit {
                        text.push_str(&format!("  … {} more {what}\n", self.shown[slot] - self.limit));
                    }
                }
                Ok(self.buf.write_all(text.as_bytes())?)
            }
        }
    }

    /// Prints what was kept, after `head` and before `tail`.
    fn print(&mut self, head: &str, tail: &str) -> Result<()> {
        let mut out = Lines::new();
        out.text(head)?;
        self.buf.flush()?;
        let file = self.buf.get_mut();
        file.rewind()?;
        out.copy(file)?;
        out.text(tail)?;
        out.flush()
    }

    fn finish_plan(&mut self, plan: &RevertPlan, prepared: &Prepared, fks: &[ForeignKey]) -> Result<()> {
        match self.mode {
            Mode::Json => {
                self.json(&EndLine::of_plan(plan))?;
                self.print("", "")
            }
            Mode::Sql => self.print_patch(prepared, fks),
            Mode::Human | Mode::Rows => self.print(&plan_head(plan), &plan_tail(plan)),
        }
    }

    fn finish_report(&mut self, r: &RevertReport) -> Result<()> {
        match self.mode {
            Mode::Json => {
                self.json(&EndLine::of_report(r))?;
                self.print("", "")
            }
            _ => self.print(&report_head(r), &report_tail(r)),
        }
    }

    fn print_patch(&mut self, prepared: &Prepared, fks: &[ForeignKey]) -> Result<()> {
        let mut out = Lines::new();
        out.text(&patch_head(
            "lastgood revert --sql: puts back the incident's cells (no compare-and-set)",
            self.dialect,
        ))?;
        let specs: Vec<_> = prepared.tables.iter().map(|t| t.spec.clone()).collect();
        let patch = self.patch.as_mut().expect("a patch");
        for step in order::steps(&specs, fks, self.dialect) {
            let mut segment = patch[step.part.index()].segment(step.table)?;
            out.copy(&mut segment)?;
        }
        out.text("COMMIT;\n")?;
        out.flush()
    }
}

fn kind_slot(kind: Incident) -> usize {
    match kind {
        Incident::Updated => 0,
        Incident::Deleted => 1,
        Incident::Inserted => 2,
    }
}

#[derive(Serialize)]
struct TableLine<'a> {
    r#type: &'static str,
    table: &'a str,
    mode: KeyMode,
    key: &'a [String],
    columns: &'a [String],
    /// The columns that may be reverted.
    scope: Vec<String>,
    /// Schema drift from base to live, and from damaged to live.
    drift: &'a Drift,
    drift_damaged: &'a Drift,
}

/// A planned write. For updated rows, `columns` are the cells written and `base`, `damaged` and
/// `live` hold those cells; for deleted rows `base` is the row re-inserted; for inserted rows
/// `damaged` and `live` are the row removed.
#[derive(Serialize)]
struct ChangeLine<'a> {
    r#type: &'static str,
    table: &'a str,
    kind: &'static str,
    key: RowObject<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    columns: Option<&'a [String]>,
    base: Option<Cells>,
    damaged: Option<Cells>,
    live: Option<Cells>,
}

/// Named values, in the table's column order.
struct Cells(Vec<(String, Value)>);

impl Serialize for Cells {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (names, values): (Vec<String>, Vec<Value>) = self.0.iter().cloned().unzip();
        RowObject(&names, &values).serialize(s)
    }
}

impl<'a> ChangeLine<'a> {
    fn new(
        t: &'a RevertTable,
        kind: Incident,
        c: &'a crate::core::diff::Change,
        damaged: Option<&'a crate::value::Row>,
    ) -> ChangeLine<'a> {
        let spec = &t.spec;
        let cells = |row: Option<&crate::value::Row>, only: Option<&[usize]>| {
            row.map(|r| {
                let idx: Vec<usize> = only.map(<[usize]>::to_vec).unwrap_or_else(|| (0..r.len()).collect());
                Cells(idx.iter().map(|&i| (spec.columns[i].clone(), r[i].clone())).collect())
            })
        };
        let (columns, written) = match &c.kind {
            ChangeKind::Updated { columns } => {
                let idx: Vec<usize> = columns.iter().filter_map(|n| spec.columns.iter().position(|x| x == n)).collect();
                (Some(columns.as_slice()), Some(idx))
            }
            _ => (None, None),
        };
        let only = written.as_deref();
        ChangeLine {
            r#type: "change",
            table: &spec.table,
            kind: kind.name(),
            key: RowObject(&spec.columns[..spec.key_len], &c.key),
            columns,
            base: cells(c.scratch_row.as_ref(), only),
            damaged: cells(damaged, only),
            live: cells(c.live_row.as_ref(), only),
        }
    }
}

/// A conflict: a cell (`column`, and the three values) or a row (`column` null, the three rows
/// as objects, null where a side has none).
#[derive(Serialize)]
struct ConflictLine<'a> {
    r#type: &'static str,
    table: &'a str,
    key: RowObject<'a>,
    kind: &'static str,
    column: Option<&'a str>,
    base: Shown<'a>,
    damaged: Shown<'a>,
    live: Shown<'a>,
    resolution: Resolution,
    reason: &'static str,
}

/// One side of a conflict: a cell's value, or a row (in the table's column order).
enum Shown<'a> {
    Cell(&'a Value),
    Row(Option<RowObject<'a>>),
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Shown::Cell(v) => v.serialize(s),
            Shown::Row(r) => r.serialize(s),
        }
    }
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Cell(v) => write!(f, "{}", v.display()),
            Shown::Row(None) => write!(f, "none"),
            Shown::Row(Some(r)) => {
                let cells: Vec<String> = r.0.iter().zip(r.1).map(|(c, v)| format!("{c}: {}", v.display())).collect();
                write!(f, "{{{}}}", cells.join(", "))
            }
        }
    }
}

impl<'a> ConflictLine<'a> {
    fn new(t: &'a RevertTable, c: &'a revert::Conflict) -> ConflictLine<'a> {
        let spec = &t.spec;
        let row = |r: &'a Option<crate::value::Row>| Shown::Row(r.as_deref().map(|r| RowObject(&spec.columns, r)));
        let (column, base, damaged, live) = match &c.seen {
            Seen::Cell { column, base, damaged, live } => {
                (Some(spec.columns[*column].as_str()), Shown::Cell(base), Shown::Cell(damaged), Shown::Cell(live))
            }
            Seen::Row { base, damaged, live } => (None, row(base), row(damaged), row(live)),
        };
        ConflictLine {
            r#type: "conflict",
            table: &spec.table,
            key: RowObject(&spec.columns[..spec.key_len], &c.key),
            kind: c.kind.name(),
            column,
            base,
            damaged,
            live,
            resolution: c.resolution,
            reason: c.reason,
        }
    }
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    r#type: &'static str,
    #[serde(flatten)]
    counts: &'a TableCounts,
}

/// The last line: totals, and after `--apply` what the write transaction did.
#[derive(Serialize)]
struct EndLine<'a> {
    r#type: &'static str,
    base: &'a str,
    damaged: &'a str,
    live: &'a str,
    span: &'a Span,
    kinds: Kinds,
    conflict_policy: ConflictPolicy,
    tables: usize,
    writes: u64,
    conflicts: u64,
    triggers: &'a crate::core::triggers::SideEffects,
    skipped_tables: &'a [engine::SkippedTable],
    applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Applied<'a>>,
}

/// What `--apply` did (merge's report of the transaction).
#[derive(Serialize)]
struct Applied<'a> {
    snapshot: Option<&'a std::path::Path>,
    written: u64,
    skipped: u64,
    skipped_rows: &'a [crate::core::merge::SkippedRow],
    sequences: &'a [crate::core::merge::SequenceAdvance],
    residual: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    residual_error: Option<&'a str>,
    trigger_writes: Option<&'a crate::core::triggers::TriggerWrites>,
    undo: Option<&'a str>,
    seconds: f64,
}

impl<'a> EndLine<'a> {
    fn of_plan(p: &'a RevertPlan) -> EndLine<'a> {
        EndLine::new(p, &p.merge.as_ref().expect("planned writes").triggers)
    }

    fn of_report(r: &'a RevertReport) -> EndLine<'a> {
        let m = &r.merge;
        EndLine {
            applied: m.snapshot.is_some(),
            report: Some(Applied {
                snapshot: m.snapshot.as_deref(),
                written: m.applied,
                skipped: m.skipped,
                skipped_rows: &m.skipped_rows,
                sequences: &m.sequences,
                residual: m.residual,
                residual_error: m.residual_error.as_deref(),
                trigger_writes: m.trigger_writes.as_ref(),
                undo: m.undo.as_deref(),
                seconds: m.seconds,
            }),
            ..EndLine::new(&r.plan, &m.plan.triggers)
        }
    }

    fn new(p: &'a RevertPlan, triggers: &'a crate::core::triggers::SideEffects) -> EndLine<'a> {
        EndLine {
            r#type: "end",
            base: &p.base,
            damaged: &p.damaged,
            live: &p.live,
            span: &p.span,
            kinds: p.request.kinds,
            conflict_policy: p.request.conflicts,
            tables: p.tables.len(),
            writes: p.writes,
            conflicts: p.conflicts,
            triggers,
            skipped_tables: &p.skipped_tables,
            applied: false,
            report: None,
        }
    }
}

fn key_words(key: &RowObject) -> String {
    key.0.iter().zip(key.1).map(|(c, v)| format!("{c}={}", v.display())).collect::<Vec<_>>().join(", ")
}

fn cells_words(cells: &Option<Cells>) -> String {
    match cells {
        None => "none".to_string(),
        Some(c) => c.0.iter().map(|(n, v)| format!("{n}: {}", v.display())).collect::<Vec<_>>().join(", "),
    }
}

/// `  updated   (id=3)  price: 0.0 → 0.99` (damaged's value → base's).
fn human_write(l: &ChangeLine) -> String {
    let key = key_words(&l.key);
    match (&l.base, &l.damaged) {
        (Some(base), Some(damaged)) if l.columns.is_some() => {
            let cells: Vec<String> = base
                .0
                .iter()
                .zip(&damaged.0)
                .map(|((n, b), (_, d))| format!("{n}: {} → {}", d.display(), b.display()))
                .collect();
            format!("  revert    ({key})  {}\n", cells.join("; "))
        }
        (Some(base), _) => format!("  re-insert ({key})  {{{}}}\n", cells_words(&Some(Cells(base.0.clone())))),
        (None, _) => format!("  remove    ({key})  {{{}}}\n", cells_words(&l.damaged)),
    }
}

/// `  conflict  updated (id=3) price: base 0.99, damaged 0.0, live 1.29: live changed …; kept`.
fn human_conflict(l: &ConflictLine) -> String {
    let what = match l.column {
        Some(c) => format!("{c}: base {}, damaged {}, live {}", l.base, l.damaged, l.live),
        None => format!("row: base {}, damaged {}, live {}", l.base, l.damaged, l.live),
    };
    let resolution = match l.resolution {
        Resolution::Kept => "kept",
        Resolution::TakeBase => "base's value written",
    };
    format!("  conflict  {} ({})  {what}: {}; {resolution}\n", l.kind, key_words(&l.key), l.reason)
}

/// One table's counts for humans.
fn human_table(t: &RevertTable, c: &TableCounts) -> String {
    let spec = &t.spec;
    let mut s = format!(
        "== {} (key {}): base {} row(s), damaged {}, live {}\n",
        spec.table,
        spec.key_columns().join(", "),
        c.base_rows,
        c.damaged_rows,
        c.live_rows
    );
    let rows: Vec<Vec<String>> = c
        .cells
        .iter()
        .filter(|x| x.changed > 0 || x.in_scope)
        .map(|x| vec![x.column.clone(), x.changed.to_string(), if x.in_scope { "yes" } else { "no" }.to_string()])
        .collect();
    if !rows.is_empty() {
        s.push_str("  cells the incident changed, per column:\n");
        for line in crate::output::table(&["column", "cells changed", "reverted (--columns)"], &rows).lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    let (i, k) = (c.incident, c.in_scope);
    s.push_str(&format!(
        "  rows the incident changed: updated {} ({} in scope), deleted {} ({} in scope), inserted {} ({} in scope)",
        i.updated, k.updated, i.deleted, k.deleted, i.inserted, k.inserted
    ));
    if c.outside_where > 0 {
        s.push_str(&format!("; {} outside --where", c.outside_where));
    }
    s.push('\n');
    s.push_str(&format!(
        "  to write: {} cell(s), {} row(s) to re-insert, {} row(s) to remove ({} row(s) in all); already reverted: {} cell(s), {} row(s)\n",
        c.cells_to_revert + c.cells_taking_base,
        c.rows_to_reinsert,
        c.rows_to_remove,
        c.writes,
        c.cells_already_reverted,
        c.rows_already_reverted
    ));
    let r = c.row_conflicts;
    s.push_str(&format!(
        "  conflicts: {} cell(s){}; rows: {} updated row(s) live deleted, {} deleted row(s) live holds again, {} inserted row(s) live changed (kept)\n",
        c.cell_conflicts,
        if c.cells_taking_base > 0 { " (base's value written)" } else if c.cell_conflicts > 0 { " (kept)" } else { "" },
        r.updated,
        r.deleted,
        r.inserted
    ));
    s.push_str(&format!("  untouched: {} row(s) live wrote after the incident, which it did not touch\n", c.untouched));
    s
}

fn span_text(span: &Span) -> String {
    if let Some(between) = &span.between {
        return format!("  span     {between}\n");
    }
    let side = |t: &Option<revert::TakenAt>| match t {
        Some(t) => format!("taken {} ({})", crate::time::show(t.at), t.from),
        None => "taken at an unknown time".to_string(),
    };
    let mut s = format!("  base     {}\n  damaged  {}\n", side(&span.base), side(&span.damaged));
    match span.seconds {
        Some(secs) if secs < 0 => {
            s.push_str("  span     damaged was taken BEFORE base: are --base and --damaged the wrong way round?\n")
        }
        Some(secs) => s.push_str(&format!(
            "  span     {} between base and damaged: every write made between them is in their difference too\n",
            crate::output::human_age(chrono::TimeDelta::seconds(secs))
        )),
        None => {
            s.push_str("  span     unknown: every write made between base and damaged is in their difference too\n")
        }
    }
    s
}

fn plan_head(p: &RevertPlan) -> String {
    let mut s = format!("revert plan for live {} (dry run: nothing written)\n", p.live);
    s.push_str(&format!("  base: {}\n  damaged: {}\n", p.base, p.damaged));
    s.push_str(&span_text(&p.span));
    s
}

fn plan_tail(p: &RevertPlan) -> String {
    let m = p.merge.as_ref().expect("planned writes");
    let mut s = format!("{} row(s) to write, {} conflict(s)\n", p.writes, p.conflicts);
    if !m.first_statements.is_empty() {
        s.push_str(&format!("first {} statement(s):\n", m.first_statements.len()));
        for st in &m.first_statements {
            s.push_str(&format!("  {st}\n"));
        }
    }
    s.push_str(&super::merge::render_triggers(m));
    if p.request.strict && p.conflicts > 0 {
        s.push_str("--apply --strict is refused (exit 5) while anything is in conflict\n");
    }
    s.push_str("pass --apply to write them (compare-and-set, after a safety snapshot, in one transaction)\n");
    s
}

fn report_head(r: &RevertReport) -> String {
    let m = &r.merge;
    if m.snapshot.is_none() {
        return format!("nothing to revert in {}: no write planned; nothing written\n", r.plan.live);
    }
    let mut s = format!("reverted: {} row(s) written into {} in {:.2}s\n", m.applied, r.plan.live, m.seconds);
    s.push_str(&format!("  base: {}\n  damaged: {}\n", r.plan.base, r.plan.damaged));
    s.push_str(&span_text(&r.plan.span));
    s
}

fn report_tail(r: &RevertReport) -> String {
    let m = &r.merge;
    let mut s = format!("{} conflict(s) kept or resolved as listed\n", r.plan.conflicts);
    let Some(snapshot) = &m.snapshot else { return s };
    s.push_str(&format!("safety snapshot: {}\n", snapshot.display()));
    if m.skipped > 0 {
        s.push_str(&format!("skipped {} row(s) live changed between the plan and the write:\n", m.skipped));
        for k in &m.skipped_rows {
            let key: Vec<String> = k.key.iter().map(|(c, v)| format!("{c}={}", v.display())).collect();
            s.push_str(&format!("  {} ({}): {}\n", k.table, key.join(", "), k.reason));
        }
    }
    for q in &m.sequences {
        s.push_str(&format!(
            "sequence {} of {}.{} moved forward to {} (past the re-inserted keys)\n",
            q.sequence, q.table, q.column, q.last_value
        ));
    }
    s.push_str(&super::merge::render_trigger_writes(m));
    match (m.residual, &m.residual_error) {
        (Some(n), _) => s.push_str(&format!("re-check after the revert: {n} write(s) of the revert remain\n")),
        (None, e) => s.push_str(&format!(
            "re-check after the revert failed (the revert is committed): {}\n",
            e.as_deref().unwrap_or("unknown error")
        )),
    }
    if let Some(undo) = &m.undo {
        s.push_str(&format!("to undo: {undo}\n"));
    }
    s
}
