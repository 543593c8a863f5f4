//! The cluster's intent: from the full state the watchers hold (Nodes,
//! BGPPeers, the Secrets of podroute's namespace, this node's pod CIDRs)
//! to the [`ClusterOverlay`] put over the configuration file.
//!
//! Pure: no I/O, no clock. Equal state gives an equal overlay (nodes and
//! BGPPeers are taken in name order, peers come out sorted by address), so
//! a recompute with nothing changed changes nothing, and a change touches
//! only the sessions it concerns: the reload plan compares peer by peer.
//!
//! The rules:
//! - This node: `router_id` is its first IPv4 InternalIP; its pod CIDRs are
//!   the IPAM's blocks or its `spec.podCIDRs` (none in `static` mode, where
//!   the file's stand).
//! - Full mesh: one iBGP session to every other node per address family
//!   both have an InternalIP of, from ours to theirs. Nodes being deleted
//!   are left out.
//! - Reflectors (nodes labelled `<reflector_label>=true`): a reflector
//!   peers with every node, the non-reflectors being its clients; the
//!   others peer with the reflectors only.
//! - BGPPeers whose node selector matches this node's labels: one session
//!   each, its password from a Secret. Anything that would make the whole
//!   configuration invalid (an address that is not one, a missing Secret,
//!   a policy the file does not define, ...) leaves that one peer out with
//!   a warning, never the rest: the overlay must always validate.
//! - The import guard (`podroute-guard`, first in every cluster peer's
//!   import chain): never a prefix that overlaps this node's blocks (a
//!   block itself, anything inside it, any supernet of it), nothing outside
//!   the cluster pools; a default route only from a BGPPeer that says
//!   `acceptDefaultRoute` (`podroute-guard-default-route`). Its default is
//!   `next`, so a BGPPeer's own import policies decide after it.
//! - Export to a BGPPeer: its `export` policies, else `podroute-export-own`
//!   (this node's own routes only). Both chains are set, so RFC 8212 never
//!   silences an eBGP BGPPeer by accident.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp::types::{Family, HoldTime, Ipv4Prefix, Ipv6Prefix, Prefix};
use ipam::Cidr;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

use super::resources::{BGPPeer, SecretKeyRef};
use crate::config::raw::{RawAsn, RawMatch, RawMaxPrefix, RawPeer, RawPolicy, RawRule};
use crate::config::{ClusterOverlay, KubernetesSettings, Mesh, PodCidrSource};

/// The import guard, first in the import chain of every node and BGPPeer.
pub(crate) const GUARD: &str = "podroute-guard";
/// The guard that also lets a default route in (`acceptDefaultRoute`).
pub(crate) const GUARD_DEFAULT_ROUTE: &str = "podroute-guard-default-route";
/// A BGPPeer's export policy unless it names its own: this node's routes.
pub(crate) const EXPORT_OWN: &str = "podroute-export-own";

/// The longest TCP-MD5 key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`).
const MAX_PASSWORD_LEN: usize = 80;

/// Everything the intent is computed from: the watchers' stores in full,
/// and what the agent knows itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterView {
    /// This node's name.
    pub(crate) node: String,
    pub(crate) nodes: Vec<Arc<Node>>,
    pub(crate) peers: Vec<Arc<BGPPeer>>,
    /// The Secrets of podroute's namespace (BGPPeer passwords).
    pub(crate) secrets: Vec<Arc<Secret>>,
    /// This node's pod CIDRs as the agent has them: the IPAM's blocks, or
    /// the file's in `static` mode (for the guard). `None`: this Node's
    /// `spec.podCIDRs` (`node-spec` mode).
    pub(crate) own_cidrs: Option<Vec<Cidr>>,
    /// The policies the configuration file defines: a BGPPeer may name
    /// only these in `import` and `export`.
    pub(crate) file_policies: BTreeSet<String>,
}

/// The overlay, and what an operator should hear about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Intent {
    pub(crate) overlay: ClusterOverlay,
    /// One line each, for the log: peers left out and why.
    pub(crate) warnings: Vec<String>,
}

/// The overlay the cluster's state `view` asks for.
pub(crate) fn overlay(view: &ClusterView, settings: &KubernetesSettings) -> Intent {
    let mut warnings = Vec::new();
    let mut nodes: Vec<&Node> = view.nodes.iter().map(Arc::as_ref).collect();
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let me = nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(view.node.as_str()))
        .map(|n| Member::of(n, &settings.reflector_label));

    let own = own_blocks(view, me.as_ref().map(|m| m.node), settings, &mut warnings);
    let mut overlay = ClusterOverlay {
        pod_cidrs: (settings.pod_cidr_source != PodCidrSource::Static)
            .then(|| own.iter().map(Cidr::to_string).collect()),
        policies: policies(&own, settings, &mut warnings),
        ..ClusterOverlay::default()
    };
    let Some(me) = me else {
        warnings.push(format!(
            "node {}: no Node of that name in the cluster: no peers from the cluster (is --node-name / NODE_NAME right?)",
            view.node
        ));
        return Intent { overlay, warnings };
    };
    overlay.router_id = me.v4;
    if me.v4.is_none() {
        warnings.push(format!(
            "node {}: no IPv4 InternalIP: the router ID comes from the file or the host",
            me.name
        ));
    }

    let mut peers = Peers::default();
    let members: Vec<Member<'_>> = nodes
        .iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .map(|n| Member::of(n, &settings.reflector_label))
        .collect();
    node_sessions(&me, &members, settings, &mut peers, &mut warnings);

    let mut bgp_peers: Vec<&BGPPeer> = view.peers.iter().map(Arc::as_ref).collect();
    bgp_peers.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for p in bgp_peers {
        let name = p.name_any();
        match bgp_peer(p, &me, view, settings, &overlay.policies, &mut warnings) {
            Ok(None) => {}
            Ok(Some((address, raw))) => {
                peers.add(address, format!("BGPPeer {name}"), raw, &mut warnings)
            }
            Err(why) => warnings.push(format!("BGPPeer {name}: {why}: session not configured")),
        }
    }
    overlay.peers = peers.0.into_values().map(|(_, p)| p).collect();
    Intent { overlay, warnings }
}

/// What the intent needs of a Node.
struct Member<'a> {
    node: &'a Node,
    name: String,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    reflector: bool,
}

impl<'a> Member<'a> {
    fn of(node: &'a Node, reflector_label: &str) -> Self {
        let internal = node
            .status
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| a.address.trim().parse::<IpAddr>().ok());
        let (mut v4, mut v6) = (None, None);
        for a in internal {
            match a {
                IpAddr::V4(a) => {
                    v4.get_or_insert(a);
                }
                IpAddr::V6(a) => {
                    v6.get_or_insert(a);
                }
            }
        }
        Member {
            node,
            name: node.name_any(),
            v4,
            v6,
            reflector: node.labels().get(reflector_label).map(String::as_str) == Some("true"),
        }
    }

    fn addresses(&self) -> impl Iterator<Item = IpAddr> {
        self.v4
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.v6.map(IpAddr::V6))
    }
}

/// The peers so far by address, with who asked for each (for the warning
/// when a second one wants the same address).
#[derive(Default)]
struct Peers(BTreeMap<IpAddr, (String, RawPeer)>);

impl Peers {
    fn add(&mut self, address: IpAddr, who: String, peer: RawPeer, warnings: &mut Vec<String>) {
        match self.0.get(&address) {
            Some((first, _)) => warnings.push(format!(
                "{who}: address {address} is already peered as {first}: session not configured"
            )),
            None => {
                self.0.insert(address, (who, peer));
            }
        }
    }
}

/// How this node peers with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Full mesh.
    Mesh,
    /// The other node is a route reflector (we are its client, or a
    /// reflector too: a non-client).
    Reflector,
    /// We reflect for the other node.
    Client,
}

fn role(mesh: Mesh, me: &Member<'_>, other: &Member<'_>) -> Option<Role> {
    match mesh {
        Mesh::None => None,
        Mesh::Full => Some(Role::Mesh),
        // A reflector stays `Reflector` from every side: a node becoming
        // one changes its sessions with the other reflectors not at all.
        Mesh::Reflectors => match (me.reflector, other.reflector) {
            (_, true) => Some(Role::Reflector),
            (true, false) => Some(Role::Client),
            (false, false) => None,
        },
    }
}

fn node_sessions(
    me: &Member<'_>,
    members: &[Member<'_>],
    settings: &KubernetesSettings,
    peers: &mut Peers,
    warnings: &mut Vec<String>,
) {
    if settings.mesh == Mesh::None {
        return;
    }
    if settings.mesh == Mesh::Reflectors && !me.reflector && !members.iter().any(|m| m.reflector) {
        warnings.push(format!(
            "mesh `reflectors`, but no node is labelled {}=true: no sessions with other nodes",
            settings.reflector_label
        ));
    }
    if me.v4.is_none() && me.v6.is_none() {
        warnings.push(format!(
            "node {}: no InternalIP: no sessions with other nodes",
            me.name
        ));
        return;
    }
    let own: Vec<IpAddr> = me.addresses().collect();
    let import = settings.import_guard.then(|| vec![GUARD.to_string()]);
    for other in members.iter().filter(|m| m.name != me.name) {
        let Some(role) = role(settings.mesh, me, other) else {
            continue;
        };
        if other.v4.is_none() && other.v6.is_none() {
            warnings.push(format!("node {}: no InternalIP: no session", other.name));
            continue;
        }
        let pairs = [
            (
                me.v4.map(IpAddr::V4),
                other.v4.map(IpAddr::V4),
                Family::IPV4_UNICAST,
            ),
            (
                me.v6.map(IpAddr::V6),
                other.v6.map(IpAddr::V6),
                Family::IPV6_UNICAST,
            ),
        ];
        let mut any = false;
        for (local, remote, family) in pairs {
            let (Some(local), Some(remote)) = (local, remote) else {
                continue;
            };
            any = true;
            if own.contains(&remote) {
                warnings.push(format!(
                    "node {}: InternalIP {remote} is this node's own: no session",
                    other.name
                ));
                continue;
            }
            let peer = RawPeer {
                address: Some(remote.to_string()),
                remote_as: Some(RawAsn::Text("internal".into())),
                description: Some(format!("node {}", other.name)),
                kind: Some(
                    match role {
                        Role::Mesh => "mesh",
                        Role::Reflector => "reflector",
                        Role::Client => "reflector-client",
                    }
                    .into(),
                ),
                local_address: Some(local.to_string()),
                families: Some(vec![family.to_string()]),
                route_reflector_client: (role == Role::Client).then_some(true),
                import: import.clone(),
                // A reflector passes on the whole cluster's blocks: a
                // per-node limit does not apply to it. The guard still
                // keeps what it sends inside the pools.
                max_prefix: (role != Role::Reflector).then(|| max_prefix(settings.node_max_prefix)),
                ..RawPeer::default()
            };
            peers.add(remote, format!("node {}", other.name), peer, warnings);
        }
        if !any {
            warnings.push(format!(
                "node {}: no InternalIP of a family this node has one of: no session",
                other.name
            ));
        }
    }
}

/// Over the limit, the session closes with Cease 6/1 (RFC 4486) and tries
/// again a minute later.
fn max_prefix(limit: u32) -> RawMaxPrefix {
    RawMaxPrefix {
        limit,
        action: Some("restart".into()),
        restart_after: None,
    }
}

/// The session `p` asks for, if it selects this node; `Err` says why it
/// cannot be configured.
fn bgp_peer(
    p: &BGPPeer,
    me: &Member<'_>,
    view: &ClusterView,
    settings: &KubernetesSettings,
    overlay_policies: &BTreeMap<String, RawPolicy>,
    warnings: &mut Vec<String>,
) -> Result<Option<(IpAddr, RawPeer)>, String> {
    let spec = &p.spec;
    if let Some(selector) = &spec.node_selector {
        let selector = Selector::try_from(selector.clone())
            .map_err(|e| format!("nodeSelector is not valid ({e})"))?;
        if !selector.matches(me.node.labels()) {
            return Ok(None);
        }
    }
    let address: IpAddr = spec
        .address
        .trim()
        .parse()
        .map_err(|_| format!("address `{}` is not an IP address", spec.address))?;
    if address.is_unspecified() || address.is_multicast() {
        return Err(format!("address {address} is not a unicast address"));
    }
    if let IpAddr::V6(v6) = address
        && v6.is_unicast_link_local()
    {
        return Err(format!(
            "address {address} is link-local, which needs an interface a BGPPeer cannot name; use a configuration file peer"
        ));
    }
    if me.addresses().any(|a| a == address) {
        return Err(format!("address {address} is this node's own"));
    }
    if spec.asn == 0 {
        return Err("asn 0 is reserved (RFC 7607)".into());
    }
    if let Some(h) = spec.hold_time {
        HoldTime::new(h).map_err(|e| format!("holdTime {h}: {e}"))?;
    }
    if spec.ttl_security == Some(0) {
        return Err("ttlSecurity 0: the peer is at least 1 hop away".into());
    }
    if spec.port == Some(0) {
        return Err("port 0 is no TCP port".into());
    }
    let families = match &spec.families {
        None => vec![match address {
            IpAddr::V4(_) => Family::IPV4_UNICAST,
            IpAddr::V6(_) => Family::IPV6_UNICAST,
        }],
        Some(names) => {
            let mut families = Vec::new();
            for n in names {
                let f: Family = n.parse().map_err(|e| format!("families: {e}"))?;
                if f != Family::IPV4_UNICAST && f != Family::IPV6_UNICAST {
                    return Err(format!(
                        "families: {f}: podroute speaks ipv4-unicast and ipv6-unicast"
                    ));
                }
                if !families.contains(&f) {
                    families.push(f);
                }
            }
            if families.is_empty() {
                return Err("families is empty".into());
            }
            families
        }
    };
    let named = |what: &str, list: &Option<Vec<String>>| -> Result<Vec<String>, String> {
        let list = list.clone().unwrap_or_default();
        for name in &list {
            if !view.file_policies.contains(name) && !overlay_policies.contains_key(name) {
                return Err(format!(
                    "{what} policy `{name}` is not defined under `policies` in podroute's configuration"
                ));
            }
        }
        Ok(list)
    };
    let own_import = named("import", &spec.import)?;
    let own_export = named("export", &spec.export)?;
    let mut raw = bgp_peer_raw(p, address, &families, settings, view, own_export)?;
    raw.import = if settings.import_guard {
        let guard = if spec.accept_default_route == Some(true) {
            GUARD_DEFAULT_ROUTE
        } else {
            GUARD
        };
        Some(
            std::iter::once(guard.to_string())
                .chain(own_import)
                .collect(),
        )
    } else if own_import.is_empty() {
        // Left to RFC 8212, but said: an eBGP session accepts nothing.
        warnings.push(format!(
            "BGPPeer {}: no import policy and the import guard is off: an eBGP session accepts nothing (RFC 8212)",
            p.name_any()
        ));
        None
    } else {
        Some(own_import)
    };
    Ok(Some((address, raw)))
}

/// The session's settings but `import`.
fn bgp_peer_raw(
    p: &BGPPeer,
    address: IpAddr,
    families: &[Family],
    settings: &KubernetesSettings,
    view: &ClusterView,
    own_export: Vec<String>,
) -> Result<RawPeer, String> {
    let spec = &p.spec;
    let password = spec
        .password_secret_ref
        .as_ref()
        .map(|r| password(view, &settings.namespace, r))
        .transpose()?;
    let export = if own_export.is_empty() {
        vec![EXPORT_OWN.to_string()]
    } else {
        own_export
    };
    Ok(RawPeer {
        address: Some(address.to_string()),
        remote_as: Some(RawAsn::Number(spec.asn)),
        description: Some(format!("BGPPeer {}", p.name_any())),
        kind: Some("tor".into()),
        port: spec.port,
        password,
        ttl_security: spec.ttl_security,
        hold_time: spec.hold_time,
        families: Some(families.iter().map(Family::to_string).collect()),
        export: Some(export),
        max_prefix: spec.max_prefix.map(max_prefix),
        graceful_restart: spec.graceful_restart,
        ..RawPeer::default()
    })
}

/// The TCP-MD5 password a BGPPeer refers to. `data` is what the API server
/// stores (it turns `stringData` into `data`); `stringData` is read too,
/// for servers that keep it as written.
fn password(view: &ClusterView, namespace: &str, r: &SecretKeyRef) -> Result<String, String> {
    let at = format!("Secret {namespace}/{}", r.name);
    let secret = view
        .secrets
        .iter()
        .find(|s| {
            s.metadata.name.as_deref() == Some(r.name.as_str())
                && s.metadata
                    .namespace
                    .as_deref()
                    .is_none_or(|n| n == namespace)
        })
        .ok_or_else(|| format!("{at} not found"))?;
    let bytes = match secret.data.as_ref().and_then(|d| d.get(&r.key)) {
        Some(b) => b.0.clone(),
        None => secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|s| s.clone().into_bytes())
            .ok_or_else(|| format!("{at} has no key `{}`", r.key))?,
    };
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{at} key `{}` is not UTF-8 text", r.key))?;
    // A file made with `echo` ends with a newline the peer's key lacks, as
    // with `password_file`.
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(format!("{at} key `{}` is empty", r.key));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "{at} key `{}` is {} bytes; a TCP-MD5 password is at most {MAX_PASSWORD_LEN}",
            r.key,
            password.len()
        ));
    }
    Ok(password.to_string())
}

/// This node's blocks: the agent's, else its Node's `spec.podCIDRs`; each a
/// network, none inside another, as validation wants them.
fn own_blocks(
    view: &ClusterView,
    me: Option<&Node>,
    settings: &KubernetesSettings,
    warnings: &mut Vec<String>,
) -> Vec<Cidr> {
    let written: Vec<String> = match &view.own_cidrs {
        Some(given) => given.iter().map(Cidr::to_string).collect(),
        None => {
            let spec = me.and_then(|n| n.spec.as_ref());
            let list = spec
                .and_then(|s| s.pod_cidrs.clone())
                .filter(|l| !l.is_empty())
                .or_else(|| spec.and_then(|s| s.pod_cidr.clone()).map(|c| vec![c]))
                .unwrap_or_default();
            match settings.pod_cidr_source {
                PodCidrSource::NodeSpec if list.is_empty() && me.is_some() => warnings.push(format!(
                    "node {}: no spec.podCIDRs yet (kube-controller-manager sets them with --allocate-node-cidrs): no pod CIDRs to advertise",
                    view.node
                )),
                PodCidrSource::Ipam => warnings.push(
                    "no pod CIDR block from the IPAM: no pod CIDRs to advertise".into(),
                ),
                PodCidrSource::Static if settings.import_guard => warnings.push(
                    "the import guard was not told this node's pod CIDRs (static mode): it cannot refuse prefixes overlapping them".into(),
                ),
                _ => {}
            }
            if settings.pod_cidr_source == PodCidrSource::NodeSpec {
                list
            } else {
                Vec::new()
            }
        }
    };
    let mut blocks: Vec<Cidr> = Vec::new();
    for s in written {
        match s.trim().parse::<Cidr>() {
            Ok(c) if c.prefix_len() == 0 => warnings.push(format!(
                "node {}: pod CIDR {c} is every address: left out",
                view.node
            )),
            Ok(c) => match blocks.iter().find(|b| b.overlaps(&c)) {
                Some(b) => warnings.push(format!(
                    "node {}: pod CIDR {c} overlaps {b}: left out",
                    view.node
                )),
                None => blocks.push(c),
            },
            Err(e) => warnings.push(format!(
                "node {}: pod CIDR `{s}` is not valid ({e}): left out",
                view.node
            )),
        }
    }
    blocks
}

/// The overlay's policies: the guards (with the guard on) and the default
/// export to BGPPeers. Always all of them, used or not, so that a BGPPeer
/// coming or going never changes the policies.
fn policies(
    own: &[Cidr],
    settings: &KubernetesSettings,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, RawPolicy> {
    let mut policies = BTreeMap::new();
    policies.insert(
        EXPORT_OWN.to_string(),
        RawPolicy {
            default: Some("reject".into()),
            rules: vec![RawRule {
                name: Some("own-routes".into()),
                conditions: RawMatch {
                    source: Some("local".into()),
                    ..RawMatch::default()
                },
                action: Some("accept".into()),
                ..RawRule::default()
            }],
        },
    );
    if !settings.import_guard {
        return policies;
    }
    let pools: Vec<Prefix> = settings
        .pools
        .iter()
        .flat_map(|p| p.iter())
        .filter_map(|p| prefix(&p.cluster()))
        .collect();
    if pools.is_empty() {
        warnings.push(
            "the import guard has no cluster pools: it refuses every prefix from nodes and BGPPeers"
                .into(),
        );
    }
    let own: Vec<Prefix> = own.iter().filter_map(prefix).collect();
    policies.insert(GUARD.to_string(), guard(&own, &pools, false));
    policies.insert(GUARD_DEFAULT_ROUTE.to_string(), guard(&own, &pools, true));
    policies
}

fn prefix(c: &Cidr) -> Option<Prefix> {
    match c.network() {
        IpAddr::V4(a) => Ipv4Prefix::new(a, c.prefix_len()).ok().map(Prefix::V4),
        IpAddr::V6(a) => Ipv6Prefix::new(a, c.prefix_len()).ok().map(Prefix::V6),
    }
}

fn max_len(p: &Prefix) -> u8 {
    match p {
        Prefix::V4(_) => Ipv4Prefix::MAX_LEN,
        Prefix::V6(_) => Ipv6Prefix::MAX_LEN,
    }
}

/// `p` cut to `len` bits.
fn supernet(p: &Prefix, len: u8) -> Option<Prefix> {
    match p {
        Prefix::V4(v) => Ipv4Prefix::new_truncating(v.addr(), len)
            .ok()
            .map(Prefix::V4),
        Prefix::V6(v) => Ipv6Prefix::new_truncating(v.addr(), len)
            .ok()
            .map(Prefix::V6),
    }
}

/// Rejects a prefix overlapping one of `own` (the block, anything inside
/// it, each supernet of it: for CIDRs, overlapping is one containing the
/// other), then anything outside `pools`; else on to the next policy.
/// `default_route`: the default routes (`0.0.0.0/0`, `::/0`) pass.
fn guard(own: &[Prefix], pools: &[Prefix], default_route: bool) -> RawPolicy {
    let shortest = u8::from(default_route);
    let supernets: BTreeSet<Prefix> = own
        .iter()
        .flat_map(|b| (shortest..b.len()).filter_map(|len| supernet(b, len)))
        .collect();
    let overlapping: Vec<String> = own
        .iter()
        .map(|b| format!("{b} le {}", max_len(b)))
        .chain(supernets.iter().map(Prefix::to_string))
        .collect();
    let mut inside: Vec<String> = pools
        .iter()
        .map(|p| format!("{p} le {}", max_len(p)))
        .collect();
    if default_route {
        inside.extend(["0.0.0.0/0".to_string(), "::/0".to_string()]);
    }
    let mut rules = Vec::new();
    if !overlapping.is_empty() {
        rules.push(RawRule {
            name: Some("overlaps-own-blocks".into()),
            conditions: RawMatch {
                prefix: Some(overlapping),
                ..RawMatch::default()
            },
            action: Some("reject".into()),
            ..RawRule::default()
        });
    }
    rules.push(RawRule {
        name: Some("outside-the-pools".into()),
        conditions: RawMatch {
            not: Some(Box::new(RawMatch {
                prefix: Some(inside),
                ..RawMatch::default()
            })),
            ..RawMatch::default()
        },
        action: Some("reject".into()),
        ..RawRule::default()
    });
    RawPolicy {
        default: Some("next".into()),
        rules,
    }
}

#[cfg(test)]
mod tests;
