//! Ctrl-C (SIGINT) and SIGTERM: exit 130 and leave nothing half-written.
//!
//! Every write lastgood makes goes to a temporary name first (see `restore`, `backup`), so an
//! interruption can never leave a partial file under a final name; this module also removes those
//! temporary files. Writes to live are SQLite or PostgreSQL transactions, which the engine rolls
//! back when the process ends without committing.
//!
//! Code that creates a temporary file registers it: best with `Pending::create`, which creates and
//! registers under the handler's lock, so that no file ever exists unregistered (declare the guard
//! first so it drops last, after the file is renamed or deleted); or with `track` right after
//! creating it and `untrack` once it is renamed. The handler runs on its own thread: it keeps the
//! lock (no new file can appear), deletes every registered file with its SQLite side files (or
//! folder), and exits. A file already renamed into place is complete and checked, so a handler
//! that finds it gone has nothing to undo.
//!
//! Work that removing a file cannot undo (a PostgreSQL scratch database being restored) registers
//! a cleanup with `cleanup_on_interrupt` and releases it with `forget_cleanup`; the handler runs
//! the cleanups first.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

type Cleanup = Box<dyn Fn() + Send>;
static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT_CLEANUP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn temp_files() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMP_FILES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Installs the handler (once, from `main`; a second call is a no-op).
pub fn install() {
    let _ = ctrlc::set_handler(on_interrupt);
}

fn on_interrupt() {
    // Held until the process exits, so that no cleanup is forgotten while it runs.
    let cleanups = CLEANUPS.lock().unwrap_or_else(|p| p.into_inner());
    for (_, f) in cleanups.iter() {
        f();
    }
    // Held until the process exits, so that no temporary file is registered after this point.
    let files = temp_files();
    // The other threads run on until the exit: a side file SQLite creates for a registered file
    // between the first sweep and the exit is caught by the second.
    for sweep in 0..2 {
        if sweep > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for f in files.iter() {
            if f.is_dir() {
                let _ = std::fs::remove_dir_all(f);
                continue;
            }
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = f.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
    eprintln!("error: interrupted; nothing was left half-written");
    std::process::exit(crate::exit::INTERRUPTED);
}

/// Creates something with `create` and registers the paths `paths_of` gives, both under the
/// handler's lock, so that no file ever exists unregistered; the caller `untrack`s each path.
pub fn create_tracked<T, E>(
    create: impl FnOnce() -> Result<T, E>,
    paths_of: impl FnOnce(&T) -> Vec<PathBuf>,
) -> Result<T, E> {
    let mut files = temp_files();
    let made = create()?;
    files.extend(paths_of(&made));
    Ok(made)
}

/// Removes `path` if the process is interrupted before `untrack(path)`.
pub fn track(path: &Path) {
    temp_files().push(path.to_path_buf());
}

pub fn untrack(path: &Path) {
    let mut files = temp_files();
    if let Some(i) = files.iter().position(|f| f == path) {
        files.swap_remove(i);
    }
}

/// A registered temporary file; unregistered when dropped.
#[must_use = "the file is unregistered when the guard is dropped"]
pub struct Pending(PathBuf);

impl Pending {
    /// Creates a temporary file with `create` and registers the path `path_of` gives, both under
    /// the handler's lock.
    pub fn create<T, E>(
        create: impl FnOnce() -> Result<T, E>,
        path_of: impl FnOnce(&T) -> &Path,
    ) -> Result<(Pending, T), E> {
        let mut files = temp_files();
        let made = create()?;
        let path = path_of(&made).to_path_buf();
        files.push(path.clone());
        Ok((Pending(path), made))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        untrack(&self.0);
    }
}

/// Runs `f` if the process is interrupted before `forget_cleanup(id)`; returns that id.
pub fn cleanup_on_interrupt(f: impl Fn() + Send + 'static) -> u64 {
    let id = NEXT_CLEANUP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()).push((id, Box::new(f)));
    id
}

pub fn forget_cleanup(id: u64) {
    CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()).retain(|(i, _)| *i != id);
}
