use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The address family of a [`Cidr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The longest prefix length this family allows.
    pub const fn max_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// Why a CIDR could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{input:?} is not a CIDR: expected ADDRESS/LENGTH")]
    Syntax { input: String },
    #[error("prefix length /{len} exceeds {max} for {family}")]
    TooLong { family: Family, len: u8, max: u8 },
    #[error("{addr}/{len} has bits set beyond the /{len} mask (did you mean {network}/{len}?)")]
    HostBitsSet {
        addr: IpAddr,
        len: u8,
        network: IpAddr,
    },
}

/// An IPv4 or IPv6 network: an address and a prefix length.
///
/// Canonical by construction: no bit is set past the prefix length, so equal
/// networks are equal values. Ordered by family, then address, then length,
/// which keeps a serialised allocation map readable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    family: Family,
    /// The network address, right-aligned (IPv4 uses the low 32 bits).
    bits: u128,
    len: u8,
}

impl Cidr {
    /// A network from an address and length; host bits must be clear.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, CidrError> {
        let (family, bits) = match addr {
            IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
        };
        let max = family.max_len();
        if len > max {
            return Err(CidrError::TooLong { family, len, max });
        }
        let cidr = Cidr {
            family,
            bits: bits & !host_mask(family, len),
            len,
        };
        if cidr.bits != bits {
            return Err(CidrError::HostBitsSet {
                addr,
                len,
                network: cidr.network(),
            });
        }
        Ok(cidr)
    }

    /// Built from parts already known to be canonical (the pool computes them).
    pub(crate) fn from_parts(family: Family, bits: u128, len: u8) -> Self {
        debug_assert!(len <= family.max_len());
        debug_assert_eq!(bits & host_mask(family, len), 0);
        Cidr { family, bits, len }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The network address (all host bits zero).
    pub fn network(&self) -> IpAddr {
        match self.family {
            // Only the low 32 bits are ever set for IPv4.
            Family::V4 => IpAddr::V4(Ipv4Addr::from(self.bits as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(self.bits)),
        }
    }

    /// The first address as a number (right-aligned for IPv4).
    pub(crate) fn first(&self) -> u128 {
        self.bits
    }

    /// The last address as a number (right-aligned for IPv4).
    pub(crate) fn last(&self) -> u128 {
        self.bits | host_mask(self.family, self.len)
    }

    /// Whether every address of `other` is also in `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        self.family == other.family
            && self.len <= other.len
            && self.first() <= other.first()
            && other.last() <= self.last()
    }

    /// Whether the two networks share at least one address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.family == other.family && self.first() <= other.last() && other.first() <= self.last()
    }
}

/// The host bits of a family's address under a prefix length, right-aligned.
fn host_mask(family: Family, len: u8) -> u128 {
    let host_bits = u32::from(family.max_len() - len);
    if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let syntax = || CidrError::Syntax {
            input: input.to_owned(),
        };
        let (addr, len) = input.split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        // Only plain decimal digits: `u8::from_str` would also accept "+24".
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let len: u8 = len.parse().map_err(|_| syntax())?;
        Cidr::new(addr, len)
    }
}

/// Serialised as its text form, so it can key a JSON map.
impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_both_families() {
        assert_eq!(cidr("10.244.0.0/16").to_string(), "10.244.0.0/16");
        assert_eq!(cidr("fd00:10:244::/48").to_string(), "fd00:10:244::/48");
        assert_eq!(cidr("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(cidr("::/0").family(), Family::V6);
        assert_eq!(
            cidr("10.0.0.1/32").network(),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        for input in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "nope/8",
            "10.0.0.0/256",
            "10.0.0.0/ 8",
        ] {
            let err = input.parse::<Cidr>().unwrap_err();
            assert_eq!(
                err,
                CidrError::Syntax {
                    input: input.to_owned()
                },
                "{input}"
            );
        }
        assert_eq!(
            "x/1".parse::<Cidr>().unwrap_err().to_string(),
            "\"x/1\" is not a CIDR: expected ADDRESS/LENGTH"
        );
    }

    #[test]
    fn rejects_too_long() {
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length /33 exceeds 32 for IPv4"
        );
        assert_eq!(
            "::/129".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length /129 exceeds 128 for IPv6"
        );
    }

    #[test]
    fn rejects_host_bits() {
        assert_eq!(
            "10.244.1.0/16".parse::<Cidr>().unwrap_err().to_string(),
            "10.244.1.0/16 has bits set beyond the /16 mask (did you mean 10.244.0.0/16?)"
        );
        assert!("fd00::1/64".parse::<Cidr>().is_err());
    }

    #[test]
    fn contains_and_overlaps() {
        let pool = cidr("10.244.0.0/16");
        assert!(pool.contains(&cidr("10.244.3.0/24")));
        assert!(pool.contains(&pool));
        assert!(!cidr("10.244.3.0/24").contains(&pool));
        assert!(pool.overlaps(&cidr("10.0.0.0/8")));
        assert!(cidr("10.0.0.0/8").overlaps(&pool));
        assert!(!pool.overlaps(&cidr("10.245.0.0/16")));
        // Same numeric bits, other family: never related.
        assert!(!cidr("::/0").overlaps(&cidr("0.0.0.0/0")));
        assert!(!cidr("::/0").contains(&cidr("0.0.0.0/0")));
    }

    #[test]
    fn first_and_last_span_the_network() {
        let v4 = cidr("10.244.1.0/24");
        assert_eq!(
            v4.first(),
            u128::from(u32::from(Ipv4Addr::new(10, 244, 1, 0)))
        );
        assert_eq!(
            v4.last(),
            u128::from(u32::from(Ipv4Addr::new(10, 244, 1, 255)))
        );
        assert_eq!(cidr("0.0.0.0/0").last(), u128::from(u32::MAX));
        assert_eq!(cidr("::/0").last(), u128::MAX);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let json = serde_json::to_string(&cidr("fd00::/64")).unwrap();
        assert_eq!(json, "\"fd00::/64\"");
        assert_eq!(
            serde_json::from_str::<Cidr>(&json).unwrap(),
            cidr("fd00::/64")
        );
        assert!(serde_json::from_str::<Cidr>("\"10.0.0.1/8\"").is_err());
    }
}
