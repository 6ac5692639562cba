//! A set as a Kubernetes Secret, mounted into the DIND container at `/certs` so
//! docker:dind uses the certificates as they are (no `ca/key.pem`, no regeneration).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{SECRET_ITEMS_PATHS, TlsSet, WriteOptions, files};

/// The set as an Opaque Secret named `name` in `namespace`.
pub fn to_secret(set: &TlsSet, name: &str, namespace: &str) -> Secret {
    let by_path: BTreeMap<&str, String> =
        files(set, WriteOptions::default()).into_iter().map(|f| (f.path, f.contents)).collect();
    let data = SECRET_ITEMS_PATHS
        .iter()
        .map(|(key, path)| {
            let contents = by_path.get(path).cloned().unwrap_or_default();
            (key.to_string(), ByteString(contents.into_bytes()))
        })
        .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_owned(), "forgejo-e2e".to_owned())])),
            ..Default::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{PkiOptions, generate};

    #[test]
    fn secret_holds_every_file_and_no_ca_key() {
        let set = generate(&PkiOptions::default()).expect("generate");
        let secret = to_secret(&set, "dind-certs", "ci");
        let yaml = serde_yaml::to_string(&secret).expect("yaml");
        let data = secret.data.expect("data");
        assert_eq!(data.len(), 7);
        assert_eq!(data["server-cert.pem"].0, set.server_cert.as_bytes());
        assert!(yaml.contains("kind: Secret") && yaml.contains("name: dind-certs"), "{yaml}");
        assert!(!data.keys().any(|k| k.starts_with("ca-key")));
    }
}
