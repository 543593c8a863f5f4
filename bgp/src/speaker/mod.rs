//! The speaker: every session, the RIB and the policies, owned by one
//! value and driven by [`Speaker::handle`] and [`Speaker::handle_timeout`].
//!
//! ```text
//!   driver ──Input──► Speaker::handle(now, input) ──Vec<Output>──► driver
//!                      │ sessions (fsm) ─► import ─► Loc-RIB ─► decision
//!                      │                               │
//!                      └──────────── export ◄──────────┘ (per peer, packed)
//! ```
//!
//! After each input the speaker settles: it reruns the decision for the
//! prefixes that changed, reports best-path changes for the FIB, and
//! sends each peer what changed for it (at most once per minimum
//! advertisement interval), packed by attribute set.

mod config;
mod export;
mod graceful;
mod group;
mod import;
mod manage;
mod peer;
mod prefix_set;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

pub use config::{
    DynamicNeighbors, GracefulRestart, LocalRoute, MaxPrefix, MaxPrefixAction, PeerConfig,
    PeerKind, SpeakerConfig, Transport,
};
pub use peer::{Counters, LocalEnd, PeerView};

use crate::fsm::{self, ConnId};
use crate::policy::Policy;
use crate::rib::{
    Change, DecisionConfig, Dest, Interner, LocRib, Origin, Path, PeerId, Since, Source,
};
use crate::types::Prefix;
use crate::wire::NextHop;
use peer::Peer;

/// What the driver and the agent tell the speaker.
#[derive(Debug)]
pub enum Input<'a> {
    /// The peer at `remote` connected to us; the driver named the
    /// connection `conn` (ids with the top bit set are the driver's).
    Accepted {
        conn: ConnId,
        remote: IpAddr,
        local: LocalEnd,
    },
    /// Our connection attempt `conn` succeeded.
    Connected {
        conn: ConnId,
        local: LocalEnd,
    },
    ConnectFailed {
        conn: ConnId,
        error: String,
    },
    Closed {
        conn: ConnId,
    },
    /// One whole message received on `conn`.
    Message {
        conn: ConnId,
        bytes: &'a [u8],
    },
    AddPeer(PeerConfig),
    /// Replaces a peer's configuration, touching the session only if
    /// something the OPEN carries changed.
    UpdatePeer(PeerConfig),
    RemovePeer(IpAddr),
    SetPolicies(BTreeMap<String, Policy>),
    Originate(LocalRoute),
    Withdraw(Prefix),
    /// Administratively shut a peer down (Cease with an RFC 9003 message).
    ShutdownPeer {
        address: IpAddr,
        message: Option<String>,
    },
    EnablePeer(IpAddr),
    /// Re-evaluate what the peer sent against import policy (route refresh
    /// or the kept Adj-RIB-In), without resetting the session.
    RefreshIn(IpAddr),
    /// Stop every session. `graceful`: let peers keep our routes across
    /// our restart (RFC 4724 / RFC 8538); otherwise they withdraw them.
    Shutdown {
        graceful: bool,
    },
}

/// A best-path change for the FIB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteUpdate {
    pub prefix: Prefix,
    /// Empty: no route learned from a peer (withdraw from the FIB).
    pub next_hops: Vec<FibNextHop>,
}

/// One forwarding next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FibNextHop {
    pub address: IpAddr,
    /// For IPv6: the peer's link-local address, usable on-link.
    pub link_local: Option<Ipv6Addr>,
    /// The peer the path came from.
    pub peer: IpAddr,
}

/// Something a peer did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerEventKind {
    StateChanged {
        from: fsm::State,
        to: fsm::State,
    },
    Established,
    Down {
        down: fsm::Down,
    },
    Session {
        event: fsm::Event,
    },
    /// A connection from an address that is no configured peer.
    Refused {
        reason: String,
    },
    MaxPrefix {
        family: crate::types::Family,
        accepted: u32,
        limit: u32,
        restart: bool,
    },
    /// A policy named in the peer's configuration does not exist; the
    /// chain rejects everything until it does.
    MissingPolicy {
        name: String,
    },
    /// Routes of this family cannot be sent: no next hop of that family.
    NoNextHop {
        family: crate::types::Family,
    },
    RouteRefreshSent {
        family: crate::types::Family,
    },
    /// Stale routes kept across the peer's restart were swept.
    StaleSwept {
        paths: usize,
    },
    Warning {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerEvent {
    pub peer: IpAddr,
    #[serde(flatten)]
    pub kind: PeerEventKind,
}

/// What the speaker asks of the driver and the FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Connect {
        conn: ConnId,
        peer: IpAddr,
        transport: Transport,
    },
    Send {
        conn: ConnId,
        bytes: Bytes,
    },
    Close {
        conn: ConnId,
    },
    Route(RouteUpdate),
    Event(PeerEvent),
    /// Selection deferral after our restart is over (RFC 4724 §4.1): the
    /// FIB now holds the full, fresh table and may sweep what is stale.
    InitialSyncDone,
}

/// The BGP speaker.
#[derive(Debug)]
pub struct Speaker {
    cfg: SpeakerConfig,
    decision: DecisionConfig,
    peers: BTreeMap<PeerId, Peer>,
    by_addr: HashMap<IpAddr, PeerId>,
    conns: HashMap<ConnId, PeerId>,
    next_peer: u32,
    rib: LocRib,
    interner: Interner,
    local_routes: BTreeMap<Prefix, LocalRoute>,
    dirty: prefix_set::PrefixSet,
    groups: BTreeMap<group::GroupId, group::Group>,
    next_group: group::GroupId,
    import_memo: Option<import::ImportMemo>,
    /// Best-path selection is deferred until then (we are restarting).
    deferral: Option<Instant>,
    initial_sync_reported: bool,
    out: Vec<Output>,
    /// When the speaker started: what a path's [`Since`] counts from.
    epoch: Instant,
}

impl Speaker {
    pub fn new(cfg: SpeakerConfig, now: Instant) -> Self {
        let mut decision = DecisionConfig::new(cfg.asn);
        decision.always_compare_med = cfg.always_compare_med;
        decision.max_paths = cfg.max_paths.max(1);
        decision.multipath_relax = cfg.multipath_relax;
        let deferral = cfg
            .graceful_restart
            .restarting
            .then(|| now + cfg.graceful_restart.selection_deferral);
        Speaker {
            cfg,
            decision,
            peers: BTreeMap::new(),
            by_addr: HashMap::new(),
            conns: HashMap::new(),
            next_peer: 1,
            rib: LocRib::default(),
            interner: Interner::default(),
            local_routes: BTreeMap::new(),
            dirty: prefix_set::PrefixSet::default(),
            groups: BTreeMap::new(),
            next_group: 1,
            import_memo: None,
            deferral,
            initial_sync_reported: false,
            out: Vec::new(),
            epoch: now,
        }
    }

    /// How long ago `path` last changed.
    pub fn path_age(&self, path: &Path, now: Instant) -> Duration {
        path.since.age(self.epoch, now)
    }

    /// `now` as a path's [`Since`].
    fn since(&self, now: Instant) -> Since {
        Since::at(self.epoch, now)
    }

    pub fn config(&self) -> &SpeakerConfig {
        &self.cfg
    }

    pub fn rib(&self) -> &LocRib {
        &self.rib
    }

    /// Distinct attribute sets held.
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    pub fn peers(&self) -> impl Iterator<Item = PeerView<'_>> {
        self.peers.values().map(|peer| self.view(peer))
    }

    pub fn peer(&self, address: IpAddr) -> Option<PeerView<'_>> {
        let id = self.by_addr.get(&address)?;
        self.peers.get(id).map(|peer| self.view(peer))
    }

    pub fn peer_by_id(&self, id: PeerId) -> Option<PeerView<'_>> {
        self.peers.get(&id).map(|peer| self.view(peer))
    }

    fn view<'a>(&'a self, peer: &'a Peer) -> PeerView<'a> {
        PeerView {
            peer,
            group: peer.group.and_then(|g| self.groups.get(&g)),
            rib: &self.rib,
        }
    }

    /// Export groups in use (peers sharing one Adj-RIB-Out).
    pub fn export_groups(&self) -> usize {
        self.groups.len()
    }

    /// Best-path selection is still deferred after our restart.
    pub fn is_deferring(&self) -> bool {
        self.deferral.is_some()
    }

    pub fn local_routes(&self) -> impl Iterator<Item = &LocalRoute> {
        self.local_routes.values()
    }

    /// Feeds one input and returns what it caused.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        self.absorb(now, input);
        self.settle(now)
    }

    /// Feeds one input without settling: its session outputs wait, and the
    /// decisions and UPDATEs it causes are made by the next
    /// [`settle`](Self::settle). A driver with a burst of inputs queued
    /// absorbs them all and settles once, so the burst costs one decision
    /// pass per prefix and one flush per peer rather than one per message.
    pub fn absorb(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Accepted {
                conn,
                remote,
                local,
            } => self.accepted(now, conn, remote, local),
            Input::Connected { conn, local } => {
                if let Some(pid) = self.conns.get(&conn).copied() {
                    if let Some(p) = self.peers.get_mut(&pid) {
                        p.local_ends.insert(conn, local);
                    }
                    self.feed_session(now, pid, fsm::Input::Connected(conn));
                }
            }
            Input::ConnectFailed { conn, error } => {
                if let Some(pid) = self.conns.remove(&conn) {
                    self.feed_session(now, pid, fsm::Input::ConnectFailed(conn));
                    self.event(
                        pid,
                        PeerEventKind::Warning {
                            message: format!("connection failed: {error}"),
                        },
                    );
                }
            }
            Input::Closed { conn } => {
                if let Some(pid) = self.conns.get(&conn).copied() {
                    self.feed_session(now, pid, fsm::Input::Closed(conn));
                }
            }
            Input::Message { conn, bytes } => {
                if let Some(pid) = self.conns.get(&conn).copied() {
                    self.feed_session(now, pid, fsm::Input::Message(conn, bytes));
                }
            }
            Input::AddPeer(c) => {
                self.add_peer(now, c, false);
            }
            Input::UpdatePeer(c) => self.update_peer(now, c),
            Input::RemovePeer(a) => self.remove_peer(now, a),
            Input::SetPolicies(p) => self.set_policies(now, p),
            Input::Originate(r) => self.originate(now, r),
            Input::Withdraw(p) => self.withdraw_local(p),
            Input::ShutdownPeer { address, message } => self.shutdown_peer(now, address, message),
            Input::EnablePeer(a) => {
                if let Some(pid) = self.by_addr.get(&a).copied() {
                    self.feed_session(now, pid, fsm::Input::Start);
                }
            }
            Input::RefreshIn(a) => {
                if let Some(pid) = self.by_addr.get(&a).copied() {
                    self.soft_in(now, pid);
                }
            }
            Input::Shutdown { graceful } => self.shutdown(now, graceful),
        }
    }

    /// Reruns decisions for what the absorbed inputs changed, tells the FIB,
    /// sends each peer what changed for it, and returns every output since
    /// the last call.
    pub fn settle(&mut self, now: Instant) -> Vec<Output> {
        self.settle_routes(now);
        std::mem::take(&mut self.out)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self
            .peers
            .values()
            .flat_map(|p| [p.session.poll_timeout(), p.restart_at, p.stale_until]);
        let groups = self
            .groups
            .values()
            .map(|g| g.next_flush.filter(|_| g.has_work()));
        peers.chain(groups).chain([self.deferral]).flatten().min()
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in ids {
            let Some(p) = self.peers.get_mut(&pid) else {
                continue;
            };
            if p.session.poll_timeout().is_some_and(|t| t <= now) {
                let outs = p.session.handle_timeout(now);
                self.session_outputs(now, pid, outs);
            }
            let Some(p) = self.peers.get_mut(&pid) else {
                continue;
            };
            if p.restart_at.is_some_and(|t| t <= now) {
                p.restart_at = None;
                self.feed_session(now, pid, fsm::Input::Start);
            }
            let Some(p) = self.peers.get_mut(&pid) else {
                continue;
            };
            if p.stale_until.is_some_and(|t| t <= now) {
                p.stale_until = None;
                self.sweep_stale(pid, None);
            }
        }
        for g in self.groups.values_mut() {
            if g.next_flush.is_some_and(|t| t <= now) {
                g.next_flush = None;
            }
        }
        self.settle(now)
    }

    /// Feeds the session of `pid` and handles what it says.
    fn feed_session(&mut self, now: Instant, pid: PeerId, input: fsm::Input<'_>) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let outs = p.session.handle(now, input);
        self.session_outputs(now, pid, outs);
    }

    fn session_outputs(&mut self, now: Instant, pid: PeerId, outs: Vec<fsm::Output>) {
        for o in outs {
            match o {
                fsm::Output::Connect(conn) => {
                    let Some(p) = self.peers.get(&pid) else {
                        continue;
                    };
                    self.conns.insert(conn, pid);
                    self.out.push(Output::Connect {
                        conn,
                        peer: p.config.address,
                        transport: p.config.transport.clone(),
                    });
                }
                fsm::Output::Send(conn, bytes) => self.out.push(Output::Send { conn, bytes }),
                fsm::Output::Close(conn) => {
                    self.conns.remove(&conn);
                    if let Some(p) = self.peers.get_mut(&pid) {
                        p.local_ends.remove(&conn);
                    }
                    self.out.push(Output::Close { conn });
                }
                fsm::Output::StateChanged { from, to } => {
                    self.event(pid, PeerEventKind::StateChanged { from, to })
                }
                fsm::Output::Established(n) => self.established(now, pid, *n),
                fsm::Output::Update(u) => self.import_update(now, pid, u, false),
                fsm::Output::TreatAsWithdraw(u) => self.import_update(now, pid, u, true),
                fsm::Output::RouteRefresh(r) => self.route_refresh(now, pid, r),
                fsm::Output::Down(d) => self.peer_down(now, pid, d),
                fsm::Output::Event(event) => self.event(pid, PeerEventKind::Session { event }),
            }
        }
    }

    fn event(&mut self, pid: PeerId, kind: PeerEventKind) {
        if let Some(p) = self.peers.get(&pid) {
            self.out.push(Output::Event(PeerEvent {
                peer: p.config.address,
                kind,
            }));
        }
    }

    /// Reruns decisions for changed prefixes, tells the FIB, and sends
    /// peers what changed for them.
    fn settle_routes(&mut self, now: Instant) {
        self.check_deferral(now);
        if self.deferral.is_some() {
            return;
        }
        let dirty = self.dirty.take();
        let mut changed = Vec::new();
        for (prefix, slot) in dirty {
            let (cfg, peers) = (&self.cfg, &self.peers);
            let (change, slot, dest) = self
                .rib
                .decide(&prefix, slot, &self.decision, |s| origin_of(cfg, peers, s));
            if change == Change::Best {
                let next_hops = dest.map_or_else(Vec::new, |d| fib_next_hops(d, peers));
                self.out
                    .push(Output::Route(RouteUpdate { prefix, next_hops }));
                changed.push((prefix, slot));
            }
        }
        // After the routes it chose: what the FIB has by then is the whole
        // table, and what it kept from before and was not given is stale.
        if !self.initial_sync_reported {
            self.initial_sync_reported = true;
            self.out.push(Output::InitialSyncDone);
        }
        for g in self.groups.values_mut() {
            g.pending.extend(changed.iter().copied());
        }
        self.flush(now);
    }
}

/// Where the FIB forwards a destination: its multipath set, unless the best
/// path is our own (then nothing: the route is withdrawn from the FIB).
fn fib_next_hops(dest: &Dest, peers: &BTreeMap<PeerId, Peer>) -> Vec<FibNextHop> {
    if dest.best().is_none_or(|b| b.source == Source::Local) {
        return Vec::new();
    }
    dest.multipath()
        .filter_map(|p| {
            let Source::Peer(pid) = p.source else {
                return None;
            };
            let peer = peers.get(&pid)?.config.address;
            Some(match p.attrs.next_hop {
                NextHop::V4(a) => FibNextHop {
                    address: IpAddr::V4(a),
                    link_local: None,
                    peer,
                },
                NextHop::V6 { global, link_local } => FibNextHop {
                    address: IpAddr::V6(global),
                    link_local,
                    peer,
                },
            })
        })
        .collect()
}

/// What the decision process needs to know about a path's source.
fn origin_of(cfg: &SpeakerConfig, peers: &BTreeMap<PeerId, Peer>, source: Source) -> Origin {
    match source {
        Source::Local => Origin {
            local: true,
            internal: false,
            router_id: cfg.router_id,
            address: None,
        },
        Source::Peer(pid) => {
            let p = peers.get(&pid);
            let facts = p.and_then(|p| p.facts.as_ref());
            Origin {
                local: false,
                internal: facts.is_some_and(|f| f.internal),
                router_id: facts.map_or(cfg.router_id, |f| f.router_id),
                address: p.map(|p| p.config.address),
            }
        }
    }
}

#[cfg(test)]
mod tests;
