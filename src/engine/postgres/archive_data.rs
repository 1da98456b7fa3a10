//! Decoding every data block of a pg_dump archive, without pg_restore and without keeping the data.
//!
//! `archive` reads an archive's header and table of contents; this module proves that the table
//! data behind it can be read back. A custom-format file (`-Fc`) is walked block by block from
//! the end of its TOC to the end of the file, as pg_dump wrote it: each block is a type byte
//! (1 table data, 3 large objects), the dump id of its TOC entry, then length-prefixed chunks up
//! to a zero length. The chunks of one table's data (of one large object) form one compressed
//! stream — zlib for `gzip`/`default` (archive 1.14: a non-zero level), zstd from archive 1.15 —
//! which is decompressed into a sink and must end exactly where its chunks end. A directory
//! archive's data files (`NNNN.dat.gz`, `.zst`, `blobs.toc` and its `blob_OID.dat*` files) are
//! decompressed the same way. A tar archive (`-Ft`, never compressed) has its member headers'
//! checksums and sizes checked and every data member found.
//!
//! What cannot be checked is said, not assumed good: uncompressed data (`-Z0`, tar) and lz4
//! streams (lastgood has no lz4 decoder) have only their structure walked; the returned
//! `DataCheck` counts them.
//!
//! Invariants: memory stays bounded (fixed buffers; nothing of the data is kept); nothing here
//! writes or runs anything; a damaged archive yields a `BadInput` naming the file and the TOC
//! entry whose data is damaged.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::archive::{Archive, TocEntry, qualified};
use crate::engine::Format;
use crate::error::{bad_input, environment};

const BLK_DATA: u8 = 1;
const BLK_BLOBS: u8 = 3;

/// How an archive's data is compressed, as far as decoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Zlib,
    Zstd,
    /// lz4 or an algorithm this version of lastgood does not know: structure only.
    Unchecked,
}

impl Codec {
    /// The codec of an archive's data, from its header's compression (`archive::ArchiveInfo`).
    pub fn of(archive: &Archive) -> Codec {
        match archive.info.compression.as_str() {
            "none" => Codec::None,
            "default" | "gzip" => Codec::Zlib,
            c if c.starts_with("gzip level") => Codec::Zlib,
            "zstd" => Codec::Zstd,
            _ => Codec::Unchecked,
        }
    }
}

/// What `check` found: data blocks (or data files) walked, and how many were decompressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataCheck {
    pub blocks: usize,
    pub decoded: usize,
}

impl DataCheck {
    /// One line for `verify`: what was decoded, and what could only be walked.
    pub fn describe(&self) -> String {
        let unchecked = self.blocks - self.decoded;
        match (self.decoded, unchecked) {
            (d, 0) => format!("{d} data block(s) decoded"),
            (d, u) => format!(
                "{d} data block(s) decoded, {u} stored uncompressed or lz4 (whole in structure; their bytes are checked only by a manifest checksum)"
            ),
        }
    }
}

/// Decodes the data of `archive` (already read from `path`, of `format`). Errors: `BadInput`
/// naming the archive and the TOC entry whose data is damaged, cut short or missing;
/// `Environment` when a file cannot be read.
pub fn check(path: &Path, format: Format, archive: &Archive) -> Result<DataCheck> {
    match format {
        Format::PgCustom => check_custom(path, archive),
        Format::PgDirectory => check_directory(path, archive),
        Format::PgTar => check_tar(path, archive),
        _ => Ok(DataCheck::default()),
    }
}

/// Names what a data block holds: "table `public.orders`", "large objects".
fn what(e: &TocEntry) -> String {
    match e.desc.as_str() {
        "TABLE DATA" => format!("table `{}`", qualified(&e.namespace, &e.tag)),
        "BLOBS" | "BLOB DATA" => "large objects".to_string(),
        d => format!("{} `{}`", d.to_lowercase(), qualified(&e.namespace, &e.tag)),
    }
}

fn damaged(path: &Path, what: &str, why: impl std::fmt::Display) -> anyhow::Error {
    bad_input(format!("pg_dump archive `{}` is damaged: the data of {what} {why}", path.display()))
        .hint("use another copy or an earlier backup; `lastgood verify` checks every copy")
        .into()
}

fn read_error(path: &Path, e: std::io::Error) -> anyhow::Error {
    environment(format!("cannot read `{}`: {e}", path.display())).into()
}

/// A reader that counts the bytes it has passed on (positions in the file, for offsets).
struct Counting<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// pg_dump's Int: a sign byte, then `int_size` bytes little-endian.
fn read_int(r: &mut impl Read, int_size: usize) -> std::io::Result<i64> {
    let mut b = [0u8; 9];
    r.read_exact(&mut b[..=int_size])?;
    let v = b[1..=int_size].iter().rev().fold(0i64, |v, byte| (v << 8) | i64::from(*byte));
    Ok(if b[0] != 0 { -v } else { v })
}

/// One block's chunks as a byte stream: ends (EOF) at the zero-length chunk that closes it.
struct Chunks<'a, R> {
    r: &'a mut R,
    int_size: usize,
    left: u64,
    done: bool,
}

impl<R: Read> Read for Chunks<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.left == 0 && !self.done {
            let len = read_int(self.r, self.int_size)?;
            if len <= 0 {
                self.done = true;
            } else {
                self.left = len as u64;
            }
        }
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Decompresses a stream into nothing; errors when it is damaged or ends early. An empty stream
/// (no bytes at all) is empty data.
fn decode(r: &mut impl Read, codec: Codec) -> std::io::Result<bool> {
    match codec {
        Codec::Zlib => inflate(r, true).map(|_| true),
        Codec::Zstd => {
            let mut r = BufReader::new(r);
            if r.fill_buf()?.is_empty() {
                return Ok(true);
            }
            std::io::copy(&mut zstd::stream::read::Decoder::with_buffer(r)?, &mut std::io::sink()).map(|_| true)
        }
        Codec::None | Codec::Unchecked => std::io::copy(r, &mut std::io::sink()).map(|_| false),
    }
}

/// Inflates a zlib (`zlib_header`) or raw deflate stream into a fixed buffer that is thrown away,
/// and requires the stream to end exactly at the end of `r` (flate2's readers treat input that
/// stops early as the end of the data).
fn inflate(r: &mut impl Read, zlib_header: bool) -> std::io::Result<u64> {
    use flate2::{Decompress, FlushDecompress, Status};
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut d = Decompress::new(zlib_header);
    let (mut input, mut out) = (vec![0u8; 64 << 10], vec![0u8; 256 << 10]);
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if start == end {
            end = r.read(&mut input)?;
            start = 0;
            if end == 0 {
                return if d.total_in() == 0 { Ok(0) } else { Err(bad("the compressed stream is cut short".into())) };
            }
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status =
            d.decompress(&input[start..end], &mut out, FlushDecompress::None).map_err(|e| bad(e.to_string()))?;
        start += (d.total_in() - in_before) as usize;
        match status {
            Status::StreamEnd => {
                let trailing = end - start + std::io::copy(r, &mut std::io::sink())? as usize;
                if trailing > 0 {
                    return Err(bad(format!("{trailing} byte(s) follow the end of its compressed stream")));
                }
                return Ok(d.total_out());
            }
            _ if d.total_in() == in_before && d.total_out() == out_before && start < end => {
                return Err(bad("the compressed stream makes no progress".into()));
            }
            _ => {}
        }
    }
}

/// Custom format: every block from the end of the TOC to the end of the file.
fn check_custom(path: &Path, archive: &Archive) -> Result<DataCheck> {
    let codec = Codec::of(archive);
    let by_id: BTreeMap<i32, &TocEntry> = archive.entries.iter().map(|e| (e.id, e)).collect();
    let mut f = File::open(path).map_err(|e| read_error(path, e))?;
    f.seek(SeekFrom::Start(archive.data_start)).map_err(|e| read_error(path, e))?;
    let mut r = Counting { r: BufReader::with_capacity(1 << 20, f), pos: archive.data_start };
    let mut check = DataCheck::default();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let at = r.pos;
        let mut kind = [0u8; 1];
        if r.read(&mut kind).map_err(|e| read_error(path, e))? == 0 {
            break;
        }
        let id = read_int(&mut r, archive.int_size)
            .map_err(|_| damaged(path, &format!("the block at byte {at}"), "is cut short"))?;
        let Some(entry) = i32::try_from(id).ok().and_then(|id| by_id.get(&id)) else {
            return Err(damaged(
                path,
                &format!("the block at byte {at}"),
                format!("names TOC entry {id}, which is not in the archive"),
            ));
        };
        if entry.data_offset.is_some_and(|o| o != at) || !seen.insert(entry.id) {
            return Err(damaged(path, &what(entry), format!("is not where the table of contents says (byte {at})")));
        }
        check.blocks += 1;
        let decoded = match kind[0] {
            BLK_DATA => block_stream(&mut r, archive.int_size, codec),
            BLK_BLOBS => blobs(&mut r, archive.int_size, codec),
            k => return Err(damaged(path, &what(entry), format!("has an unknown block type {k} (byte {at})"))),
        };
        match decoded {
            Ok(true) => check.decoded += 1,
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(damaged(path, &what(entry), "is cut short (the file ends inside it)"));
            }
            Err(e) => return Err(damaged(path, &what(entry), format!("does not decompress ({e})"))),
        }
    }
    if let Some(e) = archive.entries.iter().find(|e| e.data_offset.is_some() && !seen.contains(&e.id)) {
        return Err(damaged(path, &what(e), "is missing (no data block for it)"));
    }
    Ok(check)
}

fn block_stream(r: &mut impl Read, int_size: usize, codec: Codec) -> std::io::Result<bool> {
    let mut chunks = Chunks { r, int_size, left: 0, done: false };
    let decoded = decode(&mut chunks, codec)?;
    // A decoder may stop at its stream's end; the block still ends at its zero-length chunk.
    let rest = std::io::copy(&mut chunks, &mut std::io::sink())?;
    if rest > 0 && codec != Codec::None && codec != Codec::Unchecked {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{rest} byte(s) follow the end of its compressed stream"),
        ));
    }
    Ok(decoded)
}

/// A large-objects block: per object its OID and its own chunk stream, until OID 0.
fn blobs(r: &mut impl Read, int_size: usize, codec: Codec) -> std::io::Result<bool> {
    let mut decoded = true;
    while read_int(r, int_size)? != 0 {
        decoded &= block_stream(r, int_size, codec)?;
    }
    Ok(decoded)
}

/// The data file `name` of a directory archive, with the suffix its compression gave it.
fn data_file(dir: &Path, name: &str) -> Option<(PathBuf, Codec)> {
    [("", Codec::None), (".gz", Codec::Zlib), (".zst", Codec::Zstd), (".lz4", Codec::Unchecked)]
        .into_iter()
        .map(|(suffix, codec)| (dir.join(format!("{name}{suffix}")), codec))
        .find(|(p, _)| p.is_file())
}

/// Decodes one data file of a directory archive (gzip files, zstd frames).
fn decode_file(path: &Path, codec: Codec) -> std::io::Result<bool> {
    let f = File::open(path)?;
    match codec {
        Codec::Zlib => {
            let mut gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, f));
            std::io::copy(&mut gz, &mut std::io::sink()).map(|_| true)
        }
        c => decode(&mut BufReader::with_capacity(1 << 20, f), c),
    }
}

/// Directory format: every table's data file, and every large object listed in `blobs.toc`.
fn check_directory(dir: &Path, archive: &Archive) -> Result<DataCheck> {
    let mut check = DataCheck::default();
    for e in archive.entries.iter().filter(|e| e.had_dumper && e.filename.is_some()) {
        let name = e.filename.as_deref().unwrap_or_default();
        let mut files = vec![name.to_string()];
        if e.desc == "BLOBS" {
            files = blob_files(dir, name, e)?;
        }
        for file in files {
            let Some((p, codec)) = data_file(dir, &file) else {
                return Err(damaged(dir, &what(e), format!("is missing (no `{file}`)")));
            };
            check.blocks += 1;
            match decode_file(&p, codec) {
                Ok(true) => check.decoded += 1,
                Ok(false) => {}
                Err(err) => {
                    let shown = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    return Err(damaged(dir, &what(e), format!("does not decompress (`{shown}`: {err})")));
                }
            }
        }
    }
    Ok(check)
}

/// The files `blobs.toc` lists (`OID blob_OID.dat` per line).
fn blob_files(dir: &Path, toc: &str, e: &TocEntry) -> Result<Vec<String>> {
    let Some((p, codec)) = data_file(dir, toc) else {
        return Err(damaged(dir, &what(e), format!("is missing (no `{toc}`)")));
    };
    let mut text = Vec::new();
    let read = File::open(&p).and_then(|f| match codec {
        Codec::Zlib => flate2::read::MultiGzDecoder::new(f).read_to_end(&mut text),
        _ => BufReader::new(f).read_to_end(&mut text),
    });
    read.map_err(|err| damaged(dir, &what(e), format!("has an unreadable `{toc}` ({err})")))?;
    Ok(String::from_utf8_lossy(&text).lines().filter_map(|l| l.split_whitespace().nth(1)).map(str::to_string).collect())
}

/// Tar format: member headers (checksum, size within the file) up to the end-of-archive block,
/// and a member for every data file the TOC names. Tar data is never compressed.
fn check_tar(path: &Path, archive: &Archive) -> Result<DataCheck> {
    let mut f = File::open(path).map_err(|e| read_error(path, e))?;
    let size = f.metadata().map_err(|e| read_error(path, e))?.len();
    let mut members = std::collections::BTreeSet::new();
    let mut at = 0u64;
    let mut header = [0u8; 512];
    while at + 512 <= size {
        f.seek(SeekFrom::Start(at)).and_then(|_| f.read_exact(&mut header)).map_err(|e| read_error(path, e))?;
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let name = String::from_utf8_lossy(header[..100].split(|b| *b == 0).next().unwrap_or_default()).into_owned();
        let stored = octal(&header[148..156]);
        let sum: u64 =
            header.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u64::from(*b) }).sum();
        let len = octal(&header[124..136]);
        let (Some(stored), Some(len)) = (stored, len) else {
            return Err(tar_damaged(path, &name, at, "has an unreadable header"));
        };
        if stored != sum {
            return Err(tar_damaged(path, &name, at, "has a header whose checksum does not match"));
        }
        let next = at + 512 + len.div_ceil(512) * 512;
        if at + 512 + len > size {
            return Err(tar_damaged(path, &name, at, "is cut short (the file ends inside it)"));
        }
        members.insert(name);
        at = next;
    }
    let mut check = DataCheck::default();
    for e in archive.entries.iter().filter(|e| e.had_dumper && e.desc == "TABLE DATA") {
        let Some(name) = &e.filename else { continue };
        if !members.contains(name) {
            return Err(damaged(path, &what(e), format!("is missing (no member `{name}`)")));
        }
        check.blocks += 1;
    }
    Ok(check)
}

fn tar_damaged(path: &Path, member: &str, at: u64, why: &str) -> anyhow::Error {
    bad_input(format!("pg_dump tar archive `{}` is damaged: member `{member}` (byte {at}) {why}", path.display()))
        .hint("use another copy or an earlier backup; `lastgood verify` checks every copy")
        .into()
}

/// A tar header's octal number (NUL- or space-terminated).
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunked(data: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            out.push(0);
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&[0, 0, 0, 0, 0]);
        out
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_whole_zlib_block_decodes_and_a_flipped_or_cut_one_does_not() {
        let rows: Vec<u8> = (0..20_000).flat_map(|i| format!("{i}\trow {i}\t{}\n", i * 7).into_bytes()).collect();
        let z = zlib(&rows);
        assert!(block_stream(&mut &chunked(&z, 4096)[..], 4, Codec::Zlib).unwrap());
        // A flip anywhere in the stream: the deflate structure or the Adler-32 trailer says so.
        for at in [2, z.len() / 3, z.len() / 2, z.len() - 2] {
            let mut bad = z.clone();
            bad[at] ^= 0x10;
            assert!(block_stream(&mut &chunked(&bad, 4096)[..], 4, Codec::Zlib).is_err(), "flip at {at}");
        }
        let cut = &z[..z.len() - 10];
        assert!(block_stream(&mut &chunked(cut, 4096)[..], 4, Codec::Zlib).is_err());
        assert!(block_stream(&mut &chunked(&[], 4096)[..], 4, Codec::Zlib).unwrap(), "empty data");
    }

    #[test]
    fn zstd_blocks_decode_and_cut_ones_do_not() {
        let rows: Vec<u8> = (0..5_000).flat_map(|i| format!("{i}\t{}\n", i * 3).into_bytes()).collect();
        let z = zstd::encode_all(&rows[..], 3).unwrap();
        assert!(block_stream(&mut &chunked(&z, 1000)[..], 4, Codec::Zstd).unwrap());
        assert!(block_stream(&mut &chunked(&z[..z.len() - 5], 1000)[..], 4, Codec::Zstd).is_err());
    }

    #[test]
    fn uncompressed_blocks_are_walked_not_decoded() {
        assert!(!block_stream(&mut &chunked(b"1\tx\n", 2)[..], 4, Codec::None).unwrap());
        assert_eq!(DataCheck { blocks: 2, decoded: 2 }.describe(), "2 data block(s) decoded");
    }
}
