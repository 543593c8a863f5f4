//! The kernel's own limit: install (and remove) the benchmark's routes straight through
//! rtnetlink, the way podroute's FIB code does it: ~1000 `RTM_NEWROUTE` (create or replace)
//! per `sendmsg`, an ACK asked only of the last message of each batch, so the kernel
//! reports just failures and the batch end. All the messages are built before the clock
//! starts. Time until a [`FibWatcher`](super::fib::FibWatcher) sees every route is the
//! baseline a daemon's FIB time is compared with.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::fib::rtprot;
use super::netlink::{self, NLMSG_ERROR, RouteTemplate};
use super::netns::Netns;
use super::prefixes::PrefixRange;
use crate::types::Family;

/// How the raw installer writes routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFibSpec {
    /// The next hop (directly reachable in the namespace), e.g. the loader's address.
    pub gateway: IpAddr,
    /// The gateway's interface, sent as `RTA_OIF` as podroute does (the kernel finds it
    /// itself when `None`).
    pub device: Option<String>,
    /// Routing table (main: 254).
    pub table: u32,
    /// `rtm_protocol` ([`rtprot::BENCH`] by default).
    pub protocol: u8,
    /// Route messages per `sendmsg`.
    pub batch: usize,
}

impl RawFibSpec {
    /// Main table, protocol [`rtprot::BENCH`], batches of 1000.
    pub fn new(gateway: IpAddr) -> RawFibSpec {
        RawFibSpec {
            gateway,
            device: None,
            table: 254,
            protocol: rtprot::BENCH,
            batch: 1000,
        }
    }

    /// Names the gateway's interface.
    pub fn device(mut self, ifname: &str) -> RawFibSpec {
        self.device = Some(ifname.to_string());
        self
    }
}

/// When a raw install or removal started and when the kernel had acknowledged all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFibReport {
    /// Just before the first `sendmsg`.
    pub started: Instant,
    /// Just after the last batch's ACK was read.
    pub finished: Instant,
    /// Route messages sent.
    pub routes: u64,
    /// `sendmsg` calls.
    pub batches: u64,
}

impl RawFibReport {
    /// `finished − started`.
    pub fn duration(&self) -> Duration {
        self.finished - self.started
    }

    /// Routes per second.
    pub fn rate(&self) -> f64 {
        self.routes as f64 / self.duration().as_secs_f64().max(1e-9)
    }
}

/// A netlink socket in a namespace that installs and removes routes in batches.
pub struct RawFib {
    fd: OwnedFd,
    spec: RawFibSpec,
    oif: Option<u32>,
    seq: u32,
    buf: Vec<u8>,
    _ns: Netns,
}

impl fmt::Debug for RawFib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawFib")
            .field("spec", &self.spec)
            .field("ns", &self._ns)
            .finish()
    }
}

impl RawFib {
    /// Opens the socket in `ns`.
    pub fn open(ns: impl Into<Netns>, spec: RawFibSpec) -> Result<RawFib> {
        ensure!(spec.batch > 0, "batch size 0");
        let ns = ns.into();
        let fd = netlink::route_socket(&ns, 0, 32 << 20)?;
        netlink::set_recv_timeout(&fd, Some(Duration::from_secs(30)))?;
        // The socket's namespace is the one the interface name is looked up in.
        let oif = match &spec.device {
            Some(name) => Some(
                rustix::net::netdevice::name_to_index(&fd, name)
                    .with_context(|| format!("interface {name} in {}", ns.name()))?,
            ),
            None => None,
        };
        Ok(RawFib {
            fd,
            spec,
            oif,
            seq: 0,
            buf: vec![0; 1 << 20],
            _ns: ns,
        })
    }

    /// Installs (or replaces) a route to every prefix of `range` via the gateway.
    pub fn install(&mut self, range: &PrefixRange) -> Result<RawFibReport> {
        ensure!(
            Family::of(self.spec.gateway) == range.family(),
            "gateway {} for {} prefixes",
            self.spec.gateway,
            range.family()
        );
        let gateway = self.spec.gateway;
        self.run(range, Some(gateway))
            .with_context(|| format!("install {range}"))
    }

    /// Removes the routes to every prefix of `range` (table and protocol as installed).
    pub fn remove(&mut self, range: &PrefixRange) -> Result<RawFibReport> {
        self.run(range, None)
            .with_context(|| format!("remove {range}"))
    }

    fn run(&mut self, range: &PrefixRange, gateway: Option<IpAddr>) -> Result<RawFibReport> {
        let t = RouteTemplate {
            family: range.family(),
            table: self.spec.table,
            protocol: self.spec.protocol,
            gateway,
            oif: self.oif,
        };
        // Every batch is built before the clock starts.
        let per = self.spec.batch as u64;
        let mut batches: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut i = 0;
        while i < range.count() {
            let end = (i + per).min(range.count());
            let mut out = Vec::with_capacity((end - i) as usize * 64);
            for j in i..end {
                self.seq = self.seq.wrapping_add(1);
                netlink::put_route(
                    &mut out,
                    &t,
                    range.nth_bits(j),
                    range.prefix_len(),
                    self.seq,
                    j + 1 == end,
                );
            }
            batches.push((out, self.seq));
            i = end;
        }
        let started = Instant::now();
        let mut first_error: Option<String> = None;
        let mut errors = 0u64;
        for (out, last) in &batches {
            netlink::send(&self.fd, out).context("sendmsg")?;
            // rtnetlink handles the batch inside sendmsg: the failures and the final ACK
            // are queued already.
            'ack: loop {
                let n = netlink::receive(&self.fd, &mut self.buf, false)
                    .context("read netlink ACKs")?;
                for m in netlink::messages(&self.buf[..n]) {
                    if m.kind != NLMSG_ERROR {
                        continue;
                    }
                    let code = netlink::error_code(m.payload);
                    if code != 0 {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(format!(
                                "message {}: {}",
                                m.seq,
                                io::Error::from_raw_os_error(code.saturating_neg())
                            ));
                        }
                    }
                    if m.seq == *last {
                        break 'ack;
                    }
                }
            }
        }
        let finished = Instant::now();
        if let Some(e) = first_error {
            bail!(
                "{errors} of {} route messages failed; first: {e}",
                range.count()
            );
        }
        Ok(RawFibReport {
            started,
            finished,
            routes: range.count(),
            batches: batches.len() as u64,
        })
    }
}
