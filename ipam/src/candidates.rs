//! The order in which a node tries a pool's blocks.
//!
//! Each node starts at an index derived from its name and scans forward,
//! wrapping at the end. Different nodes start at scattered places, so
//! allocators racing for different nodes rarely want the same block, and a
//! node retried after a conflict looks in the same place again.

use std::ops::Range;

use crate::node::NodeName;
use crate::pool::{Pool, reserved_end};
use crate::state::State;

/// 64-bit FNV-1a of the node name: fixed, so every process and every release
/// agrees on a node's start (std's `RandomState` is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Where `node` starts scanning a pool of `block_count` blocks.
pub(crate) fn start_index(node: &NodeName, block_count: u64) -> u64 {
    fnv1a(node.as_str().as_bytes()) % block_count
}

/// The first block index from `node`'s start, wrapping once, that is neither
/// owned in `state` nor inside one of the sorted, merged `unavailable` ranges.
///
/// Unavailable ranges are skipped in one step, so the scan costs at most one
/// step per owned block plus one per range, however large the pool.
pub(crate) fn first_free(
    pool: &Pool,
    state: &State,
    node: &NodeName,
    unavailable: &[Range<u64>],
) -> Option<u64> {
    let count = pool.block_count();
    let mut index = start_index(node, count);
    let mut scanned = 0;
    while scanned < count {
        if let Some(end) = reserved_end(unavailable, index) {
            scanned += end - index;
            index = end % count;
            continue;
        }
        let block = pool.block(index)?;
        if state.owner(&block).is_none() {
            return Some(index);
        }
        scanned += 1;
        index = (index + 1) % count;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    fn pool() -> Pool {
        Pool::new("10.244.0.0/16".parse().unwrap(), 24, vec![]).unwrap()
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // From the FNV reference test suite (draft-eastlake-fnv).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn start_is_stable_and_in_range() {
        let n = node("worker-7");
        assert_eq!(start_index(&n, 256), start_index(&n, 256));
        assert_eq!(start_index(&n, 256), fnv1a(b"worker-7") % 256);
        assert!(start_index(&n, 3) < 3);
        assert_ne!(
            start_index(&node("a"), 1 << 32),
            start_index(&node("b"), 1 << 32)
        );
    }

    #[test]
    fn scans_past_owned_blocks_and_wraps() {
        let pool = pool();
        let n = node("n");
        let start = start_index(&n, 256);
        let owned = |index: u64| (pool.block(index % 256).unwrap(), node("other"));
        let state: State = (start..start + 255).map(owned).collect();
        assert_eq!(
            first_free(&pool, &state, &n, &[]),
            Some((start + 255) % 256)
        );
        let full: State = (0..256).map(owned).collect();
        assert_eq!(first_free(&pool, &full, &n, &[]), None);
    }

    #[test]
    fn skips_unavailable_ranges_whole() {
        let pool = pool();
        let n = node("n");
        let start = start_index(&n, 256);
        assert_eq!(
            first_free(
                &pool,
                &State::default(),
                &n,
                std::slice::from_ref(&(0..256))
            ),
            None
        );
        let rest = if start == 255 { 0 } else { start + 1 };
        assert_eq!(
            first_free(
                &pool,
                &State::default(),
                &n,
                std::slice::from_ref(&(start..start + 1))
            ),
            Some(rest)
        );
        assert_eq!(first_free(&pool, &State::default(), &n, &[]), Some(start));
    }
}
