//! The kernel FIB: best paths become kernel routes with podroute's own
//! rtnetlink protocol number, straight to a directly connected next hop
//! (no tunnel device anywhere), ECMP where the speaker has a multipath set.
//!
//! Ownership: only routes with our protocol number in our table are ever
//! written or deleted. At start the FIB reads ours and keeps them while the
//! speaker relearns (graceful restart), then reconciles. A route of ours
//! that someone deletes or changes is put back; lost kernel events
//! (ENOBUFS) trigger a full re-read. On stop the routes stay.
//!
//! `table.rs` decides, `netlink.rs` talks to the kernel, `task.rs` is the
//! thread that owns both. A million routes is the scale planned for: the
//! table costs tens of bytes per route, writes go ~1000 to a system call,
//! and the kernel filters out the events our own writes cause (see
//! `measure.rs` for the figures and how to rerun them).

mod connected;
mod kernel;
#[cfg(test)]
mod measure;
mod netlink;
#[cfg(test)]
mod netns;
mod route;
mod table;
mod task;

use std::collections::BTreeMap;

use bgp::types::Prefix;
use serde::Serialize;

pub(crate) use connected::NextHopSpec;
pub(crate) use netlink::Marking;
pub(crate) use route::Target;
pub(crate) use table::{FibState, NextHops};
pub(crate) use task::{Command, Handle, Update, cleanup, spawn};

impl From<&crate::config::FibSettings> for Marking {
    fn from(s: &crate::config::FibSettings) -> Marking {
        Marking {
            protocol: s.protocol,
            table: s.table,
            metric: s.metric,
        }
    }
}

/// The FIB's counters, for metrics and `show fib`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct FibStats {
    pub(crate) desired: u64,
    pub(crate) installed: u64,
    pub(crate) not_installed: u64,
    pub(crate) pending: u64,
    /// Left from the previous run, awaiting the speaker's sync.
    pub(crate) kept: u64,
    /// Route writes by operation (`add`, `replace`, `delete`).
    pub(crate) ops_ok: BTreeMap<&'static str, u64>,
    pub(crate) ops_failed: BTreeMap<&'static str, u64>,
    /// netlink `send`s carrying route writes.
    pub(crate) batches: u64,
    /// Full re-reads of the table, by reason.
    pub(crate) resyncs: BTreeMap<&'static str, u64>,
    /// Our routes changed or deleted by someone else (and put back).
    pub(crate) external_changes: u64,
    /// The first reconciliation after start is done.
    pub(crate) reconciled: bool,
    /// Seconds from start to that reconciliation.
    pub(crate) sync_secs: f64,
    /// Heap bytes of the per-prefix table.
    pub(crate) table_bytes: u64,
    /// Distinct next-hop sets in use.
    pub(crate) next_hop_sets: u64,
}

/// One prefix in `show fib`.
#[derive(Debug, Clone)]
pub(crate) struct FibEntry {
    pub(crate) prefix: Prefix,
    pub(crate) desired: Option<Target>,
    pub(crate) kernel: Option<Target>,
    pub(crate) state: Option<FibState>,
}

/// `show fib`: what podroute wants against what the kernel has.
#[derive(Debug, Clone)]
pub(crate) struct FibReport {
    pub(crate) protocol: u8,
    pub(crate) table: u32,
    pub(crate) synced: bool,
    pub(crate) entries: Vec<FibEntry>,
    pub(crate) stats: FibStats,
}

impl FibState {
    /// One word for tables, and the reason where there is one.
    pub(crate) fn describe(&self) -> (&'static str, Option<&str>) {
        match self {
            FibState::Installed => ("installed", None),
            FibState::Partial(w) => ("installed", Some(w)),
            FibState::Pending => ("pending", None),
            FibState::NotInstalled(w) => ("not-installed", Some(w)),
            FibState::Kept => (
                "kept",
                Some(
                    "from the previous run, until the routing table is complete (graceful restart)",
                ),
            ),
        }
    }
}
