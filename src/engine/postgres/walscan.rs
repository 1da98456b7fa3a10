//! PostgreSQL's `Engine::scan_wal` (for `lastgood incidents`): the archived WAL (`walfiles`) read
//! by the real `pg_waldump`, its output parsed and grouped as it streams (`waldump`), each ended
//! transaction named through live (`walnames`) and handed to the caller.
//!
//! How: the archive is read per timeline, oldest first, over each run of consecutive segments;
//! compressed segments are decompressed into a private folder, at most `Stage::BATCH` at a time
//! (a batch ends there and the next starts again at its last segment, so no record is lost at
//! the seam; the records already taken are skipped by LSN). `pg_waldump -p STAGE START END`
//! runs with `TZ=UTC` and, from PostgreSQL 15 on, `-r Heap -r Heap2 -r Transaction`; its output
//! is read line by line as it comes, never held whole. pg_waldump is the one of the WAL's major
//! version (`tools::find_versioned`); another version is refused before reading.
//!
//! Timelines: a child timeline's first segment repeats its parent's WAL up to the switch point
//! (its `.history` file); those records are skipped when the parent's were read. Transactions
//! open when a timeline ends are handed on as in progress.
//!
//! Failures: a gap between archived segments, or a segment pg_waldump stops in before the end of
//! the timeline (damaged, cut short, a compressed stream that does not decode), is a `WalProblem`
//! naming the segment; reading goes on with the next segment, and everything read is reported.
//! pg_waldump stopping in the timeline's last segment is the normal end of the WAL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Result;

use super::waldump::{Finished, Tracker, parse_line};
use super::walfiles::{self, Archive, Stage, parse_lsn, segment_name};
use super::walnames::Names;
use crate::engine::wal::{TxnTouch, WalProblem, WalProblemKind, WalScan, WalScanRequest};
use crate::error::environment;
use crate::output::Output;

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
        let mut child = cmd.spawn().map_err(|e| environment(format!("cannot run `{}`: {e}", self.tool.display())))?;
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
        let message = errors.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
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
            if n.is_multiple_of(16384) {
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

    #[test]
    fn stop_segments_come_from_the_message() {
        let size = 16 << 20;
        assert_eq!(
            stop_segment("error in WAL record at 0/44C4B00: invalid resource manager ID 114 at 0/44C4B38", size, 0, 3),
            4
        );
        assert_eq!(
            stop_segment(
                "could not read from file 000000010000000000000004, offset 8000000: read 0 of 3584",
                size,
                0,
                3
            ),
            4
        );
        assert_eq!(stop_segment("something odd", size, 0x5000010, 3), 5);
    }
}
