//! The decision process (RFC 4271 §9.1.2), applied as the RFC writes it:
//! candidates are eliminated step by step, so MED, which is not transitive
//! (§9.1.2.2 (c)), is handled correctly, and every loser records the step
//! at which it dropped out.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::attrs::RouteAttrs;
use crate::types::{Asn, PathId, RouterId};

/// Why a path is not the best one: the first step it lost at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossReason {
    /// §9.1.1: lower degree of preference (LOCAL_PREF).
    LocalPref,
    /// A route we originate beats the same prefix learned from a peer.
    NotLocal,
    /// §9.1.2.2 (a): longer AS_PATH (an AS_SET counts 1, RFC 5065 §5.3:
    /// confederation segments count 0).
    AsPathLength,
    /// §9.1.2.2 (b): higher ORIGIN.
    Origin,
    /// §9.1.2.2 (c): higher MULTI_EXIT_DISC from the same neighbour AS.
    Med,
    /// §9.1.2.2 (d): learned over iBGP while an eBGP path exists.
    Internal,
    /// §9.1.2.2 (f) and RFC 4456 §9: higher BGP identifier (ORIGINATOR_ID
    /// when present).
    RouterId,
    /// RFC 4456 §9: longer CLUSTER_LIST.
    ClusterListLength,
    /// §9.1.2.2 (g): higher peer address.
    PeerAddress,
    /// RFC 7911: several paths from one peer; higher path identifier.
    PathId,
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossReason::LocalPref => "lower LOCAL_PREF",
            LossReason::NotLocal => "a local route is preferred",
            LossReason::AsPathLength => "longer AS_PATH",
            LossReason::Origin => "worse ORIGIN",
            LossReason::Med => "higher MED",
            LossReason::Internal => "iBGP path (eBGP preferred)",
            LossReason::RouterId => "higher router ID",
            LossReason::ClusterListLength => "longer CLUSTER_LIST",
            LossReason::PeerAddress => "higher peer address",
            LossReason::PathId => "higher path ID",
        })
    }
}

/// What the decision process needs to know about where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// We originate it.
    pub local: bool,
    /// Learned over iBGP.
    pub internal: bool,
    pub router_id: RouterId,
    pub address: Option<IpAddr>,
}

/// One path as the decision process sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub attrs: &'a RouteAttrs,
    pub origin: Origin,
    pub path_id: Option<PathId>,
}

/// Knobs of the decision process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionConfig {
    pub local_as: Asn,
    /// LOCAL_PREF assumed when a path has none (RFC 4271 §5.1.5 leaves it
    /// to configuration; 100 is what every implementation uses).
    pub default_local_pref: u32,
    /// Compare MED across neighbour ASes (deterministic, but not RFC).
    pub always_compare_med: bool,
    /// Most paths installed together for ECMP; 1 turns multipath off.
    pub max_paths: usize,
    /// Multipath across different AS paths of the same length.
    pub multipath_relax: bool,
}

impl DecisionConfig {
    pub fn new(local_as: Asn) -> Self {
        DecisionConfig {
            local_as,
            default_local_pref: 100,
            always_compare_med: false,
            max_paths: 8,
            multipath_relax: false,
        }
    }
}

/// The outcome for one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub best: Option<usize>,
    /// Indexes of the paths to install together, best first (includes
    /// `best`).
    pub multipath: Vec<usize>,
    /// For each path, why it lost (`None` for the best).
    pub lost: Vec<Option<LossReason>>,
}

/// Runs the decision process over `paths`.
pub fn decide(paths: &[Candidate<'_>], cfg: &DecisionConfig) -> Decision {
    let mut lost: Vec<Option<LossReason>> = vec![None; paths.len()];
    let mut alive: Vec<usize> = (0..paths.len()).collect();
    if alive.is_empty() {
        return Decision {
            best: None,
            multipath: vec![],
            lost,
        };
    }
    let lp = |i: usize| paths[i].attrs.local_pref.unwrap_or(cfg.default_local_pref);
    step(
        &mut alive,
        &mut lost,
        LossReason::LocalPref,
        |i| u64::from(lp(i)),
        true,
    );
    step(
        &mut alive,
        &mut lost,
        LossReason::NotLocal,
        |i| u64::from(paths[i].origin.local),
        true,
    );
    step(
        &mut alive,
        &mut lost,
        LossReason::AsPathLength,
        |i| paths[i].attrs.as_path.path_len() as u64,
        false,
    );
    step(
        &mut alive,
        &mut lost,
        LossReason::Origin,
        |i| paths[i].attrs.origin as u64,
        false,
    );
    med_step(paths, cfg, &mut alive, &mut lost);
    step(
        &mut alive,
        &mut lost,
        LossReason::Internal,
        |i| u64::from(paths[i].origin.internal),
        false,
    );
    // §9.1.2.2 (e), interior cost to the next hop: every next hop is on a
    // connected subnet here, so they all tie.

    // Paths still equal at this point may share the forwarding load.
    let equal = alive.clone();
    step(
        &mut alive,
        &mut lost,
        LossReason::RouterId,
        |i| u64::from(identifier(paths[i])),
        false,
    );
    step(
        &mut alive,
        &mut lost,
        LossReason::ClusterListLength,
        |i| paths[i].attrs.cluster_list.len() as u64,
        false,
    );
    alive.sort_by(|&a, &b| address_order(paths[a].origin.address, paths[b].origin.address));
    if let Some(&first) = alive.first() {
        for &i in &alive[1..] {
            if address_order(paths[i].origin.address, paths[first].origin.address)
                != Ordering::Equal
            {
                lost[i] = Some(LossReason::PeerAddress);
            }
        }
        alive.retain(|&i| lost[i].is_none());
    }
    step(
        &mut alive,
        &mut lost,
        LossReason::PathId,
        |i| u64::from(paths[i].path_id.map_or(0, |p| p.0)),
        false,
    );
    let best = alive.first().copied();

    let mut multipath = Vec::new();
    if let Some(b) = best {
        multipath.push(b);
        for &i in &equal {
            if i == b || multipath.len() >= cfg.max_paths.max(1) {
                continue;
            }
            // Without relax, ECMP needs the very same AS path (the common
            // vendor rule); locally originated routes never share.
            let same_path = cfg.multipath_relax || paths[i].attrs.as_path == paths[b].attrs.as_path;
            if same_path && !paths[i].origin.local {
                multipath.push(i);
            }
        }
    }
    Decision {
        best,
        multipath,
        lost,
    }
}

/// Keeps the candidates with the best `key` (highest or lowest); the others
/// lose for `reason`.
fn step(
    alive: &mut Vec<usize>,
    lost: &mut [Option<LossReason>],
    reason: LossReason,
    key: impl Fn(usize) -> u64,
    higher_wins: bool,
) {
    let keys = alive.iter().map(|&i| key(i));
    let Some(best) = (if higher_wins { keys.max() } else { keys.min() }) else {
        return;
    };
    alive.retain(|&i| {
        let keep = key(i) == best;
        if !keep {
            lost[i] = Some(reason);
        }
        keep
    });
}

/// §9.1.2.2 (c): drop every path for which another candidate from the same
/// neighbour AS has a lower MED (missing MED counts as 0).
fn med_step(
    paths: &[Candidate<'_>],
    cfg: &DecisionConfig,
    alive: &mut Vec<usize>,
    lost: &mut [Option<LossReason>],
) {
    let med = |i: usize| paths[i].attrs.med.unwrap_or(0);
    let neighbor = |i: usize| paths[i].attrs.as_path.first_asn().unwrap_or(cfg.local_as);
    let losers: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&i| {
            alive
                .iter()
                .any(|&j| (cfg.always_compare_med || neighbor(i) == neighbor(j)) && med(j) < med(i))
        })
        .collect();
    for i in losers {
        lost[i] = Some(LossReason::Med);
    }
    alive.retain(|&i| lost[i].is_none());
}

/// RFC 4456 §9: the ORIGINATOR_ID stands in for the router ID when present.
fn identifier(c: Candidate<'_>) -> u32 {
    c.attrs
        .originator_id
        .map_or(c.origin.router_id.get(), u32::from)
}

fn address_order(a: Option<IpAddr>, b: Option<IpAddr>) -> Ordering {
    a.cmp(&b)
}

#[cfg(test)]
mod tests;
