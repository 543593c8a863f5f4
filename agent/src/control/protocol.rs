//! The control protocol between `podroute show ...` and the agent: one JSON
//! request per connection on a unix socket, one JSON response, both
//! versioned. The agent answers with snapshots of its state.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Bumped when a request or response changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub query: Query,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "kebab-case")]
pub enum Query {
    Status,
    Neighbors,
    Neighbor {
        address: IpAddr,
    },
    /// Best routes, or every path with `all`; one prefix if given.
    Routes {
        #[serde(default)]
        all: bool,
        #[serde(default)]
        prefix: Option<String>,
    },
    /// A peer's Adj-RIB-In (pre-policy, when kept) or Adj-RIB-Out.
    Rib {
        direction: RibDirection,
        address: IpAddr,
    },
    /// The kernel FIB: desired routes against the kernel's routes of ours.
    Fib,
    /// Stop for good (the node is being removed): every peer gets an
    /// Administrative Shutdown and withdraws our routes at once, and no
    /// graceful-restart marker is left. `podroute agent --cleanup` sends it.
    Decommission,
    /// Pod CIDR allocation: the mode, this node's CIDRs, the pools' usage
    /// and every block (`ipam` and `file` modes).
    Ipam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RibDirection {
    In,
    Out,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    #[serde(flatten)]
    pub body: ResponseBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum ResponseBody {
    Status(Status),
    Neighbors {
        neighbors: Vec<NeighborSummary>,
    },
    Neighbor(Box<NeighborDetail>),
    Routes {
        routes: Vec<RouteEntry>,
    },
    Rib {
        entries: Vec<RibEntry>,
    },
    Fib(Box<FibView>),
    Ipam(Box<IpamView>),
    /// The agent is stopping.
    Stopping {
        message: String,
    },
    Error {
        message: String,
    },
}

/// `show ipam` and `podroute ipam list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamView {
    /// Where pod CIDRs come from: ipam, node-spec, static (Kubernetes);
    /// file (the `ipam` section's state file) or static, without it.
    pub mode: String,
    pub node: Option<String>,
    /// This node's pod CIDRs.
    pub node_cidrs: Vec<String>,
    /// In pool order (`ipam` and `file` modes).
    pub pools: Vec<PoolUsage>,
    /// Every block, in address order (`ipam` and `file` modes).
    pub blocks: Vec<BlockEntry>,
    /// Where the blocks are kept: the state file's path (`file` mode).
    /// Absent from older agents' answers.
    #[serde(default)]
    pub store: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    pub pool: String,
    pub block_len: u8,
    pub allocated: u64,
    pub reserved: u64,
    pub total: u64,
}

impl PoolUsage {
    /// How much of `pool` is used in `state`.
    pub(crate) fn of(pool: &::ipam::Pool, state: &::ipam::State) -> Self {
        let usage = state.usage(pool);
        PoolUsage {
            pool: pool.cluster().to_string(),
            block_len: pool.block_len(),
            allocated: usage.allocated,
            reserved: usage.reserved,
            total: usage.total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub cidr: String,
    pub node: String,
    pub pool: String,
    /// When it was claimed (RFC 3339).
    pub created: Option<String>,
}

/// `show fib`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FibView {
    /// The rtnetlink protocol number our routes carry.
    pub protocol: u8,
    pub table: u32,
    /// The speaker's table is complete; routes of ours it does not want
    /// have been removed (until then they are kept: graceful restart).
    pub synced: bool,
    pub routes: Vec<FibRoute>,
    /// Counters: desired, installed, operations, batches, resyncs...
    pub stats: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibRoute {
    pub prefix: String,
    /// What podroute wants in the kernel (`None`: nothing).
    pub desired: Option<String>,
    /// What the kernel has, with our protocol (`None`: nothing).
    pub kernel: Option<String>,
    /// installed, pending, not-installed, kept.
    pub state: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The agent's release. Named `agent_version` on the wire: a `version`
    /// key would collide with `Response::version`, which the body is
    /// flattened into.
    #[serde(rename = "agent_version")]
    pub version: String,
    pub node: Option<String>,
    pub router_id: String,
    pub asn: u32,
    pub uptime_secs: u64,
    pub peers_configured: usize,
    pub peers_established: usize,
    pub prefixes: usize,
    pub paths: usize,
    pub attribute_sets: usize,
    /// Still deferring best-path selection after a graceful restart.
    pub deferring: bool,
    pub originated: Vec<String>,
    /// The kernel routes' counts; `None` when the FIB is off.
    #[serde(default)]
    pub fib: Option<FibCounts>,
}

/// How many routes are in the kernel, as the FIB task last counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FibCounts {
    pub installed: u64,
    pub not_installed: u64,
    pub pending: u64,
}

/// Per family counts, keyed by family name ("ipv4-unicast").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyCounts {
    pub family: String,
    /// Pre-policy count; known only when received routes are kept.
    pub received: Option<u64>,
    pub accepted: u64,
    pub advertised: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborSummary {
    pub address: IpAddr,
    pub asn: Option<u32>,
    /// mesh, tor, reflector-client, reflector, dynamic, other.
    pub kind: String,
    pub description: Option<String>,
    /// RFC 4271 state name.
    pub state: String,
    /// Seconds in Established, or since the last change otherwise.
    pub uptime_secs: Option<u64>,
    pub families: Vec<FamilyCounts>,
    pub last_error: Option<String>,
    /// Set when RFC 8212 blocks routes for lack of policy.
    pub policy_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborDetail {
    pub summary: NeighborSummary,
    pub router_id: Option<String>,
    pub hostname: Option<String>,
    pub local_address: Option<IpAddr>,
    pub hold_time: Option<u16>,
    pub keepalive_secs: Option<u64>,
    pub configured_hold_time: u16,
    /// Capabilities the peer sent, one line each.
    pub capabilities: Vec<String>,
    /// What was negotiated ("4-octet AS", "route refresh", "ADD-PATH
    /// receive ipv4-unicast", "graceful restart (peer 120 s)"...).
    pub negotiated: Vec<String>,
    pub import_policy: Option<Vec<String>>,
    pub export_policy: Option<Vec<String>>,
    pub route_reflector_client: bool,
    pub updates_received: u64,
    pub updates_sent: u64,
    pub rejected_by_checks: u64,
    pub last_down: Option<String>,
    pub graceful_restart_stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEntry {
    pub best: bool,
    /// Part of the ECMP set.
    pub multipath: bool,
    /// "local" or the peer's address.
    pub from: String,
    pub next_hop: String,
    pub as_path: String,
    pub origin: String,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
    pub age_secs: u64,
    pub stale: bool,
    /// Why it is not the best (decision step).
    pub not_best: Option<String>,
    pub path_id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    pub prefix: String,
    /// The best path first; all paths with `all`.
    pub paths: Vec<PathEntry>,
    /// Kernel FIB state: installed, pending, not-installed, kept; `None`
    /// when the agent does not program the kernel (or for a prefix it does
    /// not install, such as an originated one that is not a pod CIDR).
    pub fib: Option<String>,
    /// Why it is not (fully) installed.
    #[serde(default)]
    pub fib_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibEntry {
    pub prefix: String,
    pub path_id: Option<u32>,
    pub next_hop: String,
    pub as_path: String,
    pub origin: String,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<String>,
    pub large_communities: Vec<String>,
}
