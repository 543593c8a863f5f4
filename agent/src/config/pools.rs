//! Pools as written (`kubernetes.pools`, `ipam.pools`) to [`Pools`]: the
//! same keys and defaults wherever blocks are cut from cluster CIDRs.

use ipam::{Cidr, Family, Pool, Pools};

use super::raw::RawPool;
use super::validate::Problems;

/// The block size when a pool does not give one: a /24 holds 254 pods, a
/// /64 is the smallest IPv6 subnet that SLAAC and most tooling accept.
fn default_block_len(family: Family) -> u8 {
    match family {
        Family::V4 => 24,
        Family::V6 => 64,
    }
}

/// The pools under `at` (`kubernetes.pools`); `None` when none is written
/// or none is valid. Each problem is recorded with its place
/// (`{at}[1].reserved[0]`); an empty list is for the caller to judge.
pub(crate) fn validate(p: &mut Problems, at: &str, written: &[RawPool]) -> Option<Pools> {
    let mut pools = Vec::new();
    for (i, rp) in written.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let Some(cluster) = p.take(&format!("{at}.cidr"), rp.cidr.parse::<Cidr>()) else {
            continue;
        };
        let block_len = rp
            .block_len
            .unwrap_or_else(|| default_block_len(cluster.family()));
        let reserved: Vec<Cidr> = rp
            .reserved
            .iter()
            .enumerate()
            .filter_map(|(j, r)| p.take(&format!("{at}.reserved[{j}]"), r.parse::<Cidr>()))
            .collect();
        if let Some(pool) = p.take(&at, Pool::new(cluster, block_len, reserved)) {
            pools.push(pool);
        }
    }
    if pools.is_empty() {
        return None;
    }
    p.take(at, Pools::new(pools))
}
