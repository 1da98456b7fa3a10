//! `lastgood scratch list|drop`: the scratch databases lastgood created on a PostgreSQL server
//! (those carrying its COMMENT mark), and dropping them. Databases without the mark are never
//! listed nor dropped here, and neither is a live one even if it carries the mark: the `--live`
//! database, and (with `--repo`) every database a catalogued backup names as its source (its
//! manifest's, on that server; its pg_dump archive's database name, on any server).

use serde::Serialize;

use crate::engine::{KeptDb, Location, ScratchDb, registry};
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
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List lastgood's scratch databases on the server.
    List,
    /// Drop one scratch database (by id or name), or all of them with --all.
    Drop {
        /// The id shown by `scratch list`, or the database name.
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
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let Some(live) = args.live.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(usage("`scratch` needs the PostgreSQL server")
            .hint("pass --live postgres://… or set LASTGOOD_LIVE")
            .into());
    };
    let server = Location::parse(live);
    let engine = registry::for_location(&server);
    match &args.action {
        Action::List => {
            let list = engine.scratch_list(&server)?;
            ctx.out.emit(&list.databases, |l| render_list(l, &list.server))?;
        }
        Action::Drop { id, all } => {
            let which = if *all { None } else { id.as_deref() };
            // Live databases are never dropped: --live itself, and the catalogued backups' sources.
            let sources = if ctx.repos.is_empty() {
                Vec::new()
            } else {
                crate::core::request::catalogued(&ctx.catalog()?).sources
            };
            let (dropped, kept) = engine.scratch_drop(&server, which, &sources)?;
            ctx.out.emit(&Dropped { dropped, kept }, |d| {
                let mut s: String = d.dropped.iter().map(|x| format!("dropped {}\n", x.database)).collect();
                for k in &d.kept {
                    s.push_str(&format!(
                        "kept {}: it carries the scratch mark but {}; lastgood never drops a live database\n",
                        k.database, k.reason
                    ));
                }
                if d.dropped.is_empty() && d.kept.is_empty() {
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
