//! Probes: a catalogued backup opened for read-only queries, for the commands that ask questions
//! of many backups (bisect's check, history's digests, drill's data checks).
//!
//! How a backup becomes queryable is its engine's (`Engine::open_probe`): SQLite reads the file
//! in place (`immutable`, or from a private temporary copy when compressed), or restores it whole
//! into a temporary folder for a drill; PostgreSQL restores the archive (its `tables`, or all of
//! it) into a marked scratch database on the scratch server and drops it again.
//!
//! Invariants every probe keeps: nothing it makes outlives it — `finish`, dropping it (after an
//! error or a panic) and Ctrl-C each remove the temporary file or scratch database; nothing is
//! written to a backup or to a live database (a probe's scratch name is always a new one).

use std::path::Path;
use std::sync::Arc;

use super::{BackupRef, Catalogued, CopyReader, Database, PassedCopy};

/// What a probe is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMode {
    /// Queries only: the cheapest readable form (a SQLite file in place).
    Query,
    /// A real restore of the whole backup into scratch, timed (a restore drill's RTO).
    RestoreWhole,
}

/// A probe as the core asks an engine for it (`Engine::open_probe`).
pub struct ProbeRequest<'a> {
    pub backup: BackupRef,
    /// Reads the backup's copies.
    pub reader: Arc<dyn CopyReader>,
    /// The tables the queries read (`None`: all); an engine that restores to probe restores only
    /// these.
    pub tables: Option<Vec<String>>,
    /// The scratch server (`--scratch-url`, a drill's `server`), for engines whose probes are
    /// databases on a server (`Engine::probe_needs_server`).
    pub server: Option<&'a str>,
    /// Why, in words (a scratch database's mark).
    pub why: String,
    pub mode: ProbeMode,
    /// What a restore must never write over.
    pub catalogued: Catalogued,
}

/// A backup open for queries; removes what it made when finished or dropped.
pub trait Probe {
    /// The database to query (messages name the backup, not a temporary copy).
    fn db(&mut self) -> &mut dyn Database;

    /// What was restored to make the probe, in words (a drill's "restore" line); `None` when the
    /// backup is read in place.
    fn restored(&self) -> Option<&str>;

    /// Removes what the probe made, now; says so in words when it is worth a line (a scratch
    /// database dropped). Errors: `Environment` when the server refuses.
    fn finish(self: Box<Self>) -> anyhow::Result<Option<String>>;
}

/// "; read copy `b.db.gz`, passed over `b.db` (checksum differs)" when a restore passed copies
/// over, else nothing (the tail of `Probe::restored`).
pub fn copies_note(passed_over: &[PassedCopy], read: &Path) -> String {
    if passed_over.is_empty() {
        return String::new();
    }
    let passed: Vec<String> = passed_over.iter().map(|p| format!("`{}` ({})", p.path.display(), p.reason)).collect();
    format!("; read copy `{}`, passed over {}", read.display(), passed.join(", "))
}
