//! One install of the runner chart at its place (see `place.rs`): its Secrets and values, `helm
//! upgrade --install` (or an upgrade to another chart), the pod waited for by condition
//! (a pod stuck pulling or crashing fails at once, naming the container and the kubelet's
//! reason), DIND answering over TLS, the job image in DIND's store and act beside the runner.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::place::Place;
use super::{KindPlatform, one_line};
use crate::config::{ChartValues, ImageValues};
use crate::failure::Reached;
use crate::fault::{Deadlines, MISSING_DIND_IMAGE, PodChange};
use crate::kind::{CertMode, ChartSource, PodState, pod_state, runner_values};
use crate::platform::pod::PodContainer;
use crate::process::{Output, run_with};
use crate::wait::{Poll, until};

/// How long `helm install` or `helm upgrade` may take, its hooks included.
pub(super) const HELM_INSTALL: Duration = Duration::from_secs(200);
/// How long a pod may take to become Ready when nothing is stuck.
const POD_READY: Duration = Duration::from_secs(180);
/// How long a pod may show a state the kubelet may clear by itself before it is stuck.
const MAY_CLEAR: Duration = Duration::from_secs(20);
/// A DIND image that never starts dockerd (the node has it for every pod sandbox).
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10.1";

/// A chart installed at its place and its Running pod.
pub(in crate::platform) struct Release {
    pub(in crate::platform) place: Place,
    pub(in crate::platform) pod: String,
    /// Seconds per step of getting here: helm, pod Ready, DIND answering, image load.
    pub(super) timings: Vec<(String, f64)>,
}

impl KindPlatform {
    /// Installs `chart` at `place` with the run's values (`values` for the runner's part)
    /// changed by `change`, and makes its pod ready to run jobs.
    pub(super) async fn install(
        &self,
        place: &Place,
        chart: &ChartSource,
        values: &ChartValues,
        change: PodChange,
        deadlines: Deadlines,
    ) -> Result<Release> {
        let t = Instant::now();
        self.kubectl().apply(&self.secrets_manifest(place, change)?).await?;
        let token = self.registration_token(place, values).await?;
        let values_path = self.write_values((place, ""), values, change, &token)?;
        let installed = self.helm(&["upgrade", "--install"], place, chart, &values_path).await;
        if !token.is_empty() {
            // They hold the registration token: not left beside the run's reports.
            let _ = std::fs::remove_file(&values_path);
        }
        installed?;
        let helm = t.elapsed().as_secs_f64();
        let mut release = self.ready(place, deadlines).await?;
        if !token.is_empty() {
            // Ready means the chart's registration ran and succeeded.
            self.reach(place, Reached::RunnerRegistered);
        }
        release.timings.insert(0, ("helm install".into(), helm));
        self.progress.say(format!(
            "{}: chart installed, pod {} ready in {:.1}s",
            place.release,
            release.pod,
            t.elapsed().as_secs_f64()
        ));
        Ok(release)
    }

    /// `helm upgrade` of the release at `place` to `chart` with `values`; then the (possibly
    /// new) pod made ready.
    pub(super) async fn upgrade(
        &self,
        place: &Place,
        chart: &ChartSource,
        values: &ChartValues,
        deadlines: Deadlines,
    ) -> Result<Release> {
        let t = Instant::now();
        let token = self.registration_token(place, values).await?;
        let values_path = self.write_values((place, "-to"), values, PodChange::default(), &token)?;
        self.helm(&["upgrade"], place, chart, &values_path).await?;
        // The Deployment's rollout, by condition: one pod left, Ready.
        let k = self.kubectl();
        let ns = place.namespace.as_str();
        let selector = place.selector();
        let args = ["--namespace", ns, "get", "deploy", "-l", &selector, "-o", "name"];
        let deployment = k.run(&args, Duration::from_secs(30)).await?.lines().next().map(str::to_owned);
        let deployment = deployment.with_context(|| format!("release {} has no Deployment", place.release))?;
        let status = ["--namespace", ns, "rollout", "status", deployment.as_str(), "--timeout=180s"];
        k.run(&status, Duration::from_secs(200)).await.context("the upgraded Deployment's rollout")?;
        let rollout = t.elapsed().as_secs_f64();
        let mut release = self.ready(place, deadlines).await?;
        release.timings.insert(0, ("helm upgrade to rolled out".into(), rollout));
        Ok(release)
    }

    async fn helm(&self, verb: &[&str], place: &Place, chart: &ChartSource, values: &std::path::Path) -> Result<()> {
        let mut args: Vec<String> = verb.iter().map(|s| s.to_string()).collect();
        args.extend([place.release.clone(), chart.reference.clone()]);
        if let Some(v) = &chart.version {
            args.extend(["--version".into(), v.clone()]);
        }
        args.extend(["--namespace", place.namespace.as_str(), "--timeout", "3m", "--values"].map(String::from));
        args.push(values.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = self.kubectl().helm(&self.helm, &args);
        let what = format!("helm {} {}", verb[0], chart.reference);
        let out = run_with(cmd, &what, HELM_INSTALL, None, |_| {}, Some(&self.progress)).await?;
        anyhow::ensure!(out.success, "{what}: {}", out.tail(2));
        Ok(())
    }

    /// The token the install at `place` registers its runner with: one for its own
    /// organisation on the run's forge, or the one a fault's values carry (a token the forge
    /// never issued); none for act.
    async fn registration_token(&self, place: &Place, values: &ChartValues) -> Result<String> {
        // Asked for either way: a registered runner's item repository goes where it is issued.
        let issued = self.delivery.registration_token(&place.release).await?;
        if !issued.is_empty() {
            self.reach(place, Reached::ForgeAnswered);
        }
        Ok(match issued.is_empty() {
            true => issued,
            false => values.runner.config.token.clone().unwrap_or(issued),
        })
    }

    /// The generated values for the install at `place`, written beside the run's reports as
    /// `values-<release><suffix>.yaml`.
    fn write_values(
        &self,
        (place, suffix): (&Place, &str),
        values: &ChartValues,
        change: PodChange,
        token: &str,
    ) -> Result<PathBuf> {
        let mut opts = self.kind_opts.clone();
        // The references the nodes pull (where the cluster's provider pushed the images).
        opts.dind_image = self.cluster.pull_ref(&opts.dind_image);
        opts.values = values.clone();
        if change.dind_never_starts {
            opts.dind_image = PAUSE_IMAGE.to_owned();
        }
        if change.dind_image_missing {
            opts.dind_image = MISSING_DIND_IMAGE.to_owned();
        }
        let (mut values, notes) = runner_values(&opts, &place.secrets(), crate::kind::NO_FORGE_YET, token);
        for n in notes.iter().filter(|n| n.starts_with("FINDING")) {
            self.progress.say(n);
        }
        self.delivery.shape_values(self, &place.release, &mut values);
        // The runner container: the runner's own image, registered by the chart; or the
        // harness's job image with the forgejo-runner stand-in.
        let runner_image = self.cluster.pull_ref(self.delivery.runner_image(&self.job_image));
        values.image = Some(ImageValues {
            pull_policy: Some("IfNotPresent".into()),
            ..ImageValues::from_reference(&runner_image)
        });
        // DIND's data root on an emptyDir: overlay2 instead of vfs on the container's root;
        // a size-limited tmpfs where the fault fills it.
        let data = match change.data_limit_mib {
            Some(mib) => {
                json!({"name": "fe2e-dind-data", "emptyDir": {"medium": "Memory", "sizeLimit": format!("{mib}Mi")}})
            }
            None => json!({"name": "fe2e-dind-data", "emptyDir": {}}),
        };
        values.volumes.get_or_insert_with(Vec::new).push(serde_yaml::to_value(data)?);
        let mount = json!({"name": "fe2e-dind-data", "mountPath": self.dind.data_dir()});
        values.volume_mounts.get_or_insert_with(Vec::new).push(serde_yaml::to_value(mount)?);
        let path = self.out_dir.join(format!("values-{}{suffix}.yaml", place.release));
        std::fs::write(&path, serde_yaml::to_string(&values)?)?;
        Ok(path)
    }

    /// The namespace (unless it is the user's), the TLS set as a Secret, and the `.runner`
    /// made offline as the chart's existingSecret (for act: no forge knows it).
    fn secrets_manifest(&self, place: &Place, change: PodChange) -> Result<String> {
        let labels = place.labels(&self.run_id);
        let (namespace, secrets) = (place.namespace.as_str(), place.secrets());
        let cluster = &self.kind_opts.cluster;
        let runner_file = json!({
            "WARNING": "made offline by forgejo-e2e for the forgejo-runner stand-in; no Forgejo knows it",
            "id": 1,
            "uuid": format!("00000000-0000-4000-8000-{:0>12}", self.run_id),
            "name": format!("{cluster}-runner"),
            "token": format!("{:0>40}", self.run_id),
            "address": crate::kind::NO_FORGE_YET,
            "labels": self.kind_opts.values.runner.config.file.labels(),
        });
        let registration =
            json!({".runner": crate::base64::encode(serde_json::to_string_pretty(&runner_file)?.as_bytes())});
        // The run's own namespace admits DIND's privileged container whatever the cluster's
        // Pod Security default is (the user's was checked to, by the preflight).
        let mut docs = Vec::new();
        if !place.theirs {
            let mut ns_labels =
                json!({"app.kubernetes.io/managed-by": "forgejo-e2e", "io.forgejo-e2e.run": self.run_id});
            ns_labels[crate::cluster::preflight::PSA_ENFORCE] = json!("privileged");
            docs.push(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": ns_labels}}),
            );
        }
        // A registered runner is registered by the chart, with a token.
        if self.kind_opts.registration == crate::kind::Registration::OfflineSecret {
            docs.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": secrets.registration, "namespace": namespace, "labels": labels},
                   "data": registration}));
        }
        // With --certs chart, DIND makes its own set in the pod: no Secret.
        if self.kind_opts.certs == CertMode::Harness {
            let made_at = time::OffsetDateTime::now_utc() - time::Duration::days(change.certs_age_days.unwrap_or(0));
            let certs = crate::pki::generate_at(&crate::pki::PkiOptions::default(), made_at)?;
            docs.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": secrets.certs, "namespace": namespace, "labels": labels},
                   "data": crate::pki::secret_data(&certs)}));
        }
        Ok(docs.iter().map(|d| format!("---\n{d}\n")).collect())
    }

    /// The chart's pod Ready, DIND answering the runner container over TLS, the job image in
    /// DIND's store and act beside the runner.
    pub(super) async fn ready(&self, place: &Place, deadlines: Deadlines) -> Result<Release> {
        let t = Instant::now();
        let pod = self.pod_ready(place).await?;
        // Ready: every container started from its image, the TLS set mounted.
        self.reach(place, Reached::RunnerImagePresent);
        self.reach(place, Reached::PodStarted);
        let mut release = Release { place: place.clone(), pod, timings: Vec::new() };
        release.timings.push(("pod Ready".into(), t.elapsed().as_secs_f64()));
        let t = Instant::now();
        let answers = self.dind_answers(&release, deadlines.dind_ready).await;
        answers
            .map_err(|e| crate::failure::when_timed_out(e, |after| crate::failure::Failed::DindNotReady { after }))?;
        self.reach(place, Reached::DindAnswered);
        release.timings.push(("DIND answers over TLS".into(), t.elapsed().as_secs_f64()));
        let t = Instant::now();
        self.stock(&release, deadlines).await?;
        release.timings.push(("image load into DIND, act".into(), t.elapsed().as_secs_f64()));
        Ok(release)
    }

    /// The newest pod of the release once Ready; a pod that cannot get there fails at once.
    async fn pod_ready(&self, place: &Place) -> Result<String> {
        let k = self.kubectl();
        let namespace = place.namespace.as_str();
        let selector = place.pods();
        let config_error_since = std::sync::OnceLock::new();
        let found = until("the chart's pod Ready", POD_READY, Duration::from_secs(2), || async {
            let pods = k.json(&["--namespace", namespace, "get", "pods", "-l", &selector]).await?;
            let live: Vec<&serde_json::Value> = pods["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .collect();
            let Some(pod) = live.iter().max_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or(""))
            else {
                return Ok(Poll::NotYet("no pod yet".into()));
            };
            let name = pod["metadata"]["name"].as_str().unwrap_or("?").to_owned();
            Ok(match pod_state(pod) {
                PodState::Ready => Poll::Ready(Ok(name)),
                PodState::Pending(seen) => Poll::NotYet(format!("pod {name}: {seen}")),
                // Stuck only once it has lasted: the kubelet retries what may clear.
                PodState::Stuck(s)
                    if s.may_clear() && config_error_since.get_or_init(Instant::now).elapsed() < MAY_CLEAR =>
                {
                    Poll::NotYet(format!("pod {name}: {s}"))
                }
                PodState::Stuck(s) => Poll::Ready(Err((name, s))),
            })
        })
        .await?;
        let (pod, stuck) = match found {
            Ok(name) => return Ok(name),
            Err(e) => e,
        };
        let events = k
            .run(
                &["--namespace", namespace, "get", "events", "--field-selector", &format!("involvedObject.name={pod}")],
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_default();
        let image = stuck.image.trim_start_matches("docker.io/");
        let hint = match self.cluster.kind_nodes() {
            _ if !stuck.reason.contains("Image") => String::new(),
            Some(kind) => format!(
                "; the image is not on the cluster's nodes and cannot be pulled from here: load it with kind load docker-image {image} --name {kind}"
            ),
            None => {
                format!("; the image is not on that node and it cannot pull it: make {image} pullable by the nodes")
            }
        };
        let message = if stuck.message.is_empty() { String::new() } else { format!(": {}", stuck.message) };
        let detail = format!("{message}{hint} (events: {})", one_line(&last_lines(&events, 3)));
        let crate::kind::Stuck { container, reason, image, .. } = stuck;
        Err(crate::failure::Failed::PodNeverReady { pod, container, image, reason, detail }.into())
    }

    async fn dind_answers(&self, r: &Release, deadline: Duration) -> Result<()> {
        let k = self.kubectl();
        let t = Instant::now();
        let version = until("DIND answers the runner container over TLS", deadline, Duration::from_secs(2), || async {
            let args = ["docker", "version", "--format", "{{.Server.Version}}"];
            Ok(match k.run(&self.cli_args(r, &args), Duration::from_secs(30)).await {
                Ok(v) => Poll::Ready(v.trim().to_owned()),
                Err(e) => Poll::NotYet(one_line(&format!("{e:#}"))),
            })
        })
        .await?;
        self.progress.say(format!(
            "pod {}: the runner container reaches DIND {version} ({}) over TLS after {:.1}s",
            r.pod,
            self.dind.name(),
            t.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// The job image into DIND's store unless it is there (an emptyDir outlives a restarted
    /// container, not a new pod), and act into the runner container.
    async fn stock(&self, r: &Release, deadlines: Deadlines) -> Result<()> {
        let t = Instant::now();
        let inspect = ["docker", "image", "inspect", "--format", "ok", self.job_image.as_str()];
        let present = self.kubectl().run(&self.cli_args(r, &inspect), Duration::from_secs(30)).await.is_ok();
        if !present {
            let image = self.image_bytes().await?;
            // kubectl's exec stream can drop a long upload on a busy machine (websocket i/o
            // timeout): one more try before giving up.
            let load = || self.exec_stdin(r, &["docker", "load"], image.clone(), deadlines.image_load);
            let mut loaded = load().await;
            if let Err(e) = &loaded
                && !format!("{e:#}").contains("no space left")
            {
                self.progress.say(format!(
                    "load {} into DIND: {}; trying once more",
                    self.job_image,
                    one_line(&format!("{e:#}"))
                ));
                loaded = load().await;
            }
            loaded.with_context(|| format!("load {} into DIND", self.job_image))?;
        }
        self.delivery.ready(&self.pod(r)).await?;
        let what = if present { "already in DIND" } else { "loaded into DIND" };
        self.progress.say(format!("{}: {what}: {:.1}s", self.job_image, t.elapsed().as_secs_f64()));
        Ok(())
    }

    /// `docker save` of the job image from the host engine, once per run.
    pub(super) async fn image_bytes(&self) -> Result<Vec<u8>> {
        use futures_util::StreamExt;
        let mut cached = self.image_tar.lock().await;
        if let Some(bytes) = cached.as_ref() {
            return Ok(bytes.clone());
        }
        let docker = crate::docker::connect().await?;
        let mut stream = docker.export_image(&self.job_image);
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.with_context(|| format!("docker save {}", self.job_image))?);
        }
        *cached = Some(bytes.clone());
        Ok(bytes)
    }

    /// `kubectl exec` arguments for the harness's docker CLI (`argv`) against DIND's TLS
    /// socket (in whichever container has one: see [`super::Delivery::cli_container`]).
    pub(super) fn cli_args<'a>(&self, r: &'a Release, argv: &[&'a str]) -> Vec<&'a str> {
        match self.delivery.cli_container() {
            PodContainer::Runner => exec_args(r, "runner", argv),
            // DIND's image has the CLI but not the chart's client environment.
            PodContainer::Dind => exec_args(r, "dind", &[&["env"][..], &crate::docker::RUNNER_ENV, argv].concat()),
        }
    }

    /// `kubectl exec -i` of the harness's docker CLI or tools (see [`Self::cli_args`]) with
    /// `stdin`.
    pub(super) async fn exec_stdin(
        &self,
        r: &Release,
        argv: &[&str],
        stdin: Vec<u8>,
        deadline: Duration,
    ) -> Result<Output> {
        let mut args = self.cli_args(r, argv);
        args.insert(args.iter().position(|a| *a == "exec").map_or(0, |i| i + 1), "-i");
        let out = run_with(self.kubectl().command(&args), "kubectl exec", deadline, Some(stdin), |_| {}, None).await?;
        anyhow::ensure!(out.success, "kubectl exec {}: {}", argv.join(" "), out.tail(3));
        Ok(out)
    }

    /// Removes what the install at `place` made (see [`super::place::remove`]).
    pub(super) async fn remove(&self, place: &Place) -> Result<()> {
        super::place::remove(self.kubectl(), Some(&self.helm), place).await
    }
}

/// `kubectl exec` arguments for `argv` in `container` of the release's pod.
pub(super) fn exec_args<'a>(r: &'a Release, container: &'a str, argv: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--namespace", r.place.namespace.as_str(), "exec", r.pod.as_str(), "-c", container, "--"];
    args.extend_from_slice(argv);
    args
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
