//! Promote, as the core asks for it: scratch replaces live as a whole, atomically, keeping the
//! previous live as a safety snapshot (or creating a live that does not exist yet), by the
//! engine of both (`Engine::plan_promote`: SQLite renames a file over live,
//! `engine/sqlite/promote.rs`; PostgreSQL renames databases, `engine/postgres/promote.rs`).
//!
//! Built in two steps like every write: `Engine::plan_promote` inspects scratch and live without writing (a dry
//! run prints it, with the refusal `--yes` would meet), `PromoteJob::execute` carries it out
//! under the writer lock of `Engine::lock_file` (`core::lock`), which the caller takes first.
//! Invariant (every engine's): at every instant live is either exactly the old live or exactly
//! scratch's content.

use anyhow::Result;

use crate::engine::{Engine, Location, PromoteRequest, registry};

/// The engine of scratch and live. Errors: `Usage` when they are not of one engine.
pub fn engine_of(req: &PromoteRequest) -> Result<&'static dyn Engine> {
    let of = |p: &std::path::Path| registry::for_location(&Location::parse(&p.to_string_lossy()));
    let (scratch, live) = (of(&req.scratch), of(&req.live));
    if scratch.kind() != live.kind() {
        return Err(crate::error::usage(
            "promote needs scratch and live on the same engine (both SQLite files or both PostgreSQL)",
        )
        .hint("restore the backup into a scratch of live's engine first")
        .into());
    }
    Ok(live)
}
