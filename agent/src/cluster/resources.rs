//! podroute's custom resources (group `podroute.io`, version `v1alpha1`).
//! The CRDs in `deploy/crds/` are generated from these types
//! (`podroute crds`), and a test keeps the two the same.
//!
//! All three are cluster-scoped, like Nodes: a block, a peering and a
//! node's status belong to the cluster, not to a namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of every podroute resource.
#[cfg(test)]
pub(crate) const GROUP: &str = "podroute.io";

/// One pod CIDR block claimed by one node. Creating the object is the
/// claim: the API server refuses a second object of the same name
/// (AlreadyExists), so two nodes can never hold one block. Its owner
/// reference to the Node makes deleting the Node free the block.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "podroute.io",
    version = "v1alpha1",
    kind = "PodCIDRBlock",
    plural = "podcidrblocks",
    shortname = "pcb",
    printcolumn = r#"{"name":"CIDR","type":"string","jsonPath":".spec.cidr"}"#,
    printcolumn = r#"{"name":"Node","type":"string","jsonPath":".spec.node"}"#,
    printcolumn = r#"{"name":"Pool","type":"string","jsonPath":".spec.pool"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodCIDRBlockSpec {
    /// The block, e.g. `10.244.3.0/24` or `fd00:10:244:3::/64`.
    pub(crate) cidr: String,
    /// The node that holds the block.
    pub(crate) node: String,
    /// The cluster pool the block was cut from, e.g. `10.244.0.0/16`.
    pub(crate) pool: String,
}

/// A BGP peer outside the cluster (a top-of-rack router, a route server),
/// peered by every node its selector matches.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "podroute.io",
    version = "v1alpha1",
    kind = "BGPPeer",
    plural = "bgppeers",
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.address"}"#,
    printcolumn = r#"{"name":"ASN","type":"integer","jsonPath":".spec.asn"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BGPPeerSpec {
    /// The peer's address, IPv4 or IPv6.
    pub(crate) address: String,
    /// The peer's AS number.
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub(crate) asn: u32,
    /// The nodes that peer with it; absent: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node_selector: Option<LabelSelector>,
    /// The TCP-MD5 password (RFC 2385), from a Secret in podroute's
    /// namespace. A change to the Secret re-keys the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) password_secret_ref: Option<SecretKeyRef>,
    /// Hold time in seconds (0, or 3 and more); default 90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hold_time: Option<u16>,
    /// Graceful restart (RFC 4724) with this peer; default on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) graceful_restart: Option<bool>,
    /// Address families, e.g. `ipv4-unicast`, `ipv6-unicast`; default: the
    /// family of `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) families: Option<Vec<String>>,
    /// Import policies (names under `policies` in podroute's
    /// configuration), after the import guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) import: Option<Vec<String>>,
    /// Export policies; default: only this node's own pod CIDRs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) export: Option<Vec<String>>,
    /// Most prefixes accepted from the peer before the session is closed
    /// with Cease 6/1 (RFC 4486).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_prefix: Option<u32>,
    /// Accept a default route (0.0.0.0/0, ::/0) from the peer through the
    /// import guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accept_default_route: Option<bool>,
    /// GTSM (RFC 5082): the number of hops the peer may be away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_security: Option<u8>,
    /// The peer's TCP port; default 179.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) port: Option<u16>,
}

/// A key of a Secret in podroute's own namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub(crate) struct SecretKeyRef {
    pub(crate) name: String,
    pub(crate) key: String,
}

/// What one node's agent reports: its sessions and routes, like
/// CalicoNodeStatus. Named after the node and owned by it; written at a
/// bounded rate.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "podroute.io",
    version = "v1alpha1",
    kind = "PodrouteNodeStatus",
    plural = "podroutenodestatuses",
    status = "NodeStatusReport",
    printcolumn = r#"{"name":"Established","type":"integer","jsonPath":".status.established"}"#,
    printcolumn = r#"{"name":"Sessions","type":"integer","jsonPath":".status.sessionCount"}"#,
    printcolumn = r#"{"name":"Installed","type":"integer","jsonPath":".status.routes.installed"}"#,
    printcolumn = r#"{"name":"Updated","type":"date","jsonPath":".status.updated"}"#
)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodrouteNodeStatusSpec {
    /// The node reported on.
    pub(crate) node: String,
}

/// The report itself.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStatusReport {
    /// When the agent wrote this (RFC 3339).
    pub(crate) updated: String,
    pub(crate) router_id: String,
    pub(crate) asn: u32,
    pub(crate) pod_cidrs: Vec<String>,
    pub(crate) session_count: u32,
    pub(crate) established: u32,
    pub(crate) sessions: Vec<SessionReport>,
    pub(crate) routes: RouteCounts,
}

/// One BGP session as `podroute show neighbors` shows it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionReport {
    pub(crate) peer: String,
    pub(crate) asn: u32,
    /// `node` (another node of the cluster) or `peer` (a BGPPeer).
    pub(crate) kind: String,
    /// The FSM state, e.g. `Established`.
    pub(crate) state: String,
    /// Since when the state holds (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<String>,
    pub(crate) prefixes_received: u64,
    pub(crate) prefixes_accepted: u64,
    pub(crate) prefixes_advertised: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_error: Option<String>,
}

/// Route counts of the node.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteCounts {
    /// Best paths in the RIB.
    pub(crate) best: u64,
    /// Routes of ours in the kernel.
    pub(crate) installed: u64,
    /// Best paths the kernel does not have (next hop not connected, ...).
    pub(crate) not_installed: u64,
}

/// Every CRD, in the order `podroute crds` prints them.
pub(crate) fn definitions()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        PodCIDRBlock::crd(),
        BGPPeer::crd(),
        PodrouteNodeStatus::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, as in `deploy/crds/`.
pub(crate) fn definitions_yaml() -> String {
    let mut out = String::from(
        "# Generated by `podroute crds` from agent/src/cluster/resources.rs; do not edit.\n",
    );
    for crd in definitions() {
        out.push_str("---\n");
        // A CRD is plain data: serialising it cannot fail.
        out.push_str(&serde_yaml_ng::to_string(&crd).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crds_in_deploy_are_generated_from_these_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/crds/crds.yaml");
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == definitions_yaml(),
            "deploy/crds/crds.yaml is not what the types say: run `cargo run -p podroute -- crds > deploy/crds/crds.yaml`"
        );
    }

    #[test]
    fn every_resource_is_cluster_scoped_in_our_group() {
        for crd in definitions() {
            assert_eq!(crd.spec.group, GROUP);
            assert_eq!(crd.spec.scope, "Cluster", "{}", crd.spec.names.kind);
        }
    }
}
