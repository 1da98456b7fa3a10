//! lastgood: point-in-time restore for databases.
//!
//! `main.rs` parses the command line and calls `run`; each subcommand lives in `cmd/`, over an
//! engine-agnostic core (`catalog`, `restore`, …) and the engines behind one trait (`engine`).

pub mod backup;
pub mod bisect;
pub mod catalog;
pub mod cli;
pub mod cmd;
pub mod demo;
pub mod diff;
pub mod drill;
pub mod engine;
pub mod error;
pub mod exit;
pub mod history;
pub mod interrupt;
pub mod lock;
pub mod merge;
pub mod missing;
pub mod order;
pub mod output;
pub mod pair;
pub mod picker;
pub mod promote;
pub mod prune;
pub mod redact;
pub mod restore;
pub mod rows;
pub mod snapshot;
pub mod sort;
pub mod spool;
pub mod sqlgen;
pub mod time;
pub mod triggers;
pub mod value;
pub mod verify;

use cli::{Cli, Command};

/// Runs one parsed command line; returns the exit code for a completed command.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let ctx = cmd::Context::new(&cli.global);
    match &cli.command {
        Command::Catalog(a) => cmd::catalog::run(a, &ctx),
        Command::Show(a) => cmd::show::run(a, &ctx),
        Command::Restore(a) => cmd::restore::run(a, &ctx),
        Command::Verify(a) => cmd::verify::run(a, &ctx),
        Command::Scratch(a) => cmd::scratch::run(a, &ctx),
        Command::Diff(a) => cmd::diff::run(a, &ctx),
        Command::Merge(a) => cmd::merge::run(a, &ctx),
        Command::Promote(a) => cmd::promote::run(a, &ctx),
        Command::Bisect(a) => cmd::bisect::run(a, &ctx),
        Command::History(a) => cmd::history::run(a, &ctx),
        Command::Backup(a) => cmd::backup::run(a, &ctx),
        Command::Prune(a) => cmd::prune::run(a, &ctx),
        Command::Drill(a) => cmd::drill::run(a, &ctx),
        Command::Demo(a) => cmd::demo::run(a, &ctx),
    }
}

/// Prints an error as one line (`error: …` with its cause chain) plus an optional `hint:` line,
/// and returns its exit code. Passwords are redacted from the text.
pub fn report_error(err: &anyhow::Error) -> i32 {
    let failure = error::classify(err);
    let line = redact::in_text(&format!("{err:#}"));
    eprintln!("error: {}", line.replace('\n', " "));
    if let Some(hint) = failure.and_then(|f| f.hint.as_deref()) {
        eprintln!("hint: {hint}");
    }
    failure.map(|f| f.kind.exit_code()).unwrap_or(exit::ENVIRONMENT)
}
