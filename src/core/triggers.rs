//! Side effects of writing rows into live: the triggers (and PostgreSQL rules) on the tables a
//! write goes to, and the operator's policy for them, `--triggers refuse|skip|fire`. Merge uses
//! it; every command that writes rows into live must use it the same way (revert too).
//!
//! The steps, in the write transaction:
//! 1. `SideEffects::list` re-lists the triggers of the written tables inside the transaction
//!    (live may have changed since the plan) and marks which would fire on the planned writes
//!    (`fires`: enabled for this session, answering to an event the write makes, `UPDATE OF` a
//!    column it sets); `check` refuses, before anything is written: a firing rule always (rules
//!    rewrite the statement and no trigger setting stops them), a firing trigger under `refuse`.
//! 2. `Guard::start`, after the safety snapshot, under `skip` suspends the triggers of every
//!    table on which one would fire (`WriteTxn::suspend_trigger`; see `to_suspend`), and counts
//!    the rows written so far (`WriteTxn::row_writes`).
//! 3. The caller writes, marking each unit it may roll back to a savepoint (`mark`/`discard`:
//!    rows written and then rolled back are taken out of the count).
//! 4. `Guard::finish` counts again: the rows written beyond the caller's own are the triggers'
//!    (`TriggerWrites`, per table). Under `refuse` and `skip` there must be none, or everything
//!    rolls back. It then resumes the suspended triggers and checks they are back exactly as
//!    they were (same SQL and state), before the caller commits.
//!
//! Invariant: no trigger the operator did not choose to run changes a row, and no trigger is
//! ever seen suspended outside the transaction (a kill rolls the suspension back too).

use anyhow::Result;
use serde::Serialize;

use crate::engine::{RowWrites, Trigger, TriggerEvent, TriggerKind, TriggerState, WriteTxn};
use crate::error::refused;

/// What to do with triggers that a write would fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TriggerPolicy {
    /// Write nothing (exit 5) while a trigger would fire.
    #[default]
    Refuse,
    /// Write with those triggers disabled, inside the same transaction.
    Skip,
    /// Let them run, and count the rows they change.
    Fire,
}

impl TriggerPolicy {
    pub fn name(self) -> &'static str {
        match self {
            TriggerPolicy::Refuse => "refuse",
            TriggerPolicy::Skip => "skip",
            TriggerPolicy::Fire => "fire",
        }
    }
}

/// The writes one table gets: the events they make, and for updates the columns they set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableWrites {
    pub table: String,
    pub inserts: bool,
    pub deletes: bool,
    /// `Some(columns set)` when rows are updated.
    pub updates: Option<Vec<String>>,
}

impl TableWrites {
    /// Whether `t`'s events and `UPDATE OF` columns meet these writes (unknown events: yes).
    fn sets_off(&self, t: &Trigger) -> bool {
        if t.events.is_empty() {
            return true;
        }
        t.events.iter().any(|e| match e {
            TriggerEvent::Insert => self.inserts,
            TriggerEvent::Delete => self.deletes,
            TriggerEvent::Update => self.updates.as_ref().is_some_and(|cols| {
                // Case-insensitively: a name matched too often only makes the answer safer.
                t.update_of.is_empty() || t.update_of.iter().any(|c| cols.iter().any(|x| x.eq_ignore_ascii_case(c)))
            }),
            TriggerEvent::Truncate => false,
        })
    }
}

/// A trigger or rule on a written table, and whether the planned writes would set it off.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub trigger: Trigger,
    pub fires: bool,
}

/// The triggers and rules on the tables a write goes to.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct SideEffects {
    pub listed: Vec<Listed>,
}

impl SideEffects {
    /// Marks which of `triggers` the `writes` would set off. A statement-level trigger of a
    /// partition does not fire on statements naming its parent.
    pub fn list(triggers: Vec<Trigger>, writes: &[TableWrites]) -> SideEffects {
        let listed = triggers
            .into_iter()
            .map(|t| {
                let w = writes.iter().find(|w| w.table == t.table);
                let own_statement = t.row_level || t.relation == t.table;
                let fires = t.active && own_statement && w.is_some_and(|w| w.sets_off(&t));
                Listed { trigger: t, fires }
            })
            .collect();
        SideEffects { listed }
    }

    fn firing(&self, kind: TriggerKind) -> impl Iterator<Item = &Listed> {
        self.listed.iter().filter(move |l| l.fires && l.trigger.kind == kind)
    }

    /// Errors: `Refused` when a rule would fire (whatever the policy), or a trigger would under
    /// `refuse`; the message names them.
    pub fn check(&self, policy: TriggerPolicy) -> Result<()> {
        let names = |it: &mut dyn Iterator<Item = &Listed>| {
            it.map(|l| format!("`{}` on `{}`", l.trigger.name, l.trigger.relation)).collect::<Vec<_>>().join(", ")
        };
        let rules = names(&mut self.firing(TriggerKind::Rule));
        if !rules.is_empty() {
            return Err(refused(format!(
                "the write would set off rule(s) {rules}, which rewrite it and which no trigger setting stops; nothing was written"
            ))
            .hint("leave that table out (--tables), or drop or disable the rule (ALTER TABLE … DISABLE RULE) first")
            .into());
        }
        let triggers = names(&mut self.firing(TriggerKind::Trigger));
        if policy == TriggerPolicy::Refuse && !triggers.is_empty() {
            return Err(refused(format!(
                "the write would fire trigger(s) {triggers}, which may change rows it was not asked to change; nothing was written"
            ))
            .hint("the dry run shows what they do; pass --triggers skip to write with them disabled, or --triggers fire to run them and count what they change")
            .into());
        }
        Ok(())
    }

    /// The triggers to suspend under `skip`, in creation order: every active trigger of a table
    /// on which one would fire. All of them, not only the firing ones: SQLite fires a table's
    /// triggers newest first and suspends by dropping and re-creating, so re-creating only some
    /// would change the order in which the table's triggers fire from then on.
    fn to_suspend(&self) -> Vec<Trigger> {
        let tables: Vec<&str> = self.firing(TriggerKind::Trigger).map(|l| l.trigger.table.as_str()).collect();
        self.listed
            .iter()
            .filter(|l| l.trigger.kind == TriggerKind::Trigger && l.trigger.active)
            .filter(|l| tables.contains(&l.trigger.table.as_str()))
            .map(|l| l.trigger.clone())
            .collect()
    }
}

/// Rows changed by triggers during a write: per table, and those the engine could not place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TriggerWrites {
    pub total: u64,
    pub tables: Vec<TableRows>,
    /// Rows SQLite counted but could not name a table for (`WITHOUT ROWID` tables).
    pub unattributed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

impl TriggerWrites {
    /// The rows beyond `own` (rows the caller wrote itself, per table) in `kept`.
    fn beyond(kept: &RowWrites, own: &[(String, u64)]) -> TriggerWrites {
        let own_total: u64 = own.iter().map(|(_, n)| n).sum();
        let mut tables: Vec<TableRows> = kept
            .by_table
            .iter()
            .map(|(t, n)| {
                let mine = own.iter().filter(|(o, _)| o == t).map(|(_, n)| n).sum::<u64>();
                TableRows { table: t.clone(), rows: n.saturating_sub(mine) }
            })
            .filter(|r| r.rows > 0)
            .collect();
        tables.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.table.cmp(&b.table)));
        let total = kept.total.saturating_sub(own_total);
        let named: u64 = tables.iter().map(|r| r.rows).sum();
        TriggerWrites { total: total.max(named), unattributed: total.saturating_sub(named), tables }
    }

    /// `audit` 1000, `log` 2 (for messages).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.tables.iter().map(|r| format!("{} in `{}`", r.rows, r.table)).collect();
        if self.unattributed > 0 {
            parts.push(format!("{} in tables SQLite does not name (WITHOUT ROWID)", self.unattributed));
        }
        parts.join(", ")
    }
}

/// The policy carried out in one write transaction (see the module docs, steps 2 to 4).
pub struct Guard {
    policy: TriggerPolicy,
    tables: Vec<String>,
    suspended: Vec<Trigger>,
    base: Option<RowWrites>,
    discarded: RowWrites,
}

/// The count at a point the caller may roll back to (`Guard::mark`).
pub struct Mark(Option<RowWrites>);

impl Guard {
    /// After the safety snapshot, before the first write to `tables`. Errors: `Refused` under
    /// `fire` when the engine cannot count rows (PostgreSQL `track_counts` off); the engine's
    /// error when a trigger cannot be suspended (not the table's owner).
    pub fn start(
        tx: &mut dyn WriteTxn,
        policy: TriggerPolicy,
        effects: &SideEffects,
        tables: &[String],
    ) -> Result<Guard> {
        let suspended = if policy == TriggerPolicy::Skip { effects.to_suspend() } else { Vec::new() };
        for t in &suspended {
            tx.suspend_trigger(t)?;
        }
        let base = tx.row_writes(tables)?;
        if base.is_none() && policy == TriggerPolicy::Fire {
            return Err(refused("--triggers fire counts the rows triggers change, but live does not count row changes (track_counts is off); nothing was written")
                .hint("turn track_counts on, or choose --triggers skip")
                .into());
        }
        Ok(Guard { policy, tables: tables.to_vec(), suspended, base, discarded: RowWrites::default() })
    }

    /// The count now, before a unit of writes the caller may roll back to a savepoint.
    pub fn mark(&self, tx: &mut dyn WriteTxn) -> Result<Mark> {
        Ok(Mark(if self.base.is_some() { tx.row_writes(&self.tables)? } else { None }))
    }

    /// After rolling back to the savepoint taken at `mark`: those rows were not written.
    pub fn discard(&mut self, tx: &mut dyn WriteTxn, mark: Mark) -> Result<()> {
        if let (Some(before), Some(now)) = (mark.0, tx.row_writes(&self.tables)?) {
            self.discarded.add(&now.since(&before));
        }
        Ok(())
    }

    /// After the last write, before the commit: counts the triggers' rows (`own`: the rows the
    /// caller wrote, per table), resumes the suspended triggers and checks they are back as they
    /// were. Returns the count, `None` when the engine cannot count. Errors: `Refused` when, under
    /// `refuse` or `skip`, rows beyond the caller's own were written; anything else that went
    /// wrong resuming. The caller then rolls back.
    pub fn finish(self, tx: &mut dyn WriteTxn, own: &[(String, u64)]) -> Result<Option<TriggerWrites>> {
        if self.policy == TriggerPolicy::Fire {
            tx.run_deferred()?;
        }
        let writes = match (&self.base, tx.row_writes(&self.tables)?) {
            (Some(base), Some(now)) => {
                let mut kept = now.since(base);
                kept = RowWrites {
                    total: kept.total.saturating_sub(self.discarded.total),
                    by_table: kept
                        .by_table
                        .iter()
                        .map(|(t, n)| {
                            (t.clone(), n.saturating_sub(self.discarded.by_table.get(t).copied().unwrap_or(0)))
                        })
                        .collect(),
                };
                Some(TriggerWrites::beyond(&kept, own))
            }
            _ => None,
        };
        if let Some(w) = writes.as_ref().filter(|w| w.total > 0 && self.policy != TriggerPolicy::Fire) {
            return Err(refused(format!(
                "rows the write was not asked to change were changed inside its transaction ({}), by a trigger the plan did not see fire; nothing was written",
                w.describe()
            ))
            .hint("run the dry run to see the triggers; pass --triggers fire to let them run and count what they change")
            .into());
        }
        self.resume(tx)?;
        Ok(writes)
    }

    /// Resumes the suspended triggers in creation order, then checks each is back with the same
    /// SQL and state (SQLite re-creates it from its SQL: a byte-for-byte round trip).
    fn resume(&self, tx: &mut dyn WriteTxn) -> Result<()> {
        if self.suspended.is_empty() {
            return Ok(());
        }
        for t in &self.suspended {
            tx.resume_trigger(t)?;
        }
        let now = tx.triggers(&self.tables)?;
        for t in &self.suspended {
            let back = now
                .iter()
                .any(|n| n.relation == t.relation && n.name == t.name && n.sql == t.sql && n.enabled == t.enabled);
            anyhow::ensure!(
                back,
                "trigger `{}` on `{}` did not come back exactly as it was after the write; nothing was written",
                t.name,
                t.relation
            );
        }
        Ok(())
    }
}

/// A one-line summary of the enabled states, for plans: `enabled`, `always`, …
pub fn state_name(s: TriggerState) -> &'static str {
    match s {
        TriggerState::Enabled => "enabled",
        TriggerState::Always => "always",
        TriggerState::Replica => "replica only",
        TriggerState::Disabled => "disabled",
    }
}

/// `AFTER UPDATE OF a, b` / `BEFORE INSERT OR DELETE` (for plans).
pub fn event_text(t: &Trigger) -> String {
    let events: Vec<String> = t
        .events
        .iter()
        .map(|e| match e {
            TriggerEvent::Insert => "INSERT".to_string(),
            TriggerEvent::Delete => "DELETE".to_string(),
            TriggerEvent::Truncate => "TRUNCATE".to_string(),
            TriggerEvent::Update if t.update_of.is_empty() => "UPDATE".to_string(),
            TriggerEvent::Update => format!("UPDATE OF {}", t.update_of.join(", ")),
        })
        .collect();
    let what = if events.is_empty() { "any write".to_string() } else { events.join(" OR ") };
    match t.kind {
        TriggerKind::Rule => format!("ON {what} DO {}", t.timing),
        TriggerKind::Trigger => {
            let level = if t.row_level { "" } else { " (per statement)" };
            format!("{} {what}{level}", if t.timing.is_empty() { "?" } else { &t.timing })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(events: Vec<TriggerEvent>, update_of: &[&str]) -> Trigger {
        Trigger {
            table: "t".into(),
            relation: "t".into(),
            name: "x".into(),
            kind: TriggerKind::Trigger,
            timing: "AFTER".into(),
            row_level: true,
            events,
            update_of: update_of.iter().map(|s| s.to_string()).collect(),
            enabled: TriggerState::Enabled,
            active: true,
            sql: String::new(),
            address: String::new(),
        }
    }

    #[test]
    fn a_trigger_fires_only_on_the_events_and_columns_the_write_makes() {
        let upd = |cols: &[&str]| TableWrites {
            table: "t".into(),
            updates: Some(cols.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let fires = |t: Trigger, w: &TableWrites| SideEffects::list(vec![t], std::slice::from_ref(w)).listed[0].fires;
        assert!(fires(trigger(vec![TriggerEvent::Update], &[]), &upd(&["v"])));
        assert!(!fires(trigger(vec![TriggerEvent::Insert], &[]), &upd(&["v"])));
        assert!(fires(trigger(vec![TriggerEvent::Update], &["V"]), &upd(&["v"])));
        assert!(!fires(trigger(vec![TriggerEvent::Update], &["w"]), &upd(&["v"])));
        assert!(fires(trigger(Vec::new(), &[]), &upd(&["v"])), "unknown events: taken to fire");
        let ins = TableWrites { table: "t".into(), inserts: true, ..Default::default() };
        assert!(fires(trigger(vec![TriggerEvent::Insert, TriggerEvent::Delete], &[]), &ins));
        let mut off = trigger(vec![TriggerEvent::Insert], &[]);
        off.active = false;
        assert!(!fires(off, &ins));
        let mut child_statement = trigger(vec![TriggerEvent::Insert], &[]);
        (child_statement.row_level, child_statement.relation) = (false, "t_1".into());
        assert!(!fires(child_statement, &ins));
    }

    #[test]
    fn trigger_writes_are_the_rows_beyond_the_callers_own() {
        let kept = RowWrites { total: 1012, by_table: [("t".into(), 12), ("audit".into(), 990)].into() };
        let w = TriggerWrites::beyond(&kept, &[("t".into(), 10)]);
        assert_eq!(w.total, 1002);
        assert_eq!(
            w.tables,
            [TableRows { table: "audit".into(), rows: 990 }, TableRows { table: "t".into(), rows: 2 }]
        );
        assert_eq!(w.unattributed, 10);
        assert!(w.describe().starts_with("990 in `audit`, 2 in `t`"));
    }
}
