//! `cargo xtask sysctl --check | --apply [--persist] | --restore [--root DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use harness::node::{ApplyOutcome, RestoreOutcome, Sysctl, UNCONFINED_KNOB, USERNS_KNOB};
use harness::user_error;

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask sysctl --check | --apply [--persist] | --restore [--root DIR]
cargo xtask sysctl --daemonset [--namespace NS]

The fix for rootless DIND on Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0.
--apply sets it where the knob exists (changes this host: needs root), recording the
previous value; --persist also writes /etc/sysctl.d/99-rootless-docker.conf. --restore
puts back the recorded value and the file as it was. On a kernel without the knob nothing
is changed. kind nodes share the host's kernel, so this host is every kind node. --root
works on another tree (tests use a fake /proc/sys). For other clusters --daemonset prints a
privileged DaemonSet that does the same on every node (kubectl apply -f -; it changes the
nodes, delete it afterwards).
";

#[derive(PartialEq)]
enum Action {
    DaemonSet,
    Check,
    Apply,
    Restore,
}

pub fn run(mut args: Args) -> Result<ExitCode> {
    let (mut action, mut persist, mut root) = (None, false, PathBuf::from("/"));
    let mut namespace = "kube-system".to_owned();
    while let Some(arg) = args.next()? {
        let chosen = match arg {
            Arg::Long("check") => Some(Action::Check),
            Arg::Long("daemonset") => Some(Action::DaemonSet),
            Arg::Long("namespace") => {
                namespace = args.value("--namespace")?;
                None
            }
            Arg::Long("apply") => Some(Action::Apply),
            Arg::Long("restore") => Some(Action::Restore),
            Arg::Long("persist") => {
                persist = true;
                None
            }
            Arg::Long("root") => {
                root = PathBuf::from(args.value("--root")?);
                None
            }
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("sysctl", other)),
        };
        if let Some(a) = chosen {
            if action.is_some() {
                return Err(user_error!("--check, --apply, --restore and --daemonset go one at a time"));
            }
            action = Some(a);
        }
    }
    let Some(action) = action else {
        return Err(user_error!("say --check, --apply or --restore; see cargo xtask sysctl --help"));
    };
    if persist && action != Action::Apply {
        return Err(user_error!("--persist goes with --apply"));
    }
    let sysctl = Sysctl::new(&root);
    match action {
        Action::DaemonSet => print!("{}", harness::node::daemonset_manifest(&namespace)),
        Action::Check => {
            for knob in [USERNS_KNOB, UNCONFINED_KNOB] {
                match sysctl.read(knob)? {
                    None => println!("{}: not present on this kernel (not applicable)", knob.name),
                    Some(v) if v == knob.wanted => {
                        println!("{} = {v}: ok for rootless DIND", knob.name)
                    }
                    Some(v) => println!("{} = {v}: blocks rootless DIND; cargo xtask sysctl --apply", knob.name),
                }
            }
        }
        Action::Apply => match sysctl.apply(persist)? {
            ApplyOutcome::NotApplicable => {
                println!("{}: not present on this kernel; nothing changed", USERNS_KNOB.name)
            }
            ApplyOutcome::Set { previous, persisted } => println!(
                "{} = 0 (was {previous}){}; undo with cargo xtask sysctl --restore",
                USERNS_KNOB.name,
                if persisted { ", persisted in /etc/sysctl.d/99-rootless-docker.conf" } else { "" }
            ),
            ApplyOutcome::AlreadyApplied { original } => println!(
                "{} = 0; already applied earlier (original value {original} kept for --restore)",
                USERNS_KNOB.name
            ),
        },
        Action::Restore => match sysctl.restore()? {
            RestoreOutcome::NothingRecorded => {
                println!("nothing recorded by --apply; nothing changed")
            }
            RestoreOutcome::Restored { value, persist_file } => {
                println!("{} = {value} again; /{persist_file} as it was", USERNS_KNOB.name)
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
