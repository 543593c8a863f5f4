//! Against the real kernel, in a network namespace of the test's own
//! thread (see `fib::netns`).

use std::time::Instant;

use super::*;
use crate::fib::netns::{in_netns, ip, ip_out, link};

const MARK: Marking = Marking {
    protocol: 44,
    table: 254,
    metric: 0,
};

fn p(s: &str) -> Prefix {
    s.parse().unwrap()
}

fn hop(g: &str, ifindex: u32) -> Hop {
    Hop {
        gateway: g.parse().unwrap(),
        ifindex,
    }
}

fn set(prefix: &str, target: Target) -> Op {
    Op::Set {
        route: KernelRoute {
            prefix: p(prefix),
            target,
        },
        replace: false,
    }
}

#[test]
fn routes_written_read_back_and_deleted_in_the_kernel() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let wanted = vec![
            set(
                "10.244.2.0/24",
                Target::Via(vec![hop("192.0.2.2", a)].into()),
            ),
            set(
                "10.244.3.0/24",
                Target::via(vec![hop("192.0.2.2", a), hop("198.51.100.2", a)]).unwrap(),
            ),
            set(
                "fd00:10:244:2::/64",
                Target::Via(vec![hop("2001:db8:0:12::2", a)].into()),
            ),
            set(
                "fd00:10:244:3::/64",
                Target::via(vec![hop("2001:db8:0:12::2", a), hop("fe80::2", a)]).unwrap(),
            ),
            set("10.244.1.0/24", Target::Unreachable),
            set("fd00:10:244:1::/64", Target::Blackhole),
        ];
        let r = k.apply(&wanted).unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        let mut read: Vec<(Prefix, Target)> = k
            .routes()
            .unwrap()
            .into_iter()
            .map(|r| (r.prefix, r.target))
            .collect();
        read.sort_by_key(|(p, _)| *p);
        let mut want: Vec<(Prefix, Target)> = wanted
            .iter()
            .map(|o| match o {
                Op::Set { route, .. } => (route.prefix, route.target.clone()),
                Op::Delete { .. } => unreachable!(),
            })
            .collect();
        want.sort_by_key(|(p, _)| *p);
        assert_eq!(read, want, "what the kernel holds, read back");
        // `ip route` agrees, with our protocol number on every route.
        let shown = ip_out("route show proto 44");
        assert!(
            shown.contains("10.244.2.0/24 via 192.0.2.2 dev veth-a"),
            "{shown}"
        );
        assert!(shown.contains("unreachable 10.244.1.0/24"), "{shown}");
        let shown6 = ip_out("-6 route show proto 44");
        assert!(shown6.contains("blackhole fd00:10:244:1::/64"), "{shown6}");
        assert!(
            shown6.contains("nexthop via fe80::2 dev veth-a"),
            "{shown6}"
        );

        // Replacing in place: the ECMP route becomes a single path.
        let r = k
            .apply(&[Op::Set {
                route: KernelRoute {
                    prefix: p("fd00:10:244:3::/64"),
                    target: Target::Via(vec![hop("fe80::2", a)].into()),
                },
                replace: true,
            }])
            .unwrap();
        assert_eq!(r, vec![Ok(())]);
        let now = k.routes().unwrap();
        assert!(now.contains(&KernelRoute {
            prefix: p("fd00:10:244:3::/64"),
            target: Target::Via(vec![hop("fe80::2", a)].into()),
        }));

        // Everything deleted; deleting again says it is gone.
        let deletes: Vec<Op> = k
            .routes()
            .unwrap()
            .into_iter()
            .map(|route| Op::Delete { route })
            .collect();
        assert_eq!(deletes.len(), 6);
        assert!(k.apply(&deletes).unwrap().iter().all(Result::is_ok));
        assert!(k.routes().unwrap().is_empty());
        assert!(ip_out("route show proto 44").is_empty());
        let again = k.apply(&deletes[..1]).unwrap();
        assert_eq!(again, vec![Err(OpError::Gone)]);
    });
}

#[test]
fn another_protocols_route_is_neither_replaced_nor_deleted() {
    in_netns(|| {
        let a = link();
        ip("route add 10.244.9.0/24 via 192.0.2.2 proto static");
        let mut k = Netlink::open(MARK).unwrap();
        let r = k
            .apply(&[set(
                "10.244.9.0/24",
                Target::Via(vec![hop("198.51.100.2", a)].into()),
            )])
            .unwrap();
        assert_eq!(r, vec![Err(OpError::Exists)]);
        let r = k
            .apply(&[Op::Delete {
                route: KernelRoute {
                    prefix: p("10.244.9.0/24"),
                    target: Target::Via(vec![hop("192.0.2.2", a)].into()),
                },
            }])
            .unwrap();
        assert_eq!(r, vec![Err(OpError::Gone)]);
        assert!(ip_out("route show proto static").contains("10.244.9.0/24 via 192.0.2.2"));
        assert!(k.routes().unwrap().is_empty(), "not ours");
    });
}

#[test]
fn the_monitor_sees_others_change_our_routes_but_not_our_own_writes() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let mut m = Monitor::open(MARK, &k).unwrap();
        let via = Target::Via(vec![hop("192.0.2.2", a)].into());
        k.apply(&[set("10.244.2.0/24", via.clone())]).unwrap();
        ip("route del 10.244.2.0/24 proto 44");
        ip("route add 10.244.3.0/24 via 192.0.2.2 proto 44");
        ip("route add 10.244.9.0/24 via 192.0.2.2 proto static");
        ip("route del 10.244.9.0/24 proto static");
        ip("addr add 203.0.113.1/24 dev veth-a");
        let mut events = Vec::new();
        while m.read(&mut events).unwrap() {}
        // Our own write is filtered out by the kernel; someone's `ip route
        // del` and `ip route add` with our protocol are not, in order.
        let ours: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e, Event::Route(Seen::Ours(..))))
            .collect();
        assert_eq!(
            ours,
            vec![
                &Event::Route(Seen::Ours(p("10.244.2.0/24"), None)),
                &Event::Route(Seen::Ours(p("10.244.3.0/24"), Some(via))),
            ]
        );
        // Another protocol's new route is filtered out too; its removal is
        // not (it may unblock one of ours).
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Route(Seen::OtherRemoved(_))))
                .collect::<Vec<_>>(),
            vec![&Event::Route(Seen::OtherRemoved(p("10.244.9.0/24")))]
        );
        assert!(events.contains(&Event::AddressesChanged));
        let c = k.addresses().unwrap();
        assert_eq!(c.interface_for("203.0.113.7".parse().unwrap()), Some(a));
    });
}

fn many(n: u32, a: u32) -> Vec<Op> {
    (0..n)
        .map(|i| {
            let prefix = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
            set(&prefix, Target::Via(vec![hop("192.0.2.2", a)].into()))
        })
        .collect()
}

#[test]
fn batches_of_a_thousand_routes_take_one_send_each() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let ops = many(20_000, a);
        let began = Instant::now();
        let r = k.apply(&ops).unwrap();
        let took = began.elapsed();
        assert!(r.iter().all(Result::is_ok));
        assert_eq!(k.batches, 20);
        assert_eq!(k.routes().unwrap().len(), 20_000);
        // Not a benchmark (debug build, shared machine): the rate is printed
        // for the record, not asserted (see `fib::measure`).
        eprintln!(
            "20000 routes in {:?}: {:.0} routes/s",
            took,
            20_000.0 / took.as_secs_f64()
        );
    });
}

#[test]
fn a_failure_in_a_batch_is_reported_for_its_route_only() {
    in_netns(|| {
        let a = link();
        ip("route add 10.103.7.0/24 via 192.0.2.2 proto static");
        let mut k = Netlink::open(MARK).unwrap();
        let mut ops = many(1000, a);
        // #263 (10.101.7.0/24): a gateway on no link of ours; #775
        // (10.103.7.0/24): another protocol's route holds the prefix.
        ops[263] = set(
            "10.101.7.0/24",
            Target::Via(vec![hop("203.0.113.9", a)].into()),
        );
        assert_eq!(ops[775].prefix(), p("10.103.7.0/24"));
        let r = k.apply(&ops).unwrap();
        assert_eq!(k.batches, 1);
        let failed: Vec<(usize, &Result<(), OpError>)> =
            r.iter().enumerate().filter(|(_, r)| r.is_err()).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!(failed[0].0, 263);
        assert!(
            matches!(failed[0].1, Err(OpError::Other(e)) if *e == libc::ENETUNREACH),
            "{failed:?}"
        );
        assert_eq!(failed[1], (775, &Err(OpError::Exists)));
        // Everything else went in; the static route is untouched.
        assert_eq!(k.routes().unwrap().len(), 998);
        assert!(ip_out("route show proto static").contains("10.103.7.0/24 via 192.0.2.2"));
    });
}

#[test]
fn our_own_writes_cannot_overrun_the_monitor() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let mut m = Monitor::open(MARK, &k).unwrap();
        // A tiny buffer, which a few hundred events would overflow.
        m.sock.set_rx_buf_sz(4096).unwrap();
        let ops = many(20_000, a);
        assert!(k.apply(&ops).unwrap().iter().all(Result::is_ok));
        let deletes: Vec<Op> = ops
            .into_iter()
            .map(|o| match o {
                Op::Set { route, .. } => Op::Delete { route },
                d => d,
            })
            .collect();
        assert!(k.apply(&deletes).unwrap().iter().all(Result::is_ok));
        let mut events = Vec::new();
        while m.read(&mut events).unwrap() {}
        // The fresh link's addresses may settle meanwhile (IPv6 DAD, link-local): the kernel's
        // doing, not an echo of our writes.
        events.retain(|e| *e != Event::AddressesChanged);
        assert_eq!(events, vec![], "our own writes reached the monitor");
    });
}

#[test]
fn lost_events_are_reported_as_an_overrun() {
    in_netns(|| {
        let a = link();
        let k = Netlink::open(MARK).unwrap();
        let mut m = Monitor::open(MARK, &k).unwrap();
        m.sock.set_rx_buf_sz(4096).unwrap();
        // Someone else (another socket) writes routes of our protocol.
        let mut other = Netlink::open(MARK).unwrap();
        other.apply(&many(2_000, a)).unwrap();
        let mut events = Vec::new();
        for _ in 0..10_000 {
            if !m.read(&mut events).unwrap() {
                break;
            }
        }
        assert!(
            events.contains(&Event::Overrun),
            "{} events and no overrun",
            events.len()
        );
    });
}

#[test]
fn an_ipv4_route_through_an_ipv6_next_hop_reads_back_the_same() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        // RFC 8950: the next hop of an IPv4 route is the peer's IPv6 address.
        let target = Target::via(vec![hop("2001:db8:0:12::2", a)]).unwrap();
        let ecmp = Target::via(vec![hop("2001:db8:0:12::2", a), hop("192.0.2.2", a)]).unwrap();
        let r = k
            .apply(&[
                set("10.244.5.0/24", target.clone()),
                set("10.244.6.0/24", ecmp.clone()),
            ])
            .unwrap();
        assert_eq!(r, vec![Ok(()), Ok(())]);
        let shown = ip_out("route show proto 44");
        assert!(
            shown.contains("10.244.5.0/24 via inet6 2001:db8:0:12::2 dev veth-a"),
            "{shown}"
        );
        let mut read = k.routes().unwrap();
        read.sort_by_key(|r| r.prefix);
        assert_eq!(
            read,
            vec![
                KernelRoute {
                    prefix: p("10.244.5.0/24"),
                    target
                },
                KernelRoute {
                    prefix: p("10.244.6.0/24"),
                    target: ecmp
                },
            ]
        );
    });
}
