//! `podroute agent`: run the node routing daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use bgp::fsm::RemoteAs;
use clap::Args;

use crate::config::{self, Config, MAIN_TABLE, Overrides, PodCidrRoute};
use crate::daemon::{self, logging::LogFormat};
use crate::display::list_or_none;

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Configuration file (YAML). Without it, the embedded default: AS 64512,
    /// router ID from this host's IPv4 address, no peers.
    #[arg(long, short = 'c', env = "PODROUTE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration, print what it means, and exit.
    #[arg(long)]
    check: bool,
    /// Take this node out of routing and exit: for removing a node or
    /// uninstalling. A running agent is first asked to stop for good (its
    /// peers withdraw our routes at once, no graceful restart); then every
    /// kernel route with our protocol number in our table is removed.
    #[arg(long, conflicts_with = "check")]
    cleanup: bool,
    /// Control socket for `podroute show`, instead of the configured one.
    #[arg(long, env = "PODROUTE_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// This node's name, instead of `node` (in a DaemonSet, from the
    /// downward API's `spec.nodeName`).
    #[arg(long, env = "NODE_NAME", value_name = "NAME")]
    node_name: Option<String>,
    /// BGP router ID, instead of `router_id`; `auto`: this host's first
    /// global IPv4 address.
    #[arg(long, env = "PODROUTE_ROUTER_ID", value_name = "ID")]
    router_id: Option<String>,
    /// This node's AS number, instead of `asn`.
    #[arg(long, env = "PODROUTE_ASN", value_name = "ASN")]
    asn: Option<String>,
    /// A pod CIDR of this node, originated and unreachable in the FIB.
    /// Repeat it (or separate with commas) for IPv4 and IPv6; replaces
    /// `pod_cidrs`.
    #[arg(
        long = "pod-cidr",
        env = "PODROUTE_POD_CIDRS",
        value_delimiter = ',',
        value_name = "CIDR"
    )]
    pod_cidrs: Vec<String>,
    /// Where to serve /metrics, /healthz and /readyz, instead of
    /// `metrics.listen`; `none`: nowhere.
    #[arg(long, env = "PODROUTE_METRICS_LISTEN", value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
    /// The route protocol number of our kernel routes (1-255, or
    /// `podroute`), instead of `fib.protocol`.
    #[arg(long, value_name = "NUMBER")]
    fib_protocol: Option<String>,
    /// Leave the kernel's routing table alone (BGP only), whatever
    /// `fib.enabled` says.
    #[arg(long)]
    no_fib: bool,
    /// podroute's namespace, where BGPPeer password Secrets are read,
    /// instead of `kubernetes.namespace` (in a DaemonSet, from the downward
    /// API's `metadata.namespace`).
    #[arg(long, env = "POD_NAMESPACE", value_name = "NAMESPACE")]
    namespace: Option<String>,
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

impl AgentArgs {
    /// An empty value counts as not given: a DaemonSet often sets an
    /// environment variable to "" rather than leave it out.
    fn overrides(&self) -> Overrides {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let pod_cidrs: Vec<String> = self
            .pod_cidrs
            .iter()
            .filter(|c| !c.trim().is_empty())
            .cloned()
            .collect();
        Overrides {
            node_name: given(&self.node_name),
            router_id: given(&self.router_id),
            asn: given(&self.asn),
            pod_cidrs: (!pod_cidrs.is_empty()).then_some(pod_cidrs),
            metrics_listen: given(&self.metrics_listen),
            fib_protocol: given(&self.fib_protocol),
            no_fib: self.no_fib,
            control_socket: self.socket.clone(),
            namespace: given(&self.namespace),
        }
    }
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let source = config::Source {
        file: args.config.clone(),
        overrides: args.overrides(),
        cluster: None,
        allocated: None,
    };
    let config = source.load()?;
    if args.check {
        print_summary(&config);
        return Ok(ExitCode::SUCCESS);
    }
    if args.cleanup {
        decommission_running_agent(&config.control_socket)?;
        let marking = crate::fib::Marking::from(&config.fib);
        let n = crate::fib::cleanup(marking)?;
        println!(
            "removed {n} kernel route{} with protocol {} from table {}",
            if n == 1 { "" } else { "s" },
            marking.protocol,
            marking.table
        );
        return Ok(ExitCode::SUCCESS);
    }
    daemon::logging::init(args.log_format, &args.log_level)?;
    daemon::run(source, config)?;
    Ok(ExitCode::SUCCESS)
}

/// `--cleanup` with the agent still running: it tells its peers to withdraw
/// our routes (no graceful restart) and exits; then the routes can go.
fn decommission_running_agent(socket: &std::path::Path) -> anyhow::Result<()> {
    use crate::control::protocol::{Query, ResponseBody};
    if !socket.exists() {
        return Ok(());
    }
    match crate::control::client::request(socket, Query::Decommission) {
        Ok(ResponseBody::Stopping { message }) => println!("agent: {message}"),
        Ok(other) => anyhow::bail!("the agent did not agree to stop: {other:?}"),
        // A socket left by an agent that is gone: nothing to stop.
        Err(_) => return Ok(()),
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while socket.exists() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "the agent did not exit within 15 s after being asked to; stop it, then run --cleanup again"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// `--check`: what the configuration means, in a few lines.
fn print_summary(config: &Config) {
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
    if let Some(node) = &config.node {
        println!("  node: {node}");
    }
    match &config.ipam {
        // Nothing is allocated by a check: the state file is not touched.
        Some(ipam) => {
            let pools: Vec<String> = ipam.pools.iter().map(ToString::to_string).collect();
            println!("  pod CIDRs: one block per pool, allocated when the agent starts");
            println!(
                "  ipam: state file {}, pools {}",
                ipam.file.display(),
                pools.join(", ")
            );
        }
        None => println!("  pod CIDRs: {}", list_or_none(&config.pod_cidrs)),
    }
    let fib = &config.fib;
    if fib.enabled {
        let table = if fib.table == MAIN_TABLE {
            "main".to_string()
        } else {
            fib.table.to_string()
        };
        let pod_route = match fib.pod_cidr_route {
            PodCidrRoute::Unreachable => "unreachable",
            PodCidrRoute::Blackhole => "blackhole",
            PodCidrRoute::None => "none",
        };
        println!(
            "  FIB: protocol {}, table {table}, metric {}, pod CIDR route {pod_route}",
            fib.protocol, fib.metric
        );
    } else {
        println!("  FIB: off, the kernel's routing table is left alone");
    }
    match config.metrics {
        Some(a) => println!("  metrics: http://{a}/metrics"),
        None => println!("  metrics: off"),
    }
    if let Some(k) = &config.kubernetes {
        let pools: Vec<String> = k
            .pools
            .iter()
            .flat_map(|p| p.iter())
            .map(ToString::to_string)
            .collect();
        println!(
            "  kubernetes: pod CIDRs from {}, pools {}, mesh {}, import guard {}, namespace {}",
            k.pod_cidr_source.name(),
            list_or_none(&pools),
            k.mesh.name(),
            if k.import_guard { "on" } else { "off" },
            k.namespace,
        );
        println!(
            "    (peers, router ID and pod CIDRs from the cluster are added when the agent runs)"
        );
    }
    for p in &config.peers {
        let mut notes = Vec::new();
        let ebgp = match p.remote_as {
            RemoteAs::Exact(a) => a != config.speaker.asn,
            RemoteAs::Internal => false,
            RemoteAs::External => true,
        };
        if ebgp && (p.import.is_none() || p.export.is_none()) {
            notes.push(
                "RFC 8212: eBGP without import/export policy exchanges nothing in that direction",
            );
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
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Agent {
        #[command(flatten)]
        args: AgentArgs,
    }

    #[test]
    fn empty_values_count_as_not_given() {
        let agent = Agent::try_parse_from([
            "podroute",
            "--node-name=",
            "--pod-cidr",
            ",",
            "--metrics-listen",
            "",
        ])
        .unwrap();
        let o = agent.args.overrides();
        assert_eq!(
            (o.node_name, o.pod_cidrs, o.metrics_listen),
            (None, None, None)
        );
    }

    #[test]
    fn flags_become_overrides() {
        let agent = Agent::try_parse_from([
            "podroute",
            "--node-name",
            "node-a",
            "--router-id",
            "192.0.2.10",
            "--asn",
            "64512",
            "--pod-cidr",
            "10.244.1.0/24",
            "--pod-cidr",
            "fd00:10:244:1::/64,10.244.2.0/24",
            "--metrics-listen",
            "none",
            "--fib-protocol",
            "podroute",
            "--no-fib",
            "--socket",
            "/tmp/podroute.sock",
        ])
        .unwrap();
        assert_eq!(
            agent.args.overrides(),
            Overrides {
                node_name: Some("node-a".into()),
                router_id: Some("192.0.2.10".into()),
                asn: Some("64512".into()),
                pod_cidrs: Some(vec![
                    "10.244.1.0/24".into(),
                    "fd00:10:244:1::/64".into(),
                    "10.244.2.0/24".into(),
                ]),
                metrics_listen: Some("none".into()),
                fib_protocol: Some("podroute".into()),
                no_fib: true,
                control_socket: Some("/tmp/podroute.sock".into()),
                namespace: None,
            }
        );
    }
}
