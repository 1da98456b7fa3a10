//! Classified failures: each variant maps to one documented exit code (see `exit.rs`).
//!
//! Core code returns `anyhow::Result`, raising one of these at the place that knows what went
//! wrong, and callers add context with `.with_context(..)`. `main` walks the cause chain for the
//! first `Failure` to choose the exit code and the hint (`kind_of`). Without one, errors of the
//! outside world found in the chain are classified by their type: I/O errors, SQLite's own
//! failures (cannot open, busy, read-only, disk full, corrupt, …) and PostgreSQL client errors are
//! `Environment`, as they always were; data that does not convert (a value of the wrong type, text
//! that is not UTF-8, JSON that does not parse) is `BadInput`. What is left is a bug in lastgood
//! (an invariant that did not hold, a panic): `Internal`, exit 70, never mistaken for a problem of
//! the machine.

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
/// outside world in its chain (`foreign_kind`), else `Internal`.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    match classify(err) {
        Some(f) => f.kind,
        None => err.chain().find_map(foreign_kind).unwrap_or(Kind::Internal),
    }
}

/// Errors of libraries and the OS, by type. `None` for what only a bug in lastgood produces
/// (a statement with the wrong number of parameters, a query that was sure to return a row).
fn foreign_kind(e: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    if e.is::<std::io::Error>() || e.is::<postgres::Error>() {
        return Some(Kind::Environment);
    }
    if let Some(e) = e.downcast_ref::<rusqlite::Error>() {
        use rusqlite::Error as E;
        return match e {
            E::SqliteFailure(..) | E::SqlInputError { .. } | E::InvalidPath(_) => Some(Kind::Environment),
            E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) | E::InvalidColumnType(..) => {
                Some(Kind::BadInput)
            }
            E::Utf8Error(..) | E::NulError(_) => Some(Kind::BadInput),
            _ => None,
        };
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
        let cantopen = rusqlite::Connection::open("/nonexistent-folder/x.db").unwrap_err();
        assert_eq!(kind_of(&anyhow::Error::from(cantopen).context("opening live")), Kind::Environment);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let no_row = conn.query_row("SELECT 1 WHERE 0", [], |r| r.get::<_, i64>(0)).unwrap_err();
        assert_eq!(kind_of(&anyhow::Error::from(no_row)), Kind::Internal);
        let not_text = conn.query_row("SELECT x'ff'", [], |r| r.get::<_, String>(0)).unwrap_err();
        assert_eq!(kind_of(&anyhow::Error::from(not_text)), Kind::BadInput);
        let bug = anyhow::anyhow!("a batched read lost its row numbers");
        assert_eq!(kind_of(&bug).exit_code(), exit::INTERNAL);
        let classified = anyhow::Error::from(refused("no")).context(std::io::Error::other("x").to_string());
        assert_eq!(kind_of(&classified), Kind::Refused);
    }
}
