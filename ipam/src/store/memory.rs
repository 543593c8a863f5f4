use std::sync::{Mutex, PoisonError};

use super::{Store, StoreError};
use crate::state::{State, Version};

/// A store in process memory, shared by threads: for tests and for one-off
/// tools that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryStore {
    current: Mutex<(State, Version)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that starts from `state` at version 1.
    pub fn with_state(state: State) -> Self {
        MemoryStore {
            current: Mutex::new((state, Version::INITIAL.next())),
        }
    }
}

impl Store for MemoryStore {
    fn load(&self) -> Result<(State, Version), StoreError> {
        // A panic while holding the lock cannot leave a half-written pair:
        // both fields are replaced by one assignment.
        Ok(self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn compare_and_swap(&self, expected: Version, new: &State) -> Result<Version, StoreError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.1 != expected {
            return Err(StoreError::Conflict {
                expected,
                actual: current.1,
            });
        }
        let version = current.1.next();
        *current = (new.clone(), version);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeName;

    fn one_block() -> State {
        [("10.0.0.0/24".parse().unwrap(), NodeName::new("n").unwrap())]
            .into_iter()
            .collect()
    }

    #[test]
    fn starts_empty_at_the_initial_version() {
        let (state, version) = MemoryStore::new().load().unwrap();
        assert!(state.is_empty());
        assert_eq!(version, Version::INITIAL);
        assert_eq!(
            MemoryStore::with_state(one_block()).load().unwrap(),
            (one_block(), Version::INITIAL.next())
        );
    }

    #[test]
    fn swaps_only_at_the_expected_version() {
        let store = MemoryStore::new();
        let v1 = store
            .compare_and_swap(Version::INITIAL, &one_block())
            .unwrap();
        assert_eq!(store.load().unwrap(), (one_block(), v1));
        let err = store
            .compare_and_swap(Version::INITIAL, &State::default())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the store changed underneath us: expected v0, found v1"
        );
        assert_eq!(store.load().unwrap().0, one_block());
    }
}
