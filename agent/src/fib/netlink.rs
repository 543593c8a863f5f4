//! The real kernel over rtnetlink.
//!
//! Writes are batched: up to [`BATCH`] route messages per `send`, none of
//! them asking for an ACK but the last, so a batch costs one system call
//! and the kernel reports only failures (each with its sequence number,
//! which names the route) before the final ACK. rtnetlink handles a batch
//! within `send`, so reading those answers never waits for the kernel.
//! Route messages are encoded and decoded here, straight from and into the
//! FIB's own types: a million of them must not cost a million allocations.
//! Address messages (few) go through `netlink-packet-route`.
//!
//! Two sockets: the writer (writes and dumps) and the [`Monitor`], which
//! listens to route and address events. A socket filter on the monitor
//! drops, inside the kernel, the echoes of the writer's own writes (they
//! carry its port id) and new routes of other protocols: neither concerns
//! us, and a million of them would overflow the monitor (ENOBUFS) and
//! force a full re-read of the table.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use bgp::types::{Ipv4Prefix, Ipv6Prefix, Prefix};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::connected::{Connected, InterfaceAddr};
use super::kernel::Kernel;
use super::route::{Hop, KernelRoute, Target};
use super::table::{Op, OpError};

/// Route messages per `send`. ~1000 (~60 KiB of IPv4 routes) is where the
/// kernel's own cost dominates; more gains nothing measurable.
pub(crate) const BATCH: usize = 1000;

/// Socket buffers: a dump of a large table, or a burst of route events,
/// overflows the default 208 KiB.
const SOCKET_BUFFER: usize = 32 << 20;

/// Receive buffer: the kernel puts at most 32 KiB in one dump datagram.
const RECV_BUFFER: usize = 64 << 10;

// linux/netlink.h, linux/rtnetlink.h
const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_GETROUTE: u16 = 26;
const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// In a delete: any scope (as `ip route del` sends).
const RT_SCOPE_NOWHERE: u8 = 255;
const RT_TABLE_UNSPEC: u8 = 0;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;

// rtnetlink multicast groups (linux/rtnetlink.h, enum rtnetlink_groups).
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// Where our routes live and how they are marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marking {
    pub(crate) protocol: u8,
    pub(crate) table: u32,
    pub(crate) metric: u32,
}

pub(crate) struct Netlink {
    sock: Socket,
    /// The socket's port id: the kernel stamps it on the events our writes
    /// cause, which is how the monitor tells them apart.
    portid: u32,
    seq: u32,
    marking: Marking,
    /// Answers read, and batches being written.
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// How many batches (`send`s) carried route writes.
    pub(crate) batches: u64,
}

impl Netlink {
    pub(crate) fn open(marking: Marking) -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        let addr = sock.bind_auto()?;
        // Errors carry the failed request's header only, not the request.
        sock.set_cap_ack(true)?;
        // Kernel-side filtering of dumps by protocol and table (Linux 4.20+);
        // we filter again anyway.
        let _ = sock.set_netlink_get_strict_chk(true);
        grow_buffers(&sock);
        Ok(Netlink {
            sock,
            portid: addr.port_number(),
            seq: 0,
            marking,
            rx: vec![0; RECV_BUFFER],
            tx: Vec::with_capacity(BATCH * 128),
            batches: 0,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends the dump request in `tx` (sequence number `seq`) and hands
    /// every answer (type, payload) to `each`.
    fn dump(&mut self, seq: u32, each: &mut dyn FnMut(u16, &[u8])) -> io::Result<()> {
        self.sock.send(&self.tx, 0)?;
        loop {
            let n = self.sock.recv(&mut &mut self.rx[..], 0)?;
            for m in Messages(&self.rx[..n]) {
                let (kind, m_seq, payload) = m?;
                if m_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => match error_code(payload) {
                        0 => {}
                        e => return Err(io::Error::from_raw_os_error(e)),
                    },
                    _ => each(kind, payload),
                }
            }
        }
    }

    /// Writes one batch and reads what the kernel says of it.
    fn apply_batch(&mut self, ops: &[Op]) -> io::Result<Vec<Result<(), OpError>>> {
        let first = self.seq.wrapping_add(1);
        self.tx.clear();
        for (i, op) in ops.iter().enumerate() {
            let seq = self.next_seq();
            let ack = if i + 1 == ops.len() { NLM_F_ACK } else { 0 };
            match op {
                Op::Set { route, replace } => {
                    let how = if *replace { NLM_F_REPLACE } else { NLM_F_EXCL };
                    let flags = NLM_F_REQUEST | NLM_F_CREATE | how | ack;
                    encode_route(&mut self.tx, self.marking, RTM_NEWROUTE, flags, seq, route);
                }
                Op::Delete { route } => {
                    let flags = NLM_F_REQUEST | ack;
                    encode_route(&mut self.tx, self.marking, RTM_DELROUTE, flags, seq, route);
                }
            }
        }
        let last = self.seq;
        self.sock.send(&self.tx, 0)?;
        self.batches += 1;
        let mut results: Vec<Result<(), OpError>> = vec![Ok(()); ops.len()];
        loop {
            let n = self.sock.recv(&mut &mut self.rx[..], 0)?;
            for m in Messages(&self.rx[..n]) {
                let (kind, seq, payload) = m?;
                let i = seq.wrapping_sub(first) as usize;
                if kind != NLMSG_ERROR || i >= ops.len() {
                    continue;
                }
                match error_code(payload) {
                    0 => {}
                    e => results[i] = Err(op_error(e)),
                }
                if seq == last {
                    return Ok(results);
                }
            }
        }
    }
}

impl Kernel for Netlink {
    fn each_route(&mut self, each: &mut dyn FnMut(KernelRoute)) -> io::Result<()> {
        let marking = self.marking;
        for family in [AF_INET, AF_INET6] {
            let seq = self.next_seq();
            self.tx.clear();
            let at = header(&mut self.tx, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
            self.tx.extend_from_slice(&[
                family,
                0,
                0,
                0,
                table_byte(marking.table),
                marking.protocol,
                0,
                0,
            ]);
            self.tx.extend_from_slice(&0u32.to_ne_bytes());
            attr(&mut self.tx, RTA_TABLE, &marking.table.to_ne_bytes());
            finish(&mut self.tx, at);
            let mut hops = HopCache::default();
            self.dump(seq, &mut |kind, payload| {
                if kind == RTM_NEWROUTE
                    && let Some(Seen::Ours(prefix, Some(target))) =
                        classify(marking, payload, true, &mut hops)
                {
                    each(KernelRoute { prefix, target });
                }
            })?;
        }
        Ok(())
    }

    fn addresses(&mut self) -> io::Result<Connected> {
        let seq = self.next_seq();
        self.tx.clear();
        let at = header(&mut self.tx, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
        // struct ifaddrmsg, all zero: every family, every interface.
        self.tx.extend_from_slice(&[0; 8]);
        finish(&mut self.tx, at);
        let mut addrs = Vec::new();
        self.dump(seq, &mut |kind, payload| {
            if kind == RTM_NEWADDR
                && let Some(a) = parse_address(payload)
            {
                addrs.push(a);
            }
        })?;
        Ok(Connected::new(addrs))
    }

    fn apply(&mut self, ops: &[Op]) -> io::Result<Vec<Result<(), OpError>>> {
        let mut results = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(BATCH) {
            results.extend(self.apply_batch(chunk)?);
        }
        Ok(results)
    }
}

/// The netlink messages in a datagram: (type, sequence number, payload).
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = io::Result<(u16, u32, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32_at(self.0, 0) as usize;
        if len < NLMSG_HDRLEN || len > self.0.len() {
            self.0 = &[];
            return Some(Err(io::Error::other(format!(
                "netlink: a message of {len} bytes"
            ))));
        }
        let kind = u16_at(self.0, 4);
        let seq = u32_at(self.0, 8);
        let payload = &self.0[NLMSG_HDRLEN..len];
        self.0 = &self.0[align(len).min(self.0.len())..];
        Some(Ok((kind, seq, payload)))
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// An NLMSG_ERROR's errno (positive), 0 for an ACK.
fn error_code(payload: &[u8]) -> i32 {
    match payload.first_chunk::<4>() {
        Some(b) => i32::from_ne_bytes(*b).saturating_neg(),
        None => libc::EPROTO,
    }
}

fn op_error(errno: i32) -> OpError {
    match errno {
        libc::EEXIST => OpError::Exists,
        libc::ESRCH | libc::ENOENT => OpError::Gone,
        e => OpError::Other(e),
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn table_byte(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RT_TABLE_UNSPEC)
}

/// Starts a message; returns where, for [`finish`].
fn header(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
    let at = out.len();
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    at
}

/// Writes the length of the message that started at `at`.
fn finish(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// One attribute, padded.
fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (align(len) - len), 0);
}

/// A gateway: `RTA_GATEWAY` in the route's family, else `RTA_VIA` (an IPv4
/// route through an IPv6 next hop, RFC 8950).
fn gateway(out: &mut Vec<u8>, family: u8, g: IpAddr) {
    match (family, g) {
        (AF_INET, IpAddr::V4(a)) => attr(out, RTA_GATEWAY, &a.octets()),
        (AF_INET6, IpAddr::V6(a)) => attr(out, RTA_GATEWAY, &a.octets()),
        (_, IpAddr::V4(a)) => {
            let mut via = u16::from(AF_INET).to_ne_bytes().to_vec();
            via.extend_from_slice(&a.octets());
            attr(out, RTA_VIA, &via);
        }
        (_, IpAddr::V6(a)) => {
            let mut via = u16::from(AF_INET6).to_ne_bytes().to_vec();
            via.extend_from_slice(&a.octets());
            attr(out, RTA_VIA, &via);
        }
    }
}

/// One route message. A delete names the route by its key and protocol
/// only (prefix, table, metric, ours): whatever its next hops are now, our
/// route for that prefix goes, and no one else's.
fn encode_route(
    out: &mut Vec<u8>,
    marking: Marking,
    kind: u16,
    flags: u16,
    seq: u32,
    r: &KernelRoute,
) {
    let at = header(out, kind, flags, seq);
    let mut dst = [0u8; 16];
    let (family, dst) = match &r.prefix {
        Prefix::V4(p) => {
            dst[..4].copy_from_slice(&p.addr().octets());
            (AF_INET, &dst[..4])
        }
        Prefix::V6(p) => {
            dst.copy_from_slice(&p.addr().octets());
            (AF_INET6, &dst[..])
        }
    };
    let delete = kind == RTM_DELROUTE;
    let route_type = match (&r.target, delete) {
        (_, true) => 0,
        (Target::Via(_), _) => RTN_UNICAST,
        (Target::Unreachable, _) => RTN_UNREACHABLE,
        (Target::Blackhole, _) => RTN_BLACKHOLE,
    };
    let scope = if delete {
        RT_SCOPE_NOWHERE
    } else {
        RT_SCOPE_UNIVERSE
    };
    out.extend_from_slice(&[
        family,
        r.prefix.len(),
        0,
        0,
        table_byte(marking.table),
        marking.protocol,
        scope,
        route_type,
    ]);
    out.extend_from_slice(&0u32.to_ne_bytes());
    attr(out, RTA_DST, dst);
    attr(out, RTA_TABLE, &marking.table.to_ne_bytes());
    if marking.metric != 0 {
        attr(out, RTA_PRIORITY, &marking.metric.to_ne_bytes());
    }
    if !delete && let Target::Via(hops) = &r.target {
        if let [h] = &hops[..] {
            gateway(out, family, h.gateway);
            attr(out, RTA_OIF, &h.ifindex.to_ne_bytes());
        } else {
            let mp = out.len();
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&RTA_MULTIPATH.to_ne_bytes());
            for h in hops.iter() {
                // struct rtnexthop: len, flags, hops, ifindex; then attributes.
                let nh = out.len();
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&(h.ifindex as i32).to_ne_bytes());
                gateway(out, family, h.gateway);
                let len = (out.len() - nh) as u16;
                out[nh..nh + 2].copy_from_slice(&len.to_ne_bytes());
            }
            let len = (out.len() - mp) as u16;
            out[mp..mp + 2].copy_from_slice(&len.to_ne_bytes());
        }
    }
    finish(out, at);
}

/// The attributes in `b`: (type without flag bits, value).
struct Attrs<'a>(&'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < 4 {
            return None;
        }
        let len = usize::from(u16_at(self.0, 0));
        if len < 4 || len > self.0.len() {
            self.0 = &[];
            return None;
        }
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags, not the type.
        let kind = u16_at(self.0, 2) & 0x3fff;
        let value = &self.0[4..len];
        self.0 = &self.0[align(len).min(self.0.len())..];
        Some((kind, value))
    }
}

fn addr_of(family: u8, b: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(*b.first_chunk::<4>()?))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*b.first_chunk::<16>()?))),
        _ => None,
    }
}

/// `RTA_GATEWAY` (in `family`) or `RTA_VIA` (family inside).
fn gateway_of(family: u8, kind: u16, value: &[u8]) -> Option<IpAddr> {
    match kind {
        RTA_GATEWAY => addr_of(family, value),
        RTA_VIA if value.len() >= 2 => {
            let f = u8::try_from(u16_at(value, 0)).ok()?;
            addr_of(f, &value[2..])
        }
        _ => None,
    }
}

/// The last target read: a dump of a million routes through the same next
/// hop shares one.
#[derive(Default)]
pub(crate) struct HopCache {
    last: Option<Target>,
}

impl HopCache {
    fn target(&mut self, hops: &[Hop]) -> Target {
        if let Some(Target::Via(h)) = &self.last
            && h[..] == *hops
        {
            return Target::Via(h.clone());
        }
        let t = Target::Via(hops.into());
        self.last = Some(t.clone());
        t
    }
}

/// What a route message is to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Ours (our protocol, our table): its target, or `None` if deleted.
    Ours(Prefix, Option<Target>),
    /// Someone else's route in our table was deleted.
    OtherRemoved(Prefix),
}

/// Classifies a route message's payload (`present`: NEWROUTE or a dump
/// entry, else DELROUTE); `None` for what does not concern us.
pub(crate) fn classify(
    marking: Marking,
    m: &[u8],
    present: bool,
    hops_cache: &mut HopCache,
) -> Option<Seen> {
    if m.len() < RTMSG_LEN {
        return None;
    }
    let (family, len, table_u8, protocol, kind) = (m[0], m[1], m[4], m[5], m[7]);
    let attrs = || Attrs(&m[RTMSG_LEN..]);
    let table = attrs()
        .find(|(k, v)| *k == RTA_TABLE && v.len() >= 4)
        .map_or(u32::from(table_u8), |(_, v)| u32_at(v, 0));
    if table != marking.table {
        return None;
    }
    let dst = attrs()
        .find(|(k, _)| *k == RTA_DST)
        .and_then(|(_, v)| addr_of(family, v));
    let dst = match (dst, family) {
        (Some(d), _) => d,
        (None, AF_INET) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let prefix = match dst {
        IpAddr::V4(a) => Ipv4Prefix::new(a, len).ok()?.into(),
        IpAddr::V6(a) => Ipv6Prefix::new(a, len).ok()?.into(),
    };
    if protocol != marking.protocol {
        return (!present).then_some(Seen::OtherRemoved(prefix));
    }
    if !present {
        return Some(Seen::Ours(prefix, None));
    }
    let target = match kind {
        RTN_UNREACHABLE => Target::Unreachable,
        RTN_BLACKHOLE => Target::Blackhole,
        _ => {
            let oif = attrs()
                .find(|(k, v)| *k == RTA_OIF && v.len() >= 4)
                .map_or(0, |(_, v)| u32_at(v, 0));
            let mut hops: Vec<Hop> = Vec::new();
            for (k, v) in attrs() {
                if let Some(g) = gateway_of(family, k, v) {
                    hops.push(Hop {
                        gateway: g,
                        ifindex: oif,
                    });
                } else if k == RTA_MULTIPATH {
                    let mut rest = v;
                    while rest.len() >= 8 {
                        let nh_len = usize::from(u16_at(rest, 0));
                        if nh_len < 8 || nh_len > rest.len() {
                            break;
                        }
                        let ifindex = u32_at(rest, 4);
                        if let Some(g) =
                            Attrs(&rest[8..nh_len]).find_map(|(k, v)| gateway_of(family, k, v))
                        {
                            hops.push(Hop {
                                gateway: g,
                                ifindex,
                            });
                        }
                        rest = &rest[align(nh_len).min(rest.len())..];
                    }
                }
            }
            hops.sort();
            hops.dedup();
            // A route of ours without a gateway is not one we wrote: an
            // empty set compares unequal to anything we want.
            hops_cache.target(&hops)
        }
    };
    Some(Seen::Ours(prefix, Some(target)))
}

/// An address message's payload (struct ifaddrmsg and attributes).
fn parse_address(payload: &[u8]) -> Option<InterfaceAddr> {
    let mut whole = vec![0u8; NLMSG_HDRLEN + payload.len()];
    let len = whole.len() as u32;
    whole[..4].copy_from_slice(&len.to_ne_bytes());
    whole[4..6].copy_from_slice(&RTM_NEWADDR.to_ne_bytes());
    whole[NLMSG_HDRLEN..].copy_from_slice(payload);
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&whole)
        .ok()?
        .payload
    {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => interface_addr(&a),
        _ => None,
    }
}

/// An address usable to decide what is directly connected: global scope
/// only (IPv6 link-local subnets exist on every link and say nothing).
fn interface_addr(a: &AddressMessage) -> Option<InterfaceAddr> {
    if a.header.scope != AddressScope::Universe {
        return None;
    }
    let addr = a
        .attributes
        .iter()
        .find_map(|x| match x {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        })?;
    let subnet = match addr {
        IpAddr::V4(v) => Ipv4Prefix::new_truncating(v, a.header.prefix_len)
            .ok()?
            .into(),
        IpAddr::V6(v) => Ipv6Prefix::new_truncating(v, a.header.prefix_len)
            .ok()?
            .into(),
    };
    Some(InterfaceAddr {
        ifindex: a.header.index,
        address: addr,
        subnet,
    })
}

fn grow_buffers(sock: &Socket) {
    use nix::sys::socket::{setsockopt, sockopt};
    // The FORCE variants need CAP_NET_ADMIN; without it, as much as
    // net.core.{r,w}mem_max allows.
    if setsockopt(sock, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if setsockopt(sock, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(sock, sockopt::SndBuf, &SOCKET_BUFFER);
    }
}

/// A socket subscribed to route and address changes.
pub(crate) struct Monitor {
    sock: Socket,
    buf: Vec<u8>,
    marking: Marking,
    hops: HopCache,
}

/// What the monitor saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Route(Seen),
    AddressesChanged,
    /// Events were lost (ENOBUFS): only a full dump tells the truth now.
    Overrun,
}

impl Monitor {
    /// Subscribes to route and address events, except those caused by
    /// `writer`'s own writes.
    pub(crate) fn open(marking: Marking, writer: &Netlink) -> io::Result<Monitor> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        // Before joining: nothing unfiltered is ever queued.
        socket2::SockRef::from(&sock).attach_filter(&filter(marking, writer.portid))?;
        for g in [
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_ROUTE,
            RTNLGRP_IPV4_IFADDR,
            RTNLGRP_IPV6_IFADDR,
        ] {
            sock.add_membership(g)?;
        }
        grow_buffers(&sock);
        sock.set_non_blocking(true)?;
        Ok(Monitor {
            sock,
            buf: vec![0; RECV_BUFFER],
            marking,
            hops: HopCache::default(),
        })
    }

    /// Reads what is queued, without blocking; `Ok(false)` when nothing was.
    pub(crate) fn read(&mut self, events: &mut Vec<Event>) -> io::Result<bool> {
        let n = match self.sock.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                events.push(Event::Overrun);
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        for m in Messages(&self.buf[..n]) {
            let Ok((kind, _, payload)) = m else {
                // A message we cannot parse: be safe, compare everything.
                events.push(Event::Overrun);
                break;
            };
            match kind {
                RTM_NEWROUTE | RTM_DELROUTE => {
                    let present = kind == RTM_NEWROUTE;
                    if let Some(s) = classify(self.marking, payload, present, &mut self.hops) {
                        events.push(Event::Route(s));
                    }
                }
                RTM_NEWADDR | RTM_DELADDR => events.push(Event::AddressesChanged),
                _ => {}
            }
        }
        Ok(true)
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

/// The monitor's socket filter (classic BPF, run by the kernel on every
/// event before it is queued): drop what `writer` caused (the kernel puts
/// the writer's port id in the header of the events its requests cause)
/// and new routes of other protocols; keep the rest. BPF loads are
/// big-endian; netlink headers are in host order, hence the swaps.
fn filter(marking: Marking, writer: u32) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    const LD_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const LD_H: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LD_B: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let pid = u32::from_be_bytes(writer.to_ne_bytes());
    let newroute = u32::from(u16::from_be_bytes(RTM_NEWROUTE.to_ne_bytes()));
    let mut f = Vec::new();
    if writer != 0 {
        // nlmsg_pid == writer: drop (4 instructions on).
        f.push(F::new(LD_W, 0, 0, 12));
        f.push(F::new(JEQ, 4, 0, pid));
    }
    // nlmsg_type != RTM_NEWROUTE: keep (3 on).
    f.push(F::new(LD_H, 0, 0, 4));
    f.push(F::new(JEQ, 0, 3, newroute));
    // rtm_protocol == ours: keep (1 on), else drop.
    f.push(F::new(LD_B, 0, 0, (NLMSG_HDRLEN + 5) as u32));
    f.push(F::new(JEQ, 1, 0, u32::from(marking.protocol)));
    f.push(F::new(RET, 0, 0, 0));
    f.push(F::new(RET, 0, 0, u32::MAX));
    f
}

#[cfg(test)]
mod tests;
