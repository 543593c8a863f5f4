//! Where allocations live, behind one compare-and-swap contract.

mod file;
mod memory;
mod static_store;

use std::io;
use std::path::PathBuf;

pub use file::FileStore;
pub use memory::MemoryStore;
pub use static_store::{StaticError, StaticStore};

use crate::state::{State, Version};

/// A shared, versioned [`State`].
///
/// The contract every backend keeps: `load` returns a consistent state and
/// its version; `compare_and_swap(expected, new)` replaces the state with
/// `new` only if the store is still at `expected`, and then returns a version
/// never returned before; otherwise it changes nothing and fails with
/// [`StoreError::Conflict`]. That is all the allocator needs to stay correct
/// with any number of writers: it re-reads and re-plans on conflict.
pub trait Store {
    fn load(&self) -> Result<(State, Version), StoreError>;

    fn compare_and_swap(&self, expected: Version, new: &State) -> Result<Version, StoreError>;
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the store changed underneath us: expected {expected}, found {actual}")]
    Conflict { expected: Version, actual: Version },
    #[error("the store is read-only: its assignments come from configuration")]
    ReadOnly,
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a valid IPAM state file: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl<S: Store + ?Sized> Store for &S {
    fn load(&self) -> Result<(State, Version), StoreError> {
        (**self).load()
    }

    fn compare_and_swap(&self, expected: Version, new: &State) -> Result<Version, StoreError> {
        (**self).compare_and_swap(expected, new)
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn load(&self) -> Result<(State, Version), StoreError> {
        (**self).load()
    }

    fn compare_and_swap(&self, expected: Version, new: &State) -> Result<Version, StoreError> {
        (**self).compare_and_swap(expected, new)
    }
}
