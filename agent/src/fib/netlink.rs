//! The real kernel over rtnetlink. Writes are batched: up to
//! [`BATCH`] route messages per `send`, none of them asking for an ACK but
//! the last, so a batch costs one system call and the kernel reports only
//! failures (each with its sequence number) before the final ACK.
//!
//! The message types come from `netlink-packet-route` and the socket from
//! `netlink-sys` (the crates under `rtnetlink`): `rtnetlink`'s request API
//! sends one message and waits for its ACK, which is what batching avoids.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use bgp::types::Prefix;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::connected::{Connected, InterfaceAddr};
use super::kernel::Kernel;
use super::route::{Hop, KernelRoute, Target};
use super::table::{Op, OpError};

/// Route messages per `send`. ~1000 keeps a batch (~70 KiB) well inside
/// the socket buffer and is where the kernel's own cost dominates.
pub(crate) const BATCH: usize = 1000;

/// Socket buffers: a dump of a large table, or a burst of route events,
/// overflows the default 208 KiB.
const SOCKET_BUFFER: usize = 32 << 20;

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
    seq: u32,
    marking: Marking,
    buf: Vec<u8>,
    /// Route messages sent, in how many batches.
    pub(crate) batches: u64,
}

impl Netlink {
    pub(crate) fn open(marking: Marking) -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.set_cap_ack(true)?;
        // Kernel-side filtering of dumps by protocol and table (Linux 4.20+);
        // we filter again anyway.
        let _ = sock.set_netlink_get_strict_chk(true);
        grow_buffers(&sock);
        Ok(Netlink {
            sock,
            seq: 0,
            marking,
            buf: vec![0; 1 << 20],
            batches: 0,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn encode(&self, msg: RouteNetlinkMessage, flags: u16, seq: u32, out: &mut Vec<u8>) {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let start = out.len();
        out.resize(start + m.buffer_len(), 0);
        m.serialize(&mut out[start..]);
    }

    /// Sends a dump request and collects the answers.
    fn dump(&mut self, req: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        let seq = self.next_seq();
        let mut out = Vec::new();
        self.encode(req, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut out);
        self.sock.send(&out, 0)?;
        let mut found = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n])
                    .map_err(|e| io::Error::other(format!("netlink: {e}")))?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(io::Error::other("netlink: zero-length message"));
                }
                at += align(len);
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(found),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::InnerMessage(i) => found.push(i),
                    _ => {}
                }
            }
        }
    }

    fn route_message(&self, r: &KernelRoute) -> RouteMessage {
        route_message(self.marking, r)
    }
}

impl Kernel for Netlink {
    fn routes(&mut self) -> io::Result<Vec<KernelRoute>> {
        let mut found = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            req.header.protocol = RouteProtocol::from(self.marking.protocol);
            req.header.table = table_byte(self.marking.table);
            req.attributes
                .push(RouteAttribute::Table(self.marking.table));
            for m in self.dump(RouteNetlinkMessage::GetRoute(req))? {
                if let RouteNetlinkMessage::NewRoute(r) = m
                    && let Some(Seen::Ours(prefix, Some(target))) = classify(self.marking, &r, true)
                {
                    found.push(KernelRoute { prefix, target });
                }
            }
        }
        Ok(found)
    }

    fn addresses(&mut self) -> io::Result<Connected> {
        let mut addrs = Vec::new();
        for m in self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))? {
            if let RouteNetlinkMessage::NewAddress(a) = m
                && let Some(a) = interface_addr(&a)
            {
                addrs.push(a);
            }
        }
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

impl Netlink {
    fn apply_batch(&mut self, ops: &[Op]) -> io::Result<Vec<Result<(), OpError>>> {
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::with_capacity(ops.len() * 96);
        for (i, op) in ops.iter().enumerate() {
            let seq = self.next_seq();
            let ack = if i + 1 == ops.len() { NLM_F_ACK } else { 0 };
            let (msg, flags) = match op {
                Op::Set { route, replace } => (
                    RouteNetlinkMessage::NewRoute(self.route_message(route)),
                    NLM_F_CREATE | if *replace { NLM_F_REPLACE } else { NLM_F_EXCL },
                ),
                Op::Delete { route } => {
                    (RouteNetlinkMessage::DelRoute(self.route_message(route)), 0)
                }
            };
            self.encode(msg, NLM_F_REQUEST | flags | ack, seq, &mut out);
        }
        let last = self.seq;
        self.sock.send(&out, 0)?;
        self.batches += 1;
        let mut results: Vec<Result<(), OpError>> = vec![Ok(()); ops.len()];
        // rtnetlink handles a batch synchronously within `send`: the
        // failures and the final ACK are already queued.
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n])
                    .map_err(|e| io::Error::other(format!("netlink: {e}")))?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(io::Error::other("netlink: zero-length message"));
                }
                at += align(len);
                let seq = m.header.sequence_number;
                let i = seq.wrapping_sub(first) as usize;
                if i >= ops.len() {
                    continue;
                }
                if let NetlinkPayload::Error(e) = m.payload {
                    if let Some(code) = e.code {
                        results[i] = Err(op_error(-code.get()));
                    }
                    if seq == last {
                        return Ok(results);
                    }
                }
            }
        }
    }
}

fn op_error(errno: i32) -> OpError {
    match errno {
        libc::EEXIST => OpError::Exists,
        libc::ESRCH | libc::ENOENT => OpError::Gone,
        e => OpError::Other(io::Error::from_raw_os_error(e).to_string()),
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn table_byte(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC)
}

fn family_of(p: &Prefix) -> AddressFamily {
    match p {
        Prefix::V4(_) => AddressFamily::Inet,
        Prefix::V6(_) => AddressFamily::Inet6,
    }
}

pub(crate) fn route_message(marking: Marking, r: &KernelRoute) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(&r.prefix);
    m.header.destination_prefix_length = r.prefix.len();
    m.header.table = table_byte(marking.table);
    m.header.protocol = RouteProtocol::from(marking.protocol);
    m.header.scope = RouteScope::Universe;
    m.header.kind = match r.target {
        Target::Via(_) => RouteType::Unicast,
        Target::Unreachable => RouteType::Unreachable,
        Target::Blackhole => RouteType::BlackHole,
    };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            r.prefix.addr(),
        )));
    m.attributes.push(RouteAttribute::Table(marking.table));
    if marking.metric != 0 {
        m.attributes.push(RouteAttribute::Priority(marking.metric));
    }
    match &r.target {
        Target::Via(hops) if hops.len() == 1 => {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(hops[0].gateway)));
            m.attributes.push(RouteAttribute::Oif(hops[0].ifindex));
        }
        Target::Via(hops) => {
            let nhs = hops
                .iter()
                .map(|h| {
                    let mut nh = RouteNextHop::default();
                    nh.interface_index = h.ifindex;
                    nh.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(h.gateway)));
                    nh
                })
                .collect();
            m.attributes.push(RouteAttribute::MultiPath(nhs));
        }
        Target::Unreachable | Target::Blackhole => {}
    }
    m
}

/// What a route message is to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Ours (our protocol, our table): its target, or `None` if deleted.
    Ours(Prefix, Option<Target>),
    /// Someone else's route in our table was deleted.
    OtherRemoved(Prefix),
}

/// Classifies a route message (`present`: NEWROUTE or a dump entry, else
/// DELROUTE); `None` for what does not concern us.
pub(crate) fn classify(marking: Marking, m: &RouteMessage, present: bool) -> Option<Seen> {
    let table = m
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table));
    if table != marking.table {
        return None;
    }
    let len = m.header.destination_prefix_length;
    let dst = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    });
    let dst = match (dst, m.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let prefix = match dst {
        IpAddr::V4(a) => bgp::types::Ipv4Prefix::new(a, len).ok()?.into(),
        IpAddr::V6(a) => bgp::types::Ipv6Prefix::new(a, len).ok()?.into(),
    };
    if u8::from(m.header.protocol) != marking.protocol {
        return (!present).then_some(Seen::OtherRemoved(prefix));
    }
    if !present {
        return Some(Seen::Ours(prefix, None));
    }
    let target = match m.header.kind {
        RouteType::Unreachable => Target::Unreachable,
        RouteType::BlackHole => Target::Blackhole,
        _ => {
            let oif = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Oif(i) => Some(*i),
                _ => None,
            });
            let mut hops: Vec<Hop> = m
                .attributes
                .iter()
                .filter_map(|a| match a {
                    RouteAttribute::Gateway(g) => Some(Hop {
                        gateway: route_addr(g)?,
                        ifindex: oif.unwrap_or(0),
                    }),
                    _ => None,
                })
                .collect();
            for a in &m.attributes {
                if let RouteAttribute::MultiPath(nhs) = a {
                    for nh in nhs {
                        if let Some(g) = nh.attributes.iter().find_map(|a| match a {
                            RouteAttribute::Gateway(g) => route_addr(g),
                            _ => None,
                        }) {
                            hops.push(Hop {
                                gateway: g,
                                ifindex: nh.interface_index,
                            });
                        }
                    }
                }
            }
            hops.sort();
            hops.dedup();
            // A route of ours without a gateway is not one we wrote: an
            // empty set compares unequal to anything we want.
            Target::Via(hops)
        }
    };
    Some(Seen::Ours(prefix, Some(target)))
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
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
        IpAddr::V4(v) => bgp::types::Ipv4Prefix::new_truncating(v, a.header.prefix_len)
            .ok()?
            .into(),
        IpAddr::V6(v) => bgp::types::Ipv6Prefix::new_truncating(v, a.header.prefix_len)
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
    pub(crate) fn open(marking: Marking) -> io::Result<Monitor> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
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
            buf: vec![0; 1 << 20],
            marking,
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
        let mut at = 0;
        while at < n {
            let Ok(m) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[at..n]) else {
                // A message we cannot parse: be safe, compare everything.
                events.push(Event::Overrun);
                break;
            };
            let len = m.header.length as usize;
            if len == 0 {
                break;
            }
            at += align(len);
            match m.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                    if let Some(s) = classify(self.marking, &r, true) {
                        events.push(Event::Route(s));
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(r)) => {
                    if let Some(s) = classify(self.marking, &r, false) {
                        events.push(Event::Route(s));
                    }
                }
                NetlinkPayload::InnerMessage(
                    RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_),
                ) => events.push(Event::AddressesChanged),
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

#[cfg(test)]
mod tests;
