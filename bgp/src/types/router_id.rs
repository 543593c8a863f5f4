use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A BGP Identifier: any non-zero 4-octet value (RFC 6286 §2.1), shown as an
/// IPv4 address by convention.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Ipv4Addr", into = "Ipv4Addr")]
pub struct RouterId(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a BGP identifier must not be 0.0.0.0 (RFC 6286 §2.1)")]
pub struct ZeroRouterId;

impl RouterId {
    pub const fn new(id: u32) -> Result<Self, ZeroRouterId> {
        if id == 0 {
            Err(ZeroRouterId)
        } else {
            Ok(RouterId(id))
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    pub const fn to_ipv4(self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.0)
    }
}

impl TryFrom<Ipv4Addr> for RouterId {
    type Error = ZeroRouterId;

    fn try_from(addr: Ipv4Addr) -> Result<Self, Self::Error> {
        RouterId::new(addr.to_bits())
    }
}

impl From<RouterId> for Ipv4Addr {
    fn from(id: RouterId) -> Self {
        id.to_ipv4()
    }
}

impl FromStr for RouterId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let addr: Ipv4Addr = s.parse().map_err(|_| {
            format!("invalid router ID {s:?}: expected a dotted quad like 192.0.2.1")
        })?;
        RouterId::try_from(addr).map_err(|e| e.to_string())
    }
}

impl fmt::Display for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ipv4(), f)
    }
}

impl fmt::Debug for RouterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouterId({})", self.to_ipv4())
    }
}
