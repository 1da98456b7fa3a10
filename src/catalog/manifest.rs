//! The manifest: a JSON file written beside a backup (`<backup file name>.lastgood.json`) by
//! `lastgood backup` or by any backup script that wants its facts trusted.
//!
//! Format (version 1); unknown fields are ignored so that newer writers stay readable:
//! ```json
//! {
//!   "manifest_version": 1,
//!   "taken_at": "2026-11-24T06:00:00Z",
//!   "engine": "sqlite",
//!   "source": "/var/db/shop.db",
//!   "file": "shop-2026-11-24T06-00-00.db.gz",
//!   "compression": "gzip",
//!   "size": 1048576,
//!   "sha256": "<hex of the file as stored>",
//!   "tables": [{"name": "orders", "rows": 100000}],
//!   "lastgood_version": "0.1.0"
//! }
//! ```
//! Only `taken_at` is required; `sha256` is checked by `verify` when present. `source` never holds a
//! password (writers redact it).

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::bad_input;

pub const SUFFIX: &str = ".lastgood.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default = "one")]
    pub manifest_version: u32,
    pub taken_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<ManifestTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastgood_version: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub name: String,
    pub rows: u64,
}

/// Where the manifest of `backup` lives.
pub fn path_for(backup: &Path) -> PathBuf {
    let mut s = backup.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

pub fn is_manifest(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(SUFFIX))
}

/// Reads the manifest beside `backup`, if there is one. A manifest that exists but does not parse is
/// a `BadInput` naming it.
pub fn read_for(backup: &Path) -> Result<Option<Manifest>> {
    let p = path_for(backup);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::error::environment(format!("cannot read manifest `{}`: {e}", p.display())).into()),
    };
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| bad_input(format!("manifest `{}` is not valid: {e}", p.display())))?;
    Ok(Some(m))
}
