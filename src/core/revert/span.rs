//! When base and damaged were taken, where that can be known: a backup file passed as `--base`
//! or `--damaged` directly has its manifest's `taken_at` beside it, or the catalog's time when it
//! is a copy in a catalogued repository. A scratch database restored from a backup carries no
//! time of its own: its span is then unknown, and the plan says so.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::core::catalog::{Catalog, manifest};

/// When one side was taken, and who says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TakenAt {
    pub at: DateTime<Utc>,
    /// `manifest`, or `catalog (file name)`, `catalog (mtime)`, ….
    pub from: String,
}

/// The span between base and damaged: more than one transaction apart in general, so the
/// incident's rows may sit beside legitimate writes made between the two (see `--columns`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Span {
    pub base: Option<TakenAt>,
    pub damaged: Option<TakenAt>,
    /// Seconds from base to damaged, when both are known.
    pub seconds: Option<i64>,
    /// What lies between them when that is known exactly (both restored from a recovery
    /// window either side of known transactions), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<String>,
    /// Seconds spent restoring both sides, when the revert restored them itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_seconds: Option<f64>,
}

/// The span of `base` and `damaged` as the operator named them (a path to a backup file, or
/// anything else, which has no known time); `catalog` when repositories were given.
pub fn span(base: &str, damaged: &str, catalog: Option<&Catalog>) -> Span {
    let (b, d) = (taken_at(base, catalog), taken_at(damaged, catalog));
    let seconds = match (&b, &d) {
        (Some(b), Some(d)) => Some((d.at - b.at).num_seconds()),
        _ => None,
    };
    Span { base: b, damaged: d, seconds, between: None, restore_seconds: None }
}

fn taken_at(arg: &str, catalog: Option<&Catalog>) -> Option<TakenAt> {
    let path = Path::new(arg);
    if !path.is_file() {
        return None;
    }
    if let Ok(Some(m)) = manifest::read_for(path) {
        return Some(TakenAt { at: m.taken_at, from: "manifest".to_string() });
    }
    let backup = catalog?.backups.iter().find(|b| b.copy_at(path).is_some())?;
    Some(TakenAt { at: backup.taken_at, from: format!("catalog ({})", backup.taken_at_source.label()) })
}
