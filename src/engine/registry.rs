//! The engine registry: the one place that lists the engines and picks one for a location, a
//! backup format or an engine kind. Outside `src/engine/`, code asks the registry
//! (`engine::registry::for_location(&loc).open(…)`) and never names SQLite or PostgreSQL.
//!
//! The `Engine` trait itself sits in `engine/mod.rs`, beside `Database`.
//!
//! Invariant: every `Location` and every `Format` is claimed by exactly one engine (checked by the
//! tests below), so `for_location` and `for_format` never fail.

use super::{Engine, EngineKind, Format, Location};

/// Every engine lastgood has, in the order they are tried.
static ENGINES: &[&dyn Engine] = &[&super::sqlite::engine::Sqlite, &super::postgres::engine::Postgres];

/// Every engine.
pub fn all() -> &'static [&'static dyn Engine] {
    ENGINES
}

/// The engine of a database location.
pub fn for_location(loc: &Location) -> &'static dyn Engine {
    ENGINES.iter().copied().find(|e| e.claims(loc)).expect("every location is claimed by one engine")
}

/// The engine that restores a backup format.
pub fn for_format(format: Format) -> &'static dyn Engine {
    ENGINES.iter().copied().find(|e| e.formats().contains(&format)).expect("every format belongs to one engine")
}

/// The engine of a kind.
pub fn for_kind(kind: EngineKind) -> &'static dyn Engine {
    ENGINES.iter().copied().find(|e| e.kind() == kind).expect("every kind has its engine")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_and_location_has_exactly_one_engine() {
        for f in [Format::Sqlite, Format::PgCustom, Format::PgDirectory, Format::PgTar, Format::PgPlain] {
            assert_eq!(ENGINES.iter().filter(|e| e.formats().contains(&f)).count(), 1, "{f:?}");
        }
        for s in ["shop.db", "postgres://u@h/db", "host=/tmp dbname=x"] {
            let loc = Location::parse(s);
            assert_eq!(ENGINES.iter().filter(|e| e.claims(&loc)).count(), 1, "{s}");
            assert_eq!(for_location(&loc).kind(), loc.engine());
        }
    }
}
