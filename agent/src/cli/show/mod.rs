//! `podroute show ...`: asks the running agent over its control socket and
//! prints the answer as tables (`text`) or as the protocol's JSON (`json`).

pub(crate) mod json;
pub(crate) mod text;

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::output::{Format, write_err};
use crate::control::protocol::{Query, ResponseBody, RibDirection};
use crate::control::{DEFAULT_SOCKET, client};

#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
    podroute show neighbors
    podroute show routes --all 10.244.2.0/24
    podroute show fib
    podroute show ipam
    podroute show rib in 10.0.0.2 -o json | jq '.entries | length'

The control socket is root-only: run with sudo. Exit status: 0 when the
agent answered, 1 when it answered with an error, 2 when it could not be
asked.")]
pub(crate) struct ShowArgs {
    #[command(subcommand)]
    what: ShowCommand,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text, global = true)]
    output: Format,

    /// The agent's control socket.
    #[arg(
        long,
        value_name = "PATH",
        env = "PODROUTE_SOCKET",
        default_value = DEFAULT_SOCKET,
        global = true
    )]
    socket: PathBuf,
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// The agent: identity, uptime, peers, RIB size.
    Status,
    /// Every neighbor: state, uptime and prefix counts per family.
    Neighbors,
    /// One neighbor in detail: capabilities, timers, policy, counters.
    Neighbor {
        /// The neighbor's address.
        address: IpAddr,
    },
    /// The Loc-RIB: best paths (and ECMP), or every path with --all.
    Routes {
        /// Every path, with the reason each one is not the best.
        #[arg(long)]
        all: bool,
        /// One prefix, shown path by path (e.g. 10.244.2.0/24), or an address: the longest prefix holding it.
        prefix: Option<String>,
    },
    /// A neighbor's Adj-RIB-In or Adj-RIB-Out.
    #[command(subcommand)]
    Rib(RibCommand),
    /// Kernel routes: what podroute wants against what the kernel has, and why anything is not installed.
    Fib,
    /// Pod CIDRs: the mode, this node's CIDRs, the pools' usage and every
    /// block of the cluster (`ipam` mode).
    Ipam,
}

#[derive(Debug, Subcommand)]
enum RibCommand {
    /// What the neighbor sent, before import policy (when kept).
    In {
        /// The neighbor's address.
        address: IpAddr,
    },
    /// What we advertise to the neighbor, after export policy.
    Out {
        /// The neighbor's address.
        address: IpAddr,
    },
}

impl ShowCommand {
    fn query(self) -> Query {
        match self {
            ShowCommand::Status => Query::Status,
            ShowCommand::Fib => Query::Fib,
            ShowCommand::Ipam => Query::Ipam,
            ShowCommand::Neighbors => Query::Neighbors,
            ShowCommand::Neighbor { address } => Query::Neighbor { address },
            ShowCommand::Routes { all, prefix } => Query::Routes { all, prefix },
            ShowCommand::Rib(RibCommand::In { address }) => Query::Rib {
                direction: RibDirection::In,
                address,
            },
            ShowCommand::Rib(RibCommand::Out { address }) => Query::Rib {
                direction: RibDirection::Out,
                address,
            },
        }
    }
}

pub(crate) fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let query = args.what.query();
    // Failing to ask is an `Err`: exit status 2, from `cli::main`.
    let body = client::request(&args.socket, query.clone())?;
    if let ResponseBody::Error { message } = &body {
        eprintln!("podroute: {message}");
        return Ok(ExitCode::from(1));
    }
    check_kind(&query, &body)?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.output {
        Format::Text => text::print(&mut out, &query, &body)?,
        Format::Json => json::print(&mut out, &body)?,
    }
    out.flush().map_err(write_err)?;
    Ok(ExitCode::SUCCESS)
}

/// The printers trust that the answer is the kind the query asks for.
fn check_kind(query: &Query, body: &ResponseBody) -> anyhow::Result<()> {
    let ok = matches!(
        (query, body),
        (Query::Status, ResponseBody::Status(_))
            | (Query::Neighbors, ResponseBody::Neighbors { .. })
            | (Query::Neighbor { .. }, ResponseBody::Neighbor(_))
            | (Query::Routes { .. }, ResponseBody::Routes { .. })
            | (Query::Rib { .. }, ResponseBody::Rib { .. })
            | (Query::Fib, ResponseBody::Fib(_))
            | (Query::Ipam, ResponseBody::Ipam(_))
    );
    if !ok {
        let name = |v: serde_json::Value, tag: &str| {
            v.get(tag)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
                .to_string()
        };
        let asked = name(serde_json::to_value(query)?, "query");
        let got = name(serde_json::to_value(body)?, "response");
        bail!(
            "the agent answered a `{asked}` query with `{got}`; is it the same podroute release?"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatched_answer_is_named() {
        let e = check_kind(
            &Query::Neighbors,
            &ResponseBody::Rib {
                entries: Vec::new(),
            },
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the agent answered a `neighbors` query with `rib`; is it the same podroute release?"
        );
    }
}
