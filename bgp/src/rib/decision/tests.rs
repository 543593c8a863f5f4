//! Decision-process tables: each row pits two paths that differ in exactly
//! one respect and names the RFC clause that decides.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::rib::attrs::RouteAttrs;
use crate::types::{Asn, PathId, RouterId};
use crate::wire::{AsPath, AsSegment, NextHop, Origin as WireOrigin, SegmentType};

#[derive(Clone)]
struct Spec {
    attrs: RouteAttrs,
    origin: Origin,
    path_id: Option<PathId>,
}

fn spec() -> Spec {
    let mut attrs = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    attrs.as_path = AsPath::from_sequence([Asn::new(65002)]);
    Spec {
        attrs,
        origin: Origin {
            local: false,
            internal: false,
            router_id: RouterId::new(0x0a00_0005).unwrap(),
            address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5))),
        },
        path_id: None,
    }
}

impl Spec {
    fn lp(mut self, v: u32) -> Self {
        self.attrs.local_pref = Some(v);
        self
    }
    fn path(mut self, asns: &[u32]) -> Self {
        self.attrs.as_path = AsPath::from_sequence(asns.iter().map(|a| Asn::new(*a)));
        self
    }
    fn set(mut self, asns: &[u32]) -> Self {
        self.attrs.as_path.segments.push(AsSegment {
            kind: SegmentType::Set,
            asns: asns.iter().map(|a| Asn::new(*a)).collect(),
        });
        self
    }
    fn confed(mut self, asns: &[u32]) -> Self {
        self.attrs.as_path.segments.insert(
            0,
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: asns.iter().map(|a| Asn::new(*a)).collect(),
            },
        );
        self
    }
    fn origin(mut self, o: WireOrigin) -> Self {
        self.attrs.origin = o;
        self
    }
    fn med(mut self, m: u32) -> Self {
        self.attrs.med = Some(m);
        self
    }
    fn ibgp(mut self) -> Self {
        self.origin.internal = true;
        self
    }
    fn local(mut self) -> Self {
        self.origin.local = true;
        self.origin.address = None;
        self
    }
    fn rid(mut self, last: u32) -> Self {
        self.origin.router_id = RouterId::new(0x0a00_0000 + last).unwrap();
        self
    }
    fn originator(mut self, last: u8) -> Self {
        self.attrs.originator_id = Some(Ipv4Addr::new(10, 0, 0, last));
        self
    }
    fn clusters(mut self, n: u8) -> Self {
        self.attrs.cluster_list = (0..n).map(|i| Ipv4Addr::new(10, 9, 9, i)).collect();
        self
    }
    fn addr(mut self, last: u8) -> Self {
        self.origin.address = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)));
        self
    }
    fn path_id(mut self, id: u32) -> Self {
        self.path_id = Some(PathId(id));
        self
    }
}

fn run(specs: &[Spec], cfg: &DecisionConfig) -> Decision {
    let c: Vec<Candidate<'_>> = specs
        .iter()
        .map(|s| Candidate {
            attrs: &s.attrs,
            origin: s.origin,
            path_id: s.path_id,
        })
        .collect();
    decide(&c, cfg)
}

fn cfg() -> DecisionConfig {
    DecisionConfig::new(Asn::new(65001))
}

/// (clause, winner, loser, the reason the loser records)
fn table() -> Vec<(&'static str, Spec, Spec, LossReason)> {
    use WireOrigin::*;
    vec![
        (
            "RFC 4271 §9.1.1: higher LOCAL_PREF",
            spec().lp(200),
            spec().lp(100),
            LossReason::LocalPref,
        ),
        (
            "RFC 4271 §9.1.1: LOCAL_PREF defaults to 100",
            spec(),
            spec().lp(99),
            LossReason::LocalPref,
        ),
        (
            "local origination wins after LOCAL_PREF",
            spec().local(),
            spec(),
            LossReason::NotLocal,
        ),
        (
            "RFC 4271 §9.1.2.2 (a): shorter AS_PATH",
            spec().path(&[1]),
            spec().path(&[1, 2]),
            LossReason::AsPathLength,
        ),
        (
            "RFC 4271 §9.1.2.2 (a): an AS_SET counts as one",
            spec().path(&[1]).set(&[2, 3, 4]),
            spec().path(&[1, 2, 3]),
            LossReason::AsPathLength,
        ),
        (
            "RFC 5065 §5.3: confederation segments do not count",
            spec().path(&[1, 2]).confed(&[9, 9, 9]),
            spec().path(&[1, 2, 3]),
            LossReason::AsPathLength,
        ),
        (
            "RFC 4271 §9.1.2.2 (b): IGP < EGP",
            spec().origin(Igp),
            spec().origin(Egp),
            LossReason::Origin,
        ),
        (
            "RFC 4271 §9.1.2.2 (b): EGP < INCOMPLETE",
            spec().origin(Egp),
            spec().origin(Incomplete),
            LossReason::Origin,
        ),
        (
            "RFC 4271 §9.1.2.2 (c): lower MED, same neighbour AS",
            spec().med(10),
            spec().med(20),
            LossReason::Med,
        ),
        (
            "RFC 4271 §9.1.2.2 (c): a missing MED is the lowest",
            spec(),
            spec().med(1),
            LossReason::Med,
        ),
        (
            "RFC 4271 §9.1.2.2 (d): eBGP over iBGP",
            spec(),
            spec().ibgp(),
            LossReason::Internal,
        ),
        (
            "RFC 4271 §9.1.2.2 (f): lower BGP identifier",
            spec().rid(1),
            spec().rid(2),
            LossReason::RouterId,
        ),
        (
            "RFC 4456 §9: ORIGINATOR_ID stands in for the identifier",
            spec().rid(9).originator(1),
            spec().rid(2),
            LossReason::RouterId,
        ),
        (
            "RFC 4456 §9: shorter CLUSTER_LIST",
            spec().clusters(1),
            spec().clusters(2),
            LossReason::ClusterListLength,
        ),
        (
            "RFC 4271 §9.1.2.2 (g): lower peer address",
            spec().addr(1),
            spec().addr(2),
            LossReason::PeerAddress,
        ),
        (
            "RFC 7911: lower path identifier from one peer",
            spec().path_id(1),
            spec().path_id(2),
            LossReason::PathId,
        ),
    ]
}

#[test]
fn each_tie_break_in_order() {
    for (clause, winner, loser, reason) in table() {
        for order in [
            [winner.clone(), loser.clone()],
            [loser.clone(), winner.clone()],
        ] {
            let d = run(&order, &cfg());
            let w = order
                .iter()
                .position(|s| {
                    s.attrs == winner.attrs
                        && s.origin == winner.origin
                        && s.path_id == winner.path_id
                })
                .unwrap();
            assert_eq!(d.best, Some(w), "{clause}");
            assert_eq!(d.lost[1 - w], Some(reason), "{clause}");
            assert_eq!(d.lost[w], None, "{clause}");
        }
    }
}

#[test]
fn earlier_steps_win_over_later_ones() {
    // Higher LOCAL_PREF beats a shorter path, a shorter path beats a better
    // origin, and so on down the list.
    let d = run(
        &[spec().lp(200).path(&[1, 2, 3]), spec().path(&[1])],
        &cfg(),
    );
    assert_eq!((d.best, d.lost[1]), (Some(0), Some(LossReason::LocalPref)));
    let d = run(
        &[
            spec().path(&[1]).origin(WireOrigin::Incomplete),
            spec().path(&[1, 2]),
        ],
        &cfg(),
    );
    assert_eq!(
        (d.best, d.lost[1]),
        (Some(0), Some(LossReason::AsPathLength))
    );
    let d = run(&[spec().ibgp().med(0), spec().med(5)], &cfg());
    assert_eq!(
        (d.best, d.lost[0]),
        (Some(0), None),
        "MED decides before eBGP/iBGP"
    );
}

#[test]
fn med_is_compared_only_within_a_neighbour_as() {
    // RFC 4271 §9.1.2.2 (c): A (AS 1, MED 10) and B (AS 2, MED 5) are not
    // compared; C (AS 1, MED 20) loses to A. Then router ID decides A vs B.
    let a = spec().path(&[1]).med(10).rid(3);
    let b = spec().path(&[2]).med(5).rid(4);
    let c = spec().path(&[1]).med(20).rid(1);
    let d = run(&[a.clone(), b.clone(), c.clone()], &cfg());
    assert_eq!(d.lost[2], Some(LossReason::Med));
    assert_eq!(d.best, Some(0));
    assert_eq!(d.lost[1], Some(LossReason::RouterId));
    // The classic non-transitive case: the result does not depend on order.
    for perm in [
        [b.clone(), c.clone(), a.clone()],
        [c.clone(), a.clone(), b.clone()],
    ] {
        let d = run(&perm, &cfg());
        let best = &perm[d.best.unwrap()];
        assert_eq!(best.attrs, a.attrs);
    }
    // always-compare-med compares across ASes.
    let mut always = cfg();
    always.always_compare_med = true;
    let d = run(&[a, b], &always);
    assert_eq!((d.best, d.lost[0]), (Some(1), Some(LossReason::Med)));
}

#[test]
fn multipath_takes_paths_equal_up_to_the_router_id() {
    let a = spec().path(&[65002, 7]).rid(1).addr(1);
    let b = spec().path(&[65002, 7]).rid(2).addr(2);
    let c = spec().path(&[65003, 7]).rid(3).addr(3);
    let worse = spec().path(&[65002, 7, 8]).rid(0).addr(4);
    let d = run(&[a.clone(), b.clone(), c.clone(), worse.clone()], &cfg());
    assert_eq!(d.best, Some(0));
    assert_eq!(d.multipath, vec![0, 1], "same AS path only, without relax");
    let mut relax = cfg();
    relax.multipath_relax = true;
    let d = run(&[a.clone(), b.clone(), c.clone(), worse], &relax);
    assert_eq!(d.multipath, vec![0, 1, 2]);
    let mut one = relax;
    one.max_paths = 1;
    assert_eq!(run(&[a, b, c], &one).multipath, vec![0]);
    // eBGP and iBGP paths never share: (d) already split them.
    let d = run(&[spec().rid(1), spec().ibgp().rid(2)], &cfg());
    assert_eq!(d.multipath, vec![0]);
}

#[test]
fn empty_and_single() {
    assert_eq!(run(&[], &cfg()).best, None);
    let d = run(&[spec()], &cfg());
    assert_eq!(
        (d.best, d.multipath.clone(), d.lost),
        (Some(0), vec![0], vec![None])
    );
}
