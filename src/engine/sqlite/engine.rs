//! SQLite's entry in the engine registry (`engine::registry`): what the core may ask of it.

use anyhow::Result;

use crate::engine::{Access, Database, Engine, EngineKind, Format, Location};

/// The SQLite engine.
pub struct Sqlite;

impl Engine for Sqlite {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }

    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn claims(&self, loc: &Location) -> bool {
        matches!(loc, Location::Sqlite(_))
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::Sqlite]
    }

    fn open(&self, loc: &Location, access: Access) -> Result<Box<dyn Database>> {
        let Location::Sqlite(p) = loc else { unreachable!("the registry asks the engine that claims it") };
        Ok(Box::new(super::SqliteDb::open(p, access)?))
    }
}
