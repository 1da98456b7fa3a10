//! What a restore reads, and why: `Catalog::select(Selector)`.
//!
//! - `At(T)`: a recovery window that covers T wins (it restores to T exactly); else the newest
//!   usable recovery point taken at or before T, passing over damaged backups and saying so.
//!   Backups dated after now, other backups sharing the chosen one's taken-at (`TIE_RULE`) and
//!   links not followed are said in `notes` (the command warns with them) and in the reason.
//!   A T that a window reaches (T after its start) but does not cover — past its last commit,
//!   or inside a gap — is refused (`BadInput`, the window printed) unless a point newer than
//!   what the window restores holds it: an older point would silently lose what the window
//!   holds after it.
//! - `Backup(id)`: the backup an id prefix, `latest`, `latest~N` or a copy's path names.
//! - `Txn { xid, after }`: a window whose log holds transaction xid, just before or just after
//!   it committed; without one, a `BadInput` that says no recovery window covers it (recovery
//!   points know no transactions), printing the windows.
//! - A repository another tool keeps that cannot be read (its tool is missing) stops a `--at` or
//!   transaction restore that no readable window covers: `Environment`, with the tool's install
//!   hint, since that repository may hold the window.
//!
//! `select(&str)` still finds a backup by selector (`find_backup`), so both read as one call.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{AtChoice, Backup, Catalog, IgnoredKind, RecoveryWindow, TIE_RULE, future_note};
pub use crate::engine::source::Target;
use crate::error::bad_input;

/// What `Catalog::select` is asked for.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// The state at moment `at`; `given` is how the operator wrote it, `now` the time now.
    At { at: DateTime<Utc>, given: &'a str, now: DateTime<Utc> },
    /// A backup by id prefix, `latest`, `latest~N`, or the path of one of its copies.
    Backup(&'a str),
    /// The state just before (`after: false`) or just after transaction `xid` committed.
    Txn { xid: u64, after: bool },
}

/// What to restore: a recovery point (a backup), or a moment of a recovery window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Restorable<'c> {
    Point(&'c Backup),
    Window { window: &'c RecoveryWindow, to: Target },
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
    /// The backup to restore. Errors: `BadInput` for a window, which only `restore` replays.
    pub fn point(&self) -> Result<&'c Backup> {
        match self.restorable {
            Restorable::Point(b) => Ok(b),
            Restorable::Window { window, .. } => Err(bad_input(format!(
                "recovery window {} covers it, but only `restore` replays a window to a moment",
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
            Selector::Txn { xid, after } => at_txn(catalog, xid, after),
        }
    }
}

impl Catalog {
    /// Keeps only the recovery windows that follow timeline `n` (`--timeline`: without it a
    /// moment is restored on the newest timeline that holds it). Errors: `BadInput` when no
    /// window follows it, naming the timelines there are.
    pub fn follow_timeline(&mut self, n: u32) -> Result<()> {
        let have: std::collections::BTreeSet<u32> = self.windows.iter().filter_map(|w| w.timeline).collect();
        if !have.contains(&n) {
            let listed: Vec<String> = have.iter().map(u32::to_string).collect();
            return Err(bad_input(format!(
                "no recovery window follows timeline {n}; {}",
                if listed.is_empty() {
                    "the catalog has no window with a timeline".to_string()
                } else {
                    format!("the catalog's windows follow timeline {}", listed.join(", "))
                }
            ))
            .hint("`lastgood catalog` lists the windows and their timelines")
            .into());
        }
        self.windows.retain(|w| w.timeline == Some(n));
        Ok(())
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

/// A repository another tool keeps that cannot be read now (its tool is missing): it may hold
/// a window covering the target, so a restore that no readable window covers stops here
/// (`Environment`, with the hint) rather than pick an older point silently.
fn unreadable_repository(catalog: &Catalog) -> Result<()> {
    match catalog.ignored.iter().find(|i| i.kind == IgnoredKind::Repository) {
        None => Ok(()),
        Some(i) => {
            Err(crate::error::environment(format!("{} (it may hold the recovery window this restore needs)", i.reason))
                .hint(i.hint.clone().unwrap_or_default())
                .into())
        }
    }
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
    unreadable_repository(catalog)?;
    // Windows that reach `at` without covering it, with the last moment each restores before it.
    let reaching: Vec<(&RecoveryWindow, DateTime<Utc>)> = catalog
        .windows
        .iter()
        .filter(|w| w.window.from <= at)
        .map(|w| (w, w.window.gap_at(at).map_or(w.window.to, |g| g.from)))
        .collect();
    let choice = match catalog.newest_at_or_before(at, now) {
        Ok(c) if reaching.iter().all(|(_, reach)| c.backup.taken_at > *reach) => c,
        Ok(_) if !reaching.is_empty() => return Err(not_covered(at, given, &reaching)),
        Err(_) if !reaching.is_empty() => return Err(not_covered(at, given, &reaching)),
        Ok(c) => c,
        Err(e) if catalog.windows.is_empty() => return Err(e),
        Err(e) => {
            let starts: Vec<String> = catalog.windows.iter().map(|w| w.describe()).collect();
            return Err(e.context(format!("no recovery window reaches back to it either: {}", starts.join("; "))));
        }
    };
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
    let mut notes = passed_over(catalog, &choice, now);
    for (w, _) in &reaching {
        notes.push(format!("{} does not cover it; backup {} is newer than what it restores", w.describe(), b.id));
    }
    for note in &notes {
        reason.push_str(&format!("; {note}"));
    }
    Ok(Selection { restorable: Restorable::Point(b), reason, notes })
}

/// The refusal of a moment that windows reach but do not cover (module docs).
fn not_covered(at: DateTime<Utc>, given: &str, reaching: &[(&RecoveryWindow, DateTime<Utc>)]) -> anyhow::Error {
    let (w, _) = reaching[reaching.len() - 1];
    let why = match w.window.gap_at(at) {
        Some(g) => format!("it falls in a gap ({})", g.reason),
        None => format!("the log archived so far ends at {}", crate::time::show(w.window.to)),
    };
    let all: Vec<String> = reaching.iter().map(|(w, _)| w.describe()).collect();
    bad_input(format!(
        "no recovery window covers {} (`{given}`): {why}; {}",
        crate::time::show(at),
        all.join("; ")
    ))
    .hint("pick a moment inside the window (`lastgood catalog` lists it); a newer moment needs its WAL archived first (SELECT pg_switch_wal() on the server)")
    .into()
}

fn at_txn(catalog: &Catalog, n: u64, after: bool) -> Result<Selection<'_>> {
    let to = if after { Target::AfterTxn(n) } else { Target::BeforeTxn(n) };
    match catalog.windows.iter().rev().find(|w| w.window.covers_txn(n)) {
        Some(w) => Ok(Selection {
            restorable: Restorable::Window { window: w, to },
            reason: format!("using recovery window {} ({}): its log holds transaction {n}", w.id, w.window.describe()),
            notes: Vec::new(),
        }),
        None => {
            unreadable_repository(catalog)?;
            let held = match catalog.windows.len() {
                0 => "the catalog holds recovery points only, which know no transactions".to_string(),
                k => format!(
                    "none of the {k} recovery window(s) holds it: {}",
                    catalog.windows.iter().map(|w| w.describe()).collect::<Vec<_>>().join("; ")
                ),
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
    use crate::core::catalog::{Copy, TakenAtSource, WindowBase};
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
            base: None,
        }
    }

    fn window(from: u32, to: u32) -> RecoveryWindow {
        let repo = PathBuf::from("/nonexistent/repo");
        RecoveryWindow {
            id: "abcdef0123".into(),
            format: Format::PgBase,
            system: Some("7715010254350699689".into()),
            timeline: Some(1),
            window: Window {
                from: t(from),
                to: t(to),
                gaps: vec![Gap { from: t(9), to: t(10), reason: "segment missing".into() }],
                transactions: Some(TxnRange { first: 100, last: 200 }),
            },
            repository: repo.clone(),
            log: Some(repo.join("wal")),
            bases: vec![WindowBase { id: "base".into(), path: repo.join("base/b1"), taken_at: t(from) }],
            log_files: 3,
            size: 3 << 24,
            newest_log_file: Some("000000010000000000000004".into()),
            warnings: Vec::new(),
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
    fn a_moment_on_two_timelines_is_restored_on_the_newest_unless_one_is_named() {
        let second = RecoveryWindow { id: "fedcba9876".into(), timeline: Some(2), ..window(7, 12) };
        let pick = |c: &Catalog| match c.select(Selector::At { at: t(8), given: "T", now: t(23) }).unwrap().restorable {
            Restorable::Window { window, .. } => window.id.clone(),
            other => panic!("expected a window, got {other:?}"),
        };
        let mut c = catalog(vec![window(7, 12), second]);
        assert_eq!(pick(&c), "fedcba9876", "the newest timeline holding the moment");
        let mut one = catalog(c.windows.clone());
        one.follow_timeline(1).unwrap();
        assert_eq!(pick(&one), "abcdef0123");
        let err = c.follow_timeline(3).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "no recovery window follows timeline 3; the catalog's windows follow timeline 1, 2"
        );
        assert_eq!(crate::error::kind_of(&err), crate::error::Kind::BadInput);
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
        assert!(s.point().is_err(), "only restore replays a window");
        // Before the window: the newest point at or before T.
        assert_eq!(at(&c, 6, 30).unwrap().point().unwrap().taken_at, t(6));
        // Inside its gap, or past its end, with no newer point: refused, the window printed.
        for (h, m, why) in [(9, 30, "falls in a gap"), (13, 0, "ends at")] {
            let err = at(&c, h, m).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("no recovery window covers") && msg.contains(why), "{msg}");
            assert!(msg.contains("recovery window abcdef0123 (system 7715010254350699689, timeline 1)"), "{msg}");
            assert_eq!(crate::error::kind_of(&err), crate::error::Kind::BadInput);
        }
        // A point newer than what the window restores wins, with a note.
        let mut late = catalog(vec![window(7, 12)]);
        late.backups[2] = backup(13, false);
        let s = at(&late, 14, 0).unwrap();
        assert_eq!(s.point().unwrap().taken_at, t(13));
        assert!(s.notes.iter().any(|n| n.contains("does not cover it")), "{:?}", s.notes);
    }

    #[test]
    fn a_backup_by_selector_and_a_transaction_by_its_window() {
        let c = catalog(vec![window(7, 12)]);
        let s = c.select(Selector::Backup("latest~1")).unwrap();
        assert_eq!(s.point().unwrap().taken_at, t(8));
        assert!(s.reason.contains("(selected as `latest~1`)"), "{}", s.reason);
        let s = c.select(Selector::Txn { xid: 150, after: false }).unwrap();
        assert!(matches!(s.restorable, Restorable::Window { to: Target::BeforeTxn(150), .. }));
        let s = c.select(Selector::Txn { xid: 150, after: true }).unwrap();
        assert!(matches!(s.restorable, Restorable::Window { to: Target::AfterTxn(150), .. }));
        let err = c.select(Selector::Txn { xid: 201, after: true }).unwrap_err();
        assert!(format!("{err:#}").contains("no recovery window covers transaction 201"), "{err:#}");
        let err = catalog(Vec::new()).select(Selector::Txn { xid: 1, after: true }).unwrap_err();
        assert!(format!("{err:#}").starts_with("no recovery window covers transaction 1:"), "{err:#}");
        assert_eq!(crate::error::kind_of(&err), crate::error::Kind::BadInput);
        // A plain selector still finds a backup.
        assert_eq!(c.select("latest").unwrap().taken_at, t(10));
    }
}
