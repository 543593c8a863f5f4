//! Our side of a connection, as the speaker wants it: the connected subnet
//! of the local address (for third-party next hops) and the link-local
//! address of its interface (sent beside a global IPv6 next hop).

use std::net::IpAddr;

use bgp::speaker::LocalEnd;
use bgp::types::{Ipv4Prefix, Ipv6Prefix, Prefix};
use nix::ifaddrs::getifaddrs;
use nix::sys::socket::SockaddrLike;

/// Looks up `local` among the host's addresses.
pub(crate) fn local_end(local: IpAddr) -> LocalEnd {
    let local = canonical(local);
    let mut end = LocalEnd {
        address: local,
        subnet: None,
        link_local: None,
        global_v6: None,
    };
    let Ok(addrs) = getifaddrs() else { return end };
    let addrs: Vec<_> = addrs.collect();
    let Some(iface) = addrs.iter().find_map(|a| {
        let ip = ip_of(a.address.as_ref()?)?;
        (ip == local).then(|| {
            let len = a.netmask.as_ref().and_then(ip_of).map(mask_len);
            (a.interface_name.clone(), len)
        })
    }) else {
        return end;
    };
    let (name, len) = iface;
    end.subnet = len.and_then(|len| match local {
        IpAddr::V4(a) => Ipv4Prefix::new_truncating(a, len).ok().map(Prefix::V4),
        IpAddr::V6(a) => Ipv6Prefix::new_truncating(a, len).ok().map(Prefix::V6),
    });
    // The interface's IPv6 addresses, for IPv6 next hops (RFC 2545 §3) on
    // any session over it, IPv4 included.
    let v6_on_iface = || {
        addrs.iter().filter_map(|a| {
            if a.interface_name != name {
                return None;
            }
            match ip_of(a.address.as_ref()?)? {
                IpAddr::V6(v6) => Some(v6),
                _ => None,
            }
        })
    };
    end.link_local = match local {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
        _ => v6_on_iface().find(|a| a.is_unicast_link_local()),
    };
    end.global_v6 = v6_on_iface().find(|a| !a.is_unicast_link_local() && !a.is_loopback());
    end
}

/// An IPv4 address seen through a dual-stack socket is an IPv4 address.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn ip_of(s: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    match s.family()? {
        nix::sys::socket::AddressFamily::Inet => s.as_sockaddr_in().map(|a| IpAddr::V4(a.ip())),
        nix::sys::socket::AddressFamily::Inet6 => s.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())),
        _ => None,
    }
}

fn mask_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(m).count_ones() as u8,
    }
}

/// The lowest global IPv4 address of the host (stable across restarts, so
/// a router ID taken from it does not change), for `router_id: auto`.
pub(crate) fn first_global_ipv4() -> Option<std::net::Ipv4Addr> {
    let addrs = getifaddrs().ok()?;
    addrs
        .filter_map(|a| match ip_of(a.address.as_ref()?)? {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() => {
                Some(v4)
            }
            _ => None,
        })
        .min()
}

/// The interface index of `name`, for link-local scope ids.
pub(crate) fn if_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_with_its_subnet() {
        let end = local_end("127.0.0.1".parse().unwrap());
        assert_eq!(end.subnet, Some("127.0.0.0/8".parse().unwrap()));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        assert_eq!(
            canonical("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
