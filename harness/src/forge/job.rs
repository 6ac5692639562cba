//! A job as a forge lists it, in words common to Forgejo and Gitea (each dialect maps its
//! own answers onto these).

use serde::Deserialize;

/// Status of an Actions run as `/actions/tasks` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    Unknown,
    Waiting,
    Running,
    Success,
    Failure,
    Cancelled,
    Skipped,
    Blocked,
    /// A value this client does not know (a newer Forgejo).
    Other(String),
}

impl RunStatus {
    const KNOWN: [RunStatus; 8] = [
        Self::Unknown,
        Self::Waiting,
        Self::Running,
        Self::Success,
        Self::Failure,
        Self::Cancelled,
        Self::Skipped,
        Self::Blocked,
    ];

    pub fn parse(s: &str) -> Self {
        Self::KNOWN.into_iter().find(|k| k.word() == s).unwrap_or_else(|| Self::Other(s.to_owned()))
    }

    /// The API's word for it.
    pub fn word(&self) -> &str {
        match self {
            Self::Unknown => "unknown",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Blocked => "blocked",
            Self::Other(s) => s,
        }
    }

    /// The run will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Cancelled | Self::Skipped)
    }
}

/// One job of a run as the forge lists it (Forgejo: a task a runner took; Gitea: any job).
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub head_sha: String,
    /// The run in the forge's routes (Forgejo: its number; Gitea: its id).
    #[serde(default)]
    pub run_number: i64,
    /// In [`RunStatus`]'s words.
    #[serde(default)]
    pub status: String,
    /// The step the forge marked failed, where it lists steps (Gitea).
    #[serde(default)]
    pub failed_step: Option<String>,
    /// The labels the job asks a runner for, where the forge lists them (Gitea).
    #[serde(default)]
    pub labels: Vec<String>,
    /// The name of the runner that took it, where the forge lists it (Gitea).
    #[serde(default)]
    pub runner: Option<String>,
}

impl Task {
    pub fn status(&self) -> RunStatus {
        RunStatus::parse(&self.status)
    }

    /// The run's number in web URLs (`/{owner}/{repo}/actions/runs/{n}`).
    pub fn run_number(&self) -> i64 {
        self.run_number
    }
}
