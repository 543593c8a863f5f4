//! Claims against the fake API server (a test double speaking the real
//! HTTP/JSON protocol), driven by the real kube client.

use std::collections::BTreeSet;
use std::time::Duration;

use ::ipam::Pool;
use interop::fake_api::FakeApiServer;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use super::*;

/// Long enough for a loaded machine, short enough to fail a test soon.
const WAIT: Duration = Duration::from_secs(30);

fn pools(cluster: &str, block_len: u8) -> Pools {
    Pools::new(vec![
        Pool::new(cluster.parse().unwrap(), block_len, vec![]).unwrap(),
    ])
    .unwrap()
}

async fn create_node(client: &kube::Client, name: &str) -> Node {
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap()
}

async fn delete_node(client: &kube::Client, name: &str) {
    Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

async fn owners(client: &kube::Client) -> Vec<(String, String)> {
    let blocks = list(client).await.unwrap();
    blocks
        .objects
        .iter()
        .map(|(c, o)| (c.to_string(), o.spec.node.clone()))
        .collect()
}

#[test]
fn block_names_are_dns_names_one_per_block() {
    let name = |c: &str| block_name(&c.parse().unwrap());
    assert_eq!(name("10.244.3.0/24"), "10-244-3-0-24");
    assert_eq!(name("fd00:10:244:3::/64"), "fd00-10-244-3---64");
    assert_eq!(name("FD00:10:244:A::/64"), "fd00-10-244-a---64");
    assert_eq!(name("::/64"), "0---64");
    assert_ne!(name("10.244.3.0/24"), name("10.244.3.0/25"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_claiming_at_once_get_fifty_distinct_blocks() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = pools("10.244.0.0/16", 24);
    let mut nodes = Vec::new();
    for i in 0..50 {
        nodes.push(create_node(&client, &format!("node-{i}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes {
        // One client each: fifty agents, fifty connections.
        let client = server.client().await;
        let pools = pools.clone();
        tasks.spawn(async move { (node.name_any(), claim(&client, &pools, &node).await) });
    }
    let mut got = BTreeSet::new();
    let all = tokio::time::timeout(WAIT, async {
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.push(r.unwrap());
        }
        all
    })
    .await
    .expect("fifty claims in time");
    for (node, blocks) in all {
        let blocks = blocks.unwrap_or_else(|e| panic!("{node}: {e:#}"));
        assert_eq!(blocks.len(), 1, "{node}");
        assert!(got.insert(blocks[0]), "{node} got {} twice", blocks[0]);
    }
    assert_eq!(got.len(), 50);
    let stored = owners(&client).await;
    assert_eq!(stored.len(), 50, "one object per block, no leftovers");
    let nodes: BTreeSet<&String> = stored.iter().map(|(_, n)| n).collect();
    assert_eq!(nodes.len(), 50);
    // Every object is owned by its Node (for the garbage collector).
    for o in server.objects("podroute.io/v1alpha1", "podcidrblocks") {
        assert_eq!(o["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(o["metadata"]["labels"][NODE_LABEL], o["spec"]["node"]);
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_finds_its_blocks() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = Pools::new(vec![
        Pool::new("10.244.0.0/16".parse().unwrap(), 24, vec![]).unwrap(),
        Pool::new("fd00:10:244::/48".parse().unwrap(), 64, vec![]).unwrap(),
    ])
    .unwrap();
    let node = create_node(&client, "node-1").await;
    let first = claim(&client, &pools, &node).await.unwrap();
    assert_eq!(first.len(), 2);
    let creates = server.requests("create");
    let again = claim(&client, &pools, &node).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(server.requests("create"), creates, "nothing new is claimed");
    assert_eq!(owners(&client).await.len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_node_frees_its_block() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    // Room for two blocks only: the third node gets one only once freed.
    let pools = pools("10.244.0.0/23", 24);
    let a = create_node(&client, "node-a").await;
    let b = create_node(&client, "node-b").await;
    let c = create_node(&client, "node-c").await;
    let a_blocks = claim(&client, &pools, &a).await.unwrap();
    claim(&client, &pools, &b).await.unwrap();
    let full = claim(&client, &pools, &c).await.unwrap_err();
    assert!(
        format!("{full:#}").contains(
            "pool 10.244.0.0/23 (/24 blocks) is exhausted: 2 of 2 blocks are allocated (0 reserved)"
        ),
        "{full:#}"
    );
    delete_node(&client, "node-a").await;
    assert!(
        owners(&client).await.iter().all(|(_, n)| n != "node-a"),
        "the garbage collector took node-a's block"
    );
    assert_eq!(claim(&client, &pools, &c).await.unwrap(), a_blocks);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_of_an_earlier_node_of_the_same_name_are_replaced() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = pools("10.244.0.0/16", 24);
    let old = create_node(&client, "node-1").await;
    let mut stale = old.clone();
    // The same name, another uid: what a Node deleted and registered again
    // looks like before the garbage collector ran.
    stale.metadata.uid = Some("uid-of-an-earlier-node".into());
    let blocks = claim(&client, &pools, &stale).await.unwrap();
    let again = claim(&client, &pools, &old).await.unwrap();
    assert_eq!(again, blocks, "the same block, claimed anew");
    let objects = server.objects("podroute.io/v1alpha1", "podcidrblocks");
    assert_eq!(objects.len(), 1);
    assert_eq!(
        objects[0]["metadata"]["ownerReferences"][0]["uid"],
        old.metadata.uid.clone().unwrap()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_frees_every_block_of_a_node() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = pools("10.244.0.0/16", 24);
    let a = create_node(&client, "node-a").await;
    let b = create_node(&client, "node-b").await;
    let a_blocks = claim(&client, &pools, &a).await.unwrap();
    claim(&client, &pools, &b).await.unwrap();
    assert_eq!(release(&client, "node-a").await.unwrap(), a_blocks);
    assert_eq!(release(&client, "node-a").await.unwrap(), vec![]);
    let left = owners(&client).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1, "node-b");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_counts_pool_usage_and_marks_this_node() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = pools("10.244.0.0/22", 24);
    for n in ["node-a", "node-b"] {
        let node = create_node(&client, n).await;
        claim(&client, &pools, &node).await.unwrap();
    }
    let view = list(&client)
        .await
        .unwrap()
        .view("ipam", Some("node-a"), Some(&pools));
    assert_eq!(view.pools.len(), 1);
    assert_eq!((view.pools[0].allocated, view.pools[0].total), (2, 4));
    assert_eq!(view.blocks.len(), 2);
    assert_eq!(view.node_cidrs.len(), 1);
    assert!(view.blocks.iter().all(|b| b.created.is_some()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keeper_claims_a_deleted_block_again() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let pools = pools("10.244.0.0/16", 24);
    let node = create_node(&client, "node-1").await;
    let blocks = claim(&client, &pools, &node).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut view = super::super::keeper::spawn(
        client.clone(),
        super::super::keeper::Claims {
            node: node.clone(),
            blocks: blocks.clone(),
            pools: pools.clone(),
        },
        shutdown.clone(),
    );
    tokio::time::timeout(WAIT, view.wait_for(|v| v.blocks.len() == 1))
        .await
        .expect("the keeper lists the blocks")
        .unwrap();
    Api::<PodCIDRBlock>::all(client.clone())
        .delete(&block_name(&blocks[0]), &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            if owners(&client).await == vec![(blocks[0].to_string(), "node-1".to_string())]
                && server.requests("create") >= 3
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the block is claimed again");
    assert!(!shutdown.is_cancelled());
    // The Node deleted: the keeper stops the agent instead of claiming.
    delete_node(&client, "node-1").await;
    tokio::time::timeout(WAIT, shutdown.cancelled())
        .await
        .expect("the agent is stopped");
    server.shutdown().await;
}
