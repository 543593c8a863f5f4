//! Against the real kernel, in a network namespace of the test's own
//! thread (namespaces are per thread: `unshare` here touches nothing else,
//! and `ip` commands spawned from this thread run inside it). Needs root,
//! like the interop tests; fails (does not skip) without it.

use std::process::Command;
use std::time::Instant;

use super::*;
use crate::net::ifaddr::if_index;

const MARK: Marking = Marking {
    protocol: 44,
    table: 254,
    metric: 0,
};

/// Runs `f` on a fresh thread inside a new, empty network namespace.
fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) failed: these tests need root");
        f()
    })
    .join()
    .expect("test thread panicked")
}

fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("cannot run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_out(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("cannot run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One veth pair with documentation addresses on `a`.
fn link() -> u32 {
    ip("link set lo up");
    ip("link add veth-a type veth peer name veth-b");
    ip("link set veth-a up");
    ip("link set veth-b up");
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/veth-a/accept_dad", "0");
    ip("addr add 192.0.2.1/30 dev veth-a");
    ip("addr add 198.51.100.1/24 dev veth-a");
    ip("addr add 2001:db8:0:12::1/64 dev veth-a nodad");
    if_index("veth-a").expect("veth a exists")
}

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
            set("10.244.2.0/24", Target::Via(vec![hop("192.0.2.2", a)])),
            set(
                "10.244.3.0/24",
                Target::via(vec![hop("192.0.2.2", a), hop("198.51.100.2", a)]).unwrap(),
            ),
            set(
                "fd00:10:244:2::/64",
                Target::Via(vec![hop("2001:db8:0:12::2", a)]),
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
                    target: Target::Via(vec![hop("fe80::2", a)]),
                },
                replace: true,
            }])
            .unwrap();
        assert_eq!(r, vec![Ok(())]);
        let now = k.routes().unwrap();
        assert!(now.contains(&KernelRoute {
            prefix: p("fd00:10:244:3::/64"),
            target: Target::Via(vec![hop("fe80::2", a)]),
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
                Target::Via(vec![hop("198.51.100.2", a)]),
            )])
            .unwrap();
        assert_eq!(r, vec![Err(OpError::Exists)]);
        let r = k
            .apply(&[Op::Delete {
                route: KernelRoute {
                    prefix: p("10.244.9.0/24"),
                    target: Target::Via(vec![hop("192.0.2.2", a)]),
                },
            }])
            .unwrap();
        assert_eq!(r, vec![Err(OpError::Gone)]);
        assert!(ip_out("route show proto static").contains("10.244.9.0/24 via 192.0.2.2"));
        assert!(k.routes().unwrap().is_empty(), "not ours");
    });
}

#[test]
fn the_monitor_sees_our_routes_change_and_addresses_come_and_go() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let mut m = Monitor::open(MARK).unwrap();
        let via = Target::Via(vec![hop("192.0.2.2", a)]);
        k.apply(&[set("10.244.2.0/24", via.clone())]).unwrap();
        ip("route del 10.244.2.0/24 proto 44");
        ip("route add 10.244.9.0/24 via 192.0.2.2 proto static");
        ip("route del 10.244.9.0/24 proto static");
        ip("addr add 203.0.113.1/24 dev veth-a");
        let mut events = Vec::new();
        while m.read(&mut events).unwrap() {}
        // Our own write echoed, then someone's `ip route del`, in order.
        let ours: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e, Event::Route(Seen::Ours(..))))
            .collect();
        assert_eq!(
            ours,
            vec![
                &Event::Route(Seen::Ours(p("10.244.2.0/24"), Some(via))),
                &Event::Route(Seen::Ours(p("10.244.2.0/24"), None)),
            ]
        );
        assert!(events.contains(&Event::Route(Seen::Ours(p("10.244.2.0/24"), None))));
        assert!(events.contains(&Event::Route(Seen::OtherRemoved(p("10.244.9.0/24")))));
        assert!(events.contains(&Event::AddressesChanged));
        let c = k.addresses().unwrap();
        assert_eq!(c.interface_for("203.0.113.7".parse().unwrap()), Some(a));
    });
}

#[test]
fn batches_of_a_thousand_routes_take_one_send_each() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let ops: Vec<Op> = (0..20_000u32)
            .map(|i| {
                let prefix = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
                set(&prefix, Target::Via(vec![hop("192.0.2.2", a)]))
            })
            .collect();
        let began = Instant::now();
        let r = k.apply(&ops).unwrap();
        let took = began.elapsed();
        assert!(r.iter().all(Result::is_ok));
        assert_eq!(k.batches, 20);
        assert_eq!(k.routes().unwrap().len(), 20_000);
        // Not a benchmark (debug build, shared machine): the rate is printed
        // for the record, not asserted.
        eprintln!(
            "20000 routes in {:?}: {:.0} routes/s",
            took,
            20_000.0 / took.as_secs_f64()
        );
    });
}

#[test]
fn lost_events_are_reported_as_an_overrun() {
    in_netns(|| {
        let a = link();
        let mut k = Netlink::open(MARK).unwrap();
        let mut m = Monitor::open(MARK).unwrap();
        // A tiny buffer, as a busy agent's would effectively be.
        m.sock.set_rx_buf_sz(4096).unwrap();
        let ops: Vec<Op> = (0..2_000u32)
            .map(|i| {
                let prefix = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
                set(&prefix, Target::Via(vec![hop("192.0.2.2", a)]))
            })
            .collect();
        k.apply(&ops).unwrap();
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
