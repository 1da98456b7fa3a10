//! The writer lock: at most one lastgood process merges into or promotes over a given live
//! database at a time.
//!
//! For a SQLite live database `P` the lock is an OS file lock (`flock`) on `P.lastgood-lock`, a
//! small file beside it holding the holder's pid, start time and command. The OS releases the lock
//! when the process dies (even by SIGKILL), so a stale file never blocks anyone; its content is only
//! read to name the holder in the refusal. PostgreSQL live databases use an advisory lock instead
//! (see the PostgreSQL engine).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{environment, refused};

/// Held while it lives; dropping it releases the lock.
#[derive(Debug)]
pub struct LiveLock {
    file: File,
    pub path: PathBuf,
}

impl Drop for LiveLock {
    /// Unlocks explicitly rather than by closing: a `flock` belongs to the open file description,
    /// and a child being spawned by another thread holds a copy of every descriptor between its
    /// fork and its exec, so closing ours alone could leave the lock held for that moment.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Where the lock of the SQLite database `live` lives.
pub fn lock_path(live: &Path) -> PathBuf {
    let mut s = live.as_os_str().to_owned();
    s.push(".lastgood-lock");
    PathBuf::from(s)
}

impl LiveLock {
    /// Takes the lock for `live` at once or fails. Errors: `Refused` naming the holder (pid,
    /// started at, command) when another process holds it; `Environment` when the lock file cannot
    /// be created.
    pub fn acquire(live: &Path, command: &str) -> Result<LiveLock> {
        let path = lock_path(live);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| environment(format!("cannot create lock file `{}`: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "another process".to_string() } else { holder.replace('\n', ", ") };
                return Err(refused(format!("`{}` is locked by another lastgood ({holder})", live.display()))
                    .hint("wait for it to finish; the lock is released when that process exits")
                    .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(environment(format!("cannot lock `{}`: {e}", path.display())).into());
            }
        }
        let info = format!(
            "pid {}\nstarted at {}\ncommand {command}\n",
            std::process::id(),
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S %:z")
        );
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(info.as_bytes())?;
        file.sync_all()?;
        Ok(LiveLock { file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live.db");
        let first = LiveLock::acquire(&live, "merge").unwrap();
        let err = LiveLock::acquire(&live, "promote").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        assert_eq!(crate::error::classify(&err).unwrap().kind, crate::error::Kind::Refused);
        drop(first);
        LiveLock::acquire(&live, "promote").unwrap();
    }
}
