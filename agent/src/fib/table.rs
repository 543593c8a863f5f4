//! Desired routes against the kernel's routes of our protocol: what to
//! write, and what each prefix's state is. No I/O here: the task feeds in
//! what the speaker wants and what the kernel reports, and applies the
//! operations this computes (see `task.rs`).
//!
//! Sized for a million routes. A prefix is one slot in an open-addressing
//! table that holds its key: 16 bytes for IPv4, 28 for IPv6. What the
//! speaker wants and what the kernel has are ids of interned next-hop sets
//! and targets (a node has few distinct ones), the state is a byte, and a
//! state's reason is derived when asked for (from the next hops, or from
//! an errno) rather than stored. Prefixes to look at again are queued
//! (5 or 17 bytes each) while they are few; when many are, the queue is
//! dropped and the table is swept for the slots' dirty bit instead. The
//! table is in shards, so that its growth never needs a second copy of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bgp::types::{Ipv4Prefix, Ipv6Prefix, Prefix};
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::connected::{Connected, NextHopSpec};
use super::route::{KernelRoute, Target};

/// A prefix's FIB state, for `show routes` and `show fib`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FibState {
    Installed,
    /// Installed with only some of its next hops (the others are not
    /// directly connected).
    Partial(String),
    /// Written, or about to be.
    Pending,
    NotInstalled(String),
    /// Left by the previous run; kept until the speaker has relearned its
    /// routes (graceful restart), then reconciled.
    Kept,
}

/// What the speaker wants for a prefix: its best paths' next hops, shared
/// by every prefix with the same ones (the driver reuses the `Arc`).
/// Empty: nothing.
pub(crate) type NextHops = Arc<[NextHopSpec]>;

/// One write to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create the route; `replace` when a route of ours is there already
    /// (otherwise creation must fail rather than replace another protocol's
    /// route).
    Set { route: KernelRoute, replace: bool },
    /// Delete our route (the protocol in the request keeps the kernel from
    /// deleting anyone else's).
    Delete { route: KernelRoute },
}

impl Op {
    pub(crate) fn prefix(&self) -> Prefix {
        match self {
            Op::Set { route, .. } | Op::Delete { route } => route.prefix,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Set { replace: false, .. } => "add",
            Op::Set { replace: true, .. } => "replace",
            Op::Delete { .. } => "delete",
        }
    }
}

/// Why a write failed, as far as the reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpError {
    /// A route with the same key (prefix, table, metric) that is not ours.
    Exists,
    /// The route to delete is gone already.
    Gone,
    /// Any other refusal: the errno.
    Other(i32),
}

/// No id: nothing wanted, nothing in the kernel.
const NONE: u32 = u32::MAX;

/// A slot's state, in its flag byte's low bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// No state to show (nothing wanted, or not looked at yet).
    Absent,
    Installed,
    /// Installed; the reason is the next hops' (derived).
    Partial,
    Pending,
    /// Not installed: no next hop is directly connected (reason derived).
    Unresolved,
    /// Not installed: another protocol's route holds the key.
    Blocked,
    /// Not installed: the kernel refused it (the slot keeps the errno).
    Refused,
    Kept,
}

const KINDS: [Kind; 8] = [
    Kind::Absent,
    Kind::Installed,
    Kind::Partial,
    Kind::Pending,
    Kind::Unresolved,
    Kind::Blocked,
    Kind::Refused,
    Kind::Kept,
];
const KIND_BITS: u8 = 0b0111;
/// To be looked at by [`Table::take_ops`].
const DIRTY: u8 = 0b1000;
/// In the kernel dump being read (see [`Table::end_dump`]).
const SEEN: u8 = 0b1_0000;

/// One prefix: its key (address octets and length) and everything the FIB
/// knows of it. 16 bytes for IPv4.
#[derive(Debug, Clone, Copy)]
struct Slot<const N: usize> {
    addr: [u8; N],
    len: u8,
    /// [`Kind`] and the flag bits.
    flags: u8,
    /// For [`Kind::Refused`]: the errno.
    errno: u16,
    /// What the speaker wants: an id in [`Shared::specs`].
    want: u32,
    /// What the kernel has: an id in [`Shared::targets`].
    kernel: u32,
}

impl<const N: usize> Slot<N> {
    fn new(addr: [u8; N], len: u8) -> Self {
        Slot {
            addr,
            len,
            flags: Kind::Absent as u8,
            errno: 0,
            want: NONE,
            kernel: NONE,
        }
    }

    fn kind(&self) -> Kind {
        KINDS[usize::from(self.flags & KIND_BITS)]
    }

    fn is_dirty(&self) -> bool {
        self.flags & DIRTY != 0
    }

    /// Holds nothing worth keeping.
    fn is_empty(&self) -> bool {
        self.want == NONE && self.kernel == NONE && self.kind() == Kind::Absent && !self.is_dirty()
    }
}

/// Queued dirty prefixes beyond which the table is swept instead (or a
/// quarter of the table, if more).
const QUEUE_MIN: usize = 1 << 16;

/// Hash tables per family. A hash table grows by doubling, the old one
/// alive until its slots are moved: one table of a million routes would
/// need half as much again for that moment. Shards grow one at a time.
const SHARDS: usize = 64;

/// Which shard a hash picks: bits that the shard's own table does not use
/// (it takes the low bits for the bucket and the top 7 as a tag).
fn shard_of(hash: u64) -> usize {
    (hash >> 40) as usize % SHARDS
}

/// Where a slot is: shard and bucket.
type Place = (usize, usize);

/// One address family's prefixes.
#[derive(Debug)]
struct Family<const N: usize> {
    shards: Vec<HashTable<Slot<N>>>,
    hasher: RandomState,
    /// Dirty prefixes in the order they became dirty (unless sweeping).
    queue: VecDeque<([u8; N], u8)>,
    /// How many slots have [`DIRTY`] set.
    dirty: usize,
    /// Sweeping: the next place to look at.
    sweep: Option<Place>,
}

impl<const N: usize> Default for Family<N> {
    fn default() -> Self {
        Family {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            hasher: RandomState::default(),
            queue: VecDeque::new(),
            dirty: 0,
            sweep: None,
        }
    }
}

fn hash_key<const N: usize>(hasher: &RandomState, addr: &[u8; N], len: u8) -> u64 {
    let mut wide = [0u8; 16];
    wide[..N].copy_from_slice(addr);
    hasher.hash_one((u128::from_ne_bytes(wide), len))
}

impl<const N: usize> Family<N> {
    fn hash(&self, addr: &[u8; N], len: u8) -> u64 {
        hash_key(&self.hasher, addr, len)
    }

    fn len(&self) -> usize {
        self.shards.iter().map(HashTable::len).sum()
    }

    fn slots(&self) -> impl Iterator<Item = &Slot<N>> {
        self.shards.iter().flat_map(HashTable::iter)
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot<N>> {
        self.shards.iter_mut().flat_map(HashTable::iter_mut)
    }

    fn get(&self, addr: &[u8; N], len: u8) -> Option<&Slot<N>> {
        let h = self.hash(addr, len);
        self.shards[shard_of(h)].find(h, |s| s.len == len && s.addr == *addr)
    }

    fn get_mut(&mut self, addr: &[u8; N], len: u8) -> Option<&mut Slot<N>> {
        let h = self.hash(addr, len);
        self.shards[shard_of(h)].find_mut(h, |s| s.len == len && s.addr == *addr)
    }

    fn get_or_insert(&mut self, addr: [u8; N], len: u8) -> &mut Slot<N> {
        let h = self.hash(&addr, len);
        let hasher = &self.hasher;
        match self.shards[shard_of(h)].entry(
            h,
            |s| s.len == len && s.addr == addr,
            |s| hash_key(hasher, &s.addr, s.len),
        ) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Slot::new(addr, len)).into_mut(),
        }
    }

    fn remove_if_empty(&mut self, addr: &[u8; N], len: u8) {
        let h = self.hash(addr, len);
        if let Ok(e) = self.shards[shard_of(h)].find_entry(h, |s| s.len == len && s.addr == *addr)
            && e.get().is_empty()
        {
            e.remove();
        }
    }

    /// Marks a slot (that exists) to be looked at again.
    fn mark(&mut self, addr: [u8; N], len: u8) {
        let Some(s) = self.get_mut(&addr, len) else {
            return;
        };
        if s.is_dirty() {
            return;
        }
        s.flags |= DIRTY;
        self.dirty += 1;
        if self.sweep.is_none() {
            self.queue.push_back((addr, len));
            self.maybe_sweep();
        }
    }

    /// Marks every slot for which `f` holds.
    fn mark_where(&mut self, mut f: impl FnMut(&Slot<N>) -> bool) {
        let Family {
            shards,
            queue,
            dirty,
            sweep,
            ..
        } = self;
        for s in shards.iter_mut().flat_map(HashTable::iter_mut) {
            if !s.is_dirty() && f(s) {
                s.flags |= DIRTY;
                *dirty += 1;
                if sweep.is_none() {
                    queue.push_back((s.addr, s.len));
                }
            }
        }
        self.maybe_sweep();
    }

    /// Many dirty: a sweep of the table costs less than a queue as long.
    fn maybe_sweep(&mut self) {
        if self.sweep.is_none() && self.queue.len() > QUEUE_MIN && self.queue.len() > self.len() / 4
        {
            self.queue = VecDeque::new();
            self.sweep = Some((0, 0));
        }
    }

    /// The first dirty slot from `from` on, round the whole table.
    fn find_dirty(&self, (mut shard, mut bucket): Place) -> Option<Place> {
        for _ in 0..=SHARDS {
            let t = &self.shards[shard];
            if let Some(i) =
                (bucket..t.num_buckets()).find(|&i| t.get_bucket(i).is_some_and(Slot::is_dirty))
            {
                return Some((shard, i));
            }
            shard = (shard + 1) % SHARDS;
            bucket = 0;
        }
        None
    }

    /// The next dirty slot's place, clearing its dirty bit; `None` when
    /// none is left.
    fn next_dirty(&mut self) -> Option<Place> {
        while self.dirty > 0 {
            let (shard, bucket) = match self.sweep {
                None => {
                    let Some((addr, len)) = self.queue.pop_front() else {
                        // Cannot happen; sweeping finds them regardless.
                        self.sweep = Some((0, 0));
                        continue;
                    };
                    let h = self.hash(&addr, len);
                    let shard = shard_of(h);
                    match self.shards[shard]
                        .find_bucket_index(h, |s| s.len == len && s.addr == addr)
                    {
                        Some(i) => (shard, i),
                        None => continue,
                    }
                }
                Some(from) => match self.find_dirty(from) {
                    Some((shard, bucket)) => {
                        self.sweep = Some((shard, bucket + 1));
                        (shard, bucket)
                    }
                    None => {
                        // Cannot happen: the count is off. Start afresh.
                        self.dirty = 0;
                        break;
                    }
                },
            };
            let Some(s) = self.shards[shard].get_bucket_mut(bucket) else {
                continue;
            };
            if !s.is_dirty() {
                continue;
            }
            s.flags &= !DIRTY;
            self.dirty -= 1;
            if self.dirty == 0 {
                // Back to queueing: the next change is one, not a flood.
                self.sweep = None;
            }
            return Some((shard, bucket));
        }
        self.sweep = None;
        if self.queue.capacity() > QUEUE_MIN {
            self.queue = VecDeque::new();
        }
        None
    }

    /// Gives back the room of shards that emptied out (hash tables never
    /// shrink on their own): a table a quarter full goes to half full.
    fn shrink(&mut self) {
        let hasher = &self.hasher;
        for t in &mut self.shards {
            if t.capacity() > 64 && t.len() < t.capacity() / 4 {
                t.shrink_to(t.len() * 2, |s| hash_key(hasher, &s.addr, s.len));
            }
        }
    }

    fn allocation_size(&self) -> usize {
        self.shards
            .iter()
            .map(HashTable::allocation_size)
            .sum::<usize>()
            + self.queue.capacity() * size_of::<([u8; N], u8)>()
    }
}

/// An interned value with its reference count.
#[derive(Debug)]
struct Item<T, X> {
    value: Option<T>,
    refs: u32,
    extra: X,
}

/// Values stored once, named by a `u32` id, freed when the last reference
/// goes. Used for next-hop sets and targets: a million routes share a few.
#[derive(Debug)]
struct Interner<T, X> {
    items: Vec<Item<T, X>>,
    index: hashbrown::HashMap<T, u32, RandomState>,
    free: Vec<u32>,
    /// The last id handed out: a run of routes with the same value costs a
    /// compare (a pointer compare for `Arc`s).
    last: u32,
}

impl<T, X> Default for Interner<T, X> {
    fn default() -> Self {
        Interner {
            items: Vec::new(),
            index: hashbrown::HashMap::default(),
            free: Vec::new(),
            last: NONE,
        }
    }
}

impl<T: Hash + Eq + Clone, X: Default> Interner<T, X> {
    /// The id of `value`, with one more reference to it; `true` if new.
    fn intern(&mut self, value: &T) -> (u32, bool) {
        if let Some(item) = self.items.get_mut(self.last as usize)
            && item.value.as_ref() == Some(value)
        {
            item.refs += 1;
            return (self.last, false);
        }
        let (id, new) = match self.index.get(value) {
            Some(&id) => {
                self.items[id as usize].refs += 1;
                (id, false)
            }
            None => {
                let item = Item {
                    value: Some(value.clone()),
                    refs: 1,
                    extra: X::default(),
                };
                let id = match self.free.pop() {
                    Some(id) => {
                        self.items[id as usize] = item;
                        id
                    }
                    None => {
                        self.items.push(item);
                        u32::try_from(self.items.len() - 1).expect("fewer than 2^32 values")
                    }
                };
                self.index.insert(value.clone(), id);
                (id, true)
            }
        };
        self.last = id;
        (id, new)
    }

    fn acquire(&mut self, id: u32) {
        if id != NONE {
            self.items[id as usize].refs += 1;
        }
    }

    /// Drops a reference; the extra data of a value no longer used.
    fn release(&mut self, id: u32) -> Option<X> {
        if id == NONE {
            return None;
        }
        let item = &mut self.items[id as usize];
        item.refs -= 1;
        if item.refs > 0 {
            return None;
        }
        let value = item.value.take()?;
        let extra = std::mem::take(&mut item.extra);
        self.index.remove(&value);
        self.free.push(id);
        Some(extra)
    }

    fn get(&self, id: u32) -> &T {
        self.items[id as usize].value.as_ref().expect("a live id")
    }

    fn extra(&self, id: u32) -> &X {
        &self.items[id as usize].extra
    }

    fn extra_mut(&mut self, id: u32) -> &mut X {
        &mut self.items[id as usize].extra
    }

    fn live(&self) -> impl Iterator<Item = u32> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.value.is_some())
            .map(|(id, _)| id as u32)
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}

/// A next-hop set resolved against the connected subnets.
#[derive(Debug)]
struct Resolved {
    /// An id in [`Shared::targets`] (holding a reference), or [`NONE`].
    target: u32,
    /// Why some or all of the next hops cannot be used.
    why: Option<Box<str>>,
}

impl Default for Resolved {
    fn default() -> Self {
        Resolved {
            target: NONE,
            why: None,
        }
    }
}

/// Everything but the per-prefix slots.
#[derive(Debug)]
struct Shared {
    specs: Interner<NextHops, Resolved>,
    targets: Interner<Target, ()>,
    /// Our own pod blocks: ids in `targets`.
    local: BTreeMap<Prefix, u32>,
    connected: Connected,
    /// The speaker has its full table: routes of ours it does not want may
    /// go. Until then they are kept (graceful restart).
    synced: bool,
    /// Slots by kind.
    kinds: [usize; 8],
    /// Prefixes with next hops from the speaker.
    learned: usize,
    /// Prefixes with a route of ours in the kernel.
    in_kernel: usize,
}

impl Shared {
    fn intern_spec(&mut self, hops: &NextHops) -> u32 {
        let (id, new) = self.specs.intern(hops);
        if new {
            let r = self.resolve(hops);
            *self.specs.extra_mut(id) = r;
        }
        id
    }

    fn release_spec(&mut self, id: u32) {
        if let Some(r) = self.specs.release(id) {
            self.targets.release(r.target);
        }
    }

    fn resolve(&mut self, hops: &[NextHopSpec]) -> Resolved {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for s in hops {
            match self.connected.resolve(s) {
                Ok(h) => found.push(h),
                Err(e) => problems.push(e),
            }
        }
        let target = Target::via(found).map_or(NONE, |t| self.targets.intern(&t).0);
        Resolved {
            target,
            why: (!problems.is_empty()).then(|| problems.join("; ").into()),
        }
    }

    /// What `prefix` should have in the kernel (a target id or [`NONE`]),
    /// and whether some next hop is unusable.
    fn want(&self, prefix: Prefix, spec: u32) -> (u32, bool) {
        if !self.local.is_empty()
            && let Some(&t) = self.local.get(&prefix)
        {
            return (t, false);
        }
        if spec == NONE {
            return (NONE, false);
        }
        let r = self.specs.extra(spec);
        (r.target, r.why.is_some())
    }

    fn why(&self, spec: u32) -> String {
        if spec == NONE {
            return String::new();
        }
        self.specs
            .extra(spec)
            .why
            .as_deref()
            .unwrap_or("")
            .to_string()
    }

    fn is_wanted<const N: usize>(&self, prefix: Prefix, s: &Slot<N>) -> bool {
        s.want != NONE || self.local.contains_key(&prefix)
    }

    /// Sets the state of `s`, keeping the counts (of all but `Absent`).
    fn set_kind<const N: usize>(&mut self, s: &mut Slot<N>, kind: Kind) {
        let old = s.kind();
        if old != Kind::Absent {
            self.kinds[old as usize] -= 1;
        }
        if kind != Kind::Absent {
            self.kinds[kind as usize] += 1;
        }
        s.flags = (s.flags & !KIND_BITS) | kind as u8;
    }

    fn set_kernel<const N: usize>(&mut self, s: &mut Slot<N>, target: u32) {
        match (s.kernel == NONE, target == NONE) {
            (true, false) => self.in_kernel += 1,
            (false, true) => self.in_kernel -= 1,
            _ => {}
        }
        self.targets.release(s.kernel);
        s.kernel = target;
    }

    fn intern_target(&mut self, target: &Target) -> u32 {
        self.targets.intern(target).0
    }

    /// The write (if any) that brings `s` to what is wanted; sets its state.
    fn decide<const N: usize>(&mut self, prefix: Prefix, s: &mut Slot<N>) -> Option<Op> {
        let (want, why) = self.want(prefix, s.want);
        let have = s.kernel;
        if want != NONE && want == have {
            self.set_kind(s, if why { Kind::Partial } else { Kind::Installed });
            return None;
        }
        if want != NONE {
            self.set_kind(s, Kind::Pending);
            return Some(Op::Set {
                route: KernelRoute {
                    prefix,
                    target: self.targets.get(want).clone(),
                },
                replace: have != NONE,
            });
        }
        if have != NONE {
            if !self.synced && !self.is_wanted(prefix, s) {
                // Graceful restart: forwarding continues on what the
                // previous run installed until the speaker has relearned.
                self.set_kind(s, Kind::Kept);
                return None;
            }
            self.set_kind(s, if why { Kind::Unresolved } else { Kind::Pending });
            return Some(Op::Delete {
                route: KernelRoute {
                    prefix,
                    target: self.targets.get(have).clone(),
                },
            });
        }
        self.set_kind(s, if why { Kind::Unresolved } else { Kind::Absent });
        None
    }

    /// Takes the outcome of `op` into `s`.
    fn applied<const N: usize>(&mut self, op: &Op, result: Result<(), OpError>, s: &mut Slot<N>) {
        let prefix = op.prefix();
        match (op, result) {
            (Op::Set { route, .. }, Ok(())) => {
                let (want, why) = self.want(prefix, s.want);
                let id = if want != NONE && *self.targets.get(want) == route.target {
                    self.targets.acquire(want);
                    want
                } else {
                    self.intern_target(&route.target)
                };
                self.set_kernel(s, id);
                self.set_kind(s, if why { Kind::Partial } else { Kind::Installed });
            }
            (Op::Delete { .. }, Ok(()) | Err(OpError::Gone)) => {
                self.set_kernel(s, NONE);
                if s.kind() == Kind::Pending {
                    self.set_kind(s, Kind::Absent);
                }
            }
            (Op::Set { .. }, Err(OpError::Exists)) => self.set_kind(s, Kind::Blocked),
            (_, Err(e)) => {
                s.errno = match e {
                    OpError::Other(errno) => u16::try_from(errno).unwrap_or(u16::MAX),
                    OpError::Exists => libc::EEXIST as u16,
                    OpError::Gone => libc::ENOENT as u16,
                };
                self.set_kind(s, Kind::Refused);
            }
        }
    }

    fn state<const N: usize>(&self, s: &Slot<N>) -> Option<FibState> {
        Some(match s.kind() {
            Kind::Absent => return None,
            Kind::Installed => FibState::Installed,
            Kind::Partial => FibState::Partial(self.why(s.want)),
            Kind::Pending => FibState::Pending,
            Kind::Unresolved => FibState::NotInstalled(self.why(s.want)),
            Kind::Blocked => FibState::NotInstalled(
                "another protocol's route for this prefix is in the table; podroute does not replace routes that are not its own".into(),
            ),
            Kind::Refused => FibState::NotInstalled(format!(
                "the kernel refused it: {}",
                io::Error::from_raw_os_error(i32::from(s.errno))
            )),
            Kind::Kept => FibState::Kept,
        })
    }
}

/// A prefix as a slot key.
enum Key {
    V4([u8; 4], u8),
    V6([u8; 16], u8),
}

fn key(p: Prefix) -> Key {
    match p {
        Prefix::V4(p) => Key::V4(p.addr().octets(), p.len()),
        Prefix::V6(p) => Key::V6(p.addr().octets(), p.len()),
    }
}

fn prefix4(addr: [u8; 4], len: u8) -> Prefix {
    Ipv4Prefix::new_truncating(Ipv4Addr::from(addr), len)
        .expect("a slot holds a valid prefix")
        .into()
}

fn prefix6(addr: [u8; 16], len: u8) -> Prefix {
    Ipv6Prefix::new_truncating(Ipv6Addr::from(addr), len)
        .expect("a slot holds a valid prefix")
        .into()
}

/// Runs `$body` with `$f` bound to the family of `$key` and `$a`, `$l` to
/// its address and length.
macro_rules! with_family {
    ($self:ident, $key:expr, |$f:ident, $a:ident, $l:ident| $body:expr) => {
        match $key {
            Key::V4($a, $l) => {
                let $f = &mut $self.v4;
                $body
            }
            Key::V6($a, $l) => {
                let $f = &mut $self.v6;
                $body
            }
        }
    };
}

#[derive(Debug)]
pub(crate) struct Table {
    v4: Family<4>,
    v6: Family<16>,
    shared: Shared,
}

impl Table {
    /// Starts from the routes of ours the kernel holds (a previous run's).
    #[cfg(test)]
    pub(crate) fn new(kernel: Vec<KernelRoute>, connected: Connected) -> Table {
        let mut t = Table::empty(connected);
        t.replace_kernel(kernel);
        t
    }

    /// Starts with nothing known of the kernel: feed it a dump with
    /// [`Table::dumped`] and [`Table::end_dump`].
    pub(crate) fn empty(connected: Connected) -> Table {
        Table {
            v4: Family::default(),
            v6: Family::default(),
            shared: Shared {
                specs: Interner::default(),
                targets: Interner::default(),
                local: BTreeMap::new(),
                connected,
                synced: false,
                kinds: [0; 8],
                learned: 0,
                in_kernel: 0,
            },
        }
    }

    /// A full dump of our kernel routes (start, or resync after ENOBUFS):
    /// everything is compared again. (The task streams its dumps in.)
    #[cfg(test)]
    pub(crate) fn replace_kernel(&mut self, kernel: Vec<KernelRoute>) {
        for r in kernel {
            self.dumped(r);
        }
        self.end_dump();
    }

    /// One route of a full dump of ours, as it is read.
    pub(crate) fn dumped(&mut self, route: KernelRoute) {
        let id = self.shared.intern_target(&route.target);
        let shared = &mut self.shared;
        with_family!(self, key(route.prefix), |f, a, l| {
            let s = f.get_or_insert(a, l);
            if s.kind() == Kind::Absent {
                shared.set_kind(s, Kind::Kept);
            }
            shared.set_kernel(s, id);
            s.flags |= SEEN;
        });
    }

    /// The dump is complete: what it did not hold is not in the kernel, and
    /// every prefix is compared again.
    pub(crate) fn end_dump(&mut self) {
        fn sweep<const N: usize>(f: &mut Family<N>, shared: &mut Shared) {
            for s in f.slots_mut() {
                if s.flags & SEEN != 0 {
                    s.flags &= !SEEN;
                } else if s.kernel != NONE {
                    shared.set_kernel(s, NONE);
                }
            }
            f.mark_where(|_| true);
        }
        sweep(&mut self.v4, &mut self.shared);
        sweep(&mut self.v6, &mut self.shared);
        let local: Vec<Prefix> = self.shared.local.keys().copied().collect();
        for p in local {
            self.mark(p);
        }
    }

    /// A dump failed half-way: forget which routes it had shown.
    pub(crate) fn abort_dump(&mut self) {
        for s in self.v4.slots_mut() {
            s.flags &= !SEEN;
        }
        for s in self.v6.slots_mut() {
            s.flags &= !SEEN;
        }
    }

    /// Marks `prefix` to be looked at again, making it a slot if need be.
    fn mark(&mut self, prefix: Prefix) {
        with_family!(self, key(prefix), |f, a, l| {
            f.get_or_insert(a, l);
            f.mark(a, l);
        })
    }

    pub(crate) fn set_learned(&mut self, prefix: Prefix, hops: &NextHops) {
        let id = if hops.is_empty() {
            NONE
        } else {
            self.shared.intern_spec(hops)
        };
        let shared = &mut self.shared;
        with_family!(self, key(prefix), |f, a, l| {
            let s = if id == NONE {
                match f.get_mut(&a, l) {
                    Some(s) => s,
                    None => return,
                }
            } else {
                f.get_or_insert(a, l)
            };
            let old = std::mem::replace(&mut s.want, id);
            match (old == NONE, id == NONE) {
                (true, false) => shared.learned += 1,
                (false, true) => shared.learned -= 1,
                _ => {}
            }
            shared.release_spec(old);
            f.mark(a, l);
        })
    }

    /// Our own pod blocks, all of them (replacing the previous set).
    pub(crate) fn set_local(&mut self, local: BTreeMap<Prefix, Target>) {
        let new: BTreeMap<Prefix, u32> = local
            .into_iter()
            .map(|(p, t)| (p, self.shared.intern_target(&t)))
            .collect();
        let old = std::mem::replace(&mut self.shared.local, new);
        for (&p, &t) in &old {
            self.shared.targets.release(t);
            self.mark(p);
        }
        let now: Vec<Prefix> = self.shared.local.keys().copied().collect();
        for p in now {
            self.mark(p);
        }
    }

    pub(crate) fn set_connected(&mut self, connected: Connected) {
        if connected == self.shared.connected {
            return;
        }
        self.shared.connected = connected;
        let ids: Vec<u32> = self.shared.specs.live().collect();
        for id in ids {
            let hops = self.shared.specs.get(id).clone();
            let r = self.shared.resolve(&hops);
            let old = std::mem::replace(self.shared.specs.extra_mut(id), r);
            self.shared.targets.release(old.target);
        }
        self.v4.mark_where(|s| s.want != NONE);
        self.v6.mark_where(|s| s.want != NONE);
    }

    /// The speaker's initial table is complete (its End-of-RIB wait is
    /// over): stale routes of ours may now be removed.
    pub(crate) fn synced(&mut self) {
        if !self.shared.synced {
            self.shared.synced = true;
            self.v4.mark_where(|s| s.kernel != NONE);
            self.v6.mark_where(|s| s.kernel != NONE);
        }
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.shared.synced
    }

    /// The kernel reports our route for `prefix` (`None`: deleted), by
    /// anyone but us. If it is not what we want, it is put back.
    pub(crate) fn kernel_changed(&mut self, prefix: Prefix, target: Option<Target>) {
        let id = target.map_or(NONE, |t| self.shared.intern_target(&t));
        let shared = &mut self.shared;
        with_family!(self, key(prefix), |f, a, l| {
            let s = if id == NONE {
                match f.get_mut(&a, l) {
                    Some(s) => s,
                    None => return,
                }
            } else {
                f.get_or_insert(a, l)
            };
            shared.set_kernel(s, id);
            let (want, _) = shared.want(prefix, s.want);
            if want != s.kernel || !shared.is_wanted(prefix, s) {
                f.mark(a, l);
            } else {
                f.remove_if_empty(&a, l);
            }
        })
    }

    /// Someone else's route for `prefix` went away: a route of ours it
    /// blocked may now go in.
    pub(crate) fn foreign_removed(&mut self, prefix: Prefix) {
        with_family!(self, key(prefix), |f, a, l| {
            if f.get(&a, l).is_some_and(|s| {
                matches!(s.kind(), Kind::Unresolved | Kind::Blocked | Kind::Refused)
            }) {
                f.mark(a, l);
            }
        })
    }

    pub(crate) fn has_work(&self) -> bool {
        self.v4.dirty + self.v6.dirty > 0
    }

    /// How many prefixes are waiting for [`Table::take_ops`].
    pub(crate) fn dirty(&self) -> usize {
        self.v4.dirty + self.v6.dirty
    }

    /// The writes that bring the kernel to what we want, for prefixes that
    /// changed since they were last looked at: up to `limit` writes (more
    /// prefixes may be looked at, for those needing none).
    pub(crate) fn take_ops(&mut self, limit: usize) -> Vec<Op> {
        fn take<const N: usize>(
            f: &mut Family<N>,
            shared: &mut Shared,
            limit: usize,
            ops: &mut Vec<Op>,
            prefix: fn([u8; N], u8) -> Prefix,
        ) {
            while ops.len() < limit {
                let Some((shard, bucket)) = f.next_dirty() else {
                    return;
                };
                let Ok(e) = f.shards[shard].get_bucket_entry(bucket) else {
                    continue;
                };
                let mut e = e;
                let s = e.get_mut();
                ops.extend(shared.decide(prefix(s.addr, s.len), s));
                if s.is_empty() {
                    e.remove();
                }
            }
        }
        let mut ops = Vec::new();
        take(&mut self.v4, &mut self.shared, limit, &mut ops, prefix4);
        take(&mut self.v6, &mut self.shared, limit, &mut ops, prefix6);
        if !self.has_work() {
            self.shrink();
        }
        ops
    }

    /// Gives back memory that prefixes gone since have left unused.
    pub(crate) fn shrink(&mut self) {
        self.v4.shrink();
        self.v6.shrink();
    }

    /// The outcome of one operation from [`Table::take_ops`].
    pub(crate) fn applied(&mut self, op: &Op, result: Result<(), OpError>) {
        let shared = &mut self.shared;
        with_family!(self, key(op.prefix()), |f, a, l| {
            if let Some(s) = f.get_mut(&a, l) {
                shared.applied(op, result, s);
                f.remove_if_empty(&a, l);
            }
        })
    }

    /// The state of `prefix` (`None`: neither wanted nor in the kernel).
    pub(crate) fn state(&self, prefix: Prefix) -> Option<FibState> {
        match key(prefix) {
            Key::V4(a, l) => self.v4.get(&a, l).and_then(|s| self.shared.state(s)),
            Key::V6(a, l) => self.v6.get(&a, l).and_then(|s| self.shared.state(s)),
        }
    }

    pub(crate) fn kernel_route(&self, prefix: Prefix) -> Option<&Target> {
        let id = match key(prefix) {
            Key::V4(a, l) => self.v4.get(&a, l)?.kernel,
            Key::V6(a, l) => self.v6.get(&a, l)?.kernel,
        };
        (id != NONE).then(|| self.shared.targets.get(id))
    }

    pub(crate) fn wanted_target(&self, prefix: Prefix) -> Option<Target> {
        let spec = match key(prefix) {
            Key::V4(a, l) => self.v4.get(&a, l).map_or(NONE, |s| s.want),
            Key::V6(a, l) => self.v6.get(&a, l).map_or(NONE, |s| s.want),
        };
        let (want, _) = self.shared.want(prefix, spec);
        (want != NONE).then(|| self.shared.targets.get(want).clone())
    }

    /// Every prefix we want or hold, for `show fib`.
    pub(crate) fn prefixes(&self) -> BTreeSet<Prefix> {
        let v4 = self.v4.slots().map(|s| prefix4(s.addr, s.len));
        let v6 = self.v6.slots().map(|s| prefix6(s.addr, s.len));
        v4.chain(v6)
            .chain(self.shared.local.keys().copied())
            .collect()
    }

    pub(crate) fn counts(&self) -> Counts {
        let k = |kind: Kind| self.shared.kinds[kind as usize];
        Counts {
            desired: self.shared.learned + self.shared.local.len(),
            kernel: self.shared.in_kernel,
            installed: k(Kind::Installed) + k(Kind::Partial),
            pending: k(Kind::Pending),
            not_installed: k(Kind::Unresolved) + k(Kind::Blocked) + k(Kind::Refused),
            kept: k(Kind::Kept),
        }
    }

    /// Heap bytes held, as far as the table can tell (for `show fib`).
    pub(crate) fn footprint(&self) -> Footprint {
        Footprint {
            prefixes: self.v4.len() + self.v6.len(),
            bytes: self.v4.allocation_size() + self.v6.allocation_size(),
            next_hop_sets: self.shared.specs.len(),
            targets: self.shared.targets.len(),
        }
    }
}

/// How many prefixes are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) desired: usize,
    pub(crate) kernel: usize,
    pub(crate) installed: usize,
    pub(crate) pending: usize,
    pub(crate) not_installed: usize,
    pub(crate) kept: usize,
}

/// The table's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    pub(crate) prefixes: usize,
    /// The per-prefix slots and the queue of dirty prefixes.
    pub(crate) bytes: usize,
    /// Distinct next-hop sets the speaker asked for.
    pub(crate) next_hop_sets: usize,
    /// Distinct targets (wanted or in the kernel).
    pub(crate) targets: usize,
}

#[cfg(test)]
mod tests;
