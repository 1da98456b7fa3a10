//! SQLite's promote (`Engine::plan_promote` of `engine.rs`): replace a live SQLite database by a
//! scratch database as a whole, atomically, keeping the previous live as a safety snapshot.
//!
//! Built in two steps like every write: `PromotePlan::new` inspects scratch and live without
//! writing anything (a dry run prints it), `PromotePlan::execute` carries it out:
//! 1. scratch is copied through SQLite's backup API (so committed pages still in scratch's `-wal`
//!    are included) to `.lastgood-tmp-*.db` in live's folder, given live's journal mode, checked
//!    with `PRAGMA quick_check` and fsynced;
//! 2. the safety snapshot `<live>.lastgood-snapshot-<UTC stamp>.db` is written beside live (a
//!    byte copy of an idle live; under `force`, a backup-API copy through a normal connection, which
//!    includes the WAL's pages and recovers a hot journal first), under a temporary name, fsynced
//!    and renamed into place;
//! 3. live's `-wal`, `-shm` and `-journal` are removed (after a checkpoint when `--force`
//!    overrode a WAL with content): a promoted file must never be opened together with the old
//!    live's WAL or journal, which SQLite would replay or roll back onto it;
//! 4. the copy is given live's mode and owner and renamed over live (`rename(2)` is atomic), and
//!    the folder is fsynced. A live given as a symbolic link is resolved first: the file it points
//!    to is replaced (and snapshotted beside it), the link is kept.
//!
//! Invariant: at every instant live is either exactly the old live or exactly scratch's content;
//! a crash before step 4 leaves at most a `.lastgood-tmp-*` file beside live, never a changed live.
//!
//! A scratch that lacks tables or views live has (say one made with `restore --tables`) would drop
//! them from live: refused unless `--allow-missing` names exactly those (`engine/missing.rs`). A
//! live that does not exist yet (its folder does: a new machine after the old one was lost) is
//! created: the copy is renamed to live's path without replacing anything (a file that appeared
//! meanwhile is kept), with no snapshot since there is nothing to lose; the printed undo removes
//! the new file.
//!
//! ## Detecting that live is in use
//! SQLite offers no "who has this file open" call, and an idle connection holds no lock, so two
//! probes are combined (both read-only):
//! - on Linux, `/proc/*/fd` is searched for another process holding live or its `-wal` open
//!   (same device and inode); this sees idle connections too, and names the pid and program;
//! - for a rollback-journal live, a connection with busy timeout 0 tries `BEGIN EXCLUSIVE` and
//!   rolls back at once: it fails while any other connection has a read or write transaction
//!   open, which covers processes the first probe cannot see (other users, other OSes).
//!
//! A non-empty `-journal` beside a rollback-journal live means a writer is mid-transaction or
//! crashed; it is refused without probing (the probe would roll the journal back, a write).
//! A WAL-mode live that has a non-empty `-wal` has committed pages not yet in the main file (or
//! a connection still using it): promoting over it is refused too. Both refusals are lifted by
//! `force`; then live's WAL is checkpointed into live before it is removed, and the snapshot is
//! taken through the backup API so it holds every committed transaction. The probes are a check
//! at one moment: the writer lock (`core::lock`, taken by the command on `Engine::lock_file`)
//! keeps other lastgood processes out for the whole
//! promote, but an application that opens live after the check and writes to the old file before
//! the rename would lose that write — stop the application first.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::classify;
use super::file::{backup_flags, backup_uri, check_header, other_processes_using, remove_side_files, side_file};
use super::snapshot::snapshot_path;
use crate::engine::missing::{SchemaName, render_missing};
use crate::engine::{Printable, PromoteJob, PromoteRequest, WouldRefuse, dry_run_last_line, pretty_json};
use crate::error::{bad_input, environment, refused};
use crate::output::Output;
use crate::util::fs::{TEMP_PREFIX, copy_mode_and_owner, parent_dir, set_default_file_mode, sync_dir};
use crate::util::shell::shell_quote;

/// SQLite file header bytes 18 and 19 are 2 for a WAL-mode database, 1 for rollback journal.
const WAL_MODE_BYTE: u8 = 2;

/// What a promote will do; printable before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct PromotePlan {
    pub scratch: PathBuf,
    /// The real file replaced (symbolic links resolved).
    pub live: PathBuf,
    /// The symbolic link given as live, when it was one; it is kept and points to the new file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_symlink: Option<PathBuf>,
    /// Live does not exist yet (its folder does): it is created, and there is nothing to snapshot.
    pub creates_live: bool,
    /// Where the previous live will be kept (`None` when live is created).
    pub snapshot: Option<PathBuf>,
    /// Tables and views live has and scratch lacks: promote would drop them (refused unless
    /// `--allow-missing` names exactly these).
    pub missing: Vec<SchemaName>,
    /// The names given to `--allow-missing`.
    pub allow_missing: Vec<String>,
    /// Tables and views scratch has and live lacks (the undo names them in its `--allow-missing`).
    pub added: Vec<SchemaName>,
    pub scratch_bytes: u64,
    pub live_bytes: u64,
    /// `wal` or `delete`: live's journal mode, which the promoted file keeps.
    pub live_journal_mode: String,
    /// Size of live's `-wal` file (0 when absent).
    pub live_wal_bytes: u64,
    /// Why live looks in use (other processes, locks, a WAL with content); empty when idle.
    pub in_use: Vec<String>,
    pub force: bool,
    /// The steps, in order, in words.
    pub steps: Vec<String>,
    /// The command that puts the previous live back.
    pub undo: String,
}

/// What a promote did.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteReport {
    #[serde(flatten)]
    pub plan: PromotePlan,
    pub quick_check: String,
    pub seconds: f64,
}

impl PromotePlan {
    /// Inspects scratch and live (read-only). Errors: `Refused` when scratch and live are the same
    /// file; `BadInput` when either is not a SQLite database; `Environment` when scratch, or live's
    /// folder, is missing. A live that does not exist is created (`creates_live`). A live in use,
    /// or lacking objects, is not an error here: `check` refuses it.
    pub fn new(
        scratch: &Path,
        live: &Path,
        force: bool,
        allow_missing: &[String],
        now: DateTime<Utc>,
    ) -> Result<PromotePlan> {
        for (what, p) in [("scratch", scratch), ("live", live)] {
            if let crate::engine::Location::Postgres(_) = crate::engine::Location::parse(&p.to_string_lossy()) {
                return Err(crate::error::usage(format!(
                    "promote replaces SQLite files; {what} `{}` is a PostgreSQL connection",
                    crate::redact::connection_string(&p.to_string_lossy())
                ))
                .hint("for PostgreSQL, merge the changes with `lastgood merge` instead")
                .into());
            }
        }
        // A symlinked live: the file it points to is replaced, and the link stays.
        let live_symlink =
            fs::symlink_metadata(live).is_ok_and(|m| m.file_type().is_symlink()).then(|| live.to_path_buf());
        let real_live = match &live_symlink {
            Some(link) => fs::canonicalize(link)
                .map_err(|e| environment(format!("cannot resolve live `{}` (a symbolic link): {e}", link.display())))?,
            None => live.to_path_buf(),
        };
        let live = real_live.as_path();
        let creates_live = match fs::symlink_metadata(live) {
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(environment(format!("cannot read live `{}`: {e}", live.display())).into()),
        };
        if creates_live {
            return Self::creating(scratch, live, force, allow_missing);
        }
        if crate::engine::same_file(scratch, live) {
            return Err(refused(format!("scratch and live are the same file (`{}`)", live.display()))
                .hint("promote takes a scratch database made by `lastgood restore` and the live database it replaces")
                .into());
        }
        check_header(scratch).context("reading scratch")?;
        check_header(live).context("reading live")?;
        let live_wal_bytes = fs::metadata(side_file(live, "-wal")).map(|m| m.len()).unwrap_or(0);
        let wal_mode = header_byte(live, 18)? == WAL_MODE_BYTE;
        let mut in_use: Vec<String> = other_processes_using(live)
            .into_iter()
            .map(|p| format!("open in another process (pid {}, {})", p.pid, p.program))
            .collect();
        if live_wal_bytes > 0 {
            in_use.push(format!(
                "has a WAL file `{}` of {live_wal_bytes} bytes that is not checkpointed",
                side_file(live, "-wal").display()
            ));
        } else if fs::metadata(side_file(live, "-journal")).is_ok_and(|m| m.len() > 0) {
            // A hot journal: a writer is mid-transaction or crashed. Probing would make SQLite roll
            // it back, which is a write to live; refuse instead.
            in_use.push(format!(
                "has a rollback journal `{}` (a writer is mid-transaction, or crashed and live needs recovery)",
                side_file(live, "-journal").display()
            ));
        } else if !wal_mode && let Some(why) = lock_probe(live)? {
            in_use.push(why);
        }
        let (scratch_objects, live_objects) = (schema_names(scratch)?, schema_names(live)?);
        let missing = crate::engine::missing::lacking(&live_objects, &scratch_objects);
        let added = crate::engine::missing::lacking(&scratch_objects, &live_objects);
        let snapshot = snapshot_path(live, now);
        // The undo promotes the snapshot back over what is then live (scratch's content): it drops
        // what scratch added, and meets live's state of use again.
        let mut undo = super::snapshot::undo_command(&snapshot, &live.display().to_string());
        if force && !in_use.is_empty() {
            undo.push_str(" --force");
        }
        if let Some(arg) = crate::engine::missing::allow_arg(&added) {
            undo.push(' ');
            undo.push_str(&arg);
        }
        let mut plan = PromotePlan {
            scratch: scratch.to_path_buf(),
            live: live.to_path_buf(),
            live_symlink,
            creates_live: false,
            snapshot: Some(snapshot),
            missing,
            allow_missing: allow_missing.to_vec(),
            added,
            scratch_bytes: fs::metadata(scratch)?.len(),
            live_bytes: fs::metadata(live)?.len(),
            live_journal_mode: if wal_mode { "wal" } else { "delete" }.to_string(),
            live_wal_bytes,
            in_use,
            force,
            steps: Vec::new(),
            undo,
        };
        plan.steps = plan.describe_steps();
        Ok(plan)
    }

    /// The plan for a live that does not exist yet (say a new server after the old one was lost):
    /// scratch is copied to a new file that is renamed to live's path without replacing anything.
    /// Nothing is lost, so no snapshot; the undo removes the new file. Leftover `-wal`/`-journal`
    /// files at live's path would be replayed onto the new file: listed in `in_use`, removed only
    /// under `force`.
    fn creating(scratch: &Path, live: &Path, force: bool, allow_missing: &[String]) -> Result<PromotePlan> {
        let dir = parent_dir(live);
        if !dir.is_dir() {
            return Err(environment(format!("folder `{}` of live `{}` does not exist", dir.display(), live.display()))
                .hint(
                    "create the folder first; promote creates a live database that does not exist yet, not its folder",
                )
                .into());
        }
        check_header(scratch).context("reading scratch")?;
        let in_use: Vec<String> = ["-wal", "-journal"]
            .iter()
            .map(|s| side_file(live, s))
            .filter(|p| p.exists())
            .map(|p| {
                format!(
                    "does not exist, but `{}` does (a leftover of a previous database there, which SQLite would replay onto the new file)",
                    p.display()
                )
            })
            .collect();
        let wal_mode = header_byte(scratch, 18)? == WAL_MODE_BYTE;
        let l = live.display().to_string();
        let undo = format!(
            "rm -f -- {} {} {}",
            shell_quote(&l),
            shell_quote(&format!("{l}-wal")),
            shell_quote(&format!("{l}-shm"))
        );
        let mut plan = PromotePlan {
            scratch: scratch.to_path_buf(),
            live: live.to_path_buf(),
            live_symlink: None,
            creates_live: true,
            snapshot: None,
            missing: Vec::new(),
            allow_missing: allow_missing.to_vec(),
            added: Vec::new(),
            scratch_bytes: fs::metadata(scratch)?.len(),
            live_bytes: 0,
            live_journal_mode: if wal_mode { "wal" } else { "delete" }.to_string(),
            live_wal_bytes: 0,
            in_use,
            force,
            steps: Vec::new(),
            undo,
        };
        plan.steps = plan.describe_steps();
        Ok(plan)
    }

    fn describe_steps(&self) -> Vec<String> {
        let dir = parent_dir(&self.live);
        let mut steps = Vec::new();
        if let Some(link) = &self.live_symlink {
            steps.push(format!(
                "live `{}` is a symbolic link: replace the file it points to, `{}`, and keep the link",
                link.display(),
                self.live.display()
            ));
        }
        steps.push(format!(
            "copy scratch `{}` through the SQLite backup API to a temporary file in `{}`, journal mode {}, PRAGMA quick_check, fsync",
            self.scratch.display(),
            dir.display(),
            self.live_journal_mode
        ));
        if self.creates_live {
            if !self.in_use.is_empty() {
                steps.push("remove the leftover -wal, -shm and -journal files at live's path".into());
            }
            steps.push(format!(
                "live `{}` does not exist: no safety snapshot (nothing to lose); rename the copy to it without replacing anything (atomic), fsync the folder",
                self.live.display()
            ));
            return steps;
        }
        if let Some(snapshot) = &self.snapshot {
            steps.push(format!(
                "keep the current live as safety snapshot `{}` (fsynced, with live's mode and owner)",
                snapshot.display()
            ));
        }
        if self.live_wal_bytes > 0 {
            steps.push("checkpoint live's WAL into live, then remove live's -wal, -shm and -journal files".into());
        } else {
            steps.push("remove live's leftover -wal, -shm and -journal files, if any".into());
        }
        steps.push(format!(
            "give the copy live's mode and owner, rename it over live `{}` (atomic), fsync the folder",
            self.live.display()
        ));
        steps
    }

    /// Refuses (exit 5) when live looks in use and `force` was not given, or when scratch lacks
    /// tables or views live has that `--allow-missing` does not name exactly.
    pub fn check(&self) -> Result<()> {
        self.check_not_in_use()?;
        crate::engine::missing::check(
            &self.missing,
            &self.allow_missing,
            &self.live.display().to_string(),
            &self.scratch.display().to_string(),
        )
    }

    /// Refuses (exit 5) when live looks in use and `force` was not given.
    pub fn check_not_in_use(&self) -> Result<()> {
        if self.in_use.is_empty() || self.force {
            return Ok(());
        }
        Err(refused(format!("live `{}` {}", self.live.display(), self.in_use_text()))
            .hint(if self.creates_live {
                "move those files away (they may hold the last writes of a database deleted there), or pass --force to remove them".to_string()
            } else {
                format!(
                    "stop the application using it and checkpoint its WAL (`sqlite3 {} 'PRAGMA wal_checkpoint(TRUNCATE)'`), or pass --force",
                    shell_quote(&self.live.display().to_string())
                )
            })
            .into())
    }

    fn in_use_text(&self) -> String {
        if self.creates_live { self.in_use.join("; ") } else { format!("is in use: {}", self.in_use.join("; ")) }
    }

    /// Carries the plan out (see the module docs for the order). The caller holds the writer
    /// lock. Errors: `BadInput` when the copy of scratch fails `quick_check`, `Environment` for
    /// I/O failures; on any error live is unchanged.
    pub fn execute(self, out: &Output) -> Result<PromoteReport> {
        self.check()?;
        let started = Instant::now();
        let dir = parent_dir(&self.live);
        let copy = temp_in(&dir)?;
        copy_through_backup_api(&self.scratch, copy.path(), out).context("copying scratch next to live")?;
        set_journal_mode(copy.path(), &self.live_journal_mode)?;
        let problems = quick_check(copy.path())?;
        if !problems.is_empty() {
            return Err(bad_input(format!(
                "the copy of scratch `{}` fails quick_check: {}",
                self.scratch.display(),
                problems.join("; ")
            ))
            .into());
        }
        if self.creates_live {
            set_default_file_mode(copy.as_file())?;
        } else {
            copy_mode_and_owner(&self.live, copy.as_file())?;
        }
        copy.as_file().sync_all().with_context(|| format!("syncing `{}`", copy.path().display()))?;
        if self.creates_live {
            // Only under --force (check refused otherwise): side files a deleted database left.
            remove_side_files(&self.live)?;
            // No-clobber: a file that appeared at live's path meanwhile is never replaced.
            copy.persist(&self.live, true).map_err(|e| {
                environment(format!("cannot create live `{}`: {}; nothing was replaced", self.live.display(), e.error))
            })?;
        } else {
            self.take_snapshot(&dir, out)?;
            self.retire_live_side_files()?;
            copy.persist(&self.live, false).map_err(|e| {
                environment(format!("cannot rename the copy over live `{}`: {}", self.live.display(), e.error))
            })?;
        }
        sync_dir(&dir);
        Ok(PromoteReport { plan: self, quick_check: "ok".into(), seconds: started.elapsed().as_secs_f64() })
    }

    /// Writes the safety snapshot under a temporary name, then renames it into place.
    fn take_snapshot(&self, dir: &Path, out: &Output) -> Result<()> {
        let Some(snapshot) = &self.snapshot else { return Ok(()) };
        let tmp = temp_in(dir)?;
        if self.live_wal_bytes > 0 || !self.in_use.is_empty() {
            copy_live_through_backup_api(&self.live, tmp.path(), out).context("taking the safety snapshot of live")?;
        } else {
            byte_copy(&self.live, tmp.as_file(), out)?;
        }
        copy_mode_and_owner(&self.live, tmp.as_file())?;
        tmp.as_file().sync_all().with_context(|| format!("syncing `{}`", tmp.path().display()))?;
        tmp.persist(snapshot, true)
            .map_err(|e| environment(format!("cannot write safety snapshot `{}`: {}", snapshot.display(), e.error)))?;
        sync_dir(dir);
        Ok(())
    }

    /// Removes live's `-wal` and `-shm` so the promoted file is never combined with them. With a
    /// WAL that has content (only under `force`), checkpoints it into live first so that live stays
    /// complete until the rename.
    fn retire_live_side_files(&self) -> Result<()> {
        let wal = side_file(&self.live, "-wal");
        if fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0 {
            let conn = Connection::open(&self.live).map_err(|e| classify(e, &self.live))?;
            conn.busy_timeout(Duration::from_secs(2)).map_err(|e| classify(e, &self.live))?;
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            drop(conn);
        }
        // A leftover `-journal` would be rolled back onto the promoted file just the same.
        remove_side_files(&self.live)
    }
}

/// `Engine::plan_promote`: the plan (`PromotePlan::new`) as a job.
pub fn plan(req: &PromoteRequest) -> Result<Box<dyn PromoteJob>> {
    Ok(Box::new(PromotePlan::new(&req.scratch, &req.live, req.force, &req.allow_missing, req.now)?))
}

/// A promote's dry run: the plan and the refusal `--yes` would meet.
#[derive(Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    /// Why `--yes` would be refused (exit 5); `null` when it would go.
    would_refuse: Option<WouldRefuse>,
    #[serde(flatten)]
    plan: &'a PromotePlan,
}

impl Printable for DryRun<'_> {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        self.plan.render() + &dry_run_last_line(self.would_refuse.as_ref())
    }
}

impl PromoteJob for PromotePlan {
    fn dry_run(&self) -> (Box<dyn Printable + '_>, Option<anyhow::Error>) {
        let refusal = self.check().err();
        let dry = DryRun { dry_run: true, would_refuse: refusal.as_ref().map(WouldRefuse::of), plan: self };
        (Box::new(dry), refusal)
    }

    fn warnings(&self) -> Vec<String> {
        if !self.force {
            return Vec::new();
        }
        self.in_use.iter().map(|why| format!("--force: live {why}")).collect()
    }

    fn execute(self: Box<Self>, out: &Output) -> Result<Box<dyn Printable>> {
        Ok(Box::new(PromotePlan::execute(*self, out)?))
    }
}

impl PromotePlan {
    /// The dry run's lines, before its last.
    fn render(&self) -> String {
        let mut s = if self.creates_live {
            format!("dry run: would create live `{}` from scratch `{}`\n", self.live.display(), self.scratch.display())
        } else {
            format!("dry run: would replace live `{}` by scratch `{}`\n", self.live.display(), self.scratch.display())
        };
        for (i, step) in self.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {step}\n", i + 1));
        }
        for why in &self.in_use {
            s.push_str(&format!("live {why}{}\n", if self.force { " (overridden by --force)" } else { "" }));
        }
        s.push_str(&render_missing(&self.missing, &self.allow_missing));
        s
    }
}

impl Printable for PromoteReport {
    fn json(&self) -> Result<String> {
        pretty_json(self)
    }

    fn text(&self) -> String {
        let p = &self.plan;
        if p.creates_live {
            return format!(
                "created live `{}` from scratch `{}` ({:.2}s, quick_check {})\nlive did not exist: no safety snapshot (nothing to lose)\nundo (removes the new live): {}\n",
                p.live.display(),
                p.scratch.display(),
                self.seconds,
                self.quick_check,
                p.undo
            );
        }
        let link = match &p.live_symlink {
            Some(l) => format!("live `{}` is a symbolic link; replaced the file it points to\n", l.display()),
            None => String::new(),
        };
        let dropped: String =
            p.missing.iter().map(|m| format!("dropped from live ({}): {}\n", m.kind, m.name)).collect();
        link + &dropped
            + &format!(
                "promoted `{}` over live `{}` ({:.2}s, quick_check {})\nsafety snapshot of the previous live: {}\nundo: {}\n",
                p.scratch.display(),
                p.live.display(),
                self.seconds,
                self.quick_check,
                p.snapshot.as_ref().map(|s| s.display().to_string()).unwrap_or_default(),
                p.undo
            )
    }
}

/// The tables and views of a SQLite database (read-only, nothing created beside it). Indexes and
/// triggers belong to their table and are not listed on their own.
fn schema_names(path: &Path) -> Result<Vec<SchemaName>> {
    let conn = Connection::open_with_flags(backup_uri(path), backup_flags()).map_err(|e| classify(e, path))?;
    let mut st = conn
        .prepare(
            "SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
        )
        .map_err(|e| classify(e, path))?;
    let names = st
        .query_map([], |r| Ok(SchemaName::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
    names.map_err(|e| classify(e, path))
}

fn header_byte(path: &Path, index: usize) -> Result<u8> {
    let mut head = [0u8; 100];
    let mut f = File::open(path).map_err(|e| environment(format!("cannot open `{}`: {e}", path.display())))?;
    f.read_exact(&mut head).with_context(|| format!("reading the header of `{}`", path.display()))?;
    Ok(head[index])
}

/// Tries `BEGIN EXCLUSIVE` on a rollback-journal live with busy timeout 0; returns why it failed
/// when another connection holds a transaction open. Writes nothing (the transaction is rolled
/// back before any change).
fn lock_probe(live: &Path) -> Result<Option<String>> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(live, flags).map_err(|e| classify(e, live))?;
    conn.busy_timeout(Duration::ZERO).map_err(|e| classify(e, live))?;
    match conn.execute_batch("BEGIN EXCLUSIVE; ROLLBACK;") {
        Ok(()) => Ok(None),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            Ok(Some(format!("another connection holds a transaction open on it ({e})")))
        }
        Err(e) => Err(classify(e, live)),
    }
}

/// A temporary file beside live, removed on drop (tempfile) and on Ctrl-C (`interrupt`), with the
/// `-wal`/`-shm`/`-journal` files SQLite may create beside it.
struct TempBeside {
    file: tempfile::NamedTempFile,
    _guard: Tracked,
}

/// Paths registered with `interrupt`; on drop, untracked, and the side files removed.
struct Tracked(Vec<PathBuf>);

impl Drop for Tracked {
    fn drop(&mut self) {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                let _ = fs::remove_file(p);
            }
            crate::interrupt::untrack(p);
        }
    }
}

impl TempBeside {
    fn path(&self) -> &Path {
        self.file.path()
    }

    fn as_file(&self) -> &File {
        self.file.as_file()
    }

    /// Renames the file to `to` (replacing it unless `noclobber`).
    fn persist(self, to: &Path, noclobber: bool) -> std::result::Result<(), tempfile::PersistError> {
        let TempBeside { file, _guard } = self;
        let done = if noclobber { file.persist_noclobber(to) } else { file.persist(to) };
        done.map(|_| ())
    }
}

fn temp_in(dir: &Path) -> Result<TempBeside> {
    let with_side_files = |main: &Path| -> Vec<PathBuf> {
        std::iter::once(main.to_path_buf())
            .chain(["-wal", "-shm", "-journal"].iter().map(|s| side_file(main, s)))
            .collect()
    };
    // Created and registered under the interrupt handler's lock: a Ctrl-C can never find the file
    // unregistered.
    let file = crate::interrupt::create_tracked(
        || tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(".db").tempfile_in(dir),
        |f| with_side_files(f.path()),
    )
    .map_err(|e| environment(format!("cannot create a file in `{}`: {e}", dir.display())))?;
    let tracked = with_side_files(file.path());
    Ok(TempBeside { file, _guard: Tracked(tracked) })
}

/// Opens a temporary file lastgood created, read-write but never creating it: once the interrupt
/// handler has deleted it, opening fails instead of leaving a new empty file behind.
fn open_temp(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags).map_err(|e| classify(e, path))
}

/// Copies the database `src` (with any committed pages in its WAL) into the file `dst`, read-only
/// on `src`, in steps so the progress bar moves.
fn copy_through_backup_api(src: &Path, dst: &Path, out: &Output) -> Result<()> {
    let from = Connection::open_with_flags(backup_uri(src), backup_flags()).map_err(|e| classify(e, src))?;
    copy_from_connection(&from, src, dst, out)
}

/// Copies live, opened read-write so that SQLite first recovers a hot journal (only under
/// `force`: a crashed writer's journal is rolled back, as any connection would do).
fn copy_live_through_backup_api(live: &Path, dst: &Path, out: &Output) -> Result<()> {
    let from = Connection::open(live).map_err(|e| classify(e, live))?;
    from.busy_timeout(Duration::from_secs(2)).map_err(|e| classify(e, live))?;
    copy_from_connection(&from, live, dst, out)
}

fn copy_from_connection(from: &Connection, src: &Path, dst: &Path, out: &Output) -> Result<()> {
    let mut to = open_temp(dst)?;
    // No journal beside the temporary copy: an interrupted copy is discarded whole, and a journal
    // created after the interrupt handler's sweep would be left behind.
    let mode: String = to.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0)).map_err(|e| classify(e, dst))?;
    if !mode.eq_ignore_ascii_case("off") {
        return Err(environment(format!("cannot write `{}` without a journal (got {mode})", dst.display())).into());
    }
    let backup = rusqlite::backup::Backup::new(from, &mut to).map_err(|e| classify(e, dst))?;
    let bar = out.count_bar(0, "copying pages");
    loop {
        let step = backup.step(4096).map_err(|e| classify(e, src))?;
        let p = backup.progress();
        bar.set_length(p.pagecount as u64);
        bar.set_position((p.pagecount - p.remaining) as u64);
        match step {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => {}
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Gives the copy live's journal mode (a WAL-mode file switched to DELETE and back is
/// checkpointed on close, so no `-wal` is left beside it).
fn set_journal_mode(path: &Path, mode: &str) -> Result<()> {
    let conn = open_temp(path)?;
    let got: String =
        conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0)).map_err(|e| classify(e, path))?;
    if !got.eq_ignore_ascii_case(mode) {
        return Err(environment(format!("cannot set journal mode {mode} on `{}` (got {got})", path.display())).into());
    }
    Ok(())
}

fn quick_check(path: &Path) -> Result<Vec<String>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| classify(e, path))?;
    crate::engine::sqlite::integrity_problems(&conn, true)
}

fn byte_copy(src: &Path, mut dst: &File, out: &Output) -> Result<()> {
    let mut from = File::open(src).map_err(|e| environment(format!("cannot read `{}`: {e}", src.display())))?;
    let bar = out.bytes_bar(fs::metadata(src).map(|m| m.len()).unwrap_or(0), "safety snapshot");
    loop {
        let n = std::io::copy(&mut (&mut from).take(16 << 20), &mut dst)
            .map_err(|e| environment(format!("copying `{}`: {e}", src.display())))?;
        if n == 0 {
            break;
        }
        bar.inc(n);
    }
    bar.finish_and_clear();
    Ok(())
}
