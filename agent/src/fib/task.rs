//! The FIB's own thread: it owns the [`Table`] and the netlink sockets,
//! takes what the speaker wants over a channel, watches the kernel, and
//! writes. A thread of its own because netlink writes block (briefly, but
//! for a million routes about a second), and the speaker must not wait.
//!
//! Work comes in big batches: everything queued is taken, then written in
//! chunks of [`CHUNK`] routes; between chunks the queue is drained again
//! (commands are bigger than the table's record of them) and `show`
//! queries are answered, so a long write delays nothing by more than a
//! chunk.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bgp::types::Prefix;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::kernel::Kernel;
use super::netlink::{BATCH, Event, Marking, Monitor, Netlink, Seen};
use super::route::Target;
use super::table::{FibState, NextHops, Op, Table};
use super::{FibEntry, FibReport, FibStats};

/// Routes per chunk of work: a few netlink batches.
const CHUNK: usize = 16 * BATCH;

/// How often a long write logs its progress.
const PROGRESS: Duration = Duration::from_secs(2);

/// What the rest of the agent tells the FIB.
#[derive(Debug)]
pub(crate) enum Command {
    /// The speaker's best paths for these prefixes have these next hops
    /// (empty: none). Grouped so that a queued route costs its prefix.
    Learned(NextHops, Vec<Prefix>),
    /// Our own pod blocks and what to install for them.
    Local(BTreeMap<Prefix, Target>),
    /// The speaker's initial table is complete.
    Synced,
    /// For `show fib`.
    Show(oneshot::Sender<FibReport>),
    /// For `show routes`: the state of each prefix (`None`: the FIB has
    /// nothing for it).
    States(Vec<Prefix>, oneshot::Sender<Vec<Option<FibState>>>),
}

/// What the FIB tells the driver: its counters (states are asked for).
#[derive(Debug, Default)]
pub(crate) struct Update {
    pub(crate) stats: FibStats,
}

pub(crate) struct Fib {
    table: Table,
    kernel: Netlink,
    monitor: AsyncFd<Monitor>,
    marking: Marking,
    stats: FibStats,
    started: Instant,
    events: Vec<Event>,
}

impl Fib {
    /// Opens the sockets and reads our routes and the connected subnets.
    /// Runs inside the FIB thread's runtime (the monitor needs a reactor).
    fn open(marking: Marking, started: Instant) -> anyhow::Result<Fib> {
        use anyhow::Context;
        let mut kernel = Netlink::open(marking).context("cannot open a netlink socket")?;
        // Subscribed before the dump: nothing is lost in between.
        let monitor =
            Monitor::open(marking, &kernel).context("cannot subscribe to route events")?;
        let connected = kernel
            .addresses()
            .context("cannot read the interface addresses")?;
        let mut table = Table::empty(connected);
        kernel
            .each_route(&mut |r| table.dumped(r))
            .context("cannot read the kernel's routing table")?;
        table.end_dump();
        Ok(Fib {
            table,
            kernel,
            // Deprecated only because it cannot prove the descriptor outlives
            // its registration; here AsyncFd owns the Monitor that owns it.
            #[allow(deprecated)]
            monitor: AsyncFd::new(monitor).context("cannot watch the netlink socket")?,
            marking,
            stats: FibStats::default(),
            started,
            events: Vec::new(),
        })
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        updates: mpsc::UnboundedSender<Update>,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.command(cmd);
                }
                ready = self.monitor.readable_mut() => {
                    let Ok(mut guard) = ready else { break };
                    let mut events = std::mem::take(&mut self.events);
                    loop {
                        match guard.get_inner_mut().read(&mut events) {
                            Ok(true) => continue,
                            Ok(false) => {
                                guard.clear_ready();
                                break;
                            }
                            Err(e) => {
                                warn!("reading route events failed: {e}; resynchronising");
                                events.push(Event::Overrun);
                                guard.clear_ready();
                                break;
                            }
                        }
                    }
                    drop(guard);
                    self.kernel_events(&mut events);
                    self.events = events;
                }
            }
            self.work(&mut commands, &updates, &shutdown);
            let _ = updates.send(self.update());
        }
        debug!("FIB task stopped; our routes stay in the kernel for the restart");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Learned(hops, prefixes) => {
                for p in prefixes {
                    self.table.set_learned(p, &hops);
                }
            }
            Command::Local(l) => self.table.set_local(l),
            Command::Synced => {
                info!("routing table complete: reconciling the kernel's routes of ours");
                self.table.synced();
            }
            Command::Show(reply) => {
                let _ = reply.send(self.report());
            }
            Command::States(prefixes, reply) => {
                let _ = reply.send(prefixes.iter().map(|p| self.table.state(*p)).collect());
            }
        }
    }

    /// Events read without waiting (the monitor's socket never blocks).
    fn poll_monitor(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        loop {
            match self.monitor.get_mut().read(&mut events) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    warn!("reading route events failed: {e}; resynchronising");
                    events.push(Event::Overrun);
                    break;
                }
            }
        }
        self.kernel_events(&mut events);
        self.events = events;
    }

    fn kernel_events(&mut self, events: &mut Vec<Event>) {
        let mut addresses = false;
        let mut overrun = false;
        for e in events.drain(..) {
            match e {
                Event::Route(Seen::Ours(p, t)) => {
                    // Our own writes are filtered out by the kernel: this is
                    // someone else's doing.
                    if self.table.kernel_route(p) != t.as_ref() {
                        debug!(prefix = %p, "our kernel route changed outside podroute");
                        self.stats.external_changes += 1;
                    }
                    self.table.kernel_changed(p, t)
                }
                Event::Route(Seen::OtherRemoved(p)) => self.table.foreign_removed(p),
                Event::AddressesChanged => addresses = true,
                Event::Overrun => overrun = true,
            }
        }
        if overrun {
            warn!("route events were lost (netlink ENOBUFS): reading the whole table again");
            self.resync("overrun");
            addresses = true;
        }
        if addresses {
            match self.kernel.addresses() {
                Ok(c) => self.table.set_connected(c),
                Err(e) => warn!("cannot read the interface addresses: {e}"),
            }
        }
    }

    /// Reads all our routes again and compares everything.
    fn resync(&mut self, why: &'static str) {
        *self.stats.resyncs.entry(why).or_default() += 1;
        let table = &mut self.table;
        match self.kernel.each_route(&mut |r| table.dumped(r)) {
            Ok(()) => self.table.end_dump(),
            Err(e) => {
                self.table.abort_dump();
                warn!("cannot read the routing table: {e}");
            }
        }
    }

    /// Writes whatever is to be written, taking in new commands between
    /// chunks, until nothing is left (or the agent stops).
    fn work(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        updates: &mpsc::UnboundedSender<Update>,
        shutdown: &CancellationToken,
    ) {
        let began = Instant::now();
        let mut written = 0;
        let mut logged = began;
        loop {
            // Take whatever is queued: one write for the lot.
            while let Ok(cmd) = commands.try_recv() {
                self.command(cmd);
            }
            if !self.table.has_work() || shutdown.is_cancelled() {
                break;
            }
            let ops = self.table.take_ops(CHUNK);
            written += ops.len();
            self.write(&ops);
            drop(ops);
            self.poll_monitor();
            if logged.elapsed() >= PROGRESS {
                logged = Instant::now();
                info!(
                    written,
                    waiting = self.table.dirty(),
                    "writing kernel routes ({:.0} per second)",
                    written as f64 / began.elapsed().as_secs_f64()
                );
                let _ = updates.send(self.update());
            }
        }
        if written > 0 {
            self.table.shrink();
        }
        let took = began.elapsed();
        if written >= 1000 {
            info!(
                routes = written,
                ms = took.as_millis() as u64,
                "kernel routes written ({:.0} per second)",
                written as f64 / took.as_secs_f64().max(1e-6)
            );
        }
        self.check_reconciled();
    }

    fn write(&mut self, ops: &[Op]) {
        if ops.is_empty() {
            return;
        }
        let batches_before = self.kernel.batches;
        match self.kernel.apply(ops) {
            Ok(results) => {
                // By operation (add, replace, delete): ok, failed.
                let mut counts = [[0u64; 2]; 3];
                for (op, r) in ops.iter().zip(results) {
                    let i = match op {
                        Op::Set { replace: false, .. } => 0,
                        Op::Set { replace: true, .. } => 1,
                        Op::Delete { .. } => 2,
                    };
                    counts[i][usize::from(r.is_err())] += 1;
                    if let Err(e) = &r {
                        debug!(prefix = %op.prefix(), "{} failed: {e:?}", op.name());
                    }
                    self.table.applied(op, r);
                }
                for (name, [ok, failed]) in ["add", "replace", "delete"].into_iter().zip(counts) {
                    if ok > 0 {
                        *self.stats.ops_ok.entry(name).or_default() += ok;
                    }
                    if failed > 0 {
                        *self.stats.ops_failed.entry(name).or_default() += failed;
                    }
                }
            }
            Err(e) => {
                warn!(
                    "writing {} routes to the kernel failed: {e}; reading the table again",
                    ops.len()
                );
                self.resync("write-error");
            }
        }
        self.stats.batches += self.kernel.batches - batches_before;
    }

    /// The first time the speaker is synced and nothing is left to write.
    fn check_reconciled(&mut self) {
        if self.table.is_synced() && !self.table.has_work() && !self.stats.reconciled {
            self.stats.reconciled = true;
            self.stats.sync_secs = self.started.elapsed().as_secs_f64();
            let c = self.table.counts();
            info!(
                installed = c.installed,
                not_installed = c.not_installed,
                secs = format!("{:.3}", self.stats.sync_secs),
                "kernel routes reconciled"
            );
        }
    }

    fn update(&mut self) -> Update {
        let c = self.table.counts();
        self.stats.desired = c.desired as u64;
        self.stats.installed = c.installed as u64;
        self.stats.not_installed = c.not_installed as u64;
        self.stats.pending = c.pending as u64;
        self.stats.kept = c.kept as u64;
        let f = self.table.footprint();
        self.stats.table_bytes = f.bytes as u64;
        self.stats.next_hop_sets = f.next_hop_sets as u64;
        Update {
            stats: self.stats.clone(),
        }
    }

    fn report(&mut self) -> FibReport {
        let entries = self
            .table
            .prefixes()
            .into_iter()
            .map(|p| FibEntry {
                prefix: p,
                desired: self.table.wanted_target(p),
                kernel: self.table.kernel_route(p).cloned(),
                state: self.table.state(p),
            })
            .collect();
        let stats = self.update().stats;
        FibReport {
            protocol: self.marking.protocol,
            table: self.marking.table,
            synced: self.table.is_synced(),
            entries,
            stats,
        }
    }
}

/// What the FIB found at start, before the speaker starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    /// Routes of ours were in the kernel: a previous run's forwarding state
    /// survived (SIGTERM, or even SIGKILL), so this start is a graceful
    /// restart whatever the marker says.
    pub(crate) kept_routes: usize,
}

/// The running FIB: where to send commands and read updates.
#[derive(Debug)]
pub(crate) struct Handle {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) updates: mpsc::UnboundedReceiver<Update>,
}

/// Starts the FIB thread; returns once it has read the kernel's state.
pub(crate) fn spawn(
    marking: Marking,
    shutdown: CancellationToken,
) -> anyhow::Result<(Handle, Start)> {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    // Detached: it stops on `shutdown`, and our routes stay either way.
    std::thread::Builder::new()
        .name("podroute-fib".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ =
                        ready_tx.send(Err(anyhow::anyhow!("cannot start the FIB runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match Fib::open(marking, started) {
                    Ok(fib) => {
                        let kept = fib.table.counts().kernel;
                        let _ = ready_tx.send(Ok(kept));
                        fib.run(cmd_rx, upd_tx, shutdown).await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    let kept_routes = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| anyhow::anyhow!("the FIB did not start within 30 s"))??;
    Ok((
        Handle {
            commands: cmd_tx,
            updates: upd_rx,
        },
        Start { kept_routes },
    ))
}

/// `podroute agent --cleanup`: deletes every route of ours.
pub(crate) fn cleanup(marking: Marking) -> anyhow::Result<usize> {
    use anyhow::Context;
    let mut k = Netlink::open(marking).context("cannot open a netlink socket")?;
    let routes = k.routes().context("cannot read the routing table")?;
    let ops: Vec<Op> = routes
        .into_iter()
        .map(|route| Op::Delete { route })
        .collect();
    let results = k.apply(&ops)?;
    let failed: Vec<String> = ops
        .iter()
        .zip(&results)
        .filter_map(|(op, r)| r.as_ref().err().map(|e| format!("{}: {e:?}", op.prefix())))
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} routes could not be deleted: {}",
            failed.len(),
            ops.len(),
            failed.join(", ")
        );
    }
    Ok(ops.len())
}

#[cfg(test)]
mod tests;
