//! Values shared by every daemon: prefixes, communities, session states, routes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail, ensure};

/// An address family; always the unicast SAFI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 unicast (AFI 1, SAFI 1).
    Ipv4,
    /// IPv6 unicast (AFI 2, SAFI 1).
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// `"ipv4"` or `"ipv6"`, as FRR, BIRD (channel names) and GoBGP (`-a`) spell it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An IP prefix with no host bits set, e.g. `10.244.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Fails if `len` is too long for the family or `addr` has host bits set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        ensure!(
            len <= max,
            "prefix length {len} is longer than {max} for {addr}"
        );
        let prefix = Prefix { addr, len };
        ensure!(
            prefix.network() == addr,
            "{addr}/{len} has host bits set (did you mean {}/{len}?)",
            prefix.network()
        );
        Ok(prefix)
    }

    /// The first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(_), IpAddr::V4(a)) => Prefix::mask(IpAddr::V4(a), self.len) == self.addr,
            (IpAddr::V6(_), IpAddr::V6(a)) => Prefix::mask(IpAddr::V6(a), self.len) == self.addr,
            _ => false,
        }
    }

    /// Whether `other` lies inside this prefix (or is equal to it).
    pub fn contains(&self, other: &Prefix) -> bool {
        other.len >= self.len && self.contains_addr(other.addr)
    }

    fn network(&self) -> IpAddr {
        Prefix::mask(self.addr, self.len)
    }

    fn mask(addr: IpAddr, len: u8) -> IpAddr {
        match addr {
            IpAddr::V4(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(len))
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }
}

impl FromStr for Prefix {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Prefix> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| anyhow!("prefix {s:?} has no /length"))?;
        let addr: IpAddr = addr.parse().with_context(|| format!("prefix {s:?}"))?;
        let len: u8 = len.parse().with_context(|| format!("prefix {s:?}"))?;
        Prefix::new(addr, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Parses a prefix and panics with the reason if it is malformed: for literals in tests.
#[track_caller]
pub fn prefix(s: &str) -> Prefix {
    match s.parse() {
        Ok(p) => p,
        Err(e) => panic!("bad prefix literal {s:?}: {e:#}"),
    }
}

/// An RFC 1997 community `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u16, pub u16);

impl Community {
    /// The community as one 32-bit number (how GoBGP's JSON shows it).
    pub fn from_u32(v: u32) -> Community {
        // Truncation is the point: the two halves of the number.
        Community((v >> 16) as u16, (v & 0xffff) as u16)
    }
}

impl FromStr for Community {
    type Err = anyhow::Error;

    /// `"64511:1"`, or a well-known name as FRR prints it (`noExport`, `no-export`, ...).
    fn from_str(s: &str) -> Result<Community> {
        let known = match s {
            "internet" => Some(Community(0, 0)),
            "graceful-shutdown" | "gshut" | "gracefulShutdown" => Some(Community(0xffff, 0)),
            "accept-own" | "acceptOwn" => Some(Community(0xffff, 1)),
            "llgr-stale" | "llgrStale" => Some(Community(0xffff, 6)),
            "no-llgr" | "noLlgr" => Some(Community(0xffff, 7)),
            "blackhole" => Some(Community(0xffff, 666)),
            "no-export" | "noExport" => Some(Community(0xffff, 0xff01)),
            "no-advertise" | "noAdvertise" => Some(Community(0xffff, 0xff02)),
            "local-AS" | "localAs" | "no-export-subconfed" => Some(Community(0xffff, 0xff03)),
            "no-peer" | "noPeer" => Some(Community(0xffff, 0xff04)),
            _ => None,
        };
        if let Some(c) = known {
            return Ok(c);
        }
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| anyhow!("community {s:?} is not ASN:VALUE"))?;
        Ok(Community(
            a.trim()
                .parse()
                .with_context(|| format!("community {s:?}"))?,
            b.trim()
                .parse()
                .with_context(|| format!("community {s:?}"))?,
        ))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// An RFC 8092 large community `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

impl FromStr for LargeCommunity {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<LargeCommunity> {
        let parts: Vec<&str> = s.split(':').map(str::trim).collect();
        let [a, b, c] = parts[..] else {
            bail!("large community {s:?} is not GLOBAL:LOCAL1:LOCAL2");
        };
        let n = |x: &str| {
            x.parse::<u32>()
                .with_context(|| format!("large community {s:?}"))
        };
        Ok(LargeCommunity(n(a)?, n(b)?, n(c)?))
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

/// The RFC 4271 session state of one neighbor, as a daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Idle (also: administratively down / disabled).
    Idle,
    /// Connect: an outgoing TCP connection is being made.
    Connect,
    /// Active: waiting for (or retrying) a connection; BIRD's "Passive".
    Active,
    /// OPEN sent.
    OpenSent,
    /// OPEN received, waiting for KEEPALIVE.
    OpenConfirm,
    /// Established.
    Established,
    /// A state this harness does not map, as the daemon spelled it.
    Other(String),
}

impl SessionState {
    /// Maps the state names FRR and BIRD print (case-insensitive).
    pub fn from_name(name: &str) -> SessionState {
        match name.to_ascii_lowercase().as_str() {
            "idle" | "down" => SessionState::Idle,
            "connect" => SessionState::Connect,
            "active" | "passive" => SessionState::Active,
            "opensent" => SessionState::OpenSent,
            "openconfirm" => SessionState::OpenConfirm,
            "established" => SessionState::Established,
            _ => SessionState::Other(name.to_string()),
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionState::Other(s) => write!(f, "{s}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One path for one prefix in a daemon's BGP table (a prefix with several paths gives several
/// `Route`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination.
    pub prefix: Prefix,
    /// The AS_PATH, leftmost (most recent) AS first; AS_SET members are flattened in place.
    /// Empty for a locally originated route.
    pub as_path: Vec<u32>,
    /// The BGP next hop (for IPv6 the global one); `None` for a locally originated route.
    pub next_hop: Option<IpAddr>,
    /// Standard communities, in the order the daemon shows them.
    pub communities: Vec<Community>,
    /// Large communities, in the order the daemon shows them.
    pub large_communities: Vec<LargeCommunity>,
    /// MULTI_EXIT_DISC, if present.
    pub med: Option<u32>,
    /// The neighbor the path was learned from; `None` for a locally originated route.
    pub peer: Option<IpAddr>,
    /// Whether the daemon selected this path as best.
    pub best: bool,
    /// Whether the daemon marks the path stale (graceful restart). BIRD only shows LLGR
    /// staleness; see `Bird::protocol` for its graceful-restart state.
    pub stale: bool,
}

impl Route {
    /// Whether the path carries this community.
    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }

    /// Whether the path carries this large community.
    pub fn has_large_community(&self, c: LargeCommunity) -> bool {
        self.large_communities.contains(&c)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        if self.best {
            write!(f, " best")?;
        }
        if self.stale {
            write!(f, " stale")?;
        }
        match self.peer {
            Some(p) => write!(f, " from {p}")?,
            None => write!(f, " local")?,
        }
        if let Some(nh) = self.next_hop {
            write!(f, " nh {nh}")?;
        }
        write!(f, " path [")?;
        for (i, asn) in self.as_path.iter().enumerate() {
            write!(f, "{}{asn}", if i == 0 { "" } else { " " })?;
        }
        write!(f, "]")?;
        if let Some(med) = self.med {
            write!(f, " med {med}")?;
        }
        if !self.communities.is_empty() {
            write!(f, " comm")?;
            for c in &self.communities {
                write!(f, " {c}")?;
            }
        }
        if !self.large_communities.is_empty() {
            write!(f, " lcomm")?;
            for c in &self.large_communities {
                write!(f, " {c}")?;
            }
        }
        Ok(())
    }
}

/// Formats routes one per line, for error messages.
pub fn show_routes(routes: &[Route]) -> String {
    if routes.is_empty() {
        return "(no routes)".to_string();
    }
    routes
        .iter()
        .map(|r| format!("  {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trip_and_checks() {
        assert_eq!(prefix("10.244.1.0/24").to_string(), "10.244.1.0/24");
        assert_eq!(
            prefix("fd00:10:244:1:0::/64").to_string(),
            "fd00:10:244:1::/64"
        );
        assert!("10.244.1.1/24".parse::<Prefix>().is_err());
        assert!("10.244.1.0/33".parse::<Prefix>().is_err());
        assert!("10.244.1.0".parse::<Prefix>().is_err());
        assert!(prefix("10.244.0.0/16").contains(&prefix("10.244.7.0/24")));
        assert!(!prefix("10.244.0.0/16").contains(&prefix("10.0.0.0/8")));
        assert!(!prefix("10.244.0.0/16").contains(&prefix("fd00::/64")));
        assert!(prefix("0.0.0.0/0").contains(&prefix("10.0.0.0/8")));
    }

    #[test]
    fn communities_parse() {
        assert_eq!("64511:1".parse::<Community>().unwrap(), Community(64511, 1));
        assert_eq!(
            "noExport".parse::<Community>().unwrap(),
            Community(65535, 65281)
        );
        assert_eq!(Community::from_u32(4227792897), Community(64511, 1));
        assert!("64511".parse::<Community>().is_err());
        assert_eq!(
            "4200000001:1:2".parse::<LargeCommunity>().unwrap(),
            LargeCommunity(4200000001, 1, 2)
        );
        assert!("1:2".parse::<LargeCommunity>().is_err());
    }

    #[test]
    fn states_map() {
        assert_eq!(SessionState::from_name("Passive"), SessionState::Active);
        assert_eq!(
            SessionState::from_name("Established"),
            SessionState::Established
        );
        assert_eq!(
            SessionState::from_name("Clearing"),
            SessionState::Other("Clearing".into())
        );
    }
}
