//! The agent's configuration: one YAML file, read raw, validated once into
//! typed settings ([`Config`]). Unknown keys are errors, with their place.

mod overrides;
mod raw;
mod reload;
mod templates;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use anyhow::{Context, bail};
use bgp::speaker::{LocalRoute, PeerConfig, SpeakerConfig};
use bgp::types::Prefix;

pub(crate) use overrides::Overrides;
pub(crate) use reload::plan as reload_plan;
pub(crate) use validate::Host;

/// What `podroute agent` runs without `--config`.
pub(crate) const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

/// Where to accept BGP connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    pub(crate) port: u16,
    pub(crate) addresses: Vec<IpAddr>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) node: Option<String>,
    pub(crate) speaker: SpeakerConfig,
    pub(crate) peers: Vec<PeerConfig>,
    /// What we advertise: the `originate` entries, then every pod CIDR that
    /// `originate` does not list itself.
    pub(crate) originate: Vec<LocalRoute>,
    /// This node's pod CIDRs, IPv4 and/or IPv6, disjoint. Also in
    /// `originate`; kept apart for the FIB's [`FibSettings::pod_cidr_route`].
    pub(crate) pod_cidrs: Vec<Prefix>,
    pub(crate) fib: FibSettings,
    /// Where `/metrics`, `/healthz` and `/readyz` are served; `None`: not at all.
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) listen: Listen,
    pub(crate) control_socket: PathBuf,
    /// Where the graceful-restart marker is kept between runs.
    pub(crate) state_dir: PathBuf,
}

/// How best paths reach the kernel's routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FibSettings {
    /// `false`: BGP only, the kernel is left alone (a route server, a lab).
    pub(crate) enabled: bool,
    /// The route protocol number our routes carry: how we tell ours from
    /// everyone else's when we reconcile. Never one another daemon uses.
    pub(crate) protocol: u8,
    /// The routing table; 254 is `main`.
    pub(crate) table: u32,
    /// What the FIB installs for our own pod CIDRs.
    pub(crate) pod_cidr_route: PodCidrRoute,
    /// The route priority (`metric` in `ip route`) of our routes.
    pub(crate) metric: u32,
}

/// Our route protocol number unless `fib.protocol` says otherwise: unused
/// by the kernel's list, FRR, BIRD and the other daemons we know of.
pub(crate) const PODROUTE_ROUTE_PROTOCOL: u8 = 44;
/// The kernel's `main` routing table.
pub(crate) const MAIN_TABLE: u32 = 254;

impl Default for FibSettings {
    fn default() -> Self {
        FibSettings {
            enabled: true,
            protocol: PODROUTE_ROUTE_PROTOCOL,
            table: MAIN_TABLE,
            pod_cidr_route: PodCidrRoute::Unreachable,
            metric: 0,
        }
    }
}

/// The route the FIB installs for each of this node's own pod CIDRs. The
/// pods' own /32 and /128 routes are more specific; this one catches
/// traffic to addresses of the block no pod has, so that it does not follow
/// the default route out of the node and back (a loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodCidrRoute {
    /// Dropped with ICMP unreachable: senders learn at once.
    Unreachable,
    /// Dropped silently.
    Blackhole,
    /// No route: the CNI plugin or an operator installs one.
    None,
}

/// Where `/metrics` is served unless `metrics.listen` says otherwise:
/// loopback, since the endpoint has no authentication.
pub(crate) const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9180));

/// Where the configuration comes from: a file, or the embedded default;
/// with the command line's overrides on top. SIGHUP loads it again the
/// same way, so that a flag keeps winning over the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub(crate) file: Option<PathBuf>,
    pub(crate) overrides: Overrides,
}

impl Source {
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        let host = Host::lookup();
        match &self.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                parse_with(&text, &host, &self.overrides)
                    .with_context(|| format!("in {}", path.display()))
            }
            None => parse_with(EMBEDDED_DEFAULT, &host, &self.overrides)
                .context("in the embedded default configuration"),
        }
    }
}

/// Reads and validates `path`.
#[cfg(test)]
pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Source {
        file: Some(path.to_path_buf()),
        overrides: Overrides::default(),
    }
    .load()
}

#[cfg(test)]
pub(crate) fn parse(text: &str, host: &Host) -> anyhow::Result<Config> {
    parse_with(text, host, &Overrides::default())
}

/// Parses `text`, puts `overrides` over it, and validates the result: one
/// validation, so that a bad flag is reported like a bad key, beside it.
fn parse_with(text: &str, host: &Host, overrides: &Overrides) -> anyhow::Result<Config> {
    let mut raw: raw::RawConfig =
        serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let flags = overrides.apply(&mut raw);
    match validate::validate(raw, host) {
        Ok(c) => Ok(c),
        Err(problems) => {
            let n = problems.0.len();
            let list = problems
                .0
                .iter()
                .map(|p| p.with_flag(&flags).to_string())
                .collect::<Vec<_>>()
                .join("\n  ");
            bail!(
                "{n} problem{} in the configuration:\n  {list}",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

impl Host {
    /// Reads the host's interface addresses.
    pub(crate) fn lookup() -> Host {
        Host {
            ipv4: crate::net::first_global_ipv4(),
        }
    }
}

#[cfg(test)]
mod tests;
