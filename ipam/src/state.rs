use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::node::NodeName;
use crate::pool::Pool;

/// Which node owns which block: everything a [`Store`](crate::Store) keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct State {
    owners: BTreeMap<Cidr, NodeName>,
}

/// A store's revision counter; a compare-and-swap names the one it read.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(u64);

/// How a pool's blocks are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub allocated: u64,
    pub reserved: u64,
    pub total: u64,
}

impl State {
    pub fn owner(&self, block: &Cidr) -> Option<&NodeName> {
        self.owners.get(block)
    }

    /// Every block `node` owns, in address order.
    pub fn blocks_of<'a>(&'a self, node: &'a NodeName) -> impl Iterator<Item = Cidr> + 'a {
        self.owners
            .iter()
            .filter(move |(_, owner)| *owner == node)
            .map(|(block, _)| *block)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Cidr, &NodeName)> {
        self.owners.iter().map(|(block, owner)| (*block, owner))
    }

    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// How many of `pool`'s blocks are handed out, reserved and in total.
    pub fn usage(&self, pool: &Pool) -> Usage {
        Usage {
            allocated: self
                .iter()
                .filter(|(block, _)| pool.is_allocatable(block))
                .count() as u64,
            reserved: pool.reserved_count(),
            total: pool.block_count(),
        }
    }

    pub(crate) fn insert(&mut self, block: Cidr, owner: NodeName) {
        self.owners.insert(block, owner);
    }

    pub(crate) fn remove(&mut self, block: &Cidr) {
        self.owners.remove(block);
    }
}

impl FromIterator<(Cidr, NodeName)> for State {
    fn from_iter<I: IntoIterator<Item = (Cidr, NodeName)>>(iter: I) -> Self {
        State {
            owners: iter.into_iter().collect(),
        }
    }
}

impl Version {
    /// The version of a store nothing was ever written to.
    pub const INITIAL: Version = Version(0);

    pub fn next(self) -> Version {
        Version(self.0 + 1)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl Usage {
    /// Blocks neither allocated nor reserved.
    pub fn free(&self) -> u64 {
        self.total - self.reserved - self.allocated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    #[test]
    fn finds_owners_and_blocks() {
        let a: Cidr = "10.244.1.0/24".parse().unwrap();
        let b: Cidr = "fd00::/64".parse().unwrap();
        let state: State = [
            (a, node("n1")),
            (b, node("n1")),
            ("10.244.2.0/24".parse().unwrap(), node("n2")),
        ]
        .into_iter()
        .collect();
        assert_eq!(state.owner(&a), Some(&node("n1")));
        assert_eq!(state.blocks_of(&node("n1")).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(state.len(), 3);
        assert!(!state.is_empty());
        assert!(State::default().is_empty());
    }

    #[test]
    fn usage_counts_only_allocatable_blocks_of_the_pool() {
        let pool = Pool::new(
            "10.244.0.0/16".parse().unwrap(),
            24,
            vec!["10.244.0.0/24".parse().unwrap()],
        )
        .unwrap();
        let state: State = [
            ("10.244.1.0/24".parse().unwrap(), node("n1")),
            ("10.245.1.0/24".parse().unwrap(), node("n2")),
            ("10.244.2.0/25".parse().unwrap(), node("n3")),
        ]
        .into_iter()
        .collect();
        let usage = state.usage(&pool);
        assert_eq!(
            usage,
            Usage {
                allocated: 1,
                reserved: 1,
                total: 256
            }
        );
        assert_eq!(usage.free(), 254);
    }

    #[test]
    fn serialises_as_a_block_to_owner_map() {
        let state: State = [("10.244.1.0/24".parse().unwrap(), node("n1"))]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, r#"{"10.244.1.0/24":"n1"}"#);
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
        assert!(serde_json::from_str::<State>(r#"{"10.244.1.1/24":"n1"}"#).is_err());
    }

    #[test]
    fn versions_count_up() {
        assert_eq!(Version::INITIAL.next().next().get(), 2);
        assert_eq!(Version::INITIAL.next().to_string(), "v1");
    }
}
