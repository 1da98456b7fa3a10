//! A WAL archive as PostgreSQL's `archive_command` fills it (`lastgood wal-archive` stores the
//! same, flat, in `<repo>/wal/`): which segments it holds per timeline, in order, where they
//! leave gaps, and a private folder (`Stage`) where `pg_waldump` finds them under their own names.
//!
//! Names: a segment is 24 hex digits (timeline, then the segment number in two halves), a
//! `.partial` one the last, incomplete segment of a timeline that was switched away from, a
//! `.history` file (8 hex digits) a timeline's parents and switch points; `.backup` files and
//! anything else are not read. Each may end in `.gz` or `.zst`, recognised by content
//! (`compress::compression_of_file`), never by name alone. A segment held twice (two folders, or
//! a segment and its `.partial`) is read once: the complete one, from the first folder.
//!
//! Invariants: the archive is never written; the stage is a private temporary folder (removed
//! when dropped, and on Ctrl-C), holding symbolic links to uncompressed segments and decompressed
//! copies of compressed ones, at most `Stage::BATCH` of those at a time so that its size stays
//! bounded whatever the archive's.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{bad_input, environment};
use crate::util::compress::{self, Compression};

/// `XLogLongPageHeaderData` as PostgreSQL writes it at the start of every segment: the bytes
/// read, and where the segment size sits.
const LONG_HEADER: usize = 40;
const XLP_LONG_HEADER: u16 = 0x0002;
/// The lowest file node of a relation that is not part of the system (`FirstNormalObjectId`).
pub const FIRST_NORMAL_OID: u32 = 16384;

/// One archived file that holds a segment.
#[derive(Debug, Clone)]
pub struct WalFile {
    pub path: PathBuf,
    pub compression: Compression,
    pub partial: bool,
}

/// What an archive holds: its segments by timeline and number, its history files, and the
/// segment size and WAL version its first readable segment declares.
#[derive(Debug, Default)]
pub struct Archive {
    pub seg_size: u64,
    /// The WAL page magic (`XLOG_PAGE_MAGIC`): one per PostgreSQL major version.
    pub magic: u16,
    pub timelines: BTreeMap<u32, BTreeMap<u64, WalFile>>,
    pub histories: BTreeMap<u32, (PathBuf, Compression)>,
}

/// A file name split: timeline and the two halves of the segment number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentName {
    pub tli: u32,
    pub log: u32,
    pub seg: u32,
}

/// What a name in the archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Segment(SegmentName, bool),
    History(u32),
}

fn hex_u32(s: &str) -> Option<u32> {
    (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
        .then(|| u32::from_str_radix(s, 16).ok())
        .flatten()
}

/// A segment's 24-hex-digit name, split.
pub fn parse_segment_name(name: &str) -> Option<SegmentName> {
    if name.len() != 24 {
        return None;
    }
    Some(SegmentName { tli: hex_u32(&name[..8])?, log: hex_u32(&name[8..16])?, seg: hex_u32(&name[16..])? })
}

fn parse_entry(name: &str) -> Option<Entry> {
    let base = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(name);
    if let Some(tli) = base.strip_suffix(".history") {
        return hex_u32(tli).map(Entry::History);
    }
    let (seg, partial) = match base.strip_suffix(".partial") {
        Some(s) => (s, true),
        None => (base, false),
    };
    parse_segment_name(seg).map(|s| Entry::Segment(s, partial))
}

/// Segments per "log id" (the high half of a segment number's name).
fn per_log(seg_size: u64) -> u64 {
    0x1_0000_0000 / seg_size
}

impl SegmentName {
    pub fn segno(&self, seg_size: u64) -> u64 {
        u64::from(self.log) * per_log(seg_size) + u64::from(self.seg)
    }
}

/// The file name of segment `segno` of timeline `tli`.
pub fn segment_name(tli: u32, segno: u64, seg_size: u64) -> String {
    format!("{tli:08X}{:08X}{:08X}", segno / per_log(seg_size), segno % per_log(seg_size))
}

/// The PostgreSQL major version that writes WAL pages with `magic`, where known.
pub fn major_of_magic(magic: u16) -> Option<u32> {
    Some(match magic {
        0xD097 => 10,
        0xD098 => 11,
        0xD101 => 12,
        0xD106 => 13,
        0xD10D => 14,
        0xD110 => 15,
        0xD113 => 16,
        0xD116 => 17,
        _ => return None,
    })
}

/// Lists every WAL file in `folders` (module docs). Errors: `BadInput` naming the folders when
/// none holds a readable segment, `Environment` when one cannot be listed.
pub fn scan(folders: &[PathBuf]) -> Result<Archive> {
    let mut found: Vec<(SegmentName, WalFile)> = Vec::new();
    let mut archive = Archive::default();
    for folder in folders {
        let entries = match fs::read_dir(folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(environment(format!("cannot list `{}`: {e}", folder.display())).into()),
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        names.sort();
        for (name, path) in names {
            match parse_entry(&name) {
                Some(Entry::History(tli)) => {
                    let c = compress::compression_of_file(&path)?;
                    archive.histories.entry(tli).or_insert((path, c));
                }
                Some(Entry::Segment(s, partial)) => {
                    let compression = compress::compression_of_file(&path)?;
                    found.push((s, WalFile { path, compression, partial }));
                }
                None => {}
            }
        }
    }
    let header = found.iter().find_map(|(_, f)| read_header(f).ok());
    let Some((magic, seg_size)) = header else {
        return Err(no_segments(folders, !found.is_empty()));
    };
    archive.magic = magic;
    archive.seg_size = seg_size;
    for (name, file) in found {
        let segs = archive.timelines.entry(name.tli).or_default();
        let slot = segs.entry(name.segno(seg_size));
        match slot {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(file);
            }
            // A complete segment wins over a `.partial` of the same name.
            std::collections::btree_map::Entry::Occupied(mut o) if o.get().partial && !file.partial => {
                o.insert(file);
            }
            std::collections::btree_map::Entry::Occupied(_) => {}
        }
    }
    Ok(archive)
}

fn no_segments(folders: &[PathBuf], unreadable: bool) -> anyhow::Error {
    let names: Vec<String> = folders.iter().map(|f| format!("`{}`", f.display())).collect();
    let missing: Vec<String> =
        folders.iter().filter(|f| !f.is_dir()).map(|f| format!("`{}` does not exist", f.display())).collect();
    let what = if unreadable { "no readable WAL segment" } else { "no WAL segments" };
    let mut message = format!("{what} in {}", names.join(", "));
    if !missing.is_empty() {
        message.push_str(&format!(" ({})", missing.join(", ")));
    }
    bad_input(message)
        .hint("pass the folder archive_command fills (--wal DIR), or the repositories `lastgood wal-archive` writes (--repo R)")
        .into()
}

/// The WAL page magic and the segment size in a segment's first page header. Errors:
/// `BadInput` when it is not a segment's header.
pub fn read_header(file: &WalFile) -> Result<(u16, u64)> {
    let f =
        fs::File::open(&file.path).map_err(|e| environment(format!("cannot read `{}`: {e}", file.path.display())))?;
    let mut head = [0u8; LONG_HEADER];
    let mut reader = compress::decoder(file.compression, f)?;
    reader
        .read_exact(&mut head)
        .map_err(|_| bad_input(format!("`{}` is too short for a WAL segment", file.path.display())))?;
    let magic = u16::from_ne_bytes([head[0], head[1]]);
    let info = u16::from_ne_bytes([head[2], head[3]]);
    let seg_size = u32::from_ne_bytes([head[32], head[33], head[34], head[35]]);
    if info & XLP_LONG_HEADER == 0 || !seg_size.is_power_of_two() || !(1 << 20..=1 << 30).contains(&seg_size) {
        return Err(bad_input(format!("`{}` does not start with a WAL segment header", file.path.display())).into());
    }
    Ok((magic, u64::from(seg_size)))
}

/// The switch point into timeline `tli` from its parent, from its `.history` file: the last
/// line, `parentTLI  X/Y  reason`. `None` without a history file or with one that does not parse.
pub fn switch_point(archive: &Archive, tli: u32) -> Option<(u32, u64)> {
    let (path, compression) = archive.histories.get(&tli)?;
    let f = fs::File::open(path).ok()?;
    let mut text = String::new();
    compress::decoder(*compression, f).ok()?.take(1 << 20).read_to_string(&mut text).ok()?;
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with('#'))?;
    let mut words = line.split_whitespace();
    let parent = words.next()?.parse().ok()?;
    Some((parent, parse_lsn(words.next()?)?))
}

/// `0/3000148` → its 64-bit position.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// Runs of consecutive segment numbers in `segs`, in order.
pub fn runs(segs: &BTreeMap<u64, WalFile>) -> Vec<Vec<u64>> {
    let mut out: Vec<Vec<u64>> = Vec::new();
    for &n in segs.keys() {
        match out.last_mut() {
            Some(run) if run.last() == Some(&(n - 1)) => run.push(n),
            _ => out.push(vec![n]),
        }
    }
    out
}

/// The private folder pg_waldump reads (module docs).
pub struct Stage {
    dir: tempfile::TempDir,
    /// Files staged, by segment name; the decompressed ones count against `BATCH`.
    staged: Vec<(String, bool)>,
}

impl Stage {
    /// Decompressed segments held at once at most (16 MiB each by default).
    pub const BATCH: usize = 16;

    /// Errors: `Environment` when no temporary folder can be made.
    pub fn new() -> Result<Stage> {
        let dir = tempfile::Builder::new()
            .prefix("lastgood-wal-")
            .tempdir()
            .map_err(|e| environment(format!("cannot create a temporary folder: {e}")))?;
        crate::interrupt::track(dir.path());
        Ok(Stage { dir, staged: Vec::new() })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// How many decompressed copies the stage holds.
    pub fn decompressed(&self) -> usize {
        self.staged.iter().filter(|(_, d)| *d).count()
    }

    /// Puts `file` in the stage as `name`: a link, or a decompressed copy. Errors: `BadInput`
    /// for a damaged compressed stream, `Environment` when the stage cannot be written.
    pub fn put(&mut self, name: &str, file: &WalFile) -> Result<()> {
        if self.staged.iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        let dst = self.dir.path().join(name);
        let fail = |e: std::io::Error| environment(format!("cannot write `{}`: {e}", dst.display()));
        if file.compression == Compression::None {
            let src = std::path::absolute(&file.path).map_err(fail)?;
            std::os::unix::fs::symlink(&src, &dst).map_err(fail)?;
        } else {
            let mut out = fs::File::create(&dst).map_err(fail)?;
            if let Err(e) = compress::decompress_into(&file.path, file.compression, &mut out, |_| {}) {
                let _ = fs::remove_file(&dst);
                return Err(e);
            }
        }
        self.staged.push((name.to_string(), file.compression != Compression::None));
        Ok(())
    }

    /// Removes every staged file but `keep`.
    pub fn clear_except(&mut self, keep: Option<&str>) {
        let dir = self.dir.path().to_path_buf();
        self.staged.retain(|(n, _)| {
            if Some(n.as_str()) == keep {
                return true;
            }
            let _ = fs::remove_file(dir.join(n));
            false
        });
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        crate::interrupt::untrack(self.dir.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_and_join() {
        let s = parse_segment_name("00000002000000010000003F").unwrap();
        assert_eq!(s, SegmentName { tli: 2, log: 1, seg: 0x3F });
        let size = 16 << 20;
        assert_eq!(s.segno(size), 256 + 0x3F);
        assert_eq!(segment_name(2, 256 + 0x3F, size), "00000002000000010000003F");
        assert_eq!(
            parse_entry("000000010000000000000001.partial.zst"),
            Some(Entry::Segment(parse_segment_name("000000010000000000000001").unwrap(), true))
        );
        assert_eq!(parse_entry("00000002.history"), Some(Entry::History(2)));
        assert_eq!(parse_entry("000000010000000000000001.00000028.backup"), None);
        assert_eq!(parse_entry("00000001000000000000000g"), None);
        assert_eq!(parse_lsn("1/3000148"), Some((1 << 32) | 0x3000148));
    }

    #[test]
    fn runs_split_at_gaps() {
        let f = || WalFile { path: PathBuf::new(), compression: Compression::None, partial: false };
        let segs: BTreeMap<u64, WalFile> = [1, 2, 3, 5, 6, 9].into_iter().map(|n| (n, f())).collect();
        assert_eq!(runs(&segs), vec![vec![1, 2, 3], vec![5, 6], vec![9]]);
    }
}
