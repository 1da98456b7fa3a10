//! Drills on a recovery window (`window = …` in a drill config, `--window`): prove that the
//! window restores to its newest moment and holds sane data there.
//!
//! The window is found among the catalog's by the cluster's system identifier (all digits), the
//! window's id, or its log folder (the WAL archive; anything else, relative to the config file);
//! of several (timelines), the one reaching furthest is drilled. A database without `repos`
//! (and no `--repo`) naming `<repository>/wal` scans that repository. None found is a `Usage` error
//! naming what was asked and listing the windows there are (exit 2, as a config error).
//!
//! Checks, in this order: `recovery window` (its span), `WAL age (RPO)` against `max_age` (RPO =
//! now − the window's end, its newest archived commit), `gaps` (any gap fails, each named with its
//! span and missing segments), `verify` of the newest base backup's copies, then `restore`: the
//! window replayed by its engine (`core::restore::plan_window`: PostgreSQL unpacks the base
//! backup into a throwaway instance under `scratch_dir` and copies `dbname`'s tables into a new
//! scratch database on the drill's `server`) to its end — as "just after its last transaction"
//! when the log says which (a recovery to a time stops only at a later record, which the newest
//! commit has none of) — and the data checks on that scratch database, then `drop scratch`. A
//! window whose end lies in a gap is not restored at all (nothing after the gap is reachable):
//! `restore` fails naming the gap and the data checks are not run. RTO = restore plus checks.
//!
//! Invariant: the scratch database is dropped afterwards — on success, when a check fails, and on
//! Ctrl-C — and the throwaway instance is gone when the restore returns (its engine's promise).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{DatabaseReport, DatabaseSpec, Recorder, finish, restore_failed, run_data_checks, verify_copies};
use crate::core::catalog::{Catalog, RecoveryWindow, Target};
use crate::core::request::catalogued;
use crate::core::restore::{RestoreArgs, plan_window};
use crate::engine::source::Gap;
use crate::engine::{Access, Location, RestoreTarget, registry};
use crate::error::{bad_input, usage};
use crate::output::Output;

/// Which window a drill restored, and to what moment.
#[derive(Debug, Clone, Serialize)]
pub struct WindowDrilled {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<u32>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub gaps: Vec<Gap>,
    /// The moment restored: the window's end; `None` when a gap reaches the end (not restored).
    pub moment: Option<DateTime<Utc>>,
    /// How the engine was told to reach it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The database of the cluster that was checked, when the config names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
}

impl WindowDrilled {
    /// What a drill of `w` restored: `target` (its end), or nothing (`None`, a gap at the end).
    fn of(w: &RecoveryWindow, target: Option<Target>, dbname: Option<String>) -> WindowDrilled {
        WindowDrilled {
            id: w.id.clone(),
            system: w.system.clone(),
            timeline: w.timeline,
            from: w.window.from,
            to: w.window.to,
            gaps: w.window.gaps.clone(),
            moment: target.map(|_| w.window.to),
            target,
            dbname,
        }
    }

    /// `recovery window ID at MOMENT` (or `… ending in a gap`).
    pub fn describe(&self) -> String {
        match self.moment {
            Some(m) => format!("recovery window {} at {}", self.id, crate::time::show(m)),
            None => format!("recovery window {} (ending in a gap)", self.id),
        }
    }
}

/// A `window` value that names a folder, made absolute against the config file's folder `base`.
pub(super) fn resolve_folder(w: &mut String, base: &Path) {
    if Path::new(w.as_str()).is_relative() && !w.bytes().all(|b| b.is_ascii_digit()) && !is_window_id(w) {
        *w = base.join(&*w).display().to_string();
    }
}

/// The repository whose WAL archive folder (`<repository>/wal`) `w` names, if it names one.
pub(super) fn repository_of(w: &str) -> Option<std::path::PathBuf> {
    if w.bytes().all(|b| b.is_ascii_digit()) || is_window_id(w) {
        return None;
    }
    let p = Path::new(w);
    let folder = p.file_name().is_some_and(|n| n == crate::core::walarchive::WAL_DIR);
    folder.then(|| p.parent().map(Path::to_path_buf)).flatten()
}

/// Whether `s` looks like a window's id (10 hex digits).
fn is_window_id(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Drills the window `wanted` names (module docs); `rec` holds what was recorded before.
/// Errors: `Usage` when no window of `catalog` is the one named, or for keys only file backups
/// take.
pub(super) fn drill(
    spec: &DatabaseSpec,
    wanted: &str,
    catalog: &Catalog,
    now: DateTime<Utc>,
    mut rec: Recorder,
    out: &Output,
) -> Result<DatabaseReport> {
    if spec.require_copies.is_some() || spec.file_match.is_some() {
        return Err(usage(format!(
            "drill config: database `{}` names recovery window `{wanted}`: `require_copies` and `match` are for file backups",
            spec.name
        ))
        .into());
    }
    let w = find(catalog, wanted, &spec.name)?;
    let t = Instant::now();
    let mut report = DatabaseReport::empty(&spec.name);
    report.backup_id = Some(w.id.clone());
    report.backup_path = Some(w.log.clone().unwrap_or_else(|| w.repository.clone()));
    report.taken_at = Some(w.window.to);
    report.warnings = w.warnings.iter().map(|x| format!("recovery window {}: {x}", w.id)).collect();
    rec.record("recovery window", t, Ok(w.describe()));
    report.rpo_seconds = Some(record_wal_age(spec, w, now, &mut rec, t));
    rec.record("gaps", t, gaps_check(w));
    let base = w.bases.iter().rev().find(|b| b.taken_at <= w.window.to).or(w.bases.first());
    if let Some(b) = base.and_then(|b| catalog.backups.iter().find(|x| x.id == b.id)) {
        verify_copies(b, &mut rec);
    }
    let (took, target) = match w.window.gap_at(w.window.to) {
        None => {
            // A time target stops only at a later record, which the newest commit has none of.
            let target = w.window.transactions.map_or(Target::Time(w.window.to), |r| Target::AfterTxn(r.last));
            (restore_and_check(spec, catalog, w, target, now, &mut rec, out), Some(target))
        }
        Some(g) => {
            let e = bad_input(format!(
                "recovery window {} ends in a gap from {} ({}): nothing after it can be restored, so the end is not drilled",
                w.id,
                crate::time::show(g.from),
                g.reason
            ));
            (restore_failed(spec, &mut rec, Instant::now(), e.into()), None)
        }
    };
    report.window = Some(WindowDrilled::of(w, target, spec.dbname.clone()));
    finish(spec, report, took, rec)
}

/// The window `wanted` names (module docs). Errors: `Usage` naming it and the windows there are.
fn find<'c>(catalog: &'c Catalog, wanted: &str, name: &str) -> Result<&'c RecoveryWindow> {
    let folder = std::fs::canonicalize(wanted).ok();
    let matches = |w: &&RecoveryWindow| {
        w.system.as_deref() == Some(wanted)
            || w.id == wanted
            || w.log.as_ref().is_some_and(|l| Some(std::fs::canonicalize(l).unwrap_or_else(|_| l.clone())) == folder)
    };
    let by_reach = |w: &&&RecoveryWindow| (w.window.to, w.timeline);
    if let Some(w) = catalog.windows.iter().filter(matches).collect::<Vec<_>>().iter().max_by_key(by_reach) {
        return Ok(w);
    }
    let what = if wanted.bytes().all(|b| b.is_ascii_digit()) {
        format!("of system identifier {wanted}")
    } else if is_window_id(wanted) {
        format!("with id {wanted}")
    } else {
        format!("with WAL archive folder `{wanted}`")
    };
    let repos: Vec<String> = catalog.repositories.iter().map(|r| r.display().to_string()).collect();
    let there: Vec<String> = catalog.windows.iter().map(RecoveryWindow::describe).collect();
    let hint = if there.is_empty() {
        "the repositories hold no recovery window (base backups under base/, the WAL archive under wal/)".to_string()
    } else {
        format!("the windows there: {}", there.join("; "))
    };
    Err(usage(format!(
        "drill config: database `{name}`: no recovery window {what} in {}",
        if repos.is_empty() { "the repositories".to_string() } else { repos.join(", ") }
    ))
    .hint(hint)
    .into())
}

/// Records the age of the window's newest archived commit against `max_age`; returns the RPO in
/// seconds (0 for an end in the future: clock skew).
fn record_wal_age(spec: &DatabaseSpec, w: &RecoveryWindow, now: DateTime<Utc>, rec: &mut Recorder, t: Instant) -> i64 {
    let age = (now - w.window.to).max(chrono::TimeDelta::zero());
    if let Some(max) = spec.max_age {
        let ok = age.to_std().map(|a| a <= max.0).unwrap_or(true);
        let msg = format!(
            "newest archived commit at {}, {} old (max_age {})",
            crate::time::show(w.window.to),
            crate::output::human_age(age),
            humantime::format_duration(max.0)
        );
        rec.record("WAL age (RPO)", t, if ok { Ok(msg) } else { Err(anyhow::anyhow!(msg)) });
    }
    age.num_seconds()
}

/// Passes for a window without gaps; else fails naming each gap, its span and its segments.
fn gaps_check(w: &RecoveryWindow) -> Result<String> {
    let gaps = &w.window.gaps;
    if gaps.is_empty() {
        return Ok(format!(
            "no gap from {} to {} ({} log file(s))",
            crate::time::show(w.window.from),
            crate::time::show(w.window.to),
            w.log_files
        ));
    }
    let named: Vec<String> = gaps
        .iter()
        .map(|g| {
            let to = if g.to == w.window.to { "the end".to_string() } else { crate::time::show(g.to) };
            format!("gap from {} to {to} ({})", crate::time::show(g.from), g.reason)
        })
        .collect();
    Err(anyhow::anyhow!(
        "recovery window {} has {} gap(s): {}; no restore crosses a gap",
        w.id,
        gaps.len(),
        named.join("; ")
    ))
}

/// Restores `w` to `target` into a new scratch database on the drill's server, runs the data
/// checks there and drops it (module docs). Returns restore-plus-checks time when the restore
/// succeeded.
fn restore_and_check(
    spec: &DatabaseSpec,
    catalog: &Catalog,
    w: &RecoveryWindow,
    target: Target,
    now: DateTime<Utc>,
    rec: &mut Recorder,
    out: &Output,
) -> Option<Duration> {
    let t = Instant::now();
    let Some(server) = spec.server.as_deref() else {
        let e = usage(format!(
            "recovery window {} is restored into a scratch database, and no server is given for it",
            w.id
        ))
        .hint("pass --scratch-url URL, or `server = \"…\"` in the drill config")
        .into();
        return restore_failed(spec, rec, t, e);
    };
    // The scratch server stands in for live: the new scratch database goes on it, and its own
    // database is never written.
    let args = RestoreArgs {
        why: format!("drill of `{}`: recovery window {} to its end, {}", spec.name, w.id, target.describe()),
        tables: None,
        only_copy: None,
        target: RestoreTarget {
            into: None,
            scratch_dir: spec.scratch_dir.clone(),
            live: Some(server.to_string()),
            scratch_url: None,
            database: spec.dbname.clone(),
        },
        force: false,
        jobs: 2,
        now,
    };
    let done = match plan_window(catalog, w, target, None, args).and_then(|job| job.execute(out)) {
        Ok(d) => d,
        Err(e) => return restore_failed(spec, rec, t, e),
    };
    let Some((restored, name)) = done.restored().into_iter().next() else {
        let e = anyhow::anyhow!("the {} engine restored nothing to check", w.format.label());
        return restore_failed(spec, rec, t, e);
    };
    let scratch = Scratch::new(Location::parse(server), name, catalog);
    let words = done.text().lines().next().unwrap_or_default().to_string();
    rec.record(
        "restore",
        t,
        Ok(format!("{words}; into scratch database `{}` in {:.2}s", scratch.name, done.seconds())),
    );
    match crate::engine::open(&restored, Access::ReadOnly) {
        Ok(mut db) => run_data_checks(spec, db.as_mut(), rec),
        Err(e) => {
            let why = format!("{e:#}");
            for n in super::data_check_names(spec) {
                rec.record(n, Instant::now(), Err(anyhow::anyhow!("cannot open the scratch database: {why}")));
            }
        }
    }
    let took = t.elapsed();
    let dropped = Instant::now();
    let r = scratch.drop_now();
    rec.record("drop scratch", dropped, r);
    Some(took)
}

/// The scratch database of one window drill; dropped on Ctrl-C until `drop_now`.
struct Scratch {
    server: Location,
    name: String,
    sources: Vec<crate::engine::BackupSource>,
    cleanup: u64,
}

impl Scratch {
    fn new(server: Location, name: String, catalog: &Catalog) -> Scratch {
        let sources = catalogued(catalog).sources;
        let cleanup = {
            let (server, name, sources) = (server.clone(), name.clone(), sources.clone());
            crate::interrupt::cleanup_on_interrupt(move || {
                let _ = registry::for_location(&server).scratch_drop(&server, Some(&name), &sources);
            })
        };
        Scratch { server, name, sources, cleanup }
    }

    /// Drops it by the engine's `scratch drop` (never live or a catalogued source).
    fn drop_now(self) -> Result<String> {
        crate::interrupt::forget_cleanup(self.cleanup);
        let (dropped, kept) =
            registry::for_location(&self.server).scratch_drop(&self.server, Some(&self.name), &self.sources)?;
        if dropped.is_empty() {
            let why: Vec<String> = kept.iter().map(|k| format!("{}: {}", k.database, k.reason)).collect();
            return Err(anyhow::anyhow!("scratch database `{}` was not dropped ({})", self.name, why.join("; ")));
        }
        Ok(format!("scratch database `{}` dropped", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn folders_resolve_against_the_config_but_identifiers_stay() {
        let base = Path::new("/etc/lastgood");
        let mut w = "7301234567890123456".to_string();
        resolve_folder(&mut w, base);
        assert_eq!(w, "7301234567890123456");
        let mut w = "0a1b2c3d4e".to_string();
        resolve_folder(&mut w, base);
        assert_eq!(w, "0a1b2c3d4e");
        let mut w = "backups/wal".to_string();
        resolve_folder(&mut w, base);
        assert_eq!(PathBuf::from(&w), base.join("backups/wal"));
        assert_eq!(repository_of(&w), Some(base.join("backups")));
        assert_eq!(repository_of("7301234567890123456"), None);
        assert_eq!(repository_of("/srv/archive"), None, "not a repository's wal/ folder");
    }
}
