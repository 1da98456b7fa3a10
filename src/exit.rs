//! The documented exit codes of `lastgood`, one constant each.
//!
//! The README's "Exit codes" table mirrors this file; scripts and CI jobs rely on these numbers, so a
//! change here is a breaking change.

/// The command did what was asked and found nothing wrong.
pub const OK: i32 = 0;
/// The command ran, and its answer is "no": differences found, a check or verification failed, a
/// drill failed its bounds.
pub const FOUND: i32 = 1;
/// The command line is wrong: unknown flag, bad value, malformed time (clap uses 2 as well).
pub const USAGE: i32 = 2;
/// The input is unusable: corrupt, truncated or wrong-type backup, checksum mismatch, unknown table
/// or column, schema drift that blocks the operation, no backup matching the selector.
pub const BAD_INPUT: i32 = 3;
/// The environment is in the way: unreadable repository, missing tool, unreachable server, disk
/// full, permission denied.
pub const ENVIRONMENT: i32 = 4;
/// A safety rule refused the operation: target exists, target is live or a backup, live is in use,
/// another lastgood holds the lock. Nothing was written.
pub const REFUSED: i32 = 5;
/// A bug in lastgood (an unclassified error or a panic), as sysexits' `EX_SOFTWARE`: nothing
/// outside lastgood is known to be wrong. Reported as one `error: internal error: …` line.
pub const INTERNAL: i32 = 70;
/// Interrupted by Ctrl-C (SIGINT); nothing is left half-written.
pub const INTERRUPTED: i32 = 130;
