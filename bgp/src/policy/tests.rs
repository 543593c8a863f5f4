use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::rib::RouteAttrs;
use crate::types::{Asn, Community, LargeCommunity, Prefix};
use crate::wire::{AsPath, NextHop};

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn range(s: &str, ge: Option<u8>, le: Option<u8>) -> PrefixRange {
    PrefixRange::new(p(s), ge, le).unwrap()
}

fn ctx(prefix: &str) -> RouteContext {
    RouteContext {
        prefix: p(prefix),
        neighbor: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
        source: RouteSource::External,
        local_as: Asn::new(65001),
        self_next_hop: Some(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1))),
    }
}

fn attrs() -> RouteAttrs {
    let mut a = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 2)));
    a.as_path = AsPath::from_sequence([Asn::new(65002), Asn::new(65010)]);
    a.communities = vec![Community::from_parts(65002, 1)];
    a
}

fn rule(conditions: Vec<Condition>, actions: Vec<Action>, verdict: Option<Verdict>) -> Rule {
    Rule {
        name: None,
        conditions,
        actions,
        verdict,
    }
}

fn policy(rules: Vec<Rule>, default: Fallthrough) -> Policy {
    Policy {
        name: "test".into(),
        rules,
        default,
    }
}

#[test]
fn prefix_ranges_follow_ge_le() {
    assert!(range("10.244.0.0/16", None, None).matches(&p("10.244.0.0/16")));
    assert!(!range("10.244.0.0/16", None, None).matches(&p("10.244.1.0/24")));
    let r = range("10.244.0.0/16", Some(24), Some(26));
    assert!(r.matches(&p("10.244.7.0/24")) && r.matches(&p("10.244.7.64/26")));
    assert!(!r.matches(&p("10.244.7.0/27")) && !r.matches(&p("10.245.0.0/24")));
    // `le` alone starts at the prefix length; `ge` alone ends at 32.
    assert!(range("10.244.0.0/16", None, Some(24)).matches(&p("10.244.0.0/17")));
    assert!(range("10.244.0.0/16", Some(30), None).matches(&p("10.244.0.1/32")));
    assert!(PrefixRange::new(p("10.244.0.0/16"), Some(8), None).is_err());
    assert!(PrefixRange::new(p("10.244.0.0/16"), Some(24), Some(20)).is_err());
    assert!(!range("fd00:10:244::/48", None, Some(64)).matches(&p("10.244.0.0/16")));
}

#[test]
fn first_matching_rule_decides() {
    let pol = policy(
        vec![
            rule(
                vec![Condition::Prefix(PrefixSet(vec![range(
                    "10.244.0.0/16",
                    None,
                    Some(24),
                )]))],
                vec![
                    Action::LocalPref(200),
                    Action::AddCommunities(vec![Community::NO_EXPORT]),
                ],
                Some(Verdict::Accept),
            ),
            rule(vec![], vec![], Some(Verdict::Reject)),
        ],
        Fallthrough::Reject,
    );
    let mut a = attrs();
    assert_eq!(
        evaluate([&pol], &ctx("10.244.3.0/24"), &mut a),
        Verdict::Accept
    );
    assert_eq!(a.local_pref, Some(200));
    assert!(a.communities.contains(&Community::NO_EXPORT));
    let mut a = attrs();
    assert_eq!(
        evaluate([&pol], &ctx("198.51.100.0/24"), &mut a),
        Verdict::Reject
    );
}

#[test]
fn rules_without_verdict_go_on_and_chains_fall_through() {
    let tag = policy(
        vec![rule(vec![], vec![Action::Med(7)], None)],
        Fallthrough::Next,
    );
    let deny = policy(
        vec![rule(
            vec![Condition::Community(vec![Community::from_parts(65002, 1)])],
            vec![],
            Some(Verdict::Reject),
        )],
        Fallthrough::Accept,
    );
    let mut a = attrs();
    assert_eq!(
        evaluate([&tag, &deny], &ctx("10.0.0.0/8"), &mut a),
        Verdict::Reject
    );
    assert_eq!(a.med, Some(7));
    let mut b = attrs();
    b.communities.clear();
    assert_eq!(
        evaluate([&tag, &deny], &ctx("10.0.0.0/8"), &mut b),
        Verdict::Accept
    );
    // An empty chain accepts.
    assert_eq!(
        evaluate([], &ctx("10.0.0.0/8"), &mut attrs()),
        Verdict::Accept
    );
}

#[test]
fn every_condition() {
    let c = ctx("10.244.1.0/24");
    let a = attrs();
    let yes = |cond: Condition| holds(&cond, &c, &a);
    assert!(yes(Condition::Family(crate::types::Family::IPV4_UNICAST)));
    assert!(!yes(Condition::Family(crate::types::Family::IPV6_UNICAST)));
    assert!(yes(Condition::AsPath(AsPathMatch::Contains(Asn::new(
        65010
    )))));
    assert!(yes(Condition::AsPath(AsPathMatch::OriginatesFrom(
        Asn::new(65010)
    ))));
    assert!(yes(Condition::AsPath(AsPathMatch::NeighborIs(Asn::new(
        65002
    )))));
    assert!(yes(Condition::AsPath(AsPathMatch::LengthAtMost(2))));
    assert!(!yes(Condition::AsPath(AsPathMatch::LengthAtLeast(3))));
    assert!(yes(Condition::Neighbor(vec![p("192.0.2.0/24")])));
    assert!(!yes(Condition::Neighbor(vec![p("198.51.100.0/24")])));
    assert!(yes(Condition::NextHop(vec![p("192.0.2.2/32")])));
    assert!(yes(Condition::Source(RouteSource::External)));
    assert!(yes(Condition::Not(Box::new(Condition::Source(
        RouteSource::Local
    )))));
    assert!(!yes(Condition::LargeCommunity(vec![LargeCommunity::new(
        1, 2, 3
    )])));
}

#[test]
fn every_action() {
    let c = ctx("10.244.1.0/24");
    let mut a = attrs();
    for action in [
        Action::Med(5),
        Action::RemoveMed,
        Action::AddLargeCommunities(vec![LargeCommunity::new(1, 2, 3)]),
        Action::RemoveCommunities(vec![Community::from_parts(65002, 1)]),
        Action::Prepend {
            asn: None,
            count: 2,
        },
        Action::NextHopSelf,
    ] {
        apply(&action, &c, &mut a);
    }
    assert_eq!(a.med, None);
    assert_eq!(a.large_communities, vec![LargeCommunity::new(1, 2, 3)]);
    assert!(a.communities.is_empty());
    assert_eq!(a.as_path.to_string(), "65001 65001 65002 65010");
    assert_eq!(a.next_hop, NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    apply(&Action::NextHop("2001:db8::9".parse().unwrap()), &c, &mut a);
    assert!(matches!(a.next_hop, NextHop::V6 { .. }));
    apply(
        &Action::AddCommunities(vec![Community::NO_EXPORT]),
        &c,
        &mut a,
    );
    apply(&Action::ClearCommunities, &c, &mut a);
    assert!(a.communities.is_empty());
}

/// The speaker evaluates a prefix-free chain once per attribute set: only a
/// prefix condition, at any depth, makes a policy look at prefixes.
#[test]
fn only_prefix_conditions_look_at_prefixes() {
    let communities = policy(
        vec![rule(
            vec![
                Condition::Community(vec![Community::from_parts(65002, 1)]),
                Condition::Family(crate::types::Family::IPV4_UNICAST),
                Condition::Not(Box::new(Condition::Source(RouteSource::Local))),
            ],
            vec![Action::LocalPref(200)],
            Some(Verdict::Accept),
        )],
        Fallthrough::Reject,
    );
    assert!(!communities.looks_at_prefix());
    let set = PrefixSet(vec![range("10.244.0.0/16", None, Some(24))]);
    let prefixes = policy(
        vec![rule(
            vec![Condition::Not(Box::new(Condition::Prefix(set)))],
            vec![],
            Some(Verdict::Reject),
        )],
        Fallthrough::Accept,
    );
    assert!(prefixes.looks_at_prefix());
}
