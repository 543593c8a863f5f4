//! A measurement to rerun, not a timed test: N IPv4 /32 routes with one
//! next hop through the real FIB task into a fresh network namespace, next
//! to the same routes written raw (pre-encoded, ~1000 `RTM_NEWROUTE` per
//! `sendmsg`, an ACK asked only of each batch's last message) in the same
//! namespace, before and after; and raw through a nexthop object, for
//! what the kernel could do. It prints times, rates and the process's
//! memory growth; it asserts only that every route got in and out.
//!
//! ```text
//! PODROUTE_FIB_ROUTES=1000000 cargo test --release -p podroute --bin podroute \
//!     fib::measure -- --nocapture --test-threads 1
//! ```
//!
//! 20 000 routes by default, so that it is quick in a debug build. Run it
//! alone (`--test-threads 1`, and this filter): other tests' memory would
//! show in the figures.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp::types::{Ipv4Prefix, Prefix};
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use tokio_util::sync::CancellationToken;

use super::netns::{in_netns, ip, link};
use super::{Command, Marking, NextHopSpec, NextHops, spawn};

const MARK: Marking = Marking {
    protocol: 44,
    table: 254,
    metric: 0,
};

/// The raw writer's protocol number: not ours, so the FIB ignores them.
const RAW_PROTOCOL: u8 = 45;

fn routes() -> u32 {
    std::env::var("PODROUTE_FIB_ROUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

/// The i-th route: 100.64.0.0/10 has room for four million.
fn addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000 + i)
}

/// Resident and peak resident memory, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Starts the peak resident size from the current size (Linux 4.0+).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

#[test]
fn install_rate_through_the_fib_task_against_raw_netlink() {
    let n = routes();
    in_netns(move || {
        let ifindex = link();
        let raw = raw_install(n, ifindex, Via::Gateway);
        eprintln!(
            "raw netlink: {n} routes in {:.3} s: {:.0} routes/s ({} per sendmsg); removed in {:.3} s",
            raw.install.as_secs_f64(),
            f64::from(n) / raw.install.as_secs_f64(),
            RAW_BATCH,
            raw.remove.as_secs_f64(),
        );
        // For comparison: what the kernel costs when routes share a nexthop
        // object instead of each naming its gateway.
        ip("nexthop add id 77 via 192.0.2.2 dev veth-a");
        let obj = raw_install(n, ifindex, Via::Object(77));
        ip("nexthop del id 77");
        eprintln!(
            "raw netlink through a nexthop object: {n} routes in {:.3} s: {:.0} routes/s; removed in {:.3} s",
            obj.install.as_secs_f64(),
            f64::from(n) / obj.install.as_secs_f64(),
            obj.remove.as_secs_f64(),
        );
        let fib = fib_install(n);
        let secs = fib.took.as_secs_f64();
        // The FIB's routes out (as `podroute agent --cleanup` does), then the
        // raw install once more: the first install into a fresh namespace
        // is not quite like the later ones, so the FIB is compared with both.
        let began = Instant::now();
        let removed = super::cleanup(MARK).expect("cleanup");
        let cleanup = began.elapsed();
        assert_eq!(removed, n as usize);
        let again = raw_install(n, ifindex, Via::Gateway);
        let raw_secs = (raw.install + again.install).as_secs_f64() / 2.0;
        eprintln!(
            "FIB task: {n} routes in {secs:.3} s: {:.0} routes/s ({:.2}x raw, whose second run took {:.3} s); {} netlink batches; resyncs {:?}; removed (cleanup) in {:.3} s",
            f64::from(n) / secs,
            secs / raw_secs,
            again.install.as_secs_f64(),
            fib.batches,
            fib.resyncs,
            cleanup.as_secs_f64(),
        );
        eprintln!(
            "FIB task memory: resident +{:.1} MiB ({:.0} bytes/route), peak +{:.1} MiB ({:.0} bytes/route); its table {:.1} MiB ({:.0} bytes/route)",
            mib(fib.rss_growth),
            fib.rss_growth as f64 / f64::from(n),
            mib(fib.peak_growth),
            fib.peak_growth as f64 / f64::from(n),
            mib(fib.table_bytes),
            fib.table_bytes as f64 / f64::from(n),
        );
    });
}

struct FibRun {
    took: Duration,
    batches: u64,
    resyncs: std::collections::BTreeMap<&'static str, u64>,
    rss_growth: u64,
    peak_growth: u64,
    table_bytes: u64,
}

/// What the agent's driver does for a BGP peer's routes, from the first
/// best path sent to the FIB until it reports every route installed.
fn fib_install(n: u32) -> FibRun {
    let hops: NextHops = vec![NextHopSpec {
        address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        link_local: None,
        peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        peer_interface: None,
    }]
    .into();
    let shutdown = CancellationToken::new();
    reset_peak();
    let (rss0, peak0) = memory();
    let (mut handle, _) = spawn(MARK, shutdown.clone()).expect("the FIB starts");
    let began = Instant::now();
    let _ = handle.commands.send(Command::Synced);
    // As the driver sends them: prefixes grouped by next hops, up to 1024.
    let mut group = Vec::new();
    for i in 0..n {
        group.push(Prefix::V4(Ipv4Prefix::new(addr(i), 32).expect("a /32")));
        if group.len() == 1024 || i + 1 == n {
            let prefixes = std::mem::take(&mut group);
            let _ = handle
                .commands
                .send(Command::Learned(hops.clone(), prefixes));
        }
    }
    let stats = loop {
        let u = handle
            .updates
            .blocking_recv()
            .expect("the FIB task stopped");
        if u.stats.installed >= u64::from(n) {
            break u.stats;
        }
    };
    let took = began.elapsed();
    let (rss1, peak1) = memory();
    shutdown.cancel();
    FibRun {
        took,
        batches: stats.batches,
        resyncs: stats.resyncs,
        rss_growth: rss1.saturating_sub(rss0),
        peak_growth: peak1.saturating_sub(peak0),
        table_bytes: stats.table_bytes,
    }
}

const RAW_BATCH: usize = 1000;

struct RawRun {
    install: Duration,
    remove: Duration,
}

/// How raw routes name their next hop.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `RTA_GATEWAY` and `RTA_OIF`, as the FIB writes them.
    Gateway,
    /// `RTA_NH_ID`: a nexthop object (Linux 5.3+), made beforehand.
    Object(u32),
}

/// The kernel's own limit: every message built before the clock starts.
fn raw_install(n: u32, ifindex: u32, via: Via) -> RawRun {
    let mut sock = Socket::new(NETLINK_ROUTE).expect("netlink socket");
    sock.bind_auto().expect("bind");
    let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::SndBufForce, &(4 << 20));
    let _ = nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &(4 << 20));
    let run = |kind: u16, flags: u16| {
        let batches: Vec<(Vec<u8>, u32)> = (0..n)
            .collect::<Vec<_>>()
            .chunks(RAW_BATCH)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 60);
                for (j, &i) in chunk.iter().enumerate() {
                    let ack = if j + 1 == chunk.len() { 0x4 } else { 0 };
                    raw_route(&mut buf, kind, flags | ack, i + 1, addr(i), ifindex, via);
                }
                (buf, chunk[chunk.len() - 1] + 1)
            })
            .collect();
        let mut rx = vec![0u8; 1 << 16];
        let began = Instant::now();
        for (buf, last) in &batches {
            sock.send(buf, 0).expect("sendmsg");
            'ack: loop {
                let got = sock.recv(&mut &mut rx[..], 0).expect("recv");
                let mut at = 0;
                while at + 16 <= got {
                    let len = u32::from_ne_bytes(rx[at..at + 4].try_into().unwrap()) as usize;
                    let seq = u32::from_ne_bytes(rx[at + 8..at + 12].try_into().unwrap());
                    let code = i32::from_ne_bytes(rx[at + 16..at + 20].try_into().unwrap());
                    assert_eq!(code, 0, "the kernel refused route #{seq}");
                    if seq == *last {
                        break 'ack;
                    }
                    at += (len + 3) & !3;
                }
            }
        }
        began.elapsed()
    };
    // NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, as the FIB writes.
    let install = run(24, 0x1 | 0x400 | 0x100);
    let remove = run(25, 0x1);
    RawRun { install, remove }
}

/// One route message: header, `rtmsg`, destination, table, gateway and
/// device (or nexthop object).
fn raw_route(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    dst: Ipv4Addr,
    ifindex: u32,
    via: Via,
) {
    let len: u32 = match via {
        Via::Gateway => 16 + 12 + 8 + 8 + 8 + 8,
        Via::Object(_) => 16 + 12 + 8 + 8 + 8,
    };
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    // family, dst_len, src_len, tos, table, protocol, scope, type; flags
    buf.extend_from_slice(&[2, 32, 0, 0, 254, RAW_PROTOCOL, 0, 1]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    let mut attr = |kind: u16, value: [u8; 4]| {
        buf.extend_from_slice(&8u16.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&value);
    };
    attr(1, dst.octets()); // RTA_DST
    attr(15, 254u32.to_ne_bytes()); // RTA_TABLE
    match via {
        Via::Gateway => {
            attr(5, [192, 0, 2, 2]); // RTA_GATEWAY
            attr(4, ifindex.to_ne_bytes()); // RTA_OIF
        }
        Via::Object(id) => attr(30, id.to_ne_bytes()), // RTA_NH_ID
    }
}
