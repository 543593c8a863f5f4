//! The configuration file as written: every field optional where a default
//! exists, unknown keys refused. [`super::validate`] turns it into typed
//! settings once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};

/// A duration: seconds as a number, or a string such as `90s`, `2m`,
/// `500ms`, `1h`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// An AS number: a number, asdot text (`1.10`), or the words `internal` /
/// `external` where a remote AS is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawAsn {
    Number(u32),
    Text(String),
}

/// A number or a name for it, such as the FIB's `protocol: podroute` or
/// `table: main`; [`super::validate`] knows which names mean what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawNumberOrName {
    Number(u64),
    Name(String),
}

/// An address to listen on, or `none` / `false` for not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawListenOrOff {
    Off,
    /// Also `none`: the words are told apart in [`super::validate`], where
    /// values from flags arrive as text too.
    Text(String),
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) node: Option<String>,
    pub(crate) asn: Option<RawAsn>,
    pub(crate) router_id: Option<String>,
    pub(crate) cluster_id: Option<String>,
    pub(crate) hostname: Option<String>,
    pub(crate) listen: Option<RawListen>,
    pub(crate) control_socket: Option<PathBuf>,
    pub(crate) state_dir: Option<String>,
    pub(crate) graceful_restart: Option<RawGracefulRestart>,
    pub(crate) multipath: Option<RawMultipath>,
    pub(crate) always_compare_med: Option<bool>,
    #[serde(default)]
    pub(crate) originate: Vec<RawOriginate>,
    #[serde(default)]
    pub(crate) peers: Vec<RawPeer>,
    #[serde(default)]
    pub(crate) dynamic_neighbors: Vec<RawDynamic>,
    #[serde(default)]
    pub(crate) policies: BTreeMap<String, RawPolicy>,
    /// Peer settings shared by name: `peers[].template: NAME`.
    #[serde(default)]
    pub(crate) templates: BTreeMap<String, RawPeer>,
    /// This node's pod CIDRs: originated, and unreachable in the FIB.
    #[serde(default)]
    pub(crate) pod_cidrs: Vec<String>,
    pub(crate) fib: Option<RawFib>,
    pub(crate) metrics: Option<RawMetrics>,
    /// Peers and pod CIDRs from the Kubernetes API (the DaemonSet).
    pub(crate) kubernetes: Option<RawKubernetes>,
    /// Pod CIDRs allocated from pools in a state file, without Kubernetes.
    pub(crate) ipam: Option<RawIpam>,
}

/// Standalone IPAM: this node's blocks from `pools`, kept in `file`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpam {
    /// The state file every host sharing the pools writes to.
    pub(crate) file: Option<String>,
    #[serde(default)]
    pub(crate) pools: Vec<RawPool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKubernetes {
    pub(crate) enabled: Option<bool>,
    /// A kubeconfig file; default: in-cluster, else $KUBECONFIG or
    /// ~/.kube/config.
    pub(crate) kubeconfig: Option<String>,
    /// Where BGPPeer password Secrets are read; default $POD_NAMESPACE,
    /// else `podroute`.
    pub(crate) namespace: Option<String>,
    /// `ipam`, `node-spec` or `static`.
    pub(crate) pod_cidrs: Option<String>,
    #[serde(default)]
    pub(crate) pools: Vec<RawPool>,
    /// `full`, `reflectors` or `none`.
    pub(crate) mesh: Option<String>,
    pub(crate) reflector_label: Option<String>,
    pub(crate) import_guard: Option<bool>,
    pub(crate) node_max_prefix: Option<u32>,
    pub(crate) status_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub(crate) cidr: String,
    /// Default: 24 for IPv4, 64 for IPv6.
    pub(crate) block_len: Option<u8>,
    #[serde(default)]
    pub(crate) reserved: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFib {
    pub(crate) enabled: Option<bool>,
    pub(crate) protocol: Option<RawNumberOrName>,
    pub(crate) table: Option<RawNumberOrName>,
    /// `unreachable`, `blackhole` or `none`.
    pub(crate) pod_cidr_route: Option<String>,
    pub(crate) metric: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub(crate) listen: Option<RawListenOrOff>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListen {
    pub(crate) port: Option<u16>,
    pub(crate) addresses: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGracefulRestart {
    pub(crate) restart_time: Option<RawDuration>,
    pub(crate) stale_routes_time: Option<RawDuration>,
    pub(crate) selection_deferral: Option<RawDuration>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMultipath {
    pub(crate) max_paths: Option<usize>,
    pub(crate) relax: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOriginate {
    pub(crate) prefix: String,
    #[serde(default)]
    pub(crate) communities: Vec<String>,
    #[serde(default)]
    pub(crate) large_communities: Vec<String>,
    pub(crate) med: Option<u32>,
}

/// A peer; also a template (`templates`, dynamic neighbours), without
/// `address`. [`super::templates`] lists every field again to merge a peer
/// over its template: a field added here must be added there.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    pub(crate) address: Option<String>,
    /// The name of a template under `templates`; the peer's own fields win.
    pub(crate) template: Option<String>,
    pub(crate) remote_as: Option<RawAsn>,
    pub(crate) description: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) passive: Option<bool>,
    pub(crate) port: Option<u16>,
    pub(crate) local_address: Option<String>,
    pub(crate) interface: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) password_file: Option<String>,
    pub(crate) ttl_security: Option<u8>,
    pub(crate) hold_time: Option<u16>,
    pub(crate) keepalive: Option<u16>,
    pub(crate) connect_retry: Option<RawDuration>,
    pub(crate) delay_open: Option<RawDuration>,
    pub(crate) families: Option<Vec<String>>,
    pub(crate) add_path: Option<RawAddPath>,
    pub(crate) extended_next_hop: Option<bool>,
    pub(crate) route_reflector_client: Option<bool>,
    pub(crate) next_hop_self: Option<bool>,
    pub(crate) next_hop_ipv4: Option<String>,
    pub(crate) next_hop_ipv6: Option<String>,
    pub(crate) import: Option<Vec<String>>,
    pub(crate) export: Option<Vec<String>>,
    pub(crate) max_prefix: Option<RawMaxPrefix>,
    pub(crate) allowas_in: Option<u8>,
    pub(crate) min_advertisement_interval: Option<RawDuration>,
    pub(crate) keep_received: Option<bool>,
    pub(crate) graceful_restart: Option<bool>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAddPath {
    #[serde(default)]
    pub(crate) receive: Vec<String>,
    #[serde(default)]
    pub(crate) send: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMaxPrefix {
    pub(crate) limit: u32,
    /// `warn` or `restart`.
    pub(crate) action: Option<String>,
    pub(crate) restart_after: Option<RawDuration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDynamic {
    pub(crate) range: String,
    #[serde(default)]
    pub(crate) template: RawDynamicTemplate,
}

/// The peer settings of a dynamic-neighbour range: the name of a template
/// (`template: tor`), or the settings inline, which may themselves name a
/// template to start from (`template: {template: tor, passive: true}`).
#[derive(Debug, Clone)]
pub(crate) enum RawDynamicTemplate {
    Named(String),
    Inline(Box<RawPeer>),
}

impl Default for RawDynamicTemplate {
    fn default() -> Self {
        RawDynamicTemplate::Inline(Box::default())
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// `accept`, `reject` (the default) or `next`.
    pub(crate) default: Option<String>,
    #[serde(default)]
    pub(crate) rules: Vec<RawRule>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub(crate) name: Option<String>,
    #[serde(rename = "match", default)]
    pub(crate) conditions: RawMatch,
    #[serde(default)]
    pub(crate) set: RawSet,
    /// `accept` or `reject`; without it the next rule is tried.
    pub(crate) action: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    /// `10.244.0.0/16`, `10.244.0.0/16 le 24`, `fd00::/8 ge 48 le 64`.
    pub(crate) prefix: Option<Vec<String>>,
    pub(crate) family: Option<String>,
    pub(crate) community: Option<Vec<String>>,
    pub(crate) large_community: Option<Vec<String>>,
    pub(crate) as_path: Option<RawAsPathMatch>,
    pub(crate) neighbor: Option<Vec<String>>,
    pub(crate) next_hop: Option<Vec<String>>,
    /// `local`, `external` or `internal`.
    pub(crate) source: Option<String>,
    /// Conditions that must NOT hold.
    pub(crate) not: Option<Box<RawMatch>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAsPathMatch {
    pub(crate) contains: Option<RawAsn>,
    pub(crate) origin: Option<RawAsn>,
    pub(crate) neighbor: Option<RawAsn>,
    pub(crate) max_length: Option<usize>,
    pub(crate) min_length: Option<usize>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSet {
    pub(crate) local_pref: Option<u32>,
    pub(crate) med: Option<u32>,
    pub(crate) remove_med: Option<bool>,
    pub(crate) add_communities: Option<Vec<String>>,
    pub(crate) remove_communities: Option<Vec<String>>,
    pub(crate) clear_communities: Option<bool>,
    pub(crate) add_large_communities: Option<Vec<String>>,
    pub(crate) remove_large_communities: Option<Vec<String>>,
    /// An address, or `self`.
    pub(crate) next_hop: Option<String>,
    /// How many times to prepend our AS, or `{asn, count}`.
    pub(crate) prepend: Option<RawPrepend>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPrepend {
    Count(u8),
    Asn { asn: RawAsn, count: u8 },
}

// The hand-written deserializers below exist for their error messages: an
// untagged enum says only "data did not match any variant", without the
// line; a visitor says what was found, what was expected, and where.

/// A YAML scalar as written, before it is given a meaning.
enum Scalar<'a> {
    Number(u64),
    Bool(bool),
    Text(&'a str),
}

/// Visits one scalar and converts it with `convert`; `None` is refused
/// with `expecting`, the place added by the YAML deserializer.
struct ScalarVisitor<T> {
    expecting: &'static str,
    convert: fn(Scalar<'_>) -> Option<T>,
}

impl<'de, T> Visitor<'de> for ScalarVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.convert)(Scalar::Number(v))
            .ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        (self.convert)(Scalar::Bool(v)).ok_or_else(|| E::invalid_type(Unexpected::Bool(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.convert)(Scalar::Text(v)).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
}

fn scalar<'de, D: Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    convert: fn(Scalar<'_>) -> Option<T>,
) -> Result<T, D::Error> {
    d.deserialize_any(ScalarVisitor { expecting, convert })
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(
            d,
            "a duration: seconds (90) or text (90s, 2m, 500ms, 1h)",
            |s| match s {
                Scalar::Number(n) => Some(RawDuration::Seconds(n)),
                Scalar::Text(t) => Some(RawDuration::Text(t.to_string())),
                Scalar::Bool(_) => None,
            },
        )
    }
}

impl<'de> Deserialize<'de> for RawAsn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(
            d,
            "an AS number (64512, or asdot 1.10), or `internal` / `external` for a peer",
            |s| match s {
                Scalar::Number(n) => u32::try_from(n).ok().map(RawAsn::Number),
                Scalar::Text(t) => Some(RawAsn::Text(t.to_string())),
                Scalar::Bool(_) => None,
            },
        )
    }
}

impl<'de> Deserialize<'de> for RawNumberOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a number or a name", |s| match s {
            Scalar::Number(n) => Some(RawNumberOrName::Number(n)),
            Scalar::Text(t) => Some(RawNumberOrName::Name(t.to_string())),
            Scalar::Bool(_) => None,
        })
    }
}

impl<'de> Deserialize<'de> for RawListenOrOff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(
            d,
            "an address and port (127.0.0.1:9180, [::]:9180), or `none` / false",
            |s| match s {
                Scalar::Bool(false) => Some(RawListenOrOff::Off),
                Scalar::Text(t) => Some(RawListenOrOff::Text(t.to_string())),
                Scalar::Bool(true) | Scalar::Number(_) => None,
            },
        )
    }
}

impl<'de> Deserialize<'de> for RawDynamicTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDynamicTemplate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the name of a template, or peer settings without `address`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawDynamicTemplate::Named(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawPeer::deserialize(MapAccessDeserializer::new(map))
                    .map(|p| RawDynamicTemplate::Inline(Box::new(p)))
            }
        }
        d.deserialize_any(V)
    }
}
