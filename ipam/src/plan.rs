//! Deciding, from one snapshot of the state, which blocks a node gets. Pure:
//! the allocator writes the outcome with a compare-and-swap and re-plans on
//! conflict.

use crate::candidates::first_free;
use crate::cidr::Cidr;
use crate::node::NodeName;
use crate::pool::{Pool, merge};
use crate::pools::Pools;
use crate::state::{State, Usage};

/// What allocating for a node comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// One block per pool, in pool order.
    pub(crate) blocks: Vec<Cidr>,
    /// The state to write, or `None` if the node already had everything.
    pub(crate) next: Option<State>,
    /// The pools (by position) where the node gets a block it did not own.
    pub(crate) claimed: Vec<usize>,
}

/// A pool with no block left for the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exhausted {
    pub(crate) pool: usize,
    pub(crate) usage: Usage,
}

/// Gives `node` one block in every pool: the one it owns if it owns a valid
/// one (allocation is idempotent), otherwise the first free candidate. Blocks
/// the node owns that are no longer valid in their pool (reserved since, or
/// of another size) are dropped in the same write.
pub(crate) fn allocate(pools: &Pools, state: &State, node: &NodeName) -> Result<Plan, Exhausted> {
    let mut next = state.clone();
    let mut plan = Plan {
        blocks: Vec::with_capacity(pools.len()),
        next: None,
        claimed: Vec::new(),
    };
    for (position, pool) in pools.iter().enumerate() {
        let owned: Vec<Cidr> = state
            .blocks_of(node)
            .filter(|b| pool.cluster().overlaps(b))
            .collect();
        let kept = owned.iter().copied().find(|b| pool.is_allocatable(b));
        for stale in owned.iter().filter(|b| Some(**b) != kept) {
            next.remove(stale);
        }
        let block =
            match kept {
                Some(block) => block,
                None => {
                    let index = first_free(pool, &next, node, &unavailable(pool, &next))
                        .ok_or_else(|| Exhausted {
                            pool: position,
                            usage: next.usage(pool),
                        })?;
                    let block = pool
                        .block(index)
                        .expect("first_free returns an index inside the pool");
                    next.insert(block, node.clone());
                    plan.claimed.push(position);
                    block
                }
            };
        plan.blocks.push(block);
    }
    plan.next = (next != *state).then_some(next);
    Ok(plan)
}

/// Drops every block `node` owns; `None` if it owned none.
pub(crate) fn release(state: &State, node: &NodeName) -> Option<(Vec<Cidr>, State)> {
    let released: Vec<Cidr> = state.blocks_of(node).collect();
    if released.is_empty() {
        return None;
    }
    let mut next = state.clone();
    for block in &released {
        next.remove(block);
    }
    Some((released, next))
}

/// Block indices that must not be handed out: the reserved ones, and any
/// overlapped by an entry that is not one of the pool's blocks (written by
/// an older configuration or by hand), so no two owners ever share an address.
fn unavailable(pool: &Pool, state: &State) -> Vec<std::ops::Range<u64>> {
    let foreign = state
        .iter()
        .filter(|(entry, _)| pool.index_of(entry).is_none())
        .filter_map(|(entry, _)| pool.blocks_overlapping(&entry));
    merge(
        pool.reserved_blocks()
            .iter()
            .cloned()
            .chain(foreign)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::start_index;

    fn node(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn dual_stack() -> Pools {
        Pools::new(vec![
            Pool::new(cidr("10.244.0.0/16"), 24, vec![]).unwrap(),
            Pool::new(cidr("fd00:10:244::/48"), 64, vec![]).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn a_new_node_gets_its_start_block_in_every_pool() {
        let pools = dual_stack();
        let n = node("n1");
        let plan = allocate(&pools, &State::default(), &n).unwrap();
        assert_eq!(
            plan.blocks[0],
            pools[0].block(start_index(&n, 256)).unwrap()
        );
        assert_eq!(
            plan.blocks[1],
            pools[1].block(start_index(&n, 65536)).unwrap()
        );
        assert_eq!(plan.claimed, vec![0, 1]);
        assert_eq!(plan.next.unwrap().blocks_of(&n).count(), 2);
    }

    #[test]
    fn an_owner_gets_the_same_blocks_and_nothing_is_written() {
        let pools = dual_stack();
        let n = node("n1");
        let first = allocate(&pools, &State::default(), &n).unwrap();
        let again = allocate(&pools, first.next.as_ref().unwrap(), &n).unwrap();
        assert_eq!(again.blocks, first.blocks);
        assert_eq!(again.next, None);
        assert!(again.claimed.is_empty());
    }

    #[test]
    fn an_invalid_owned_block_is_replaced() {
        let pools = Pools::new(vec![
            Pool::new(cidr("10.244.0.0/16"), 24, vec![cidr("10.244.5.0/24")]).unwrap(),
        ])
        .unwrap();
        let n = node("n1");
        let state: State = [
            (cidr("10.244.5.0/24"), n.clone()),
            (cidr("10.244.6.0/25"), n.clone()),
        ]
        .into_iter()
        .collect();
        let plan = allocate(&pools, &state, &n).unwrap();
        let next = plan.next.unwrap();
        assert_eq!(next.blocks_of(&n).collect::<Vec<_>>(), plan.blocks);
        assert!(pools[0].is_allocatable(&plan.blocks[0]));
    }

    #[test]
    fn foreign_entries_block_what_they_overlap() {
        let pools = Pools::new(vec![Pool::new(cidr("10.0.0.0/30"), 32, vec![]).unwrap()]).unwrap();
        let state: State = [
            (cidr("10.0.0.0/31"), node("old")),
            (cidr("10.0.0.2/32"), node("b")),
        ]
        .into_iter()
        .collect();
        let plan = allocate(&pools, &state, &node("c")).unwrap();
        assert_eq!(plan.blocks, vec![cidr("10.0.0.3/32")]);
    }

    #[test]
    fn exhaustion_names_the_pool_and_its_usage() {
        let pools = Pools::new(vec![
            Pool::new(cidr("10.0.0.0/30"), 32, vec![cidr("10.0.0.0/32")]).unwrap(),
        ])
        .unwrap();
        let state: State = (1..4)
            .map(|i| (pools[0].block(i).unwrap(), node(&format!("n{i}"))))
            .collect();
        let err = allocate(&pools, &state, &node("late")).unwrap_err();
        assert_eq!(
            err,
            Exhausted {
                pool: 0,
                usage: Usage {
                    allocated: 3,
                    reserved: 1,
                    total: 4
                }
            }
        );
    }

    #[test]
    fn release_drops_all_of_a_nodes_blocks() {
        let n = node("n1");
        let state: State = [
            (cidr("10.244.1.0/24"), n.clone()),
            (cidr("10.244.2.0/24"), node("n2")),
        ]
        .into_iter()
        .collect();
        let (released, next) = release(&state, &n).unwrap();
        assert_eq!(released, vec![cidr("10.244.1.0/24")]);
        assert_eq!(next.len(), 1);
        assert_eq!(release(&next, &n), None);
    }
}
