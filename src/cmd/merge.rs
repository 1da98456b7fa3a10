//! `lastgood merge`: put a chosen subset of the diff back into live. A dry run by default (the
//! plan: counts per table and kind, the first statements); `--apply` writes, under the writer lock,
//! after a safety snapshot, in one transaction (see `core/merge/`), and prints the command that
//! undoes it. Exit 0 when the re-diff after the commit finds nothing but the skipped rows (or
//! nothing was planned: then nothing is written), 1 when it finds more or cannot run.

use anyhow::Result;

use crate::core::diff;
use crate::core::lock::LiveLock;
use crate::core::merge::{self, MergePlan, MergeReport, MergeRequest};
use crate::core::triggers::{self, TriggerPolicy};
use crate::error::environment;

use super::{Context, PairArgs};
use crate::core::diff::{KindName, Kinds};
use crate::core::pair::{Pair, open_pair};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub pair: PairArgs,
    /// Only rows for which this SQL condition holds: on scratch's row for updated and deleted
    /// rows, on live's row for inserted rows.
    #[arg(long = "where", value_name = "SQL")]
    pub filter: Option<String>,
    /// What to put back (comma-separated): updated (scratch's values into rows live still has),
    /// deleted (re-insert rows live lost), inserted (remove rows live gained: rarely wanted).
    #[arg(long, value_delimiter = ',', value_enum, required = true, value_name = "KINDS")]
    pub restore: Vec<KindName>,
    /// Write to live (default: print the plan and write nothing).
    #[arg(long)]
    pub apply: bool,
    /// Abort the whole merge, writing nothing, if any planned row changed in live since the plan
    /// (default: skip such rows and report them).
    #[arg(long)]
    pub strict: bool,
    /// Triggers the writes would fire: refuse (exit 5, nothing written), skip (write with them
    /// disabled inside the transaction, restored before the commit), or fire (run them and count
    /// the rows they change, per table). PostgreSQL rules are refused whatever this says.
    #[arg(long, value_enum, default_value_t = TriggerPolicy::Refuse, value_name = "POLICY")]
    pub triggers: TriggerPolicy,
    /// How many of the planned statements to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,
}

pub fn run(args: &Args, ctx: &Context) -> Result<i32> {
    let kinds = Kinds::from_names(&args.restore);
    let Pair { scratch, live, scratch_db: mut sdb, live_db: mut ldb } = open_pair(&args.pair.scratch, &args.pair.live)?;
    // The file the writer lock is taken on; `None` when the engine locks by itself (PostgreSQL:
    // the write transaction takes lastgood's advisory lock).
    let lock_file = crate::engine::registry::for_location(&live).lock_file(&live);
    let prepared = diff::prepare(sdb.as_mut(), ldb.as_mut(), &args.pair.selection(true))?;
    drop((sdb, ldb));
    for w in &prepared.warnings {
        ctx.out.warn(w);
    }
    if let Some(note) = crate::engine::skipped_note(&prepared.skipped, "not merged") {
        ctx.out.note(&note);
    }
    let request = MergeRequest {
        kinds,
        filter: args.filter.clone(),
        strict: args.strict,
        trigger_policy: args.triggers,
        show: args.show,
    };
    if !args.apply {
        let plan = merge::plan(&scratch, &live, &prepared, request, false, &ctx.out)?;
        ctx.out.emit(&plan, render_plan)?;
        return Ok(crate::exit::OK);
    }
    let _lock = match &lock_file {
        Some(p) => {
            check_writable(p)?;
            merge::check_filter(&scratch, &live, &prepared, args.filter.as_deref())?;
            Some(LiveLock::acquire(p, "merge")?)
        }
        None => {
            merge::check_filter(&scratch, &live, &prepared, args.filter.as_deref())?;
            None
        }
    };
    let plan = merge::plan(&scratch, &live, &prepared, request, true, &ctx.out)?;
    let snapshot = crate::core::snapshot::snapshot_path(&live, ctx.now)?;
    let report = merge::apply(plan, &live, &snapshot, &ctx.out)?;
    ctx.out.emit(&report, render_report)?;
    // Not confirmed is the answer "no" (exit 1), said even under --quiet: the merge is committed.
    if let Some(n) = report.unexpected_residual() {
        eprintln!(
            "error: the merge is committed, but the re-diff found {n} change(s) of the selection beyond the {} skipped row(s): live changed after the commit (another writer, or a trigger); run `lastgood diff` to see them",
            report.skipped
        );
    } else if let Some(e) = &report.residual_error {
        eprintln!("error: the merge is committed, but the re-diff that confirms it failed: {e}");
    }
    Ok(if report.confirmed() { crate::exit::OK } else { crate::exit::FOUND })
}

/// A live file whose permissions say read-only is refused before anything is written (even root,
/// who could write it anyway, is taken at the file's word).
pub(super) fn check_writable(live: &std::path::Path) -> Result<()> {
    let meta = std::fs::metadata(live).map_err(|e| environment(format!("cannot read `{}`: {e}", live.display())))?;
    if meta.permissions().readonly() {
        return Err(environment(format!("live `{}` is read-only; nothing was written", live.display()))
            .hint("make it writable (chmod u+w) if you mean to merge into it")
            .into());
    }
    Ok(())
}

fn plan_table(p: &MergePlan) -> String {
    let rows: Vec<Vec<String>> = p
        .tables
        .iter()
        .map(|t| vec![t.table.clone(), t.updated.to_string(), t.deleted.to_string(), t.inserted.to_string()])
        .collect();
    crate::output::table(&["table", "updated", "deleted", "inserted"], &rows)
}

fn render_plan(p: &MergePlan) -> String {
    let mut s = format!("merge plan: {} row(s) to write into {} (dry run: nothing written)\n", p.total, p.live);
    s.push_str(&plan_table(p));
    if !p.first_statements.is_empty() {
        s.push_str(&format!("first {} statement(s):\n", p.first_statements.len()));
        for st in &p.first_statements {
            s.push_str(&format!("  {st}\n"));
        }
    }
    s.push_str(&render_triggers(p));
    s.push_str("pass --apply to write them (after a safety snapshot, in one transaction)\n");
    s
}

/// The triggers and rules on the written tables, each with its SQL, and what `--apply` does
/// about those that fire.
pub(super) fn render_triggers(p: &MergePlan) -> String {
    let listed = &p.triggers.listed;
    if listed.is_empty() {
        return String::new();
    }
    let mut s = format!("triggers and rules on the tables it writes ({}):\n", listed.len());
    for l in listed {
        let t = &l.trigger;
        let on = if t.relation == t.table {
            format!("`{}`", t.table)
        } else {
            format!("`{}` (via `{}`)", t.relation, t.table)
        };
        let kind = if t.kind == crate::engine::TriggerKind::Rule { "rule" } else { "trigger" };
        let fires = if l.fires { "FIRES on these writes" } else { "does not fire on these writes" };
        s.push_str(&format!(
            "  {kind} `{}` on {on}: {}, {}; {fires}\n",
            t.name,
            triggers::event_text(t),
            triggers::state_name(t.enabled)
        ));
        for line in t.sql.lines() {
            s.push_str(&format!("      {line}\n"));
        }
    }
    let firing = |k| listed.iter().filter(|l| l.fires && l.trigger.kind == k).count();
    let (rules, fired) = (firing(crate::engine::TriggerKind::Rule), firing(crate::engine::TriggerKind::Trigger));
    if rules > 0 {
        s.push_str(&format!(
            "--apply is refused (exit 5): {rules} rule(s) would rewrite these writes, whatever --triggers says\n"
        ));
    } else if fired > 0 {
        s.push_str(&match p.request.trigger_policy {
            TriggerPolicy::Refuse => format!("--apply is refused (exit 5) while {fired} trigger(s) would fire: choose --triggers skip (write with them disabled) or --triggers fire (run them, count what they change)\n"),
            TriggerPolicy::Skip => format!("--triggers skip: the {fired} firing trigger(s) are disabled inside the transaction and restored before the commit\n"),
            TriggerPolicy::Fire => format!("--triggers fire: the {fired} trigger(s) run; the report counts the rows they change, and the safety snapshot covers the whole database\n"),
        });
    }
    s
}

/// What the triggers did: skipped, or the rows they changed (never hidden behind the re-diff,
/// which looks only at the merged selection).
pub(super) fn render_trigger_writes(r: &MergeReport) -> String {
    let fired = r.plan.triggers.listed.iter().filter(|l| l.fires).count();
    match (r.plan.request.trigger_policy, &r.trigger_writes) {
        (_, _) if fired == 0 => String::new(),
        (TriggerPolicy::Skip, _) => format!(
            "triggers: {fired} skipped (disabled inside the transaction, restored as they were before the commit)\n"
        ),
        (_, Some(w)) if w.total > 0 => {
            format!("triggers: {fired} fired and changed {} row(s) outside the merge: {}\n", w.total, w.describe())
        }
        (_, Some(_)) => format!("triggers: {fired} fired and changed no row outside the merge\n"),
        (_, None) => format!("triggers: {fired} fired; the rows they changed could not be counted\n"),
    }
}

fn render_report(r: &MergeReport) -> String {
    let Some(snapshot) = &r.snapshot else {
        return format!("nothing to merge into {}: no change of the selection; nothing written\n", r.plan.live);
    };
    let mut s = format!("merged {} row(s) into {} in {:.2}s\n", r.applied, r.plan.live, r.seconds);
    s.push_str(&plan_table(&r.plan));
    s.push_str(&format!("safety snapshot: {}\n", snapshot.display()));
    if r.skipped > 0 {
        s.push_str(&format!("skipped {} row(s) that could not be written as planned:\n", r.skipped));
        for k in &r.skipped_rows {
            let key: Vec<String> = k.key.iter().map(|(c, v)| format!("{c}={}", v.display())).collect();
            s.push_str(&format!("  {} {} ({}): {}\n", k.table, k.kind, key.join(", "), k.reason));
        }
    }
    for q in &r.sequences {
        s.push_str(&format!(
            "sequence {} of {}.{} moved forward to {} (past the re-inserted keys)\n",
            q.sequence, q.table, q.column, q.last_value
        ));
    }
    s.push_str(&render_trigger_writes(r));
    match (r.residual, &r.residual_error) {
        (Some(n), _) => s.push_str(&format!("re-diff after the merge: {n} change(s) of the merged selection remain\n")),
        (None, e) => s.push_str(&format!(
            "re-diff after the merge failed (the merge is committed): {}\n",
            e.as_deref().unwrap_or("unknown error")
        )),
    }
    if let Some(undo) = &r.undo {
        s.push_str(&format!("to undo: {undo}\n"));
    }
    s
}
