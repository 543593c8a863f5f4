//! Many allocators at once on one store: no block goes to two nodes, every
//! node gets one, and racers allocating the same node agree on its block.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Barrier;
use std::thread;

use ipam::{Allocator, Cidr, FileStore, MemoryStore, NodeName, Pool, Pools, Store};

const THREADS: usize = 16;
const OWN_NODES_PER_THREAD: usize = 4;
/// Nodes every thread allocates, to race on idempotence too.
const SHARED_NODES: usize = 3;

fn pools() -> Pools {
    Pools::new(vec![
        Pool::new(
            "10.244.0.0/16".parse().unwrap(),
            24,
            vec!["10.244.0.0/24".parse().unwrap()],
        )
        .unwrap(),
        Pool::new("fd00:10:244::/48".parse().unwrap(), 64, vec![]).unwrap(),
    ])
    .unwrap()
}

fn nodes_of(thread: usize) -> Vec<NodeName> {
    let own = (0..OWN_NODES_PER_THREAD).map(|k| format!("node-{thread}-{k}"));
    let shared = (0..SHARED_NODES).map(|k| format!("shared-{k}"));
    own.chain(shared)
        .map(|name| NodeName::new(name).unwrap())
        .collect()
}

/// Runs every thread with its own allocator from `make_store`, then checks
/// what they were handed against each other and against the final state.
fn race<S: Store + Send>(make_store: impl Fn() -> S + Sync) {
    let barrier = Barrier::new(THREADS);
    let results: Vec<Vec<(NodeName, Vec<Cidr>)>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (barrier, make_store) = (&barrier, &make_store);
                scope.spawn(move || {
                    let allocator = Allocator::new(pools(), make_store());
                    barrier.wait();
                    nodes_of(t)
                        .into_iter()
                        .map(|n| (n.clone(), allocator.allocate(&n).unwrap()))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut handed: BTreeMap<NodeName, Vec<Cidr>> = BTreeMap::new();
    for (node, blocks) in results.into_iter().flatten() {
        assert_eq!(blocks.len(), 2, "{node} got one block per pool");
        let first = handed.entry(node.clone()).or_insert_with(|| blocks.clone());
        assert_eq!(*first, blocks, "racers disagree about {node}");
    }
    assert_eq!(
        handed.len(),
        THREADS * OWN_NODES_PER_THREAD + SHARED_NODES,
        "every node got blocks"
    );

    let mut owners: BTreeMap<Cidr, &NodeName> = BTreeMap::new();
    for (node, blocks) in &handed {
        for block in blocks {
            if let Some(other) = owners.insert(*block, node) {
                panic!("{block} handed to both {other} and {node}");
            }
        }
    }
    let (state, _) = make_store().load().unwrap();
    let stored: BTreeSet<(Cidr, NodeName)> = state.iter().map(|(b, n)| (b, n.clone())).collect();
    let expected: BTreeSet<(Cidr, NodeName)> =
        owners.into_iter().map(|(b, n)| (b, n.clone())).collect();
    assert_eq!(
        stored, expected,
        "the store holds exactly what was handed out"
    );
}

#[test]
fn racing_on_one_memory_store() {
    let store = MemoryStore::new();
    race(|| &store);
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn racing_on_one_file_store() {
    let dir = TempDir(std::env::temp_dir().join(format!("ipam-race-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("ipam.json");
    // A store per thread, as separate agents on one host would have.
    race(|| FileStore::new(&path));
}
