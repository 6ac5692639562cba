//! `cargo xtask`: the harness's command line. One module per subcommand.

mod args;
mod bench;
mod certs;
mod ci;
mod clean;
mod cluster;
mod doctor;
mod e2e;
mod e2e_options;
mod finish;
mod images;
mod kind;
#[cfg(test)]
mod negative_halves;
mod refusals;
mod scenarios;
mod sysctl;
mod theirs;
mod tools;
mod workflow_kinds;
mod workflows;

use std::process::ExitCode;

use args::Args;

const HELP: &str = "\
cargo xtask <command> [flags]

commands:
  e2e      run scenarios on a platform and write reports under target/e2e/
  images   build (or list with --list) the images the harness needs, without a registry
  certs    make a DIND TLS set with rcgen (--out DIR) or check one (--check DIR)
  doctor   can rootless DIND start here? kernel knobs, devices, cgroups, engine
  sysctl   check, apply or restore kernel.apparmor_restrict_unprivileged_userns=0
  tools    build (or list with --list) helm, kind and Kubernetes from their Go modules, pinned and cached
  cluster  the local kind cluster: up, down, status
  workflows  validate .forgejo/workflows with act and check their cargo xtask calls
  bench    where the time goes: cold and warm runs, min/median/max per phase
  clean    remove what crashed runs left (by label) and the --reuse image stores
  ci       run exactly what CI runs: fmt, clippy, tests, images, e2e
  help     this text; `cargo xtask <command> --help` describes a command
";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(Args::from_env())) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A mistake the user can fix exits 2; a failure of the harness or the system, 1.
            let user = e.chain().any(|c| c.is::<harness::UserError>());
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

async fn dispatch(mut args: Args) -> anyhow::Result<ExitCode> {
    let Some(command) = args.subcommand()? else {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    };
    match command.as_str() {
        "bench" => bench::run(args).await,
        "clean" => clean::run(args).await,
        "ci" => ci::run(args).await,
        "doctor" => doctor::run(args).await,
        "sysctl" => sysctl::run(args),
        "tools" => tools::run(args).await,
        "cluster" => cluster::run(args).await,
        "workflows" => workflows::run(args),
        "e2e" => e2e::run(args).await,
        "images" => images::run(args).await,
        "certs" => certs::run(args),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            Err(harness::user_error!("unknown command `{other}`; the commands are: {}", command_names().join(", ")))
        }
    }
}

/// A command's help text, for checking calls made elsewhere (workflows, docs).
pub fn help_of(command: &str) -> Option<&'static str> {
    Some(match command {
        "e2e" => e2e::HELP,
        "images" => images::HELP,
        "certs" => certs::HELP,
        "doctor" => doctor::HELP,
        "sysctl" => sysctl::HELP,
        "tools" => tools::HELP,
        "cluster" => cluster::HELP,
        "workflows" => workflows::HELP,
        "ci" => ci::HELP,
        "bench" => bench::HELP,
        "clean" => clean::HELP,
        _ => return None,
    })
}

/// Every subcommand, as HELP lists them (a test keeps the two in step).
fn command_names() -> Vec<&'static str> {
    HELP.lines()
        .skip_while(|l| !l.starts_with("commands:"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dispatcher_runs_every_command_help_lists() {
        assert_eq!(
            command_names(),
            [
                "e2e",
                "images",
                "certs",
                "doctor",
                "sysctl",
                "tools",
                "cluster",
                "workflows",
                "bench",
                "clean",
                "ci",
                "help"
            ]
        );
        for name in command_names() {
            // `--help` goes through the dispatcher into the command's own flag parsing.
            let code = dispatch(Args::from_vec(&[name, "--help"])).await;
            assert!(matches!(code, Ok(c) if c == ExitCode::SUCCESS), "{name} --help: {code:?}");
            assert!(name == "help" || help_of(name).is_some(), "{name} has no help");
        }
        let err = dispatch(Args::from_vec(&["deploy"])).await.expect_err("unknown");
        assert!(err.to_string().starts_with("unknown command `deploy`; the commands are: e2e, images"), "{err}");
    }

    #[tokio::test]
    async fn bad_input_is_one_user_error_line() {
        let bad_yaml = std::env::temp_dir().join(format!("fe2e-bad-values-{}.yaml", std::process::id()));
        std::fs::write(&bad_yaml, "runner:\n  config:\n    file:\n      container:\n        netwrk: host\n")
            .expect("write");
        let bad = bad_yaml.display().to_string();
        let unknown_key =
            format!("{bad}:5:9: unknown key `runner.config.file.container.netwrk`; did you mean `network`?");
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["images", "--bogus"], "unknown flag --bogus for `cargo xtask images`; see cargo xtask images --help"),
            (vec!["certs", "--days"], "--days needs a value; see cargo xtask certs --help"),
            (
                vec!["certs", "--out", "/x", "--check", "/y"],
                "--out and --check do not go together: make a set, or check one",
            ),
            (vec!["e2e", "--dind", "sideways"], "--dind is `rootful` or `rootless`, not `sideways`"),
            (
                vec!["e2e", "--scenario", "nope"],
                "unknown scenario `nope`; the scenarios are: docker-build, testcontainers",
            ),
            (
                vec!["e2e", "--workflow", "/no/such/workflow.yml"],
                "--workflow /no/such/workflow.yml: no such file or folder",
            ),
            (
                vec!["e2e", "--values", "/no/such/values.yaml"],
                "cannot read /no/such/values.yaml: No such file or directory",
            ),
            (vec!["e2e", "--values", &bad], &unknown_key),
            (vec!["e2e", "--dry-run"], "--dry-run prints the kind platform's plan: add --platform kind"),
            (vec!["e2e", "--platform", "kind", "--keep", "--keep-on-failure"], "--keep keeps everything already"),
            (vec!["e2e", "--upgrade-from", "a"], "--upgrade-from and --upgrade-to go together"),
            (
                vec!["e2e", "--platform", "kind", "--dry-run", "--upgrade-from", "/", "--upgrade-to", "0.4.38"],
                "--upgrade-from and --upgrade-to on kind are two chart versions (of --chart) or two chart directories",
            ),
            (vec!["e2e", "--chart", "x"], "--keep-on-failure, --chart, --chart-version and --allow-finding are for"),
            (
                vec!["e2e", "--platform", "kubernetes", "--cluster", "x"],
                "--registry-mirror, --node-image and --cluster are for",
            ),
            (
                vec!["e2e", "--kubeconfig", "x"],
                "--kubeconfig, --context, --namespace, --registry, --registry-ca, --forge-host and --dind-image are for",
            ),
            (
                vec!["e2e", "--platform", "kubernetes", "--forge-host", "forge.example"],
                "--forge-host is an IPv4 address",
            ),
            (vec!["e2e", "--platform", "kubernetes", "--registry-ca", "x"], "--registry-ca is the CA of a --registry"),
            (vec!["e2e", "--platform", "kubernetes", "--reuse"], "--reuse is not for --platform kubernetes"),
            (vec!["e2e", "--platform", "cloud"], "--platform is `docker`, `kind` or `kubernetes`"),
            (vec!["e2e", "--platform", "kind", "--render"], "--render goes with --dry-run"),
            (
                vec!["e2e", "--platform", "kind", "--dry-run", "--upgrade-matrix", "--chart", "/"],
                "--chart / is one version of the chart: render an upgrade from a chart reference",
            ),
            (vec!["cluster", "sideways"], "cargo xtask cluster takes up, down or status, not `sideways`"),
            (vec!["cluster", "up", "--name", "Bad_Name"], "--name `Bad_Name`: use lowercase letters"),
            (vec!["e2e", "--platform", "kind", "--jobs", "2", "--upgrade-matrix"], "--jobs does not go with upgrades"),
            (vec!["sysctl", "--check", "--apply"], "--check, --apply, --restore and --daemonset go one at a time"),
            (vec!["bench", "--cold", "--skip-cold"], "--cold measures only the cold runs"),
            (vec!["bench", "--platform", "kubernetes", "--cold"], "--cold is not for --platform kubernetes"),
        ];
        for (argv, want) in &cases {
            let mut args = Args::from_vec(argv);
            let command = args.subcommand().expect("subcommand").expect("some");
            let err = match command.as_str() {
                "images" => images::run(args).await.expect_err("rejected"),
                "certs" => certs::run(args).expect_err("rejected"),
                "sysctl" => sysctl::run(args).expect_err("rejected"),
                "cluster" => cluster::run(args).await.expect_err("rejected"),
                "bench" => bench::run(args).await.expect_err("rejected"),
                _ => e2e::run(args).await.expect_err("rejected"),
            };
            assert!(err.chain().any(|c| c.is::<harness::UserError>()), "{err:#}");
            assert!(err.to_string().starts_with(want), "{argv:?}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
        let _ = std::fs::remove_file(&bad_yaml);
    }
}
