//! Pod CIDR blocks in the API server: one cluster-scoped `PodCIDRBlock`
//! per block, named after it, owned by its Node.
//!
//! The API server (so etcd) is the shared store; no consensus of our own.
//! Creating a block's object is the claim: a second create of the same
//! name fails with AlreadyExists, so two nodes never hold one block. The
//! choice of block is the `ipam` crate's ([`Pools::propose`]): the node's
//! own blocks if it has them (a restart takes nothing new), else its
//! candidates in the order its name gives. A lost claim means reading the
//! blocks again and proposing again: the winner's block is then taken, and
//! the scan moves on. The owner reference to the Node makes the garbage
//! collector free the blocks when the Node is deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use ::ipam::{Cidr, NodeName, Pools, State};
use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::resources::{PodCIDRBlock, PodCIDRBlockSpec};
use crate::control::protocol::{BlockEntry, IpamView, PoolUsage};

/// The label every block carries: its node, for `kubectl get pcb -l`.
pub(crate) const NODE_LABEL: &str = "podroute.io/node";

/// How many lost claims in a row before giving up. Each loss is another
/// node's win, so this covers far more nodes starting at once than a pool
/// has contention for.
const MAX_ATTEMPTS: u32 = 64;

/// The object name of `block`: its text with `.`, `:` and `/` as `-`
/// (`10.244.3.0/24` is `10-244-3-0-24`, `fd00:10:244:3::/64` is
/// `fd00-10-244-3---64`), a valid DNS subdomain name, one per block.
pub(crate) fn block_name(block: &Cidr) -> String {
    let name: String = block
        .to_string()
        .chars()
        .map(|c| match c {
            '.' | ':' | '/' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    // `::/64` and the like would start with `-`, which a name may not.
    if name.starts_with('-') {
        format!("0{name}")
    } else {
        name
    }
}

/// The blocks of the cluster as the store has them; objects that do not
/// parse are left out, with a warning.
#[derive(Debug, Clone, Default)]
pub(crate) struct Blocks {
    pub(crate) state: State,
    /// The objects that parsed, by block.
    pub(crate) objects: BTreeMap<Cidr, PodCIDRBlock>,
}

impl Blocks {
    pub(crate) fn from_objects(objects: impl IntoIterator<Item = PodCIDRBlock>) -> Blocks {
        let mut owners = Vec::new();
        let mut parsed = BTreeMap::new();
        for o in objects {
            match parse(&o) {
                Ok((cidr, node)) => {
                    owners.push((cidr, node));
                    parsed.insert(cidr, o);
                }
                Err(why) => warn!("PodCIDRBlock {}: {why}: ignored", o.name_any()),
            }
        }
        Blocks {
            state: owners.into_iter().collect(),
            objects: parsed,
        }
    }

    /// What `show ipam` and `ipam list` print: the pools' usage and every
    /// block, in address order.
    pub(crate) fn view(&self, mode: &str, node: Option<&str>, pools: Option<&Pools>) -> IpamView {
        let pools = pools
            .iter()
            .flat_map(|p| p.iter())
            .map(|p| PoolUsage::of(p, &self.state))
            .collect();
        let blocks = self
            .objects
            .iter()
            .map(|(cidr, o)| BlockEntry {
                cidr: cidr.to_string(),
                node: o.spec.node.clone(),
                pool: o.spec.pool.clone(),
                created: o
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string()),
            })
            .collect();
        let node_cidrs = node
            .map(|n| {
                self.objects
                    .iter()
                    .filter(|(_, o)| o.spec.node == n)
                    .map(|(c, _)| c.to_string())
                    .collect()
            })
            .unwrap_or_default();
        IpamView {
            mode: mode.to_string(),
            node: node.map(str::to_string),
            node_cidrs,
            pools,
            blocks,
            store: None,
        }
    }
}

fn parse(o: &PodCIDRBlock) -> Result<(Cidr, NodeName), String> {
    let cidr: Cidr = o
        .spec
        .cidr
        .trim()
        .parse()
        .map_err(|e| format!("cidr `{}` is not valid ({e})", o.spec.cidr))?;
    let node = NodeName::new(o.spec.node.clone())
        .map_err(|e| format!("node `{}` is not valid ({e})", o.spec.node))?;
    Ok((cidr, node))
}

/// Every block in the cluster.
pub(crate) async fn list(client: &kube::Client) -> anyhow::Result<Blocks> {
    let api = Api::<PodCIDRBlock>::all(client.clone());
    let list = api.list(&ListParams::default()).await.context(
        "cannot list PodCIDRBlocks: is the CRD installed (deploy/crds) and may podroute list podcidrblocks.podroute.io (RBAC, deploy/)?",
    )?;
    Ok(Blocks::from_objects(list.items))
}

/// This node's blocks, one per pool: the ones it holds, else new claims.
/// Blocks of an earlier Node of the same name (another uid: the garbage
/// collector is about to take them) and blocks that no longer fit the pools
/// are given back first.
pub(crate) async fn claim(
    client: &kube::Client,
    pools: &Pools,
    node: &Node,
) -> anyhow::Result<Vec<Cidr>> {
    let name = NodeName::new(node.name_any())
        .map_err(|e| anyhow::anyhow!("node name `{}`: {e}", node.name_any()))?;
    let uid = node
        .metadata
        .uid
        .clone()
        .context("the Node has no uid: the API server's answer is incomplete")?;
    let api = Api::<PodCIDRBlock>::all(client.clone());
    for attempt in 0..MAX_ATTEMPTS {
        let mut blocks = list(client).await?;
        // An earlier Node of this name left these; ours no longer.
        let orphans: Vec<Cidr> = blocks
            .objects
            .iter()
            .filter(|(_, o)| o.spec.node == name.as_str() && !owned_by(o, &uid))
            .map(|(c, _)| *c)
            .collect();
        for cidr in &orphans {
            let o = &blocks.objects[cidr];
            delete(&api, o, "it belonged to an earlier Node of the same name").await?;
        }
        if !orphans.is_empty() {
            blocks = Blocks::from_objects(
                blocks
                    .objects
                    .into_iter()
                    .filter(|(c, _)| !orphans.contains(c))
                    .map(|(_, o)| o),
            );
        }
        let proposal = pools.propose(&blocks.state, &name)?;
        for cidr in &proposal.released {
            let o = &blocks.objects[cidr];
            delete(&api, o, "it no longer fits the configured pools").await?;
        }
        let mut lost = None;
        for cidr in &proposal.claims {
            let pool = pools
                .pool_of(cidr)
                .map(|p| p.cluster().to_string())
                .unwrap_or_default();
            match create(&api, cidr, &pool, node, &uid).await? {
                Claim::Won => info!(block = %cidr, pool, "claimed pod CIDR block"),
                Claim::Lost { to } => {
                    info!(block = %cidr, winner = to, "pod CIDR block taken by another node; trying the next");
                    lost = Some(*cidr);
                    break;
                }
            }
        }
        if lost.is_none() {
            return Ok(proposal.blocks);
        }
        // Another node started at the same time; step aside a moment, a
        // different moment per node, so the two do not meet again.
        let jitter = u64::from(
            name.as_str().bytes().fold(attempt, |a, b| {
                a.wrapping_mul(31).wrapping_add(u32::from(b))
            }) % 50,
        );
        tokio::time::sleep(Duration::from_millis(
            10 * u64::from(attempt.min(10)) + jitter,
        ))
        .await;
    }
    bail!(
        "could not claim a pod CIDR block in {MAX_ATTEMPTS} attempts: other nodes kept taking this node's candidates"
    )
}

/// Claims one given block for `node`; `false` if another node holds it.
pub(crate) async fn claim_block(
    client: &kube::Client,
    cidr: &Cidr,
    pool: &str,
    node: &Node,
) -> anyhow::Result<bool> {
    let uid = node
        .metadata
        .uid
        .clone()
        .context("the Node has no uid: the API server's answer is incomplete")?;
    let api = Api::<PodCIDRBlock>::all(client.clone());
    Ok(matches!(
        create(&api, cidr, pool, node, &uid).await?,
        Claim::Won
    ))
}

fn owned_by(o: &PodCIDRBlock, uid: &str) -> bool {
    o.owner_references()
        .iter()
        .any(|r| r.kind == "Node" && r.uid == uid)
}

enum Claim {
    Won,
    Lost { to: String },
}

async fn create(
    api: &Api<PodCIDRBlock>,
    cidr: &Cidr,
    pool: &str,
    node: &Node,
    uid: &str,
) -> anyhow::Result<Claim> {
    let name = block_name(cidr);
    let object = PodCIDRBlock {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([(NODE_LABEL.to_string(), node.name_any())].into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.name_any(),
                uid: uid.to_string(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: PodCIDRBlockSpec {
            cidr: cidr.to_string(),
            node: node.name_any(),
            pool: pool.to_string(),
        },
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(Claim::Won),
        Err(kube::Error::Api(s)) if s.is_already_exists() => {
            // Ours already, if an earlier try of ours got through.
            let holder = api
                .get_opt(&name)
                .await
                .with_context(|| format!("cannot read PodCIDRBlock {name}"))?;
            match holder {
                Some(h) if h.spec.node == node.name_any() && owned_by(&h, uid) => Ok(Claim::Won),
                Some(h) => Ok(Claim::Lost { to: h.spec.node }),
                // Deleted in between: free again, but take it on the next
                // round, from a fresh list.
                None => Ok(Claim::Lost { to: "(deleted since)".into() }),
            }
        }
        Err(e) => Err(e).with_context(|| {
            format!("cannot create PodCIDRBlock {name}: may podroute create podcidrblocks.podroute.io (RBAC, deploy/)?")
        }),
    }
}

/// Deletes `o` if it is still the object that was read (its uid), so a
/// block another node claimed in between is never taken from it.
async fn delete(api: &Api<PodCIDRBlock>, o: &PodCIDRBlock, why: &str) -> anyhow::Result<()> {
    let name = o.name_any();
    let params = DeleteParams {
        preconditions: o.metadata.uid.clone().map(|uid| Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            info!(block = o.spec.cidr, "released pod CIDR block: {why}");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.is_not_found() || s.is_conflict() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete PodCIDRBlock {name}")),
    }
}

/// Frees every block of `node` (for a node gone without its Node object
/// being deleted); the blocks given back, in address order.
pub(crate) async fn release(client: &kube::Client, node: &str) -> anyhow::Result<Vec<Cidr>> {
    let api = Api::<PodCIDRBlock>::all(client.clone());
    let blocks = list(client).await?;
    let mut released = Vec::new();
    for (cidr, o) in &blocks.objects {
        if o.spec.node == node {
            delete(&api, o, "released by hand").await?;
            released.push(*cidr);
        }
    }
    Ok(released)
}

#[cfg(test)]
mod tests;
