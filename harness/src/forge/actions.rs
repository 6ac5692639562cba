//! The actions an instance the harness runs serves itself (`DEFAULT_ACTIONS_URL` is the
//! instance): `actions/checkout@v4`, a small composite action from `fixtures/actions/`, so
//! jobs fetch nothing from the internet.

use std::path::Path;

use anyhow::Result;

use super::{Forge, push};

/// Creates `actions/checkout` on the instance behind `api` and pushes the fixture there
/// (its `main` and tag `v4`), from a repository prepared in `dir`.
pub async fn serve_checkout(api: &Forge, admin: &str, dir: &Path) -> Result<()> {
    crate::workspace::prepare(&[crate::fixtures_dir().join("actions/checkout")], dir, &[])?;
    api.create_org_repo("actions", "checkout").await?;
    let refs = ["HEAD:refs/heads/main", "HEAD:refs/tags/v4"];
    push::push_refs(api, admin, "actions", "checkout", dir, &refs).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_checkout_action_is_a_composite_action_that_fetches_the_pushed_commit() {
        let path = crate::fixtures_dir().join("actions/checkout/action.yml");
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).expect("read")).expect("yaml");
        assert_eq!(doc["runs"]["using"].as_str(), Some("composite"));
        let run = doc["runs"]["steps"][0]["run"].as_str().expect("a run step");
        assert!(run.contains("${{ github.server_url }}/${{ github.repository }}.git"), "{run}");
        assert!(run.contains("${{ github.sha }}"), "{run}");
    }
}
