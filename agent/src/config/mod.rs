//! The agent's configuration: one YAML file, read raw, validated once into
//! typed settings ([`Config`]). Unknown keys are errors, with their place.

mod ipam;
mod kubernetes;
mod overlay;
mod overrides;
mod pools;
pub(crate) mod raw;
mod reload;
mod templates;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use anyhow::{Context, bail};
use bgp::speaker::{LocalRoute, PeerConfig, SpeakerConfig};
use bgp::types::Prefix;

pub(crate) use ipam::IpamSettings;
pub(crate) use kubernetes::{DEFAULT_NAMESPACE, KubernetesSettings, Mesh, PodCidrSource};
pub(crate) use overlay::{ClusterOverlay, RESERVED_POLICY_PREFIX};
pub(crate) use overrides::Overrides;
#[cfg(test)]
pub(crate) use reload::kinds as reload_kinds;
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
    /// `None`: no Kubernetes (a lab, a standalone host).
    pub(crate) kubernetes: Option<KubernetesSettings>,
    /// Pod CIDRs allocated from pools in a state file, without Kubernetes;
    /// once allocated, they are `pod_cidrs` (see [`Source::allocated`]).
    pub(crate) ipam: Option<IpamSettings>,
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
    /// What the cluster adds, once the agent has asked it.
    pub(crate) cluster: Option<ClusterOverlay>,
    /// This node's blocks from the `ipam` state file, once the agent has
    /// allocated them: they are its `pod_cidrs` while `ipam` is on. Kept
    /// here so that a SIGHUP reload keeps them rather than allocating again.
    pub(crate) allocated: Option<Vec<::ipam::Cidr>>,
}

impl Source {
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        let host = Host::lookup();
        let (text, place) = self.text()?;
        let layers = Layers {
            overrides: &self.overrides,
            cluster: self.cluster.as_ref(),
            allocated: self.allocated.as_deref(),
        };
        parse_layers(&text, &host, layers).with_context(|| format!("in {place}"))
    }

    /// Only the `ipam` section, validated: what `podroute ipam` needs to
    /// read the state file without an agent.
    pub(crate) fn ipam(&self) -> anyhow::Result<Option<IpamSettings>> {
        self.section(ipam::validate)
    }

    /// Only the `kubernetes` section, validated: what the agent needs to
    /// ask the cluster for the rest.
    pub(crate) fn kubernetes(&self) -> anyhow::Result<Option<KubernetesSettings>> {
        self.section(kubernetes::validate)
    }

    /// One section, validated with the flags on top, the rest unread.
    fn section<T>(
        &self,
        validate: fn(&mut validate::Problems, &raw::RawConfig) -> Option<T>,
    ) -> anyhow::Result<Option<T>> {
        let (text, place) = self.text()?;
        let mut raw: raw::RawConfig = serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("in {place}"))?;
        let flags = self.overrides.apply(&mut raw);
        let mut problems = validate::Problems::default();
        let settings = validate(&mut problems, &raw);
        report(problems, &flags).with_context(|| format!("in {place}"))?;
        Ok(settings)
    }

    fn text(&self) -> anyhow::Result<(std::borrow::Cow<'static, str>, String)> {
        match &self.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                Ok((text.into(), path.display().to_string()))
            }
            None => Ok((
                EMBEDDED_DEFAULT.into(),
                "the embedded default configuration".to_string(),
            )),
        }
    }
}

/// Reads and validates `path`.
#[cfg(test)]
pub(crate) fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Source {
        file: Some(path.to_path_buf()),
        ..Source::default()
    }
    .load()
}

#[cfg(test)]
pub(crate) fn parse(text: &str, host: &Host) -> anyhow::Result<Config> {
    parse_with(text, host, &Overrides::default())
}

#[cfg(test)]
fn parse_with(text: &str, host: &Host, overrides: &Overrides) -> anyhow::Result<Config> {
    parse_layers(text, host, Layers::flags(overrides))
}

/// Parses `text` with the blocks the agent allocated from the `ipam`
/// state file (tests of standalone IPAM and its reload).
#[cfg(test)]
pub(crate) fn parse_with_allocated(
    text: &str,
    host: &Host,
    allocated: &[::ipam::Cidr],
) -> anyhow::Result<Config> {
    // One statement: the default flags live until it ends.
    parse_layers(
        text,
        host,
        Layers {
            allocated: Some(allocated),
            ..Layers::flags(&Overrides::default())
        },
    )
}

/// Parses `text` with the cluster's `overlay` over it (tests of the
/// cluster's intent).
#[cfg(test)]
pub(crate) fn parse_with_overlay(
    text: &str,
    host: &Host,
    overlay: &ClusterOverlay,
) -> anyhow::Result<Config> {
    // One statement: the default flags live until it ends.
    parse_layers(
        text,
        host,
        Layers {
            cluster: Some(overlay),
            ..Layers::flags(&Overrides::default())
        },
    )
}

/// What is put over the file as written, in this order.
#[derive(Debug, Clone, Copy)]
struct Layers<'a> {
    overrides: &'a Overrides,
    /// Only where the `kubernetes` section asks the cluster.
    cluster: Option<&'a ClusterOverlay>,
    /// Only where the `ipam` section allocates from a state file.
    allocated: Option<&'a [::ipam::Cidr]>,
}

#[cfg(test)]
impl<'a> Layers<'a> {
    /// The flags alone.
    fn flags(overrides: &'a Overrides) -> Self {
        Layers {
            overrides,
            cluster: None,
            allocated: None,
        }
    }
}

/// Parses `text`, puts `overrides` over it, and validates the result: one
/// validation, so that a bad flag is reported like a bad key, beside it.
/// The file, the flags over it, the cluster's overlay or the allocated
/// blocks over both; then one validation.
fn parse_layers(text: &str, host: &Host, layers: Layers<'_>) -> anyhow::Result<Config> {
    let mut raw: raw::RawConfig =
        serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let flags = layers.overrides.apply(&mut raw);
    // The `kubernetes` and `ipam` sections and the reserved names are
    // judged on what the operator wrote, before the cluster or the state
    // file adds its part.
    let mut problems = validate::Problems::default();
    let kubernetes = kubernetes::validate(&mut problems, &raw);
    let ipam = ipam::validate(&mut problems, &raw);
    if let (Some(_), Some(blocks)) = (&ipam, layers.allocated) {
        raw.pod_cidrs = blocks.iter().map(ToString::to_string).collect();
    }
    let cluster = layers.cluster;
    for name in raw.policies.keys() {
        if name.starts_with(RESERVED_POLICY_PREFIX) {
            problems.add(
                &format!("policies.{name}"),
                format!("names starting with `{RESERVED_POLICY_PREFIX}` are podroute's own (the import guard); choose another"),
            );
        }
    }
    if let Some(overlay) = cluster {
        for note in overlay.apply(&mut raw) {
            tracing::warn!("{note}");
        }
    }
    match validate::validate(raw, host) {
        Ok(mut c) => {
            report(problems, &flags)?;
            c.kubernetes = kubernetes;
            c.ipam = ipam;
            Ok(c)
        }
        Err(more) => {
            problems.0.extend(more.0);
            report(problems, &flags)?;
            bail!("the configuration is not valid")
        }
    }
}

fn report(problems: validate::Problems, flags: &overrides::Applied) -> anyhow::Result<()> {
    if problems.0.is_empty() {
        return Ok(());
    }
    let n = problems.0.len();
    let list = problems
        .0
        .iter()
        .map(|p| p.with_flag(flags).to_string())
        .collect::<Vec<_>>()
        .join("\n  ");
    bail!(
        "{n} problem{} in the configuration:\n  {list}",
        if n == 1 { "" } else { "s" }
    )
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
