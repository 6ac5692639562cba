//! `helm template` against intent, for the pod: the runner Deployment the chart renders must
//! be the one the article describes — images, the runner's command and Docker env, DIND's
//! TLS env and mounts, the security context.

use serde_yaml::Value;

use super::RenderFinding;

/// What the harness means to deploy, as the pod should show it.
#[derive(Debug, Clone)]
pub struct PodIntent {
    /// `registry/repository:tag` of the DIND container.
    pub dind_image: String,
    /// Extra mount paths DIND must have (the certificate Secret's, with harness certs).
    pub dind_mounts: Vec<String>,
    /// `securityContext.privileged` of both containers.
    pub privileged: bool,
}

/// Compares the Deployment in `rendered` (multi-document `helm template` output) with `intent`.
pub fn compare_pod(rendered: &str, intent: &PodIntent) -> Vec<RenderFinding> {
    let Some(deployment) = documents(rendered).into_iter().find(|d| d["kind"].as_str() == Some("Deployment")) else {
        return vec![RenderFinding::Pod { what: "Deployment".into(), intended: "one".into(), rendered: "none".into() }];
    };
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_sequence().cloned().unwrap_or_default();
    let find = |name: &str| containers.iter().find(|c| c["name"].as_str() == Some(name)).cloned();
    let mut out = Vec::new();
    let mut expect = |what: String, intended: String, rendered: String| {
        if intended != rendered {
            out.push(RenderFinding::Pod { what, intended, rendered });
        }
    };
    let (Some(runner), Some(dind)) = (find("runner"), find("dind")) else {
        let names: Vec<&str> = containers.iter().filter_map(|c| c["name"].as_str()).collect();
        expect("containers".into(), "runner, dind".into(), names.join(", "));
        return out;
    };
    expect("dind image".into(), intent.dind_image.clone(), text(&dind["image"]));
    let command = runner["command"].as_sequence().into_iter().flatten().map(text).collect::<Vec<_>>().join(" ");
    for part in ["nc -z 127.0.0.1 2376", "forgejo-runner --config /etc/runner/config.yaml daemon"] {
        let seen = if command.contains(part) { part.to_owned() } else { command.clone() };
        expect("runner command".into(), part.to_owned(), seen);
    }
    for (name, value) in
        [("DOCKER_HOST", "tcp://127.0.0.1:2376"), ("DOCKER_CERT_PATH", "/certs/client"), ("DOCKER_TLS_VERIFY", "1")]
    {
        expect(format!("runner env {name}"), value.into(), env(&runner, name));
    }
    expect("dind env DOCKER_TLS_CERTDIR".into(), "/certs".into(), env(&dind, "DOCKER_TLS_CERTDIR"));
    expect("runner mounts /certs".into(), "yes".into(), yes(mounts(&runner).contains(&"/certs".to_owned())));
    let dind_mounts = mounts(&dind);
    for path in std::iter::once("/certs".to_owned()).chain(intent.dind_mounts.iter().cloned()) {
        expect(format!("dind mounts {path}"), "yes".into(), yes(dind_mounts.contains(&path)));
    }
    for (name, c) in [("runner", &runner), ("dind", &dind)] {
        let privileged = c["securityContext"]["privileged"].as_bool().unwrap_or(false);
        expect(format!("{name} securityContext.privileged"), intent.privileged.to_string(), privileged.to_string());
    }
    out
}

/// `(kind/name container, image)` of every container and init container rendered.
pub fn container_images(rendered: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in documents(rendered) {
        let (kind, name) = (text(&doc["kind"]), text(&doc["metadata"]["name"]));
        let spec = &doc["spec"]["template"]["spec"];
        for list in ["initContainers", "containers"] {
            for c in spec[list].as_sequence().into_iter().flatten() {
                out.push((format!("{kind}/{name} {}", text(&c["name"])), text(&c["image"])));
            }
        }
    }
    out
}

fn documents(rendered: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(rendered).filter_map(|d| Value::deserialize(d).ok()).collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_owned(),
    }
}

fn env(container: &Value, name: &str) -> String {
    let vars = container["env"].as_sequence().cloned().unwrap_or_default();
    vars.iter().find(|e| e["name"].as_str() == Some(name)).map(|e| text(&e["value"])).unwrap_or_else(|| "unset".into())
}

fn mounts(container: &Value) -> Vec<String> {
    let list = container["volumeMounts"].as_sequence().cloned().unwrap_or_default();
    list.iter().filter_map(|m| m["mountPath"].as_str().map(String::from)).collect()
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment shaped like the wrenix chart's (written for this test, not copied).
    fn deployment(dind_image: &str, tls_verify: &str, privileged: bool) -> String {
        format!(
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: runner\n          securityContext: {{privileged: {privileged}}}\n          command: [sh, -c, \"while ! nc -z 127.0.0.1 2376 </dev/null; do sleep 5; done\\n/bin/forgejo-runner --config /etc/runner/config.yaml daemon\\n\"]\n          env:\n            - {{name: DOCKER_HOST, value: tcp://127.0.0.1:2376}}\n            - {{name: DOCKER_CERT_PATH, value: /certs/client}}\n            - {{name: DOCKER_TLS_VERIFY, value: \"{tls_verify}\"}}\n          volumeMounts: [{{name: docker-certs, mountPath: /certs}}]\n        - name: dind\n          image: {dind_image}\n          securityContext: {{privileged: {privileged}}}\n          env: [{{name: DOCKER_TLS_CERTDIR, value: /certs}}]\n          volumeMounts: [{{name: docker-certs, mountPath: /certs}}, {{name: fe2e-certs, mountPath: /run/forgejo-e2e/certs}}]\n"
        )
    }

    fn intent() -> PodIntent {
        PodIntent {
            dind_image: "docker.io/forgejo-e2e/dind:T".into(),
            dind_mounts: vec!["/run/forgejo-e2e/certs".into()],
            privileged: true,
        }
    }

    #[test]
    fn the_articles_pod_has_no_findings() {
        let rendered = format!("kind: Secret\n---\n{}", deployment("docker.io/forgejo-e2e/dind:T", "1", true));
        assert_eq!(compare_pod(&rendered, &intent()), Vec::new());
    }

    #[test]
    fn image_env_and_privilege_differences_are_findings() {
        let rendered = deployment("docker.io/library/docker:28.3.2-dind", "true", false);
        let found: Vec<String> = compare_pod(&rendered, &intent()).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                "the pod differs in dind image: intended docker.io/forgejo-e2e/dind:T, rendered docker.io/library/docker:28.3.2-dind",
                "the pod differs in runner env DOCKER_TLS_VERIFY: intended 1, rendered true",
                "the pod differs in runner securityContext.privileged: intended true, rendered false",
                "the pod differs in dind securityContext.privileged: intended true, rendered false",
            ]
        );
        assert!(matches!(compare_pod("kind: Secret\n", &intent()).as_slice(), [RenderFinding::Pod { .. }]));
    }
}
