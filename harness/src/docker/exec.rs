//! Running a command in a container: output collected, exit code read, bounded in time.

use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// What a finished (or timed out) command printed.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// None when the deadline passed before the command ended.
    pub exit_code: Option<i64>,
    /// stdout and stderr interleaved as they arrived.
    pub output: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Bytes streamed into a command's stdin.
pub type Input = futures_util::stream::BoxStream<'static, Result<bytes::Bytes, bollard::errors::Error>>;

/// A command to run in a container.
pub struct ExecRequest<'a> {
    pub cmd: &'a [String],
    pub env: &'a [String],
    pub workdir: Option<&'a str>,
    /// How long to wait for the command to end.
    pub deadline: Duration,
    /// Streamed in (then closed) before output is read.
    pub stdin: Option<Input>,
    /// The user to run as, instead of the image's.
    pub user: Option<&'a str>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(cmd: &'a [String], deadline: Duration) -> Self {
        Self { cmd, env: &[], workdir: None, deadline, stdin: None, user: None }
    }
}

/// Runs the request in `container` and waits for it at most its deadline. `on_line` sees
/// each output line as it arrives (progress).
pub async fn exec(
    docker: &Docker,
    container: &str,
    req: ExecRequest<'_>,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<ExecOutput> {
    let ExecRequest { cmd, env, workdir, deadline, stdin, user } = req;
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                env: Some(env.to_vec()),
                working_dir: workdir.map(str::to_owned),
                user: user.map(str::to_owned),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                attach_stdin: Some(stdin.is_some()),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("exec {} in {container}", cmd.join(" ")))?;
    let StartExecResults::Attached { mut output, mut input } =
        docker.start_exec(&created.id, None).await.context("start exec")?
    else {
        anyhow::bail!("exec in {container} started detached");
    };
    let mut collected = String::new();
    let mut partial = String::new();
    let run = async {
        if let Some(mut chunks) = stdin {
            while let Some(chunk) = chunks.next().await {
                input.write_all(&chunk.context("read input stream")?).await.context("write stdin")?;
            }
            input.shutdown().await.context("close stdin")?;
        }
        drop(input);
        while let Some(item) = output.next().await {
            let bytes = match item.context("read exec output")? {
                LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => {
                    message
                }
                LogOutput::StdIn { .. } => continue,
            };
            let text = String::from_utf8_lossy(&bytes);
            collected.push_str(&text);
            partial.push_str(&text);
            while let Some(pos) = partial.find('\n') {
                let line: String = partial.drain(..=pos).collect();
                on_line(line.trim_end());
            }
        }
        anyhow::Ok(())
    };
    let finished = tokio::time::timeout(deadline, run).await;
    match finished {
        Err(_) => {
            return Ok(ExecOutput { exit_code: None, output: collected });
        }
        Ok(result) => result?,
    }
    let inspect = docker.inspect_exec(&created.id).await.context("inspect exec")?;
    Ok(ExecOutput { exit_code: inspect.exit_code, output: collected })
}
