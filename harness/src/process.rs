//! Running programs (kind, kubectl, helm, cargo): output streamed line by line, a deadline
//! on every call, and the last lines of output in the error when it fails.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::Progress;

/// What a finished command printed (stdout and stderr interleaved by line) and whether it
/// succeeded.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    /// The exit code, when the command exited rather than being killed by a signal.
    pub code: Option<i32>,
    pub text: String,
}

impl Output {
    /// The last `n` lines, one line joined with ` / `, for an error message.
    pub fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" / ")
    }
}

/// Runs `cmd` until it exits or `deadline` passes (then it is killed and this is an error).
/// With `progress`, each line it prints is shown as `what: line` as it comes.
pub async fn run(
    cmd: tokio::process::Command,
    what: &str,
    deadline: Duration,
    progress: Option<&Progress>,
) -> Result<Output> {
    let show = |line: &str| {
        if let Some(p) = progress
            && !line.trim().is_empty()
        {
            p.say(format!("{what}: {}", line.trim()));
        }
    };
    run_with(cmd, what, deadline, None, show, progress).await
}

/// [`run`] with `stdin` fed to the command and each output line given to `on_line`; with
/// `heartbeat`, a line every 10 s while it prints nothing. A command still running at the
/// deadline is killed: its output so far is in the error.
pub async fn run_with(
    mut cmd: tokio::process::Command,
    what: &str,
    deadline: Duration,
    stdin: Option<Vec<u8>>,
    mut on_line: impl FnMut(&str),
    heartbeat: Option<&Progress>,
) -> Result<Output> {
    let mut child = cmd
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {what}"))?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [child.stdout.take().map(either_out), child.stderr.take().map(either_err)].into_iter().flatten() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let start = Instant::now();
    let mut text = String::new();
    let mut last_said = Instant::now();
    let status = loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(line) => {
                    on_line(&line);
                    last_said = Instant::now();
                    text.push_str(&line);
                    text.push('\n');
                }
                None => break child.wait().await.with_context(|| format!("wait for {what}"))?,
            },
            _ = tokio::time::sleep(Duration::from_secs(10).min(deadline.saturating_sub(start.elapsed()))) => {
                if start.elapsed() >= deadline {
                    let _ = child.kill().await;
                    let output = Output { success: false, code: None, text };
                    return Err(NotDone { what: what.to_owned(), after: deadline, output }.into());
                }
                if let Some(p) = heartbeat && last_said.elapsed() >= Duration::from_secs(10) {
                    p.say(format!("{what}: still running ({:.0}s)", start.elapsed().as_secs_f64()));
                    last_said = Instant::now();
                }
            }
        }
    };
    Ok(Output { success: status.success(), code: status.code(), text })
}

/// A command [`run_with`] killed at its deadline, with what it had printed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: not done after {}s (last output: {})", after.as_secs(), output.tail(3))]
pub struct NotDone {
    pub what: String,
    pub after: Duration,
    pub output: Output,
}

type Stream = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
fn either_out(s: tokio::process::ChildStdout) -> Stream {
    Box::new(s)
}
fn either_err(s: tokio::process::ChildStderr) -> Stream {
    Box::new(s)
}

/// `kubectl --kubeconfig K [--context C] ...`: always a named kubeconfig (kind's own, or
/// the one a user aimed the run at), never whatever the environment happens to hold.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub binary: std::path::PathBuf,
    pub kubeconfig: std::path::PathBuf,
    /// The kubeconfig's context to use; its current context when `None`.
    pub context: Option<String>,
}

impl Kubectl {
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        if let Some(c) = &self.context {
            cmd.args(["--context", c]);
        }
        cmd.args(args);
        cmd
    }

    /// `helm ARGS --kubeconfig K [--kube-context C]`: helm aimed where kubectl is.
    pub fn helm(&self, helm: &std::path::Path, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(helm);
        cmd.args(args).arg("--kubeconfig").arg(&self.kubeconfig);
        if let Some(c) = &self.context {
            cmd.args(["--kube-context", c]);
        }
        cmd
    }

    /// Runs kubectl; a failure is an error quoting its last lines.
    pub async fn run(&self, args: &[&str], deadline: Duration) -> Result<String> {
        let what = format!("kubectl {}", args.first().copied().unwrap_or_default());
        let out = run(self.command(args), &what, deadline, None).await?;
        anyhow::ensure!(out.success, "kubectl {}: {}", args.join(" "), out.tail(3));
        Ok(out.text)
    }

    /// `kubectl get ... -o json`, parsed.
    pub async fn json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.run(&all, Duration::from_secs(30)).await?;
        serde_json::from_str(&text).with_context(|| format!("kubectl {} printed no JSON", args.join(" ")))
    }

    /// `kubectl apply -f -` of a manifest.
    pub async fn apply(&self, manifest: &str) -> Result<()> {
        self.feed(&["apply", "-f", "-"], manifest, Duration::from_secs(60)).await.map(drop)
    }

    /// `kubectl ARGS` with `input` on its stdin, at most `deadline`; its stdout, or an error
    /// quoting its stderr.
    pub async fn feed(&self, args: &[&str], input: &str, deadline: Duration) -> Result<Vec<u8>> {
        use tokio::io::AsyncWriteExt;
        let what = format!("kubectl {}", args.first().copied().unwrap_or_default());
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {what}"))?;
        let mut stdin = child.stdin.take().context("kubectl's stdin")?;
        stdin.write_all(input.as_bytes()).await?;
        drop(stdin);
        let out = tokio::time::timeout(deadline, child.wait_with_output())
            .await
            .with_context(|| format!("{what}: not done after {}s", deadline.as_secs()))??;
        anyhow::ensure!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(out.stdout)
    }
}
