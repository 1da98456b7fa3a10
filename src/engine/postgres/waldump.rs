//! PostgreSQL's `Engine::scan_wal` (for `lastgood incidents`): the archived WAL read by the real
//! `pg_waldump`, its records grouped by transaction and relation, joined with the commit and abort
//! records that carry their times.
//!
//! How: the archive (`walfiles`) is read per timeline, oldest first, over each run of consecutive
//! segments; compressed segments are decompressed into a private folder, at most
//! `Stage::BATCH` at a time (a batch ends there and the next starts again at its last segment,
//! so no record is lost at the seam; records already seen, by LSN, are skipped). `pg_waldump -p
//! STAGE START END` runs with `TZ=UTC` (it prints commit times in its local zone) and, from
//! PostgreSQL 15 on, `-r Heap -r Heap2 -r Transaction`; its output is read as it comes, line by
//! line, never held whole. Per record (`parse_line`): the resource manager, `tx` (the xid),
//! `lsn`, the operation (`Heap` INSERT, UPDATE, HOT_UPDATE, DELETE, `Heap2` MULTI_INSERT with its
//! tuple count) and `blkref #0: rel spc/db/filenode`. A transaction's counts are held until its
//! COMMIT or ABORT record (`Tracker`), whose `subxacts:` fold committed subtransactions into it and
//! whose `rels:` (storage dropped at commit: TRUNCATE, DROP, rewrites) count as truncates; then it
//! is named (`walnames`) and handed on, so memory holds only transactions still open.
//!
//! Timelines: a child timeline's first segment repeats its parent's WAL up to the switch point
//! (its `.history` file); those records are skipped when the parent's were read.
//!
//! Failures: a gap between archived segments, or a segment pg_waldump stops in before the end of
//! the timeline (damaged, cut short, a compressed stream that does not decode), is a `WalProblem`
//! naming the segment; reading goes on with the next segment, and everything read is reported.
//! pg_waldump stopping in the timeline's last segment is the normal end of the WAL.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Result;
use chrono::{DateTime, NaiveDateTime, Utc};
use memchr::memmem;

use super::walfiles::{self, Archive, Stage, parse_lsn, segment_name};
use super::walnames::Names;
use crate::engine::wal::{TxnStatus, TxnTouch, WalProblem, WalProblemKind, WalScan, WalScanRequest};
use crate::error::environment;
use crate::output::Output;

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
    Heap { xid: u32, lsn: u64, op: HeapOp, rel: RelKey },
    /// A Transaction COMMIT or ABORT (also of a prepared transaction); `desc` is parsed only when
    /// the transaction touched a selected table (`parse_end`).
    End { xid: u32, lsn: u64, commit: bool, desc: &'a [u8] },
    Other { lsn: u64 },
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
        Tracker {
            open: XidMap::default(),
            filter,
            seen: HashSet::new(),
            timeline: 0,
            skip_below: 0,
            last_lsn: 0,
        }
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
            .map(|(xid, rels)| Finished { xid, timeline: self.timeline, status: TxnStatus::InProgress, time: None, rels })
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

/// Everything one scan shares: the archive, the tool, the stage, the tracker and the names.
struct Scan<'a> {
    archive: Archive,
    tool: PathBuf,
    filter_rmgrs: bool,
    stage: Stage,
    tracker: Tracker,
    names: Names,
    sink: &'a mut dyn FnMut(TxnTouch),
    report: WalScan,
    bar: indicatif::ProgressBar,
    done_bytes: u64,
}

/// `Engine::scan_wal` for PostgreSQL (module docs).
pub fn scan(req: &WalScanRequest<'_>, out: &Output, sink: &mut dyn FnMut(TxnTouch)) -> Result<WalScan> {
    let archive = walfiles::scan(req.folders)?;
    let wal_major = walfiles::major_of_magic(archive.magic);
    let (tool, tool_major) = super::tools::find_versioned("pg_waldump", wal_major)?;
    if let (Some(w), Some(t)) = (wal_major, tool_major)
        && w != t
    {
        return Err(environment(format!(
            "the archive holds WAL of PostgreSQL {w}, but `{}` is PostgreSQL {t}'s: pg_waldump reads only its own version's WAL",
            tool.display()
        ))
        .hint(format!("set LASTGOOD_PG_BIN to PostgreSQL {w}'s bin folder (Debian: /usr/lib/postgresql/{w}/bin)"))
        .into());
    }
    let names = Names::open(req.live, req.tables)?;
    let tracker = Tracker::new(names.filter());
    let total: u64 = archive.timelines.values().map(|s| s.len() as u64).sum::<u64>() * archive.seg_size;
    let report = WalScan { folders: req.folders.to_vec(), tables: names.tables.clone(), ..WalScan::default() };
    let mut scan = Scan {
        bar: out.bytes_bar(total, "reading WAL"),
        archive,
        tool,
        filter_rmgrs: tool_major.is_none_or(|m| m >= 15),
        stage: Stage::new()?,
        tracker,
        names,
        sink,
        report,
        done_bytes: 0,
    };
    let timelines: Vec<u32> = scan.archive.timelines.keys().copied().collect();
    let mut read_up_to: HashMap<u32, u64> = HashMap::new();
    for tli in timelines {
        let skip = match walfiles::switch_point(&scan.archive, tli) {
            Some((parent, at)) => at.min(read_up_to.get(&parent).map_or(0, |l| l + 1)),
            None => 0,
        };
        scan.tracker.start_timeline(tli, skip);
        scan.timeline(tli)?;
        read_up_to.insert(tli, scan.tracker.last_lsn);
        for f in scan.tracker.end_timeline() {
            scan.hand_on(f)?;
        }
    }
    scan.bar.finish_and_clear();
    Ok(scan.report)
}

impl Scan<'_> {
    fn hand_on(&mut self, f: Finished) -> Result<()> {
        if let Some(t) = self.names.touch(f, &self.tracker.seen)? {
            (self.sink)(t);
        }
        Ok(())
    }

    fn name(&self, tli: u32, segno: u64) -> String {
        segment_name(tli, segno, self.archive.seg_size)
    }

    /// Reads every run of timeline `tli`, recording the gaps between them.
    fn timeline(&mut self, tli: u32) -> Result<()> {
        let segs = &self.archive.timelines[&tli];
        let runs = walfiles::runs(segs);
        let last = *segs.keys().next_back().expect("a timeline has a segment");
        self.report.timelines.push(tli);
        for pair in runs.windows(2) {
            let (end, next) = (pair[0][pair[0].len() - 1], pair[1][0]);
            self.report.problems.push(WalProblem {
                kind: WalProblemKind::Gap,
                segment: self.name(tli, end + 1),
                message: format!(
                    "{} segment(s) missing: {} to {}",
                    next - end - 1,
                    self.name(tli, end + 1),
                    self.name(tli, next - 1)
                ),
            });
        }
        for run in runs {
            self.run(tli, &run, last)?;
        }
        Ok(())
    }

    /// Reads one run of consecutive segments, batch by batch (module docs).
    fn run(&mut self, tli: u32, run: &[u64], last: u64) -> Result<()> {
        let mut i = 0;
        let mut keep: Option<String> = None;
        while i < run.len() {
            self.stage.clear_except(keep.as_deref());
            let overlap = keep.take().is_some();
            let (staged, failed) = self.stage_batch(tli, run, i);
            let Some(end) = staged else {
                let (j, message) = failed.expect("nothing staged means a failure");
                self.unreadable(tli, run[j], message);
                i = j + 1;
                continue;
            };
            let stopped = self.waldump(tli, run[i], run[end])?;
            self.account(tli, run, i, end, overlap);
            i = match (stopped.filter(|(s, _)| *s != last), failed) {
                (Some((segno, message)), _) => {
                    let at = run.iter().position(|&s| s >= segno).unwrap_or(end).clamp(i, end);
                    self.unreadable(tli, run[at], message);
                    at + 1
                }
                (None, Some((j, message))) => {
                    self.unreadable(tli, run[j], message);
                    j + 1
                }
                // A full batch: the next one starts again at its last segment.
                (None, None) if end + 1 < run.len() && end > i => {
                    keep = Some(self.name(tli, run[end]));
                    end
                }
                (None, None) => end + 1,
            };
        }
        self.stage.clear_except(None);
        Ok(())
    }

    /// Stages segments from `run[i]` on until the batch is full or the run ends; returns the last
    /// index staged (`None` when none could be) and the segment that could not be staged, if any.
    fn stage_batch(&mut self, tli: u32, run: &[u64], i: usize) -> (Option<usize>, Option<(usize, String)>) {
        let mut end = None;
        for (j, &segno) in run.iter().enumerate().skip(i) {
            let name = self.name(tli, segno);
            let file = &self.archive.timelines[&tli][&segno];
            if let Err(e) = self.stage.put(&name, file) {
                return (end, Some((j, format!("{e:#}"))));
            }
            end = Some(j);
            if self.stage.decompressed() >= Stage::BATCH {
                break;
            }
        }
        (end, None)
    }

    fn account(&mut self, tli: u32, run: &[u64], i: usize, end: usize, overlap: bool) {
        let n = end + 1 - i - usize::from(overlap);
        self.report.segments += n;
        self.report.bytes += n as u64 * self.archive.seg_size;
        self.done_bytes = self.report.bytes;
        self.bar.set_position(self.done_bytes);
        let first = self.name(tli, run[i]);
        if self.report.first_segment.is_none() {
            self.report.first_segment = Some(first);
        }
        self.report.last_segment = Some(self.name(tli, run[end]));
    }

    fn unreadable(&mut self, tli: u32, segno: u64, message: String) {
        let segment = self.name(tli, segno);
        if self.report.problems.iter().any(|p| p.segment == segment && p.kind == WalProblemKind::Unreadable) {
            return;
        }
        self.report.problems.push(WalProblem { kind: WalProblemKind::Unreadable, segment, message });
    }

    /// Runs pg_waldump over `first..=last` in the stage, streaming its records into the tracker.
    /// Returns where it stopped before the end, if it did: the segment number and its message.
    fn waldump(&mut self, tli: u32, first: u64, last: u64) -> Result<Option<(u64, String)>> {
        let mut cmd = Command::new(&self.tool);
        cmd.arg("-p").arg(self.stage.path());
        if self.filter_rmgrs {
            cmd.args(["-r", "Heap", "-r", "Heap2", "-r", "Transaction"]);
        }
        cmd.arg(self.name(tli, first)).arg(self.name(tli, last));
        cmd.env("TZ", "UTC").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| environment(format!("cannot run `{}`: {e}", self.tool.display())))?;
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let start_lsn = first * self.archive.seg_size;
        let read = self.stream(stdout, start_lsn);
        let status = child.wait().map_err(|e| environment(format!("waiting for pg_waldump: {e}")))?;
        let errors = errors.join().unwrap_or_default();
        read?;
        if status.success() {
            return Ok(None);
        }
        let message = errors.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("").trim().to_string();
        let message = message.strip_prefix("pg_waldump: error: ").unwrap_or(&message).to_string();
        let message = if message.is_empty() { format!("pg_waldump failed ({status})") } else { message };
        Ok(Some((stop_segment(&message, self.archive.seg_size, self.tracker.last_lsn, first), message)))
    }

    fn stream(&mut self, stdout: impl Read, start_lsn: u64) -> Result<()> {
        let mut reader = BufReader::with_capacity(1 << 20, stdout);
        let mut line = Vec::with_capacity(512);
        let mut n: u64 = 0;
        loop {
            line.clear();
            let got = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| environment(format!("reading pg_waldump's output: {e}")))?;
            if got == 0 {
                return Ok(());
            }
            let Some(rec) = parse_line(&line) else { continue };
            if let Some(f) = self.tracker.record(rec) {
                self.hand_on(f)?;
            }
            n += 1;
            if n % 16384 == 0 {
                let at = self.tracker.last_lsn.saturating_sub(start_lsn);
                self.bar.set_position(self.done_bytes + at);
            }
        }
    }
}

/// The segment pg_waldump stopped in, from its message: the last LSN it names (`… at 0/44C4B38`),
/// else the segment file it names, else where the records stopped (`last_lsn`), else `first`.
fn stop_segment(message: &str, seg_size: u64, last_lsn: u64, first: u64) -> u64 {
    let words: Vec<&str> = message.split(|c: char| c.is_whitespace() || c == '"').collect();
    let clean = |w: &str| w.trim_end_matches([':', ',', '.']).to_string();
    if let Some(lsn) = words.iter().rev().find_map(|w| parse_lsn(&clean(w))) {
        return lsn / seg_size;
    }
    if let Some(seg) = words.iter().find_map(|w| walfiles::parse_segment_name(&clean(w))) {
        return seg.segno(seg_size);
    }
    if last_lsn > 0 { (last_lsn / seg_size).max(first) } else { first }
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
        assert_eq!(parse_line(MULTI), Some(Record::Heap { xid: 731, lsn: 0x153BB80, op: HeapOp::Insert(5), rel: r16395 }));
        assert_eq!(parse_line(MULTI16), Some(Record::Heap { xid: 731, lsn: 0x153BB80, op: HeapOp::Insert(7), rel: r16395 }));
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
        assert_eq!(left.iter().map(|f| (f.xid, f.status)).collect::<Vec<_>>(), vec![(724, TxnStatus::InProgress), (725, TxnStatus::InProgress)]);
        // A commit dropping a selected table's storage counts as a truncate.
        let mut t = Tracker::new(Some(vec![(5, 16384)]));
        let f = t.record(parse_line(DROPS).unwrap()).unwrap();
        assert_eq!(f.rels, vec![(RelKey { spc: 1663, db: 5, node: 16384 }, Counts { truncates: 1, ..Counts::default() })]);
    }

    #[test]
    fn stop_segments_come_from_the_message() {
        let size = 16 << 20;
        assert_eq!(stop_segment("error in WAL record at 0/44C4B00: invalid resource manager ID 114 at 0/44C4B38", size, 0, 3), 4);
        assert_eq!(stop_segment("could not read from file 000000010000000000000004, offset 8000000: read 0 of 3584", size, 0, 3), 4);
        assert_eq!(stop_segment("something odd", size, 0x5000010, 3), 5);
    }
}
