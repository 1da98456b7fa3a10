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
//!   "content_sha256": "<hex of the database's bytes: the file decompressed, then its -wal>",
//!   "tables": [{"name": "orders", "rows": 100000}],
//!   "lastgood_version": "0.1.0"
//! }
//! ```
//! Only `taken_at` is required. It is an RFC 3339 time with its zone (`Z` or an offset such as
//! `+01:00`); a time without a zone is refused, naming the manifest, rather than guessed: a script
//! that wrote local time would otherwise move the backup by the zone's offset. `sha256` (the main
//! file's stored bytes, compressed when compressed) and `content_sha256` (the backup's identity,
//! see `catalog/mod.rs`: it also covers a `-wal` beside the file) are checked by the catalog and
//! `verify` when present. A manifest with only `sha256` proves the main file; a `-wal` beside it
//! is then checked against the checksum the catalog recorded when it first read it. `source` never
//! holds a password (writers redact it).

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
    #[serde(deserialize_with = "rfc3339_with_zone")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<ManifestTable>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastgood_version: Option<String>,
}

fn one() -> u32 {
    1
}

/// `taken_at`: RFC 3339 with a zone; a zone-less time gets an error that says so.
fn rfc3339_with_zone<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<DateTime<Utc>, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(d)?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let zoneless = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(text.trim(), f).is_ok());
    Err(D::Error::custom(if zoneless {
        format!(
            "taken_at `{text}` has no time zone; write it as RFC 3339 with `Z` or an offset (`{text}Z` if it is UTC)"
        )
    } else {
        format!("taken_at `{text}` is not an RFC 3339 time (like `2026-11-24T06:00:00Z`)")
    }))
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
