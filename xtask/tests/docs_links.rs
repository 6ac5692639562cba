//! The README and the pages under docs/ are what a newcomer reads first. A README that names
//! a file that no longer exists, or a `cargo xtask` command that was renamed, misleads them
//! and nobody notices: these tests check that every relative link points to something that
//! exists and every `cargo xtask <command>` shown is one the binary has. They also keep the
//! README a five-minute read (under 12 000 bytes) and every docs page reachable from it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A README a newcomer reads in five minutes; the rest belongs in docs/.
const README_MAX_BYTES: u64 = 12_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> PathBuf {
    root().join("README.md")
}

/// docs/*.md, sorted.
fn docs_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("read docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    pages
}

/// README.md and docs/*.md.
fn pages() -> Vec<PathBuf> {
    std::iter::once(readme()).chain(docs_pages()).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A page's path as the reader knows it (`docs/ci.md`).
fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The targets of a page's relative links, `](path)` or `](path#anchor)`, without the
/// anchor; web links and links to an anchor of the same page are left out.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or_default().to_string())
        .filter(|path| !path.is_empty() && !path.starts_with("http://") && !path.starts_with("https://"))
        .collect()
}

/// The `<word>` of every `cargo xtask <word>` a page shows, also across a line break
/// (`cargo xtask <command>` and `cargo xtask --help` name no command).
fn xtask_commands(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0].ends_with("cargo") && w[1] == "xtask")
        .map(|w| w[2].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>())
        .filter(|word| !word.is_empty() && !word.starts_with('-'))
        .collect()
}

/// The commands `cargo xtask --help` lists, one per line under `commands:`.
fn subcommands() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("--help").output().expect("run xtask --help");
    assert!(out.status.success(), "xtask --help failed: {}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8(out.stdout).expect("--help prints UTF-8");
    let commands: Vec<String> = help
        .lines()
        .skip_while(|line| !line.starts_with("commands:"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(commands.contains(&"e2e".to_string()), "no command list in --help:\n{help}");
    commands
}

#[test]
fn relative_links_point_to_files_that_exist() {
    let mut broken = Vec::new();
    for page in pages() {
        let folder = page.parent().expect("a page is in a folder");
        for link in relative_links(&read(&page)) {
            if !folder.join(&link).exists() {
                broken.push(format!("{}: ]({link})", shown(&page)));
            }
        }
    }
    assert!(broken.is_empty(), "links to files that do not exist:\n{}", broken.join("\n"));
}

#[test]
fn every_cargo_xtask_command_shown_exists() {
    let commands = subcommands();
    let mut unknown = Vec::new();
    for page in pages() {
        for word in xtask_commands(&read(&page)) {
            if !commands.contains(&word) {
                unknown.push(format!("{}: cargo xtask {word}", shown(&page)));
            }
        }
    }
    assert!(unknown.is_empty(), "commands `cargo xtask --help` does not list ({commands:?}):\n{}", unknown.join("\n"));
}

#[test]
fn readme_is_a_five_minute_read() {
    let bytes = std::fs::metadata(readme()).expect("README.md").len();
    assert!(bytes < README_MAX_BYTES, "README.md is {bytes} bytes; move detail into docs/ (limit {README_MAX_BYTES})");
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let linked: Vec<PathBuf> =
        relative_links(&read(&readme())).iter().filter_map(|link| root().join(link).canonicalize().ok()).collect();
    let orphans: Vec<String> = docs_pages()
        .into_iter()
        .filter(|page| !linked.contains(&page.canonicalize().expect("a docs page")))
        .map(|page| shown(&page))
        .collect();
    assert!(orphans.is_empty(), "docs pages the README does not link to: {orphans:?}");
}

/// The files and folders ARCHITECTURE.md names in backticks: `harness/src/run.rs`,
/// `render.rs`, `dialect/` (a name with an extension of the tree's, or ending in `/`).
fn named_files(text: &str) -> Vec<String> {
    const KINDS: [&str; 7] = [".rs", ".toml", ".yaml", ".yml", ".md", ".sh", "/"];
    // Files of a run, not of this tree: the runner's configuration.
    const AT_RUN_TIME: [&str; 1] = ["config.yaml"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| !t.is_empty() && !t.starts_with('/') && !t.contains(['<', '*', '{', ' ', ':', '$']))
        .filter(|t| !AT_RUN_TIME.contains(t))
        .filter(|t| KINDS.iter().any(|k| t.ends_with(k)))
        .map(str::to_string)
        .collect()
}

/// Every file and folder of the tree (`a/b/`, `a/b/c.rs`), build output and Git left out.
fn tree() -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches!(name.as_str(), "target" | ".git") {
                continue;
            }
            let path = format!("{rel}{name}");
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(format!("{path}/"));
                walk(&entry.path(), &format!("{path}/"), out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), "", &mut out);
    out
}

/// ARCHITECTURE.md is where a newcomer finds where a change belongs: every file it names
/// must exist (as a path, or as the end of one: `forge/dialect/` for `dialect/`) and every
/// `cargo xtask` command it shows must be one the binary has.
#[test]
fn architecture_names_files_and_commands_that_exist() {
    let text = read(&root().join("ARCHITECTURE.md"));
    let tree = tree();
    let missing: Vec<String> = named_files(&text)
        .into_iter()
        .filter(|name| !tree.iter().any(|p| p == name || p.ends_with(&format!("/{name}"))))
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names files that do not exist: {missing:?}");
    let commands = subcommands();
    let unknown: Vec<String> = xtask_commands(&text).into_iter().filter(|w| !commands.contains(w)).collect();
    assert!(unknown.is_empty(), "ARCHITECTURE.md shows commands `cargo xtask --help` does not list: {unknown:?}");
}

#[test]
fn the_parsers_find_what_a_page_shows() {
    let text = "See [a](docs/a.md#x), [b](../b/) and [web](https://example.org), [here](#top).\n\
                Run `cargo\nxtask e2e --list`, `cargo xtask ci`; `cargo xtask <command> --help`; every `cargo xtask` call.";
    assert_eq!(relative_links(text), ["docs/a.md", "../b/"]);
    assert_eq!(xtask_commands(text), ["e2e", "ci"]);
    let named =
        "`harness/src/run.rs` and `render.rs` in `dialect/`; not `/certs`, `values-<ns>.yaml`, `forge::server`.";
    assert_eq!(named_files(named), ["harness/src/run.rs", "render.rs", "dialect/"]);
}
