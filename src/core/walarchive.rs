//! Archiving PostgreSQL's WAL into repositories: what `lastgood wal-archive %p %f`, used as
//! `archive_command`, does, and the lag of repositories that missed files (`lags`, which the
//! catalog shows).
//!
//! Layout: each repository keeps the archived files flat in `WAL_DIR` (`<repo>/wal/<name>`), under
//! the name PostgreSQL gave (`is_wal_name`: segments, `.partial`, `.history`, `.backup`, each
//! optionally `.gz`/`.zst`). Files a repository missed are recorded in the first repository, in
//! `<first>/.lastgood/wal-pending/<folder>/` (`PENDING_DIR`): one folder per lagging repository,
//! named by the first 16 hex digits of the sha256 of its absolute path, holding `repository` (that
//! path) and one empty file per missed name.
//!
//! Invariants:
//! - an archived file is never overwritten: it is stored under a temporary name, fsynced and linked
//!   into place only when the name is free (`Repository::put_new`); an identical file already there
//!   is success (PostgreSQL retries `archive_command` after a crash), a different one is refused;
//! - success means the file is durable in the first `require` repositories; the others are best
//!   effort: a failure there is recorded as pending and warned about, never fails the call (an
//!   unreachable off-site copy must not stop archiving and fill live's `pg_wal`);
//! - a repository's folder is never created (a missing one is unreachable), only its `wal/`;
//! - each call retries, for every repository that took its file, up to `RETRY_PER_CALL` of the
//!   files it missed, copied from the first repository, so a repository that comes back catches up.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{environment, refused, usage};
use crate::repo::local::LocalRepo;
use crate::repo::{CACHE_DIR, PutNew, Repo};

/// The folder of a repository that holds archived WAL files.
pub const WAL_DIR: &str = "wal";
/// The folder, inside the first repository's `CACHE_DIR`, that records what the others missed.
pub const PENDING_DIR: &str = "wal-pending";
/// In a pending folder: the lagging repository's path.
const REPOSITORY_FILE: &str = "repository";
/// How many missed files one call copies to a repository at most (the call must stay short:
/// PostgreSQL waits for it before archiving the next segment).
pub const RETRY_PER_CALL: usize = 32;

/// Whether `name` is a file PostgreSQL archives: a segment (24 uppercase hex digits), a segment's
/// `.partial`, a timeline's `.history` (8 hex digits), a backup's `.backup` history file
/// (segment, `.`, 8 hex digits), each optionally ending in `.gz` or `.zst`.
pub fn is_wal_name(name: &str) -> bool {
    let base = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(name);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if let Some(segment) = base.strip_suffix(".partial") {
        return hex(segment, 24);
    }
    if let Some(timeline) = base.strip_suffix(".history") {
        return hex(timeline, 8);
    }
    if let Some(rest) = base.strip_suffix(".backup") {
        return rest.split_once('.').is_some_and(|(segment, offset)| hex(segment, 24) && hex(offset, 8));
    }
    hex(base, 24)
}

/// What became of the file in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Stored,
    /// An identical file was there already.
    AlreadyArchived,
    /// The repository could not take it (best effort only: recorded as pending).
    Failed,
    /// A different file holds the name (best effort only: recorded as pending, left alone).
    Differs,
}

/// The outcome for one repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoOutcome {
    pub repository: PathBuf,
    pub required: bool,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// Files missed by earlier calls, stored by this one.
    pub caught_up: Vec<String>,
    /// Files this repository still misses after this call.
    pub pending: usize,
}

/// What `archive` did.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub name: String,
    pub size: u64,
    pub repositories: Vec<RepoOutcome>,
    /// What went wrong in best-effort repositories (one line each), for the server log.
    pub warnings: Vec<String>,
}

/// Archives the local file `file` as `wal/<name>` into `repos`: the first `require` must take it,
/// the others are best effort (module docs). Errors: `Usage` for a name that is not a WAL file's,
/// no repository, or `require` not in 1..=repos; `Environment` when `file` cannot be read or a
/// required repository cannot take it; `Refused` when a required repository holds a different file
/// under that name.
pub fn archive(file: &Path, name: &str, repos: &[PathBuf], require: usize) -> Result<ArchiveReport> {
    check_request(name, repos, require)?;
    let meta = fs::metadata(file).map_err(|e| environment(format!("cannot read `{}`: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(environment(format!("`{}` is not a file", file.display())).into());
    }
    let key = Path::new(WAL_DIR).join(name);
    let mut outcomes = Vec::new();
    for repo in &repos[..require] {
        let outcome = match store(repo, &key, file)? {
            Outcome::Differs => return Err(differs(repo, &key, file)),
            o => o,
        };
        outcomes.push(RepoOutcome::new(repo, true, outcome, None));
    }
    let mut warnings = Vec::new();
    for repo in &repos[require..] {
        let (outcome, error) = match store(repo, &key, file) {
            Ok(Outcome::Differs) => (Outcome::Differs, Some(format!("{:#}", differs(repo, &key, file)))),
            Ok(o) => (o, None),
            Err(e) => (Outcome::Failed, Some(format!("{e:#}"))),
        };
        outcomes.push(RepoOutcome::new(repo, false, outcome, error));
    }
    let first = Repo::new(LocalRepo::open(&repos[0])?);
    let pending = Pending { dir: first.locate(&Path::new(CACHE_DIR).join(PENDING_DIR)) };
    for o in outcomes.iter_mut().skip(1) {
        settle(&first, &pending, o, name, &mut warnings);
    }
    Ok(ArchiveReport { name: name.to_string(), size: meta.len(), repositories: outcomes, warnings })
}

fn check_request(name: &str, repos: &[PathBuf], require: usize) -> Result<()> {
    if !is_wal_name(name) {
        return Err(usage(format!("`{name}` is not the name of a WAL file"))
            .hint("pass PostgreSQL's %f: a segment (24 hex digits), .partial, .history or .backup, optionally .gz/.zst")
            .into());
    }
    if repos.is_empty() {
        return Err(usage("no repository to archive into").hint("pass --repo DIR (repeatable)").into());
    }
    if require == 0 || require > repos.len() {
        return Err(usage(format!("--require {require}: pass 1 to {} (the repositories given)", repos.len())).into());
    }
    Ok(())
}

impl RepoOutcome {
    fn new(repo: &Path, required: bool, outcome: Outcome, error: Option<String>) -> RepoOutcome {
        RepoOutcome { repository: repo.to_path_buf(), required, outcome, error, caught_up: Vec::new(), pending: 0 }
    }
}

/// Stores `file` as `key` in the repository `repo` unless the name is taken; `Differs` when it is
/// taken by other bytes. Errors: `Environment`.
fn store(repo: &Path, key: &Path, file: &Path) -> Result<Outcome> {
    let repo = Repo::new(LocalRepo::open(repo)?);
    Ok(match repo.put_new(key, file)? {
        PutNew::Stored => Outcome::Stored,
        PutNew::Existed if same_content(&repo, key, file)? => Outcome::AlreadyArchived,
        PutNew::Existed => Outcome::Differs,
    })
}

fn differs(repo: &Path, key: &Path, file: &Path) -> anyhow::Error {
    refused(format!(
        "`{}` in repository `{}` differs from `{}`: an archived WAL file is never overwritten",
        key.display(),
        repo.display(),
        file.display()
    ))
    .hint("is another cluster archiving into this repository? each cluster needs its own")
    .into()
}

/// Whether the entry `key` of `repo` holds exactly the bytes of `file`. Errors: `Environment`.
fn same_content(repo: &Repo, key: &Path, file: &Path) -> Result<bool> {
    let mut a = repo.open(key)?;
    let mut b = fs::File::open(file).map_err(|e| environment(format!("cannot read `{}`: {e}", file.display())))?;
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = crate::util::fs::read_up_to(&mut a, &mut x)
            .map_err(|e| environment(format!("cannot read `{}` in `{}`: {e}", key.display(), repo.describe())))?;
        let m = crate::util::fs::read_up_to(&mut b, &mut y)
            .map_err(|e| environment(format!("cannot read `{}`: {e}", file.display())))?;
        if n != m || x[..n] != y[..m] {
            return Ok(false);
        }
        if n < x.len() {
            return Ok(true);
        }
    }
}

/// After the file went to the best-effort or later required repository of `o`: records it as
/// pending when it did not, else retries what the repository missed before.
fn settle(first: &Repo, pending: &Pending, o: &mut RepoOutcome, name: &str, warnings: &mut Vec<String>) {
    let repo = o.repository.clone();
    match o.outcome {
        Outcome::Failed | Outcome::Differs => {
            let error = o.error.clone().unwrap_or_default();
            match pending.mark(&repo, name) {
                Ok(()) => {
                    warnings.push(format!("`{name}` not archived in `{}` (will be retried): {error}", repo.display()))
                }
                Err(e) => warnings.push(format!("`{name}` not archived in `{}`: {error}; and {e:#}", repo.display())),
            }
        }
        Outcome::Stored | Outcome::AlreadyArchived => {
            pending.unmark(&repo, name);
            let (caught_up, problems) = catch_up(first, pending, &repo);
            o.caught_up = caught_up;
            warnings.extend(problems);
        }
    }
    o.pending = pending.names(&repo).len();
}

/// Copies up to `RETRY_PER_CALL` of the files `repo` missed from the first repository into it;
/// returns those stored (or found identical) and what kept the others back: a different file
/// under the name (passed over), or the repository failing (which stops the retries).
fn catch_up(first: &Repo, pending: &Pending, repo: &Path) -> (Vec<String>, Vec<String>) {
    let (mut done, mut problems) = (Vec::new(), Vec::new());
    for name in pending.names(repo).into_iter().take(RETRY_PER_CALL) {
        let key = Path::new(WAL_DIR).join(&name);
        let tried = first.fetch(&key).and_then(|source| store(repo, &key, source.path()));
        let still = |e: anyhow::Error| format!("`{name}` still missing in `{}`: {e:#}", repo.display());
        match tried {
            Ok(Outcome::Stored | Outcome::AlreadyArchived) => {
                pending.unmark(repo, &name);
                done.push(name);
            }
            Ok(_) => problems.push(still(differs(repo, &key, &first.locate(&key)))),
            Err(e) => {
                problems.push(still(e));
                break;
            }
        }
    }
    (done, problems)
}

/// The pending records kept in one repository (module docs).
struct Pending {
    dir: PathBuf,
}

impl Pending {
    fn folder(&self, repo: &Path) -> PathBuf {
        self.dir.join(folder_name(repo))
    }

    /// Records that `repo` misses `name`. Errors: `Environment`.
    fn mark(&self, repo: &Path, name: &str) -> Result<()> {
        let folder = self.folder(repo);
        let failed = |e: std::io::Error| environment(format!("cannot record it in `{}`: {e}", folder.display()));
        fs::create_dir_all(&folder).map_err(failed)?;
        let record = folder.join(REPOSITORY_FILE);
        if !record.exists() {
            let mut tmp =
                tempfile::Builder::new().prefix(crate::util::fs::TEMP_PREFIX).tempfile_in(&folder).map_err(failed)?;
            std::io::Write::write_all(tmp.as_file_mut(), absolute(repo).as_os_str().as_encoded_bytes())
                .map_err(failed)?;
            tmp.persist(&record).map_err(|e| failed(e.error))?;
        }
        fs::File::create(folder.join(name)).map_err(failed)?;
        crate::util::fs::sync_dir(&folder);
        Ok(())
    }

    /// Forgets that `repo` misses `name`; removes its folder once nothing is pending.
    fn unmark(&self, repo: &Path, name: &str) {
        let folder = self.folder(repo);
        if fs::remove_file(folder.join(name)).is_ok() && self.names(repo).is_empty() {
            let _ = fs::remove_file(folder.join(REPOSITORY_FILE));
            let _ = fs::remove_dir(&folder);
        }
    }

    /// The names `repo` misses, oldest first (WAL names sort in the order they were written, per
    /// timeline).
    fn names(&self, repo: &Path) -> Vec<String> {
        pending_names(&self.folder(repo))
    }
}

/// The WAL names recorded in one pending folder, sorted.
fn pending_names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_wal_name(n))
        .collect();
    names.sort();
    names
}

/// `repo` made absolute (against the current folder; PostgreSQL runs `archive_command` in the
/// data folder), as it is recorded.
fn absolute(repo: &Path) -> PathBuf {
    std::path::absolute(repo).unwrap_or_else(|_| repo.to_path_buf())
}

/// The pending folder's name for `repo`: 16 hex digits of the sha256 of its absolute path.
fn folder_name(repo: &Path) -> String {
    let digest = Sha256::digest(absolute(repo).as_os_str().as_encoded_bytes());
    hex::encode(digest)[..16].to_string()
}

/// How far one repository lags behind the repository that records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalLag {
    /// The lagging repository, as `wal-archive` was given it (made absolute).
    pub repository: PathBuf,
    /// The repository holding the record (the first one `wal-archive` writes to), as given.
    pub recorded_in: PathBuf,
    /// How many WAL files it misses.
    pub files: usize,
    pub oldest: String,
    pub newest: String,
}

/// Every lag recorded in `repos` (each repository's pending folders), in order; a repository
/// given twice is read once, and what cannot be read is passed over (a lag is a warning).
pub fn lags(repos: &[PathBuf]) -> Vec<WalLag> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for repo in repos {
        let Ok(canonical) = repo.canonicalize() else { continue };
        if seen.contains(&canonical) {
            continue;
        }
        let dir = canonical.join(CACHE_DIR).join(PENDING_DIR);
        let mut folders: Vec<PathBuf> = fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        folders.sort();
        for folder in folders {
            let names = pending_names(&folder);
            let (Some(oldest), Some(newest)) = (names.first(), names.last()) else { continue };
            let Ok(recorded) = fs::read(folder.join(REPOSITORY_FILE)) else { continue };
            out.push(WalLag {
                repository: PathBuf::from(String::from_utf8_lossy(&recorded).into_owned()),
                recorded_in: repo.clone(),
                files: names.len(),
                oldest: oldest.clone(),
                newest: newest.clone(),
            });
        }
        seen.push(canonical);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_names_are_what_postgresql_archives() {
        for ok in [
            "000000010000000000000001",
            "00000002000000A1000000FF",
            "000000010000000000000001.partial",
            "00000002.history",
            "000000010000000000000002.00000028.backup",
            "000000010000000000000001.gz",
            "000000010000000000000001.zst",
            "00000002.history.gz",
        ] {
            assert!(is_wal_name(ok), "{ok}");
        }
        for bad in [
            "",
            "00000001000000000000001",
            "0000000100000000000000011",
            "000000010000000000000001.tmp",
            "00000001000000000000000a",
            "../000000010000000000000001",
            "000000010000000000000001/x",
            "0000002.history",
            "000000010000000000000002.backup",
            "000000010000000000000001.gz.gz",
            "archive_status",
        ] {
            assert!(!is_wal_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_missed_file_is_pending_until_the_repository_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        let seg = dir.path().join("seg");
        fs::write(&seg, b"wal bytes").unwrap();
        let name = "000000010000000000000001";
        let r = archive(&seg, name, &[a.clone(), b.clone()], 1).unwrap();
        assert_eq!(r.repositories[1].outcome, Outcome::Failed);
        assert_eq!(r.repositories[1].pending, 1);
        assert_eq!(lags(std::slice::from_ref(&a))[0].files, 1);
        fs::create_dir(&b).unwrap();
        let next = "000000010000000000000002";
        let r = archive(&seg, next, &[a.clone(), b.clone()], 1).unwrap();
        assert_eq!(r.repositories[1].caught_up, [name]);
        assert_eq!(r.repositories[1].pending, 0);
        assert_eq!(fs::read(b.join("wal").join(name)).unwrap(), b"wal bytes");
        assert!(lags(std::slice::from_ref(&a)).is_empty());
        assert!(!a.join(CACHE_DIR).join(PENDING_DIR).join(folder_name(&b)).exists(), "the folder goes too");
    }
}
