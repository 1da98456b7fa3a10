//! Integration tests: one binary, one module per subcommand. Each test builds real databases and
//! backups (with the real `sqlite3` tool where the issue asks for it), runs the real `lastgood`
//! binary, and checks outcomes by querying the resulting files and parsing `--json`.

mod architecture;
mod backup;
mod bisect;
mod catalog;
mod common;
mod contract;
mod conventions;
mod demo;
mod diff;
mod drill;
mod history;
mod interrupt;
mod limits;
mod merge;
mod patch;
mod pg;
mod pgcluster;
mod picker;
mod progress;
mod promote;
mod prune;
mod restore;
mod revert;
mod schema_objects;
mod show;
mod triggers;
mod verify;
mod walarchive;
