//! A typed description of one BGP speaker, rendered into each daemon's own configuration
//! language by `Frr`, `Bird` and `Gobgp`.
//!
//! Builders take `self` and return it, so a configuration reads as one expression:
//!
//! ```
//! use interop::{BgpConfig, Community, Family, LargeCommunity, Neighbor, Origin, Policy, prefix};
//! let cfg = BgpConfig::new(4200000001, "192.0.2.1".parse().unwrap())
//!     .neighbor(
//!         Neighbor::new("192.0.2.2".parse().unwrap(), 4200000002)
//!             .name("bird")
//!             .password("s3cret")
//!             .graceful_restart(60)
//!             .export(Policy::new().add_community(Community(64511, 100)).set_med(100)),
//!     )
//!     .originate(
//!         Origin::new(prefix("10.244.1.0/24"))
//!             .community(Community(64511, 1))
//!             .large_community(LargeCommunity(4200000001, 1, 1)),
//!     );
//! assert_eq!(cfg.neighbors[0].families, vec![Family::Ipv4]);
//! ```

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Result, bail, ensure};

use crate::rules;
use crate::types::{Community, Family, LargeCommunity, Prefix};

/// Session timers, the same for every neighbor of a speaker. The defaults are short so
/// tests converge fast: hold 9 s, keepalive 3 s, connect retry 1 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Hold time offered in OPEN, seconds.
    pub hold: u16,
    /// Keepalive interval, seconds.
    pub keepalive: u16,
    /// Connect-retry interval, seconds.
    pub connect_retry: u16,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            hold: 9,
            keepalive: 3,
            connect_retry: 1,
        }
    }
}

/// Which way a policy applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// On routes received from the neighbor.
    Import,
    /// On routes sent to the neighbor.
    Export,
}

impl Direction {
    /// `"in"` or `"out"`.
    pub fn short(self) -> &'static str {
        match self {
            Direction::Import => "in",
            Direction::Export => "out",
        }
    }
}

/// A neighbor policy: drop some prefixes, change the rest. The default accepts everything
/// unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Routes for exactly these prefixes are rejected.
    pub reject: Vec<Prefix>,
    /// Added to every accepted route.
    pub add_communities: Vec<Community>,
    /// Added to every accepted route.
    pub add_large_communities: Vec<LargeCommunity>,
    /// Set on every accepted route.
    pub set_med: Option<u32>,
}

impl Policy {
    /// Accept everything unchanged.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Reject routes for exactly `p`.
    pub fn reject(mut self, p: Prefix) -> Policy {
        self.reject.push(p);
        self
    }

    /// Add a community to accepted routes.
    pub fn add_community(mut self, c: Community) -> Policy {
        self.add_communities.push(c);
        self
    }

    /// Add a large community to accepted routes.
    pub fn add_large_community(mut self, c: LargeCommunity) -> Policy {
        self.add_large_communities.push(c);
        self
    }

    /// Set the MED of accepted routes.
    pub fn set_med(mut self, med: u32) -> Policy {
        self.set_med = Some(med);
        self
    }

    /// Whether the policy changes nothing (routes pass unchanged).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// Whether the policy modifies accepted routes.
    pub fn modifies(&self) -> bool {
        !self.add_communities.is_empty()
            || !self.add_large_communities.is_empty()
            || self.set_med.is_some()
    }

    /// The rejected prefixes of one family.
    pub fn reject_of(&self, family: Family) -> Vec<Prefix> {
        self.reject
            .iter()
            .filter(|p| p.family() == family)
            .copied()
            .collect()
    }
}

/// One BGP neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Identifier used for generated names (BIRD protocol, FRR route-maps, GoBGP policies):
    /// `[a-z0-9_]`, starting with a letter. Defaults to `n_` + the address.
    pub name: String,
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's AS (4-octet capable).
    pub remote_as: u32,
    /// Source address of the session, if it must be fixed.
    pub local_address: Option<IpAddr>,
    /// TCP-MD5 (RFC 2385) password.
    pub password: Option<String>,
    /// Wait for the neighbor to connect; never connect out.
    pub passive: bool,
    /// Graceful restart (RFC 4724) with this restart time in seconds; `None` turns it off.
    pub graceful_restart: Option<u16>,
    /// Address families to negotiate. Defaults to the family of `address`.
    pub families: Vec<Family>,
    /// Policy on received routes.
    pub import: Policy,
    /// Policy on sent routes.
    pub export: Policy,
}

impl Neighbor {
    /// A neighbor with default settings: active, no password, no graceful restart, the
    /// address's own family, accept-all policies.
    pub fn new(address: IpAddr, remote_as: u32) -> Neighbor {
        Neighbor {
            name: default_name(address),
            address,
            remote_as,
            local_address: None,
            password: None,
            passive: false,
            graceful_restart: None,
            families: vec![Family::of(address)],
            import: Policy::new(),
            export: Policy::new(),
        }
    }

    /// Set the identifier used in generated names.
    pub fn name(mut self, name: &str) -> Neighbor {
        self.name = name.to_string();
        self
    }

    /// Fix the session's source address.
    pub fn local_address(mut self, addr: IpAddr) -> Neighbor {
        self.local_address = Some(addr);
        self
    }

    /// Use TCP-MD5 with this password.
    pub fn password(mut self, password: &str) -> Neighbor {
        self.password = Some(password.to_string());
        self
    }

    /// Never connect out; wait for the neighbor.
    pub fn passive(mut self) -> Neighbor {
        self.passive = true;
        self
    }

    /// Enable graceful restart with this restart time (seconds).
    pub fn graceful_restart(mut self, restart_time: u16) -> Neighbor {
        self.graceful_restart = Some(restart_time);
        self
    }

    /// Negotiate these families instead of the address's own.
    pub fn families(mut self, families: &[Family]) -> Neighbor {
        self.families = families.to_vec();
        self
    }

    /// Set the import policy.
    pub fn import(mut self, policy: Policy) -> Neighbor {
        self.import = policy;
        self
    }

    /// Set the export policy.
    pub fn export(mut self, policy: Policy) -> Neighbor {
        self.export = policy;
        self
    }

    /// The policy for one direction.
    pub fn policy(&self, dir: Direction) -> &Policy {
        match dir {
            Direction::Import => &self.import,
            Direction::Export => &self.export,
        }
    }

    /// Whether the neighbor negotiates `family`.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

fn default_name(addr: IpAddr) -> String {
    let mut s = String::from("n_");
    for c in addr.to_string().chars() {
        s.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    s
}

/// A locally originated prefix and the attributes it is announced with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The prefix.
    pub prefix: Prefix,
    /// Communities set on the route.
    pub communities: Vec<Community>,
    /// Large communities set on the route.
    pub large_communities: Vec<LargeCommunity>,
    /// MED set on the route.
    pub med: Option<u32>,
}

impl Origin {
    /// A prefix with no attributes beyond the mandatory ones (origin IGP).
    pub fn new(prefix: Prefix) -> Origin {
        Origin {
            prefix,
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
        }
    }

    /// Add a community.
    pub fn community(mut self, c: Community) -> Origin {
        self.communities.push(c);
        self
    }

    /// Add a large community.
    pub fn large_community(mut self, c: LargeCommunity) -> Origin {
        self.large_communities.push(c);
        self
    }

    /// Set the MED.
    pub fn med(mut self, med: u32) -> Origin {
        self.med = Some(med);
        self
    }
}

/// One BGP speaker: listens on port 179 in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// Local AS (4-octet capable).
    pub asn: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Neighbors.
    pub neighbors: Vec<Neighbor>,
    /// Originated prefixes.
    pub originate: Vec<Origin>,
    /// Timers for every neighbor.
    pub timers: Timers,
    /// Appended verbatim to the generated configuration (escape hatch). For FRR it follows the
    /// `router bgp` block at top level; for BIRD it is appended at the end; for GoBGP it is
    /// appended to the TOML file.
    pub raw: String,
}

impl BgpConfig {
    /// A speaker with no neighbors and no routes.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> BgpConfig {
        BgpConfig {
            asn,
            router_id,
            neighbors: Vec::new(),
            originate: Vec::new(),
            timers: Timers::default(),
            raw: String::new(),
        }
    }

    /// Add a neighbor.
    pub fn neighbor(mut self, n: Neighbor) -> BgpConfig {
        self.neighbors.push(n);
        self
    }

    /// Originate a prefix.
    pub fn originate(mut self, o: Origin) -> BgpConfig {
        self.originate.push(o);
        self
    }

    /// Replace the timers.
    pub fn timers(mut self, timers: Timers) -> BgpConfig {
        self.timers = timers;
        self
    }

    /// Append raw configuration text.
    pub fn raw(mut self, text: &str) -> BgpConfig {
        self.raw.push_str(text);
        if !self.raw.ends_with('\n') {
            self.raw.push('\n');
        }
        self
    }

    /// The neighbor with this address.
    pub fn find_neighbor(&self, addr: IpAddr) -> Result<&Neighbor> {
        match self.neighbors.iter().find(|n| n.address == addr) {
            Some(n) => Ok(n),
            None => bail!("no neighbor {addr} in the configuration"),
        }
    }

    /// The neighbor with this address, mutably.
    pub fn find_neighbor_mut(&mut self, addr: IpAddr) -> Result<&mut Neighbor> {
        match self.neighbors.iter_mut().find(|n| n.address == addr) {
            Some(n) => Ok(n),
            None => bail!("no neighbor {addr} in the configuration"),
        }
    }

    /// Checks names, address rules and duplicates; every daemon calls this before rendering.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.asn != 0, "AS 0 is reserved");
        ensure!(
            self.timers.keepalive > 0 && self.timers.hold >= 3 * self.timers.keepalive,
            "timers: hold {} must be at least 3 x keepalive {}",
            self.timers.hold,
            self.timers.keepalive
        );
        for (i, n) in self.neighbors.iter().enumerate() {
            check_name(&n.name)?;
            rules::check_any_addr(n.address)?;
            if let Some(a) = n.local_address {
                rules::check_any_addr(a)?;
            }
            ensure!(
                !n.families.is_empty(),
                "neighbor {} has no families",
                n.address
            );
            if let Some(p) = &n.password {
                ensure!(
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_graphic() && c != '"'),
                    "neighbor {}: passwords are printable ASCII without quotes or spaces",
                    n.address
                );
            }
            for p in [&n.import, &n.export] {
                for r in &p.reject {
                    rules::check_route_prefix(r)?;
                }
            }
            for other in &self.neighbors[..i] {
                ensure!(other.address != n.address, "neighbor {} twice", n.address);
                ensure!(other.name != n.name, "neighbor name {} twice", n.name);
            }
        }
        for (i, o) in self.originate.iter().enumerate() {
            rules::check_route_prefix(&o.prefix)?;
            ensure!(
                !self.originate[..i].iter().any(|x| x.prefix == o.prefix),
                "prefix {} originated twice",
                o.prefix
            );
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 24
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ensure!(
        ok,
        "neighbor name {name:?} must be [a-z][a-z0-9_]*, at most 24 characters"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::prefix;

    #[test]
    fn default_names_are_identifiers() {
        let n = Neighbor::new("2001:db8:0:12::2".parse().unwrap(), 1);
        assert_eq!(n.name, "n_2001_db8_0_12__2");
        assert_eq!(n.families, vec![Family::Ipv6]);
        check_name(&n.name).unwrap();
    }

    #[test]
    fn validate_rejects_rule_breakers() {
        let ok = BgpConfig::new(65000, "192.0.2.1".parse().unwrap())
            .neighbor(Neighbor::new("192.0.2.2".parse().unwrap(), 65001));
        ok.validate().unwrap();
        let bad = ok.clone().originate(Origin::new(prefix("10.1.0.0/16")));
        assert!(bad.validate().is_err());
        let bad = ok
            .clone()
            .neighbor(Neighbor::new("192.0.2.2".parse().unwrap(), 65002).name("x"));
        assert!(bad.validate().is_err());
        let bad = ok.neighbor(Neighbor::new("192.0.2.5".parse().unwrap(), 65002).name("Bad"));
        assert!(bad.validate().is_err());
    }
}
