//! Repositories: where backups are stored. Today a repository is a local folder (`local`); the
//! `Repository` trait that lets an object store be one too comes in phase 3 of issue 11.
//!
//! A repository's own layout, which every reader and writer of it keeps: lastgood's cache lives
//! in `CACHE_DIR` at its top, and a folder holding `SKIP_MARKER` (lastgood's scratch folders) is
//! not part of it. Depends on the leaf modules only.

pub mod local;

/// The folder at a repository's top that holds lastgood's cache (never a backup).
pub const CACHE_DIR: &str = ".lastgood";

/// Marker file that keeps a folder out of the repository (lastgood's own scratch folders carry
/// it).
pub const SKIP_MARKER: &str = ".lastgood-scratch";
