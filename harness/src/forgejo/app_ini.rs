//! The `app.ini` of the Forgejo a run starts: unattended (install locked, SQLite), Actions
//! on, `ROOT_URL` the address runners and job containers reach it by (jobs clone from it
//! and fetch actions from it), and actions without a host fetched from the instance itself
//! so nothing leaves the machine. Given to the official image as `FORGEJO__SECTION__KEY`
//! variables, which its entrypoint writes into `app.ini` on every start.

/// What varies between runs; everything else is fixed.
#[derive(Debug, Clone)]
pub struct AppIni {
    /// `[server] ROOT_URL`: reachable from job containers, not just from the host.
    pub root_url: String,
    pub http_port: u16,
    /// `[actions] DEFAULT_ACTIONS_URL`: where `uses: owner/name@ref` is fetched from.
    /// `None` means the instance itself (`root_url`).
    pub default_actions_url: Option<String>,
}

impl AppIni {
    pub fn new(root_url: &str, http_port: u16) -> Self {
        Self { root_url: root_url.trim_end_matches('/').to_owned() + "/", http_port, default_actions_url: None }
    }

    /// Every setting as (section, key, value).
    pub fn entries(&self) -> Vec<(&'static str, &'static str, String)> {
        let actions_url =
            self.default_actions_url.clone().unwrap_or_else(|| self.root_url.trim_end_matches('/').into());
        vec![
            ("security", "INSTALL_LOCK", "true".into()),
            ("database", "DB_TYPE", "sqlite3".into()),
            ("database", "PATH", "/data/gitea/forgejo.db".into()),
            ("server", "ROOT_URL", self.root_url.clone()),
            ("server", "HTTP_PORT", self.http_port.to_string()),
            ("server", "OFFLINE_MODE", "true".into()),
            ("service", "DISABLE_REGISTRATION", "true".into()),
            ("repository", "DEFAULT_BRANCH", "main".into()),
            ("actions", "ENABLED", "true".into()),
            ("actions", "DEFAULT_ACTIONS_URL", actions_url),
        ]
    }

    /// The entries as the official image's environment: `FORGEJO__section__KEY=value`.
    pub fn env(&self) -> Vec<String> {
        self.entries().into_iter().map(|(s, k, v)| format!("FORGEJO__{s}__{k}={v}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unattended_instance_with_actions_served_from_itself() {
        let ini = AppIni::new("http://fe2e-1a2b3c-forgejo:3000", 3000);
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
        let mut ini = AppIni::new("http://10.0.0.5:3000/", 3000);
        ini.default_actions_url = Some("https://mirror.example/actions".into());
        let env = ini.env();
        assert!(env.contains(&"FORGEJO__server__ROOT_URL=http://10.0.0.5:3000/".to_owned()), "{env:?}");
        assert!(env.contains(&"FORGEJO__actions__DEFAULT_ACTIONS_URL=https://mirror.example/actions".to_owned()));
    }
}
