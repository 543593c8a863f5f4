//! Many small loaders at once (scenario (f): 1000 peers × 10 prefixes), cheaply.
//!
//! Two threads per session (as [`Loader`](super::Loader) uses) would be 2000 threads for
//! scenario (f); here every session is a pair of tasks (reader, writer) on one
//! current-thread tokio runtime on one thread: each session moves a few hundred octets,
//! so a single core has plenty of headroom, and tokio is already in the harness (the fake
//! API server). The sockets are created and bound inside the namespace by a short-lived
//! thread (as everywhere in `bench`) and handed to tokio with
//! `TcpSocket::from_std_stream`.
//!
//! Each session `s` announces `spec.per_session.shifted(s)`: disjoint runs, one attribute
//! set per session (AS_PATH `[session AS]`), next hop the session's own address.
//!
//! The sources must be addresses of the namespace, on-link with the target so the next hops
//! resolve: [`source_addresses`] gives them from 198.18.0.0/15 (RFC 2544) or
//! 2001:db8:ffff::/48, [`add_addresses`] puts them on an interface in one `ip -batch`, and
//! the target takes [`target_address`] in the same block on its end of the link.

use std::fmt;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bgp::wire::{Message, MessageType, SessionContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use super::netns::{self, Netns};
use super::prefixes::{LoadSpec, Updates, V4_SOURCES, V6_SOURCES};
use super::session::{FrameBuf, JobKind, SendStamps, SessionConfig, cease, keepalive};
use crate::lab::Node;
use crate::process;
use crate::types::Family;

/// `count` source addresses from the family's benchmark block, lowest first (the first is
/// `.1`).
pub fn source_addresses(family: Family, count: usize) -> Result<Vec<IpAddr>> {
    let (first, room) = match family {
        Family::Ipv4 => (
            u128::from(u32::from(V4_SOURCES.0)),
            (1u128 << (32 - V4_SOURCES.1)) - 2,
        ),
        Family::Ipv6 => (
            u128::from(V6_SOURCES.0),
            (1u128 << (128 - V6_SOURCES.1)) - 2,
        ),
    };
    ensure!(
        (count as u128) < room,
        "{count} source addresses do not fit the {family} block"
    );
    Ok((1..=count as u128)
        .map(|i| super::prefixes::bits_to_addr(family, first + i))
        .collect())
}

/// The target's address in the source block (the last usable one) and the block's length.
pub fn target_address(family: Family) -> (IpAddr, u8) {
    match family {
        Family::Ipv4 => (IpAddr::V4(Ipv4Addr::new(198, 19, 255, 254)), V4_SOURCES.1),
        Family::Ipv6 => (
            IpAddr::V6(Ipv6Addr::from(
                u128::from(V6_SOURCES.0) | 0xffff_ffff_ffff_ffff_ffff_fffe,
            )),
            V6_SOURCES.1,
        ),
    }
}

/// Adds every address, as `ADDR/prefix_len` (IPv6 with `nodad`), to `ifname` on `node`, in
/// one `ip -batch` run. Unlike [`Node::add_addr`] it does not restrict the range: the
/// benchmark's source block is not a documentation range.
pub fn add_addresses(node: &Node, ifname: &str, addrs: &[IpAddr], prefix_len: u8) -> Result<()> {
    let mut batch = String::new();
    for a in addrs {
        let nodad = if a.is_ipv6() { " nodad" } else { "" };
        batch.push_str(&format!("addr add {a}/{prefix_len} dev {ifname}{nodad}\n"));
    }
    let file = node.dir().join(format!("addrs-{ifname}.batch"));
    fs::write(&file, batch)?;
    let f = file.to_string_lossy().into_owned();
    process::run_checked(
        &["ip", "-n", node.netns(), "-batch", &f],
        Duration::from_secs(120),
    )
    .with_context(|| format!("add {} addresses on node {}", addrs.len(), node.name()))?;
    Ok(())
}

/// The sessions to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManySpec {
    /// The target's address.
    pub peer_addr: IpAddr,
    /// The target's AS.
    pub peer_asn: u32,
    /// The target's port.
    pub port: u16,
    /// One entry per session: its source address and AS.
    pub sessions: Vec<(IpAddr, u32)>,
    /// What each session announces (session `s` uses `per_session.shifted(s)`).
    pub per_session: LoadSpec,
    /// Hold time offered.
    pub hold_time: u16,
    /// How long connecting plus the OPEN exchange may take for every session.
    pub establish_timeout: Duration,
    /// SO_SNDBUF/SO_RCVBUF per session (small: there are many).
    pub socket_buffer: usize,
    /// Sessions connecting and exchanging OPENs at the same time. Fewer is faster: a
    /// target's listen backlog is short (SYNs beyond it wait for TCP's retransmission, a
    /// second or more) and a reset neighbour may sit out an error-wait time. BIRD 2.0.12
    /// with 1000 dynamic neighbours: 1 to 8 → all up in 0.3 to 0.5 s (once 4.5 s: a
    /// dropped SYN), 16 → 1.1 s, 64 → 7.7 s, 256 → connections reset and some sessions
    /// still down after 120 s.
    pub max_connecting: usize,
}

impl ManySpec {
    /// Sessions from `sessions` to `peer_addr:179`, 10 prefixes each, hold time 90 s, 8
    /// connecting at a time.
    pub fn new(peer_addr: IpAddr, peer_asn: u32, sessions: Vec<(IpAddr, u32)>) -> ManySpec {
        let per_session = match peer_addr {
            IpAddr::V4(_) => LoadSpec::ipv4(10),
            IpAddr::V6(_) => LoadSpec::ipv6(10),
        };
        ManySpec {
            peer_addr,
            peer_asn,
            port: 179,
            sessions,
            per_session,
            hold_time: 90,
            establish_timeout: Duration::from_secs(120),
            socket_buffer: 256 << 10,
            max_connecting: 8,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct JobTally {
    done: usize,
    failed: usize,
    started: Option<Instant>,
    finished: Option<Instant>,
    messages: usize,
    octets: usize,
}

#[derive(Debug, Default)]
struct State {
    established: usize,
    /// Establishment attempts that failed and were retried.
    retries: usize,
    /// Why the last one failed.
    last_retry: Option<String>,
    last_established: Option<Instant>,
    closed: Vec<(usize, String)>,
    jobs: [JobTally; 2],
}

#[derive(Debug)]
struct Shared {
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

    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&State) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(v) = f(&s)? {
                return Ok(v);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{what}: not within {timeout:?} ({} established, {} retries (last: {:?}), \
                     {} closed, first: {:?}; announcements {:?}, withdrawals {:?})",
                    s.established,
                    s.retries,
                    s.last_retry,
                    s.closed.len(),
                    s.closed.first(),
                    s.jobs[0],
                    s.jobs[1]
                );
            }
            s = self
                .cond
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// What the sessions are told to do (a generation number, so the same job can be asked
/// twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Command {
    generation: u64,
    job: Option<JobKind>,
    stop: bool,
}

fn job_index(k: JobKind) -> usize {
    match k {
        JobKind::Announce => 0,
        JobKind::Withdraw => 1,
    }
}

/// Many loader sessions on one thread. Dropping it closes every session (Cease) and joins
/// the thread.
pub struct ManyLoaders {
    shared: Arc<Shared>,
    commands: watch::Sender<Command>,
    thread: Option<JoinHandle<()>>,
    sessions: usize,
    _ns: Netns,
}

impl fmt::Debug for ManyLoaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shared.lock();
        f.debug_struct("ManyLoaders")
            .field("sessions", &self.sessions)
            .field("established", &s.established)
            .field("closed", &s.closed.len())
            .field("retries", &s.retries)
            .finish()
    }
}

impl ManyLoaders {
    /// Builds every session's UPDATEs, binds their sockets in `ns`, and starts connecting.
    pub fn start(ns: impl Into<Netns>, spec: ManySpec) -> Result<ManyLoaders> {
        let ns = ns.into();
        ensure!(!spec.sessions.is_empty(), "no sessions");
        let mut plans = Vec::with_capacity(spec.sessions.len());
        for (s, (local, asn)) in spec.sessions.iter().enumerate() {
            let load = spec.per_session.shifted(s as u64)?;
            let updates = Updates::build(&load, *asn, spec.peer_asn, *local)
                .with_context(|| format!("session {s} from {local}"))?;
            let cfg = SessionConfig::new(*local, *asn, spec.peer_addr, spec.peer_asn)
                .port(spec.port)
                .hold_time(spec.hold_time)
                .families(&[spec.per_session.family]);
            plans.push((cfg, Arc::new(updates)));
        }
        let locals: Vec<IpAddr> = spec.sessions.iter().map(|s| s.0).collect();
        let sockets = netns::bound_tcp_sockets(&ns, locals, spec.socket_buffer)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        });
        let (tx, rx) = watch::channel(Command {
            generation: 0,
            job: None,
            stop: false,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let thread = {
            let shared = Arc::clone(&shared);
            let ns = ns.clone();
            let deadline = Instant::now() + spec.establish_timeout;
            let buffers = spec.socket_buffer;
            let max_connecting = spec.max_connecting;
            let peer = SocketAddr::new(spec.peer_addr, spec.port);
            thread::Builder::new()
                .name("bench-many".into())
                .spawn(move || {
                    runtime.block_on(run_all(
                        ns,
                        plans,
                        sockets,
                        peer,
                        buffers,
                        deadline,
                        max_connecting,
                        rx,
                        shared,
                    ));
                })
                .context("spawn the many-sessions thread")?
        };
        Ok(ManyLoaders {
            shared,
            commands: tx,
            thread: Some(thread),
            sessions: spec.sessions.len(),
            _ns: ns,
        })
    }

    /// How many sessions there are.
    pub fn sessions(&self) -> usize {
        self.sessions
    }

    /// How many are established (and not closed since).
    pub fn established(&self) -> usize {
        let s = self.shared.lock();
        s.established
    }

    /// Establishment attempts that failed and were retried.
    pub fn retries(&self) -> usize {
        self.shared.lock().retries
    }

    /// Sessions that ended, with why.
    pub fn closed(&self) -> Vec<(usize, String)> {
        self.shared.lock().closed.clone()
    }

    /// Waits until every session is established; returns when the last one came up.
    pub fn wait_established(&self, timeout: Duration) -> Result<Instant> {
        let n = self.sessions;
        self.shared
            .wait(timeout, "many sessions: established", |s| {
                if let Some((i, why)) = s.closed.first() {
                    bail!("session {i} ended: {why} ({} established)", s.established);
                }
                Ok((s.established == n).then_some(s.last_established).flatten())
            })
    }

    fn submit(&self, job: JobKind) -> Result<()> {
        self.shared
            .update(|s| s.jobs[job_index(job)] = JobTally::default());
        let mut c = *self.commands.borrow();
        c.generation += 1;
        c.job = Some(job);
        self.commands
            .send(c)
            .map_err(|_| anyhow!("the sessions' thread has ended"))
    }

    fn wait_job(&self, job: JobKind, timeout: Duration) -> Result<SendStamps> {
        let n = self.sessions;
        self.shared
            .wait(timeout, &format!("many sessions: {job:?}"), |s| {
                let t = s.jobs[job_index(job)];
                if t.failed > 0 {
                    bail!(
                        "{} sessions failed to write; first closed: {:?}",
                        t.failed,
                        s.closed.first()
                    );
                }
                Ok(match (t.done == n, t.started, t.finished) {
                    (true, Some(started), Some(finished)) => Some(SendStamps {
                        started,
                        finished,
                        messages: t.messages,
                        octets: t.octets,
                    }),
                    _ => None,
                })
            })
    }

    /// Every session writes its announcements and End-of-RIB.
    pub fn announce(&self) -> Result<()> {
        self.submit(JobKind::Announce)
    }

    /// Waits until every session has written its announcements: the first start and the
    /// last finish over all sessions.
    pub fn wait_announced(&self, timeout: Duration) -> Result<SendStamps> {
        self.wait_job(JobKind::Announce, timeout)
    }

    /// Every session writes its withdrawals.
    pub fn withdraw(&self) -> Result<()> {
        self.submit(JobKind::Withdraw)
    }

    /// Waits until every session has written its withdrawals.
    pub fn wait_withdrawn(&self, timeout: Duration) -> Result<SendStamps> {
        self.wait_job(JobKind::Withdraw, timeout)
    }
}

impl Drop for ManyLoaders {
    fn drop(&mut self) {
        self.commands.send_modify(|c| c.stop = true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_all(
    ns: Netns,
    plans: Vec<(SessionConfig, Arc<Updates>)>,
    sockets: Vec<std::os::fd::OwnedFd>,
    peer: SocketAddr,
    buffers: usize,
    deadline: Instant,
    max_connecting: usize,
    mut commands: watch::Receiver<Command>,
    shared: Arc<Shared>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let connecting = Arc::new(tokio::sync::Semaphore::new(max_connecting.max(1)));
    for (i, ((cfg, updates), fd)) in plans.into_iter().zip(sockets).enumerate() {
        let connecting = Arc::clone(&connecting);
        let ns = ns.clone();
        let commands = commands.clone();
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let r = session(
                ns,
                cfg,
                updates,
                fd,
                peer,
                buffers,
                deadline,
                commands,
                &shared,
                &connecting,
            )
            .await;
            let why = match r {
                Ok(()) => "stopped".to_string(),
                Err(e) => format!("{e:#}"),
            };
            shared.update(|s| s.closed.push((i, why)));
        });
    }
    // Until told to stop (or the handle is gone).
    while !commands.borrow().stop {
        if commands.changed().await.is_err() {
            break;
        }
    }
    // Sessions send their Cease and close; then whatever is left is cancelled.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

async fn connect(
    ns: &Netns,
    cfg: &SessionConfig,
    mut fd: Option<std::os::fd::OwnedFd>,
    peer: SocketAddr,
    buffers: usize,
    deadline: Instant,
    commands: &watch::Receiver<Command>,
) -> Result<TcpStream> {
    loop {
        if commands.borrow().stop {
            bail!("stopped while connecting");
        }
        let sock = match fd.take() {
            Some(fd) => fd,
            None => {
                let (ns, local) = (ns.clone(), cfg.local_addr);
                tokio::task::spawn_blocking(move || netns::bound_tcp_socket(&ns, local, buffers))
                    .await??
            }
        };
        let std_stream = std::net::TcpStream::from(sock);
        std_stream.set_nonblocking(true)?;
        let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(left.min(Duration::from_secs(2)), socket.connect(peer));
        let error = match attempt.await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_string(),
        };
        if Instant::now() + Duration::from_millis(200) >= deadline {
            bail!("connect from {} to {peer}: {error}", cfg.local_addr);
        }
        // Refused (the target is not listening yet) or lost: a fresh socket shortly.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    ns: Netns,
    cfg: SessionConfig,
    updates: Arc<Updates>,
    fd: std::os::fd::OwnedFd,
    peer: SocketAddr,
    buffers: usize,
    deadline: Instant,
    mut commands: watch::Receiver<Command>,
    shared: &Shared,
    connecting: &tokio::sync::Semaphore,
) -> Result<()> {
    // Like any BGP speaker, retry the whole establishment (a target swamped by a thousand
    // connections may reset some) until the deadline.
    let mut fd = Some(fd);
    let (rd, wr, fb, hold) = loop {
        let attempt = async {
            let _permit = connecting.acquire().await?;
            let stream = connect(&ns, &cfg, fd.take(), peer, buffers, deadline, &commands).await?;
            let (mut rd, mut wr) = stream.into_split();
            let mut fb = FrameBuf::new(16 << 10);
            wr.write_all(&cfg.open()?).await?;
            let left = deadline.saturating_duration_since(Instant::now());
            let hold = tokio::time::timeout(left, handshake(&cfg, &mut rd, &mut wr, &mut fb))
                .await
                .map_err(|_| anyhow!("no OPEN and KEEPALIVE from {peer} in time"))??;
            anyhow::Ok((rd, wr, fb, hold))
        };
        match attempt.await {
            Ok(up) => break up,
            Err(e)
                if Instant::now() + Duration::from_millis(500) < deadline
                    && !commands.borrow().stop =>
            {
                shared.update(|s| {
                    s.retries += 1;
                    s.last_retry = Some(format!("{e:#}"));
                });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    };
    shared.update(|s| {
        s.established += 1;
        s.last_established = Some(Instant::now());
    });
    let result = established(&updates, hold, rd, wr, fb, &mut commands, shared).await;
    shared.update(|s| s.established -= 1);
    result
}

/// OPEN in, KEEPALIVE out, KEEPALIVE in; returns the negotiated hold time.
async fn handshake(
    cfg: &SessionConfig,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    fb: &mut FrameBuf,
) -> Result<u16> {
    let mut hold = None;
    loop {
        while let Some((t, msg)) = fb.next().map_err(|e| anyhow!(e))? {
            match (t, hold) {
                (MessageType::Open, None) => {
                    let Ok(Message::Open(o)) = Message::decode(msg, &SessionContext::default())
                    else {
                        bail!("bad OPEN from {}", cfg.peer_addr);
                    };
                    hold = Some(cfg.check_open(&o)?);
                    wr.write_all(&keepalive()).await?;
                }
                (MessageType::Keepalive, Some(h)) => return Ok(h),
                (MessageType::Notification, _) => {
                    let n = Message::decode(msg, &SessionContext::default());
                    bail!("NOTIFICATION from {}: {n:?}", cfg.peer_addr)
                }
                (t, _) => bail!("unexpected {t} from {} while establishing", cfg.peer_addr),
            }
        }
        let n = rd.read(fb.spare()).await?;
        if n == 0 {
            bail!("{} closed the connection while establishing", cfg.peer_addr);
        }
        fb.filled(n);
    }
}

async fn established(
    updates: &Updates,
    hold: u16,
    mut rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    mut fb: FrameBuf,
    commands: &mut watch::Receiver<Command>,
    shared: &Shared,
) -> Result<()> {
    // Reads and drops what the target sends; ends on NOTIFICATION or close.
    let reader = async move {
        loop {
            while let Some((t, msg)) = fb.next().map_err(|e| anyhow!(e))? {
                if t == MessageType::Notification {
                    let n = Message::decode(msg, &SessionContext::default());
                    bail!("received NOTIFICATION: {n:?}");
                }
            }
            let n = rd.read(fb.spare()).await?;
            if n == 0 {
                bail!("the peer closed the connection");
            }
            fb.filled(n);
        }
    };
    tokio::pin!(reader);
    let every = Duration::from_secs(u64::from(hold / 3).max(1));
    let mut tick = tokio::time::interval(if hold == 0 {
        Duration::from_secs(3600)
    } else {
        every
    });
    tick.tick().await;
    // Generation 0 is "no job yet"; a job asked before this session came up is done now.
    let mut seen = 0;
    loop {
        let c = *commands.borrow_and_update();
        if c.stop {
            let _ = wr.write_all(&cease()).await;
            let _ = wr.shutdown().await;
            return Ok(());
        }
        if c.generation != seen {
            seen = c.generation;
            if let Some(job) = c.job {
                write_job(updates, job, &mut wr, shared).await?;
            }
        }
        tokio::select! {
            r = &mut reader => return r,
            _ = tick.tick() => {
                if hold > 0 {
                    wr.write_all(&keepalive()).await?;
                }
            }
            changed = commands.changed() => {
                if changed.is_err() {
                    // The handle is gone.
                    let _ = wr.write_all(&cease()).await;
                    let _ = wr.shutdown().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Writes one session's precomputed announcements or withdrawals and tallies the stamps.
async fn write_job(
    updates: &Updates,
    job: JobKind,
    wr: &mut OwnedWriteHalf,
    shared: &Shared,
) -> Result<()> {
    let (parts, messages): (Vec<&[u8]>, usize) = match job {
        JobKind::Announce => (
            vec![&updates.announce, &updates.end_of_rib],
            updates.announce_messages + 1,
        ),
        JobKind::Withdraw => (vec![&updates.withdraw], updates.withdraw_messages),
    };
    let started = Instant::now();
    let mut result = Ok(());
    for p in &parts {
        result = wr.write_all(p).await;
        if result.is_err() {
            break;
        }
    }
    let finished = Instant::now();
    let octets: usize = parts.iter().map(|p| p.len()).sum();
    shared.update(|s| {
        let t = &mut s.jobs[job_index(job)];
        if result.is_ok() {
            t.done += 1;
            t.messages += messages;
            t.octets += octets;
            t.started = Some(t.started.map_or(started, |x| x.min(started)));
            t.finished = Some(t.finished.map_or(finished, |x| x.max(finished)));
        } else {
            t.failed += 1;
        }
    });
    Ok(result?)
}
