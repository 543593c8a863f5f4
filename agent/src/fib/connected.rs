//! The host's directly connected subnets: the only places a next hop may
//! be. podroute forwards without encapsulation, so a next hop that is not
//! on one of these would need a tunnel or a recursive lookup; such a route
//! is reported, not installed.

use std::net::{IpAddr, Ipv6Addr};

use bgp::types::Prefix;

use super::route::Hop;
use crate::net::ifaddr::if_index;

/// One interface address with its subnet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct InterfaceAddr {
    pub(crate) ifindex: u32,
    pub(crate) address: IpAddr,
    pub(crate) subnet: Prefix,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Connected {
    addrs: Vec<InterfaceAddr>,
}

/// How the speaker describes a next hop: the BGP NEXT_HOP, for IPv6 maybe
/// a link-local one too (RFC 2545), and the peer it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NextHopSpec {
    pub(crate) address: IpAddr,
    pub(crate) link_local: Option<Ipv6Addr>,
    pub(crate) peer: IpAddr,
    /// The interface the peer is configured on (link-local peers).
    pub(crate) peer_interface: Option<String>,
}

impl Connected {
    pub(crate) fn new(mut addrs: Vec<InterfaceAddr>) -> Connected {
        addrs.sort();
        addrs.dedup();
        Connected { addrs }
    }

    #[cfg(test)]
    pub(crate) fn addrs(&self) -> &[InterfaceAddr] {
        &self.addrs
    }

    /// The interface whose subnet holds `a` (the longest match), unless `a`
    /// is one of our own addresses.
    pub(crate) fn interface_for(&self, a: IpAddr) -> Option<u32> {
        if self.addrs.iter().any(|x| x.address == a) {
            return None;
        }
        self.addrs
            .iter()
            .filter(|x| x.subnet.len() > 0 && x.subnet.contains_addr(a))
            .max_by_key(|x| x.subnet.len())
            .map(|x| x.ifindex)
    }

    /// The forwarding next hop for `spec`: the BGP next hop if it is on a
    /// connected subnet, else the IPv6 link-local next hop on the interface
    /// the peer is reached through.
    pub(crate) fn resolve(&self, spec: &NextHopSpec) -> Result<Hop, String> {
        if let Some(ifindex) = self.interface_for(spec.address) {
            return Ok(Hop {
                gateway: spec.address,
                ifindex,
            });
        }
        if let Some(ll) = spec.link_local {
            let ifindex = match &spec.peer_interface {
                Some(name) => if_index(name),
                None => self.interface_for(spec.peer),
            };
            if let Some(ifindex) = ifindex {
                return Ok(Hop {
                    gateway: IpAddr::V6(ll),
                    ifindex,
                });
            }
        }
        Err(format!(
            "next hop {} is not on a directly connected subnet (podroute installs no tunnels or recursive routes)",
            spec.address
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn connected() -> Connected {
        Connected::new(vec![
            InterfaceAddr {
                ifindex: 2,
                address: a("192.0.2.1"),
                subnet: "192.0.2.0/30".parse().unwrap(),
            },
            InterfaceAddr {
                ifindex: 3,
                address: a("198.51.100.1"),
                subnet: "198.51.100.0/24".parse().unwrap(),
            },
            InterfaceAddr {
                ifindex: 3,
                address: a("2001:db8:0:12::1"),
                subnet: "2001:db8:0:12::/64".parse().unwrap(),
            },
            InterfaceAddr {
                ifindex: 1,
                address: a("10.244.1.1"),
                subnet: "10.244.1.1/32".parse().unwrap(),
            },
        ])
    }

    fn spec(addr: &str) -> NextHopSpec {
        NextHopSpec {
            address: a(addr),
            link_local: None,
            peer: a(addr),
            peer_interface: None,
        }
    }

    #[test]
    fn connected_next_hops_resolve_to_their_interface() {
        let c = connected();
        assert_eq!(
            c.resolve(&spec("192.0.2.2")),
            Ok(Hop {
                gateway: a("192.0.2.2"),
                ifindex: 2
            })
        );
        assert_eq!(c.resolve(&spec("198.51.100.77")).unwrap().ifindex, 3);
    }

    #[test]
    fn remote_and_own_addresses_are_refused() {
        let c = connected();
        let e = c.resolve(&spec("203.0.113.9")).unwrap_err();
        assert!(e.contains("203.0.113.9") && e.contains("connected"), "{e}");
        // Our own address is no gateway.
        assert!(c.resolve(&spec("192.0.2.1")).is_err());
    }

    #[test]
    fn ipv6_falls_back_to_the_link_local_next_hop_on_the_peers_interface() {
        let c = connected();
        // A global next hop off-link, but the peer is on a connected subnet
        // and sent its link-local address too (RFC 2545).
        let s = NextHopSpec {
            address: a("2001:db8:99::1"),
            link_local: Some("fe80::2".parse().unwrap()),
            peer: a("2001:db8:0:12::2"),
            peer_interface: None,
        };
        assert_eq!(
            c.resolve(&s),
            Ok(Hop {
                gateway: a("fe80::2"),
                ifindex: 3
            })
        );
        // A connected global next hop wins over the link-local one.
        let s = NextHopSpec {
            address: a("2001:db8:0:12::2"),
            ..s
        };
        assert_eq!(c.resolve(&s).unwrap().gateway, a("2001:db8:0:12::2"));
    }
}
