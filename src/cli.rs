//! The command line: global flags and one subcommand per file under `src/cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "lastgood",
    version,
    about = "Point-in-time restore for databases: find the last known good backup, restore only the damaged tables into scratch, diff, and merge them back.",
    after_help = "Exit codes: 0 ok, 1 differences found / check failed, 2 usage error, 3 bad input, 4 environment error, 5 refused for safety, 70 internal error (a bug in lastgood), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Machine-readable JSON on stdout instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no warnings on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// More detail on stderr (repeat for more).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// A repository of backups (repeatable; LASTGOOD_REPO takes a colon-separated list).
    #[arg(long = "repo", value_name = "DIR", global = true, env = "LASTGOOD_REPO", value_delimiter = ':')]
    pub repos: Vec<PathBuf>,
    /// Read times without an offset as UTC instead of local time.
    #[arg(long, global = true)]
    pub utc: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an incident sandbox and walk through the recovery: catalog, bisect, restore, diff, merge.
    Demo(cmd::demo::Args),
    /// List the backups in every repository, oldest first, with tables and row counts.
    Catalog(cmd::catalog::Args),
    /// One backup in detail: copies, tables, row counts and schema.
    Show(cmd::show::Args),
    /// Restore a backup, whole or some tables, into a new scratch database.
    Restore(cmd::restore::Args),
    /// PostgreSQL scratch databases lastgood created: list them, drop them.
    Scratch(cmd::scratch::Args),
    /// Check backups: checksum against the manifest, decompression, header, integrity.
    Verify(cmd::verify::Args),
    /// Compare scratch with live: rows deleted, inserted and updated since the backup, per table.
    Diff(cmd::diff::Args),
    /// Put a chosen subset of the diff back into live, in one transaction, after a safety snapshot.
    Merge(cmd::merge::Args),
    /// Replace live by a scratch database as a whole, atomically, keeping the old live as a snapshot.
    Promote(cmd::promote::Args),
    /// Find the last known good backup: the newest one where a check query holds.
    Bisect(cmd::bisect::Args),
    /// Per backup, a table's row count and content checksum: where the damage shows up.
    History(cmd::history::Args),
    /// Take a consistent backup of live, with a manifest, into every repository given.
    Backup(cmd::backup::Args),
    /// Remove old backups by retention rules (never the newest verified one).
    Prune(cmd::prune::Args),
    /// Restore drill for CI: verify, restore and check the newest backup; RPO, RTO, JUnit.
    Drill(cmd::drill::Args),
}
