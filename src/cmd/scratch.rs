//! `lastgood scratch list|drop`: the scratch databases lastgood created on a PostgreSQL server
//! (those carrying its COMMENT mark), and dropping them. Databases without the mark are never
//! listed nor dropped here, and neither is a live one even if it carries the mark: the `--live`
//! database, and (with `--repo`) every database a catalogued backup names as its source (its
//! manifest's, on that server; its pg_dump archive's database name, on any server).

use serde::Serialize;

use crate::engine::{KeptDb, Location, ScratchDb, ScratchFolder, registry};
use crate::error::usage;
use crate::output::{human_bytes, table};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
    /// The server (any database on it: URL or key=value; PG* variables fill the gaps).
    #[arg(long, value_name = "URL", env = "LASTGOOD_LIVE", global = true)]
    pub live: Option<String>,
    /// The scratch folder whose throwaway servers' folders (point-in-time recovery instances)
    /// are listed and dropped too (default: ./lastgood-scratch).
    #[arg(long, value_name = "DIR", env = "LASTGOOD_SCRATCH_DIR", global = true)]
    pub scratch_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List lastgood's scratch databases on the server.
    List,
    /// Drop one scratch database (by id or name) or a folder a killed run left, or all of them
    /// with --all.
    Drop {
        /// The id shown by `scratch list`, the database name, or a folder's name.
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Serialize)]
struct Dropped {
    dropped: Vec<ScratchDb>,
    /// Marked databases left alone because they are live.
    kept: Vec<KeptDb>,
    /// Folders of throwaway servers whose lastgood is gone, removed (in words).
    removed_folders: Vec<String>,
}

/// One line of `scratch list`: a database, or a throwaway server's folder.
#[derive(Serialize)]
#[serde(untagged)]
enum Listed {
    Database(ScratchDb),
    Folder(ScratchFolder),
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let Some(live) = args.live.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(usage("`scratch` needs the PostgreSQL server")
            .hint("pass --live postgres://… or set LASTGOOD_LIVE")
            .into());
    };
    let server = Location::parse(live);
    let engine = registry::for_location(&server);
    let dir = args.scratch_dir.clone().unwrap_or_else(|| std::path::PathBuf::from("lastgood-scratch"));
    match &args.action {
        Action::List => {
            let list = engine.scratch_list(&server)?;
            let folders: Vec<ScratchFolder> = registry::all().iter().flat_map(|e| e.scratch_folders(&dir)).collect();
            let listed: Vec<Listed> = (list.databases.iter().cloned().map(Listed::Database))
                .chain(folders.iter().cloned().map(Listed::Folder))
                .collect();
            ctx.out.emit(&listed, |_| render_list(&list.databases, &list.server) + &render_folders(&folders, &dir))?;
        }
        Action::Drop { id, all } => {
            let which = if *all { None } else { id.as_deref() };
            // Live databases are never dropped: --live itself, and the catalogued backups' sources.
            let sources = if ctx.repos.is_empty() {
                Vec::new()
            } else {
                crate::core::request::catalogued(&ctx.catalog()?).sources
            };
            let folder =
                which.filter(|w| registry::all().iter().any(|e| e.scratch_folders(&dir).iter().any(|f| f.id == *w)));
            let (dropped, kept) = match (which, folder) {
                (Some(_), Some(_)) => (Vec::new(), Vec::new()),
                _ => engine.scratch_drop(&server, which, &sources)?,
            };
            let removed_folders: Vec<String> = match (which, folder) {
                (None, _) | (_, Some(_)) => {
                    registry::all().iter().flat_map(|e| e.remove_scratch_folders(&dir, folder)).collect()
                }
                _ => Vec::new(),
            };
            if let Some(f) = folder
                && removed_folders.is_empty()
            {
                return Err(crate::error::refused(format!(
                    "`{}` belongs to a lastgood run that is still going; it is not removed",
                    dir.join(f).display()
                ))
                .hint("wait for it to end, or stop it (Ctrl-C cleans up after itself)")
                .into());
            }
            ctx.out.emit(&Dropped { dropped, kept, removed_folders }, |d| {
                let mut s: String = d.dropped.iter().map(|x| format!("dropped {}\n", x.database)).collect();
                for k in &d.kept {
                    s.push_str(&format!(
                        "kept {}: it carries the scratch mark but {}; lastgood never drops a live database\n",
                        k.database, k.reason
                    ));
                }
                for f in &d.removed_folders {
                    s.push_str(&format!("{f}\n"));
                }
                if d.dropped.is_empty() && d.kept.is_empty() && d.removed_folders.is_empty() {
                    s.push_str("no scratch databases to drop\n");
                }
                s
            })?;
        }
    }
    Ok(crate::exit::OK)
}

fn render_list(list: &[ScratchDb], server: &str) -> String {
    if list.is_empty() {
        return format!("no scratch databases on {server}\n");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| vec![s.id.clone(), s.database.clone(), human_bytes(s.size as u64), s.comment.clone()])
        .collect();
    table(&["ID", "DATABASE", "SIZE", "NOTE"], &rows)
}

fn render_folders(folders: &[ScratchFolder], dir: &std::path::Path) -> String {
    if folders.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = folders
        .iter()
        .map(|f| {
            let owner = if f.owner_running {
                format!("lastgood process {} is using it", f.owner_pid)
            } else {
                format!("left by lastgood process {}, which is gone: `scratch drop` removes it", f.owner_pid)
            };
            vec![f.id.clone(), human_bytes(f.size), owner]
        })
        .collect();
    format!("\nthrowaway servers' folders in `{}`:\n{}", dir.display(), table(&["ID", "SIZE", "NOTE"], &rows))
}
