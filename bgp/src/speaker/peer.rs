//! What the speaker keeps per peer beyond its session.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use serde::Serialize;

use super::config::PeerConfig;
use crate::fsm::{ConnId, Down, Negotiated, Session, State};
use crate::rib::{PeerId, SharedAttrs};
use crate::types::{Family, FamilySet, PathId, Prefix, RouterId};

/// Our end of a connection, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocalEnd {
    pub address: IpAddr,
    /// The connected subnet holding `address`: a next hop in it is one the
    /// peer can reach directly (RFC 4271 §5.1.3 third-party next hop).
    pub subnet: Option<Prefix>,
    /// Our link-local address on the interface, sent beside the global
    /// IPv6 next hop (RFC 2545 §3).
    pub link_local: Option<Ipv6Addr>,
    /// A global IPv6 address on the same interface: the next hop of IPv6
    /// routes when the session runs over link-local or IPv4 (RFC 2545 §3
    /// wants a global address in the first slot).
    pub global_v6: Option<Ipv6Addr>,
}

/// Facts about the peer that outlive its session: the decision process
/// needs them for stale paths kept across a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) internal: bool,
    pub(crate) router_id: RouterId,
    /// Families in the peer's graceful restart capability.
    pub(crate) gr_families: Vec<(Family, bool)>,
}

/// An established session.
#[derive(Debug, Clone)]
pub(crate) struct Up {
    pub(crate) negotiated: Negotiated,
    pub(crate) local: LocalEnd,
    pub(crate) since: Instant,
}

/// Message and prefix counters, per family where it matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub updates_received: u64,
    pub updates_sent: u64,
    /// Paths accepted by import policy (in the Loc-RIB).
    pub accepted: BTreeMap<Family, u32>,
    /// Paths refused by the checks before policy (AS loop, first AS,
    /// route reflection loops) since the session came up.
    pub rejected_by_checks: u64,
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: PeerId,
    pub(crate) config: PeerConfig,
    pub(crate) session: Session,
    pub(crate) dynamic: bool,
    pub(crate) local_ends: HashMap<ConnId, LocalEnd>,
    pub(crate) up: Option<Up>,
    pub(crate) facts: Option<Facts>,
    /// Pre-policy Adj-RIB-In, kept when `keep_received` is set.
    pub(crate) adj_in: BTreeMap<(Prefix, Option<PathId>), SharedAttrs>,
    /// The export group sharing our Adj-RIB-Out, while established.
    pub(crate) group: Option<super::group::GroupId>,
    /// Families whose whole advertised table is to be sent to this peer
    /// alone (a new session, a route refresh), then End-of-RIB.
    pub(crate) dump: FamilySet,
    /// What the peer was sent before it moved to another group: whatever
    /// the new group does not advertise is withdrawn with the dump.
    pub(crate) stale_view: Option<Vec<Prefix>>,
    pub(crate) eor_sent: FamilySet,
    pub(crate) eor_received: FamilySet,
    /// Families to close with EoRR after the next flush (RFC 7313).
    pub(crate) refresh_replies: Vec<Family>,
    /// Stale paths are swept at this time (RFC 4724 restart time, then
    /// stale routes time).
    pub(crate) stale_until: Option<Instant>,
    /// Start again after a max-prefix shutdown.
    pub(crate) restart_at: Option<Instant>,
    pub(crate) max_prefix_tripped: FamilySet,
    pub(crate) counters: Counters,
}

impl Peer {
    pub(crate) fn new(id: PeerId, config: PeerConfig, session: Session, dynamic: bool) -> Self {
        Peer {
            id,
            config,
            session,
            dynamic,
            local_ends: HashMap::new(),
            up: None,
            facts: None,
            adj_in: BTreeMap::new(),
            group: None,
            dump: FamilySet::EMPTY,
            stale_view: None,
            eor_sent: FamilySet::EMPTY,
            eor_received: FamilySet::EMPTY,
            refresh_replies: Vec::new(),
            stale_until: None,
            restart_at: None,
            max_prefix_tripped: FamilySet::EMPTY,
            counters: Counters::default(),
        }
    }

    /// The families (of `all`) whose whole table this peer is about to be
    /// sent: the group's changes to them need not reach it first.
    pub(crate) fn awaiting_table(&self, all: FamilySet) -> FamilySet {
        if self.stale_view.is_some() {
            all
        } else {
            self.dump
        }
    }

    pub(crate) fn internal(&self) -> bool {
        self.up.as_ref().is_some_and(|u| u.negotiated.internal)
    }

    pub(crate) fn bump(map: &mut BTreeMap<Family, u32>, family: Family, delta: i64) {
        let v = map.entry(family).or_insert(0);
        *v = (i64::from(*v) + delta).max(0) as u32;
    }
}

/// A read-only look at one peer, for `show neighbors` and tests.
#[derive(Debug, Clone, Copy)]
pub struct PeerView<'a> {
    pub(crate) peer: &'a Peer,
    pub(crate) group: Option<&'a super::group::Group>,
    pub(crate) rib: &'a crate::rib::LocRib,
}

impl<'a> PeerView<'a> {
    pub fn id(&self) -> PeerId {
        self.peer.id
    }

    pub fn address(&self) -> IpAddr {
        self.peer.config.address
    }

    pub fn config(&self) -> &'a PeerConfig {
        &self.peer.config
    }

    pub fn dynamic(&self) -> bool {
        self.peer.dynamic
    }

    pub fn state(&self) -> State {
        self.peer.session.state()
    }

    pub fn negotiated(&self) -> Option<&'a Negotiated> {
        self.peer.up.as_ref().map(|u| &u.negotiated)
    }

    pub fn local_end(&self) -> Option<LocalEnd> {
        self.peer.up.as_ref().map(|u| u.local)
    }

    pub fn established_since(&self) -> Option<Instant> {
        self.peer.up.as_ref().map(|u| u.since)
    }

    pub fn last_error(&self) -> Option<&'a str> {
        self.peer.session.last_error()
    }

    pub fn last_down(&self) -> Option<&'a Down> {
        self.peer.session.last_down()
    }

    pub fn counters(&self) -> &'a Counters {
        &self.peer.counters
    }

    /// Paths received per family before import policy; known only when
    /// they are kept (`keep_received`).
    pub fn received(&self, family: Family) -> Option<usize> {
        self.peer.config.keep_received.then(|| {
            self.peer
                .adj_in
                .keys()
                .filter(|(p, _)| crate::rib::prefix_family(p) == family)
                .count()
        })
    }

    /// Paths accepted per family (in the Loc-RIB).
    pub fn accepted(&self, family: Family) -> u32 {
        self.peer
            .counters
            .accepted
            .get(&family)
            .copied()
            .unwrap_or(0)
    }

    /// Prefixes advertised per family (the Adj-RIB-Out).
    pub fn advertised(&self, family: Family) -> usize {
        self.adj_rib_out()
            .filter(|(p, _)| crate::rib::prefix_family(p) == family)
            .count()
    }

    /// What the peer was sent: its export group's Adj-RIB-Out but the
    /// routes that came from it.
    pub fn adj_rib_out(&self) -> impl Iterator<Item = (Prefix, &'a SharedAttrs)> {
        let (rib, id) = (self.rib, self.peer.id);
        self.peer
            .group
            .into_iter()
            .flat_map(move |gid| super::group::view(rib, gid, id))
    }

    /// The peers sharing this one's Adj-RIB-Out (itself included).
    pub fn export_group(&self) -> &'a [PeerId] {
        self.group.map_or(&[], |g| g.members.as_slice())
    }

    /// The pre-policy Adj-RIB-In, if kept (`keep_received`).
    pub fn adj_rib_in(
        &self,
    ) -> impl Iterator<Item = (&'a (Prefix, Option<PathId>), &'a SharedAttrs)> {
        self.peer.adj_in.iter()
    }

    /// RFC 8212: an eBGP peer without an import (export) policy accepts
    /// (sends) nothing. Returns what is blocked, for status lines.
    pub fn rfc8212_blocked(&self) -> Option<&'static str> {
        let external = self.peer.facts.as_ref().is_some_and(|f| !f.internal);
        let c = &self.peer.config;
        match (external, c.import.is_none(), c.export.is_none()) {
            (true, true, true) => {
                Some("no import or export policy (RFC 8212): nothing accepted or sent")
            }
            (true, true, false) => Some("no import policy (RFC 8212): nothing accepted"),
            (true, false, true) => Some("no export policy (RFC 8212): nothing sent"),
            _ => None,
        }
    }

    /// Paths kept stale across the peer's restart or a route refresh.
    pub fn stale_until(&self) -> Option<Instant> {
        self.peer.stale_until
    }
}
