use std::collections::BTreeMap;

use super::{Store, StoreError};
use crate::cidr::Cidr;
use crate::node::NodeName;
use crate::pools::Pools;
use crate::state::{State, Version};

/// Fixed node → block assignments from configuration.
///
/// Read-only: every compare-and-swap fails with [`StoreError::ReadOnly`], so
/// an allocator over it hands out exactly the configured blocks and fails,
/// naming the node, for any node or pool the configuration leaves out.
#[derive(Debug, Clone)]
pub struct StaticStore {
    state: State,
}

/// Why a static configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticError {
    #[error("static block {block} for node {node} is not an allocatable block of any pool")]
    NotABlock { node: NodeName, block: Cidr },
    #[error("static block {block} is assigned to both {first} and {second}")]
    Shared {
        block: Cidr,
        first: NodeName,
        second: NodeName,
    },
    #[error("node {node} is assigned both {first} and {second} in pool {pool}")]
    TwoInOnePool {
        node: NodeName,
        pool: String,
        first: Cidr,
        second: Cidr,
    },
}

impl StaticStore {
    /// Checks every assignment against `pools`: each block must be an
    /// allocatable block of one, owned by one node, at most one per node per
    /// pool.
    pub fn new(
        pools: &Pools,
        assignments: impl IntoIterator<Item = (NodeName, Cidr)>,
    ) -> Result<Self, StaticError> {
        let mut owners: BTreeMap<Cidr, NodeName> = BTreeMap::new();
        let mut per_pool: BTreeMap<(NodeName, Cidr), Cidr> = BTreeMap::new();
        for (node, block) in assignments {
            let pool = pools
                .pool_of(&block)
                .ok_or_else(|| StaticError::NotABlock {
                    node: node.clone(),
                    block,
                })?;
            if let Some(first) = owners.get(&block) {
                if *first != node {
                    return Err(StaticError::Shared {
                        block,
                        first: first.clone(),
                        second: node,
                    });
                }
                continue;
            }
            if let Some(first) = per_pool.insert((node.clone(), pool.cluster()), block) {
                return Err(StaticError::TwoInOnePool {
                    node,
                    pool: pool.to_string(),
                    first,
                    second: block,
                });
            }
            owners.insert(block, node);
        }
        Ok(StaticStore {
            state: owners.into_iter().collect(),
        })
    }
}

impl Store for StaticStore {
    fn load(&self) -> Result<(State, Version), StoreError> {
        Ok((self.state.clone(), Version::INITIAL))
    }

    fn compare_and_swap(&self, _expected: Version, _new: &State) -> Result<Version, StoreError> {
        Err(StoreError::ReadOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Pool;

    fn node(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn pools() -> Pools {
        Pools::new(vec![
            Pool::new(cidr("10.244.0.0/16"), 24, vec![cidr("10.244.0.0/24")]).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn loads_the_configured_blocks_and_refuses_writes() {
        let store = StaticStore::new(&pools(), [(node("a"), cidr("10.244.1.0/24"))]).unwrap();
        let (state, _) = store.load().unwrap();
        assert_eq!(state.owner(&cidr("10.244.1.0/24")), Some(&node("a")));
        assert!(matches!(
            store.compare_and_swap(Version::INITIAL, &state),
            Err(StoreError::ReadOnly)
        ));
    }

    #[test]
    fn a_repeated_assignment_is_harmless() {
        let block = cidr("10.244.1.0/24");
        assert!(StaticStore::new(&pools(), [(node("a"), block), (node("a"), block)]).is_ok());
    }

    #[test]
    fn refuses_invalid_assignments() {
        let err = |assignments: Vec<(NodeName, Cidr)>| {
            StaticStore::new(&pools(), assignments)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(vec![(node("a"), cidr("10.244.0.0/24"))]),
            "static block 10.244.0.0/24 for node a is not an allocatable block of any pool"
        );
        assert_eq!(
            err(vec![(node("a"), cidr("10.244.1.0/25"))]),
            "static block 10.244.1.0/25 for node a is not an allocatable block of any pool"
        );
        assert_eq!(
            err(vec![
                (node("a"), cidr("10.244.1.0/24")),
                (node("b"), cidr("10.244.1.0/24"))
            ]),
            "static block 10.244.1.0/24 is assigned to both a and b"
        );
        assert_eq!(
            err(vec![
                (node("a"), cidr("10.244.1.0/24")),
                (node("a"), cidr("10.244.2.0/24"))
            ]),
            "node a is assigned both 10.244.1.0/24 and 10.244.2.0/24 in pool 10.244.0.0/16 (/24 blocks)"
        );
    }
}
