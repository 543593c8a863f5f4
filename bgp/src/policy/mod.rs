//! Routing policy: typed rules applied to routes on import (from a peer)
//! and on export (to a peer).
//!
//! A policy is a list of rules. The first rule whose conditions all hold
//! applies its actions and, if it has one, its verdict; a rule without a
//! verdict lets evaluation go on. A policy that ends without a verdict
//! falls back to its default: accept, reject, or go on to the next policy
//! of the peer's chain. A chain that ends without a verdict accepts.
//!
//! RFC 8212 is enforced by the speaker, not here: an eBGP peer without an
//! import (or export) chain accepts (or sends) nothing.

mod prefix_set;

use std::net::IpAddr;

use serde::Serialize;

pub use prefix_set::{PrefixRange, PrefixRangeError, PrefixSet};

use crate::rib::RouteAttrs;
use crate::types::{Asn, Community, Family, LargeCommunity, Prefix};
use crate::wire::NextHop;

/// Accept or reject the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Reject,
}

/// What a policy does when no rule gave a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallthrough {
    Accept,
    Reject,
    /// Go on with the next policy of the chain.
    Next,
}

/// Where the route was learned, as a condition sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteSource {
    /// Originated by this speaker.
    Local,
    /// From an eBGP peer.
    External,
    /// From an iBGP peer.
    Internal,
}

/// A test on the AS path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AsPathMatch {
    /// The AS appears anywhere in the path.
    Contains(Asn),
    /// The rightmost AS (the originator) is this one.
    OriginatesFrom(Asn),
    /// The leftmost AS (the neighbour that sent it) is this one.
    NeighborIs(Asn),
    /// Path length (RFC 4271 §9.1.2.2 (a) counting) at most this.
    LengthAtMost(usize),
    LengthAtLeast(usize),
}

/// A condition on a route; all of a rule's conditions must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    Prefix(PrefixSet),
    Family(Family),
    /// Any of these communities is on the route.
    Community(Vec<Community>),
    LargeCommunity(Vec<LargeCommunity>),
    AsPath(AsPathMatch),
    /// The peer the route comes from (import) or goes to (export) is in
    /// one of these prefixes.
    Neighbor(Vec<Prefix>),
    /// The route's next hop is in one of these prefixes.
    NextHop(Vec<Prefix>),
    Source(RouteSource),
    Not(Box<Condition>),
}

/// A change to the route's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    LocalPref(u32),
    Med(u32),
    RemoveMed,
    AddCommunities(Vec<Community>),
    RemoveCommunities(Vec<Community>),
    ClearCommunities,
    AddLargeCommunities(Vec<LargeCommunity>),
    RemoveLargeCommunities(Vec<LargeCommunity>),
    /// Set the next hop to this address.
    NextHop(IpAddr),
    /// Set the next hop to our address on the session.
    NextHopSelf,
    /// Prepend an AS (ours when `None`) this many times.
    Prepend {
        asn: Option<Asn>,
        count: u8,
    },
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub name: Option<String>,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub verdict: Option<Verdict>,
}

/// A named policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
    pub default: Fallthrough,
}

impl Condition {
    /// Whether it can hold for one prefix and not another of the same
    /// family, with the same attributes, neighbour and source.
    fn looks_at_prefix(&self) -> bool {
        match self {
            Condition::Prefix(_) => true,
            Condition::Not(c) => c.looks_at_prefix(),
            _ => false,
        }
    }

    fn looks_at_neighbor(&self) -> bool {
        match self {
            Condition::Neighbor(_) => true,
            Condition::Not(c) => c.looks_at_neighbor(),
            _ => false,
        }
    }
}

impl Policy {
    /// Whether the outcome may depend on the prefix beyond its family. If
    /// not, the speaker runs the policy once per attribute set, not once per
    /// prefix: a full table with one attribute set is one evaluation.
    pub fn looks_at_prefix(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.conditions.iter().any(Condition::looks_at_prefix))
    }

    /// Whether the outcome may depend on which peer the route comes from or
    /// goes to. If not, the speaker exports once for every peer with the
    /// same settings (one export group).
    pub fn looks_at_neighbor(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.conditions.iter().any(Condition::looks_at_neighbor))
    }
}

/// What a policy may look at besides the attributes.
#[derive(Debug, Clone, Copy)]
pub struct RouteContext {
    pub prefix: Prefix,
    /// The peer the route comes from (import) or goes to (export).
    pub neighbor: Option<IpAddr>,
    pub source: RouteSource,
    pub local_as: Asn,
    /// Our next hop on the session, for `NextHopSelf`.
    pub self_next_hop: Option<NextHop>,
}

/// Runs `chain` over a route, changing `attrs` as the actions say.
pub fn evaluate<'a>(
    chain: impl IntoIterator<Item = &'a Policy>,
    ctx: &RouteContext,
    attrs: &mut RouteAttrs,
) -> Verdict {
    for policy in chain {
        for rule in &policy.rules {
            if rule.conditions.iter().all(|c| holds(c, ctx, attrs)) {
                for a in &rule.actions {
                    apply(a, ctx, attrs);
                }
                if let Some(v) = rule.verdict {
                    return v;
                }
            }
        }
        match policy.default {
            Fallthrough::Accept => return Verdict::Accept,
            Fallthrough::Reject => return Verdict::Reject,
            Fallthrough::Next => {}
        }
    }
    Verdict::Accept
}

fn holds(c: &Condition, ctx: &RouteContext, attrs: &RouteAttrs) -> bool {
    match c {
        Condition::Prefix(set) => set.matches(&ctx.prefix),
        Condition::Family(f) => crate::rib::prefix_family(&ctx.prefix) == *f,
        Condition::Community(any) => any.iter().any(|c| attrs.communities.contains(c)),
        Condition::LargeCommunity(any) => any.iter().any(|c| attrs.large_communities.contains(c)),
        Condition::AsPath(m) => {
            let p = &attrs.as_path;
            match m {
                AsPathMatch::Contains(asn) => p.asns().any(|a| a == *asn),
                AsPathMatch::OriginatesFrom(asn) => p.origin_asn() == Some(*asn),
                AsPathMatch::NeighborIs(asn) => p.first_asn() == Some(*asn),
                AsPathMatch::LengthAtMost(n) => p.path_len() <= *n,
                AsPathMatch::LengthAtLeast(n) => p.path_len() >= *n,
            }
        }
        Condition::Neighbor(prefixes) => ctx
            .neighbor
            .is_some_and(|n| prefixes.iter().any(|p| p.contains_addr(n))),
        Condition::NextHop(prefixes) => {
            let hops: Vec<IpAddr> = match attrs.next_hop {
                NextHop::V4(a) => vec![IpAddr::V4(a)],
                NextHop::V6 { global, link_local } => std::iter::once(global)
                    .chain(link_local)
                    .map(IpAddr::V6)
                    .collect(),
            };
            hops.iter()
                .any(|h| prefixes.iter().any(|p| p.contains_addr(*h)))
        }
        Condition::Source(s) => ctx.source == *s,
        Condition::Not(inner) => !holds(inner, ctx, attrs),
    }
}

fn apply(a: &Action, ctx: &RouteContext, attrs: &mut RouteAttrs) {
    match a {
        Action::LocalPref(v) => attrs.local_pref = Some(*v),
        Action::Med(v) => attrs.med = Some(*v),
        Action::RemoveMed => attrs.med = None,
        Action::AddCommunities(cs) => {
            for c in cs {
                if !attrs.communities.contains(c) {
                    attrs.communities.push(*c);
                }
            }
        }
        Action::RemoveCommunities(cs) => attrs.communities.retain(|c| !cs.contains(c)),
        Action::ClearCommunities => attrs.communities.clear(),
        Action::AddLargeCommunities(cs) => {
            for c in cs {
                if !attrs.large_communities.contains(c) {
                    attrs.large_communities.push(*c);
                }
            }
        }
        Action::RemoveLargeCommunities(cs) => attrs.large_communities.retain(|c| !cs.contains(c)),
        Action::NextHop(IpAddr::V4(a)) => attrs.next_hop = NextHop::V4(*a),
        Action::NextHop(IpAddr::V6(a)) => {
            attrs.next_hop = NextHop::V6 {
                global: *a,
                link_local: None,
            }
        }
        Action::NextHopSelf => {
            if let Some(nh) = ctx.self_next_hop {
                attrs.next_hop = nh;
            }
        }
        Action::Prepend { asn, count } => {
            attrs
                .as_path
                .prepend(asn.unwrap_or(ctx.local_as), usize::from(*count));
        }
    }
}

#[cfg(test)]
mod tests;
