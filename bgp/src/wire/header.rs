//! The 19-octet message header (RFC 4271 §4.1) and stream framing.

use bytes::BufMut;

use super::context::SessionContext;
use super::error::HeaderError;
use super::macros::wire_enum;

pub const HEADER_LEN: usize = 19;
/// RFC 4271 §4.1.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RFC 8654 §4, once both sides announced the extended message capability.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
const MARKER: [u8; 16] = [0xFF; 16];

wire_enum! {
    /// RFC 4271 §4.1, RFC 2918 §3.
    pub enum MessageType(u8) {
        Open = 1 => "OPEN",
        Update = 2 => "UPDATE",
        Notification = 3 => "NOTIFICATION",
        Keepalive = 4 => "KEEPALIVE",
        RouteRefresh = 5 => "ROUTE-REFRESH",
    }
}

impl MessageType {
    /// The length bounds RFC 4271 §6.1 checks in the header. ROUTE-REFRESH
    /// has its own length error (RFC 7313 §5), checked when it is decoded.
    fn length_bounds(self, ctx: &SessionContext) -> (usize, usize) {
        let max = ctx.max_message_len();
        match self {
            // RFC 8654 §4: OPEN and KEEPALIVE never grow beyond 4096.
            MessageType::Open => (29, MAX_MESSAGE_LEN),
            MessageType::Update => (23, max),
            MessageType::Notification => (21, max),
            MessageType::Keepalive => (HEADER_LEN, HEADER_LEN),
            MessageType::RouteRefresh => (HEADER_LEN, max),
            MessageType::Unknown(_) => (HEADER_LEN, max),
        }
    }
}

/// What the bytes at the start of a stream hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many octets (header included) is available.
    Message { len: usize, msg_type: MessageType },
    /// The next message is not complete; at least this many more octets
    /// are needed before it can be.
    Incomplete { needed: usize },
}

/// Looks at the start of `buf` and says whether a whole message is there.
///
/// Every header check of RFC 4271 §6.1 happens here, as early as the bytes
/// allow (a bad marker is reported before 19 octets have arrived), so a
/// reader never buffers garbage waiting for a length that means nothing.
pub fn frame(buf: &[u8], ctx: &SessionContext) -> Result<Frame, HeaderError> {
    let marker_seen = buf.len().min(MARKER.len());
    if buf.get(..marker_seen) != MARKER.get(..marker_seen) {
        return Err(HeaderError::ConnectionNotSynchronized);
    }
    let Some(&[l0, l1, t]) = buf.get(16..HEADER_LEN) else {
        return Ok(Frame::Incomplete {
            needed: HEADER_LEN - buf.len(),
        });
    };
    let length = u16::from_be_bytes([l0, l1]);
    let msg_type = MessageType::from(t);
    if let MessageType::Unknown(t) = msg_type {
        return Err(HeaderError::BadMessageType(t));
    }
    let (min, max) = msg_type.length_bounds(ctx);
    let len = usize::from(length);
    if len < min || len > max {
        return Err(HeaderError::BadMessageLength {
            length,
            msg_type,
            min,
            max,
        });
    }
    Ok(match len.checked_sub(buf.len()) {
        Some(needed) if needed > 0 => Frame::Incomplete { needed },
        _ => Frame::Message { len, msg_type },
    })
}

pub(crate) fn encode_header(out: &mut impl BufMut, total_len: usize, msg_type: MessageType) {
    out.put_slice(&MARKER);
    // Callers check the total against the negotiated maximum first.
    out.put_u16(total_len as u16);
    out.put_u8(msg_type.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u16, t: u8) -> Vec<u8> {
        let mut v = vec![0xFF; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(t);
        v
    }

    #[test]
    fn says_how_many_bytes_are_missing() {
        let ctx = SessionContext::default();
        assert_eq!(frame(&[], &ctx), Ok(Frame::Incomplete { needed: 19 }));
        assert_eq!(
            frame(&[0xFF; 5], &ctx),
            Ok(Frame::Incomplete { needed: 14 })
        );
        let h = header(23, 2);
        assert_eq!(frame(&h, &ctx), Ok(Frame::Incomplete { needed: 4 }));
        let mut full = h.clone();
        full.extend_from_slice(&[0, 0, 0, 0, 0xFF]);
        assert_eq!(
            frame(&full, &ctx),
            Ok(Frame::Message {
                len: 23,
                msg_type: MessageType::Update
            })
        );
    }

    #[test]
    fn bad_marker_is_seen_early() {
        let ctx = SessionContext::default();
        assert_eq!(
            frame(&[0xFF, 0xFF, 0x00], &ctx),
            Err(HeaderError::ConnectionNotSynchronized)
        );
    }

    #[test]
    fn length_limits_follow_the_context() {
        let plain = SessionContext::default();
        let ext = SessionContext {
            extended_message: true,
            ..plain
        };
        assert!(frame(&header(5000, 2), &plain).is_err());
        assert!(matches!(
            frame(&header(5000, 2), &ext),
            Ok(Frame::Incomplete { .. })
        ));
        // OPEN and KEEPALIVE keep their limits even with extended messages.
        assert!(frame(&header(5000, 1), &ext).is_err());
        assert!(frame(&header(20, 4), &ext).is_err());
        assert!(frame(&header(18, 2), &plain).is_err());
        assert_eq!(
            frame(&header(19, 9), &plain),
            Err(HeaderError::BadMessageType(9))
        );
    }
}
