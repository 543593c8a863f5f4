//! ROUTE-REFRESH (RFC 2918 §3) with the message subtypes of RFC 7313 §3.

use bytes::BufMut;
use serde::Serialize;

use super::error::RouteRefreshError;
use super::macros::wire_enum;
use crate::types::{Afi, Family, Safi};

wire_enum! {
    /// RFC 7313 §3 (the octet RFC 2918 reserved).
    pub enum RefreshSubtype(u8) {
        Request = 0 => "request",
        BeginningOfRouteRefresh = 1 => "BoRR",
        EndOfRouteRefresh = 2 => "EoRR",
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RefreshSubtype,
    /// ORF entries (RFC 5291) after a request, kept as octets: we do not
    /// negotiate ORF, so the session ignores them.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::serde_hex"
    )]
    pub orf: Vec<u8>,
}

impl RouteRefresh {
    pub fn request(family: Family) -> Self {
        RouteRefresh {
            family,
            subtype: RefreshSubtype::Request,
            orf: vec![],
        }
    }

    /// `message` is the whole message, which RFC 7313 §5 sends back as the
    /// data of the NOTIFICATION for a length error.
    pub(crate) fn decode(body: &[u8], message: &[u8]) -> Result<RouteRefresh, RouteRefreshError> {
        let invalid = |subtype| RouteRefreshError::InvalidLength {
            length: message.len(),
            subtype,
            message: message.to_vec(),
        };
        let Some(([a0, a1, subtype, safi], rest)) = body.split_first_chunk::<4>() else {
            return Err(invalid(body.get(2).copied().unwrap_or(0)));
        };
        let subtype = RefreshSubtype::from(*subtype);
        // RFC 7313 §5: BoRR and EoRR are exactly 23 octets; a request may be
        // longer (ORF). An unknown subtype is ignored by the session.
        if matches!(
            subtype,
            RefreshSubtype::BeginningOfRouteRefresh | RefreshSubtype::EndOfRouteRefresh
        ) && !rest.is_empty()
        {
            return Err(invalid(subtype.into()));
        }
        Ok(RouteRefresh {
            family: Family::new(Afi(u16::from_be_bytes([*a0, *a1])), Safi(*safi)),
            subtype,
            orf: rest.to_vec(),
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + self.orf.len()
    }

    pub(crate) fn encode_body(&self, out: &mut impl BufMut) {
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype.into());
        out.put_u8(self.family.safi.0);
        out.put_slice(&self.orf);
    }
}
