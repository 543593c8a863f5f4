//! Allocation for stores that keep one object per block (the Kubernetes
//! store: one `PodCIDRBlock` each), where there is no whole-state
//! compare-and-swap: creating a block's object is the claim, and a create
//! that finds the object already there means another node won that block.
//!
//! Such a caller reads the blocks, asks for a [`Proposal`], creates one
//! object per claim, and on a lost claim reads again and asks again: the
//! winner's block is then owned, so the scan moves past it to the node's
//! next candidate.

use crate::allocator::AllocateError;
use crate::cidr::Cidr;
use crate::node::NodeName;
use crate::plan::{self, Exhausted};
use crate::pools::Pools;
use crate::state::State;

/// What a node should hold after reading `state`, and what to write for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// One block per pool, in pool order: the node's own where it has a
    /// valid one, else the first free candidate.
    pub blocks: Vec<Cidr>,
    /// The blocks of `blocks` the node does not hold yet: one claim each.
    pub claims: Vec<Cidr>,
    /// Blocks the node holds that no longer fit the pools (a pool's block
    /// size changed, a range became reserved): to give back.
    pub released: Vec<Cidr>,
}

impl Pools {
    /// The blocks `node` should hold given `state`, the same choice the
    /// [`Allocator`](crate::Allocator) makes: idempotent for a node that
    /// holds its blocks, and the same candidate order.
    pub fn propose(&self, state: &State, node: &NodeName) -> Result<Proposal, AllocateError> {
        let plan = plan::allocate(self, state, node).map_err(|Exhausted { pool, usage }| {
            AllocateError::Exhausted {
                pool: self[pool].to_string(),
                usage,
            }
        })?;
        let claims = plan.claimed.iter().map(|&p| plan.blocks[p]).collect();
        let released = state
            .blocks_of(node)
            .filter(|b| !plan.blocks.contains(b))
            .collect();
        Ok(Proposal {
            blocks: plan.blocks,
            claims,
            released,
        })
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
            Pool::new(cidr("10.244.0.0/16"), 24, vec![]).unwrap(),
            Pool::new(cidr("fd00:10:244::/48"), 64, vec![]).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn a_new_node_claims_one_block_per_pool() {
        let p = pools().propose(&State::default(), &node("n1")).unwrap();
        assert_eq!(p.blocks.len(), 2);
        assert_eq!(p.claims, p.blocks);
        assert!(p.released.is_empty());
        assert!(cidr("10.244.0.0/16").contains(&p.blocks[0]));
        assert!(cidr("fd00:10:244::/48").contains(&p.blocks[1]));
    }

    #[test]
    fn a_node_holding_its_blocks_claims_nothing() {
        let first = pools().propose(&State::default(), &node("n1")).unwrap();
        let state: State = first.blocks.iter().map(|b| (*b, node("n1"))).collect();
        let again = pools().propose(&state, &node("n1")).unwrap();
        assert_eq!(again.blocks, first.blocks);
        assert!(again.claims.is_empty());
        assert!(again.released.is_empty());
    }

    #[test]
    fn a_lost_claim_moves_on_to_the_next_candidate() {
        let first = pools().propose(&State::default(), &node("n1")).unwrap();
        // Another node won n1's first candidate in the v4 pool.
        let state: State = [(first.blocks[0], node("other"))].into_iter().collect();
        let next = pools().propose(&state, &node("n1")).unwrap();
        assert_ne!(next.blocks[0], first.blocks[0]);
        assert_eq!(next.blocks[1], first.blocks[1]);
        assert_eq!(next.claims, next.blocks);
    }

    #[test]
    fn blocks_that_no_longer_fit_are_released() {
        let state: State = [(cidr("10.244.7.0/25"), node("n1"))].into_iter().collect();
        let p = pools().propose(&state, &node("n1")).unwrap();
        assert_eq!(p.released, vec![cidr("10.244.7.0/25")]);
        assert_eq!(p.claims, p.blocks);
    }

    #[test]
    fn exhaustion_names_the_pool() {
        let small =
            Pools::new(vec![Pool::new(cidr("10.244.0.0/23"), 24, vec![]).unwrap()]).unwrap();
        let state: State = [
            (cidr("10.244.0.0/24"), node("a")),
            (cidr("10.244.1.0/24"), node("b")),
        ]
        .into_iter()
        .collect();
        let err = small.propose(&state, &node("c")).unwrap_err().to_string();
        assert_eq!(
            err,
            "pool 10.244.0.0/23 (/24 blocks) is exhausted: 2 of 2 blocks are allocated (0 reserved)"
        );
    }
}
