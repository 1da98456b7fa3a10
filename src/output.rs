//! How results reach the operator: human text or `--json` on stdout, warnings and progress on
//! stderr.
//!
//! Invariants: with `--json`, stdout carries only JSON (one document, or JSON Lines for streams);
//! human text never goes there. Progress bars draw only when stderr is a terminal and `--quiet` is
//! off, so logs and CI output stay clean.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// `--color`: whether stderr's `error:`, `warning:`, `hint:` and `note:` labels are colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal, `NO_COLOR` is unset or empty and `TERM` is not `dumb`.
    Auto,
    Always,
    Never,
}

static COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Decides, once per run, whether labels are colored (`NO_COLOR`: <https://no-color.org>).
pub fn set_color(choice: ColorChoice) {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    COLOR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A stderr label (`error`, `warning`, `hint`, `note`) with its colon, colored when `set_color`
/// said so: bold red, yellow, cyan, dim.
pub fn label(name: &str) -> String {
    if !COLOR.load(std::sync::atomic::Ordering::Relaxed) {
        return format!("{name}:");
    }
    let code = match name {
        "error" => "1;31",
        "warning" => "33",
        "hint" => "36",
        _ => "2",
    };
    format!("\x1b[{code}m{name}:\x1b[0m")
}

/// The global output settings, shared by every command.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl Output {
    /// Prints `value` as pretty JSON when `--json` is on, else the human rendering.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
        let text = if self.json {
            let mut s = serde_json::to_string_pretty(value)?;
            s.push('\n');
            s
        } else {
            human(value)
        };
        write_stdout(&text)
    }

    /// Human-only text on stdout (skipped under `--json`).
    pub fn say(&self, text: &str) -> anyhow::Result<()> {
        if self.json {
            return Ok(());
        }
        write_stdout(text)
    }

    /// A warning on stderr (hidden by `--quiet`).
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("{} {text}", label("warning"));
        }
    }

    /// A note on stderr: something left out on purpose, not a problem (hidden by `--quiet`).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{} {text}", label("note"));
        }
    }

    /// A note on stderr shown only with `-v`.
    pub fn debug(&self, text: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{text}");
        }
    }

    fn progress_visible(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// A byte-count progress bar on stderr (hidden when not wanted).
    pub fn bytes_bar(&self, total: u64, message: &str) -> ProgressBar {
        self.bar(total, message, "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    }

    /// A count progress bar on stderr (rows, backups, …).
    pub fn count_bar(&self, total: u64, message: &str) -> ProgressBar {
        self.bar(total, message, "{msg} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}")
    }

    /// A row-count progress bar on stderr, with the rate and the time left.
    pub fn rows_bar(&self, total: u64, message: &str) -> ProgressBar {
        self.bar(total, message, "{msg} [{bar:30}] {human_pos}/{human_len} rows {per_sec} eta {eta}")
    }

    /// A spinner for work of unknown length.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.progress_visible() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn bar(&self, total: u64, message: &str, template: &str) -> ProgressBar {
        if !self.progress_visible() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_message(message.to_string());
        bar
    }
}

/// Writes to stdout; a closed pipe (`lastgood catalog | head`) ends quietly with exit 0.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => Ok(other?),
    }
}

/// `1234567` → `1.2 MB`, for human tables.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A compact age: `42s`, `5m`, `3h12m`, `2d4h`.
pub fn human_age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds();
    if s < 0 {
        return "in the future".to_string();
    }
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A plain text table with a header row, columns left-aligned and padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r.clone());
    }
    let mut s = String::new();
    for line in t.to_string().lines() {
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}
