//! Reading values files: errors name the file, line and column, and an unknown key names
//! the closest valid one.

use std::path::{Path, PathBuf};

use super::ChartValues;

/// A values or config file the harness could not accept.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A key the runner or chart does not know (a typo, or a key of another version).
    #[error("{path}:{line}:{column}: unknown key `{key}`{hint}")]
    UnknownKey { path: PathBuf, line: usize, column: usize, key: String, hint: String },
    /// Malformed YAML or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
}

/// Reads and validates a chart values file.
pub fn load_values(path: &Path) -> Result<ChartValues, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse_values(path, &text)
}

/// Parses values text; `path` only labels errors.
pub fn parse_values(path: &Path, text: &str) -> Result<ChartValues, ConfigError> {
    serde_yaml::from_str(text).map_err(|e| classify(path, &e))
}

fn classify(path: &Path, err: &serde_yaml::Error) -> ConfigError {
    let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
    let message = err.to_string();
    // serde_yaml says: "a.b: unknown field `x`, expected one of `p`, `q` at line L column C"
    if let Some(rest) = message.split_once("unknown field `").map(|(_, r)| r) {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        let prefix = message.split(": unknown field").next().unwrap_or_default();
        let key = if prefix.is_empty() || prefix.starts_with("unknown field") {
            field.clone()
        } else {
            format!("{prefix}.{field}")
        };
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        let hint = match closest(&field, &expected) {
            Some(best) => format!("; did you mean `{best}`?"),
            None if expected.is_empty() => String::new(),
            None => format!("; valid keys here: {}", expected.join(", ")),
        };
        return ConfigError::UnknownKey { path: path.to_owned(), line, column, key, hint };
    }
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    ConfigError::Invalid { path: path.to_owned(), line, column, message }
}

/// The candidate within edit distance 3 of `word`, if one is clearly closest.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ChartValues, ConfigError> {
        parse_values(Path::new("v.yaml"), text)
    }

    #[test]
    fn unknown_key_names_path_position_and_closest_key() {
        let err = parse("runner:\n  config:\n    file:\n      container:\n        netwrk: host\n")
            .expect_err("typo must be rejected");
        assert_eq!(
            err.to_string(),
            "v.yaml:5:9: unknown key `runner.config.file.container.netwrk`; did you mean `network`?"
        );
    }

    #[test]
    fn unknown_top_level_key_lists_no_bogus_hint() {
        let err = parse("zzzzzzzzzz: 1\n").expect_err("unknown key");
        let text = err.to_string();
        assert!(text.starts_with("v.yaml:1:1: unknown key `zzzzzzzzzz`; valid keys here:"), "{text}");
    }

    #[test]
    fn malformed_yaml_names_line_and_column() {
        let err = parse("runner:\n  config: [unclosed\n").expect_err("malformed");
        let ConfigError::Invalid { line, .. } = err else { panic!("wrong kind: {err}") };
        assert!(line >= 2, "line {line}");
    }

    #[test]
    fn wrong_type_is_invalid_not_unknown() {
        let err =
            parse("runner:\n  config:\n    file:\n      runner:\n        capacity: many\n").expect_err("type error");
        assert!(matches!(err, ConfigError::Invalid { line: 5, .. }), "{err}");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("netwrk", "network"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
