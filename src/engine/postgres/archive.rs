//! pg_dump archives: recognising the four formats and reading their facts without pg_restore.
//!
//! Custom (`-Fc`), directory (`-Fd`, a folder holding `toc.dat`) and tar (`-Ft`, first member
//! `toc.dat`) archives share one binary header and table of contents (TOC), read here as
//! pg_dump's `ReadHead`/`ReadToc` write them (archive versions 1.12 to 1.16, PostgreSQL 11–18):
//! "PGDMP", version bytes, int and offset sizes, format, compression, the creation time (the
//! dumping machine's local time), database name, server and pg_dump versions, then one entry per
//! object with its dependencies. Taken-at, the database name, the versions and the tables come
//! from there; the dependencies let `restore --tables` pick a table's indexes, constraints,
//! sequences and triggers exactly (pg_restore -t alone restores a bare table).
//!
//! Plain SQL dumps (also gzip/zstd-compressed) are read as text: versions and "Started on" from
//! the header comments, tables from the `-- Name: …; Type: TABLE` comments and row counts by
//! counting COPY lines. A plain dump without pg_dump's closing `-- PostgreSQL database dump
//! complete` comment is truncated (`read_plain_dump`), as a custom archive whose last data block
//! does not reach its end marker is.
//!
//! Invariant: nothing here runs a program or writes a file; a damaged archive yields an error
//! naming the file and what is wrong, which the catalog lists as the backup's problem.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};

use crate::error::{bad_input, environment};

/// Facts about a pg_dump archive, for the catalog and `show` (a neutral type: the catalog
/// holds it for any archive).
pub use crate::engine::source::ArchiveInfo;

/// The parsed archive header and TOC.
#[derive(Debug, Clone)]
pub struct Archive {
    pub version: (u8, u8, u8),
    pub format: u8,
    /// Bytes per integer in this archive (pg_dump writes 4).
    pub int_size: usize,
    pub created: Option<DateTime<Utc>>,
    pub info: ArchiveInfo,
    pub entries: Vec<TocEntry>,
    /// Where the TOC ends: in a custom-format file, the first data block starts here.
    pub data_start: u64,
}

/// One TOC entry.
#[derive(Debug, Clone)]
pub struct TocEntry {
    pub id: i32,
    pub had_dumper: bool,
    pub tag: String,
    pub desc: String,
    pub namespace: String,
    pub deps: Vec<i32>,
    /// pg_dump's section: 1 none (follows its owner), 2 pre-data, 3 data, 4 post-data.
    pub section: i64,
    /// Custom format: where the data block starts, when pg_dump could record it.
    pub data_offset: Option<u64>,
    /// Directory and tar formats: the data file's name.
    pub filename: Option<String>,
    /// The CREATE statement, for the entries lastgood needs to read (triggers, foreign keys).
    pub defn: Option<String>,
}

pub const MAGIC: &[u8; 5] = b"PGDMP";
const FMT_CUSTOM: u8 = 1;

struct Reader<R> {
    r: R,
    int_size: usize,
    off_size: usize,
    pos: u64,
}

impl<R: Read> Reader<R> {
    fn byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        self.r.read_exact(&mut b)?;
        self.pos += 1;
        Ok(b[0])
    }

    fn int(&mut self) -> std::io::Result<i64> {
        let sign = self.byte()?;
        let mut v: i64 = 0;
        for i in 0..self.int_size {
            v |= i64::from(self.byte()?) << (8 * i);
        }
        Ok(if sign != 0 { -v } else { v })
    }

    fn str(&mut self) -> std::io::Result<Option<String>> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        if len > 1 << 30 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "string length out of range"));
        }
        let mut buf = vec![0u8; len as usize];
        self.r.read_exact(&mut buf)?;
        self.pos += len as u64;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        let copied = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        self.pos += copied;
        if copied < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Reads header and TOC from `r` (positioned at "PGDMP"). `what` names the file for errors.
pub fn read_archive(r: impl Read, what: &Path) -> Result<Archive> {
    let damaged = |e: std::io::Error| {
        let text = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!("pg_dump archive `{}` is truncated: its table of contents is cut short", what.display())
        } else {
            format!("pg_dump archive `{}` is damaged: its table of contents is unreadable ({e})", what.display())
        };
        anyhow::Error::from(bad_input(text))
    };
    let mut rd = Reader { r: BufReader::new(r), int_size: 4, off_size: 8, pos: 0 };
    let mut magic = [0u8; 5];
    rd.r.read_exact(&mut magic).map_err(damaged)?;
    if &magic != MAGIC {
        return Err(bad_input(format!("`{}` is not a pg_dump archive (no PGDMP header)", what.display())).into());
    }
    let version = (rd.byte().map_err(damaged)?, rd.byte().map_err(damaged)?, rd.byte().map_err(damaged)?);
    if version.0 != 1 || !(12..=16).contains(&version.1) {
        return Err(bad_input(format!(
            "pg_dump archive `{}` has format version {}.{}, which lastgood cannot read (1.12 to 1.16)",
            what.display(),
            version.0,
            version.1
        ))
        .into());
    }
    rd.int_size = rd.byte().map_err(damaged)? as usize;
    rd.off_size = rd.byte().map_err(damaged)? as usize;
    if !(1..=8).contains(&rd.int_size) || !(1..=8).contains(&rd.off_size) {
        return Err(bad_input(format!("pg_dump archive `{}` has a damaged header", what.display())).into());
    }
    let format = rd.byte().map_err(damaged)?;
    let compression = if version.1 >= 15 {
        match rd.byte().map_err(damaged)? {
            0 => "none",
            1 => "gzip",
            2 => "lz4",
            3 => "zstd",
            _ => "unknown",
        }
        .to_string()
    } else {
        match rd.int().map_err(damaged)? {
            -1 => "default".to_string(),
            0 => "none".to_string(),
            n => format!("gzip level {n}"),
        }
    };
    let mut tm = [0i64; 7];
    for t in tm.iter_mut() {
        *t = rd.int().map_err(damaged)?;
    }
    let created = creation_time(&tm);
    let dbname = rd.str().map_err(damaged)?;
    let server_version = rd.str().map_err(damaged)?;
    let pg_dump_version = rd.str().map_err(damaged)?;
    let count = rd.int().map_err(damaged)?;
    let mut entries = Vec::with_capacity(count.clamp(0, 100_000) as usize);
    for _ in 0..count {
        entries.push(read_entry(&mut rd, version, format).map_err(damaged)?);
    }
    Ok(Archive {
        version,
        format,
        int_size: rd.int_size,
        created,
        info: ArchiveInfo {
            archive_version: format!("{}.{}", version.0, version.1),
            dbname,
            server_version,
            pg_dump_version,
            compression,
        },
        entries,
        data_start: rd.pos + MAGIC.len() as u64,
    })
}

fn read_entry<R: Read>(rd: &mut Reader<R>, version: (u8, u8, u8), format: u8) -> std::io::Result<TocEntry> {
    let id = rd.int()? as i32;
    let had_dumper = rd.int()? != 0;
    let _tableoid = rd.str()?;
    let _oid = rd.str()?;
    let tag = rd.str()?.unwrap_or_default();
    let desc = rd.str()?.unwrap_or_default();
    let section = rd.int()?;
    let defn = rd.str()?;
    let _drop = rd.str()?;
    let _copy = rd.str()?;
    let namespace = rd.str()?.unwrap_or_default();
    let _tablespace = rd.str()?;
    if version.1 >= 14 {
        let _tableam = rd.str()?;
    }
    if version.1 >= 16 {
        let _relkind = rd.int()?;
    }
    let _owner = rd.str()?;
    let _with_oids = rd.str()?;
    let mut deps = Vec::new();
    while let Some(d) = rd.str()? {
        deps.push(d.trim().parse().unwrap_or(0));
    }
    let (mut data_offset, mut filename) = (None, None);
    if format == FMT_CUSTOM {
        let flag = rd.byte()?;
        let mut off: u64 = 0;
        for i in 0..rd.off_size {
            off |= u64::from(rd.byte()?) << (8 * i);
        }
        // 2 = K_OFFSET_POS_SET: pg_dump wrote the data block's position.
        if flag == 2 {
            data_offset = Some(off);
        }
    } else {
        filename = rd.str()?;
    }
    let defn = if ["TRIGGER", "FK CONSTRAINT", "FOREIGN TABLE"].contains(&desc.as_str()) { defn } else { None };
    Ok(TocEntry { id, had_dumper, tag, desc, namespace, deps, section, data_offset, filename, defn })
}

/// The header's `struct tm` (local time of the dumping machine) as UTC, read as this machine's
/// local time zone (as pg_restore -l prints it).
fn creation_time(tm: &[i64; 7]) -> Option<DateTime<Utc>> {
    let [sec, min, hour, mday, mon, year, _isdst] = *tm;
    let date = NaiveDate::from_ymd_opt((year + 1900) as i32, (mon + 1) as u32, mday as u32)?;
    let naive = date.and_hms_opt(hour as u32, min as u32, sec.min(59) as u32)?;
    Local.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// Reads a custom-format file, and checks that every data block pg_dump recorded lies inside the
/// file and that the last one ends properly (a cut-short file fails here, not mid-restore).
pub fn read_custom(path: &Path) -> Result<Archive> {
    let f = open(path)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let archive = read_archive(&f, path)?;
    let last = archive.entries.iter().filter_map(|e| e.data_offset.map(|o| (o, e))).max_by_key(|(o, _)| *o);
    if let Some((offset, entry)) = last {
        if offset >= size {
            return Err(truncated(path, size, entry));
        }
        check_data_block(path, offset, &archive).map_err(|_| truncated(path, size, entry))?;
    }
    Ok(archive)
}

fn truncated(path: &Path, size: u64, entry: &TocEntry) -> anyhow::Error {
    bad_input(format!(
        "pg_dump archive `{}` is truncated ({size} bytes): the data of {} `{}` is missing or cut short",
        path.display(),
        entry.desc.to_lowercase(),
        qualified(&entry.namespace, &entry.tag)
    ))
    .hint("use another copy or an earlier backup; `lastgood verify` checks every copy")
    .into()
}

/// Walks the chunks of the data block at `offset` to its end marker.
fn check_data_block(path: &Path, offset: u64, archive: &Archive) -> std::io::Result<()> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut rd = Reader { r: BufReader::new(f), int_size: archive.int_size, off_size: 8, pos: 0 };
    let block_type = rd.byte()?;
    let _dump_id = rd.int()?;
    if block_type != 1 {
        return Ok(()); // large objects use another layout; only table data is walked
    }
    loop {
        let len = rd.int()?;
        if len <= 0 {
            return Ok(());
        }
        rd.skip(len as u64)?;
    }
}

/// Reads a directory-format archive's `toc.dat` and checks that its data files are present.
pub fn read_directory(dir: &Path) -> Result<Archive> {
    let toc = dir.join("toc.dat");
    let archive = read_archive(open(&toc)?, &toc)?;
    for e in archive.entries.iter().filter(|e| e.had_dumper && e.desc == "TABLE DATA") {
        if let Some(name) = &e.filename {
            let plain = dir.join(name);
            let present =
                [plain.clone(), with_suffix(&plain, ".gz"), with_suffix(&plain, ".lz4"), with_suffix(&plain, ".zst")]
                    .iter()
                    .any(|p| p.is_file());
            if !present {
                return Err(bad_input(format!(
                    "pg_dump directory archive `{}` is incomplete: `{name}` (data of `{}`) is missing",
                    dir.display(),
                    qualified(&e.namespace, &e.tag)
                ))
                .into());
            }
        }
    }
    Ok(archive)
}

fn with_suffix(p: &Path, s: &str) -> PathBuf {
    let mut o = p.as_os_str().to_owned();
    o.push(s);
    PathBuf::from(o)
}

/// Reads a tar-format archive's `toc.dat` (its first member).
pub fn read_tar(path: &Path) -> Result<Archive> {
    let mut f = open(path)?;
    let mut header = [0u8; 512];
    f.read_exact(&mut header).map_err(|_| bad_input(format!("tar archive `{}` is cut short", path.display())))?;
    read_archive(f, path)
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())).into())
}

/// Whether a 512-byte tar header names `toc.dat` as its first member (pg_dump -Ft).
pub fn is_pg_tar(head: &[u8]) -> bool {
    head.len() >= 263 && head.starts_with(b"toc.dat\0") && &head[257..262] == b"ustar"
}

/// Whether text starts like a pg_dump plain-format dump.
pub fn is_plain_dump(head: &[u8]) -> bool {
    head.starts_with(b"--\n-- PostgreSQL database dump\n")
}

/// A table's name as the catalog shows it: `schema.table`.
pub fn qualified(schema: &str, name: &str) -> String {
    if schema.is_empty() { name.to_string() } else { format!("{schema}.{name}") }
}

impl Archive {
    /// Tables (schema-qualified), sorted.
    pub fn tables(&self) -> Vec<String> {
        let set: BTreeSet<String> =
            self.entries.iter().filter(|e| e.desc == "TABLE").map(|e| qualified(&e.namespace, &e.tag)).collect();
        set.into_iter().collect()
    }

    /// Foreign tables (schema-qualified, sorted), with the server their definition names.
    pub fn foreign_tables(&self) -> Vec<crate::engine::SkippedTable> {
        let mut out: Vec<crate::engine::SkippedTable> = self
            .entries
            .iter()
            .filter(|e| e.desc == "FOREIGN TABLE")
            .map(|e| crate::engine::SkippedTable {
                name: qualified(&e.namespace, &e.tag),
                kind: crate::engine::SkipKind::Foreign,
                of: e.defn.as_deref().and_then(foreign_server).unwrap_or_else(|| "unknown".to_string()),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// The TOC entry of table `schema.name`.
    pub fn table_entry(&self, schema: &str, name: &str) -> Option<&TocEntry> {
        self.entries.iter().find(|e| e.desc == "TABLE" && e.namespace == schema && e.tag == name)
    }

    /// Whether the function a trigger executes is in the archive (true when it cannot tell).
    fn has_trigger_function(&self, trigger: &TocEntry) -> bool {
        let Some(defn) = &trigger.defn else { return true };
        let after = ["EXECUTE FUNCTION ", "EXECUTE PROCEDURE "].iter().find_map(|k| defn.split_once(k).map(|(_, a)| a));
        let Some(call) = after.and_then(|a| a.split_once('(')).map(|(name, _)| name.trim()) else { return true };
        let unquote = |s: &str| s.trim_matches('"').replace("\"\"", "\"");
        let (schema, name) = match call.rsplit_once('.') {
            Some((schema, name)) => (unquote(schema), unquote(name)),
            None => (String::new(), unquote(call)),
        };
        self.entries.iter().any(|e| {
            e.desc == "FUNCTION"
                && e.tag.split('(').next() == Some(name.as_str())
                && (schema.is_empty() || e.namespace == schema)
        })
    }

    /// Whether the table a foreign key references (read from its definition) is among `chosen`
    /// (TABLE entry ids); true when the definition cannot be read.
    fn references_one_of(&self, fk: &TocEntry, chosen: &BTreeSet<i32>) -> bool {
        let Some((schema, name)) = fk.defn.as_deref().and_then(referenced_table) else { return true };
        self.entries.iter().any(|e| {
            e.desc == "TABLE"
                && chosen.contains(&e.id)
                && e.tag == name
                && schema.as_ref().is_none_or(|s| *s == e.namespace)
        })
    }

    /// Every TOC entry id of a whole restore, except what cannot be created from this archive
    /// alone: foreign keys to tables it does not hold and triggers whose function it does not
    /// hold (both found in `pg_dump -t` archives such as a merge's safety snapshot), and the
    /// entries hanging off those. Returns the ids in archive order and what was left out.
    pub fn whole(&self) -> (Vec<i32>, Vec<String>) {
        let all_tables: BTreeSet<i32> = self.entries.iter().filter(|e| e.desc == "TABLE").map(|e| e.id).collect();
        let mut left_out = BTreeSet::new();
        let mut skipped = Vec::new();
        for e in &self.entries {
            if e.desc == "FK CONSTRAINT" && !self.references_one_of(e, &all_tables) {
                left_out.insert(e.id);
                skipped.push(e.tag.clone());
            } else if e.desc == "TRIGGER" && !self.has_trigger_function(e) {
                left_out.insert(e.id);
                skipped.push(format!("trigger {} (its function is not in the archive)", e.tag));
            }
        }
        let ids = self
            .entries
            .iter()
            .filter(|e| !left_out.contains(&e.id) && !e.deps.iter().any(|d| left_out.contains(d)))
            .map(|e| e.id)
            .collect();
        (ids, skipped)
    }

    /// The TOC entry ids that restore `tables` (TOC entry ids of their TABLE entries) with what
    /// belongs to them: their data, every entry that depends on them (indexes, constraints,
    /// triggers, defaults, identity/owned sequences, comments) except foreign keys to tables not
    /// chosen (by the TOC's dependencies, or, when the referenced table is not in the archive at
    /// all, by the REFERENCES clause of the definition), and what those need (schemas, types,
    /// functions, sequences and their values). The partitions of a chosen partitioned table and
    /// the children of a chosen inheritance parent are chosen too (a TABLE entry that depends on
    /// a chosen one), with their data and `TABLE ATTACH` entries: the parent's rows are theirs.
    /// Returns the ids in archive order and the foreign keys left out.
    pub fn selection(&self, tables: &[i32]) -> (Vec<i32>, Vec<String>) {
        let by_id: BTreeMap<i32, &TocEntry> = self.entries.iter().map(|e| (e.id, e)).collect();
        let table_ids: BTreeSet<i32> = self.entries.iter().filter(|e| e.desc == "TABLE").map(|e| e.id).collect();
        let mut chosen: BTreeSet<i32> = tables.iter().copied().collect();
        loop {
            let children: Vec<i32> = self
                .entries
                .iter()
                .filter(|e| e.desc == "TABLE" && !chosen.contains(&e.id) && e.deps.iter().any(|d| chosen.contains(d)))
                .map(|e| e.id)
                .collect();
            if children.is_empty() {
                break;
            }
            chosen.extend(children);
        }
        let mut keep: BTreeSet<i32> = chosen.clone();
        let mut skipped_fks = Vec::new();
        // Entries that hang off a chosen table, as long as every table they touch is chosen.
        for e in &self.entries {
            let touches: Vec<i32> = e.deps.iter().copied().filter(|d| table_ids.contains(d)).collect();
            if touches.is_empty() || !touches.iter().any(|d| chosen.contains(d)) {
                continue;
            }
            let dangling_fk = e.desc == "FK CONSTRAINT" && !self.references_one_of(e, &chosen);
            if touches.iter().all(|d| chosen.contains(d)) && !dangling_fk {
                keep.insert(e.id);
            } else if e.desc == "FK CONSTRAINT" {
                skipped_fks.push(e.tag.clone());
            }
        }
        // A trigger whose function is not in the archive (a `pg_dump -t` archive, such as a merge's
        // safety snapshot, holds the table but not the functions its triggers call) cannot be
        // created: it is left out and reported, like a foreign key to a table not chosen.
        keep.retain(|id| {
            let Some(e) = by_id.get(id) else { return true };
            let dangling = e.desc == "TRIGGER" && !self.has_trigger_function(e);
            if dangling {
                skipped_fks.push(format!("trigger {} (its function is not in the archive)", e.tag));
            }
            !dangling
        });
        // What the kept entries need, except other tables and their data.
        let mut stack: Vec<i32> = keep.iter().copied().collect();
        while let Some(id) = stack.pop() {
            let Some(e) = by_id.get(&id) else { continue };
            for d in &e.deps {
                let Some(dep) = by_id.get(d) else { continue };
                let needed = !matches!(
                    dep.desc.as_str(),
                    "TABLE" | "TABLE DATA" | "DATABASE" | "ENCODING" | "STDSTRINGS" | "SEARCHPATH"
                );
                if needed && keep.insert(*d) {
                    stack.push(*d);
                }
            }
        }
        // Sequence values and comments of what is kept.
        for e in &self.entries {
            if matches!(e.desc.as_str(), "SEQUENCE SET" | "COMMENT" | "ACL")
                && !e.deps.is_empty()
                && e.deps.iter().all(|d| keep.contains(d))
            {
                keep.insert(e.id);
            }
        }
        // `public` exists in every new database; restoring it again fails.
        let ids = self
            .entries
            .iter()
            .filter(|e| keep.contains(&e.id) && !(e.desc == "SCHEMA" && e.tag == "public"))
            .map(|e| e.id)
            .collect();
        (ids, skipped_fks)
    }
}

/// The table a foreign key definition (`ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY (…)
/// REFERENCES schema.table(…) …`) points at, as (schema if given, name), identifiers unquoted.
/// The keyword is looked for outside quoted identifiers and string literals.
/// The server of `CREATE FOREIGN TABLE … SERVER name …` (as pg_dump writes it, after the column
/// list).
fn foreign_server(defn: &str) -> Option<String> {
    let at = defn.rfind("\nSERVER ").map(|i| i + 8).or_else(|| defn.rfind(" SERVER ").map(|i| i + 8))?;
    sql_ident(defn[at..].trim_start()).map(|(name, _)| name)
}

fn referenced_table(defn: &str) -> Option<(Option<String>, String)> {
    let b = defn.as_bytes();
    let mut i = 0;
    let mut at = None;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => {
                let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                if word_start && b[i..].starts_with(b"REFERENCES ") {
                    at = Some(i + "REFERENCES ".len());
                    break;
                }
                i += 1;
            }
        }
    }
    let (first, rest) = sql_ident(defn[at?..].trim_start())?;
    match rest.strip_prefix('.') {
        Some(r) => Some((Some(first), sql_ident(r)?.0)),
        None => Some((None, first)),
    }
}

/// One SQL identifier at the start of `s` (quoted, with `""` for `"`, or bare), unquoted, and
/// the text after it.
pub fn sql_ident(s: &str) -> Option<(String, &str)> {
    if let Some(r) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = r.char_indices();
        while let Some((j, c)) = chars.next() {
            if c == '"' {
                if r[j + 1..].starts_with('"') {
                    out.push('"');
                    chars.next();
                    continue;
                }
                return Some((out, &r[j + 1..]));
            }
            out.push(c);
        }
        return None;
    }
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// What a plain-format dump says about itself.
#[derive(Debug, Clone, Default)]
pub struct PlainFacts {
    pub started: Option<DateTime<Utc>>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub dbname: Option<String>,
    /// Schema-qualified table names with their COPY row counts.
    pub tables: BTreeMap<String, u64>,
    /// Whether the text ends with pg_dump's `-- PostgreSQL database dump complete` trailer (only
    /// comments, blank lines and `\unrestrict` after it).
    pub complete: bool,
    /// The table whose COPY data the text ends inside, if it does.
    pub ends_in_copy: Option<String>,
}

/// The comment pg_dump (and pg_restore writing a script) ends every complete dump with.
pub const PLAIN_TRAILER: &str = "-- PostgreSQL database dump complete";

/// Reads a plain dump (already decompressed) as `read_plain` does, and checks that it is whole:
/// pg_dump ends a complete plain dump with `-- PostgreSQL database dump complete` (newer versions
/// follow it with `\unrestrict KEY`), so a dump without it was cut short. Errors: `BadInput`
/// "truncated", naming the file and, when it ends inside a table's data, the table.
pub fn read_plain_dump(r: impl Read, what: &Path) -> Result<PlainFacts> {
    let facts = read_plain(r, what)?;
    if !facts.complete {
        let inside = match &facts.ends_in_copy {
            Some(t) => format!(": the data of table `{t}` is cut short"),
            None => String::new(),
        };
        return Err(bad_input(format!(
            "pg_dump plain dump `{}` is truncated: no `dump complete` trailer{inside}",
            what.display()
        ))
        .hint("use another copy or an earlier backup; `lastgood verify` checks every copy")
        .into());
    }
    Ok(facts)
}

/// Reads a plain dump's text (already decompressed) line by line, in bounded memory.
pub fn read_plain(r: impl Read, what: &Path) -> Result<PlainFacts> {
    let mut facts = PlainFacts::default();
    let mut reader = BufReader::with_capacity(1 << 20, r);
    let mut line = Vec::new();
    let mut copying: Option<String> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| bad_input(format!("plain dump `{}` cannot be read to its end: {e}", what.display())))?;
        if n == 0 {
            break;
        }
        if let Some(t) = &copying {
            if line == b"\\.\n" || line == b"\\." {
                copying = None;
            } else {
                *facts.tables.entry(t.clone()).or_default() += 1;
            }
            continue;
        }
        if facts.complete
            && !line.starts_with(b"--")
            && !line.starts_with(b"\\unrestrict")
            && !line.iter().all(u8::is_ascii_whitespace)
        {
            facts.complete = false; // more SQL after the trailer: not pg_dump's end after all
        }
        if !line.starts_with(b"--") && !line.starts_with(b"COPY ") && !line.starts_with(b"\\connect") {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text == PLAIN_TRAILER {
            facts.complete = true;
        } else if let Some(v) = text.strip_prefix("-- Dumped from database version ") {
            facts.server_version = Some(v.to_string());
        } else if let Some(v) = text.strip_prefix("-- Dumped by pg_dump version ") {
            facts.pg_dump_version = Some(v.to_string());
        } else if let Some(v) = text.strip_prefix("-- Started on ") {
            facts.started = parse_dump_time(v);
        } else if let Some(rest) = text.strip_prefix("-- Name: ").or_else(|| text.strip_prefix("-- Data for Name: ")) {
            if let Some((name, kind, schema)) = parse_name_comment(rest) {
                match kind {
                    "TABLE" | "TABLE DATA" => {
                        facts.tables.entry(qualified(schema, name)).or_default();
                    }
                    "DATABASE" if facts.dbname.is_none() => facts.dbname = Some(name.to_string()),
                    _ => {}
                }
            }
        } else if text.starts_with("COPY ") && text.ends_with("FROM stdin;") {
            copying = copy_target(text, &facts);
        }
    }
    facts.ends_in_copy = copying;
    Ok(facts)
}

/// `orders; Type: TABLE; Schema: public; Owner: bob` → (`orders`, `TABLE`, `public`).
fn parse_name_comment(rest: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = rest.split_once("; Type: ")?;
    let (kind, rest) = rest.split_once("; Schema: ")?;
    let schema = rest.split_once("; ").map_or(rest, |(s, _)| s);
    Some((name, kind, if schema == "-" { "" } else { schema }))
}

/// The table a `COPY schema.table (…) FROM stdin;` line loads, matched against the tables named in
/// comments (which carry the unquoted names).
fn copy_target(line: &str, facts: &PlainFacts) -> Option<String> {
    let target = line.strip_prefix("COPY ")?;
    let target = target.split(" (").next()?.trim_end_matches(" FROM stdin;");
    let unquoted = unquote_qualified(target);
    facts.tables.contains_key(&unquoted).then_some(unquoted)
}

/// `public."Order Items"` → `public.Order Items`.
fn unquote_qualified(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                out.push('"');
                chars.next();
            }
            '"' => in_quotes = !in_quotes,
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-24 05:15:25 UTC` (pg_dump's `%Y-%m-%d %H:%M:%S %Z`): UTC when the zone says so, else
/// this machine's local time.
fn parse_dump_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let naive = chrono::NaiveDateTime::parse_from_str(s.get(..19)?, "%Y-%m-%d %H:%M:%S").ok()?;
    let zone = s[19..].trim();
    if zone.is_empty() || zone == "UTC" || zone == "GMT" {
        return Some(naive.and_utc());
    }
    Local.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
}

/// Splits dump SQL (pg_restore's output or a plain dump) into objects at its
/// `-- Name: …; Type: …` comments: (kind, schema-qualified name, SQL). COPY data is skipped, so
/// memory is bounded by the schema's size, not the data's.
pub fn split_schema_sql(r: impl Read) -> Result<Vec<(String, String, String)>> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut reader = BufReader::new(r);
    let mut raw = Vec::new();
    let mut in_copy = false;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        if in_copy {
            in_copy = line != "\\.";
            continue;
        }
        if let Some(rest) = line.strip_prefix("-- Name: ") {
            if let Some((name, kind, schema)) = parse_name_comment(rest) {
                out.push((kind.to_lowercase(), qualified(schema, name), String::new()));
            }
            continue;
        }
        if line.starts_with("COPY ") && line.ends_with("FROM stdin;") {
            in_copy = true;
            continue;
        }
        let session_setting = line.starts_with("SET ") || line.starts_with("SELECT pg_catalog.set_config(");
        if line.starts_with("--") || line.starts_with('\\') || line.trim().is_empty() || session_setting {
            continue;
        }
        if let Some(last) = out.last_mut() {
            if !last.2.is_empty() {
                last.2.push('\n');
            }
            last.2.push_str(line);
        }
    }
    out.retain(|o| !o.2.is_empty() && o.0 != "table data");
    for o in &mut out {
        // `show` prints each object with its own `;`.
        o.2 = o.2.trim_end().trim_end_matches(';').to_string();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_name_the_table_they_reference() {
        let t = |d: &str| super::referenced_table(d);
        assert_eq!(
            t(
                "ALTER TABLE ONLY public.\"Order Items\"\n    ADD CONSTRAINT \"Order Items_cust_fkey\" FOREIGN KEY (cust) REFERENCES public.customers(id);\n"
            ),
            Some((Some("public".into()), "customers".into()))
        );
        assert_eq!(
            t(
                "ALTER TABLE ONLY s.a\n    ADD CONSTRAINT \"x REFERENCES y\" FOREIGN KEY (\"a\"\"(b\") REFERENCES \"We.ird\"\"s\".\"Order Items\"(\"id\") ON DELETE CASCADE;"
            ),
            Some((Some("We.ird\"s".into()), "Order Items".into()))
        );
        assert_eq!(t("ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b) REFERENCES c;"), Some((None, "c".into())));
        assert_eq!(t("ALTER TABLE a ADD CONSTRAINT f CHECK (b > 0);"), None);
        assert_eq!(
            t("ALTER TABLE \"é\" ADD CONSTRAINT \"ü\" FOREIGN KEY (\"ß\") REFERENCES \"ö\"(x);"),
            Some((None, "ö".into()))
        );
    }

    #[test]
    fn plain_comments() {
        assert_eq!(
            parse_name_comment("Order Items; Type: TABLE; Schema: public; Owner: bob"),
            Some(("Order Items", "TABLE", "public"))
        );
        assert_eq!(unquote_qualified("public.\"Order \"\"Items\"\"\""), "public.Order \"Items\"");
        assert_eq!(parse_dump_time("2026-11-24 05:15:25 UTC").unwrap().to_rfc3339(), "2026-11-24T05:15:25+00:00");
    }

    #[test]
    fn header_ints() {
        let mut rd = Reader { r: &[1u8, 1, 0, 0, 0, 0, 0x18, 0, 0, 0][..], int_size: 4, off_size: 8, pos: 0 };
        assert_eq!(rd.int().unwrap(), -1);
        assert_eq!(rd.int().unwrap(), 24);
    }
}
