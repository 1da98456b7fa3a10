//! PostgreSQL's WAL as `pg_waldump` prints it, for `lastgood incidents`: one line per record
//! (`parse_line`), grouped by transaction and relation until the transaction ends (`Tracker`).
//! Running pg_waldump over an archive is `walscan`'s.
//!
//! Per record: the resource manager, `tx` (the xid), `lsn`, the operation (`Heap` INSERT,
//! UPDATE, HOT_UPDATE, DELETE, `Heap2` MULTI_INSERT with its tuple count; `+INIT` variants alike)
//! and `blkref #0: rel spc/db/filenode`; the PostgreSQL 15 and 16 spellings are both read. A
//! transaction's counts are held until its COMMIT or ABORT record (also of a prepared
//! transaction), whose `subxacts:` fold committed subtransactions into it and whose `rels:`
//! (storage dropped at commit: TRUNCATE, DROP, rewrites) count as truncates of those relations.
//! Then it is handed on (`Finished`), so memory holds only transactions still open. The commit
//! time is read as UTC (pg_waldump runs with `TZ=UTC`: it prints times in its local zone).
//!
//! Invariants: a record is taken once, by LSN (a batch's overlap, or a child timeline's copy of
//! its parent's WAL, is skipped); a record of an unselected relation costs no allocation.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDateTime, Utc};
use memchr::memmem;

use super::walfiles::{self, parse_lsn};
use crate::engine::wal::TxnStatus;

/// Where a relation's rows are stored, as WAL names it: tablespace, database, file node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelKey {
    pub spc: u32,
    pub db: u32,
    pub node: u32,
}

impl RelKey {
    /// `1663/5/16384`.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.spc, self.db, self.node)
    }
}

/// Rows one transaction touched in one relation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub inserts: u64,
    pub updates: u64,
    pub hot_updates: u64,
    pub deletes: u64,
    pub truncates: u64,
}

impl Counts {
    pub fn rows(&self) -> u64 {
        self.inserts + self.updates + self.hot_updates + self.deletes
    }
}

/// A heap operation and the rows it touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapOp {
    Insert(u64),
    Update,
    HotUpdate,
    Delete,
}

/// One line of pg_waldump's output, as far as incidents need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Heap {
        xid: u32,
        lsn: u64,
        op: HeapOp,
        rel: RelKey,
    },
    /// A Transaction COMMIT or ABORT (also of a prepared transaction); `desc` is parsed only when
    /// the transaction touched a selected table (`parse_end`).
    End {
        xid: u32,
        lsn: u64,
        commit: bool,
        desc: &'a [u8],
    },
    Other {
        lsn: u64,
    },
}

/// Parses one line of pg_waldump (module docs); `None` for a line that is not a record.
pub fn parse_line(line: &[u8]) -> Option<Record<'_>> {
    let rest = line.strip_prefix(b"rmgr: ")?;
    let kind = if rest.starts_with(b"Heap2 ") {
        2
    } else if rest.starts_with(b"Heap ") {
        1
    } else if rest.starts_with(b"Transaction ") {
        3
    } else {
        0
    };
    let tx_at = memmem::find(line, b" tx:")? + 4;
    let (xid, after_tx) = number(line, tx_at)?;
    let lsn_at = after_tx + memmem::find(&line[after_tx..], b"lsn: ")? + 5;
    let lsn = lsn_at_pos(line, lsn_at)?;
    if kind == 0 {
        return Some(Record::Other { lsn });
    }
    let desc_at = lsn_at + memmem::find(&line[lsn_at..], b"desc: ")? + 6;
    let desc = trim_newline(&line[desc_at..]);
    let end = desc.iter().position(|&b| b == b' ' || b == b',').unwrap_or(desc.len());
    let word = &desc[..end];
    let word = word.strip_suffix(b"+INIT").unwrap_or(word);
    let xid = u32::try_from(xid).ok()?;
    let op = match (kind, word) {
        (1, b"INSERT") => HeapOp::Insert(1),
        (1, b"UPDATE") => HeapOp::Update,
        (1, b"HOT_UPDATE") => HeapOp::HotUpdate,
        (1, b"DELETE") => HeapOp::Delete,
        (2, b"MULTI_INSERT") => {
            let digits = end + desc[end..].iter().position(u8::is_ascii_digit)?;
            HeapOp::Insert(number(desc, digits)?.0)
        }
        (3, b"COMMIT" | b"COMMIT_PREPARED") => return Some(Record::End { xid, lsn, commit: true, desc }),
        (3, b"ABORT" | b"ABORT_PREPARED") => return Some(Record::End { xid, lsn, commit: false, desc }),
        _ => return Some(Record::Other { lsn }),
    };
    let rel_at = memmem::find(desc, b"blkref #0: rel ")? + 15;
    let (spc, p) = number(desc, rel_at)?;
    let (db, p) = number(desc, p.checked_add(1).filter(|&p| desc.get(p - 1) == Some(&b'/'))?)?;
    let (node, _) = number(desc, p.checked_add(1).filter(|&p| desc.get(p - 1) == Some(&b'/'))?)?;
    let rel = RelKey { spc: u32::try_from(spc).ok()?, db: u32::try_from(db).ok()?, node: u32::try_from(node).ok()? };
    Some(Record::Heap { xid, lsn, op, rel })
}

fn trim_newline(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

/// The decimal number at `at` (after spaces), and the position after it.
fn number(s: &[u8], mut at: usize) -> Option<(u64, usize)> {
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    let start = at;
    let mut n: u64 = 0;
    while let Some(d) = s.get(at).filter(|b| b.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        at += 1;
    }
    (at > start).then_some((n, at))
}

/// The `X/Y` LSN at `at`.
fn lsn_at_pos(s: &[u8], at: usize) -> Option<u64> {
    let end = at + s[at..].iter().position(|&b| b == b',' || b == b' ').unwrap_or(s.len() - at);
    parse_lsn(std::str::from_utf8(&s[at..end]).ok()?)
}

/// A COMMIT or ABORT record's description, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XactEnd {
    /// A prepared transaction's own xid (`COMMIT_PREPARED 735: …`), else `None`.
    pub prepared_xid: Option<u32>,
    pub time: Option<DateTime<Utc>>,
    pub subxacts: Vec<u32>,
    /// Storage the transaction drops (`rels:`).
    pub dropped: Vec<RelKey>,
}

/// Parses `COMMIT 2026-12-03 09:14:03.123456 UTC; subxacts: 727; rels: base/5/16388; …`.
pub fn parse_end(desc: &[u8]) -> XactEnd {
    let text = String::from_utf8_lossy(desc);
    let mut parts = text.split("; ");
    let mut end = XactEnd::default();
    let first = parts.next().unwrap_or("");
    let mut rest = first.split_once(' ').map_or("", |(_, r)| r);
    if let Some((xid, after)) = rest.split_once(": ")
        && let Ok(x) = xid.parse()
    {
        end.prepared_xid = Some(x);
        rest = after;
    }
    end.time = parse_time(rest);
    for part in parts {
        if let Some(list) = part.strip_prefix("subxacts: ") {
            end.subxacts = list.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        } else if let Some(list) = part.strip_prefix("rels: ") {
            end.dropped = list.split_whitespace().filter_map(parse_rel_path).collect();
        }
    }
    end
}

/// `2026-12-03 09:14:03.123456 UTC` (pg_waldump run with `TZ=UTC`).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let (stamp, zone) = s.trim().rsplit_once(' ')?;
    if zone != "UTC" && zone != "GMT" {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// `base/5/16388`, `global/1262`, `pg_tblspc/16500/PG_15_202209061/5/16388` → its key.
fn parse_rel_path(p: &str) -> Option<RelKey> {
    let parts: Vec<&str> = p.split('/').collect();
    let n = |s: &str| s.parse::<u32>().ok();
    match parts.as_slice() {
        ["base", db, node] => Some(RelKey { spc: 1663, db: n(db)?, node: n(node)? }),
        ["global", node] => Some(RelKey { spc: 1664, db: 0, node: n(node)? }),
        ["pg_tblspc", spc, _, db, node] => Some(RelKey { spc: n(spc)?, db: n(db)?, node: n(node)? }),
        _ => None,
    }
}

/// A transaction that ended (or that the archive ends in), with its counts per relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub xid: u32,
    pub timeline: u32,
    pub status: TxnStatus,
    pub time: Option<DateTime<Utc>>,
    pub rels: Vec<(RelKey, Counts)>,
}

/// A hasher for xids: they are already well spread.
#[derive(Default)]
pub struct XidHasher(u64);

impl Hasher for XidHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

type XidMap<V> = HashMap<u32, V, BuildHasherDefault<XidHasher>>;

/// Groups records by transaction and relation until each transaction ends (module docs).
pub struct Tracker {
    open: XidMap<Vec<(RelKey, Counts)>>,
    /// `(database, file node)` of the selected tables; `None`: every relation.
    filter: Option<Vec<(u32, u32)>>,
    /// Relations with heap records in the scan (kept only without a filter).
    pub seen: HashSet<RelKey>,
    timeline: u32,
    /// Records below this LSN repeat the parent timeline's (already read).
    skip_below: u64,
    /// The last LSN taken, so that a batch's overlap is not counted twice.
    pub last_lsn: u64,
}

impl Tracker {
    pub fn new(filter: Option<Vec<(u32, u32)>>) -> Tracker {
        Tracker { open: XidMap::default(), filter, seen: HashSet::new(), timeline: 0, skip_below: 0, last_lsn: 0 }
    }

    fn wanted(&self, rel: &RelKey) -> bool {
        match &self.filter {
            Some(f) => f.iter().any(|&(db, node)| db == rel.db && node == rel.node),
            None => true,
        }
    }

    /// Starts timeline `tli`, skipping records below `skip_below`.
    pub fn start_timeline(&mut self, tli: u32, skip_below: u64) {
        self.timeline = tli;
        self.skip_below = skip_below;
        self.last_lsn = 0;
    }

    /// Takes one record; returns the transaction it ends, if it ends one that touched a
    /// selected relation.
    pub fn record(&mut self, rec: Record<'_>) -> Option<Finished> {
        let lsn = match rec {
            Record::Heap { lsn, .. } | Record::End { lsn, .. } | Record::Other { lsn } => lsn,
        };
        if lsn <= self.last_lsn || lsn < self.skip_below {
            return None;
        }
        self.last_lsn = lsn;
        match rec {
            Record::Heap { xid, op, rel, .. } => {
                self.heap(xid, op, rel);
                None
            }
            Record::End { xid, commit, desc, .. } => self.end(xid, commit, desc),
            Record::Other { .. } => None,
        }
    }

    fn heap(&mut self, xid: u32, op: HeapOp, rel: RelKey) {
        if xid == 0 || !self.wanted(&rel) {
            return;
        }
        if self.filter.is_none() && !self.seen.contains(&rel) {
            self.seen.insert(rel);
        }
        let rels = self.open.entry(xid).or_default();
        let i = match rels.iter().position(|(k, _)| *k == rel) {
            Some(i) => i,
            None => {
                rels.push((rel, Counts::default()));
                rels.len() - 1
            }
        };
        let c = &mut rels[i].1;
        match op {
            HeapOp::Insert(n) => c.inserts += n,
            HeapOp::Update => c.updates += 1,
            HeapOp::HotUpdate => c.hot_updates += 1,
            HeapOp::Delete => c.deletes += 1,
        }
    }

    fn end(&mut self, record_xid: u32, commit: bool, desc: &[u8]) -> Option<Finished> {
        // Cheap test first: most transactions touched nothing selected and drop nothing.
        let mentions_more = memmem::find(desc, b"subxacts: ").is_some() || memmem::find(desc, b"rels: ").is_some();
        let prepared = desc.starts_with(b"COMMIT_PREPARED") || desc.starts_with(b"ABORT_PREPARED");
        if !mentions_more && !prepared && !self.open.contains_key(&record_xid) {
            return None;
        }
        let parsed = parse_end(desc);
        let xid = parsed.prepared_xid.unwrap_or(record_xid);
        let mut rels = self.open.remove(&xid).unwrap_or_default();
        for sub in &parsed.subxacts {
            for (k, c) in self.open.remove(sub).unwrap_or_default() {
                merge(&mut rels, k, &c);
            }
        }
        if commit {
            for k in parsed.dropped.iter().filter(|k| k.node >= walfiles::FIRST_NORMAL_OID && self.wanted(k)) {
                merge(&mut rels, *k, &Counts { truncates: 1, ..Counts::default() });
            }
        }
        if rels.is_empty() {
            return None;
        }
        let status = if commit { TxnStatus::Committed } else { TxnStatus::Aborted };
        Some(Finished { xid, timeline: self.timeline, status, time: parsed.time, rels })
    }

    /// Ends the timeline: every transaction still open, as in progress, by xid.
    pub fn end_timeline(&mut self) -> Vec<Finished> {
        let mut left: Vec<Finished> = self
            .open
            .drain()
            .map(|(xid, rels)| Finished {
                xid,
                timeline: self.timeline,
                status: TxnStatus::InProgress,
                time: None,
                rels,
            })
            .collect();
        left.sort_by_key(|f| f.xid);
        left
    }
}

fn merge(rels: &mut Vec<(RelKey, Counts)>, k: RelKey, c: &Counts) {
    match rels.iter_mut().find(|(key, _)| *key == k) {
        Some((_, have)) => {
            have.inserts += c.inserts;
            have.updates += c.updates;
            have.hot_updates += c.hot_updates;
            have.deletes += c.deletes;
            have.truncates += c.truncates;
        }
        None => rels.push((k, *c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: &[u8] = b"rmgr: Heap        len (rec/tot):     65/    65, tx:        724, lsn: 0/01537D98, prev 0/01537D58, desc: INSERT off 15 flags 0x00, blkref #0: rel 1663/5/16384 blk 0\n";
    const HOT: &[u8] = b"rmgr: Heap        len (rec/tot):     71/    71, tx:        725, lsn: 0/01538638, prev 0/015380E0, desc: HOT_UPDATE off 1 xmax 725 flags 0x60 ; new off 21 xmax 0, blkref #0: rel 1663/5/16384 blk 0";
    const MULTI: &[u8] = b"rmgr: Heap2       len (rec/tot):    120/   120, tx:        731, lsn: 0/0153BB80, prev 0/0153BB40, desc: MULTI_INSERT+INIT 5 tuples flags 0x02, blkref #0: rel 1663/5/16395 blk 0";
    const MULTI16: &[u8] = b"rmgr: Heap2       len (rec/tot):    120/   120, tx:        731, lsn: 0/0153BB80, prev 0/0153BB40, desc: MULTI_INSERT ntuples: 7, flags: 0x02, blkref #0: rel 1663/5/16395 blk 0";
    const COMMIT: &[u8] = b"rmgr: Transaction len (rec/tot):     46/    46, tx:        726, lsn: 0/01538DC0, prev 0/01538D98, desc: COMMIT 2026-12-03 11:50:56.995749 UTC; subxacts: 727";
    const DROPS: &[u8] = b"rmgr: Transaction len (rec/tot):    361/   361, tx:        730, lsn: 0/015395E0, prev 0/01539550, desc: COMMIT 2026-12-03 11:50:57.044906 UTC; rels: base/5/16388 base/5/16384; inval msgs: catcache 55 relcache 16384";

    #[test]
    fn records_parse() {
        let rel = RelKey { spc: 1663, db: 5, node: 16384 };
        assert_eq!(parse_line(INSERT), Some(Record::Heap { xid: 724, lsn: 0x1537D98, op: HeapOp::Insert(1), rel }));
        assert_eq!(parse_line(HOT), Some(Record::Heap { xid: 725, lsn: 0x1538638, op: HeapOp::HotUpdate, rel }));
        let r16395 = RelKey { node: 16395, ..rel };
        assert_eq!(
            parse_line(MULTI),
            Some(Record::Heap { xid: 731, lsn: 0x153BB80, op: HeapOp::Insert(5), rel: r16395 })
        );
        assert_eq!(
            parse_line(MULTI16),
            Some(Record::Heap { xid: 731, lsn: 0x153BB80, op: HeapOp::Insert(7), rel: r16395 })
        );
        assert!(matches!(parse_line(COMMIT), Some(Record::End { xid: 726, commit: true, .. })));
        let lock = b"rmgr: Heap        len (rec/tot):     54/    54, tx:        743, lsn: 0/03FFFFA0, prev 0/03FFFF50, desc: LOCK off 37: xid 743: flags 0x00 LOCK_ONLY EXCL_LOCK , blkref #0: rel 1663/5/16403 blk 268";
        assert_eq!(parse_line(lock), Some(Record::Other { lsn: 0x3FFFFA0 }));
        assert_eq!(parse_line(b"first record is after 0/1000000"), None);
    }

    #[test]
    fn end_records_parse() {
        let Some(Record::End { desc, .. }) = parse_line(DROPS) else { panic!() };
        let e = parse_end(desc);
        assert_eq!(e.time.unwrap().to_rfc3339(), "2026-12-03T11:50:57.044906+00:00");
        assert_eq!(e.dropped, vec![RelKey { spc: 1663, db: 5, node: 16388 }, RelKey { spc: 1663, db: 5, node: 16384 }]);
        let e = parse_end(b"COMMIT_PREPARED 735: 2026-12-03 11:50:57.000001 UTC");
        assert_eq!(e.prepared_xid, Some(735));
        assert!(e.time.is_some());
        assert_eq!(parse_end(b"ABORT 2026-12-03 11:50:56.995744 UTC; subxacts: 8 9").subxacts, vec![8, 9]);
    }

    #[test]
    fn tracker_groups_folds_subtransactions_and_skips_overlap() {
        let mut t = Tracker::new(Some(vec![(5, 16384)]));
        t.start_timeline(1, 0);
        let sub = b"rmgr: Heap        len (rec/tot):     65/    65, tx:        727, lsn: 0/01538C88, prev 0/01538C48, desc: INSERT off 42 flags 0x00, blkref #0: rel 1663/5/16384 blk 0";
        let other = b"rmgr: Heap        len (rec/tot):     65/    65, tx:        726, lsn: 0/01538C90, prev 0/01538C48, desc: INSERT off 42 flags 0x00, blkref #0: rel 1663/5/99999 blk 0";
        for l in [INSERT, HOT, sub, other] {
            assert_eq!(t.record(parse_line(l).unwrap()), None);
        }
        // Seen again (a batch's overlap): not counted twice.
        assert_eq!(t.record(parse_line(sub).unwrap()), None);
        let f = t.record(parse_line(COMMIT).unwrap()).unwrap();
        assert_eq!((f.xid, f.status), (726, TxnStatus::Committed));
        assert_eq!(f.rels.len(), 1);
        assert_eq!(f.rels[0].1.inserts, 1);
        let left = t.end_timeline();
        assert_eq!(
            left.iter().map(|f| (f.xid, f.status)).collect::<Vec<_>>(),
            vec![(724, TxnStatus::InProgress), (725, TxnStatus::InProgress)]
        );
        // A commit dropping a selected table's storage counts as a truncate.
        let mut t = Tracker::new(Some(vec![(5, 16384)]));
        let f = t.record(parse_line(DROPS).unwrap()).unwrap();
        assert_eq!(
            f.rels,
            vec![(RelKey { spc: 1663, db: 5, node: 16384 }, Counts { truncates: 1, ..Counts::default() })]
        );
    }
}
