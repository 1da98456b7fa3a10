//! PostgreSQL's entry in the engine registry (`engine::registry`): what the core may ask of it.

use anyhow::Result;

use crate::engine::{Access, Database, Engine, EngineKind, Format, Location};

/// The PostgreSQL engine.
pub struct Postgres;

impl Engine for Postgres {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }

    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn claims(&self, loc: &Location) -> bool {
        matches!(loc, Location::Postgres(_))
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::PgCustom, Format::PgDirectory, Format::PgTar, Format::PgPlain]
    }

    fn open(&self, loc: &Location, access: Access) -> Result<Box<dyn Database>> {
        let Location::Postgres(spec) = loc else { unreachable!("the registry asks the engine that claims it") };
        Ok(Box::new(super::PgDb::open_with(spec, access)?))
    }
}
