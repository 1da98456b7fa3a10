//! `lastgood completions bash|zsh|fish|powershell|elvish`: the shell completion script on stdout
//! (clap_complete, generated from the same definitions that parse the command line), and
//! `lastgood man [--dir DIR]`: the manual page (clap_mangen), on stdout or one page per
//! subcommand in DIR.

use std::path::PathBuf;

use clap::CommandFactory;

use super::{Cli, Context};
use crate::error::environment;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &Args, _ctx: &Context) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "lastgood", &mut std::io::stdout());
    Ok(crate::exit::OK)
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `lastgood.1` and `lastgood-<command>.1` for every subcommand into this folder
    /// instead of printing `lastgood.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run_man(args: &ManArgs, ctx: &Context) -> anyhow::Result<i32> {
    let cmd = Cli::command();
    let Some(dir) = &args.dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(crate::exit::OK);
    };
    std::fs::create_dir_all(dir).map_err(|e| environment(format!("cannot create `{}`: {e}", dir.display())))?;
    clap_mangen::generate_to(cmd, dir)
        .map_err(|e| environment(format!("writing pages into `{}`: {e}", dir.display())))?;
    ctx.out.debug(&format!("manual pages written into `{}`", dir.display()));
    Ok(crate::exit::OK)
}
