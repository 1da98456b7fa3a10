//! Ctrl-C (SIGINT) and SIGTERM: remove the files lastgood is writing under temporary names, then
//! exit with `exit::INTERRUPTED`.
//!
//! A command creates each temporary file through `Pending::create`, which registers it under the
//! same lock the handler takes, so no file exists unregistered; the guard is dropped after the file
//! is renamed into place or deleted (declare it first so it drops last). The handler runs on its
//! own thread: it holds the lock (no new file can appear), deletes every registered file with its
//! SQLite side files and exits, so an interrupted command leaves nothing half-written. A file
//! already renamed into place is complete and checked, so a handler that finds it gone has nothing
//! to undo.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler (once per process; a second call is a no-op).
pub fn install() {
    let _ = ctrlc::set_handler(on_interrupt);
}

fn on_interrupt() {
    // Held until the process exits, so that no temporary file is created after this point.
    let files = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    for f in files.iter() {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = f.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    eprintln!("error: interrupted; {} temporary file(s) removed", files.len());
    std::process::exit(crate::exit::INTERRUPTED);
}

/// A temporary file that the interrupt handler deletes; unregistered when dropped.
#[must_use = "the file is unregistered when the guard is dropped"]
pub struct Pending(PathBuf);

impl Pending {
    /// Creates a temporary file with `create` and registers the path `path_of` gives, both under
    /// the handler's lock.
    pub fn create<T, E>(
        create: impl FnOnce() -> Result<T, E>,
        path_of: impl FnOnce(&T) -> &Path,
    ) -> Result<(Pending, T), E> {
        let mut files = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let made = create()?;
        let path = path_of(&made).to_path_buf();
        files.push(path.clone());
        Ok((Pending(path), made))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut files = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = files.iter().position(|f| *f == self.0) {
            files.swap_remove(i);
        }
    }
}
