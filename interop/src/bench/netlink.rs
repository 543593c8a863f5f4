//! Just enough rtnetlink, as raw bytes, for the FIB watcher and the raw installer.
//!
//! `netlink-packet-route` (which the agent uses) parses every attribute of every message
//! into owned values; at a million route notifications a second the watcher only needs the
//! destination, table and protocol, so it reads those in place. Layouts are from
//! `linux/netlink.h` and `linux/rtnetlink.h`; netlink integers are in host byte order,
//! addresses in network order.

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, sendto, socket_with,
    sockopt,
};

use super::netns::{self, Netns};
use crate::types::Family;

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_NEWROUTE: u16 = 24;
pub(crate) const RTM_DELROUTE: u16 = 25;
pub(crate) const RTM_GETROUTE: u16 = 26;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_CREATE: u16 = 0x400;

const RTMSG_LEN: usize = 12;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Legacy multicast group bits (`RTMGRP_IPV4_ROUTE`, `RTMGRP_IPV6_ROUTE`).
pub(crate) const RTMGRP_IPV4_ROUTE: u32 = 0x40;
pub(crate) const RTMGRP_IPV6_ROUTE: u32 = 0x400;

const RTN_UNICAST: u8 = 1;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_NOWHERE: u8 = 255;
/// `rtm_table` for tables that only fit the `RTA_TABLE` attribute.
const RT_TABLE_COMPAT: u8 = 252;

pub(crate) fn af(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

/// A NETLINK_ROUTE socket in `ns`, subscribed to `groups`, with big buffers.
pub(crate) fn route_socket(ns: &Netns, groups: u32, buffer: usize) -> Result<OwnedFd> {
    netns::Netns::run(ns, "open a NETLINK_ROUTE socket", move || {
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            // NETLINK_ROUTE is protocol 0.
            None,
        )?;
        netns::grow_buffers(&fd, buffer, buffer);
        bind(&fd, &SocketAddrNetlink::new(0, groups))?;
        Ok(fd)
    })
}

pub(crate) fn set_recv_timeout(fd: &OwnedFd, timeout: Option<Duration>) -> Result<()> {
    sockopt::set_socket_timeout(fd, sockopt::Timeout::Recv, timeout)
        .context("SO_RCVTIMEO on a netlink socket")
}

/// Sends one buffer of netlink messages to the kernel.
pub(crate) fn send(fd: &OwnedFd, buf: &[u8]) -> io::Result<()> {
    let n = sendto(fd, buf, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    if n != buf.len() {
        return Err(io::Error::other(format!(
            "netlink: sent {n} of {} octets",
            buf.len()
        )));
    }
    Ok(())
}

/// Receives one datagram (possibly several messages) into `buf`.
pub(crate) fn receive(fd: &OwnedFd, buf: &mut [u8], dontwait: bool) -> io::Result<usize> {
    let flags = if dontwait {
        RecvFlags::DONTWAIT
    } else {
        RecvFlags::empty()
    };
    Ok(recv(fd, buf, flags)?.0)
}

/// One netlink message: type, flags, sequence, payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NlMsg<'a> {
    pub(crate) kind: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) payload: &'a [u8],
}

/// The messages of one datagram; stops at the first malformed header.
pub(crate) fn messages(mut buf: &[u8]) -> impl Iterator<Item = NlMsg<'_>> {
    std::iter::from_fn(move || {
        let h = buf.get(..NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            buf = &[];
            return None;
        }
        let m = NlMsg {
            kind: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            payload: &buf[NLMSG_HDRLEN..len],
        };
        buf = buf.get(align4(len)..).unwrap_or_default();
        Some(m)
    })
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The error code of an `NLMSG_ERROR` (0 is an ACK; negative errno otherwise).
pub(crate) fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .map_or(-1, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// The parts of a route message the tools look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteInfo {
    pub(crate) family: Family,
    /// Destination address (IPv4 in the low 32 bits).
    pub(crate) dst: u128,
    pub(crate) dst_len: u8,
    pub(crate) table: u32,
    pub(crate) protocol: u8,
}

/// Reads a `RTM_NEWROUTE`/`RTM_DELROUTE` payload (an `rtmsg` and its attributes).
pub(crate) fn parse_route(payload: &[u8]) -> Option<RouteInfo> {
    let r = payload.get(..RTMSG_LEN)?;
    let family = match r[0] {
        AF_INET => Family::Ipv4,
        AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let mut info = RouteInfo {
        family,
        dst: 0,
        dst_len: r[1],
        table: u32::from(r[4]),
        protocol: r[5],
    };
    let mut attrs = &payload[RTMSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            break;
        }
        let data = &attrs[4..len];
        match (kind, family, data.len()) {
            (RTA_DST, Family::Ipv4, 4) => {
                info.dst = u128::from(u32::from_be_bytes([data[0], data[1], data[2], data[3]]));
            }
            (RTA_DST, Family::Ipv6, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(data);
                info.dst = u128::from_be_bytes(a);
            }
            (RTA_TABLE, _, 4) => {
                info.table = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]);
            }
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or_default();
    }
    Some(info)
}

fn put_header(out: &mut Vec<u8>, len: usize, kind: u16, flags: u16, seq: u32) {
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
}

fn put_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + align4(len) - len, 0);
}

fn addr_bytes(family: Family, bits: u128) -> Vec<u8> {
    match family {
        Family::Ipv4 => (bits as u32).to_be_bytes().to_vec(),
        Family::Ipv6 => bits.to_be_bytes().to_vec(),
    }
}

/// What a route request carries besides its destination.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteTemplate {
    pub(crate) family: Family,
    pub(crate) table: u32,
    pub(crate) protocol: u8,
    /// `None` for deletions.
    pub(crate) gateway: Option<IpAddr>,
    /// The gateway's interface (`RTA_OIF`), as podroute sends it.
    pub(crate) oif: Option<u32>,
}

/// Appends an `RTM_NEWROUTE` (create or replace) or, without a gateway, an `RTM_DELROUTE`.
pub(crate) fn put_route(
    out: &mut Vec<u8>,
    t: &RouteTemplate,
    dst: u128,
    dst_len: u8,
    seq: u32,
    ack: bool,
) {
    let start = out.len();
    let ack = if ack { NLM_F_ACK } else { 0 };
    let (kind, flags, scope) = match t.gateway {
        Some(_) => (
            RTM_NEWROUTE,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | ack,
            RT_SCOPE_UNIVERSE,
        ),
        None => (RTM_DELROUTE, NLM_F_REQUEST | ack, RT_SCOPE_NOWHERE),
    };
    put_header(out, 0, kind, flags, seq);
    out.extend_from_slice(&[
        af(t.family),
        dst_len,
        0,
        0,
        u8::try_from(t.table).unwrap_or(RT_TABLE_COMPAT),
        t.protocol,
        scope,
        RTN_UNICAST,
    ]);
    out.extend_from_slice(&0u32.to_ne_bytes());
    put_attr(out, RTA_DST, &addr_bytes(t.family, dst));
    match t.gateway {
        Some(IpAddr::V4(g)) => put_attr(out, RTA_GATEWAY, &g.octets()),
        Some(IpAddr::V6(g)) => put_attr(out, RTA_GATEWAY, &g.octets()),
        None => {}
    }
    if let (Some(_), Some(oif)) = (t.gateway, t.oif) {
        put_attr(out, RTA_OIF, &oif.to_ne_bytes());
    }
    put_attr(out, RTA_TABLE, &t.table.to_ne_bytes());
    let len = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Dumps the routes of one family through `fd` (a socket without multicast groups),
/// calling `f` for each. Retries (up to 5 times) when the kernel says the dump was
/// interrupted by a change; `f` then sees the routes again, so callers collect into a set.
pub(crate) fn dump_routes(
    fd: &OwnedFd,
    family: Family,
    seq: u32,
    buf: &mut [u8],
    mut f: impl FnMut(&RouteInfo),
    mut restart: impl FnMut(),
) -> Result<()> {
    set_recv_timeout(fd, Some(Duration::from_secs(10)))?;
    for _attempt in 0..5 {
        let mut req = Vec::with_capacity(NLMSG_HDRLEN + RTMSG_LEN);
        put_header(
            &mut req,
            NLMSG_HDRLEN + RTMSG_LEN,
            RTM_GETROUTE,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
        );
        req.extend_from_slice(&[af(family), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        send(fd, &req).context("send a route dump request")?;
        let mut interrupted = false;
        'recv: loop {
            let n = receive(fd, buf, false).context("read a route dump")?;
            for m in messages(&buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                match m.kind {
                    NLMSG_DONE => break 'recv,
                    NLMSG_ERROR => {
                        let code = error_code(m.payload);
                        bail!(
                            "route dump: {}",
                            io::Error::from_raw_os_error(code.saturating_neg())
                        );
                    }
                    RTM_NEWROUTE => {
                        if let Some(r) = parse_route(m.payload) {
                            f(&r);
                        }
                    }
                    _ => {}
                }
            }
        }
        if !interrupted {
            return Ok(());
        }
        restart();
    }
    bail!("route dump interrupted by changes five times in a row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_message_round_trip() {
        let t = RouteTemplate {
            family: Family::Ipv6,
            table: 1000,
            protocol: 200,
            gateway: Some("2001:db8::1".parse().unwrap()),
            oif: Some(3),
        };
        let mut out = Vec::new();
        let dst = u128::from("2001:db8:1000::5".parse::<std::net::Ipv6Addr>().unwrap());
        put_route(&mut out, &t, dst, 128, 7, true);
        put_route(
            &mut out,
            &RouteTemplate { gateway: None, ..t },
            dst,
            128,
            8,
            false,
        );
        let ms: Vec<NlMsg<'_>> = messages(&out).collect();
        assert_eq!(ms.len(), 2);
        assert_eq!((ms[0].kind, ms[0].seq), (RTM_NEWROUTE, 7));
        assert_ne!(ms[0].flags & NLM_F_ACK, 0);
        assert_eq!((ms[1].kind, ms[1].flags & NLM_F_ACK), (RTM_DELROUTE, 0));
        let r = parse_route(ms[0].payload).unwrap();
        assert_eq!(
            r,
            RouteInfo {
                family: Family::Ipv6,
                dst,
                dst_len: 128,
                table: 1000,
                protocol: 200
            }
        );
    }
}
