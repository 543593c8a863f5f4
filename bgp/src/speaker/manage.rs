//! Peers, policies and local routes coming and going.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use super::peer::Peer;
use super::{
    LocalEnd, LocalRoute, Output, PeerConfig, PeerEvent, PeerEventKind, PeerKind, Speaker,
};
use crate::fsm::{self, ConnId, GracefulRestartConfig, Session, SessionConfig};
use crate::policy::Policy;
use crate::rib::{Path, PeerId, RouteAttrs, Source};
use crate::types::{Family, FamilySet, Prefix};
use crate::wire::{CeaseSubcode, ErrorCode, NextHop, Notification};

impl Speaker {
    /// The session settings for a peer.
    pub(super) fn session_config(&self, c: &PeerConfig) -> SessionConfig {
        let mut s = SessionConfig::new(self.cfg.asn, self.cfg.router_id, c.remote_as);
        s.passive = c.passive;
        s.hold_time = c.hold_time;
        s.keepalive = c.keepalive;
        s.connect_retry = c.connect_retry;
        s.delay_open = c.delay_open;
        s.families = c.families;
        s.add_path_receive = c.add_path_receive;
        s.add_path_send = c.add_path_send;
        s.extended_next_hop = if c.extended_next_hop {
            c.families
                .iter()
                .filter(|f| *f == Family::IPV4_UNICAST)
                .collect()
        } else {
            FamilySet::EMPTY
        };
        let gr = &self.cfg.graceful_restart;
        s.graceful_restart = c.graceful_restart.then_some(GracefulRestartConfig {
            restart_time: gr.restart_time,
            restarting: gr.restarting,
            notification: true,
            forwarding: gr.forwarding,
        });
        s.hostname = self.cfg.hostname.clone();
        s
    }

    pub(super) fn add_peer(
        &mut self,
        now: Instant,
        config: PeerConfig,
        dynamic: bool,
    ) -> Option<PeerId> {
        if self.by_addr.contains_key(&config.address) {
            let address = config.address;
            self.out.push(Output::Event(PeerEvent {
                peer: address,
                kind: PeerEventKind::Warning {
                    message: "a peer with this address exists already; use an update".into(),
                },
            }));
            return None;
        }
        let pid = PeerId(self.next_peer);
        self.next_peer += 1;
        let session = Session::new(self.session_config(&config), pid.0);
        self.by_addr.insert(config.address, pid);
        self.peers
            .insert(pid, Peer::new(pid, config, session, dynamic));
        self.feed_session(now, pid, fsm::Input::Start);
        Some(pid)
    }

    pub(super) fn update_peer(&mut self, now: Instant, config: PeerConfig) {
        let Some(pid) = self.by_addr.get(&config.address).copied() else {
            self.add_peer(now, config, false);
            return;
        };
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let old = std::mem::replace(&mut p.config, config);
        let new = &p.config;
        if old.session_key() != new.session_key() {
            // The OPEN carries these: the session must start over.
            let sc = self.session_config(&self.peers[&pid].config);
            let n = Notification::new(
                ErrorCode::Cease(CeaseSubcode::OtherConfigurationChange),
                vec![],
            );
            self.feed_session(
                now,
                pid,
                fsm::Input::Stop {
                    notification: Some(n),
                },
            );
            if let Some(p) = self.peers.get_mut(&pid) {
                p.session.set_config(sc);
            }
            self.feed_session(now, pid, fsm::Input::Start);
            return;
        }
        let reimport = old.import != new.import || old.allowas_in != new.allowas_in;
        let reexport = old.export != new.export
            || old.route_reflector_client != new.route_reflector_client
            || old.next_hop_self != new.next_hop_self
            || old.next_hop_v4 != new.next_hop_v4
            || old.next_hop_v6 != new.next_hop_v6;
        if reimport {
            self.soft_in(now, pid);
        }
        if reexport {
            self.regroup(pid);
        }
    }

    pub(super) fn remove_peer(&mut self, now: Instant, address: IpAddr) {
        let Some(pid) = self.by_addr.get(&address).copied() else {
            return;
        };
        let n = Notification::new(ErrorCode::Cease(CeaseSubcode::PeerDeconfigured), vec![]);
        self.feed_session(
            now,
            pid,
            fsm::Input::Stop {
                notification: Some(n),
            },
        );
        let all = self.rib.prefixes_from(Source::Peer(pid), |_, _| true);
        self.rib.remove_where(&all, Source::Peer(pid), |_| true);
        self.dirty.extend(all);
        self.drop_peer(pid);
    }

    /// Forgets a peer whose session is already closed.
    pub(super) fn drop_peer(&mut self, pid: PeerId) {
        self.leave_group(pid);
        if let Some(p) = self.peers.remove(&pid) {
            self.by_addr.remove(&p.config.address);
            self.conns.retain(|_, owner| *owner != pid);
        }
    }

    pub(super) fn set_policies(&mut self, now: Instant, policies: BTreeMap<String, Policy>) {
        let old = std::mem::replace(&mut self.cfg.policies, policies);
        let changed = |name: &String| old.get(name) != self.cfg.policies.get(name);
        let mut reimport = Vec::new();
        let mut reexport = Vec::new();
        for p in self.peers.values() {
            if p.config.import.iter().flatten().any(changed) {
                reimport.push(p.id);
            }
            if p.config.export.iter().flatten().any(changed) {
                reexport.push(p.id);
            }
        }
        for pid in reimport {
            self.soft_in(now, pid);
        }
        // A changed policy may now look at the neighbor (or stop looking):
        // that changes who may share a group.
        for pid in reexport {
            self.regroup(pid);
        }
    }

    pub(super) fn originate(&mut self, now: Instant, route: LocalRoute) {
        // The next hop of a local route is ourselves; export puts in the
        // session's address.
        let nh = match route.prefix {
            Prefix::V4(_) => NextHop::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Prefix::V6(_) => NextHop::V6 {
                global: std::net::Ipv6Addr::UNSPECIFIED,
                link_local: None,
            },
        };
        let mut attrs = RouteAttrs::local(nh);
        attrs.communities = route.communities.clone();
        attrs.large_communities = route.large_communities.clone();
        attrs.med = route.med;
        let attrs = self.interner.intern(attrs);
        self.rib.upsert(
            route.prefix,
            Path {
                source: Source::Local,
                path_id: None,
                attrs,
                stale: false,
                since: self.since(now),
                lost: None,
                multipath: false,
            },
        );
        self.dirty.insert(route.prefix);
        self.local_routes.insert(route.prefix, route);
    }

    pub(super) fn withdraw_local(&mut self, prefix: Prefix) {
        if self.local_routes.remove(&prefix).is_some() {
            self.rib.remove(&prefix, Source::Local, None);
            self.dirty.insert(prefix);
        }
    }

    pub(super) fn shutdown_peer(&mut self, now: Instant, address: IpAddr, message: Option<String>) {
        let Some(pid) = self.by_addr.get(&address).copied() else {
            return;
        };
        let n = Notification::admin_shutdown(message.as_deref().unwrap_or(""));
        self.feed_session(
            now,
            pid,
            fsm::Input::Stop {
                notification: Some(n),
            },
        );
    }

    /// Stops every session. Graceful: each peer is left able to keep our
    /// routes across our restart: a Cease where it understands the N bit
    /// (RFC 8538), a bare TCP close where it only does RFC 4724, a Cease
    /// otherwise. Not graceful: Hard Reset, so peers withdraw our routes.
    pub(super) fn shutdown(&mut self, now: Instant, graceful: bool) {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in ids {
            let Some(p) = self.peers.get(&pid) else {
                continue;
            };
            let notification = match (graceful, p.up.as_ref().map(|u| &u.negotiated)) {
                // Administrative Shutdown goes out inside a Hard Reset
                // where the N bit is in use (RFC 8538 §5.1): either way the
                // peer withdraws our routes at once.
                (false, _) => Some(Notification::admin_shutdown("podroute stopped for good")),
                // Administrative Reset is not wrapped in a Hard Reset, so a
                // peer with the N bit keeps our routes (RFC 8538 §5.1).
                (true, Some(n)) if n.graceful_notification => {
                    Some(Notification::admin_reset("podroute restarting"))
                }
                (true, Some(n)) if n.peer_graceful_restart.is_some() => None,
                (true, _) => Some(Notification::admin_shutdown("podroute stopping")),
            };
            self.feed_session(now, pid, fsm::Input::Stop { notification });
        }
    }

    /// An inbound connection: match it to a peer (or a dynamic range) and
    /// hand it to the session, or refuse it.
    pub(super) fn accepted(&mut self, now: Instant, conn: ConnId, remote: IpAddr, local: LocalEnd) {
        let pid = match self.by_addr.get(&remote).copied() {
            Some(pid) => Some(pid),
            None => {
                let template = self
                    .cfg
                    .dynamic_neighbors
                    .iter()
                    .find(|d| contains(&d.range, remote))
                    .map(|d| d.template.clone());
                template.and_then(|mut t| {
                    t.address = remote;
                    t.kind = PeerKind::Dynamic;
                    t.passive = true;
                    self.add_peer(now, t, true)
                })
            }
        };
        let Some(pid) = pid else {
            self.out.push(Output::Close { conn });
            self.out.push(Output::Event(PeerEvent {
                peer: remote,
                kind: PeerEventKind::Refused {
                    reason: "not a configured peer and in no dynamic neighbour range".into(),
                },
            }));
            return;
        };
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let (taken, outs) = p.session.accept(now, conn);
        if taken {
            p.local_ends.insert(conn, local);
            self.conns.insert(conn, pid);
        } else {
            self.out.push(Output::Close { conn });
        }
        self.session_outputs(now, pid, outs);
    }
}

fn contains(range: &Prefix, a: IpAddr) -> bool {
    range.contains_addr(a)
}
