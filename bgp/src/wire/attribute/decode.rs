//! Decoding the path attribute list, and the error handling of RFC 7606:
//! each fault is classified where it is found, decoding goes on so that
//! every fault (and every NLRI to withdraw) is known, and the caller takes
//! the strongest action.

use std::net::Ipv4Addr;

use super::as_path::AsPath;
use super::mp::{MpFault, MpReach, MpUnreach};
use super::{Aggregator, AttrFlags, AttrType, AttrValue, Attribute, Origin, expected_flags};
use crate::types::{Asn, Community, ExtCommunity, LargeCommunity};
use crate::wire::context::SessionContext;
use crate::wire::error::{Action, Fault, Malformation, UpdatePart};
use crate::wire::notification::UpdateSubcode;

pub(crate) struct DecodedAttributes {
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) faults: Vec<Malformation>,
}

/// Types seen so far, for RFC 7606 §3 (g) duplicate handling.
struct Seen([u64; 4]);

impl Seen {
    /// Marks `t`, returning whether it was already marked.
    fn mark(&mut self, t: u8) -> bool {
        let (word, bit) = (usize::from(t / 64), 1u64 << (t % 64));
        let slot = &mut self.0[word];
        let was = *slot & bit != 0;
        *slot |= bit;
        was
    }
}

/// Decodes the whole path attribute field.
pub(crate) fn decode_attributes(mut input: &[u8], ctx: &SessionContext) -> DecodedAttributes {
    let mut attributes = Vec::with_capacity(8);
    let mut faults = Vec::new();
    let mut seen = Seen([0; 4]);
    while !input.is_empty() {
        let (flags, type_code, value, raw, rest) = match split_attribute(input) {
            Ok(parts) => parts,
            Err(m) => {
                faults.push(m);
                break;
            }
        };
        input = rest;
        let t = AttrType::from(type_code);
        let fail = |fault, action, subcode, data: Vec<u8>| {
            Malformation::new(UpdatePart::Attribute(t), fault, action, subcode, data)
        };
        if seen.mark(type_code) {
            // RFC 7606 §3 (g): a repeated MP attribute leaves the NLRI in
            // doubt; any other repeat is dropped after the first.
            faults.push(if is_mp(t) {
                fail(
                    Fault::Duplicate,
                    Action::SessionReset,
                    UpdateSubcode::MalformedAttributeList,
                    vec![],
                )
            } else {
                fail(
                    Fault::Duplicate,
                    Action::AttributeDiscard,
                    UpdateSubcode::MalformedAttributeList,
                    vec![],
                )
            });
            continue;
        }
        let flags = AttrFlags(flags);
        match expected_flags(t) {
            Some(expected) if expected.category() != flags.category() => {
                // RFC 7606 §3 (c), except where RFC 6793 §6 says discard.
                let action = if is_as4(t) {
                    Action::AttributeDiscard
                } else {
                    Action::TreatAsWithdraw
                };
                faults.push(fail(
                    Fault::FlagsConflict { flags: flags.0 },
                    action,
                    UpdateSubcode::AttributeFlagsError,
                    raw.to_vec(),
                ));
                if action == Action::AttributeDiscard {
                    continue;
                }
                // The value is still decoded: an MP attribute's NLRI are
                // what treat-as-withdraw has to withdraw.
            }
            None if !flags.is_optional() => {
                // RFC 4271 §6.3; RFC 7606 leaves this a session reset.
                faults.push(fail(
                    Fault::UnrecognizedWellKnown,
                    Action::SessionReset,
                    UpdateSubcode::UnrecognizedWellKnownAttribute,
                    raw.to_vec(),
                ));
                continue;
            }
            _ => {}
        }
        match decode_value(t, value, raw, ctx) {
            Ok(value) => attributes.push(Attribute { flags, value }),
            Err(m) => faults.push(m),
        }
    }
    DecodedAttributes { attributes, faults }
}

fn is_mp(t: AttrType) -> bool {
    matches!(t, AttrType::MpReachNlri | AttrType::MpUnreachNlri)
}

fn is_as4(t: AttrType) -> bool {
    matches!(t, AttrType::As4Path | AttrType::As4Aggregator)
}

type Split<'a> = (u8, u8, &'a [u8], &'a [u8], &'a [u8]);

/// Splits off one attribute: (flags, type, value, whole attribute, rest).
fn split_attribute(input: &[u8]) -> Result<Split<'_>, Malformation> {
    let (flags, type_code) = match input {
        [f, t, _, ..] => (*f, *t),
        // RFC 7606 §4: fewer octets than an attribute header.
        _ => {
            return Err(Malformation::new(
                UpdatePart::Lengths,
                Fault::AttributeOverrun,
                Action::TreatAsWithdraw,
                UpdateSubcode::MalformedAttributeList,
                vec![],
            ));
        }
    };
    let header: usize = if flags & AttrFlags::EXTENDED_LENGTH != 0 {
        4
    } else {
        3
    };
    let length = match input {
        [_, _, hi, lo, ..] if header == 4 => usize::from(u16::from_be_bytes([*hi, *lo])),
        [_, _, len, ..] if header == 3 => usize::from(*len),
        _ => usize::MAX,
    };
    match input.split_at_checked(header.saturating_add(length)) {
        Some((raw, rest)) => Ok((flags, type_code, &raw[header..], raw, rest)),
        None => {
            // RFC 7606 §4: the last attribute overruns the field. Nothing can
            // follow it, so treat-as-withdraw works, unless it is the MP
            // attribute holding the NLRI we would have to withdraw.
            let t = AttrType::from(type_code);
            let action = if is_mp(t) {
                Action::SessionReset
            } else {
                Action::TreatAsWithdraw
            };
            Err(Malformation::new(
                UpdatePart::Attribute(t),
                Fault::AttributeOverrun,
                action,
                UpdateSubcode::AttributeLengthError,
                input.to_vec(),
            ))
        }
    }
}

fn decode_value(
    t: AttrType,
    value: &[u8],
    raw: &[u8],
    ctx: &SessionContext,
) -> Result<AttrValue, Malformation> {
    use Action::{AttributeDiscard, TreatAsWithdraw};
    use UpdateSubcode as Sub;
    let fail = |fault, action, subcode| {
        Malformation::new(
            UpdatePart::Attribute(t),
            fault,
            action,
            subcode,
            raw.to_vec(),
        )
    };
    let bad_length = |expected, action| {
        fail(
            Fault::BadLength {
                length: value.len(),
                expected,
            },
            action,
            Sub::AttributeLengthError,
        )
    };
    let asn_width = if ctx.four_octet_as { 4 } else { 2 };
    Ok(match t {
        // RFC 7606 §7.1.
        AttrType::Origin => match value {
            [0] => AttrValue::Origin(Origin::Igp),
            [1] => AttrValue::Origin(Origin::Egp),
            [2] => AttrValue::Origin(Origin::Incomplete),
            [v] => {
                return Err(fail(
                    Fault::InvalidOrigin(*v),
                    TreatAsWithdraw,
                    Sub::InvalidOriginAttribute,
                ));
            }
            _ => return Err(bad_length("1", TreatAsWithdraw)),
        },
        // RFC 7606 §7.2, RFC 7607 (AS 0). RFC 4271 sends no data with
        // Malformed AS_PATH.
        AttrType::AsPath => match AsPath::decode(value, asn_width) {
            Ok(p) => AttrValue::AsPath(p),
            Err(fault) => {
                return Err(Malformation::new(
                    UpdatePart::Attribute(t),
                    fault,
                    TreatAsWithdraw,
                    Sub::MalformedAsPath,
                    vec![],
                ));
            }
        },
        // RFC 7606 §7.3.
        AttrType::NextHop => {
            let addr =
                Ipv4Addr::from(u32_of(value).ok_or_else(|| bad_length("4", TreatAsWithdraw))?);
            if !is_usable_next_hop(addr) {
                return Err(fail(
                    Fault::InvalidNextHop(addr.to_string()),
                    TreatAsWithdraw,
                    Sub::InvalidNextHopAttribute,
                ));
            }
            AttrValue::NextHop(addr)
        }
        // RFC 7606 §7.4 and §7.5.
        AttrType::MultiExitDisc => {
            AttrValue::MultiExitDisc(u32_of(value).ok_or_else(|| bad_length("4", TreatAsWithdraw))?)
        }
        AttrType::LocalPref => {
            AttrValue::LocalPref(u32_of(value).ok_or_else(|| bad_length("4", TreatAsWithdraw))?)
        }
        // RFC 7606 §7.6.
        AttrType::AtomicAggregate if value.is_empty() => AttrValue::AtomicAggregate,
        AttrType::AtomicAggregate => return Err(bad_length("0", AttributeDiscard)),
        // RFC 7606 §7.7, RFC 7607 §2.
        AttrType::Aggregator => {
            let expected = if ctx.four_octet_as { "8" } else { "6" };
            let agg = aggregator(value, asn_width)
                .ok_or_else(|| bad_length(expected, AttributeDiscard))?;
            if agg.asn == Asn::ZERO {
                return Err(fail(
                    Fault::ZeroAs,
                    AttributeDiscard,
                    Sub::OptionalAttributeError,
                ));
            }
            AttrValue::Aggregator(agg)
        }
        // RFC 7606 §7.8.
        AttrType::Communities => AttrValue::Communities(
            list(value, |c: [u8; 4]| Community(u32::from_be_bytes(c)))
                .ok_or_else(|| bad_length("a non-zero multiple of 4", TreatAsWithdraw))?,
        ),
        // RFC 7606 §7.9 and §7.10.
        AttrType::OriginatorId => AttrValue::OriginatorId(Ipv4Addr::from(
            u32_of(value).ok_or_else(|| bad_length("4", TreatAsWithdraw))?,
        )),
        AttrType::ClusterList => AttrValue::ClusterList(
            list(value, Ipv4Addr::from)
                .ok_or_else(|| bad_length("a non-zero multiple of 4", TreatAsWithdraw))?,
        ),
        // RFC 7606 §7.11 and §5.3.
        AttrType::MpReachNlri => {
            AttrValue::MpReachNlri(MpReach::decode(value, ctx).map_err(|e| mp_fault(t, e, raw))?)
        }
        AttrType::MpUnreachNlri => AttrValue::MpUnreachNlri(
            MpUnreach::decode(value, ctx).map_err(|e| mp_fault(t, e, raw))?,
        ),
        // RFC 7606 §7.14.
        AttrType::ExtendedCommunities => AttrValue::ExtendedCommunities(
            list(value, ExtCommunity)
                .ok_or_else(|| bad_length("a non-zero multiple of 8", TreatAsWithdraw))?,
        ),
        // RFC 6793 §4.1 and §6: between NEW speakers the AS4 attributes are
        // discarded; a malformed one is discarded too.
        AttrType::As4Path | AttrType::As4Aggregator if ctx.four_octet_as => {
            return Err(fail(
                Fault::As4OnFourOctetSession,
                AttributeDiscard,
                Sub::OptionalAttributeError,
            ));
        }
        AttrType::As4Path => {
            let path = AsPath::decode(value, 4)
                .map_err(|f| fail(f, AttributeDiscard, Sub::OptionalAttributeError))?;
            if path.has_confed_segments() {
                return Err(fail(
                    Fault::MalformedAsPath("AS4_PATH must not carry confederation segments"),
                    AttributeDiscard,
                    Sub::OptionalAttributeError,
                ));
            }
            AttrValue::As4Path(path)
        }
        AttrType::As4Aggregator => {
            let agg = aggregator(value, 4).ok_or_else(|| bad_length("8", AttributeDiscard))?;
            if agg.asn == Asn::ZERO {
                return Err(fail(
                    Fault::ZeroAs,
                    AttributeDiscard,
                    Sub::OptionalAttributeError,
                ));
            }
            AttrValue::As4Aggregator(agg)
        }
        // RFC 8092 §6.
        AttrType::LargeCommunities => AttrValue::LargeCommunities(
            list(value, |c: [u8; 12]| {
                let part = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                LargeCommunity::new(part(0), part(4), part(8))
            })
            .ok_or_else(|| bad_length("a non-zero multiple of 12", TreatAsWithdraw))?,
        ),
        // RFC 9234 §5.
        AttrType::Otc => AttrValue::Otc(Asn::new(
            u32_of(value).ok_or_else(|| bad_length("4", TreatAsWithdraw))?,
        )),
        _ => AttrValue::Other {
            type_code: t.into(),
            data: value.to_vec(),
        },
    })
}

fn mp_fault(t: AttrType, e: MpFault, raw: &[u8]) -> Malformation {
    let action = match e.family {
        Some(f) => Action::AfiSafiDisable(f),
        None => Action::SessionReset,
    };
    Malformation::new(
        UpdatePart::Attribute(t),
        e.fault,
        action,
        UpdateSubcode::OptionalAttributeError,
        raw.to_vec(),
    )
}

fn u32_of(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

fn aggregator(value: &[u8], width: usize) -> Option<Aggregator> {
    let (asn, addr) = value.split_at_checked(width)?;
    let address = Ipv4Addr::from(<[u8; 4]>::try_from(addr).ok()?);
    let asn = match *asn {
        [a, b] => Asn::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => Asn::new(u32::from_be_bytes([a, b, c, d])),
        _ => return None,
    };
    Some(Aggregator { asn, address })
}

/// A list of fixed-size items filling the value exactly; empty is
/// malformed for every list attribute (RFC 7606 §7.8, §7.10, §7.14, RFC
/// 8092 §6).
fn list<const N: usize, T>(value: &[u8], item: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
    let (chunks, rest) = value.as_chunks::<N>();
    if chunks.is_empty() || !rest.is_empty() {
        return None;
    }
    Some(chunks.iter().map(|c| item(*c)).collect())
}

/// RFC 4271 §6.3 asks that NEXT_HOP be a valid host address; RFC 7606 §7.3
/// makes a semantic error treat-as-withdraw. These can never be one.
fn is_usable_next_hop(a: Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] >= 240
        || a.octets()[0] == 0)
}
