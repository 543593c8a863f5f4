//! Malformed input: every case names the fault, the RFC 7606 action and the
//! NOTIFICATION (code/subcode/data) it must produce, with the RFC section.

mod common;

use bgp::types::{Family, Ipv4Prefix};
use bgp::wire::*;
use common::{four_octet, h, msg};

fn decode_err(bytes: &[u8], ctx: &SessionContext) -> DecodeError {
    match Message::decode(bytes, ctx) {
        Ok(m) => panic!("decoded a malformed message: {m:?}"),
        Err(e) => e,
    }
}

fn expect(
    bytes: &[u8],
    ctx: &SessionContext,
    action: Action,
    code: u8,
    sub: u8,
    data: &str,
) -> DecodeError {
    let e = decode_err(bytes, ctx);
    let n = e.notification();
    assert_eq!(e.action(), action, "{e}");
    assert_eq!((n.error.code(), n.error.subcode()), (code, sub), "{e}");
    assert_eq!(hex::encode(&n.data), hex::encode(h(data)), "{e}");
    e
}

// ------------------------------------------------------- RFC 4271 §6.1

#[test]
fn header_errors() {
    let ctx = SessionContext::default();
    let mut bad_marker = msg(4, "");
    bad_marker[3] = 0;
    expect(&bad_marker, &ctx, Action::SessionReset, 1, 1, "");
    let mut short = msg(2, "0000 0000");
    short[16..18].copy_from_slice(&18u16.to_be_bytes());
    expect(&short[..18], &ctx, Action::SessionReset, 1, 2, "0012");
    expect(&msg(9, ""), &ctx, Action::SessionReset, 1, 3, "09");
    // KEEPALIVE is exactly 19 octets; OPEN at least 29; NOTIFICATION 21.
    expect(&msg(4, "00"), &ctx, Action::SessionReset, 1, 2, "0014");
    expect(
        &msg(1, "04 fde9 00b4 c0000201"),
        &ctx,
        Action::SessionReset,
        1,
        2,
        "001c",
    );
    expect(&msg(3, "06"), &ctx, Action::SessionReset, 1, 2, "0014");
}

// ------------------------------------------------------- RFC 4271 §6.2

#[test]
fn open_errors() {
    let ctx = SessionContext::default();
    // Unsupported version: data is the version we support, 2 octets.
    expect(
        &msg(1, "03 fde9 00b4 c0000201 00"),
        &ctx,
        Action::SessionReset,
        2,
        1,
        "0004",
    );
    // RFC 7607: AS 0, in My AS or in the 4-octet capability.
    expect(
        &msg(1, "04 0000 00b4 c0000201 00"),
        &ctx,
        Action::SessionReset,
        2,
        2,
        "",
    );
    expect(
        &msg(1, "04 5ba0 00b4 c0000201 08 0206 4104 00000000"),
        &ctx,
        Action::SessionReset,
        2,
        2,
        "",
    );
    // RFC 6286 §2.2: identifier 0.
    expect(
        &msg(1, "04 fde9 00b4 00000000 00"),
        &ctx,
        Action::SessionReset,
        2,
        3,
        "",
    );
    // RFC 4271 §4.2: hold time 1 or 2.
    for hold in ["0001", "0002"] {
        expect(
            &msg(1, &format!("04 fde9 {hold} c0000201 00")),
            &ctx,
            Action::SessionReset,
            2,
            6,
            "",
        );
    }
    // Deprecated authentication parameter (type 1).
    expect(
        &msg(1, "04 fde9 00b4 c0000201 03 01 01 00"),
        &ctx,
        Action::SessionReset,
        2,
        4,
        "",
    );
    // Malformed capability (multiprotocol of length 3) and bad lengths:
    // subcode 0, "recognized but malformed".
    expect(
        &msg(1, "04 fde9 00b4 c0000201 07 02 05 01 03 000100"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
    expect(
        &msg(1, "04 fde9 00b4 c0000201 05 02 04 01 04"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
    expect(
        &msg(1, "04 fde9 00b4 c0000201 09 02 06 01040001 0001"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
    expect(
        &msg(1, "04 fde9 00b4 c0000201 00 ff"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
    // Route refresh capability with a value.
    expect(
        &msg(1, "04 fde9 00b4 c0000201 05 02 03 02 01 00"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
    // RFC 9072 extended length that does not match.
    expect(
        &msg(1, "04 fde9 00b4 c0000201 ff ff 0009 02 0004 0200 0600"),
        &ctx,
        Action::SessionReset,
        2,
        0,
        "",
    );
}

// ------------------------------------------------------- UPDATE, RFC 4271 §6.3 as revised by RFC 7606

const ORIGIN: &str = "40010100";
const AS_PATH: &str = "4002 06 0201 0000fde9";
const NEXT_HOP: &str = "4003 04 c0000201";
const NLRI: &str = "180af401";

/// An UPDATE with the given attributes and NLRI, lengths filled in.
fn upd(attrs: &str, nlri: &str) -> Vec<u8> {
    let a = h(attrs);
    msg(
        2,
        &format!("0000 {:04x} {} {}", a.len(), hex::encode(&a), nlri),
    )
}

fn upd_err(attrs: &str, nlri: &str) -> Box<UpdateError> {
    match decode_err(&upd(attrs, nlri), &four_octet()) {
        DecodeError::Update(e) => e,
        other => panic!("{other}"),
    }
}

/// Treat-as-withdraw keeps the session and hands back what to withdraw.
fn withdraws(e: &UpdateError) -> Vec<Ipv4Prefix> {
    assert_eq!(e.action, Action::TreatAsWithdraw, "{e}");
    e.update
        .as_ref()
        .unwrap()
        .nlri
        .iter()
        .map(|n| n.prefix)
        .collect()
}

#[test]
fn lengths_exceeding_the_message_reset_the_session() {
    // Withdrawn Routes Length + Total Attribute Length exceed the message.
    let bytes = msg(2, "0005 180af401");
    expect(&bytes, &four_octet(), Action::SessionReset, 3, 1, "");
    let bytes = msg(2, "0000 0009 40010100");
    expect(&bytes, &four_octet(), Action::SessionReset, 3, 1, "");
}

#[test]
fn origin_errors_treat_as_withdraw() {
    // RFC 7606 §7.1: bad length or undefined value.
    let e = upd_err(&format!("4001 02 0000 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_eq!(withdraws(&e), vec!["10.244.1.0/24".parse().unwrap()]);
    assert_eq!(
        e.notification.error,
        ErrorCode::Update(UpdateSubcode::AttributeLengthError)
    );
    assert_eq!(e.notification.data, h("4001020000"));
    let e = upd_err(&format!("4001 01 03 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_eq!(
        e.notification.error,
        ErrorCode::Update(UpdateSubcode::InvalidOriginAttribute)
    );
    assert_eq!(withdraws(&e).len(), 1);
}

#[test]
fn as_path_errors_treat_as_withdraw() {
    // RFC 7606 §7.2: undefined segment type, empty segment, overrun; RFC
    // 7607: AS 0. RFC 4271 sends Malformed AS_PATH without data.
    for path in [
        "4002 06 0701 0000fde9",
        "4002 02 0200",
        "4002 06 0202 0000fde9",
        "4002 06 0201 00000000",
    ] {
        let e = upd_err(&format!("{ORIGIN} {path} {NEXT_HOP}"), NLRI);
        assert_eq!(withdraws(&e).len(), 1, "{path}");
        assert_eq!(
            e.notification.error,
            ErrorCode::Update(UpdateSubcode::MalformedAsPath)
        );
        assert!(e.notification.data.is_empty());
    }
}

#[test]
fn next_hop_errors_treat_as_withdraw() {
    // RFC 7606 §7.3: wrong length, or an address that cannot be a next hop.
    let e = upd_err(&format!("{ORIGIN} {AS_PATH} 4003 05 c000020100"), NLRI);
    assert_eq!(withdraws(&e).len(), 1);
    for addr in ["00000000", "7f000001", "e0000001", "ffffffff", "f0000001"] {
        let e = upd_err(&format!("{ORIGIN} {AS_PATH} 4003 04 {addr}"), NLRI);
        assert_eq!(
            e.notification.error,
            ErrorCode::Update(UpdateSubcode::InvalidNextHopAttribute)
        );
        assert_eq!(e.notification.data, h(&format!("400304{addr}")));
        assert_eq!(withdraws(&e).len(), 1);
    }
}

#[test]
fn missing_mandatory_attributes_treat_as_withdraw() {
    // RFC 7606 §3 (d); data is the missing type code (RFC 4271 §6.3).
    for (attrs, missing) in [
        (format!("{AS_PATH} {NEXT_HOP}"), "01"),
        (format!("{ORIGIN} {NEXT_HOP}"), "02"),
        (format!("{ORIGIN} {AS_PATH}"), "03"),
    ] {
        let e = upd_err(&attrs, NLRI);
        assert_eq!(withdraws(&e).len(), 1);
        assert_eq!(
            e.notification.error,
            ErrorCode::Update(UpdateSubcode::MissingWellKnownAttribute)
        );
        assert_eq!(e.notification.data, h(missing));
    }
    // No NLRI: nothing is mandatory (a withdrawal, or attributes alone).
    Message::decode(&upd("", ""), &four_octet()).unwrap();
    Message::decode(&upd(AS_PATH, ""), &four_octet()).unwrap();
    // MP_REACH_NLRI needs ORIGIN and AS_PATH but not NEXT_HOP.
    let mp = "900e 0015 0002 01 10 20010db8000000000000000000000001 00";
    Message::decode(&upd(&format!("{mp} {ORIGIN} {AS_PATH}"), ""), &four_octet()).unwrap();
    let e = upd_err(&format!("{mp} {ORIGIN}"), "");
    assert_eq!(e.action, Action::TreatAsWithdraw);
}

#[test]
fn flag_conflicts_treat_as_withdraw() {
    // RFC 7606 §3 (c): ORIGIN marked optional; COMMUNITIES marked well-known.
    let e = upd_err(&format!("c0010100 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_eq!(withdraws(&e).len(), 1);
    assert_eq!(
        e.notification.error,
        ErrorCode::Update(UpdateSubcode::AttributeFlagsError)
    );
    assert_eq!(e.notification.data, h("c0010100"));
    let e = upd_err(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 4008 04 fde90064"),
        NLRI,
    );
    assert_eq!(withdraws(&e).len(), 1);
}

#[test]
fn list_attributes_with_bad_lengths_treat_as_withdraw() {
    // RFC 7606 §7.8, §7.10, §7.14, RFC 8092 §6, RFC 9234 §5; a zero length
    // is malformed too.
    for bad in [
        "c008 03 fde900",
        "c008 00",
        "800a 05 c000020300",
        "c010 07 00020000000000",
        "c020 0b 0000000100000002000000",
        "c023 02 0001",
        "8004 03 000000",
        "4005 00",
        "8009 08 c0000201c0000201",
    ] {
        let e = upd_err(&format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {bad}"), NLRI);
        assert_eq!(withdraws(&e).len(), 1, "{bad}");
        assert_eq!(
            e.notification.error,
            ErrorCode::Update(UpdateSubcode::AttributeLengthError)
        );
        assert_eq!(e.notification.data, h(bad));
    }
}

#[test]
fn attribute_discard_cases_still_decode() {
    let ctx = four_octet();
    for (bad, fault) in [
        // RFC 7606 §7.6 and §7.7.
        ("4006 01 00", "length"),
        ("c007 06 fde9c0000201", "length"),
        // RFC 7607: AS 0 in AGGREGATOR.
        ("c007 08 00000000 c0000201", "AS 0"),
        // RFC 7606 §3 (g): a repeated attribute after the first.
        ("c008 04 fde90064 c008 04 fde90065", "more than once"),
    ] {
        let m = Message::decode(
            &upd(&format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {bad}"), NLRI),
            &ctx,
        )
        .unwrap_or_else(|e| panic!("{bad}: {e}"));
        let Message::Update(u) = m else { panic!() };
        assert_eq!(u.discarded.len(), 1, "{bad}");
        assert_eq!(u.discarded[0].action, Action::AttributeDiscard);
        assert!(
            u.discarded[0].fault.to_string().contains(fault),
            "{}",
            u.discarded[0]
        );
        assert_eq!(u.nlri.len(), 1);
    }
    // The first COMMUNITIES is the one kept.
    let m = Message::decode(
        &upd(
            &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c008 04 fde90064 c008 04 fde90065"),
            NLRI,
        ),
        &ctx,
    )
    .unwrap();
    let Message::Update(u) = m else { panic!() };
    assert_eq!(
        u.attributes.communities().unwrap()[0].to_string(),
        "65001:100"
    );
}

#[test]
fn as4_attribute_errors_are_discarded() {
    // RFC 6793 §6, on a 2-octet session: malformed AS4_PATH (confederation
    // segment, bad flags) and AS4_AGGREGATOR (length) are discarded.
    let ctx = SessionContext::default();
    let base = format!("{ORIGIN} 4002 04 0201 fde9 {NEXT_HOP}");
    for bad in [
        "c011 06 0301 fa56ea01",
        "4011 06 0201 fa56ea01",
        "c012 06 fa56c0000201",
    ] {
        let m = Message::decode(&upd(&format!("{base} {bad}"), NLRI), &ctx)
            .unwrap_or_else(|e| panic!("{bad}: {e}"));
        let Message::Update(u) = m else { panic!() };
        assert_eq!(u.discarded.len(), 1, "{bad}");
        assert!(u.attributes.as4_path().is_none() && u.attributes.as4_aggregator().is_none());
    }
}

#[test]
fn unrecognized_well_known_attribute_resets() {
    // RFC 4271 §6.3 (unchanged by RFC 7606): data is the attribute.
    let e = expect(
        &upd(&format!("{ORIGIN} {AS_PATH} {NEXT_HOP} 4063 01 aa"), NLRI),
        &four_octet(),
        Action::SessionReset,
        3,
        2,
        "406301aa",
    );
    assert!(e.to_string().contains("not recognized"));
}

#[test]
fn attribute_overrun() {
    // RFC 7606 §4: the last attribute overruns the attribute field. The
    // NLRI are still found from Total Attribute Length: treat-as-withdraw.
    let bytes = msg(
        2,
        &format!("0000 0018 {ORIGIN} {AS_PATH} {NEXT_HOP} c008 04 fd {NLRI}"),
    );
    let DecodeError::Update(e) = decode_err(&bytes, &four_octet()) else {
        panic!()
    };
    assert_eq!(withdraws(&e), vec!["10.244.1.0/24".parse().unwrap()]);
    // Fewer octets than an attribute header left over.
    let bytes = msg(
        2,
        &format!("0000 0016 {ORIGIN} {AS_PATH} {NEXT_HOP} c008 {NLRI}"),
    );
    let DecodeError::Update(e) = decode_err(&bytes, &four_octet()) else {
        panic!()
    };
    assert_eq!(e.action, Action::TreatAsWithdraw);
    // An overrunning MP attribute hides the NLRI to withdraw: reset.
    let bytes = msg(2, "0000 0008 900e 0010 0002 0110");
    expect(
        &bytes,
        &four_octet(),
        Action::SessionReset,
        3,
        5,
        "900e001000020110",
    );
}

#[test]
fn mp_attribute_errors_disable_the_family() {
    // RFC 7606 §7.11: a next hop length that cannot be right.
    let bytes = upd(
        &format!("900e 000a 0002 01 05 0102030405 00 {ORIGIN} {AS_PATH}"),
        "",
    );
    let e = decode_err(&bytes, &four_octet());
    assert_eq!(e.action(), Action::AfiSafiDisable(Family::IPV6_UNICAST));
    assert_eq!(
        e.notification().error,
        ErrorCode::Update(UpdateSubcode::OptionalAttributeError)
    );
    // RFC 7606 §5.3: a malformed MP NLRI field.
    let bytes = upd("800f 05 000201 81 00", "");
    assert_eq!(
        decode_err(&bytes, &four_octet()).action(),
        Action::AfiSafiDisable(Family::IPV6_UNICAST)
    );
    // Too short to name a family: only a reset is left.
    let bytes = upd("800f 02 0002", "");
    assert_eq!(
        decode_err(&bytes, &four_octet()).action(),
        Action::SessionReset
    );
    // RFC 7606 §3 (g): MP_REACH_NLRI twice.
    let mp = "800f 03 000201";
    expect(
        &upd(&format!("{mp} {mp}"), ""),
        &four_octet(),
        Action::SessionReset,
        3,
        1,
        "",
    );
}

#[test]
fn malformed_nlri_fields_reset_the_session() {
    // RFC 7606 §5.3: no reliable way to tell what to withdraw.
    let attrs = format!("{ORIGIN} {AS_PATH} {NEXT_HOP}");
    expect(
        &upd(&attrs, "21 0a000001 00"),
        &four_octet(),
        Action::SessionReset,
        3,
        10,
        "",
    );
    expect(
        &upd(&attrs, "18 0a00"),
        &four_octet(),
        Action::SessionReset,
        3,
        10,
        "",
    );
    let bytes = msg(2, "0002 190a 0000");
    expect(&bytes, &four_octet(), Action::SessionReset, 3, 10, "");
}

#[test]
fn the_strongest_action_wins() {
    // RFC 7606 §3 (i): a discard and a treat-as-withdraw give
    // treat-as-withdraw; add a reset and it is a reset.
    let e = upd_err(&format!("4001 01 07 {AS_PATH} {NEXT_HOP} 4006 01 00"), NLRI);
    assert_eq!(e.action, Action::TreatAsWithdraw);
    assert_eq!(e.faults.len(), 2);
    let e = upd_err(&format!("4001 01 07 {AS_PATH} {NEXT_HOP} 4063 00"), NLRI);
    assert_eq!(e.action, Action::SessionReset);
    assert_eq!(
        e.notification.error,
        ErrorCode::Update(UpdateSubcode::UnrecognizedWellKnownAttribute)
    );
}

// ------------------------------------------------------- RFC 7313 §5

#[test]
fn route_refresh_length_errors() {
    let ctx = SessionContext::default();
    // BoRR / EoRR must be exactly 23 octets; data is the whole message.
    let bytes = msg(5, "0001 01 01 00");
    expect(
        &bytes,
        &ctx,
        Action::SessionReset,
        7,
        1,
        &hex::encode(&bytes),
    );
    let bytes = msg(5, "0001 00");
    expect(
        &bytes,
        &ctx,
        Action::SessionReset,
        7,
        1,
        &hex::encode(&bytes),
    );
}

#[test]
fn errors_explain_themselves() {
    let e = upd_err(
        &format!("{ORIGIN} {AS_PATH} {NEXT_HOP} c020 0b 0000000100000002000000"),
        NLRI,
    );
    assert_eq!(
        e.to_string(),
        "LARGE_COMMUNITY: length 11 is invalid (expected a non-zero multiple of 12) -> treat-as-withdraw"
    );
}
