//! Path attributes (RFC 4271 §4.3, §5 and the RFCs that add attributes).
//!
//! An UPDATE keeps its attributes in wire order with the flags as received,
//! so a decoded message re-encodes to the same bytes. Typed values cover
//! what the speaker uses; any other attribute is kept as raw octets.

mod as4;
mod as_path;
pub(crate) mod decode;
mod mp;

use std::fmt;
use std::net::Ipv4Addr;

use bytes::BufMut;
use serde::Serialize;

pub use as_path::{AsPath, AsSegment, SegmentType};
pub use as4::{attributes_for_two_octet_peer, merge_as4};
pub use mp::{MpReach, MpUnreach, NextHop};

use super::context::SessionContext;
use super::error::EncodeError;
use super::macros::wire_enum;
use crate::types::{Asn, Community, ExtCommunity, LargeCommunity};

wire_enum! {
    /// IANA "BGP Path Attributes". Named values without a typed decoder
    /// here travel as [`AttrValue::Other`].
    pub enum AttrType(u8) {
        Origin = 1 => "ORIGIN",
        AsPath = 2 => "AS_PATH",
        NextHop = 3 => "NEXT_HOP",
        MultiExitDisc = 4 => "MULTI_EXIT_DISC",
        LocalPref = 5 => "LOCAL_PREF",
        AtomicAggregate = 6 => "ATOMIC_AGGREGATE",
        Aggregator = 7 => "AGGREGATOR",
        Communities = 8 => "COMMUNITIES",
        OriginatorId = 9 => "ORIGINATOR_ID",
        ClusterList = 10 => "CLUSTER_LIST",
        MpReachNlri = 14 => "MP_REACH_NLRI",
        MpUnreachNlri = 15 => "MP_UNREACH_NLRI",
        ExtendedCommunities = 16 => "EXTENDED_COMMUNITIES",
        As4Path = 17 => "AS4_PATH",
        As4Aggregator = 18 => "AS4_AGGREGATOR",
        PmsiTunnel = 22 => "PMSI_TUNNEL",
        TunnelEncapsulation = 23 => "TUNNEL_ENCAPSULATION",
        Ipv6ExtendedCommunities = 25 => "IPV6_EXTENDED_COMMUNITIES",
        Aigp = 26 => "AIGP",
        BgpLs = 29 => "BGP_LS",
        LargeCommunities = 32 => "LARGE_COMMUNITY",
        BgpsecPath = 33 => "BGPSEC_PATH",
        Otc = 35 => "OTC",
        PrefixSid = 40 => "PREFIX_SID",
        AttrSet = 128 => "ATTR_SET",
    }
}

/// The attribute flags octet (RFC 4271 §4.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrFlags(pub u8);

impl AttrFlags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;

    pub const WELL_KNOWN: AttrFlags = AttrFlags(Self::TRANSITIVE);
    pub const OPTIONAL_TRANSITIVE: AttrFlags = AttrFlags(Self::OPTIONAL | Self::TRANSITIVE);
    pub const OPTIONAL_NON_TRANSITIVE: AttrFlags = AttrFlags(Self::OPTIONAL);

    pub fn is_optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }

    pub fn is_transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }

    pub fn is_partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }

    pub fn is_extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }

    /// The optional and transitive bits, the ones RFC 7606 §3 (c) checks.
    fn category(self) -> u8 {
        self.0 & (Self::OPTIONAL | Self::TRANSITIVE)
    }
}

impl fmt::Debug for AttrFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttrFlags(0x{:02x})", self.0)
    }
}

impl fmt::Display for AttrFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        names.push(if self.is_optional() {
            "optional"
        } else {
            "well-known"
        });
        names.push(if self.is_transitive() {
            "transitive"
        } else {
            "non-transitive"
        });
        if self.is_partial() {
            names.push("partial");
        }
        if self.is_extended_length() {
            names.push("extended-length");
        }
        f.write_str(&names.join(" "))
    }
}

impl Serialize for AttrFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "incomplete",
        })
    }
}

/// AGGREGATOR and AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Aggregator {
    pub asn: Asn,
    pub address: Ipv4Addr,
}

impl fmt::Display for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AS{} {}", self.asn, self.address)
    }
}

/// A decoded attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttrValue {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    MultiExitDisc(u32),
    LocalPref(u32),
    AtomicAggregate,
    Aggregator(Aggregator),
    Communities(Vec<Community>),
    OriginatorId(Ipv4Addr),
    ClusterList(Vec<Ipv4Addr>),
    MpReachNlri(MpReach),
    MpUnreachNlri(MpUnreach),
    ExtendedCommunities(Vec<ExtCommunity>),
    As4Path(AsPath),
    As4Aggregator(Aggregator),
    #[serde(rename = "LARGE_COMMUNITY")]
    LargeCommunities(Vec<LargeCommunity>),
    Otc(Asn),
    /// An attribute without a typed decoder, octets as received.
    Other {
        type_code: u8,
        #[serde(serialize_with = "super::serde_hex")]
        data: Vec<u8>,
    },
}

impl AttrValue {
    pub fn attr_type(&self) -> AttrType {
        AttrType::from(self.type_code())
    }

    #[inline]
    pub fn type_code(&self) -> u8 {
        // Literal codes (checked against AttrType by a test): this runs for
        // every attribute of every message encoded.
        match self {
            AttrValue::Origin(_) => 1,
            AttrValue::AsPath(_) => 2,
            AttrValue::NextHop(_) => 3,
            AttrValue::MultiExitDisc(_) => 4,
            AttrValue::LocalPref(_) => 5,
            AttrValue::AtomicAggregate => 6,
            AttrValue::Aggregator(_) => 7,
            AttrValue::Communities(_) => 8,
            AttrValue::OriginatorId(_) => 9,
            AttrValue::ClusterList(_) => 10,
            AttrValue::MpReachNlri(_) => 14,
            AttrValue::MpUnreachNlri(_) => 15,
            AttrValue::ExtendedCommunities(_) => 16,
            AttrValue::As4Path(_) => 17,
            AttrValue::As4Aggregator(_) => 18,
            AttrValue::LargeCommunities(_) => 32,
            AttrValue::Otc(_) => 35,
            AttrValue::Other { type_code, .. } => *type_code,
        }
    }

    /// The flags RFC 4271 §5 (and each attribute's RFC) assigns; what we
    /// send for attributes we originate.
    pub fn canonical_flags(&self) -> AttrFlags {
        match self {
            AttrValue::Other { .. } => AttrFlags::OPTIONAL_TRANSITIVE,
            _ => expected_flags(self.attr_type()).unwrap_or(AttrFlags::OPTIONAL_TRANSITIVE),
        }
    }

    fn value_len(&self, ctx: &SessionContext) -> usize {
        let asn = if ctx.four_octet_as { 4 } else { 2 };
        match self {
            AttrValue::Origin(_) => 1,
            AttrValue::AsPath(p) => p.encoded_len(asn),
            AttrValue::As4Path(p) => p.encoded_len(4),
            AttrValue::NextHop(_)
            | AttrValue::MultiExitDisc(_)
            | AttrValue::LocalPref(_)
            | AttrValue::OriginatorId(_)
            | AttrValue::Otc(_) => 4,
            AttrValue::AtomicAggregate => 0,
            AttrValue::Aggregator(_) => asn + 4,
            AttrValue::As4Aggregator(_) => 8,
            AttrValue::Communities(c) => 4 * c.len(),
            AttrValue::ClusterList(c) => 4 * c.len(),
            AttrValue::ExtendedCommunities(c) => 8 * c.len(),
            AttrValue::LargeCommunities(c) => 12 * c.len(),
            AttrValue::MpReachNlri(m) => m.encoded_len(),
            AttrValue::MpUnreachNlri(m) => m.encoded_len(),
            AttrValue::Other { data, .. } => data.len(),
        }
    }

    fn encode_value(&self, ctx: &SessionContext, out: &mut impl BufMut) {
        match self {
            AttrValue::Origin(o) => out.put_u8(*o as u8),
            AttrValue::AsPath(p) => p.encode(if ctx.four_octet_as { 4 } else { 2 }, out),
            AttrValue::As4Path(p) => p.encode(4, out),
            AttrValue::NextHop(a) | AttrValue::OriginatorId(a) => out.put_slice(&a.octets()),
            AttrValue::MultiExitDisc(v) | AttrValue::LocalPref(v) => out.put_u32(*v),
            AttrValue::Otc(asn) => out.put_u32(asn.get()),
            AttrValue::AtomicAggregate => {}
            AttrValue::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.put_u32(a.asn.get());
                } else {
                    out.put_u16(a.asn.to_two_octet());
                }
                out.put_slice(&a.address.octets());
            }
            AttrValue::As4Aggregator(a) => {
                out.put_u32(a.asn.get());
                out.put_slice(&a.address.octets());
            }
            AttrValue::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
            AttrValue::ClusterList(c) => c.iter().for_each(|a| out.put_slice(&a.octets())),
            AttrValue::ExtendedCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.0)),
            AttrValue::LargeCommunities(c) => c.iter().for_each(|c| {
                out.put_u32(c.global);
                out.put_u32(c.local1);
                out.put_u32(c.local2);
            }),
            AttrValue::MpReachNlri(m) => m.encode(ctx, out),
            AttrValue::MpUnreachNlri(m) => m.encode(ctx, out),
            AttrValue::Other { data, .. } => out.put_slice(data),
        }
    }
}

/// The optional/transitive bits each typed attribute must carry.
pub(crate) fn expected_flags(t: AttrType) -> Option<AttrFlags> {
    use AttrType as T;
    Some(match t {
        T::Origin | T::AsPath | T::NextHop | T::LocalPref | T::AtomicAggregate => {
            AttrFlags::WELL_KNOWN
        }
        T::MultiExitDisc | T::OriginatorId | T::ClusterList | T::MpReachNlri | T::MpUnreachNlri => {
            AttrFlags::OPTIONAL_NON_TRANSITIVE
        }
        T::Aggregator
        | T::Communities
        | T::ExtendedCommunities
        | T::As4Path
        | T::As4Aggregator
        | T::LargeCommunities
        | T::Otc => AttrFlags::OPTIONAL_TRANSITIVE,
        _ => return None,
    })
}

/// One path attribute: its flags as received (or canonical when built
/// here) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Attribute {
    pub flags: AttrFlags,
    #[serde(flatten)]
    pub value: AttrValue,
}

impl Attribute {
    /// An attribute with the flags its type calls for.
    pub fn new(value: AttrValue) -> Self {
        Attribute {
            flags: value.canonical_flags(),
            value,
        }
    }

    /// Octets on the wire, header included.
    pub fn encoded_len(&self, ctx: &SessionContext) -> usize {
        let len = self.value.value_len(ctx);
        len + if self.uses_extended_length(len) { 4 } else { 3 }
    }

    fn uses_extended_length(&self, value_len: usize) -> bool {
        self.flags.is_extended_length() || value_len > 255
    }

    /// Checks the attribute can be sent on this session and returns its
    /// value length (NLRI are walked once).
    pub(crate) fn checked_value_len(&self, ctx: &SessionContext) -> Result<usize, EncodeError> {
        let len = match &self.value {
            AttrValue::MpReachNlri(m) => m.checked_len(ctx)?,
            AttrValue::MpUnreachNlri(m) => m.checked_len(ctx)?,
            v => v.value_len(ctx),
        };
        if len > usize::from(u16::MAX) {
            return Err(EncodeError::FieldTooLong {
                what: "a path attribute",
                length: len,
                max: usize::from(u16::MAX),
            });
        }
        Ok(len)
    }

    /// Octets of the header for a value of `value_len` octets.
    fn header_len(&self, value_len: usize) -> usize {
        if self.uses_extended_length(value_len) {
            4
        } else {
            3
        }
    }

    /// Writes the attribute. The extended-length bit is kept as received
    /// and forced on when the value needs it. `len` comes from
    /// [`checked_value_len`](Self::checked_value_len).
    pub(crate) fn encode(&self, len: usize, ctx: &SessionContext, out: &mut impl BufMut) {
        let ext = self.uses_extended_length(len);
        let flags = if ext {
            self.flags.0 | AttrFlags::EXTENDED_LENGTH
        } else {
            self.flags.0
        };
        out.put_u8(flags);
        out.put_u8(self.value.type_code());
        if ext {
            out.put_u16(len as u16);
        } else {
            out.put_u8(len as u8);
        }
        self.value.encode_value(ctx, out);
    }

    /// The attribute as it goes to the next peer, or `None` if it must not
    /// travel (RFC 4271 §5: unrecognized optional non-transitive attributes
    /// are dropped; unrecognized optional transitive ones are passed on
    /// with the Partial bit set).
    pub fn for_readvertisement(&self) -> Option<Attribute> {
        match &self.value {
            AttrValue::Other { .. } if !self.flags.is_transitive() => None,
            AttrValue::Other { .. } => Some(Attribute {
                flags: AttrFlags(self.flags.0 | AttrFlags::PARTIAL),
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }
}

/// The path attributes of an UPDATE in wire order, with typed accessors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct PathAttributes(pub Vec<Attribute>);

macro_rules! accessor {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self) -> Option<&$ty> {
            self.0.iter().find_map(|a| match &a.value {
                AttrValue::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

impl PathAttributes {
    pub fn new() -> Self {
        PathAttributes(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Attribute> {
        self.0.iter()
    }

    pub fn push(&mut self, value: AttrValue) {
        self.0.push(Attribute::new(value));
    }

    pub fn get(&self, t: AttrType) -> Option<&Attribute> {
        let code = u8::from(t);
        self.0.iter().find(|a| a.value.type_code() == code)
    }

    pub fn contains(&self, t: AttrType) -> bool {
        self.get(t).is_some()
    }

    accessor!(origin, Origin, Origin);
    accessor!(as_path, AsPath, AsPath);
    accessor!(next_hop, NextHop, Ipv4Addr);
    accessor!(med, MultiExitDisc, u32);
    accessor!(local_pref, LocalPref, u32);
    accessor!(aggregator, Aggregator, Aggregator);
    accessor!(communities, Communities, Vec<Community>);
    accessor!(originator_id, OriginatorId, Ipv4Addr);
    accessor!(cluster_list, ClusterList, Vec<Ipv4Addr>);
    accessor!(mp_reach, MpReachNlri, MpReach);
    accessor!(mp_unreach, MpUnreachNlri, MpUnreach);
    accessor!(extended_communities, ExtendedCommunities, Vec<ExtCommunity>);
    accessor!(as4_path, As4Path, AsPath);
    accessor!(as4_aggregator, As4Aggregator, Aggregator);
    accessor!(large_communities, LargeCommunities, Vec<LargeCommunity>);
    accessor!(otc, Otc, Asn);

    pub fn atomic_aggregate(&self) -> bool {
        self.contains(AttrType::AtomicAggregate)
    }

    /// The AS path and aggregator as the originator wrote them: AS_PATH and
    /// AS4_PATH (and their aggregators) merged per RFC 6793 §4.2.3. On a
    /// 4-octet session the AS4 attributes were already discarded on
    /// receipt, so this is simply AS_PATH.
    pub fn effective_as_path(&self) -> (Option<AsPath>, Option<Aggregator>) {
        merge_as4(
            self.as_path(),
            self.as4_path(),
            self.aggregator(),
            self.as4_aggregator(),
        )
    }

    /// Checks every attribute and measures each once, for
    /// [`encode`](Self::encode).
    pub(crate) fn plan(&self, ctx: &SessionContext) -> Result<AttributesPlan, EncodeError> {
        let mut plan = AttributesPlan {
            value_lens: [0; AttributesPlan::KEPT],
            total: 0,
        };
        for (i, a) in self.0.iter().enumerate() {
            let len = a.checked_value_len(ctx)?;
            if let Some(slot) = plan.value_lens.get_mut(i) {
                *slot = len as u16;
            }
            plan.total += a.header_len(len) + len;
        }
        Ok(plan)
    }

    pub(crate) fn encode(
        &self,
        plan: &AttributesPlan,
        ctx: &SessionContext,
        out: &mut impl BufMut,
    ) {
        for (i, a) in self.0.iter().enumerate() {
            let len = match plan.value_lens.get(i) {
                Some(len) => usize::from(*len),
                None => a.value.value_len(ctx),
            };
            a.encode(len, ctx, out);
        }
    }
}

/// Attribute lengths measured once per encode, on the stack for the first
/// few attributes (an UPDATE rarely has more); later ones are measured
/// again when written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttributesPlan {
    value_lens: [u16; Self::KEPT],
    pub(crate) total: usize,
}

impl AttributesPlan {
    const KEPT: usize = 16;
}

impl FromIterator<AttrValue> for PathAttributes {
    fn from_iter<I: IntoIterator<Item = AttrValue>>(iter: I) -> Self {
        PathAttributes(iter.into_iter().map(Attribute::new).collect())
    }
}

impl<'a> IntoIterator for &'a PathAttributes {
    type Item = &'a Attribute;
    type IntoIter = std::slice::Iter<'a, Attribute>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_match_the_registry_names() {
        let values = [
            (AttrValue::Origin(Origin::Igp), AttrType::Origin),
            (AttrValue::AsPath(AsPath::empty()), AttrType::AsPath),
            (AttrValue::NextHop(Ipv4Addr::LOCALHOST), AttrType::NextHop),
            (AttrValue::MultiExitDisc(0), AttrType::MultiExitDisc),
            (AttrValue::LocalPref(0), AttrType::LocalPref),
            (AttrValue::AtomicAggregate, AttrType::AtomicAggregate),
            (
                AttrValue::Aggregator(Aggregator {
                    asn: Asn::new(1),
                    address: Ipv4Addr::LOCALHOST,
                }),
                AttrType::Aggregator,
            ),
            (AttrValue::Communities(vec![]), AttrType::Communities),
            (
                AttrValue::OriginatorId(Ipv4Addr::LOCALHOST),
                AttrType::OriginatorId,
            ),
            (AttrValue::ClusterList(vec![]), AttrType::ClusterList),
            (
                AttrValue::MpUnreachNlri(MpUnreach::end_of_rib(crate::types::Family::IPV6_UNICAST)),
                AttrType::MpUnreachNlri,
            ),
            (
                AttrValue::ExtendedCommunities(vec![]),
                AttrType::ExtendedCommunities,
            ),
            (AttrValue::As4Path(AsPath::empty()), AttrType::As4Path),
            (
                AttrValue::As4Aggregator(Aggregator {
                    asn: Asn::new(1),
                    address: Ipv4Addr::LOCALHOST,
                }),
                AttrType::As4Aggregator,
            ),
            (
                AttrValue::LargeCommunities(vec![]),
                AttrType::LargeCommunities,
            ),
            (AttrValue::Otc(Asn::new(1)), AttrType::Otc),
        ];
        for (v, t) in values {
            assert_eq!(v.type_code(), u8::from(t), "{t}");
        }
    }
}
