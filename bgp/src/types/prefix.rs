use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a prefix could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("prefix length {len} exceeds {max}")]
    TooLong { len: u8, max: u8 },
    #[error("address has bits set beyond the /{len} mask")]
    HostBitsSet { len: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid prefix {input:?}: {reason}")]
pub struct ParsePrefixError {
    input: String,
    reason: String,
}

macro_rules! ip_prefix {
    ($(#[$doc:meta])* $name:ident, $addr:ty, $bits:ty, $octets:literal) => {
        $(#[$doc])*
        ///
        /// Canonical by construction: no bit is set beyond the prefix length,
        /// so equal prefixes are equal values (hash, order and compare work).
        /// Ordered by address, then length, the order routing tables print in.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub struct $name {
            addr: [u8; $octets],
            len: u8,
        }

        /// The address as one integer and the length: two writes, where the
        /// derived hash would add the array's length and hash octet by octet.
        /// Prefixes are the keys of the speaker's largest tables.
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                <$bits>::from_be_bytes(self.addr).hash(state);
                state.write_u8(self.len);
            }
        }

        impl $name {
            pub const MAX_LEN: u8 = $octets * 8;

            /// A prefix from an address and length; host bits must be clear.
            pub fn new(addr: $addr, len: u8) -> Result<Self, PrefixError> {
                let truncated = Self::new_truncating(addr, len)?;
                if truncated.addr != addr.octets() {
                    return Err(PrefixError::HostBitsSet { len });
                }
                Ok(truncated)
            }

            /// A prefix from an address and length, clearing host bits.
            pub fn new_truncating(addr: $addr, len: u8) -> Result<Self, PrefixError> {
                if len > Self::MAX_LEN {
                    return Err(PrefixError::TooLong { len, max: Self::MAX_LEN });
                }
                let bits = <$bits>::from_be_bytes(addr.octets()) & Self::mask(len);
                Ok($name { addr: bits.to_be_bytes(), len })
            }

            /// The network with `len` bits whose address starts `octets` (the
            /// NLRI encoding). Bits past `len` are cleared, whether they are
            /// padding (RFC 4271 §4.3 calls it irrelevant) or octets that
            /// follow in the buffer, so callers may pass the rest of a field.
            #[inline]
            pub(crate) fn from_leading_octets(len: u8, octets: &[u8]) -> Self {
                match octets.first_chunk::<$octets>() {
                    // A fixed-size read is a plain load; the mask drops
                    // whatever lies past the prefix.
                    Some(whole) => Self::from_masked(*whole, len),
                    None => {
                        let mut addr = [0u8; $octets];
                        addr[..octets.len()].copy_from_slice(octets);
                        Self::from_masked(addr, len)
                    }
                }
            }

            #[inline]
            fn from_masked(addr: [u8; $octets], len: u8) -> Self {
                let len = len.min(Self::MAX_LEN);
                let bits = <$bits>::from_be_bytes(addr) & Self::mask(len);
                $name { addr: bits.to_be_bytes(), len }
            }

            const fn mask(len: u8) -> $bits {
                if len == 0 { 0 } else { <$bits>::MAX << (Self::MAX_LEN - len) }
            }

            #[inline]
            pub fn addr(&self) -> $addr {
                <$addr>::from(self.addr)
            }

            #[allow(clippy::len_without_is_empty)]
            #[inline]
            pub fn len(&self) -> u8 {
                self.len
            }

            /// The whole address; octets past the prefix length are zero
            /// (canonical by construction), so copying all of it and keeping
            /// the significant part is the same as copying that part.
            #[inline]
            pub(crate) fn address_octets(&self) -> &[u8; $octets] {
                &self.addr
            }

            /// The octets a BGP NLRI carries for this prefix.
            #[inline]
            pub fn significant_octets(&self) -> &[u8] {
                &self.addr[..usize::from(self.len).div_ceil(8)]
            }

            /// True if `other` lies inside this prefix (or equals it).
            pub fn contains(&self, other: &$name) -> bool {
                other.len >= self.len
                    && (<$bits>::from_be_bytes(other.addr) & Self::mask(self.len))
                        == <$bits>::from_be_bytes(self.addr)
            }

            /// True if the two prefixes share any address.
            pub fn overlaps(&self, other: &$name) -> bool {
                self.contains(other) || other.contains(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", self.addr(), self.len)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = ParsePrefixError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let err = |reason: String| ParsePrefixError { input: s.to_owned(), reason };
                let (addr, len) = s
                    .split_once('/')
                    .ok_or_else(|| err("expected ADDRESS/LENGTH".into()))?;
                let addr: $addr = addr.parse().map_err(|e| err(format!("{e}")))?;
                let len: u8 = len.parse().map_err(|_| err("length is not a number".into()))?;
                $name::new(addr, len).map_err(|e| match e {
                    PrefixError::HostBitsSet { .. } => err(format!(
                        "{e}; did you mean {}?",
                        $name::new_truncating(addr, len).expect("length checked")
                    )),
                    PrefixError::TooLong { .. } => err(e.to_string()),
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

ip_prefix!(
    /// An IPv4 network prefix.
    Ipv4Prefix, Ipv4Addr, u32, 4
);
ip_prefix!(
    /// An IPv6 network prefix.
    Ipv6Prefix, Ipv6Addr, u128, 16
);

/// A prefix of either family.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prefix {
    V4(Ipv4Prefix),
    V6(Ipv6Prefix),
}

/// Without the variant: an IPv4 prefix hashes a 32-bit address, an IPv6
/// one a 128-bit address, and equality tells the families apart.
impl std::hash::Hash for Prefix {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Prefix::V4(p) => p.hash(state),
            Prefix::V6(p) => p.hash(state),
        }
    }
}

impl Prefix {
    /// The prefix holding just `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        match addr {
            IpAddr::V4(a) => {
                Prefix::V4(Ipv4Prefix::new(a, 32).expect("/32 is a valid IPv4 length"))
            }
            IpAddr::V6(a) => {
                Prefix::V6(Ipv6Prefix::new(a, 128).expect("/128 is a valid IPv6 length"))
            }
        }
    }

    /// Whether `a` (of the same family) is inside this prefix.
    pub fn contains_addr(&self, a: IpAddr) -> bool {
        match (self, a) {
            (Prefix::V4(r), IpAddr::V4(a)) => Ipv4Prefix::new(a, 32).is_ok_and(|h| r.contains(&h)),
            (Prefix::V6(r), IpAddr::V6(a)) => Ipv6Prefix::new(a, 128).is_ok_and(|h| r.contains(&h)),
            _ => false,
        }
    }

    pub fn addr(&self) -> IpAddr {
        match self {
            Prefix::V4(p) => IpAddr::V4(p.addr()),
            Prefix::V6(p) => IpAddr::V6(p.addr()),
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u8 {
        match self {
            Prefix::V4(p) => p.len(),
            Prefix::V6(p) => p.len(),
        }
    }
}

impl From<Ipv4Prefix> for Prefix {
    fn from(p: Ipv4Prefix) -> Self {
        Prefix::V4(p)
    }
}

impl From<Ipv6Prefix> for Prefix {
    fn from(p: Ipv6Prefix) -> Self {
        Prefix::V6(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => fmt::Display::fmt(p, f),
            Prefix::V6(p) => fmt::Display::fmt(p, f),
        }
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Prefix {
    type Err = ParsePrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains(':') {
            s.parse().map(Prefix::V6)
        } else {
            s.parse().map(Prefix::V4)
        }
    }
}

/// An ADD-PATH path identifier (RFC 7911 §3): opaque, chosen by the sender,
/// meaningful only together with the prefix and the session.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PathId(pub u32);

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_by_construction() {
        let p: Ipv4Prefix = "10.244.1.0/24".parse().unwrap();
        assert_eq!(p.significant_octets(), &[10, 244, 1]);
        let err = "10.244.1.5/24".parse::<Ipv4Prefix>().unwrap_err();
        assert!(
            err.to_string().contains("did you mean 10.244.1.0/24"),
            "{err}"
        );
        assert!("10.0.0.0/33".parse::<Ipv4Prefix>().is_err());
        assert_eq!(
            Ipv4Prefix::new_truncating(Ipv4Addr::new(10, 1, 2, 3), 0)
                .unwrap()
                .to_string(),
            "0.0.0.0/0"
        );
        let v6: Ipv6Prefix = "fd00:10:244:1::/64".parse().unwrap();
        assert_eq!(v6.significant_octets().len(), 8);
        assert_eq!(Ipv6Prefix::MAX_LEN, 128);
    }

    #[test]
    fn containment() {
        let pool: Ipv4Prefix = "10.244.0.0/16".parse().unwrap();
        let block: Ipv4Prefix = "10.244.7.0/24".parse().unwrap();
        let other: Ipv4Prefix = "10.245.0.0/24".parse().unwrap();
        assert!(pool.contains(&block) && !block.contains(&pool));
        assert!(pool.overlaps(&block) && block.overlaps(&pool));
        assert!(!pool.overlaps(&other));
    }

    #[test]
    fn trailing_bits_on_the_wire_are_cleared() {
        let p = Ipv4Prefix::from_leading_octets(20, &[10, 0, 0x1f]);
        assert_eq!(p.to_string(), "10.0.16.0/20");
    }
}
