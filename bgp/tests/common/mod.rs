//! Helpers shared by the wire tests.
#![allow(dead_code, unreachable_pub)]

pub mod fuzz_checks;
pub mod net;

use bgp::wire::{Frame, HEADER_LEN, Message, SessionContext, frame};

/// Hex with any whitespace, `0x` prefixes, `:` or `,` separators.
pub fn h(s: &str) -> Vec<u8> {
    let clean: String = s
        .split_whitespace()
        .map(|w| w.trim_start_matches("0x"))
        .collect::<String>()
        .replace([':', ','], "");
    hex::decode(clean).expect("test vector is valid hex")
}

/// A whole message from a type and a body given as hex.
pub fn msg(msg_type: u8, body_hex: &str) -> Vec<u8> {
    let body = h(body_hex);
    let mut m = vec![0xFF; 16];
    m.extend_from_slice(&((HEADER_LEN + body.len()) as u16).to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(&body);
    m
}

/// Decodes `bytes`, checks they re-encode identically, and checks every
/// truncation. Returns the message for the caller's own assertions.
pub fn roundtrip(bytes: &[u8], ctx: &SessionContext) -> Message {
    let m = Message::decode(bytes, ctx)
        .unwrap_or_else(|e| panic!("vector does not decode: {e}\n{}", hex::encode(bytes)));
    let again = m.to_bytes(ctx).expect("decoded message encodes");
    assert_eq!(
        hex::encode(&again),
        hex::encode(bytes),
        "re-encoding differs for {m:#?}"
    );
    assert_eq!(m.encoded_len(ctx).unwrap(), bytes.len());
    check_truncations(bytes, ctx);
    m
}

/// Every prefix of a message is an error (never a panic), framing reports
/// exactly the missing octets, and every body cut with the length field
/// rewritten to match either fails or decodes to a message that re-encodes
/// to exactly those octets: nothing is silently dropped.
pub fn check_truncations(bytes: &[u8], ctx: &SessionContext) {
    for cut in 0..bytes.len() {
        let part = &bytes[..cut];
        assert!(
            Message::decode(part, ctx).is_err(),
            "a {cut}-octet prefix of a {}-octet message decoded",
            bytes.len()
        );
        match frame(part, ctx) {
            Ok(Frame::Incomplete { needed }) if cut >= HEADER_LEN => {
                assert_eq!(needed, bytes.len() - cut)
            }
            Ok(Frame::Incomplete { needed }) => assert!(needed >= HEADER_LEN - cut),
            other => panic!("frame of a {cut}-octet prefix: {other:?}"),
        }
    }
    for cut in HEADER_LEN..bytes.len() {
        let mut fixed = bytes[..cut].to_vec();
        fixed[16..18].copy_from_slice(&(cut as u16).to_be_bytes());
        if let Ok(m) = Message::decode(&fixed, ctx) {
            let again = m.to_bytes(ctx).expect("decoded message encodes");
            assert_eq!(
                hex::encode(&again),
                hex::encode(&fixed),
                "body cut at {cut} decoded to {m:?} but re-encodes differently"
            );
        }
    }
}

pub fn four_octet() -> SessionContext {
    SessionContext {
        four_octet_as: true,
        ..SessionContext::default()
    }
}
