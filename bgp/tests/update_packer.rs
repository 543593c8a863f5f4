//! The UPDATE packer: every prefix arrives, in order, in as few messages as
//! the session's maximum size allows, each a valid message on its own.

mod common;

use std::net::Ipv4Addr;

use bgp::types::{Asn, Community, Family, FamilySet, Ipv4Prefix, Ipv6Prefix, PathId};
use bgp::wire::*;
use common::four_octet;

fn attrs() -> PathAttributes {
    [
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::from_sequence([
            Asn::new(4_200_000_001),
            Asn::new(65001),
        ])),
        AttrValue::MultiExitDisc(10),
        AttrValue::Communities(vec![Community::from_parts(65001, 100)]),
    ]
    .into_iter()
    .collect()
}

fn v4_prefixes(n: u32, len: u8) -> Vec<Nlri<Ipv4Prefix>> {
    (0..n)
        .map(|i| {
            let addr = Ipv4Addr::from(0x0a00_0000 + (i << (32 - u32::from(len))));
            Nlri::new(Ipv4Prefix::new(addr, len).unwrap())
        })
        .collect()
}

fn v6_prefixes(n: u32) -> Vec<Nlri<Ipv6Prefix>> {
    (0..n)
        .map(|i| Nlri::new(format!("fd00:10:244:{i:x}::/64").parse().unwrap()))
        .collect()
}

/// A 4-octet session's packer with `attrs()` encoded for IPv4 unicast.
fn ipv4_packer() -> (SessionContext, UpdatePacker, EncodedAttributes) {
    let ctx = four_octet();
    let packer = UpdatePacker::new(ctx);
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let enc = packer
        .encode_attributes(Family::IPV4_UNICAST, &attrs(), nh)
        .unwrap();
    (ctx, packer, enc)
}

/// Splits a buffer of back-to-back messages and decodes each.
fn decode_all(buf: &[u8], ctx: &SessionContext) -> Vec<(usize, Update)> {
    Messages::new(buf, *ctx)
        .map(|item| match item {
            StreamItem::Message {
                raw,
                result: Ok(Message::Update(u)),
            } => (raw.len(), u),
            other => panic!("packer wrote something that is not an UPDATE: {other:?}"),
        })
        .collect()
}

#[test]
fn ipv4_fills_messages_to_the_limit() {
    let (ctx, packer, enc) = ipv4_packer();
    let prefixes = v4_prefixes(5000, 24);
    let mut out = Vec::new();
    let n = packer.announce(&enc, &prefixes, &mut out).unwrap();
    let msgs = decode_all(&out, &ctx);
    assert_eq!(msgs.len(), n);
    // Every /24 takes 4 octets: the fewest messages is total / room.
    let fixed = msgs[0].0 - 4 * msgs[0].1.nlri.len();
    let per_message = (MAX_MESSAGE_LEN - fixed) / 4;
    assert_eq!(n, prefixes.len().div_ceil(per_message));
    assert!(msgs.iter().all(|(len, _)| *len <= MAX_MESSAGE_LEN));
    assert!(
        msgs[..n - 1]
            .iter()
            .all(|(len, _)| MAX_MESSAGE_LEN - len < 4)
    );
    let got: Vec<_> = msgs.iter().flat_map(|(_, u)| u.nlri.clone()).collect();
    assert_eq!(got, prefixes);
    // The attribute set is the one given, NEXT_HOP in type order.
    let codes: Vec<u8> = msgs[0]
        .1
        .attributes
        .iter()
        .map(|a| a.value.type_code())
        .collect();
    assert_eq!(codes, vec![1, 2, 3, 4, 8]);
    assert_eq!(
        msgs[0].1.attributes.next_hop(),
        Some(&Ipv4Addr::new(192, 0, 2, 1))
    );
}

#[test]
fn mixed_lengths_waste_less_than_one_prefix_per_message() {
    let (ctx, packer, enc) = ipv4_packer();
    let mut prefixes = Vec::new();
    for (i, len) in [32u8, 8, 17, 24, 0, 25]
        .iter()
        .cycle()
        .take(3000)
        .enumerate()
    {
        let addr = Ipv4Addr::from(0x0a00_0000u32.wrapping_add((i as u32) << 8));
        prefixes.push(Nlri::new(Ipv4Prefix::new_truncating(addr, *len).unwrap()));
    }
    let mut out = Vec::new();
    packer.announce(&enc, &prefixes, &mut out).unwrap();
    let msgs = decode_all(&out, &ctx);
    for (len, _) in &msgs[..msgs.len() - 1] {
        assert!(
            MAX_MESSAGE_LEN - len < 5,
            "a message left {} octets unused",
            MAX_MESSAGE_LEN - len
        );
    }
    let got: Vec<_> = msgs.iter().flat_map(|(_, u)| u.nlri.clone()).collect();
    assert_eq!(got, prefixes);
}

#[test]
fn ipv6_goes_in_mp_reach_first() {
    let ctx = SessionContext {
        extended_message: true,
        ..four_octet()
    };
    let packer = UpdatePacker::new(ctx);
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: Some("fe80::1".parse().unwrap()),
    };
    let enc = packer
        .encode_attributes(Family::IPV6_UNICAST, &attrs(), nh)
        .unwrap();
    let prefixes = v6_prefixes(20000);
    let mut out = Vec::new();
    let n = packer.announce(&enc, &prefixes, &mut out).unwrap();
    let msgs = decode_all(&out, &ctx);
    assert_eq!(msgs.len(), n);
    // 9 octets per /64: about 7280 per 65535-octet message.
    assert_eq!(n, 3);
    let mut got = Vec::new();
    for (len, u) in &msgs {
        assert!(*len <= MAX_EXTENDED_MESSAGE_LEN);
        assert!(u.nlri.is_empty());
        assert_eq!(u.attributes.0[0].value.attr_type(), AttrType::MpReachNlri);
        let Some(MpReach::Ipv6 { next_hop, nlri, .. }) = u.attributes.mp_reach() else {
            panic!()
        };
        assert_eq!(*next_hop, nh);
        got.extend(nlri.iter().copied());
        assert_eq!(u.attributes.communities(), attrs().communities());
    }
    assert_eq!(got, prefixes);
}

#[test]
fn withdrawals_both_families() {
    let ctx = four_octet();
    let packer = UpdatePacker::new(ctx);
    let v4 = v4_prefixes(3000, 32);
    let mut out = Vec::new();
    let n4 = packer
        .withdraw(Family::IPV4_UNICAST, &v4, &mut out)
        .unwrap();
    let msgs = decode_all(&out, &ctx);
    assert_eq!(msgs.len(), n4);
    assert_eq!(n4, (3000usize * 5).div_ceil(MAX_MESSAGE_LEN - 23));
    let got: Vec<_> = msgs.iter().flat_map(|(_, u)| u.withdrawn.clone()).collect();
    assert_eq!(got, v4);
    assert!(msgs.iter().all(|(_, u)| u.attributes.is_empty()));

    let v6 = v6_prefixes(1000);
    out.clear();
    packer
        .withdraw(Family::IPV6_UNICAST, &v6, &mut out)
        .unwrap();
    let mut got = Vec::new();
    for (_, u) in decode_all(&out, &ctx) {
        let Some(MpUnreach::Ipv6 { withdrawn, .. }) = u.attributes.mp_unreach() else {
            panic!()
        };
        got.extend(withdrawn.iter().copied());
    }
    assert_eq!(got, v6);
}

#[test]
fn add_path_identifiers_follow_the_session() {
    let fams: FamilySet = [Family::IPV4_UNICAST].into_iter().collect();
    let ctx = SessionContext::symmetric(true, false, fams, FamilySet::EMPTY);
    let packer = UpdatePacker::new(ctx);
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let enc = packer
        .encode_attributes(Family::IPV4_UNICAST, &attrs(), nh)
        .unwrap();
    let with_ids: Vec<_> = v4_prefixes(10, 24)
        .into_iter()
        .enumerate()
        .map(|(i, n)| Nlri::with_path_id(n.prefix, PathId(i as u32)))
        .collect();
    let mut out = Vec::new();
    packer.announce(&enc, &with_ids, &mut out).unwrap();
    assert_eq!(decode_all(&out, &ctx)[0].1.nlri, with_ids);
    assert_eq!(
        packer.announce(&enc, &v4_prefixes(1, 24), &mut out),
        Err(EncodeError::PathIdMissing {
            family: Family::IPV4_UNICAST
        })
    );
}

#[test]
fn ipv4_with_ipv6_next_hop_needs_rfc8950() {
    let nh = NextHop::V6 {
        global: "2001:db8::1".parse().unwrap(),
        link_local: None,
    };
    let plain = UpdatePacker::new(four_octet());
    assert_eq!(
        plain.encode_attributes(Family::IPV4_UNICAST, &attrs(), nh),
        Err(EncodeError::ExtendedNextHopNotNegotiated {
            family: Family::IPV4_UNICAST
        })
    );
    let fams: FamilySet = [Family::IPV4_UNICAST].into_iter().collect();
    let ctx = SessionContext::symmetric(true, false, FamilySet::EMPTY, fams);
    let packer = UpdatePacker::new(ctx);
    let enc = packer
        .encode_attributes(Family::IPV4_UNICAST, &attrs(), nh)
        .unwrap();
    let mut out = Vec::new();
    packer
        .announce(&enc, &v4_prefixes(3, 24), &mut out)
        .unwrap();
    let (_, u) = &decode_all(&out, &ctx)[0];
    let Some(MpReach::Ipv4 { next_hop, nlri, .. }) = u.attributes.mp_reach() else {
        panic!()
    };
    assert_eq!((*next_hop, nlri.len()), (nh, 3));
}

#[test]
fn attribute_sets_may_not_carry_what_the_packer_writes() {
    let packer = UpdatePacker::new(four_octet());
    let mut a = attrs();
    a.push(AttrValue::NextHop(Ipv4Addr::new(192, 0, 2, 9)));
    assert_eq!(
        packer.encode_attributes(
            Family::IPV4_UNICAST,
            &a,
            NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))
        ),
        Err(EncodeError::AttributeNotAllowed(AttrType::NextHop))
    );
}

#[test]
fn two_octet_sessions_get_as4_path() {
    let ctx = SessionContext::default();
    let packer = UpdatePacker::new(ctx);
    let for_old = attributes_for_two_octet_peer(&attrs());
    let nh = NextHop::V4(Ipv4Addr::new(192, 0, 2, 1));
    let enc = packer
        .encode_attributes(Family::IPV4_UNICAST, &for_old, nh)
        .unwrap();
    let mut out = Vec::new();
    packer
        .announce(&enc, &v4_prefixes(1, 24), &mut out)
        .unwrap();
    let (_, u) = &decode_all(&out, &ctx)[0];
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "23456 65001");
    let (path, _) = u.attributes.effective_as_path();
    assert_eq!(path.unwrap().to_string(), "4200000001 65001");
}
