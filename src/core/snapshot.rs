//! Safety snapshots of live, as every command that writes to live names them, and the undo
//! command that puts live back from one: the one way the core asks the engines
//! (`Engine::safety_snapshot_path`, `Engine::undo_command`), so that merge and its command never
//! name an engine.
//!
//! Invariant (every engine's): a snapshot path is a new name, never an existing file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::engine::{Location, registry};

/// Where a merge into `live` at `now` keeps its safety snapshot. Errors: `Environment` when the
/// engine's snapshot folder cannot be made.
pub fn snapshot_path(live: &Location, now: DateTime<Utc>) -> Result<PathBuf> {
    registry::for_location(live).safety_snapshot_path(live, now)
}

/// The command that undoes a merge into `live` from `snapshot`; `tables` are the tables the
/// merge and its triggers wrote.
pub fn undo_command(live: &Location, snapshot: &Path, tables: &[String]) -> Result<String> {
    registry::for_location(live).undo_command(live, snapshot, tables)
}
