//! Speakers wired together in memory: eBGP, iBGP, route reflection with a
//! loop to cut, policy, RFC 8212, max-prefix, route refresh, graceful
//! restart in both roles, collisions and dynamic neighbours.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use bgp::fsm::{DownReason, State};
use bgp::policy::{Condition, Fallthrough, Policy, PrefixRange, PrefixSet, Rule, Verdict};
use bgp::rib::{LossReason, Source};
use bgp::speaker::{
    DynamicNeighbors, Input, LocalRoute, MaxPrefix, MaxPrefixAction, Output, PeerConfig,
    PeerEventKind,
};
use bgp::types::{Asn, Community, Family, LargeCommunity, RouterId};
use bgp::wire::{CeaseSubcode, ErrorCode, NextHop};
use common::net::{Net, prefix, v4};

const SEC: Duration = Duration::from_secs(1);

fn accept_all() -> BTreeMap<String, Policy> {
    let mut m = BTreeMap::new();
    m.insert(
        "all".to_string(),
        Policy {
            name: "all".into(),
            rules: vec![],
            default: Fallthrough::Accept,
        },
    );
    m
}

/// eBGP policy both ways (RFC 8212 needs one).
fn open_policy(c: &mut PeerConfig) {
    c.import = Some(vec!["all".into()]);
    c.export = Some(vec!["all".into()]);
}

fn with_policies(mut c: bgp::speaker::SpeakerConfig) -> bgp::speaker::SpeakerConfig {
    c.policies = accept_all();
    c
}

fn originate(net: &mut Net, i: usize, p: &str) {
    net.input(i, Input::Originate(LocalRoute::new(prefix(p))));
}

fn has_route(net: &Net, i: usize, p: &str) -> bool {
    net.nodes[i]
        .speaker
        .rib()
        .get(&prefix(p))
        .and_then(|d| d.best())
        .is_some_and(|b| b.source != Source::Local)
}

/// Node `i`'s counters for its peer at `peer`.
fn counters(net: &Net, i: usize, peer: &str) -> bgp::speaker::Counters {
    net.nodes[i]
        .speaker
        .peer(v4(peer))
        .expect("a configured peer")
        .counters()
        .clone()
}

fn best_path_of(net: &Net, i: usize, p: &str) -> String {
    let d = net.nodes[i].speaker.rib().get(&prefix(p)).expect("route");
    d.best().unwrap().attrs.as_path.to_string()
}

#[test]
fn ebgp_routes_flow_both_ways_with_their_attributes() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 4_200_000_002)));
    net.peer(a, b, open_policy, open_policy);
    let mut route = LocalRoute::new(prefix("10.244.1.0/24"));
    route.communities = vec![Community::from_parts(65001, 7)];
    route.large_communities = vec![LargeCommunity::new(65001, 1, 2)];
    route.med = Some(50);
    net.input(a, Input::Originate(route));
    originate(&mut net, b, "10.244.2.0/24");
    originate(&mut net, b, "fd00:10:244:2::/64");
    net.run(5 * SEC);

    assert_eq!(net.state(a, b), State::Established);
    let d = net.nodes[b]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap();
    let best = d.best().unwrap();
    assert_eq!(best.attrs.as_path.to_string(), "65001");
    assert_eq!(
        best.attrs.next_hop,
        NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))
    );
    assert_eq!(
        best.attrs.communities,
        vec![Community::from_parts(65001, 7)]
    );
    assert_eq!(
        best.attrs.large_communities,
        vec![LargeCommunity::new(65001, 1, 2)]
    );
    // Our own MED goes out (RFC 4271 §5.1.4 stops only learned ones).
    assert_eq!(best.attrs.med, Some(50));
    assert_eq!(
        best.attrs.local_pref, None,
        "LOCAL_PREF never crosses an AS"
    );
    assert_eq!(best_path_of(&net, a, "10.244.2.0/24"), "4200000002");
    // The FIB hears of learned routes only, with the peer as next hop.
    let nh = &net.nodes[b].fib[&prefix("10.244.1.0/24")];
    assert_eq!(nh[0].address, v4("192.0.2.1"));
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.2.0/24")));
    // An IPv6 route over an IPv4 session needs an IPv6 next hop we lack.
    assert!(!has_route(&net, a, "fd00:10:244:2::/64"));
    assert!(
        net.events(
            b,
            a,
            |k| matches!(k, PeerEventKind::NoNextHop { family } if *family == Family::IPV6_UNICAST)
        ) > 0
    );

    // Counters and End-of-RIB.
    let view = net.nodes[b].speaker.peer(v4("192.0.2.1")).unwrap();
    assert_eq!(view.accepted(Family::IPV4_UNICAST), 1);
    assert_eq!(view.advertised(Family::IPV4_UNICAST), 1);
    assert!(view.counters().updates_received >= 2);

    net.input(a, Input::Withdraw(prefix("10.244.1.0/24")));
    assert!(!has_route(&net, b, "10.244.1.0/24"));
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
}

#[test]
fn rfc8212_ebgp_without_policy_exchanges_nothing() {
    let mut net = Net::new();
    let a = net.add("a", 1, Net::config(1, 65001));
    let b = net.add("b", 2, Net::config(2, 65002));
    net.peer(a, b, |_| {}, |_| {});
    originate(&mut net, a, "10.244.1.0/24");
    originate(&mut net, b, "10.244.2.0/24");
    net.run(5 * SEC);
    assert_eq!(net.state(a, b), State::Established);
    assert!(!has_route(&net, a, "10.244.2.0/24"));
    assert!(!has_route(&net, b, "10.244.1.0/24"));
    let view = net.nodes[a].speaker.peer(v4("192.0.2.2")).unwrap();
    assert!(view.rfc8212_blocked().unwrap().contains("RFC 8212"));
}

#[test]
fn ibgp_routes_are_not_passed_between_ibgp_peers_without_reflection() {
    let mut net = Net::new();
    let a = net.add("a", 1, Net::config(1, 65001));
    let b = net.add("b", 2, Net::config(2, 65001));
    let c = net.add("c", 3, Net::config(3, 65001));
    net.peer(a, b, |_| {}, |_| {});
    net.peer(b, c, |_| {}, |_| {});
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    assert!(has_route(&net, b, "10.244.1.0/24"));
    let best = net.nodes[b]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap()
        .best()
        .unwrap()
        .attrs
        .clone();
    assert_eq!(
        best.local_pref,
        Some(100),
        "LOCAL_PREF goes to internal peers"
    );
    assert!(best.as_path.is_empty());
    assert!(
        !has_route(&net, c, "10.244.1.0/24"),
        "RFC 4271 §9.2: no iBGP to iBGP"
    );

    // B becomes a route reflector for A and C (RFC 4456).
    let mut to_a = PeerConfig::new(v4("192.0.2.1"), bgp::fsm::RemoteAs::Exact(Asn::new(65001)));
    to_a.route_reflector_client = true;
    to_a.connect_retry = 2 * SEC;
    let mut to_c = to_a.clone();
    to_c.address = v4("192.0.2.3");
    net.input(b, Input::UpdatePeer(to_a));
    net.input(b, Input::UpdatePeer(to_c));
    net.run(5 * SEC);
    let d = net.nodes[c]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .expect("reflected");
    let attrs = &d.best().unwrap().attrs;
    assert_eq!(attrs.originator_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(attrs.cluster_list, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    // The next hop is the originator's, unchanged through the reflector.
    assert_eq!(attrs.next_hop, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    // Changing only RR settings did not reset the sessions.
    assert_eq!(
        net.events(b, a, |k| matches!(k, PeerEventKind::Down { .. })),
        0
    );
}

#[test]
fn route_reflection_loops_are_cut() {
    // Two reflectors R1, R2 with the same cluster ID, both reflecting for
    // client C, and peering with each other as non-clients. C's route
    // reflected by R1 reaches R2 with the cluster in CLUSTER_LIST: dropped.
    let mut net = Net::new();
    let mut c1 = Net::config(1, 65001);
    c1.cluster_id = Some(RouterId::new(0x0a09_0909).unwrap());
    let mut c2 = Net::config(2, 65001);
    c2.cluster_id = c1.cluster_id;
    let r1 = net.add("r1", 1, c1);
    let r2 = net.add("r2", 2, c2);
    let c = net.add("c", 3, Net::config(3, 65001));
    let client = |p: &mut PeerConfig| p.route_reflector_client = true;
    net.peer(r1, c, client, |_| {});
    net.peer(r2, c, client, |_| {});
    net.peer(r1, r2, |_| {}, |_| {});
    originate(&mut net, c, "10.244.3.0/24");
    net.run(5 * SEC);
    for r in [r1, r2] {
        let d = net.nodes[r]
            .speaker
            .rib()
            .get(&prefix("10.244.3.0/24"))
            .unwrap();
        assert_eq!(d.paths.len(), 1, "only the path from C itself");
        let other = if r == r1 { r2 } else { r1 };
        let rejected = net.nodes[r]
            .speaker
            .peer(net.nodes[other].addr)
            .unwrap()
            .counters()
            .rejected_by_checks;
        assert!(rejected > 0, "the reflected copy was refused");
    }

    // Different clusters, and R2 prefers what comes through R1 (LOCAL_PREF
    // 200): R1 reflects C's route to R2, R2 reflects its best to its client
    // C, which finds its own ORIGINATOR_ID and drops it (RFC 4456 §8).
    let mut net = Net::new();
    let r1 = net.add("r1", 1, Net::config(1, 65001));
    let mut c2 = Net::config(2, 65001);
    c2.policies.insert(
        "prefer".into(),
        Policy {
            name: "prefer".into(),
            rules: vec![Rule {
                name: None,
                conditions: vec![],
                actions: vec![bgp::policy::Action::LocalPref(200)],
                verdict: None,
            }],
            default: Fallthrough::Accept,
        },
    );
    let r2 = net.add("r2", 2, c2);
    let c = net.add("c", 3, Net::config(3, 65001));
    net.peer(r1, c, client, |_| {});
    net.peer(r2, c, client, |_| {});
    net.peer(r1, r2, |_| {}, |p| p.import = Some(vec!["prefer".into()]));
    originate(&mut net, c, "10.244.3.0/24");
    net.run(5 * SEC);
    let d = net.nodes[r2]
        .speaker
        .rib()
        .get(&prefix("10.244.3.0/24"))
        .unwrap();
    assert_eq!(d.paths.len(), 2, "from C, and reflected by R1");
    let lost: Vec<_> = d.paths.iter().filter_map(|p| p.lost).collect();
    assert_eq!(
        lost,
        vec![LossReason::LocalPref],
        "the direct path loses on LOCAL_PREF"
    );
    let own = net.nodes[c]
        .speaker
        .rib()
        .get(&prefix("10.244.3.0/24"))
        .unwrap();
    assert_eq!(own.paths.len(), 1, "C kept only its own route");
    let rejected: u64 = [r1, r2]
        .iter()
        .map(|r| {
            net.nodes[c]
                .speaker
                .peer(net.nodes[*r].addr)
                .unwrap()
                .counters()
                .rejected_by_checks
        })
        .sum();
    assert!(rejected > 0, "C refused its reflected route (RFC 4456 §8)");
}

#[test]
fn as_path_loops_are_cut_in_an_ebgp_triangle() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    let c = net.add("c", 3, with_policies(Net::config(3, 65003)));
    net.peer(a, b, open_policy, open_policy);
    net.peer(b, c, open_policy, open_policy);
    net.peer(c, a, open_policy, open_policy);
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    assert_eq!(best_path_of(&net, b, "10.244.1.0/24"), "65001");
    assert_eq!(best_path_of(&net, c, "10.244.1.0/24"), "65001");
    let d = net.nodes[b]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap();
    assert_eq!(d.paths.len(), 2, "direct, and through C");
    assert!(
        d.paths
            .iter()
            .any(|p| p.lost == Some(LossReason::AsPathLength))
    );
    // A never takes its own route back.
    let own = net.nodes[a]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap();
    assert_eq!(own.paths.len(), 1);
}

#[test]
fn equal_paths_share_the_load() {
    // A and B both originate an anycast prefix; D hears it from both.
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    let mut dc = with_policies(Net::config(4, 65004));
    dc.multipath_relax = true;
    let d = net.add("d", 4, dc);
    net.peer(d, a, open_policy, open_policy);
    net.peer(d, b, open_policy, open_policy);
    originate(&mut net, a, "203.0.113.0/24");
    originate(&mut net, b, "203.0.113.0/24");
    net.run(5 * SEC);
    let hops: Vec<_> = net.nodes[d].fib[&prefix("203.0.113.0/24")]
        .iter()
        .map(|h| h.address)
        .collect();
    assert_eq!(hops, vec![v4("192.0.2.1"), v4("192.0.2.2")]);
    // One path goes away: one next hop left.
    net.input(b, Input::Withdraw(prefix("203.0.113.0/24")));
    assert_eq!(net.nodes[d].fib[&prefix("203.0.113.0/24")].len(), 1);
}

fn deny_prefix(p: &str) -> Policy {
    Policy {
        name: "in".into(),
        rules: vec![Rule {
            name: None,
            conditions: vec![Condition::Prefix(PrefixSet(vec![
                PrefixRange::new(prefix(p), None, None).unwrap(),
            ]))],
            actions: vec![],
            verdict: Some(Verdict::Reject),
        }],
        default: Fallthrough::Accept,
    }
}

#[test]
fn a_policy_change_applies_through_route_refresh_without_reset() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let mut bc = with_policies(Net::config(2, 65002));
    bc.policies.insert(
        "in".into(),
        Policy {
            name: "in".into(),
            rules: vec![],
            default: Fallthrough::Accept,
        },
    );
    let b = net.add("b", 2, bc);
    net.peer(a, b, open_policy, |c| {
        c.import = Some(vec!["in".into()]);
        c.export = Some(vec!["all".into()]);
    });
    originate(&mut net, a, "10.244.1.0/24");
    originate(&mut net, a, "10.244.9.0/24");
    net.run(5 * SEC);
    assert!(has_route(&net, b, "10.244.9.0/24"));

    let mut policies = accept_all();
    policies.insert("in".into(), deny_prefix("10.244.9.0/24"));
    net.input(b, Input::SetPolicies(policies));
    net.run(SEC);
    assert!(!has_route(&net, b, "10.244.9.0/24"));
    assert!(has_route(&net, b, "10.244.1.0/24"));
    assert_eq!(
        net.events(b, a, |k| matches!(
            k,
            PeerEventKind::RouteRefreshSent { .. }
        )),
        2
    );
    assert_eq!(
        net.events(b, a, |k| matches!(k, PeerEventKind::Down { .. })),
        0,
        "no reset"
    );

    // With received routes kept, no refresh is needed at all.
    let mut keep = PeerConfig::new(v4("192.0.2.1"), bgp::fsm::RemoteAs::Exact(Asn::new(65001)));
    keep.connect_retry = 2 * SEC;
    keep.keep_received = true;
    keep.import = Some(vec!["in".into()]);
    keep.export = Some(vec!["all".into()]);
    net.input(b, Input::RemovePeer(v4("192.0.2.1")));
    net.input(b, Input::AddPeer(keep));
    net.run(5 * SEC);
    let before = net.events(b, a, |k| {
        matches!(k, PeerEventKind::RouteRefreshSent { .. })
    });
    net.input(
        b,
        Input::SetPolicies(
            accept_all()
                .into_iter()
                .chain([(
                    "in".to_string(),
                    Policy {
                        name: "in".into(),
                        rules: vec![],
                        default: Fallthrough::Accept,
                    },
                )])
                .collect(),
        ),
    );
    assert!(has_route(&net, b, "10.244.9.0/24"));
    assert_eq!(
        net.events(b, a, |k| matches!(
            k,
            PeerEventKind::RouteRefreshSent { .. }
        )),
        before
    );
    let view = net.nodes[b].speaker.peer(v4("192.0.2.1")).unwrap();
    assert_eq!(view.received(Family::IPV4_UNICAST), Some(2));
}

#[test]
fn max_prefix_trips_cease_and_retries_later() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, |c| {
        open_policy(c);
        c.max_prefix = Some(MaxPrefix {
            limit: 1,
            action: MaxPrefixAction::Restart(Duration::from_secs(30)),
        });
    });
    originate(&mut net, a, "10.244.1.0/24");
    originate(&mut net, a, "10.244.2.0/24");
    net.run(5 * SEC);
    assert_ne!(net.state(b, a), State::Established);
    assert_eq!(
        net.events(b, a, |k| matches!(
            k,
            PeerEventKind::MaxPrefix { restart: true, .. }
        )),
        1
    );
    let got_cease = net.nodes[a].events.iter().any(|e| {
        matches!(&e.kind,
        PeerEventKind::Down { down } if matches!(&down.reason,
            DownReason::NotificationReceived { notification }
                if notification.hard_reset_inner().is_some_and(|inner|
                    inner.error == ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached))))
    });
    assert!(
        got_cease,
        "A was told why (RFC 4486), inside a Hard Reset (RFC 8538)"
    );
    assert!(!has_route(&net, b, "10.244.1.0/24"));
    // Thirty seconds later B tries again (and trips again).
    net.run(Duration::from_secs(30));
    assert_eq!(
        net.events(b, a, |k| matches!(k, PeerEventKind::MaxPrefix { .. })),
        2
    );
}

#[test]
fn simultaneous_connections_end_in_one_session() {
    // Both sides connect at once. Whether the spare connection dies as a
    // half-open attempt (RFC 4271 §8.2.2, Connect state) or at OPEN time
    // (§6.8, covered in the session tests), one session remains.
    let mut net = Net::new();
    let a = net.add("a", 1, Net::config(1, 65001));
    let b = net.add("b", 2, Net::config(2, 65001));
    net.peer(a, b, |_| {}, |_| {});
    net.run(5 * SEC);
    assert_eq!(net.state(a, b), State::Established);
    assert_eq!(net.state(b, a), State::Established);
    for (x, y) in [(a, b), (b, a)] {
        let downs = net.events(x, y, |k| matches!(k, PeerEventKind::Down { .. }));
        assert_eq!(downs, 0, "no established session was torn down");
        let ups = net.events(x, y, |k| matches!(k, PeerEventKind::Established));
        assert_eq!(ups, 1);
    }
    // And it stays that way through keepalives.
    net.run(300 * SEC);
    assert_eq!(net.state(a, b), State::Established);
}

#[test]
fn losing_a_non_gr_peer_withdraws_its_routes_at_once() {
    let mut net = Net::new();
    let mut ac = with_policies(Net::config(1, 65001));
    ac.graceful_restart.restart_time = 0;
    let a = net.add("a", 1, ac);
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(
        a,
        b,
        |c| {
            open_policy(c);
            c.graceful_restart = false;
        },
        open_policy,
    );
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
    net.partition(a, b);
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
}

#[test]
fn graceful_restart_keeps_routes_and_sweeps_what_did_not_come_back() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, open_policy);
    originate(&mut net, a, "10.244.1.0/24");
    originate(&mut net, a, "10.244.7.0/24");
    originate(&mut net, b, "10.244.2.0/24");
    net.run(5 * SEC);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.7.0/24")));

    // A's process dies: its connections reset without a NOTIFICATION.
    net.kill_connections(a);
    net.partition(a, b);
    let down = net.nodes[b]
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            PeerEventKind::Down { down } => Some(down.clone()),
            _ => None,
        });
    assert!(down.unwrap().graceful);
    // B (helper) keeps A's routes, stale, in RIB and FIB.
    let d = net.nodes[b]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap();
    assert!(d.best().unwrap().stale);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
    net.run(30 * SEC);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.7.0/24")));

    // A comes back restarting (R and F bits), with one of its two prefixes.
    let mut ac = with_policies(Net::config(1, 65001));
    ac.graceful_restart.restarting = true;
    ac.graceful_restart.forwarding = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .into_iter()
        .collect();
    net.restart(a, ac);
    let mut to_b = PeerConfig::new(v4("192.0.2.2"), bgp::fsm::RemoteAs::Exact(Asn::new(65002)));
    to_b.connect_retry = 2 * SEC;
    open_policy(&mut to_b);
    net.input(a, Input::AddPeer(to_b));
    originate(&mut net, a, "10.244.1.0/24");
    assert!(net.nodes[a].speaker.is_deferring());
    net.heal(a, b);
    net.run(10 * SEC);
    // The restarting side waited for B's End-of-RIB, then selected and
    // sent: B swept the prefix A did not re-advertise, kept the other.
    assert!(!net.nodes[a].speaker.is_deferring());
    assert!(net.nodes[a].initial_sync_done);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.7.0/24")));
    let d = net.nodes[b]
        .speaker
        .rib()
        .get(&prefix("10.244.1.0/24"))
        .unwrap();
    assert!(!d.best().unwrap().stale);
    assert!(net.nodes[a].fib.contains_key(&prefix("10.244.2.0/24")));
    assert_eq!(
        net.events(b, a, |k| matches!(
            k,
            PeerEventKind::StaleSwept { paths: 1 }
        )),
        1
    );
}

/// RFC 4724 §4.1: the end of our selection deferral tells the FIB that the
/// table is whole and what it kept from before and was not given again is
/// stale. So it comes after the routes of the pass that ended the deferral;
/// told first, the agent's FIB deleted kept routes for a moment.
#[test]
fn the_end_of_the_deferral_comes_after_the_routes_it_chose() {
    let mut config = Net::config(1, 65001);
    config.graceful_restart.restarting = true;
    let now = std::time::Instant::now();
    let mut speaker = bgp::speaker::Speaker::new(config, now);
    // No peer to wait for: the deferral ends in this very pass.
    let outputs = speaker.handle(
        now,
        Input::Originate(LocalRoute::new(prefix("10.244.1.0/24"))),
    );
    let order: Vec<&str> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Route(_) => Some("route"),
            Output::InitialSyncDone => Some("synced"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["route", "synced"]);
}

#[test]
fn stale_routes_go_when_the_peer_stays_away() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, open_policy);
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    net.kill_connections(a);
    net.partition(a, b);
    // A's restart time is 120 s.
    net.run(119 * SEC);
    assert!(net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
    net.run(2 * SEC);
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
}

#[test]
fn graceful_shutdown_lets_the_peer_keep_our_routes() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, open_policy);
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    net.input(a, Input::Shutdown { graceful: true });
    assert!(
        net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")),
        "kept across our restart"
    );
    // A non-graceful shutdown (Hard Reset) makes the peer withdraw at once.
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, open_policy);
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    net.input(a, Input::Shutdown { graceful: false });
    assert!(!net.nodes[b].fib.contains_key(&prefix("10.244.1.0/24")));
}

#[test]
fn admin_shutdown_carries_the_message() {
    let mut net = Net::new();
    let a = net.add("a", 1, Net::config(1, 65001));
    let b = net.add("b", 2, Net::config(2, 65001));
    net.peer(a, b, |_| {}, |_| {});
    net.run(5 * SEC);
    net.input(
        a,
        Input::ShutdownPeer {
            address: v4("192.0.2.2"),
            message: Some("rack 3 maintenance".into()),
        },
    );
    net.run(30 * SEC);
    assert_eq!(net.state(a, b), State::Idle, "stays down");
    let msg = net.nodes[b].events.iter().find_map(|e| match &e.kind {
        PeerEventKind::Down { down } => match &down.reason {
            DownReason::NotificationReceived { notification } => Some(notification.to_string()),
            _ => None,
        },
        _ => None,
    });
    // Both sides set the N bit, so the Cease travels inside a Hard Reset
    // (RFC 8538 §5.1): B drops A's routes instead of keeping them stale.
    assert_eq!(
        msg.unwrap(),
        "Cease / Hard Reset (6/9) for Cease / Administrative Shutdown (6/2): \"rack 3 maintenance\""
    );
    net.input(a, Input::EnablePeer(v4("192.0.2.2")));
    net.run(5 * SEC);
    assert_eq!(net.state(a, b), State::Established);
}

#[test]
fn dynamic_neighbours_come_and_go_with_their_sessions() {
    let mut net = Net::new();
    let mut bc = Net::config(2, 65001);
    bc.dynamic_neighbors = vec![DynamicNeighbors {
        range: prefix("192.0.2.0/28"),
        template: PeerConfig::new(v4("0.0.0.0"), bgp::fsm::RemoteAs::Internal),
    }];
    let b = net.add("b", 2, bc);
    let a = net.add("a", 1, Net::config(1, 65001));
    let to_b = PeerConfig::new(v4("192.0.2.2"), bgp::fsm::RemoteAs::Internal);
    net.input(a, Input::AddPeer(to_b));
    originate(&mut net, a, "10.244.1.0/24");
    net.run(5 * SEC);
    let view = net.nodes[b]
        .speaker
        .peer(v4("192.0.2.1"))
        .expect("dynamic peer");
    assert!(view.dynamic());
    assert_eq!(view.state(), State::Established);
    assert!(has_route(&net, b, "10.244.1.0/24"));
    net.input(a, Input::RemovePeer(v4("192.0.2.2")));
    assert!(net.nodes[b].speaker.peer(v4("192.0.2.1")).is_none());
    assert!(!has_route(&net, b, "10.244.1.0/24"));
    // Outside the range: refused.
    let c = net.add("c", 40, Net::config(40, 65001));
    net.input(
        c,
        Input::AddPeer(PeerConfig::new(
            v4("192.0.2.2"),
            bgp::fsm::RemoteAs::Internal,
        )),
    );
    net.run(SEC);
    assert!(
        net.nodes[b]
            .events
            .iter()
            .any(|e| matches!(e.kind, PeerEventKind::Refused { .. }))
    );
}

/// a (AS 65001) and b (AS 65002), open both ways, a sending b UPDATEs at
/// most once per `interval`.
fn pair_with_mrai(interval: Duration) -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(
        a,
        b,
        |c| {
            open_policy(c);
            c.min_advertisement_interval = interval;
        },
        open_policy,
    );
    (net, a, b)
}

#[test]
fn min_advertisement_interval_batches_changes() {
    let (mut net, a, b) = pair_with_mrai(Duration::from_secs(5));
    net.run(5 * SEC);
    let sent = |net: &Net| counters(net, a, "192.0.2.2").updates_sent;
    let before = sent(&net);
    originate(&mut net, a, "10.244.1.0/24");
    let after_first = sent(&net);
    originate(&mut net, a, "10.244.2.0/24");
    originate(&mut net, a, "10.244.3.0/24");
    assert_eq!(sent(&net), after_first, "held back by MRAI");
    assert!(!has_route(&net, b, "10.244.3.0/24"));
    net.run(6 * SEC);
    assert!(has_route(&net, b, "10.244.3.0/24"));
    assert_eq!(
        sent(&net),
        after_first + 1,
        "two changes, one packed UPDATE"
    );
    assert!(after_first > before);
}

/// The Adj-RIB-Out lives in the Loc-RIB's destinations: one whose last
/// path goes while MRAI holds its withdrawal back stays (hidden) until the
/// withdrawal is sent, then goes for good.
#[test]
fn a_withdrawal_held_back_by_mrai_is_sent_and_then_forgotten() {
    let (mut net, a, b) = pair_with_mrai(Duration::from_secs(5));
    net.run(5 * SEC);
    originate(&mut net, a, "10.244.1.0/24");
    net.run(SEC / 10);
    assert!(has_route(&net, b, "10.244.1.0/24"));

    net.input(a, Input::Withdraw(prefix("10.244.1.0/24")));
    let rib = net.nodes[a].speaker.rib();
    assert!(rib.get(&prefix("10.244.1.0/24")).is_none());
    assert_eq!(rib.len(), 0, "no route shown");
    assert_eq!(rib.slots().count(), 1, "kept until withdrawn");
    assert!(advertised(&net, a, 2, "10.244.1.0/24"), "not withdrawn yet");
    assert!(has_route(&net, b, "10.244.1.0/24"), "held back by MRAI");

    net.run(6 * SEC);
    assert!(!has_route(&net, b, "10.244.1.0/24"));
    assert!(!advertised(&net, a, 2, "10.244.1.0/24"));
    assert_eq!(net.nodes[a].speaker.rib().slots().count(), 0);
}

/// A group going away (its last member down) takes its Adj-RIB-Out with
/// it, and the destinations only that kept.
#[test]
fn a_group_gone_takes_its_adj_rib_out_along() {
    let (mut net, a, _b) = pair_with_mrai(Duration::from_secs(30));
    // Past the interval begun by the session's first (empty) table.
    net.run(31 * SEC);
    originate(&mut net, a, "10.244.1.0/24");
    originate(&mut net, a, "10.244.2.0/24");
    net.run(SEC / 10);
    assert!(advertised(&net, a, 2, "10.244.1.0/24"));
    net.input(a, Input::Withdraw(prefix("10.244.1.0/24")));
    assert_eq!(net.nodes[a].speaker.rib().slots().count(), 2);

    net.input(a, Input::RemovePeer(v4("192.0.2.2")));
    let rib = net.nodes[a].speaker.rib();
    assert_eq!(net.nodes[a].speaker.export_groups(), 0);
    assert_eq!(rib.slots().count(), 1, "only the route still originated");
    assert!(rib.get(&prefix("10.244.2.0/24")).is_some());
}

#[test]
fn a_burst_absorbed_then_settled_goes_out_as_one_update() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    net.peer(a, b, open_policy, open_policy);
    net.run(5 * SEC);
    let sent = |net: &Net| counters(net, a, "192.0.2.2").updates_sent;
    let before = sent(&net);
    let routes = ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"];
    net.burst(
        a,
        routes
            .iter()
            .map(|p| Input::Originate(LocalRoute::new(prefix(p))))
            .collect(),
    );
    for p in routes {
        assert!(has_route(&net, b, p), "{p}");
    }
    assert_eq!(sent(&net), before + 1, "three changes, one packed UPDATE");
}

/// The paths of `p` at node `i` learned from peers (not originated there).
fn learned_paths(net: &Net, i: usize, p: &str) -> Vec<String> {
    net.nodes[i]
        .speaker
        .rib()
        .get(&prefix(p))
        .map(|d| {
            d.paths
                .iter()
                .filter(|path| path.source != Source::Local)
                .map(|path| path.attrs.as_path.to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What node `i` advertises to the peer at 192.0.2.`to`.
fn advertised(net: &Net, i: usize, to: u8, p: &str) -> bool {
    let view = net.nodes[i]
        .speaker
        .peer(v4(&format!("192.0.2.{to}")))
        .unwrap();
    view.adj_rib_out().any(|(q, _)| q == prefix(p))
}

/// Node `a` (AS 65001) with eBGP peers b, c, d (AS 65002..65004), all open.
fn hub_and_three() -> (Net, [usize; 4]) {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    let c = net.add("c", 3, with_policies(Net::config(3, 65003)));
    let d = net.add("d", 4, with_policies(Net::config(4, 65004)));
    for x in [b, c, d] {
        net.peer(a, x, open_policy, open_policy);
    }
    net.run(5 * SEC);
    (net, [a, b, c, d])
}

#[test]
fn peers_alike_share_one_export_group_and_never_get_their_own_routes_back() {
    let (mut net, [a, b, c, d]) = hub_and_three();
    let hub = &net.nodes[a].speaker;
    assert_eq!(hub.export_groups(), 1);
    assert_eq!(hub.peer(v4("192.0.2.2")).unwrap().export_group().len(), 3);

    originate(&mut net, b, "10.244.2.0/24");
    net.run(SEC);
    for x in [c, d] {
        assert_eq!(learned_paths(&net, x, "10.244.2.0/24"), ["65001 65002"]);
    }
    // RFC 4271 §9.2: not back to b; b would have refused it (AS loop).
    assert!(!advertised(&net, a, 2, "10.244.2.0/24"));
    assert!(advertised(&net, a, 3, "10.244.2.0/24"));
    let back = counters(&net, b, "192.0.2.1").rejected_by_checks;
    assert_eq!(back, 0, "b was sent its own route");
}

#[test]
fn when_the_best_path_moves_between_members_each_gets_the_right_view() {
    let (mut net, [a, b, c, d]) = hub_and_three();
    // Both b and c originate P; a prefers b's (lower router ID, RFC 4271
    // §9.1.2.2 f), so c gets b's path and b gets nothing back.
    originate(&mut net, b, "10.244.7.0/24");
    originate(&mut net, c, "10.244.7.0/24");
    net.run(SEC);
    assert_eq!(best_path_of(&net, a, "10.244.7.0/24"), "65002");
    assert_eq!(
        learned_paths(&net, b, "10.244.7.0/24"),
        Vec::<String>::new()
    );
    assert_eq!(learned_paths(&net, c, "10.244.7.0/24"), ["65001 65002"]);
    assert_eq!(learned_paths(&net, d, "10.244.7.0/24"), ["65001 65002"]);

    // b withdraws: c's path wins at a. c must lose the path it had from a
    // (it is its own now), b must get c's, d must get c's instead of b's.
    net.input(b, Input::Withdraw(prefix("10.244.7.0/24")));
    net.run(SEC);
    assert_eq!(best_path_of(&net, a, "10.244.7.0/24"), "65003");
    assert_eq!(learned_paths(&net, b, "10.244.7.0/24"), ["65001 65003"]);
    assert_eq!(
        learned_paths(&net, c, "10.244.7.0/24"),
        Vec::<String>::new()
    );
    assert_eq!(learned_paths(&net, d, "10.244.7.0/24"), ["65001 65003"]);

    // And back: b originates again and wins.
    originate(&mut net, b, "10.244.7.0/24");
    net.run(SEC);
    assert_eq!(
        learned_paths(&net, b, "10.244.7.0/24"),
        Vec::<String>::new()
    );
    assert_eq!(learned_paths(&net, c, "10.244.7.0/24"), ["65001 65002"]);
    assert_eq!(learned_paths(&net, d, "10.244.7.0/24"), ["65001 65002"]);
    for x in [b, c] {
        let refused = counters(&net, x, "192.0.2.1").rejected_by_checks;
        assert_eq!(refused, 0, "node {x} was sent its own route");
    }
}

#[test]
fn a_peer_whose_export_changes_moves_group_and_gets_the_difference() {
    let (mut net, [a, b, c, d]) = hub_and_three();
    originate(&mut net, b, "10.244.2.0/24");
    originate(&mut net, b, "10.244.3.0/24");
    net.run(SEC);
    assert!(!learned_paths(&net, d, "10.244.3.0/24").is_empty());

    // d now gets an export chain that refuses 10.244.3.0/24.
    let mut policies = accept_all();
    policies.insert("out-d".into(), deny_prefix("10.244.3.0/24"));
    net.input(a, Input::SetPolicies(policies));
    let mut cd = PeerConfig::new(v4("192.0.2.4"), bgp::fsm::RemoteAs::Exact(Asn::new(65004)));
    cd.connect_retry = 2 * SEC;
    cd.import = Some(vec!["all".into()]);
    cd.export = Some(vec!["out-d".into()]);
    net.input(a, Input::UpdatePeer(cd));
    net.run(SEC);
    let hub = &net.nodes[a].speaker;
    assert_eq!(hub.export_groups(), 2);
    assert_eq!(hub.peer(v4("192.0.2.4")).unwrap().export_group().len(), 1);
    assert!(learned_paths(&net, d, "10.244.3.0/24").is_empty());
    assert_eq!(learned_paths(&net, d, "10.244.2.0/24"), ["65001 65002"]);
    assert_eq!(learned_paths(&net, c, "10.244.3.0/24"), ["65001 65002"]);
    assert_eq!(
        net.events(a, d, |k| matches!(k, PeerEventKind::Down { .. })),
        0,
        "no reset"
    );

    // Changing the policy's contents re-exports the group in place.
    let mut policies = accept_all();
    policies.insert("out-d".into(), deny_prefix("10.244.2.0/24"));
    net.input(a, Input::SetPolicies(policies));
    net.run(SEC);
    assert!(learned_paths(&net, d, "10.244.2.0/24").is_empty());
    assert_eq!(learned_paths(&net, d, "10.244.3.0/24"), ["65001 65002"]);
    assert!(learned_paths(&net, c, "10.244.2.0/24").len() == 1);
}

#[test]
fn a_policy_matching_the_neighbor_gives_each_peer_its_own_group() {
    let mut net = Net::new();
    let mut hub = with_policies(Net::config(1, 65001));
    hub.policies.insert(
        "not-to-c".into(),
        Policy {
            name: "not-to-c".into(),
            rules: vec![Rule {
                name: None,
                conditions: vec![Condition::Neighbor(vec![prefix("192.0.2.3/32")])],
                actions: vec![],
                verdict: Some(Verdict::Reject),
            }],
            default: Fallthrough::Accept,
        },
    );
    let a = net.add("a", 1, hub);
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    let c = net.add("c", 3, with_policies(Net::config(3, 65003)));
    let d = net.add("d", 4, with_policies(Net::config(4, 65004)));
    for x in [b, c, d] {
        net.peer(
            a,
            x,
            |p| {
                p.import = Some(vec!["all".into()]);
                p.export = Some(vec!["not-to-c".into()]);
            },
            open_policy,
        );
    }
    net.run(5 * SEC);
    originate(&mut net, b, "10.244.2.0/24");
    net.run(SEC);
    assert_eq!(net.nodes[a].speaker.export_groups(), 3);
    assert!(learned_paths(&net, c, "10.244.2.0/24").is_empty());
    assert_eq!(learned_paths(&net, d, "10.244.2.0/24"), ["65001 65002"]);
}

#[test]
fn a_peer_joining_a_lone_members_group_gets_that_members_routes() {
    let mut net = Net::new();
    let a = net.add("a", 1, with_policies(Net::config(1, 65001)));
    let b = net.add("b", 2, with_policies(Net::config(2, 65002)));
    let c = net.add("c", 3, with_policies(Net::config(3, 65003)));
    net.peer(a, b, open_policy, open_policy);
    net.run(5 * SEC);
    // b alone in its group: its own routes go to no one and are not kept.
    originate(&mut net, b, "10.244.2.0/24");
    net.run(SEC);
    assert!(!advertised(&net, a, 2, "10.244.2.0/24"));

    net.peer(a, c, open_policy, open_policy);
    net.run(5 * SEC);
    assert_eq!(net.nodes[a].speaker.export_groups(), 1);
    assert_eq!(learned_paths(&net, c, "10.244.2.0/24"), ["65001 65002"]);
    assert!(learned_paths(&net, b, "10.244.2.0/24").is_empty());
}
