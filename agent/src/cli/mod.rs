//! Command-line layout: flags parsed by clap into raw values, turned into
//! validated settings by each subcommand, then run. One file per command.

mod agent;
mod decode;
mod ipam;
mod output;
mod show;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Kubernetes node routing over BGP, without encapsulation.
#[derive(Debug, Parser)]
#[command(name = "podroute", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node routing agent (the daemon).
    Agent(agent::AgentArgs),
    /// BGP tools that work offline, on bytes.
    #[command(subcommand)]
    Bgp(BgpCommand),
    /// Ask the running agent: status, neighbors, routes.
    Show(show::ShowArgs),
    /// The cluster's pod CIDR blocks, from the API server.
    Ipam(ipam::IpamArgs),
    /// Print podroute's CustomResourceDefinitions (YAML), as in deploy/crds/.
    Crds,
}

#[derive(Debug, Subcommand)]
enum BgpCommand {
    /// Decode BGP messages from hex or from a raw TCP payload dump.
    Decode(decode::DecodeArgs),
}

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Bgp(BgpCommand::Decode(args)) => decode::run(args),
        Command::Show(args) => show::run(args),
        Command::Ipam(args) => ipam::run(args),
        Command::Crds => output::print_text(&crate::cluster::resources::definitions_yaml()),
    };
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podroute: {e:#}");
            ExitCode::from(2)
        }
    }
}
