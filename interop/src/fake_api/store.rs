//! The fake API server's state: the objects, one global resourceVersion counter (like
//! etcd's revision), the history of changes that watches replay, and the open watches.
//!
//! One `std::sync::Mutex` guards it all, shared by the server handle and every connection:
//! every write, and every watch registration with its replay, happens under that lock, so
//! a watch never misses or reorders an event. Nothing awaits while holding it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};

use super::kinds::KindId;
use super::watch::Watcher;

/// Locks the store. A panic while it was held (a bug in the double) poisons the lock; the
/// store is used as is rather than turning every later request into another failure.
pub(crate) fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where an object lives: its kind, namespace (`""` for cluster-scoped kinds) and name.
/// Ordered so a kind's objects are adjacent, sorted by namespace then name, as lists
/// return them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) kind: KindId,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl Key {
    /// The first key of `kind`, for ranges over it.
    fn first(kind: KindId) -> Key {
        Key {
            kind,
            namespace: String::new(),
            name: String::new(),
        }
    }
}

/// One committed write.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) key: Key,
    /// `None` when the write created the object.
    pub(crate) before: Option<Value>,
    /// `None` when the write deleted the object.
    pub(crate) after: Option<Value>,
}

impl Change {
    /// The object a watch event carries: the new state or, for a deletion, the last state
    /// stamped with the deletion's resourceVersion (what the real server sends, and what
    /// kube's watcher resumes from).
    pub(crate) fn object(&self) -> Value {
        match (&self.after, &self.before) {
            (Some(after), _) => after.clone(),
            (None, Some(before)) => {
                let mut last = before.clone();
                last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                last
            }
            (None, None) => Value::Null,
        }
    }
}

/// More history than this and the oldest changes are compacted away, so a long test does
/// not grow without bound (etcd compacts every few minutes).
const HISTORY_LIMIT: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    /// Every change with `rv > compacted`, oldest first.
    history: VecDeque<Change>,
    compacted: u64,
    watchers: Vec<Watcher>,
    uids: u64,
    requests: BTreeMap<&'static str, usize>,
}

impl Store {
    /// The current resourceVersion: that of the latest write.
    pub(crate) fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    pub(crate) fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// The current objects of a kind, sorted by namespace then name.
    pub(crate) fn objects(&self, kind: KindId) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects
            .range(Key::first(kind)..)
            .take_while(move |(k, _)| k.kind == kind)
    }

    /// Every current object, of every kind.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter()
    }

    /// The objects of a kind as they were at resourceVersion `at`: the current ones with
    /// every later change undone. `None` if that history was compacted away.
    pub(crate) fn snapshot(&self, kind: KindId, at: u64) -> Option<BTreeMap<Key, Value>> {
        if at < self.compacted {
            return None;
        }
        let mut objects: BTreeMap<Key, Value> = self
            .objects(kind)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for change in self.history.iter().rev().take_while(|c| c.rv > at) {
            if change.key.kind != kind {
                continue;
            }
            match &change.before {
                Some(before) => objects.insert(change.key.clone(), before.clone()),
                None => objects.remove(&change.key),
            };
        }
        Some(objects)
    }

    /// The changes after resourceVersion `rv`, oldest first; `None` if some were compacted
    /// away.
    pub(crate) fn changes_after(&self, rv: u64) -> Option<impl Iterator<Item = &Change>> {
        if rv < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Some(self.history.range(start..))
    }

    /// Commits a write: `Some(object)` creates or replaces, `None` deletes. Bumps the
    /// resourceVersion, stamps it on the object, records the change and tells the open
    /// watches. Returns the committed object (for a delete, the last state).
    pub(crate) fn write(&mut self, key: Key, after: Option<Value>) -> Value {
        self.rv += 1;
        let after = after.map(|mut object| {
            object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            object
        });
        let before = match &after {
            Some(object) => self.objects.insert(key.clone(), object.clone()),
            None => self.objects.remove(&key),
        };
        let change = Change {
            rv: self.rv,
            key,
            before,
            after,
        };
        // A watch whose client went away is dropped here, at its first missed event.
        self.watchers.retain(|w| w.offer(&change));
        let object = change.object();
        self.history.push_back(change);
        if self.history.len() > HISTORY_LIMIT
            && let Some(oldest) = self.history.pop_front()
        {
            self.compacted = oldest.rv;
        }
        object
    }

    /// Registers a watch; it gets every change committed from now on.
    pub(crate) fn add_watcher(&mut self, watcher: Watcher) {
        self.watchers.push(watcher);
    }

    /// Forgets the history and closes every open watch, like an etcd compaction followed
    /// by the API server dropping its watches.
    pub(crate) fn compact(&mut self) {
        self.compacted = self.rv;
        self.history.clear();
        self.watchers.clear();
    }

    /// How many watches are open, as far as the store knows.
    #[cfg(test)]
    pub(crate) fn watch_count(&self) -> usize {
        self.watchers.len()
    }

    /// Closes every open watch (at shutdown).
    pub(crate) fn close_watches(&mut self) {
        self.watchers.clear();
    }

    /// A new `metadata.uid`, UUID-shaped and unique within this server.
    pub(crate) fn new_uid(&mut self) -> String {
        self.uids += 1;
        let n = self.uids;
        format!("fa4e0000-0000-4000-8000-{n:012x}")
    }

    pub(crate) fn count_request(&mut self, verb: &'static str) {
        *self.requests.entry(verb).or_default() += 1;
    }

    pub(crate) fn requests(&self, verb: &str) -> usize {
        self.requests.get(verb).copied().unwrap_or(0)
    }
}
