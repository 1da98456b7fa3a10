//! Classified failures: each variant maps to one documented exit code (see `exit.rs`).
//!
//! Core code returns `anyhow::Result`, raising one of these at the place that knows what went
//! wrong, and callers add context with `.with_context(..)`. `main` walks the cause chain for the
//! first `Failure` to choose the exit code and the hint (`kind_of`). Without one, errors of the
//! outside world found in the chain are classified by their type: I/O errors, SQLite's own
//! failures (cannot open, busy, read-only, disk full, corrupt, …) and PostgreSQL client errors are
//! `Environment`, as they always were (the engines classify their drivers' errors, registered
//! here with `set_driver_kinds` since this layer knows no engine); data that does not convert (a
//! value of the wrong type, text that is not UTF-8, JSON that does not parse) is `BadInput`. What
//! is left is a bug in lastgood (an invariant that did not hold, a panic): `Internal`, exit 70,
//! never mistaken for a problem of the machine.

use crate::exit;

/// What kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    BadInput,
    Environment,
    Refused,
    Interrupted,
    /// A bug in lastgood: nothing outside it is known to be wrong.
    Internal,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Usage => exit::USAGE,
            Kind::BadInput => exit::BAD_INPUT,
            Kind::Environment => exit::ENVIRONMENT,
            Kind::Refused => exit::REFUSED,
            Kind::Interrupted => exit::INTERRUPTED,
            Kind::Internal => exit::INTERNAL,
        }
    }
}

/// A failure with a lowercase message naming the thing, and an optional hint saying what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Shorthands: `bad_input("…")`, `usage("…")`, … build an `anyhow::Error` carrying a `Failure`.
pub fn usage(message: impl Into<String>) -> Failure {
    Failure::new(Kind::Usage, message)
}
pub fn bad_input(message: impl Into<String>) -> Failure {
    Failure::new(Kind::BadInput, message)
}
pub fn environment(message: impl Into<String>) -> Failure {
    Failure::new(Kind::Environment, message)
}
pub fn refused(message: impl Into<String>) -> Failure {
    Failure::new(Kind::Refused, message)
}

/// The first `Failure` in an error's cause chain, if any.
pub fn classify(err: &anyhow::Error) -> Option<&Failure> {
    err.chain().find_map(|e| e.downcast_ref::<Failure>())
}

/// What kind of failure `err` is: its first `Failure`, else the kind of the first error of the
/// outside world in its chain (`foreign_kind`, with the engines' drivers as registered by
/// `set_driver_kinds`), else `Internal`.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    let drivers = DRIVER_KINDS.get().copied().unwrap_or(no_driver);
    kind_with(err, &drivers)
}

/// As `kind_of`, with the drivers' kinds from `drivers` (for tests of one engine's errors).
pub fn kind_with(err: &anyhow::Error, drivers: &dyn Fn(&(dyn std::error::Error + 'static)) -> Option<Kind>) -> Kind {
    match classify(err) {
        Some(f) => f.kind,
        None => err.chain().find_map(|e| drivers(e).or_else(|| foreign_kind(e))).unwrap_or(Kind::Internal),
    }
}

/// The kind of an error of a database driver, as the engines classify their own
/// (`engine::registry::error_kind`).
pub type DriverKinds = fn(&(dyn std::error::Error + 'static)) -> Option<Kind>;

static DRIVER_KINDS: std::sync::OnceLock<DriverKinds> = std::sync::OnceLock::new();

/// Registers how the engines' driver errors are classified (done once, by `lastgood::run` and
/// `report_error`; this layer knows no engine). Later calls are ignored.
pub fn set_driver_kinds(kinds: DriverKinds) {
    let _ = DRIVER_KINDS.set(kinds);
}

fn no_driver(_: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    None
}

/// Errors of the standard library and the leaf crates, by type. `None` for what only a bug in
/// lastgood produces (a statement with the wrong number of parameters, a query that was sure to
/// return a row).
fn foreign_kind(e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if e.is::<std::io::Error>() {
        return Some(Kind::Environment);
    }
    if let Some(e) = e.downcast_ref::<serde_json::Error>() {
        return Some(if e.is_io() { Kind::Environment } else { Kind::BadInput });
    }
    if e.is::<std::str::Utf8Error>() || e.is::<std::string::FromUtf8Error>() {
        return Some(Kind::BadInput);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_the_outside_world_keep_their_codes_and_the_rest_is_internal() {
        let io = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(kind_of(&io.context("writing `x`")), Kind::Environment);
        let not_json = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(kind_of(&anyhow::Error::from(not_json)), Kind::BadInput);
        // Drivers' errors are the engines' to classify (see `engine::registry::error_kind`).
        let driver = anyhow::Error::from(std::fmt::Error);
        assert_eq!(kind_with(&driver, &|e| e.is::<std::fmt::Error>().then_some(Kind::Environment)), Kind::Environment);
        assert_eq!(kind_with(&driver, &|_| None), Kind::Internal);
        let bug = anyhow::anyhow!("a batched read lost its row numbers");
        assert_eq!(kind_of(&bug).exit_code(), exit::INTERNAL);
        let classified = anyhow::Error::from(refused("no")).context(std::io::Error::other("x").to_string());
        assert_eq!(kind_of(&classified), Kind::Refused);
    }
}
