use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Address Family Identifier (IANA "Address Family Numbers").
///
/// A newtype rather than an enum so that a family we do not speak still
/// round-trips through the codec byte for byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
    pub const L2VPN: Afi = Afi(25);
    pub const BGP_LS: Afi = Afi(16388);

    const NAMES: &[(Afi, &str)] = &[
        (Afi::IPV4, "ipv4"),
        (Afi::IPV6, "ipv6"),
        (Afi::L2VPN, "l2vpn"),
        (Afi::BGP_LS, "bgp-ls"),
    ];

    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
    }
}

/// Subsequent Address Family Identifier (IANA "SAFI Values").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
    pub const LABELED_UNICAST: Safi = Safi(4);
    pub const VPLS: Safi = Safi(65);
    pub const EVPN: Safi = Safi(70);
    pub const BGP_LS: Safi = Safi(71);
    pub const MPLS_VPN: Safi = Safi(128);
    pub const ROUTE_TARGET: Safi = Safi(132);
    pub const FLOWSPEC: Safi = Safi(133);
    pub const FLOWSPEC_VPN: Safi = Safi(134);

    const NAMES: &[(Safi, &str)] = &[
        (Safi::UNICAST, "unicast"),
        (Safi::MULTICAST, "multicast"),
        (Safi::LABELED_UNICAST, "labeled-unicast"),
        (Safi::VPLS, "vpls"),
        (Safi::EVPN, "evpn"),
        (Safi::BGP_LS, "bgp-ls"),
        (Safi::MPLS_VPN, "mpls-vpn"),
        (Safi::ROUTE_TARGET, "route-target"),
        (Safi::FLOWSPEC, "flowspec"),
        (Safi::FLOWSPEC_VPN, "flowspec-vpn"),
    ];

    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
    }
}

impl Serialize for Afi {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Safi {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "afi{}", self.0),
        }
    }
}

impl fmt::Debug for Afi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Afi({self})")
    }
}

impl fmt::Display for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "safi{}", self.0),
        }
    }
}

impl fmt::Debug for Safi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Safi({self})")
    }
}

/// An AFI/SAFI pair: the unit in which BGP negotiates, advertises and
/// withdraws (RFC 4760).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// Families whose NLRI are plain IP prefixes (RFC 4271 §4.3 encoding),
    /// which the codec decodes into typed prefixes; others stay raw.
    pub fn is_ip_prefix(self) -> bool {
        FamilySet::bit(self).is_some()
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.afi, self.safi)
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Family({self})")
    }
}

impl From<Family> for String {
    fn from(f: Family) -> String {
        f.to_string()
    }
}

impl TryFrom<String> for Family {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Family {
    type Err = String;

    /// `ipv4-unicast`, `ipv6-multicast`, `l2vpn-evpn`, `afi25-safi70`;
    /// `ipv4` and `ipv6` alone mean unicast.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            format!(
                "unknown address family {s:?}: expected e.g. ipv4-unicast, ipv6-unicast, ipv4, ipv6"
            )
        };
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "ipv4" | "v4" => return Ok(Family::IPV4_UNICAST),
            "ipv6" | "v6" => return Ok(Family::IPV6_UNICAST),
            _ => {}
        }
        // The AFI name never contains '-' except "bgp-ls", so split after it.
        let (afi_s, safi_s) = if let Some(rest) = lower.strip_prefix("bgp-ls-") {
            ("bgp-ls", rest)
        } else {
            lower.split_once('-').ok_or_else(err)?
        };
        let afi = Afi::NAMES
            .iter()
            .find(|(_, n)| *n == afi_s)
            .map(|(a, _)| *a)
            .or_else(|| afi_s.strip_prefix("afi")?.parse().ok().map(Afi))
            .ok_or_else(err)?;
        let safi = Safi::NAMES
            .iter()
            .find(|(_, n)| *n == safi_s)
            .map(|(s, _)| *s)
            .or_else(|| safi_s.strip_prefix("safi")?.parse().ok().map(Safi))
            .ok_or_else(err)?;
        Ok(Family { afi, safi })
    }
}

/// A set of the IP-prefix families, as a bitmask: per-session capability
/// switches such as ADD-PATH direction or extended next hop are looked up on
/// every NLRI, so membership must cost nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FamilySet(u8);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);
    const MEMBERS: [Family; 4] = [
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::IPV4_MULTICAST,
        Family::IPV6_MULTICAST,
    ];

    fn bit(family: Family) -> Option<u8> {
        Self::MEMBERS
            .iter()
            .position(|f| *f == family)
            .map(|i| 1 << i)
    }

    /// Adds `family`; returns false (and changes nothing) for a family that
    /// is not an IP-prefix family, which no switch in this set applies to.
    pub fn insert(&mut self, family: Family) -> bool {
        match Self::bit(family) {
            Some(b) => {
                self.0 |= b;
                true
            }
            None => false,
        }
    }

    pub fn contains(self, family: Family) -> bool {
        Self::bit(family).is_some_and(|b| self.0 & b != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Family> {
        Self::MEMBERS
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, f)| f)
    }
}

impl FromIterator<Family> for FamilySet {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        let mut set = FamilySet::EMPTY;
        for f in iter {
            set.insert(f);
        }
        set
    }
}

impl Serialize for FamilySet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl fmt::Debug for FamilySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_round_trip() {
        for s in [
            "ipv4-unicast",
            "ipv6-multicast",
            "l2vpn-evpn",
            "bgp-ls-bgp-ls",
            "afi3-safi9",
        ] {
            let f: Family = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
        }
        assert_eq!("ipv6".parse::<Family>().unwrap(), Family::IPV6_UNICAST);
        assert!("ipv5-unicast".parse::<Family>().is_err());
    }

    #[test]
    fn family_set_holds_only_ip_families() {
        let mut set = FamilySet::EMPTY;
        assert!(set.insert(Family::IPV6_UNICAST));
        assert!(!set.insert(Family::new(Afi::L2VPN, Safi::EVPN)));
        assert!(set.contains(Family::IPV6_UNICAST));
        assert!(!set.contains(Family::IPV4_UNICAST));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Family::IPV6_UNICAST]);
    }
}
