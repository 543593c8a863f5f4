//! Packing many prefixes that share one attribute set into as few UPDATEs
//! as the session's maximum message size allows.
//!
//! The attribute set is encoded once ([`EncodedAttributes`]), then each
//! message is the same attribute octets plus as many NLRI as fit: IPv4
//! unicast in the classic NLRI field after a NEXT_HOP, every other family
//! in an MP_REACH_NLRI placed first (RFC 7606 §5.1). Withdrawals likewise,
//! in the withdrawn-routes field or an MP_UNREACH_NLRI.

use bytes::BufMut;

use super::attribute::{AttrFlags, AttrType, AttrValue, Attribute, NextHop, PathAttributes};
use super::context::SessionContext;
use super::error::EncodeError;
use super::header::{HEADER_LEN, MessageType, encode_header};
use super::nlri::{Nlri, WirePrefix, check_path_ids, encode_nlri_list, nlri_len};
use crate::types::{Afi, Family};

/// MP attribute header: flags, type, two-octet length (always extended, so
/// the length can be filled in once the NLRI are counted).
const MP_ATTR_HEADER: usize = 4;
/// Withdrawn-routes length and path-attributes length fields.
const UPDATE_LENGTH_FIELDS: usize = 4;

/// An attribute set encoded for one session and family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedAttributes {
    family: Family,
    /// For the classic encoding, every attribute including NEXT_HOP; for
    /// MP, every attribute except MP_REACH_NLRI.
    attrs: Vec<u8>,
    /// MP only: AFI, SAFI, next hop length, next hop, reserved.
    mp_head: Option<Vec<u8>>,
}

impl EncodedAttributes {
    pub fn family(&self) -> Family {
        self.family
    }

    /// Octets every UPDATE carrying this set spends before its NLRI.
    fn fixed_len(&self) -> usize {
        HEADER_LEN
            + UPDATE_LENGTH_FIELDS
            + self.attrs.len()
            + self
                .mp_head
                .as_ref()
                .map_or(0, |h| MP_ATTR_HEADER + h.len())
    }
}

/// Builds packed UPDATEs for one session.
#[derive(Debug, Clone, Copy)]
pub struct UpdatePacker {
    ctx: SessionContext,
}

impl UpdatePacker {
    pub fn new(ctx: SessionContext) -> Self {
        UpdatePacker { ctx }
    }

    /// Encodes `attrs` with `next_hop` for announcing `family`. `attrs` must
    /// not hold NEXT_HOP, MP_REACH_NLRI or MP_UNREACH_NLRI: those depend on
    /// the family and are written here.
    pub fn encode_attributes(
        &self,
        family: Family,
        attrs: &PathAttributes,
        next_hop: NextHop,
    ) -> Result<EncodedAttributes, EncodeError> {
        if !family.is_ip_prefix() {
            return Err(EncodeError::NotAnIpFamily { family });
        }
        let mut lens = Vec::with_capacity(attrs.len());
        for a in attrs {
            let t = a.value.attr_type();
            if matches!(
                t,
                AttrType::NextHop | AttrType::MpReachNlri | AttrType::MpUnreachNlri
            ) {
                return Err(EncodeError::AttributeNotAllowed(t));
            }
            lens.push(a.checked_value_len(&self.ctx)?);
        }
        let attrs_len: usize = lens.iter().map(|l| l + 4).sum();
        let mut attrs_out = Vec::with_capacity(attrs_len + 7);
        match (family == Family::IPV4_UNICAST, next_hop) {
            (true, NextHop::V4(addr)) => {
                // NEXT_HOP in type-code order among the others.
                let nh = Attribute::new(AttrValue::NextHop(addr));
                let mut placed = false;
                for (a, len) in attrs.iter().zip(&lens) {
                    if !placed && a.value.type_code() > u8::from(AttrType::NextHop) {
                        nh.encode(4, &self.ctx, &mut attrs_out);
                        placed = true;
                    }
                    a.encode(*len, &self.ctx, &mut attrs_out);
                }
                if !placed {
                    nh.encode(4, &self.ctx, &mut attrs_out);
                }
                Ok(EncodedAttributes {
                    family,
                    attrs: attrs_out,
                    mp_head: None,
                })
            }
            (_, next_hop) => {
                match (family.afi, next_hop) {
                    (Afi::IPV4, NextHop::V6 { .. })
                        if !self.ctx.extended_next_hop_send.contains(family) =>
                    {
                        return Err(EncodeError::ExtendedNextHopNotNegotiated { family });
                    }
                    (Afi::IPV6, NextHop::V4(_)) => {
                        return Err(EncodeError::NotAnIpFamily { family });
                    }
                    _ => {}
                }
                for (a, len) in attrs.iter().zip(&lens) {
                    a.encode(*len, &self.ctx, &mut attrs_out);
                }
                let mut head = Vec::with_capacity(37);
                head.put_u16(family.afi.0);
                head.put_u8(family.safi.0);
                let nh: Vec<u8> = match next_hop {
                    NextHop::V4(a) => a.octets().to_vec(),
                    NextHop::V6 { global, link_local } => {
                        let mut v = global.octets().to_vec();
                        if let Some(ll) = link_local {
                            v.extend_from_slice(&ll.octets());
                        }
                        v
                    }
                };
                head.put_u8(nh.len() as u8);
                head.put_slice(&nh);
                head.put_u8(0);
                Ok(EncodedAttributes {
                    family,
                    attrs: attrs_out,
                    mp_head: Some(head),
                })
            }
        }
    }

    /// Appends UPDATEs announcing every entry of `nlri` with `attrs`, packed
    /// as tightly as the maximum message size allows. Returns the number of
    /// messages written.
    pub fn announce<P: WirePrefix>(
        &self,
        attrs: &EncodedAttributes,
        nlri: &[Nlri<P>],
        out: &mut impl BufMut,
    ) -> Result<usize, EncodeError> {
        let family = attrs.family;
        if family.afi != P::UNICAST.afi {
            return Err(EncodeError::NotAnIpFamily { family });
        }
        check_path_ids(nlri, family, self.ctx.add_path_send.contains(family))?;
        let fixed = attrs.fixed_len();
        let mut messages = 0;
        for chunk in Chunks::new(nlri, self.room(fixed)?) {
            let (entries, nlri_bytes) = chunk;
            encode_header(out, fixed + nlri_bytes, MessageType::Update);
            out.put_u16(0);
            match &attrs.mp_head {
                None => {
                    out.put_u16(attrs.attrs.len() as u16);
                    out.put_slice(&attrs.attrs);
                }
                Some(head) => {
                    let mp_len = head.len() + nlri_bytes;
                    out.put_u16((MP_ATTR_HEADER + mp_len + attrs.attrs.len()) as u16);
                    put_mp_header(out, AttrType::MpReachNlri, mp_len);
                    out.put_slice(head);
                }
            }
            encode_nlri_list(entries, out);
            if attrs.mp_head.is_some() {
                out.put_slice(&attrs.attrs);
            }
            messages += 1;
        }
        Ok(messages)
    }

    /// Appends UPDATEs withdrawing every entry of `nlri` in `family`.
    pub fn withdraw<P: WirePrefix>(
        &self,
        family: Family,
        nlri: &[Nlri<P>],
        out: &mut impl BufMut,
    ) -> Result<usize, EncodeError> {
        if family.afi != P::UNICAST.afi || !family.is_ip_prefix() {
            return Err(EncodeError::NotAnIpFamily { family });
        }
        check_path_ids(nlri, family, self.ctx.add_path_send.contains(family))?;
        let classic = family == Family::IPV4_UNICAST;
        let fixed =
            HEADER_LEN + UPDATE_LENGTH_FIELDS + if classic { 0 } else { MP_ATTR_HEADER + 3 };
        let mut messages = 0;
        for (entries, nlri_bytes) in Chunks::new(nlri, self.room(fixed)?) {
            encode_header(out, fixed + nlri_bytes, MessageType::Update);
            if classic {
                out.put_u16(nlri_bytes as u16);
                encode_nlri_list(entries, out);
                out.put_u16(0);
            } else {
                out.put_u16(0);
                out.put_u16((MP_ATTR_HEADER + 3 + nlri_bytes) as u16);
                put_mp_header(out, AttrType::MpUnreachNlri, 3 + nlri_bytes);
                out.put_u16(family.afi.0);
                out.put_u8(family.safi.0);
                encode_nlri_list(entries, out);
            }
            messages += 1;
        }
        Ok(messages)
    }

    /// Octets left for NLRI after `fixed`; there must be room for the
    /// longest possible entry (ADD-PATH id, length, 16 address octets).
    fn room(&self, fixed: usize) -> Result<usize, EncodeError> {
        let max = self.ctx.max_message_len();
        const LONGEST_ENTRY: usize = 4 + 1 + 16;
        match max.checked_sub(fixed) {
            Some(room) if room >= LONGEST_ENTRY => Ok(room),
            _ => Err(EncodeError::MessageTooLong {
                length: fixed + LONGEST_ENTRY,
                max,
            }),
        }
    }
}

fn put_mp_header(out: &mut impl BufMut, t: AttrType, len: usize) {
    out.put_u8(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH);
    out.put_u8(t.into());
    out.put_u16(len as u16);
}

/// Splits NLRI into runs that fit `room` octets: (entries, their octets).
struct Chunks<'a, P> {
    rest: &'a [Nlri<P>],
    room: usize,
}

impl<'a, P> Chunks<'a, P> {
    fn new(rest: &'a [Nlri<P>], room: usize) -> Self {
        Chunks { rest, room }
    }
}

impl<'a, P: WirePrefix> Iterator for Chunks<'a, P> {
    type Item = (&'a [Nlri<P>], usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut used = 0;
        let mut count = 0;
        for n in self.rest {
            let len = nlri_len(n);
            if used + len > self.room {
                break;
            }
            used += len;
            count += 1;
        }
        let (chunk, rest) = self.rest.split_at(count);
        self.rest = rest;
        Some((chunk, used))
    }
}
