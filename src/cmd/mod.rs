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
