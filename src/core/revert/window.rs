//! Both sides of an incident restored from a recovery window (`revert --txn X`, `revert
//! --base-txn A --damaged-txn B`): base is the state just before A committed, damaged the state
//! just after B (A = B for one transaction), restored by the window's engine in one go — on
//! PostgreSQL one throwaway instance, paused before A, then moved on past B, so nothing is
//! unpacked twice — into two new scratch databases on live's server.
//!
//! Invariants: both moments lie in one window (else `BadInput`, the windows printed by the
//! selection); B is not older than A; the scratch databases are dropped when the revert is done
//! (`Restored::drop_all`), unless the operator keeps them.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::span::Span;
use crate::core::catalog::{Catalog, Restorable, Selector, Target};
use crate::core::request::catalogued;
use crate::core::restore::{RestoreArgs, plan_window};
use crate::engine::{Location, RestoreTarget, registry};
use crate::error::{bad_input, usage};
use crate::output::Output;

/// What to restore, as the command line says it.
pub struct WindowSides<'a> {
    /// The transaction just before which base is taken.
    pub base_txn: u64,
    /// The transaction just after which damaged is taken.
    pub damaged_txn: u64,
    pub live: &'a str,
    pub tables: Option<Vec<String>>,
    pub scratch_dir: Option<PathBuf>,
    pub now: DateTime<Utc>,
}

/// The two scratch databases, open-able, and what to say about them.
pub struct Restored {
    pub base: Location,
    pub damaged: Location,
    /// Their names, for `scratch drop`.
    pub names: [String; 2],
    /// The span between them, in words for the plan.
    pub span: Span,
    /// The report of the restore (printed on stderr unless quiet).
    pub report: String,
}

/// Restores both sides (module docs). Errors: `Usage` when A is newer than B; `BadInput` when
/// no window, or not one window, holds both; the engine's restore errors (nothing left).
pub fn restore(catalog: &Catalog, req: WindowSides<'_>, out: &Output) -> Result<Restored> {
    let (a, b) = (req.base_txn, req.damaged_txn);
    if a > b {
        return Err(usage(format!(
            "--base-txn {a} is newer than --damaged-txn {b}: base is taken just before the first transaction of the incident, damaged just after its last"
        ))
        .into());
    }
    let first = catalog.select(Selector::Txn { xid: a, after: false })?;
    let Restorable::Window { window, to } = first.restorable else {
        return Err(bad_input(format!("no recovery window holds transaction {a}")).into());
    };
    if b != a {
        let second = catalog.select(Selector::Txn { xid: b, after: true })?;
        match second.restorable {
            Restorable::Window { window: w, .. } if w.id == window.id => {}
            _ => {
                return Err(bad_input(format!(
                    "transactions {a} and {b} are not in one recovery window ({} holds {a})",
                    window.id
                ))
                .into());
            }
        }
    }
    let then = Target::AfterTxn(b);
    let args = RestoreArgs {
        why: first.reason.clone(),
        tables: req.tables.clone(),
        only_copy: None,
        target: RestoreTarget {
            into: None,
            scratch_dir: req.scratch_dir.clone(),
            live: Some(req.live.to_string()),
            scratch_url: None,
            database: None,
        },
        force: false,
        jobs: 2,
        now: req.now,
    };
    let job = plan_window(catalog, window, to, Some(then), args)?;
    let done = job.execute(out)?;
    let mut restored = done.restored().into_iter();
    let (Some((base, base_name)), Some((damaged, damaged_name))) = (restored.next(), restored.next()) else {
        return Err(anyhow::anyhow!("the {} engine restored fewer than two sides", window.format.label()));
    };
    let between = if a == b {
        format!("exactly transaction {a}, restored just before and just after it from recovery window {}", window.id)
    } else {
        format!("transactions {a} to {b}, restored from recovery window {}", window.id)
    };
    Ok(Restored {
        base,
        damaged,
        names: [base_name, damaged_name],
        span: Span { between: Some(between), restore_seconds: Some(done.seconds()), ..Span::default() },
        report: done.text(),
    })
}

impl Restored {
    /// Drops both scratch databases, on `live`'s server, by the engine's `scratch drop` (which
    /// never drops live or a catalogued source). Best effort: a failure is a warning naming the
    /// one left.
    pub fn drop_all(&self, catalog: &Catalog, live: &str, out: &Output) {
        let sources = catalogued(catalog).sources;
        let live = Location::parse(live);
        for name in &self.names {
            if let Err(e) = registry::for_location(&live).scratch_drop(&live, Some(name), &sources) {
                out.warn(&format!("scratch database `{name}` was not dropped: {e:#}"));
            }
        }
    }
}
