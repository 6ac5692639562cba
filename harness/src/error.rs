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

/// A command's or an error's text as one line: its non-empty lines trimmed, joined by ` / `.
pub fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}
