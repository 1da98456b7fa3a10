//! The engine registry: the one place that lists the engines and the sources, and picks one for a
//! location, a backup format or an engine kind. Outside `src/engine/`, code asks the registry
//! (`engine::registry::for_location(&loc).open(…)`, `registry::source_for(format).inspect(…)`)
//! and never names SQLite or PostgreSQL.
//!
//! The `Engine` trait itself sits in `engine/mod.rs`, beside `Database`; the `Source` trait in
//! `engine/source.rs`.
//!
//! Invariant: every `Location` and every `Format` is claimed by exactly one engine, and every
//! `Format` by exactly one source (checked by the tests below), so `for_location`, `for_format`
//! and `source_for` never fail.

use super::source::Source;
use super::{Engine, EngineKind, Format, Location};

/// Every engine lastgood has, in the order they are tried.
static ENGINES: &[&dyn Engine] = &[&super::sqlite::engine::Sqlite, &super::postgres::engine::Postgres];

/// Every source, in the order they are asked (`sniff`: the first that recognises a file wins).
/// The first is the default: the one whose words say a file is not a backup, and whose format a
/// backup has when neither content, name nor manifest tells.
static SOURCES: &[&dyn Source] = &[
    &super::sqlite::source::SqliteFile,
    &super::postgres::source::PgDump,
    &super::postgres::basebackup::PgBaseBackup,
    &super::postgres::pgbackrest::PgBackRest,
];

/// Every source.
pub fn sources() -> &'static [&'static dyn Source] {
    SOURCES
}

/// The source that reads a backup format.
pub fn source_for(format: Format) -> &'static dyn Source {
    SOURCES.iter().copied().find(|s| s.formats().contains(&format)).expect("every format belongs to one source")
}

/// The source of files nothing else claims (see `SOURCES`).
pub fn default_source() -> &'static dyn Source {
    SOURCES[0]
}

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

/// The engine whose write-ahead log archive `incidents` reads when no live database names one.
pub fn wal_reader() -> Option<&'static dyn Engine> {
    ENGINES.iter().copied().find(|e| e.reads_wal())
}

/// The kind of a driver's error, as the engine owning that driver classifies it
/// (`Engine::error_kind`; registered with `error::set_driver_kinds`).
pub fn error_kind(e: &(dyn std::error::Error + 'static)) -> Option<crate::error::Kind> {
    ENGINES.iter().find_map(|en| en.error_kind(e))
}

/// Whether `a` and `b` name one database (`Engine::same_database`); never across engines.
pub fn same_database(a: &Location, b: &Location) -> bool {
    let (ea, eb) = (for_location(a), for_location(b));
    ea.kind() == eb.kind() && ea.same_database(a, b)
}

/// The engines of some backup formats, each once, in registry order.
pub fn engines_of(formats: impl IntoIterator<Item = Format>) -> Vec<&'static dyn Engine> {
    let kinds: Vec<EngineKind> = formats.into_iter().map(|f| for_format(f).kind()).collect();
    ENGINES.iter().copied().filter(|e| kinds.contains(&e.kind())).collect()
}

/// Checks a scratch server (`--scratch-url`) with every engine whose probes need one, before any
/// probe. Errors: as `Engine::check_server`.
pub fn check_scratch_server(spec: &str) -> anyhow::Result<()> {
    ENGINES.iter().filter(|e| e.probe_needs_server()).try_for_each(|e| e.check_server(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_and_location_has_exactly_one_engine() {
        for f in [
            Format::Sqlite,
            Format::PgCustom,
            Format::PgDirectory,
            Format::PgTar,
            Format::PgPlain,
            Format::PgBase,
            Format::PgBackRest,
        ] {
            assert_eq!(ENGINES.iter().filter(|e| e.formats().contains(&f)).count(), 1, "{f:?}");
        }
        for s in ["shop.db", "postgres://u@h/db", "host=/tmp dbname=x"] {
            let loc = Location::parse(s);
            assert_eq!(ENGINES.iter().filter(|e| e.claims(&loc)).count(), 1, "{s}");
            assert_eq!(for_location(&loc).kind(), loc.engine());
        }
    }

    #[test]
    fn every_format_has_exactly_one_source() {
        for f in [
            Format::Sqlite,
            Format::PgCustom,
            Format::PgDirectory,
            Format::PgTar,
            Format::PgPlain,
            Format::PgBase,
            Format::PgBackRest,
        ] {
            assert_eq!(SOURCES.iter().filter(|s| s.formats().contains(&f)).count(), 1, "{f:?}");
        }
        // A source's formats are one engine's.
        for s in SOURCES {
            let kinds: Vec<EngineKind> = s.formats().iter().map(|f| for_format(*f).kind()).collect();
            assert!(kinds.windows(2).all(|w| w[0] == w[1]), "{}", s.name());
        }
    }
}
