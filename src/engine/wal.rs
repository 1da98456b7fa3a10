//! What an engine with a write-ahead log tells about it (`Engine::scan_wal`, for `lastgood
//! incidents`): the transactions its archive records, each with the rows it touched per table and
//! operation, and how it ended. Neutral types only; reading a log is the engine's.
//!
//! Invariants: a transaction is reported once, when it ends (`TxnStatus::Committed` or `Aborted`,
//! with the time its commit or abort record carries) or when the archive ends without its end
//! (`InProgress`, no time); a subtransaction that committed is folded into its top-level
//! transaction; `RelationTouch::table` is lastgood's name for the table (bare in `public`, else
//! `schema.table`) or `None` when nothing could name it, and then `note` says why.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Location;

/// What to read: the archive folders (every file PostgreSQL's `archive_command` stores there),
/// the live database that names the relations, and the tables to keep (none: every table).
#[derive(Debug, Clone, Copy)]
pub struct WalScanRequest<'a> {
    pub folders: &'a [PathBuf],
    pub live: Option<&'a Location>,
    pub tables: &'a [String],
}

/// How a transaction ended, as far as the archive tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxnStatus {
    Committed,
    Aborted,
    /// No commit or abort record in the archive: still running when the archive ends, its end in
    /// WAL not archived yet, or cut off by a timeline switch.
    InProgress,
}

impl TxnStatus {
    pub fn word(self) -> &'static str {
        match self {
            TxnStatus::Committed => "committed",
            TxnStatus::Aborted => "aborted",
            TxnStatus::InProgress => "in progress",
        }
    }
}

/// The rows one transaction touched in one table, per operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelationTouch {
    /// lastgood's name for the table; `None` when it could not be named (`note` says why).
    pub table: Option<String>,
    /// Where its rows are stored, as the log names it (PostgreSQL: `tablespace/database/filenode`).
    pub filenode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub inserts: u64,
    pub updates: u64,
    /// Updates that stayed on their page with no index change (PostgreSQL's HOT).
    pub hot_updates: u64,
    pub deletes: u64,
    /// Times the transaction dropped the table's storage: TRUNCATE, DROP, or a rewrite (VACUUM
    /// FULL, CLUSTER, ALTER TABLE …); how many rows that removed the log does not tell.
    pub truncates: u64,
}

impl RelationTouch {
    /// Rows inserted, updated and deleted (truncates are not rows: their count is unknown).
    pub fn rows(&self) -> u64 {
        self.inserts + self.updates + self.hot_updates + self.deletes
    }

    /// Adds `other`'s counts to this one's.
    pub fn add(&mut self, other: &RelationTouch) {
        self.inserts += other.inserts;
        self.updates += other.updates;
        self.hot_updates += other.hot_updates;
        self.deletes += other.deletes;
        self.truncates += other.truncates;
    }

    /// The table's name, or `rel FILENODE` when it has none.
    pub fn label(&self) -> String {
        self.table.clone().unwrap_or_else(|| format!("rel {}", self.filenode))
    }
}

/// One transaction of the archive that touched the selected tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxnTouch {
    /// The transaction id as the log carries it (PostgreSQL: 32 bits, without the epoch).
    pub xid: u64,
    pub timeline: u32,
    pub status: TxnStatus,
    /// The commit (or abort) time its end record carries; `None` while in progress.
    pub time: Option<DateTime<Utc>>,
    pub relations: Vec<RelationTouch>,
}

impl TxnTouch {
    pub fn rows(&self) -> u64 {
        self.relations.iter().map(RelationTouch::rows).sum()
    }

    pub fn truncates(&self) -> u64 {
        self.relations.iter().map(|r| r.truncates).sum()
    }
}

/// What kept part of the archive from being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WalProblemKind {
    /// Segments missing between two archived ones.
    Gap,
    /// A segment the log reader stopped in before its end (damaged, cut short, not a WAL file).
    Unreadable,
}

/// One problem of the archive: which segment, and what the reader said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalProblem {
    pub kind: WalProblemKind,
    /// The segment (the first missing one, for a gap).
    pub segment: String,
    pub message: String,
}

/// What a scan read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WalScan {
    pub folders: Vec<PathBuf>,
    /// Segments read, and their bytes (uncompressed).
    pub segments: usize,
    pub bytes: u64,
    pub timelines: Vec<u32>,
    pub first_segment: Option<String>,
    pub last_segment: Option<String>,
    /// The tables kept, as named (empty: every table).
    pub tables: Vec<String>,
    pub problems: Vec<WalProblem>,
}
