use std::fmt;
use std::ops::Range;

use crate::cidr::Cidr;

/// The most blocks one pool may hold, as a power of two.
///
/// 2^32 blocks is far beyond any cluster (one block per node), and the cap
/// keeps every block index, count and free-space sum exact in a `u64` and a
/// typo such as `/16` in `/64` blocks (2^48 blocks) a configuration error
/// rather than a pool nobody could ever fill. IPv4 never reaches it.
pub const MAX_BLOCK_BITS: u8 = 32;

/// Why a pool was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("block size /{block_len} is not longer than the cluster prefix {cluster}")]
    BlockNotLonger { cluster: Cidr, block_len: u8 },
    #[error("block size /{block_len} exceeds /{max}, the longest {cluster} allows")]
    BlockTooLong {
        cluster: Cidr,
        block_len: u8,
        max: u8,
    },
    #[error(
        "pool {cluster} in /{block_len} blocks would hold 2^{bits} blocks; at most 2^{MAX_BLOCK_BITS} \
         are supported (use a longer cluster prefix or a shorter block size)"
    )]
    TooManyBlocks {
        cluster: Cidr,
        block_len: u8,
        bits: u8,
    },
    #[error("reserved range {reserved} does not overlap pool {cluster}")]
    ReservedOutside { cluster: Cidr, reserved: Cidr },
}

/// A cluster CIDR cut into equal blocks, some of them reserved.
///
/// Blocks are numbered from 0 at the start of the cluster CIDR. Valid by
/// construction: the block size is longer than the cluster prefix, the block
/// count fits [`MAX_BLOCK_BITS`], and every reserved range touches the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    cluster: Cidr,
    block_len: u8,
    reserved: Vec<Cidr>,
    /// Block indices overlapping a reserved range: sorted, merged, disjoint.
    reserved_blocks: Vec<Range<u64>>,
}

impl Pool {
    /// A pool handing out `/block_len` blocks of `cluster`, never one that
    /// overlaps a `reserved` range (a reserved range smaller than a block
    /// still withholds the whole block).
    pub fn new(cluster: Cidr, block_len: u8, reserved: Vec<Cidr>) -> Result<Self, PoolError> {
        let max = cluster.family().max_len();
        if block_len > max {
            return Err(PoolError::BlockTooLong {
                cluster,
                block_len,
                max,
            });
        }
        if block_len <= cluster.prefix_len() {
            return Err(PoolError::BlockNotLonger { cluster, block_len });
        }
        let bits = block_len - cluster.prefix_len();
        if bits > MAX_BLOCK_BITS {
            return Err(PoolError::TooManyBlocks {
                cluster,
                block_len,
                bits,
            });
        }
        let mut pool = Pool {
            cluster,
            block_len,
            reserved: Vec::new(),
            reserved_blocks: Vec::new(),
        };
        let mut ranges = Vec::with_capacity(reserved.len());
        for range in &reserved {
            let blocks = pool
                .blocks_overlapping(range)
                .ok_or(PoolError::ReservedOutside {
                    cluster,
                    reserved: *range,
                })?;
            ranges.push(blocks);
        }
        pool.reserved = reserved;
        pool.reserved_blocks = merge(ranges);
        Ok(pool)
    }

    pub fn cluster(&self) -> Cidr {
        self.cluster
    }

    pub fn block_len(&self) -> u8 {
        self.block_len
    }

    /// The reserved ranges as configured.
    pub fn reserved(&self) -> &[Cidr] {
        &self.reserved
    }

    /// How many blocks the pool holds, reserved ones included.
    pub fn block_count(&self) -> u64 {
        1 << (self.block_len - self.cluster.prefix_len())
    }

    /// How many blocks overlap a reserved range.
    pub fn reserved_count(&self) -> u64 {
        self.reserved_blocks.iter().map(|r| r.end - r.start).sum()
    }

    /// The block at `index`, or `None` past the end of the pool.
    pub fn block(&self, index: u64) -> Option<Cidr> {
        (index < self.block_count()).then(|| {
            let offset = u128::from(index) << self.host_bits();
            Cidr::from_parts(
                self.cluster.family(),
                self.cluster.first() + offset,
                self.block_len,
            )
        })
    }

    /// The index of `block` if it is exactly one of this pool's blocks.
    pub fn index_of(&self, block: &Cidr) -> Option<u64> {
        if block.prefix_len() != self.block_len || !self.cluster.contains(block) {
            return None;
        }
        // At most MAX_BLOCK_BITS bits remain after the shift.
        Some(((block.first() - self.cluster.first()) >> self.host_bits()) as u64)
    }

    /// Whether `block` is one of this pool's blocks and may be handed out.
    pub fn is_allocatable(&self, block: &Cidr) -> bool {
        self.index_of(block)
            .is_some_and(|index| reserved_end(&self.reserved_blocks, index).is_none())
    }

    pub(crate) fn reserved_blocks(&self) -> &[Range<u64>] {
        &self.reserved_blocks
    }

    /// The indices of the blocks that share an address with `range`, or
    /// `None` if it lies wholly outside the pool.
    pub(crate) fn blocks_overlapping(&self, range: &Cidr) -> Option<Range<u64>> {
        if !self.cluster.overlaps(range) {
            return None;
        }
        let base = self.cluster.first();
        let first = range.first().max(base) - base;
        let last = range.last().min(self.cluster.last()) - base;
        // Both offsets are inside the pool, so each index fits MAX_BLOCK_BITS.
        Some((first >> self.host_bits()) as u64..(last >> self.host_bits()) as u64 + 1)
    }

    fn host_bits(&self) -> u32 {
        u32::from(self.cluster.family().max_len() - self.block_len)
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (/{} blocks)", self.cluster, self.block_len)
    }
}

/// Sorts index ranges and joins those that touch or overlap.
pub(crate) fn merge(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// If `index` falls in one of the sorted, merged `ranges`, the end of it.
pub(crate) fn reserved_end(ranges: &[Range<u64>], index: u64) -> Option<u64> {
    let after = ranges.partition_point(|r| r.start <= index);
    let candidate = ranges[..after].last()?;
    (index < candidate.end).then_some(candidate.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn cuts_ipv4_into_blocks() {
        let pool = Pool::new(cidr("10.244.0.0/16"), 24, vec![]).unwrap();
        assert_eq!(pool.block_count(), 256);
        assert_eq!(pool.block(0), Some(cidr("10.244.0.0/24")));
        assert_eq!(pool.block(255), Some(cidr("10.244.255.0/24")));
        assert_eq!(pool.block(256), None);
        assert_eq!(pool.index_of(&cidr("10.244.7.0/24")), Some(7));
        assert_eq!(pool.index_of(&cidr("10.244.7.0/25")), None);
        assert_eq!(pool.index_of(&cidr("10.245.0.0/24")), None);
        assert_eq!(pool.to_string(), "10.244.0.0/16 (/24 blocks)");
    }

    #[test]
    fn cuts_ipv6_into_blocks() {
        let pool = Pool::new(cidr("fd00:10:244::/48"), 64, vec![]).unwrap();
        assert_eq!(pool.block_count(), 65536);
        assert_eq!(pool.block(1), Some(cidr("fd00:10:244:1::/64")));
        assert_eq!(pool.index_of(&cidr("fd00:10:244:ffff::/64")), Some(65535));
        let widest = Pool::new(cidr("fd00::/32"), 64, vec![]).unwrap();
        assert_eq!(widest.block_count(), 1 << 32);
        assert_eq!(
            widest.block((1 << 32) - 1),
            Some(cidr("fd00:0:ffff:ffff::/64"))
        );
    }

    #[test]
    fn host_blocks_at_full_length() {
        let pool = Pool::new(cidr("10.0.0.0/30"), 32, vec![]).unwrap();
        assert_eq!(pool.block(3), Some(cidr("10.0.0.3/32")));
    }

    #[test]
    fn refuses_bad_block_sizes() {
        assert_eq!(
            Pool::new(cidr("10.244.0.0/16"), 16, vec![])
                .unwrap_err()
                .to_string(),
            "block size /16 is not longer than the cluster prefix 10.244.0.0/16"
        );
        assert_eq!(
            Pool::new(cidr("10.244.0.0/16"), 33, vec![])
                .unwrap_err()
                .to_string(),
            "block size /33 exceeds /32, the longest 10.244.0.0/16 allows"
        );
        assert_eq!(
            Pool::new(cidr("fd00::/16"), 64, vec![])
                .unwrap_err()
                .to_string(),
            "pool fd00::/16 in /64 blocks would hold 2^48 blocks; at most 2^32 are supported \
             (use a longer cluster prefix or a shorter block size)"
        );
        assert!(Pool::new(cidr("0.0.0.0/0"), 32, vec![]).is_ok());
    }

    #[test]
    fn reserved_ranges_withhold_every_block_they_touch() {
        let reserved = vec![
            cidr("10.244.0.0/23"),
            cidr("10.244.9.128/25"),
            cidr("10.244.1.0/24"),
        ];
        let pool = Pool::new(cidr("10.244.0.0/16"), 24, reserved).unwrap();
        assert_eq!(pool.reserved_blocks(), &[0..2, 9..10]);
        assert_eq!(pool.reserved_count(), 3);
        assert!(!pool.is_allocatable(&cidr("10.244.0.0/24")));
        assert!(!pool.is_allocatable(&cidr("10.244.9.0/24")));
        assert!(pool.is_allocatable(&cidr("10.244.2.0/24")));
        assert_eq!(pool.reserved().len(), 3);
    }

    #[test]
    fn a_reserved_range_wider_than_the_pool_reserves_all_of_it() {
        let pool = Pool::new(cidr("10.244.0.0/16"), 24, vec![cidr("10.0.0.0/8")]).unwrap();
        assert_eq!(pool.reserved_count(), 256);
    }

    #[test]
    fn refuses_a_reserved_range_outside_the_pool() {
        assert_eq!(
            Pool::new(cidr("10.244.0.0/16"), 24, vec![cidr("10.0.0.0/16")])
                .unwrap_err()
                .to_string(),
            "reserved range 10.0.0.0/16 does not overlap pool 10.244.0.0/16"
        );
        assert!(Pool::new(cidr("10.244.0.0/16"), 24, vec![cidr("fd00::/8")]).is_err());
    }

    #[test]
    fn merge_joins_touching_ranges() {
        assert_eq!(merge(vec![5..6, 0..2, 2..3, 1..2]), vec![0..3, 5..6]);
        assert_eq!(merge(vec![]), Vec::<Range<u64>>::new());
    }

    #[test]
    fn reserved_end_finds_the_enclosing_range() {
        let ranges = [2..4, 8..9];
        assert_eq!(reserved_end(&ranges, 0), None);
        assert_eq!(reserved_end(&ranges, 2), Some(4));
        assert_eq!(reserved_end(&ranges, 3), Some(4));
        assert_eq!(reserved_end(&ranges, 4), None);
        assert_eq!(reserved_end(&ranges, 8), Some(9));
        assert_eq!(reserved_end(&ranges, 100), None);
    }
}
