//! The BGP-4 wire format: every message, parsed and emitted symmetrically.
//!
//! - [`frame`] finds message boundaries in a byte stream and checks the
//!   header (RFC 4271 §4.1, §6.1).
//! - [`Message::decode`] turns one message into a typed value under a
//!   [`SessionContext`]; errors carry their NOTIFICATION (RFC 4271 §6) and,
//!   for UPDATE, their RFC 7606 action.
//! - [`Message::encode`] writes it back; a decoded message re-encodes to the
//!   same octets (up to NLRI padding bits, which RFC 4271 §4.3 calls
//!   irrelevant and which are cleared on decode).
//! - [`UpdatePacker`] packs many prefixes sharing one attribute set into as
//!   few UPDATEs as the negotiated size allows.

mod attribute;
mod builder;
mod capability;
mod context;
mod error;
mod header;
mod macros;
mod nlri;
mod notification;
mod open;
mod read;
mod route_refresh;
mod update;

use bytes::BufMut;
use serde::Serialize;

pub use attribute::{
    Aggregator, AsPath, AsSegment, AttrFlags, AttrType, AttrValue, Attribute, MpReach, MpUnreach,
    NextHop, Origin, PathAttributes, SegmentType, attributes_for_two_octet_peer, merge_as4,
};
pub use builder::{EncodedAttributes, UpdatePacker};
pub use capability::{
    AddPathFamily, AddPathMode, Capability, ExtendedNextHop, Fqdn, GracefulRestart,
    GracefulRestartFamily, LlgrFamily, Role, code as capability_code,
};
pub use context::SessionContext;
pub use error::{
    Action, DecodeError, EncodeError, Fault, HeaderError, Malformation, OpenError,
    RouteRefreshError, UpdateError, UpdatePart,
};
pub use header::{
    Frame, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, MessageType, frame,
};
pub use nlri::{Nlri, WirePrefix};
pub use notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, MAX_SHUTDOWN_MESSAGE_LEN, Notification,
    NotificationData, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};
pub use open::Open;
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::Update;

/// One BGP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    pub fn msg_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Decodes exactly one message, header included, as [`frame`] delimits
    /// it. Never panics, whatever the input.
    pub fn decode(msg: &[u8], ctx: &SessionContext) -> Result<Message, DecodeError> {
        let msg_type = match frame(msg, ctx)? {
            Frame::Message { len, msg_type } if len == msg.len() => msg_type,
            _ => {
                // The length field does not describe this slice.
                let length = msg
                    .get(16..18)
                    .map_or(0, |l| u16::from_be_bytes([l[0], l[1]]));
                return Err(HeaderError::BadMessageLength {
                    length,
                    msg_type: MessageType::from(msg.get(18).copied().unwrap_or(0)),
                    min: HEADER_LEN,
                    max: msg.len(),
                }
                .into());
            }
        };
        let body = msg.get(HEADER_LEN..).unwrap_or_default();
        Ok(match msg_type {
            MessageType::Open => Message::Open(Open::decode(body)?),
            MessageType::Update => Message::Update(Update::decode(body, ctx)?),
            MessageType::Notification => Message::Notification(Notification::decode(body)),
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => Message::RouteRefresh(RouteRefresh::decode(body, msg)?),
            MessageType::Unknown(t) => return Err(HeaderError::BadMessageType(t).into()),
        })
    }

    /// Octets the message takes on the wire under `ctx`, after checking
    /// that it can be encoded at all.
    pub fn encoded_len(&self, ctx: &SessionContext) -> Result<usize, EncodeError> {
        self.plan(ctx).map(|(len, _)| len)
    }

    /// Checks and measures once. An UPDATE's measurements are kept for
    /// writing it, so its prefix lists are walked once to measure and once
    /// to write.
    fn plan(
        &self,
        ctx: &SessionContext,
    ) -> Result<(usize, Option<update::UpdatePlan>), EncodeError> {
        let (body, plan) = match self {
            Message::Update(u) => {
                let plan = u.plan(ctx)?;
                (plan.body, Some(plan))
            }
            Message::Open(o) => (o.body_len()?, None),
            Message::Notification(n) => (n.body_len(), None),
            Message::Keepalive => (0, None),
            Message::RouteRefresh(r) => (r.body_len(), None),
        };
        let len = HEADER_LEN + body;
        // RFC 8654 §4: OPEN and KEEPALIVE stay within 4096 octets.
        let max = match self {
            Message::Open(_) | Message::Keepalive => MAX_MESSAGE_LEN,
            _ => ctx.max_message_len(),
        };
        if len > max {
            return Err(EncodeError::MessageTooLong { length: len, max });
        }
        Ok((len, plan))
    }

    /// Appends the message to `out` and returns its length.
    pub fn encode(
        &self,
        ctx: &SessionContext,
        out: &mut impl BufMut,
    ) -> Result<usize, EncodeError> {
        let (len, plan) = self.plan(ctx)?;
        header::encode_header(out, len, self.msg_type());
        match self {
            Message::Open(o) => o.encode_body(out),
            Message::Update(u) => {
                if let Some(plan) = plan {
                    u.encode_body(&plan, ctx, out);
                }
            }
            Message::Notification(n) => n.encode_body(out),
            Message::Keepalive => {}
            Message::RouteRefresh(r) => r.encode_body(out),
        }
        Ok(len)
    }

    pub fn to_bytes(&self, ctx: &SessionContext) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len(ctx)?);
        self.encode(ctx, &mut out)?;
        Ok(out)
    }
}

/// Reads messages from a buffer holding a stream (a TCP payload dump, say).
///
/// Yields each message's octets with its decode result. Framing errors end
/// the stream (nothing after a bad header can be trusted); an undecodable
/// message does not, since its length was sound.
#[derive(Debug)]
pub struct Messages<'a> {
    buf: &'a [u8],
    ctx: SessionContext,
    done: bool,
}

/// One item of [`Messages`].
#[derive(Debug)]
pub enum StreamItem<'a> {
    Message {
        raw: &'a [u8],
        result: Result<Message, DecodeError>,
    },
    /// The stream ends inside a message.
    Truncated { raw: &'a [u8], needed: usize },
    /// The stream is not framed as BGP from here on.
    BadHeader { raw: &'a [u8], error: HeaderError },
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8], ctx: SessionContext) -> Self {
        Messages {
            buf,
            ctx,
            done: false,
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = StreamItem<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.buf.is_empty() {
            return None;
        }
        match frame(self.buf, &self.ctx) {
            Ok(Frame::Message { len, .. }) => {
                let (raw, rest) = self.buf.split_at(len);
                self.buf = rest;
                Some(StreamItem::Message {
                    raw,
                    result: Message::decode(raw, &self.ctx),
                })
            }
            Ok(Frame::Incomplete { needed }) => {
                self.done = true;
                Some(StreamItem::Truncated {
                    raw: self.buf,
                    needed,
                })
            }
            Err(error) => {
                self.done = true;
                Some(StreamItem::BadHeader {
                    raw: self.buf,
                    error,
                })
            }
        }
    }
}

/// Lowercase hex without separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub(crate) fn serde_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(bytes))
}
