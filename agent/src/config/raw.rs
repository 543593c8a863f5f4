//! The configuration file as written: every field optional where a default
//! exists, unknown keys refused. [`super::validate`] turns it into typed
//! settings once.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A duration: seconds as a number, or a string such as `90s`, `2m`,
/// `500ms`, `1h`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Seconds(u64),
    Text(String),
}

/// An AS number: a number, asdot text (`1.10`), or the words `internal` /
/// `external` where a remote AS is expected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawAsn {
    Number(u32),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) node: Option<String>,
    pub(crate) asn: Option<RawAsn>,
    pub(crate) router_id: Option<String>,
    pub(crate) cluster_id: Option<String>,
    pub(crate) hostname: Option<String>,
    pub(crate) listen: Option<RawListen>,
    pub(crate) control_socket: Option<String>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawListen {
    pub(crate) port: Option<u16>,
    pub(crate) addresses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGracefulRestart {
    pub(crate) restart_time: Option<RawDuration>,
    pub(crate) stale_routes_time: Option<RawDuration>,
    pub(crate) selection_deferral: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMultipath {
    pub(crate) max_paths: Option<usize>,
    pub(crate) relax: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOriginate {
    pub(crate) prefix: String,
    #[serde(default)]
    pub(crate) communities: Vec<String>,
    #[serde(default)]
    pub(crate) large_communities: Vec<String>,
    pub(crate) med: Option<u32>,
}

/// A peer; also the template of dynamic neighbours (without `address`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    pub(crate) address: Option<String>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDynamic {
    pub(crate) range: String,
    #[serde(default)]
    pub(crate) template: RawPeer,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    /// `accept`, `reject` (the default) or `next`.
    pub(crate) default: Option<String>,
    #[serde(default)]
    pub(crate) rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAsPathMatch {
    pub(crate) contains: Option<RawAsn>,
    pub(crate) origin: Option<RawAsn>,
    pub(crate) neighbor: Option<RawAsn>,
    pub(crate) max_length: Option<usize>,
    pub(crate) min_length: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPrepend {
    Count(u8),
    Asn { asn: RawAsn, count: u8 },
}
