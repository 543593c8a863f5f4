//! The properties the fuzz targets check, shared with the regular tests so
//! CI runs them over the seed corpus on every change. Included by path from
//! `fuzz/fuzz_targets/*.rs`.
#![allow(dead_code, unreachable_pub)]

use bgp::types::{Family, FamilySet};
use bgp::wire::{HEADER_LEN, Message, Messages, SessionContext, StreamItem};

/// A session context from one octet, so the fuzzer explores all of them.
pub fn context_from(bits: u8) -> SessionContext {
    let set = |on: bool, f: Family| -> FamilySet {
        if on {
            [f].into_iter().collect()
        } else {
            FamilySet::EMPTY
        }
    };
    let mut add_path = set(bits & 4 != 0, Family::IPV4_UNICAST);
    if bits & 8 != 0 {
        add_path.insert(Family::IPV6_UNICAST);
    }
    SessionContext::symmetric(
        bits & 1 != 0,
        bits & 2 != 0,
        add_path,
        set(bits & 16 != 0, Family::IPV4_UNICAST),
    )
}

/// Fuzz input: [context bits, message type, body...]. A correct header is
/// built around the body so the fuzzer spends its time inside messages.
pub fn message_from(data: &[u8]) -> Option<(SessionContext, Vec<u8>)> {
    let (&bits, rest) = data.split_first()?;
    let (&msg_type, body) = rest.split_first()?;
    let len = HEADER_LEN + body.len();
    if len > usize::from(u16::MAX) {
        return None;
    }
    let mut m = vec![0xFF; 16];
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(msg_type % 8);
    m.extend_from_slice(body);
    Some((context_from(bits), m))
}

/// Decoding never panics; a raw stream is walked to its end.
pub fn decode_never_panics(data: &[u8]) {
    if let Some((ctx, msg)) = message_from(data) {
        let _ = Message::decode(&msg, &ctx);
    }
    if let Some((&bits, stream)) = data.split_first() {
        for item in Messages::new(stream, context_from(bits)) {
            if let StreamItem::Message { result: Err(e), .. } = item {
                let _ = (e.to_string(), e.notification(), e.action());
            }
        }
    }
}

/// Whatever decodes re-encodes; the re-encoded octets decode to the same
/// message (attributes discarded on receipt aside) and encode to themselves.
pub fn decode_encode_decode(data: &[u8]) {
    let Some((ctx, msg)) = message_from(data) else {
        return;
    };
    let Ok(first) = Message::decode(&msg, &ctx) else {
        return;
    };
    let bytes = first
        .to_bytes(&ctx)
        .unwrap_or_else(|e| panic!("decoded message does not encode: {e}\n{first:?}"));
    let second = Message::decode(&bytes, &ctx)
        .unwrap_or_else(|e| panic!("re-encoded message does not decode: {e}\n{first:?}"));
    assert_eq!(
        strip(second.clone()),
        strip(first),
        "decode(encode(m)) != m"
    );
    assert_eq!(
        second.to_bytes(&ctx).unwrap(),
        bytes,
        "encoding is not stable"
    );
}

fn strip(m: Message) -> Message {
    match m {
        Message::Update(mut u) => {
            u.discarded.clear();
            Message::Update(u)
        }
        other => other,
    }
}
