//! A kernel route of ours, as podroute wants it and as the kernel holds it:
//! the one shape both sides of the reconciliation compare.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use bgp::types::Prefix;

/// One forwarding next hop: a directly connected gateway on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Hop {
    pub(crate) gateway: IpAddr,
    pub(crate) ifindex: u32,
}

/// Where a route sends its packets. Cheap to clone: the FIB keeps one copy
/// of each distinct target and every route of it shares that.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// Through one gateway, or several (ECMP); sorted, never empty.
    Via(Arc<[Hop]>),
    /// ICMP unreachable: for our own pod block, so that traffic to unused
    /// pod addresses is answered here instead of looping to the ToR.
    Unreachable,
    /// Silently dropped (the same, without ICMP).
    Blackhole,
}

impl Target {
    /// The next hops in a canonical order, so that equal sets compare equal.
    pub(crate) fn via(mut hops: Vec<Hop>) -> Option<Target> {
        hops.sort();
        hops.dedup();
        (!hops.is_empty()).then(|| Target::Via(hops.into()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Via(hops) => {
                for (i, h) in hops.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} dev {}", h.gateway, interface_name(h.ifindex))?;
                }
                Ok(())
            }
            Target::Unreachable => f.write_str("unreachable"),
            Target::Blackhole => f.write_str("blackhole"),
        }
    }
}

/// A route carrying our protocol number in our table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelRoute {
    pub(crate) prefix: Prefix,
    pub(crate) target: Target,
}

/// The interface's name, or its index when it has none (any more).
pub(crate) fn interface_name(ifindex: u32) -> String {
    nix::net::if_::if_nameindex()
        .ok()
        .and_then(|list| {
            list.iter()
                .find(|i| i.index() == ifindex)
                .map(|i| i.name().to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("#{ifindex}"))
}
