//! The kind platform's run as data: every command with its arguments, every file, every API
//! call, in order. `--dry-run` prints it; the real run executes the same steps.

use super::options::{CertMode, KindOptions, Registration};
use super::values::{CERTS_SECRET, FORGEJO_URL, forgejo_values, kind_config, runner_values};

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
    Wait { what: String, deadline_secs: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub phase: &'static str,
    pub why: String,
    pub action: Action,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// What the harness sets beyond the configured values, said out loud.
    pub notes: Vec<String>,
}

const TOKEN: &str = "<registration token from the API>";
const PASSWORD: &str = "<generated admin password>";
const API_TOKEN: &str = "<API token>";

impl Plan {
    fn add(&mut self, phase: &'static str, why: impl Into<String>, action: Action) {
        self.steps.push(Step { phase, why: why.into(), action });
    }

    fn run(&mut self, phase: &'static str, why: impl Into<String>, argv: &[&str]) {
        self.add(phase, why, Action::Run(argv.iter().map(|s| s.to_string()).collect()));
    }

    /// The plan as text: numbered phases, commands as a shell would show them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut phase = "";
        for (i, s) in self.steps.iter().enumerate() {
            if s.phase != phase {
                phase = s.phase;
                out.push_str(&format!("\n## {phase}\n"));
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
                Action::Wait { what, deadline_secs } => {
                    out.push_str(&format!("    wait until {what} (deadline {deadline_secs}s)\n"))
                }
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
    let mut p = Plan::default();
    let v = &opts.versions;
    let ctx = format!("kind-{}", opts.cluster);

    p.run("preflight", format!("kind {} or newer", v.tools.kind), &["kind", "version"]);
    p.run("preflight", format!("helm {} or newer", v.tools.helm), &["helm", "version", "--short"]);
    p.run("preflight", format!("kubectl {} or newer", v.tools.kubectl), &["kubectl", "version", "--client"]);

    if opts.reuse {
        p.run(
            "cluster",
            format!("reuse cluster {} (fails if it does not exist)", opts.cluster),
            &["kind", "get", "kubeconfig", "--name", &opts.cluster],
        );
    } else {
        p.add(
            "cluster",
            "kind config: one node, pinned image",
            Action::File { path: "kind-config.yaml".into(), contents: kind_config(opts) },
        );
        p.run(
            "cluster",
            format!("create cluster {}", opts.cluster),
            &["kind", "create", "cluster", "--config", "kind-config.yaml", "--wait", "180s"],
        );
    }
    let node_image = opts.job_image.replacen("/job:", "/job-node:", 1);
    p.run(
        "cluster",
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
            "cluster",
            format!("preload {image} into the nodes (no registry pull)"),
            &["kind", "load", "docker-image", image, "--name", &opts.cluster],
        );
    }
    if opts.apply_sysctl {
        p.run(
            "cluster",
            "kind nodes share the host kernel: flip the user-namespace knob once, on the host (restored at the end)",
            &["cargo", "xtask", "sysctl", "--apply"],
        );
    }

    p.add(
        "forgejo",
        "Forgejo values (admin made by the chart, Actions on)",
        Action::File { path: "forgejo-values.yaml".into(), contents: forgejo_values(PASSWORD)? },
    );
    p.run(
        "forgejo",
        format!(
            "install Forgejo {} before the runner, so registration has an instance to reach",
            v.forgejo_chart.version
        ),
        &[
            "helm",
            "upgrade",
            "--install",
            "forgejo",
            &v.forgejo_chart.reference,
            "--version",
            &v.forgejo_chart.version,
            "--kube-context",
            &ctx,
            "--namespace",
            "forgejo",
            "--create-namespace",
            "--values",
            "forgejo-values.yaml",
            "--wait",
            "--timeout",
            "10m",
        ],
    );
    p.run(
        "forgejo",
        "reach Forgejo's HTTP service from the harness",
        &["kubectl", "--context", &ctx, "--namespace", "forgejo", "port-forward", "svc/forgejo-http", "0:3000"],
    );
    p.add(
        "forgejo",
        "Forgejo answers",
        Action::Wait { what: "GET /api/v1/version answers 200".into(), deadline_secs: 300 },
    );
    p.add(
        "forgejo",
        "an API token for the admin, by basic auth (token in `sha1`)",
        Action::Api {
            method: "POST",
            path: "/api/v1/users/e2e-admin/tokens".into(),
            body: Some(r#"{"name":"forgejo-e2e","scopes":["write:repository","write:admin","write:user"]}"#.into()),
        },
    );
    for name in &opts.scenarios {
        p.add(
            "forgejo",
            format!("repository for scenario {name} (public: job logs need no session)"),
            Action::Api {
                method: "POST",
                path: "/api/v1/user/repos".into(),
                body: Some(format!(r#"{{"name":"{name}","private":false,"auto_init":false,"default_branch":"main"}}"#)),
            },
        );
    }

    let ns = ["--context", ctx.as_str(), "--namespace", "runners"];
    p.run("runner", "the runner namespace", &["kubectl", "--context", &ctx, "create", "namespace", "runners"]);
    match opts.registration {
        Registration::Token => p.add(
            "runner",
            "an instance-wide registration token",
            Action::Api { method: "GET", path: "/api/v1/admin/runners/registration-token".into(), body: None },
        ),
        Registration::OfflineSecret => {
            p.run(
                "runner",
                "register the runner on Forgejo's side with a shared secret",
                &[
                    "kubectl",
                    "--context",
                    &ctx,
                    "--namespace",
                    "forgejo",
                    "exec",
                    "deploy/forgejo",
                    "--",
                    "forgejo",
                    "forgejo-cli",
                    "actions",
                    "register",
                    "--secret",
                    "<40 hex>",
                    "--name",
                    &format!("{}-runner", opts.cluster),
                    "--labels",
                    "self-hosted,default",
                ],
            );
            p.run(
                "runner",
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
                    FORGEJO_URL,
                    "--secret",
                    "<40 hex>",
                    "--name",
                    &format!("{}-runner", opts.cluster),
                ],
            );
            p.run(
                "runner",
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
        "runner",
        "delete a .runner Secret left by an earlier install (helm.sh/resource-policy: keep)",
        &[&["kubectl"][..], &ns[..], &["delete", "secret", "runner-forgejo-runner-config", "--ignore-not-found"]]
            .concat(),
    );
    if opts.certs == CertMode::Harness {
        p.add(
            "runner",
            "the harness's TLS set as a Secret (rendered with its keys at run time)",
            Action::File { path: "dind-certs-secret.yaml".into(), contents: secret_outline() },
        );
        p.run("runner", "apply it", &[&["kubectl"][..], &ns[..], &["apply", "-f", "dind-certs-secret.yaml"]].concat());
    }
    let (values, notes) = runner_values(opts, TOKEN);
    p.notes = notes;
    p.add(
        "runner",
        "runner chart values: the configured runner configuration, key by key",
        Action::File { path: "runner-values.yaml".into(), contents: serde_yaml::to_string(&values)? },
    );
    let chart = &opts.chart;
    p.run(
        "runner",
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
        "runner",
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
    p.add(
        "runner",
        "the runner pod is Ready and its DIND answers over TLS",
        Action::Wait { what: "pod app.kubernetes.io/name=forgejo-runner Ready".into(), deadline_secs: 300 },
    );
    p.add(
        "runner",
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
        "runner",
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

    for name in &opts.scenarios {
        p.run(
            "scenarios",
            format!("push scenario {name}'s workspace (its workflow starts on push)"),
            &[
                "git",
                "-C",
                &format!("workspaces/{name}"),
                "push",
                &format!("http://e2e-admin:{API_TOKEN}@127.0.0.1:<port>/e2e-admin/{name}.git"),
                "HEAD:main",
            ],
        );
        p.add("scenarios", format!("the run of {name} for the pushed commit reaches a final status"), Action::Wait { what: format!("GET /api/v1/repos/e2e-admin/{name}/actions/tasks shows head_sha's run success|failure|cancelled|skipped"), deadline_secs: 900 });
        p.add(
            "scenarios",
            format!("the job log of {name}, for the same checks as on Docker"),
            Action::Api {
                method: "GET",
                path: format!("/e2e-admin/{name}/actions/runs/<run>/jobs/0/logs"),
                body: None,
            },
        );
    }

    p.run(
        "diagnosis",
        "on failure: runner and DIND logs, pod description, events",
        &[&["kubectl"][..], &ns[..], &["logs", "deploy/runner-forgejo-runner", "--all-containers", "--prefix"]]
            .concat(),
    );
    p.run(
        "diagnosis",
        "on failure: pod description",
        &[&["kubectl"][..], &ns[..], &["describe", "pod", "-l", "app.kubernetes.io/name=forgejo-runner"]].concat(),
    );
    p.run(
        "diagnosis",
        "on failure: events",
        &[&["kubectl"][..], &ns[..], &["get", "events", "--sort-by=.lastTimestamp"]].concat(),
    );

    if opts.apply_sysctl {
        p.run("cleanup", "put the host's user-namespace knob back", &["cargo", "xtask", "sysctl", "--restore"]);
    }
    if opts.keep || opts.reuse {
        p.run(
            "cleanup",
            "keep the cluster (--keep or --reuse); remove the runner release only",
            &["helm", "uninstall", "runner", "--kube-context", &ctx, "--namespace", "runners"],
        );
    } else {
        let why = if opts.keep_on_failure {
            "delete the cluster (kept instead if the run failed: --keep-on-failure)"
        } else {
            "delete the cluster"
        };
        p.run("cleanup", why, &["kind", "delete", "cluster", "--name", &opts.cluster]);
    }
    Ok(p)
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
    let diagnosis: Vec<Step> = p.steps.iter().filter(|s| s.phase == "diagnosis").cloned().collect();
    p.steps.retain(|s| s.phase != "cleanup" && s.phase != "diagnosis");
    let ctx = format!("kind-{}", opts.cluster);
    let ns = ["--context", ctx.as_str(), "--namespace", "runners"];
    let chart = &opts.chart;
    let from = opts.chart_version.as_str();
    let mut extra = vec!["--values", "runner-values.yaml"];
    if let Some(v) = to_values {
        p.add(
            "upgrade",
            format!("values {to} needs on top of the same values"),
            Action::File { path: "runner-values-to.yaml".into(), contents: serde_yaml::to_string(v)? },
        );
        extra.extend(["--values", "runner-values-to.yaml"]);
    }
    for (version, file) in [(from, "rendered-from.yaml"), (to, "rendered-to.yaml")] {
        p.run(
            "upgrade",
            format!("render chart {version} (to {file}) for the A/B report: runner config.yaml and pod spec"),
            &[&["helm", "template", "runner", chart, "--version", version, "--namespace", "runners"][..], &extra[..]]
                .concat(),
        );
    }
    p.run(
        "upgrade",
        "the runner's identity before: .runner in the chart's Secret",
        &[
            &["kubectl"][..],
            &ns[..],
            &["get", "secret", "runner-forgejo-runner-config", "-o", "jsonpath={.data.\\.runner}"],
        ]
        .concat(),
    );
    p.run(
        "upgrade",
        "queue a job that spans the upgrade (sleeps, then prints a marker)",
        &[
            "git",
            "-C",
            "workspaces/upgrade-queued",
            "push",
            &format!("http://e2e-admin:{API_TOKEN}@127.0.0.1:<port>/e2e-admin/upgrade-queued.git"),
            "HEAD:main",
        ],
    );
    p.run(
        "upgrade",
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
    p.add(
        "upgrade",
        "the upgraded runner pod is Ready",
        Action::Wait { what: "pod app.kubernetes.io/name=forgejo-runner Ready".into(), deadline_secs: 300 },
    );
    p.run(
        "upgrade",
        "the runner's identity after: the same .runner (no new registration)",
        &[
            &["kubectl"][..],
            &ns[..],
            &["get", "secret", "runner-forgejo-runner-config", "-o", "jsonpath={.data.\\.runner}"],
        ]
        .concat(),
    );
    p.add(
        "upgrade",
        "the job queued during the upgrade finished (success), or is reported with its status",
        Action::Wait {
            what: "GET /api/v1/repos/e2e-admin/upgrade-queued/actions/tasks shows a final status".into(),
            deadline_secs: 900,
        },
    );
    for name in &opts.scenarios {
        p.run(
            "upgrade",
            format!("scenario {name} again on {to}"),
            &["git", "-C", &format!("workspaces/{name}"), "commit", "--allow-empty", "-m", "after upgrade"],
        );
        p.add(
            "upgrade",
            "its run after the upgrade passes the same checks",
            Action::Wait {
                what: format!("the run of {name} for the new commit reaches a final status"),
                deadline_secs: 900,
            },
        );
    }
    p.steps.extend(diagnosis);
    p.run("cleanup", "delete the cluster", &["kind", "delete", "cluster", "--name", &opts.cluster]);
    Ok(p)
}
