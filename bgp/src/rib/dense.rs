//! A map whose entries sit dense in one vector, in the order they came
//! (but for removals, which move the last entry into the hole), with a hash
//! table of their positions beside it: what the Loc-RIB is made of.
//!
//! indexmap is the same idea, but keeps each entry's hash (8 bytes) and
//! word-sized positions (8 bytes a bucket). Here a position takes 4 bytes
//! and the hash is not kept: when the table grows, it is computed again
//! from the key, which for a prefix costs a few nanoseconds. For a full
//! table that is 8 bytes less in each of a million entries and 8 MiB less
//! of positions.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::table::PrefixHasher;

#[derive(Debug)]
pub(crate) struct DenseMap<K, V> {
    entries: Vec<(K, V)>,
    positions: HashTable<u32>,
    hasher: PrefixHasher,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            entries: Vec::new(),
            positions: HashTable::new(),
            hasher: PrefixHasher::default(),
        }
    }
}

/// A position as the table keeps it. Four billion entries would take some
/// 300 GiB before they did not fit; the Loc-RIB's slots are 32-bit too.
fn position(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl<K: Hash + Eq, V> DenseMap<K, V> {
    fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    pub(crate) fn get_index_of(&self, key: &K) -> Option<usize> {
        let entries = &self.entries;
        self.positions
            .find(self.hash(key), |&i| {
                entries.get(i as usize).is_some_and(|(k, _)| k == key)
            })
            .map(|&i| i as usize)
    }

    pub(crate) fn get_index(&self, index: usize) -> Option<(&K, &V)> {
        self.entries.get(index).map(|(k, v)| (k, v))
    }

    pub(crate) fn get_index_mut(&mut self, index: usize) -> Option<(&K, &mut V)> {
        self.entries.get_mut(index).map(|(k, v)| (&*k, v))
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let index = self.get_index_of(key)?;
        self.entries.get_mut(index).map(|(_, v)| v)
    }

    /// The entry of `key`, made with `V::default()` if there is none, and
    /// its index.
    pub(crate) fn entry_or_default(&mut self, key: K) -> (usize, &mut V)
    where
        V: Default,
    {
        let hash = self.hash(&key);
        let (entries, hasher) = (&self.entries, &self.hasher);
        let index = match self.positions.entry(
            hash,
            |&i| entries.get(i as usize).is_some_and(|(k, _)| *k == key),
            |&i| {
                entries
                    .get(i as usize)
                    .map_or(0, |(k, _)| hasher.hash_one(k))
            },
        ) {
            Entry::Occupied(e) => *e.get() as usize,
            Entry::Vacant(e) => {
                let index = entries.len();
                e.insert(position(index));
                self.entries.push((key, V::default()));
                index
            }
        };
        // Just found or pushed: there.
        let (_, v) = &mut self.entries[index];
        (index, v)
    }

    /// Removes the entry at `index`; the last one takes its place.
    pub(crate) fn swap_remove_index(&mut self, index: usize) -> Option<(K, V)> {
        let hash = self.hash(&self.entries.get(index)?.0);
        let at = position(index);
        if let Ok(e) = self.positions.find_entry(hash, |&i| i == at) {
            e.remove();
        }
        let last = self.entries.len() - 1;
        if index != last {
            let moved = self.hash(&self.entries[last].0);
            let from = position(last);
            if let Some(i) = self.positions.find_mut(moved, |&i| i == from) {
                *i = at;
            }
        }
        Some(self.entries.swap_remove(index))
    }

    /// Keeps the entries for which `keep` holds, in their order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
        if self.entries.len() != before {
            self.positions.clear();
            let (entries, hasher) = (&self.entries, &self.hasher);
            for (i, (k, _)) in entries.iter().enumerate() {
                self.positions
                    .insert_unique(hasher.hash_one(k), position(i), |&j| {
                        entries
                            .get(j as usize)
                            .map_or(0, |(k, _)| hasher.hash_one(k))
                    });
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a std map, through inserts, removals (the last moving into
    /// the hole) and a retain, with growth on the way.
    #[test]
    fn it_agrees_with_a_plain_map() {
        let mut dense: DenseMap<u32, u32> = DenseMap::default();
        let mut plain = std::collections::HashMap::new();
        for k in 0..5000u32 {
            let (_, v) = dense.entry_or_default(k);
            *v = k * 2;
            plain.insert(k, k * 2);
        }
        // Again: found, not added.
        let (index, v) = dense.entry_or_default(7);
        assert_eq!((index, *v), (7, 14));
        for k in (0..5000u32).filter(|k| k % 3 == 0) {
            let index = dense.get_index_of(&k).unwrap();
            assert_eq!(dense.swap_remove_index(index), Some((k, k * 2)));
            plain.remove(&k);
        }
        dense.retain(|k, v| {
            *v += 1;
            k % 5 != 0
        });
        plain.retain(|k, _| k % 5 != 0);
        assert_eq!(dense.iter().count(), plain.len());
        for k in 0..5000u32 {
            let got = dense
                .get_index_of(&k)
                .and_then(|i| dense.get_index(i))
                .map(|(key, v)| (*key, *v));
            assert_eq!(got, plain.get(&k).map(|v| (k, v + 1)), "{k}");
        }
        assert_eq!(dense.get_mut(&1).map(|v| *v), Some(3));
        assert!(dense.get_mut(&3).is_none());
        let len = dense.iter().count();
        assert!(dense.swap_remove_index(len).is_none());
        let last = len - 1;
        let (k, _) = dense.get_index(last).map(|(k, v)| (*k, *v)).unwrap();
        dense.swap_remove_index(last);
        assert!(dense.get_index_of(&k).is_none());
    }
}
