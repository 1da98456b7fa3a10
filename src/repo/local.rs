//! A repository that is a local folder (`LocalRepo`, the `Repository` of a path or `file://` URL),
//! and the walk behind `Catalog::scan` (`list`).
//!
//! Every repository root is canonicalized first, and the walk descends real folders only. Each
//! real file (or folder the caller counts as one backup, `Rules::one_backup`) is listed once,
//! keyed by (device, inode): hard links, bind mounts, links and one folder given twice all come
//! down to one entry, under the first name found — repositories in the order given, names in path
//! order, real names before links. The entry's key leads from the canonical root of the
//! repository that holds it through no link (`Listing::real`); every write or removal (`prune`,
//! the cache) uses that path. Other names for the same file are kept as `aliases`. The walk takes
//! every local repository at once because links and hard links may join them.
//!
//! A symbolic link is followed only when its canonical target lies inside some repository's
//! canonical root and not in a folder lastgood skips; it then adds an alias (or, for a folder, the
//! files beneath it, deduplicated like every other). Links pointing outside every repository,
//! dangling links and loops are listed as ignored with the reason, never followed: a link to an
//! application's data folder must never make live files look like the newest backups.
//!
//! Skipped: folders holding `SKIP_MARKER` (lastgood's scratch folders) and the `CACHE_DIR` cache
//! folder; and files whose name the caller skips (the catalog: files that belong beside another —
//! a SQLite `-wal` —, manifests and lastgood's temporary files).
//!
//! As a `Repository`: `fetch` is the file itself, named below the root as given (so messages name
//! it as the operator does); `remove` and `locate` use the canonical root; `put` writes under a
//! temporary name in the destination folder, fsyncs, renames and fsyncs the folder; `put_new`
//! does the same but names the file without replacing anything (`persist_noclobber`: a link or
//! `RENAME_NOREPLACE`), so that of two writers racing for one key exactly one stores its file, and
//! a dangling link at the key counts as taken (nothing is ever written through a link). Folders it
//! creates on the way are fsynced into their parents.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{CACHE_DIR, Fetched, PutNew, Repository, SKIP_MARKER};
use crate::error::{environment, refused};

/// `ELOOP` on Linux: too many levels of symbolic links (std has no stable `ErrorKind` for it).
const ELOOP: i32 = 40;

/// A local folder repository, as given and as canonicalized.
#[derive(Debug, Clone)]
pub struct LocalRepo {
    pub given: PathBuf,
    pub canonical: PathBuf,
}

impl LocalRepo {
    /// The folder `given`. Errors: `Environment` when it cannot be read or is not a folder.
    pub fn open(given: &Path) -> Result<LocalRepo> {
        Ok(LocalRepo { given: given.to_path_buf(), canonical: canonical_root(given)? })
    }
}

/// What the caller says about names and folders (the catalog asks its sources).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// File names that are never entries of their own (nor followed when a link points at them).
    pub skipped_name: fn(&str) -> bool,
    /// Folders that are one entry, not folders to descend into (a pg_dump directory archive).
    pub one_backup: fn(&Path) -> bool,
}

impl Rules {
    /// Every file is an entry; no folder is one.
    pub const EVERY_FILE: Rules = Rules { skipped_name: |_| false, one_backup: |_| false };
}

/// One real file (or directory archive) to read.
#[derive(Debug)]
pub struct Entry {
    /// Index of the repository (in `Listing::roots`) that holds it.
    pub root: usize,
    /// Path below the root, through no link.
    pub rel: PathBuf,
    pub meta: fs::Metadata,
    /// Other names of the same file: hard links, links inside a repository.
    pub aliases: Vec<Alias>,
}

/// Another name of a listed file.
#[derive(Debug, Clone)]
pub struct Alias {
    /// As displayed.
    pub shown: PathBuf,
    /// A hard link's repository (index in `Listing::roots`) and key; `None` for a symbolic link.
    pub hard_link: Option<(usize, PathBuf)>,
}

/// A symbolic link the walk did not follow, and why.
#[derive(Debug, Clone)]
pub struct Unfollowed {
    /// The link, as displayed.
    pub path: PathBuf,
    pub reason: String,
}

/// What the walk found, in scanning order.
#[derive(Debug)]
pub struct Listing {
    pub roots: Vec<LocalRepo>,
    pub entries: Vec<Entry>,
    pub unfollowed: Vec<Unfollowed>,
}

impl Listing {
    /// The path to display for `e`: below the repository as the operator gave it.
    pub fn shown(&self, e: &Entry) -> PathBuf {
        self.roots[e.root].given.join(&e.rel)
    }

    /// The real path of `e`: below the canonical root, through no link.
    pub fn real(&self, e: &Entry) -> PathBuf {
        self.roots[e.root].canonical.join(&e.rel)
    }

    /// Whether `target` (canonical) lies inside some repository, and which.
    pub fn root_of(&self, target: &Path) -> Option<usize> {
        self.roots.iter().position(|r| target.starts_with(&r.canonical))
    }
}

/// Canonicalizes `repos` (a folder given twice, or by two spellings, is kept once) and lists their
/// files by `rules`. Errors: `Environment` when a repository cannot be read or is not a folder.
pub fn list(repos: &[PathBuf], rules: Rules) -> Result<Listing> {
    let mut roots: Vec<LocalRepo> = Vec::new();
    for repo in repos {
        let r = LocalRepo::open(repo)?;
        if !roots.iter().any(|o| o.canonical == r.canonical) {
            roots.push(r);
        }
    }
    let mut w = Walk {
        listing: Listing { roots, entries: Vec::new(), unfollowed: Vec::new() },
        files: HashMap::new(),
        dirs: HashSet::new(),
        links: Vec::new(),
        rules,
    };
    for i in 0..w.listing.roots.len() {
        let root = w.listing.roots[i].canonical.clone();
        w.walk(i, &root)?;
    }
    w.follow_links()?;
    Ok(w.listing)
}

fn canonical_root(repo: &Path) -> Result<PathBuf> {
    let meta = fs::metadata(repo).map_err(|e| {
        environment(format!("cannot read repository `{}`: {e}", repo.display()))
            .hint("check the path given to --repo / LASTGOOD_REPO")
    })?;
    if !meta.is_dir() {
        return Err(environment(format!("repository `{}` is not a directory", repo.display())).into());
    }
    repo.canonicalize().map_err(|e| environment(format!("cannot read repository `{}`: {e}", repo.display())).into())
}

/// A link met during the walk, resolved once the real files are all known.
#[derive(Debug)]
struct Link {
    /// The link itself, below a canonical root (its folder is real).
    at: PathBuf,
    /// As displayed.
    shown: PathBuf,
}

#[derive(Debug)]
struct Walk {
    listing: Listing,
    /// (device, inode) of every file listed → its index in `entries`.
    files: HashMap<(u64, u64), usize>,
    /// (device, inode) of every folder walked.
    dirs: HashSet<(u64, u64)>,
    links: Vec<Link>,
    /// The caller's rules.
    rules: Rules,
}

impl Walk {
    /// Walks the real folder `start` (canonical, inside root `root`), listing its files in path
    /// order and remembering its links for `follow_links`.
    fn walk(&mut self, root: usize, start: &Path) -> Result<()> {
        let mut found: Vec<(PathBuf, fs::Metadata)> = Vec::new();
        let mut stack = vec![start.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let meta = fs::metadata(&dir).map_err(|e| unreadable(&dir, &e))?;
            if !self.dirs.insert((meta.dev(), meta.ino())) || dir.join(SKIP_MARKER).exists() {
                continue; // a bind mount seen before, or a scratch folder
            }
            let entries = fs::read_dir(&dir).map_err(|e| unreadable(&dir, &e))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("listing `{}`", dir.display()))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let path = entry.path();
                let ft = entry.file_type()?;
                if ft.is_symlink() {
                    // A linked `.lastgood` is not followed, and the cache not used (`core/catalog/cache.rs`).
                    if !(self.rules.skipped_name)(&name) && name != CACHE_DIR {
                        let shown = self.shown(root, &path);
                        self.links.push(Link { at: path, shown });
                    }
                } else if ft.is_dir() {
                    if (self.rules.one_backup)(&path) {
                        found.push((path, entry.metadata()?));
                    } else if name != CACHE_DIR {
                        stack.push(path);
                    }
                } else if ft.is_file() && !(self.rules.skipped_name)(&name) {
                    found.push((path, entry.metadata()?));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, meta) in found {
            self.add(root, &path, meta, None);
        }
        Ok(())
    }

    /// Lists the real file `path` of root `root`, or records another name for it when it is
    /// listed already: `link` (a symbolic link to it, as displayed), else `path` (a hard link).
    fn add(&mut self, root: usize, path: &Path, meta: fs::Metadata, link: Option<PathBuf>) {
        let key = (meta.dev(), meta.ino());
        if let Some(&i) = self.files.get(&key) {
            if link.is_none() && self.listing.real(&self.listing.entries[i]) == path {
                return; // the same name met again (nested repositories)
            }
            let alias = match link {
                Some(shown) => Alias { shown, hard_link: None },
                None => Alias { shown: self.shown(root, path), hard_link: Some((root, self.key(root, path))) },
            };
            self.listing.entries[i].aliases.push(alias);
            return;
        }
        let rel = self.key(root, path);
        let aliases = link.map(|shown| Alias { shown, hard_link: None }).into_iter().collect();
        self.files.insert(key, self.listing.entries.len());
        self.listing.entries.push(Entry { root, rel, meta, aliases });
    }

    fn key(&self, root: usize, path: &Path) -> PathBuf {
        path.strip_prefix(&self.listing.roots[root].canonical).unwrap_or(path).to_path_buf()
    }

    fn shown(&self, root: usize, path: &Path) -> PathBuf {
        let r = &self.listing.roots[root];
        r.given.join(path.strip_prefix(&r.canonical).unwrap_or(path))
    }

    /// Resolves every link met: followed inside the repositories, reported otherwise. Links found
    /// in folders reached through a link are resolved too.
    fn follow_links(&mut self) -> Result<()> {
        let mut i = 0;
        while i < self.links.len() {
            let (at, shown) = (self.links[i].at.clone(), self.links[i].shown.clone());
            i += 1;
            if let Some(reason) = self.follow(&at, &shown)? {
                self.listing.unfollowed.push(Unfollowed { path: shown, reason });
            }
        }
        Ok(())
    }

    /// Follows one link; returns why it is not followed, if it is not.
    fn follow(&mut self, at: &Path, shown: &Path) -> Result<Option<String>> {
        let target = match at.canonicalize() {
            Ok(t) => t,
            Err(e) if e.raw_os_error() == Some(ELOOP) => {
                return Ok(Some("link loop: it resolves to itself through other links".into()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let to = fs::read_link(at).map(|t| format!(": `{}` does not exist", t.display())).unwrap_or_default();
                return Ok(Some(format!("dangling link{to}")));
            }
            Err(e) => return Ok(Some(format!("link cannot be resolved: {e}"))),
        };
        let Some(root) = self.listing.root_of(&target) else {
            return Ok(Some(format!("link points outside every repository: `{}`", target.display())));
        };
        if let Some(why) = self.skipped_place(root, &target) {
            return Ok(Some(format!("link points to `{}`, {why}", target.display())));
        }
        let meta = fs::metadata(&target).map_err(|e| unreadable(&target, &e))?;
        if meta.is_dir() && !(self.rules.one_backup)(&target) {
            if at.parent().is_some_and(|p| p.starts_with(&target)) {
                return Ok(Some(format!("link loop: it leads back to `{}`, a folder that holds it", target.display())));
            }
            // A folder walked already adds nothing; one not walked yet (created meanwhile) is.
            return self.walk(root, &target).map(|_| None);
        }
        self.add(root, &target, meta, Some(shown.to_path_buf()));
        Ok(None)
    }

    /// Why `target` (inside root `root`) is not a place backups are read from, if it is not.
    fn skipped_place(&self, root: usize, target: &Path) -> Option<&'static str> {
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if (self.rules.skipped_name)(&name) {
            return Some("which is not a backup file (a SQLite side file, a manifest or a temporary file)");
        }
        let top = &self.listing.roots[root].canonical;
        let mut dir = target.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(top)) {
            if d.join(SKIP_MARKER).exists() || d.file_name().is_some_and(|n| n == CACHE_DIR) {
                return Some("in a folder lastgood skips (scratch or cache)");
            }
            dir = d.parent();
        }
        None
    }
}

fn unreadable(dir: &Path, e: &std::io::Error) -> anyhow::Error {
    environment(format!("cannot read repository folder `{}`: {e}", dir.display())).into()
}

impl Repository for LocalRepo {
    fn describe(&self) -> String {
        self.given.display().to_string()
    }

    fn list(&self) -> Result<Vec<super::Entry>> {
        let listing = list(std::slice::from_ref(&self.given), Rules::EVERY_FILE)?;
        let mut entries: Vec<super::Entry> = listing
            .entries
            .into_iter()
            .map(|e| super::Entry {
                size: e.meta.len(),
                mtime: e.meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                key: e.rel,
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    fn open(&self, key: &Path) -> Result<Box<dyn Read + Send>> {
        let p = self.given.join(key);
        let f = fs::File::open(&p).map_err(|e| environment(format!("cannot read `{}`: {e}", p.display())))?;
        Ok(Box::new(f))
    }

    fn fetch(&self, key: &Path) -> Result<Fetched> {
        Ok(Fetched::Stored(self.given.join(key)))
    }

    fn put(&self, key: &Path, file: &Path) -> Result<()> {
        let dest = self.canonical.join(key);
        let dir = crate::util::fs::parent_dir(&dest);
        let failed = |e: &dyn std::fmt::Display| environment(format!("cannot write `{}`: {e}", dest.display()));
        fs::create_dir_all(&dir).map_err(|e| failed(&e))?;
        let mut tmp =
            tempfile::Builder::new().prefix(crate::util::fs::TEMP_PREFIX).tempfile_in(&dir).map_err(|e| failed(&e))?;
        let mut src =
            fs::File::open(file).map_err(|e| environment(format!("cannot read `{}`: {e}", file.display())))?;
        std::io::copy(&mut src, tmp.as_file_mut()).map_err(|e| failed(&e))?;
        tmp.as_file().sync_all().map_err(|e| failed(&e))?;
        tmp.persist(&dest).map_err(|e| failed(&e.error))?;
        crate::util::fs::sync_dir(&dir);
        Ok(())
    }

    fn put_new(&self, key: &Path, file: &Path) -> Result<PutNew> {
        let dest = self.canonical.join(key);
        if fs::symlink_metadata(&dest).is_ok() {
            return Ok(PutNew::Existed);
        }
        let dir = crate::util::fs::parent_dir(&dest);
        let failed = |e: &dyn std::fmt::Display| environment(format!("cannot write `{}`: {e}", dest.display()));
        create_dir_durably(&dir).map_err(|e| failed(&e))?;
        let (_pending, mut tmp) = crate::interrupt::Pending::create(
            || tempfile::Builder::new().prefix(crate::util::fs::TEMP_PREFIX).tempfile_in(&dir),
            |t| t.path(),
        )
        .map_err(|e| failed(&e))?;
        let mut src =
            fs::File::open(file).map_err(|e| environment(format!("cannot read `{}`: {e}", file.display())))?;
        std::io::copy(&mut src, tmp.as_file_mut()).map_err(|e| failed(&e))?;
        tmp.as_file().sync_all().map_err(|e| failed(&e))?;
        match tmp.persist_noclobber(&dest) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(PutNew::Existed),
            Err(e) => return Err(failed(&e.error).into()),
        }
        crate::util::fs::sync_dir(&dir);
        Ok(PutNew::Stored)
    }

    fn remove(&self, key: &Path) -> Result<bool> {
        remove_real(&self.canonical.join(key))
    }

    fn locate(&self, key: &Path) -> PathBuf {
        self.canonical.join(key)
    }
}

/// Creates `dir` and the folders above it that are missing, fsyncing each new one into its
/// parent so that a file stored in it survives a crash.
fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| fs::symlink_metadata(p).is_err()) {
        missing.push(p);
        d = p.parent();
    }
    fs::create_dir_all(dir)?;
    for p in missing.into_iter().rev() {
        crate::util::fs::sync_dir(&crate::util::fs::parent_dir(p));
    }
    Ok(())
}

/// Removes `p` if it is a real file (or a folder that is one backup) whose folder is where the
/// walk found it; a missing file or a link is left alone. Returns whether it removed it.
fn remove_real(p: &Path) -> Result<bool> {
    let Ok(meta) = fs::symlink_metadata(p) else { return Ok(false) };
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    let folder = p.parent().unwrap_or(Path::new("/"));
    if folder.canonicalize().ok().as_deref() != Some(folder) {
        return Err(refused(format!(
            "`{}` is no longer where the catalog found it: its folder goes through a link now",
            p.display()
        ))
        .hint("run prune again")
        .into());
    }
    let gone = if meta.is_dir() { fs::remove_dir_all(p) } else { fs::remove_file(p) };
    gone.map_err(|e| environment(format!("cannot remove `{}`: {e}", p.display())))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folder as a `Repository`: keys below its top, an atomic put, a remove that leaves
    /// links and missing keys alone.
    #[test]
    fn a_folder_is_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("repo");
        fs::create_dir_all(top.join("2026/11")).unwrap();
        fs::write(top.join("2026/11/a.db"), b"aaa").unwrap();
        fs::create_dir(top.join(CACHE_DIR)).unwrap();
        fs::write(top.join(CACHE_DIR).join("catalog.db"), b"cache").unwrap();
        std::os::unix::fs::symlink(top.join("2026/11/a.db"), top.join("link.db")).unwrap();
        let repo = LocalRepo::open(&top).unwrap();
        let keys: Vec<PathBuf> = repo.list().unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, [PathBuf::from("2026/11/a.db")], "the cache is not an entry, a link adds none");
        let mut text = String::new();
        repo.open(Path::new("2026/11/a.db")).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "aaa");
        assert_eq!(repo.fetch(Path::new("2026/11/a.db")).unwrap().path(), top.join("2026/11/a.db"));
        let src = dir.path().join("new.db");
        fs::write(&src, b"bbbb").unwrap();
        repo.put(Path::new("2026/12/b.db"), &src).unwrap();
        assert_eq!(fs::read(top.join("2026/12/b.db")).unwrap(), b"bbbb");
        assert!(!repo.remove(Path::new("link.db")).unwrap(), "a link is never removed");
        assert!(top.join("link.db").symlink_metadata().is_ok());
        assert!(repo.remove(Path::new("2026/11/a.db")).unwrap());
        assert!(!top.join("2026/11/a.db").exists());
        assert!(!repo.remove(Path::new("2026/11/a.db")).unwrap(), "nothing left to remove");
        assert_eq!(repo.locate(Path::new("x")), top.canonicalize().unwrap().join("x"));
    }

    /// `put_new` stores a free key in a new folder, and leaves an existing entry — a file or a
    /// dangling link — exactly as it was, with no temporary file left beside it.
    #[test]
    fn put_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("repo");
        fs::create_dir(&top).unwrap();
        let repo = LocalRepo::open(&top).unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"first").unwrap();
        fs::write(&b, b"second").unwrap();
        assert_eq!(repo.put_new(Path::new("wal/x"), &a).unwrap(), PutNew::Stored);
        assert_eq!(repo.put_new(Path::new("wal/x"), &b).unwrap(), PutNew::Existed);
        assert_eq!(fs::read(top.join("wal/x")).unwrap(), b"first");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), top.join("wal/dangling")).unwrap();
        assert_eq!(repo.put_new(Path::new("wal/dangling"), &b).unwrap(), PutNew::Existed);
        assert!(!dir.path().join("nowhere").exists(), "nothing written through the link");
        let mut left: Vec<String> =
            fs::read_dir(top.join("wal")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["dangling", "x"]);
        assert!(repo.put_new(Path::new("wal/y"), &dir.path().join("missing")).is_err());
    }
}
