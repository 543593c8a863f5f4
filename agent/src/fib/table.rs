//! Desired routes against the kernel's routes of our protocol: what to
//! write, and what each prefix's state is. No I/O here: the task feeds in
//! what the speaker wants and what the kernel reports, and applies the
//! operations this computes (see `task.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bgp::types::Prefix;

use super::connected::{Connected, NextHopSpec};
use super::route::{KernelRoute, Target};

/// A prefix's FIB state, for `show routes` and `show fib`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FibState {
    Installed,
    /// Installed with only some of its next hops (the others are not
    /// directly connected).
    Partial(String),
    /// Written, or about to be.
    Pending,
    NotInstalled(String),
    /// Left by the previous run; kept until the speaker has relearned its
    /// routes (graceful restart), then reconciled.
    Kept,
}

/// One write to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create the route; `replace` when a route of ours is there already
    /// (otherwise creation must fail rather than replace another protocol's
    /// route).
    Set { route: KernelRoute, replace: bool },
    /// Delete our route (the protocol in the request keeps the kernel from
    /// deleting anyone else's).
    Delete { route: KernelRoute },
}

impl Op {
    pub(crate) fn prefix(&self) -> Prefix {
        match self {
            Op::Set { route, .. } | Op::Delete { route } => route.prefix,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Set { replace: false, .. } => "add",
            Op::Set { replace: true, .. } => "replace",
            Op::Delete { .. } => "delete",
        }
    }
}

/// Why a write failed, as far as the reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpError {
    /// A route with the same key (prefix, table, metric) that is not ours.
    Exists,
    /// The route to delete is gone already.
    Gone,
    Other(String),
}

#[derive(Debug, Default)]
pub(crate) struct Table {
    /// What the speaker chose (best paths).
    learned: HashMap<Prefix, Vec<NextHopSpec>>,
    /// Our own pod blocks.
    local: BTreeMap<Prefix, Target>,
    /// Our routes as the kernel holds them.
    kernel: HashMap<Prefix, Target>,
    /// Per prefix, for show. Absent: neither wanted nor in the kernel.
    state: HashMap<Prefix, FibState>,
    dirty: BTreeSet<Prefix>,
    /// Prefixes whose state changed since [`Table::take_changed`].
    changed: BTreeSet<Prefix>,
    connected: Connected,
    /// The speaker has its full table: routes of ours it does not want may
    /// go. Until then they are kept (graceful restart).
    synced: bool,
}

impl Table {
    /// Starts from the routes of ours the kernel holds (a previous run's).
    pub(crate) fn new(kernel: Vec<KernelRoute>, connected: Connected) -> Table {
        let mut t = Table {
            connected,
            ..Table::default()
        };
        t.replace_kernel(kernel);
        t
    }

    /// A full dump of our kernel routes (start, or resync after ENOBUFS):
    /// everything is compared again.
    pub(crate) fn replace_kernel(&mut self, kernel: Vec<KernelRoute>) {
        self.kernel = kernel.into_iter().map(|r| (r.prefix, r.target)).collect();
        let all: Vec<Prefix> = self
            .kernel
            .keys()
            .chain(self.learned.keys())
            .chain(self.local.keys())
            .copied()
            .collect();
        for p in all {
            if !self.state.contains_key(&p) && self.kernel.contains_key(&p) {
                self.set_state(p, FibState::Kept);
            }
            self.dirty.insert(p);
        }
    }

    pub(crate) fn set_learned(&mut self, prefix: Prefix, hops: Vec<NextHopSpec>) {
        if hops.is_empty() {
            self.learned.remove(&prefix);
        } else {
            self.learned.insert(prefix, hops);
        }
        self.dirty.insert(prefix);
    }

    /// Our own pod blocks, all of them (replacing the previous set).
    pub(crate) fn set_local(&mut self, local: BTreeMap<Prefix, Target>) {
        let old = std::mem::replace(&mut self.local, local);
        self.dirty
            .extend(old.keys().chain(self.local.keys()).copied());
    }

    pub(crate) fn set_connected(&mut self, connected: Connected) {
        if connected != self.connected {
            self.connected = connected;
            self.dirty.extend(self.learned.keys().copied());
        }
    }

    /// The speaker's initial table is complete (its End-of-RIB wait is
    /// over): stale routes of ours may now be removed.
    pub(crate) fn synced(&mut self) {
        if !self.synced {
            self.synced = true;
            self.dirty.extend(self.kernel.keys().copied());
        }
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.synced
    }

    /// The kernel reports our route for `prefix` (`None`: deleted), by
    /// anyone, us included. If it is not what we want, it is put back.
    pub(crate) fn kernel_changed(&mut self, prefix: Prefix, target: Option<Target>) {
        match target {
            Some(t) => self.kernel.insert(prefix, t),
            None => self.kernel.remove(&prefix),
        };
        if self.want(prefix) != self.kernel.get(&prefix).cloned() || !self.is_wanted(prefix) {
            self.dirty.insert(prefix);
        }
    }

    /// Someone else's route for `prefix` went away: a route of ours it
    /// blocked may now go in.
    pub(crate) fn foreign_removed(&mut self, prefix: Prefix) {
        if matches!(self.state.get(&prefix), Some(FibState::NotInstalled(_))) {
            self.dirty.insert(prefix);
        }
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn is_wanted(&self, prefix: Prefix) -> bool {
        self.local.contains_key(&prefix) || self.learned.contains_key(&prefix)
    }

    /// The target we want for `prefix`, resolved against the connected
    /// subnets; `None` when nothing (installable) is wanted.
    fn want(&self, prefix: Prefix) -> Option<Target> {
        self.resolve(prefix).0
    }

    /// The target, and why it is not (fully) installable.
    fn resolve(&self, prefix: Prefix) -> (Option<Target>, Option<String>) {
        if let Some(t) = self.local.get(&prefix) {
            return (Some(t.clone()), None);
        }
        let Some(specs) = self.learned.get(&prefix) else {
            return (None, None);
        };
        let mut hops = Vec::new();
        let mut problems = Vec::new();
        for s in specs {
            match self.connected.resolve(s) {
                Ok(h) => hops.push(h),
                Err(e) => problems.push(e),
            }
        }
        let why = (!problems.is_empty()).then(|| problems.join("; "));
        (Target::via(hops), why)
    }

    /// The writes that bring the kernel to what we want, for every prefix
    /// that changed since the last call.
    pub(crate) fn take_ops(&mut self) -> Vec<Op> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut ops = Vec::new();
        for prefix in dirty {
            let (want, why) = self.resolve(prefix);
            let have = self.kernel.get(&prefix).cloned();
            match (want, have) {
                (Some(w), Some(h)) if h == w => {
                    self.set_state(prefix, installed(why));
                }
                (Some(w), have) => {
                    self.set_state(prefix, FibState::Pending);
                    ops.push(Op::Set {
                        route: KernelRoute { prefix, target: w },
                        replace: have.is_some(),
                    });
                }
                (None, Some(_)) if !self.synced && !self.is_wanted(prefix) => {
                    // Graceful restart: forwarding continues on what the
                    // previous run installed until the speaker has relearned.
                    self.set_state(prefix, FibState::Kept);
                }
                (None, Some(h)) => {
                    let route = KernelRoute { prefix, target: h };
                    match why {
                        Some(w) => self.set_state(prefix, FibState::NotInstalled(w)),
                        None => self.set_state(prefix, FibState::Pending),
                    };
                    ops.push(Op::Delete { route });
                }
                (None, None) => match why {
                    Some(w) => {
                        self.set_state(prefix, FibState::NotInstalled(w));
                    }
                    None => {
                        self.clear_state(prefix);
                    }
                },
            }
        }
        ops
    }

    /// The outcome of one operation from [`Table::take_ops`].
    pub(crate) fn applied(&mut self, op: &Op, result: Result<(), OpError>) {
        let prefix = op.prefix();
        match (op, result) {
            (Op::Set { route, .. }, Ok(())) => {
                self.kernel.insert(prefix, route.target.clone());
                let (_, why) = self.resolve(prefix);
                self.set_state(prefix, installed(why));
            }
            (Op::Delete { .. }, Ok(()) | Err(OpError::Gone)) => {
                self.kernel.remove(&prefix);
                if let Some(FibState::Pending) = self.state.get(&prefix) {
                    self.clear_state(prefix);
                }
            }
            (Op::Set { .. }, Err(OpError::Exists)) => {
                self.set_state(
                    prefix,
                    FibState::NotInstalled(
                        "another protocol's route for this prefix is in the table; podroute does not replace routes that are not its own".into(),
                    ),
                );
            }
            (_, Err(e)) => {
                let e = match e {
                    OpError::Other(e) => e,
                    OpError::Exists => "exists".into(),
                    OpError::Gone => "no such route".into(),
                };
                self.set_state(
                    prefix,
                    FibState::NotInstalled(format!("the kernel refused it: {e}")),
                );
            }
        }
    }

    fn set_state(&mut self, prefix: Prefix, state: FibState) {
        if self.state.get(&prefix) != Some(&state) {
            self.state.insert(prefix, state);
            self.changed.insert(prefix);
        }
    }

    fn clear_state(&mut self, prefix: Prefix) {
        if self.state.remove(&prefix).is_some() {
            self.changed.insert(prefix);
        }
    }

    /// The prefixes whose state changed since the last call, with their
    /// state now (`None`: no longer in the FIB's view).
    pub(crate) fn take_changed(&mut self) -> Vec<(Prefix, Option<FibState>)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|p| (p, self.state.get(&p).cloned()))
            .collect()
    }

    pub(crate) fn state(&self, prefix: Prefix) -> Option<&FibState> {
        self.state.get(&prefix)
    }

    pub(crate) fn kernel_route(&self, prefix: Prefix) -> Option<&Target> {
        self.kernel.get(&prefix)
    }

    pub(crate) fn wanted_target(&self, prefix: Prefix) -> Option<Target> {
        self.want(prefix)
    }

    /// Every prefix we want or hold, for `show fib`.
    pub(crate) fn prefixes(&self) -> BTreeSet<Prefix> {
        self.learned
            .keys()
            .chain(self.local.keys())
            .chain(self.kernel.keys())
            .copied()
            .collect()
    }

    pub(crate) fn counts(&self) -> Counts {
        let mut c = Counts {
            desired: self.learned.len() + self.local.len(),
            kernel: self.kernel.len(),
            ..Counts::default()
        };
        for s in self.state.values() {
            match s {
                FibState::Installed | FibState::Partial(_) => c.installed += 1,
                FibState::Pending => c.pending += 1,
                FibState::NotInstalled(_) => c.not_installed += 1,
                FibState::Kept => c.kept += 1,
            }
        }
        c
    }
}

/// How many prefixes are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) desired: usize,
    pub(crate) kernel: usize,
    pub(crate) installed: usize,
    pub(crate) pending: usize,
    pub(crate) not_installed: usize,
    pub(crate) kept: usize,
}

fn installed(why: Option<String>) -> FibState {
    match why {
        Some(w) => FibState::Partial(w),
        None => FibState::Installed,
    }
}

#[cfg(test)]
mod tests;
