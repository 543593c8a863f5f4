//! The BGP session state machine (RFC 4271 §8), one per configured peer.
//!
//! Sans-IO, in the quinn-proto style: inputs go in through [`Session::handle`]
//! and [`Session::handle_timeout`], and each call returns the outputs it
//! caused: bytes to send, connections to open or close, and events for the
//! speaker (session up, UPDATE received, session down). Timers are data:
//! [`Session::poll_timeout`] says when to call back.
//!
//! RFC 4271 describes one state machine per TCP connection. Because of
//! connection collisions (§6.8) a peer can briefly have two: the one we
//! opened and the one it opened. A `Session` tracks both, resolves the
//! collision when an OPEN arrives, and reports the state of the most
//! advanced one.

mod config;
mod negotiate;

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

pub use config::{GracefulRestartConfig, RemoteAs, SessionConfig};
pub use negotiate::{Negotiated, PeerGracefulRestart};

use crate::types::RouterId;
use crate::wire::{
    Action, CeaseSubcode, DecodeError, ErrorCode, FsmSubcode, HEADER_LEN, Message, MessageType,
    Notification, Open, RouteRefresh, SessionContext, Update,
};

/// RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("a
/// large value", 4 minutes suggested).
const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// A TCP connection, as the driver and the session both name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConnId(pub u64);

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Outbound,
    Inbound,
}

/// The RFC 4271 §8.2.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// What the driver (or the speaker) tells the session.
#[derive(Debug)]
pub enum Input<'a> {
    /// ManualStart / AutomaticStart.
    Start,
    /// ManualStop. With a NOTIFICATION it is sent first (Cease / Administrative
    /// Shutdown, say); without, the connection is just closed, which a peer
    /// that helps with graceful restart treats as our restart (RFC 4724).
    Stop { notification: Option<Notification> },
    /// Our connection attempt succeeded (Tcp_CR_Acked).
    Connected(ConnId),
    /// Our connection attempt failed (TcpConnectionFails before it was up).
    ConnectFailed(ConnId),
    /// The connection was closed or reset (TcpConnectionFails).
    Closed(ConnId),
    /// One whole message, as [`crate::wire::frame`] delimits it.
    Message(ConnId, &'a [u8]),
}

/// Why an established session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DownReason {
    /// We stopped it (configuration, shutdown).
    Stopped {
        notification: Option<Notification>,
    },
    HoldTimerExpired,
    NotificationReceived {
        notification: Notification,
    },
    /// We found an error in what the peer sent and told it so.
    NotificationSent {
        notification: Notification,
    },
    /// TCP closed or reset without a NOTIFICATION.
    ConnectionLost,
    /// The peer opened a new session while this one was up: it restarted
    /// (RFC 4724 §4).
    PeerRestarted,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::Stopped {
                notification: Some(n),
            } => write!(f, "stopped, sent {n}"),
            DownReason::Stopped { notification: None } => f.write_str("stopped"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::NotificationReceived { notification } => {
                write!(f, "received {notification}")
            }
            DownReason::NotificationSent { notification } => write!(f, "sent {notification}"),
            DownReason::ConnectionLost => f.write_str("connection lost"),
            DownReason::PeerRestarted => f.write_str("peer opened a new session (restarted)"),
        }
    }
}

/// An established session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Down {
    pub reason: DownReason,
    /// Graceful restart applies (RFC 4724 §4, RFC 8538 §4): keep the
    /// peer's routes as stale until it comes back or its restart time runs
    /// out.
    pub graceful: bool,
    /// The peer's restart time, when `graceful`.
    pub restart_time: Duration,
}

/// Something that happened worth a log line, beyond state changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A connection failed before the session was up.
    ConnectionFailed { reason: String },
    /// Two connections met; the one `closed` was dropped (RFC 4271 §6.8).
    CollisionResolved { kept: Direction, closed: Direction },
    /// An UPDATE was malformed; RFC 7606 let the session stay up.
    MalformedUpdate { error: String },
    /// A message was ignored (e.g. ROUTE-REFRESH without the capability).
    Ignored { what: String },
}

/// What the session asks of the driver and tells the speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer, named `ConnId`.
    Connect(ConnId),
    Send(ConnId, Bytes),
    /// Close after sending what was queued before.
    Close(ConnId),
    StateChanged {
        from: State,
        to: State,
    },
    Established(Box<Negotiated>),
    Update(Update),
    /// RFC 7606 treat-as-withdraw: every NLRI of this UPDATE is withdrawn.
    TreatAsWithdraw(Update),
    RouteRefresh(RouteRefresh),
    Down(Down),
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    /// Our TCP connection attempt is under way.
    Connecting,
    /// TCP is up, DelayOpen timer running, our OPEN not sent yet.
    OpenDelay,
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    direction: Direction,
    state: ConnState,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    delay_open: Option<Instant>,
    negotiated: Option<Negotiated>,
    established_at: Option<Instant>,
}

impl Conn {
    fn new(id: ConnId, direction: Direction, state: ConnState) -> Self {
        Conn {
            id,
            direction,
            state,
            hold: None,
            keepalive: None,
            delay_open: None,
            negotiated: None,
            established_at: None,
        }
    }

    fn context(&self) -> SessionContext {
        self.negotiated
            .as_ref()
            .map_or_else(SessionContext::default, |n| n.context)
    }
}

/// The session with one peer.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    key: u32,
    next_seq: u32,
    conns: Vec<Conn>,
    running: bool,
    connect_retry: Option<Instant>,
    idle_hold: Option<Instant>,
    failures: u32,
    state: State,
    last_down: Option<Down>,
    last_error: Option<String>,
    out: Vec<Output>,
}

impl Session {
    /// A session in Idle. `key` makes its connection ids unique among the
    /// speaker's sessions.
    pub fn new(config: SessionConfig, key: u32) -> Self {
        Session {
            config,
            key,
            next_seq: 0,
            conns: Vec::with_capacity(2),
            running: false,
            connect_retry: None,
            idle_hold: None,
            failures: 0,
            state: State::Idle,
            last_down: None,
            last_error: None,
            out: Vec::new(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Replaces the configuration; takes effect from the next connection.
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The established session's parameters.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.established().and_then(|c| c.negotiated.as_ref())
    }

    /// When the session came up, if it is up.
    pub fn established_at(&self) -> Option<Instant> {
        self.established().and_then(|c| c.established_at)
    }

    /// The established connection, to send on.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.established().map(|c| c.id)
    }

    pub fn last_down(&self) -> Option<&Down> {
        self.last_down.as_ref()
    }

    /// The last error: why the session went down or failed to come up.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn established(&self) -> Option<&Conn> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
    }

    /// Feeds one input; returns what it caused.
    pub fn handle(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        match input {
            Input::Start => self.start(now),
            Input::Stop { notification } => self.stop(notification),
            Input::Connected(id) => self.connected(now, id),
            Input::ConnectFailed(id) => self.connect_failed(now, id),
            Input::Closed(id) => {
                if self.find(id).is_some() {
                    self.fail(now, id, DownReason::ConnectionLost, false);
                }
            }
            Input::Message(id, bytes) => self.message(now, id, bytes),
        }
        self.finish()
    }

    /// An inbound connection the speaker matched to this peer. Returns
    /// whether it is taken; a refused connection is for the driver to close.
    pub fn accept(&mut self, now: Instant, id: ConnId) -> (bool, Vec<Output>) {
        if !self.running {
            return (false, self.finish());
        }
        // A connection we are still opening loses to one that is up (RFC
        // 4271 §8.2.2, Connect state, TcpConnectionConfirmed).
        self.drop_connecting();
        // An older inbound connection that never came up is stale: the
        // peer gave up on it.
        let stale: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.direction == Direction::Inbound && c.state != ConnState::Established)
            .map(|c| c.id)
            .collect();
        for c in stale {
            self.drop_conn(c);
        }
        if self.conns.len() >= 2 {
            return (false, self.finish());
        }
        self.connect_retry = None;
        self.conns
            .push(Conn::new(id, Direction::Inbound, ConnState::OpenSent));
        self.open_or_delay(now, id);
        (true, self.finish())
    }

    /// Queues an UPDATE (or any encoded messages, whole) on the
    /// established connection; `None` if the session is not up.
    pub fn send(&mut self, now: Instant, bytes: Bytes) -> Option<Output> {
        let conn = self
            .conns
            .iter_mut()
            .find(|c| c.state == ConnState::Established)?;
        // RFC 4271 §8.2.2: sending a KEEPALIVE or an UPDATE restarts the
        // KeepaliveTimer; nothing else does, because peers restart their
        // HoldTimer only on those (BIRD does not on ROUTE-REFRESH).
        if let Some(n) = &conn.negotiated
            && !n.keepalive.is_zero()
            && restarts_keepalive(&bytes)
        {
            conn.keepalive = Some(now + n.keepalive);
        }
        Some(Output::Send(conn.id, bytes))
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn_timers = self
            .conns
            .iter()
            .flat_map(|c| [c.hold, c.keepalive, c.delay_open]);
        [self.connect_retry, self.idle_hold]
            .into_iter()
            .chain(conn_timers)
            .flatten()
            .min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Output> {
        if self.idle_hold.is_some_and(|t| t <= now) {
            self.idle_hold = None;
            if self.running && self.conns.is_empty() {
                self.begin(now);
            }
        }
        if self.connect_retry.is_some_and(|t| t <= now) {
            self.connect_retry = None;
            if self.running && !self.config.passive {
                // RFC 4271 §8.2.2: drop the attempt under way and retry.
                self.drop_connecting();
                if self.conns.is_empty() {
                    self.begin(now);
                }
            }
        }
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            self.conn_timers(now, id);
        }
        self.finish()
    }

    fn conn_timers(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.find_mut(id) else { return };
        if c.delay_open.is_some_and(|t| t <= now) {
            c.delay_open = None;
            self.send_open(now, id);
            return;
        }
        let Some(c) = self.find_mut(id) else { return };
        if c.hold.is_some_and(|t| t <= now) {
            let n = Notification::new(ErrorCode::HoldTimerExpired(0), vec![]);
            self.notify(id, &n);
            self.fail(now, id, DownReason::HoldTimerExpired, true);
            return;
        }
        if c.keepalive.is_some_and(|t| t <= now) {
            let interval = c.negotiated.as_ref().map(|n| n.keepalive);
            c.keepalive = interval.filter(|i| !i.is_zero()).map(|i| now + i);
            self.send_message(id, &Message::Keepalive);
        }
    }

    fn start(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.running = true;
        self.failures = 0;
        self.idle_hold = None;
        if self.conns.is_empty() {
            self.begin(now);
        }
    }

    /// Leaves Idle: connect, or wait for the peer (passive).
    fn begin(&mut self, now: Instant) {
        if self.config.passive {
            return;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        let id = ConnId((u64::from(self.key) << 32) | u64::from(self.next_seq));
        self.conns
            .push(Conn::new(id, Direction::Outbound, ConnState::Connecting));
        self.connect_retry = Some(now + self.config.connect_retry);
        self.out.push(Output::Connect(id));
    }

    fn stop(&mut self, notification: Option<Notification>) {
        self.running = false;
        self.connect_retry = None;
        self.idle_hold = None;
        let conns = std::mem::take(&mut self.conns);
        for c in &conns {
            let sent = notification
                .as_ref()
                .filter(|_| c.state != ConnState::Connecting)
                .map(|n| outgoing(c, n));
            if let Some(n) = &sent {
                self.out.push(Output::Send(
                    c.id,
                    encode(&Message::Notification(n.clone())),
                ));
            }
            self.out.push(Output::Close(c.id));
            if c.state == ConnState::Established {
                // RFC 8538 §4: with the N bit, the sender of a NOTIFICATION
                // other than Hard Reset acts as a receiving speaker too and
                // keeps the peer's routes, as the peer keeps ours.
                let gr = c.negotiated.as_ref().filter(|n| n.graceful_notification);
                let restart_time = gr
                    .and_then(|n| n.peer_graceful_restart.as_ref())
                    .map_or(0, |g| g.restart_time);
                let graceful = restart_time > 0
                    && sent
                        .as_ref()
                        .is_some_and(|n| n.error != ErrorCode::Cease(CeaseSubcode::HardReset));
                let reason = DownReason::Stopped {
                    notification: notification.clone(),
                };
                // Why we closed it (max-prefix, shutdown, ...) is what an
                // operator asks next.
                self.last_error = Some(reason.to_string());
                let down = Down {
                    reason,
                    graceful,
                    restart_time: if graceful {
                        Duration::from_secs(u64::from(restart_time))
                    } else {
                        Duration::ZERO
                    },
                };
                self.record_down(down);
            }
        }
    }

    fn connected(&mut self, now: Instant, id: ConnId) {
        match self.find(id) {
            Some(c) if c.state == ConnState::Connecting => {
                self.connect_retry = None;
                if let Some(c) = self.find_mut(id) {
                    c.state = ConnState::OpenSent;
                }
                self.open_or_delay(now, id);
            }
            // An attempt we already gave up on.
            _ => self.out.push(Output::Close(id)),
        }
    }

    fn connect_failed(&mut self, now: Instant, id: ConnId) {
        if self.find(id).is_none() {
            return;
        }
        self.conns.retain(|c| c.id != id);
        self.last_error = Some("connection attempt failed".into());
        // RFC 4271 §8.2.2, Connect state: wait out the ConnectRetryTimer.
        if self.running && self.conns.is_empty() && self.connect_retry.is_none() {
            self.connect_retry = Some(now + self.config.connect_retry);
        }
    }

    fn open_or_delay(&mut self, now: Instant, id: ConnId) {
        match self.config.delay_open {
            Some(delay) => {
                if let Some(c) = self.find_mut(id) {
                    c.state = ConnState::OpenDelay;
                    c.delay_open = Some(now + delay);
                    c.hold = Some(now + OPEN_HOLD_TIME);
                }
            }
            None => self.send_open(now, id),
        }
    }

    fn send_open(&mut self, now: Instant, id: ConnId) {
        let open = negotiate::local_open(&self.config);
        self.send_message(id, &Message::Open(open));
        if let Some(c) = self.find_mut(id) {
            c.state = ConnState::OpenSent;
            c.delay_open = None;
            c.hold = Some(now + OPEN_HOLD_TIME);
        }
    }

    fn message(&mut self, now: Instant, id: ConnId, bytes: &[u8]) {
        let Some(c) = self.find(id) else { return };
        let state = c.state;
        let msg = match Message::decode(bytes, &c.context()) {
            Ok(m) => m,
            Err(e) => return self.malformed(now, id, e),
        };
        // RFC 4271 §8.2.2: any message from an established peer shows it is
        // alive.
        if matches!(state, ConnState::OpenConfirm | ConnState::Established)
            && let Some(c) = self.find_mut(id)
            && let Some(n) = &c.negotiated
            && !n.hold_time.is_disabled()
        {
            c.hold = Some(now + Duration::from_secs(u64::from(n.hold_time.seconds())));
        }
        match (state, msg) {
            (_, Message::Notification(n)) => {
                self.fail(
                    now,
                    id,
                    DownReason::NotificationReceived { notification: n },
                    false,
                );
            }
            (ConnState::OpenSent | ConnState::OpenDelay, Message::Open(open)) => {
                self.received_open(now, id, state, open)
            }
            (ConnState::OpenConfirm, Message::Keepalive) => self.establish(now, id),
            (ConnState::Established, Message::Keepalive) => {}
            (ConnState::Established, Message::Update(u)) => self.out.push(Output::Update(u)),
            (ConnState::Established, Message::RouteRefresh(r)) => {
                let negotiated = self.find(id).and_then(|c| c.negotiated.as_ref());
                // RFC 2918 §4: ignore a refresh for what was not negotiated.
                if negotiated.is_some_and(|n| n.route_refresh && n.families.contains(r.family)) {
                    self.out.push(Output::RouteRefresh(r));
                } else {
                    self.out.push(Output::Event(Event::Ignored {
                        what: format!("ROUTE-REFRESH for {} (not negotiated)", r.family),
                    }));
                }
            }
            (state, _) => {
                // RFC 6608: say in which state the unexpected message came.
                let sub = match state {
                    ConnState::OpenSent => FsmSubcode::UnexpectedMessageInOpenSent,
                    ConnState::OpenConfirm => FsmSubcode::UnexpectedMessageInOpenConfirm,
                    ConnState::Established => FsmSubcode::UnexpectedMessageInEstablished,
                    ConnState::OpenDelay | ConnState::Connecting => FsmSubcode::Unspecified,
                };
                let n = Notification::new(ErrorCode::Fsm(sub), vec![]);
                self.notify(id, &n);
                self.fail(
                    now,
                    id,
                    DownReason::NotificationSent { notification: n },
                    true,
                );
            }
        }
    }

    fn malformed(&mut self, now: Instant, id: ConnId, e: DecodeError) {
        let established = self
            .find(id)
            .is_some_and(|c| c.state == ConnState::Established);
        match (e, established) {
            // RFC 7606: the session stays up; the NLRI become withdrawals.
            (DecodeError::Update(u), true) if u.action == Action::TreatAsWithdraw => {
                self.out.push(Output::Event(Event::MalformedUpdate {
                    error: u.to_string(),
                }));
                if let Some(update) = u.update {
                    self.out.push(Output::TreatAsWithdraw(update));
                }
            }
            // AFI/SAFI disable is answered with the other approach RFC 7606
            // allows, a session reset: simpler, and the peer learns why.
            (e, _) => {
                let n = e.notification();
                self.last_error = Some(e.to_string());
                self.notify(id, &n);
                self.fail(
                    now,
                    id,
                    DownReason::NotificationSent { notification: n },
                    true,
                );
            }
        }
    }

    fn received_open(&mut self, now: Instant, id: ConnId, state: ConnState, open: Open) {
        let negotiated = match negotiate::negotiate(&self.config, &open) {
            Ok(n) => n,
            Err(n) => {
                self.last_error = Some(format!("OPEN refused: {n}"));
                // DelayOpen: our OPEN was not sent; RFC 4271 §8.2.2 still
                // answers with the NOTIFICATION.
                self.notify(id, &n);
                self.fail(
                    now,
                    id,
                    DownReason::NotificationSent { notification: n },
                    true,
                );
                return;
            }
        };
        if !self.resolve_collision(id, &negotiated) {
            return;
        }
        if state == ConnState::OpenDelay {
            let open = negotiate::local_open(&self.config);
            self.send_message(id, &Message::Open(open));
        }
        self.send_message(id, &Message::Keepalive);
        let hold = negotiated.hold_time;
        let keepalive = negotiated.keepalive;
        if let Some(c) = self.find_mut(id) {
            c.state = ConnState::OpenConfirm;
            c.delay_open = None;
            c.hold =
                (!hold.is_disabled()).then(|| now + Duration::from_secs(u64::from(hold.seconds())));
            c.keepalive = (!keepalive.is_zero()).then(|| now + keepalive);
            c.negotiated = Some(negotiated);
        }
    }

    /// RFC 4271 §6.8. Returns whether connection `id`, whose OPEN was just
    /// accepted, goes on.
    fn resolve_collision(&mut self, id: ConnId, negotiated: &Negotiated) -> bool {
        let Some(other) = self.conns.iter().find(|c| c.id != id) else {
            return true;
        };
        let (other_id, other_state) = (other.id, other.state);
        let this_dir = self.find(id).map_or(Direction::Inbound, |c| c.direction);
        match other_state {
            ConnState::Established => {
                let peer_gr = other
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.peer_graceful_restart.is_some());
                if peer_gr {
                    // RFC 4724 §4: a new OPEN from a peer whose session is
                    // up means it restarted; the old session ends
                    // gracefully and the new one takes over.
                    if let Some(pos) = self.conns.iter().position(|c| c.id == other_id) {
                        let old = self.conns.remove(pos);
                        self.out.push(Output::Close(other_id));
                        self.established_down(DownReason::PeerRestarted, true, old.negotiated);
                    }
                    true
                } else {
                    self.collision_close(id, this_dir.flip());
                    false
                }
            }
            ConnState::OpenConfirm => {
                let keep = surviving_direction(
                    self.config.local_id,
                    negotiated.peer_id,
                    self.config.local_as.get(),
                    negotiated.peer_as.get(),
                );
                if keep == this_dir {
                    self.collision_close(other_id, this_dir);
                    true
                } else {
                    self.collision_close(id, keep);
                    false
                }
            }
            // The other connection has not got the peer's OPEN yet; when it
            // does, this one will be in OpenConfirm and the rule applies.
            _ => true,
        }
    }

    fn collision_close(&mut self, id: ConnId, kept: Direction) {
        let closed = kept.flip();
        let n = Notification::new(
            ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
            vec![],
        );
        self.notify(id, &n);
        self.conns.retain(|c| c.id != id);
        self.out.push(Output::Close(id));
        self.out
            .push(Output::Event(Event::CollisionResolved { kept, closed }));
    }

    fn establish(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.find_mut(id) else { return };
        c.state = ConnState::Established;
        c.established_at = Some(now);
        let negotiated = c.negotiated.clone();
        // A connection still being opened is not needed any more.
        let pending: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.state == ConnState::Connecting)
            .map(|c| c.id)
            .collect();
        for p in pending {
            self.drop_conn(p);
        }
        self.connect_retry = None;
        self.last_error = None;
        if let Some(n) = negotiated {
            self.out.push(Output::Established(Box::new(n)));
        }
    }

    /// A connection ends because of `reason`. `counted` failures feed the
    /// idle-hold backoff.
    fn fail(&mut self, now: Instant, id: ConnId, reason: DownReason, counted: bool) {
        let Some(pos) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.conns.remove(pos);
        self.out.push(Output::Close(id));
        if c.state == ConnState::Established {
            let stable = c
                .established_at
                .is_some_and(|t| now.saturating_duration_since(t) >= self.config.stable_after);
            if stable {
                self.failures = 0;
            }
            self.failures += 1;
            self.last_error = Some(reason.to_string());
            self.established_down(reason, false, c.negotiated);
        } else {
            if counted {
                self.failures += 1;
            }
            self.last_error.get_or_insert_with(|| reason.to_string());
            self.out.push(Output::Event(Event::ConnectionFailed {
                reason: reason.to_string(),
            }));
        }
        if self.running && self.conns.is_empty() {
            // RFC 4271 §8.1.1 DampPeerOscillations: back off, doubling.
            let exp = self.failures.saturating_sub(1).min(16);
            let wait = self
                .config
                .idle_hold
                .saturating_mul(1 << exp)
                .min(self.config.idle_hold_max);
            self.idle_hold = Some(now + wait);
            self.connect_retry = None;
        }
    }

    /// Reports the end of an established session, deciding whether
    /// graceful restart applies.
    fn established_down(
        &mut self,
        reason: DownReason,
        forced_graceful: bool,
        negotiated: Option<Negotiated>,
    ) {
        let gr = negotiated
            .as_ref()
            .and_then(|n| n.peer_graceful_restart.as_ref());
        let graceful = match (&reason, gr, &negotiated) {
            (_, None, _) | (_, _, None) => false,
            (_, Some(g), _) if g.restart_time == 0 => false,
            _ if forced_graceful => true,
            (DownReason::ConnectionLost | DownReason::PeerRestarted, _, _) => true,
            // RFC 8538 §4: with the N bit, NOTIFICATIONs (and the hold
            // timer) no longer end graceful restart, except Hard Reset.
            (DownReason::HoldTimerExpired, _, Some(n)) => n.graceful_notification,
            (
                DownReason::NotificationReceived { notification }
                | DownReason::NotificationSent { notification },
                _,
                Some(n),
            ) => {
                n.graceful_notification
                    && notification.error != ErrorCode::Cease(CeaseSubcode::HardReset)
            }
            (DownReason::Stopped { .. }, _, _) => false,
        };
        let restart_time = if graceful {
            Duration::from_secs(u64::from(gr.map_or(0, |g| g.restart_time)))
        } else {
            Duration::ZERO
        };
        self.record_down(Down {
            reason,
            graceful,
            restart_time,
        });
    }

    fn record_down(&mut self, down: Down) {
        self.last_down = Some(down.clone());
        self.out.push(Output::Down(down));
    }

    /// Gives up every connection attempt still under way.
    fn drop_connecting(&mut self) {
        let connecting: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.state == ConnState::Connecting)
            .map(|c| c.id)
            .collect();
        for c in connecting {
            self.drop_conn(c);
        }
    }

    /// Closes a connection that never came up, without a NOTIFICATION.
    fn drop_conn(&mut self, id: ConnId) {
        if let Some(pos) = self.conns.iter().position(|c| c.id == id) {
            self.conns.remove(pos);
            self.out.push(Output::Close(id));
        }
    }

    fn notify(&mut self, id: ConnId, n: &Notification) {
        let n = match self.find(id) {
            Some(c) => outgoing(c, n),
            None => n.clone(),
        };
        self.send_message(id, &Message::Notification(n));
    }

    fn send_message(&mut self, id: ConnId, m: &Message) {
        self.out.push(Output::Send(id, encode(m)));
    }

    fn find(&self, id: ConnId) -> Option<&Conn> {
        self.conns.iter().find(|c| c.id == id)
    }

    fn find_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    /// Derives the reported state and collects the outputs of this call.
    fn finish(&mut self) -> Vec<Output> {
        let state = self
            .conns
            .iter()
            .map(|c| match c.state {
                ConnState::Connecting => State::Connect,
                ConnState::OpenDelay if c.direction == Direction::Outbound => State::Connect,
                ConnState::OpenDelay => State::Active,
                ConnState::OpenSent => State::OpenSent,
                ConnState::OpenConfirm => State::OpenConfirm,
                ConnState::Established => State::Established,
            })
            .max()
            .unwrap_or(if self.running && self.idle_hold.is_none() {
                State::Active
            } else {
                State::Idle
            });
        if state != self.state {
            self.out.push(Output::StateChanged {
                from: self.state,
                to: state,
            });
            self.state = state;
        }
        std::mem::take(&mut self.out)
    }
}

impl Direction {
    fn flip(self) -> Direction {
        match self {
            Direction::Outbound => Direction::Inbound,
            Direction::Inbound => Direction::Outbound,
        }
    }
}

/// RFC 8538 §5.1: with the N bit in use, a Cease that should end graceful
/// restart goes out wrapped in a Hard Reset.
fn outgoing(c: &Conn, n: &Notification) -> Notification {
    let n_bit = c
        .negotiated
        .as_ref()
        .is_some_and(|neg| neg.graceful_notification);
    if n_bit && c.state == ConnState::Established && n.wants_hard_reset() {
        Notification::hard_reset(n)
    } else {
        n.clone()
    }
}

/// RFC 4271 §6.8: the connection opened by the speaker with the higher BGP
/// identifier survives; RFC 6286 §2.3 breaks a tie on the AS number.
fn surviving_direction(
    local_id: RouterId,
    peer_id: RouterId,
    local_as: u32,
    peer_as: u32,
) -> Direction {
    let local_wins = match local_id.get().cmp(&peer_id.get()) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => local_as > peer_as,
    };
    if local_wins {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

fn encode(m: &Message) -> Bytes {
    // OPEN, KEEPALIVE and NOTIFICATION encode the same in any context, and
    // ours always fit.
    Bytes::from(m.to_bytes(&SessionContext::default()).unwrap_or_default())
}

/// Whether `bytes`, whole messages as we encode them, hold an UPDATE or a
/// KEEPALIVE (RFC 4271 §8.2.2: only those restart the KeepaliveTimer).
fn restarts_keepalive(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some(&[l0, l1, t]) = rest.get(16..HEADER_LEN) {
        if matches!(
            MessageType::from(t),
            MessageType::Update | MessageType::Keepalive
        ) {
            return true;
        }
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        match rest.get(len.max(HEADER_LEN)..) {
            Some(r) => rest = r,
            None => break,
        }
    }
    false
}

#[cfg(test)]
mod tests;
