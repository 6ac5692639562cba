//! `cargo xtask`: the harness's command line. One module per subcommand.

mod args;
mod certs;
mod e2e;
mod images;
mod scenarios;

use std::process::ExitCode;

use args::Args;

const HELP: &str = "\
cargo xtask <command> [flags]

commands:
  e2e      run scenarios on a platform and write reports under target/e2e/
  images   build (or list with --list) the images the harness needs, without a registry
  certs    make a DIND TLS set with rcgen (--out DIR) or check one (--check DIR)
  help     this text; `cargo xtask <command> --help` describes a command
";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A mistake the user can fix exits 2; a failure of the harness or the system, 1.
            let user = e.chain().any(|c| c.is::<harness::UserError>());
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let mut args = Args::from_env();
    let Some(command) = args.subcommand()? else {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    };
    match command.as_str() {
        "e2e" => e2e::run(args).await,
        "images" => images::run(args).await,
        "certs" => certs::run(args),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(harness::user_error!(
            "unknown command `{other}`; the commands are: {}",
            command_names().join(", ")
        )),
    }
}

/// Every subcommand, as HELP lists them (a test keeps the two in step).
fn command_names() -> Vec<&'static str> {
    HELP.lines()
        .skip_while(|l| !l.starts_with("commands:"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}
