//! From a peer's UPDATE to the Loc-RIB: sanity checks, import policy,
//! per-family counts and max-prefix; route refresh in both directions.

use std::time::Instant;

use super::peer::Peer;
use super::{MaxPrefixAction, PeerEventKind, Speaker};
use crate::fsm;
use crate::policy::{self, RouteContext, RouteSource, Verdict};
use crate::rib::{Path, PeerId, RouteAttrs, SharedAttrs, Slot, Source, prefix_family};
use crate::types::{Family, PathId, Prefix, Safi};
use crate::wire::{
    CeaseSubcode, ErrorCode, Message, MpReach, MpUnreach, NextHop, Notification, RefreshSubtype,
    RouteRefresh, SessionContext, Update,
};

/// The import verdict for one attribute set from one peer, reused for
/// every prefix of an UPDATE while the import chain does not look at
/// prefixes. Cleared at each UPDATE, so policy changes always apply.
#[derive(Debug)]
pub(super) struct ImportMemo {
    peer: PeerId,
    family: Family,
    base: SharedAttrs,
    result: Option<SharedAttrs>,
}

/// NLRI sharing one next hop.
type Group = (NextHop, Vec<(Prefix, Option<PathId>)>);

impl Speaker {
    /// Takes in an UPDATE from `pid`. With `withdraw_all` (RFC 7606
    /// treat-as-withdraw) every NLRI it carries is withdrawn instead.
    pub(super) fn import_update(
        &mut self,
        now: Instant,
        pid: PeerId,
        u: Update,
        withdraw_all: bool,
    ) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        if p.up.is_none() {
            return;
        }
        p.counters.updates_received += 1;
        // Policies may have changed since the last UPDATE.
        self.import_memo = None;
        if let Some(family) = u.end_of_rib() {
            self.end_of_rib(now, pid, family);
            return;
        }
        for n in &u.withdrawn {
            self.withdraw_path(pid, Prefix::V4(n.prefix), n.path_id);
        }
        match u.attributes.mp_unreach() {
            Some(MpUnreach::Ipv4 { safi, withdrawn }) if *safi == Safi::UNICAST => {
                for n in withdrawn {
                    self.withdraw_path(pid, Prefix::V4(n.prefix), n.path_id);
                }
            }
            Some(MpUnreach::Ipv6 { safi, withdrawn }) if *safi == Safi::UNICAST => {
                for n in withdrawn {
                    self.withdraw_path(pid, Prefix::V6(n.prefix), n.path_id);
                }
            }
            _ => {}
        }

        // Reachable NLRI grouped by next hop: the classic ones use
        // NEXT_HOP, the MP ones their own.
        let mut groups: Vec<Group> = Vec::new();
        if let (false, Some(nh)) = (u.nlri.is_empty(), u.attributes.next_hop()) {
            let list = u
                .nlri
                .iter()
                .map(|n| (Prefix::V4(n.prefix), n.path_id))
                .collect();
            groups.push((NextHop::V4(*nh), list));
        }
        match u.attributes.mp_reach() {
            Some(MpReach::Ipv4 {
                safi,
                next_hop,
                nlri,
            }) if *safi == Safi::UNICAST => groups.push((
                *next_hop,
                nlri.iter()
                    .map(|n| (Prefix::V4(n.prefix), n.path_id))
                    .collect(),
            )),
            Some(MpReach::Ipv6 {
                safi,
                next_hop,
                nlri,
            }) if *safi == Safi::UNICAST => groups.push((
                *next_hop,
                nlri.iter()
                    .map(|n| (Prefix::V6(n.prefix), n.path_id))
                    .collect(),
            )),
            _ => {}
        }
        if groups.is_empty() {
            return;
        }
        if withdraw_all {
            for (_, list) in groups {
                for (prefix, path_id) in list {
                    self.withdraw_path(pid, prefix, path_id);
                }
            }
            return;
        }
        self.report_missing_policies(pid);
        for (next_hop, list) in groups {
            let mut base = RouteAttrs::from_update(&u.attributes, next_hop);
            if let Err(why) = self.sanitize(pid, &mut base) {
                if let Some(p) = self.peers.get_mut(&pid) {
                    p.counters.rejected_by_checks += list.len() as u64;
                }
                self.event(
                    pid,
                    PeerEventKind::Warning {
                        message: format!("{} prefixes refused: {why}", list.len()),
                    },
                );
                for (prefix, path_id) in list {
                    self.withdraw_path(pid, prefix, path_id);
                }
                continue;
            }
            let base = self.interner.intern(base);
            for (prefix, path_id) in list {
                self.receive_path(now, pid, prefix, path_id, &base);
            }
        }
        self.check_max_prefix(now, pid);
    }

    /// RFC 4271 §9.1.2 (AS loops), §5.1.5 (LOCAL_PREF from another AS),
    /// §6.3 (the first AS must be the peer's), RFC 4456 §8 (reflection
    /// loops).
    fn sanitize(&self, pid: PeerId, a: &mut RouteAttrs) -> Result<(), String> {
        let p = self.peers.get(&pid).ok_or("unknown peer")?;
        let up = p.up.as_ref().ok_or("session down")?;
        let n = &up.negotiated;
        if a.as_path.count(self.cfg.asn) > usize::from(p.config.allowas_in) {
            return Err(format!("AS loop: our AS {} is in the path", self.cfg.asn));
        }
        if n.internal {
            let cluster = self.cfg.cluster_id.unwrap_or(self.cfg.router_id).to_ipv4();
            if a.originator_id == Some(self.cfg.router_id.to_ipv4()) {
                return Err("ORIGINATOR_ID is our router ID (RFC 4456 §8)".into());
            }
            if a.cluster_list.contains(&cluster) {
                return Err(format!(
                    "our cluster ID {cluster} is in CLUSTER_LIST (RFC 4456 §8)"
                ));
            }
        } else {
            if a.as_path.first_asn() != Some(n.peer_as) {
                return Err(format!(
                    "the AS path does not start with the peer's AS {} (RFC 4271 §6.3)",
                    n.peer_as
                ));
            }
            a.local_pref = None;
            a.originator_id = None;
            a.cluster_list.clear();
        }
        Ok(())
    }

    /// Says once per UPDATE if the import chain names a policy that does
    /// not exist (the chain then rejects everything).
    fn report_missing_policies(&mut self, pid: PeerId) {
        let Some(p) = self.peers.get(&pid) else {
            return;
        };
        let missing: Vec<String> = p
            .config
            .import
            .iter()
            .flatten()
            .filter(|n| !self.cfg.policies.contains_key(*n))
            .cloned()
            .collect();
        for name in missing {
            self.event(pid, PeerEventKind::MissingPolicy { name });
        }
    }

    /// One received path: kept before policy if configured, then through
    /// import policy into the Loc-RIB, or out of it.
    fn receive_path(
        &mut self,
        now: Instant,
        pid: PeerId,
        prefix: Prefix,
        path_id: Option<PathId>,
        base: &SharedAttrs,
    ) {
        let family = prefix_family(&prefix);
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        if !p
            .up
            .as_ref()
            .is_some_and(|u| u.negotiated.families.contains(family))
        {
            return;
        }
        if p.config.keep_received {
            p.adj_in.insert((prefix, path_id), base.clone());
        }
        let mut slot = Slot::UNKNOWN;
        match self.run_import(pid, prefix, base) {
            Some(attrs) => {
                let path = Path {
                    source: Source::Peer(pid),
                    path_id,
                    attrs,
                    stale: false,
                    since: self.since(now),
                    lost: None,
                    multipath: false,
                };
                let (new, at) = self.rib.upsert(prefix, path);
                slot = at;
                if new && let Some(p) = self.peers.get_mut(&pid) {
                    Peer::bump(&mut p.counters.accepted, family, 1);
                }
            }
            None => {
                if self.rib.remove(&prefix, Source::Peer(pid), path_id)
                    && let Some(p) = self.peers.get_mut(&pid)
                {
                    Peer::bump(&mut p.counters.accepted, family, -1);
                }
            }
        }
        self.dirty.insert_at(prefix, slot);
    }

    /// The import chain of `pid` applied to `base`: the attributes to
    /// keep, or `None` to reject.
    fn run_import(
        &mut self,
        pid: PeerId,
        prefix: Prefix,
        base: &SharedAttrs,
    ) -> Option<SharedAttrs> {
        let family = prefix_family(&prefix);
        if let Some(m) = &self.import_memo
            && m.peer == pid
            && m.family == family
            && std::sync::Arc::ptr_eq(&m.base, base)
        {
            return m.result.clone();
        }
        let p = self.peers.get(&pid)?;
        let internal = p.internal();
        let chain = match &p.config.import {
            // RFC 8212 §3: without a policy nothing is taken from an eBGP
            // peer.
            None if !internal => return None,
            None => return Some(base.clone()),
            Some(names) => names
                .iter()
                .map(|n| self.cfg.policies.get(n))
                .collect::<Option<Vec<_>>>()?,
        };
        let ctx = RouteContext {
            prefix,
            neighbor: Some(p.config.address),
            source: if internal {
                RouteSource::Internal
            } else {
                RouteSource::External
            },
            local_as: self.cfg.asn,
            self_next_hop: None,
        };
        let prefix_free = !chain.iter().any(|p| p.looks_at_prefix());
        let mut attrs = (**base).clone();
        let result = match policy::evaluate(chain, &ctx, &mut attrs) {
            Verdict::Reject => None,
            Verdict::Accept if attrs == **base => Some(base.clone()),
            Verdict::Accept => Some(self.interner.intern(attrs)),
        };
        if prefix_free {
            self.import_memo = Some(ImportMemo {
                peer: pid,
                family,
                base: base.clone(),
                result: result.clone(),
            });
        }
        result
    }

    pub(super) fn withdraw_path(&mut self, pid: PeerId, prefix: Prefix, path_id: Option<PathId>) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        p.adj_in.remove(&(prefix, path_id));
        if self.rib.remove(&prefix, Source::Peer(pid), path_id) {
            if let Some(p) = self.peers.get_mut(&pid) {
                Peer::bump(&mut p.counters.accepted, prefix_family(&prefix), -1);
            }
            self.dirty.insert(prefix);
        }
    }

    /// RFC 4486 §4: a peer sent more prefixes than it may.
    fn check_max_prefix(&mut self, now: Instant, pid: PeerId) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let Some(max) = p.config.max_prefix else {
            return;
        };
        let over: Vec<(Family, u32)> = p
            .counters
            .accepted
            .iter()
            .filter(|(_, n)| **n > max.limit)
            .map(|(f, n)| (*f, *n))
            .collect();
        // A family back under its limit may warn again later.
        p.max_prefix_tripped = p
            .max_prefix_tripped
            .iter()
            .filter(|f| over.iter().any(|(o, _)| o == f))
            .collect();
        for (family, accepted) in over {
            let Some(p) = self.peers.get_mut(&pid) else {
                return;
            };
            let restart = matches!(max.action, MaxPrefixAction::Restart(_));
            if p.max_prefix_tripped.contains(family) {
                continue;
            }
            p.max_prefix_tripped.insert(family);
            self.event(
                pid,
                PeerEventKind::MaxPrefix {
                    family,
                    accepted,
                    limit: max.limit,
                    restart,
                },
            );
            if let MaxPrefixAction::Restart(after) = max.action {
                let mut data = Vec::with_capacity(7);
                data.extend_from_slice(&family.afi.0.to_be_bytes());
                data.push(family.safi.0);
                data.extend_from_slice(&max.limit.to_be_bytes());
                let n =
                    Notification::new(ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached), data);
                if let Some(p) = self.peers.get_mut(&pid) {
                    p.restart_at = Some(now + after);
                    p.max_prefix_tripped = crate::types::FamilySet::EMPTY;
                }
                self.feed_session(
                    now,
                    pid,
                    fsm::Input::Stop {
                        notification: Some(n),
                    },
                );
                return;
            }
        }
    }

    /// Applies import policy again to what `pid` sent, without a session
    /// reset: from the kept Adj-RIB-In, else by asking for a route refresh
    /// (RFC 2918); only if neither is possible, by resetting the session.
    pub(super) fn soft_in(&mut self, now: Instant, pid: PeerId) {
        let Some(p) = self.peers.get(&pid) else {
            return;
        };
        let Some(up) = &p.up else { return };
        self.import_memo = None;
        if p.config.keep_received {
            let kept: Vec<((Prefix, Option<PathId>), SharedAttrs)> =
                p.adj_in.iter().map(|(k, v)| (*k, v.clone())).collect();
            self.report_missing_policies(pid);
            for ((prefix, path_id), base) in kept {
                self.receive_path(now, pid, prefix, path_id, &base);
            }
            return;
        }
        if up.negotiated.route_refresh {
            let families: Vec<Family> = up.negotiated.families.iter().collect();
            for family in families {
                self.send_refresh(now, pid, RouteRefresh::request(family));
                self.event(pid, PeerEventKind::RouteRefreshSent { family });
            }
            return;
        }
        self.event(
            pid,
            PeerEventKind::Warning {
                message: "the peer cannot refresh routes and received routes are not kept \
                      (keep_received): resetting the session to apply the import policy"
                    .into(),
            },
        );
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
        self.feed_session(now, pid, fsm::Input::Start);
    }

    pub(super) fn send_refresh(&mut self, now: Instant, pid: PeerId, r: RouteRefresh) {
        let Ok(bytes) = Message::RouteRefresh(r).to_bytes(&SessionContext::default()) else {
            return;
        };
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        if let Some(o) = p.session.send(now, bytes.into()) {
            self.session_outputs(now, pid, vec![o]);
        }
    }

    /// A ROUTE-REFRESH from the peer: a request, answered by sending our
    /// Adj-RIB-Out again (between BoRR and EoRR with enhanced route
    /// refresh), or the BoRR/EoRR markers around its own answer.
    pub(super) fn route_refresh(&mut self, now: Instant, pid: PeerId, r: RouteRefresh) {
        let family = r.family;
        match r.subtype {
            RefreshSubtype::Request => {
                let Some(p) = self.peers.get_mut(&pid) else {
                    return;
                };
                let Some(up) = &p.up else { return };
                if !up.negotiated.families.contains(family) {
                    return;
                }
                let enhanced = up.negotiated.enhanced_route_refresh;
                p.dump.insert(family);
                if enhanced {
                    p.refresh_replies.push(family);
                    self.send_refresh(
                        now,
                        pid,
                        RouteRefresh {
                            family,
                            subtype: RefreshSubtype::BeginningOfRouteRefresh,
                            orf: vec![],
                        },
                    );
                }
            }
            // RFC 7313 §4: what is not re-advertised between BoRR and EoRR
            // is gone.
            RefreshSubtype::BeginningOfRouteRefresh => {
                let prefixes = self.rib.prefixes_from(Source::Peer(pid), |prefix, _| {
                    prefix_family(prefix) == family
                });
                self.rib
                    .for_paths_from(&prefixes, Source::Peer(pid), |path| path.stale = true);
            }
            RefreshSubtype::EndOfRouteRefresh => self.sweep_stale(pid, Some(family)),
            RefreshSubtype::Unknown(_) => {}
        }
    }

    /// Removes `pid`'s stale paths, of one family or all.
    pub(super) fn sweep_stale(&mut self, pid: PeerId, family: Option<Family>) {
        let prefixes = self.rib.prefixes_from(Source::Peer(pid), |prefix, path| {
            path.stale && family.is_none_or(|f| prefix_family(prefix) == f)
        });
        if prefixes.is_empty() {
            return;
        }
        let removed = self
            .rib
            .remove_where(&prefixes, Source::Peer(pid), |path| path.stale);
        if let Some(p) = self.peers.get_mut(&pid) {
            for prefix in &removed {
                Peer::bump(&mut p.counters.accepted, prefix_family(prefix), -1);
            }
        }
        self.dirty.extend(prefixes);
        self.event(
            pid,
            PeerEventKind::StaleSwept {
                paths: removed.len(),
            },
        );
    }
}
