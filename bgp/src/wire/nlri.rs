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
    /// The prefix of `len` bits whose significant octets start `octets`.
    /// Octets past them (the next entry's) may be read; they are masked off.
    fn from_wire(len: u8, octets: &[u8]) -> Self;
    fn prefix_len(&self) -> u8;
    fn octets(&self) -> &[u8];
    /// The whole address, zero past the prefix length.
    fn address_octets(&self) -> &[u8];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::types::Ipv4Prefix {}
    impl Sealed for crate::types::Ipv6Prefix {}
}

macro_rules! wire_prefix {
    ($prefix:ty, $family:expr) => {
        impl WirePrefix for $prefix {
            const MAX_LEN: u8 = <$prefix>::MAX_LEN;
            const UNICAST: Family = $family;

            #[inline]
            fn from_wire(len: u8, octets: &[u8]) -> Self {
                <$prefix>::from_leading_octets(len, octets)
            }

            #[inline]
            fn prefix_len(&self) -> u8 {
                self.len()
            }

            #[inline]
            fn octets(&self) -> &[u8] {
                self.significant_octets()
            }

            #[inline]
            fn address_octets(&self) -> &[u8] {
                <$prefix>::address_octets(self)
            }
        }
    };
}

wire_prefix!(Ipv4Prefix, Family::IPV4_UNICAST);
wire_prefix!(Ipv6Prefix, Family::IPV6_UNICAST);

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
        let significant = usize::from(len).div_ceil(8);
        if rest.len() < significant {
            return Err(Fault::PrefixTruncated);
        }
        // Hand over the rest of the field, not just the significant
        // octets, so the prefix can be read with one fixed-size load.
        out.push(Nlri {
            path_id,
            prefix: P::from_wire(len, rest),
        });
        buf = rest.get(significant..).unwrap_or_default();
    }
    Ok(())
}

/// Octets one entry takes on the wire.
#[inline]
pub(crate) fn nlri_len<P: WirePrefix>(n: &Nlri<P>) -> usize {
    1 + usize::from(n.prefix.prefix_len()).div_ceil(8) + if n.path_id.is_some() { 4 } else { 0 }
}

pub(crate) fn nlri_list_len<P: WirePrefix>(list: &[Nlri<P>]) -> usize {
    list.iter().map(nlri_len).sum()
}

/// The octets `list` takes on the wire, checking in the same pass that
/// every entry carries a path identifier exactly when the session sends
/// them for `family`.
pub(crate) fn checked_list_len<P: WirePrefix>(
    list: &[Nlri<P>],
    family: Family,
    add_path: bool,
) -> Result<usize, EncodeError> {
    let mut len = 0;
    let mut mismatch = false;
    for n in list {
        len += nlri_len(n);
        mismatch |= n.path_id.is_some() != add_path;
    }
    match (mismatch, add_path) {
        (false, _) => Ok(len),
        (true, true) => Err(EncodeError::PathIdMissing { family }),
        (true, false) => Err(EncodeError::PathIdUnexpected { family }),
    }
}

/// Checks path identifiers as [`checked_list_len`] does.
pub(crate) fn check_path_ids<P: WirePrefix>(
    list: &[Nlri<P>],
    family: Family,
    add_path: bool,
) -> Result<(), EncodeError> {
    checked_list_len(list, family, add_path).map(|_| ())
}

/// Writes the entries. Long lists are gathered in a stack buffer with
/// fixed-size copies of the whole address (octets past the prefix length
/// are zero, and the next entry overwrites them), then written in one
/// `put_slice`: per-prefix variable-length copies into the output cost
/// several times more. Short lists go straight out, as clearing the buffer
/// would cost more than it saves.
pub(crate) fn encode_nlri_list<P: WirePrefix>(list: &[Nlri<P>], out: &mut impl BufMut) {
    const LONGEST: usize = 4 + 1 + 16;
    if list.len() <= 8 {
        for n in list {
            if let Some(PathId(id)) = n.path_id {
                out.put_u32(id);
            }
            out.put_u8(n.prefix.prefix_len());
            out.put_slice(n.prefix.octets());
        }
        return;
    }
    let mut buf = [0u8; 256];
    let mut used = 0;
    for n in list {
        if used + LONGEST > buf.len() {
            out.put_slice(&buf[..used]);
            used = 0;
        }
        if let Some(PathId(id)) = n.path_id {
            buf[used..used + 4].copy_from_slice(&id.to_be_bytes());
            used += 4;
        }
        let len = n.prefix.prefix_len();
        let address = n.prefix.address_octets();
        buf[used] = len;
        buf[used + 1..used + 1 + address.len()].copy_from_slice(address);
        used += 1 + usize::from(len).div_ceil(8);
    }
    out.put_slice(&buf[..used]);
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
