//! The kind platform's run as data: every command with its arguments, every file, every API
//! call and every wait, in order, in typed phases. `--dry-run` prints it; an executor fills
//! its secrets ([`Plan::fill`]) and evaluates its waits ([`Wait`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::options::{CertMode, KindOptions, Registration};
use super::values::{CERTS_SECRET, InstallSecrets, kind_config, runner_values};
use crate::forge::dialect::{Dialect, Forgejo, Scope};
use crate::forge::server::{PASSWORD_ENV, ServerSpec};

/// The run id the plan names the forge's container and network with.
const RUN: &str = "<run id>";
/// The install's organisation: named after its namespace, as the run names it.
const ORG: &str = "runners";
/// A documentation address (RFC 5737) the plan's forge is built at, then shown as
/// [`Secret::ForgeAddress`].
const PLAN_BESIDE: std::net::SocketAddrV4 = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 1), 3000);

/// The phases of a kind run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Preflight,
    Cluster,
    Forgejo,
    Runner,
    Scenarios,
    /// A chart upgrade between the scenarios and their repetition.
    Upgrade,
    /// What is collected when something failed.
    Diagnosis,
    Cleanup,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Preflight => "preflight",
            Phase::Cluster => "cluster",
            Phase::Forgejo => "forgejo",
            Phase::Runner => "runner",
            Phase::Scenarios => "scenarios",
            Phase::Upgrade => "upgrade",
            Phase::Diagnosis => "diagnosis",
            Phase::Cleanup => "cleanup",
        }
    }
}

/// A value only the run knows: the plan holds its placeholder, printed as it is by
/// `--dry-run` and replaced by [`Plan::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Secret {
    /// Forgejo's runner registration token, from its API.
    RegistrationToken,
    /// The generated Forgejo admin password.
    AdminPassword,
    /// The admin's API token (basic auth made it).
    ApiToken,
    /// The 40-hex shared secret of an offline registration.
    RunnerSecret,
    /// The forge's address beside the cluster: the nodes' network gateway and a free port.
    ForgeAddress,
    /// The number of the run a push started.
    RunNumber,
}

impl Secret {
    pub const ALL: [Secret; 6] = [
        Secret::RegistrationToken,
        Secret::AdminPassword,
        Secret::ApiToken,
        Secret::RunnerSecret,
        Secret::ForgeAddress,
        Secret::RunNumber,
    ];

    /// How the plan shows it.
    pub fn placeholder(self) -> &'static str {
        match self {
            Secret::RegistrationToken => "<registration token from the API>",
            Secret::AdminPassword => "<generated admin password>",
            Secret::ApiToken => "<API token>",
            Secret::RunnerSecret => "<40 hex>",
            Secret::ForgeAddress => "<gateway>:<port>",
            Secret::RunNumber => "<run>",
        }
    }
}

/// A condition the run waits for, with its deadline: printed by the dry run, evaluated by
/// an executor (a pod's readiness with `kind::pod_state`, an answer of Forgejo's API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// `GET /api/v1/version` answers 200.
    ForgejoAnswers,
    /// The runner chart's pod is Ready.
    RunnerPodReady,
    /// The run of `repo` for the pushed commit has a final status.
    RunFinal { repo: String },
    /// The job queued before an upgrade has a final status.
    QueuedJobFinal,
    /// The run of `scenario` for the commit made after an upgrade has a final status.
    RunAfterUpgrade { scenario: String },
}

impl Wait {
    /// The pod selector of the chart's runner pod.
    pub const RUNNER_POD: &'static str = "app.kubernetes.io/name=forgejo-runner";

    pub fn deadline(&self) -> Duration {
        Duration::from_secs(match self {
            Wait::ForgejoAnswers | Wait::RunnerPodReady => 300,
            Wait::RunFinal { .. } | Wait::QueuedJobFinal | Wait::RunAfterUpgrade { .. } => 900,
        })
    }

    /// What is waited for, as the plan shows it.
    pub fn describe(&self) -> String {
        match self {
            Wait::ForgejoAnswers => "GET /api/v1/version answers 200".into(),
            Wait::RunnerPodReady => format!("pod {} Ready", Self::RUNNER_POD),
            Wait::RunFinal { repo } => format!(
                "GET /api/v1/repos/{ORG}/{repo}/actions/tasks shows head_sha's run success|failure|cancelled|skipped"
            ),
            Wait::QueuedJobFinal => {
                format!("GET /api/v1/repos/{ORG}/upgrade-queued/actions/tasks shows a final status")
            }
            Wait::RunAfterUpgrade { scenario } => {
                format!("the run of {scenario} for the new commit reaches a final status")
            }
        }
    }
}

/// One thing the run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A command and its arguments.
    Run(Vec<String>),
    /// `from | to`: the first command's stdout into the second's stdin.
    Pipe { from: Vec<String>, to: Vec<String> },
    /// A file the harness writes before the commands that read it.
    File { path: String, contents: String },
    /// A call to Forgejo's API (through a port-forward to its service).
    Api { method: &'static str, path: String, body: Option<String> },
    /// A condition waited for, with its deadline.
    Wait(Wait),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub phase: Phase,
    pub why: String,
    pub action: Action,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// What the harness sets beyond the configured values, said out loud.
    pub notes: Vec<String>,
}

/// The URL a scenario's workspace is pushed to (secrets as placeholders).
fn push_url(repo: &str) -> String {
    format!(
        "http://e2e-admin:{}@{}/{ORG}/{repo}.git",
        Secret::ApiToken.placeholder(),
        Secret::ForgeAddress.placeholder()
    )
}

impl Plan {
    fn add(&mut self, phase: Phase, why: impl Into<String>, action: Action) {
        self.steps.push(Step { phase, why: why.into(), action });
    }

    fn run(&mut self, phase: Phase, why: impl Into<String>, argv: &[&str]) {
        self.add(phase, why, Action::Run(argv.iter().map(|s| s.to_string()).collect()));
    }

    /// The plan with every secret's placeholder replaced by its value: what an executor
    /// runs. A placeholder without a value is an error naming it, never sent as it is.
    pub fn fill(&self, secrets: &BTreeMap<Secret, String>) -> anyhow::Result<Plan> {
        let fill = |text: &str| -> anyhow::Result<String> {
            let mut out = text.to_owned();
            for secret in Secret::ALL {
                if out.contains(secret.placeholder()) {
                    let value = secrets
                        .get(&secret)
                        .ok_or_else(|| anyhow::anyhow!("the plan needs {secret:?}, which the run has not made"))?;
                    out = out.replace(secret.placeholder(), value);
                }
            }
            Ok(out)
        };
        let all = |argv: &[String]| argv.iter().map(|a| fill(a)).collect::<anyhow::Result<Vec<_>>>();
        let mut steps = Vec::new();
        for step in &self.steps {
            let action = match &step.action {
                Action::Run(argv) => Action::Run(all(argv)?),
                Action::Pipe { from, to } => Action::Pipe { from: all(from)?, to: all(to)? },
                Action::File { path, contents } => Action::File { path: path.clone(), contents: fill(contents)? },
                Action::Api { method, path, body } => {
                    Action::Api { method, path: fill(path)?, body: body.as_deref().map(fill).transpose()? }
                }
                Action::Wait(w) => Action::Wait(w.clone()),
            };
            steps.push(Step { phase: step.phase, why: step.why.clone(), action });
        }
        let notes = self.notes.iter().map(|n| fill(n)).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Plan { steps, notes })
    }

    /// The plan as text: numbered phases, commands as a shell would show them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut phase = None;
        for (i, s) in self.steps.iter().enumerate() {
            if phase != Some(s.phase) {
                phase = Some(s.phase);
                out.push_str(&format!("\n## {}\n", s.phase.name()));
            }
            out.push_str(&format!("{:>2}. {}\n", i + 1, s.why));
            match &s.action {
                Action::Run(argv) => out.push_str(&format!("    $ {}\n", shell(argv))),
                Action::Pipe { from, to } => out.push_str(&format!("    $ {} | {}\n", shell(from), shell(to))),
                Action::File { path, contents } => {
                    out.push_str(&format!("    file {path}:\n"));
                    for line in contents.lines() {
                        out.push_str(&format!("      | {line}\n"));
                    }
                }
                Action::Api { method, path, body } => {
                    out.push_str(&format!("    {method} {path}\n"));
                    if let Some(b) = body {
                        out.push_str(&format!("      {b}\n"));
                    }
                }
                Action::Wait(wait) => out.push_str(&format!(
                    "    wait until {} (deadline {}s)\n",
                    wait.describe(),
                    wait.deadline().as_secs()
                )),
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\n## values the harness sets beyond the configured ones\n");
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out
    }
}

fn shell(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.is_empty() || a.contains([' ', '"', '\'', '|', '$', '<', '>', '{', '}']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole kind run, from preflight to cleanup. Paths are relative to `target/e2e/kind/`.
pub fn build_plan(opts: &KindOptions) -> anyhow::Result<Plan> {
    let c = Ctx {
        opts,
        ctx: format!("kind-{}", opts.cluster),
        node_image: opts.job_image.replacen("/job:", "/job-node:", 1),
    };
    let mut p = Plan::default();
    preflight(&mut p, &c)?;
    cluster(&mut p, &c)?;
    forgejo(&mut p, &c)?;
    runner(&mut p, &c)?;
    scenarios(&mut p, &c)?;
    diagnosis(&mut p, &c)?;
    cleanup(&mut p, &c)?;
    Ok(p)
}

/// What every phase of a plan reads: the options, the kube context, the job image with Node.js.
struct Ctx<'a> {
    opts: &'a KindOptions,
    ctx: String,
    node_image: String,
}

impl Ctx<'_> {
    /// kubectl's flags for the runner namespace.
    fn ns(&self) -> [&str; 4] {
        ["--context", self.ctx.as_str(), "--namespace", "runners"]
    }
}

/// The tools, at their pinned versions or newer.
fn preflight(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let v = &c.opts.versions;
    p.run(Phase::Preflight, format!("kind {} or newer", v.tools.kind), &["kind", "version"]);
    p.run(Phase::Preflight, format!("helm {} or newer", v.tools.helm), &["helm", "version", "--short"]);
    p.run(Phase::Preflight, format!("kubectl {} or newer", v.tools.kubectl), &["kubectl", "version", "--client"]);
    Ok(())
}

/// The cluster (made, or reused) with the images preloaded, and the host's sysctl.
fn cluster(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let opts = c.opts;
    if opts.reuse {
        p.run(
            Phase::Cluster,
            format!("reuse cluster {} (fails if it does not exist)", opts.cluster),
            &["kind", "get", "kubeconfig", "--name", &opts.cluster],
        );
    } else {
        p.add(
            Phase::Cluster,
            "kind config: one node, pinned image",
            Action::File { path: "kind-config.yaml".into(), contents: kind_config(opts) },
        );
        p.run(
            Phase::Cluster,
            format!("create cluster {}", opts.cluster),
            &["kind", "create", "cluster", "--config", "kind-config.yaml", "--wait", "180s"],
        );
    }
    let node_image = c.node_image.clone();
    p.run(
        Phase::Cluster,
        "the job image plus Node.js: forgejo-runner runs actions/checkout with node inside the job container",
        &[
            "docker",
            "build",
            "--build-arg",
            &format!("BASE={}", opts.job_image),
            "--tag",
            &node_image,
            "fixtures/images/job-node",
        ],
    );
    for image in [&opts.dind_image, &node_image] {
        p.run(
            Phase::Cluster,
            format!("preload {image} into the nodes (no registry pull)"),
            &["kind", "load", "docker-image", image, "--name", &opts.cluster],
        );
    }
    if opts.apply_sysctl {
        p.run(
            Phase::Cluster,
            "kind nodes share the host kernel: flip the user-namespace knob once, on the host (restored at the end)",
            &["cargo", "xtask", "sysctl", "--apply"],
        );
    }
    Ok(())
}

/// Forgejo beside the cluster, as the run starts it (`forge::server` with `beside`):
/// published on the kind nodes' network gateway at a free port, which is its URL; an admin
/// by its CLI, an API token, the install's organisation and a repository per scenario.
fn forgejo(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let (opts, v) = (c.opts, &c.opts.versions);
    let spec = forge_spec(opts);
    let at = Secret::ForgeAddress.placeholder();
    let here = |text: &str| text.replace(&PLAN_BESIDE.to_string(), at);
    p.run(
        Phase::Forgejo,
        "the kind nodes' network gateway (this host, seen from the nodes); the forge takes a free port on it",
        &[
            "docker",
            "inspect",
            &format!("{}-control-plane", opts.cluster),
            "--format",
            "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
        ],
    );
    p.run(Phase::Forgejo, "the run's network for the forge", &["docker", "network", "create", &spec.network()]);
    let body = spec.body();
    let mut argv: Vec<String> =
        ["docker", "run", "--detach", "--name", &spec.container(), "--network", &spec.network()]
            .map(str::to_owned)
            .to_vec();
    argv.extend(["--publish".to_owned(), format!("{at}:3000")]);
    for e in body.env.unwrap_or_default() {
        argv.extend(["--env".to_owned(), here(&e)]);
    }
    argv.push(spec.image.clone());
    let forge = v.real_images.forgejo.as_str();
    p.add(
        Phase::Forgejo,
        format!(
            "{forge} beside the cluster, as a team's forge lives outside the cluster its runners run in: pods reach it at that address through their node (app.ini from the environment)"
        ),
        Action::Run(argv),
    );
    p.add(Phase::Forgejo, "Forgejo answers", Action::Wait(Wait::ForgejoAnswers));
    let mut admin: Vec<String> =
        ["docker", "exec", "--user", "git", "--env", PASSWORD_ENV, &spec.container()].map(str::to_owned).to_vec();
    admin.extend(spec.admin_command());
    p.add(
        Phase::Forgejo,
        format!("the admin, by Forgejo's CLI ({PASSWORD_ENV} = the generated password)"),
        Action::Run(admin),
    );
    p.add(
        Phase::Forgejo,
        "an API token for the admin, by basic auth (token in `sha1`)",
        Action::Api {
            method: "POST",
            path: "/api/v1/users/e2e-admin/tokens".into(),
            body: Some(
                r#"{"name":"forgejo-e2e","scopes":["write:repository","write:admin","write:organization","write:user"]}"#
                    .into(),
            ),
        },
    );
    p.add(
        Phase::Forgejo,
        "the install's organisation (named after its namespace): its runner takes only its repositories' jobs",
        Action::Api { method: "POST", path: "/api/v1/orgs".into(), body: Some(format!(r#"{{"username":"{ORG}"}}"#)) },
    );
    for name in &opts.scenarios {
        p.add(
            Phase::Forgejo,
            format!("repository for scenario {name} (public: job logs need no session)"),
            Action::Api {
                method: "POST",
                path: format!("/api/v1/orgs/{ORG}/repos"),
                body: Some(format!(r#"{{"name":"{name}","private":false,"auto_init":false,"default_branch":"main"}}"#)),
            },
        );
    }
    Ok(())
}

/// The forge as the run would start it, at [`PLAN_BESIDE`] (the plan shows
/// [`Secret::ForgeAddress`] there).
fn forge_spec(opts: &KindOptions) -> ServerSpec {
    let spec = ServerSpec::new(&Forgejo, RUN, &opts.versions.real_images.forgejo, Secret::AdminPassword.placeholder());
    ServerSpec { beside: Some(PLAN_BESIDE), ..spec }
}

/// The forge's URL as the plan shows it.
fn forge_url() -> String {
    format!("http://{}", Secret::ForgeAddress.placeholder())
}

/// The runner's registration, its certificates, the chart rendered, checked and installed, DIND loaded.
fn runner(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let (opts, ctx) = (c.opts, c.ctx.clone());
    let ns = c.ns();
    let node_image = c.node_image.clone();
    p.run(Phase::Runner, "the runner namespace", &["kubectl", "--context", &ctx, "create", "namespace", "runners"]);
    match opts.registration {
        Registration::Token => {
            let (method, path) = Forgejo.registration_token(Scope::Org(ORG));
            p.add(
                Phase::Runner,
                "a registration token for the install's organisation (the chart registers with it)",
                Action::Api { method: if method == hyper::Method::POST { "POST" } else { "GET" }, path, body: None },
            )
        }
        Registration::OfflineSecret => {
            p.run(
                Phase::Runner,
                "register the runner on Forgejo's side with a shared secret",
                &[
                    "docker",
                    "exec",
                    "--user",
                    "git",
                    &forge_spec(opts).container(),
                    "forgejo",
                    "forgejo-cli",
                    "actions",
                    "register",
                    "--secret",
                    Secret::RunnerSecret.placeholder(),
                    "--name",
                    &format!("{}-runner", opts.cluster),
                    "--labels",
                    "self-hosted,default",
                ],
            );
            p.run(
                Phase::Runner,
                "make the matching .runner file offline",
                &[
                    "docker",
                    "run",
                    "--rm",
                    "-v",
                    "./:/out",
                    "code.forgejo.org/forgejo/runner:7.0.0",
                    "forgejo-runner",
                    "create-runner-file",
                    "--instance",
                    &forge_url(),
                    "--secret",
                    Secret::RunnerSecret.placeholder(),
                    "--name",
                    &format!("{}-runner", opts.cluster),
                ],
            );
            p.run(
                Phase::Runner,
                "the .runner as the chart's existingSecret",
                &[
                    "kubectl",
                    "--context",
                    &ctx,
                    "--namespace",
                    "runners",
                    "create",
                    "secret",
                    "generic",
                    &format!("{}-registration", opts.cluster),
                    "--from-file=.runner=.runner",
                ],
            );
        }
    }
    // The chart keeps `<fullname>-config` on uninstall: a stale .runner would point at a
    // Forgejo that no longer knows it.
    p.run(
        Phase::Runner,
        "delete a .runner Secret left by an earlier install (helm.sh/resource-policy: keep)",
        &[&["kubectl"][..], &ns[..], &["delete", "secret", "runner-forgejo-runner-config", "--ignore-not-found"]]
            .concat(),
    );
    if opts.certs == CertMode::Harness {
        p.add(
            Phase::Runner,
            "the harness's TLS set as a Secret (rendered with its keys at run time)",
            Action::File { path: "dind-certs-secret.yaml".into(), contents: secret_outline() },
        );
        p.run(
            Phase::Runner,
            "apply it",
            &[&["kubectl"][..], &ns[..], &["apply", "-f", "dind-certs-secret.yaml"]].concat(),
        );
    }
    let (values, notes) = runner_values(
        opts,
        &InstallSecrets::alone(&opts.cluster),
        &forge_url(),
        Secret::RegistrationToken.placeholder(),
    );
    p.notes = notes;
    p.add(
        Phase::Runner,
        "runner chart values: the configured runner configuration, key by key",
        Action::File { path: "runner-values.yaml".into(), contents: serde_yaml::to_string(&values)? },
    );
    let chart = &opts.chart;
    p.run(
        Phase::Runner,
        "render the chart and compare its config.yaml and pod with the intended ones (findings, never silently accepted)",
        &[
            "helm",
            "template",
            "runner",
            chart,
            "--version",
            &opts.chart_version,
            "--namespace",
            "runners",
            "--values",
            "runner-values.yaml",
        ],
    );
    p.run(
        Phase::Runner,
        format!("install the wrenix chart {}", opts.chart_version),
        &[&[
            "helm",
            "upgrade",
            "--install",
            "runner",
            chart,
            "--version",
            &opts.chart_version,
            "--kube-context",
            &ctx,
            "--namespace",
            "runners",
            "--values",
            "runner-values.yaml",
            "--wait",
            "--timeout",
            "5m",
        ][..]]
        .concat(),
    );
    p.add(Phase::Runner, "the runner pod is Ready and its DIND answers over TLS", Action::Wait(Wait::RunnerPodReady));
    p.add(
        Phase::Runner,
        "jobs' image into DIND's empty store (no registry pull, no rate limit)",
        Action::Pipe {
            from: vec!["docker".into(), "save".into(), node_image.clone()],
            to: [
                &["kubectl"][..],
                &ns[..],
                &["exec", "-i", "deploy/runner-forgejo-runner", "-c", "dind", "--", "docker", "load"],
            ]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        },
    );
    p.run(
        Phase::Runner,
        "bare labels run in node:22-bookworm: that name, inside DIND, is the job image (force_pull is false)",
        &[
            &["kubectl"][..],
            &ns[..],
            &[
                "exec",
                "deploy/runner-forgejo-runner",
                "-c",
                "dind",
                "--",
                "docker",
                "tag",
                &node_image,
                "node:22-bookworm",
            ],
        ]
        .concat(),
    );
    Ok(())
}

/// Each scenario pushed, its run waited for, its job log fetched.
fn scenarios(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let opts = c.opts;
    for name in &opts.scenarios {
        p.run(
            Phase::Scenarios,
            format!("push scenario {name}'s workspace (its workflow starts on push)"),
            &["git", "-C", &format!("workspaces/{name}"), "push", &push_url(name), "HEAD:main"],
        );
        p.add(
            Phase::Scenarios,
            format!("the run of {name} for the pushed commit reaches a final status"),
            Action::Wait(Wait::RunFinal { repo: name.clone() }),
        );
        p.add(
            Phase::Scenarios,
            format!("the job log of {name}, for the same checks as on Docker"),
            Action::Api {
                method: "GET",
                path: format!("/{ORG}/{name}/actions/runs/{}/jobs/0/logs", Secret::RunNumber.placeholder()),
                body: None,
            },
        );
    }
    Ok(())
}

/// What is collected when something failed.
fn diagnosis(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let ns = c.ns();
    p.run(
        Phase::Diagnosis,
        "on failure: runner and DIND logs, pod description, events",
        &[&["kubectl"][..], &ns[..], &["logs", "deploy/runner-forgejo-runner", "--all-containers", "--prefix"]]
            .concat(),
    );
    p.run(
        Phase::Diagnosis,
        "on failure: pod description",
        &[&["kubectl"][..], &ns[..], &["describe", "pod", "-l", "app.kubernetes.io/name=forgejo-runner"]].concat(),
    );
    p.run(
        Phase::Diagnosis,
        "on failure: events",
        &[&["kubectl"][..], &ns[..], &["get", "events", "--sort-by=.lastTimestamp"]].concat(),
    );
    Ok(())
}

/// The sysctl restored; the release or the cluster removed.
fn cleanup(p: &mut Plan, c: &Ctx) -> anyhow::Result<()> {
    let (opts, ctx) = (c.opts, c.ctx.clone());
    if opts.apply_sysctl {
        p.run(Phase::Cleanup, "put the host's user-namespace knob back", &["cargo", "xtask", "sysctl", "--restore"]);
    }
    if opts.keep || opts.reuse {
        p.run(
            Phase::Cleanup,
            "keep the cluster (--keep or --reuse); remove the runner release only",
            &["helm", "uninstall", "runner", "--kube-context", &ctx, "--namespace", "runners"],
        );
    } else {
        let why = if opts.keep_on_failure {
            "delete the cluster (kept instead if the run failed: --keep-on-failure)"
        } else {
            "delete the cluster"
        };
        p.run(Phase::Cleanup, why, &["kind", "delete", "cluster", "--name", &opts.cluster]);
    }
    Ok(())
}

/// The certificate Secret as the plan shows it: keys named, contents left out.
fn secret_outline() -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {CERTS_SECRET}\n  namespace: runners\n  labels:\n    app.kubernetes.io/managed-by: forgejo-e2e\ntype: Opaque\ndata:\n"
    );
    for (key, _) in crate::pki::SECRET_ITEMS_PATHS {
        s.push_str(&format!("  {key}: <base64 PEM, made by rcgen at run time>\n"));
    }
    s
}

/// The chart upgrade from `opts.chart_version` to `to`: install and test A, render A and B
/// and report the differences, queue a job, `helm upgrade` with the same values, then
/// assert the runner kept its registration, the queued job finished and the scenarios pass.
pub fn build_upgrade_plan(opts: &KindOptions, to: &str, to_values: Option<&serde_yaml::Value>) -> anyhow::Result<Plan> {
    let mut keep = opts.clone();
    keep.keep = true;
    let mut p = build_plan(&keep)?;
    // A's cleanup goes (the cluster lives on for B); diagnosis moves to the end.
    let diagnosis: Vec<Step> = p.steps.iter().filter(|s| s.phase == Phase::Diagnosis).cloned().collect();
    p.steps.retain(|s| s.phase != Phase::Cleanup && s.phase != Phase::Diagnosis);
    let ctx = format!("kind-{}", opts.cluster);
    let ns = ["--context", ctx.as_str(), "--namespace", "runners"];
    let chart = &opts.chart;
    let from = opts.chart_version.as_str();
    let mut extra = vec!["--values", "runner-values.yaml"];
    if let Some(v) = to_values {
        p.add(
            Phase::Upgrade,
            format!("values {to} needs on top of the same values"),
            Action::File { path: "runner-values-to.yaml".into(), contents: serde_yaml::to_string(v)? },
        );
        extra.extend(["--values", "runner-values-to.yaml"]);
    }
    for (version, file) in [(from, "rendered-from.yaml"), (to, "rendered-to.yaml")] {
        p.run(
            Phase::Upgrade,
            format!("render chart {version} (to {file}) for the A/B report: runner config.yaml and pod spec"),
            &[&["helm", "template", "runner", chart, "--version", version, "--namespace", "runners"][..], &extra[..]]
                .concat(),
        );
    }
    p.run(
        Phase::Upgrade,
        "the runner's identity before: .runner in the chart's Secret",
        &[
            &["kubectl"][..],
            &ns[..],
            &["get", "secret", "runner-forgejo-runner-config", "-o", "jsonpath={.data.\\.runner}"],
        ]
        .concat(),
    );
    p.run(
        Phase::Upgrade,
        "queue a job that spans the upgrade (sleeps, then prints a marker)",
        &["git", "-C", "workspaces/upgrade-queued", "push", &push_url("upgrade-queued"), "HEAD:main"],
    );
    p.run(
        Phase::Upgrade,
        format!("helm upgrade to {to} with the same values"),
        &[
            &[
                "helm",
                "upgrade",
                "runner",
                chart,
                "--version",
                to,
                "--kube-context",
                &ctx,
                "--namespace",
                "runners",
                "--wait",
                "--timeout",
                "5m",
            ][..],
            &extra[..],
        ]
        .concat(),
    );
    p.add(Phase::Upgrade, "the upgraded runner pod is Ready", Action::Wait(Wait::RunnerPodReady));
    p.run(
        Phase::Upgrade,
        "the runner's identity after: the same .runner (no new registration)",
        &[
            &["kubectl"][..],
            &ns[..],
            &["get", "secret", "runner-forgejo-runner-config", "-o", "jsonpath={.data.\\.runner}"],
        ]
        .concat(),
    );
    p.add(
        Phase::Upgrade,
        "the job queued during the upgrade finished (success), or is reported with its status",
        Action::Wait(Wait::QueuedJobFinal),
    );
    for name in &opts.scenarios {
        p.run(
            Phase::Upgrade,
            format!("scenario {name} again on {to}"),
            &["git", "-C", &format!("workspaces/{name}"), "commit", "--allow-empty", "-m", "after upgrade"],
        );
        p.add(
            Phase::Upgrade,
            "its run after the upgrade passes the same checks",
            Action::Wait(Wait::RunAfterUpgrade { scenario: name.clone() }),
        );
    }
    p.steps.extend(diagnosis);
    p.run(Phase::Cleanup, "delete the cluster", &["kind", "delete", "cluster", "--name", &opts.cluster]);
    Ok(p)
}
