//! The two databases diff and merge compare: scratch (the backup's data) and live.
//!
//! Invariants: a `Pair` never names the same database twice (a diff of live with itself would say
//! "no differences" and a merge would write live into itself), and both sides are of one engine
//! (a SQLite scratch against a PostgreSQL live is refused, exit 3: their types do not map 1:1).

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
    check_pair(&s, &l)?;
    let sdb = engine::open(&s, Access::ReadOnly).map_err(|e| e.context("opening scratch"))?;
    let ldb = engine::open(&l, Access::ReadOnly).map_err(|e| e.context("opening live"))?;
    Ok(Pair { scratch: s, live: l, scratch_db: sdb, live_db: ldb })
}

/// `open_pair`'s refusals, without opening anything: the same database twice, or two engines.
pub fn check_pair(s: &Location, l: &Location) -> Result<()> {
    if engine::registry::same_database(s, l) {
        return Err(bad_input(format!("--scratch and --live are the same database `{}`", l.describe()))
            .hint("pass the scratch database restored from a backup (see `lastgood restore`)")
            .into());
    }
    if s.engine() != l.engine() {
        return Err(bad_input(format!(
            "--scratch `{}` is {} but --live `{}` is {}: lastgood compares and merges within one engine",
            s.describe(),
            engine_name(s.engine()),
            l.describe(),
            engine_name(l.engine())
        ))
        .hint("restore the backup with the live database's engine (a pg_dump archive into PostgreSQL, a SQLite backup into a file)")
        .into());
    }
    Ok(())
}

fn engine_name(k: engine::EngineKind) -> &'static str {
    match k {
        engine::EngineKind::Sqlite => "a SQLite file",
        engine::EngineKind::Postgres => "a PostgreSQL database",
    }
}
