//! lastgood: point-in-time restore for databases.
//!
//! `main.rs` parses the command line and calls `run`; each subcommand lives in `cmd/`, over an
//! engine-agnostic core (`core/`: the catalog, restore, diff, merge, …), the engines behind one
//! trait (`engine/`, one folder per engine), the repositories (`repo/`) and leaf helpers
//! (`util/`, and the small modules beside this file: values, rows, time, output, errors, exit
//! codes, redaction, interrupts, external sort).
//!
//! Layers, lowest first; a module uses its own layer and those below, never one above, and no
//! two modules import each other, at any level (checked by `tests/cli/architecture.rs`):
//! 1. leaves: `value`, `rows`, `time`, `output`, `error`, `exit`, `redact`, `interrupt`, `sort`,
//!    `util/`;
//! 2. `repo/`: where backups are stored (the `Repository` trait; the local folder);
//! 3. `engine/`: the `Database`, `Engine` and `Source` traits, the registry, neutral types,
//!    `sqlite/`, `postgres/` (each engine's restore, promote, backup, safety snapshots and sources);
//! 4. `core/`: what works the same for every engine, asking the engine registry for the rest;
//! 5. `cmd/`: the command line and its rendering.

pub mod cmd;
pub mod core;
pub mod engine;
pub mod error;
pub mod exit;
pub mod interrupt;
pub mod output;
pub mod redact;
pub mod repo;
pub mod rows;
pub mod sort;
pub mod time;
pub mod util;
pub mod value;

use cmd::{Cli, Command};

/// Runs one parsed command line; returns the exit code for a completed command.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    output::set_color(cli.global.color);
    error::set_driver_kinds(engine::registry::error_kind);
    let ctx = cmd::Context::new(&cli.global)?;
    match &cli.command {
        Command::Catalog(a) => cmd::catalog::run(a, &ctx),
        Command::Show(a) => cmd::show::run(a, &ctx),
        Command::Restore(a) => cmd::restore::run(a, &ctx),
        Command::Verify(a) => cmd::verify::run(a, &ctx),
        Command::Scratch(a) => cmd::scratch::run(a, &ctx),
        Command::Diff(a) => cmd::diff::run(a, &ctx),
        Command::Merge(a) => cmd::merge::run(a, &ctx),
        Command::Revert(a) => cmd::revert::run(a, &ctx),
        Command::Promote(a) => cmd::promote::run(a, &ctx),
        Command::Bisect(a) => cmd::bisect::run(a, &ctx),
        Command::History(a) => cmd::history::run(a, &ctx),
        Command::Incidents(a) => cmd::incidents::run(a, &ctx),
        Command::Backup(a) => cmd::backup::run(a, &ctx),
        Command::Prune(a) => cmd::prune::run(a, &ctx),
        Command::Drill(a) => cmd::drill::run(a, &ctx),
        Command::Demo(a) => cmd::demo::run(a, &ctx),
        Command::Completions(a) => cmd::completions::run(a, &ctx),
        Command::Man(a) => cmd::completions::run_man(a, &ctx),
        Command::WalArchive(a) => cmd::wal_archive::run(a, &ctx),
    }
}

/// Prints an error as one line (`error: …` with its cause chain) plus an optional `hint:` line,
/// and returns its exit code. Passwords are redacted from the text. An error no one classified
/// (`error::Kind::Internal`) is a bug: it says `internal error`, with the panic that caused it
/// when a thread panicked, and exits 70.
pub fn report_error(err: &anyhow::Error) -> i32 {
    error::set_driver_kinds(engine::registry::error_kind);
    let kind = error::kind_of(err);
    let failure = error::classify(err);
    let mut line = format!("{err:#}");
    if kind == error::Kind::Internal {
        line = format!("internal error: {line}");
        if let Some(p) = take_panic() {
            line.push_str(&format!(" (panic: {p})"));
        }
    }
    eprintln!("{} {}", output::label("error"), redact::in_text(&line).replace('\n', " "));
    match failure.and_then(|f| f.hint.as_deref()) {
        Some(hint) => eprintln!("{} {hint}", output::label("hint")),
        None if kind == error::Kind::Internal => eprintln!("{} {BUG_HINT}", output::label("hint")),
        None => {}
    }
    kind.exit_code()
}

const BUG_HINT: &str = "this is a bug in lastgood: please report it with the command that was run and this message";

/// The first panic of the process, as `message at file:line`, recorded by `install_panic_hook`.
static PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn take_panic() -> Option<String> {
    PANIC.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Replaces Rust's panic message (several lines, a backtrace note) by a record of the first
/// panic, which `report_panic` or `report_error` prints as one `error: internal error: …` line.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let mut first = PANIC.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(format!("{message}{at}"));
    }));
}

/// Reports a panic that reached `main` and returns its exit code: 70, except that stdout closed
/// early (`lastgood … | head`) is a success, as everywhere else.
pub fn report_panic() -> i32 {
    let panic = take_panic().unwrap_or_else(|| "a panic".to_string());
    if panic.contains("failed printing to stdout") && panic.contains("Broken pipe") {
        return exit::OK;
    }
    eprintln!("error: internal error: {}", redact::in_text(&panic).replace('\n', " "));
    eprintln!("hint: {BUG_HINT}");
    exit::INTERNAL
}

/// For the tests of the internal-error path only: `LASTGOOD_TEST_INTERNAL_FAILURE` = `panic`,
/// `thread-panic` or `error` makes the command fail that way before it starts.
#[doc(hidden)]
pub fn simulated_internal_failure() -> anyhow::Result<()> {
    match std::env::var("LASTGOOD_TEST_INTERNAL_FAILURE").as_deref() {
        Ok("panic") => panic!("simulated panic"),
        Ok("thread-panic") => std::thread::spawn(|| panic!("simulated panic in a thread"))
            .join()
            .map_err(|_| anyhow::anyhow!("a worker thread stopped")),
        Ok("error") => Err(anyhow::anyhow!("simulated invariant failure")),
        _ => Ok(()),
    }
}
