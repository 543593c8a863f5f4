//! The prefixes waiting for work (decisions to rerun, advertisements to
//! look at again), gathered as they come and deduplicated once, when taken.
//!
//! A full table arriving means a million inserts and one take: pushing to a
//! vector and sorting at the take is several times cheaper than a tree or
//! hash set on every insert, and the take comes out in prefix order, so
//! what follows (FIB updates, UPDATEs) is deterministic.

//!
//! Each prefix may come with the Loc-RIB slot it was last seen at, so that
//! the work on it finds its destination without hashing.

use crate::rib::Slot;
use crate::types::Prefix;

#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixSet {
    prefixes: Vec<(Prefix, Slot)>,
}

impl PrefixSet {
    pub(crate) fn insert(&mut self, prefix: Prefix) {
        self.prefixes.push((prefix, Slot::UNKNOWN));
    }

    pub(crate) fn insert_at(&mut self, prefix: Prefix, slot: Slot) {
        self.prefixes.push((prefix, slot));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.prefixes.clear();
    }

    /// Every prefix inserted since the last take, once each, in order,
    /// with a slot it was inserted with.
    pub(crate) fn take(&mut self) -> Vec<(Prefix, Slot)> {
        let mut all = std::mem::take(&mut self.prefixes);
        all.sort_unstable();
        all.dedup_by_key(|(prefix, _)| *prefix);
        all
    }
}

impl Extend<Prefix> for PrefixSet {
    fn extend<I: IntoIterator<Item = Prefix>>(&mut self, iter: I) {
        self.prefixes
            .extend(iter.into_iter().map(|prefix| (prefix, Slot::UNKNOWN)));
    }
}

impl Extend<(Prefix, Slot)> for PrefixSet {
    fn extend<I: IntoIterator<Item = (Prefix, Slot)>>(&mut self, iter: I) {
        self.prefixes.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_sorted_and_once_each() {
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let mut set = PrefixSet::default();
        assert!(set.is_empty());
        set.insert(p("10.0.2.0/24"));
        set.extend([p("10.0.1.0/24"), p("10.0.2.0/24"), p("fd00::/64")]);
        assert!(!set.is_empty());
        let prefixes: Vec<Prefix> = set.take().into_iter().map(|(prefix, _)| prefix).collect();
        assert_eq!(
            prefixes,
            vec![p("10.0.1.0/24"), p("10.0.2.0/24"), p("fd00::/64")]
        );
        assert!(set.is_empty());
        set.insert(p("10.0.1.0/24"));
        set.clear();
        assert!(set.take().is_empty());
    }
}
