//! The FIB task against the real kernel, in a namespace of the test's own
//! thread (the task's thread, spawned from it, shares it).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp::types::Ipv4Prefix;

use super::*;
use crate::fib::NextHopSpec;
use crate::fib::netns::{in_netns, ip, ip_out, link};

const MARK: Marking = Marking {
    protocol: 44,
    table: 254,
    metric: 0,
};

fn tor() -> NextHops {
    vec![NextHopSpec {
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        link_local: None,
        peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        peer_interface: None,
    }]
    .into()
}

/// The i-th /32 in 100.64.0.0/10.
fn host(i: u32) -> Prefix {
    Ipv4Prefix::new(Ipv4Addr::from(0x6440_0000 + i), 32)
        .unwrap()
        .into()
}

/// Reads the task's updates until `done` holds for its counters.
fn wait_for(handle: &mut Handle, what: &str, done: impl Fn(&FibStats) -> bool) -> FibStats {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = FibStats::default();
    while Instant::now() < deadline {
        match handle.updates.try_recv() {
            Ok(u) => {
                if done(&u.stats) {
                    return u.stats;
                }
                last = u.stats;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("{what}: not within 60 s; last counters {last:?}");
}

fn states(handle: &Handle, prefixes: Vec<Prefix>) -> Vec<Option<FibState>> {
    let (tx, rx) = oneshot::channel();
    handle.commands.send(Command::States(prefixes, tx)).unwrap();
    rx.blocking_recv().expect("the FIB answers")
}

#[test]
fn a_bulk_install_needs_no_reread_of_the_table() {
    in_netns(|| {
        link();
        let shutdown = CancellationToken::new();
        let (mut h, start) = spawn(MARK, shutdown.clone()).unwrap();
        assert_eq!(start.kept_routes, 0);
        let n = 50_000;
        h.commands.send(Command::Synced).unwrap();
        let hops = tor();
        h.commands
            .send(Command::Learned(hops, (0..n).map(host).collect()))
            .unwrap();
        let stats = wait_for(&mut h, "every route installed", |s| {
            s.installed == u64::from(n)
        });
        shutdown.cancel();
        // Our own writes' events never reached the monitor: no overrun, no
        // full re-read, nothing taken for someone else's change.
        assert!(stats.resyncs.is_empty(), "{:?}", stats.resyncs);
        assert_eq!(stats.external_changes, 0);
        assert_eq!(stats.ops_ok.get("add"), Some(&u64::from(n)));
        assert_eq!(stats.next_hop_sets, 1);
        assert!(stats.batches >= u64::from(n) / 1000);
        let shown = ip_out("route show proto 44");
        assert_eq!(shown.lines().count(), n as usize);
    });
}

#[test]
fn one_refused_route_among_a_thousand_is_reported_for_its_prefix_only() {
    in_netns(|| {
        link();
        // Someone else's route for #617.
        ip(&format!(
            "route add {} via 192.0.2.2 proto static",
            host(617)
        ));
        let shutdown = CancellationToken::new();
        let (mut h, _) = spawn(MARK, shutdown.clone()).unwrap();
        h.commands.send(Command::Synced).unwrap();
        let hops = tor();
        h.commands
            .send(Command::Learned(hops, (0..1000).map(host).collect()))
            .unwrap();
        let stats = wait_for(&mut h, "every route written", |s| {
            s.installed + s.not_installed == 1000
        });
        assert_eq!((stats.installed, stats.not_installed), (999, 1));
        assert_eq!(stats.ops_failed.get("add"), Some(&1));
        let got = states(&h, (0..1000).map(host).collect());
        for (i, s) in got.iter().enumerate() {
            if i == 617 {
                assert!(
                    matches!(s, Some(FibState::NotInstalled(w)) if w.contains("not its own")),
                    "{s:?}"
                );
            } else {
                assert_eq!(s, &Some(FibState::Installed), "#{i}");
            }
        }
        // Once the other route goes, ours goes in (the monitor saw it go).
        ip(&format!("route del {} proto static", host(617)));
        wait_for(&mut h, "the blocked route installed", |s| {
            s.installed == 1000
        });
        assert_eq!(states(&h, vec![host(617)]), vec![Some(FibState::Installed)]);
        shutdown.cancel();
    });
}

#[test]
fn a_route_of_ours_deleted_by_hand_is_put_back() {
    in_netns(|| {
        link();
        let shutdown = CancellationToken::new();
        let (mut h, _) = spawn(MARK, shutdown.clone()).unwrap();
        h.commands.send(Command::Synced).unwrap();
        h.commands
            .send(Command::Learned(tor(), (0..10).map(host).collect()))
            .unwrap();
        wait_for(&mut h, "installed", |s| s.installed == 10);
        ip(&format!("route del {} proto 44", host(3)));
        let stats = wait_for(&mut h, "put back", |s| {
            s.external_changes == 1 && s.ops_ok.get("add") == Some(&11)
        });
        assert!(stats.resyncs.is_empty());
        assert!(
            ip_out("route show proto 44").contains(&format!("{} via 192.0.2.2", host(3).addr()))
        );
        shutdown.cancel();
    });
}

#[test]
fn a_restart_keeps_the_routes_then_sweeps_what_was_not_relearned() {
    in_netns(|| {
        link();
        let shutdown = CancellationToken::new();
        let (mut h, _) = spawn(MARK, shutdown.clone()).unwrap();
        h.commands.send(Command::Synced).unwrap();
        h.commands
            .send(Command::Learned(tor(), (0..2000).map(host).collect()))
            .unwrap();
        wait_for(&mut h, "installed", |s| s.installed == 2000);
        shutdown.cancel();
        // The next run finds them, keeps them, relearns half, sweeps the rest.
        let shutdown = CancellationToken::new();
        let (mut h, start) = spawn(MARK, shutdown.clone()).unwrap();
        assert_eq!(start.kept_routes, 2000);
        // One route at a time, as the driver sends a slow peer's.
        for i in 0..1000 {
            h.commands
                .send(Command::Learned(tor(), vec![host(i)]))
                .unwrap();
        }
        let stats = wait_for(&mut h, "relearned", |s| s.installed == 1000);
        assert_eq!(stats.kept, 1000);
        assert!(
            stats.ops_ok.is_empty(),
            "nothing rewritten: {:?}",
            stats.ops_ok
        );
        h.commands.send(Command::Synced).unwrap();
        let stats = wait_for(&mut h, "swept", |s| s.kept == 0 && s.reconciled);
        assert_eq!(stats.ops_ok.get("delete"), Some(&1000));
        assert_eq!(ip_out("route show proto 44").lines().count(), 1000);
        shutdown.cancel();
    });
}
