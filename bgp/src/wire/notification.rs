//! NOTIFICATION (RFC 4271 §4.5) with every registered code and subcode, and
//! the shutdown communication of RFC 9003.

use std::fmt;

use bytes::BufMut;
use serde::Serialize;

use super::macros::wire_enum;
use crate::types::{Afi, Family, Safi};

wire_enum! {
    /// RFC 4271 §6.1.
    pub enum HeaderSubcode(u8) {
        ConnectionNotSynchronized = 1 => "Connection Not Synchronized",
        BadMessageLength = 2 => "Bad Message Length",
        BadMessageType = 3 => "Bad Message Type",
    }
}

wire_enum! {
    /// RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2.
    pub enum OpenSubcode(u8) {
        Unspecific = 0 => "Unspecific",
        UnsupportedVersionNumber = 1 => "Unsupported Version Number",
        BadPeerAs = 2 => "Bad Peer AS",
        BadBgpIdentifier = 3 => "Bad BGP Identifier",
        UnsupportedOptionalParameter = 4 => "Unsupported Optional Parameter",
        UnacceptableHoldTime = 6 => "Unacceptable Hold Time",
        UnsupportedCapability = 7 => "Unsupported Capability",
        RoleMismatch = 11 => "Role Mismatch",
    }
}

wire_enum! {
    /// RFC 4271 §6.3.
    pub enum UpdateSubcode(u8) {
        Unspecific = 0 => "Unspecific",
        MalformedAttributeList = 1 => "Malformed Attribute List",
        UnrecognizedWellKnownAttribute = 2 => "Unrecognized Well-known Attribute",
        MissingWellKnownAttribute = 3 => "Missing Well-known Attribute",
        AttributeFlagsError = 4 => "Attribute Flags Error",
        AttributeLengthError = 5 => "Attribute Length Error",
        InvalidOriginAttribute = 6 => "Invalid ORIGIN Attribute",
        InvalidNextHopAttribute = 8 => "Invalid NEXT_HOP Attribute",
        OptionalAttributeError = 9 => "Optional Attribute Error",
        InvalidNetworkField = 10 => "Invalid Network Field",
        MalformedAsPath = 11 => "Malformed AS_PATH",
    }
}

wire_enum! {
    /// RFC 6608.
    pub enum FsmSubcode(u8) {
        Unspecified = 0 => "Unspecified Error",
        UnexpectedMessageInOpenSent = 1 => "Receive Unexpected Message in OpenSent State",
        UnexpectedMessageInOpenConfirm = 2 => "Receive Unexpected Message in OpenConfirm State",
        UnexpectedMessageInEstablished = 3 => "Receive Unexpected Message in Established State",
    }
}

wire_enum! {
    /// RFC 4486, RFC 8538 §5 (Hard Reset), RFC 9384 (BFD Down).
    pub enum CeaseSubcode(u8) {
        MaximumPrefixesReached = 1 => "Maximum Number of Prefixes Reached",
        AdministrativeShutdown = 2 => "Administrative Shutdown",
        PeerDeconfigured = 3 => "Peer De-configured",
        AdministrativeReset = 4 => "Administrative Reset",
        ConnectionRejected = 5 => "Connection Rejected",
        OtherConfigurationChange = 6 => "Other Configuration Change",
        ConnectionCollisionResolution = 7 => "Connection Collision Resolution",
        OutOfResources = 8 => "Out of Resources",
        HardReset = 9 => "Hard Reset",
        BfdDown = 10 => "BFD Down",
    }
}

wire_enum! {
    /// RFC 7313 §5.
    pub enum RouteRefreshSubcode(u8) {
        InvalidMessageLength = 1 => "Invalid Message Length",
    }
}

/// Error code and subcode of a NOTIFICATION, one enum per code so that a
/// subcode can only be paired with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MessageHeader(HeaderSubcode),
    Open(OpenSubcode),
    Update(UpdateSubcode),
    /// RFC 4271 §6.5: the subcode is unused (0).
    HoldTimerExpired(u8),
    Fsm(FsmSubcode),
    Cease(CeaseSubcode),
    RouteRefresh(RouteRefreshSubcode),
    /// RFC 9687: our own sends have been blocked for the send hold time.
    SendHoldTimerExpired(u8),
    Unknown {
        code: u8,
        subcode: u8,
    },
}

impl ErrorCode {
    pub fn from_wire(code: u8, subcode: u8) -> Self {
        match code {
            1 => ErrorCode::MessageHeader(subcode.into()),
            2 => ErrorCode::Open(subcode.into()),
            3 => ErrorCode::Update(subcode.into()),
            4 => ErrorCode::HoldTimerExpired(subcode),
            5 => ErrorCode::Fsm(subcode.into()),
            6 => ErrorCode::Cease(subcode.into()),
            7 => ErrorCode::RouteRefresh(subcode.into()),
            8 => ErrorCode::SendHoldTimerExpired(subcode),
            code => ErrorCode::Unknown { code, subcode },
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(_) => 1,
            ErrorCode::Open(_) => 2,
            ErrorCode::Update(_) => 3,
            ErrorCode::HoldTimerExpired(_) => 4,
            ErrorCode::Fsm(_) => 5,
            ErrorCode::Cease(_) => 6,
            ErrorCode::RouteRefresh(_) => 7,
            ErrorCode::SendHoldTimerExpired(_) => 8,
            ErrorCode::Unknown { code, .. } => code,
        }
    }

    pub fn subcode(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(s) => s.into(),
            ErrorCode::Open(s) => s.into(),
            ErrorCode::Update(s) => s.into(),
            ErrorCode::HoldTimerExpired(s) | ErrorCode::SendHoldTimerExpired(s) => s,
            ErrorCode::Fsm(s) => s.into(),
            ErrorCode::Cease(s) => s.into(),
            ErrorCode::RouteRefresh(s) => s.into(),
            ErrorCode::Unknown { subcode, .. } => subcode,
        }
    }

    pub fn code_name(self) -> &'static str {
        match self {
            ErrorCode::MessageHeader(_) => "Message Header Error",
            ErrorCode::Open(_) => "OPEN Message Error",
            ErrorCode::Update(_) => "UPDATE Message Error",
            ErrorCode::HoldTimerExpired(_) => "Hold Timer Expired",
            ErrorCode::Fsm(_) => "Finite State Machine Error",
            ErrorCode::Cease(_) => "Cease",
            ErrorCode::RouteRefresh(_) => "ROUTE-REFRESH Message Error",
            ErrorCode::SendHoldTimerExpired(_) => "Send Hold Timer Expired",
            ErrorCode::Unknown { .. } => "unknown error code",
        }
    }

    /// The subcode's name; `None` where the code has no subcodes or the
    /// value is unregistered.
    pub fn subcode_name(self) -> Option<&'static str> {
        match self {
            ErrorCode::MessageHeader(s) => s.name(),
            ErrorCode::Open(s) => s.name(),
            ErrorCode::Update(s) => s.name(),
            ErrorCode::Fsm(s) => s.name(),
            ErrorCode::Cease(s) => s.name(),
            ErrorCode::RouteRefresh(s) => s.name(),
            ErrorCode::HoldTimerExpired(_)
            | ErrorCode::SendHoldTimerExpired(_)
            | ErrorCode::Unknown { .. } => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    /// `Cease / Administrative Shutdown (6/2)`, the way vtysh prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code_name())?;
        match self.subcode_name() {
            Some(s) => write!(f, " / {s}")?,
            None if self.subcode() != 0 => write!(f, " / unknown subcode")?,
            None => {}
        }
        write!(f, " ({}/{})", self.code(), self.subcode())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ErrorCode", 4)?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("subcode", &self.subcode())?;
        st.serialize_field("code_name", self.code_name())?;
        st.serialize_field("subcode_name", &self.subcode_name())?;
        st.end()
    }
}

/// RFC 9003 §2: the shutdown communication is at most 255 octets of UTF-8.
pub const MAX_SHUTDOWN_MESSAGE_LEN: usize = 255;

/// A NOTIFICATION message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Notification {
    pub error: ErrorCode,
    #[serde(serialize_with = "super::serde_hex")]
    pub data: Vec<u8>,
}

/// What the data of a NOTIFICATION says, for the codes that give it a shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotificationData<'a> {
    None,
    /// RFC 9003 shutdown communication (Cease subcodes 2 and 4).
    ShutdownMessage {
        message: &'a str,
    },
    /// RFC 9003 §3: a length or UTF-8 error; the raw bytes are kept for logs.
    InvalidShutdownMessage {
        reason: &'static str,
    },
    /// RFC 4486 §4: the family and the limit that was exceeded.
    MaximumPrefixes {
        family: Family,
        limit: u32,
    },
    /// Bad Message Length: the offending length field.
    BadLength {
        length: u16,
    },
    /// Bad Message Type: the offending type octet.
    BadType {
        message_type: u8,
    },
    /// Unsupported Version Number: the largest version the sender supports.
    SupportedVersion {
        version: u16,
    },
    Raw,
}

impl Notification {
    pub fn new(error: ErrorCode, data: Vec<u8>) -> Self {
        Notification { error, data }
    }

    /// Cease / Administrative Shutdown with an RFC 9003 message, cut at a
    /// character boundary to fit 255 octets.
    pub fn admin_shutdown(message: &str) -> Self {
        Self::with_shutdown_message(CeaseSubcode::AdministrativeShutdown, message)
    }

    /// Cease / Administrative Reset with an RFC 9003 message.
    pub fn admin_reset(message: &str) -> Self {
        Self::with_shutdown_message(CeaseSubcode::AdministrativeReset, message)
    }

    fn with_shutdown_message(subcode: CeaseSubcode, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let data = if text.is_empty() {
            Vec::new()
        } else {
            let mut d = Vec::with_capacity(text.len() + 1);
            d.push(text.len() as u8);
            d.extend_from_slice(text);
            d
        };
        Notification::new(ErrorCode::Cease(subcode), data)
    }

    /// RFC 8538 §3: Cease / Hard Reset carrying `inner` (its code, subcode
    /// and data). Tells a peer that negotiated the N bit that graceful
    /// restart does not apply: it must drop our routes now.
    pub fn hard_reset(inner: &Notification) -> Self {
        let mut data = Vec::with_capacity(2 + inner.data.len());
        data.push(inner.error.code());
        data.push(inner.error.subcode());
        data.extend_from_slice(&inner.data);
        Notification::new(ErrorCode::Cease(CeaseSubcode::HardReset), data)
    }

    /// The NOTIFICATION a Hard Reset carries.
    pub fn hard_reset_inner(&self) -> Option<Notification> {
        match (self.error, &self.data[..]) {
            (ErrorCode::Cease(CeaseSubcode::HardReset), [code, sub, rest @ ..]) => Some(
                Notification::new(ErrorCode::from_wire(*code, *sub), rest.to_vec()),
            ),
            _ => None,
        }
    }

    /// RFC 8538 §5.1: the Cease subcodes that call for a Hard Reset when
    /// the N bit is in use (Administrative Reset is left to the sender; we
    /// keep it graceful, for restarts).
    pub fn wants_hard_reset(&self) -> bool {
        matches!(
            self.error,
            ErrorCode::Cease(
                CeaseSubcode::MaximumPrefixesReached
                    | CeaseSubcode::AdministrativeShutdown
                    | CeaseSubcode::PeerDeconfigured
                    | CeaseSubcode::BfdDown
            )
        )
    }

    /// Interprets the data field where its code defines a shape.
    pub fn data_view(&self) -> NotificationData<'_> {
        let d = &self.data[..];
        match self.error {
            _ if d.is_empty() => NotificationData::None,
            ErrorCode::Cease(
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset,
            ) => match d.split_first() {
                // RFC 9003 §2: a zero length means no message.
                Some((0, [])) => NotificationData::None,
                Some((&len, text)) if usize::from(len) == text.len() => {
                    match std::str::from_utf8(text) {
                        Ok(message) => NotificationData::ShutdownMessage { message },
                        Err(_) => NotificationData::InvalidShutdownMessage {
                            reason: "not valid UTF-8",
                        },
                    }
                }
                _ => NotificationData::InvalidShutdownMessage {
                    reason: "length octet does not match the data",
                },
            },
            ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached) if d.len() == 7 => {
                NotificationData::MaximumPrefixes {
                    family: Family::new(Afi(u16::from_be_bytes([d[0], d[1]])), Safi(d[2])),
                    limit: u32::from_be_bytes([d[3], d[4], d[5], d[6]]),
                }
            }
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageLength) if d.len() == 2 => {
                NotificationData::BadLength {
                    length: u16::from_be_bytes([d[0], d[1]]),
                }
            }
            ErrorCode::MessageHeader(HeaderSubcode::BadMessageType) if d.len() == 1 => {
                NotificationData::BadType { message_type: d[0] }
            }
            ErrorCode::Open(OpenSubcode::UnsupportedVersionNumber) if d.len() == 2 => {
                NotificationData::SupportedVersion {
                    version: u16::from_be_bytes([d[0], d[1]]),
                }
            }
            _ => NotificationData::Raw,
        }
    }

    pub(crate) fn decode(body: &[u8]) -> Notification {
        // The header check guarantees two octets; a NOTIFICATION cannot be
        // answered with another (RFC 4271 §6.4), so there is nothing to fail.
        match body {
            [code, subcode, data @ ..] => {
                Notification::new(ErrorCode::from_wire(*code, *subcode), data.to_vec())
            }
            _ => Notification::new(
                ErrorCode::Unknown {
                    code: 0,
                    subcode: 0,
                },
                Vec::new(),
            ),
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        2 + self.data.len()
    }

    pub(crate) fn encode_body(&self, out: &mut impl BufMut) {
        out.put_u8(self.error.code());
        out.put_u8(self.error.subcode());
        out.put_slice(&self.data);
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(inner) = self.hard_reset_inner() {
            return write!(f, "{} for {inner}", self.error);
        }
        write!(f, "{}", self.error)?;
        match self.data_view() {
            NotificationData::None => Ok(()),
            NotificationData::ShutdownMessage { message } => write!(f, ": {message:?}"),
            NotificationData::InvalidShutdownMessage { reason } => {
                write!(
                    f,
                    ": malformed shutdown message ({reason}), data {}",
                    super::hex(&self.data)
                )
            }
            NotificationData::MaximumPrefixes { family, limit } => {
                write!(f, ": {family} limit {limit}")
            }
            NotificationData::BadLength { length } => write!(f, ": length {length}"),
            NotificationData::BadType { message_type } => write!(f, ": type {message_type}"),
            NotificationData::SupportedVersion { version } => {
                write!(f, ": we support version {version}")
            }
            NotificationData::Raw => write!(f, ", data {}", super::hex(&self.data)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_including_unknown() {
        for code in 0..=9u8 {
            for sub in 0..=12u8 {
                let e = ErrorCode::from_wire(code, sub);
                assert_eq!((e.code(), e.subcode()), (code, sub));
            }
        }
        assert_eq!(
            ErrorCode::from_wire(6, 2).to_string(),
            "Cease / Administrative Shutdown (6/2)"
        );
        assert_eq!(
            ErrorCode::from_wire(4, 0).to_string(),
            "Hold Timer Expired (4/0)"
        );
        assert_eq!(
            ErrorCode::from_wire(3, 42).to_string(),
            "UPDATE Message Error / unknown subcode (3/42)"
        );
    }

    #[test]
    fn shutdown_message_is_cut_at_a_char_boundary() {
        let long = "é".repeat(200); // 400 octets
        let n = Notification::admin_shutdown(&long);
        assert_eq!(n.data[0] as usize, n.data.len() - 1);
        assert!(n.data.len() - 1 <= MAX_SHUTDOWN_MESSAGE_LEN);
        assert!(matches!(
            n.data_view(),
            NotificationData::ShutdownMessage { .. }
        ));
        let bad = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            vec![5, b'a'],
        );
        assert!(matches!(
            bad.data_view(),
            NotificationData::InvalidShutdownMessage { .. }
        ));
    }
}
