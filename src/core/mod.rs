//! The engine-agnostic core: what lastgood does with backups and databases, written once over the
//! engines' `Database` trait. Nothing here prints: each function returns a `Serialize` value that
//! `cmd/` renders.
//!
//! - `catalog/`: every backup in every repository, with its facts and copies;
//! - `restore`, `promote`, `backup`, `snapshot`: restore into scratch, promote over live, backups
//!   and safety snapshots, asked of the engine registry (each engine's own are in `engine/`);
//!   `request`: what the core tells an engine about the catalog (`engine::BackupRef`, …);
//! - `diff`, `merge/`, `sqlgen`, `triggers`, `pair`, `spool`: comparing scratch with live and
//!   writing a chosen subset back; `revert/`: the three-way repair (base, damaged, live) that
//!   writes back only the incident's own cells, through merge's write transaction;
//! - `bisect`, `history`, `drill`, `verify`, `prune`: the other commands' logic;
//! - `incidents`: the transactions of a WAL archive that touched some tables, biggest first;
//! - `walarchive`: PostgreSQL's WAL archived into repositories (`archive_command`), and the lag
//!   of repositories that missed files;
//! - `lock`: the writer lock.
//!
//! Depends on the layers below only (`engine/`, `repo/`, `util/`, the leaf modules).

pub mod backup;
pub mod bisect;
pub mod catalog;
pub mod diff;
pub mod drill;
pub mod history;
pub mod incidents;
pub mod lock;
pub mod merge;
pub mod pair;
pub mod probe;
pub mod promote;
pub mod prune;
pub mod request;
pub mod restore;
pub mod revert;
pub mod snapshot;
pub mod spool;
pub mod sqlgen;
pub mod triggers;
pub mod verify;
pub mod walarchive;
