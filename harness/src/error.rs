//! Errors a user can fix: printed as one line with what to do, exit status 2.

/// A mistake or missing prerequisite on the user's side. The message says what is wrong
/// and what to do, in one line; the command line prints it without a backtrace.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Shorthand for returning a [`UserError`] from an `anyhow` function.
#[macro_export]
macro_rules! user_error {
    ($($arg:tt)*) => { ::anyhow::Error::from($crate::UserError(format!($($arg)*))) };
}
