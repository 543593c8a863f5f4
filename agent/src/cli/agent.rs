//! `podroute agent`: run the node routing daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use bgp::fsm::RemoteAs;
use clap::Args;

use crate::daemon::{self, Source, logging::LogFormat};

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Configuration file (YAML). Without it, the embedded default: AS 64512,
    /// router ID from this host's IPv4 address, no peers.
    #[arg(long, short = 'c', env = "PODROUTE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration, print what it means, and exit.
    #[arg(long)]
    check: bool,
    /// Control socket for `podroute show`, instead of the configured one.
    #[arg(long, env = "PODROUTE_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, value_enum, default_value = "text", env = "PODROUTE_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter: `info`, `debug`, or per module (`info,podroute::net=debug`).
    #[arg(
        long,
        default_value = "info",
        env = "PODROUTE_LOG",
        value_name = "FILTER"
    )]
    log_level: String,
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.config {
        Some(p) => Source::File(p.clone()),
        None => Source::Embedded,
    };
    let mut config = source.load()?;
    if let Some(s) = args.socket {
        config.control_socket = s;
    }
    if args.check {
        println!(
            "configuration OK: AS {}, router ID {}, {} peer{}, {} dynamic neighbour range{}, {} originated prefix{}, {} polic{}",
            config.speaker.asn,
            config.speaker.router_id,
            config.peers.len(),
            plural(config.peers.len(), "", "s"),
            config.speaker.dynamic_neighbors.len(),
            plural(config.speaker.dynamic_neighbors.len(), "", "s"),
            config.originate.len(),
            plural(config.originate.len(), "", "es"),
            config.speaker.policies.len(),
            plural(config.speaker.policies.len(), "y", "ies"),
        );
        for p in &config.peers {
            let mut notes = Vec::new();
            let ebgp = match p.remote_as {
                RemoteAs::Exact(a) => a != config.speaker.asn,
                RemoteAs::Internal => false,
                RemoteAs::External => true,
            };
            if ebgp && (p.import.is_none() || p.export.is_none()) {
                notes.push("RFC 8212: eBGP without import/export policy exchanges nothing in that direction");
            }
            println!(
                "  peer {} AS {}{}{}",
                p.address,
                match p.remote_as {
                    RemoteAs::Exact(a) => a.to_string(),
                    RemoteAs::Internal => "internal".to_string(),
                    RemoteAs::External => "external".to_string(),
                },
                p.description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                notes
                    .iter()
                    .map(|n| format!("\n    note: {n}"))
                    .collect::<String>()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    daemon::logging::init(args.log_format, &args.log_level)?;
    daemon::run(source, config)?;
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
