//! `cargo xtask doctor`: can rootless DIND start here? One verdict per fact.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use harness::docker::images::{self, ImageKind};
use harness::node::{Verdict, engine_finding, host_findings};

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask doctor [--root DIR]

Reads what decides whether rootless DIND can start: kernel.apparmor_restrict_unprivileged_userns,
kernel.apparmor_restrict_unprivileged_unconfined, user.max_user_namespaces,
kernel.unprivileged_userns_clone, the cgroup version, /dev/net/tun, /dev/fuse, and whether
the Docker engine allows privileged containers. Prints ok, PROBLEM with the exact fix, or
n/a with the evidence, or WARNING where the harness works around what it found (a
privileged container refused). Exit 1 when there is a problem. --root reads another machine's
tree (e.g. a node's / mounted somewhere).
";

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let mut root = PathBuf::from("/");
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("root") => root = PathBuf::from(args.value("--root")?),
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("doctor", other)),
        }
    }
    let mut findings = host_findings(&root);
    findings.push(engine_finding(privileged().await));
    for f in &findings {
        println!("{f}");
    }
    let problems = findings.iter().filter(|f| matches!(f.verdict, Verdict::Problem { .. })).count();
    let warnings = findings.iter().filter(|f| matches!(f.verdict, Verdict::Warning { .. })).count();
    println!("{} checks, {problems} problems, {warnings} warnings", findings.len());
    Ok(if problems == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Starts a throwaway privileged container from the DIND image (or any local image).
async fn privileged() -> Result<bool, String> {
    let docker = harness::docker::connect().await.map_err(|e| format!("{e:#}"))?;
    let image = images::planned_reference(ImageKind::Base).map_err(|e| format!("{e:#}"))?;
    if docker.inspect_image(&image).await.is_err() {
        return Err(format!("{image} is missing, so privileged mode could not be tried"));
    }
    let id = format!("doctor{}", std::process::id());
    match harness::docker::probe_privilege(&docker, &image, &id).await {
        Ok(p) => Ok(p == harness::docker::Privilege::Privileged),
        Err(e) => Err(format!("{e:#}")),
    }
}
