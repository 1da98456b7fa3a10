//! PostgreSQL's base backups as a source (`engine::source`): a folder that `pg_basebackup -D DIR`
//! made with its `backup_manifest`, plain (`-Fp`: the data folder, with `backup_label`) or tar
//! (`-Ft`: `base.tar`, `base.tar.gz` or `base.tar.zst`, and `pg_wal.tar…` unless `-X none`).
//!
//! Facts (`BaseFacts`), read from the backup alone: the start and stop LSN and timeline (the
//! manifest's `WAL-Ranges`), the start time (`backup_label`'s `START TIME`), the server's major
//! version (`PG_VERSION`), the cluster's system identifier and the next transaction id at the
//! backup's checkpoint (`global/pg_control`: the first 8 bytes, and the checkpoint copy's
//! `nextXid` at byte 64), and whether the backup holds the WAL it needs (`pg_wal/` or
//! `pg_wal.tar`). In a tar backup those three small files are found by reading `base.tar` up to
//! them (once: the catalog caches facts). Its identity is the sha256 of `backup_manifest`, which
//! itself holds a checksum of every file.
//!
//! The end time is not in the backup: the WAL archive's `.backup` file says it (`wal.rs`, which
//! also builds the recovery windows, `Source::windows`). `verify` runs the real `pg_verifybackup`
//! on a plain backup (checksums of every file, and its WAL); it reads no tar backups (PostgreSQL
//! 15), so a tar backup is checked by reading every member to its end against the manifest's
//! sizes.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::wal::{label_value, parse_pg_time};
use super::{tools, wal};
use crate::engine::Format;
use crate::engine::source::{BaseFacts, Check, Inspection, LogScan, Memo, Source, StoredCopy};
use crate::error::{bad_input, environment};
use crate::util::compress::{Compression, decoder};
use crate::util::hash::sha256_file;

/// Base backups made by pg_basebackup.
pub struct PgBaseBackup;

/// The file every base backup this source reads holds.
pub const MANIFEST: &str = "backup_manifest";

impl Source for PgBaseBackup {
    fn name(&self) -> &'static str {
        "pg_basebackup base backup"
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::PgBase]
    }

    fn manifest_engine(&self) -> &'static str {
        "postgres"
    }

    fn sniff(&self, _head: &[u8], _compression: Compression) -> Option<Format> {
        None // a folder, never one file
    }

    fn default_format(&self, _compression: Compression) -> Format {
        Format::PgBase
    }

    fn not_this_format(&self, path: &Path, _format: Format, _compression: Compression) -> String {
        format!("`{}` is not a pg_basebackup base backup (no backup_manifest)", path.display())
    }

    fn one_backup(&self, dir: &Path) -> bool {
        dir.join(MANIFEST).is_file() && (dir.join("backup_label").is_file() || base_tar(dir).is_some())
    }

    fn folder_format(&self) -> Option<Format> {
        Some(Format::PgBase)
    }

    fn qualified_name(&self, name: &str) -> Option<String> {
        Some(format!("public.{name}"))
    }

    fn inspect(&self, path: &Path, _: Format, _: Compression, _: Option<&Path>) -> Result<Inspection> {
        let sha = sha256_file(&path.join(MANIFEST))?;
        Ok(match read_facts(path) {
            Ok(facts) => Inspection {
                created: Some(facts.started),
                base: Some(facts),
                ..Inspection::new(sha.clone(), sha, None)
            },
            Err(e) => Inspection::damaged(sha.clone(), sha, None, format!("{e:#}")),
        })
    }

    fn verify(&self, c: &StoredCopy) -> Vec<Check> {
        let sha = sha256_file(&c.path.join(MANIFEST)).and_then(|sha| {
            if sha.eq_ignore_ascii_case(c.sha256) {
                Ok("backup_manifest unchanged".to_string())
            } else {
                Err(anyhow::anyhow!("backup_manifest's sha256 {sha} differs from the catalog's {}", c.sha256))
            }
        });
        let mut checks = vec![Check::of("checksum", sha)];
        let facts = read_facts(c.path);
        checks.push(Check::of("base backup", facts.as_ref().map(describe).map_err(|e| anyhow::anyhow!("{e:#}"))));
        match facts {
            Ok(f) if f.layout == "plain" => checks.push(Check::of("pg_verifybackup", verifybackup(c.path, &f))),
            Ok(_) => checks.push(Check::of("tar members", tar_members_match(c.path))),
            Err(_) => {}
        }
        checks
    }

    fn windows(&self, log: &Path, bases: &[(&Path, &BaseFacts)], memo: &mut dyn Memo) -> Result<LogScan> {
        wal::windows(log, bases, memo)
    }
}

/// `base.tar`, `base.tar.gz` or `base.tar.zst` in `dir`, with its compression.
pub fn base_tar(dir: &Path) -> Option<(PathBuf, Compression)> {
    [("base.tar", Compression::None), ("base.tar.gz", Compression::Gzip), ("base.tar.zst", Compression::Zstd)]
        .into_iter()
        .map(|(n, c)| (dir.join(n), c))
        .find(|(p, _)| p.is_file())
}

/// `pg_wal.tar…` beside `base.tar…` (same compression), if there is one.
pub fn wal_tar(dir: &Path, compression: Compression) -> Option<PathBuf> {
    Some(dir.join(format!("pg_wal.tar{}", compression.suffix()))).filter(|p| p.is_file())
}

/// One line: what the backup is.
fn describe(f: &BaseFacts) -> String {
    format!(
        "PostgreSQL {} {} base backup of system {}, timeline {}, WAL {} to {}{}",
        f.version,
        f.layout,
        f.system,
        f.timeline,
        f.start,
        f.stop,
        if f.own_log { " (WAL included)" } else { "" }
    )
}

/// The three small files a base backup's facts come from.
#[derive(Default)]
struct Small {
    label: Option<String>,
    version: Option<String>,
    control: Option<Vec<u8>>,
}

/// Reads a base backup's facts (module docs). Errors: `BadInput` naming what is missing or
/// unreadable.
pub fn read_facts(dir: &Path) -> Result<BaseFacts> {
    let manifest = read_manifest(dir)?;
    let (small, layout, own_log) = match base_tar(dir) {
        None => {
            let read = |p: &str| fs::read(dir.join(p)).ok();
            let small = Small {
                label: read("backup_label").map(|b| String::from_utf8_lossy(&b).into_owned()),
                version: read("PG_VERSION").map(|b| String::from_utf8_lossy(&b).trim().to_string()),
                control: read("global/pg_control"),
            };
            let own = fs::read_dir(dir.join("pg_wal"))
                .map(|d| d.flatten().any(|e| wal::is_segment_name(&e.file_name().to_string_lossy())))
                .unwrap_or(false);
            (small, "plain".to_string(), own)
        }
        Some((tar, compression)) => {
            let small = small_files_in_tar(&tar, compression)?;
            (small, format!("tar{}", compression.suffix()), wal_tar(dir, compression).is_some())
        }
    };
    let what = |f: &str| bad_input(format!("base backup `{}` has no readable `{f}`", dir.display()));
    let label = small.label.ok_or_else(|| what("backup_label"))?;
    let version = small.version.ok_or_else(|| what("PG_VERSION"))?;
    let control = small.control.filter(|c| c.len() >= 72).ok_or_else(|| what("global/pg_control"))?;
    let u64_at = |i: usize| u64::from_le_bytes(control[i..i + 8].try_into().expect("8 bytes"));
    let started = label_value(&label, "START TIME")
        .and_then(|t| parse_pg_time(&t))
        .ok_or_else(|| bad_input(format!("base backup `{}`: backup_label has no START TIME", dir.display())))?;
    Ok(BaseFacts {
        system: u64_at(0).to_string(),
        timeline: manifest.timeline,
        start: manifest.start,
        stop: manifest.stop,
        started,
        stopped: None,
        next_txn: Some(u64_at(64)),
        version,
        layout,
        own_log,
        bytes: manifest.bytes,
    })
}

/// What the manifest says of the WAL the backup needs.
struct ManifestRange {
    timeline: u32,
    start: String,
    stop: String,
    bytes: u64,
}

fn read_manifest(dir: &Path) -> Result<ManifestRange> {
    let path = dir.join(MANIFEST);
    let text = fs::read(&path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| bad_input(format!("`{}` is not a backup manifest: {e}", path.display())))?;
    let ranges = v["WAL-Ranges"].as_array().filter(|r| !r.is_empty()).ok_or_else(|| {
        bad_input(format!("`{}` lists no WAL-Ranges (a manifest made with --no-manifest?)", path.display()))
    })?;
    let (first, last) = (&ranges[0], &ranges[ranges.len() - 1]);
    let text_of = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_string);
    let bytes = v["Files"].as_array().into_iter().flatten().filter_map(|f| f["Size"].as_u64()).sum();
    match (first["Timeline"].as_u64(), text_of(first, "Start-LSN"), text_of(last, "End-LSN")) {
        (Some(tli), Some(start), Some(stop)) => Ok(ManifestRange { timeline: tli as u32, start, stop, bytes }),
        _ => Err(bad_input(format!("`{}`: unreadable WAL-Ranges", path.display())).into()),
    }
}

/// One member of a tar stream: its name, type and size.
struct Member {
    name: String,
    kind: u8,
    size: u64,
}

/// Reads tar headers from `r`, handing each member to `each` with a reader of its bytes (which it
/// may leave unread); stops when `each` returns `false` or at the end of the archive.
fn walk_tar(r: &mut dyn Read, mut each: impl FnMut(&Member, &mut dyn Read) -> Result<bool>) -> Result<()> {
    let mut header = [0u8; 512];
    let mut long_name: Option<String> = None;
    loop {
        if crate::util::fs::read_up_to(&mut &mut *r, &mut header)? < 512 || header.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let field = |a: usize, b: usize| {
            let f = &header[a..b];
            String::from_utf8_lossy(&f[..f.iter().position(|&c| c == 0).unwrap_or(f.len())]).into_owned()
        };
        let size = u64::from_str_radix(field(124, 136).trim(), 8).context("a tar header with a bad size")?;
        let (prefix, name) = (field(345, 500), field(0, 100));
        let name = long_name.take().unwrap_or(if prefix.is_empty() { name } else { format!("{prefix}/{name}") });
        let member = Member { name, kind: header[156], size };
        let mut body = (&mut *r).take(size.div_ceil(512) * 512);
        if member.kind == b'L' {
            let mut n = Vec::new();
            (&mut body).take(size).read_to_end(&mut n)?;
            long_name = Some(String::from_utf8_lossy(&n).trim_end_matches('\0').to_string());
        } else if !each(&member, &mut (&mut body).take(size))? {
            return Ok(());
        }
        std::io::copy(&mut body, &mut std::io::sink())?;
    }
}

/// `backup_label`, `PG_VERSION` and `global/pg_control` from `base.tar…`, read up to the last
/// of them.
fn small_files_in_tar(tar: &Path, compression: Compression) -> Result<Small> {
    let f = fs::File::open(tar).map_err(|e| environment(format!("cannot read `{}`: {e}", tar.display())))?;
    let mut r = decoder(compression, std::io::BufReader::new(f))?;
    let mut small = Small::default();
    walk_tar(&mut r, |m, body| {
        let mut read = || -> Result<Vec<u8>> {
            let mut b = Vec::new();
            body.read_to_end(&mut b)?;
            Ok(b)
        };
        match m.name.trim_start_matches("./") {
            "backup_label" => small.label = Some(String::from_utf8_lossy(&read()?).into_owned()),
            "PG_VERSION" => small.version = Some(String::from_utf8_lossy(&read()?).trim().to_string()),
            "global/pg_control" => small.control = Some(read()?),
            _ => {}
        }
        Ok(small.label.is_none() || small.version.is_none() || small.control.is_none())
    })
    .with_context(|| format!("reading `{}`", tar.display()))?;
    Ok(small)
}

/// A tar backup, checked without pg_verifybackup: every member of `base.tar…` and `pg_wal.tar…`
/// read to its end, and every file the manifest lists found with its size.
fn tar_members_match(dir: &Path) -> Result<String> {
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.join(MANIFEST))?)?;
    let mut want: HashMap<String, u64> = manifest["Files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["Path"].as_str()?.to_string(), f["Size"].as_u64()?)))
        .collect();
    let listed = want.len();
    let (tar, compression) = base_tar(dir).ok_or_else(|| anyhow::anyhow!("no base.tar"))?;
    let mut wrong = Vec::new();
    let mut tars = vec![tar];
    tars.extend(wal_tar(dir, compression));
    for t in &tars {
        let f = fs::File::open(t)?;
        let mut r = decoder(compression, std::io::BufReader::new(f))?;
        walk_tar(&mut r, |m, body| {
            let n = std::io::copy(body, &mut std::io::sink())?;
            if let Some(size) = want.remove(m.name.trim_start_matches("./"))
                && (size != m.size || n != m.size)
            {
                wrong.push(format!("`{}` is {n} bytes, the manifest says {size}", m.name));
            }
            Ok(true)
        })
        .with_context(|| format!("reading `{}`", t.display()))?;
    }
    if let Some(missing) = want.keys().next() {
        wrong.push(format!("`{missing}` (listed in the manifest) is in no tar file"));
    }
    match wrong.first() {
        None => Ok(format!(
            "{listed} files of the manifest read to their end with their sizes (pg_verifybackup reads plain backups only)"
        )),
        Some(w) => Err(anyhow::anyhow!(
            "{w}{}",
            if wrong.len() > 1 { format!(" (and {} more)", wrong.len() - 1) } else { String::new() }
        )),
    }
}

/// The real `pg_verifybackup` on a plain backup: its own WAL when it holds it, else `-n` (no
/// WAL check: the archive is checked for gaps as part of its window).
fn verifybackup(dir: &Path, f: &BaseFacts) -> Result<String> {
    let bin = tools::server_bin(&f.version)?.join("pg_verifybackup");
    let mut cmd = std::process::Command::new(&bin);
    if !f.own_log {
        cmd.arg("-n");
    }
    let out = tools::output(cmd.arg(dir))?;
    if out.status.success() {
        let how = if f.own_log { "files and WAL" } else { "files (no WAL of its own: -n)" };
        Ok(format!("pg_verifybackup: {how} verified"))
    } else {
        Err(anyhow::anyhow!("pg_verifybackup: {}", tools::stderr_tail(&out, None, 3)))
    }
}
