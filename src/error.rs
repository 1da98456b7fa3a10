//! Classified failures: each variant maps to one documented exit code (see `exit.rs`).
//!
//! Core code returns `anyhow::Result`, raising one of these at the place that knows what went
//! wrong, and callers add context with `.with_context(..)`. `main` walks the cause chain for the
//! first `Failure` to choose the exit code and the hint; an unclassified error exits with
//! `ENVIRONMENT`.

use crate::exit;

/// What kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    BadInput,
    Environment,
    Refused,
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Usage => exit::USAGE,
            Kind::BadInput => exit::BAD_INPUT,
            Kind::Environment => exit::ENVIRONMENT,
            Kind::Refused => exit::REFUSED,
            Kind::Interrupted => exit::INTERRUPTED,
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
