//! Integration tests: one binary, one module per subcommand. Each test builds real databases and
//! backups (with the real `sqlite3` tool where the issue asks for it), runs the real `lastgood`
//! binary, and checks outcomes by querying the resulting files and parsing `--json`.

mod backup;
mod bisect;
mod catalog;
mod common;
mod demo;
mod diff;
mod drill;
mod history;
mod interrupt;
mod limits;
mod merge;
mod patch;
mod pg;
mod pgbatch;
mod pgcluster;
mod pgguard;
mod pgloose;
mod pgops;
mod pgpatch;
mod picker;
mod progress;
mod promote;
mod prune;
mod restore;
mod schema_objects;
mod show;
mod triggers;
mod verify;
