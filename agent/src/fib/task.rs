//! The FIB's own thread: it owns the [`Table`] and the netlink sockets,
//! takes what the speaker wants over a channel, watches the kernel, and
//! writes. A thread of its own because netlink writes block (briefly, but
//! for a million routes about a second), and the speaker must not wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bgp::types::Prefix;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::connected::NextHopSpec;
use super::kernel::Kernel;
use super::netlink::{Event, Marking, Monitor, Netlink, Seen};
use super::route::Target;
use super::table::{FibState, Table};
use super::{FibEntry, FibReport, FibStats};

/// What the rest of the agent tells the FIB.
#[derive(Debug)]
pub(crate) enum Command {
    /// The speaker's best path(s) for a prefix; empty: none.
    Learned(Prefix, Vec<NextHopSpec>),
    /// Our own pod blocks and what to install for them.
    Local(BTreeMap<Prefix, Target>),
    /// The speaker's initial table is complete.
    Synced,
    /// For `show fib`.
    Show(oneshot::Sender<FibReport>),
}

/// What the FIB tells the driver: states that changed (`None`: the prefix
/// left the FIB), and its counters.
#[derive(Debug, Default)]
pub(crate) struct Update {
    pub(crate) states: Vec<(Prefix, Option<FibState>)>,
    pub(crate) stats: FibStats,
}

pub(crate) struct Fib {
    table: Table,
    kernel: Netlink,
    monitor: AsyncFd<Monitor>,
    marking: Marking,
    stats: FibStats,
    started: Instant,
}

impl Fib {
    /// Opens the sockets and reads our routes and the connected subnets.
    /// Runs inside the FIB thread's runtime (the monitor needs a reactor).
    fn open(marking: Marking, started: Instant) -> anyhow::Result<Fib> {
        use anyhow::Context;
        let mut kernel = Netlink::open(marking).context("cannot open a netlink socket")?;
        let monitor = Monitor::open(marking).context("cannot subscribe to route events")?;
        let routes = kernel
            .routes()
            .context("cannot read the kernel's routing table")?;
        let connected = kernel
            .addresses()
            .context("cannot read the interface addresses")?;
        Ok(Fib {
            table: Table::new(routes, connected),
            kernel,
            // Deprecated only because it cannot prove the descriptor outlives
            // its registration; here AsyncFd owns the Monitor that owns it.
            #[allow(deprecated)]
            monitor: AsyncFd::new(monitor).context("cannot watch the netlink socket")?,
            marking,
            stats: FibStats::default(),
            started,
        })
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        updates: mpsc::UnboundedSender<Update>,
        shutdown: CancellationToken,
    ) {
        let mut events = Vec::new();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.command(cmd);
                    // Take whatever else is queued: one flush for the lot.
                    while let Ok(cmd) = commands.try_recv() {
                        self.command(cmd);
                    }
                }
                ready = self.monitor.readable_mut() => {
                    let Ok(mut guard) = ready else { break };
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
                    self.kernel_events(std::mem::take(&mut events));
                }
            }
            self.flush();
            let _ = updates.send(self.update());
        }
        debug!("FIB task stopped; our routes stay in the kernel for the restart");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Learned(p, hops) => self.table.set_learned(p, hops),
            Command::Local(l) => self.table.set_local(l),
            Command::Synced => {
                info!("routing table complete: reconciling the kernel's routes of ours");
                self.table.synced();
            }
            Command::Show(reply) => {
                let _ = reply.send(self.report());
            }
        }
    }

    fn kernel_events(&mut self, events: Vec<Event>) {
        let mut addresses = false;
        let mut overrun = false;
        for e in events {
            match e {
                Event::Route(Seen::Ours(p, t)) => {
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
            *self.stats.resyncs.entry("overrun").or_default() += 1;
            match self.kernel.routes() {
                Ok(r) => self.table.replace_kernel(r),
                Err(e) => warn!("cannot read the routing table: {e}"),
            }
            addresses = true;
        }
        if addresses {
            match self.kernel.addresses() {
                Ok(c) => self.table.set_connected(c),
                Err(e) => warn!("cannot read the interface addresses: {e}"),
            }
        }
    }

    fn flush(&mut self) {
        if !self.table.has_work() {
            // Nothing to write (an empty table, say): still reconciled.
            self.check_reconciled();
            return;
        }
        let began = Instant::now();
        let ops = self.table.take_ops();
        if ops.is_empty() {
            self.after_flush(began, 0);
            return;
        }
        let batches_before = self.kernel.batches;
        match self.kernel.apply(&ops) {
            Ok(results) => {
                for (op, r) in ops.iter().zip(results) {
                    let ok = r.is_ok();
                    *if ok {
                        self.stats.ops_ok.entry(op.name()).or_default()
                    } else {
                        self.stats.ops_failed.entry(op.name()).or_default()
                    } += 1;
                    if let Err(e) = &r {
                        debug!(prefix = %op.prefix(), "{} failed: {e:?}", op.name());
                    }
                    self.table.applied(op, r);
                }
            }
            Err(e) => {
                warn!(
                    "writing {} routes to the kernel failed: {e}; reading the table again",
                    ops.len()
                );
                *self.stats.resyncs.entry("write-error").or_default() += 1;
                if let Ok(r) = self.kernel.routes() {
                    self.table.replace_kernel(r);
                }
            }
        }
        self.stats.batches += self.kernel.batches - batches_before;
        self.after_flush(began, ops.len());
    }

    fn after_flush(&mut self, began: Instant, ops: usize) {
        let took = began.elapsed();
        if ops >= 1000 {
            info!(
                routes = ops,
                ms = took.as_millis() as u64,
                "kernel routes written ({:.0} per second)",
                ops as f64 / took.as_secs_f64().max(1e-6)
            );
        }
        self.check_reconciled();
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
        let states = self.table.take_changed();
        let c = self.table.counts();
        self.stats.desired = c.desired as u64;
        self.stats.installed = c.installed as u64;
        self.stats.not_installed = c.not_installed as u64;
        self.stats.pending = c.pending as u64;
        self.stats.kept = c.kept as u64;
        Update {
            states,
            stats: self.stats.clone(),
        }
    }

    fn report(&self) -> FibReport {
        let entries = self
            .table
            .prefixes()
            .into_iter()
            .map(|p| FibEntry {
                prefix: p,
                desired: self.table.wanted_target(p),
                kernel: self.table.kernel_route(p).cloned(),
                state: self.table.state(p).cloned(),
            })
            .collect();
        FibReport {
            protocol: self.marking.protocol,
            table: self.marking.table,
            synced: self.table.is_synced(),
            entries,
            stats: self.stats.clone(),
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
    let ops: Vec<super::table::Op> = routes
        .into_iter()
        .map(|route| super::table::Op::Delete { route })
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
