use std::num::NonZeroU32;
use std::thread;
use std::time::Duration;

use crate::cidr::Cidr;
use crate::node::NodeName;
use crate::plan::{self, Exhausted};
use crate::pools::Pools;
use crate::state::Usage;
use crate::store::{Store, StoreError};

/// How many times an operation re-reads and re-plans after losing a
/// compare-and-swap before it gives up. Each loss means another writer
/// succeeded, so 64 covers dozens of allocators starting at once; more
/// than that points to a store that never settles, which retries won't fix.
pub const DEFAULT_MAX_ATTEMPTS: NonZeroU32 = NonZeroU32::new(64).expect("64 is not zero");

/// Why an allocation or release failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    #[error(
        "pool {pool} is exhausted: {} of {} blocks are allocated ({} reserved)",
        usage.allocated, usage.total, usage.reserved
    )]
    Exhausted { pool: String, usage: Usage },
    #[error("node {node} has no static assignment in pool {pool}")]
    NotAssigned { node: NodeName, pool: String },
    #[error("gave up after {attempts} attempts: other writers kept changing the store")]
    Contended { attempts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hands out one block per pool to each node, over any [`Store`].
#[derive(Debug)]
pub struct Allocator<S> {
    pools: Pools,
    store: S,
    max_attempts: NonZeroU32,
}

impl<S: Store> Allocator<S> {
    pub fn new(pools: Pools, store: S) -> Self {
        Allocator {
            pools,
            store,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Overrides [`DEFAULT_MAX_ATTEMPTS`].
    pub fn with_max_attempts(self, max_attempts: NonZeroU32) -> Self {
        Allocator {
            max_attempts,
            ..self
        }
    }

    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// One block in every pool for `node`, in pool order. Idempotent: a node
    /// that owns a block in a pool gets that block back and nothing is
    /// written. All pools are claimed in one write, or none is.
    pub fn allocate(&self, node: &NodeName) -> Result<Vec<Cidr>, AllocateError> {
        self.retry(node, |state| {
            let plan = plan::allocate(&self.pools, state, node).map_err(|e| self.exhausted(e))?;
            Ok((plan.blocks, plan.next, plan.claimed))
        })
    }

    /// The blocks `node` owns that are valid in the configured pools.
    pub fn lookup(&self, node: &NodeName) -> Result<Vec<Cidr>, StoreError> {
        let (state, _) = self.store.load()?;
        Ok(state
            .blocks_of(node)
            .filter(|block| self.pools.pool_of(block).is_some())
            .collect())
    }

    /// Frees every block `node` owns and returns them (empty if none).
    pub fn release(&self, node: &NodeName) -> Result<Vec<Cidr>, AllocateError> {
        self.retry(node, |state| {
            Ok(match plan::release(state, node) {
                Some((released, next)) => (released, Some(next), Vec::new()),
                None => (Vec::new(), None, Vec::new()),
            })
        })
    }

    /// How each pool's blocks are spent, in pool order.
    pub fn usage(&self) -> Result<Vec<Usage>, StoreError> {
        let (state, _) = self.store.load()?;
        Ok(self.pools.iter().map(|pool| state.usage(pool)).collect())
    }

    /// Load, decide, compare-and-swap; on conflict, again. `decide` returns
    /// the answer, the state to write (if any) and the pools it claims in.
    fn retry<T>(
        &self,
        node: &NodeName,
        decide: impl Fn(&crate::State) -> Result<(T, Option<crate::State>, Vec<usize>), AllocateError>,
    ) -> Result<T, AllocateError> {
        for attempt in 0..self.max_attempts.get() {
            let (state, version) = self.store.load()?;
            let (answer, next, claimed) = decide(&state)?;
            let Some(next) = next else { return Ok(answer) };
            match self.store.compare_and_swap(version, &next) {
                Ok(_) => return Ok(answer),
                Err(StoreError::Conflict { .. }) => back_off(node, attempt),
                Err(StoreError::ReadOnly) if !claimed.is_empty() => {
                    let pool = self.pools[claimed[0]].to_string();
                    return Err(AllocateError::NotAssigned {
                        node: node.clone(),
                        pool,
                    });
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(AllocateError::Contended {
            attempts: self.max_attempts.get(),
        })
    }

    fn exhausted(&self, Exhausted { pool, usage }: Exhausted) -> AllocateError {
        AllocateError::Exhausted {
            pool: self.pools[pool].to_string(),
            usage,
        }
    }
}

/// Waits a little before retrying, longer each time and different per node,
/// so writers that just collided do not collide again in lockstep.
fn back_off(node: &NodeName, attempt: u32) {
    let jitter = node.as_str().bytes().fold(attempt, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 64;
    let micros = (10u64 << attempt.min(6)) + u64::from(jitter);
    thread::sleep(Duration::from_micros(micros));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Pool;
    use crate::state::{State, Version};
    use crate::store::{MemoryStore, StaticStore};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn node(name: &str) -> NodeName {
        NodeName::new(name).unwrap()
    }

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn pools(cluster: &str, block_len: u8, reserved: &[&str]) -> Pools {
        let reserved = reserved.iter().map(|r| cidr(r)).collect();
        Pools::new(vec![Pool::new(cidr(cluster), block_len, reserved).unwrap()]).unwrap()
    }

    #[test]
    fn allocate_lookup_release() {
        let allocator = Allocator::new(pools("10.244.0.0/16", 24, &[]), MemoryStore::new());
        let n = node("n1");
        assert_eq!(allocator.lookup(&n).unwrap(), vec![]);
        let blocks = allocator.allocate(&n).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(allocator.allocate(&n).unwrap(), blocks);
        assert_eq!(allocator.lookup(&n).unwrap(), blocks);
        assert_eq!(allocator.usage().unwrap()[0].allocated, 1);
        assert_eq!(allocator.release(&n).unwrap(), blocks);
        assert_eq!(allocator.release(&n).unwrap(), vec![]);
        assert_eq!(allocator.lookup(&n).unwrap(), vec![]);
        assert_eq!(
            allocator.store().load().unwrap().1,
            Version::INITIAL.next().next()
        );
        assert_eq!(allocator.pools().len(), 1);
    }

    #[test]
    fn exhaustion_says_which_pool_and_how_full() {
        let allocator = Allocator::new(pools("10.244.0.0/22", 24, &[]), MemoryStore::new());
        for i in 0..4 {
            allocator.allocate(&node(&format!("n{i}"))).unwrap();
        }
        assert_eq!(
            allocator.allocate(&node("late")).unwrap_err().to_string(),
            "pool 10.244.0.0/22 (/24 blocks) is exhausted: 4 of 4 blocks are allocated (0 reserved)"
        );
        let reserved = Allocator::new(
            pools("10.244.0.0/22", 24, &["10.244.0.0/23"]),
            MemoryStore::new(),
        );
        reserved.allocate(&node("a")).unwrap();
        reserved.allocate(&node("b")).unwrap();
        assert_eq!(
            reserved.allocate(&node("c")).unwrap_err().to_string(),
            "pool 10.244.0.0/22 (/24 blocks) is exhausted: 2 of 4 blocks are allocated (2 reserved)"
        );
    }

    #[test]
    fn static_mode_returns_the_configured_block_or_names_the_node() {
        let pools = pools("10.244.0.0/16", 24, &[]);
        let store = StaticStore::new(&pools, [(node("a"), cidr("10.244.9.0/24"))]).unwrap();
        let allocator = Allocator::new(pools, store);
        assert_eq!(
            allocator.allocate(&node("a")).unwrap(),
            vec![cidr("10.244.9.0/24")]
        );
        assert_eq!(
            allocator.allocate(&node("b")).unwrap_err().to_string(),
            "node b has no static assignment in pool 10.244.0.0/16 (/24 blocks)"
        );
        assert_eq!(
            allocator.release(&node("a")).unwrap_err().to_string(),
            "the store is read-only: its assignments come from configuration"
        );
    }

    /// A store that loses every race: someone else always wrote first.
    #[derive(Debug, Default)]
    struct AlwaysConflicts {
        attempts: AtomicU32,
    }

    impl Store for AlwaysConflicts {
        fn load(&self) -> Result<(State, Version), StoreError> {
            Ok((State::default(), Version::INITIAL))
        }

        fn compare_and_swap(&self, expected: Version, _new: &State) -> Result<Version, StoreError> {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Conflict {
                expected,
                actual: expected.next(),
            })
        }
    }

    #[test]
    fn gives_up_after_the_attempt_limit() {
        let allocator = Allocator::new(pools("10.244.0.0/16", 24, &[]), AlwaysConflicts::default())
            .with_max_attempts(NonZeroU32::new(3).unwrap());
        assert_eq!(
            allocator.allocate(&node("n")).unwrap_err().to_string(),
            "gave up after 3 attempts: other writers kept changing the store"
        );
        assert_eq!(allocator.store().attempts.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn retries_after_a_lost_race() {
        let store = MemoryStore::new();
        let allocator = Allocator::new(pools("10.244.0.0/16", 24, &[]), &store);
        // Another writer took this node's first choice between our load and write.
        let n = node("n");
        let first_choice = allocator.pools()[0]
            .block(crate::candidates::start_index(&n, 256))
            .unwrap();
        let (_, v) = store.load().unwrap();
        store
            .compare_and_swap(v, &[(first_choice, node("other"))].into_iter().collect())
            .unwrap();
        let blocks = allocator.allocate(&n).unwrap();
        assert_ne!(blocks[0], first_choice);
    }
}
