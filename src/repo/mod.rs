//! Repositories: where backups are stored. `Repository` is what any store offers — list its
//! entries, read one, have it as a local file, write one atomically, remove one — and a copy of a
//! backup is (repository, key). The local folder (`local`) is its one implementation today; an
//! object store (`s3://…`) becomes another file beside it.
//!
//! A key is the entry's path below the repository's top, relative, with `/` between folders (on
//! an object store, the object's name below the prefix given). Keys name what is stored, never
//! how a reader reaches it: `fetch` turns a key into a local file for the tools that need one
//! (SQLite, pg_restore), the file itself when the repository is local.
//!
//! Naming a repository (`--repo`, `LASTGOOD_REPO`): a path, or a URL. `file:///x` is the local
//! folder `/x`; any other scheme (`s3://…`, `gs://…`) is refused as not supported yet
//! (`location`). A list of them (`LASTGOOD_REPO`, or one `--repo` value) is separated by `:`,
//! except that a `:` followed by `//` belongs to a URL: `s3://a:file:///b:/c` is three
//! repositories (`split_list`).
//!
//! Storing without replacing (`put_new`): an entry that must never be overwritten (an archived
//! WAL file) is linked into place only when its key is free; an existing key is left as it was and
//! reported as `PutNew::Existed`, so the caller can compare it with what it meant to store.
//!
//! A repository's own layout, which every reader and writer of it keeps: lastgood's cache lives
//! in `CACHE_DIR` at its top, and a folder holding `SKIP_MARKER` (lastgood's scratch folders) is
//! not part of it. Depends on the leaf modules only.

pub mod local;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Result;

use crate::error::usage;

/// The folder at a repository's top that holds lastgood's cache (never a backup).
pub const CACHE_DIR: &str = ".lastgood";

/// Marker file that keeps a folder out of the repository (lastgood's own scratch folders carry
/// it).
pub const SKIP_MARKER: &str = ".lastgood-scratch";

/// One stored entry, as `Repository::list` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated (module docs).
    pub key: PathBuf,
    pub size: u64,
    pub mtime: SystemTime,
}

/// An entry as a local file: the stored file itself (a local repository), or a temporary copy
/// removed when this value is dropped.
#[derive(Debug)]
pub enum Fetched {
    Stored(PathBuf),
    Temporary(tempfile::TempPath),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::Stored(p) => p,
            Fetched::Temporary(t) => t,
        }
    }
}

/// Where backups are stored (module docs). Implementations keep: `put` is atomic (a reader sees
/// the old entry or the whole new one, never a part); `remove` never follows a link nor leaves the
/// repository; `list` leaves out `CACHE_DIR` and folders holding `SKIP_MARKER`.
pub trait Repository: Send + Sync {
    /// The repository as the operator named it, for messages.
    fn describe(&self) -> String;
    /// Every entry, in key order. Errors: `Environment` when the repository cannot be read.
    fn list(&self) -> Result<Vec<Entry>>;
    /// Reads an entry from its first byte. Errors: `Environment`.
    fn open(&self, key: &Path) -> Result<Box<dyn Read + Send>>;
    /// The entry as a local file (itself, when the repository is local). Errors: `Environment`.
    fn fetch(&self, key: &Path) -> Result<Fetched>;
    /// Stores the local file `file` as `key`, atomically, replacing what was there. Errors:
    /// `Environment`.
    fn put(&self, key: &Path, file: &Path) -> Result<()>;
    /// Stores the local file `file` as `key` only when `key` does not exist yet, atomically and
    /// durably (the entry and the folder holding it are synced before it returns `Stored`); an
    /// existing entry is never touched (`Existed`). Errors: `Environment`.
    fn put_new(&self, key: &Path, file: &Path) -> Result<PutNew>;
    /// Removes `key` (a file, or a folder that is one backup); `false` when there was nothing to
    /// remove or it is a link, which is left alone. Errors: `Environment` when it cannot be
    /// removed, `Refused` when reaching it now goes through a link.
    fn remove(&self, key: &Path) -> Result<bool>;
    /// Where `key` is stored, for reports: a real local path, or a URL.
    fn locate(&self, key: &Path) -> PathBuf;
}

/// What `Repository::put_new` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutNew {
    /// The file is now stored under the key, durably.
    Stored,
    /// Something was stored under the key already; it was left alone.
    Existed,
}

/// A shared handle on a repository, as each copy of a backup holds it. Two handles are equal
/// when they describe the same repository.
#[derive(Clone)]
pub struct Repo(Arc<dyn Repository>);

impl Repo {
    pub fn new(r: impl Repository + 'static) -> Repo {
        Repo(Arc::new(r))
    }
}

impl std::ops::Deref for Repo {
    type Target = dyn Repository;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repo({})", self.0.describe())
    }
}

impl PartialEq for Repo {
    fn eq(&self, other: &Repo) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.describe() == other.0.describe()
    }
}

impl Eq for Repo {}

/// Splits a list of repositories (`LASTGOOD_REPO`, one `--repo` value) at `:`, except a `:`
/// followed by `//`, which belongs to a URL. Empty pieces are dropped.
pub fn split_list(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in list.match_indices(':') {
        if !list[i + 1..].starts_with("//") {
            out.push(&list[start..i]);
            start = i + 1;
        }
    }
    out.push(&list[start..]);
    out.into_iter().filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// The local folder a repository name means: a path as it is, or a `file://` URL's path
/// (`file:///x`, `file://localhost/x`; `%XX` escapes decoded). Errors: `Usage` for a URL of any
/// other scheme (not supported yet) or a `file://` URL naming another host.
pub fn location(name: &str) -> Result<PathBuf> {
    let Some((scheme, rest)) = url_parts(name) else { return Ok(PathBuf::from(name)) };
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(usage(format!(
            "repository `{name}`: `{scheme}://` repositories are not supported yet (a local folder is: a path or file:///path)"
        ))
        .into());
    }
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(usage(format!(
            "repository `{name}`: a file URL names a local folder as file:///path (no host but localhost)"
        ))
        .into());
    }
    Ok(PathBuf::from(percent_decoded(path)))
}

/// `(scheme, rest)` of `scheme://rest`, where a scheme is a letter then letters, digits, `+`, `-`
/// or `.` (RFC 3986); `None` for anything else (a path).
fn url_parts(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// `%XX` escapes decoded (a `%` not followed by two hex digits is kept as it is).
fn percent_decoded(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_splits_at_colons_but_not_inside_urls() {
        assert_eq!(split_list("s3://a:file:///b:/c"), ["s3://a", "file:///b", "/c"]);
        assert_eq!(split_list("/a:/b"), ["/a", "/b"]);
        assert_eq!(split_list("rel/dir"), ["rel/dir"]);
        assert_eq!(split_list("/a::/b:"), ["/a", "/b"], "empty pieces are dropped");
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(split_list("file:///x:gs://bucket/p:q"), ["file:///x", "gs://bucket/p", "q"]);
    }

    #[test]
    fn file_urls_are_local_folders_and_other_schemes_are_refused() {
        assert_eq!(location("/srv/backups").unwrap(), PathBuf::from("/srv/backups"));
        assert_eq!(location("rel/dir").unwrap(), PathBuf::from("rel/dir"));
        assert_eq!(location("file:///srv/backups").unwrap(), PathBuf::from("/srv/backups"));
        assert_eq!(location("file://localhost/srv/b").unwrap(), PathBuf::from("/srv/b"));
        assert_eq!(location("FILE:///my%20dir").unwrap(), PathBuf::from("/my dir"));
        for url in ["s3://bucket/prefix", "gs://b", "sftp://host/x"] {
            let err = location(url).unwrap_err();
            let scheme = url.split("://").next().unwrap();
            let msg = format!("{err:#}");
            assert!(msg.contains(&format!("`{scheme}://`")) && msg.contains("not supported yet"), "{msg}");
            assert_eq!(crate::error::kind_of(&err), crate::error::Kind::Usage);
        }
        assert!(location("file://otherhost/x").is_err());
    }
}
