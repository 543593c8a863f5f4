//! Prometheus metrics and health endpoints: `/metrics`, `/healthz`,
//! `/readyz` over HTTP.
//!
//! ```text
//!  Prometheus / kubelet ──HTTP──► server (hyper) ──Request──► driver (owns the Speaker)
//!                                      ▲                          │ Snapshot / Readiness
//!                                      └──────── oneshot ─────────┘
//! ```
//!
//! Pull model: no second set of counters to keep in step. At each scrape
//! the server asks the driver for a [`Snapshot`] (the speaker's own
//! counters plus what the driver saw, kept in its [`Recorder`]) and encodes
//! it. The server keeps only its last encoded answer (reused for a second,
//! so a scrape loop cannot keep the driver busy); a scrape never sees a
//! half-applied update, and a driver that stops answering shows up as a
//! failed `/healthz`.

mod encode;
mod server;
mod snapshot;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use bgp::speaker::{Output, PeerEventKind};
use tokio::sync::{mpsc, oneshot};

use crate::fib::FibStats;
pub(crate) use server::bind;
pub(crate) use snapshot::{PeerStats, Snapshot};

/// What the metrics server asks the driver. Internal: not part of the
/// versioned control protocol.
#[derive(Debug)]
pub(crate) enum Request {
    /// Everything `/metrics` shows.
    Snapshot(oneshot::Sender<Snapshot>),
    /// The cheap question `/healthz` and `/readyz` ask.
    Readiness(oneshot::Sender<Readiness>),
}

/// How the server reaches the driver.
pub(crate) type MetricsHandle = mpsc::Sender<Request>;

/// Whether the agent is ready to serve: the routing table is complete and
/// the kernel has it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    /// The speaker reported `Output::InitialSyncDone`.
    pub(crate) initial_sync_done: bool,
    /// Route selection is deferred after our restart (RFC 4724 §4.1).
    pub(crate) deferring: bool,
    /// The FIB has been reconciled with the desired routes once (or it is
    /// turned off).
    pub(crate) fib_reconciled: bool,
}

impl Readiness {
    /// Why the agent is not ready yet, in one line; `None` when it is.
    pub(crate) fn not_ready(&self) -> Option<&'static str> {
        if !self.initial_sync_done {
            Some(if self.deferring {
                "waiting for the initial routing table: graceful restart, waiting for the peers' End-of-RIB"
            } else {
                "waiting for the initial routing table"
            })
        } else if !self.fib_reconciled {
            Some("routes not programmed yet: the first FIB reconcile has not finished")
        } else {
            None
        }
    }
}

/// What the driver saw that the speaker does not keep. Owned by the driver,
/// fed every speaker output through [`Recorder::observe`].
#[derive(Debug)]
pub(crate) struct Recorder {
    started: Instant,
    /// Off (`fib.enabled: false`): nothing to reconcile, nothing to wait for.
    fib_enabled: bool,
    initial_sync_done: bool,
    /// Times each peer's session reached Established.
    established: BTreeMap<IpAddr, u64>,
    /// The FIB's counters, as of its last report: the driver writes them
    /// as `fib::Update`s arrive.
    pub(crate) fib: FibStats,
}

impl Recorder {
    pub(crate) fn new(started: Instant, fib_enabled: bool) -> Recorder {
        Recorder {
            started,
            fib_enabled,
            initial_sync_done: false,
            established: BTreeMap::new(),
            fib: FibStats::default(),
        }
    }

    /// Notes what matters for metrics in one speaker output.
    pub(crate) fn observe(&mut self, output: &Output) {
        match output {
            Output::InitialSyncDone => self.initial_sync_done = true,
            Output::Event(e) if matches!(e.kind, PeerEventKind::Established) => {
                *self.established.entry(e.peer).or_default() += 1;
            }
            _ => {}
        }
    }

    pub(crate) fn readiness(&self, speaker: &bgp::speaker::Speaker) -> Readiness {
        Readiness {
            initial_sync_done: self.initial_sync_done,
            deferring: speaker.is_deferring(),
            fib_reconciled: self.fib.reconciled || !self.fib_enabled,
        }
    }
}

impl Request {
    /// Answers from the driver's state. A server that gave up waiting is
    /// not an error.
    pub(crate) fn answer(self, speaker: &bgp::speaker::Speaker, recorder: &Recorder) {
        match self {
            Request::Snapshot(reply) => {
                let _ = reply.send(Snapshot::collect(speaker, recorder, Instant::now()));
            }
            Request::Readiness(reply) => {
                let _ = reply.send(recorder.readiness(speaker));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, parse};
    use bgp::speaker::Speaker;

    fn speaker() -> Speaker {
        let config = parse("asn: 64512\nrouter_id: 192.0.2.1\n", &Host::default()).unwrap();
        Speaker::new(config.speaker.clone(), Instant::now())
    }

    #[test]
    fn ready_after_the_initial_sync_and_the_first_reconcile() {
        let s = speaker();
        let mut rec = Recorder::new(Instant::now(), true);
        let r = rec.readiness(&s);
        assert_eq!(r.not_ready(), Some("waiting for the initial routing table"));
        rec.observe(&Output::InitialSyncDone);
        assert!(
            rec.readiness(&s)
                .not_ready()
                .unwrap()
                .contains("FIB reconcile")
        );
        rec.fib.reconciled = true;
        assert_eq!(rec.readiness(&s).not_ready(), None);
    }

    #[test]
    fn without_a_fib_the_initial_sync_is_enough() {
        let s = speaker();
        let mut rec = Recorder::new(Instant::now(), false);
        assert!(rec.readiness(&s).not_ready().is_some());
        rec.observe(&Output::InitialSyncDone);
        assert_eq!(rec.readiness(&s).not_ready(), None);
    }
}
