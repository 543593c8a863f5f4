//! The task that owns the speaker: feeds it network events, control
//! queries and time, and carries out its outputs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bgp::fsm::ConnId;
use bgp::speaker::{Input, Output, PeerEvent, PeerEventKind, Speaker};
use bgp::types::Prefix;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::NetEvent;
use super::conn::{WriterCmd, read_loop, write_loop};
use super::ifaddr::{canonical, local_end};
use super::md5_hint::Md5Hints;
use super::transport;
use crate::config::Config;
use crate::control::protocol::{FibCounts, NeighborSummary, Query, ResponseBody};

/// Ids the driver gives inbound connections (the speaker's sessions name
/// their own outbound ones; the top bit keeps the two apart).
const INBOUND: u64 = 1 << 63;

/// How long we wait for a connection attempt before the session's connect
/// retry timer decides again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for NOTIFICATIONs to be written.
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(3);

/// A control query with the channel for its answer.
pub(crate) type ControlRequest = (Query, oneshot::Sender<ResponseBody>);

/// What the driver is built from.
#[derive(Debug)]
pub(crate) struct DriverParts {
    pub(crate) config: Config,
    pub(crate) control: mpsc::Receiver<ControlRequest>,
    /// Requests from the metrics server.
    pub(crate) metrics: mpsc::Receiver<crate::metrics::Request>,
    /// A re-read configuration file (SIGHUP).
    pub(crate) reload: mpsc::Receiver<Config>,
    /// The kernel FIB, unless `fib.enabled` is off.
    pub(crate) fib: Option<crate::fib::Handle>,
    /// The cluster's pod CIDR blocks as the IPAM keeper sees them
    /// (`kubernetes.pod_cidrs: ipam`), for `show ipam`.
    pub(crate) ipam: Option<tokio::sync::watch::Receiver<crate::control::protocol::IpamView>>,
    pub(crate) shutdown: CancellationToken,
}

#[derive(Debug)]
struct Conn {
    writer: mpsc::UnboundedSender<WriterCmd>,
}

/// The speaker and the connections it talks through.
#[derive(Debug)]
pub(crate) struct Driver {
    speaker: Speaker,
    config: Config,
    started: Instant,
    conns: HashMap<ConnId, Conn>,
    /// Connection attempts in flight, with their peer.
    connecting: HashMap<ConnId, (tokio::task::AbortHandle, IpAddr)>,
    md5_hints: Md5Hints,
    listeners: Vec<std::sync::Arc<TcpListener>>,
    events_tx: mpsc::Sender<NetEvent>,
    events: mpsc::Receiver<NetEvent>,
    control: mpsc::Receiver<ControlRequest>,
    reload: mpsc::Receiver<Config>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    next_inbound: u64,
    // metrics: requests from the metrics server, and what the driver saw
    // that the speaker does not keep (its `fib` field is the FIB's counters).
    metrics_rx: mpsc::Receiver<crate::metrics::Request>,
    metrics: crate::metrics::Recorder,
    fib: Option<FibLink>,
    ipam: Option<tokio::sync::watch::Receiver<crate::control::protocol::IpamView>>,
    /// Stopping for good (`podroute agent --cleanup`), not for a restart.
    decommissioned: bool,
}

/// How the driver stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    /// For good: the next start is cold, and peers have dropped our routes.
    pub(crate) decommissioned: bool,
}

/// The driver's side of the FIB: where best paths go. The FIB keeps the
/// state of each prefix; `show routes` asks it.
#[derive(Debug)]
struct FibLink {
    commands: mpsc::UnboundedSender<crate::fib::Command>,
    updates: mpsc::UnboundedReceiver<crate::fib::Update>,
    /// Next-hop sets sent recently: a million routes through the same next
    /// hop share one allocation, here and in the FIB.
    recent: Vec<crate::fib::NextHops>,
    /// Where a route's next hops are put together.
    scratch: Vec<crate::fib::NextHopSpec>,
    /// Best paths not sent yet: prefixes with the same next hops, in order
    /// (sent when the speaker's outputs are done, or when full).
    batch: Option<(crate::fib::NextHops, Vec<Prefix>)>,
}

/// Next-hop sets remembered by [`FibLink::share`].
const RECENT_NEXT_HOPS: usize = 8;

/// A burst absorbed before one settle ends at this many network events,
/// message octets or this long: enough to fold small UPDATEs from many peers
/// into one pass, small enough that a full table still flows on as it
/// arrives (what one settle produces is held in memory at once) and timers
/// and queries hardly wait.
const BURST: usize = 1024;
const BURST_OCTETS: usize = 64 * 1024;
const BURST_TIME: Duration = Duration::from_millis(20);

/// Prefixes per [`crate::fib::Command::Learned`].
const LEARNED_BATCH: usize = 1024;

impl FibLink {
    /// Queues a best-path change for the FIB.
    fn learned(&mut self, prefix: Prefix, hops: crate::fib::NextHops) {
        match &mut self.batch {
            Some((h, prefixes))
                if std::sync::Arc::ptr_eq(h, &hops) && prefixes.len() < LEARNED_BATCH =>
            {
                prefixes.push(prefix)
            }
            _ => {
                self.flush();
                self.batch = Some((hops, vec![prefix]));
            }
        }
    }

    /// Sends the queued best-path changes.
    fn flush(&mut self) {
        if let Some((hops, prefixes)) = self.batch.take() {
            let _ = self
                .commands
                .send(crate::fib::Command::Learned(hops, prefixes));
        }
    }

    /// Sends `cmd` after what is queued; `false` if the FIB is gone.
    fn send(&mut self, cmd: crate::fib::Command) -> bool {
        self.flush();
        self.commands.send(cmd).is_ok()
    }

    /// `scratch` as a shared set: one sent recently if equal, else a new one.
    fn share(&mut self) -> crate::fib::NextHops {
        if let Some(i) = self.recent.iter().position(|r| r[..] == self.scratch[..]) {
            let hops = self.recent[i].clone();
            if i > 0 {
                self.recent[..=i].rotate_right(1);
            }
            return hops;
        }
        let hops: crate::fib::NextHops = self.scratch.as_slice().into();
        self.recent.truncate(RECENT_NEXT_HOPS - 1);
        self.recent.insert(0, hops.clone());
        hops
    }
}

impl Driver {
    /// Binds the listeners and configures the speaker; nothing runs yet.
    pub(crate) async fn new(parts: DriverParts) -> anyhow::Result<Driver> {
        let DriverParts {
            config,
            control,
            metrics: metrics_rx,
            reload,
            fib,
            ipam,
            shutdown,
        } = parts;
        let now = Instant::now();
        let speaker = Speaker::new(config.speaker.clone(), now);
        let (events_tx, events) = mpsc::channel(4096);
        let mut listeners = Vec::new();
        for addr in &config.listen.addresses {
            match transport::listen(*addr, config.listen.port) {
                Ok(l) => {
                    info!(address = %addr, port = config.listen.port, "listening for BGP");
                    listeners.push(std::sync::Arc::new(l));
                }
                // An IPv6 listener on a host without IPv6 is not fatal if
                // another address works.
                Err(e) if config.listen.addresses.len() > 1 => {
                    warn!(address = %addr, port = config.listen.port, "cannot listen: {e}")
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot listen on {addr} port {}: is another BGP daemon running, or is the port below 1024 without CAP_NET_BIND_SERVICE?",
                            config.listen.port
                        )
                    });
                }
            }
        }
        if listeners.is_empty() && !config.listen.addresses.is_empty() {
            anyhow::bail!("could not listen on any address; see the warnings above");
        }
        let d = Driver {
            speaker,
            config,
            started: Instant::now(),
            conns: HashMap::new(),
            connecting: HashMap::new(),
            md5_hints: Md5Hints::default(),
            listeners,
            events_tx,
            events,
            control,
            reload,
            shutdown,
            tasks: JoinSet::new(),
            next_inbound: 0,
            metrics_rx,
            metrics: crate::metrics::Recorder::new(now, fib.is_some()),
            ipam,
            fib: fib.map(|h| FibLink {
                commands: h.commands,
                updates: h.updates,
                recent: Vec::new(),
                scratch: Vec::new(),
                batch: None,
            }),
            decommissioned: false,
        };
        d.install_md5_keys(&BTreeMap::new());
        Ok(d)
    }

    /// TCP-MD5 keys must be on the listening socket before a peer's SYN.
    /// `previous`: keys installed for an older configuration, removed here
    /// when they are gone from this one.
    fn install_md5_keys(&self, previous: &BTreeMap<Prefix, String>) {
        let wanted = md5_keys(&self.config);
        let removed = previous.keys().filter(|k| !wanted.contains_key(k));
        let changes = wanted
            .iter()
            .filter(|(k, pw)| previous.get(*k) != Some(*pw))
            .map(|(k, pw)| (k, Some(pw.as_str())))
            .chain(removed.map(|k| (k, None)));
        for (peers, key) in changes {
            for l in &self.listeners {
                let family_matches = l
                    .local_addr()
                    .is_ok_and(|a| a.is_ipv6() == peers.addr().is_ipv6());
                if !family_matches {
                    continue;
                }
                if let Err(e) = transport::listener_key(l, peers, key) {
                    error!(peers = %peers, "cannot set the TCP-MD5 key on the listening socket: {e}");
                }
            }
        }
    }

    /// Runs until shutdown.
    pub(crate) async fn run(mut self) -> anyhow::Result<Stopped> {
        for l in self.listeners.clone() {
            let tx = self.events_tx.clone();
            let stop = self.shutdown.clone();
            self.tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        r = l.accept() => match r {
                            Ok((stream, remote)) => {
                                if tx.send(NetEvent::Accepted { stream, remote }).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                warn!("accept failed: {e}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        },
                    }
                }
            });
        }
        for peer in self.config.peers.clone() {
            self.feed(Input::AddPeer(peer));
        }
        for route in self.config.originate.clone() {
            self.feed(Input::Originate(route));
        }
        self.send_local_routes();
        // Lets the speaker report a cold start's (empty) initial table now.
        let outs = self.speaker.handle_timeout(Instant::now());
        self.apply(outs);

        loop {
            let deadline = self
                .speaker
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                // metrics: ahead of the network so that /healthz measures
                // whether the loop turns, not whether it is idle.
                Some(req) = self.metrics_rx.recv() => req.answer(&self.speaker, &self.metrics),
                Some(ev) = self.events.recv() => self.net_burst(ev),
                Some((query, reply)) = self.control.recv() => self.control_query(query, reply),
                Some(update) = recv_fib(&mut self.fib) => self.fib_update(update),
                Some(new) = self.reload.recv() => self.reload(new),
                _ = sleep_until(deadline) => {
                    let outs = self.speaker.handle_timeout(Instant::now());
                    self.apply(outs);
                }
            }
        }
        let stopped = Stopped {
            decommissioned: self.decommissioned,
        };
        self.stop().await;
        Ok(stopped)
    }

    /// Graceful stop: every peer is told (or left able to keep our routes,
    /// RFC 4724), queued bytes are written, then everything closes.
    async fn stop(mut self) {
        let graceful = !self.decommissioned;
        if graceful {
            info!(
                "shutting down: closing BGP sessions so peers keep our routes (graceful restart)"
            );
        }
        self.feed(Input::Shutdown { graceful });
        for c in self.conns.values() {
            let _ = c.writer.send(WriterCmd::Close);
        }
        self.conns.clear();
        for (_, (a, _)) in self.connecting.drain() {
            a.abort();
        }
        let _ = tokio::time::timeout(FLUSH_ON_SHUTDOWN, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }

    /// Applies a re-read configuration without touching what did not change.
    fn reload(&mut self, new: Config) {
        match crate::config::reload_plan(&self.config, &new) {
            Err(refused) => {
                for r in &refused {
                    error!("configuration not reloaded: {r}");
                }
            }
            Ok(plan) if plan.inputs.is_empty() => info!("configuration reloaded: nothing changed"),
            Ok(plan) => {
                for line in &plan.summary {
                    info!("configuration reloaded: {line}");
                }
                let restarting = self.config.speaker.graceful_restart.restarting;
                let old = std::mem::replace(&mut self.config, new);
                self.config.speaker.graceful_restart.restarting = restarting;
                self.install_md5_keys(&md5_keys(&old));
                for input in plan.inputs {
                    self.feed(input);
                }
                if old.pod_cidrs != self.config.pod_cidrs {
                    self.send_local_routes();
                }
            }
        }
    }

    /// The transport settings for a connection from `remote`: its peer's,
    /// or the template of the dynamic-neighbour range it falls in.
    fn transport_for(&self, remote: IpAddr) -> Option<bgp::speaker::Transport> {
        if let Some(p) = self.speaker.peer(remote) {
            return Some(p.config().transport.clone());
        }
        self.config
            .speaker
            .dynamic_neighbors
            .iter()
            .find(|d| d.range.contains_addr(remote))
            .map(|d| d.template.transport.clone())
    }

    fn control_query(&mut self, query: Query, reply: oneshot::Sender<ResponseBody>) {
        if matches!(query, Query::Decommission) {
            warn!("decommissioning: peers are told to withdraw our routes; no graceful restart");
            self.decommissioned = true;
            let _ = reply.send(ResponseBody::Stopping {
                message: "stopping for good: peers withdraw our routes".into(),
            });
            self.shutdown.cancel();
            return;
        }
        if matches!(query, Query::Fib) {
            // The FIB thread answers this one itself.
            match &mut self.fib {
                Some(f) => {
                    let (tx, rx) = oneshot::channel();
                    f.send(crate::fib::Command::Show(tx));
                    tokio::spawn(async move {
                        let body = match rx.await {
                            Ok(r) => super::answer::fib(r),
                            Err(_) => ResponseBody::Error {
                                message: "the FIB task is not running; see the agent's log".into(),
                            },
                        };
                        let _ = reply.send(body);
                    });
                }
                None => {
                    let _ = reply.send(ResponseBody::Error {
                        message:
                            "kernel route installation is off (`fib.enabled: false` or --no-fib)"
                                .into(),
                    });
                }
            }
            return;
        }
        if matches!(query, Query::Ipam) {
            let view =
                super::answer::ipam(&self.config, self.ipam.as_ref().map(|r| r.borrow().clone()));
            let _ = reply.send(ResponseBody::Ipam(Box::new(view)));
            return;
        }
        let fib = self.fib.is_some();
        let mut answer =
            super::answer::answer(&self.speaker, &self.config, self.started, fib, query);
        if let ResponseBody::Status(s) = &mut answer
            && fib
        {
            let f = &self.metrics.fib;
            s.fib = Some(FibCounts {
                installed: f.installed,
                not_installed: f.not_installed,
                pending: f.pending,
            });
        }
        self.add_transport_hints(&mut answer);
        self.with_fib_states(answer, reply);
    }

    /// Sends `answer`; for `show routes`, once the FIB thread has filled in
    /// the state of each route (the speaker does not wait for it).
    fn with_fib_states(&mut self, answer: ResponseBody, reply: oneshot::Sender<ResponseBody>) {
        let ResponseBody::Routes { routes } = &answer else {
            let _ = reply.send(answer);
            return;
        };
        let prefixes: Option<Vec<Prefix>> = routes.iter().map(|r| r.prefix.parse().ok()).collect();
        let (Some(f), Some(prefixes)) = (&mut self.fib, prefixes) else {
            let _ = reply.send(answer);
            return;
        };
        let (tx, rx) = oneshot::channel();
        if !f.send(crate::fib::Command::States(prefixes, tx)) {
            let _ = reply.send(answer);
            return;
        }
        tokio::spawn(async move {
            let mut answer = answer;
            if let Ok(states) = rx.await
                && let ResponseBody::Routes { routes } = &mut answer
            {
                super::answer::fill_fib_states(routes, states);
            }
            let _ = reply.send(answer);
        });
    }

    /// A best-path change, with next hops as the FIB resolves them.
    fn fib_learned(&mut self, r: bgp::speaker::RouteUpdate) {
        let Some(f) = &mut self.fib else { return };
        f.scratch.clear();
        f.scratch.extend(r.next_hops.iter().map(|h| {
            crate::fib::NextHopSpec {
                address: h.address,
                link_local: h.link_local,
                peer: h.peer,
                peer_interface: self
                    .speaker
                    .peer(h.peer)
                    .and_then(|p| p.config().transport.interface.clone()),
            }
        }));
        let hops = f.share();
        f.learned(r.prefix, hops);
    }

    /// Our own pod blocks: unreachable (or blackhole) routes for them.
    fn send_local_routes(&mut self) {
        let target = match self.config.fib.pod_cidr_route {
            crate::config::PodCidrRoute::Unreachable => Some(crate::fib::Target::Unreachable),
            crate::config::PodCidrRoute::Blackhole => Some(crate::fib::Target::Blackhole),
            crate::config::PodCidrRoute::None => None,
        };
        let local = target
            .map(|t| {
                self.config
                    .pod_cidrs
                    .iter()
                    .map(|p| (*p, t.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(f) = &mut self.fib {
            f.send(crate::fib::Command::Local(local));
        }
    }

    fn fib_update(&mut self, update: crate::fib::Update) {
        self.metrics.fib = update.stats;
    }

    /// A neighbor with no error of its own to show gets the transport's
    /// guess (TCP-MD5 mismatch), so `show neighbors` says what the log says.
    fn add_transport_hints(&self, body: &mut ResponseBody) {
        let mut fill = |n: &mut NeighborSummary| {
            if n.last_error.is_none()
                && let Some(h) = self.md5_hints.current(n.address)
            {
                n.last_error = Some(h.to_string());
            }
        };
        match body {
            ResponseBody::Neighbors { neighbors } => neighbors.iter_mut().for_each(&mut fill),
            ResponseBody::Neighbor(d) => fill(&mut d.summary),
            _ => {}
        }
    }

    fn maybe_md5_hint(&mut self, peer: IpAddr) {
        let has_password = self
            .speaker
            .peer(peer)
            .is_some_and(|p| p.config().transport.password.is_some());
        if has_password && let Some(h) = self.md5_hints.hint(peer, Instant::now()) {
            warn!(%peer, "{h}");
        }
    }

    fn feed(&mut self, input: Input<'_>) {
        let outs = self.speaker.handle(Instant::now(), input);
        self.apply(outs);
    }

    /// Absorbs `first` and whatever else is queued already (up to [`BURST`]
    /// events, [`BURST_OCTETS`] or [`BURST_TIME`]), then settles once: a
    /// burst of UPDATEs from many peers costs one decision pass and one
    /// UPDATE per peer.
    fn net_burst(&mut self, first: NetEvent) {
        let start = Instant::now();
        let mut octets = first.octets();
        self.net_event(first);
        for _ in 1..BURST {
            if octets >= BURST_OCTETS || start.elapsed() >= BURST_TIME {
                break;
            }
            match self.events.try_recv() {
                Ok(ev) => {
                    octets += ev.octets();
                    self.net_event(ev)
                }
                Err(_) => break,
            }
        }
        let outs = self.speaker.settle(Instant::now());
        self.apply(outs);
    }

    fn absorb(&mut self, input: Input<'_>) {
        self.speaker.absorb(Instant::now(), input);
    }

    /// Absorbs one network event; the caller settles.
    fn net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Accepted { stream, remote } => {
                let remote_ip = canonical(remote.ip());
                self.next_inbound += 1;
                let conn = ConnId(INBOUND | self.next_inbound);
                if let Some(t) = self.transport_for(remote_ip)
                    && let Err(e) = transport::accepted_options(&stream, &t)
                {
                    match e {
                        transport::Accept::TooFar { .. } => {
                            warn!(peer = %remote_ip, "connection refused: {e}");
                            return;
                        }
                        transport::Accept::Io(_) => warn!(peer = %remote_ip, "{e}"),
                    }
                }
                let local = stream
                    .local_addr()
                    .map(|a| local_end(a.ip()))
                    .unwrap_or_else(|_| local_end(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)));
                debug!(peer = %remote_ip, "connection accepted");
                self.start_io(conn, stream);
                self.absorb(Input::Accepted {
                    conn,
                    remote: remote_ip,
                    local,
                });
            }
            NetEvent::Connected { conn, stream } => {
                self.connecting.remove(&conn);
                let local = match stream.local_addr() {
                    Ok(a) => local_end(a.ip()),
                    Err(e) => {
                        self.absorb(Input::ConnectFailed {
                            conn,
                            error: e.to_string(),
                        });
                        return;
                    }
                };
                self.start_io(conn, stream);
                self.absorb(Input::Connected { conn, local });
            }
            NetEvent::ConnectFailed { conn, error } => {
                self.connecting.remove(&conn);
                self.absorb(Input::ConnectFailed { conn, error });
            }
            NetEvent::Message { conn, bytes } => {
                if self.conns.contains_key(&conn) {
                    self.absorb(Input::Message {
                        conn,
                        bytes: &bytes,
                    });
                }
            }
            NetEvent::Closed { conn, error } => {
                if let Some(e) = error {
                    debug!(?conn, "connection error: {e}");
                }
                if self.conns.remove(&conn).is_some() {
                    self.absorb(Input::Closed { conn });
                }
            }
        }
    }

    fn start_io(&mut self, conn: ConnId, stream: tokio::net::TcpStream) {
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(conn, Conn { writer: tx });
        self.tasks
            .spawn(read_loop(conn, rd, self.events_tx.clone()));
        self.tasks.spawn(write_loop(wr, rx));
    }

    fn apply(&mut self, outs: Vec<Output>) {
        // The speaker reports the end of its selection deferral ahead of the
        // best paths that same pass chose (the whole table, after a graceful
        // restart). The FIB takes `Synced` as "the table is complete" and
        // deletes every kept route not relearned by then, so it must come
        // after those paths: sent first, the FIB thread could reconcile in
        // between and take the routes of a restart out of the kernel for a
        // moment (pod traffic gets "network unreachable").
        let mut synced = false;
        for o in outs {
            self.metrics.observe(&o);
            match o {
                Output::Connect {
                    conn,
                    peer,
                    transport,
                } => {
                    let tx = self.events_tx.clone();
                    let handle = self.tasks.spawn(async move {
                        let ev = match transport::connect(peer, &transport, CONNECT_TIMEOUT).await {
                            Ok(stream) => NetEvent::Connected { conn, stream },
                            Err(e) => NetEvent::ConnectFailed {
                                conn,
                                error: e.to_string(),
                            },
                        };
                        let _ = tx.send(ev).await;
                    });
                    self.connecting.insert(conn, (handle, peer));
                }
                Output::Send { conn, bytes } => {
                    if let Some(c) = self.conns.get(&conn) {
                        let _ = c.writer.send(WriterCmd::Send(bytes));
                    }
                }
                Output::Close { conn } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        let _ = c.writer.send(WriterCmd::Close);
                    }
                    if let Some((a, peer)) = self.connecting.remove(&conn) {
                        // The session gave up on an attempt that never got an
                        // answer (its connect-retry timer fired).
                        a.abort();
                        self.maybe_md5_hint(peer);
                    }
                }
                Output::Route(r) => {
                    debug!(prefix = %r.prefix, next_hops = r.next_hops.len(), "best path changed");
                    self.fib_learned(r);
                }
                Output::Event(e) => {
                    if matches!(e.kind, PeerEventKind::Established) {
                        self.md5_hints.forget(e.peer);
                    }
                    log_event(&e)
                }
                Output::InitialSyncDone => {
                    info!("initial routing table complete");
                    synced = true;
                }
            }
        }
        // The best-path changes of this input, in one go; then, if the
        // initial table is complete, that it is.
        if let Some(f) = &mut self.fib {
            f.flush();
            if synced {
                f.send(crate::fib::Command::Synced);
            }
        }
    }
}

/// Every TCP-MD5 key the listeners need: one per peer, one per dynamic
/// neighbour range.
fn md5_keys(config: &Config) -> BTreeMap<Prefix, String> {
    let peers = config
        .peers
        .iter()
        .filter_map(|p| Some((Prefix::host(p.address), p.transport.password.clone()?)));
    let ranges = config
        .speaker
        .dynamic_neighbors
        .iter()
        .filter_map(|d| Some((d.range, d.template.transport.password.clone()?)));
    peers.chain(ranges).collect()
}

/// The FIB's next update; never, without a FIB.
async fn recv_fib(fib: &mut Option<FibLink>) -> Option<crate::fib::Update> {
    match fib {
        Some(f) => f.updates.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn log_event(e: &PeerEvent) {
    let peer = e.peer;
    match &e.kind {
        PeerEventKind::StateChanged { from, to } => info!(%peer, "session {from} -> {to}"),
        PeerEventKind::Established => info!(%peer, "session established"),
        PeerEventKind::Down { down } => {
            let graceful = if down.graceful {
                " (graceful restart: routes kept as stale)"
            } else {
                ""
            };
            warn!(%peer, "session down: {}{graceful}", down.reason)
        }
        PeerEventKind::Session { event } => match event {
            bgp::fsm::Event::ConnectionFailed { reason } => {
                info!(%peer, "connection failed: {reason}")
            }
            other => info!(%peer, "{other:?}"),
        },
        PeerEventKind::Refused { reason } => warn!(%peer, "connection refused: {reason}"),
        PeerEventKind::MaxPrefix {
            family,
            accepted,
            limit,
            restart,
        } => warn!(
            %peer,
            "{family}: {accepted} prefixes exceed the limit of {limit}{}",
            if *restart { "; closing the session" } else { "" }
        ),
        PeerEventKind::MissingPolicy { name } => {
            error!(%peer, "policy {name} is not defined; rejecting everything")
        }
        PeerEventKind::NoNextHop { family } => warn!(
            %peer,
            "cannot send {family} routes: no {family} next hop on this session (set next_hop_ipv4/next_hop_ipv6)"
        ),
        PeerEventKind::RouteRefreshSent { family } => {
            info!(%peer, "asked for a route refresh of {family}")
        }
        PeerEventKind::StaleSwept { paths } => info!(%peer, "removed {paths} stale paths"),
        PeerEventKind::Warning { message } => warn!(%peer, "{message}"),
    }
}

#[cfg(test)]
mod tests;
