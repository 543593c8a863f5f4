//! Keeping this node's claims (`pod_cidrs: ipam`): a watcher over every
//! PodCIDRBlock, for `show ipam`, and to notice one of ours going away.
//!
//! A block of ours deleted while the agent runs (`kubectl delete pcb`, a
//! `podroute ipam release --force`) is claimed again at once: the node
//! still routes its pods' addresses. Two cases stop instead of guessing:
//! another node holding our block (two nodes advertising one block would
//! blackhole pods; the DaemonSet restarts the agent, which claims anew),
//! and our Node deleted (the node is leaving: claiming for it again would
//! only feed the garbage collector).

use std::time::Duration;

use ::ipam::{Cidr, Pools};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::ipam::{self, Blocks};
use super::resources::PodCIDRBlock;
use crate::control::protocol::IpamView;

/// A burst of changes (a rollout of many nodes) is one look.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What the keeper needs to know of this node.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub(crate) node: Node,
    pub(crate) blocks: Vec<Cidr>,
    pub(crate) pools: Pools,
}

/// Watches the blocks until `shutdown`; the receiver has the view for
/// `show ipam`. Cancels `shutdown` (the agent stops, with a logged reason)
/// when the claims cannot be kept.
pub(crate) fn spawn(
    client: kube::Client,
    claims: Claims,
    shutdown: CancellationToken,
) -> watch::Receiver<IpamView> {
    let (store, writer) = reflector::store();
    let stream = watcher(
        Api::<PodCIDRBlock>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer);
    let name = claims.node.name_any();
    let first = Blocks::default().view("ipam", Some(&name), Some(&claims.pools));
    let (tx, rx) = watch::channel(first);
    tokio::spawn(run(client, claims, store, stream, tx, shutdown));
    rx
}

async fn run(
    client: kube::Client,
    claims: Claims,
    store: Store<PodCIDRBlock>,
    stream: impl futures::Stream<Item = Result<watcher::Event<PodCIDRBlock>, watcher::Error>>,
    views: watch::Sender<IpamView>,
    shutdown: CancellationToken,
) {
    let mut stream = std::pin::pin!(stream);
    let name = claims.node.name_any();
    let mut ready = false;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(watcher::Event::InitDone)) => ready = true,
            Some(Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))) if ready => {}
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                warn!("watching PodCIDRBlocks: {e}; retrying");
                continue;
            }
            None => return,
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(DEBOUNCE) => {}
        }
        let blocks = Blocks::from_objects(store.state().iter().map(|o| (**o).clone()));
        views.send_replace(blocks.view("ipam", Some(&name), Some(&claims.pools)));
        if let Err(why) = keep(&client, &claims, &blocks).await {
            error!("{why:#}; stopping the agent");
            shutdown.cancel();
            return;
        }
    }
}

/// Claims again each block of ours that is gone; `Err` when that is not
/// the right thing to do (see the module comment).
async fn keep(client: &kube::Client, claims: &Claims, blocks: &Blocks) -> anyhow::Result<()> {
    let name = claims.node.name_any();
    for cidr in &claims.blocks {
        match blocks.state.owner(cidr) {
            Some(owner) if owner.as_str() == name => continue,
            Some(owner) => anyhow::bail!(
                "pod CIDR block {cidr} of this node is now held by node {owner}: two nodes must never route one block"
            ),
            None => {}
        }
        let nodes = Api::<Node>::all(client.clone());
        let current = nodes.get_opt(&name).await?;
        if current.as_ref().and_then(|n| n.metadata.uid.as_ref())
            != claims.node.metadata.uid.as_ref()
        {
            anyhow::bail!(
                "Node {name} was deleted (its PodCIDRBlocks went with it): the node is leaving the cluster"
            );
        }
        warn!(block = %cidr, "this node's PodCIDRBlock was deleted while in use: claiming it again");
        let pool = claims
            .pools
            .pool_of(cidr)
            .map(|p| p.cluster().to_string())
            .unwrap_or_default();
        if !ipam::claim_block(client, cidr, &pool, &claims.node).await? {
            anyhow::bail!(
                "pod CIDR block {cidr} of this node was deleted and claimed by another node before this one could claim it again"
            );
        }
        info!(block = %cidr, "claimed again");
    }
    Ok(())
}
