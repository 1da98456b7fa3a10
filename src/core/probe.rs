//! Probes as the core opens them: a catalogued backup made queryable by its engine
//! (`Engine::open_probe`, see `engine::probe`), for bisect, history and drill. The core decides
//! what a failure means for its command; the engine decides how a backup becomes queryable.

use anyhow::Result;

use crate::core::catalog::{Backup, Catalog};
use crate::core::request::{CatalogReader, catalogued};
use crate::engine::{BackupRef, Engine, Probe, ProbeMode, ProbeRequest, registry};
use crate::error::{Kind, usage};
use crate::output::Output;

/// What to probe with.
#[derive(Debug, Clone, Copy)]
pub struct ProbeWith<'a> {
    /// The scratch server (`--scratch-url`), for engines whose probes need one.
    pub server: Option<&'a str>,
    pub mode: ProbeMode,
}

/// Opens `backup` (one of `catalog`'s) for queries on `tables` (`None`: all). Errors: as
/// `Engine::open_probe`; `Usage` (`no_server`) when its engine needs a server and none is given.
pub fn open(
    catalog: &Catalog,
    backup: &Backup,
    tables: Option<Vec<String>>,
    with: ProbeWith<'_>,
    why: String,
    out: &Output,
) -> Result<Box<dyn Probe>> {
    let engine = engine_of(backup);
    if with.server.is_none() && engine.probe_needs_server() {
        return Err(no_server(backup));
    }
    let req = ProbeRequest {
        backup: BackupRef::from(backup),
        reader: CatalogReader::of(backup),
        tables,
        server: with.server,
        why,
        mode: with.mode,
        catalogued: catalogued(catalog),
    };
    engine.open_probe(req, out)
}

/// The engine of a backup.
pub fn engine_of(backup: &Backup) -> &'static dyn Engine {
    registry::for_format(backup.format)
}

/// Whether probing `backup` needs a scratch server.
pub fn needs_server(backup: &Backup) -> bool {
    engine_of(backup).probe_needs_server()
}

/// `Usage`: `backup` is checked by restoring it on a server, and none was given.
pub fn no_server(b: &Backup) -> anyhow::Error {
    usage(format!(
        "backup {} is a {}: checking it needs a server for scratch databases ({})",
        b.id,
        registry::source_for(b.format).name(),
        engine_of(b).name()
    ))
    .hint("pass --scratch-url URL (a scratch database is created there and dropped), or `server = \"…\"` in a drill config")
    .into()
}

/// Whether an error is the machine's or a server's (`Environment`), which every other backup
/// would meet too, rather than this backup's.
pub fn is_environment(e: &anyhow::Error) -> bool {
    crate::error::classify(e).is_some_and(|f| f.kind == Kind::Environment)
}
