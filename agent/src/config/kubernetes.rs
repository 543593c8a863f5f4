//! The `kubernetes` section: whether the agent takes its peers and pod
//! CIDRs from the API server, and how.
//!
//! Validated from the file and flags alone, before the cluster's overlay
//! is put on top: which pod CIDR mode applies is decided by what the
//! operator wrote, not by what the cluster answered.

use std::path::PathBuf;
use std::time::Duration;

use ipam::Pools;

use super::raw::{RawConfig, RawKubernetes};
use super::validate::{Problems, duration};

/// Where this node's pod CIDRs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodCidrSource {
    /// podroute's own IPAM: one PodCIDRBlock per block, claimed by
    /// creating it.
    Ipam,
    /// `node.spec.podCIDRs`, set by kube-controller-manager
    /// (`--allocate-node-cidrs`).
    NodeSpec,
    /// `pod_cidrs` in the file, or `--pod-cidr`.
    Static,
}

impl PodCidrSource {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PodCidrSource::Ipam => "ipam",
            PodCidrSource::NodeSpec => "node-spec",
            PodCidrSource::Static => "static",
        }
    }
}

/// How nodes peer with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mesh {
    /// Every node with every other node (iBGP full mesh).
    Full,
    /// Nodes labelled as reflectors peer with every node; the others only
    /// with the reflectors (RFC 4456).
    Reflectors,
    /// No node-to-node sessions: only BGPPeers (every node peers with its
    /// top-of-rack routers).
    None,
}

impl Mesh {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mesh::Full => "full",
            Mesh::Reflectors => "reflectors",
            Mesh::None => "none",
        }
    }
}

/// The validated `kubernetes` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KubernetesSettings {
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Where BGPPeer password Secrets are read.
    pub(crate) namespace: String,
    pub(crate) pod_cidr_source: PodCidrSource,
    /// The cluster pools: where IPAM cuts blocks from, and what the import
    /// guard lets in. `None` only in `static` and `node-spec` modes without
    /// the guard.
    pub(crate) pools: Option<Pools>,
    pub(crate) mesh: Mesh,
    /// The label (value `true`) that makes a node a route reflector.
    pub(crate) reflector_label: String,
    /// From nodes and BGPPeers, accept only prefixes inside the pools and
    /// never one that overlaps our own blocks.
    pub(crate) import_guard: bool,
    /// Most prefixes accepted from one node.
    pub(crate) node_max_prefix: u32,
    /// Least time between two writes of the node's status resource.
    pub(crate) status_interval: Duration,
}

/// The namespace for Secrets when neither the file nor --namespace
/// ($POD_NAMESPACE) names one: the one `deploy/` installs into.
pub(crate) const DEFAULT_NAMESPACE: &str = "podroute";
pub(crate) const DEFAULT_REFLECTOR_LABEL: &str = "podroute.io/route-reflector";
/// Enough for a node with several blocks per family, far below a leak of a
/// full table.
pub(crate) const DEFAULT_NODE_MAX_PREFIX: u32 = 64;
pub(crate) const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// `None` when the section is absent or `enabled: false`.
pub(crate) fn validate(p: &mut Problems, raw: &RawConfig) -> Option<KubernetesSettings> {
    let k: &RawKubernetes = raw.kubernetes.as_ref()?;
    if k.enabled == Some(false) {
        return None;
    }
    if raw.node.is_none() {
        p.add(
            "node",
            "missing: with `kubernetes` on, the agent needs its Node's name (--node-name, or NODE_NAME from the downward API)",
        );
    }
    let pools = super::pools::validate(p, "kubernetes.pools", &k.pools);
    let pod_cidr_source = match k.pod_cidrs.as_deref() {
        Some("ipam") => PodCidrSource::Ipam,
        Some("node-spec") => PodCidrSource::NodeSpec,
        Some("static") => PodCidrSource::Static,
        Some(other) => {
            p.add(
                "kubernetes.pod_cidrs",
                format!("`{other}` is not a mode: `ipam`, `node-spec` or `static`"),
            );
            PodCidrSource::Static
        }
        None if !raw.pod_cidrs.is_empty() => PodCidrSource::Static,
        None if !k.pools.is_empty() => PodCidrSource::Ipam,
        None => PodCidrSource::NodeSpec,
    };
    match pod_cidr_source {
        PodCidrSource::Ipam if k.pools.is_empty() => p.add(
            "kubernetes.pools",
            "`pod_cidrs: ipam` cuts blocks from pools: list at least one, e.g. `- cidr: 10.244.0.0/16` (block_len 24)",
        ),
        PodCidrSource::Static if raw.pod_cidrs.is_empty() => p.add(
            "pod_cidrs",
            "`kubernetes.pod_cidrs: static` needs this node's CIDRs in `pod_cidrs` or --pod-cidr",
        ),
        _ => {}
    }
    let import_guard = k.import_guard.unwrap_or(true);
    if import_guard && k.pools.is_empty() {
        p.add(
            "kubernetes.pools",
            "the import guard accepts only prefixes inside the cluster pools: list them (the cluster CIDRs), or set `import_guard: false`",
        );
    }
    let mesh = match k.mesh.as_deref() {
        None | Some("full") => Mesh::Full,
        Some("reflectors") => Mesh::Reflectors,
        Some("none") => Mesh::None,
        Some(other) => {
            p.add(
                "kubernetes.mesh",
                format!("`{other}` is not a mesh: `full`, `reflectors` or `none`"),
            );
            Mesh::Full
        }
    };
    let status_interval = k
        .status_interval
        .as_ref()
        .and_then(|d| p.take("kubernetes.status_interval", duration(d)))
        .unwrap_or(DEFAULT_STATUS_INTERVAL);
    if status_interval < Duration::from_secs(1) {
        p.add(
            "kubernetes.status_interval",
            "at least 1s: the status is for people and dashboards, not a stream",
        );
    }
    Some(KubernetesSettings {
        kubeconfig: k.kubeconfig.as_ref().map(PathBuf::from),
        namespace: k
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
        pod_cidr_source,
        pools,
        mesh,
        reflector_label: k
            .reflector_label
            .clone()
            .unwrap_or_else(|| DEFAULT_REFLECTOR_LABEL.to_string()),
        import_guard,
        node_max_prefix: k.node_max_prefix.unwrap_or(DEFAULT_NODE_MAX_PREFIX),
        status_interval,
    })
}
