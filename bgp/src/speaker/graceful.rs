//! Sessions coming up and going down, and graceful restart in both roles
//! (RFC 4724, RFC 8538): as helper we keep a restarting peer's routes as
//! stale until it re-advertises them; as the restarting side we defer
//! best-path selection until our peers have sent End-of-RIB.

use std::time::Instant;

use super::peer::{Facts, Up};
use super::{PeerEventKind, Speaker};
use crate::fsm::{Down, Negotiated};
use crate::rib::{PeerId, Source, prefix_family};
use crate::types::{Family, FamilySet};

impl Speaker {
    pub(super) fn established(&mut self, now: Instant, pid: PeerId, n: Negotiated) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let Some(conn) = p.session.established_conn() else {
            return;
        };
        let local = p.local_ends.get(&conn).copied().unwrap_or(super::LocalEnd {
            address: p
                .config
                .transport
                .local_address
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            subnet: None,
            link_local: None,
            global_v6: None,
        });
        let gr_families = n
            .peer_graceful_restart
            .as_ref()
            .map(|g| g.families.clone())
            .unwrap_or_default();
        p.facts = Some(Facts {
            internal: n.internal,
            router_id: n.peer_id,
            gr_families: gr_families.clone(),
        });
        p.up = Some(Up {
            negotiated: n,
            local,
            since: now,
        });
        p.dump =
            p.up.as_ref()
                .map_or(FamilySet::EMPTY, |u| u.negotiated.families);
        p.stale_view = None;
        p.eor_sent = FamilySet::EMPTY;
        p.eor_received = FamilySet::EMPTY;
        p.counters.rejected_by_checks = 0;
        let helping = p.stale_until.is_some();
        self.join_group(pid);
        self.event(pid, PeerEventKind::Established);
        if helping {
            // RFC 4724 §4.2: keep stale routes only for families the peer
            // says it kept forwarding for; wait for End-of-RIB at most our
            // stale routes time.
            let keep: Vec<Family> = gr_families
                .iter()
                .filter(|(_, f)| *f)
                .map(|(fam, _)| *fam)
                .collect();
            let prefixes = self.rib.prefixes_from(Source::Peer(pid), |prefix, path| {
                path.stale && !keep.contains(&prefix_family(prefix))
            });
            if !prefixes.is_empty() {
                let removed = self
                    .rib
                    .remove_where(&prefixes, Source::Peer(pid), |path| path.stale);
                if let Some(p) = self.peers.get_mut(&pid) {
                    for prefix in &removed {
                        super::peer::Peer::bump(
                            &mut p.counters.accepted,
                            prefix_family(prefix),
                            -1,
                        );
                    }
                }
                self.dirty.extend(prefixes);
            }
            let stale_time = self.cfg.graceful_restart.stale_routes_time;
            if let Some(p) = self.peers.get_mut(&pid) {
                p.stale_until = Some(now + stale_time);
            }
        }
    }

    pub(super) fn peer_down(&mut self, now: Instant, pid: PeerId, down: Down) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        p.up = None;
        p.dump = FamilySet::EMPTY;
        p.stale_view = None;
        p.refresh_replies.clear();
        p.eor_sent = FamilySet::EMPTY;
        p.eor_received = FamilySet::EMPTY;
        self.leave_group(pid);
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let helping = down.graceful && p.config.graceful_restart;
        let kept: Vec<Family> = p
            .facts
            .as_ref()
            .map(|f| f.gr_families.iter().map(|(fam, _)| *fam).collect())
            .unwrap_or_default();
        self.event(pid, PeerEventKind::Down { down: down.clone() });
        let all = self.rib.prefixes_from(Source::Peer(pid), |_, _| true);
        if helping {
            // RFC 4724 §4.2: keep the routes of the families it preserves,
            // marked stale, for its restart time.
            self.rib
                .for_paths_from(&all, Source::Peer(pid), |path| path.stale = true);
            let others: Vec<_> = all
                .iter()
                .filter(|prefix| !kept.contains(&prefix_family(prefix)))
                .copied()
                .collect();
            let removed = self.rib.remove_where(&others, Source::Peer(pid), |_| true);
            if let Some(p) = self.peers.get_mut(&pid) {
                for prefix in &removed {
                    super::peer::Peer::bump(&mut p.counters.accepted, prefix_family(prefix), -1);
                }
                p.stale_until = Some(now + down.restart_time);
            }
            self.dirty.extend(others);
        } else {
            self.rib.remove_where(&all, Source::Peer(pid), |_| true);
            if let Some(p) = self.peers.get_mut(&pid) {
                p.counters.accepted.clear();
                p.adj_in.clear();
                p.stale_until = None;
            }
            self.dirty.extend(all);
            // A dynamic neighbour exists only while its session does.
            if self.peers.get(&pid).is_some_and(|p| p.dynamic) {
                self.drop_peer(pid);
            }
        }
    }

    pub(super) fn end_of_rib(&mut self, _now: Instant, pid: PeerId, family: Family) {
        if let Some(p) = self.peers.get_mut(&pid) {
            p.eor_received.insert(family);
        }
        // RFC 4724 §4.2: what is still stale after End-of-RIB is gone.
        self.sweep_stale(pid, Some(family));
        if let Some(p) = self.peers.get_mut(&pid) {
            let any_stale = self
                .rib
                .prefixes_from(Source::Peer(pid), |_, path| path.stale)
                .is_empty();
            if any_stale {
                p.stale_until = None;
            }
        }
    }

    /// RFC 4724 §4.1: after our restart, selection waits for End-of-RIB
    /// from every configured peer (or for the deferral timer).
    pub(super) fn check_deferral(&mut self, now: Instant) {
        let Some(deadline) = self.deferral else {
            return;
        };
        let waiting = self.peers.values().any(|p| {
            if p.dynamic || !p.session.is_running() {
                return false;
            }
            match &p.up {
                None => true,
                Some(up) => {
                    up.negotiated.peer_graceful_restart.is_some()
                        && up
                            .negotiated
                            .families
                            .iter()
                            .any(|f| !p.eor_received.contains(f))
                }
            }
        });
        if waiting && now < deadline {
            return;
        }
        self.deferral = None;
        self.cfg.graceful_restart.restarting = false;
        // Later OPENs no longer announce a restart.
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in ids {
            let sc = self.peers.get(&pid).map(|p| self.session_config(&p.config));
            if let (Some(p), Some(sc)) = (self.peers.get_mut(&pid), sc) {
                p.session.set_config(sc);
            }
        }
        let all: Vec<_> = self.rib.iter().map(|(prefix, _)| prefix).collect();
        self.dirty.extend(all);
    }
}
