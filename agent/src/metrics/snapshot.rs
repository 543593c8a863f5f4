//! The state a scrape shows, copied out of the speaker by the driver.

use std::net::IpAddr;
use std::time::Instant;

use bgp::fsm::{RemoteAs, State};
use bgp::speaker::{PeerKind, PeerView, Speaker};

use super::{FibStats, Recorder};

/// Everything `/metrics` shows, taken at one instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Seconds since the agent started.
    pub(crate) uptime_secs: f64,
    pub(crate) peers: Vec<PeerStats>,
    pub(crate) rib: RibStats,
    /// Route selection is deferred after our restart (RFC 4724 §4.1).
    pub(crate) deferring: bool,
    pub(crate) initial_sync_done: bool,
    /// Kernel route installation is on.
    pub(crate) fib_enabled: bool,
    pub(crate) fib: FibStats,
}

/// One BGP peer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerStats {
    pub(crate) address: IpAddr,
    /// Configured, or learned from the OPEN when the configuration allows
    /// any (dynamic neighbours).
    pub(crate) asn: Option<u32>,
    pub(crate) kind: &'static str,
    pub(crate) state: State,
    /// Seconds since the session reached Established; `None` when down.
    pub(crate) uptime_secs: Option<f64>,
    /// Times the session reached Established since the agent started.
    pub(crate) established: u64,
    pub(crate) updates_received: u64,
    pub(crate) updates_sent: u64,
    /// Paths refused before import policy since the session came up.
    pub(crate) rejected_by_checks: u64,
    /// The peer's routes are kept as stale while it restarts (RFC 4724).
    pub(crate) stale: bool,
    pub(crate) families: Vec<FamilyStats>,
}

/// Prefix counts of one peer for one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FamilyStats {
    pub(crate) family: String,
    /// Before import policy; known only with `keep_received`.
    pub(crate) received: Option<u64>,
    pub(crate) accepted: u64,
    pub(crate) advertised: u64,
}

/// The Loc-RIB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RibStats {
    pub(crate) prefixes: u64,
    pub(crate) paths: u64,
    pub(crate) attribute_sets: u64,
    /// Prefixes this node originates.
    pub(crate) originated: u64,
}

impl Snapshot {
    /// Copies the counters out of the speaker and the driver's recorder.
    pub(crate) fn collect(speaker: &Speaker, recorder: &Recorder, now: Instant) -> Snapshot {
        let rib = speaker.rib();
        Snapshot {
            uptime_secs: now
                .saturating_duration_since(recorder.started)
                .as_secs_f64(),
            peers: speaker.peers().map(|p| peer(&p, recorder, now)).collect(),
            rib: RibStats {
                prefixes: rib.len() as u64,
                paths: rib.iter().map(|(_, d)| d.paths.len() as u64).sum(),
                attribute_sets: speaker.attribute_sets() as u64,
                originated: speaker.local_routes().count() as u64,
            },
            deferring: speaker.is_deferring(),
            initial_sync_done: recorder.initial_sync_done,
            fib_enabled: recorder.fib_enabled,
            fib: recorder.fib.clone(),
        }
    }
}

fn peer(p: &PeerView<'_>, recorder: &Recorder, now: Instant) -> PeerStats {
    let c = p.config();
    let counters = p.counters();
    // The configured AS first, so a peer's series keep their labels when
    // the session goes down.
    let asn = match c.remote_as {
        RemoteAs::Exact(a) => Some(a.get()),
        _ => p.negotiated().map(|n| n.peer_as.get()),
    };
    PeerStats {
        address: p.address(),
        asn,
        kind: kind(c.kind),
        state: p.state(),
        uptime_secs: p
            .established_since()
            .map(|t| now.saturating_duration_since(t).as_secs_f64()),
        established: recorder.established.get(&p.address()).copied().unwrap_or(0),
        updates_received: counters.updates_received,
        updates_sent: counters.updates_sent,
        rejected_by_checks: counters.rejected_by_checks,
        stale: p.stale_until().is_some(),
        families: c
            .families
            .iter()
            .map(|f| FamilyStats {
                family: f.to_string(),
                received: p.received(f).map(|n| n as u64),
                accepted: u64::from(p.accepted(f)),
                advertised: p.advertised(f) as u64,
            })
            .collect(),
    }
}

/// The same names as `podroute show neighbors`.
fn kind(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Mesh => "mesh",
        PeerKind::Tor => "tor",
        PeerKind::ReflectorClient => "reflector-client",
        PeerKind::Reflector => "reflector",
        PeerKind::Dynamic => "dynamic",
        PeerKind::Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, parse};
    use bgp::speaker::{Input, LocalRoute};

    #[test]
    fn collects_peers_rib_and_recorder() {
        let config = parse(
            "asn: 64512\nrouter_id: 192.0.2.1\npeers:\n  - address: 192.0.2.2\n    remote_as: 65001\n    kind: tor\n",
            &Host::default(),
        )
        .unwrap();
        let now = Instant::now();
        let mut s = Speaker::new(config.speaker.clone(), now);
        for p in config.peers.clone() {
            s.handle(now, Input::AddPeer(p));
        }
        s.handle(
            now,
            Input::Originate(LocalRoute::new("10.244.1.0/24".parse().unwrap())),
        );
        let mut rec = Recorder::new(now, true);
        rec.observe(&bgp::speaker::Output::InitialSyncDone);
        rec.fib.desired = 3;

        let snap = Snapshot::collect(&s, &rec, now);
        assert!(snap.initial_sync_done);
        assert_eq!(snap.fib.desired, 3);
        assert_eq!(snap.rib.originated, 1);
        assert_eq!(snap.rib.prefixes, 1);
        assert_eq!(snap.peers.len(), 1);
        let p = &snap.peers[0];
        assert_eq!(p.address.to_string(), "192.0.2.2");
        assert_eq!(p.asn, Some(65001));
        assert_eq!(p.kind, "tor");
        assert_ne!(p.state, State::Established);
        assert_eq!(p.uptime_secs, None);
        assert!(!p.families.is_empty());
    }
}
