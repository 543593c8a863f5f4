//! Hand-made wire vectors, both ways: the octets below were written from
//! the RFC layouts (not produced by our encoder); each must decode to the
//! stated values and encode back to the same octets. Every vector is also
//! cut at every length (see `common::check_truncations`).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp::types::{
    Afi, Asn, Community, ExtCommunity, Family, FamilySet, HoldTime, Ipv4Prefix, Ipv6Prefix,
    LargeCommunity, PathId, RouterId, Safi,
};
use bgp::wire::*;
use common::{four_octet, h, msg, roundtrip};

fn v4(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Prefix {
    s.parse().unwrap()
}

fn update(m: Message) -> Update {
    match m {
        Message::Update(u) => u,
        other => panic!("expected UPDATE, got {other:?}"),
    }
}

fn open(m: Message) -> Open {
    match m {
        Message::Open(o) => o,
        other => panic!("expected OPEN, got {other:?}"),
    }
}

// ---------------------------------------------------------------- OPEN

#[test]
fn open_without_parameters() {
    let bytes = msg(1, "04 fde9 00b4 c0000201 00");
    let o = open(roundtrip(&bytes, &SessionContext::default()));
    assert_eq!(o.asn(), Asn::new(65001));
    assert_eq!(o.hold_time, HoldTime::new(180).unwrap());
    assert_eq!(o.router_id, "192.0.2.1".parse::<RouterId>().unwrap());
    assert!(o.parameters.is_empty());
    assert_eq!(bytes.len(), 29);
}

/// Every typed capability and an unknown one, in one optional parameter
/// (the way BIRD groups them).
#[test]
fn open_with_every_capability() {
    let caps = "
        01 04 0001 00 01            # multiprotocol ipv4-unicast
        01 04 0002 00 01            # multiprotocol ipv6-unicast
        02 00                       # route refresh
        46 00                       # enhanced route refresh
        05 06 0001 0001 0002        # extended next hop: ipv4-unicast via ipv6
        06 00                       # extended message
        09 01 03                    # role customer
        40 06 c078 0001 01 80       # GR: R+N, 120 s, ipv4-unicast F
        41 04 fa56ea01              # 4-octet AS 4200000001
        45 08 0001 01 03 0002 01 01 # add-path v4 both, v6 receive
        47 07 0001 01 80 000e10     # LLGR ipv4-unicast F, 3600 s
        49 07 05 6e6f646531 00      # FQDN node1
        80 00                       # pre-standard route refresh
        4b 05 04 74657374           # software version (unknown to us)";
    let caps: String = caps.lines().map(|l| l.split('#').next().unwrap()).collect();
    let caps_len = h(&caps).len();
    assert_eq!(caps_len, 80);
    let bytes = msg(1, &format!("04 5ba0 005a 0a000001 52 02 50 {caps}"));
    let o = open(roundtrip(&bytes, &SessionContext::default()));
    assert_eq!(o.my_as, 23456);
    assert_eq!(o.asn(), Asn::new(4_200_000_001));
    let caps: Vec<&Capability> = o.capabilities().collect();
    assert_eq!(caps.len(), 14);
    assert_eq!(*caps[0], Capability::Multiprotocol(Family::IPV4_UNICAST));
    assert_eq!(*caps[1], Capability::Multiprotocol(Family::IPV6_UNICAST));
    assert_eq!(*caps[2], Capability::RouteRefresh);
    assert_eq!(*caps[3], Capability::EnhancedRouteRefresh);
    assert_eq!(
        *caps[4],
        Capability::ExtendedNextHop(vec![ExtendedNextHop {
            afi: Afi::IPV4,
            safi: 1,
            next_hop_afi: Afi::IPV6
        }])
    );
    assert_eq!(*caps[5], Capability::ExtendedMessage);
    assert_eq!(*caps[6], Capability::Role(Role::Customer));
    let Capability::GracefulRestart(gr) = caps[7] else {
        panic!()
    };
    assert!(gr.restart_state() && gr.notification());
    assert_eq!(gr.restart_time, 120);
    assert!(gr.families[0].forwarding_state());
    assert_eq!(*caps[8], Capability::FourOctetAs(Asn::new(4_200_000_001)));
    assert_eq!(
        *caps[9],
        Capability::AddPath(vec![
            AddPathFamily {
                family: Family::IPV4_UNICAST,
                mode: AddPathMode::BOTH
            },
            AddPathFamily {
                family: Family::IPV6_UNICAST,
                mode: AddPathMode::RECEIVE
            },
        ])
    );
    assert_eq!(
        *caps[10],
        Capability::LongLivedGracefulRestart(vec![LlgrFamily {
            family: Family::IPV4_UNICAST,
            flags: 0x80,
            stale_time: 3600
        }])
    );
    assert_eq!(caps[11].to_string(), "fqdn node1");
    assert_eq!(*caps[12], Capability::RouteRefreshCisco);
    assert_eq!(
        *caps[13],
        Capability::Unknown {
            code: 75,
            data: b"\x04test".to_vec()
        }
    );
    assert_eq!(
        caps[7].to_string(),
        "graceful-restart time 120s restarting notification ipv4-unicast(forwarding kept)"
    );
}

/// One capability per optional parameter (the way FRR and GoBGP send them)
/// must stay that way.
#[test]
fn open_with_one_capability_per_parameter() {
    let bytes = msg(
        1,
        "04 fde9 00b4 c0000201 14 02 06 01040001 0001 02 02 0200 02 06 4104 0000fde9",
    );
    let o = open(roundtrip(&bytes, &SessionContext::default()));
    assert_eq!(o.parameters.len(), 3);
    assert!(!o.extended_parameters);
}

/// RFC 9072: Non-Ext OP Len 255, Non-Ext OP Type 255, then a two-octet
/// length and two-octet parameter lengths.
#[test]
fn open_with_extended_optional_parameters() {
    let bytes = msg(
        1,
        "04 fde9 00b4 c0000201 ff ff 000b 02 0008 01040001 0001 0200",
    );
    let o = open(roundtrip(&bytes, &SessionContext::default()));
    assert!(o.extended_parameters);
    assert_eq!(o.capabilities().count(), 2);
}

/// More than 255 octets of capabilities force the RFC 9072 encoding, and
/// what we write decodes back.
#[test]
fn open_grows_into_extended_parameters() {
    let caps = (0..70)
        .map(|i| Capability::Unknown {
            code: 200,
            data: vec![i; 2],
        })
        .collect();
    let o = Open::new(
        Asn::new(65001),
        HoldTime::DEFAULT,
        RouterId::new(1).unwrap(),
        caps,
    );
    let ctx = SessionContext::default();
    let bytes = Message::Open(o.clone()).to_bytes(&ctx).unwrap();
    assert_eq!(bytes[28..31], [0xff, 0xff, 0x01]);
    let back = open(Message::decode(&bytes, &ctx).unwrap());
    assert_eq!(
        back.capabilities().collect::<Vec<_>>(),
        o.capabilities().collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- UPDATE

/// IPv4 in the classic fields with every typed attribute and two unknown
/// ones (one already marked Partial), on a 4-octet AS session.
#[test]
fn update_ipv4_with_every_attribute() {
    let attrs = "
        40 01 01 00                           # ORIGIN IGP
        40 02 0a 02 02 0000fde9 0000fdea      # AS_PATH 65001 65002
        40 03 04 c0000201                     # NEXT_HOP 192.0.2.1
        80 04 04 00000064                     # MED 100
        40 05 04 000000c8                     # LOCAL_PREF 200
        40 06 00                              # ATOMIC_AGGREGATE
        c0 07 08 0000fde9 c0000201            # AGGREGATOR AS65001 192.0.2.1
        c0 08 08 fde90064 ffffff01            # COMMUNITIES 65001:100 no-export
        80 09 04 c0000202                     # ORIGINATOR_ID
        80 0a 04 c0000203                     # CLUSTER_LIST
        c0 10 08 0002fde800000001             # EXTENDED_COMMUNITIES rt 65000:1
        c0 20 0c fa56ea01 00000001 00000002   # LARGE_COMMUNITY 4200000001:1:2
        c0 23 04 0000fde9                     # OTC 65001
        c0 63 02 abcd                         # type 99, optional transitive
        e0 64 01 ff                           # type 100, already partial";
    let attrs: String = attrs
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .collect();
    assert_eq!(h(&attrs).len(), 0x77);
    let bytes = msg(
        2,
        &format!("0004 180af409 0077 {attrs} 180af401 180af402 19c0000280"),
    );
    let u = update(roundtrip(&bytes, &four_octet()));
    assert_eq!(u.withdrawn, vec![Nlri::new(v4("10.244.9.0/24"))]);
    assert_eq!(
        u.nlri,
        vec![
            Nlri::new(v4("10.244.1.0/24")),
            Nlri::new(v4("10.244.2.0/24")),
            Nlri::new(v4("192.0.2.128/25"))
        ]
    );
    let a = &u.attributes;
    assert_eq!(a.origin(), Some(&Origin::Igp));
    assert_eq!(a.as_path().unwrap().to_string(), "65001 65002");
    assert_eq!(a.next_hop(), Some(&Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(a.med(), Some(&100));
    assert_eq!(a.local_pref(), Some(&200));
    assert!(a.atomic_aggregate());
    assert_eq!(
        a.aggregator(),
        Some(&Aggregator {
            asn: Asn::new(65001),
            address: Ipv4Addr::new(192, 0, 2, 1)
        })
    );
    assert_eq!(
        a.communities().unwrap(),
        &vec![Community::from_parts(65001, 100), Community::NO_EXPORT]
    );
    assert_eq!(a.originator_id(), Some(&Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(
        a.cluster_list().unwrap(),
        &vec![Ipv4Addr::new(192, 0, 2, 3)]
    );
    assert_eq!(
        a.extended_communities().unwrap(),
        &vec![ExtCommunity::route_target(65000, 1)]
    );
    assert_eq!(
        a.large_communities().unwrap(),
        &vec![LargeCommunity::new(4_200_000_001, 1, 2)]
    );
    assert_eq!(a.otc(), Some(&Asn::new(65001)));
    let unknown = a.get(AttrType::from(99)).unwrap();
    assert_eq!(
        unknown.value,
        AttrValue::Other {
            type_code: 99,
            data: vec![0xab, 0xcd]
        }
    );
    // RFC 4271 §5: passed on with Partial set; optional non-transitive dropped.
    let again = unknown.for_readvertisement().unwrap();
    assert!(again.flags.is_partial() && again.flags.is_transitive());
    assert!(a.get(AttrType::from(100)).unwrap().flags.is_partial());
    assert!(u.end_of_rib().is_none());
}

#[test]
fn unknown_optional_non_transitive_is_not_readvertised() {
    let a = Attribute {
        flags: AttrFlags(AttrFlags::OPTIONAL),
        value: AttrValue::Other {
            type_code: 99,
            data: vec![],
        },
    };
    assert_eq!(a.for_readvertisement(), None);
}

/// IPv6 in MP_REACH_NLRI with a global and a link-local next hop (RFC 2545
/// §3), the extended-length flag on a short attribute as FRR sends it.
#[test]
fn update_ipv6_mp_reach() {
    let bytes = msg(
        2,
        "0000 0044
         900e 0033 0002 01 20 20010db8000000000000000000000001
                               fe800000000000000000000000000001 00
                   40 fd00001002440001  20 20010db8
         40010100 4002 06 0201 fa56ea01",
    );
    let u = update(roundtrip(&bytes, &four_octet()));
    let Some(MpReach::Ipv6 {
        safi,
        next_hop,
        nlri,
    }) = u.attributes.mp_reach()
    else {
        panic!("{u:?}")
    };
    assert_eq!(*safi, Safi::UNICAST);
    assert_eq!(
        *next_hop,
        NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: Some("fe80::1".parse::<Ipv6Addr>().unwrap())
        }
    );
    assert_eq!(
        nlri,
        &vec![
            Nlri::new(v6("fd00:10:244:1::/64")),
            Nlri::new(v6("2001:db8::/32"))
        ]
    );
    assert!(u.attributes.mp_reach().unwrap().family() == Family::IPV6_UNICAST);
    assert!(
        u.attributes
            .get(AttrType::MpReachNlri)
            .unwrap()
            .flags
            .is_extended_length()
    );
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "4200000001");
}

#[test]
fn update_ipv6_mp_unreach() {
    let bytes = msg(2, "0000 000f 800f0c 000201 40fd00001002440001");
    let u = update(roundtrip(&bytes, &four_octet()));
    let Some(MpUnreach::Ipv6 { withdrawn, .. }) = u.attributes.mp_unreach() else {
        panic!()
    };
    assert_eq!(withdrawn, &vec![Nlri::new(v6("fd00:10:244:1::/64"))]);
    // No ORIGIN / AS_PATH needed for a withdrawal-only UPDATE.
    assert!(u.discarded.is_empty());
}

/// A 4-octet speaker's routes seen on a 2-octet session: AS_TRANS in
/// AS_PATH and AGGREGATOR, the real numbers in AS4_PATH / AS4_AGGREGATOR,
/// merged per RFC 6793 §4.2.3.
#[test]
fn update_with_as4_attributes_on_two_octet_session() {
    let bytes = msg(
        2,
        "0000 0035
         40010100
         4002 06 0202 fde9 5ba0
         4003 04 c0000201
         c007 06 5ba0 c0000201
         c011 0a 0202 0000fde9 fa56ea01
         c012 08 fa56ea01 c0000201
         180af401",
    );
    let ctx = SessionContext::default();
    let u = update(roundtrip(&bytes, &ctx));
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "65001 23456");
    let (path, agg) = u.attributes.effective_as_path();
    assert_eq!(path.unwrap().to_string(), "65001 4200000001");
    assert_eq!(agg.unwrap().asn, Asn::new(4_200_000_001));
}

/// RFC 6793 §4.1: AS4 attributes between two 4-octet speakers are dropped.
#[test]
fn as4_attributes_are_discarded_on_four_octet_sessions() {
    let bytes = msg(
        2,
        "0000 0021 40010100 4002 06 0201 0000fde9 4003 04 c0000201 c011 0a 0202 0000fde9 fa56ea01 180af401",
    );
    let m = Message::decode(&bytes, &four_octet()).unwrap();
    let u = update(m);
    assert!(u.attributes.as4_path().is_none());
    assert_eq!(u.discarded.len(), 1);
    assert_eq!(u.discarded[0].action, Action::AttributeDiscard);
    assert_eq!(u.discarded[0].fault, Fault::As4OnFourOctetSession);
}

/// RFC 7911: path identifiers in the classic fields and in MP_REACH_NLRI,
/// two paths for one prefix.
#[test]
fn update_with_add_path() {
    let both: FamilySet = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .into_iter()
        .collect();
    let ctx = SessionContext::symmetric(true, false, both, FamilySet::EMPTY);
    let bytes = msg(
        2,
        "0008 00000001 180af409
         0034
         40010100 400200 4003 04 c0000201
         900e 0022 0002 01 10 20010db8000000000000000000000001 00 00000002 40fd00001002440001
         00000003 180af401 00000004 180af401",
    );
    let u = update(roundtrip(&bytes, &ctx));
    assert_eq!(
        u.withdrawn,
        vec![Nlri::with_path_id(v4("10.244.9.0/24"), PathId(1))]
    );
    assert_eq!(
        u.nlri,
        vec![
            Nlri::with_path_id(v4("10.244.1.0/24"), PathId(3)),
            Nlri::with_path_id(v4("10.244.1.0/24"), PathId(4))
        ]
    );
    let Some(MpReach::Ipv6 { nlri, .. }) = u.attributes.mp_reach() else {
        panic!()
    };
    assert_eq!(
        nlri,
        &vec![Nlri::with_path_id(v6("fd00:10:244:1::/64"), PathId(2))]
    );
    // The same octets without ADD-PATH are not this message.
    assert_ne!(
        Message::decode(&bytes, &four_octet()).ok(),
        Some(Message::Update(u.clone()))
    );
    // And a message built with path identifiers cannot go to a session
    // that did not negotiate them.
    assert_eq!(
        Message::Update(u).to_bytes(&four_octet()),
        Err(EncodeError::PathIdUnexpected {
            family: Family::IPV4_UNICAST
        })
    );
}

/// RFC 8950: IPv4 NLRI with an IPv6 next hop, only where negotiated.
#[test]
fn update_with_extended_next_hop() {
    let ext: FamilySet = [Family::IPV4_UNICAST].into_iter().collect();
    let ctx = SessionContext::symmetric(true, false, FamilySet::EMPTY, ext);
    let bytes = msg(
        2,
        "0000 002a
         900e 0019 0001 01 10 20010db8000000000000000000000001 00 180af401
         40010100 4002 06 0201 0000fde9",
    );
    let u = update(roundtrip(&bytes, &ctx));
    let Some(MpReach::Ipv4 { next_hop, nlri, .. }) = u.attributes.mp_reach() else {
        panic!()
    };
    assert_eq!(
        *next_hop,
        NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None
        }
    );
    assert_eq!(nlri, &vec![Nlri::new(v4("10.244.1.0/24"))]);
    let err = Message::decode(&bytes, &four_octet()).unwrap_err();
    assert_eq!(err.action(), Action::AfiSafiDisable(Family::IPV4_UNICAST));
}

/// Every segment type (RFC 4271 §4.3, RFC 5065 §3).
#[test]
fn update_with_every_as_path_segment_type() {
    let bytes = msg(
        2,
        "0000 002e
         40010100
         4002 20 0301 0000fe4c 0202 0000fde9 0000fdea 0102 0000fdeb 0000fdec 0401 0000fe4d
         4003 04 c0000201
         180af401",
    );
    let u = update(roundtrip(&bytes, &four_octet()));
    let path = u.attributes.as_path().unwrap();
    assert_eq!(
        path.to_string(),
        "(65100) 65001 65002 {65003,65004} [65101]"
    );
    assert_eq!(path.path_len(), 3);
    assert!(path.has_confed_segments());
}

#[test]
fn end_of_rib_markers() {
    let v4_eor = msg(2, "0000 0000");
    assert_eq!(v4_eor.len(), 23);
    let u = update(roundtrip(&v4_eor, &four_octet()));
    assert_eq!(u.end_of_rib(), Some(Family::IPV4_UNICAST));
    assert_eq!(Update::end_of_rib_marker(Family::IPV4_UNICAST), u);

    let v6_eor = msg(2, "0000 0006 800f03 000201");
    let u = update(roundtrip(&v6_eor, &four_octet()));
    assert_eq!(u.end_of_rib(), Some(Family::IPV6_UNICAST));
    let built = Message::Update(Update::end_of_rib_marker(Family::IPV6_UNICAST));
    assert_eq!(built.to_bytes(&four_octet()).unwrap(), v6_eor);

    let evpn_eor = msg(2, "0000 0006 800f03 001946");
    let u = update(roundtrip(&evpn_eor, &four_octet()));
    assert_eq!(u.end_of_rib(), Some(Family::new(Afi::L2VPN, Safi::EVPN)));
}

/// The Extended Length bit on a short attribute survives the round trip.
#[test]
fn extended_length_flag_is_kept() {
    let bytes = msg(2, "0000 000f 5001 0001 00 400200 4003 04 c0000201 180af401");
    let u = update(roundtrip(&bytes, &four_octet()));
    assert!(
        u.attributes
            .get(AttrType::Origin)
            .unwrap()
            .flags
            .is_extended_length()
    );
}

/// Families we do not decode travel as octets, byte-exact.
#[test]
fn unknown_family_mp_attributes_are_kept_raw() {
    let bytes = msg(
        2,
        "0000 0019 40010100 400200 900e 000e 0019 46 04 c0000201 00 0203aabbcc",
    );
    let u = update(roundtrip(&bytes, &four_octet()));
    let Some(MpReach::Other {
        family,
        next_hop,
        nlri,
    }) = u.attributes.mp_reach()
    else {
        panic!()
    };
    assert_eq!(*family, Family::new(Afi::L2VPN, Safi::EVPN));
    assert_eq!(next_hop, &h("c0000201"));
    assert_eq!(nlri, &h("0203aabbcc"));
    let bytes = msg(2, "0000 000a 800f 07 0019 46 0203aabb");
    roundtrip(&bytes, &four_octet());
}

/// Non-canonical padding bits in an NLRI are cleared on decode (RFC 4271
/// §4.3 calls them irrelevant), so the prefix is one value whatever the
/// sender put there.
#[test]
fn nlri_padding_bits_are_cleared() {
    let bytes = msg(2, "0000 000e 40010100 400200 4003 04 c0000201 14 0a001f");
    let u = update(Message::decode(&bytes, &four_octet()).unwrap());
    assert_eq!(u.nlri, vec![Nlri::new(v4("10.0.16.0/20"))]);
}

// ---------------------------------------------------------------- NOTIFICATION, KEEPALIVE, ROUTE-REFRESH

#[test]
fn notifications() {
    let ctx = SessionContext::default();
    let cases: &[(&str, &str)] = &[
        (
            "06 02 0b 6d61696e74656e616e6365",
            "Cease / Administrative Shutdown (6/2): \"maintenance\"",
        ),
        ("06 04 00", "Cease / Administrative Reset (6/4)"),
        (
            "06 04 05 61",
            "Cease / Administrative Reset (6/4): malformed shutdown message (length octet does not match the data), data 0561",
        ),
        (
            "06 01 0001 01 000003e8",
            "Cease / Maximum Number of Prefixes Reached (6/1): ipv4-unicast limit 1000",
        ),
        ("06 09", "Cease / Hard Reset (6/9)"),
        // RFC 8538 §3: a Hard Reset carries the original NOTIFICATION.
        (
            "06 09 06 02 03 616263",
            "Cease / Hard Reset (6/9) for Cease / Administrative Shutdown (6/2): \"abc\"",
        ),
        (
            "01 02 0012",
            "Message Header Error / Bad Message Length (1/2): length 18",
        ),
        (
            "01 03 09",
            "Message Header Error / Bad Message Type (1/3): type 9",
        ),
        (
            "02 01 0004",
            "OPEN Message Error / Unsupported Version Number (2/1): we support version 4",
        ),
        ("02 0b", "OPEN Message Error / Role Mismatch (2/11)"),
        (
            "03 05 40010200",
            "UPDATE Message Error / Attribute Length Error (3/5), data 40010200",
        ),
        ("04 00", "Hold Timer Expired (4/0)"),
        (
            "05 03",
            "Finite State Machine Error / Receive Unexpected Message in Established State (5/3)",
        ),
        (
            "07 01",
            "ROUTE-REFRESH Message Error / Invalid Message Length (7/1)",
        ),
        ("08 00", "Send Hold Timer Expired (8/0)"),
        (
            "09 01 aabb",
            "unknown error code / unknown subcode (9/1), data aabb",
        ),
    ];
    for (body, text) in cases {
        let bytes = msg(3, body);
        let Message::Notification(n) = roundtrip(&bytes, &ctx) else {
            panic!()
        };
        assert_eq!(n.to_string(), *text);
    }
    let n = Notification::admin_shutdown("maintenance");
    assert_eq!(
        Message::Notification(n).to_bytes(&ctx).unwrap(),
        msg(3, "06 02 0b 6d61696e74656e616e6365")
    );
}

#[test]
fn keepalive() {
    let bytes = msg(4, "");
    assert_eq!(
        roundtrip(&bytes, &SessionContext::default()),
        Message::Keepalive
    );
}

#[test]
fn route_refresh() {
    let ctx = SessionContext::default();
    let cases = [
        (
            "0001 00 01",
            Family::IPV4_UNICAST,
            RefreshSubtype::Request,
            "",
        ),
        (
            "0002 01 01",
            Family::IPV6_UNICAST,
            RefreshSubtype::BeginningOfRouteRefresh,
            "",
        ),
        (
            "0002 02 01",
            Family::IPV6_UNICAST,
            RefreshSubtype::EndOfRouteRefresh,
            "",
        ),
        (
            "0001 00 01 01aabb",
            Family::IPV4_UNICAST,
            RefreshSubtype::Request,
            "01aabb",
        ),
        (
            "0001 05 01",
            Family::IPV4_UNICAST,
            RefreshSubtype::Unknown(5),
            "",
        ),
    ];
    for (body, family, subtype, orf) in cases {
        let Message::RouteRefresh(r) = roundtrip(&msg(5, body), &ctx) else {
            panic!()
        };
        assert_eq!((r.family, r.subtype, r.orf), (family, subtype, h(orf)));
    }
}

/// Extended messages (RFC 8654): an UPDATE over 4096 octets is fine once
/// negotiated and a length error before.
#[test]
fn extended_message_update() {
    let prefixes: String = (0..1500u32)
        .map(|i| format!("20 0a{:06x}", i))
        .collect::<Vec<_>>()
        .join(" ");
    let bytes = msg(
        2,
        &format!("0000 000e 40010100 400200 4003 04 c0000201 {prefixes}"),
    );
    assert!(bytes.len() > 4096);
    let ext = SessionContext {
        extended_message: true,
        ..four_octet()
    };
    let u = update(Message::decode(&bytes, &ext).unwrap());
    assert_eq!(u.nlri.len(), 1500);
    assert_eq!(Message::Update(u.clone()).to_bytes(&ext).unwrap(), bytes);
    assert!(matches!(
        Message::decode(&bytes, &four_octet()),
        Err(DecodeError::Header(HeaderError::BadMessageLength { .. }))
    ));
    assert!(matches!(
        Message::Update(u).to_bytes(&four_octet()),
        Err(EncodeError::MessageTooLong { max: 4096, .. })
    ));
}

/// A stream with several messages, as in a TCP payload dump.
#[test]
fn message_stream() {
    let mut stream = msg(4, "");
    stream.extend(msg(2, "0000 0000"));
    stream.extend(msg(3, "06 02"));
    stream.extend(&msg(4, "")[..10]);
    let items: Vec<_> = Messages::new(&stream, four_octet()).collect();
    assert_eq!(items.len(), 4);
    assert!(matches!(
        items[0],
        StreamItem::Message {
            result: Ok(Message::Keepalive),
            ..
        }
    ));
    assert!(matches!(
        items[2],
        StreamItem::Message {
            result: Ok(Message::Notification(_)),
            ..
        }
    ));
    assert!(matches!(items[3], StreamItem::Truncated { needed: 9, .. }));
}
