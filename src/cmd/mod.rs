//! One module per subcommand: each reads its flags, calls the core, and renders the result as
//! human text or `--json`. No command holds logic that another command needs.

pub mod backup;
pub mod bisect;
pub mod catalog;
pub mod demo;
pub mod diff;
pub mod drill;
pub mod history;
pub mod merge;
pub mod promote;
pub mod prune;
pub mod restore;
pub mod scratch;
pub mod show;
pub mod verify;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::cli::GlobalOpts;
use crate::diff::Selection;
use crate::output::Output;

/// What every command gets besides its own flags.
pub struct Context {
    pub out: Output,
    pub repos: Vec<PathBuf>,
    pub utc: bool,
    pub now: DateTime<Utc>,
}

impl Context {
    pub fn new(g: &GlobalOpts) -> Context {
        Context {
            out: Output { json: g.json, quiet: g.quiet, verbose: g.verbose },
            repos: g.repos.iter().filter(|p| !p.as_os_str().is_empty()).cloned().collect(),
            utc: g.utc,
            now: Utc::now(),
        }
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
