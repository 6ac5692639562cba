//! `cargo xtask cluster up|down|status`: the local kind cluster the kind platform runs on.

use std::process::ExitCode;

use anyhow::Result;
use harness::Progress;
use harness::cluster::{self, Cluster, ClusterOptions};
use harness::docker::DindMode;
use harness::user_error;

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask cluster up|down|status [--name N] [--dind rootful|rootless] [--node-image REF]
                                   [--nodes N] [--registry]

The local kind cluster the kind platform runs on (default name: fe2e, the one
`cargo xtask e2e --platform kind` uses).
  up      creates it (or reuses one of that name): the kind node image built offline from
          Debian packages and Kubernetes' Go modules (cargo xtask images --kind; tools from
          cargo xtask tools, built first if missing), or --node-image REF (kind's own
          kindest/node where a registry is reachable). Waits for the node to be Ready, loads
          the harness's DIND and job images, and proves a privileged pod's DIND serves TLS on
          2376 (docker CLI over TLS through kubectl exec). Prints the kubeconfig path. Where
          the engine refuses --privileged, kind's docker calls go through a shim that gives
          the nodes an explicit capability set (said in the output). On failure: kind export
          logs under target/e2e/clusters/N/, and a cluster this call created is deleted.
          --nodes N makes it with one control plane and N-1 workers (1 to 5; default: 1, or
          a reused cluster as it is): with the offline node image each node's pods get a
          subnet of their own and every node a route to the others' (kind's own CNI,
          kindnet, is an image this machine cannot pull). --registry starts a registry
          beside it (Debian's docker-registry, TLS with an rcgen CA, on the nodes' gateway)
          that its nodes and this engine trust, for e2e --platform kubernetes --registry;
          the address is printed, and removed with the cluster.
  down    deletes it: node containers, the kind network the harness made, its kubeconfig
          (never ~/.kube/config); fails if anything labelled with the cluster is left.
  status  whether it exists, its nodes and their readiness, the kubeconfig path.
Everything it creates carries io.forgejo-e2e.managed=true and io.forgejo-e2e.cluster=N.
";

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let mut action = None;
    let mut opts = ClusterOptions {
        name: "fe2e".into(),
        dind: DindMode::Rootful,
        node_image: None,
        smoke_when_reused: true,
        nodes: None,
        registry: false,
    };
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Value(v) if action.is_none() => action = Some(v.to_string_lossy().into_owned()),
            Arg::Long("name") => opts.name = args.value("--name")?,
            Arg::Long("dind") => opts.dind = args.value("--dind")?.parse()?,
            Arg::Long("node-image") => opts.node_image = Some(args.value("--node-image")?),
            Arg::Long("registry") => opts.registry = true,
            Arg::Long("nodes") => {
                let text = args.value("--nodes")?;
                let n = text.parse().ok().filter(|n| (1..=5).contains(n));
                opts.nodes = Some(n.ok_or_else(|| user_error!("--nodes takes a number from 1 to 5, not `{text}`"))?);
            }
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("cluster", other)),
        }
    }
    cluster::check_name(&opts.name)?;
    let progress = Progress::new();
    match action.as_deref() {
        Some("up") => {
            let docker = harness::docker::connect().await?;
            let c = cluster::up(&docker, &opts, &progress).await?;
            println!("cluster {} is up: node image {}", c.name, c.node_image.describe());
            println!("kubeconfig: {}", c.kubectl.kubeconfig.display());
            println!("  export KUBECONFIG={}", c.kubectl.kubeconfig.display());
            if let Some(r) = harness::cluster::registry::load(&c.name).filter(|_| opts.registry) {
                println!("registry: {} (CA {})", r.address, r.ca.display());
                println!(
                    "  cargo xtask e2e --platform kubernetes --kubeconfig {} --registry {}",
                    c.kubectl.kubeconfig.display(),
                    r.address
                );
            }
            println!("remove it with: cargo xtask cluster down --name {}", c.name);
            Ok(ExitCode::SUCCESS)
        }
        Some("down") => {
            let c = Cluster::find(&opts.name).await?;
            if !c.exists().await? {
                println!("cluster {}: does not exist; nothing to delete", opts.name);
                return Ok(ExitCode::SUCCESS);
            }
            c.delete(&progress).await?;
            println!(
                "cluster {}: deleted (node containers, network, kubeconfig); nothing labelled with it is left",
                c.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Some("status") => {
            let c = Cluster::find(&opts.name).await?;
            if !c.exists().await? {
                println!(
                    "cluster {}: does not exist (cargo xtask cluster up --name {} creates it)",
                    opts.name, opts.name
                );
                return Ok(ExitCode::from(1));
            }
            println!("cluster {}: exists; kubeconfig {}", c.name, c.kubectl.kubeconfig.display());
            for line in c.node_lines().await? {
                println!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(user_error!("cargo xtask cluster takes up, down or status, not `{other}`")),
        None => Err(user_error!("cargo xtask cluster needs up, down or status; see cargo xtask cluster --help")),
    }
}
