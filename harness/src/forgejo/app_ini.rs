//! The `app.ini` of the Forgejo a run starts: unattended (install locked, SQLite), Actions
//! on, `ROOT_URL` the address runners and job containers reach it by (jobs clone from it
//! and fetch actions from it), and actions without a host fetched from the instance itself
//! so nothing leaves the machine.

/// What varies between runs; everything else is fixed.
#[derive(Debug, Clone)]
pub struct AppIni {
    /// `[server] ROOT_URL`: reachable from job containers, not just from the host.
    pub root_url: String,
    pub http_port: u16,
    /// `[database] PATH` inside the container.
    pub db_path: String,
    /// `[actions] DEFAULT_ACTIONS_URL`: where `uses: owner/name@ref` is fetched from.
    /// `None` means the instance itself (`root_url`).
    pub default_actions_url: Option<String>,
}

impl AppIni {
    pub fn new(root_url: &str, http_port: u16) -> Self {
        Self {
            root_url: root_url.trim_end_matches('/').to_owned() + "/",
            http_port,
            db_path: "/data/gitea/forgejo.db".into(),
            default_actions_url: None,
        }
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let actions_url =
            self.default_actions_url.clone().unwrap_or_else(|| self.root_url.trim_end_matches('/').into());
        format!(
            "APP_NAME = forgejo-e2e\n\
             RUN_MODE = prod\n\
             \n\
             [security]\n\
             INSTALL_LOCK = true\n\
             \n\
             [database]\n\
             DB_TYPE = sqlite3\n\
             PATH = {db}\n\
             \n\
             [server]\n\
             ROOT_URL = {root}\n\
             HTTP_PORT = {port}\n\
             OFFLINE_MODE = true\n\
             \n\
             [service]\n\
             DISABLE_REGISTRATION = true\n\
             \n\
             [repository]\n\
             DEFAULT_BRANCH = main\n\
             \n\
             [actions]\n\
             ENABLED = true\n\
             DEFAULT_ACTIONS_URL = {actions_url}\n\
             \n\
             [log]\n\
             LEVEL = Info\n",
            db = self.db_path,
            root = self.root_url,
            port = self.http_port,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(section, key) -> value` of an ini text; keys before any section are in "".
    fn parse(text: &str) -> std::collections::HashMap<(String, String), String> {
        let mut section = String::new();
        let mut out = std::collections::HashMap::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_owned();
            } else if let Some((k, v)) = line.split_once('=') {
                let key = (section.clone(), k.trim().to_owned());
                assert!(out.insert(key, v.trim().to_owned()).is_none(), "{line} twice in [{section}]");
            }
        }
        out
    }

    #[test]
    fn an_unattended_instance_with_actions_served_from_itself() {
        let ini = parse(&AppIni::new("http://forgejo.fe2e-1a2b3c:3000", 3000).render());
        let get = |s: &str, k: &str| ini.get(&(s.to_owned(), k.to_owned())).map(String::as_str);
        // The documented keys an unattended instance needs (REFERENCE: Running Forgejo).
        assert_eq!(get("security", "INSTALL_LOCK"), Some("true"));
        assert_eq!(get("database", "DB_TYPE"), Some("sqlite3"));
        assert_eq!(get("database", "PATH"), Some("/data/gitea/forgejo.db"));
        assert_eq!(get("server", "ROOT_URL"), Some("http://forgejo.fe2e-1a2b3c:3000/"));
        assert_eq!(get("server", "HTTP_PORT"), Some("3000"));
        assert_eq!(get("actions", "ENABLED"), Some("true"));
        // Nothing fetched from data.forgejo.org: the instance serves its own actions.
        assert_eq!(get("actions", "DEFAULT_ACTIONS_URL"), Some("http://forgejo.fe2e-1a2b3c:3000"));
    }

    #[test]
    fn a_mirror_for_actions_when_given() {
        let mut ini = AppIni::new("http://10.0.0.5:3000/", 3000);
        ini.default_actions_url = Some("https://mirror.example/actions".into());
        let text = ini.render();
        assert!(text.contains("ROOT_URL = http://10.0.0.5:3000/\n"), "{text}");
        assert!(text.contains("DEFAULT_ACTIONS_URL = https://mirror.example/actions\n"), "{text}");
    }
}
