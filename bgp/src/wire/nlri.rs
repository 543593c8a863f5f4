//! IP prefix NLRI (RFC 4271 §4.3, RFC 4760 §5) with the optional ADD-PATH
//! path identifier (RFC 7911 §3). This loop runs once per prefix received,
//! so it is written for speed: no allocation per prefix, one bounds check
//! per field.

use bytes::BufMut;
use serde::Serialize;

use super::error::{EncodeError, Fault};
use crate::types::{Family, Ipv4Prefix, Ipv6Prefix, PathId};

/// One NLRI entry: a prefix, and its path identifier on ADD-PATH sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Nlri<P> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_id: Option<PathId>,
    pub prefix: P,
}

impl<P> Nlri<P> {
    pub fn new(prefix: P) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }

    pub fn with_path_id(prefix: P, path_id: PathId) -> Self {
        Nlri {
            path_id: Some(path_id),
            prefix,
        }
    }
}

impl<P> From<P> for Nlri<P> {
    fn from(prefix: P) -> Self {
        Nlri::new(prefix)
    }
}

/// The prefix types the NLRI codec handles.
pub trait WirePrefix: Copy + sealed::Sealed {
    const MAX_LEN: u8;
    /// Unicast of this prefix's AFI.
    const UNICAST: Family;
    fn from_wire(len: u8, octets: &[u8]) -> Self;
    fn prefix_len(&self) -> u8;
    fn octets(&self) -> &[u8];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::types::Ipv4Prefix {}
    impl Sealed for crate::types::Ipv6Prefix {}
}

impl WirePrefix for Ipv4Prefix {
    const MAX_LEN: u8 = 32;
    const UNICAST: Family = Family::IPV4_UNICAST;

    fn from_wire(len: u8, octets: &[u8]) -> Self {
        Ipv4Prefix::from_leading_octets(len, octets)
    }

    fn prefix_len(&self) -> u8 {
        self.len()
    }

    fn octets(&self) -> &[u8] {
        self.significant_octets()
    }
}

impl WirePrefix for Ipv6Prefix {
    const MAX_LEN: u8 = 128;
    const UNICAST: Family = Family::IPV6_UNICAST;

    fn from_wire(len: u8, octets: &[u8]) -> Self {
        Ipv6Prefix::from_leading_octets(len, octets)
    }

    fn prefix_len(&self) -> u8 {
        self.len()
    }

    fn octets(&self) -> &[u8] {
        self.significant_octets()
    }
}

/// Decodes a whole NLRI field into `out`. The field must be consumed
/// exactly: a prefix cut short is an error, never silently dropped.
pub(crate) fn decode_nlri<P: WirePrefix>(
    mut buf: &[u8],
    add_path: bool,
    out: &mut Vec<Nlri<P>>,
) -> Result<(), Fault> {
    // A typical prefix takes 4 (IPv4 /24) or 7..9 (IPv6 /48../64) octets.
    let typical = if P::MAX_LEN == 32 { 4 } else { 8 } + if add_path { 4 } else { 0 };
    out.reserve(buf.len() / typical);
    while !buf.is_empty() {
        let path_id = if add_path {
            let Some((id, rest)) = buf.split_first_chunk::<4>() else {
                return Err(Fault::PrefixTruncated);
            };
            buf = rest;
            Some(PathId(u32::from_be_bytes(*id)))
        } else {
            None
        };
        let Some((&len, rest)) = buf.split_first() else {
            return Err(Fault::PrefixTruncated);
        };
        if len > P::MAX_LEN {
            return Err(Fault::PrefixTooLong {
                len,
                max: P::MAX_LEN,
            });
        }
        let Some((octets, rest)) = rest.split_at_checked(usize::from(len).div_ceil(8)) else {
            return Err(Fault::PrefixTruncated);
        };
        out.push(Nlri {
            path_id,
            prefix: P::from_wire(len, octets),
        });
        buf = rest;
    }
    Ok(())
}

/// Octets one entry takes on the wire.
pub(crate) fn nlri_len<P: WirePrefix>(n: &Nlri<P>) -> usize {
    1 + n.prefix.octets().len() + if n.path_id.is_some() { 4 } else { 0 }
}

pub(crate) fn nlri_list_len<P: WirePrefix>(list: &[Nlri<P>]) -> usize {
    list.iter().map(nlri_len).sum()
}

/// Checks that every entry carries a path identifier exactly when the
/// session sends them for `family`.
pub(crate) fn check_path_ids<P: WirePrefix>(
    list: &[Nlri<P>],
    family: Family,
    add_path: bool,
) -> Result<(), EncodeError> {
    match list.iter().find(|n| n.path_id.is_some() != add_path) {
        None => Ok(()),
        Some(_) if add_path => Err(EncodeError::PathIdMissing { family }),
        Some(_) => Err(EncodeError::PathIdUnexpected { family }),
    }
}

pub(crate) fn encode_nlri<P: WirePrefix>(n: &Nlri<P>, out: &mut impl BufMut) {
    if let Some(PathId(id)) = n.path_id {
        out.put_u32(id);
    }
    out.put_u8(n.prefix.prefix_len());
    out.put_slice(n.prefix.octets());
}

pub(crate) fn encode_nlri_list<P: WirePrefix>(list: &[Nlri<P>], out: &mut impl BufMut) {
    for n in list {
        encode_nlri(n, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn decodes_and_encodes_ipv4() {
        let bytes = [24, 10, 244, 1, 32, 192, 0, 2, 1, 0];
        let mut out = Vec::new();
        decode_nlri::<Ipv4Prefix>(&bytes, false, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                Nlri::new(v4("10.244.1.0/24")),
                Nlri::new(v4("192.0.2.1/32")),
                Nlri::new(v4("0.0.0.0/0"))
            ]
        );
        let mut again = Vec::new();
        encode_nlri_list(&out, &mut again);
        assert_eq!(again, bytes);
        assert_eq!(nlri_list_len(&out), bytes.len());
    }

    #[test]
    fn path_identifiers() {
        let bytes = [0, 0, 0, 7, 24, 10, 244, 1];
        let mut out = Vec::new();
        decode_nlri::<Ipv4Prefix>(&bytes, true, &mut out).unwrap();
        assert_eq!(
            out,
            vec![Nlri::with_path_id(v4("10.244.1.0/24"), PathId(7))]
        );
        // The same octets without ADD-PATH mean five other prefixes: the
        // session context decides, never the bytes.
        let mut plain = Vec::new();
        decode_nlri::<Ipv4Prefix>(&bytes, false, &mut plain).unwrap();
        assert_eq!(plain.len(), 5);
        assert_eq!(plain[3].prefix, v4("24.0.0.0/7"));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = [0, 0, 0, 7, 24, 10, 244, 1];
        for cut in 1..bytes.len() {
            assert!(decode_nlri::<Ipv4Prefix>(&bytes[..cut], true, &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn rejects_overlong_prefixes() {
        assert_eq!(
            decode_nlri::<Ipv4Prefix>(&[33, 1, 2, 3, 4, 5], false, &mut Vec::new()),
            Err(Fault::PrefixTooLong { len: 33, max: 32 })
        );
        assert!(decode_nlri::<Ipv6Prefix>(&[129], false, &mut Vec::new()).is_err());
    }
}
