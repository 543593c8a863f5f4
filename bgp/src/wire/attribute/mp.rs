//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3, §4), with IPv6 next hops
//! (RFC 2545 §3: global, optionally followed by link-local) and IPv6 next
//! hops for IPv4 NLRI (RFC 8950).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;
use serde::Serialize;

use crate::types::{Afi, Family, Ipv4Prefix, Ipv6Prefix, Safi};
use crate::wire::context::SessionContext;
use crate::wire::error::{EncodeError, Fault};
use crate::wire::nlri::{Nlri, checked_list_len, decode_nlri, encode_nlri_list, nlri_list_len};

/// The next hop an MP_REACH_NLRI (or NEXT_HOP) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum NextHop {
    V4(Ipv4Addr),
    V6 {
        global: Ipv6Addr,
        #[serde(skip_serializing_if = "Option::is_none")]
        link_local: Option<Ipv6Addr>,
    },
}

impl NextHop {
    fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 {
                link_local: None, ..
            } => 16,
            NextHop::V6 {
                link_local: Some(_),
                ..
            } => 32,
        }
    }

    fn encode(&self, out: &mut impl BufMut) {
        match self {
            NextHop::V4(a) => out.put_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.put_slice(&ll.octets());
                }
            }
        }
    }

    fn decode(bytes: &[u8], family: Family, ctx: &SessionContext) -> Result<NextHop, Fault> {
        let v6 = |b: &[u8]| <[u8; 16]>::try_from(b).map(Ipv6Addr::from).ok();
        let next_hop = match (family.afi, bytes.len()) {
            (Afi::IPV4, 4) => <[u8; 4]>::try_from(bytes)
                .ok()
                .map(|a| NextHop::V4(a.into())),
            (Afi::IPV4, 16 | 32) if !ctx.extended_next_hop_receive.contains(family) => {
                return Err(Fault::Malformed(
                    "IPv6 next hop for IPv4 NLRI without the extended next hop capability (RFC 8950)",
                ));
            }
            (_, 16) => v6(bytes).map(|global| NextHop::V6 {
                global,
                link_local: None,
            }),
            (_, 32) => bytes.split_at_checked(16).and_then(|(g, l)| {
                Some(NextHop::V6 {
                    global: v6(g)?,
                    link_local: Some(v6(l)?),
                })
            }),
            _ => None,
        };
        next_hop.ok_or(Fault::BadLength {
            length: bytes.len(),
            expected: "a next hop of 4 (IPv4), 16 or 32 (IPv6) octets",
        })
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::V4(a) => write!(f, "{a}"),
            NextHop::V6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            NextHop::V6 {
                global,
                link_local: Some(ll),
            } => write!(f, "{global} ({ll})"),
        }
    }
}

/// MP_REACH_NLRI. IP unicast and multicast are decoded; any other family is
/// kept as octets so it re-encodes unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpReach {
    Ipv4 {
        safi: Safi,
        next_hop: NextHop,
        nlri: Vec<Nlri<Ipv4Prefix>>,
    },
    Ipv6 {
        safi: Safi,
        next_hop: NextHop,
        nlri: Vec<Nlri<Ipv6Prefix>>,
    },
    Other {
        family: Family,
        next_hop: Vec<u8>,
        nlri: Vec<u8>,
    },
}

/// MP_UNREACH_NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MpUnreach {
    Ipv4 {
        safi: Safi,
        withdrawn: Vec<Nlri<Ipv4Prefix>>,
    },
    Ipv6 {
        safi: Safi,
        withdrawn: Vec<Nlri<Ipv6Prefix>>,
    },
    Other {
        family: Family,
        withdrawn: Vec<u8>,
    },
}

/// An MP attribute too short to name its family cannot be tied to one, so
/// only a session reset is left (RFC 7606 §7.11).
pub(crate) struct MpFault {
    pub(crate) family: Option<Family>,
    pub(crate) fault: Fault,
}

fn split_family(value: &[u8]) -> Result<(Family, &[u8]), MpFault> {
    match value {
        [a0, a1, safi, rest @ ..] => Ok((
            Family::new(Afi(u16::from_be_bytes([*a0, *a1])), Safi(*safi)),
            rest,
        )),
        _ => Err(MpFault {
            family: None,
            fault: Fault::Malformed("too short to hold an AFI and SAFI"),
        }),
    }
}

fn put_family(family: Family, out: &mut impl BufMut) {
    out.put_u16(family.afi.0);
    out.put_u8(family.safi.0);
}

fn check_ip_family(family: Family) -> Result<(), EncodeError> {
    if family.is_ip_prefix() {
        Ok(())
    } else {
        Err(EncodeError::NotAnIpFamily { family })
    }
}

impl MpReach {
    pub fn family(&self) -> Family {
        match self {
            MpReach::Ipv4 { safi, .. } => Family::new(Afi::IPV4, *safi),
            MpReach::Ipv6 { safi, .. } => Family::new(Afi::IPV6, *safi),
            MpReach::Other { family, .. } => *family,
        }
    }

    /// Number of NLRI entries, or `None` for a family kept as octets.
    pub fn nlri_count(&self) -> Option<usize> {
        match self {
            MpReach::Ipv4 { nlri, .. } => Some(nlri.len()),
            MpReach::Ipv6 { nlri, .. } => Some(nlri.len()),
            MpReach::Other { .. } => None,
        }
    }

    pub(crate) fn decode(value: &[u8], ctx: &SessionContext) -> Result<MpReach, MpFault> {
        let (family, rest) = split_family(value)?;
        let fail = |fault| MpFault {
            family: Some(family),
            fault,
        };
        let (&nh_len, rest) = rest
            .split_first()
            .ok_or_else(|| fail(Fault::Malformed("next hop length is missing")))?;
        let (nh, rest) = rest
            .split_at_checked(usize::from(nh_len))
            .ok_or_else(|| fail(Fault::Malformed("next hop runs past the attribute")))?;
        // RFC 4760 §3: one reserved octet, ignored on receipt.
        let (_reserved, nlri) = rest
            .split_first()
            .ok_or_else(|| fail(Fault::Malformed("reserved octet is missing")))?;
        if !family.is_ip_prefix() {
            return Ok(MpReach::Other {
                family,
                next_hop: nh.to_vec(),
                nlri: nlri.to_vec(),
            });
        }
        let next_hop = NextHop::decode(nh, family, ctx).map_err(fail)?;
        let add_path = ctx.add_path_receive.contains(family);
        Ok(if family.afi == Afi::IPV4 {
            let mut list = Vec::new();
            decode_nlri(nlri, add_path, &mut list).map_err(fail)?;
            MpReach::Ipv4 {
                safi: family.safi,
                next_hop,
                nlri: list,
            }
        } else {
            let mut list = Vec::new();
            decode_nlri(nlri, add_path, &mut list).map_err(fail)?;
            MpReach::Ipv6 {
                safi: family.safi,
                next_hop,
                nlri: list,
            }
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        // AFI, SAFI, next hop length, next hop, reserved, NLRI.
        4 + match self {
            MpReach::Ipv4 { next_hop, nlri, .. } => {
                next_hop.encoded_len() + 1 + nlri_list_len(nlri)
            }
            MpReach::Ipv6 { next_hop, nlri, .. } => {
                next_hop.encoded_len() + 1 + nlri_list_len(nlri)
            }
            MpReach::Other { next_hop, nlri, .. } => next_hop.len() + 1 + nlri.len(),
        }
    }

    /// Checks the attribute can be sent on this session and returns its
    /// value length, walking the NLRI once.
    pub(crate) fn checked_len(&self, ctx: &SessionContext) -> Result<usize, EncodeError> {
        let family = self.family();
        let add_path = ctx.add_path_send.contains(family);
        match self {
            MpReach::Ipv4 { next_hop, nlri, .. } => {
                check_ip_family(family)?;
                if matches!(next_hop, NextHop::V6 { .. })
                    && !ctx.extended_next_hop_send.contains(family)
                {
                    return Err(EncodeError::ExtendedNextHopNotNegotiated { family });
                }
                Ok(4 + next_hop.encoded_len() + 1 + checked_list_len(nlri, family, add_path)?)
            }
            MpReach::Ipv6 { next_hop, nlri, .. } => {
                check_ip_family(family)?;
                if matches!(next_hop, NextHop::V4(_)) {
                    return Err(EncodeError::NotAnIpFamily { family });
                }
                Ok(4 + next_hop.encoded_len() + 1 + checked_list_len(nlri, family, add_path)?)
            }
            MpReach::Other { next_hop, .. } if next_hop.len() > 255 => {
                Err(EncodeError::FieldTooLong {
                    what: "an MP_REACH_NLRI next hop",
                    length: next_hop.len(),
                    max: 255,
                })
            }
            MpReach::Other { .. } => Ok(self.encoded_len()),
        }
    }

    pub(crate) fn encode(&self, _ctx: &SessionContext, out: &mut impl BufMut) {
        put_family(self.family(), out);
        match self {
            MpReach::Ipv4 { next_hop, nlri, .. } => {
                encode_next_hop(next_hop, out);
                encode_nlri_list(nlri, out);
            }
            MpReach::Ipv6 { next_hop, nlri, .. } => {
                encode_next_hop(next_hop, out);
                encode_nlri_list(nlri, out);
            }
            MpReach::Other { next_hop, nlri, .. } => {
                out.put_u8(next_hop.len() as u8);
                out.put_slice(next_hop);
                out.put_u8(0);
                out.put_slice(nlri);
            }
        }
    }
}

fn encode_next_hop(nh: &NextHop, out: &mut impl BufMut) {
    out.put_u8(nh.encoded_len() as u8);
    nh.encode(out);
    out.put_u8(0); // reserved
}

impl MpUnreach {
    pub fn family(&self) -> Family {
        match self {
            MpUnreach::Ipv4 { safi, .. } => Family::new(Afi::IPV4, *safi),
            MpUnreach::Ipv6 { safi, .. } => Family::new(Afi::IPV6, *safi),
            MpUnreach::Other { family, .. } => *family,
        }
    }

    /// An MP_UNREACH_NLRI with nothing in it: the End-of-RIB marker of its
    /// family (RFC 4724 §2).
    pub fn is_empty(&self) -> bool {
        match self {
            MpUnreach::Ipv4 { withdrawn, .. } => withdrawn.is_empty(),
            MpUnreach::Ipv6 { withdrawn, .. } => withdrawn.is_empty(),
            MpUnreach::Other { withdrawn, .. } => withdrawn.is_empty(),
        }
    }

    /// An empty MP_UNREACH_NLRI for `family`.
    pub fn end_of_rib(family: Family) -> Self {
        match (family.afi, family.is_ip_prefix()) {
            (Afi::IPV4, true) => MpUnreach::Ipv4 {
                safi: family.safi,
                withdrawn: vec![],
            },
            (Afi::IPV6, true) => MpUnreach::Ipv6 {
                safi: family.safi,
                withdrawn: vec![],
            },
            _ => MpUnreach::Other {
                family,
                withdrawn: vec![],
            },
        }
    }

    pub(crate) fn decode(value: &[u8], ctx: &SessionContext) -> Result<MpUnreach, MpFault> {
        let (family, rest) = split_family(value)?;
        if !family.is_ip_prefix() {
            return Ok(MpUnreach::Other {
                family,
                withdrawn: rest.to_vec(),
            });
        }
        let add_path = ctx.add_path_receive.contains(family);
        let fail = |fault| MpFault {
            family: Some(family),
            fault,
        };
        Ok(if family.afi == Afi::IPV4 {
            let mut withdrawn = Vec::new();
            decode_nlri(rest, add_path, &mut withdrawn).map_err(fail)?;
            MpUnreach::Ipv4 {
                safi: family.safi,
                withdrawn,
            }
        } else {
            let mut withdrawn = Vec::new();
            decode_nlri(rest, add_path, &mut withdrawn).map_err(fail)?;
            MpUnreach::Ipv6 {
                safi: family.safi,
                withdrawn,
            }
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        3 + match self {
            MpUnreach::Ipv4 { withdrawn, .. } => nlri_list_len(withdrawn),
            MpUnreach::Ipv6 { withdrawn, .. } => nlri_list_len(withdrawn),
            MpUnreach::Other { withdrawn, .. } => withdrawn.len(),
        }
    }

    /// Checks the attribute can be sent on this session and returns its
    /// value length, walking the NLRI once.
    pub(crate) fn checked_len(&self, ctx: &SessionContext) -> Result<usize, EncodeError> {
        let family = self.family();
        let add_path = ctx.add_path_send.contains(family);
        match self {
            MpUnreach::Ipv4 { withdrawn, .. } => {
                check_ip_family(family)?;
                Ok(3 + checked_list_len(withdrawn, family, add_path)?)
            }
            MpUnreach::Ipv6 { withdrawn, .. } => {
                check_ip_family(family)?;
                Ok(3 + checked_list_len(withdrawn, family, add_path)?)
            }
            MpUnreach::Other { .. } => Ok(self.encoded_len()),
        }
    }

    pub(crate) fn encode(&self, _ctx: &SessionContext, out: &mut impl BufMut) {
        put_family(self.family(), out);
        match self {
            MpUnreach::Ipv4 { withdrawn, .. } => encode_nlri_list(withdrawn, out),
            MpUnreach::Ipv6 { withdrawn, .. } => encode_nlri_list(withdrawn, out),
            MpUnreach::Other { withdrawn, .. } => out.put_slice(withdrawn),
        }
    }
}

/// The JSON shape: the family by name, then the contents.
#[derive(Serialize)]
struct MpView<N: Serialize, H: Serialize> {
    family: Family,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_hop: Option<H>,
    nlri: N,
}

impl Serialize for MpReach {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let family = self.family();
        match self {
            MpReach::Ipv4 { next_hop, nlri, .. } => MpView {
                family,
                next_hop: Some(next_hop),
                nlri,
            }
            .serialize(s),
            MpReach::Ipv6 { next_hop, nlri, .. } => MpView {
                family,
                next_hop: Some(next_hop),
                nlri,
            }
            .serialize(s),
            MpReach::Other { next_hop, nlri, .. } => MpView {
                family,
                next_hop: Some(crate::wire::hex(next_hop)),
                nlri: crate::wire::hex(nlri),
            }
            .serialize(s),
        }
    }
}

impl Serialize for MpUnreach {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let family = self.family();
        let none: Option<()> = None;
        match self {
            MpUnreach::Ipv4 { withdrawn, .. } => MpView {
                family,
                next_hop: none,
                nlri: withdrawn,
            }
            .serialize(s),
            MpUnreach::Ipv6 { withdrawn, .. } => MpView {
                family,
                next_hop: none,
                nlri: withdrawn,
            }
            .serialize(s),
            MpUnreach::Other { withdrawn, .. } => MpView {
                family,
                next_hop: none,
                nlri: crate::wire::hex(withdrawn),
            }
            .serialize(s),
        }
    }
}
