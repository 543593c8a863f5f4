//! `podroute agent`: the long-running daemon. It wires the parts together
//! and owns the process lifecycle (signals, graceful-restart marker); the
//! routing work happens in [`crate::net::Driver`].
//!
//! Signals: SIGTERM / SIGINT stop gracefully (peers keep our routes for the
//! restart time, RFC 4724); SIGHUP re-reads the configuration file.

pub(crate) mod logging;
mod restart_marker;

use std::time::SystemTime;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::net::{Driver, DriverParts};

/// Where the configuration comes from (file and flags); SIGHUP reads it
/// again, flags included.
pub(crate) use crate::config::Source;

/// The next overlay from the cluster's watchers; never, without Kubernetes;
/// `None` when the watchers are gone.
async fn overlay_changed(
    overlays: &mut Option<(
        tokio::sync::watch::Receiver<crate::config::ClusterOverlay>,
        tokio::task::JoinHandle<()>,
    )>,
) -> Option<crate::config::ClusterOverlay> {
    match overlays {
        None => std::future::pending().await,
        Some((rx, _)) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
    }
}

/// Runs the agent until a stop signal.
pub(crate) fn run(mut source: Source, mut config: Config) -> anyhow::Result<()> {
    // Standalone IPAM before the runtime: the blocks are part of the
    // configuration the speaker starts with, and allocating them is
    // blocking file I/O (a shared mount may be slow to answer).
    let held = match &config.ipam {
        Some(settings) => {
            let held = crate::file_ipam::start(settings, config.node.as_deref())?;
            source.allocated = Some(held.blocks.clone());
            config = source
                .load()
                .context("the configuration with the allocated pod CIDRs is not valid")?;
            Some(held)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("podroute")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(source, config, held))
}

/// `held`: this node's blocks from the `ipam` state file, if it has that
/// section.
async fn run_async(
    mut source: Source,
    mut config: Config,
    held: Option<crate::file_ipam::Held>,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;

    // Kubernetes first: the pod CIDRs, the router ID and the peers it
    // gives are part of the configuration the speaker starts with.
    let mut cluster = None;
    if let Some(settings) = config.kubernetes.clone() {
        let node = config.node.clone().unwrap_or_default();
        let started = tokio::select! {
            r = crate::cluster::start(&settings, &node, &config, shutdown.clone()) => r?,
            _ = sigterm.recv() => { info!("SIGTERM before the cluster answered: stopping"); return Ok(()) }
            _ = sigint.recv() => { info!("SIGINT before the cluster answered: stopping"); return Ok(()) }
        };
        source.cluster = Some(started.overlay.borrow().clone());
        config = source
            .load()
            .context("the configuration with the cluster's peers and pod CIDRs is not valid")?;
        cluster = Some(started);
    }

    match restart_marker::take(&config.state_dir, SystemTime::now()) {
        restart_marker::Start::Cold => info!("cold start"),
        restart_marker::Start::Graceful { after } => {
            info!(
                after_secs = after.as_secs(),
                "graceful restart: telling peers we kept forwarding state and waiting for their End-of-RIB before choosing routes"
            );
            config.speaker.graceful_restart.restarting = true;
        }
        restart_marker::Start::TooLate {
            after,
            restart_time,
        } => warn!(
            after_secs = after.as_secs(),
            restart_time,
            "the previous run stopped longer ago than its graceful-restart time; peers have dropped our routes, starting cold"
        ),
    }
    let fib = if config.fib.enabled {
        let marking = crate::fib::Marking::from(&config.fib);
        let (handle, start) = crate::fib::spawn(marking, shutdown.clone()).context(
            "cannot program the kernel's routing table (podroute needs root or CAP_NET_ADMIN; `fib.enabled: false` or --no-fib runs BGP only)",
        )?;
        info!(
            protocol = marking.protocol,
            table = marking.table,
            "installing routes in the kernel"
        );
        if start.kept_routes > 0 {
            // The kernel kept our routes: forwarding went on while we were
            // down (SIGTERM, or a crash or SIGKILL that left no marker), so
            // this is a graceful restart whatever the marker says (RFC 4724
            // §4.1: F bit, selection deferral).
            info!(
                routes = start.kept_routes,
                "routes of ours from the previous run are in the kernel: kept until the routing table is complete"
            );
            config.speaker.graceful_restart.restarting = true;
        }
        Some(handle)
    } else {
        info!("kernel route installation is off: BGP only");
        None
    };
    let restart_time = config.speaker.graceful_restart.restart_time;
    let state_dir = config.state_dir.clone();
    let socket = config.control_socket.clone();
    info!(
        node = config.node.as_deref().unwrap_or("-"),
        asn = %config.speaker.asn,
        router_id = %config.speaker.router_id,
        peers = config.peers.len(),
        "starting podroute {}",
        env!("CARGO_PKG_VERSION")
    );
    if config.peers.is_empty()
        && config.speaker.dynamic_neighbors.is_empty()
        && config.kubernetes.is_none()
    {
        warn!(
            "no peers configured: add `peers:` to a configuration file and run `podroute agent --config FILE`"
        );
    }

    let (control_tx, control_rx) = mpsc::channel(64);
    let ipam_view = match (&cluster, &held) {
        (Some(c), _) => c.ipam.clone(),
        (None, Some(h)) => Some(crate::file_ipam::spawn(h.clone(), shutdown.clone())),
        (None, None) => None,
    };
    let mut overlays = match cluster {
        Some(c) => {
            let status =
                crate::cluster::status::spawn_for(&c, control_tx.clone(), shutdown.clone());
            Some((c.overlay, status))
        }
        None => None,
    };
    let (reload_tx, reload_rx) = mpsc::channel(4);
    // metrics: bound before the driver starts sessions, so a taken port
    // stops the agent at once.
    let (metrics_tx, metrics_rx) = mpsc::channel(8);
    let metrics_server = match config.metrics {
        Some(addr) => Some(crate::metrics::bind(addr).await?),
        None => {
            info!("metrics endpoint turned off (metrics.listen: none)");
            None
        }
    };
    let driver = Driver::new(DriverParts {
        config,
        control: control_rx,
        metrics: metrics_rx,
        reload: reload_rx,
        fib,
        ipam: ipam_view,
        shutdown: shutdown.clone(),
    })
    .await?;

    let server = {
        let token = shutdown.clone();
        let socket = socket.clone();
        tokio::spawn(async move { crate::control::server::serve(&socket, control_tx, token).await })
    };
    let driver = tokio::spawn(driver.run());
    // metrics: serves until shutdown; a failed connection is only logged.
    let metrics_server = metrics_server.map(|m| tokio::spawn(m.run(metrics_tx, shutdown.clone())));

    let signals = {
        let shutdown = shutdown.clone();
        async move {
            loop {
                tokio::select! {
                    _ = sigterm.recv() => { info!("SIGTERM: stopping"); break }
                    _ = sigint.recv() => { info!("SIGINT: stopping"); break }
                    _ = sighup.recv() => match source.load() {
                        Ok(c) => {
                            // The blocks stay as allocated (`source.allocated`);
                            // say what new pools would change at a restart.
                            for note in held.iter().flat_map(|h| crate::file_ipam::reload_notes(h, &c)) {
                                warn!("{note}");
                            }
                            let _ = reload_tx.send(c).await;
                        }
                        Err(e) => error!("SIGHUP: the configuration was not reloaded: {e:#}"),
                    },
                    changed = overlay_changed(&mut overlays) => match changed {
                        Some(overlay) => {
                            // The whole configuration again, the file
                            // included: the reload plan then touches only
                            // the sessions the cluster change concerns.
                            source.cluster = Some(overlay);
                            match source.load() {
                                Ok(c) => { let _ = reload_tx.send(c).await; }
                                Err(e) => error!("the cluster changed, but the result is not a valid configuration; keeping the running one: {e:#}"),
                            }
                        }
                        None => {
                            error!("the Kubernetes watchers stopped; stopping the agent so that the DaemonSet restarts it");
                            break;
                        }
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
            shutdown.cancel();
        }
    };

    let mut server = server;
    let mut driver = driver;
    let mut finished_driver = None;
    tokio::select! {
        _ = signals => {}
        r = &mut server => {
            shutdown.cancel();
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e.context(format!("the control socket {} failed", socket.display()))),
                Err(e) => anyhow::bail!("the control server task failed: {e}"),
            }
        }
        r = &mut driver => {
            // The driver ends on its own only when asked to decommission
            // (or on an error); let the other tasks finish below.
            shutdown.cancel();
            finished_driver = Some(r);
        }
    }
    let stopped = match finished_driver {
        Some(r) => r,
        None => driver.await,
    }
    .context("the BGP driver task failed")?;
    let _ = server.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    let stopped = stopped?;
    if stopped.decommissioned {
        info!(
            "stopped for good: peers withdrew our routes; `podroute agent --cleanup` removes them from the kernel"
        );
        return Ok(());
    }
    if restart_time > 0 {
        match restart_marker::leave(&state_dir, SystemTime::now(), restart_time) {
            Ok(()) => info!(
                restart_time,
                "stopped; a restart within {restart_time} s is graceful"
            ),
            Err(e) => warn!("stopped, but the next start will be cold: {e:#}"),
        }
    } else {
        info!("stopped");
    }
    Ok(())
}
