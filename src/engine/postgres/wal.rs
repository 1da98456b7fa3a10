//! A WAL archive folder (what `archive_command` fills: `lastgood wal-archive` stores files flat in
//! `<repository>/wal/`) read together with the base backups of the same repository: the recovery
//! windows they open (`Source::windows` of `basebackup::PgBaseBackup`).
//!
//! Files: segments (24 hex digits: timeline, log, segment), `.partial` segments, `.history` and
//! `.backup` files, each possibly `.gz`/`.zst`. A segment's cluster (system identifier) and size
//! come from its first page's long header (`xlp_sysid` at byte 24, `xlp_seg_size` at 32), its
//! number from the page address; a `.backup` file gives a base backup's STOP TIME. The time of the
//! last commit, and the transactions committed, come from the real `pg_waldump -r Transaction`
//! on the newest segments (the server's `pg_waldump`, `TZ=UTC`), remembered per file in the
//! catalog's cache (`Memo`) while its size and mtime hold.
//!
//! A window is one cluster on one timeline: from the end of its oldest usable base backup (one
//! whose WAL from start to stop is there, in the archive or in the backup) to the last commit of
//! the newest segment holding one. Segment numbers missing between that backup's start and the
//! newest segment are gaps: a gap runs from the last commit before the missing segments (or the
//! end of a base backup after it) to the end of the first usable base backup after them, or to the window's end when there is none
//! (then nothing after the gap can be reached). Base backups of one timeline open windows on that
//! timeline only; `.partial` segments are counted, never replayed.
//!
//! Invariant: nothing is written into the archive; `pg_waldump` reads a link (or, for a
//! compressed file, a decompressed copy) in a private temporary folder, so it never wanders into
//! the next segment.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tools;
use crate::engine::source::{BaseFacts, Gap, LogScan, LogWindow, Memo, TxnRange, Window};
use crate::error::environment;
use crate::util::compress::{Compression, decoder};

/// Whether `name` is a WAL segment's (24 uppercase hex digits).
pub fn is_segment_name(name: &str) -> bool {
    name.len() == 24 && name.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// `0/2000028` → its 64-bit position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// The segment file name holding position `lsn` on `timeline`.
pub fn segment_name(timeline: u32, lsn: u64, seg_size: u64) -> String {
    let segno = lsn / seg_size;
    let per_log = 0x1_0000_0000 / seg_size;
    format!("{timeline:08X}{:08X}{:08X}", segno / per_log, segno % per_log)
}

/// `KEY: value` in a backup_label or `.backup` file.
pub fn label_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().to_string()))
}

/// `2026-12-03 09:40:07 UTC` (a label's time, in the server's log_timezone): UTC, GMT or a
/// numeric offset (`+01`, `+0530`); other zone names are not read.
pub fn parse_pg_time(text: &str) -> Option<DateTime<Utc>> {
    let (stamp, zone) = text.rsplit_once(' ')?;
    let naive = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let offset_secs = match zone {
        "UTC" | "GMT" | "Z" => 0,
        z if z.starts_with('+') || z.starts_with('-') => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i32>().ok()?, 0),
                4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
                _ => return None,
            };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    Some(naive.and_utc() - chrono::Duration::seconds(offset_secs.into()))
}

/// What kind of archived file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Segment,
    Partial,
    History,
    Backup,
}

/// One file of the archive.
#[derive(Debug, Clone)]
pub struct WalFile {
    pub path: PathBuf,
    /// The name as stored.
    pub name: String,
    /// The name without `.gz`/`.zst` (and `.partial`): what PostgreSQL asks for.
    pub wal_name: String,
    pub compression: Compression,
    kind: Kind,
    pub size: u64,
    stamp: String,
}

/// The archive's files; a missing folder has none. Errors: `Environment` when it cannot be read.
pub fn list(log: &Path) -> Result<Vec<WalFile>> {
    let dir = match fs::read_dir(log) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(environment(format!("cannot read WAL archive `{}`: {e}", log.display())).into()),
    };
    let mut files = Vec::new();
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let (stem, compression) = match (name.strip_suffix(".gz"), name.strip_suffix(".zst")) {
            (Some(s), _) => (s, Compression::Gzip),
            (_, Some(s)) => (s, Compression::Zstd),
            _ => (name.as_str(), Compression::None),
        };
        let (wal_name, kind) = if is_segment_name(stem) {
            (stem.to_string(), Kind::Segment)
        } else if let Some(s) = stem.strip_suffix(".partial").filter(|s| is_segment_name(s)) {
            (s.to_string(), Kind::Partial)
        } else if stem.ends_with(".history") {
            (stem.to_string(), Kind::History)
        } else if stem.ends_with(".backup") {
            (stem.to_string(), Kind::Backup)
        } else {
            continue;
        };
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let stamp = format!("{}:{}", meta.len(), mtime.map_or(0, |d| d.as_nanos()));
        files.push(WalFile { path: e.path(), name, wal_name, compression, kind, size: meta.len(), stamp });
    }
    files.sort_by(|a, b| a.wal_name.cmp(&b.wal_name).then(a.name.cmp(&b.name)));
    Ok(files)
}

/// A segment's first page header: its cluster, timeline, number and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    sysid: u64,
    timeline: u32,
    segno: u64,
    seg_size: u64,
}

/// Reads the long page header a segment starts with (remembered in `memo`); `None` for a file
/// that is not one.
fn header(f: &WalFile, memo: &mut dyn Memo) -> Option<Header> {
    let key = format!("pg-wal-header:{}", f.name);
    if let Some(h) = memo.get(&key, &f.stamp).and_then(|v| serde_json::from_str(&v).ok()) {
        return Some(h);
    }
    let file = fs::File::open(&f.path).ok()?;
    let mut r = decoder(f.compression, file).ok()?;
    let mut b = [0u8; 40];
    if crate::util::fs::read_up_to(&mut r, &mut b).ok()? < 40 {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let info = u16::from_le_bytes([b[2], b[3]]);
    let seg_size = u64::from(u32_at(32));
    // XLP_LONG_HEADER, and a power-of-two segment size from 1 MiB to 1 GiB.
    if info & 0x0002 == 0 || !seg_size.is_power_of_two() || !(1 << 20..=1 << 30).contains(&seg_size) {
        return None;
    }
    let h = Header { sysid: u64_at(24), timeline: u32_at(4), segno: u64_at(8) / seg_size, seg_size };
    memo.put(&key, &f.stamp, serde_json::to_string(&h).unwrap_or_default());
    Some(h)
}

/// What `pg_waldump` found in one segment: its commits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Commits {
    pub count: u64,
    pub last_time: Option<DateTime<Utc>>,
    /// The highest transaction id committed (32-bit, as the WAL records it).
    pub max_xid: Option<u32>,
    /// Why pg_waldump could not read it all, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The commits of segment `f`, by `pg_waldump` of PostgreSQL `version` (remembered in `memo`).
fn commits(f: &WalFile, version: &str, memo: &mut dyn Memo) -> Commits {
    let key = format!("pg-wal-commits:{}", f.name);
    if let Some(c) = memo.get(&key, &f.stamp).and_then(|v| serde_json::from_str(&v).ok()) {
        return c;
    }
    let c =
        run_waldump(f, version).unwrap_or_else(|e| Commits { problem: Some(format!("{e:#}")), ..Commits::default() });
    if c.problem.is_none() {
        memo.put(&key, &f.stamp, serde_json::to_string(&c).unwrap_or_default());
    }
    c
}

/// `pg_waldump -r Transaction` on a private link to (or decompressed copy of) the segment.
fn run_waldump(f: &WalFile, version: &str) -> Result<Commits> {
    commits_in_file(&f.path, &f.wal_name, f.compression, version)
}

/// The commits of the segment stored at `path` (named `wal_name` to PostgreSQL, compressed
/// with `compression`), by `pg_waldump -r Transaction` of PostgreSQL `version` on a private link
/// to it (or decompressed copy of it). Errors: `Environment` when pg_waldump cannot run.
pub fn commits_in_file(path: &Path, wal_name: &str, compression: Compression, version: &str) -> Result<Commits> {
    let bin = tools::server_bin(version).map(|d| d.join("pg_waldump")).or_else(|_| tools::find("pg_waldump"))?;
    let tmp = tempfile::Builder::new()
        .prefix("lastgood-waldump-")
        .tempdir()
        .map_err(|e| environment(format!("cannot create a temporary folder: {e}")))?;
    let at = tmp.path().join(wal_name);
    if compression == Compression::None {
        std::os::unix::fs::symlink(path, &at)?;
    } else {
        let mut out = fs::File::create(&at)?;
        std::io::copy(&mut decoder(compression, fs::File::open(path)?)?, &mut out)?;
    }
    let out = tools::output(std::process::Command::new(&bin).env("TZ", "UTC").args(["-r", "Transaction"]).arg(&at))?;
    let mut c = parse_commits(&String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    // The end of the segment's valid WAL (a record continuing into the next file) is no problem.
    let benign = err.contains("could not find file") || err.contains("error in WAL record");
    if !out.status.success() && !benign {
        c.problem = Some(format!("pg_waldump cannot read `{}`: {}", path.display(), tools::stderr_tail(&out, None, 2)));
    }
    Ok(c)
}

/// The full (epoch-carrying) transaction id of the 32-bit `low` the WAL records, for a window
/// whose first transaction is `next` (the base backup's next transaction id): `None` when it
/// lies before `next`.
pub fn full_xid(next: u64, low: u32) -> Option<u64> {
    let epoch = next >> 32;
    let low = u64::from(low);
    let full = if low < (next & 0xFFFF_FFFF) { ((epoch + 1) << 32) | low } else { (epoch << 32) | low };
    (full >= next).then_some(full)
}

/// Commit records in pg_waldump's output (`tx: 725, … desc: COMMIT 2026-12-03 09:40:14.421589 UTC`).
pub fn parse_commits(text: &str) -> Commits {
    let mut c = Commits::default();
    for line in text.lines() {
        let Some((_, desc)) = line.split_once("desc: COMMIT ") else { continue };
        let xid =
            line.split_once("tx:").and_then(|(_, r)| r.trim_start().split(',').next()?.trim().parse::<u32>().ok());
        let stamp: String = desc.split(';').next().unwrap_or("").trim().to_string();
        let Some(t) = stamp
            .strip_suffix(" UTC")
            .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok())
            .map(|n| n.and_utc())
        else {
            continue;
        };
        c.count += 1;
        c.last_time = Some(c.last_time.map_or(t, |l| l.max(t)));
        if let Some(x) = xid {
            c.max_xid = Some(c.max_xid.map_or(x, |m| m.max(x)));
        }
    }
    c
}

/// A `.backup` file's facts: where its backup started (timeline, LSN) and when it stopped.
fn backup_file(f: &WalFile) -> Option<(u32, u64, DateTime<Utc>)> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut decoder(f.compression, fs::File::open(&f.path).ok()?).ok()?, &mut text).ok()?;
    let start = parse_lsn(label_value(&text, "START WAL LOCATION")?.split_whitespace().next()?)?;
    let tli = label_value(&text, "START TIMELINE")?.parse().ok()?;
    Some((tli, start, parse_pg_time(&label_value(&text, "STOP TIME")?)?))
}

/// A base backup as a window sees it.
struct Base<'a> {
    index: usize,
    facts: &'a BaseFacts,
    path: &'a Path,
    start_seg: u64,
    stop_seg: u64,
    end: DateTime<Utc>,
}

/// `Source::windows` for base backups and the archive `log` (module docs).
pub fn windows(log: &Path, bases: &[(&Path, &BaseFacts)], memo: &mut dyn Memo) -> Result<LogScan> {
    let files = list(log)?;
    let mut scan = LogScan::default();
    if files.is_empty() || bases.is_empty() {
        return Ok(scan);
    }
    for f in files.iter().filter(|f| f.kind == Kind::Backup) {
        let Some((tli, start, stop)) = backup_file(f) else { continue };
        for (i, (_, b)) in bases.iter().enumerate() {
            if b.timeline == tli && parse_lsn(&b.start) == Some(start) {
                scan.stopped.push((i, stop));
            }
        }
    }
    // Segments per cluster and timeline, by number.
    let mut groups: BTreeMap<(u64, u32), BTreeMap<u64, &WalFile>> = BTreeMap::new();
    let mut seg_size = BTreeMap::new();
    for f in files.iter().filter(|f| f.kind == Kind::Segment) {
        if let Some(h) = header(f, memo) {
            groups.entry((h.sysid, h.timeline)).or_default().insert(h.segno, f);
            seg_size.insert(h.sysid, h.seg_size);
        }
    }
    for ((sysid, tli), segs) in &groups {
        let size = seg_size[sysid];
        let ends: BTreeMap<usize, DateTime<Utc>> = scan.stopped.iter().copied().collect();
        let mine: Vec<Base> = bases
            .iter()
            .enumerate()
            .filter(|(_, (_, b))| b.system == sysid.to_string() && b.timeline == *tli)
            .filter_map(|(i, (path, b))| {
                Some(Base {
                    index: i,
                    facts: b,
                    path,
                    start_seg: parse_lsn(&b.start)? / size,
                    stop_seg: parse_lsn(&b.stop)? / size,
                    end: ends.get(&i).copied().unwrap_or(b.started),
                })
            })
            .collect();
        if let Some(w) = window_of((*sysid, *tli, size), segs, mine, memo) {
            scan.windows.push(w);
        }
    }
    Ok(scan)
}

/// The window of one cluster's timeline: `segs` by number, `bases` on it.
fn window_of(
    (sysid, tli, size): (u64, u32, u64),
    segs: &BTreeMap<u64, &WalFile>,
    mut bases: Vec<Base>,
    memo: &mut dyn Memo,
) -> Option<LogWindow> {
    let (&newest, newest_file) = segs.last_key_value()?;
    let mut warnings = Vec::new();
    bases.sort_by_key(|b| (b.start_seg, b.end));
    bases.retain(|b| {
        let missing = (b.start_seg..=b.stop_seg).find(|s| !segs.contains_key(s));
        match missing {
            Some(s) if !b.facts.own_log => {
                warnings.push(format!(
                    "base backup `{}` needs segment {}, which the archive lacks; it opens no window",
                    b.path.display(),
                    segment_name(tli, s * size, size)
                ));
                false
            }
            _ => b.stop_seg <= newest || b.facts.own_log,
        }
    });
    let first = bases.first()?;
    let version = first.facts.version.clone();
    let from = first.end;
    let oldest = first.start_seg;
    let (last, last_problem) = last_commit_at_or_before(segs, newest, oldest, &version, memo);
    warnings.extend(last_problem);
    let to = last.map_or(from, |(t, _)| t.max(from));
    let span = Span { tli, size, oldest, newest, from, to };
    let gaps = gaps_of(&span, segs, &bases, &version, memo);
    let transactions = match (first.facts.next_txn, last) {
        (Some(next), Some((_, xid))) => full_xid(next, xid).map(|last| TxnRange { first: next, last }),
        _ => None,
    };
    let in_window: Vec<&&WalFile> = segs.range(oldest..).map(|(_, f)| f).collect();
    Some(LogWindow {
        system: sysid.to_string(),
        timeline: tli,
        window: Window { from, to, gaps, transactions },
        bases: bases.iter().map(|b| b.index).collect(),
        files: in_window.len(),
        size: in_window.iter().map(|f| f.size).sum(),
        newest: newest_file.wal_name.clone(),
        warnings,
    })
}

/// Where a window runs: its timeline and segment size, its oldest and newest segment numbers,
/// its first and last moment.
struct Span {
    tli: u32,
    size: u64,
    oldest: u64,
    newest: u64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// The gaps of a window: each run of missing segment numbers (module docs).
fn gaps_of(
    span: &Span,
    segs: &BTreeMap<u64, &WalFile>,
    bases: &[Base],
    version: &str,
    memo: &mut dyn Memo,
) -> Vec<Gap> {
    let Span { tli, size, oldest, newest, from, to } = *span;
    let name = |seg: u64| segment_name(tli, seg * size, size);
    let mut gaps = Vec::new();
    let mut s = oldest;
    while s <= newest {
        if segs.contains_key(&s) {
            s += 1;
            continue;
        }
        let run_start = s;
        while s <= newest && !segs.contains_key(&s) {
            s += 1;
        }
        let run_end = s - 1;
        let before = last_commit_at_or_before(segs, run_start.saturating_sub(1), oldest, version, memo).0;
        let earlier_end = bases.iter().filter(|b| b.stop_seg < run_start).map(|b| b.end).max();
        // The state at the end of a base backup before the gap is restorable even with no commit
        // after it.
        let gap_from = before.map(|(t, _)| t).into_iter().chain(earlier_end).max().unwrap_or(from).max(from);
        let gap_to = bases.iter().find(|b| b.start_seg > run_end).map_or(to, |b| b.end.max(gap_from));
        let reason = if run_start == run_end {
            format!("segment {} is missing", name(run_start))
        } else {
            format!("segments {} to {} are missing", name(run_start), name(run_end))
        };
        gaps.push(Gap { from: gap_from, to: gap_to.min(to).max(gap_from), reason });
    }
    gaps
}

/// The last commit (time, xid) in the newest segment at or below `from_seg` (down to `floor`)
/// that holds one, and what pg_waldump could not read on the way.
fn last_commit_at_or_before(
    segs: &BTreeMap<u64, &WalFile>,
    from_seg: u64,
    floor: u64,
    version: &str,
    memo: &mut dyn Memo,
) -> (Option<(DateTime<Utc>, u32)>, Option<String>) {
    let mut problem = None;
    for (_, f) in segs.range(floor..=from_seg).rev() {
        let c = commits(f, version, memo);
        problem = problem.or(c.problem.clone());
        if let (Some(t), Some(x)) = (c.last_time, c.max_xid) {
            return (Some((t, x)), problem);
        }
    }
    (None, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_times_in_utc_and_numeric_offsets() {
        let t = parse_pg_time("2026-12-03 09:40:07 UTC").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-03T09:40:07+00:00");
        assert_eq!(parse_pg_time("2026-12-03 10:40:07 +01").unwrap(), t);
        assert_eq!(parse_pg_time("2026-12-03 15:10:07 +0530").unwrap(), t);
        assert!(parse_pg_time("2026-12-03 10:40:07 CET").is_none(), "zone names are not guessed");
        let label =
            "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nSTART TIME: 2026-12-03 09:40:07 UTC\n";
        assert_eq!(label_value(label, "START TIME").as_deref(), Some("2026-12-03 09:40:07 UTC"));
    }

    #[test]
    fn names_positions_and_commit_records() {
        assert_eq!(parse_lsn("0/2000028"), Some(0x2000028));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(segment_name(1, 0x2000028, 16 << 20), "000000010000000000000002");
        assert_eq!(segment_name(2, (1 << 32) + (3 << 24), 16 << 20), "000000020000000100000003");
        assert!(is_segment_name("000000010000000000000002") && !is_segment_name("00000001.history"));
        let out = "rmgr: Transaction len (rec/tot):     34/    34, tx:        725, lsn: 0/04000498, prev 0/04000450, desc: COMMIT 2026-12-03 09:40:14.421589 UTC\n\
                   rmgr: Transaction len (rec/tot):     66/    66, tx:        726, lsn: 0/04000598, prev 0/04000550, desc: COMMIT 2026-12-03 09:40:15.5 UTC; inval msgs: snapshot 2396\n\
                   rmgr: Transaction len (rec/tot):     34/    34, tx:        727, lsn: 0/04000698, prev 0/04000650, desc: ABORT 2026-12-03 09:40:16 UTC\n";
        let c = parse_commits(out);
        assert_eq!((c.count, c.max_xid), (2, Some(726)));
        assert_eq!(c.last_time.unwrap().to_rfc3339(), "2026-12-03T09:40:15.500+00:00");
    }
}
