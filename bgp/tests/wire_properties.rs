//! Property tests: any valid UPDATE (random attributes, random NLRI, random
//! session context) encodes and decodes back to itself, and decoding is
//! total: random octets never panic.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::types::*;
use bgp::wire::*;
use proptest::prelude::*;

fn ctx_strategy() -> impl Strategy<Value = SessionContext> {
    (any::<bool>(), any::<bool>(), 0u8..4, any::<bool>()).prop_map(|(as4, ext, ap, enh)| {
        let mut add_path = FamilySet::EMPTY;
        if ap & 1 != 0 {
            add_path.insert(Family::IPV4_UNICAST);
        }
        if ap & 2 != 0 {
            add_path.insert(Family::IPV6_UNICAST);
        }
        let enh: FamilySet = if enh {
            [Family::IPV4_UNICAST].into_iter().collect()
        } else {
            FamilySet::EMPTY
        };
        SessionContext::symmetric(as4, ext, add_path, enh)
    })
}

fn asn(four_octet: bool) -> impl Strategy<Value = Asn> {
    let max = if four_octet { u32::MAX } else { 0xFFFF };
    (1..=max).prop_map(Asn::new)
}

fn v4_prefix() -> impl Strategy<Value = Ipv4Prefix> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| Ipv4Prefix::new_truncating(Ipv4Addr::from(a), l).unwrap())
}

fn v6_prefix() -> impl Strategy<Value = Ipv6Prefix> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| Ipv6Prefix::new_truncating(Ipv6Addr::from(a), l).unwrap())
}

fn nlri<P: std::fmt::Debug + Clone>(
    p: impl Strategy<Value = P>,
    add_path: bool,
) -> impl Strategy<Value = Nlri<P>> {
    (p, any::<u32>()).prop_map(move |(prefix, id)| Nlri {
        path_id: add_path.then_some(PathId(id)),
        prefix,
    })
}

fn as_path(four_octet: bool) -> impl Strategy<Value = AsPath> {
    let segment = (
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ],
        prop::collection::vec(asn(four_octet), 1..6),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    prop::collection::vec(segment, 0..4).prop_map(|segments| AsPath { segments })
}

fn usable_next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..224, any::<[u8; 3]>())
        .prop_filter("loopback", |(a, _)| *a != 127)
        .prop_map(|(a, [b, c, d])| Ipv4Addr::new(a, b, c, d))
}

/// Optional attributes that may or may not appear (beside the mandatory
/// ones), each valid for the session.
fn optional_attrs(ctx: SessionContext) -> impl Strategy<Value = Vec<AttrValue>> {
    let four = ctx.four_octet_as;
    let aggregator = (asn(four), any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    });
    let choices = (
        prop::option::of(any::<u32>().prop_map(AttrValue::MultiExitDisc)),
        prop::option::of(any::<u32>().prop_map(AttrValue::LocalPref)),
        any::<bool>(),
        prop::option::of(aggregator.prop_map(AttrValue::Aggregator)),
        prop::option::of(
            prop::collection::vec(any::<u32>().prop_map(Community), 1..8)
                .prop_map(AttrValue::Communities),
        ),
        prop::option::of(
            prop::collection::vec(any::<[u8; 8]>().prop_map(ExtCommunity), 1..4)
                .prop_map(AttrValue::ExtendedCommunities),
        ),
        prop::option::of(
            prop::collection::vec(
                any::<(u32, u32, u32)>().prop_map(|(a, b, c)| LargeCommunity::new(a, b, c)),
                1..4,
            )
            .prop_map(AttrValue::LargeCommunities),
        ),
        prop::option::of(any::<u32>().prop_map(|a| AttrValue::OriginatorId(Ipv4Addr::from(a)))),
        prop::option::of(
            prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 1..4)
                .prop_map(AttrValue::ClusterList),
        ),
        prop::option::of((1u32..).prop_map(|a| AttrValue::Otc(Asn::new(a)))),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..300).prop_map(|data| {
            AttrValue::Other {
                type_code: 99,
                data,
            }
        })),
    );
    choices.prop_map(
        |(med, lp, atomic, agg, comm, ext, large, orig, cl, otc, other)| {
            let mut v: Vec<AttrValue> = [med, lp, agg, comm, ext, large, orig, cl, otc, other]
                .into_iter()
                .flatten()
                .collect();
            if atomic {
                v.push(AttrValue::AtomicAggregate);
            }
            v
        },
    )
}

fn update_strategy() -> impl Strategy<Value = (SessionContext, Update)> {
    ctx_strategy().prop_flat_map(|ctx| {
        let ap4 = ctx.add_path_send.contains(Family::IPV4_UNICAST);
        let ap6 = ctx.add_path_send.contains(Family::IPV6_UNICAST);
        (
            Just(ctx),
            prop::collection::vec(nlri(v4_prefix(), ap4), 0..20),
            prop::collection::vec(nlri(v4_prefix(), ap4), 0..20),
            prop::option::of(prop::collection::vec(nlri(v6_prefix(), ap6), 0..20)),
            prop::option::of(prop::collection::vec(nlri(v6_prefix(), ap6), 0..20)),
            prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ],
            as_path(ctx.four_octet_as),
            usable_next_hop(),
            optional_attrs(ctx),
            any::<u64>(),
        )
            .prop_map(
                |(ctx, withdrawn, nlri, reach6, unreach6, origin, path, nh, optional, shuffle)| {
                    let mut attrs = vec![
                        AttrValue::Origin(origin),
                        AttrValue::AsPath(path),
                        AttrValue::NextHop(nh),
                    ];
                    attrs.extend(optional);
                    if let Some(r) = reach6 {
                        attrs.push(AttrValue::MpReachNlri(MpReach::Ipv6 {
                            safi: Safi::UNICAST,
                            next_hop: NextHop::V6 {
                                global: "2001:db8::1".parse().unwrap(),
                                link_local: None,
                            },
                            nlri: r,
                        }));
                    }
                    if let Some(u) = unreach6 {
                        attrs.push(AttrValue::MpUnreachNlri(MpUnreach::Ipv6 {
                            safi: Safi::UNICAST,
                            withdrawn: u,
                        }));
                    }
                    // Any order is legal on the wire; rotate by a random amount.
                    let k = (shuffle as usize) % attrs.len();
                    attrs.rotate_left(k);
                    let mut list: Vec<Attribute> = attrs.into_iter().map(Attribute::new).collect();
                    // Some senders set Extended Length on short attributes.
                    for (i, a) in list.iter_mut().enumerate() {
                        if shuffle >> (i % 64) & 1 == 1 {
                            a.flags.0 |= AttrFlags::EXTENDED_LENGTH;
                        }
                    }
                    (
                        ctx,
                        Update {
                            withdrawn,
                            attributes: PathAttributes(list),
                            nlri,
                            discarded: vec![],
                        },
                    )
                },
            )
    })
}

fn without_ext_len(m: &Message) -> Message {
    let mut m = m.clone();
    if let Message::Update(u) = &mut m {
        for a in &mut u.attributes.0 {
            a.flags.0 &= !AttrFlags::EXTENDED_LENGTH;
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_update_round_trips((ctx, update) in update_strategy()) {
        let msg = Message::Update(update);
        let bytes = match msg.to_bytes(&ctx) {
            Ok(b) => b,
            // Too big for 4096 octets is a legitimate refusal.
            Err(EncodeError::MessageTooLong { .. }) => return Ok(()),
            Err(e) => panic!("valid update refused: {e}"),
        };
        let back = Message::decode(&bytes, &ctx).unwrap_or_else(|e| panic!("{e}"));
        // Values over 255 octets go out with Extended Length whatever the
        // flags said; that bit aside, the message is the same.
        prop_assert_eq!(without_ext_len(&back), without_ext_len(&msg));
        prop_assert_eq!(back.to_bytes(&ctx).unwrap(), bytes);
    }

    #[test]
    fn decoding_random_bodies_never_panics(
        ctx in ctx_strategy(),
        msg_type in 1u8..=5,
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = common::msg(msg_type, &hex::encode(&body));
        if let Ok(m) = Message::decode(&bytes, &ctx) {
            // Whatever decodes re-encodes to a message that decodes the same.
            let again = m.to_bytes(&ctx).expect("decoded message encodes");
            let m2 = Message::decode(&again, &ctx).expect("re-encoded message decodes");
            let strip = |m: Message| match m {
                Message::Update(mut u) => { u.discarded.clear(); Message::Update(u) }
                other => other,
            };
            prop_assert_eq!(strip(m2), strip(m));
        }
    }
}
