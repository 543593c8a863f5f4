//! What the cluster adds to the file: peers (other nodes, BGPPeers), the
//! guard policies, this node's pod CIDRs and router ID. Put over the file
//! as written, like the flags, so that one validation covers both and a
//! cluster change becomes an ordinary reload (only the sessions concerned
//! are touched, see [`super::reload`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::raw::{RawConfig, RawPeer, RawPolicy};

/// Policy names the overlay may define; a file may not.
pub(crate) const RESERVED_POLICY_PREFIX: &str = "podroute-";

/// The cluster's part of the configuration, as raw text like the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterOverlay {
    /// The node's InternalIP, for `router_id: auto` (or no router_id).
    pub(crate) router_id: Option<Ipv4Addr>,
    /// `None`: the file's (or the flag's) pod CIDRs stand (static mode).
    pub(crate) pod_cidrs: Option<Vec<String>>,
    pub(crate) peers: Vec<RawPeer>,
    /// Named `podroute-...`.
    pub(crate) policies: BTreeMap<String, RawPolicy>,
}

impl ClusterOverlay {
    /// Puts the overlay over `raw`. A peer the file lists itself keeps the
    /// file's settings; the answer names such peers, for the log.
    pub(crate) fn apply(&self, raw: &mut RawConfig) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(id) = self.router_id
            && raw.router_id.as_deref().is_none_or(|r| r == "auto")
        {
            raw.router_id = Some(id.to_string());
        }
        if let Some(cidrs) = &self.pod_cidrs {
            raw.pod_cidrs = cidrs.clone();
        }
        for peer in &self.peers {
            if raw.peers.iter().any(|p| p.address == peer.address) {
                notes.push(format!(
                    "peer {} is in the configuration file; the file's settings win over the cluster's ({})",
                    peer.address.as_deref().unwrap_or("-"),
                    peer.description.as_deref().unwrap_or("-"),
                ));
                continue;
            }
            raw.peers.push(peer.clone());
        }
        for (name, policy) in &self.policies {
            raw.policies.insert(name.clone(), policy.clone());
        }
        notes
    }
}
