//! Restore drills: prove, unattended, that the newest backup of each database restores and holds
//! sane data, within the RPO and RTO bounds.
//!
//! For each database: the newest backup (damaged or not: a damaged newest backup is a failure, not
//! a reason to fall back silently) is verified copy by copy, restored whole into a scratch folder,
//! checked (integrity, minimum row counts, SQL assertions) and timed. RPO = now − taken-at (0, with
//! a warning, for a taken-at in the future: clock skew); RTO = restore + checks wall time.
//! `require_copies` counts places holding a copy that passed verify: copies in distinct
//! repositories on distinct filesystems (`Backup::places`). A pg_dump archive is restored whole into a marked scratch database
//! on the drill's `server` (`--scratch-url`); its integrity check means: pg_restore succeeded
//! (it stops at the first error) and every row of every table could be read. Checks run through
//! the engine trait, so both engines answer them alike. Invariant: the scratch (a `TempDir`, or
//! the scratch database) is removed afterwards, on success and on failure alike, and nothing is
//! written anywhere else.
//!
//! A database may instead name a recovery window (`window`: the cluster's system identifier, the
//! window's id, or its WAL archive folder): the window is restored to its newest moment, checked
//! alike and timed; RPO = now − its newest archived commit; a gap fails the drill (`window.rs`).
//!
//! Config (TOML), every key optional but `name`; unknown keys are errors with their line:
//! ```toml
//! [[database]]
//! name = "shop"
//! repos = ["/backups", "/mnt/offsite"]   # relative paths are relative to the config file
//! match = "shop-*"                        # which backup files belong to this database (glob on the name)
//! max_age = "26h"                         # RPO bound
//! max_restore_time = "5m"                 # RTO bound
//! require_copies = 2
//! integrity_check = true                  # default true
//! server = "postgres://user@db-host/postgres"  # pg_dump archives: where scratch is created
//! min_rows = { orders = 1000 }
//! # instead of file backups, a recovery window (PostgreSQL: base backups and the WAL archive):
//! # window = "7301234567890123456"       # system identifier, window id, or the WAL archive folder
//! # dbname = "shop"                       # the database of the cluster to check (default: server's)
//! # scratch_dir = "/var/tmp/lastgood"     # where the throwaway instance is unpacked
//! [[database.check]]
//! name = "no negative amounts"
//! sql = "SELECT count(*) = 0 FROM orders WHERE amount < 0"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::catalog::{Backup, Catalog};
use crate::core::probe::{self, ProbeWith};
use crate::engine::{Database, ProbeMode, QueryProblem, registry, truth};
use crate::error::{bad_input, usage};
use crate::output::Output;

mod window;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    #[serde(rename = "database")]
    pub databases: Vec<DatabaseSpec>,
}

/// One database to drill.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    pub name: String,
    #[serde(default)]
    pub repos: Vec<PathBuf>,
    #[serde(default, rename = "match")]
    pub file_match: Option<String>,
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    #[serde(default)]
    pub max_restore_time: Option<HumanDuration>,
    #[serde(default)]
    pub require_copies: Option<usize>,
    #[serde(default = "yes")]
    pub integrity_check: bool,
    #[serde(default)]
    pub min_rows: BTreeMap<String, u64>,
    #[serde(default, rename = "check")]
    pub checks: Vec<SqlCheck>,
    /// pg_dump archives: the PostgreSQL server (URL or key=value) where the scratch database
    /// is created and dropped again.
    #[serde(default)]
    pub server: Option<String>,
    /// A recovery window instead of file backups: the cluster's system identifier, the window's
    /// id, or its WAL archive folder (relative to the config file) — see `window.rs`.
    #[serde(default)]
    pub window: Option<String>,
    /// A window: the database of the recovered cluster that is copied and checked (default: the
    /// one `server` names).
    #[serde(default)]
    pub dbname: Option<String>,
    /// A window: the folder the throwaway instance is unpacked in (default: `--scratch-dir`).
    #[serde(default)]
    pub scratch_dir: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    pub name: String,
    pub sql: String,
}

/// A duration written as `26h`, `90s`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

pub fn parse_duration(s: &str) -> std::result::Result<HumanDuration, String> {
    humantime::parse_duration(s)
        .map(HumanDuration)
        .map_err(|e| format!("bad duration `{s}` ({e}); write it like `26h`, `90s` or `1h 30m`"))
}

impl DrillConfig {
    /// Reads a config file. Errors: `Usage` naming the file, the line and the key.
    pub fn load(path: &Path) -> Result<DrillConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::error::environment(format!("cannot read drill config `{}`: {e}", path.display())))?;
        let mut cfg: DrillConfig = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            let at = line.map(|l| format!(" line {l}:")).unwrap_or_default();
            usage(format!("drill config `{}`:{at} {}", path.display(), e.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for db in &mut cfg.databases {
            for r in &mut db.repos {
                if r.is_relative() {
                    *r = base.join(&*r);
                }
            }
            if let Some(d) = db.scratch_dir.as_mut().filter(|d| d.is_relative()) {
                *d = base.join(&*d);
            }
            if let Some(w) = db.window.as_mut() {
                window::resolve_folder(w, base);
            }
        }
        Ok(cfg)
    }
}

/// The result of one check of a drill (one JUnit testcase).
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    pub message: String,
    pub seconds: f64,
}

/// The drill of one database.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    pub name: String,
    pub backup_id: Option<String>,
    pub backup_path: Option<PathBuf>,
    pub taken_at: Option<DateTime<Utc>>,
    /// Recovery point: age of the newest backup, in seconds.
    pub rpo_seconds: Option<i64>,
    /// Recovery time: restore plus checks, in seconds.
    pub rto_seconds: Option<f64>,
    pub checks: Vec<CheckResult>,
    /// What the operator should know though no check failed: a taken-at in the future, several
    /// newest backups with one taken-at.
    pub warnings: Vec<String>,
    /// A window drill: which window, and the moment restored (`backup_id` is then the window's
    /// id, `backup_path` its WAL archive folder, `taken_at` its end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<window::WindowDrilled>,
    pub ok: bool,
}

impl DatabaseReport {
    /// What was drilled, for messages: `backup ID`, or `recovery window ID at MOMENT`.
    pub fn drilled(&self) -> String {
        match &self.window {
            Some(w) => w.describe(),
            None => format!("backup {}", self.backup_id.as_deref().unwrap_or("(none)")),
        }
    }

    /// A failed report with nothing in it yet.
    fn empty(name: &str) -> DatabaseReport {
        DatabaseReport {
            name: name.to_string(),
            backup_id: None,
            backup_path: None,
            taken_at: None,
            rpo_seconds: None,
            rto_seconds: None,
            checks: Vec::new(),
            warnings: Vec::new(),
            window: None,
            ok: false,
        }
    }
}

struct Recorder {
    checks: Vec<CheckResult>,
}

impl Recorder {
    fn record(&mut self, name: impl Into<String>, started: Instant, r: Result<String>) -> bool {
        let ok = r.is_ok();
        let message = r.unwrap_or_else(|e| format!("{e:#}"));
        self.checks.push(CheckResult { name: name.into(), ok, message, seconds: started.elapsed().as_secs_f64() });
        ok
    }

    fn not_run(&mut self, name: impl Into<String>, why: &str) {
        self.checks.push(CheckResult {
            name: name.into(),
            ok: false,
            message: format!("not run: {why}"),
            seconds: 0.0,
        });
    }
}

/// Drills one database. Errors only for a usage error (no repository given); a repository that
/// cannot be read is a failed `repositories` check, and everything about the backup itself is a
/// failed check in the report, so the JUnit report always says what failed.
/// A database naming a window is drilled by `window::drill`; errors there also for a window no
/// repository holds (`Usage`, naming it).
pub fn drill(spec: &DatabaseSpec, now: DateTime<Utc>, out: &Output) -> Result<DatabaseReport> {
    let mut rec = Recorder { checks: Vec::new() };
    let t = Instant::now();
    let catalog = match scan(spec, &mut rec, t, out)? {
        Ok(c) => c,
        Err(failed) => return Ok(failed),
    };
    if let Some(w) = &spec.window {
        return window::drill(spec, w, &catalog, now, rec, out);
    }
    let mine: Vec<&Backup> = catalog.backups.iter().filter(|b| belongs(spec, b)).collect();
    let mut report = DatabaseReport::empty(&spec.name);
    let t = Instant::now();
    let Some(newest) = mine.last().copied() else {
        rec.record("newest backup", t, Err(bad_input(format!("no backup found for `{}`", spec.name)).into()));
        report.checks = rec.checks;
        return Ok(report);
    };
    report.backup_id = Some(newest.id.clone());
    report.backup_path = Some(newest.primary().path.clone());
    report.taken_at = Some(newest.taken_at);
    report.warnings = newest_warnings(newest, &mine, now);
    report.rpo_seconds = Some(record_age(spec, newest, now, &mut rec, t));
    let passed = verify_copies(newest, &mut rec);
    if let Some(n) = spec.require_copies {
        rec.record("copies", t, check_copies(newest, &mine, n, &passed));
    }
    let took = restore_and_check(spec, &catalog, newest, &mut rec, out);
    finish(spec, report, took, rec)
}

/// Scans the database's repositories (none given: the repository of the WAL archive folder its
/// `window` names): a catalog, or (`Err`) the failed report saying why. Errors: `Usage` (no
/// repository given).
fn scan(
    spec: &DatabaseSpec,
    rec: &mut Recorder,
    t: Instant,
    out: &Output,
) -> Result<std::result::Result<Catalog, DatabaseReport>> {
    let repos = match (&spec.repos[..], spec.window.as_deref().and_then(window::repository_of)) {
        ([], Some(r)) => vec![r],
        _ => spec.repos.clone(),
    };
    match Catalog::scan(&repos, out) {
        Ok(c) => Ok(Ok(c)),
        Err(e) if crate::error::classify(&e).is_some_and(|f| f.kind == crate::error::Kind::Usage) => Err(e),
        Err(e) => {
            rec.record("repositories", t, Err(e));
            let checks = std::mem::take(&mut rec.checks);
            Ok(Err(DatabaseReport { checks, ..DatabaseReport::empty(&spec.name) }))
        }
    }
}

/// Records the RTO (`took`: restore plus checks, when the restore succeeded) against
/// `max_restore_time` and closes the report.
fn finish(
    spec: &DatabaseSpec,
    mut report: DatabaseReport,
    took: Option<Duration>,
    mut rec: Recorder,
) -> Result<DatabaseReport> {
    let restored = took.is_some();
    let rto = took.unwrap_or_default();
    if restored {
        report.rto_seconds = Some(rto.as_secs_f64());
    }
    if let Some(max) = spec.max_restore_time {
        let msg = format!(
            "restore and checks took {:.2}s (max_restore_time {})",
            rto.as_secs_f64(),
            humantime::format_duration(max.0)
        );
        let r = if !restored {
            Err(anyhow::anyhow!("not measured: the restore failed"))
        } else if rto <= max.0 {
            Ok(msg)
        } else {
            Err(anyhow::anyhow!(msg))
        };
        rec.record("restore time (RTO)", Instant::now(), r);
    }
    report.ok = rec.checks.iter().all(|c| c.ok);
    report.checks = rec.checks;
    Ok(report)
}

/// Restores `backup` whole into scratch through its engine's probe (`ProbeMode::RestoreWhole`:
/// a temporary folder for SQLite, a marked database on the drill's `server` for a pg_dump
/// archive) and runs the data checks there. Returns the restore-plus-checks time when the restore
/// itself succeeded. The scratch is removed before returning either way (the probe removes it on
/// every path, also when a check errs).
fn restore_and_check(
    spec: &DatabaseSpec,
    catalog: &Catalog,
    backup: &Backup,
    rec: &mut Recorder,
    out: &Output,
) -> Option<Duration> {
    let t = Instant::now();
    let why = format!("drill of `{}`", spec.name);
    let with = ProbeWith { server: spec.server.as_deref(), mode: ProbeMode::RestoreWhole };
    let mut probe = match probe::open(catalog, backup, None, with, why, out) {
        Ok(p) => p,
        Err(e) => return restore_failed(spec, rec, t, e),
    };
    rec.record("restore", t, Ok(probe.restored().unwrap_or("restored whole").to_string()));
    run_data_checks(spec, probe.db(), rec);
    let took = t.elapsed();
    let dropped = Instant::now();
    match probe.finish() {
        Ok(Some(words)) => {
            rec.record("drop scratch", dropped, Ok(words));
        }
        Ok(None) => {}
        Err(e) => {
            rec.record("drop scratch", dropped, Err(e));
        }
    }
    Some(took)
}

fn restore_failed(spec: &DatabaseSpec, rec: &mut Recorder, t: Instant, e: anyhow::Error) -> Option<Duration> {
    rec.record("restore", t, Err(e));
    for n in data_check_names(spec) {
        rec.not_run(n, "the restore failed");
    }
    None
}

/// The integrity check, minimum row counts and SQL assertions, through the engine trait.
fn run_data_checks(spec: &DatabaseSpec, db: &mut dyn Database, rec: &mut Recorder) {
    if spec.integrity_check {
        let t = Instant::now();
        let ok = format!("ok{}", registry::for_kind(db.engine()).integrity_words());
        let r = db
            .integrity_problems(false)
            .and_then(|p| if p.is_empty() { Ok(ok) } else { Err(anyhow::anyhow!(p.join("; "))) });
        rec.record("integrity_check", t, r);
    }
    for (table, min) in &spec.min_rows {
        let t = Instant::now();
        let r = db.row_count(table).and_then(|n| {
            if n >= *min {
                Ok(format!("{n} rows (min {min})"))
            } else {
                Err(anyhow::anyhow!("`{table}` has {n} rows, fewer than {min}"))
            }
        });
        rec.record(format!("min_rows {table}"), t, r);
    }
    for c in &spec.checks {
        let t = Instant::now();
        rec.record(format!("check {}", c.name), t, run_sql_check(db, &c.sql));
    }
}

fn data_check_names(spec: &DatabaseSpec) -> Vec<String> {
    let mut v = Vec::new();
    if spec.integrity_check {
        v.push("integrity_check".to_string());
    }
    v.extend(spec.min_rows.keys().map(|t| format!("min_rows {t}")));
    v.extend(spec.checks.iter().map(|c| format!("check {}", c.name)));
    v
}

/// Runs a SQL assertion: one row, one value; true or non-zero passes.
pub fn run_sql_check(db: &mut dyn Database, sql: &str) -> Result<String> {
    let value = match db.one_value(sql)? {
        Ok(v) => v,
        Err(p) => {
            return Err(match p {
                QueryProblem::MissingObject(m) | QueryProblem::NotSql(m) => {
                    bad_input(format!("check is not valid SQL here: {m}"))
                }
                QueryProblem::Unreadable(m) => bad_input(format!("check failed while reading: {m}")),
                QueryProblem::Writes => bad_input("check writes; it must be a query"),
                QueryProblem::Columns(n) => bad_input(format!("check returns {n} columns; it must return one")),
                QueryProblem::NoRow => bad_input("check returned no row; it must return one"),
                QueryProblem::SeveralRows => bad_input("check returned several rows; it must return one"),
            }
            .into());
        }
    };
    match truth(&value) {
        Some(true) => Ok(format!("true ({})", value.display())),
        Some(false) => Err(anyhow::anyhow!("assertion is false ({})", value.display())),
        None => Err(bad_input(format!(
            "check returned {} `{}`, not a boolean or number",
            value.type_name(),
            value.display()
        ))
        .into()),
    }
}

/// Records the newest backup and its age against `max_age`; returns the RPO in seconds. A taken-at
/// in the future (clock skew) is no data loss: the RPO counts as 0, and the messages say why.
fn record_age(spec: &DatabaseSpec, newest: &Backup, now: DateTime<Utc>, rec: &mut Recorder, t: Instant) -> i64 {
    let age = (now - newest.taken_at).max(chrono::TimeDelta::zero());
    let future = (newest.taken_at > now).then(|| future_words(newest, now));
    let shown = crate::time::show(newest.taken_at);
    let note = future.as_ref().map(|f| format!(" ({f})")).unwrap_or_default();
    rec.record("newest backup", t, Ok(format!("{} taken at {shown}{note}", newest.id)));
    if let Some(max) = spec.max_age {
        let ok = age.to_std().map(|a| a <= max.0).unwrap_or(true);
        let max = humantime::format_duration(max.0);
        let msg = match &future {
            Some(f) => format!("backup {}: {f}; RPO counted as 0 (max_age {max})", newest.id),
            None => format!("backup {} is {} old (max_age {max})", newest.id, crate::output::human_age(age)),
        };
        rec.record("backup age (RPO)", t, if ok { Ok(msg) } else { Err(anyhow::anyhow!(msg)) });
    }
    age.num_seconds()
}

/// Verifies every copy of `newest`, one check each; returns the paths of those that passed.
fn verify_copies(newest: &Backup, rec: &mut Recorder) -> Vec<PathBuf> {
    let mut passed = Vec::new();
    for c in &newest.copies {
        let t = Instant::now();
        let v = crate::core::verify::verify_copy(newest, c);
        let why: Vec<String> = v.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
        let r = if v.ok {
            Ok(registry::for_format(newest.format).verified_words().to_string())
        } else {
            Err(anyhow::anyhow!(why.join("; ")))
        };
        if v.ok {
            passed.push(c.path.clone());
        }
        rec.record(format!("verify {}", c.path.display()), t, r);
    }
    passed
}

/// "taken-at is 3h00m in the future (clock skew?)".
fn future_words(b: &Backup, now: DateTime<Utc>) -> String {
    format!("taken-at is {} in the future (clock skew?)", crate::output::human_age(b.taken_at - now))
}

/// Warnings about the drilled backup: its own (a WAL-mode file without `-wal`), a taken-at in the
/// future, other backups sharing its taken-at.
fn newest_warnings(newest: &Backup, mine: &[&Backup], now: DateTime<Utc>) -> Vec<String> {
    let mut w: Vec<String> = newest.warnings.iter().map(|x| format!("backup {}: {x}", newest.id)).collect();
    if newest.taken_at > now {
        w.push(format!("backup {}: {}; RPO counted as 0", newest.id, future_words(newest, now)));
    }
    let tied: Vec<&str> =
        mine.iter().filter(|b| b.taken_at == newest.taken_at && b.id != newest.id).map(|b| b.id.as_str()).collect();
    if !tied.is_empty() {
        w.push(format!(
            "backups {} and {} share the newest taken-at {}: drilled {} ({})",
            newest.id,
            tied.join(", "),
            crate::time::show(newest.taken_at),
            newest.id,
            crate::core::catalog::TIE_RULE
        ));
    }
    w
}

/// At least `n` places (distinct repository and filesystem, `Backup::places`) hold a copy that
/// passed verify (`passed`: their paths), and no copy of the same name differs.
fn check_copies(newest: &Backup, all: &[&Backup], n: usize, passed: &[PathBuf]) -> Result<String> {
    let names: Vec<_> = newest.copies.iter().filter_map(|c| c.path.file_name()).collect();
    let differing: Vec<String> = all
        .iter()
        .filter(|b| b.content_sha256 != newest.content_sha256)
        .flat_map(|b| &b.copies)
        .filter(|c| c.path.file_name().is_some_and(|f| names.contains(&f)))
        .map(|c| c.path.display().to_string())
        .collect();
    if !differing.is_empty() {
        return Err(anyhow::anyhow!("copies of backup {} differ in checksum: {}", newest.id, differing.join(", ")));
    }
    let places = newest.places(|c| passed.contains(&c.path));
    let copies = newest.copies.len();
    let detail = format!(
        "{places} place{} ({copies} cop{}, {} passed verify; copies in one repository or on one filesystem are one place)",
        if places == 1 { "" } else { "s" },
        if copies == 1 { "y" } else { "ies" },
        passed.len()
    );
    if places < n {
        return Err(anyhow::anyhow!("backup {} is held in {detail}, {n} required", newest.id));
    }
    Ok(format!("{detail} (required {n})"))
}

fn belongs(spec: &DatabaseSpec, b: &Backup) -> bool {
    let Some(pattern) = &spec.file_match else { return true };
    b.copies.iter().any(|c| c.path.file_name().is_some_and(|n| glob_match(pattern, &n.to_string_lossy())))
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The JUnit XML report: one testsuite per database, one testcase per check; a failure message
/// names the backup and the check.
pub fn junit(reports: &[DatabaseReport]) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("lastgood drill");
    for db in reports {
        let mut suite = TestSuite::new(format!("drill {}", db.name));
        if let Some(w) = &db.window {
            suite.add_property(quick_junit::Property::new("recovery window", w.id.as_str()));
            let moment = w.moment.map_or("none (the window ends in a gap)".to_string(), |m| m.to_rfc3339());
            suite.add_property(quick_junit::Property::new("moment", moment));
        }
        for c in &db.checks {
            let status = if c.ok {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{}: {}: {}", db.drilled(), c.name, c.message));
                s
            };
            let mut case = TestCase::new(c.name.clone(), status);
            case.set_classname(format!("lastgood.drill.{}", db.name));
            case.set_time(Duration::from_secs_f64(c.seconds));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("shop-*", "shop-2026.db"));
        assert!(glob_match("*.db", "x.db"));
        assert!(!glob_match("shop-*", "crm-2026.db"));
        assert!(glob_match("a?c*", "abcdef"));
    }

    #[test]
    fn config_errors_name_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drill.toml");
        std::fs::write(&p, "[[database]]\nname = \"shop\"\nmax_agee = \"26h\"\n").unwrap();
        let e = format!("{:#}", DrillConfig::load(&p).unwrap_err());
        assert!(e.contains("line 3") && e.contains("max_agee"), "{e}");
        std::fs::write(&p, "[[database]]\nname = \"shop\"\nmax_age = \"26 hours-ish\"\n").unwrap();
        let e = format!("{:#}", DrillConfig::load(&p).unwrap_err());
        assert!(e.contains("line 3") && e.contains("bad duration"), "{e}");
        std::fs::write(&p, "[[database]]\nname = \"shop\"\nmax_age = \"26h\"\nrepos = [\"r\"]\n").unwrap();
        let cfg = DrillConfig::load(&p).unwrap();
        assert_eq!(cfg.databases[0].max_age, Some(HumanDuration(Duration::from_secs(26 * 3600))));
        assert_eq!(cfg.databases[0].repos, vec![dir.path().join("r")]);
    }
}
