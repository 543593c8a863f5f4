//! Invariants of allocation under random pools and random allocate/release
//! sequences: blocks lie in their pool, never overlap each other or a
//! reserved range, space is conserved, and allocation is idempotent.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipam::{Allocator, Cidr, MemoryStore, NodeName, Pool, Pools, State, Store};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Allocate(u8),
    Release(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => (0u8..24).prop_map(Op::Allocate), 1 => (0u8..24).prop_map(Op::Release)]
}

/// A small IPv4 pool (2 to 32 blocks) with up to two reserved ranges.
fn ipv4_pool() -> impl Strategy<Value = Pool> {
    (
        8u8..=24,
        1u8..=5,
        any::<u32>(),
        prop::collection::vec((any::<u32>(), 0u8..=8), 0..3),
    )
        .prop_map(|(cluster_len, block_bits, addr, reserved)| {
            let cluster = truncate_v4(addr, cluster_len);
            let block_len = cluster_len + block_bits;
            let reserved = reserved
                .into_iter()
                .map(|(offset, extra)| {
                    // Somewhere inside the cluster, from a quarter block to several blocks wide.
                    let len = (block_len + 2).saturating_sub(extra).clamp(cluster_len, 32);
                    let host = offset & (u32::MAX >> cluster_len);
                    truncate_v4(u32::from(as_v4(cluster)) | host, len)
                })
                .collect();
            Pool::new(cluster, block_len, reserved).unwrap()
        })
}

/// A small IPv6 pool under fd00::/8 with /64-ish blocks.
fn ipv6_pool() -> impl Strategy<Value = Pool> {
    (40u8..=60, 1u8..=4, any::<u128>()).prop_map(|(cluster_len, block_bits, addr)| {
        let addr = (addr >> 8) | (0xfd << 120);
        let cluster = Cidr::new(
            IpAddr::V6(Ipv6Addr::from(addr & !(u128::MAX >> cluster_len))),
            cluster_len,
        )
        .unwrap();
        Pool::new(cluster, cluster_len + block_bits, vec![]).unwrap()
    })
}

fn truncate_v4(addr: u32, len: u8) -> Cidr {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Cidr::new(IpAddr::V4(Ipv4Addr::from(addr & mask)), len).unwrap()
}

fn as_v4(cidr: Cidr) -> Ipv4Addr {
    match cidr.network() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => unreachable!("IPv4 pool"),
    }
}

fn node(i: u8) -> NodeName {
    NodeName::new(format!("node-{i}")).unwrap()
}

fn check_invariants(pools: &Pools, state: &State) {
    let blocks: Vec<Cidr> = state.iter().map(|(block, _)| block).collect();
    for (i, block) in blocks.iter().enumerate() {
        let pool = pools
            .pool_of(block)
            .expect("every block is an allocatable block of a pool");
        assert!(pool.cluster().contains(block));
        assert!(
            pool.reserved().iter().all(|r| !r.overlaps(block)),
            "{block} overlaps a reserved range"
        );
        assert!(
            blocks[i + 1..].iter().all(|other| !other.overlaps(block)),
            "{block} overlaps another block"
        );
    }
    let mut seen = BTreeSet::new();
    for (block, owner) in state.iter() {
        let pool = pools.pool_of(&block).unwrap().cluster();
        assert!(
            seen.insert((owner.clone(), pool)),
            "{owner} owns two blocks in {pool}"
        );
    }
    for pool in pools.iter() {
        let usage = state.usage(pool);
        let free = (0..pool.block_count())
            .filter_map(|i| pool.block(i))
            .filter(|b| pool.is_allocatable(b) && state.owner(b).is_none())
            .count() as u64;
        assert_eq!(
            usage.allocated + usage.reserved + free,
            usage.total,
            "space is conserved in {pool}"
        );
        assert_eq!(usage.free(), free);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn allocation_keeps_every_invariant(v4 in ipv4_pool(), v6 in ipv6_pool(), ops in prop::collection::vec(op(), 1..60)) {
        let pools = Pools::new(vec![v4, v6]).unwrap();
        let allocator = Allocator::new(pools.clone(), MemoryStore::new());
        for op in ops {
            match op {
                Op::Allocate(i) => match allocator.allocate(&node(i)) {
                    Ok(blocks) => {
                        prop_assert_eq!(blocks.len(), pools.len());
                        for (block, pool) in blocks.iter().zip(pools.iter()) {
                            prop_assert!(pool.is_allocatable(block));
                        }
                        prop_assert_eq!(allocator.allocate(&node(i)).unwrap(), blocks.clone());
                        prop_assert_eq!(allocator.lookup(&node(i)).unwrap(), blocks);
                    }
                    Err(ipam::AllocateError::Exhausted { usage, .. }) => prop_assert_eq!(usage.free(), 0),
                    Err(err) => prop_assert!(false, "unexpected error: {err}"),
                },
                Op::Release(i) => {
                    let held = allocator.lookup(&node(i)).unwrap();
                    prop_assert_eq!(allocator.release(&node(i)).unwrap(), held);
                    prop_assert!(allocator.lookup(&node(i)).unwrap().is_empty());
                }
            }
            let (state, _) = allocator.store().load().unwrap();
            check_invariants(&pools, &state);
        }
    }

    #[test]
    fn allocate_then_release_restores_the_state(v4 in ipv4_pool(), nodes in prop::collection::btree_set(0u8..24, 1..10)) {
        let pools = Pools::new(vec![v4]).unwrap();
        let allocator = Allocator::new(pools, MemoryStore::new());
        let before = allocator.usage().unwrap();
        for &i in &nodes {
            let _ = allocator.allocate(&node(i));
        }
        for &i in &nodes {
            allocator.release(&node(i)).unwrap();
        }
        prop_assert_eq!(allocator.usage().unwrap(), before);
        prop_assert!(allocator.store().load().unwrap().0.is_empty());
    }
}
