//! youki: an OCI container runtime on upstream youki's `libcontainer`, with
//! WebAssembly workloads run in-process by the engines under `workload/`.

mod cgroup_files;
mod commands;
mod exe_protection;
mod observability;
mod rootpath;
mod version;
mod workload;

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser};
use liboci_cli::{CommonCmd, GlobalOpts, StandardCmd};

/// Options youki accepts beyond the ones liboci-cli shares with other runtimes.
#[derive(clap::Args, Debug)]
pub struct YoukiExtendOpts {
    /// set the log level (default is 'error')
    #[arg(long)]
    pub log_level: Option<String>,
    /// write logs to the systemd journal instead of the log file
    #[arg(long)]
    pub systemd_log: bool,
}

/// What `youki --help` adds about Wasm below the options (no flag changes).
const WASM_HELP: &str = "Wasm: a container annotated run.oci.handler=wasm (or \
module.wasm.image/variant=compat) runs its process.args[0] as a WebAssembly module \
in-process; `youki info` lists the Wasm handlers built in.";

#[derive(Parser, Debug)]
#[command(
    name = "youki",
    about = "youki, a container runtime",
    disable_version_flag = true
)]
#[command(after_help = WASM_HELP)]
struct Opts {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(flatten)]
    youki_extend: YoukiExtendOpts,
    #[command(subcommand)]
    subcmd: Option<SubCommand>,
    /// Display youki version and commit hash
    #[arg(short, long)]
    version: bool,
}

#[derive(clap::Subcommand, Debug)]
enum SubCommand {
    #[command(flatten)]
    Standard(Box<StandardCmd>),
    #[command(flatten)]
    Common(Box<CommonCmd>),
    /// Show information about the system
    Info(commands::info::Info),
    /// Generate scripts for shell completion
    Completion(commands::completion::Completion),
}

fn main() {
    // CVE-2019-5736: before anything else runs, re-execute from a file that
    // no container process can write (see exe_protection.rs).
    let protection = match exe_protection::ensure() {
        Ok(protection) => protection,
        Err(err) => {
            eprintln!("error: failed to protect the youki binary (CVE-2019-5736): {err:#}");
            std::process::exit(1);
        }
    };

    let opts = parse_args();
    // From youki's own environment, before any container process exists.
    youki_wasm_workload::read_node_settings();
    if opts.version {
        print!("{}", version::long_version());
        return;
    }
    if let Err(err) = observability::init(&opts.global, &opts.youki_extend) {
        eprintln!("failed to initialize logging: {err:#}");
        std::process::exit(1);
    }
    exe_protection::log(protection);
    tracing::debug!(
        version = env!("CARGO_PKG_VERSION"),
        commit = version::GIT_COMMIT,
        "started by user {} with {:?}",
        nix::unistd::geteuid(),
        std::env::args_os()
    );

    // `run` and `exec` return the container's or process's exit code, so
    // their own failures exit 255, as upstream youki's do; others exit 1.
    let failure_code = match &opts.subcmd {
        Some(SubCommand::Common(cmd))
            if matches!(**cmd, CommonCmd::Run(_) | CommonCmd::Exec(_)) =>
        {
            255
        }
        _ => 1,
    };
    match run_subcommand(opts) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            // Managers read the reason from the log file; people from stderr.
            if !observability::logs_on_stderr() {
                tracing::error!("{err:#}");
            }
            eprintln!("error: {err:#}");
            std::process::exit(failure_code);
        }
    }
}

/// The clap command, with the fixes liboci-cli's derive cannot take.
fn cli() -> clap::Command {
    // liboci-cli names its checkpoint variant `Checkpointt`; runc, crun and
    // every manager call it `checkpoint`.
    Opts::command()
        .mut_subcommand("checkpointt", |cmd| cmd.visible_alias("checkpoint"))
        .mut_subcommand("run", |cmd| cmd.after_help(WASM_HELP))
        .mut_subcommand("create", |cmd| cmd.after_help(WASM_HELP))
}

fn parse_args() -> Opts {
    let matches = cli().get_matches();
    Opts::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Dispatches to the subcommand and returns the process's exit code.
fn run_subcommand(opts: Opts) -> Result<i32> {
    let systemd_cgroup = opts.global.systemd_cgroup;
    let root_flag = opts.global.root;
    // Only subcommands that touch containers create the state root.
    let root = || rootpath::determine(root_flag.clone()).context("failed to set up the state root");
    let success = |()| 0;
    let Some(subcmd) = opts.subcmd else {
        // No subcommand: the help, and success, as upstream youki does.
        cli().print_help()?;
        return Ok(0);
    };
    match subcmd {
        SubCommand::Standard(cmd) => match *cmd {
            StandardCmd::Create(args) => {
                commands::create::create(args, root()?, systemd_cgroup).map(success)
            }
            StandardCmd::Start(args) => commands::start::start(args, root()?).map(success),
            StandardCmd::State(args) => commands::state::state(args, root()?).map(success),
            StandardCmd::Kill(args) => commands::kill::kill(args, root()?).map(success),
            StandardCmd::Delete(args) => commands::delete::delete(args, root()?).map(success),
        },
        SubCommand::Common(cmd) => match *cmd {
            CommonCmd::Run(args) => commands::run::run(args, root()?, systemd_cgroup),
            CommonCmd::Exec(args) => commands::exec::exec(args, root()?),
            CommonCmd::Checkpointt(args) => {
                commands::checkpoint::checkpoint(args, root()?).map(success)
            }
            CommonCmd::Events(args) => commands::events::events(args, root()?).map(success),
            CommonCmd::List(args) => commands::list::list(args, root()?).map(success),
            CommonCmd::Pause(args) => commands::pause::pause(args, root()?).map(success),
            CommonCmd::Resume(args) => commands::resume::resume(args, root()?).map(success),
            CommonCmd::Ps(args) => commands::ps::ps(args, root()?).map(success),
            CommonCmd::Update(args) => commands::update::update(args, root()?).map(success),
            CommonCmd::Spec(args) => commands::spec::spec(args).map(success),
            CommonCmd::Features(args) => commands::features::features(args).map(success),
        },
        SubCommand::Info(args) => commands::info::info(args).map(success),
        SubCommand::Completion(args) => {
            commands::completion::completion(args, &mut cli()).map(success)
        }
    }
}
