//! Ctrl-C: exit 130 and leave nothing half-written.
//!
//! Every write lastgood makes goes to a temporary name first (see `restore`, `backup`), so an
//! interruption can never leave a partial file under a final name; this module also removes those
//! temporary files. Code that creates one registers its path with `track` and releases it with
//! `untrack` once renamed. Writes to live are SQLite or PostgreSQL transactions, which the engine
//! rolls back when the process ends without committing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static TEMP_FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the handler (once, from `main`).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if let Ok(files) = TEMP_FILES.lock() {
            for f in files.iter() {
                let _ = std::fs::remove_file(f);
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
