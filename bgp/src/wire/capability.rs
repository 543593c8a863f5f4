//! Capabilities advertised in OPEN (RFC 5492). Each one we use is typed;
//! any other stays as octets and is re-emitted unchanged.

use std::fmt;

use bytes::BufMut;
use serde::Serialize;

use super::error::OpenError;
use super::macros::wire_enum;
use crate::types::{Afi, Asn, Family, Safi};

/// Capability codes (IANA "Capability Codes").
pub mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const ROLE: u8 = 9;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    pub const FQDN: u8 = 73;
    pub const ROUTE_REFRESH_CISCO: u8 = 128;
}

wire_enum! {
    /// RFC 9234 §4.1.
    pub enum Role(u8) {
        Provider = 0 => "provider",
        RouteServer = 1 => "rs-server",
        RouteServerClient = 2 => "rs-client",
        Customer = 3 => "customer",
        Peer = 4 => "peer",
    }
}

/// RFC 7911 §4 Send/Receive field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddPathMode(pub u8);

impl AddPathMode {
    pub const RECEIVE: AddPathMode = AddPathMode(1);
    pub const SEND: AddPathMode = AddPathMode(2);
    pub const BOTH: AddPathMode = AddPathMode(3);

    pub fn receive(self) -> bool {
        self.0 & 1 != 0
    }

    pub fn send(self) -> bool {
        self.0 & 2 != 0
    }
}

impl fmt::Display for AddPathMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("receive"),
            2 => f.write_str("send"),
            3 => f.write_str("send/receive"),
            n => write!(f, "invalid mode {n}"),
        }
    }
}

impl Serialize for AddPathMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AddPathFamily {
    pub family: Family,
    pub mode: AddPathMode,
}

/// RFC 8950 §4: NLRI of this AFI/SAFI may carry a next hop of `next_hop_afi`.
/// The SAFI field is two octets here, unlike everywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ExtendedNextHop {
    pub afi: Afi,
    pub safi: u16,
    pub next_hop_afi: Afi,
}

impl ExtendedNextHop {
    pub fn family(&self) -> Option<Family> {
        u8::try_from(self.safi)
            .ok()
            .map(|s| Family::new(self.afi, Safi(s)))
    }
}

/// RFC 4724 §3 and RFC 8538 §2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GracefulRestart {
    /// The four high bits of the first octet: Restart State (0x8) and
    /// Notification (0x4); the other two are reserved and kept as received.
    pub flags: u8,
    /// Seconds, 12 bits.
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// Forwarding State (0x80) and reserved bits, as received.
    pub flags: u8,
}

impl GracefulRestart {
    pub const RESTART_STATE: u8 = 0x8;
    pub const NOTIFICATION: u8 = 0x4;
    pub const MAX_RESTART_TIME: u16 = 0x0FFF;

    pub fn restart_state(&self) -> bool {
        self.flags & Self::RESTART_STATE != 0
    }

    /// RFC 8538: graceful restart also covers NOTIFICATION-closed sessions.
    pub fn notification(&self) -> bool {
        self.flags & Self::NOTIFICATION != 0
    }
}

impl GracefulRestartFamily {
    pub const FORWARDING_STATE: u8 = 0x80;

    pub fn forwarding_state(&self) -> bool {
        self.flags & Self::FORWARDING_STATE != 0
    }
}

/// RFC 9494 §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LlgrFamily {
    pub family: Family,
    /// Forwarding State (0x80) and reserved bits, as received.
    pub flags: u8,
    /// Seconds, 24 bits.
    pub stale_time: u32,
}

/// The FQDN capability (draft-walton-bgp-hostname-capability), which FRR
/// sends by default. Octets as received; shown as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fqdn {
    pub hostname: Vec<u8>,
    pub domain: Vec<u8>,
}

impl Serialize for Fqdn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Fqdn", 2)?;
        st.serialize_field("hostname", &String::from_utf8_lossy(&self.hostname))?;
        st.serialize_field("domain", &String::from_utf8_lossy(&self.domain))?;
        st.end()
    }
}

/// One capability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "capability", content = "value", rename_all = "kebab-case")]
pub enum Capability {
    Multiprotocol(Family),
    RouteRefresh,
    ExtendedNextHop(Vec<ExtendedNextHop>),
    ExtendedMessage,
    Role(Role),
    GracefulRestart(GracefulRestart),
    FourOctetAs(Asn),
    AddPath(Vec<AddPathFamily>),
    EnhancedRouteRefresh,
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    Fqdn(Fqdn),
    /// Code 128, the pre-standard route refresh some routers still send.
    RouteRefreshCisco,
    Unknown {
        code: u8,
        #[serde(serialize_with = "super::serde_hex")]
        data: Vec<u8>,
    },
}

impl Capability {
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::Role(_) => code::ROLE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::Fqdn(_) => code::FQDN,
            Capability::RouteRefreshCisco => code::ROUTE_REFRESH_CISCO,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes one capability value. Every typed capability must fill its
    /// value exactly (RFC 4271 §6.2: recognized but malformed is an error).
    pub(crate) fn decode(code: u8, v: &[u8]) -> Result<Capability, OpenError> {
        let bad = |reason| OpenError::MalformedCapability { code, reason };
        let family = |afi: [u8; 2], safi: u8| Family::new(Afi(u16::from_be_bytes(afi)), Safi(safi));
        let empty = |c: Capability| {
            if v.is_empty() {
                Ok(c)
            } else {
                Err(bad("must be empty"))
            }
        };
        Ok(match code {
            code::MULTIPROTOCOL => match *v {
                // RFC 4760 §8: AFI, reserved, SAFI.
                [a0, a1, _reserved, safi] => Capability::Multiprotocol(family([a0, a1], safi)),
                _ => return Err(bad("length must be 4")),
            },
            code::ROUTE_REFRESH => empty(Capability::RouteRefresh)?,
            code::ROUTE_REFRESH_CISCO => empty(Capability::RouteRefreshCisco)?,
            code::ENHANCED_ROUTE_REFRESH => empty(Capability::EnhancedRouteRefresh)?,
            code::EXTENDED_MESSAGE => empty(Capability::ExtendedMessage)?,
            code::EXTENDED_NEXT_HOP => Capability::ExtendedNextHop(
                tuples::<6, _>(v, |t| ExtendedNextHop {
                    afi: Afi(u16::from_be_bytes([t[0], t[1]])),
                    safi: u16::from_be_bytes([t[2], t[3]]),
                    next_hop_afi: Afi(u16::from_be_bytes([t[4], t[5]])),
                })
                .ok_or_else(|| bad("length must be a multiple of 6"))?,
            ),
            code::ROLE => match *v {
                [r] => Capability::Role(Role::from(r)),
                _ => return Err(bad("length must be 1")),
            },
            code::GRACEFUL_RESTART => {
                let (head, rest) = v
                    .split_first_chunk::<2>()
                    .ok_or_else(|| bad("shorter than its 2-octet header"))?;
                let word = u16::from_be_bytes(*head);
                Capability::GracefulRestart(GracefulRestart {
                    flags: (word >> 12) as u8,
                    restart_time: word & GracefulRestart::MAX_RESTART_TIME,
                    families: tuples::<4, _>(rest, |t| GracefulRestartFamily {
                        family: family([t[0], t[1]], t[2]),
                        flags: t[3],
                    })
                    .ok_or_else(|| bad("family list is not a multiple of 4 octets"))?,
                })
            }
            code::FOUR_OCTET_AS => match *v {
                [a, b, c, d] => Capability::FourOctetAs(Asn::new(u32::from_be_bytes([a, b, c, d]))),
                _ => return Err(bad("length must be 4")),
            },
            code::ADD_PATH => Capability::AddPath(
                tuples::<4, _>(v, |t| AddPathFamily {
                    family: family([t[0], t[1]], t[2]),
                    mode: AddPathMode(t[3]),
                })
                .ok_or_else(|| bad("length must be a multiple of 4"))?,
            ),
            code::LONG_LIVED_GRACEFUL_RESTART => Capability::LongLivedGracefulRestart(
                tuples::<7, _>(v, |t| LlgrFamily {
                    family: family([t[0], t[1]], t[2]),
                    flags: t[3],
                    stale_time: u32::from_be_bytes([0, t[4], t[5], t[6]]),
                })
                .ok_or_else(|| bad("length must be a multiple of 7"))?,
            ),
            code::FQDN => {
                let (hostname, rest) =
                    length_prefixed(v).ok_or_else(|| bad("hostname is cut short"))?;
                let (domain, rest) =
                    length_prefixed(rest).ok_or_else(|| bad("domain is cut short"))?;
                if !rest.is_empty() {
                    return Err(bad("trailing octets after the domain"));
                }
                Capability::Fqdn(Fqdn {
                    hostname: hostname.to_vec(),
                    domain: domain.to_vec(),
                })
            }
            _ => Capability::Unknown {
                code,
                data: v.to_vec(),
            },
        })
    }

    pub(crate) fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
            Capability::RouteRefresh
            | Capability::RouteRefreshCisco
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => 0,
            Capability::Role(_) => 1,
            Capability::ExtendedNextHop(v) => 6 * v.len(),
            Capability::GracefulRestart(g) => 2 + 4 * g.families.len(),
            Capability::AddPath(v) => 4 * v.len(),
            Capability::LongLivedGracefulRestart(v) => 7 * v.len(),
            Capability::Fqdn(f) => 2 + f.hostname.len() + f.domain.len(),
            Capability::Unknown { data, .. } => data.len(),
        }
    }

    /// Code, length, value. Callers check `value_len() <= 255` first.
    pub(crate) fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(self.code());
        out.put_u8(self.value_len() as u8);
        match self {
            Capability::Multiprotocol(f) => {
                out.put_u16(f.afi.0);
                out.put_u8(0);
                out.put_u8(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::RouteRefreshCisco
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::Role(r) => out.put_u8((*r).into()),
            Capability::ExtendedNextHop(v) => v.iter().for_each(|e| {
                out.put_u16(e.afi.0);
                out.put_u16(e.safi);
                out.put_u16(e.next_hop_afi.0);
            }),
            Capability::GracefulRestart(g) => {
                out.put_u16(
                    (u16::from(g.flags & 0x0F) << 12)
                        | (g.restart_time & GracefulRestart::MAX_RESTART_TIME),
                );
                for f in &g.families {
                    out.put_u16(f.family.afi.0);
                    out.put_u8(f.family.safi.0);
                    out.put_u8(f.flags);
                }
            }
            Capability::FourOctetAs(asn) => out.put_u32(asn.get()),
            Capability::AddPath(v) => v.iter().for_each(|a| {
                out.put_u16(a.family.afi.0);
                out.put_u8(a.family.safi.0);
                out.put_u8(a.mode.0);
            }),
            Capability::LongLivedGracefulRestart(v) => v.iter().for_each(|l| {
                out.put_u16(l.family.afi.0);
                out.put_u8(l.family.safi.0);
                out.put_u8(l.flags);
                out.put_slice(&l.stale_time.to_be_bytes()[1..]);
            }),
            Capability::Fqdn(f) => {
                out.put_u8(f.hostname.len() as u8);
                out.put_slice(&f.hostname);
                out.put_u8(f.domain.len() as u8);
                out.put_slice(&f.domain);
            }
            Capability::Unknown { data, .. } => out.put_slice(data),
        }
    }

    /// Length limits of the fields inside a capability.
    pub(crate) fn check_encodable(&self) -> Result<(), super::error::EncodeError> {
        let too_long = |what, length| super::error::EncodeError::FieldTooLong {
            what,
            length,
            max: 255,
        };
        if let Capability::Fqdn(f) = self {
            if f.hostname.len() > 255 {
                return Err(too_long("an FQDN hostname", f.hostname.len()));
            }
            if f.domain.len() > 255 {
                return Err(too_long("an FQDN domain", f.domain.len()));
            }
        }
        match self.value_len() {
            n if n > 255 => Err(too_long("a capability value", n)),
            _ => Ok(()),
        }
    }
}

/// Splits `v` into `N`-octet tuples; `None` unless it divides exactly.
fn tuples<const N: usize, T>(v: &[u8], f: impl Fn(&[u8; N]) -> T) -> Option<Vec<T>> {
    let (chunks, rest) = v.as_chunks::<N>();
    rest.is_empty().then(|| chunks.iter().map(f).collect())
}

fn length_prefixed(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = v.split_first()?;
    rest.split_at_checked(usize::from(len))
}

impl fmt::Display for Capability {
    /// One line per capability, in the words `vtysh show bgp neighbors` uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Multiprotocol(fam) => write!(f, "multiprotocol {fam}"),
            Capability::RouteRefresh => f.write_str("route-refresh"),
            Capability::RouteRefreshCisco => f.write_str("route-refresh (old code 128)"),
            Capability::EnhancedRouteRefresh => f.write_str("enhanced-route-refresh"),
            Capability::ExtendedMessage => f.write_str("extended-message"),
            Capability::Role(r) => write!(f, "role {r}"),
            Capability::ExtendedNextHop(v) => {
                f.write_str("extended-next-hop")?;
                for e in v {
                    match e.family() {
                        Some(fam) => write!(f, " {fam} via {}", e.next_hop_afi)?,
                        None => write!(f, " {}/safi{} via {}", e.afi, e.safi, e.next_hop_afi)?,
                    }
                }
                Ok(())
            }
            Capability::GracefulRestart(g) => {
                write!(f, "graceful-restart time {}s", g.restart_time)?;
                if g.restart_state() {
                    f.write_str(" restarting")?;
                }
                if g.notification() {
                    f.write_str(" notification")?;
                }
                for fam in &g.families {
                    write!(f, " {}", fam.family)?;
                    if fam.forwarding_state() {
                        f.write_str("(forwarding kept)")?;
                    }
                }
                Ok(())
            }
            Capability::FourOctetAs(asn) => write!(f, "4-octet-as {asn}"),
            Capability::AddPath(v) => {
                f.write_str("add-path")?;
                for a in v {
                    write!(f, " {} {}", a.family, a.mode)?;
                }
                Ok(())
            }
            Capability::LongLivedGracefulRestart(v) => {
                f.write_str("long-lived-graceful-restart")?;
                for l in v {
                    write!(f, " {} stale {}s", l.family, l.stale_time)?;
                }
                Ok(())
            }
            Capability::Fqdn(q) => {
                write!(f, "fqdn {}", String::from_utf8_lossy(&q.hostname))?;
                if !q.domain.is_empty() {
                    write!(f, ".{}", String::from_utf8_lossy(&q.domain))?;
                }
                Ok(())
            }
            Capability::Unknown { code, data } => {
                write!(f, "unknown capability {code}")?;
                if !data.is_empty() {
                    write!(f, ": {}", super::hex(data))?;
                }
                Ok(())
            }
        }
    }
}
