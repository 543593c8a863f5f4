use std::collections::BTreeMap;
use std::net::IpAddr;

use super::*;
use crate::fib::connected::InterfaceAddr;
use crate::fib::kernel::{FakeKernel, Kernel, Owner};
use crate::fib::route::Hop;

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn connected() -> Connected {
    Connected::new(vec![
        InterfaceAddr {
            ifindex: 2,
            address: a("192.0.2.1"),
            subnet: p("192.0.2.0/29"),
        },
        InterfaceAddr {
            ifindex: 3,
            address: a("198.51.100.1"),
            subnet: p("198.51.100.0/24"),
        },
    ])
}

fn spec(nh: &str) -> NextHopSpec {
    NextHopSpec {
        address: a(nh),
        link_local: None,
        peer: a(nh),
        peer_interface: None,
    }
}

fn via(hops: &[(&str, u32)]) -> Target {
    Target::via(
        hops.iter()
            .map(|(g, i)| Hop {
                gateway: a(g),
                ifindex: *i,
            })
            .collect(),
    )
    .unwrap()
}

/// Runs the reconciliation until it has nothing more to do, as the task
/// does; returns how many operations it took.
fn sync(t: &mut Table, k: &mut FakeKernel) -> usize {
    let mut n = 0;
    for _ in 0..10 {
        let ops = t.take_ops();
        if ops.is_empty() {
            return n;
        }
        n += ops.len();
        for (op, r) in ops.iter().zip(k.apply(&ops).unwrap()) {
            t.applied(op, r);
        }
    }
    panic!("the reconciliation does not settle");
}

fn ours(k: &FakeKernel, prefix: &str) -> Option<Target> {
    match k.table.get(&p(prefix)) {
        Some((Owner::Us, t)) => Some(t.clone()),
        _ => None,
    }
}

fn fresh() -> (Table, FakeKernel) {
    let k = FakeKernel {
        connected: connected(),
        ..FakeKernel::default()
    };
    let mut t = Table::new(vec![], connected());
    t.synced();
    (t, k)
}

#[test]
fn a_best_path_becomes_a_kernel_route_and_a_withdrawal_removes_it() {
    let (mut t, mut k) = fresh();
    t.set_learned(p("10.244.2.0/24"), vec![spec("192.0.2.2")]);
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(ours(&k, "10.244.2.0/24"), Some(via(&[("192.0.2.2", 2)])));
    assert_eq!(t.state(p("10.244.2.0/24")), Some(&FibState::Installed));
    // A new best path replaces the route in place.
    t.set_learned(p("10.244.2.0/24"), vec![spec("198.51.100.7")]);
    let ops = t.take_ops();
    assert!(matches!(ops[0], Op::Set { replace: true, .. }));
    for (op, r) in ops.iter().zip(k.apply(&ops).unwrap()) {
        t.applied(op, r);
    }
    assert_eq!(ours(&k, "10.244.2.0/24"), Some(via(&[("198.51.100.7", 3)])));
    t.set_learned(p("10.244.2.0/24"), vec![]);
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.2.0/24"), None);
    assert_eq!(t.state(p("10.244.2.0/24")), None);
}

#[test]
fn ecmp_installs_every_connected_next_hop_and_reports_the_others() {
    let (mut t, mut k) = fresh();
    t.set_learned(
        p("10.244.3.0/24"),
        vec![spec("198.51.100.9"), spec("192.0.2.3")],
    );
    sync(&mut t, &mut k);
    assert_eq!(
        ours(&k, "10.244.3.0/24"),
        Some(via(&[("192.0.2.3", 2), ("198.51.100.9", 3)]))
    );
    t.set_learned(
        p("10.244.3.0/24"),
        vec![spec("192.0.2.3"), spec("203.0.113.5")],
    );
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.3.0/24"), Some(via(&[("192.0.2.3", 2)])));
    assert!(matches!(
        t.state(p("10.244.3.0/24")),
        Some(FibState::Partial(w)) if w.contains("203.0.113.5")
    ));
}

#[test]
fn a_next_hop_that_is_not_connected_is_reported_not_installed() {
    let (mut t, mut k) = fresh();
    t.set_learned(p("10.244.4.0/24"), vec![spec("203.0.113.5")]);
    assert_eq!(sync(&mut t, &mut k), 0);
    assert!(k.table.is_empty());
    assert!(matches!(
        t.state(p("10.244.4.0/24")),
        Some(FibState::NotInstalled(w)) if w.contains("not on a directly connected subnet")
    ));
    // The link comes up with an address on that subnet: installed.
    let mut c = connected().addrs().to_vec();
    c.push(InterfaceAddr {
        ifindex: 4,
        address: a("203.0.113.1"),
        subnet: p("203.0.113.0/24"),
    });
    t.set_connected(Connected::new(c));
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.4.0/24"), Some(via(&[("203.0.113.5", 4)])));
    // And goes away again: the route leaves the kernel, with the reason.
    t.set_connected(connected());
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.4.0/24"), None);
    assert!(matches!(
        t.state(p("10.244.4.0/24")),
        Some(FibState::NotInstalled(_))
    ));
}

#[test]
fn a_graceful_restart_keeps_the_previous_routes_until_the_speaker_is_synced() {
    let mut k = FakeKernel {
        connected: connected(),
        ..FakeKernel::default()
    };
    k.table
        .insert(p("10.244.2.0/24"), (Owner::Us, via(&[("192.0.2.2", 2)])));
    k.table
        .insert(p("10.244.9.0/24"), (Owner::Us, via(&[("192.0.2.3", 2)])));
    let routes = k.routes().unwrap();
    let mut t = Table::new(routes, connected());
    // Nothing is written while the speaker relearns.
    assert_eq!(sync(&mut t, &mut k), 0);
    assert_eq!(t.state(p("10.244.9.0/24")), Some(&FibState::Kept));
    // The same route relearned: no write at all.
    t.set_learned(p("10.244.2.0/24"), vec![spec("192.0.2.2")]);
    assert_eq!(sync(&mut t, &mut k), 0);
    assert_eq!(t.state(p("10.244.2.0/24")), Some(&FibState::Installed));
    // End-of-RIB from everyone: what was not relearned goes.
    t.synced();
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(ours(&k, "10.244.9.0/24"), None);
    assert!(ours(&k, "10.244.2.0/24").is_some());
}

#[test]
fn another_protocols_route_is_never_replaced() {
    let (mut t, mut k) = fresh();
    k.table.insert(
        p("10.244.5.0/24"),
        (Owner::Other(4), via(&[("198.51.100.200", 3)])),
    );
    t.set_learned(p("10.244.5.0/24"), vec![spec("192.0.2.2")]);
    sync(&mut t, &mut k);
    assert_eq!(
        k.table[&p("10.244.5.0/24")].0,
        Owner::Other(4),
        "the static route must survive"
    );
    assert!(matches!(
        t.state(p("10.244.5.0/24")),
        Some(FibState::NotInstalled(w)) if w.contains("not its own")
    ));
    // Withdrawn: the other route is not deleted either.
    t.set_learned(p("10.244.5.0/24"), vec![]);
    sync(&mut t, &mut k);
    assert_eq!(k.table[&p("10.244.5.0/24")].0, Owner::Other(4));
    // Once the other route is gone, ours goes in.
    t.set_learned(p("10.244.5.0/24"), vec![spec("192.0.2.2")]);
    sync(&mut t, &mut k);
    k.table.remove(&p("10.244.5.0/24"));
    t.foreign_removed(p("10.244.5.0/24"));
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.5.0/24"), Some(via(&[("192.0.2.2", 2)])));
}

#[test]
fn a_route_of_ours_deleted_or_changed_by_someone_else_is_restored() {
    let (mut t, mut k) = fresh();
    t.set_learned(p("10.244.6.0/24"), vec![spec("192.0.2.2")]);
    sync(&mut t, &mut k);
    // `ip route del`: the kernel tells us.
    k.table.remove(&p("10.244.6.0/24"));
    t.kernel_changed(p("10.244.6.0/24"), None);
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(ours(&k, "10.244.6.0/24"), Some(via(&[("192.0.2.2", 2)])));
    // `ip route replace ... proto 44` with another gateway.
    let wrong = via(&[("192.0.2.6", 2)]);
    k.table
        .insert(p("10.244.6.0/24"), (Owner::Us, wrong.clone()));
    t.kernel_changed(p("10.244.6.0/24"), Some(wrong));
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(ours(&k, "10.244.6.0/24"), Some(via(&[("192.0.2.2", 2)])));
    // Our own writes echoed back change nothing.
    t.kernel_changed(p("10.244.6.0/24"), Some(via(&[("192.0.2.2", 2)])));
    assert_eq!(sync(&mut t, &mut k), 0);
    // A route with our protocol that we do not want (someone added it) goes.
    k.table
        .insert(p("10.244.7.0/24"), (Owner::Us, via(&[("192.0.2.2", 2)])));
    t.kernel_changed(p("10.244.7.0/24"), Some(via(&[("192.0.2.2", 2)])));
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.7.0/24"), None);
}

#[test]
fn our_pod_block_is_unreachable_whatever_is_learned_for_it() {
    let (mut t, mut k) = fresh();
    t.set_local(BTreeMap::from([(p("10.244.1.0/24"), Target::Unreachable)]));
    t.set_learned(p("10.244.1.0/24"), vec![spec("192.0.2.2")]);
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.1.0/24"), Some(Target::Unreachable));
    t.set_local(BTreeMap::from([(p("10.244.1.0/24"), Target::Blackhole)]));
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.1.0/24"), Some(Target::Blackhole));
    // The block is no longer ours: what BGP says applies.
    t.set_local(BTreeMap::new());
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.1.0/24"), Some(via(&[("192.0.2.2", 2)])));
}

#[test]
fn a_full_resync_rewrites_only_what_differs() {
    let (mut t, mut k) = fresh();
    for i in 0..100u8 {
        t.set_learned(p(&format!("10.244.{i}.0/24")), vec![spec("192.0.2.2")]);
    }
    assert_eq!(sync(&mut t, &mut k), 100);
    // Events were lost (ENOBUFS); meanwhile someone deleted two routes.
    k.table.remove(&p("10.244.3.0/24"));
    k.table.remove(&p("10.244.77.0/24"));
    let dump = k.routes().unwrap();
    t.replace_kernel(dump);
    assert_eq!(sync(&mut t, &mut k), 2);
    assert_eq!(t.counts().installed, 100);
}
