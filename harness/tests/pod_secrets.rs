//! A real pod keeps its secrets: DIND's TCP socket is published on no host interface, no CA
//! private key exists in the runner container, the keys there are 0600, and removing the
//! pod leaves nothing behind.

use std::time::Duration;

use harness::docker::images::{ImageKind, planned_reference};
use harness::docker::{DindMode, Pod, PodSpec, count_managed, labels, probe_privilege};
use harness::pki::{self, PkiOptions};

#[tokio::test]
#[ignore = "needs a Docker engine and the images (cargo xtask images); cargo xtask ci runs it"]
async fn pod_publishes_nothing_and_holds_no_ca_key() {
    let docker = harness::docker::connect().await.expect("a Docker engine");
    let image = |k: ImageKind| planned_reference(k).expect("image");
    let run_id = format!("test{}", std::process::id());
    let privilege = probe_privilege(&docker, &image(ImageKind::Dind), &run_id).await.expect("probe");
    let tls = pki::generate(&PkiOptions::default()).expect("set");
    let (dind_image, job_image) = (image(ImageKind::Dind), image(ImageKind::Job));
    let spec = PodSpec {
        run_id: &run_id,
        scenario: "secrets",
        dind_image: &dind_image,
        runner_image: &job_image,
        mode: DindMode::Rootful,
        privilege,
        seccomp: None,
        tls: Some(&tls),
        certs_volume: None,
        data_volume: None,
        dind_args: Vec::new(),
        dind_entrypoint: None,
        data_tmpfs: None,
        network: None,
        runner_script: None,
    };
    // A DIND that dies while starting (seen once in CI, cause unknown; the error now
    // quotes its last log lines) says nothing about secrets: one more pod, said out loud.
    // The assertions below run only on a pod whose daemon answered.
    let mut attempt = 0;
    let (pod, checks) = loop {
        attempt += 1;
        let pod = Pod::create(&docker, &spec).await.expect("create");
        let checks = async {
            pod.start().await?;
            pod.wait_ready(Duration::from_secs(60)).await?;
            let dind = docker.inspect_container(&pod.dind, None).await?;
            let bindings = dind.host_config.and_then(|h| h.port_bindings).unwrap_or_default();
            anyhow::ensure!(bindings.is_empty(), "DIND publishes ports: {bindings:?}");
            let published = dind.network_settings.and_then(|n| n.ports).unwrap_or_default();
            anyhow::ensure!(published.values().all(|v| v.is_none()), "DIND's ports reach the host: {published:?}");
            let cmd = ["sh", "-c", "find /certs -name key.pem -printf '%p %m\\n' | sort; grep -rl 'PRIVATE KEY' /certs | sort"].map(String::from);
            let out = pod.exec_runner(&cmd, &[], None, Duration::from_secs(20)).await?;
            anyhow::ensure!(
                out.output == "/certs/client/key.pem 600\n/certs/server/key.pem 600\n/certs/client/key.pem\n/certs/server/key.pem\n",
                "keys in the runner container: {}",
                out.output
            );
            anyhow::Ok(())
        }
        .await;
        match checks {
            Err(e) if attempt == 1 && format!("{e:#}").contains("exited before its daemon answered") => {
                eprintln!("DIND died while starting, a second pod: {e:#}");
                pod.remove().await.expect("remove");
            }
            checks => break (pod, checks),
        }
    };
    pod.remove().await.expect("remove");
    let left = count_managed(&docker, labels::RUN, &run_id).await.expect("count");
    // The privilege probe and the pod are gone: nothing with this run's label remains.
    assert!(left.is_empty(), "left behind: {left:?}");
    checks.expect("the pod keeps its secrets");
}
