//! The two databases diff and merge compare: scratch (the backup's data) and live.
//!
//! Invariant: a `Pair` never names the same database twice (a diff of live with itself would say
//! "no differences" and a merge would write live into itself).

use anyhow::Result;

use crate::engine::{self, Access, Database, Location};
use crate::error::bad_input;

/// Scratch and live, located and open for reading.
pub struct Pair {
    pub scratch: Location,
    pub live: Location,
    pub scratch_db: Box<dyn Database>,
    pub live_db: Box<dyn Database>,
}

/// Opens scratch and live (as the operator typed them) for reading. Errors: `BadInput` when both
/// name the same database; whatever opening either raises, with the side named.
pub fn open_pair(scratch: &str, live: &str) -> Result<Pair> {
    let s = Location::parse(scratch);
    let l = Location::parse(live);
    let same = match (&s, &l) {
        (Location::Sqlite(a), Location::Sqlite(b)) => engine::same_file(a, b),
        (a, b) => a == b,
    };
    if same {
        return Err(bad_input(format!("--scratch and --live are the same database `{}`", l.describe()))
            .hint("pass the scratch database restored from a backup (see `lastgood restore`)")
            .into());
    }
    let sdb = engine::open(&s, Access::ReadOnly).map_err(|e| e.context("opening scratch"))?;
    let ldb = engine::open(&l, Access::ReadOnly).map_err(|e| e.context("opening live"))?;
    Ok(Pair { scratch: s, live: l, scratch_db: sdb, live_db: ldb })
}
