//! The `lastgood` binary: parse, run, report, exit. A panic is caught here and reported as one
//! `error: internal error: …` line with exit 70, like any other bug.

use clap::Parser;

fn main() {
    let cli = lastgood::cmd::Cli::parse();
    lastgood::interrupt::install();
    lastgood::install_panic_hook();
    let run = std::panic::AssertUnwindSafe(|| lastgood::simulated_internal_failure().and_then(|()| lastgood::run(cli)));
    let code = match std::panic::catch_unwind(run) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => lastgood::report_error(&err),
        Err(_) => lastgood::report_panic(),
    };
    std::process::exit(code);
}
