//! `cargo xtask tools [--list]`: the tools built from their Go modules.

use std::process::ExitCode;

use anyhow::Result;
use harness::Progress;
use harness::tools::{self, Found};

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask tools [--list] [NAME...]

Builds the pinned tools of fixtures/kind/versions.yaml (`builds:`) from their Go modules,
all of them or the NAMEs given: helm and kind with `go install PACKAGE@VERSION`;
Kubernetes (kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
kube-scheduler), etcd and the CNI plugins, which the offline kind node image needs, in a
generated module that requires theirs; Gitea and its runner (`gitea gitea-runner`, the
real forge and runner the Docker platform's jobs go through; about 4 minutes cold) in a
copy of their own modules. Into a cache
outside the work tree ($FORGEJO_E2E_TOOLS_DIR, else ~/.cache/forgejo-e2e/tools), with Go's
module and build caches under it (go/), so clones and CI on this machine share them. A tool
already built (or helm/kind on PATH at the pinned version) is not built again. Needs Go
and the Go module proxy the first time (about 45 minutes cold on 2 cores for Kubernetes);
a missing Go or a refusing proxy is one line saying what to do. --list shows each tool,
its version, where it comes from and its size.
";

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let mut list = false;
    let mut names: Vec<String> = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("list") => list = true,
            Arg::Value(name) => names.push(name.to_string_lossy().into_owned()),
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("tools", other)),
        }
    }
    let pinned = match names.is_empty() {
        true => tools::pinned()?,
        false => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            tools::named(&names).map_err(|e| harness::user_error!("{e:#}; cargo xtask tools --list names them"))?
        }
    };
    if list {
        println!("{:<23} {:<9} {:<72} {:>7}", "TOOL", "VERSION", "SOURCE", "SIZE");
        for tool in &pinned {
            let found = tool.locate();
            let (source, size) = match &found {
                Found::Path(p) => (format!("PATH {}", p.display()), size(p)),
                Found::Cache(p) => (format!("built {}", p.display()), size(p)),
                Found::Missing => (format!("not built ({})", tool.package), "-".to_owned()),
            };
            println!("{:<23} {:<9} {:<72} {:>7}", tool.name, tool.version, source, size);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::new();
    for tool in &pinned {
        let path = tool.ensure(&progress).await?;
        progress.say(format!("{} {}: {}", tool.name, tool.version, path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

fn size(path: &std::path::Path) -> String {
    std::fs::metadata(path).map_or("-".to_owned(), |m| format!("{:.0} MB", m.len() as f64 / 1e6))
}
