//! Watching the cluster: Nodes, BGPPeers, and the Secrets of podroute's
//! namespace, each through a kube-runtime watcher into a reflector store.
//!
//! ```text
//!   watcher(Nodes)   ─► store ─┐
//!   watcher(BGPPeers)─► store ─┼─ "something changed" ─► wait 100 ms ─► read all three stores
//!   watcher(Secrets) ─► store ─┘                                         │ intent::overlay
//!                                                                        ▼
//!                                              tokio::sync::watch<ClusterOverlay> (if it differs)
//! ```
//!
//! An event is only a hint that the state changed: the overlay is always
//! recomputed from the stores in full, never from the events themselves,
//! so a missed or repeated event, a re-list after the API server compacted
//! its history, or a burst of changes all end in the same overlay as a
//! fresh start would give.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use futures::{Stream, StreamExt};
use ipam::Cidr;
use k8s_openapi::api::core::v1::{Node, NodeStatus, Secret};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::intent::{self, ClusterView};
use super::resources::BGPPeer;
use crate::config::{ClusterOverlay, KubernetesSettings};

/// How long a burst of events may last before the one recompute it causes.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// How long the first list of all three kinds may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the watchers and returns once all three stores hold a full list
/// and the first overlay is computed; the receiver then sees every new
/// overlay until `shutdown`.
///
/// `own_cidrs`: this node's pod CIDRs as the agent has them (the IPAM's
/// blocks; the file's in `static` mode, for the import guard); `None` in
/// `node-spec` mode, where this Node's `spec.podCIDRs` are followed.
/// `file_policies`: the policies the configuration file defines, the only
/// ones a BGPPeer may name.
pub(crate) async fn spawn(
    client: kube::Client,
    settings: KubernetesSettings,
    node: String,
    own_cidrs: Option<Vec<Cidr>>,
    file_policies: BTreeSet<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<ClusterOverlay>> {
    let (events, mut changes) = watch::channel(0u64);
    let nodes = Watched::start(
        "Nodes",
        Api::<Node>::all(client.clone()),
        slim_node,
        &events,
        &shutdown,
    );
    let peers = Watched::start(
        "BGPPeers",
        Api::<BGPPeer>::all(client.clone()),
        |p: &mut BGPPeer| slim_meta(p),
        &events,
        &shutdown,
    );
    let secrets = Watched::start(
        "Secrets",
        Api::<Secret>::namespaced(client, &settings.namespace),
        |s: &mut Secret| slim_meta(s),
        &events,
        &shutdown,
    );
    // The watchers hold the senders now: the channel closes with them.
    drop(events);

    let namespace = settings.namespace.clone();
    let ready =
        async { tokio::try_join!(nodes.ready(), peers.ready(), secrets.ready()).map(|_| ()) };
    tokio::select! {
        _ = shutdown.cancelled() => bail!("stopped before the cluster's state was listed"),
        r = tokio::time::timeout(READY_TIMEOUT, ready) => match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                let waiting: Vec<String> = [nodes.waiting(), peers.waiting(), secrets.waiting()]
                    .into_iter()
                    .flatten()
                    .collect();
                bail!(
                    "the API server did not list {} within {}s: is it reachable, is the BGPPeer CRD installed (deploy/crds), and may podroute's ServiceAccount list and watch nodes, bgppeers.podroute.io and secrets in namespace {namespace} (RBAC, deploy/)?",
                    waiting.join(", "),
                    READY_TIMEOUT.as_secs()
                )
            }
        },
    }

    let mut reconciler = Reconciler {
        settings,
        node,
        own_cidrs,
        file_policies,
        nodes: nodes.store,
        peers: peers.store,
        secrets: secrets.store,
        logged: BTreeSet::new(),
    };
    // What changes from here on is seen by the loop below.
    changes.mark_unchanged();
    let first = reconciler.compute();
    info!(
        peers = first.peers.len(),
        pod_cidrs = ?first.pod_cidrs,
        "the cluster's intent is computed"
    );
    let (tx, rx) = watch::channel(first);
    tokio::spawn(reconciler.run(changes, tx, shutdown));
    Ok(rx)
}

/// One kind of object: its store, filled by a watcher task.
struct Watched<K: Resource + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    what: &'static str,
    store: Store<K>,
    /// The watcher's last error, for the message when listing times out.
    last_error: Arc<Mutex<Option<String>>>,
    listed: Cell<bool>,
}

impl<K> Watched<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    fn start(
        what: &'static str,
        api: Api<K>,
        slim: fn(&mut K),
        events: &watch::Sender<u64>,
        shutdown: &CancellationToken,
    ) -> Self {
        let (store, writer) = reflector::store();
        let stream = watcher(api, watcher::Config::default())
            .modify(slim)
            .default_backoff()
            .reflect(writer);
        let last_error = Arc::new(Mutex::new(None));
        tokio::spawn(drive(
            what,
            stream,
            events.clone(),
            last_error.clone(),
            shutdown.clone(),
        ));
        Watched {
            what,
            store,
            last_error,
            listed: Cell::new(false),
        }
    }

    async fn ready(&self) -> anyhow::Result<()> {
        if self.store.wait_until_ready().await.is_err() {
            bail!("the watcher of {} stopped before it listed them", self.what);
        }
        self.listed.set(true);
        info!("{} listed: {}", self.what, self.store.state().len());
        Ok(())
    }

    /// What is still awaited, with the last error, if any.
    fn waiting(&self) -> Option<String> {
        if self.listed.get() {
            return None;
        }
        let last = self.last_error.lock().ok().and_then(|e| e.clone());
        Some(match last {
            Some(e) => format!("{} (last error: {e})", self.what),
            None => self.what.to_string(),
        })
    }
}

/// Runs one watcher (the reflector writes the store as events pass), and
/// says "changed" when the store did.
async fn drive<K: Debug>(
    what: &'static str,
    stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    events: watch::Sender<u64>,
    last_error: Arc<Mutex<Option<String>>>,
    shutdown: CancellationToken,
) {
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            // The store changed: an object, or a whole new list swapped in.
            Some(Ok(
                watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
            )) => {
                if let Ok(mut e) = last_error.lock()
                    && e.take().is_some()
                {
                    info!("watching {what} again");
                }
                events.send_modify(|n| *n = n.wrapping_add(1));
            }
            // A re-list in progress: the store changes at its InitDone.
            Some(Ok(watcher::Event::Init | watcher::Event::InitApply(_))) => {}
            Some(Err(e)) => {
                // Retried with backoff; said once per new error.
                let text = e.to_string();
                let mut last = last_error.lock().ok();
                let repeated = last
                    .as_deref()
                    .is_some_and(|l| l.as_deref() == Some(text.as_str()));
                if repeated {
                    debug!("watching {what}: {text}");
                } else {
                    warn!("watching {what}: {text}; retrying");
                }
                if let Some(l) = last.as_deref_mut() {
                    *l = Some(text);
                }
            }
            // A watcher never ends by itself.
            None => return,
        }
    }
}

/// Only what the intent reads is kept: a big cluster's Nodes are mostly
/// images and conditions.
fn slim_node(n: &mut Node) {
    slim_meta(n);
    if let Some(status) = n.status.as_mut() {
        *status = NodeStatus {
            addresses: status.addresses.take(),
            ..NodeStatus::default()
        };
    }
}

/// Managed fields are bulk; annotations too, and a Secret applied with
/// `kubectl apply` carries its data again in one of them.
fn slim_meta<K: ResourceExt>(o: &mut K) {
    o.managed_fields_mut().clear();
    o.annotations_mut().clear();
}

/// The inputs of the intent, and what was logged of it.
struct Reconciler {
    settings: KubernetesSettings,
    node: String,
    own_cidrs: Option<Vec<Cidr>>,
    file_policies: BTreeSet<String>,
    nodes: Store<Node>,
    peers: Store<BGPPeer>,
    secrets: Store<Secret>,
    /// The warnings of the last recompute: each is logged when it appears,
    /// not at every recompute.
    logged: BTreeSet<String>,
}

impl Reconciler {
    /// The overlay from the stores in full, this instant.
    fn compute(&mut self) -> ClusterOverlay {
        let view = ClusterView {
            node: self.node.clone(),
            nodes: self.nodes.state(),
            peers: self.peers.state(),
            secrets: self.secrets.state(),
            own_cidrs: self.own_cidrs.clone(),
            file_policies: self.file_policies.clone(),
        };
        let intent = intent::overlay(&view, &self.settings);
        for w in fresh(&mut self.logged, intent.warnings) {
            warn!("{w}");
        }
        intent.overlay
    }

    async fn run(
        mut self,
        mut changes: watch::Receiver<u64>,
        overlays: watch::Sender<ClusterOverlay>,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = overlays.closed() => return,
                r = changes.changed() => if r.is_err() { return },
            }
            // A burst (a re-list, a node joining with its labels, a
            // rollout of Secrets) is one recompute.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(DEBOUNCE) => {}
            }
            // Before reading the stores: a change after this is seen next
            // time round, never lost.
            changes.mark_unchanged();
            let next = self.compute();
            if !same(&next, &overlays.borrow()) {
                info!(peers = next.peers.len(), "the cluster changed: applying");
                overlays.send_replace(next);
            }
        }
    }
}

/// The warnings of `now` not in `logged`, which becomes `now`: a warning
/// is logged when it appears, again only after it went away and came back.
fn fresh(logged: &mut BTreeSet<String>, now: Vec<String>) -> Vec<String> {
    let new = now
        .iter()
        .filter(|w| !logged.contains(*w))
        .cloned()
        .collect();
    *logged = now.into_iter().collect();
    new
}

/// Whether two overlays are the same. The raw configuration types have no
/// `PartialEq`; their `Debug` form shows every field (passwords included:
/// compared here, never logged), and the intent builds them in a fixed
/// order, so equal overlays print equal.
fn same(a: &ClusterOverlay, b: &ClusterOverlay) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[cfg(test)]
mod tests;
