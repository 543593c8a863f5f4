use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid community {input:?}: {expected}")]
pub struct ParseCommunityError {
    input: String,
    expected: &'static str,
}

/// A standard community (RFC 1997): 32 bits, written `ASN:VALUE`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    // RFC 1997 §4 and the IANA "BGP Well-known Communities" registry.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000); // RFC 8326
    pub const ACCEPT_OWN: Community = Community(0xFFFF_0001); // RFC 7611
    pub const LLGR_STALE: Community = Community(0xFFFF_0006); // RFC 9494
    pub const NO_LLGR: Community = Community(0xFFFF_0007); // RFC 9494
    pub const BLACKHOLE: Community = Community(0xFFFF_029A); // RFC 7999
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    pub const NO_PEER: Community = Community(0xFFFF_FF04); // RFC 3765

    const NAMES: &[(Community, &str)] = &[
        (Community::GRACEFUL_SHUTDOWN, "graceful-shutdown"),
        (Community::ACCEPT_OWN, "accept-own"),
        (Community::LLGR_STALE, "llgr-stale"),
        (Community::NO_LLGR, "no-llgr"),
        (Community::BLACKHOLE, "blackhole"),
        (Community::NO_EXPORT, "no-export"),
        (Community::NO_ADVERTISE, "no-advertise"),
        (Community::NO_EXPORT_SUBCONFED, "no-export-subconfed"),
        (Community::NO_PEER, "no-peer"),
    ];

    pub const fn from_parts(asn: u16, value: u16) -> Self {
        Community(((asn as u32) << 16) | value as u32)
    }

    pub const fn asn(self) -> u16 {
        (self.0 >> 16) as u16
    }

    pub const fn value(self) -> u16 {
        self.0 as u16
    }

    pub fn well_known_name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.well_known_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}:{}", self.asn(), self.value()),
        }
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Community({self})")
    }
}

impl FromStr for Community {
    type Err = ParseCommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((c, _)) = Self::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)) {
            return Ok(*c);
        }
        let err = || ParseCommunityError {
            input: s.to_owned(),
            expected: "expected ASN:VALUE with both parts 0..65535, or a well-known name like no-export",
        };
        let (a, v) = s.split_once(':').ok_or_else(err)?;
        Ok(Community::from_parts(
            a.parse().map_err(|_| err())?,
            v.parse().map_err(|_| err())?,
        ))
    }
}

/// A large community (RFC 8092): three 32-bit parts, `GLOBAL:LOCAL1:LOCAL2`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl LargeCommunity {
    pub const fn new(global: u32, local1: u32, local2: u32) -> Self {
        LargeCommunity {
            global,
            local1,
            local2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl fmt::Debug for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LargeCommunity({self})")
    }
}

impl FromStr for LargeCommunity {
    type Err = ParseCommunityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseCommunityError {
            input: s.to_owned(),
            expected: "expected GLOBAL:LOCAL1:LOCAL2, each 0..4294967295",
        };
        let mut parts = s.split(':').map(|p| p.parse::<u32>().map_err(|_| err()));
        let c = LargeCommunity::new(
            parts.next().ok_or_else(err)??,
            parts.next().ok_or_else(err)??,
            parts.next().ok_or_else(err)??,
        );
        match parts.next() {
            None => Ok(c),
            Some(_) => Err(err()),
        }
    }
}

/// An extended community (RFC 4360): 8 octets, type and sub-type first.
///
/// Kept as raw octets so every type round-trips; the common ones are named
/// when printed, the way vtysh and gobgp write them (`RT:65000:1`,
/// `SoO:192.0.2.1:7`; RFC 4360 §4/§5, RFC 5668, RFC 7153).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtCommunity(pub [u8; 8]);

impl ExtCommunity {
    const SUBTYPE_ROUTE_TARGET: u8 = 0x02;
    const SUBTYPE_ROUTE_ORIGIN: u8 = 0x03;

    /// A route target with a 2-octet AS (type 0x00) or 4-octet AS (0x02).
    pub fn route_target(asn: u32, value: u32) -> Self {
        let mut b = [0u8; 8];
        if asn <= 0xFFFF {
            b[1] = Self::SUBTYPE_ROUTE_TARGET;
            b[2..4].copy_from_slice(&(asn as u16).to_be_bytes());
            b[4..8].copy_from_slice(&value.to_be_bytes());
        } else {
            b[0] = 0x02;
            b[1] = Self::SUBTYPE_ROUTE_TARGET;
            b[2..6].copy_from_slice(&asn.to_be_bytes());
            b[6..8].copy_from_slice(&(value as u16).to_be_bytes());
        }
        ExtCommunity(b)
    }

    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// RFC 4360 §2: bit 0x40 of the type marks a non-transitive community.
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }
}

impl fmt::Display for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        let kind = match b[1] {
            Self::SUBTYPE_ROUTE_TARGET => Some("RT"),
            Self::SUBTYPE_ROUTE_ORIGIN => Some("SoO"),
            _ => None,
        };
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match (b[0] & !0x40, kind) {
            (0x00, Some(k)) => write!(f, "{k}:{}:{}", u16_at(2), u32_at(4)),
            (0x01, Some(k)) => write!(
                f,
                "{k}:{}:{}",
                Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                u16_at(6)
            ),
            (0x02, Some(k)) => write!(f, "{k}:{}:{}", u32_at(2), u16_at(6)),
            // RFC 7153 / draft-ietf-idr-link-bandwidth: 2-octet AS + IEEE float bytes/s.
            (0x00, None) if b[1] == 0x04 => write!(
                f,
                "LB:{}:{}",
                u16_at(2),
                f32::from_be_bytes([b[4], b[5], b[6], b[7]])
            ),
            _ => write!(
                f,
                "0x{:02x}{:02x}:{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
            ),
        }
    }
}

impl fmt::Debug for ExtCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtCommunity({self})")
    }
}

macro_rules! serde_via_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serde_via_display!(Community, LargeCommunity, ExtCommunity);

impl<'de> Deserialize<'de> for Community {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for LargeCommunity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_communities_print_like_vtysh() {
        assert_eq!(Community::from_parts(65001, 100).to_string(), "65001:100");
        assert_eq!(Community::NO_EXPORT.to_string(), "no-export");
        assert_eq!(
            "no-export".parse::<Community>().unwrap(),
            Community::NO_EXPORT
        );
        assert_eq!(
            "65001:100".parse::<Community>().unwrap(),
            Community(0xFDE9_0064)
        );
        assert!("65536:1".parse::<Community>().is_err());
    }

    #[test]
    fn large_communities() {
        let c: LargeCommunity = "4200000001:1:2".parse().unwrap();
        assert_eq!(c, LargeCommunity::new(4_200_000_001, 1, 2));
        assert_eq!(c.to_string(), "4200000001:1:2");
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
    }

    #[test]
    fn extended_communities_are_named() {
        assert_eq!(
            ExtCommunity::route_target(65000, 1).to_string(),
            "RT:65000:1"
        );
        assert_eq!(
            ExtCommunity::route_target(4_200_000_001, 7).to_string(),
            "RT:4200000001:7"
        );
        assert_eq!(
            ExtCommunity([0x80, 0x06, 0, 0, 0, 0, 0, 0]).to_string(),
            "0x8006:000000000000"
        );
    }
}
