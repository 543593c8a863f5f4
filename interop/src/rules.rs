//! The address rules every interop test follows, checked where addresses enter the harness.
//!
//! * Link addresses come from the documentation ranges (RFC 5737 / RFC 3849).
//! * Routed prefixes (originated, filtered, on loopbacks) come from 10.244.0.0/16,
//!   fd00:10:244::/48 or the documentation ranges.

use std::net::IpAddr;

use anyhow::{Result, bail};

use crate::types::{Prefix, prefix};

fn documentation() -> [Prefix; 4] {
    [
        prefix("192.0.2.0/24"),
        prefix("198.51.100.0/24"),
        prefix("203.0.113.0/24"),
        prefix("2001:db8::/32"),
    ]
}

fn pod() -> [Prefix; 2] {
    [prefix("10.244.0.0/16"), prefix("fd00:10:244::/48")]
}

/// Fails unless `addr` is in a documentation range.
pub fn check_link_addr(addr: IpAddr) -> Result<()> {
    if documentation().iter().any(|p| p.contains_addr(addr)) {
        return Ok(());
    }
    bail!(
        "link address {addr} is outside the documentation ranges \
         (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32)"
    )
}

/// Fails unless `p` is inside 10.244.0.0/16, fd00:10:244::/48 or a documentation range.
pub fn check_route_prefix(p: &Prefix) -> Result<()> {
    if pod()
        .iter()
        .chain(documentation().iter())
        .any(|r| r.contains(p))
    {
        return Ok(());
    }
    bail!("prefix {p} is outside 10.244.0.0/16, fd00:10:244::/48 and the documentation ranges")
}

/// Fails unless `addr` is an address the harness may configure: a link or a routed address,
/// or an IPv6 link-local address (the kernel gives every veth one; it never leaves the link
/// between two of the lab's namespaces).
pub fn check_any_addr(addr: IpAddr) -> Result<()> {
    if let IpAddr::V6(v6) = addr
        && v6.is_unicast_link_local()
    {
        return Ok(());
    }
    let host = Prefix::new(
        addr,
        match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        },
    )?;
    check_route_prefix(&host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(check_link_addr("192.0.2.1".parse().unwrap()).is_ok());
        assert!(check_link_addr("2001:db8:0:12::1".parse().unwrap()).is_ok());
        assert!(check_link_addr("10.244.0.1".parse().unwrap()).is_err());
        assert!(check_link_addr("10.0.0.1".parse().unwrap()).is_err());
        assert!(check_route_prefix(&prefix("10.244.3.0/24")).is_ok());
        assert!(check_route_prefix(&prefix("fd00:10:244:1::/64")).is_ok());
        assert!(check_route_prefix(&prefix("10.0.0.0/8")).is_err());
        assert!(check_route_prefix(&prefix("fd00::/8")).is_err());
        assert!(check_any_addr("10.244.9.9".parse().unwrap()).is_ok());
        assert!(check_any_addr("172.16.0.1".parse().unwrap()).is_err());
        assert!(check_any_addr("fe80::1".parse().unwrap()).is_ok());
        assert!(check_link_addr("fe80::1".parse().unwrap()).is_err());
    }
}
