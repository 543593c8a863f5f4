use crate::types::FamilySet;

use super::header::{MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};

/// What the two OPENs of a session negotiated that changes the encoding.
///
/// The same bytes mean different things in different sessions: an AS_PATH
/// is 2- or 4-octet, an NLRI starts with a path identifier or not. Decoding
/// uses the receive side of each switch, encoding the send side.
///
/// `SessionContext::default()` is plain RFC 4271, the context in force until
/// both OPENs are exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionContext {
    /// RFC 6793: both sides announced the 4-octet AS capability.
    pub four_octet_as: bool,
    /// RFC 8654: both sides announced extended messages (up to 65535 octets).
    pub extended_message: bool,
    /// RFC 7911: families whose NLRI the peer sends with path identifiers.
    pub add_path_receive: FamilySet,
    /// RFC 7911: families whose NLRI we send with path identifiers.
    pub add_path_send: FamilySet,
    /// RFC 8950: IPv4 families for which we accept an IPv6 next hop.
    pub extended_next_hop_receive: FamilySet,
    /// RFC 8950: IPv4 families for which the peer accepts an IPv6 next hop.
    pub extended_next_hop_send: FamilySet,
}

impl SessionContext {
    /// A session where both directions use the same switches; handy for
    /// tools and round-trip tests.
    pub fn symmetric(
        four_octet_as: bool,
        extended_message: bool,
        add_path: FamilySet,
        extended_next_hop: FamilySet,
    ) -> Self {
        SessionContext {
            four_octet_as,
            extended_message,
            add_path_receive: add_path,
            add_path_send: add_path,
            extended_next_hop_receive: extended_next_hop,
            extended_next_hop_send: extended_next_hop,
        }
    }

    /// The largest message either side may send (RFC 8654 §4).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            MAX_EXTENDED_MESSAGE_LEN
        } else {
            MAX_MESSAGE_LEN
        }
    }
}
