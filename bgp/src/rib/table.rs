//! The Loc-RIB: every usable path to every destination, the best one
//! chosen, and the ECMP set.

use std::time::{Duration, Instant};

use serde::Serialize;
use smallvec::SmallVec;

use super::attrs::SharedAttrs;
use super::decision::{Candidate, DecisionConfig, LossReason, Origin, decide};
use super::dense::DenseMap;
use super::paths::Paths;
use crate::types::{Family, Ipv4Prefix, Ipv6Prefix, PathId, Prefix};

/// A configured peer, as the RIB names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PeerId(pub u32);

/// Where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// We originate it.
    Local,
    Peer(PeerId),
}

/// When a path last changed, in whole seconds after the speaker started.
/// Only shown, as a route's age in seconds; 4 bytes where an `Instant`
/// takes 16, in each of a full table's million paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Since(u32);

impl Since {
    /// `now`, counted from `epoch` (the speaker's start).
    pub fn at(epoch: Instant, now: Instant) -> Since {
        let secs = now.saturating_duration_since(epoch).as_secs();
        Since(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// How long before `now` this was.
    pub fn age(self, epoch: Instant, now: Instant) -> Duration {
        now.saturating_duration_since(epoch)
            .saturating_sub(Duration::from_secs(self.0.into()))
    }
}

/// One path to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub source: Source,
    /// The peer's ADD-PATH identifier, if it sends them.
    pub path_id: Option<PathId>,
    pub attrs: SharedAttrs,
    /// Kept across the peer's restart (RFC 4724) or a route refresh in
    /// progress (RFC 7313), until it is re-advertised or swept.
    pub stale: bool,
    pub since: Since,
    /// Why it is not the best; `None` for the best.
    pub lost: Option<LossReason>,
    /// Installed together with the best for ECMP.
    pub multipath: bool,
}

impl Path {
    /// The best as of the last decision: the one in the multipath set
    /// that lost to nothing. (A path that came after the decision has lost
    /// to nothing yet, but is in no set.)
    fn is_best(&self) -> bool {
        self.multipath && self.lost.is_none()
    }
}

/// An export group (peers sent the same UPDATEs), as the RIB names it.
pub type GroupId = u32;

/// One export group's Adj-RIB-Out entry for a destination: the attributes
/// it advertised, and the peer the best path came from, which was not sent
/// it (RFC 4271 §9.2).
///
/// Kept in the destination rather than in a table of the group's own: a
/// second table as large as the Loc-RIB cost a hash insert for every
/// prefix relayed (a third of a full table's relay) and 66 bytes a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    group: GroupId,
    /// `from`, with [`Advertised::NOT_FROM_A_PEER`] for none: 16 bytes in
    /// all, where an `Option` takes 24.
    from: u32,
    attrs: SharedAttrs,
}

impl Advertised {
    /// Peer ids count up from 1; this one is never handed out.
    const NOT_FROM_A_PEER: u32 = u32::MAX;

    pub fn new(group: GroupId, from: Option<PeerId>, attrs: SharedAttrs) -> Self {
        Advertised {
            group,
            from: from.map_or(Self::NOT_FROM_A_PEER, |p| p.0),
            attrs,
        }
    }

    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The peer the best path came from.
    pub fn from(&self) -> Option<PeerId> {
        (self.from != Self::NOT_FROM_A_PEER).then_some(PeerId(self.from))
    }

    pub fn attrs(&self) -> &SharedAttrs {
        &self.attrs
    }
}

/// All paths to one prefix. Most prefixes have one path: it is kept
/// inline, so a destination costs no allocation of its own.
///
/// The last decision is recorded on the paths themselves (`lost`,
/// `multipath`); what the paths cannot tell, a selected path gone or
/// changed since, is one flag. (A copy of the selected set, key and
/// attributes, cost 32 bytes in each of a full table's destinations.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dest {
    pub paths: Paths,
    /// What export groups advertised. A destination whose last path has
    /// gone stays (with no path, hidden from everyone but export) until
    /// every group that advertised it has withdrawn it.
    out: SmallVec<[Advertised; 1]>,
    /// The last decision chose a best path.
    had_best: bool,
    /// A path of the last decision's multipath set has gone, or changed
    /// its attributes, since.
    selected_changed: bool,
}

impl Dest {
    /// What `group` advertised for this destination.
    pub fn advertised(&self, group: GroupId) -> Option<&Advertised> {
        self.out.iter().find(|a| a.group == group)
    }

    /// Removes the paths for which `gone` holds; how many.
    fn remove_paths(&mut self, gone: impl Fn(&Path) -> bool) -> usize {
        let before = self.paths.len();
        let mut selected_gone = false;
        self.paths.retain(|p| {
            let g = gone(p);
            selected_gone |= g && p.multipath;
            !g
        });
        self.selected_changed |= selected_gone;
        before - self.paths.len()
    }

    fn is_live(&self) -> bool {
        !self.paths.is_empty()
    }

    fn is_dead(&self) -> bool {
        self.paths.is_empty() && self.out.is_empty()
    }

    /// The best path as of the last decision (`None` if it has gone since).
    pub fn best(&self) -> Option<&Path> {
        self.paths.iter().find(|p| p.is_best())
    }

    /// The best path and the ones sharing the load with it, best first.
    pub fn multipath(&self) -> impl Iterator<Item = &Path> {
        self.best()
            .into_iter()
            .chain(self.paths.iter().filter(|p| p.multipath && !p.is_best()))
    }
}

/// Where a destination sat in the Loc-RIB when last touched. A hint, not a
/// handle: removing a destination moves the last one into its place, so a
/// slot is checked against the prefix before it is used, and a stale one
/// costs the hash lookup it was meant to save. A full table is touched in
/// the order it arrived, which is the order it sits in, so looking it up by
/// slot walks memory in order where hashing jumps about (two cache misses a
/// prefix, most of the time of a relay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(u32);

impl Slot {
    /// No idea where the destination is.
    pub const UNKNOWN: Slot = Slot(u32::MAX);
}

/// Outcome of changing a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Best path or multipath set changed.
    Best,
    /// Something else changed (a losing path came or went).
    Other,
    None,
}

/// The hasher of the speaker's per-prefix tables: fast, and seeded the same
/// in every run, so the speaker stays deterministic (its tables iterate in
/// the same order for the same inputs). Peers are configured and bounded by
/// max-prefix, which is what stands between them and crafted collisions.
pub type PrefixHasher = foldhash::fast::FixedState;

/// The Loc-RIB, for IPv4 and IPv6 unicast, in no particular order (whoever
/// shows it sorts what it shows): relaying a full table is lookups by
/// prefix. One table per family, so that an IPv4 key takes its 5 bytes
/// rather than the 18 of a prefix of either family.
#[derive(Debug, Default)]
pub struct LocRib {
    v4: Table<Ipv4Prefix>,
    v6: Table<Ipv6Prefix>,
}

/// The destinations of one family. Dense in one vector with a hash table
/// of their positions beside it, not a plain hash table: a million
/// destinations do not cost a power-of-two table of them, half empty,
/// copied whole at each growth.
#[derive(Debug)]
struct Table<K> {
    dests: DenseMap<K, Dest>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            dests: DenseMap::default(),
        }
    }
}

/// A slot's top bit says which family's table it is in.
const V6_SLOT: u32 = 1 << 31;

impl Slot {
    fn at(family_v6: bool, index: usize) -> Slot {
        match u32::try_from(index) {
            Ok(i) if i < V6_SLOT - 1 => Slot(if family_v6 { i | V6_SLOT } else { i }),
            _ => Slot::UNKNOWN,
        }
    }

    /// The index this slot gives in the table of the given family.
    fn index_in(self, family_v6: bool) -> Option<usize> {
        let v6 = self.0 & V6_SLOT != 0;
        (self != Slot::UNKNOWN && v6 == family_v6).then_some((self.0 & !V6_SLOT) as usize)
    }
}

impl<K: std::hash::Hash + Eq + Copy> Table<K> {
    fn index_of(&self, key: &K, at: Option<usize>) -> Option<usize> {
        match at.and_then(|at| Some((at, self.dests.get_index(at)?))) {
            Some((at, (k, _))) if k == key => Some(at),
            _ => self.dests.get_index_of(key),
        }
    }

    fn get_at(&self, key: &K, at: Option<usize>) -> Option<&Dest> {
        let index = self.index_of(key, at)?;
        self.dests.get_index(index).map(|(_, d)| d)
    }

    fn get_mut_at(&mut self, key: &K, at: Option<usize>) -> Option<(usize, &mut Dest)> {
        let index = self.index_of(key, at)?;
        self.dests.get_index_mut(index).map(|(_, d)| (index, d))
    }

    fn upsert(&mut self, key: K, path: Path) -> (bool, usize) {
        let (index, dest) = self.dests.entry_or_default(key);
        let new = match dest
            .paths
            .iter_mut()
            .find(|p| p.source == path.source && p.path_id == path.path_id)
        {
            Some(existing) => {
                let since = if existing.attrs == path.attrs {
                    existing.since
                } else {
                    path.since
                };
                if existing.multipath && !std::sync::Arc::ptr_eq(&existing.attrs, &path.attrs) {
                    dest.selected_changed = true;
                }
                // What it was in the last decision, it stays until the next.
                *existing = Path {
                    since,
                    lost: existing.lost,
                    multipath: existing.multipath,
                    ..path
                };
                false
            }
            None => {
                dest.paths.push(path);
                true
            }
        };
        (new, index)
    }

    fn advertise(&mut self, key: &K, at: Option<usize>, adv: Advertised) -> Option<Advertised> {
        let (_, dest) = self.get_mut_at(key, at)?;
        match dest.out.iter_mut().find(|a| a.group == adv.group) {
            Some(old) => Some(std::mem::replace(old, adv)),
            None => {
                dest.out.push(adv);
                None
            }
        }
    }

    fn unadvertise(&mut self, key: &K, at: Option<usize>, group: GroupId) -> Option<Advertised> {
        let (index, dest) = self.get_mut_at(key, at)?;
        let position = dest.out.iter().position(|a| a.group == group)?;
        let old = dest.out.remove(position);
        if dest.is_dead() {
            self.dests.swap_remove_index(index);
        }
        Some(old)
    }

    fn forget_group(&mut self, group: GroupId) {
        self.dests.retain(|_, d: &mut Dest| {
            d.out.retain(|a| a.group != group);
            !d.is_dead()
        });
    }

    fn decide(
        &mut self,
        key: &K,
        at: Option<usize>,
        cfg: &DecisionConfig,
        origin: impl Fn(Source) -> Origin,
    ) -> (Change, Option<usize>, Option<&Dest>) {
        let Some(index) = self.index_of(key, at) else {
            return (Change::None, None, None);
        };
        if let Some((_, dest)) = self.dests.get_index(index)
            && dest.is_dead()
        {
            let change = if dest.had_best {
                Change::Best
            } else {
                Change::None
            };
            // Order means nothing here: the last one takes the hole.
            self.dests.swap_remove_index(index);
            return (change, None, None);
        }
        let Some((_, dest)) = self.dests.get_index_mut(index) else {
            return (Change::None, None, None);
        };
        let change = dest.decide(cfg, origin);
        (change, Some(index), Some(dest))
    }
}

impl Dest {
    /// Reruns the decision over the paths there are (none: a destination
    /// still advertised, kept with no best until withdrawn).
    fn decide(&mut self, cfg: &DecisionConfig, origin: impl Fn(Source) -> Origin) -> Change {
        let changed = std::mem::take(&mut self.selected_changed);
        if self.paths.is_empty() {
            return if std::mem::take(&mut self.had_best) {
                Change::Best
            } else {
                Change::None
            };
        }
        let same = if let [p] = &mut *self.paths {
            // One path: it is the best and the whole multipath set, with no
            // comparison to make (what `decide` would say, without its
            // allocations: the common case of a relayed table).
            let was_best = p.is_best();
            p.lost = None;
            p.multipath = true;
            was_best
        } else {
            let before: SmallVec<[(bool, bool); 4]> = self
                .paths
                .iter()
                .map(|p| (p.multipath, p.is_best()))
                .collect();
            let candidates: Vec<Candidate<'_>> = self
                .paths
                .iter()
                .map(|p| Candidate {
                    attrs: &p.attrs,
                    origin: origin(p.source),
                    path_id: p.path_id,
                })
                .collect();
            let decision = decide(&candidates, cfg);
            for (i, p) in self.paths.iter_mut().enumerate() {
                p.lost = decision.lost[i];
                p.multipath = decision.multipath.contains(&i);
            }
            self.paths
                .iter()
                .zip(&before)
                .all(|(p, was)| (p.multipath, p.is_best()) == *was)
        };
        self.had_best = true;
        // The same paths with the very same attributes: nothing to tell.
        if same && !changed {
            Change::Other
        } else {
            Change::Best
        }
    }
}

/// Runs `$body` with `$table` the table of `$prefix`'s family (borrowed as
/// `$self.v4`/`$self.v6` are by `$borrow`), `$key` its key and `$v6` whether
/// it is IPv6.
macro_rules! on_table {
    ($self:ident, $prefix:expr, $borrow:tt, |$table:ident, $key:ident, $v6:ident| $body:expr) => {
        match $prefix {
            Prefix::V4($key) => {
                let $table = on_table!(@borrow $borrow $self.v4);
                let $v6 = false;
                $body
            }
            Prefix::V6($key) => {
                let $table = on_table!(@borrow $borrow $self.v6);
                let $v6 = true;
                $body
            }
        }
    };
    (@borrow ref $e:expr) => {
        &$e
    };
    (@borrow mut $e:expr) => {
        &mut $e
    };
}

impl LocRib {
    pub fn get(&self, prefix: &Prefix) -> Option<&Dest> {
        self.get_at(prefix, Slot::UNKNOWN).filter(|d| d.is_live())
    }

    /// [`LocRib::get`], trying `slot` first. Also finds a destination
    /// with no path left that a group has yet to withdraw.
    pub fn get_at(&self, prefix: &Prefix, slot: Slot) -> Option<&Dest> {
        on_table!(self, prefix, ref, |t, k, v6| t.get_at(k, slot.index_in(v6)))
    }

    /// Destinations with a path (a walk: only for counts shown).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every destination, with or without a path, and its slot.
    fn all(&self) -> impl Iterator<Item = (Prefix, Slot, &Dest)> {
        let v4 = (self.v4.dests.iter().enumerate())
            .map(|(i, (k, d))| (Prefix::V4(*k), Slot::at(false, i), d));
        let v6 = (self.v6.dests.iter().enumerate())
            .map(|(i, (k, d))| (Prefix::V6(*k), Slot::at(true, i), d));
        v4.chain(v6)
    }

    /// Destinations with a path, IPv4 first.
    pub fn iter(&self) -> impl Iterator<Item = (Prefix, &Dest)> {
        self.all()
            .filter(|(_, _, d)| d.is_live())
            .map(|(prefix, _, d)| (prefix, d))
    }

    pub fn family(&self, family: Family) -> impl Iterator<Item = (Prefix, &Dest)> {
        self.iter().filter(move |(p, _)| prefix_family(p) == family)
    }

    /// Every destination, with or without a path, and its slot: what an
    /// export group looks at to redo its whole Adj-RIB-Out.
    pub fn slots(&self) -> impl Iterator<Item = (Prefix, Slot)> {
        self.all().map(|(prefix, slot, _)| (prefix, slot))
    }

    /// What `group` advertised for `prefix` (found at `slot` or by hash).
    pub fn advertised(&self, prefix: &Prefix, slot: Slot, group: GroupId) -> Option<&Advertised> {
        self.get_at(prefix, slot)?.advertised(group)
    }

    /// Records what a group advertises for `prefix`, which has a path;
    /// gives what it had advertised before.
    pub fn advertise(
        &mut self,
        prefix: &Prefix,
        slot: Slot,
        adv: Advertised,
    ) -> Option<Advertised> {
        on_table!(self, prefix, mut, |t, k, v6| t.advertise(
            k,
            slot.index_in(v6),
            adv
        ))
    }

    /// Records that `group` withdrew `prefix`; gives what it had
    /// advertised. The destination goes if that was all that held it.
    pub fn unadvertise(
        &mut self,
        prefix: &Prefix,
        slot: Slot,
        group: GroupId,
    ) -> Option<Advertised> {
        on_table!(self, prefix, mut, |t, k, v6| t.unadvertise(
            k,
            slot.index_in(v6),
            group
        ))
    }

    /// The Adj-RIB-Out of `group`.
    pub fn adj_rib_out(&self, group: GroupId) -> impl Iterator<Item = (Prefix, &Advertised)> {
        self.all()
            .filter_map(move |(prefix, _, d)| Some((prefix, d.advertised(group)?)))
    }

    /// Drops the Adj-RIB-Out of a group that is no more, and the
    /// destinations only it held.
    pub fn forget_group(&mut self, group: GroupId) {
        self.v4.forget_group(group);
        self.v6.forget_group(group);
    }

    /// Adds or replaces the path with the same source and path id; true
    /// if it is new, and where the destination is. The decision is not
    /// rerun: call [`LocRib::decide`] after a batch.
    pub fn upsert(&mut self, prefix: Prefix, path: Path) -> (bool, Slot) {
        on_table!(self, prefix, mut, |t, k, v6| {
            let (new, index) = t.upsert(k, path);
            (new, Slot::at(v6, index))
        })
    }

    fn get_mut(&mut self, prefix: &Prefix) -> Option<&mut Dest> {
        on_table!(self, prefix, mut, |t, k, _v6| t.dests.get_mut(k))
    }

    /// Removes the path with this source and path id; true if there was one.
    pub fn remove(&mut self, prefix: &Prefix, source: Source, path_id: Option<PathId>) -> bool {
        self.get_mut(prefix).is_some_and(|dest| {
            dest.remove_paths(|p| p.source == source && p.path_id == path_id) > 0
        })
    }

    /// Prefixes with a path from `source` matching `filter`, for sweeping.
    pub fn prefixes_from(
        &self,
        source: Source,
        filter: impl Fn(&Prefix, &Path) -> bool,
    ) -> Vec<Prefix> {
        self.iter()
            .filter(|(prefix, d)| {
                d.paths
                    .iter()
                    .any(|p| p.source == source && filter(prefix, p))
            })
            .map(|(prefix, _)| prefix)
            .collect()
    }

    /// Applies `f` to every path from `source` in the given prefixes.
    pub fn for_paths_from(
        &mut self,
        prefixes: &[Prefix],
        source: Source,
        mut f: impl FnMut(&mut Path),
    ) {
        for prefix in prefixes {
            if let Some(d) = self.get_mut(prefix) {
                d.paths
                    .iter_mut()
                    .filter(|p| p.source == source)
                    .for_each(&mut f);
            }
        }
    }

    /// Removes paths from `source` in `prefixes` for which `remove` holds;
    /// returns the prefix of each path removed.
    pub fn remove_where(
        &mut self,
        prefixes: &[Prefix],
        source: Source,
        remove: impl Fn(&Path) -> bool,
    ) -> Vec<Prefix> {
        let mut removed = Vec::new();
        for prefix in prefixes {
            if let Some(d) = self.get_mut(prefix) {
                let gone = d.remove_paths(|p| p.source == source && remove(p));
                removed.extend(std::iter::repeat_n(*prefix, gone));
            }
        }
        removed
    }

    /// Reruns the decision for `prefix`; drops the destination when it has
    /// no path left. Also gives the destination as it now is, so that the
    /// caller acting on the change needs no second lookup (relaying a full
    /// table is dominated by lookups by prefix).
    pub fn decide(
        &mut self,
        prefix: &Prefix,
        slot: Slot,
        cfg: &DecisionConfig,
        origin: impl Fn(Source) -> Origin,
    ) -> (Change, Slot, Option<&Dest>) {
        on_table!(self, prefix, mut, |t, k, v6| {
            let (change, index, dest) = t.decide(k, slot.index_in(v6), cfg, origin);
            let slot = index.map_or(Slot::UNKNOWN, |i| Slot::at(v6, i));
            (change, slot, dest)
        })
    }
}

/// The unicast family of a prefix.
pub fn prefix_family(p: &Prefix) -> Family {
    match p {
        Prefix::V4(_) => Family::IPV4_UNICAST,
        Prefix::V6(_) => Family::IPV6_UNICAST,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::rib::RouteAttrs;
    use crate::wire::NextHop;

    /// A path from `source` with a local route's attributes (each call its
    /// own set: not interned).
    pub(in crate::rib) fn path(source: Source) -> Path {
        Path {
            source,
            path_id: None,
            attrs: Arc::new(RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)))),
            stale: false,
            since: Since::default(),
            lost: None,
            multipath: false,
        }
    }

    fn origin(_: Source) -> Origin {
        Origin {
            local: true,
            internal: false,
            router_id: "192.0.2.1".parse().unwrap(),
            address: None,
        }
    }

    /// A slot is a hint: once a removal has moved another destination into
    /// it, it still leads to the right destination (by hashing), and a
    /// slot of nothing at all finds nothing.
    #[test]
    fn a_stale_slot_still_finds_the_right_destination() {
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let (a, b, c) = (p("10.244.1.0/24"), p("10.244.2.0/24"), p("10.244.3.0/24"));
        let mut rib = LocRib::default();
        let source = Source::Peer(PeerId(1));
        let (_, slot_a) = rib.upsert(a, path(source));
        let (_, _) = rib.upsert(b, path(source));
        let (_, slot_c) = rib.upsert(c, path(source));
        assert_eq!(rib.get_at(&a, slot_a).map(|d| d.paths.len()), Some(1));

        // `a` goes: `c`, the last, moves into its slot.
        rib.remove(&a, source, None);
        let cfg = DecisionConfig::new(crate::types::Asn::new(65001));
        let (change, _, dest) = rib.decide(&a, slot_a, &cfg, origin);
        assert_eq!((change, dest.is_none()), (Change::None, true));
        assert!(rib.get_at(&a, slot_a).is_none());
        // `c`'s old slot is past the end, and its new one is `a`'s old one.
        let (change, slot, dest) = rib.decide(&c, slot_c, &cfg, origin);
        assert_eq!(change, Change::Best);
        assert!(dest.is_some());
        assert_eq!(slot, slot_a);
        assert!(rib.get_at(&c, Slot::UNKNOWN).is_some());
        assert!(rib.get_at(&b, slot_a).is_some());

        // Each family has its table: the first IPv6 destination sits at
        // index 0 of its own, and its slot says so.
        let v6 = p("fd00:10:244:1::/64");
        let (_, slot_v6) = rib.upsert(v6, path(source));
        assert_ne!(slot_v6, slot_a);
        assert!(rib.get_at(&v6, slot_a).is_some());
        assert_eq!(rib.get_at(&c, slot_v6).map(|d| d.paths.len()), Some(1));
        let in_order: Vec<Prefix> = rib.iter().map(|(prefix, _)| prefix).collect();
        assert_eq!(in_order, [c, b, v6], "IPv4 first");
    }

    /// What a decision tells (RFC 4271 §9.1.2, §9.1.3: only a change of
    /// the selected routes goes on to the FIB and to peers), with the last
    /// decision kept on the paths and one flag.
    #[test]
    fn a_decision_tells_a_change_of_the_selected_paths_only() {
        let prefix = "10.244.1.0/24".parse::<Prefix>().unwrap();
        let cfg = DecisionConfig::new(crate::types::Asn::new(65001));
        // Peers by router id: 1 beats 2 beats 3 (§9.1.2.2 f), all equal
        // enough to share the load.
        let peer_origin = |s: Source| {
            let n = match s {
                Source::Peer(PeerId(n)) => n,
                Source::Local => 0,
            };
            Origin {
                local: false,
                internal: false,
                router_id: crate::types::RouterId::new(n.max(1)).unwrap(),
                address: None,
            }
        };
        let (p1, p2, p3) = (
            Source::Peer(PeerId(1)),
            Source::Peer(PeerId(2)),
            Source::Peer(PeerId(3)),
        );
        // One interned set, as the speaker keeps them.
        let shared = path(p1).attrs;
        let path = |source| Path {
            attrs: shared.clone(),
            ..path(source)
        };
        let mut rib = LocRib::default();
        let decide = |rib: &mut LocRib| {
            let (change, _, dest) = rib.decide(&prefix, Slot::UNKNOWN, &cfg, peer_origin);
            let chosen = dest.map(|d| d.multipath().map(|p| p.source).collect::<Vec<_>>());
            (change, chosen.unwrap_or_default())
        };

        rib.upsert(prefix, path(p2));
        assert_eq!(decide(&mut rib), (Change::Best, vec![p2]));
        assert_eq!(decide(&mut rib), (Change::Other, vec![p2]), "nothing new");
        // The same attributes again: the same selection.
        rib.upsert(prefix, path(p2));
        assert_eq!(decide(&mut rib).0, Change::Other);
        // Changed attributes of the selected path.
        let mut med = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
        med.med = Some(7);
        let changed = Path {
            attrs: Arc::new(med),
            ..path(p2)
        };
        rib.upsert(prefix, changed);
        assert_eq!(
            rib.get(&prefix).and_then(|d| d.best()).map(|b| b.source),
            Some(p2)
        );
        assert_eq!(decide(&mut rib).0, Change::Best);
        // A better path joins: best and set change; a worse one that only
        // shares the load changes the set.
        rib.upsert(prefix, path(p1));
        rib.upsert(prefix, path(p2));
        assert_eq!(decide(&mut rib), (Change::Best, vec![p1, p2]));
        rib.upsert(prefix, path(p3));
        assert_eq!(decide(&mut rib), (Change::Best, vec![p1, p2, p3]));
        // A member of the set goes: a change, though the best stays.
        rib.remove(&prefix, p3, None);
        assert_eq!(decide(&mut rib), (Change::Best, vec![p1, p2]));
        // One goes and another comes before the decision: still a change.
        rib.remove(&prefix, p2, None);
        rib.upsert(prefix, path(p3));
        assert_eq!(decide(&mut rib), (Change::Best, vec![p1, p3]));

        // Without multipath, a loser coming and going changes nothing.
        let mut single = LocRib::default();
        let one = DecisionConfig {
            max_paths: 1,
            ..DecisionConfig::new(crate::types::Asn::new(65001))
        };
        let decide_one = |rib: &mut LocRib| rib.decide(&prefix, Slot::UNKNOWN, &one, peer_origin).0;
        single.upsert(prefix, path(p1));
        assert_eq!(decide_one(&mut single), Change::Best);
        single.upsert(prefix, path(p2));
        assert_eq!(decide_one(&mut single), Change::Other);
        single.remove(&prefix, p2, None);
        assert_eq!(decide_one(&mut single), Change::Other);
        // The last path gone: the best is gone.
        single.remove(&prefix, p1, None);
        assert_eq!(decide_one(&mut single), Change::Best);
        assert!(single.get(&prefix).is_none());
        assert_eq!(single.slots().count(), 0);
    }

    /// A route's age counts from its last change: re-advertised with the
    /// same attributes it keeps its age, changed it starts again.
    #[test]
    fn a_path_keeps_its_age_until_its_attributes_change() {
        let epoch = Instant::now();
        let at = |secs| epoch + Duration::from_secs(secs);
        let prefix = "10.244.1.0/24".parse::<Prefix>().unwrap();
        let source = Source::Peer(PeerId(1));
        let mut rib = LocRib::default();
        let first = Path {
            since: Since::at(epoch, at(10)),
            ..path(source)
        };
        rib.upsert(prefix, first.clone());
        let again = Path {
            since: Since::at(epoch, at(50)),
            ..first.clone()
        };
        rib.upsert(prefix, again);
        let age = |rib: &LocRib| rib.get(&prefix).unwrap().paths[0].since.age(epoch, at(70));
        assert_eq!(age(&rib), Duration::from_secs(60));

        let mut attrs = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 2)));
        attrs.med = Some(5);
        let changed = Path {
            attrs: Arc::new(attrs),
            since: Since::at(epoch, at(60)),
            ..first
        };
        rib.upsert(prefix, changed);
        assert_eq!(age(&rib), Duration::from_secs(10));
        // Before the epoch, or far past u32 seconds, clamps instead of wrapping.
        assert_eq!(
            Since::at(at(5), epoch).age(epoch, at(1)),
            Duration::from_secs(1)
        );
    }

    /// A full table is a million destinations: each byte here is a
    /// megabyte there. One path inline, one group's advertisement inline,
    /// and an IPv4 entry of the dense map in 72 bytes.
    #[test]
    fn a_destination_stays_small() {
        assert_eq!(std::mem::size_of::<Path>(), 32);
        assert_eq!(std::mem::size_of::<Advertised>(), 16);
        assert_eq!(std::mem::size_of::<Dest>(), 64);
        assert_eq!(std::mem::size_of::<(Ipv4Prefix, Dest)>(), 72);
    }
}
