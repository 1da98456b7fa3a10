//! pgBackRest repositories as a source (`engine::source`, an optional adapter): a folder holding
//! `backup/<stanza>/backup.info` and `archive/<stanza>/archive.info`, found inside a lastgood
//! repository or given as the repository itself. Recognised by that layout alone; every fact
//! comes from the real `pgbackrest` binary (`LASTGOOD_PGBACKREST`, else `pgbackrest` on PATH).
//!
//! pgBackRest always runs with a private configuration (`Tool`): a generated `--config` naming
//! only `repo1-path` and private lock, log and spool folders, an empty `--config-include-path`,
//! and no `PGBACKREST_*` or `PG*` variables, so nothing of `/etc/pgbackrest` (or of production's
//! settings) is read. As root it runs as the repository's owner (`setpriv`): pgBackRest reads and
//! locks as the user that wrote the repository.
//!
//! Facts, per stanza (`info --output=json`): each backup is a recovery point taken at its stop
//! time (`timestamp.stop`), with its LSNs, its timeline (that of its first WAL segment), the
//! cluster's system identifier and major version; a backup pgBackRest marks `error` is damaged.
//! Its identity is the sha256 of its `backup.manifest` (itself a checksum of every file). The
//! next transaction id at its checkpoint is read from its copy of `global/pg_control`
//! (`repo-get`, decompressed here), so that windows know their transactions.
//!
//! The recovery window, per cluster and timeline: from the stop time of its oldest usable backup
//! to the last commit found in the newest archived segments (`archive.max` of `info`, fetched
//! with `repo-ls`/`repo-get`, which also decrypt, then `pg_waldump`), exact to the commit. When
//! no archived segment can be read (lz4/bz2 compression, pg_waldump missing, no commit in the
//! newest segments), the window ends at the newest backup's stop time, with a warning that WAL
//! archived after it is not reached. Gaps are not derived here: `pgbackrest verify` (`verify`)
//! reports missing WAL.
//!
//! Restoring (`Restore`, used by `pitr.rs` for the data folder): `pgbackrest restore --set LABEL
//! --type=time|xid --target … [--target-exclusive] --target-action=pause --archive-mode=off
//! --pg1-path <instance>/data` (never `--delta`), run as the instance's OS user with a private
//! configuration inside the instance folder; the `restore_command` it writes is replaced by
//! lastgood's own, `archive-get` with that same private configuration.
//!
//! Invariant: nothing is written into a pgBackRest repository, and `prune` never removes
//! anything in one (`tool_repository`): pgBackRest owns its retention.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::instance::{DataFolder, Instance, RunAs};
use super::{tools, wal};
use crate::engine::Format;
use crate::engine::source::{
    BaseFacts, Check, Inspection, LogWindow, Memo, Source, StoredCopy, Target, ToolBackup, ToolScan, TxnRange, Window,
};
use crate::error::{bad_input, environment};
use crate::util::compress::Compression;

/// pgBackRest repositories.
pub struct PgBackRest;

/// How to get pgBackRest, for hints.
pub const INSTALL_HINT: &str = "install pgBackRest (`apt-get install pgbackrest`) or point LASTGOOD_PGBACKREST at it";

impl Source for PgBackRest {
    fn name(&self) -> &'static str {
        "pgBackRest repository"
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::PgBackRest]
    }

    fn manifest_engine(&self) -> &'static str {
        "postgres"
    }

    fn sniff(&self, _head: &[u8], _compression: Compression) -> Option<Format> {
        None // a folder of a repository, never one file
    }

    fn default_format(&self, _compression: Compression) -> Format {
        Format::PgBackRest
    }

    fn not_this_format(&self, path: &Path, _format: Format, _compression: Compression) -> String {
        format!("`{}` is not a backup of a pgBackRest repository", path.display())
    }

    fn folder_format(&self) -> Option<Format> {
        Some(Format::PgBackRest)
    }

    fn qualified_name(&self, name: &str) -> Option<String> {
        Some(format!("public.{name}"))
    }

    fn inspect(&self, path: &Path, _: Format, _: Compression, _: Option<&Path>) -> Result<Inspection> {
        // Its backups are read with their repository (`scan_tool_repository`), never one by one.
        Inspection::undecodable(&path.join("backup.manifest"), None, "read with its pgBackRest repository".into())
    }

    fn verify(&self, c: &StoredCopy) -> Vec<Check> {
        let Some((repo, stanza, label)) = backup_place(c.path) else {
            let r = Err(anyhow::anyhow!("`{}` is not a backup folder of a pgBackRest repository", c.path.display()));
            return vec![Check::of("pgbackrest info", r)];
        };
        let tool = Tool::for_repo(&repo);
        let listed = tool.as_ref().map_err(|e| anyhow::anyhow!("{e:#}")).and_then(|t| {
            let info = t.info(&stanza)?;
            match info.backup.iter().find(|b| b.label == label) {
                Some(b) if !b.error => Ok(format!("backup {label} listed, no error")),
                Some(_) => Err(anyhow::anyhow!("pgBackRest marks backup {label} as in error")),
                None => Err(anyhow::anyhow!("pgBackRest no longer lists backup {label} (expired?)")),
            }
        });
        let mut checks = vec![Check::of("pgbackrest info", listed)];
        if let Ok(t) = &tool {
            checks.push(Check::of("pgbackrest verify", t.verify(&stanza, &label)));
        }
        checks
    }

    fn tool_repository(&self, dir: &Path) -> bool {
        !stanzas(dir).is_empty()
    }

    fn scan_tool_repository(&self, dir: &Path, memo: &mut dyn Memo) -> ToolScan {
        let tool = match Tool::for_repo(dir) {
            Ok(t) => t,
            Err(e) => {
                let why = format!("pgBackRest repository `{}` cannot be read: {e:#}", dir.display());
                return ToolScan { unreadable: Some((why, INSTALL_HINT.to_string())), ..ToolScan::default() };
            }
        };
        let mut scan = ToolScan::default();
        for stanza in stanzas(dir) {
            match tool.info(&stanza) {
                Ok(info) => read_stanza(&tool, &stanza, &info, memo, &mut scan),
                Err(e) => {
                    let why = format!("pgBackRest repository `{}`, stanza `{stanza}`: {e:#}", dir.display());
                    scan.unreadable = Some((why, "run `pgbackrest info` on it to see why".to_string()));
                }
            }
        }
        scan
    }
}

/// The stanzas of a pgBackRest repository `dir`: those with both `backup.info` and
/// `archive.info` (or their `.copy`).
pub fn stanzas(dir: &Path) -> Vec<String> {
    let has = |d: PathBuf, f: &str| d.join(f).is_file() || d.join(format!("{f}.copy")).is_file();
    let mut found: Vec<String> = fs::read_dir(dir.join("backup"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|s| has(dir.join("backup").join(s), "backup.info") && has(dir.join("archive").join(s), "archive.info"))
        .collect();
    found.sort();
    found
}

/// `<repo>/backup/<stanza>/<label>` → its parts.
fn backup_place(path: &Path) -> Option<(PathBuf, String, String)> {
    let label = path.file_name()?.to_string_lossy().into_owned();
    let stanza_dir = path.parent()?;
    let stanza = stanza_dir.file_name()?.to_string_lossy().into_owned();
    let backup_dir = stanza_dir.parent().filter(|d| d.file_name().is_some_and(|n| n == "backup"))?;
    Some((backup_dir.parent()?.to_path_buf(), stanza, label))
}

/// `info --output=json` of one stanza, the parts lastgood reads.
#[derive(Debug, Clone, Deserialize)]
pub struct StanzaInfo {
    #[serde(default)]
    pub archive: Vec<ArchiveInfo>,
    #[serde(default)]
    pub backup: Vec<BackupInfo>,
    #[serde(default)]
    pub db: Vec<DbInfo>,
    #[serde(default)]
    pub cipher: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ArchiveInfo {
    pub database: DbRef,
    pub id: String,
    pub max: Option<String>,
    pub min: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DbRef {
    pub id: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BackupInfo {
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub database: DbRef,
    #[serde(default)]
    pub error: bool,
    pub archive: Option<StartStop<String>>,
    pub lsn: Option<StartStop<String>>,
    pub timestamp: StartStop<i64>,
    pub info: Option<SizeInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StartStop<T> {
    pub start: Option<T>,
    pub stop: Option<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SizeInfo {
    pub size: Option<u64>,
    pub repository: Option<RepoSize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepoSize {
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DbInfo {
    pub id: u32,
    #[serde(rename = "system-id")]
    pub system_id: u64,
    pub version: String,
}

/// The real `pgbackrest` with a private configuration for one repository (module docs).
pub struct Tool {
    bin: PathBuf,
    repo: PathBuf,
    /// The repository's owner, when running as root and it is another user: (uid, gid).
    owner: Option<(u32, u32)>,
    /// Holds `pgbackrest.conf`, `include/`, `lock/`, `log/`, `spool/`; removed on drop.
    private: tempfile::TempDir,
}

/// The pgbackrest binary. Errors: `Environment` with the install hint when it is missing.
pub fn binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LASTGOOD_PGBACKREST").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(environment(format!("`pgbackrest` not found at LASTGOOD_PGBACKREST (`{}`)", p.display()))
            .hint(INSTALL_HINT)
            .into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("pgbackrest"))
        .find(|p| p.is_file())
        .ok_or_else(|| environment("`pgbackrest` is not installed (not found on PATH)").hint(INSTALL_HINT).into())
}

/// Writes a private pgBackRest configuration into `dir` for the repository `repo`: `dir/pgbackrest.conf`
/// and an empty `dir/include/`; returns the two paths.
fn write_config(dir: &Path, repo: &Path) -> Result<(PathBuf, PathBuf)> {
    let include = dir.join("include");
    for d in ["include", "lock", "log", "spool"] {
        fs::create_dir_all(dir.join(d))?;
    }
    let conf = dir.join("pgbackrest.conf");
    let line = |k: &str, p: &Path| format!("{k}={}\n", p.display());
    let text = [
        "# written by lastgood: a private configuration, no system-wide settings\n[global]\n".to_string(),
        line("repo1-path", repo),
        line("lock-path", &dir.join("lock")),
        line("log-path", &dir.join("log")),
        line("spool-path", &dir.join("spool")),
        "log-level-file=off\nlog-level-console=error\nlog-level-stderr=error\n".to_string(),
    ]
    .concat();
    fs::write(&conf, text)?;
    Ok((conf, include))
}

/// `pgbackrest --config … --config-include-path … [--stanza S]` without the variables that
/// would reach other settings.
fn base_command(program: Command, conf: &Path, include: &Path, stanza: &str) -> Command {
    let mut cmd = program;
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("PGBACKREST_") || k.starts_with("PG")) {
            cmd.env_remove(k);
        }
    }
    cmd.arg(format!("--config={}", conf.display()))
        .arg(format!("--config-include-path={}", include.display()))
        .arg(format!("--stanza={stanza}"));
    cmd
}

impl Tool {
    /// The tool for repository `repo`. Errors: `Environment` when pgbackrest is missing or the
    /// private folder cannot be made.
    pub fn for_repo(repo: &Path) -> Result<Tool> {
        let bin = binary()?;
        let private = tempfile::Builder::new()
            .prefix("lastgood-pgbackrest-")
            .tempdir()
            .map_err(|e| environment(format!("cannot create a temporary folder: {e}")))?;
        write_config(private.path(), repo)?;
        let meta = fs::metadata(repo.join("backup"))
            .map_err(|e| environment(format!("cannot read `{}`: {e}", repo.display())))?;
        let root = is_root();
        let owner = (root && meta.uid() != 0).then_some((meta.uid(), meta.gid()));
        if let Some((uid, gid)) = owner {
            let out = tools::output(Command::new("chown").arg("-R").arg(format!("{uid}:{gid}")).arg(private.path()))?;
            if !out.status.success() {
                return Err(environment(format!("cannot hand a private folder to uid {uid}")).into());
            }
        }
        Ok(Tool { bin, repo: repo.to_path_buf(), owner, private })
    }

    fn command(&self, stanza: &str) -> Command {
        let program = match self.owner {
            None => Command::new(&self.bin),
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}")).arg(format!("--regid={gid}")).arg("--clear-groups").arg("--");
                c.arg(&self.bin);
                c
            }
        };
        let dir = self.private.path();
        base_command(program, &dir.join("pgbackrest.conf"), &dir.join("include"), stanza)
    }

    /// Runs `pgbackrest … ARGS` for `stanza`. Errors: `Environment` when it cannot run or fails.
    fn run(&self, stanza: &str, args: &[&str]) -> Result<Output> {
        let out = tools::output(self.command(stanza).args(args))?;
        if !out.status.success() {
            return Err(environment(format!(
                "`pgbackrest {}` failed on `{}`: {}",
                args.first().copied().unwrap_or(""),
                self.repo.display(),
                tools::stderr_tail(&out, None, 3)
            ))
            .into());
        }
        Ok(out)
    }

    /// `info --output=json` of `stanza`. Errors: `Environment` when it fails or says nothing.
    pub fn info(&self, stanza: &str) -> Result<StanzaInfo> {
        let out = self.run(stanza, &["info", "--output=json"])?;
        let all: Vec<StanzaInfo> = serde_json::from_slice(&out.stdout)
            .map_err(|e| environment(format!("`pgbackrest info` printed no JSON lastgood reads: {e}")))?;
        all.into_iter()
            .next()
            .ok_or_else(|| environment(format!("`pgbackrest info` lists no stanza `{stanza}`")).into())
    }

    /// The file at `path` (relative to the repository), decrypted (`repo-get`), not decompressed.
    fn repo_get(&self, stanza: &str, path: &str) -> Result<Vec<u8>> {
        Ok(self.run(stanza, &["repo-get", path])?.stdout)
    }

    /// The names in the repository folder `path` (`repo-ls`).
    fn repo_ls(&self, stanza: &str, path: &str) -> Result<Vec<String>> {
        let out = self.run(stanza, &["repo-ls", "--output=json", path])?;
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&out.stdout)?;
        Ok(v.keys().filter(|k| *k != ".").cloned().collect())
    }

    /// `pgbackrest verify` of the stanza, as it concerns backup `label` and the archive.
    fn verify(&self, stanza: &str, label: &str) -> Result<String> {
        let out = tools::output(self.command(stanza).args(["verify", "--output=text", "--verbose"]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let backup = text.lines().find(|l| l.trim_start().starts_with(&format!("backup: {label},")));
        let archives: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("archiveId:")).collect();
        let said = backup.map(str::trim).unwrap_or("backup not listed").to_string();
        let detail = format!("{said}; {}", archives.iter().map(|l| l.trim()).collect::<Vec<_>>().join("; "));
        let valid = backup.is_some_and(|l| l.contains("status: valid"));
        if out.status.success() && valid {
            Ok(detail)
        } else {
            Err(anyhow::anyhow!("{detail} {}", tools::stderr_tail(&out, None, 2)))
        }
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").ok().is_some_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
            == Some(true)
    })
}

/// The timeline of a segment name (its first 8 hex digits).
fn timeline_of(segment: &str) -> Option<u32> {
    segment.get(..8).and_then(|t| u32::from_str_radix(t, 16).ok())
}

fn unix(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// Adds the backups and windows of one stanza to `scan` (module docs).
fn read_stanza(tool: &Tool, stanza: &str, info: &StanzaInfo, memo: &mut dyn Memo, scan: &mut ToolScan) {
    let first = scan.backups.len();
    for b in &info.backup {
        let Some(db) = info.db.iter().find(|d| d.id == b.database.id) else { continue };
        scan.backups.push(tool_backup(tool, stanza, b, db, memo));
    }
    for a in &info.archive {
        let (Some(max), Some(db)) = (&a.max, info.db.iter().find(|d| d.id == a.database.id)) else { continue };
        let Some(tli) = timeline_of(max) else { continue };
        let mut bases: Vec<usize> = (first..scan.backups.len())
            .filter(|&i| {
                let b = &scan.backups[i];
                b.inspection.problem.is_none()
                    && b.inspection
                        .base
                        .as_ref()
                        .is_some_and(|f| f.system == db.system_id.to_string() && f.timeline == tli)
            })
            .collect();
        bases.sort_by_key(|&i| scan.backups[i].taken_at);
        let Some(&oldest) = bases.first() else { continue };
        let from = scan.backups[oldest].taken_at;
        let newest_stop = bases.iter().map(|&i| scan.backups[i].taken_at).max().unwrap_or(from);
        let mut warnings = Vec::new();
        let last = last_commit(tool, stanza, a, &db.version, memo, &mut warnings);
        let to = match last {
            Some((t, _)) => t.max(from),
            None => {
                warnings.push(format!(
                    "no commit could be read from the newest archived WAL (up to {max}): the window ends at the newest backup's end; later WAL is not reached"
                ));
                newest_stop
            }
        };
        let next = scan.backups[oldest].inspection.base.as_ref().and_then(|f| f.next_txn);
        let transactions = match (next, last) {
            (Some(next), Some((_, xid))) => wal::full_xid(next, xid).map(|last| TxnRange { first: next, last }),
            _ => None,
        };
        scan.windows.push(LogWindow {
            system: db.system_id.to_string(),
            timeline: tli,
            window: Window { from, to, gaps: Vec::new(), transactions },
            bases,
            files: 0,
            size: 0,
            newest: max.clone(),
            warnings,
        });
    }
}

/// One backup of `info` as the catalog lists it.
fn tool_backup(tool: &Tool, stanza: &str, b: &BackupInfo, db: &DbInfo, memo: &mut dyn Memo) -> ToolBackup {
    let path = tool.repo.join("backup").join(stanza).join(&b.label);
    let manifest = path.join("backup.manifest");
    let identity = crate::util::hash::sha256_file(&manifest).unwrap_or_else(|_| {
        let key = format!("pgbackrest:{}:{stanza}:{}", db.system_id, b.label);
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()))
    });
    let started = unix(b.timestamp.start.unwrap_or_default());
    let stopped = unix(b.timestamp.stop.or(b.timestamp.start).unwrap_or_default());
    let lsn = |f: fn(&StartStop<String>) -> &Option<String>| b.lsn.as_ref().and_then(|l| f(l).clone());
    let timeline = b.archive.as_ref().and_then(|a| a.start.as_deref()).and_then(timeline_of).unwrap_or(1);
    let facts = BaseFacts {
        system: db.system_id.to_string(),
        timeline,
        start: lsn(|l| &l.start).unwrap_or_default(),
        stop: lsn(|l| &l.stop).unwrap_or_default(),
        started,
        stopped: Some(stopped),
        next_txn: next_txn(tool, stanza, &b.label, memo),
        version: db.version.clone(),
        layout: format!("pgbackrest {}", b.kind),
        own_log: false,
        bytes: b.info.as_ref().and_then(|i| i.size).unwrap_or(0),
    };
    let mut inspection = Inspection::new(identity.clone(), identity, None);
    inspection.created = Some(stopped);
    inspection.base = Some(facts);
    if b.error {
        inspection.problem = Some(format!("pgBackRest marks backup {} as in error", b.label));
    }
    let size = b.info.as_ref().and_then(|i| i.repository.as_ref()).and_then(|r| r.size).unwrap_or(0);
    ToolBackup { path, format: Format::PgBackRest, taken_at: stopped, size, inspection }
}

/// The compression pgBackRest stored a repository file with, by its name.
fn compression_of(name: &str) -> Option<Compression> {
    if name.ends_with(".gz") {
        Some(Compression::Gzip)
    } else if name.ends_with(".zst") {
        Some(Compression::Zstd)
    } else if name.ends_with(".lz4") || name.ends_with(".bz2") {
        None
    } else {
        Some(Compression::None)
    }
}

/// Decompresses `bytes` stored with `compression`.
fn decompressed(bytes: Vec<u8>, compression: Compression) -> Result<Vec<u8>> {
    if compression == Compression::None {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut crate::util::compress::decoder(compression, std::io::Cursor::new(bytes))?,
        &mut out,
    )?;
    Ok(out)
}

/// The next transaction id at backup `label`'s checkpoint, from its copy of `pg_control`
/// (remembered in `memo`: a backup never changes).
fn next_txn(tool: &Tool, stanza: &str, label: &str, memo: &mut dyn Memo) -> Option<u64> {
    let key = format!("pgbackrest-next-txn:{}:{stanza}:{label}", tool.repo.display());
    if let Some(v) = memo.get(&key, label).and_then(|v| v.parse().ok()) {
        return Some(v);
    }
    let dir = format!("backup/{stanza}/{label}/pg_data/global");
    let name = tool.repo_ls(stanza, &dir).ok()?.into_iter().find(|n| n.starts_with("pg_control"))?;
    let bytes = decompressed(tool.repo_get(stanza, &format!("{dir}/{name}")).ok()?, compression_of(&name)?).ok()?;
    let next = u64::from_le_bytes(bytes.get(64..72)?.try_into().ok()?);
    memo.put(&key, label, next.to_string());
    Some(next)
}

/// The last commit (time, 32-bit xid) in the newest archived segments of `a` that hold one
/// (the newest few, by name, of the folder holding `a.max`); what could not be read goes to
/// `warnings`.
fn last_commit(
    tool: &Tool,
    stanza: &str,
    a: &ArchiveInfo,
    version: &str,
    memo: &mut dyn Memo,
    warnings: &mut Vec<String>,
) -> Option<(DateTime<Utc>, u32)> {
    let max = a.max.as_deref()?;
    let dir = format!("archive/{stanza}/{}/{}", a.id, max.get(..16)?);
    let mut names: Vec<String> = match tool.repo_ls(stanza, &dir) {
        Ok(n) => {
            n.into_iter().filter(|n| n.len() > 25 && wal::is_segment_name(&n[..24]) && &n[24..25] == "-").collect()
        }
        Err(e) => {
            warnings.push(format!("{e:#}"));
            return None;
        }
    };
    names.retain(|n| n[..24] <= *max);
    names.sort();
    for name in names.iter().rev().take(8) {
        let key = format!("pgbackrest-commits:{}:{dir}/{name}", tool.repo.display());
        let c = match memo.get(&key, name).and_then(|v| serde_json::from_str::<wal::Commits>(&v).ok()) {
            Some(c) => c,
            None => match segment_commits(tool, stanza, &dir, name, version) {
                Ok(c) if c.problem.is_none() => {
                    memo.put(&key, name, serde_json::to_string(&c).unwrap_or_default());
                    c
                }
                Ok(c) => {
                    warnings.extend(c.problem.clone());
                    c
                }
                Err(e) => {
                    warnings.push(format!("{e:#}"));
                    return None;
                }
            },
        };
        if let (Some(t), Some(x)) = (c.last_time, c.max_xid) {
            return Some((t, x));
        }
    }
    None
}

/// pg_waldump's commits of one archived segment, fetched with `repo-get` into a private file.
fn segment_commits(tool: &Tool, stanza: &str, dir: &str, name: &str, version: &str) -> Result<wal::Commits> {
    let compression = compression_of(name)
        .ok_or_else(|| bad_input(format!("archived segment `{name}` is compressed in a way lastgood does not read")))?;
    let bytes = tool.repo_get(stanza, &format!("{dir}/{name}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("lastgood-pgbackrest-wal-")
        .tempdir()
        .map_err(|e| environment(format!("cannot create a temporary folder: {e}")))?;
    let file = tmp.path().join("segment");
    fs::write(&file, bytes)?;
    wal::commits_in_file(&file, &name[..24], compression, version)
}

/// How a recovery instance's data folder is made from a pgBackRest backup (module docs).
#[derive(Debug, Clone)]
pub struct Restore {
    pub repo: PathBuf,
    pub stanza: String,
    pub label: String,
    pub timeline: Option<u32>,
    bin: PathBuf,
}

impl DataFolder for Restore {
    fn doing(&self, base_id: &str) -> String {
        format!("restoring pgBackRest backup {} ({base_id}) with `pgbackrest restore`", self.label)
    }

    fn produce(&self, inst: &Instance, run_as: &RunAs, target: Target) -> Result<u64> {
        Restore::produce(self, inst, run_as, target)
    }

    fn restore_command(&self, inst: &Instance) -> String {
        Restore::restore_command(self, inst)
    }
}

impl Restore {
    /// The restore of the backup stored at `path` (`<repo>/backup/<stanza>/<label>`). Errors:
    /// `Environment` with the install hint when pgbackrest is missing; `BadInput` for a path
    /// that is not such a backup.
    pub fn of(path: &Path, timeline: Option<u32>) -> Result<Restore> {
        let bin = binary()?;
        let (repo, stanza, label) = backup_place(path).ok_or_else(|| {
            bad_input(format!("`{}` is not a backup folder of a pgBackRest repository", path.display()))
        })?;
        Ok(Restore { repo, stanza, label, timeline, bin })
    }

    /// The private configuration inside the instance folder: (config, include folder).
    fn private(&self, inst: &Instance) -> (PathBuf, PathBuf) {
        let dir = inst.folder.join("pgbackrest");
        (dir.join("pgbackrest.conf"), dir.join("include"))
    }

    /// `pgbackrest restore` into the instance's (empty) data folder, as the instance's OS user;
    /// returns the bytes restored. Errors: `Environment` when pgbackrest fails.
    pub fn produce(&self, inst: &Instance, run_as: &RunAs, target: Target) -> Result<u64> {
        let dir = inst.folder.join("pgbackrest");
        let (conf, include) = write_config(&dir, &self.repo)?;
        inst.hand_over()?;
        let mut cmd = base_command(run_as.command(&self.bin), &conf, &include, &self.stanza);
        cmd.arg(format!("--pg1-path={}", inst.data.display())).arg("restore").arg(format!("--set={}", self.label));
        match target {
            Target::Time(t) => {
                cmd.arg("--type=time").arg(format!("--target={}", t.format("%Y-%m-%d %H:%M:%S%.6f+00")));
            }
            Target::BeforeTxn(x) | Target::AfterTxn(x) => {
                cmd.arg("--type=xid").arg(format!("--target={}", x & 0xFFFF_FFFF));
                if matches!(target, Target::BeforeTxn(_)) {
                    cmd.arg("--target-exclusive");
                }
            }
        }
        if let Some(tli) = self.timeline {
            cmd.arg(format!("--target-timeline={tli}"));
        }
        cmd.args(["--target-action=pause", "--archive-mode=off"]);
        let out = tools::output(&mut cmd)?;
        if !out.status.success() {
            return Err(environment(format!(
                "`pgbackrest restore` of backup {} (stanza `{}`) failed: {}",
                self.label,
                self.stanza,
                tools::stderr_tail(&out, None, 3)
            ))
            .into());
        }
        Ok(crate::util::fs::tree_size(&inst.data))
    }

    /// lastgood's `restore_command`: `archive-get` with the private configuration.
    pub fn restore_command(&self, inst: &Instance) -> String {
        let (conf, include) = self.private(inst);
        let q = |p: &Path| crate::util::shell::shell_quote(&p.display().to_string()).replace('%', "%%");
        format!(
            "{} --config={} --config-include-path={} --pg1-path={} --stanza={} archive-get %f \"%p\"",
            q(&self.bin),
            q(&conf),
            q(&include),
            q(&inst.data),
            crate::util::shell::shell_quote(&self.stanza).replace('%', "%%")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_is_recognised_by_its_layout_and_backups_by_their_place() {
        let d = tempfile::tempdir().unwrap();
        assert!(stanzas(d.path()).is_empty());
        fs::create_dir_all(d.path().join("backup/demo")).unwrap();
        fs::write(d.path().join("backup/demo/backup.info"), "").unwrap();
        assert!(stanzas(d.path()).is_empty(), "no archive.info");
        fs::create_dir_all(d.path().join("archive/demo")).unwrap();
        fs::write(d.path().join("archive/demo/archive.info.copy"), "").unwrap();
        assert_eq!(stanzas(d.path()), vec!["demo".to_string()]);
        let (repo, stanza, label) = backup_place(&d.path().join("backup/demo/20261204-204715F")).unwrap();
        assert_eq!((repo.as_path(), stanza.as_str(), label.as_str()), (d.path(), "demo", "20261204-204715F"));
        assert!(backup_place(Path::new("/x/y/z")).is_none());
        assert_eq!(timeline_of("000000020000000000000003"), Some(2));
        assert_eq!(compression_of("000000010000000000000002-44e9.gz"), Some(Compression::Gzip));
        assert_eq!(compression_of("x.lz4"), None);
    }

    #[test]
    fn the_private_configuration_names_only_the_repository_and_private_folders() {
        let d = tempfile::tempdir().unwrap();
        let (conf, include) = write_config(d.path(), Path::new("/srv/repo/pgbackrest")).unwrap();
        let text = fs::read_to_string(&conf).unwrap();
        assert!(text.contains("repo1-path=/srv/repo/pgbackrest\n") && text.contains("log-level-file=off"));
        assert!(!text.contains("/etc/pgbackrest\n") && !text.contains("pg1-"), "{text}");
        assert!(include.is_dir() && fs::read_dir(&include).unwrap().next().is_none());
        let scratch = d.path().join("scratch");
        let bin = Path::new("/usr/lib/postgresql/15/bin");
        let inst = Instance::create(&scratch, "w", bin, RunAs { os_user: None }).unwrap();
        let r = Restore {
            repo: "/srv/repo/pgbackrest".into(),
            stanza: "demo".into(),
            label: "20261204-204715F".into(),
            timeline: Some(1),
            bin: "/usr/bin/pgbackrest".into(),
        };
        let cmd = r.restore_command(&inst);
        let folder = inst.folder.display().to_string();
        assert!(
            cmd.starts_with(&format!("/usr/bin/pgbackrest --config={folder}/pgbackrest/pgbackrest.conf ")),
            "{cmd}"
        );
        assert!(cmd.contains(&format!("--config-include-path={folder}/pgbackrest/include ")), "{cmd}");
        assert!(cmd.ends_with("--stanza=demo archive-get %f \"%p\""), "{cmd}");
    }
}
