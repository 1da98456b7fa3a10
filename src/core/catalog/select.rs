//! What a restore reads, and why: `Catalog::select(Selector)`.
//!
//! - `At(T)`: a recovery window that covers T wins (it restores to T exactly); else the newest
//!   usable recovery point taken at or before T, passing over damaged backups and saying so.
//!   Backups dated after now, other backups sharing the chosen one's taken-at (`TIE_RULE`) and
//!   links not followed are said in `notes` (the command warns with them) and in the reason.
//! - `Backup(id)`: the backup an id prefix, `latest`, `latest~N` or a copy's path names.
//! - `Txn(n)`: a window whose log holds transaction n; without one, a `BadInput` that says no
//!   recovery window covers it (recovery points know no transactions).
//!
//! `select(&str)` still finds a backup by selector (`find_backup`), so both read as one call.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{AtChoice, Backup, Catalog, IgnoredKind, RecoveryWindow, TIE_RULE, future_note};
use crate::error::bad_input;

/// What `Catalog::select` is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// The state at moment `at`; `given` is how the operator wrote it, `now` the time now.
    At { at: DateTime<Utc>, given: &'a str, now: DateTime<Utc> },
    /// A backup by id prefix, `latest`, `latest~N`, or the path of one of its copies.
    Backup(&'a str),
    /// The state just after transaction `n` committed.
    Txn(u64),
}

/// What to restore: a recovery point (a backup), or a moment of a recovery window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Restorable<'c> {
    Point(&'c Backup),
    Window { window: &'c RecoveryWindow, to: Target },
}

/// The moment of a window a restore replays to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Time(DateTime<Utc>),
    Txn(u64),
}

/// What `select` chose, and why, in words.
#[derive(Debug, Clone)]
pub struct Selection<'c> {
    pub restorable: Restorable<'c>,
    /// One line: what is used, and why it was chosen.
    pub reason: String,
    /// What the operator must hear about the choice (also in `reason`).
    pub notes: Vec<String>,
}

impl<'c> Selection<'c> {
    /// The backup to restore. Errors: `BadInput` for a window, which no restore replays yet.
    pub fn point(&self) -> Result<&'c Backup> {
        match self.restorable {
            Restorable::Point(b) => Ok(b),
            Restorable::Window { window, .. } => Err(bad_input(format!(
                "recovery window {} covers it, but restoring to a moment of a window is not supported yet",
                window.id
            ))
            .into()),
        }
    }
}

/// What `Catalog::select` takes: a backup selector (`&str`) finds a backup, a `Selector` a
/// `Selection`.
pub trait Select<'c> {
    type Found;
    fn find_in(self, catalog: &'c Catalog) -> Result<Self::Found>;
}

impl<'c, S: AsRef<str> + ?Sized> Select<'c> for &S {
    type Found = &'c Backup;
    fn find_in(self, catalog: &'c Catalog) -> Result<&'c Backup> {
        catalog.find_backup(self.as_ref())
    }
}

impl<'c> Select<'c> for Selector<'_> {
    type Found = Selection<'c>;
    fn find_in(self, catalog: &'c Catalog) -> Result<Selection<'c>> {
        match self {
            Selector::At { at, given, now } => at_time(catalog, at, given, now),
            Selector::Backup(sel) => by_selector(catalog, sel),
            Selector::Txn(n) => at_txn(catalog, n),
        }
    }
}

fn by_selector<'c>(catalog: &'c Catalog, sel: &str) -> Result<Selection<'c>> {
    let b = catalog.find_backup(sel)?;
    let path = std::path::Path::new(sel);
    let only = if path.exists() && b.copy_at(path).is_some() { "; reading only that copy" } else { "" };
    let reason =
        format!("using backup {} taken at {} (selected as `{sel}`{only})", b.id, crate::time::show(b.taken_at));
    Ok(Selection { restorable: Restorable::Point(b), reason, notes: Vec::new() })
}

fn at_time<'c>(catalog: &'c Catalog, at: DateTime<Utc>, given: &str, now: DateTime<Utc>) -> Result<Selection<'c>> {
    if let Some(w) = catalog.windows.iter().rev().find(|w| w.window.covers(at)) {
        let reason = format!(
            "using recovery window {} ({} to {}): it covers {} (`{given}`) exactly",
            w.id,
            crate::time::show(w.window.from),
            crate::time::show(w.window.to),
            crate::time::show(at)
        );
        let restorable = Restorable::Window { window: w, to: Target::Time(at) };
        return Ok(Selection { restorable, reason, notes: Vec::new() });
    }
    let choice = catalog.newest_at_or_before(at, now)?;
    let b = choice.backup;
    let mut reason = format!(
        "using backup {} taken at {} ({}): the newest taken at or before {} (`{given}`)",
        b.id,
        crate::time::show(b.taken_at),
        b.taken_at_source.label(),
        crate::time::show(at)
    );
    for s in &choice.skipped_damaged {
        reason.push_str(&format!("; skipped damaged backup {} taken at {}", s.id, crate::time::show(s.taken_at)));
    }
    let notes = passed_over(catalog, &choice, now);
    for note in &notes {
        reason.push_str(&format!("; {note}"));
    }
    Ok(Selection { restorable: Restorable::Point(b), reason, notes })
}

fn at_txn(catalog: &Catalog, n: u64) -> Result<Selection<'_>> {
    match catalog.windows.iter().rev().find(|w| w.window.covers_txn(n)) {
        Some(w) => Ok(Selection {
            restorable: Restorable::Window { window: w, to: Target::Txn(n) },
            reason: format!("using recovery window {}: its log holds transaction {n}", w.id),
            notes: Vec::new(),
        }),
        None => {
            let held = match catalog.windows.len() {
                0 => "the catalog holds recovery points only, which know no transactions".to_string(),
                k => format!("none of the {k} recovery window(s) holds it"),
            };
            Err(bad_input(format!("no recovery window covers transaction {n}: {held}"))
                .hint("restore by time with --at, or list what the catalog holds with `lastgood catalog`")
                .into())
        }
    }
}

/// What the operator must hear about a choice by time: backups dated in the future (no `--at`
/// reaches them), other backups with the chosen one's taken-at, links not followed.
fn passed_over(catalog: &Catalog, choice: &AtChoice, now: DateTime<Utc>) -> Vec<String> {
    let mut notes = Vec::new();
    if !choice.future_dated.is_empty() {
        let which: Vec<String> = choice.future_dated.iter().map(|b| future_note(b, now)).collect();
        notes.push(format!(
            "passed over {} backup(s) dated in the future (clock skew?): {}",
            which.len(),
            which.join("; ")
        ));
    }
    if !choice.tied_with.is_empty() {
        let others: Vec<&str> = choice.tied_with.iter().map(|b| b.id.as_str()).collect();
        notes.push(format!(
            "backups {} and {} share taken-at {}: chose {} ({})",
            choice.backup.id,
            others.join(", "),
            crate::time::show(choice.backup.taken_at),
            choice.backup.id,
            TIE_RULE
        ));
    }
    let links: Vec<String> = catalog
        .ignored
        .iter()
        .filter(|i| i.kind == IgnoredKind::Link)
        .map(|i| format!("`{}` ({})", i.path.display(), i.reason))
        .collect();
    if !links.is_empty() {
        notes.push(format!("links not followed, so not searched: {}", links.join(", ")));
    }
    notes
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use chrono::TimeZone;

    use super::*;
    use crate::core::catalog::{Copy, TakenAtSource};
    use crate::engine::Format;
    use crate::engine::source::{Gap, TxnRange, Window};
    use crate::repo::Repo;
    use crate::repo::local::LocalRepo;
    use crate::util::compress::Compression;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap()
    }

    fn copy(name: &str) -> Copy {
        let repo = PathBuf::from("/nonexistent/repo");
        Copy {
            repository: repo.clone(),
            key: PathBuf::from(name),
            store: Repo::new(LocalRepo { given: repo.clone(), canonical: repo.clone() }),
            path: repo.join(name),
            size: 1,
            sha256: "0".repeat(64),
            compression: Compression::None,
            wal: None,
            aliases: Vec::new(),
            hard_links: Vec::new(),
            real: repo.join(name),
            root: repo.clone(),
            device: 1,
        }
    }

    fn backup(hour: u32, damaged: bool) -> Backup {
        let sha = format!("{hour:02}").repeat(32);
        Backup {
            id: sha[..10].to_string(),
            sha256: sha.clone(),
            content_sha256: sha,
            format: Format::Sqlite,
            compression: Compression::None,
            taken_at: t(hour),
            taken_at_source: TakenAtSource::FileName,
            size: 1,
            tables: Vec::new(),
            skipped_tables: Vec::new(),
            copies: vec![copy(&format!("shop-{hour:02}.db"))],
            problem: damaged.then(|| "truncated".to_string()),
            warnings: Vec::new(),
            source: None,
            archive: None,
            differing_copies: Vec::new(),
        }
    }

    fn window(from: u32, to: u32) -> RecoveryWindow {
        RecoveryWindow {
            id: "abcdef0123".into(),
            content_sha256: "ab".repeat(32),
            format: Format::PgCustom,
            window: Window {
                from: t(from),
                to: t(to),
                gaps: vec![Gap { from: t(9), to: t(10), reason: "segment missing".into() }],
                transactions: Some(TxnRange { first: 100, last: 200 }),
            },
            copies: vec![copy("base.tar")],
            source: None,
        }
    }

    fn catalog(windows: Vec<RecoveryWindow>) -> Catalog {
        Catalog {
            repositories: vec![PathBuf::from("/nonexistent/repo")],
            backups: vec![backup(6, false), backup(8, false), backup(10, true)],
            windows,
            ignored: Vec::new(),
        }
    }

    fn at(c: &Catalog, hour: u32, minute: u32) -> Result<Selection<'_>> {
        let at = t(hour) + chrono::Duration::minutes(minute.into());
        c.select(Selector::At { at, given: "T", now: t(23) })
    }

    #[test]
    fn at_picks_the_newest_point_at_or_before_and_skips_damaged_ones() {
        let c = catalog(Vec::new());
        let s = at(&c, 7, 30).unwrap();
        assert_eq!(s.point().unwrap().taken_at, t(6));
        assert!(s.reason.starts_with(&format!("using backup {} taken at", c.backups[0].id)), "{}", s.reason);
        assert_eq!(at(&c, 8, 0).unwrap().point().unwrap().taken_at, t(8), "a point taken at T is chosen for T");
        let s = at(&c, 11, 0).unwrap();
        assert_eq!(s.point().unwrap().taken_at, t(8));
        assert!(s.reason.contains(&format!("skipped damaged backup {}", c.backups[2].id)), "{}", s.reason);
        assert!(at(&c, 5, 0).is_err(), "nothing at or before 05:00");
    }

    #[test]
    fn a_window_covering_t_is_preferred_to_a_point() {
        let c = catalog(vec![window(7, 12)]);
        let s = at(&c, 8, 30).unwrap();
        match s.restorable {
            Restorable::Window { window, to } => {
                assert_eq!(window.id, "abcdef0123");
                assert_eq!(to, Target::Time(t(8) + chrono::Duration::minutes(30)));
            }
            other => panic!("expected the window, got {other:?}"),
        }
        assert!(s.reason.contains("recovery window abcdef0123") && s.reason.contains("exactly"), "{}", s.reason);
        assert!(s.point().is_err(), "no restore replays a window yet");
        // Outside the window, or inside its gap: the newest point at or before T.
        assert_eq!(at(&c, 6, 30).unwrap().point().unwrap().taken_at, t(6));
        assert_eq!(at(&c, 9, 30).unwrap().point().unwrap().taken_at, t(8));
        assert_eq!(at(&c, 13, 0).unwrap().point().unwrap().taken_at, t(8));
    }

    #[test]
    fn a_backup_by_selector_and_a_transaction_by_its_window() {
        let c = catalog(vec![window(7, 12)]);
        let s = c.select(Selector::Backup("latest~1")).unwrap();
        assert_eq!(s.point().unwrap().taken_at, t(8));
        assert!(s.reason.contains("(selected as `latest~1`)"), "{}", s.reason);
        let s = c.select(Selector::Txn(150)).unwrap();
        assert!(matches!(s.restorable, Restorable::Window { to: Target::Txn(150), .. }));
        let err = c.select(Selector::Txn(201)).unwrap_err();
        assert!(format!("{err:#}").contains("no recovery window covers transaction 201"), "{err:#}");
        let err = catalog(Vec::new()).select(Selector::Txn(1)).unwrap_err();
        assert!(format!("{err:#}").starts_with("no recovery window covers transaction 1:"), "{err:#}");
        assert_eq!(crate::error::kind_of(&err), crate::error::Kind::BadInput);
        // A plain selector still finds a backup.
        assert_eq!(c.select("latest").unwrap().taken_at, t(10));
    }
}
