//! Pod CIDRs without Kubernetes (the `ipam` section): one block per pool
//! for this node, allocated through [`ipam::Allocator`] over a
//! [`FileStore`], a JSON state file that every host sharing the pools
//! writes to (a local file for one host, a file on a shared mount for a lab).
//!
//! The allocator is idempotent: a node that restarts gets the blocks it
//! holds back and nothing is written, so a restart never moves a node's
//! pods. Once allocated, the blocks are the node's `pod_cidrs` and follow
//! the same path (originated, an unreachable route in the FIB).
//!
//! While the agent runs, a keeper reads the file now and then: for `show
//! ipam`, and to notice one of our blocks going away. A block released by
//! hand (`podroute ipam release`) is allocated again at once, since the
//! node still routes its pods' addresses; a block another node now holds
//! stops the agent, since two nodes advertising one block blackhole pods.
//!
//! Every store access is blocking file I/O: [`start`] runs before the
//! async runtime, and the keeper reads on the blocking pool.

use std::time::Duration;

use ::ipam::{AllocateError, Allocator, Cidr, FileStore, NodeName, Pools, State, Store};
use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{Config, IpamSettings};
use crate::control::protocol::{BlockEntry, IpamView, PoolUsage};
use crate::display::list_or_none;

/// How often the keeper reads the state file. Other hosts' allocations
/// show up in `show ipam` this late at most; a block of ours released by
/// hand is allocated again this late at most.
const POLL: Duration = Duration::from_secs(5);

/// The mode's name in `show ipam` and the start-up log.
pub(crate) const MODE: &str = "file";

/// This node's blocks, and where they came from.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) settings: IpamSettings,
    pub(crate) node: NodeName,
    /// One per pool, in pool order.
    pub(crate) blocks: Vec<Cidr>,
}

fn allocator(settings: &IpamSettings) -> Allocator<FileStore> {
    Allocator::new(settings.pools.clone(), FileStore::new(&settings.file))
}

fn node_name(node: Option<&str>) -> anyhow::Result<NodeName> {
    let Some(name) = node else {
        bail!(
            "`ipam` allocates blocks to a node by name: set `node` or --node-name (the configuration check should have refused this)"
        );
    };
    NodeName::new(name).with_context(|| format!("node name `{name}`"))
}

/// Allocates this node's blocks (or finds the ones it holds) and logs
/// them. Blocking: call it before the async runtime starts.
pub(crate) fn start(settings: &IpamSettings, node: Option<&str>) -> anyhow::Result<Held> {
    let node = node_name(node)?;
    let blocks = allocator(settings).allocate(&node).with_context(|| {
        format!(
            "cannot get pod CIDR blocks for node {node} from {}",
            settings.file.display()
        )
    })?;
    info!(
        mode = MODE,
        file = %settings.file.display(),
        pod_cidrs = %list_or_none(&blocks),
        "pod CIDRs: allocated from the pools in the state file"
    );
    Ok(Held {
        settings: settings.clone(),
        node,
        blocks,
    })
}

/// Frees every block `node` holds in the state file; the blocks freed.
/// A running agent of that node allocates again within [`POLL`].
pub(crate) fn release(settings: &IpamSettings, node: &str) -> anyhow::Result<Vec<Cidr>> {
    let node = node_name(Some(node))?;
    allocator(settings)
        .release(&node)
        .with_context(|| format!("cannot release the blocks of node {node}"))
}

/// What `show ipam` and `ipam list` print, from the state file now.
pub(crate) fn read_view(
    settings: &IpamSettings,
    node: Option<&NodeName>,
) -> Result<IpamView, ::ipam::StoreError> {
    let (state, _) = FileStore::new(&settings.file).load()?;
    Ok(view(settings, &state, node))
}

/// The pools' usage and every block of `state`, in address order. One
/// read of the file gives both, so they agree (the allocator's `usage()`
/// would read the file again).
pub(crate) fn view(settings: &IpamSettings, state: &State, node: Option<&NodeName>) -> IpamView {
    let pools = settings
        .pools
        .iter()
        .map(|pool| PoolUsage::of(pool, state))
        .collect();
    let blocks = state
        .iter()
        .map(|(block, owner)| BlockEntry {
            cidr: block.to_string(),
            node: owner.to_string(),
            // An entry no configured pool hands out (written under other
            // pools, or by hand) is still shown: it still holds addresses.
            pool: settings
                .pools
                .pool_of(&block)
                .map_or_else(|| "-".to_string(), |p| p.cluster().to_string()),
            created: None,
        })
        .collect();
    IpamView {
        mode: MODE.to_string(),
        node: node.map(ToString::to_string),
        node_cidrs: node
            .map(|n| state.blocks_of(n).map(|b| b.to_string()).collect())
            .unwrap_or_default(),
        pools,
        blocks,
        store: Some(settings.file.display().to_string()),
    }
}

/// What a SIGHUP's new `ipam.pools` mean for the blocks held: nothing is
/// allocated again until a restart, so say which blocks no longer fit and
/// which pools have none of ours. Empty when the pools are the same.
pub(crate) fn reload_notes(held: &Held, new: &Config) -> Vec<String> {
    let Some(settings) = &new.ipam else {
        return Vec::new();
    };
    if settings.pools == held.settings.pools {
        return Vec::new();
    }
    let ours: State = held
        .blocks
        .iter()
        .map(|b| (*b, held.node.clone()))
        .collect();
    let mut notes = Vec::new();
    match settings.pools.propose(&ours, &held.node) {
        Ok(p) => {
            for block in &p.released {
                notes.push(format!(
                    "`ipam.pools` changed: pod CIDR block {block} no longer fits them; it stays this node's until a restart allocates again"
                ));
            }
            for claim in &p.claims {
                let pool = pool_name(&settings.pools, claim);
                notes.push(format!(
                    "`ipam.pools` changed: this node has no block of pool {pool} yet; a restart allocates one"
                ));
            }
        }
        Err(e) => notes.push(format!(
            "`ipam.pools` changed and cannot hold this node's blocks ({e}); the blocks held stay until a restart"
        )),
    }
    notes
}

fn pool_name(pools: &Pools, block: &Cidr) -> String {
    pools
        .pool_of(block)
        .map_or_else(|| block.to_string(), ToString::to_string)
}

/// How our blocks stand in a read of the state file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    /// Every block is still ours.
    Kept,
    /// Some are free (released by hand): allocate again.
    Released(Vec<Cidr>),
    /// Another node holds one: we must stop advertising it.
    Taken { block: Cidr, by: NodeName },
}

fn standing(held: &Held, state: &State) -> Standing {
    let mut released = Vec::new();
    for block in &held.blocks {
        match state.owner(block) {
            Some(owner) if *owner == held.node => {}
            Some(owner) => {
                return Standing::Taken {
                    block: *block,
                    by: owner.clone(),
                };
            }
            None => released.push(*block),
        }
    }
    if released.is_empty() {
        Standing::Kept
    } else {
        Standing::Released(released)
    }
}

/// One look at the state file: the view, after allocating again what was
/// released. `Err` when the agent must stop; a file that cannot be read
/// right now is only a warning (`Ok(None)`): the blocks are still ours.
fn look(held: &Held) -> anyhow::Result<Option<IpamView>> {
    let store = FileStore::new(&held.settings.file);
    let state = match store.load() {
        Ok((state, _)) => state,
        Err(e) => {
            warn!(
                "cannot read the IPAM state file: {e}; trying again in {}s",
                POLL.as_secs()
            );
            return Ok(None);
        }
    };
    let state = match standing(held, &state) {
        Standing::Kept => state,
        Standing::Taken { block, by } => bail!(
            "pod CIDR block {block} of this node is now held by node {by} in {}: two nodes must never route one block",
            held.settings.file.display()
        ),
        Standing::Released(blocks) => {
            warn!(blocks = %list_or_none(&blocks), "this node's pod CIDR blocks were released while in use: allocating them again");
            match allocator(&held.settings).allocate(&held.node) {
                Ok(again) if again == held.blocks => {
                    info!(blocks = %list_or_none(&again), "allocated again")
                }
                Ok(other) => bail!(
                    "this node's pod CIDR blocks were released and another node took one before this one could allocate it again (now allocated: {}); stopping, a restart uses the new blocks",
                    list_or_none(&other)
                ),
                Err(AllocateError::Store(e)) => {
                    warn!(
                        "cannot allocate again: {e}; trying again in {}s",
                        POLL.as_secs()
                    );
                    return Ok(None);
                }
                Err(e) => bail!("cannot allocate this node's released blocks again: {e}"),
            }
            match store.load() {
                Ok((state, _)) => state,
                Err(_) => return Ok(None),
            }
        }
    };
    Ok(Some(view(&held.settings, &state, Some(&held.node))))
}

/// Reads the state file every [`POLL`] until `shutdown`; the receiver has
/// the view for `show ipam`. Cancels `shutdown` (the agent stops, with a
/// logged reason) when the blocks cannot be kept.
pub(crate) fn spawn(held: Held, shutdown: CancellationToken) -> watch::Receiver<IpamView> {
    let first = view(
        &held.settings,
        &held
            .blocks
            .iter()
            .map(|b| (*b, held.node.clone()))
            .collect(),
        Some(&held.node),
    );
    let (tx, rx) = watch::channel(first);
    tokio::spawn(keep(held, tx, shutdown));
    rx
}

async fn keep(held: Held, views: watch::Sender<IpamView>, shutdown: CancellationToken) {
    loop {
        let looked = {
            let held = held.clone();
            tokio::task::spawn_blocking(move || look(&held))
        };
        match looked.await {
            Ok(Ok(Some(view))) => {
                views.send_replace(view);
            }
            Ok(Ok(None)) => {}
            Ok(Err(why)) => {
                error!("{why:#}; stopping the agent");
                shutdown.cancel();
                return;
            }
            Err(e) => warn!("reading the IPAM state file failed: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests;
