//! UPDATE (RFC 4271 §4.3).

use bytes::BufMut;
use serde::Serialize;

use super::attribute::decode::decode_attributes;
use super::attribute::{AttrType, AttrValue, Attribute, AttributesPlan, MpUnreach, PathAttributes};
use super::context::SessionContext;
use super::error::{Action, EncodeError, Fault, Malformation, UpdateError, UpdatePart};
use super::nlri::{Nlri, checked_list_len, decode_nlri, encode_nlri_list};
use super::notification::UpdateSubcode;
use crate::types::{Family, Ipv4Prefix};

/// An UPDATE message. IPv4 unicast travels in the classic fields; other
/// families in the MP_REACH_NLRI / MP_UNREACH_NLRI attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Update {
    pub withdrawn: Vec<Nlri<Ipv4Prefix>>,
    pub attributes: PathAttributes,
    pub nlri: Vec<Nlri<Ipv4Prefix>>,
    /// Attributes dropped on receipt under RFC 7606 attribute discard (or
    /// repeated ones, §3 (g)). Never encoded; kept so the session can log
    /// them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub discarded: Vec<Malformation>,
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, an empty MP_UNREACH_NLRI otherwise.
    pub fn end_of_rib_marker(family: Family) -> Update {
        let mut u = Update::default();
        if family != Family::IPV4_UNICAST {
            u.attributes
                .push(AttrValue::MpUnreachNlri(MpUnreach::end_of_rib(family)));
        }
        u
    }

    /// The family this UPDATE marks End-of-RIB for, if it is such a marker.
    pub fn end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.0.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [
                Attribute {
                    value: AttrValue::MpUnreachNlri(m),
                    ..
                },
            ] if m.is_empty() => Some(m.family()),
            _ => None,
        }
    }

    /// True if the message announces anything (classic NLRI or MP_REACH).
    pub fn has_reachable(&self) -> bool {
        !self.nlri.is_empty() || self.attributes.mp_reach().is_some()
    }

    pub(crate) fn decode(body: &[u8], ctx: &SessionContext) -> Result<Update, Box<UpdateError>> {
        let lengths_fault = || {
            // RFC 4271 §6.3: lengths that exceed the message.
            UpdateError::from_faults(
                vec![Malformation::new(
                    UpdatePart::Lengths,
                    Fault::LengthsExceedMessage,
                    Action::SessionReset,
                    UpdateSubcode::MalformedAttributeList,
                    vec![],
                )],
                None,
            )
        };
        let (withdrawn, rest) = split_u16_prefixed(body).ok_or_else(lengths_fault)?;
        let (attrs, nlri) = split_u16_prefixed(rest).ok_or_else(lengths_fault)?;

        let mut update = Update::default();
        let mut faults = Vec::new();
        // RFC 7606 §5.3: a malformed classic NLRI field leaves nothing to
        // withdraw reliably, so only a session reset is left.
        let v4_add_path = ctx.add_path_receive.contains(Family::IPV4_UNICAST);
        if let Err(fault) = decode_nlri(withdrawn, v4_add_path, &mut update.withdrawn) {
            faults.push(invalid_network_field(UpdatePart::WithdrawnRoutes, fault));
        }
        let decoded = decode_attributes(attrs, ctx);
        update.attributes = PathAttributes(decoded.attributes);
        faults.extend(decoded.faults);
        if let Err(fault) = decode_nlri(nlri, v4_add_path, &mut update.nlri) {
            faults.push(invalid_network_field(UpdatePart::Nlri, fault));
        }
        check_mandatory(&update, &mut faults);

        if faults.iter().all(|f| f.action == Action::AttributeDiscard) {
            update.discarded = faults;
            Ok(update)
        } else {
            Err(UpdateError::from_faults(faults, Some(update)))
        }
    }

    /// Checks the message can be sent on this session and measures it,
    /// walking each prefix list once.
    pub(crate) fn plan(&self, ctx: &SessionContext) -> Result<UpdatePlan, EncodeError> {
        let add_path = ctx.add_path_send.contains(Family::IPV4_UNICAST);
        let withdrawn = checked_list_len(&self.withdrawn, Family::IPV4_UNICAST, add_path)?;
        let nlri = checked_list_len(&self.nlri, Family::IPV4_UNICAST, add_path)?;
        let attributes = self.attributes.plan(ctx)?;
        for (what, length) in [
            ("withdrawn routes", withdrawn),
            ("path attributes", attributes.total),
        ] {
            if length > usize::from(u16::MAX) {
                return Err(EncodeError::FieldTooLong {
                    what,
                    length,
                    max: usize::from(u16::MAX),
                });
            }
        }
        Ok(UpdatePlan {
            withdrawn,
            attributes,
            body: 4 + withdrawn + attributes.total + nlri,
        })
    }

    /// Writes the body measured by [`plan`](Self::plan).
    pub(crate) fn encode_body(
        &self,
        plan: &UpdatePlan,
        ctx: &SessionContext,
        out: &mut impl BufMut,
    ) {
        out.put_u16(plan.withdrawn as u16);
        encode_nlri_list(&self.withdrawn, out);
        out.put_u16(plan.attributes.total as u16);
        self.attributes.encode(&plan.attributes, ctx, out);
        encode_nlri_list(&self.nlri, out);
    }
}

/// The lengths of an UPDATE, measured once before it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpdatePlan {
    withdrawn: usize,
    attributes: AttributesPlan,
    pub(crate) body: usize,
}

fn split_u16_prefixed(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
}

fn invalid_network_field(part: UpdatePart, fault: Fault) -> Malformation {
    Malformation::new(
        part,
        fault,
        Action::SessionReset,
        UpdateSubcode::InvalidNetworkField,
        vec![],
    )
}

/// RFC 4271 §5 and RFC 4760 §3: an UPDATE that announces routes needs
/// ORIGIN and AS_PATH, and NEXT_HOP when it uses the classic NLRI field.
/// RFC 7606 §3 (d): a missing one means treat-as-withdraw.
fn check_mandatory(update: &Update, faults: &mut Vec<Malformation>) {
    if !update.has_reachable() {
        return;
    }
    let classic = !update.nlri.is_empty();
    let required = [AttrType::Origin, AttrType::AsPath, AttrType::NextHop];
    for t in required.into_iter().take(if classic { 3 } else { 2 }) {
        let already_faulted = faults.iter().any(|f| f.part == UpdatePart::Attribute(t));
        if !update.attributes.contains(t) && !already_faulted {
            faults.push(Malformation::new(
                UpdatePart::Attribute(t),
                Fault::Missing,
                Action::TreatAsWithdraw,
                UpdateSubcode::MissingWellKnownAttribute,
                vec![t.into()],
            ));
        }
    }
}
