//! Our OPEN, the checks on the peer's (RFC 4271 §6.2, RFC 6793, RFC 6286),
//! and what the two OPENs agree on.

use std::time::Duration;

use serde::Serialize;

use super::config::SessionConfig;
use crate::types::{Afi, Asn, Family, FamilySet, HoldTime, RouterId};
use crate::wire::{
    AddPathFamily, AddPathMode, Capability, ErrorCode, ExtendedNextHop, Fqdn, GracefulRestart,
    GracefulRestartFamily, Notification, Open, OpenSubcode, SessionContext,
};

/// The peer's graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerGracefulRestart {
    pub restart_time: u16,
    /// R bit: the peer has just restarted.
    pub restarting: bool,
    /// N bit (RFC 8538).
    pub notification: bool,
    /// Families the peer can preserve, and whether it kept forwarding
    /// state for them across its restart (F bit).
    pub families: Vec<(Family, bool)>,
}

/// What a session runs with once both OPENs are exchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    pub peer_as: Asn,
    pub peer_id: RouterId,
    pub internal: bool,
    pub hold_time: HoldTime,
    /// Zero when the hold time is zero (no keepalives).
    pub keepalive: Duration,
    /// Families both sides announced.
    pub families: FamilySet,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// The encoding switches of RFC 6793, 7911, 8654 and 8950.
    #[serde(skip)]
    pub context: SessionContext,
    /// The peer's graceful restart capability, if it sent one.
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
    /// We announced graceful restart.
    pub local_graceful_restart: bool,
    /// Both set the N bit: graceful restart covers NOTIFICATIONs too.
    pub graceful_notification: bool,
    pub peer_hostname: Option<String>,
    /// The peer's capabilities as received, for `show neighbor`.
    pub peer_capabilities: Vec<Capability>,
}

/// Enhanced Route Refresh (RFC 7313) goes only with the graceful restart capability. RFC 7313
/// §4 ties a BoRR to an End-of-RIB already sent, and the GR capability is how a speaker says
/// it sends End-of-RIB (RFC 4724 §3). FRR (up to 10.0, FRRouting/frr#16126) defers forever
/// its answer to a ROUTE-REFRESH from a peer that has Enhanced Route Refresh but no GR, so a
/// changed import policy would never see the routes it now accepts. Plain ROUTE-REFRESH
/// (RFC 2918) needs no End-of-RIB and works with every peer.
fn offers_enhanced_route_refresh(config: &SessionConfig) -> bool {
    config.graceful_restart.is_some()
}

/// Our OPEN for `config`.
pub(crate) fn local_open(config: &SessionConfig) -> Open {
    let mut caps = Vec::new();
    for f in config.families.iter() {
        caps.push(Capability::Multiprotocol(f));
    }
    caps.push(Capability::RouteRefresh);
    if offers_enhanced_route_refresh(config) {
        caps.push(Capability::EnhancedRouteRefresh);
    }
    caps.push(Capability::FourOctetAs(config.local_as));
    if config.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    let ext_nh: Vec<ExtendedNextHop> = config
        .extended_next_hop
        .iter()
        .filter(|f| f.afi == Afi::IPV4)
        .map(|f| ExtendedNextHop {
            afi: f.afi,
            safi: u16::from(f.safi.0),
            next_hop_afi: Afi::IPV6,
        })
        .collect();
    if !ext_nh.is_empty() {
        caps.push(Capability::ExtendedNextHop(ext_nh));
    }
    let add_path: Vec<AddPathFamily> = config
        .families
        .iter()
        .filter_map(|family| {
            let mode = u8::from(config.add_path_receive.contains(family))
                | u8::from(config.add_path_send.contains(family)) << 1;
            (mode != 0).then_some(AddPathFamily {
                family,
                mode: AddPathMode(mode),
            })
        })
        .collect();
    if !add_path.is_empty() {
        caps.push(Capability::AddPath(add_path));
    }
    if let Some(gr) = &config.graceful_restart {
        let mut flags = 0;
        if gr.restarting {
            flags |= GracefulRestart::RESTART_STATE;
        }
        if gr.notification {
            flags |= GracefulRestart::NOTIFICATION;
        }
        caps.push(Capability::GracefulRestart(GracefulRestart {
            flags,
            restart_time: gr.restart_time.min(GracefulRestart::MAX_RESTART_TIME),
            families: config
                .families
                .iter()
                .map(|family| GracefulRestartFamily {
                    family,
                    flags: if gr.forwarding.contains(family) {
                        GracefulRestartFamily::FORWARDING_STATE
                    } else {
                        0
                    },
                })
                .collect(),
        }));
    }
    if let Some(host) = &config.hostname {
        let mut hostname = host.as_bytes().to_vec();
        hostname.truncate(255);
        caps.push(Capability::Fqdn(Fqdn {
            hostname,
            domain: vec![],
        }));
    }
    Open::new(config.local_as, config.hold_time, config.local_id, caps)
}

fn open_error(sub: OpenSubcode) -> Notification {
    Notification::new(ErrorCode::Open(sub), vec![])
}

/// Checks the peer's OPEN against our configuration and works out the
/// session; a refusal carries the NOTIFICATION to send.
pub(crate) fn negotiate(config: &SessionConfig, open: &Open) -> Result<Negotiated, Notification> {
    let four_octet_cap = open.capabilities().find_map(|c| match c {
        Capability::FourOctetAs(a) => Some(*a),
        _ => None,
    });
    // RFC 6793 §4.1: AS_TRANS in My AS only makes sense with the capability;
    // a 2-octet AS in both places must agree.
    let peer_as = match four_octet_cap {
        None if open.my_as == Asn::TRANS.to_two_octet() => {
            return Err(open_error(OpenSubcode::BadPeerAs));
        }
        None => Asn::from(open.my_as),
        Some(cap) if !cap.is_four_octet_only() && u32::from(open.my_as) != cap.get() => {
            return Err(open_error(OpenSubcode::BadPeerAs));
        }
        Some(cap) => cap,
    };
    if !config.remote_as.accepts(config.local_as, peer_as) {
        // RFC 4271 §6.2: data is empty; FRR and BIRD add the AS they saw,
        // which helps whoever reads the peer's log.
        let mut n = open_error(OpenSubcode::BadPeerAs);
        n.data = if peer_as.is_four_octet_only() {
            peer_as.get().to_be_bytes().to_vec()
        } else {
            open.my_as.to_be_bytes().to_vec()
        };
        return Err(n);
    }
    let internal = peer_as == config.local_as;
    // RFC 6286 §2.2: within an AS the identifiers must differ.
    if internal && open.router_id == config.local_id {
        return Err(open_error(OpenSubcode::BadBgpIdentifier));
    }

    let hold = config.hold_time.seconds().min(open.hold_time.seconds());
    let hold_time =
        HoldTime::new(hold).map_err(|_| open_error(OpenSubcode::UnacceptableHoldTime))?;
    let keepalive = if hold == 0 {
        Duration::ZERO
    } else {
        let configured = config.keepalive.unwrap_or(hold / 3).max(1);
        Duration::from_secs(u64::from(configured.min(hold / 3).max(1)))
    };

    let mut peer_families = FamilySet::EMPTY;
    let mut peer_sent_mp = false;
    let mut route_refresh = false;
    let mut enhanced_route_refresh = false;
    let mut peer_extended_message = false;
    let mut peer_add_path: Vec<AddPathFamily> = Vec::new();
    let mut peer_ext_nh = FamilySet::EMPTY;
    let mut peer_graceful_restart = None;
    let mut peer_hostname = None;
    for c in open.capabilities() {
        match c {
            Capability::Multiprotocol(f) => {
                peer_sent_mp = true;
                peer_families.insert(*f);
            }
            Capability::RouteRefresh | Capability::RouteRefreshCisco => route_refresh = true,
            Capability::EnhancedRouteRefresh => enhanced_route_refresh = true,
            Capability::ExtendedMessage => peer_extended_message = true,
            Capability::AddPath(v) => peer_add_path.extend(v.iter().copied()),
            Capability::ExtendedNextHop(v) => {
                for e in v {
                    if let Some(f) = e.family()
                        && e.next_hop_afi == Afi::IPV6
                    {
                        peer_ext_nh.insert(f);
                    }
                }
            }
            Capability::GracefulRestart(g) => {
                peer_graceful_restart = Some(PeerGracefulRestart {
                    restart_time: g.restart_time,
                    restarting: g.restart_state(),
                    notification: g.notification(),
                    families: g
                        .families
                        .iter()
                        .map(|f| (f.family, f.forwarding_state()))
                        .collect(),
                })
            }
            Capability::Fqdn(q) => {
                peer_hostname = Some(String::from_utf8_lossy(&q.hostname).into_owned())
            }
            _ => {}
        }
    }
    // RFC 4760 §8: a speaker that sends no multiprotocol capability speaks
    // IPv4 unicast only.
    if !peer_sent_mp {
        peer_families.insert(Family::IPV4_UNICAST);
    }
    let families: FamilySet = config
        .families
        .iter()
        .filter(|f| peer_families.contains(*f))
        .collect();

    // RFC 7911 §4: we receive path identifiers where we said receive and
    // the peer said send, and the other way round.
    let mut add_path_receive = FamilySet::EMPTY;
    let mut add_path_send = FamilySet::EMPTY;
    for a in &peer_add_path {
        if !families.contains(a.family) {
            continue;
        }
        if a.mode.send() && config.add_path_receive.contains(a.family) {
            add_path_receive.insert(a.family);
        }
        if a.mode.receive() && config.add_path_send.contains(a.family) {
            add_path_send.insert(a.family);
        }
    }
    let context = SessionContext {
        four_octet_as: four_octet_cap.is_some(),
        extended_message: config.extended_message && peer_extended_message,
        add_path_receive,
        add_path_send,
        // RFC 8950 §4: each side may send IPv6 next hops where the other
        // announced it can take them.
        extended_next_hop_receive: config
            .extended_next_hop
            .iter()
            .filter(|f| families.contains(*f))
            .collect(),
        extended_next_hop_send: peer_ext_nh
            .iter()
            .filter(|f| families.contains(*f) && config.extended_next_hop.contains(*f))
            .collect(),
    };
    let local_graceful_restart = config.graceful_restart.is_some();
    let graceful_notification = config.graceful_restart.is_some_and(|g| g.notification)
        && peer_graceful_restart
            .as_ref()
            .is_some_and(|g| g.notification);
    Ok(Negotiated {
        peer_as,
        peer_id: open.router_id,
        internal,
        hold_time,
        keepalive,
        families,
        route_refresh,
        enhanced_route_refresh: enhanced_route_refresh && offers_enhanced_route_refresh(config),
        context,
        peer_graceful_restart,
        local_graceful_restart,
        graceful_notification,
        peer_hostname,
        peer_capabilities: open.capabilities().cloned().collect(),
    })
}

impl Negotiated {
    /// Whether `family` is unicast IPv4 or IPv6 and negotiated.
    pub fn has(&self, family: Family) -> bool {
        self.families.contains(family)
    }
}
