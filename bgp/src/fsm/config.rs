//! What a session needs to know about its peer and about us.

use std::time::Duration;

use crate::types::{Asn, Family, FamilySet, HoldTime, RouterId};

/// Which AS the peer must be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteAs {
    /// Exactly this AS.
    Exact(Asn),
    /// Our own AS (iBGP), whatever it is.
    Internal,
    /// Any AS but ours (eBGP), e.g. dynamic ToR sessions.
    External,
}

impl RemoteAs {
    pub fn accepts(self, local: Asn, peer: Asn) -> bool {
        match self {
            RemoteAs::Exact(asn) => asn == peer,
            RemoteAs::Internal => peer == local,
            RemoteAs::External => peer != local,
        }
    }
}

/// Graceful restart as we announce it (RFC 4724 §3, RFC 8538 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Seconds the peer should keep our routes if we go away (≤ 4095).
    pub restart_time: u16,
    /// R bit: we are restarting now, so the peer should not wait for our
    /// End-of-RIB before sending its own.
    pub restarting: bool,
    /// N bit: graceful restart also covers sessions closed by NOTIFICATION.
    pub notification: bool,
    /// F bits: families whose forwarding state we kept across a restart.
    pub forwarding: FamilySet,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            notification: true,
            forwarding: FamilySet::EMPTY,
        }
    }
}

/// Everything the session state machine of one peer is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_as: Asn,
    pub local_id: RouterId,
    pub remote_as: RemoteAs,
    /// Never connect; wait for the peer to.
    pub passive: bool,
    /// The hold time we offer; the session uses the smaller of the two.
    pub hold_time: HoldTime,
    /// Seconds between KEEPALIVEs; `None` means a third of the hold time.
    pub keepalive: Option<u16>,
    /// RFC 4271 §10 ConnectRetryTime.
    pub connect_retry: Duration,
    /// RFC 4271 §8.1.1 DelayOpen: wait this long for the peer's OPEN first.
    pub delay_open: Option<Duration>,
    /// First IdleHoldTime after a failure; doubles with each consecutive
    /// failure up to `idle_hold_max` (RFC 4271 §8.1.1 DampPeerOscillations).
    pub idle_hold: Duration,
    pub idle_hold_max: Duration,
    /// A session that lasted this long resets the backoff.
    pub stable_after: Duration,
    pub families: FamilySet,
    pub add_path_receive: FamilySet,
    pub add_path_send: FamilySet,
    /// IPv4 families for which we accept an IPv6 next hop (RFC 8950).
    pub extended_next_hop: FamilySet,
    /// Announce RFC 8654 extended messages.
    pub extended_message: bool,
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Sent in the FQDN capability, which FRR shows as the neighbour's name.
    pub hostname: Option<String>,
}

impl SessionConfig {
    /// A session with the defaults podroute uses: 90 s hold time, 5 s
    /// connect retry, backoff from 1 s to 2 min, IPv4 and IPv6 unicast,
    /// graceful restart with a 120 s restart time.
    pub fn new(local_as: Asn, local_id: RouterId, remote_as: RemoteAs) -> Self {
        SessionConfig {
            local_as,
            local_id,
            remote_as,
            passive: false,
            hold_time: HoldTime::DEFAULT,
            keepalive: None,
            connect_retry: Duration::from_secs(5),
            delay_open: None,
            idle_hold: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(120),
            stable_after: Duration::from_secs(60),
            families: [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
                .into_iter()
                .collect(),
            add_path_receive: FamilySet::EMPTY,
            add_path_send: FamilySet::EMPTY,
            extended_next_hop: FamilySet::EMPTY,
            extended_message: true,
            graceful_restart: Some(GracefulRestartConfig::default()),
            hostname: None,
        }
    }
}
