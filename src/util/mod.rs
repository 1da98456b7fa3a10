//! Leaf helpers with no knowledge of databases, backups or repositories: files (`fs`), checksums
//! (`hash`), gzip/zstd (`compress`), shell quoting (`shell`). Everything above may use them; they
//! use nothing of lastgood but `error`.

pub mod compress;
pub mod fs;
pub mod hash;
pub mod shell;
