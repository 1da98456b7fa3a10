//! The engine-agnostic core: what lastgood does with backups and databases, written once over the
//! engines' `Database` trait. Nothing here prints: each function returns a `Serialize` value that
//! `cmd/` renders.
//!
//! - `catalog/`: every backup in every repository, with its facts and copies;
//! - `restore`, `promote`: SQLite's restore into scratch and promote over live (phase 2 of issue
//!   11 moves both behind the engine registry; PostgreSQL's are in `engine/postgres/`);
//! - `diff`, `merge/`, `sqlgen`, `triggers`, `pair`, `spool`: comparing scratch with live and
//!   writing a chosen subset back;
//! - `bisect`, `history`, `drill`, `verify`, `prune`, `backup`: the other commands' logic;
//! - `snapshot`, `lock`: the safety snapshot's name and undo command, the writer lock.
//!
//! Depends on the layers below only (`engine/`, `repo/`, `util/`, the leaf modules).

pub mod backup;
pub mod bisect;
pub mod catalog;
pub mod diff;
pub mod drill;
pub mod history;
pub mod lock;
pub mod merge;
pub mod pair;
pub mod promote;
pub mod prune;
pub mod restore;
pub mod snapshot;
pub mod spool;
pub mod sqlgen;
pub mod triggers;
pub mod verify;
