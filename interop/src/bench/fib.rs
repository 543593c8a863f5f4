//! The FIB watcher: when does a namespace's kernel table hold N of the watched routes?
//!
//! A NETLINK_ROUTE socket in the namespace joins the IPv4 and IPv6 route groups (with a
//! 256 MiB receive buffer, forced), then a dump on a second socket fills the set of watched
//! routes, and every `RTM_NEWROUTE`/`RTM_DELROUTE` after that updates it (subscribe first,
//! then dump: nothing is lost in between; events already reflected by the dump are
//! idempotent on a set). If the kernel drops notifications anyway (`ENOBUFS`), the queue is
//! drained (the kernel reports loss again only once it has been empty) and the set rebuilt
//! from a fresh dump. After each handful of datagrams the count is recorded in a
//! [`Progress`] with the instant the last one was read.
//!
//! Routes are matched by table (main unless told otherwise), by protocol (see [`rtprot`]:
//! BIRD, FRR's zebra and podroute mark their routes differently) and optionally by prefix
//! range. ECMP routes whose next hops come and go one at a time are not tracked
//! faithfully (a `RTM_DELROUTE` of one path removes the prefix); the benchmark's routes
//! have one next hop.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustix::io::Errno;

use super::collector::FastHash;
use super::netlink::{
    self, NLMSG_ERROR, RTM_DELROUTE, RTM_NEWROUTE, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE, RouteInfo,
};
use super::netns::Netns;
use super::prefixes::PrefixRange;
use super::progress::Progress;
use crate::types::Family;

/// Route protocol numbers (`rtm_protocol`, `/etc/iproute2/rt_protos`).
pub mod rtprot {
    /// Unknown.
    pub const UNSPEC: u8 = 0;
    /// Installed by ICMP redirects.
    pub const REDIRECT: u8 = 1;
    /// Installed by the kernel (connected routes).
    pub const KERNEL: u8 = 2;
    /// Installed during boot; also what `ip route add` uses by default.
    pub const BOOT: u8 = 3;
    /// Installed by an administrator (`ip route add ... proto static`).
    pub const STATIC: u8 = 4;
    /// BIRD's kernel protocol.
    pub const BIRD: u8 = 12;
    /// podroute (`fib.protocol`, default 44).
    pub const PODROUTE: u8 = 44;
    /// FRR's zebra, for routes from bgpd.
    pub const ZEBRA_BGP: u8 = 186;
    /// What [`rawfib`](crate::bench::rawfib) marks its routes with unless told otherwise.
    pub const BENCH: u8 = 201;
}

/// Which `rtm_protocol` values count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolFilter {
    /// Any.
    Any,
    /// Exactly this one.
    Only(u8),
    /// Anything but unspec, redirect, kernel and boot (0 to 3): routes some daemon put there.
    NotKernel,
}

impl ProtocolFilter {
    fn matches(self, p: u8) -> bool {
        match self {
            ProtocolFilter::Any => true,
            ProtocolFilter::Only(x) => p == x,
            ProtocolFilter::NotKernel => p > rtprot::BOOT,
        }
    }
}

/// Which kernel routes the watcher counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibFilter {
    /// The routing table (`None`: any); main (254) by default.
    pub table: Option<u32>,
    /// The protocols.
    pub protocol: ProtocolFilter,
    /// The families.
    pub families: Vec<Family>,
    /// Only these prefixes (any prefix when empty).
    pub prefixes: Vec<PrefixRange>,
}

impl Default for FibFilter {
    fn default() -> Self {
        FibFilter {
            table: Some(254),
            protocol: ProtocolFilter::NotKernel,
            families: vec![Family::Ipv4, Family::Ipv6],
            prefixes: Vec::new(),
        }
    }
}

impl FibFilter {
    /// The routes of `range` in the main table, installed by any daemon.
    pub fn range(range: PrefixRange) -> FibFilter {
        FibFilter {
            families: vec![range.family()],
            prefixes: vec![range],
            ..FibFilter::default()
        }
    }

    /// Sets the protocol filter.
    pub fn protocol(mut self, p: ProtocolFilter) -> FibFilter {
        self.protocol = p;
        self
    }

    /// Sets the table (`None`: any).
    pub fn table(mut self, table: Option<u32>) -> FibFilter {
        self.table = table;
        self
    }

    #[inline]
    fn matches(&self, r: &RouteInfo) -> bool {
        self.families.contains(&r.family)
            && self.table.is_none_or(|t| t == r.table)
            && self.protocol.matches(r.protocol)
            && (self.prefixes.is_empty()
                || self
                    .prefixes
                    .iter()
                    .any(|p| p.contains_bits(r.family, r.dst, r.dst_len)))
    }

    fn groups(&self) -> u32 {
        self.families
            .iter()
            .map(|f| match f {
                Family::Ipv4 => RTMGRP_IPV4_ROUTE,
                Family::Ipv6 => RTMGRP_IPV6_ROUTE,
            })
            .fold(0, |a, b| a | b)
    }
}

type Key = (u128, u16);

fn key(r: &RouteInfo) -> Key {
    let f = match r.family {
        Family::Ipv4 => 0,
        Family::Ipv6 => 1,
    };
    (r.dst, f << 8 | u16::from(r.dst_len))
}

/// Receive buffer of the subscribed socket: a million notifications, each a separate
/// skb of roughly 1 KiB truesize, overflow anything smaller if the reader falls behind.
const EVENT_BUFFER: usize = 256 << 20;
/// Datagram buffer (a dump answer packs many routes per datagram).
const DATAGRAM_BUFFER: usize = 1 << 20;

/// Counts the watched routes in the namespace's kernel table right now (one dump).
pub fn count_now(ns: impl Into<Netns>, filter: &FibFilter) -> Result<u64> {
    let ns = ns.into();
    let fd = netlink::route_socket(&ns, 0, 64 << 20)?;
    let mut set: HashSet<Key, FastHash> = HashSet::default();
    dump_into(&fd, filter, &mut set, 1)?;
    Ok(set.len() as u64)
}

fn dump_into(
    fd: &std::os::fd::OwnedFd,
    filter: &FibFilter,
    set: &mut HashSet<Key, FastHash>,
    seq: u32,
) -> Result<()> {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    set.clear();
    for family in &filter.families {
        let mut found: HashSet<Key, FastHash> = HashSet::default();
        netlink::dump_routes(
            fd,
            *family,
            seq,
            &mut buf,
            |r| {
                if filter.matches(r) {
                    found.insert(key(r));
                }
            },
            || {},
        )?;
        set.extend(found);
    }
    Ok(())
}

/// Watches a namespace's kernel routing table; see the module docs. Dropping it stops and
/// joins its thread.
pub struct FibWatcher {
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    overruns: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    filter: FibFilter,
    _ns: Netns,
}

impl fmt::Debug for FibWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FibWatcher")
            .field("filter", &self.filter)
            .field("count", &self.progress.get())
            .field("overruns", &self.overruns())
            .finish()
    }
}

impl FibWatcher {
    /// Subscribes, dumps the current table, and keeps counting on a thread. Returns once
    /// the initial count is known.
    pub fn start(ns: impl Into<Netns>, filter: FibFilter) -> Result<FibWatcher> {
        FibWatcher::with_buffer(ns, filter, EVENT_BUFFER)
    }

    /// [`FibWatcher::start`] with another receive buffer for notifications (a small one
    /// exercises the overrun path).
    pub fn with_buffer(
        ns: impl Into<Netns>,
        filter: FibFilter,
        buffer: usize,
    ) -> Result<FibWatcher> {
        let ns = ns.into();
        let events = netlink::route_socket(&ns, filter.groups(), buffer)?;
        netlink::set_recv_timeout(&events, Some(Duration::from_millis(100)))?;
        let dumps = netlink::route_socket(&ns, 0, 64 << 20)?;
        let mut set: HashSet<Key, FastHash> = HashSet::default();
        dump_into(&dumps, &filter, &mut set, 1).context("initial route dump")?;
        let progress = Arc::new(Progress::new(set.len() as u64));
        let stop = Arc::new(AtomicBool::new(false));
        let overruns = Arc::new(AtomicU64::new(0));
        let thread = {
            let (progress, stop, overruns) = (
                Arc::clone(&progress),
                Arc::clone(&stop),
                Arc::clone(&overruns),
            );
            let filter = filter.clone();
            thread::Builder::new()
                .name("fib-watcher".into())
                .spawn(move || {
                    let why = watch(&events, &dumps, &filter, set, &progress, &stop, &overruns);
                    progress.close(why);
                })
                .context("spawn the FIB watcher thread")?
        };
        Ok(FibWatcher {
            progress,
            stop,
            overruns,
            thread: Some(thread),
            filter,
            _ns: ns,
        })
    }

    /// Watched routes in the table now (as of the last notification read).
    pub fn count(&self) -> u64 {
        self.progress.get()
    }

    /// How often notifications were lost and the count rebuilt from a dump.
    pub fn overruns(&self) -> u64 {
        self.overruns.load(Ordering::Relaxed)
    }

    /// Waits until the table holds at least `n` watched routes; returns when the
    /// notification that made it so was read.
    pub fn wait_until_count(&self, n: u64, timeout: Duration) -> Result<Instant> {
        self.progress
            .wait_at_least(n, timeout, "FIB watcher: routes")
    }

    /// Waits until the table holds at most `n` watched routes.
    pub fn wait_until_at_most(&self, n: u64, timeout: Duration) -> Result<Instant> {
        self.progress
            .wait_at_most(n, timeout, "FIB watcher: routes")
    }
}

impl Drop for FibWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Datagrams read without blocking before the count is recorded again.
const BATCH: usize = 64;

fn watch(
    events: &std::os::fd::OwnedFd,
    dumps: &std::os::fd::OwnedFd,
    filter: &FibFilter,
    mut set: HashSet<Key, FastHash>,
    progress: &Progress,
    stop: &AtomicBool,
    overruns: &AtomicU64,
) -> String {
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    let mut seq = 1;
    loop {
        if stop.load(Ordering::Relaxed) {
            return "stopped".to_string();
        }
        let mut got = 0;
        let mut overrun = false;
        while got < BATCH {
            match netlink::receive(events, &mut buf, got > 0) {
                Ok(n) => {
                    got += 1;
                    apply(&buf[..n], filter, &mut set);
                }
                Err(e) if e.raw_os_error() == Some(Errno::NOBUFS.raw_os_error()) => {
                    overrun = true;
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    break;
                }
                Err(e) => return format!("read route notifications: {e}"),
            }
        }
        if overrun {
            overruns.fetch_add(1, Ordering::Relaxed);
            // The kernel reports one ENOBUFS per congestion episode and drops silently until
            // the queue has been emptied once: drain it first, so any loss after the dump
            // below is reported again.
            if let Err(e) = drain(events, &mut buf) {
                return format!("drain route notifications: {e}");
            }
            seq += 1;
            if let Err(e) = dump_into(dumps, filter, &mut set, seq) {
                return format!("route dump after an overrun: {e:#}");
            }
        }
        if got > 0 || overrun {
            progress.record(Instant::now(), set.len() as u64);
        }
    }
}

/// Reads and drops queued notifications until none is left (bounded: the installer would
/// have to outpace a loop that only copies datagrams for a long time).
fn drain(events: &std::os::fd::OwnedFd, buf: &mut [u8]) -> std::io::Result<()> {
    for _ in 0..100_000_000u64 {
        match netlink::receive(events, buf, true) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(Errno::NOBUFS.raw_os_error()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn apply(datagram: &[u8], filter: &FibFilter, set: &mut HashSet<Key, FastHash>) {
    for m in netlink::messages(datagram) {
        let new = match m.kind {
            RTM_NEWROUTE => true,
            RTM_DELROUTE => false,
            NLMSG_ERROR => continue,
            _ => continue,
        };
        if let Some(r) = netlink::parse_route(m.payload)
            && filter.matches(&r)
        {
            if new {
                set.insert(key(&r));
            } else {
                set.remove(&key(&r));
            }
        }
    }
}
