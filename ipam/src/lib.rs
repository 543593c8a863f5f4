//! Pod CIDR allocation: one block per node from each cluster pool.
//!
//! Pure allocation logic over a [`Store`] with compare-and-swap semantics.
//! No Kubernetes types and no BGP: the agent adapts this crate to the API
//! server, or uses the [`FileStore`] on hosts without Kubernetes.
//!
//! - [`Cidr`], [`NodeName`]: values parsed once, valid by construction.
//! - [`Pool`], [`Pools`]: cluster CIDRs cut into blocks, with reserved ranges.
//! - [`Allocator`]: allocate, look up and release a node's blocks, retrying
//!   on conflict.
//! - [`Pools::propose`]: the same choice for stores of one object per
//!   block, where creating the object is the claim.
//! - [`Store`] and its backends [`MemoryStore`], [`FileStore`],
//!   [`StaticStore`].
#![forbid(unsafe_code)]

mod allocator;
mod candidates;
mod cidr;
mod node;
mod plan;
mod pool;
mod pools;
mod proposal;
mod state;
mod store;
#[cfg(test)]
mod test_dir;

pub use allocator::{AllocateError, Allocator, DEFAULT_MAX_ATTEMPTS};
pub use cidr::{Cidr, CidrError, Family};
pub use node::{NodeName, NodeNameError};
pub use pool::{MAX_BLOCK_BITS, Pool, PoolError};
pub use pools::{Pools, PoolsError};
pub use proposal::Proposal;
pub use state::{State, Usage, Version};
pub use store::{FileStore, MemoryStore, StaticError, StaticStore, Store, StoreError};
