//! The command line: global flags (`GlobalOpts`), one subcommand per file in this folder, and
//! what every command gets (`Context`). Each command reads its flags, calls the core, and renders
//! the result as human text or `--json`. No command holds logic that another command needs.

pub mod backup;
pub mod bisect;
pub mod catalog;
pub mod completions;
pub mod demo;
pub mod diff;
pub mod drill;
pub mod history;
pub mod incidents;
pub mod merge;
pub mod picker;
pub mod promote;
pub mod prune;
pub mod restore;
pub mod revert;
pub mod scratch;
pub mod show;
pub mod verify;
pub mod wal_archive;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::core::catalog::Catalog;
use crate::core::diff::Selection;
use crate::output::Output;

/// `--version`: the package version and the commit built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("LASTGOOD_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "lastgood",
    version = VERSION,
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
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// Machine-readable JSON on stdout instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no warnings on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// More detail on stderr (repeat for more). Without it, LASTGOOD_LOG sets the level:
    /// `warn` (the default), `info` (as -v), `debug` (as -vv), `error` (warnings hidden).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// A repository of backups: a folder or a file:// URL (repeatable; LASTGOOD_REPO takes a
    /// colon-separated list, a `://` keeping its colon).
    #[arg(long = "repo", value_name = "DIR", global = true, env = "LASTGOOD_REPO")]
    pub repos: Vec<String>,
    /// Read times without an offset as UTC instead of local time.
    #[arg(long, global = true)]
    pub utc: bool,
    /// Color the `error:`, `warning:` and `hint:` labels on stderr: `auto` when stderr is a
    /// terminal and NO_COLOR is not set.
    #[arg(long, value_enum, global = true, default_value = "auto", value_name = "WHEN")]
    pub color: crate::output::ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an incident sandbox and walk through the recovery: catalog, bisect, restore, diff, merge.
    Demo(demo::Args),
    /// List the backups in every repository, oldest first, with tables and row counts.
    Catalog(catalog::Args),
    /// One backup in detail: copies, tables, row counts and schema.
    Show(show::Args),
    /// Restore a backup, whole or some tables, into a new scratch database.
    Restore(restore::Args),
    /// PostgreSQL scratch databases lastgood created: list them, drop them.
    Scratch(scratch::Args),
    /// Check backups: checksum against the manifest, decompression, header, integrity.
    Verify(verify::Args),
    /// Compare scratch with live: rows deleted, inserted and updated since the backup, per table.
    Diff(diff::Args),
    /// Put a chosen subset of the diff back into live, in one transaction, after a safety snapshot.
    Merge(merge::Args),
    /// Three-way repair: write back only the cells an incident changed (base → damaged) where live
    /// still holds the damaged value; every later write is kept, conflicts listed.
    Revert(revert::Args),
    /// Replace live by a scratch database as a whole, atomically, keeping the old live as a snapshot.
    Promote(promote::Args),
    /// Find the last known good backup: the newest one where a check query holds.
    Bisect(bisect::Args),
    /// Per backup, a table's row count and content checksum: where the damage shows up.
    History(history::Args),
    /// The transactions of the archived WAL that touched some tables, biggest first, with the
    /// `revert --txn` / `restore --before-txn` command for each (PostgreSQL, via pg_waldump).
    Incidents(incidents::Args),
    /// Take a consistent backup of live, with a manifest, into every repository given.
    Backup(backup::Args),
    /// Remove old backups by retention rules (never the newest verified one).
    Prune(prune::Args),
    /// Restore drill for CI: verify, restore and check the newest backup; RPO, RTO, JUnit.
    Drill(drill::Args),
    /// Archive one WAL file into the repositories, as PostgreSQL's archive_command:
    /// `lastgood wal-archive %p %f --repo DIR [--repo OFFSITE]`; never overwrites.
    WalArchive(wal_archive::Args),
    /// Print the shell completion script: `source <(lastgood completions bash)`.
    Completions(completions::Args),
    /// Print the manual page (`lastgood man | man -l -`), or write one per command with --dir.
    Man(completions::ManArgs),
}

/// What every command gets besides its own flags.
pub struct Context {
    pub out: Output,
    pub repos: Vec<PathBuf>,
    pub utc: bool,
    pub now: DateTime<Utc>,
}

impl Context {
    /// Errors: `Usage` for a repository URL whose scheme is not supported (`repo::location`).
    pub fn new(g: &GlobalOpts) -> anyhow::Result<Context> {
        let mut repos = Vec::new();
        for name in g.repos.iter().flat_map(|list| crate::repo::split_list(list)) {
            repos.push(crate::repo::location(&name)?);
        }
        let (quiet, verbose) = log_level(g, std::env::var("LASTGOOD_LOG").ok().as_deref())?;
        Ok(Context { out: Output { json: g.json, quiet, verbose }, repos, utc: g.utc, now: Utc::now() })
    }

    /// Scans the repositories, warning about files that look like backups but are not.
    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        let catalog = Catalog::scan(&self.repos, &self.out)?;
        for i in &catalog.ignored {
            self.out.debug(&format!("ignored `{}`: {}", i.path.display(), i.reason));
        }
        Ok(catalog)
    }
}

/// `--quiet`/`-v`, else `LASTGOOD_LOG`: (quiet, verbosity). Errors: `Usage` for a level that is
/// none of error, warn, info, debug, trace.
fn log_level(g: &GlobalOpts, env: Option<&str>) -> anyhow::Result<(bool, u8)> {
    if g.quiet || g.verbose > 0 {
        return Ok((g.quiet, g.verbose));
    }
    match env.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("warn") | Some("warning") => Ok((false, 0)),
        Some("error") | Some("off") => Ok((true, 0)),
        Some("info") => Ok((false, 1)),
        Some("debug") | Some("trace") => Ok((false, 2)),
        Some(other) => Err(crate::error::usage(format!("LASTGOOD_LOG=`{other}` is not a log level"))
            .hint("use error, warn, info or debug")
            .into()),
    }
}

/// The flags diff and merge share: which two databases, which tables and columns.
#[derive(Debug, clap::Args)]
pub struct PairArgs {
    /// The scratch database (the backup's data), e.g. made by `lastgood restore`.
    #[arg(long, value_name = "DB")]
    pub scratch: String,
    /// The live database.
    #[arg(long, value_name = "DB")]
    pub live: String,
    /// Only these tables (comma-separated; default: every table on both sides).
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub tables: Option<Vec<String>>,
    /// Only these columns (the primary key is always used); merge's `updated` writes back just these.
    #[arg(long, value_delimiter = ',', value_name = "C1,C2")]
    pub columns: Option<Vec<String>>,
    /// Match tables without a primary key by rowid (warning: VACUUM may renumber rowids).
    #[arg(long)]
    pub rowid: bool,
}

impl PairArgs {
    /// The selection these flags describe (`read_all_columns` for merge).
    pub fn selection(&self, read_all_columns: bool) -> Selection {
        Selection { tables: self.tables.clone(), columns: self.columns.clone(), rowid: self.rowid, read_all_columns }
    }
}
