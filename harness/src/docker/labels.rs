//! Labels on everything the harness creates, so a crashed run can be swept by label.

use std::collections::HashMap;

/// On every container, volume and network the harness makes.
pub const MANAGED: &str = "io.forgejo-e2e.managed";
/// The run that made it (one `cargo xtask e2e` invocation).
pub const RUN: &str = "io.forgejo-e2e.run";
/// The scenario whose pod it belongs to.
pub const SCENARIO: &str = "io.forgejo-e2e.scenario";
/// On image-store volumes kept between runs (`--reuse`).
pub const CACHE: &str = "io.forgejo-e2e.cache";
/// On images the harness built: the input hash the tag derives from.
pub const INPUTS: &str = "io.forgejo-e2e.inputs";

pub fn for_pod(run: &str, scenario: &str) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), run.to_owned()),
        (SCENARIO.to_owned(), scenario.to_owned()),
    ])
}

/// A `label=` filter for list calls.
pub fn filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])])
}
