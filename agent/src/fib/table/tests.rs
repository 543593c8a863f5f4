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
        let ops = t.take_ops(usize::MAX);
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
    t.set_learned(p("10.244.2.0/24"), &vec![spec("192.0.2.2")].into());
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(ours(&k, "10.244.2.0/24"), Some(via(&[("192.0.2.2", 2)])));
    assert_eq!(t.state(p("10.244.2.0/24")), Some(FibState::Installed));
    // A new best path replaces the route in place.
    t.set_learned(p("10.244.2.0/24"), &vec![spec("198.51.100.7")].into());
    let ops = t.take_ops(usize::MAX);
    assert!(matches!(ops[0], Op::Set { replace: true, .. }));
    for (op, r) in ops.iter().zip(k.apply(&ops).unwrap()) {
        t.applied(op, r);
    }
    assert_eq!(ours(&k, "10.244.2.0/24"), Some(via(&[("198.51.100.7", 3)])));
    t.set_learned(p("10.244.2.0/24"), &NextHops::default());
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.2.0/24"), None);
    assert_eq!(t.state(p("10.244.2.0/24")), None);
}

#[test]
fn ecmp_installs_every_connected_next_hop_and_reports_the_others() {
    let (mut t, mut k) = fresh();
    t.set_learned(
        p("10.244.3.0/24"),
        &vec![spec("198.51.100.9"), spec("192.0.2.3")].into(),
    );
    sync(&mut t, &mut k);
    assert_eq!(
        ours(&k, "10.244.3.0/24"),
        Some(via(&[("192.0.2.3", 2), ("198.51.100.9", 3)]))
    );
    t.set_learned(
        p("10.244.3.0/24"),
        &vec![spec("192.0.2.3"), spec("203.0.113.5")].into(),
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
    t.set_learned(p("10.244.4.0/24"), &vec![spec("203.0.113.5")].into());
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
    assert_eq!(t.state(p("10.244.9.0/24")), Some(FibState::Kept));
    // The same route relearned: no write at all.
    t.set_learned(p("10.244.2.0/24"), &vec![spec("192.0.2.2")].into());
    assert_eq!(sync(&mut t, &mut k), 0);
    assert_eq!(t.state(p("10.244.2.0/24")), Some(FibState::Installed));
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
    t.set_learned(p("10.244.5.0/24"), &vec![spec("192.0.2.2")].into());
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
    t.set_learned(p("10.244.5.0/24"), &NextHops::default());
    sync(&mut t, &mut k);
    assert_eq!(k.table[&p("10.244.5.0/24")].0, Owner::Other(4));
    // Once the other route is gone, ours goes in.
    t.set_learned(p("10.244.5.0/24"), &vec![spec("192.0.2.2")].into());
    sync(&mut t, &mut k);
    k.table.remove(&p("10.244.5.0/24"));
    t.foreign_removed(p("10.244.5.0/24"));
    sync(&mut t, &mut k);
    assert_eq!(ours(&k, "10.244.5.0/24"), Some(via(&[("192.0.2.2", 2)])));
}

#[test]
fn a_route_of_ours_deleted_or_changed_by_someone_else_is_restored() {
    let (mut t, mut k) = fresh();
    t.set_learned(p("10.244.6.0/24"), &vec![spec("192.0.2.2")].into());
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
    t.set_learned(p("10.244.1.0/24"), &vec![spec("192.0.2.2")].into());
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
        t.set_learned(
            p(&format!("10.244.{i}.0/24")),
            &vec![spec("192.0.2.2")].into(),
        );
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

fn hosts(n: u32) -> Vec<Prefix> {
    (0..n)
        .map(|i| {
            bgp::types::Ipv4Prefix::new(std::net::Ipv4Addr::from(0x6440_0000 + i), 32)
                .unwrap()
                .into()
        })
        .collect()
}

/// The counts kept as states change, against a recount of every state.
fn recount(t: &Table) -> (usize, usize, usize, usize) {
    let mut c = (0, 0, 0, 0);
    for p in t.prefixes() {
        match t.state(p) {
            Some(FibState::Installed | FibState::Partial(_)) => c.0 += 1,
            Some(FibState::Pending) => c.1 += 1,
            Some(FibState::NotInstalled(_)) => c.2 += 1,
            Some(FibState::Kept) => c.3 += 1,
            None => {}
        }
    }
    c
}

#[test]
fn a_route_costs_one_small_slot_and_its_next_hops_are_shared() {
    assert_eq!(size_of::<Slot<4>>(), 16);
    assert_eq!(size_of::<Slot<16>>(), 28);
    let (mut t, mut k) = fresh();
    let n = 200_000;
    // Equal next hops from separate allocations are one set all the same.
    let (a, b): (NextHops, NextHops) = (
        vec![spec("192.0.2.2")].into(),
        vec![spec("192.0.2.2")].into(),
    );
    for (i, p) in hosts(n).into_iter().enumerate() {
        t.set_learned(p, if i % 2 == 0 { &a } else { &b });
    }
    assert_eq!(sync(&mut t, &mut k), n as usize);
    let f = t.footprint();
    assert_eq!((f.prefixes, f.next_hop_sets, f.targets), (n as usize, 1, 1));
    // Slots, control bytes and the table's spare room: never above 40 bytes
    // a route (39 right after the table doubles).
    assert!(
        f.bytes <= 40 * n as usize,
        "{} bytes a route",
        f.bytes / n as usize
    );
    assert_eq!(t.counts().installed, n as usize);
    // All withdrawn: the slots, the set and the target go.
    for p in hosts(n) {
        t.set_learned(p, &NextHops::default());
    }
    assert_eq!(sync(&mut t, &mut k), n as usize);
    assert!(k.table.is_empty());
    let f = t.footprint();
    assert_eq!((f.prefixes, f.next_hop_sets, f.targets), (0, 0, 0));
    assert!(f.bytes < 100_000, "{} bytes kept for nothing", f.bytes);
    assert_eq!(t.counts(), Counts::default());
}

#[test]
fn a_flood_of_changes_is_swept_for_instead_of_queued_and_each_is_taken_once() {
    let (mut t, mut k) = fresh();
    let hops: NextHops = vec![spec("192.0.2.2")].into();
    let n = 100_000;
    for p in hosts(n) {
        t.set_learned(p, &hops);
    }
    // More dirty prefixes than a queue is worth: the table is swept.
    assert!(t.v4.sweep.is_some());
    assert_eq!(t.v4.queue.capacity(), 0);
    assert_eq!(t.dirty(), n as usize);
    let mut seen = std::collections::HashSet::new();
    let mut rounds = 0;
    // Changed again mid-sweep: taken a second time if the sweep had
    // already passed it (where it sits depends on the hasher's seed), never
    // a third; every other prefix exactly once.
    let again = hosts(1)[0];
    let mut again_taken_after_change = false;
    while t.has_work() {
        let ops = t.take_ops(1000);
        assert!(ops.len() <= 1000);
        for (op, r) in ops.iter().zip(k.apply(&ops).unwrap()) {
            let first = seen.insert(op.prefix());
            if op.prefix() == again && rounds > 10 {
                assert!(
                    !again_taken_after_change,
                    "{again} taken twice after its change"
                );
                again_taken_after_change = true;
            } else {
                assert!(first, "{} twice", op.prefix());
            }
            t.applied(op, r);
        }
        // Changes arriving mid-sweep are found too.
        if rounds == 10 {
            t.set_learned(again, &vec![spec("198.51.100.7")].into());
        }
        rounds += 1;
    }
    assert_eq!(seen.len(), n as usize);
    assert_eq!(ours(&k, "100.64.0.0/32"), Some(via(&[("198.51.100.7", 3)])));
    assert_eq!(t.v4.sweep, None);
    assert_eq!(recount(&t), (n as usize, 0, 0, 0));
    // A single change afterwards is queued again.
    t.set_learned(hosts(2)[1], &NextHops::default());
    assert_eq!((t.v4.sweep, t.v4.queue.len()), (None, 1));
    assert_eq!(sync(&mut t, &mut k), 1);
    assert_eq!(t.counts().installed, n as usize - 1);
}

#[test]
fn a_refused_route_is_reported_with_the_kernels_reason() {
    let (mut t, _) = fresh();
    t.set_learned(p("10.244.8.0/24"), &vec![spec("192.0.2.2")].into());
    let ops = t.take_ops(usize::MAX);
    assert_eq!(t.counts().pending, 1);
    t.applied(&ops[0], Err(OpError::Other(libc::ENETUNREACH)));
    let Some(FibState::NotInstalled(why)) = t.state(p("10.244.8.0/24")) else {
        panic!("{:?}", t.state(p("10.244.8.0/24")));
    };
    assert!(
        why.starts_with("the kernel refused it: Network is unreachable"),
        "{why}"
    );
    assert_eq!(t.counts().not_installed, 1);
    assert_eq!(t.kernel_route(p("10.244.8.0/24")), None);
}

#[test]
fn a_reason_follows_the_next_hops_it_is_about() {
    let (mut t, mut k) = fresh();
    t.set_learned(
        p("10.244.3.0/24"),
        &vec![spec("192.0.2.3"), spec("203.0.113.5")].into(),
    );
    sync(&mut t, &mut k);
    assert!(matches!(
        t.state(p("10.244.3.0/24")),
        Some(FibState::Partial(w)) if w.contains("203.0.113.5")
    ));
    // Same kernel route, another unusable next hop: no write, a new reason.
    t.set_learned(
        p("10.244.3.0/24"),
        &vec![spec("192.0.2.3"), spec("203.0.113.6")].into(),
    );
    assert_eq!(sync(&mut t, &mut k), 0);
    assert!(matches!(
        t.state(p("10.244.3.0/24")),
        Some(FibState::Partial(w)) if w.contains("203.0.113.6") && !w.contains("203.0.113.5")
    ));
    assert_eq!(t.footprint().next_hop_sets, 1, "the old set is freed");
}

#[test]
fn a_dump_that_fails_half_way_removes_nothing() {
    let (mut t, mut k) = fresh();
    t.set_learned(p("10.244.2.0/24"), &vec![spec("192.0.2.2")].into());
    t.set_learned(p("10.244.3.0/24"), &vec![spec("192.0.2.2")].into());
    sync(&mut t, &mut k);
    // One route read, then the dump fails: the other is still ours.
    let first = k.routes().unwrap().remove(0);
    t.dumped(first);
    t.abort_dump();
    assert_eq!(sync(&mut t, &mut k), 0);
    // A complete dump afterwards is not confused by the aborted one.
    k.table.remove(&p("10.244.3.0/24"));
    let routes = k.routes().unwrap();
    t.replace_kernel(routes);
    assert_eq!(sync(&mut t, &mut k), 1);
    assert!(ours(&k, "10.244.3.0/24").is_some());
    assert_eq!(recount(&t), (2, 0, 0, 0));
}
