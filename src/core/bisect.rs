//! Bisect: find the last known good (LKG) backup with an operator's check.
//!
//! The check is one SQL query returning one row with one numeric value: non-zero means good. The
//! backups of the catalog (damaged ones skipped, optionally limited to a time window) are searched
//! in time order assuming good-then-bad: a binary search needs ⌈log2(n + 1)⌉ checks for n
//! backups. `scan` evaluates every backup instead, and notices when good and bad alternate.
//!
//! Each backup is checked by its own engine's probe (`core::probe`, `Engine::open_probe`): a SQLite
//! backup is queried in place, read-only; a pg_dump archive restores only the `tables` (all of it
//! without them) into a marked scratch database on the `--scratch-url` server, which is dropped
//! after the probe whatever happens. In a mixed catalog each backup is checked by its own engine. A backup that lacks a table, a
//! column or a table named by `tables` "cannot tell": it is shown as such and the search probes its
//! neighbours instead.
//!
//! Errors, raised before the search goes on: a check that is not SQL, not one read-only
//! statement, or that names an unknown function → `Usage` (exit 2); a check that returns no row,
//! several rows, several columns, NULL or a non-numeric value on a backup → `BadInput` (exit 3).
//! A check that no backup searched can evaluate because each lacks a table or column it (or
//! `--tables`) names — a typo, not a timeline — is `Usage` too, naming what is missing, raised
//! after the search (which then has probed every backup) and before anything is recorded. A
//! table that only later backups have is not that: the older backups cannot tell, the newer
//! ones answer.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::catalog::{self, Backup, Catalog};
use crate::core::probe::{self, ProbeWith, is_environment, no_server};
use crate::engine::{Engine, ProbeMode, QueryProblem, truth};
use crate::error::{bad_input, usage};
use crate::output::Output;
use crate::value::Value;

/// A validated check query.
#[derive(Debug, Clone)]
pub struct Check {
    pub sql: String,
}

impl Check {
    /// Checks what can be checked without a backup: not empty, and for each of `engines` (those
    /// of the backups to be checked) what it can tell before any backup (`Engine::check_query`:
    /// SQLite's parser checks syntax, one statement, read-only; PostgreSQL checks each query on
    /// its first probe). Errors: `Usage`.
    pub fn new(sql: &str, engines: &[&dyn Engine]) -> Result<Check> {
        let sql = sql.trim().trim_end_matches(';').trim().to_string();
        if sql.is_empty() {
            return Err(usage("the --check query is empty").into());
        }
        for e in engines {
            e.check_query(&sql)?;
        }
        Ok(Check { sql })
    }
}

/// What one backup says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Good,
    Bad,
    CannotTell,
}

/// One evaluation of the check on one backup.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// 1 for the first check run, 2 for the next, …
    pub step: usize,
    pub backup_id: String,
    pub taken_at: DateTime<Utc>,
    pub path: PathBuf,
    pub verdict: Verdict,
    /// The value the check returned, as text.
    pub value: Option<String>,
    /// Why the backup cannot tell.
    pub reason: Option<String>,
    pub seconds: f64,
    /// The table or column the backup lacks, when that is why it cannot tell.
    #[serde(skip)]
    pub missing: Option<String>,
}

/// A backup named in the result.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRef {
    pub id: String,
    pub sha256: String,
    pub content_sha256: String,
    pub taken_at: DateTime<Utc>,
    pub path: PathBuf,
}

impl BackupRef {
    fn of(b: &Backup) -> BackupRef {
        BackupRef {
            id: b.id.clone(),
            sha256: b.sha256.clone(),
            content_sha256: b.content_sha256.clone(),
            taken_at: b.taken_at,
            path: b.primary().path.clone(),
        }
    }
}

/// The outcome of a bisect.
#[derive(Debug, Clone, Serialize)]
pub struct BisectReport {
    pub check: String,
    /// `binary` or `scan`.
    pub mode: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Backups searched (usable, in the window).
    pub candidates: usize,
    /// Damaged backups in the window, left out.
    pub skipped_damaged: Vec<String>,
    pub checks_run: usize,
    /// Every check run, in the order it ran (scan: time order).
    pub evaluations: Vec<Evaluation>,
    pub last_known_good: Option<BackupRef>,
    pub first_bad: Option<BackupRef>,
    /// Backups between the last known good and the first bad that could not tell.
    pub cannot_tell_between: Vec<String>,
    /// Scan only: a bad backup is followed by a good one.
    pub alternates: bool,
    pub seconds: f64,
}

/// What to search.
pub struct Request<'a> {
    pub check: &'a Check,
    pub tables: &'a [String],
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub scan: bool,
    /// The server where backups are restored for a probe, for engines that need one
    /// (`--scratch-url`).
    pub scratch: Option<&'a str>,
}

/// Runs the search over `catalog`. Errors: see the module docs.
pub fn bisect(catalog: &Catalog, req: &Request, out: &Output) -> Result<BisectReport> {
    let started = Instant::now();
    let in_window: Vec<&Backup> = catalog
        .backups
        .iter()
        .filter(|b| req.since.is_none_or(|s| b.taken_at >= s) && req.until.is_none_or(|u| b.taken_at <= u))
        .collect();
    let skipped_damaged = in_window.iter().filter(|b| b.problem.is_some()).map(|b| b.id.clone()).collect();
    let cands: Vec<&Backup> = in_window.into_iter().filter(|b| b.problem.is_none()).collect();
    if req.scratch.is_none()
        && let Some(b) = cands.iter().find(|b| probe::needs_server(b))
    {
        return Err(no_server(b));
    }
    if cands.is_empty() {
        return Err(bad_input("no usable backup to bisect (in the given time window)")
            .hint("list backups with `lastgood catalog`; widen --since/--until")
            .into());
    }
    let bar = out.count_bar(if req.scan { cands.len() as u64 } else { 0 }, "checking backups");
    let mut evals: Vec<Evaluation> = Vec::new();
    let mut run = |i: usize| -> Result<Verdict> {
        bar.set_message(format!("checking {}", cands[i].id));
        let e = evaluate(catalog, cands[i], req, evals.len() + 1, out)?;
        bar.inc(1);
        let v = e.verdict;
        evals.push(e);
        Ok(v)
    };
    let (lkg, bad, alternates) = if req.scan { scan(cands.len(), &mut run)? } else { binary(cands.len(), &mut run)? };
    bar.finish_and_clear();
    // When every probe cannot tell, the search has probed every backup (see `binary`); if each
    // lacks what the check names, the check is the problem (a typo), not the backups.
    if evals.len() == cands.len() && evals.iter().all(|e| e.missing.is_some()) {
        return Err(check_names_what_no_backup_has(&evals, req));
    }
    let mut by_time: Vec<&Evaluation> = evals.iter().collect();
    by_time.sort_by_key(|e| e.taken_at);
    let cannot_tell_between = by_time
        .into_iter()
        .filter(|e| e.verdict == Verdict::CannotTell)
        .filter(|e| {
            lkg.is_none_or(|l| e.taken_at >= cands[l].taken_at) && bad.is_none_or(|b| e.taken_at <= cands[b].taken_at)
        })
        .map(|e| e.backup_id.clone())
        .collect();
    Ok(BisectReport {
        check: req.check.sql.clone(),
        mode: if req.scan { "scan" } else { "binary" }.into(),
        since: req.since,
        until: req.until,
        candidates: cands.len(),
        skipped_damaged,
        checks_run: evals.len(),
        evaluations: evals,
        last_known_good: lkg.map(|i| BackupRef::of(cands[i])),
        first_bad: bad.map(|i| BackupRef::of(cands[i])),
        cannot_tell_between,
        alternates,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type Found = (Option<usize>, Option<usize>, bool);

/// Binary search for the boundary between good (lower indexes) and bad. When the backup in the
/// middle cannot tell, its nearest neighbours inside the open interval are tried instead; when
/// none can, the boundary lies among backups that cannot tell and the search stops there.
fn binary(n: usize, run: &mut dyn FnMut(usize) -> Result<Verdict>) -> Result<Found> {
    let (mut lo, mut hi) = (-1i64, n as i64);
    let mut silent = std::collections::HashSet::new();
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let mut found = None;
        for off in 0..(hi - lo) {
            for i in [mid + off, mid - off] {
                if i <= lo || i >= hi || silent.contains(&i) || found.is_some() {
                    continue;
                }
                match run(i as usize)? {
                    Verdict::CannotTell => {
                        silent.insert(i);
                    }
                    v => found = Some((i, v)),
                }
            }
            if found.is_some() {
                break;
            }
        }
        match found {
            None => break,
            Some((i, Verdict::Good)) => lo = i,
            Some((i, _)) => hi = i,
        }
    }
    let lkg = (lo >= 0).then_some(lo as usize);
    let bad = (hi < n as i64).then_some(hi as usize);
    Ok((lkg, bad, false))
}

/// Evaluates every backup; the LKG is the newest good one, the first bad the first bad one after
/// it. `alternates` is set when a bad backup is followed by a good one.
fn scan(n: usize, run: &mut dyn FnMut(usize) -> Result<Verdict>) -> Result<Found> {
    let mut verdicts = Vec::with_capacity(n);
    for i in 0..n {
        verdicts.push(run(i)?);
    }
    let lkg = verdicts.iter().rposition(|v| *v == Verdict::Good);
    let bad =
        verdicts.iter().enumerate().skip(lkg.map_or(0, |l| l + 1)).find(|(_, v)| **v == Verdict::Bad).map(|(i, _)| i);
    let first_bad_anywhere = verdicts.iter().position(|v| *v == Verdict::Bad);
    let alternates = matches!((first_bad_anywhere, lkg), (Some(b), Some(g)) if b < g);
    Ok((lkg, bad, alternates))
}

fn evaluate(catalog: &Catalog, b: &Backup, req: &Request, step: usize, out: &Output) -> Result<Evaluation> {
    let started = Instant::now();
    let mut e = Evaluation {
        step,
        backup_id: b.id.clone(),
        taken_at: b.taken_at,
        path: b.primary().path.clone(),
        verdict: Verdict::CannotTell,
        value: None,
        reason: None,
        seconds: 0.0,
        missing: None,
    };
    // A virtual table counts as present: a SQLite check reads the backup in place, modules and all.
    if let Some(t) = req.tables.iter().find(|t| b.table(t).is_none() && b.skipped_table(t).is_none()) {
        e.reason = Some(format!("no table `{t}`"));
        e.missing = Some(format!("no table `{t}` (named by --tables)"));
        return Ok(e);
    }
    match answer(catalog, b, req, out)? {
        Ok(value) => match verdict_of(&value, b)? {
            Some(verdict) => {
                e.verdict = verdict;
                e.value = Some(value.display());
            }
            None => e.reason = Some("the check returned nothing usable".into()),
        },
        Err(CannotTell::Missing(m)) => {
            e.reason = Some(m.clone());
            e.missing = Some(m);
        }
        Err(CannotTell::Other(reason)) => e.reason = Some(reason),
    }
    e.seconds = started.elapsed().as_secs_f64();
    Ok(e)
}

/// The check's value on one backup, `Ok(Err(reason))` when the backup cannot tell, or an error
/// for a check that is unusable whatever the backup. A backup that cannot be opened or restored
/// cannot tell (damaged since it was catalogued, corrupt pages the catalog did not touch, an
/// archive that does not restore), and the search goes on around it; a server that fails fails
/// the search, since every other probe on it would too.
fn answer(
    catalog: &Catalog,
    b: &Backup,
    req: &Request,
    out: &Output,
) -> Result<std::result::Result<Value, CannotTell>> {
    let tables = (!req.tables.is_empty()).then(|| req.tables.to_vec());
    let why = format!("bisect probe of backup {}", b.id);
    let with = ProbeWith { server: req.scratch, mode: ProbeMode::Query };
    let mut p = match probe::open(catalog, b, tables, with, why, out) {
        Ok(p) => p,
        Err(err) if probe::needs_server(b) && is_environment(&err) => return Err(err),
        Err(err) if probe::needs_server(b) => return Ok(Err(CannotTell::Other(format!("cannot restore it: {err:#}")))),
        Err(err) => return Ok(Err(CannotTell::Other(format!("cannot read it: {err:#}")))),
    };
    let result = p.db().one_value(&req.check.sql);
    p.finish()?;
    match result? {
        Ok(v) => Ok(Ok(v)),
        Err(problem) => problem_to_reason(problem, req.check, b),
    }
}

/// `Usage`: the check (or `--tables`) names a table or column that none of the backups searched
/// has, with the engines' messages (deduplicated).
fn check_names_what_no_backup_has(evals: &[Evaluation], req: &Request) -> anyhow::Error {
    let mut reasons: Vec<&str> = Vec::new();
    for m in evals.iter().filter_map(|e| e.missing.as_deref()) {
        if !reasons.contains(&m) {
            reasons.push(m);
        }
    }
    let hint = if req.tables.is_empty() {
        "check the table and column names in --check (`lastgood show latest` lists them)".to_string()
    } else {
        "check the names in --check and --tables; a pg_dump probe restores only the --tables, so name every table the check reads".to_string()
    };
    usage(format!(
        "the --check query cannot be evaluated on any of the {} backup(s) searched: {}",
        evals.len(),
        reasons.join("; ")
    ))
    .hint(hint)
    .into()
}

/// Why a backup cannot tell: it lacks a table or column the check names (the engine's message),
/// or something else (it cannot be read or restored).
enum CannotTell {
    Missing(String),
    Other(String),
}

/// What a query problem means for bisect: the backup cannot tell (missing table or column,
/// unreadable data), or the check itself is unusable (an error).
fn problem_to_reason(p: QueryProblem, check: &Check, b: &Backup) -> Result<std::result::Result<Value, CannotTell>> {
    match p {
        QueryProblem::MissingObject(m) => Ok(Err(CannotTell::Missing(m))),
        QueryProblem::Unreadable(m) => Ok(Err(CannotTell::Other(format!("cannot read it: {m}")))),
        QueryProblem::NotSql(m) => Err(usage(format!("the --check query fails on backup {}: {m}", b.id)).into()),
        QueryProblem::Writes => {
            Err(usage(format!("the --check query `{}` writes; it must be a query", check.sql)).into())
        }
        QueryProblem::Columns(n) => {
            Err(bad_input(format!("the --check query returns {n} columns; it must return one")).into())
        }
        QueryProblem::NoRow => Err(shape("no row", b)),
        QueryProblem::SeveralRows => Err(shape("several rows", b)),
    }
}

fn shape(what: &str, b: &Backup) -> anyhow::Error {
    bad_input(format!(
        "the --check query returned {what} on backup {} (taken at {}); it must return one row with one number",
        b.id,
        crate::time::show(b.taken_at)
    ))
    .hint("e.g. SELECT count(*) = 0 FROM downloads WHERE filename = 'bad.zip'")
    .into()
}

/// Good for non-zero, bad for zero; an error for NULL, text or a blob.
fn verdict_of(v: &Value, b: &Backup) -> Result<Option<Verdict>> {
    match truth(v) {
        Some(true) => Ok(Some(Verdict::Good)),
        Some(false) => Ok(Some(Verdict::Bad)),
        None => Err(match v {
            Value::Null => shape("NULL", b),
            Value::Text(t) => shape(&format!("the text '{}'", String::from_utf8_lossy(t)), b),
            _ => shape("a blob", b),
        }),
    }
}

/// Records the LKG in the cache of every repository holding a copy of it, clearing earlier LKG
/// marks in every repository of the catalog. Best effort: returns the repositories that failed.
pub fn record_lkg(catalog: &Catalog, lkg: &BackupRef, check: &str, now: DateTime<Utc>) -> Vec<String> {
    let mut failed = clear_lkg(catalog);
    let value = serde_json::json!({ "check": check, "at": now }).to_string();
    let b = catalog.backups.iter().find(|b| b.content_sha256 == lkg.content_sha256);
    for copy in b.map(|b| b.copies.as_slice()).unwrap_or_default() {
        if catalog::cache::write_mark(&copy.repository, &lkg.content_sha256, LKG_MARK, &value).is_err() {
            failed.push(copy.repository.display().to_string());
        }
    }
    failed
}

/// Removes the last-known-good mark from every repository's cache; returns the repositories
/// whose cache could not be written.
pub fn clear_lkg(catalog: &Catalog) -> Vec<String> {
    let mut failed = Vec::new();
    for repo in &catalog.repositories {
        if catalog::cache::clear_mark(repo, LKG_MARK).is_err() {
            failed.push(repo.display().to_string());
        }
    }
    failed
}

/// The cache mark naming the last known good backup.
pub const LKG_MARK: &str = "lkg";

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(verdicts: &[Verdict], scan_all: bool) -> (Found, usize) {
        let mut calls = 0;
        let mut f = |i: usize| {
            calls += 1;
            Ok(verdicts[i])
        };
        let r = if scan_all { scan(verdicts.len(), &mut f).unwrap() } else { binary(verdicts.len(), &mut f).unwrap() };
        (r, calls)
    }

    #[test]
    fn binary_search_finds_the_boundary_in_at_most_log2_n_plus_1_checks() {
        use Verdict::*;
        for n in 1..=64usize {
            for boundary in 0..=n {
                let v: Vec<Verdict> = (0..n).map(|i| if i < boundary { Good } else { Bad }).collect();
                let ((lkg, bad, _), calls) = run_on(&v, false);
                assert_eq!(lkg, boundary.checked_sub(1), "n {n} boundary {boundary}");
                assert_eq!(bad, (boundary < n).then_some(boundary));
                assert!(calls <= 7, "n {n}: {calls} checks");
            }
        }
    }

    #[test]
    fn backups_that_cannot_tell_are_stepped_around() {
        use Verdict::*;
        let v = [Good, Good, CannotTell, CannotTell, Good, Bad, CannotTell, Bad];
        let ((lkg, bad, _), _) = run_on(&v, false);
        assert_eq!((lkg, bad), (Some(4), Some(5)));
        let v = [Good, CannotTell, CannotTell, Bad];
        let ((lkg, bad, _), _) = run_on(&v, false);
        assert_eq!((lkg, bad), (Some(0), Some(3)));
    }

    #[test]
    fn scan_flags_alternation() {
        use Verdict::*;
        let ((lkg, bad, alt), calls) = run_on(&[Good, Bad, Good, Bad], true);
        assert_eq!((lkg, bad, alt, calls), (Some(2), Some(3), true, 4));
        let ((_, _, alt), _) = run_on(&[Good, Good, Bad], true);
        assert!(!alt);
    }

    #[test]
    fn checks_are_validated_before_any_backup_by_each_engine_that_can() {
        use crate::engine::{EngineKind, registry::for_kind};
        let (sqlite, pg) = (for_kind(EngineKind::Sqlite), for_kind(EngineKind::Postgres));
        let kind = |s: &str| crate::error::classify(&Check::new(s, &[sqlite]).unwrap_err()).unwrap().kind;
        assert_eq!(kind("SELEC 1"), crate::error::Kind::Usage);
        assert_eq!(kind("SELECT 1; SELECT 2"), crate::error::Kind::Usage);
        assert_eq!(kind("SELECT 1, 2"), crate::error::Kind::Usage);
        assert_eq!(kind("  ;"), crate::error::Kind::Usage);
        assert!(Check::new("SELECT count(*) = 0 FROM downloads WHERE filename = 'x'", &[sqlite]).is_ok());
        let pg_only = "SELECT count(*) = 0 FROM t WHERE v ILIKE 'x%' AND id::int > 0";
        assert!(Check::new(pg_only, &[pg]).is_ok());
        assert!(Check::new(pg_only, &[sqlite, pg]).is_err());
    }
}
