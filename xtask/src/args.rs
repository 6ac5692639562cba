//! Flag parsing on lexopt: every unknown flag or missing value is one clear line.

use std::ffi::OsString;

use anyhow::Result;
use harness::user_error;
pub use lexopt::Arg;

pub struct Args {
    parser: lexopt::Parser,
    command: String,
}

impl Args {
    pub fn from_env() -> Self {
        Self { parser: lexopt::Parser::from_env(), command: String::new() }
    }

    #[cfg(test)]
    pub fn from_vec(args: &[&str]) -> Self {
        Self { parser: lexopt::Parser::from_args(args.iter().copied()), command: String::new() }
    }

    /// The first free word: the subcommand.
    pub fn subcommand(&mut self) -> Result<Option<String>> {
        match self.parser.next()? {
            Some(Arg::Value(v)) => {
                self.command = v.to_string_lossy().into_owned();
                Ok(Some(self.command.clone()))
            }
            Some(Arg::Long("help")) | Some(Arg::Short('h')) => Ok(Some("help".into())),
            Some(other) => Err(user_error!("expected a command before {}; see cargo xtask --help", show(&other))),
            None => Ok(None),
        }
    }

    pub fn next(&mut self) -> Result<Option<Arg<'_>>> {
        Ok(self.parser.next()?)
    }

    /// The value of the flag just read, or a line saying it is missing.
    pub fn value(&mut self, flag: &str) -> Result<String> {
        let v: OsString = self
            .parser
            .value()
            .map_err(|_| user_error!("{flag} needs a value; see cargo xtask {} --help", self.command))?;
        Ok(v.to_string_lossy().into_owned())
    }
}

/// The line for a flag `cargo xtask <command>` does not take.
pub fn unexpected(command: &str, arg: Arg<'_>) -> anyhow::Error {
    user_error!("unknown flag {} for `cargo xtask {command}`; see cargo xtask {command} --help", show(&arg))
}

fn show(arg: &Arg<'_>) -> String {
    match arg {
        Arg::Long(l) => format!("--{l}"),
        Arg::Short(s) => format!("-{s}"),
        Arg::Value(v) => format!("`{}`", v.to_string_lossy()),
    }
}
