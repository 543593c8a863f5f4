//! The collector's fast path: the prefixes an UPDATE announces and withdraws, without
//! building a decoded message.
//!
//! `bgp::wire::Message::decode` validates everything and allocates the attribute values and
//! prefix lists of every message; the collector only needs the IPv4/IPv6 unicast NLRI, so
//! this scanner walks the lengths and hands each prefix to a [`Sink`] as integers. It checks
//! every length it walks (a malformed message is an error, never a panic or an overread) but
//! not the attributes' contents; ADD-PATH is not supported (the tools never negotiate it).
//! `tests/bench_tools.rs` checks it against the codec on random UPDATEs.

use crate::types::Family;

/// Receives the prefixes of an UPDATE, in wire order: classic withdrawn routes, then the MP
/// attributes in attribute order, then the classic NLRI. Addresses have their host bits
/// cleared.
pub trait Sink {
    /// An IPv4 unicast prefix announced.
    fn announce_v4(&mut self, addr: u32, len: u8);
    /// An IPv4 unicast prefix withdrawn.
    fn withdraw_v4(&mut self, addr: u32, len: u8);
    /// An IPv6 unicast prefix announced.
    fn announce_v6(&mut self, addr: u128, len: u8);
    /// An IPv6 unicast prefix withdrawn.
    fn withdraw_v6(&mut self, addr: u128, len: u8);
}

/// What one UPDATE held besides its prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scanned {
    /// The message is the End-of-RIB marker of this family (RFC 4724 §2).
    pub end_of_rib: Option<Family>,
    /// Prefixes announced.
    pub announced: u32,
    /// Prefixes withdrawn.
    pub withdrawn: u32,
}

/// A length that does not add up; the message cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError(pub &'static str);

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed UPDATE: {}", self.0)
    }
}

impl std::error::Error for ScanError {}

const ATTR_MP_REACH: u8 = 14;
const ATTR_MP_UNREACH: u8 = 15;
const EXTENDED_LENGTH: u8 = 0x10;

fn split_u16<'a>(buf: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), ScanError> {
    let (len, rest) = buf.split_first_chunk::<2>().ok_or(ScanError(what))?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
        .ok_or(ScanError(what))
}

/// Walks an NLRI field of IPv4 prefixes.
#[inline]
fn v4_prefixes(mut buf: &[u8], mut f: impl FnMut(u32, u8)) -> Result<u32, ScanError> {
    let mut n = 0;
    while let Some((&len, rest)) = buf.split_first() {
        if len > 32 {
            return Err(ScanError("IPv4 prefix longer than 32"));
        }
        let octets = usize::from(len).div_ceil(8);
        let (bytes, rest) = rest
            .split_at_checked(octets)
            .ok_or(ScanError("IPv4 prefix cut short"))?;
        let mut a = [0u8; 4];
        a[..octets].copy_from_slice(bytes);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        f(u32::from_be_bytes(a) & mask, len);
        n += 1;
        buf = rest;
    }
    Ok(n)
}

/// Walks an NLRI field of IPv6 prefixes.
#[inline]
fn v6_prefixes(mut buf: &[u8], mut f: impl FnMut(u128, u8)) -> Result<u32, ScanError> {
    let mut n = 0;
    while let Some((&len, rest)) = buf.split_first() {
        if len > 128 {
            return Err(ScanError("IPv6 prefix longer than 128"));
        }
        let octets = usize::from(len).div_ceil(8);
        let (bytes, rest) = rest
            .split_at_checked(octets)
            .ok_or(ScanError("IPv6 prefix cut short"))?;
        let mut a = [0u8; 16];
        a[..octets].copy_from_slice(bytes);
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        f(u128::from_be_bytes(a) & mask, len);
        n += 1;
        buf = rest;
    }
    Ok(n)
}

/// Scans one UPDATE body (the message without its 19-octet header).
pub fn scan_update(body: &[u8], sink: &mut impl Sink) -> Result<Scanned, ScanError> {
    let (withdrawn, rest) = split_u16(body, "withdrawn routes length exceeds the message")?;
    let (mut attrs, nlri) = split_u16(rest, "path attributes length exceeds the message")?;
    let mut out = Scanned::default();
    out.withdrawn += v4_prefixes(withdrawn, |a, l| sink.withdraw_v4(a, l))?;
    let mut attr_count = 0;
    let mut empty_unreach = None;
    while !attrs.is_empty() {
        attr_count += 1;
        let [flags, code, rest @ ..] = attrs else {
            return Err(ScanError("attribute header cut short"));
        };
        let (len, rest) = if flags & EXTENDED_LENGTH != 0 {
            let (l, r) = rest
                .split_first_chunk::<2>()
                .ok_or(ScanError("attribute header cut short"))?;
            (usize::from(u16::from_be_bytes(*l)), r)
        } else {
            let (l, r) = rest
                .split_first()
                .ok_or(ScanError("attribute header cut short"))?;
            (usize::from(*l), r)
        };
        let (value, rest) = rest
            .split_at_checked(len)
            .ok_or(ScanError("attribute runs past the attributes"))?;
        match *code {
            ATTR_MP_REACH => {
                let [a0, a1, safi, nh_len, rest @ ..] = value else {
                    return Err(ScanError("MP_REACH_NLRI cut short"));
                };
                // Next hop, then one reserved octet.
                let field = rest
                    .get(usize::from(*nh_len) + 1..)
                    .ok_or(ScanError("MP_REACH_NLRI next hop cut short"))?;
                if *safi == 1 {
                    out.announced += match u16::from_be_bytes([*a0, *a1]) {
                        1 => v4_prefixes(field, |a, l| sink.announce_v4(a, l))?,
                        2 => v6_prefixes(field, |a, l| sink.announce_v6(a, l))?,
                        _ => 0,
                    };
                }
            }
            ATTR_MP_UNREACH => {
                let [a0, a1, safi, field @ ..] = value else {
                    return Err(ScanError("MP_UNREACH_NLRI cut short"));
                };
                let afi = u16::from_be_bytes([*a0, *a1]);
                if *safi == 1 {
                    out.withdrawn += match afi {
                        1 => v4_prefixes(field, |a, l| sink.withdraw_v4(a, l))?,
                        2 => v6_prefixes(field, |a, l| sink.withdraw_v6(a, l))?,
                        _ => 0,
                    };
                    if field.is_empty() {
                        empty_unreach = match afi {
                            1 => Some(Family::Ipv4),
                            2 => Some(Family::Ipv6),
                            _ => None,
                        };
                    }
                }
            }
            _ => {}
        }
        attrs = rest;
    }
    out.announced += v4_prefixes(nlri, |a, l| sink.announce_v4(a, l))?;
    if withdrawn.is_empty() && nlri.is_empty() {
        out.end_of_rib = match attr_count {
            0 => Some(Family::Ipv4),
            1 => empty_unreach,
            _ => None,
        };
    }
    Ok(out)
}

/// A [`Sink`] that collects everything (tests, tools).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collect {
    /// IPv4 announcements.
    pub announced_v4: Vec<(u32, u8)>,
    /// IPv4 withdrawals.
    pub withdrawn_v4: Vec<(u32, u8)>,
    /// IPv6 announcements.
    pub announced_v6: Vec<(u128, u8)>,
    /// IPv6 withdrawals.
    pub withdrawn_v6: Vec<(u128, u8)>,
}

impl Sink for Collect {
    fn announce_v4(&mut self, addr: u32, len: u8) {
        self.announced_v4.push((addr, len));
    }
    fn withdraw_v4(&mut self, addr: u32, len: u8) {
        self.withdrawn_v4.push((addr, len));
    }
    fn announce_v6(&mut self, addr: u128, len: u8) {
        self.announced_v6.push((addr, len));
    }
    fn withdraw_v6(&mut self, addr: u128, len: u8) {
        self.withdrawn_v6.push((addr, len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_rib_markers() {
        let mut c = Collect::default();
        assert_eq!(
            scan_update(&[0, 0, 0, 0], &mut c).unwrap().end_of_rib,
            Some(Family::Ipv4)
        );
        // MP_UNREACH_NLRI (optional, type 15, length 3): AFI 2, SAFI 1.
        let v6 = [0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1];
        assert_eq!(
            scan_update(&v6, &mut c).unwrap().end_of_rib,
            Some(Family::Ipv6)
        );
        // Same with a prefix in it: a withdrawal, not a marker.
        let w = [0, 0, 0, 8, 0x80, 15, 5, 0, 2, 1, 8, 0x20];
        let s = scan_update(&w, &mut c).unwrap();
        assert_eq!((s.end_of_rib, s.withdrawn), (None, 1));
        assert_eq!(c.withdrawn_v6, vec![(0x20u128 << 120, 8)]);
    }

    #[test]
    fn every_cut_is_an_error_or_a_shorter_valid_message() {
        // withdrawn 10.0.0.0/8, no attributes, NLRI 192.0.2.0/24.
        let m = [0, 2, 8, 10, 0, 0, 24, 192, 0, 2];
        let mut c = Collect::default();
        scan_update(&m, &mut c).unwrap();
        assert_eq!(c.withdrawn_v4, vec![(0x0a00_0000, 8)]);
        assert_eq!(c.announced_v4, vec![(0xc000_0200, 24)]);
        for cut in 0..m.len() {
            let r = scan_update(&m[..cut], &mut Collect::default());
            // Cut right after the attributes length: a valid message without NLRI.
            assert_eq!(r.is_ok(), cut == 6, "{cut}: {r:?}");
        }
    }
}
