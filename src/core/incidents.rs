//! `lastgood incidents`: the transactions of a WAL archive that touched the selected tables,
//! biggest first, each with the commands that undo it (`revert --txn`) or restore the tables as
//! they were just before it (`restore --before-txn`). Reading the log is the engine's
//! (`Engine::scan_wal`); this module picks the folders, keeps the transactions that ended inside
//! `--since`/`--until`, ranks them and writes the next commands.
//!
//! Invariants: memory holds the `limit` biggest transactions at most (all of them with
//! `limit = 0`), whatever the archive's size; the ranking is a total order (storage drops first:
//! a TRUNCATE touches every row, however many that was; then rows touched; then the oldest xid),
//! so two runs print the same list; the next commands never hold a password (left out, not
//! masked, so they run as printed) and are quoted for a POSIX shell.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::walarchive::WAL_DIR;
use crate::engine::wal::{RelationTouch, TxnStatus, TxnTouch, WalScan, WalScanRequest};
use crate::engine::{Location, registry};
use crate::error::usage;
use crate::output::Output;
use crate::util::shell::shell_quote;

/// What to look for, and where.
#[derive(Debug, Clone)]
pub struct Request {
    /// Archive folders (`--wal`); when empty, each repository's `wal/` folder.
    pub wal: Vec<PathBuf>,
    pub repos: Vec<PathBuf>,
    pub live: Option<String>,
    pub tables: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// How many transactions to list at most; 0: all.
    pub limit: usize,
}

/// One transaction, ranked.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub xid: u64,
    pub timeline: u32,
    pub status: TxnStatus,
    /// When its commit (or abort) record says it ended; `None` while in progress.
    pub commit_time: Option<DateTime<Utc>>,
    pub rows: u64,
    pub relations: Vec<RelationTouch>,
    /// The commands to run next: undo it, or restore its tables as they were just before it.
    pub next: Vec<String>,
}

/// What `incidents` found.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentsReport {
    pub wal: WalScan,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Transactions that touched the tables and ended inside the times; `transactions` lists
    /// the first `limit` of them.
    pub matched: usize,
    pub limit: usize,
    pub transactions: Vec<Incident>,
}

/// A transaction with its rank (module docs): greater is bigger.
struct Ranked(TxnTouch);

impl Ranked {
    fn key(&self) -> (bool, u64, Reverse<u64>, Reverse<u32>) {
        (self.0.truncates() > 0, self.0.rows(), Reverse(self.0.xid), Reverse(self.0.timeline))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Whether a transaction that ended at `time` (`None`: not yet) lies inside the times: one still
/// in progress has not ended by `until`.
fn inside(time: Option<DateTime<Utc>>, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
    match time {
        Some(t) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u),
        None => until.is_none(),
    }
}

/// Lists the transactions (module docs). Errors: `Usage` without a folder to read, for tables
/// without a live database or for `--since` after `--until`; as `Engine::scan_wal` otherwise.
pub fn find(req: &Request, out: &Output) -> Result<IncidentsReport> {
    if let (Some(s), Some(u)) = (req.since, req.until)
        && s > u
    {
        return Err(usage(format!(
            "--since {} is later than --until {}: no transaction can end between them",
            crate::time::show(s),
            crate::time::show(u)
        ))
        .hint("swap the two times")
        .into());
    }
    let folders: Vec<PathBuf> =
        if req.wal.is_empty() { req.repos.iter().map(|r| r.join(WAL_DIR)).collect() } else { req.wal.clone() };
    if folders.is_empty() {
        return Err(usage("no WAL archive to read")
            .hint("pass --wal DIR (the folder archive_command fills) or --repo R (where `lastgood wal-archive` stores it)")
            .into());
    }
    if !req.tables.is_empty() && req.live.is_none() {
        return Err(usage("--table needs --live: WAL names tables by file node, which only live maps to names")
            .hint("pass --live URL (the database the WAL is from), or drop --table to list every relation by file node")
            .into());
    }
    let live = req.live.as_deref().map(Location::parse);
    let engine = match &live {
        Some(l) => registry::for_location(l),
        None => registry::wal_reader().ok_or_else(|| usage("no engine reads a write-ahead log"))?,
    };
    let scan_req = WalScanRequest { folders: &folders, live: live.as_ref(), tables: &req.tables };
    let mut top: BinaryHeap<Reverse<Ranked>> = BinaryHeap::new();
    let mut matched = 0;
    let wal = engine.scan_wal(&scan_req, out, &mut |t: TxnTouch| {
        if !inside(t.time, req.since, req.until) {
            return;
        }
        matched += 1;
        top.push(Reverse(Ranked(t)));
        if req.limit > 0 && top.len() > req.limit {
            top.pop();
        }
    })?;
    let mut ranked: Vec<Ranked> = top.into_iter().map(|Reverse(r)| r).collect();
    ranked.sort_by(|a, b| b.cmp(a));
    let transactions = ranked.into_iter().map(|Ranked(t)| incident(t, req)).collect();
    Ok(IncidentsReport { wal, since: req.since, until: req.until, matched, limit: req.limit, transactions })
}

fn incident(t: TxnTouch, req: &Request) -> Incident {
    let rows = t.rows();
    let next = next_commands(&t, req);
    Incident {
        xid: t.xid,
        timeline: t.timeline,
        status: t.status,
        commit_time: t.time,
        rows,
        relations: t.relations,
        next,
    }
}

/// `lastgood revert --txn X --live URL --tables T` and `lastgood restore --before-txn X --tables T
/// --live URL` (with the repositories given), for a committed transaction whose tables have names.
fn next_commands(t: &TxnTouch, req: &Request) -> Vec<String> {
    let Some(live) = &req.live else { return Vec::new() };
    let mut tables: Vec<&str> = t.relations.iter().filter_map(|r| r.table.as_deref()).collect();
    tables.dedup();
    if t.status != TxnStatus::Committed || tables.is_empty() {
        return Vec::new();
    }
    let live = shell_quote(&without_password(live));
    let tables = shell_quote(&tables.join(","));
    let repos: String =
        req.repos.iter().map(|r| format!(" --repo {}", shell_quote(&r.display().to_string()))).collect();
    vec![
        format!("lastgood revert --txn {} --live {live} --tables {tables}{repos}", t.xid),
        format!("lastgood restore --before-txn {} --tables {tables} --live {live}{repos}", t.xid),
    ]
}

/// `live` with its password left out (not masked, so that the command runs as printed, the
/// password coming from PGPASSWORD or ~/.pgpass): `postgres://u:secret@h/db` → `postgres://u@h/db`.
fn without_password(live: &str) -> String {
    let redacted = crate::redact::connection_string(live);
    let redacted = redacted.replacen(":***@", "@", 1);
    let redacted = redacted.replace("&password=***", "").replace("?password=***&", "?").replace("?password=***", "");
    redacted.split_whitespace().filter(|w| !w.starts_with("password=")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(xid: u64, updates: u64, truncates: u64) -> TxnTouch {
        TxnTouch {
            xid,
            timeline: 1,
            status: TxnStatus::Committed,
            time: None,
            relations: vec![RelationTouch { table: Some("t".into()), updates, truncates, ..RelationTouch::default() }],
        }
    }

    #[test]
    fn truncates_rank_first_then_rows_then_oldest() {
        let mut v = [Ranked(txn(5, 10, 0)), Ranked(txn(3, 10, 0)), Ranked(txn(9, 0, 1)), Ranked(txn(1, 2, 0))];
        v.sort_by(|a, b| b.cmp(a));
        assert_eq!(v.iter().map(|r| r.0.xid).collect::<Vec<_>>(), vec![9, 3, 5, 1]);
    }

    #[test]
    fn times_keep_what_ended_inside() {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        assert!(inside(t("2026-12-03T10:00:00Z"), t("2026-12-03T09:00:00Z"), None));
        assert!(!inside(t("2026-12-03T08:00:00Z"), t("2026-12-03T09:00:00Z"), None));
        assert!(inside(None, t("2026-12-03T09:00:00Z"), None));
        assert!(!inside(None, None, t("2026-12-03T09:00:00Z")));
    }

    #[test]
    fn next_commands_hide_the_password() {
        let req = Request {
            wal: vec![],
            repos: vec![PathBuf::from("/r")],
            live: Some("postgres://u:secret@h/db".into()),
            tables: vec![],
            since: None,
            until: None,
            limit: 0,
        };
        let next = next_commands(&txn(725, 3, 0), &req);
        assert_eq!(next[0], "lastgood revert --txn 725 --live postgres://u@h/db --tables t --repo /r");
        assert!(next[1].starts_with("lastgood restore --before-txn 725 --tables t --live postgres://u@h/db"));
        let mut aborted = txn(726, 3, 0);
        aborted.status = TxnStatus::Aborted;
        assert!(next_commands(&aborted, &req).is_empty());
        assert_eq!(without_password("host=h password=secret dbname=d"), "host=h dbname=d");
        assert_eq!(without_password("postgres://u@h/d?password=x&sslmode=off"), "postgres://u@h/d?sslmode=off");
    }
}
