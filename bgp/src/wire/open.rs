//! OPEN (RFC 4271 §4.2) with optional parameters (RFC 5492) in the regular
//! or the RFC 9072 extended encoding.

use bytes::BufMut;
use serde::Serialize;

use nom::Parser;

use super::capability::Capability;
use super::error::{EncodeError, OpenError};
use super::read::{self, run};
use crate::types::{Asn, HoldTime, RouterId};

/// RFC 5492 §4: the only optional parameter left in use.
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: this Non-Ext OP Type marks the extended encoding.
const PARAM_EXTENDED: u8 = 255;

/// An OPEN message. Capabilities are kept grouped as their optional
/// parameters were (one parameter with all of them, as BIRD sends, or one
/// each, as others do), so the message re-encodes byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Open {
    /// The 2-octet My Autonomous System field: AS_TRANS when the real
    /// number only fits the 4-octet capability. See [`Open::asn`].
    pub my_as: u16,
    pub hold_time: HoldTime,
    pub router_id: RouterId,
    /// One entry per Capabilities optional parameter, in order.
    pub parameters: Vec<Vec<Capability>>,
    /// RFC 9072 encoding (forced when the parameters exceed 255 octets).
    pub extended_parameters: bool,
}

impl Open {
    /// An OPEN with all capabilities in one parameter, as we send it.
    pub fn new(
        asn: Asn,
        hold_time: HoldTime,
        router_id: RouterId,
        capabilities: Vec<Capability>,
    ) -> Self {
        Open {
            my_as: asn.to_two_octet(),
            hold_time,
            router_id,
            parameters: if capabilities.is_empty() {
                vec![]
            } else {
                vec![capabilities]
            },
            extended_parameters: false,
        }
    }

    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.parameters.iter().flatten()
    }

    /// The sender's AS: the 4-octet capability if present (RFC 6793 §4.1),
    /// else My Autonomous System.
    pub fn asn(&self) -> Asn {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(Asn::from(self.my_as))
    }

    pub(crate) fn decode(body: &[u8]) -> Result<Open, OpenError> {
        let short = || OpenError::MalformedOptionalParameters("message is cut short");
        let (rest, (version, my_as, hold, id, param_len)) = run(
            body,
            (read::u8, read::u16, read::u16, read::u32, read::u8),
            short,
        )?;
        if version != 4 {
            return Err(OpenError::UnsupportedVersion(version));
        }
        // RFC 7607 §2.
        if my_as == 0 {
            return Err(OpenError::ZeroAs);
        }
        let hold_time = HoldTime::new(hold).map_err(|_| OpenError::UnacceptableHoldTime(hold))?;
        let router_id = RouterId::new(id).map_err(|_| OpenError::ZeroBgpIdentifier)?;

        let extended = param_len > 0 && rest.first() == Some(&PARAM_EXTENDED);
        let (params, header_len) = if extended {
            let (params, ext_len) =
                run(rest, (read::u8, read::u16), short).map(|(params, (_, len))| (params, len))?;
            if usize::from(ext_len) != params.len() {
                return Err(OpenError::MalformedOptionalParameters(
                    "extended parameters length does not match the message",
                ));
            }
            (params, 3)
        } else {
            if usize::from(param_len) != rest.len() {
                return Err(OpenError::MalformedOptionalParameters(
                    "parameters length does not match the message",
                ));
            }
            (rest, 2)
        };

        let mut parameters = Vec::new();
        let mut buf = params;
        while !buf.is_empty() {
            let (after_header, (kind, len)) = if header_len == 3 {
                run(buf, (read::u8, read::u16), short)?
            } else {
                run(buf, (read::u8, read::u8.map(u16::from)), short)?
            };
            let (rest, value) = run(after_header, read::take(usize::from(len)), || {
                OpenError::MalformedOptionalParameters("parameter runs past the message")
            })?;
            if kind != PARAM_CAPABILITIES {
                return Err(OpenError::UnsupportedOptionalParameter(kind));
            }
            parameters.push(decode_capabilities(value)?);
            buf = rest;
        }
        let open = Open {
            my_as,
            hold_time,
            router_id,
            parameters,
            extended_parameters: extended,
        };
        if open.asn() == Asn::ZERO {
            return Err(OpenError::ZeroAs);
        }
        Ok(open)
    }

    fn params_len(&self, extended: bool) -> usize {
        let header = if extended { 3 } else { 2 };
        self.parameters
            .iter()
            .map(|caps| header + caps.iter().map(|c| 2 + c.value_len()).sum::<usize>())
            .sum()
    }

    fn uses_extended(&self) -> bool {
        self.extended_parameters
            || self.params_len(false) > 255
            || self
                .parameters
                .iter()
                .any(|caps| caps.iter().map(|c| 2 + c.value_len()).sum::<usize>() > 255)
    }

    pub(crate) fn body_len(&self) -> Result<usize, EncodeError> {
        for c in self.capabilities() {
            c.check_encodable()?;
        }
        let extended = self.uses_extended();
        let params = self.params_len(extended);
        let max = usize::from(u16::MAX);
        if extended && params > max {
            return Err(EncodeError::FieldTooLong {
                what: "optional parameters",
                length: params,
                max,
            });
        }
        Ok(10 + if extended { 3 } else { 0 } + params)
    }

    pub(crate) fn encode_body(&self, out: &mut impl BufMut) {
        let extended = self.uses_extended();
        out.put_u8(4);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time.seconds());
        out.put_u32(self.router_id.get());
        let params = self.params_len(extended);
        if extended {
            out.put_u8(255);
            out.put_u8(PARAM_EXTENDED);
            out.put_u16(params as u16);
        } else {
            out.put_u8(params as u8);
        }
        for caps in &self.parameters {
            let len: usize = caps.iter().map(|c| 2 + c.value_len()).sum();
            out.put_u8(PARAM_CAPABILITIES);
            if extended {
                out.put_u16(len as u16);
            } else {
                out.put_u8(len as u8);
            }
            caps.iter().for_each(|c| c.encode(out));
        }
    }
}

fn decode_capabilities(mut v: &[u8]) -> Result<Vec<Capability>, OpenError> {
    let mut caps = Vec::new();
    while !v.is_empty() {
        let (rest, (code, value)) = run(v, (read::u8, read::u8_prefixed), || {
            OpenError::MalformedCapability {
                code: v.first().copied().unwrap_or(0),
                reason: "runs past its optional parameter",
            }
        })?;
        caps.push(Capability::decode(code, value)?);
        v = rest;
    }
    Ok(caps)
}
