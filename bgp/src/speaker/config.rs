//! Configuration of the speaker and of each peer, already validated: the
//! agent turns its YAML into these once.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Serialize;

use crate::fsm::RemoteAs;
use crate::policy::Policy;
use crate::types::{Asn, Community, Family, FamilySet, HoldTime, LargeCommunity, Prefix, RouterId};

/// What kind of peer this is, for `show neighbors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerKind {
    /// Another node of the cluster (iBGP full mesh).
    Mesh,
    /// A top-of-rack router.
    Tor,
    /// A node we reflect routes for (RFC 4456).
    ReflectorClient,
    /// A route reflector we are a client of.
    Reflector,
    /// Accepted from a dynamic neighbour range.
    Dynamic,
    Other,
}

/// What to do when a peer sends more prefixes than allowed (RFC 4486 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxPrefixAction {
    /// Log, keep the session.
    Warn,
    /// Close with Cease / Maximum Number of Prefixes Reached and try again
    /// after this long.
    Restart(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MaxPrefix {
    /// Accepted prefixes per family.
    pub limit: u32,
    pub action: MaxPrefixAction,
}

/// How to reach the peer; used by the driver, carried through the speaker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Transport {
    pub port: u16,
    /// Source address for our connections.
    pub local_address: Option<IpAddr>,
    /// Interface for link-local peers (the scope of fe80::/10 addresses).
    pub interface: Option<String>,
    /// TCP-MD5 key (RFC 2385).
    #[serde(skip)]
    pub password: Option<String>,
    /// GTSM (RFC 5082): the peer is this many hops away; we send with TTL
    /// 255 and accept only TTL ≥ 256 - hops.
    pub ttl_security: Option<u8>,
}

/// One configured peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerConfig {
    pub address: IpAddr,
    pub remote_as: RemoteAs,
    pub kind: PeerKind,
    pub description: Option<String>,
    pub passive: bool,
    pub hold_time: HoldTime,
    pub keepalive: Option<u16>,
    pub connect_retry: Duration,
    pub delay_open: Option<Duration>,
    pub families: FamilySet,
    pub add_path_receive: FamilySet,
    pub add_path_send: FamilySet,
    /// Accept and send IPv6 next hops for IPv4 routes (RFC 8950).
    pub extended_next_hop: bool,
    /// Reflect routes for this iBGP peer (RFC 4456).
    pub route_reflector_client: bool,
    pub next_hop_self: bool,
    /// Our next hop in the other family (an IPv6 address to advertise IPv6
    /// routes over an IPv4 session, and the other way round).
    pub next_hop_v4: Option<Ipv4Addr>,
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Policy names, applied in order. `None` on an eBGP peer means
    /// nothing is accepted (or sent): RFC 8212.
    pub import: Option<Vec<String>>,
    pub export: Option<Vec<String>>,
    pub max_prefix: Option<MaxPrefix>,
    /// Accept our own AS in the path up to this many times.
    pub allowas_in: u8,
    /// RFC 4271 §9.2.1.1 MinRouteAdvertisementIntervalTimer.
    pub min_advertisement_interval: Duration,
    /// Keep received routes before import policy, so policy changes apply
    /// without asking the peer to resend (soft reconfiguration inbound).
    pub keep_received: bool,
    /// Announce graceful restart and help the peer with its own.
    pub graceful_restart: bool,
    pub transport: Transport,
}

impl PeerConfig {
    /// A peer with podroute's defaults: active, 90 s hold time, IPv4 and
    /// IPv6 unicast, graceful restart, port 179, no policy.
    pub fn new(address: IpAddr, remote_as: RemoteAs) -> Self {
        PeerConfig {
            address,
            remote_as,
            kind: PeerKind::Other,
            description: None,
            passive: false,
            hold_time: HoldTime::DEFAULT,
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            delay_open: None,
            families: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
                .into_iter()
                .collect(),
            add_path_receive: FamilySet::EMPTY,
            add_path_send: FamilySet::EMPTY,
            extended_next_hop: false,
            route_reflector_client: false,
            next_hop_self: false,
            next_hop_v4: None,
            next_hop_v6: None,
            import: None,
            export: None,
            max_prefix: None,
            allowas_in: 0,
            min_advertisement_interval: Duration::ZERO,
            keep_received: false,
            graceful_restart: true,
            transport: Transport {
                port: 179,
                ..Transport::default()
            },
        }
    }

    /// Settings that need a new session to change (the OPEN carries them).
    pub(crate) fn session_key(&self) -> impl PartialEq + '_ {
        (
            &self.remote_as,
            self.passive,
            self.hold_time,
            self.keepalive,
            self.delay_open,
            self.families,
            (
                self.add_path_receive,
                self.add_path_send,
                self.extended_next_hop,
            ),
            self.graceful_restart,
            &self.transport,
        )
    }
}

/// Graceful restart, both roles (RFC 4724, RFC 8538).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GracefulRestart {
    /// The restart time we announce.
    pub restart_time: u16,
    /// The longest we keep a returning peer's stale routes waiting for its
    /// End-of-RIB (RFC 4724 §4.2 "stale routes time").
    pub stale_routes_time: Duration,
    /// We have just restarted with forwarding state kept: announce the R
    /// and F bits, and defer best-path selection until every peer sent
    /// End-of-RIB or `selection_deferral` runs out (RFC 4724 §4.1).
    pub restarting: bool,
    pub forwarding: FamilySet,
    pub selection_deferral: Duration,
}

impl Default for GracefulRestart {
    fn default() -> Self {
        GracefulRestart {
            restart_time: 120,
            stale_routes_time: Duration::from_secs(360),
            restarting: false,
            forwarding: FamilySet::EMPTY,
            selection_deferral: Duration::from_secs(120),
        }
    }
}

/// Sessions from addresses in `range` are accepted with `template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DynamicNeighbors {
    pub range: Prefix,
    pub template: PeerConfig,
}

/// The speaker as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpeakerConfig {
    pub asn: Asn,
    pub router_id: RouterId,
    /// RFC 4456 cluster ID; the router ID when unset.
    pub cluster_id: Option<RouterId>,
    pub graceful_restart: GracefulRestart,
    pub policies: BTreeMap<String, Policy>,
    pub dynamic_neighbors: Vec<DynamicNeighbors>,
    /// Compare MED across neighbour ASes.
    pub always_compare_med: bool,
    /// ECMP: at most this many paths per prefix (1 = off).
    pub max_paths: usize,
    pub multipath_relax: bool,
    /// Sent in the FQDN capability.
    pub hostname: Option<String>,
}

impl SpeakerConfig {
    pub fn new(asn: Asn, router_id: RouterId) -> Self {
        SpeakerConfig {
            asn,
            router_id,
            cluster_id: None,
            graceful_restart: GracefulRestart::default(),
            policies: BTreeMap::new(),
            dynamic_neighbors: vec![],
            always_compare_med: false,
            max_paths: 8,
            multipath_relax: false,
            hostname: None,
        }
    }
}

/// A route we originate (a node's pod CIDR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalRoute {
    pub prefix: Prefix,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    pub med: Option<u32>,
}

impl LocalRoute {
    pub fn new(prefix: Prefix) -> Self {
        LocalRoute {
            prefix,
            communities: vec![],
            large_communities: vec![],
            med: None,
        }
    }
}
