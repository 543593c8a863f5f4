//! The `ipam` section: pod CIDRs without Kubernetes, allocated from pools
//! in a state file that every host sharing the pools writes to (a local
//! file for one host, a file on a shared mount for a lab).
//!
//! Validated from the file and flags as written, like `kubernetes`: the
//! blocks the agent allocates are put over `pod_cidrs` afterwards, and must
//! not be mistaken for `pod_cidrs` the operator wrote.

use std::path::PathBuf;

use ::ipam::{NodeName, Pools};

use super::raw::RawConfig;
use super::validate::Problems;

/// The validated `ipam` section.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IpamSettings {
    /// The state file (`ipam::FileStore`); absolute.
    pub(crate) file: PathBuf,
    pub(crate) pools: Pools,
}

/// `None` when the section is absent, or when it cannot apply at all (with
/// `kubernetes` on: that conflict is the one problem worth reporting).
pub(crate) fn validate(p: &mut Problems, raw: &RawConfig) -> Option<IpamSettings> {
    let written = raw.ipam.as_ref()?;
    if raw
        .kubernetes
        .as_ref()
        .is_some_and(|k| k.enabled != Some(false))
    {
        p.add(
            "ipam",
            "`ipam` allocates pod CIDRs on hosts without Kubernetes; with `kubernetes` on, remove `ipam` and use `kubernetes.pod_cidrs: ipam` with `kubernetes.pools` (blocks kept as PodCIDRBlock objects)",
        );
        return None;
    }
    if !raw.pod_cidrs.is_empty() {
        p.add(
            "pod_cidrs",
            "`ipam` allocates this node's pod CIDRs from its pools: remove `pod_cidrs` (and --pod-cidr), or remove `ipam` to use these CIDRs as they are",
        );
    }
    match raw.node.as_deref() {
        None => p.add(
            "node",
            "missing: `ipam` allocates blocks to a node by name; set `node` or --node-name",
        ),
        Some(name) => {
            p.take("node", NodeName::new(name));
        }
    }
    let file = match written.file.as_deref() {
        None => {
            p.add(
                "ipam.file",
                "missing: the state file the blocks are kept in, e.g. `file: /var/lib/podroute/ipam.json`",
            );
            None
        }
        // The agent's working directory is nobody's choice; hosts sharing
        // the file must name the same one.
        Some(f) if !f.starts_with('/') => {
            p.add(
                "ipam.file",
                format!("`{f}` is not an absolute path: e.g. `/var/lib/podroute/ipam.json`"),
            );
            None
        }
        Some(f) => Some(PathBuf::from(f)),
    };
    if written.pools.is_empty() {
        p.add(
            "ipam.pools",
            "list at least one pool to cut this node's blocks from, e.g. `- cidr: 10.244.0.0/16` (block_len 24)",
        );
    }
    let pools = super::pools::validate(p, "ipam.pools", &written.pools);
    Some(IpamSettings {
        file: file?,
        pools: pools?,
    })
}
