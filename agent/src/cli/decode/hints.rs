//! Suggestions when the input looks like it needs a session context the
//! bytes of one direction cannot show.

use bgp::wire::{
    AttrType, Capability, DecodeError, Fault, HeaderError, Message, MessageType, SessionContext,
    StreamItem, UpdatePart,
};

use super::{As4Source, Entry};

pub(super) fn for_entries(
    ctx: &SessionContext,
    as4: As4Source,
    entries: &[Entry<'_>],
) -> Vec<String> {
    let mut hints = Vec::new();
    let mut as_path_faults = false;
    for e in entries {
        match &e.item {
            StreamItem::Message {
                result: Ok(Message::Open(o)),
                ..
            } => {
                for c in o.capabilities() {
                    let Capability::AddPath(families) = c else {
                        continue;
                    };
                    for f in families {
                        if f.mode.send() && !ctx.add_path_receive.contains(f.family) {
                            push(
                                &mut hints,
                                format!(
                                    "the OPEN offers to send ADD-PATH path identifiers for {}: if the peer \
                                     accepted, decode with --add-path {}",
                                    f.family, f.family
                                ),
                            );
                        }
                    }
                }
            }
            StreamItem::Message {
                result: Err(DecodeError::Update(u)),
                ..
            } => {
                for f in &u.faults {
                    as_path_faults |= matches!(
                        f.part,
                        UpdatePart::Attribute(AttrType::AsPath | AttrType::Aggregator)
                    );
                    if let Fault::Malformed(why) = &f.fault
                        && why.contains("extended next hop")
                    {
                        push(
                            &mut hints,
                            "an IPv4 route carries an IPv6 next hop: if the session negotiated RFC 8950, \
                             decode with --extended-next-hop ipv4-unicast"
                                .into(),
                        );
                    }
                }
            }
            StreamItem::BadHeader {
                error:
                    HeaderError::BadMessageLength {
                        length, msg_type, ..
                    },
                ..
            } if !ctx.extended_message
                && usize::from(*length) > bgp::wire::MAX_MESSAGE_LEN
                && !matches!(msg_type, MessageType::Open | MessageType::Keepalive) =>
            {
                push(
                    &mut hints,
                    format!(
                        "a message of {length} octets ({msg_type}) exceeds 4096: if the session negotiated \
                         extended messages (RFC 8654), decode with --extended-message"
                    ),
                );
            }
            _ => {}
        }
    }
    if as_path_faults && ctx.four_octet_as && as4 != As4Source::Flag {
        push(
            &mut hints,
            "AS numbers were read as 4 octets; if the peer did not announce 4-octet AS \
             (the session then uses 2 octets), decode with --no-as4"
                .into(),
        );
    }
    hints
}

fn push(hints: &mut Vec<String>, h: String) {
    if !hints.contains(&h) {
        hints.push(h);
    }
}
