//! Decode and encode errors. A decode error names the fault and already
//! knows the consequence: the NOTIFICATION of RFC 4271 §6 and, for UPDATE,
//! the RFC 7606 action. The session never has to work that out again.

use std::fmt;

use serde::Serialize;

use super::attribute::AttrType;
use super::header::MessageType;
use super::notification::{
    ErrorCode, HeaderSubcode, Notification, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};
use super::update::Update;
use crate::types::Family;

/// Anything wrong with a received message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("message header: {0}")]
    Header(#[from] HeaderError),
    #[error("OPEN: {0}")]
    Open(#[from] OpenError),
    #[error("UPDATE: {0}")]
    Update(#[from] Box<UpdateError>),
    #[error("ROUTE-REFRESH: {0}")]
    RouteRefresh(#[from] RouteRefreshError),
}

impl DecodeError {
    /// What the session must do about it.
    pub fn action(&self) -> Action {
        match self {
            DecodeError::Update(e) => e.action,
            _ => Action::SessionReset,
        }
    }

    /// The NOTIFICATION that RFC 4271 §6 attaches to this error. It is sent
    /// when [`action`](Self::action) is a session reset; for the milder RFC
    /// 7606 actions it is what a pre-7606 speaker would have sent, useful
    /// in logs.
    pub fn notification(&self) -> Notification {
        match self {
            DecodeError::Header(e) => e.notification(),
            DecodeError::Open(e) => e.notification(),
            DecodeError::Update(e) => e.notification.clone(),
            DecodeError::RouteRefresh(e) => e.notification(),
        }
    }
}

/// RFC 4271 §6.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("marker is not all ones: the stream is not synchronized")]
    ConnectionNotSynchronized,
    #[error("length {length} is outside {min}..={max} for {msg_type}")]
    BadMessageLength {
        length: u16,
        msg_type: MessageType,
        min: usize,
        max: usize,
    },
    #[error("unknown message type {0}")]
    BadMessageType(u8),
}

impl HeaderError {
    pub fn notification(&self) -> Notification {
        let (sub, data) = match *self {
            HeaderError::ConnectionNotSynchronized => {
                (HeaderSubcode::ConnectionNotSynchronized, vec![])
            }
            HeaderError::BadMessageLength { length, .. } => (
                HeaderSubcode::BadMessageLength,
                length.to_be_bytes().to_vec(),
            ),
            HeaderError::BadMessageType(t) => (HeaderSubcode::BadMessageType, vec![t]),
        };
        Notification::new(ErrorCode::MessageHeader(sub), data)
    }
}

/// RFC 4271 §6.2 and RFC 5492: faults visible in the OPEN bytes alone.
/// Checks that need configuration (expected peer AS, our own identifier)
/// belong to the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("version {0} is not supported (only BGP-4)")]
    UnsupportedVersion(u8),
    #[error("AS 0 is not a valid peer AS (RFC 7607)")]
    ZeroAs,
    #[error("BGP identifier 0.0.0.0 is not valid (RFC 6286)")]
    ZeroBgpIdentifier,
    #[error("hold time {0} s is not allowed (0 or at least 3, RFC 4271 §4.2)")]
    UnacceptableHoldTime(u16),
    #[error("optional parameter type {0} is not supported")]
    UnsupportedOptionalParameter(u8),
    #[error("optional parameters are malformed: {0}")]
    MalformedOptionalParameters(&'static str),
    #[error("capability {code} is malformed: {reason}")]
    MalformedCapability { code: u8, reason: &'static str },
}

impl OpenError {
    pub fn notification(&self) -> Notification {
        let (sub, data) = match self {
            // RFC 4271 §6.2: data is the largest locally supported version.
            OpenError::UnsupportedVersion(_) => (OpenSubcode::UnsupportedVersionNumber, vec![0, 4]),
            OpenError::ZeroAs => (OpenSubcode::BadPeerAs, vec![]),
            OpenError::ZeroBgpIdentifier => (OpenSubcode::BadBgpIdentifier, vec![]),
            OpenError::UnacceptableHoldTime(_) => (OpenSubcode::UnacceptableHoldTime, vec![]),
            OpenError::UnsupportedOptionalParameter(_) => {
                (OpenSubcode::UnsupportedOptionalParameter, vec![])
            }
            // RFC 4271 §6.2: a recognized but malformed optional parameter
            // gets subcode 0.
            OpenError::MalformedOptionalParameters(_) | OpenError::MalformedCapability { .. } => {
                (OpenSubcode::Unspecific, vec![])
            }
        };
        Notification::new(ErrorCode::Open(sub), data)
    }
}

/// RFC 7313 §5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteRefreshError {
    #[error("length {length} is invalid for subtype {subtype}")]
    InvalidLength {
        length: usize,
        subtype: u8,
        /// The whole message: RFC 7313 §5 returns it as NOTIFICATION data.
        message: Vec<u8>,
    },
}

impl RouteRefreshError {
    pub fn notification(&self) -> Notification {
        let RouteRefreshError::InvalidLength { message, .. } = self;
        Notification::new(
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
            message.clone(),
        )
    }
}

/// The RFC 7606 §2 approaches, weakest first: when several faults meet in
/// one UPDATE, the strongest wins (RFC 7606 §3 (i)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "action", content = "family", rename_all = "kebab-case")]
pub enum Action {
    /// Drop the attribute, keep the route.
    AttributeDiscard,
    /// Keep the session; every NLRI in the message becomes a withdrawal.
    TreatAsWithdraw,
    /// RFC 4760 §7: drop the family's routes from this peer (or reset).
    AfiSafiDisable(Family),
    /// Send the NOTIFICATION and close.
    SessionReset,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::AttributeDiscard => f.write_str("attribute discard"),
            Action::TreatAsWithdraw => f.write_str("treat-as-withdraw"),
            Action::AfiSafiDisable(fam) => write!(f, "AFI/SAFI disable ({fam})"),
            Action::SessionReset => f.write_str("session reset"),
        }
    }
}

/// Where in an UPDATE a fault was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePart {
    /// The withdrawn-routes and path-attribute length fields.
    Lengths,
    WithdrawnRoutes,
    Attribute(AttrType),
    Nlri,
}

impl fmt::Display for UpdatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdatePart::Lengths => f.write_str("length fields"),
            UpdatePart::WithdrawnRoutes => f.write_str("withdrawn routes"),
            UpdatePart::Attribute(t) => write!(f, "{t}"),
            UpdatePart::Nlri => f.write_str("NLRI"),
        }
    }
}

/// What exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Fault {
    #[error("withdrawn routes length and attribute length exceed the message")]
    LengthsExceedMessage,
    #[error("prefix length {len} exceeds {max}")]
    PrefixTooLong { len: u8, max: u8 },
    #[error("prefix is cut short")]
    PrefixTruncated,
    #[error("attribute runs past the end of the path attributes")]
    AttributeOverrun,
    #[error("flags 0x{flags:02x} conflict with the attribute's optional/transitive bits")]
    FlagsConflict { flags: u8 },
    #[error("length {length} is invalid (expected {expected})")]
    BadLength {
        length: usize,
        expected: &'static str,
    },
    #[error("ORIGIN value {0} is undefined")]
    InvalidOrigin(u8),
    #[error("{0}")]
    MalformedAsPath(&'static str),
    #[error("AS 0 is not allowed (RFC 7607)")]
    ZeroAs,
    #[error("next hop {0} cannot be a next hop")]
    InvalidNextHop(String),
    #[error("{0}")]
    Malformed(&'static str),
    #[error("attribute appears more than once")]
    Duplicate,
    #[error("mandatory attribute is missing")]
    Missing,
    #[error("well-known attribute is not recognized")]
    UnrecognizedWellKnown,
    #[error("AS4 attributes are not used between 4-octet AS speakers (RFC 6793 §4.1)")]
    As4OnFourOctetSession,
}

/// One fault in an UPDATE with its consequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformation {
    pub part: UpdatePart,
    pub fault: Fault,
    pub action: Action,
    /// The RFC 4271 §6.3 NOTIFICATION this fault maps to.
    pub notification: Notification,
}

impl Malformation {
    pub(crate) fn new(
        part: UpdatePart,
        fault: Fault,
        action: Action,
        subcode: UpdateSubcode,
        data: Vec<u8>,
    ) -> Self {
        Malformation {
            part,
            fault,
            action,
            notification: Notification::new(ErrorCode::Update(subcode), data),
        }
    }
}

impl fmt::Display for Malformation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.part, self.fault, self.action)
    }
}

/// An UPDATE that cannot be taken as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateError {
    /// The strongest action among the faults; never attribute discard
    /// (an UPDATE with only discardable faults decodes, listing them in
    /// [`Update::discarded`]).
    pub action: Action,
    /// Every fault found, in message order.
    pub faults: Vec<Malformation>,
    /// The NOTIFICATION of the first fault with the strongest action.
    pub notification: Notification,
    /// What could be decoded. Under treat-as-withdraw and AFI/SAFI disable
    /// this holds every NLRI the message carried, to be withdrawn.
    pub update: Option<Update>,
}

impl UpdateError {
    pub(crate) fn from_faults(faults: Vec<Malformation>, update: Option<Update>) -> Box<Self> {
        let mut strongest: Option<&Malformation> = None;
        let mut disabled: Option<Family> = None;
        let mut several_families = false;
        for m in &faults {
            if let Action::AfiSafiDisable(f) = m.action {
                several_families |= disabled.is_some_and(|d| d != f);
                disabled = Some(f);
            }
            if strongest.is_none_or(|s| m.action > s.action) {
                strongest = Some(m);
            }
        }
        let (mut action, notification) = match strongest {
            Some(m) => (m.action, m.notification.clone()),
            None => (
                Action::SessionReset,
                Notification::new(ErrorCode::Update(UpdateSubcode::Unspecific), vec![]),
            ),
        };
        // Disabling two families from one message is no longer "the" family.
        if several_families && matches!(action, Action::AfiSafiDisable(_)) {
            action = Action::SessionReset;
        }
        Box::new(UpdateError {
            action,
            faults,
            notification,
            update,
        })
    }
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for m in &self.faults {
            write!(f, "{sep}{}: {}", m.part, m.fault)?;
            sep = "; ";
        }
        write!(f, " -> {}", self.action)
    }
}

impl std::error::Error for UpdateError {}

/// A message that cannot be put on the wire as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("message would be {length} octets; the session allows {max}")]
    MessageTooLong { length: usize, max: usize },
    #[error("{what} is {length} octets; the field holds at most {max}")]
    FieldTooLong {
        what: &'static str,
        length: usize,
        max: usize,
    },
    #[error("{family} NLRI must carry a path identifier on this session (ADD-PATH send)")]
    PathIdMissing { family: Family },
    #[error("{family} NLRI must not carry a path identifier on this session")]
    PathIdUnexpected { family: Family },
    #[error("{family} is not an IP prefix family")]
    NotAnIpFamily { family: Family },
    #[error("an IPv6 next hop for {family} needs the extended next hop capability (RFC 8950)")]
    ExtendedNextHopNotNegotiated { family: Family },
    #[error("{0} is set by the UPDATE packer, not by the attribute set")]
    AttributeNotAllowed(AttrType),
}
