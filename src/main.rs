//! The `lastgood` binary: parse, run, report, exit.

use clap::Parser;

fn main() {
    let cli = lastgood::cli::Cli::parse();
    lastgood::interrupt::install();
    let code = match lastgood::run(cli) {
        Ok(code) => code,
        Err(err) => lastgood::report_error(&err),
    };
    std::process::exit(code);
}
