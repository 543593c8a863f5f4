//! One BGP session as the load tools run it: establish (active or passive), then a reader
//! thread (frames in place in a 1 MiB buffer and hands UPDATE bodies to an [`Inbound`]) and a
//! writer thread (KEEPALIVEs at a third of the hold time, and big precomputed writes on
//! request). Both stop when the handle is dropped: a Cease NOTIFICATION, then the socket
//! is shut down.
//!
//! The speaker here is deliberately minimal: it announces 4-octet AS numbers, multiprotocol
//! for the families asked, optionally route refresh, and nothing else (no extended messages,
//! no ADD-PATH, no graceful restart), and it insists the peer supports 4-octet AS numbers
//! and those families. It does not enforce the hold timer on the peer (a target busy with a
//! million routes may be late with its KEEPALIVEs; the benchmark wants numbers, not resets).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bgp::types::{Asn, Family as BgpFamily, HoldTime, RouterId};
use bgp::wire::{
    Capability, Frame, HEADER_LEN, MAX_MESSAGE_LEN, Message, MessageType, Notification, Open,
    SessionContext, frame,
};

use super::netns::{self, Netns};
use super::prefixes::{Updates, bench_context};
use crate::types::Family;

/// Socket buffers (send and receive) unless a config says otherwise.
pub const DEFAULT_SOCKET_BUFFER: usize = 8 << 20;
/// The reader's buffer.
const READ_BUFFER: usize = 1 << 20;
/// How often blocked reads wake up to look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Large writes go out in pieces this big, checking the stop flag between them.
const WRITE_PIECE: usize = 1 << 20;

/// Who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Connect to the peer's port (retrying until it listens).
    Connect,
    /// Listen on the local address and accept the peer.
    Listen,
}

/// One session's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our address (configured in the namespace); also the loader's default next hop.
    pub local_addr: IpAddr,
    /// Our AS.
    pub local_asn: u32,
    /// The target's address.
    pub peer_addr: IpAddr,
    /// The target's AS (checked against its OPEN).
    pub peer_asn: u32,
    /// Connect or listen.
    pub mode: Mode,
    /// The BGP port: the peer's when connecting, ours when listening.
    pub port: u16,
    /// Our BGP identifier; from `local_addr` when `None` (IPv4: the address; IPv6: its low
    /// 32 bits).
    pub router_id: Option<Ipv4Addr>,
    /// Hold time we offer (seconds; 0 or at least 3).
    pub hold_time: u16,
    /// Families we announce multiprotocol capabilities for (and require from the peer).
    pub families: Vec<Family>,
    /// Announce the route refresh capability.
    pub route_refresh: bool,
    /// SO_SNDBUF and SO_RCVBUF (forced).
    pub socket_buffer: usize,
    /// How long connecting or accepting plus the OPEN exchange may take.
    pub establish_timeout: Duration,
}

impl SessionConfig {
    /// Connect from `local_addr` (AS `local_asn`) to `peer_addr:179` (AS `peer_asn`); the
    /// family of `local_addr`; hold time 90 s.
    pub fn new(local_addr: IpAddr, local_asn: u32, peer_addr: IpAddr, peer_asn: u32) -> Self {
        SessionConfig {
            local_addr,
            local_asn,
            peer_addr,
            peer_asn,
            mode: Mode::Connect,
            port: 179,
            router_id: None,
            hold_time: 90,
            families: vec![Family::of(local_addr)],
            route_refresh: true,
            socket_buffer: DEFAULT_SOCKET_BUFFER,
            establish_timeout: Duration::from_secs(60),
        }
    }

    /// Listen on `local_addr:port` instead of connecting.
    pub fn listen(mut self) -> Self {
        self.mode = Mode::Listen;
        self
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the families.
    pub fn families(mut self, families: &[Family]) -> Self {
        self.families = families.to_vec();
        self
    }

    /// Sets the hold time offered.
    pub fn hold_time(mut self, seconds: u16) -> Self {
        self.hold_time = seconds;
        self
    }

    /// Sets the BGP identifier.
    pub fn router_id(mut self, id: Ipv4Addr) -> Self {
        self.router_id = Some(id);
        self
    }

    /// Sets how long establishing may take.
    pub fn establish_timeout(mut self, timeout: Duration) -> Self {
        self.establish_timeout = timeout;
        self
    }

    fn router_id_value(&self) -> Result<RouterId> {
        let id = self
            .router_id
            .map(u32::from)
            .unwrap_or(match self.local_addr {
                IpAddr::V4(a) => u32::from(a),
                IpAddr::V6(a) => (u128::from(a) as u32).max(1),
            });
        RouterId::new(id).map_err(|_| anyhow!("BGP identifier 0.0.0.0"))
    }

    /// Our OPEN.
    pub(crate) fn open(&self) -> Result<Vec<u8>> {
        let mut caps: Vec<Capability> = self
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(bgp_family(*f)))
            .collect();
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        caps.push(Capability::FourOctetAs(Asn::new(self.local_asn)));
        let hold = HoldTime::new(self.hold_time)
            .map_err(|_| anyhow!("hold time {} (must be 0 or at least 3)", self.hold_time))?;
        let open = Open::new(
            Asn::new(self.local_asn),
            hold,
            self.router_id_value()?,
            caps,
        );
        Message::Open(open)
            .to_bytes(&SessionContext::default())
            .context("encode OPEN")
    }

    /// Checks the peer's OPEN; returns the negotiated hold time.
    pub(crate) fn check_open(&self, open: &Open) -> Result<u16> {
        let asn = open.asn().get();
        if asn != self.peer_asn {
            bail!(
                "peer {} is AS {asn}, expected {}",
                self.peer_addr,
                self.peer_asn
            );
        }
        if !open
            .capabilities()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
        {
            bail!(
                "peer {} lacks the 4-octet AS capability the tools need",
                self.peer_addr
            );
        }
        for f in &self.families {
            let want = bgp_family(*f);
            if !open
                .capabilities()
                .any(|c| *c == Capability::Multiprotocol(want))
            {
                bail!(
                    "peer {} does not announce multiprotocol {want}",
                    self.peer_addr
                );
            }
        }
        let theirs = open.hold_time.seconds();
        if theirs == 1 || theirs == 2 {
            bail!("peer {} offers hold time {theirs}", self.peer_addr);
        }
        Ok(theirs.min(self.hold_time))
    }
}

pub(crate) fn bgp_family(f: Family) -> BgpFamily {
    match f {
        Family::Ipv4 => BgpFamily::IPV4_UNICAST,
        Family::Ipv6 => BgpFamily::IPV6_UNICAST,
    }
}

/// A KEEPALIVE.
pub(crate) fn keepalive() -> [u8; HEADER_LEN] {
    let mut k = [0xFF; HEADER_LEN];
    k[16] = 0;
    k[17] = HEADER_LEN as u8;
    k[18] = 4;
    k
}

/// Cease / Administrative Shutdown.
pub(crate) fn cease() -> Vec<u8> {
    Message::Notification(Notification::admin_shutdown("bench tool stopped"))
        .to_bytes(&SessionContext::default())
        .unwrap_or_default()
}

/// When a big write started and finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendStamps {
    /// Just before the first octet was handed to the socket.
    pub started: Instant,
    /// Just after the last octet was handed to the socket (queued in the send buffer, not
    /// necessarily read by the peer yet).
    pub finished: Instant,
    /// Messages written.
    pub messages: usize,
    /// Octets written.
    pub octets: usize,
}

impl SendStamps {
    /// `finished − started`.
    pub fn duration(&self) -> Duration {
        self.finished - self.started
    }
}

/// What the session learnt when it came up.
#[derive(Debug, Clone)]
pub struct Established {
    /// When the peer's KEEPALIVE confirmed our OPEN.
    pub at: Instant,
    /// The peer's OPEN.
    pub peer_open: Open,
    /// The negotiated hold time (seconds).
    pub hold_time: u16,
    /// Our end.
    pub local: SocketAddr,
    /// The peer's end.
    pub peer: SocketAddr,
}

/// Message counters (read with [`Ordering::Relaxed`]).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    octets_in: AtomicU64,
    messages_in: AtomicU64,
    updates_in: AtomicU64,
    keepalives_out: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// Octets read.
    pub octets_in: u64,
    /// Messages read (after the OPEN exchange).
    pub messages_in: u64,
    /// UPDATEs read.
    pub updates_in: u64,
    /// KEEPALIVEs written.
    pub keepalives_out: u64,
}

/// A precomputed write the writer thread performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    /// Every announcement, then End-of-RIB.
    Announce,
    /// Every withdrawal.
    Withdraw,
}

impl JobKind {
    fn index(self) -> usize {
        match self {
            JobKind::Announce => 0,
            JobKind::Withdraw => 1,
        }
    }
}

pub(crate) struct Job {
    kind: JobKind,
    updates: Arc<Updates>,
}

/// Receives what the peer sends, on the reader thread.
pub(crate) trait Inbound: Send + 'static {
    /// One UPDATE body (without the header). An error closes the session.
    fn update(&mut self, body: &[u8]) -> Result<(), String>;
    /// Every message of one read has been handed over; `at` is when the read returned.
    fn batch(&mut self, at: Instant);
    /// The session is over.
    fn closed(&mut self, why: &str);
}

#[derive(Default)]
struct State {
    established: Option<Established>,
    closed: Option<String>,
    jobs: [Option<Result<SendStamps, String>>; 2],
    /// A clone of the connected socket, to shut it down from `Drop`.
    stream: Option<TcpStream>,
    writer_done: bool,
}

pub(crate) struct Shared {
    stop: AtomicBool,
    counters: Counters,
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.cond.notify_all();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn close(&self, why: String) {
        self.update(|s| {
            if s.closed.is_none() {
                s.closed = Some(why);
            }
        });
    }

    /// Waits until `f` gives an answer, the session closes, or `timeout` passes.
    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        f: impl FnMut(&State) -> Option<T>,
    ) -> Result<T> {
        wait_on(
            self.lock(),
            &self.cond,
            timeout,
            what,
            |s| s.closed.as_deref(),
            f,
        )
    }
}

/// Waits on `cond` until `f` gives an answer for the guarded state, `closed`
/// says the session is gone, or `timeout` passes.
pub(crate) fn wait_on<S, T>(
    mut guard: MutexGuard<'_, S>,
    cond: &Condvar,
    timeout: Duration,
    what: &str,
    closed: impl Fn(&S) -> Option<&str>,
    mut f: impl FnMut(&S) -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f(&guard) {
            return Ok(v);
        }
        if let Some(why) = closed(&guard) {
            bail!("{what}: the session is closed: {why}");
        }
        let now = Instant::now();
        if now >= deadline {
            bail!("{what}: not within {timeout:?}");
        }
        guard = cond
            .wait_timeout(guard, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A running session (crate-internal; the loader and the collector wrap it).
pub(crate) struct Session {
    shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    peer: String,
    _ns: Netns,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.lock();
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("established", &s.established.as_ref().map(|e| e.at))
            .field("closed", &s.closed)
            .finish()
    }
}

impl Session {
    /// Binds the listening socket now (passive mode), then establishes and runs the session
    /// on a thread.
    pub(crate) fn start(ns: Netns, cfg: SessionConfig, inbound: impl Inbound) -> Result<Session> {
        let open = cfg.open()?;
        let listener = match cfg.mode {
            Mode::Listen => Some(netns::listen_on(
                &ns,
                SocketAddr::new(cfg.local_addr, cfg.port),
                cfg.socket_buffer,
            )?),
            Mode::Connect => None,
        };
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            counters: Counters::default(),
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let (tx, rx) = mpsc::channel();
        let peer = format!("{}:{} (AS {})", cfg.peer_addr, cfg.port, cfg.peer_asn);
        let thread = {
            let shared = Arc::clone(&shared);
            let ns = ns.clone();
            thread::Builder::new()
                .name(format!("bgp-{}", cfg.peer_addr))
                .spawn(move || run(ns, cfg, open, listener, shared, rx, inbound))
                .context("spawn the session thread")?
        };
        Ok(Session {
            shared,
            jobs: Some(tx),
            thread: Some(thread),
            peer,
            _ns: ns,
        })
    }

    pub(crate) fn wait_established(&self, timeout: Duration) -> Result<Established> {
        self.shared
            .wait(timeout, &format!("session with {}", self.peer), |s| {
                s.established.clone()
            })
    }

    pub(crate) fn established(&self) -> Option<Established> {
        self.shared.lock().established.clone()
    }

    pub(crate) fn closed(&self) -> Option<String> {
        self.shared.lock().closed.clone()
    }

    pub(crate) fn stats(&self) -> SessionStats {
        let c = &self.shared.counters;
        SessionStats {
            octets_in: c.octets_in.load(Ordering::Relaxed),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            updates_in: c.updates_in.load(Ordering::Relaxed),
            keepalives_out: c.keepalives_out.load(Ordering::Relaxed),
        }
    }

    /// Queues a precomputed write (after establishment, if not yet up).
    pub(crate) fn submit(&self, kind: JobKind, updates: Arc<Updates>) -> Result<()> {
        if let Some(why) = self.closed() {
            bail!("session with {} is closed: {why}", self.peer);
        }
        self.shared.update(|s| s.jobs[kind.index()] = None);
        self.jobs
            .as_ref()
            .ok_or_else(|| anyhow!("stopping"))?
            .send(Job { kind, updates })
            .map_err(|_| anyhow!("session with {} is closed", self.peer))
    }

    pub(crate) fn wait_job(&self, kind: JobKind, timeout: Duration) -> Result<SendStamps> {
        let what = format!("{kind:?} to {}", self.peer);
        self.shared
            .wait(timeout, &what, |s| s.jobs[kind.index()].clone())?
            .map_err(|e| anyhow!("{what}: {e}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The writer sees the channel close, sends a Cease and shuts the socket down for
        // writing; if it is stuck in a write, the forced shutdown below frees it.
        drop(self.jobs.take());
        self.shared.stop.store(true, Ordering::Relaxed);
        let grace = Instant::now() + Duration::from_secs(1);
        {
            let mut s = self.shared.lock();
            while !s.writer_done && s.stream.is_some() && Instant::now() < grace {
                s = self
                    .shared
                    .cond
                    .wait_timeout(s, Duration::from_millis(20))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if let Some(stream) = &s.stream {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// In-place framing over one big buffer.
pub(crate) struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl FrameBuf {
    pub(crate) fn new(size: usize) -> FrameBuf {
        FrameBuf {
            buf: vec![0; size.max(2 * MAX_MESSAGE_LEN)],
            start: 0,
            end: 0,
        }
    }

    /// Room to read into; moves a partial message to the front when the tail gets short.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < MAX_MESSAGE_LEN {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    pub(crate) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next whole message (header included), if one is buffered.
    pub(crate) fn next(&mut self) -> Result<Option<(MessageType, &[u8])>, String> {
        let ctx = bench_context();
        match frame(&self.buf[self.start..self.end], &ctx) {
            Ok(Frame::Message { len, msg_type }) => {
                let m = &self.buf[self.start..self.start + len];
                self.start += len;
                Ok(Some((msg_type, m)))
            }
            Ok(Frame::Incomplete { .. }) => Ok(None),
            Err(e) => Err(format!("bad message header: {e}")),
        }
    }
}

fn run(
    ns: Netns,
    cfg: SessionConfig,
    open: Vec<u8>,
    listener: Option<TcpListener>,
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<Job>,
    mut inbound: impl Inbound,
) {
    let result = establish(&ns, &cfg, &open, listener.as_ref(), &shared);
    drop(listener);
    let (stream, est, fb) = match result {
        Ok(v) => v,
        Err(e) => {
            let why = format!("{e:#}");
            inbound.closed(&why);
            shared.close(why);
            return;
        }
    };
    let writer_stream = match stream
        .try_clone()
        .and_then(|w| Ok((w, stream.try_clone()?)))
    {
        Ok((w, for_drop)) => {
            shared.update(|s| s.stream = Some(for_drop));
            w
        }
        Err(e) => {
            shared.close(format!("clone the socket: {e}"));
            return;
        }
    };
    let keepalive_every = (est.hold_time > 0)
        .then(|| Duration::from_secs(u64::from(est.hold_time) / 3).max(Duration::from_secs(1)));
    shared.update(|s| s.established = Some(est));
    let writer = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("bgp-writer".into())
            .spawn(move || {
                write_loop(writer_stream, jobs, keepalive_every, &shared);
                shared.update(|s| s.writer_done = true);
            })
    };
    let why = match writer {
        Ok(writer) => {
            let why = read_loop(stream, fb, &shared, &mut inbound);
            shared.stop.store(true, Ordering::Relaxed);
            if let Some(s) = &shared.lock().stream {
                let _ = s.shutdown(Shutdown::Both);
            }
            let _ = writer.join();
            why
        }
        Err(e) => format!("spawn the writer thread: {e}"),
    };
    inbound.closed(&why);
    shared.close(why);
}

/// Connects or accepts, then exchanges OPEN and KEEPALIVE.
fn establish(
    ns: &Netns,
    cfg: &SessionConfig,
    open: &[u8],
    listener: Option<&TcpListener>,
    shared: &Shared,
) -> Result<(TcpStream, Established, FrameBuf)> {
    let deadline = Instant::now() + cfg.establish_timeout;
    let stop = || shared.stopping();
    let mut stream = match listener {
        Some(l) => netns::accept_from(l, cfg.peer_addr, deadline, &stop)?,
        None => netns::connect_from(
            ns,
            cfg.local_addr,
            SocketAddr::new(cfg.peer_addr, cfg.port),
            cfg.socket_buffer,
            deadline,
            &stop,
        )?,
    };
    let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
    stream.set_read_timeout(Some(POLL))?;
    stream.write_all(open).context("send OPEN")?;
    let mut fb = FrameBuf::new(READ_BUFFER);
    let mut peer_open: Option<(Open, u16)> = None;
    loop {
        while let Some((t, msg)) = fb.next().map_err(|e| anyhow!("from {peer}: {e}"))? {
            let decoded = Message::decode(msg, &SessionContext::default());
            match (t, decoded, &peer_open) {
                (MessageType::Open, Ok(Message::Open(o)), None) => match cfg.check_open(&o) {
                    Ok(hold) => {
                        stream.write_all(&keepalive()).context("send KEEPALIVE")?;
                        peer_open = Some((o, hold));
                    }
                    Err(e) => {
                        let n = Notification::new(bgp::wire::ErrorCode::from_wire(2, 0), vec![]);
                        let _ = stream.write_all(
                            &Message::Notification(n)
                                .to_bytes(&SessionContext::default())
                                .unwrap_or_default(),
                        );
                        return Err(e);
                    }
                },
                (MessageType::Keepalive, _, Some((o, hold))) => {
                    let est = Established {
                        at: Instant::now(),
                        peer_open: o.clone(),
                        hold_time: *hold,
                        local,
                        peer,
                    };
                    stream.set_read_timeout(Some(POLL))?;
                    return Ok((stream, est, fb));
                }
                (MessageType::Notification, Ok(Message::Notification(n)), _) => {
                    bail!("{peer} sent a NOTIFICATION: {n}")
                }
                (t, Err(e), _) => bail!("{peer} sent a bad {t}: {e}"),
                (t, _, _) => bail!("{peer} sent an unexpected {t} while establishing"),
            }
        }
        if shared.stopping() {
            bail!("stopped while establishing with {peer}");
        }
        if Instant::now() >= deadline {
            bail!("no OPEN and KEEPALIVE from {peer} in time");
        }
        match stream.read(fb.spare()) {
            Ok(0) => bail!("{peer} closed the connection while establishing"),
            Ok(n) => fb.filled(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("read from {peer}")),
        }
    }
}

/// Reads until the peer closes, an error, or the stop flag; returns why it ended.
fn read_loop(
    mut stream: TcpStream,
    mut fb: FrameBuf,
    shared: &Shared,
    inbound: &mut impl Inbound,
) -> String {
    let c = &shared.counters;
    // Messages that arrived with the peer's KEEPALIVE.
    let mut at = Instant::now();
    loop {
        let mut any = false;
        loop {
            let (t, msg) = match fb.next() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(e) => return e,
            };
            any = true;
            c.messages_in.fetch_add(1, Ordering::Relaxed);
            match t {
                MessageType::Update => {
                    c.updates_in.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = inbound.update(&msg[HEADER_LEN..]) {
                        return e;
                    }
                }
                MessageType::Notification => {
                    return match Message::decode(msg, &SessionContext::default()) {
                        Ok(Message::Notification(n)) => format!("received NOTIFICATION: {n}"),
                        _ => "received a malformed NOTIFICATION".to_string(),
                    };
                }
                MessageType::Open => return "received an OPEN after establishment".to_string(),
                _ => {}
            }
        }
        if any {
            inbound.batch(at);
        }
        if shared.stopping() {
            return "stopped".to_string();
        }
        match stream.read(fb.spare()) {
            Ok(0) => return "the peer closed the connection".to_string(),
            Ok(n) => {
                at = Instant::now();
                c.octets_in.fetch_add(n as u64, Ordering::Relaxed);
                fb.filled(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return format!("read: {e}"),
        }
    }
}

fn write_all_pieces(stream: &mut TcpStream, parts: &[&[u8]], shared: &Shared) -> io::Result<()> {
    for part in parts {
        for piece in part.chunks(WRITE_PIECE) {
            if shared.stopping() {
                return Err(io::Error::other("stopped"));
            }
            stream.write_all(piece)?;
        }
    }
    Ok(())
}

fn write_loop(
    mut stream: TcpStream,
    jobs: mpsc::Receiver<Job>,
    keepalive_every: Option<Duration>,
    shared: &Shared,
) {
    let c = &shared.counters;
    let mut last_write = Instant::now();
    loop {
        // Short enough to notice the stop flag soon.
        let wait = match keepalive_every {
            Some(every) => every.saturating_sub(last_write.elapsed()).min(POLL * 5),
            None => POLL * 5,
        };
        match jobs.recv_timeout(wait) {
            Ok(job) => {
                let u = &job.updates;
                let (parts, messages): (Vec<&[u8]>, usize) = match job.kind {
                    JobKind::Announce => {
                        (vec![&u.announce, &u.end_of_rib], u.announce_messages + 1)
                    }
                    JobKind::Withdraw => (vec![&u.withdraw], u.withdraw_messages),
                };
                let started = Instant::now();
                let result = write_all_pieces(&mut stream, &parts, shared);
                let finished = Instant::now();
                last_write = finished;
                let outcome = result
                    .as_ref()
                    .map_err(ToString::to_string)
                    .map(|()| SendStamps {
                        started,
                        finished,
                        messages,
                        octets: parts.iter().map(|p| p.len()).sum(),
                    });
                shared.update(|s| s.jobs[job.kind.index()] = Some(outcome));
                if let Err(e) = result {
                    shared.close(format!("write: {e}"));
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if shared.stopping() {
                    return;
                }
                if keepalive_every.is_some_and(|every| last_write.elapsed() >= every) {
                    if let Err(e) = stream.write_all(&keepalive()) {
                        shared.close(format!("write KEEPALIVE: {e}"));
                        return;
                    }
                    c.keepalives_out.fetch_add(1, Ordering::Relaxed);
                    last_write = Instant::now();
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = stream.write_all(&cease());
                let _ = stream.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}
