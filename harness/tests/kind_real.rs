//! The kind platform's Forgejo for the real runner, started against stand-ins: `kubectl`
//! and `helm` are scripts that record their command lines (and the values file helm was
//! given, which is gone afterwards), `kubectl port-forward` "forwards" to the fake Forgejo.
//! What is checked: the order and words of every command, the values, the API calls the
//! fake saw (a token by basic auth, the checkout action pushed), and that a `forgejo`
//! namespace the run did not make is refused before anything is installed.

mod fake_forgejo;

use std::path::{Path, PathBuf};

use fake_forgejo::{fake_forgejo, forget};
use harness::Progress;
use harness::platform::kind::real::{ForgejoInstall, NAMESPACE};
use harness::process::Kubectl;

/// A directory with `kubectl` and `helm` stand-ins writing to `calls.log`; `namespaces` is
/// what `kubectl get namespaces` prints, `port` where the port-forward "forwards".
fn stand_ins(name: &str, namespaces: &str, port: u16) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fe2e-kind-real-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("calls.log");
    let kubectl = format!(
        "#!/bin/sh\necho \"kubectl $*\" >> {log}\ncase \"$*\" in\n  *\"get namespaces\"*) echo '{namespaces}' ;;\n  *\"apply -f -\"*) cat >> {log}; echo >> {log} ;;\n  *port-forward*) echo \"Forwarding from 127.0.0.1:{port} -> 3000\"; exec sleep 30 ;;\nesac\n",
        log = log.display()
    );
    // helm keeps a copy of the values it was given: the harness removes its file after.
    let helm = format!(
        "#!/bin/sh\necho \"helm $*\" >> {log}\nwhile [ $# -gt 0 ]; do [ \"$1\" = --values ] && cp \"$2\" {dir}/values-seen.yaml; shift; done\n",
        log = log.display(),
        dir = dir.display()
    );
    for (file, text) in [("kubectl", kubectl), ("helm", helm)] {
        std::fs::write(dir.join(file), text).expect("write");
        std::process::Command::new("chmod").arg("+x").arg(dir.join(file)).status().expect("chmod");
    }
    dir
}

fn install<'a>(dir: &'a Path, kubectl: &'a Kubectl, progress: &'a Progress) -> ForgejoInstall<'a> {
    ForgejoInstall {
        kubectl,
        helm: Box::leak(dir.join("helm").into_boxed_path()),
        run_id: "ab12cd",
        password: "secret",
        image: "code.forgejo.org/forgejo/forgejo:11",
        runner_image: "code.forgejo.org/forgejo/runner:7.0.0",
        out_dir: dir,
        progress,
    }
}

#[tokio::test]
async fn forgejo_is_installed_from_its_chart_reached_by_a_port_forward_and_given_the_checkout_action() {
    let (base, state) = fake_forgejo(&[]).await;
    let port: u16 = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let dir = stand_ins("ok", r#"{"items": []}"#, port);
    let kubectl = Kubectl { binary: dir.join("kubectl"), kubeconfig: dir.join("kubeconfig") };
    let progress = Progress::new();
    let started = install(&dir, &kubectl, &progress).start().await.expect("started");

    assert_eq!(started.registration_token, "REGISTRATION-TOKEN");
    assert_eq!(started.runner_image, "code.forgejo.org/forgejo/runner:7.0.0");
    // The API it hands on is the admin's token through the forwarded port.
    assert_eq!(started.api.base(), base);
    assert!(state.lock().expect("state").repos.contains_key("actions/checkout"), "checkout served");

    let calls = std::fs::read_to_string(dir.join("calls.log")).expect("log");
    let lines: Vec<&str> = calls.lines().filter(|l| l.starts_with("kubectl") || l.starts_with("helm")).collect();
    let kc = format!("kubectl --kubeconfig {}", dir.join("kubeconfig").display());
    assert_eq!(lines[0], format!("{kc} get namespaces --field-selector metadata.name={NAMESPACE} -o json"));
    assert_eq!(lines[1], format!("{kc} apply -f -"));
    // The namespace applied carries the run's label, so the run's teardown removes it.
    assert!(calls.contains(r#""io.forgejo-e2e.run":"ab12cd""#), "{calls}");
    assert!(
        lines[2].starts_with(
            "helm upgrade --install forgejo oci://code.forgejo.org/forgejo-helm/forgejo --version 12.5.4 --namespace forgejo --values "
        ) && lines[2].ends_with(&format!("--wait --timeout 10m --kubeconfig {}", dir.join("kubeconfig").display())),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], format!("{kc} --namespace forgejo port-forward svc/forgejo-http 0:3000"));
    assert_eq!(lines.len(), 4, "{calls}");

    // The values helm read: the run's password, the image in full; then gone from disk.
    let seen = std::fs::read_to_string(dir.join("values-seen.yaml")).expect("values seen");
    let values: serde_yaml::Value = serde_yaml::from_str(&seen).expect("yaml");
    assert_eq!(values["gitea"]["admin"]["password"].as_str(), Some("secret"));
    assert_eq!(values["image"]["fullOverride"].as_str(), Some("code.forgejo.org/forgejo/forgejo:11"));
    assert!(!dir.join("forgejo-values.yaml").exists(), "the password stays on disk");
    drop(started);
    forget(&state);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_forgejo_namespace_the_run_did_not_make_is_refused_before_anything_is_installed() {
    let theirs = r#"{"items": [{"metadata": {"name": "forgejo", "labels": {"team": "platform"}}}]}"#;
    let dir = stand_ins("theirs", theirs, 9);
    let kubectl = Kubectl { binary: dir.join("kubectl"), kubeconfig: dir.join("kubeconfig") };
    let progress = Progress::new();
    let err = install(&dir, &kubectl, &progress).start().await.err().expect("refused");
    assert!(err.downcast_ref::<harness::UserError>().is_some(), "a user error: {err:#}");
    assert!(err.to_string().starts_with("namespace forgejo already exists in this cluster and is not this run's"));
    let calls = std::fs::read_to_string(dir.join("calls.log")).expect("log");
    assert_eq!(calls.lines().count(), 1, "only the look: {calls}");
    let _ = std::fs::remove_dir_all(dir);
}
