//! A destination's paths: most destinations have one, kept inline; more go
//! to the heap. 32 bytes, one path's size: the enum's tag hides in a
//! path's spare bits, where a `SmallVec` spends a word on its length and
//! capacity (8 bytes in each of a full table's million destinations).

use std::ops::{Deref, DerefMut};

use super::table::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paths {
    One(Path),
    /// Never of length one (that is `One`); empty when the destination
    /// has no path.
    Many(Vec<Path>),
}

impl Default for Paths {
    fn default() -> Self {
        Paths::Many(Vec::new())
    }
}

impl Paths {
    pub fn push(&mut self, path: Path) {
        match self {
            Paths::Many(v) if v.is_empty() => *self = Paths::One(path),
            Paths::Many(v) => v.push(path),
            Paths::One(_) => {
                let Paths::One(first) = std::mem::take(self) else {
                    return;
                };
                *self = Paths::Many(vec![first, path]);
            }
        }
    }

    /// Keeps the paths for which `keep` holds, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&Path) -> bool) {
        match self {
            Paths::One(p) => {
                if !keep(p) {
                    *self = Paths::default();
                }
            }
            Paths::Many(v) => {
                v.retain(|p| keep(p));
                if v.len() == 1
                    && let Some(p) = v.pop()
                {
                    *self = Paths::One(p);
                }
            }
        }
    }
}

impl Deref for Paths {
    type Target = [Path];

    fn deref(&self) -> &[Path] {
        match self {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Many(v) => v,
        }
    }
}

impl DerefMut for Paths {
    fn deref_mut(&mut self) -> &mut [Path] {
        match self {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Many(v) => v,
        }
    }
}

impl<'a> IntoIterator for &'a Paths {
    type Item = &'a Path;
    type IntoIter = std::slice::Iter<'a, Path>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::{PeerId, Source};

    fn path(n: u32) -> Path {
        crate::rib::table::tests::path(Source::Peer(PeerId(n)))
    }

    fn peers(paths: &Paths) -> Vec<Source> {
        paths.iter().map(|p| p.source).collect()
    }

    #[test]
    fn one_inline_more_on_the_heap_none_empty() {
        assert_eq!(std::mem::size_of::<Paths>(), std::mem::size_of::<Path>());
        let mut paths = Paths::default();
        assert!(paths.is_empty());
        paths.push(path(1));
        assert!(matches!(paths, Paths::One(_)));
        paths.push(path(2));
        paths.push(path(3));
        assert_eq!(peers(&paths), [1, 2, 3].map(|n| Source::Peer(PeerId(n))));
        paths[1].stale = true;
        paths.retain(|p| !p.stale);
        assert_eq!(peers(&paths), [1, 3].map(|n| Source::Peer(PeerId(n))));
        paths.retain(|p| p.source == Source::Peer(PeerId(3)));
        assert!(matches!(paths, Paths::One(_)), "back inline");
        paths.retain(|_| false);
        assert!(paths.is_empty());
        assert_eq!(paths, Paths::default());
    }
}
