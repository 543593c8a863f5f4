use std::ops::Deref;

use crate::cidr::Cidr;
use crate::pool::Pool;

/// The pools a cluster allocates from; no two share an address, so a block
/// belongs to at most one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pools(Vec<Pool>);

/// Why a set of pools was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolsError {
    #[error("no pools configured")]
    Empty,
    #[error("pools {first} and {second} overlap")]
    Overlap { first: Cidr, second: Cidr },
}

impl Pools {
    pub fn new(pools: Vec<Pool>) -> Result<Self, PoolsError> {
        if pools.is_empty() {
            return Err(PoolsError::Empty);
        }
        for (i, first) in pools.iter().enumerate() {
            if let Some(second) = pools[i + 1..]
                .iter()
                .find(|p| p.cluster().overlaps(&first.cluster()))
            {
                return Err(PoolsError::Overlap {
                    first: first.cluster(),
                    second: second.cluster(),
                });
            }
        }
        Ok(Pools(pools))
    }

    /// The pool that `block` is an allocatable block of, if any.
    pub fn pool_of(&self, block: &Cidr) -> Option<&Pool> {
        self.0.iter().find(|pool| pool.is_allocatable(block))
    }
}

impl Deref for Pools {
    type Target = [Pool];

    fn deref(&self) -> &[Pool] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(cluster: &str, block_len: u8) -> Pool {
        Pool::new(cluster.parse().unwrap(), block_len, vec![]).unwrap()
    }

    #[test]
    fn accepts_disjoint_pools_of_both_families() {
        let pools = Pools::new(vec![
            pool("10.244.0.0/16", 24),
            pool("fd00:10:244::/48", 64),
        ])
        .unwrap();
        assert_eq!(pools.len(), 2);
        assert_eq!(
            pools.pool_of(&"fd00:10:244:5::/64".parse().unwrap()),
            Some(&pools[1])
        );
        assert_eq!(pools.pool_of(&"10.1.0.0/24".parse().unwrap()), None);
    }

    #[test]
    fn refuses_overlap_and_emptiness() {
        assert_eq!(
            Pools::new(vec![]).unwrap_err().to_string(),
            "no pools configured"
        );
        assert_eq!(
            Pools::new(vec![
                pool("10.0.0.0/8", 24),
                pool("fd00::/48", 64),
                pool("10.244.0.0/16", 26)
            ])
            .unwrap_err()
            .to_string(),
            "pools 10.0.0.0/8 and 10.244.0.0/16 overlap"
        );
    }
}
