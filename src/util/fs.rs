//! Small file-system helpers every layer uses: where a file's folder is, making a rename durable,
//! giving a new file the mode and owner it should have, reading a file's first bytes.
//!
//! Invariant they serve (STYLE.md): a new file is written under a temporary name in its
//! destination folder (named with `TEMP_PREFIX`, which the catalog never lists), fsynced, then
//! renamed into place, and the folder fsynced (`sync_dir`).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::environment;

/// How lastgood's temporary files beside their destination are named (`.lastgood-tmp-…`).
pub const TEMP_PREFIX: &str = ".lastgood-tmp-";

/// Whether `name` is one of lastgood's temporary files: it starts with `.lastgood-tmp`
/// (`TEMP_PREFIX` without its dash, the rule the catalog has always listed them by).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".lastgood-tmp")
}

/// The folder holding `p` (`.` for a bare file name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a directory so a rename in it is durable (best effort).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Gives `to` the permission bits and the owner and group of the file `from`. The owner is
/// changed where the system allows it (as root, or to a group this user is in); a refusal of that
/// is not an error. Errors: `Environment` when `from` cannot be read or the mode cannot be set.
pub fn copy_mode_and_owner(from: &Path, to: &File) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(from).map_err(|e| environment(format!("cannot read `{}`: {e}", from.display())))?;
    // Owner first: chown clears set-user-ID bits that chmod then puts back.
    match std::os::unix::fs::fchown(to, Some(meta.uid()), Some(meta.gid())) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        Err(e) => {
            return Err(environment(format!("cannot give a new file the owner of `{}`: {e}", from.display())).into());
        }
    }
    to.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(|e| environment(format!("cannot give a new file the mode of `{}`: {e}", from.display())).into())
}

/// Gives `file` the mode a newly created file gets (0666 less the umask), rather than the 0600 a
/// temporary file is created with.
pub fn set_default_file_mode(file: &File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o666 & !umask()))
        .map_err(|e| environment(format!("cannot set the mode of a new file: {e}")).into())
}

/// The process umask, from `/proc/self/status` (Linux); 022 where it cannot be read.
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:").and_then(|m| u32::from_str_radix(m.trim(), 8).ok()))
        })
        .unwrap_or(0o022)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The bytes of the regular files under `dir` (0 for what cannot be read; symbolic links are not
/// followed).
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
