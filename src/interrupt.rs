//! Ctrl-C: exit 130 and leave nothing half-written.
//!
//! Every write lastgood makes goes to a temporary name first (see `restore`, `backup`), so an
//! interruption can never leave a partial file under a final name; this module also removes those
//! temporary files. Code that creates one registers its path with `track` and releases it with
//! `untrack` once renamed. Work that cannot be undone by removing a file (a PostgreSQL scratch
//! database being restored) registers a cleanup with `on_interrupt` and releases it with
//! `forget`. Writes to live are SQLite or PostgreSQL transactions, which the engine
//! rolls back when the process ends without committing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

type Cleanup = Box<dyn Fn() + Send>;
static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT_CLEANUP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Installs the handler (once, from `main`).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(files) = TEMP_FILES.lock() {
            for f in files.iter() {
                let _ = std::fs::remove_file(f);
            }
        }
        if let Ok(cleanups) = CLEANUPS.lock() {
            for (_, f) in cleanups.iter() {
                f();
            }
        }
        eprintln!("error: interrupted; nothing was left half-written");
        std::process::exit(crate::exit::INTERRUPTED);
    });
}

/// Removes `path` if the process is interrupted before `untrack(path)`.
pub fn track(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.push(path.to_path_buf());
    }
}

pub fn untrack(path: &Path) {
    if let Ok(mut files) = TEMP_FILES.lock() {
        files.retain(|f| f != path);
    }
}

/// Runs `f` if the process is interrupted before `forget(id)`; returns that id.
pub fn on_interrupt(f: impl Fn() + Send + 'static) -> u64 {
    let id = NEXT_CLEANUP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut c) = CLEANUPS.lock() {
        c.push((id, Box::new(f)));
    }
    id
}

pub fn forget(id: u64) {
    if let Ok(mut c) = CLEANUPS.lock() {
        c.retain(|(i, _)| *i != id);
    }
}
