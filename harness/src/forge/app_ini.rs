//! The `app.ini` of the forge a run starts: unattended (install locked, SQLite), Actions
//! on, `ROOT_URL` the address runners and job containers reach it by (jobs clone from it
//! and fetch actions from it), and actions without a host fetched from the instance itself
//! so nothing leaves the machine. Given to the image as `FORGEJO__SECTION__KEY` (or
//! `GITEA__…`) variables, which its entrypoint writes into `app.ini` on every start.

use super::dialect::Dialect;

/// What varies between runs; everything else is fixed.
#[derive(Debug, Clone)]
pub struct AppIni {
    pub dialect: &'static dyn Dialect,
    /// `[server] ROOT_URL`: reachable from job containers, not just from the host.
    pub root_url: String,
    pub http_port: u16,
    /// `[actions] DEFAULT_ACTIONS_URL`: where `uses: owner/name@ref` is fetched from.
    /// `None` means the instance itself.
    pub default_actions_url: Option<String>,
}

impl AppIni {
    pub fn new(dialect: &'static dyn Dialect, root_url: &str, http_port: u16) -> Self {
        let root_url = root_url.trim_end_matches('/').to_owned() + "/";
        Self { dialect, root_url, http_port, default_actions_url: None }
    }

    /// Every setting as (section, key, value).
    pub fn entries(&self) -> Vec<(&'static str, &'static str, String)> {
        let actions_url =
            self.default_actions_url.clone().unwrap_or_else(|| self.dialect.actions_from_self(&self.root_url));
        let mut entries = vec![
            ("security", "INSTALL_LOCK", "true".into()),
            ("database", "DB_TYPE", "sqlite3".into()),
            ("database", "PATH", format!("/data/gitea/{}.db", self.dialect.binary())),
            ("server", "ROOT_URL", self.root_url.clone()),
            ("server", "HTTP_PORT", self.http_port.to_string()),
            ("server", "OFFLINE_MODE", "true".into()),
            ("service", "DISABLE_REGISTRATION", "true".into()),
            ("repository", "DEFAULT_BRANCH", "main".into()),
            ("actions", "ENABLED", "true".into()),
            ("actions", "DEFAULT_ACTIONS_URL", actions_url),
        ];
        entries.extend(self.dialect.extra_settings());
        entries
    }

    /// The entries as the image's environment: `FORGEJO__section__KEY=value` (Gitea: `GITEA__`).
    pub fn env(&self) -> Vec<String> {
        let prefix = self.dialect.env_prefix();
        self.entries().into_iter().map(|(s, k, v)| format!("{prefix}__{s}__{k}={v}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::dialect::{Forgejo, Gitea};

    #[test]
    fn an_unattended_instance_with_actions_served_from_itself() {
        let ini = AppIni::new(&Forgejo, "http://fe2e-1a2b3c-forgejo:3000", 3000);
        let entries = ini.entries();
        let get = |s: &str, k: &str| entries.iter().find(|e| e.0 == s && e.1 == k).map(|e| e.2.as_str());
        // The documented keys an unattended instance needs (REFERENCE: Running Forgejo).
        assert_eq!(get("security", "INSTALL_LOCK"), Some("true"));
        assert_eq!(get("database", "DB_TYPE"), Some("sqlite3"));
        assert_eq!(get("server", "ROOT_URL"), Some("http://fe2e-1a2b3c-forgejo:3000/"));
        assert_eq!(get("server", "HTTP_PORT"), Some("3000"));
        assert_eq!(get("actions", "ENABLED"), Some("true"));
        // Nothing fetched from data.forgejo.org: the instance serves its own actions.
        assert_eq!(get("actions", "DEFAULT_ACTIONS_URL"), Some("http://fe2e-1a2b3c-forgejo:3000"));
        // Each key once.
        let mut keys: Vec<_> = entries.iter().map(|e| (e.0, e.1)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), entries.len());
        assert!(ini.env().contains(&"FORGEJO__security__INSTALL_LOCK=true".to_owned()));
    }

    #[test]
    fn a_mirror_for_actions_when_given() {
        let mut ini = AppIni::new(&Forgejo, "http://10.0.0.5:3000/", 3000);
        ini.default_actions_url = Some("https://mirror.example/actions".into());
        let env = ini.env();
        assert!(env.contains(&"FORGEJO__server__ROOT_URL=http://10.0.0.5:3000/".to_owned()), "{env:?}");
        assert!(env.contains(&"FORGEJO__actions__DEFAULT_ACTIONS_URL=https://mirror.example/actions".to_owned()));
    }

    #[test]
    fn gitea_serves_its_own_actions_by_the_word_self_and_reads_forgejo_workflows_first() {
        let env = AppIni::new(&Gitea, "http://fe2e-1a-forge:3000", 3000).env();
        assert!(env.contains(&"GITEA__actions__DEFAULT_ACTIONS_URL=self".to_owned()), "{env:?}");
        assert!(
            env.contains(
                &"GITEA__actions__WORKFLOW_DIRS=.forgejo/workflows,.gitea/workflows,.github/workflows".to_owned()
            ),
            "{env:?}"
        );
        assert!(env.contains(&"GITEA__database__PATH=/data/gitea/gitea.db".to_owned()), "{env:?}");
    }
}
