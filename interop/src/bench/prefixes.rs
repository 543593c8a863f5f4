//! What a loader announces: a run of equally long prefixes ([`PrefixRange`]), the attribute
//! sets they carry ([`AttrSets`]), and the UPDATE octets built from them once, before any
//! clock starts ([`Updates`]).
//!
//! # Address ranges
//!
//! The benchmark's prefixes live only inside the lab's namespaces, but they still keep clear
//! of everything the lab uses (link addresses in the documentation ranges, pod ranges,
//! loopback, multicast), and [`LoadSpec::range`] refuses a range that touches one of those:
//!
//! | what                          | IPv4                                  | IPv6                          |
//! |-------------------------------|---------------------------------------|-------------------------------|
//! | announced prefixes (default)  | from 100.64.0.0 (RFC 6598 space: 4 194 304 /32s in 100.64.0.0/10; longer runs or shorter prefixes continue upwards) | from 2001:db8:1000:: (2001:db8:1000::/36: 2^92 /128s, 2^28 /64s) |
//! | many-session source addresses | 198.18.0.0/15 (RFC 2544 benchmarking) | 2001:db8:ffff::/48            |
//!
//! Prefix `i` of a range is `base + i × 2^(width − len)`: consecutive /32s, consecutive /24s,
//! consecutive /64s...

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result, bail, ensure};
use bgp::types::{Asn, Community, Family as BgpFamily, Ipv4Prefix, Ipv6Prefix};
use bgp::wire::{
    AsPath, AttrValue, EncodedAttributes, Message, NextHop, Nlri, Origin, PathAttributes,
    SessionContext, Update, UpdatePacker,
};

use crate::types::Family;

/// The first announced IPv4 prefix unless a spec says otherwise.
pub const V4_BASE: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 0);
/// The first announced IPv6 prefix unless a spec says otherwise.
pub const V6_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x1000, 0, 0, 0, 0, 0);
/// Source addresses for many-session loaders (RFC 2544 benchmarking range), first and length.
pub const V4_SOURCES: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);
/// IPv6 source addresses for many-session loaders.
pub const V6_SOURCES: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0), 48);

/// Blocks an announced range must not touch: (first, prefix length).
fn reserved(family: Family) -> Vec<(u128, u8)> {
    let v4 = |a: [u8; 4], l| (u128::from(u32::from_be_bytes(a)), l);
    let v6 = |a: u16, b: u16, c: u16, l| (u128::from(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0)), l);
    match family {
        Family::Ipv4 => vec![
            v4([0, 0, 0, 0], 8),
            v4([10, 244, 0, 0], 16),
            v4([127, 0, 0, 0], 8),
            v4([169, 254, 0, 0], 16),
            v4([192, 0, 2, 0], 24),
            v4([198, 51, 100, 0], 24),
            v4([203, 0, 113, 0], 24),
            (u128::from(u32::from(V4_SOURCES.0)), V4_SOURCES.1),
            v4([224, 0, 0, 0], 3),
        ],
        Family::Ipv6 => vec![
            v6(0, 0, 0, 8),
            v6(0x2001, 0xdb8, 0, 48),
            (u128::from(V6_SOURCES.0), V6_SOURCES.1),
            v6(0xfd00, 0x10, 0x244, 48),
            v6(0xfe80, 0, 0, 10),
            v6(0xff00, 0, 0, 8),
        ],
    }
}

fn width(family: Family) -> u8 {
    match family {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

/// `count` prefixes of length `len`, `first` then every `2^(width − len)` addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRange {
    family: Family,
    /// The first prefix's address (IPv4 in the low 32 bits).
    first: u128,
    len: u8,
    count: u64,
}

impl PrefixRange {
    /// Checks alignment and overflow (not the reserved blocks: see [`LoadSpec::range`]).
    pub fn new(base: IpAddr, len: u8, count: u64) -> Result<PrefixRange> {
        let family = Family::of(base);
        let w = width(family);
        ensure!(
            (8..=w).contains(&len),
            "prefix length /{len} must be 8 to {w} for {family}"
        );
        let first = match base {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let r = PrefixRange {
            family,
            first,
            len,
            count,
        };
        ensure!(
            first & (r.step() - 1) == 0,
            "{base} has host bits set for /{len}"
        );
        let max = if w == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        let span = u128::from(count.max(1) - 1)
            .checked_mul(r.step())
            .and_then(|s| s.checked_add(r.step() - 1))
            .and_then(|s| s.checked_add(first))
            .filter(|last| *last <= max);
        ensure!(
            span.is_some(),
            "{count} /{len} prefixes from {base} run past the end of the {family} space"
        );
        Ok(r)
    }

    /// Address distance between consecutive prefixes.
    fn step(&self) -> u128 {
        1u128 << (width(self.family) - self.len)
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last address the range covers.
    fn last_address(&self) -> u128 {
        self.first + u128::from(self.count.max(1)) * self.step() - 1
    }

    /// The `i`th prefix's address (IPv4 in the low 32 bits).
    pub fn nth_bits(&self, i: u64) -> u128 {
        self.first + u128::from(i) * self.step()
    }

    /// The `i`th prefix's address.
    pub fn nth(&self, i: u64) -> IpAddr {
        bits_to_addr(self.family, self.nth_bits(i))
    }

    /// Every address, in order.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        (0..self.count).map(|i| self.nth(i))
    }

    /// True if `addr/len` (IPv4 in the low 32 bits) is one of the range's prefixes.
    #[inline]
    pub fn contains_bits(&self, family: Family, addr: u128, len: u8) -> bool {
        family == self.family
            && len == self.len
            && addr >= self.first
            && (addr - self.first) >> (width(self.family) - self.len) < u128::from(self.count)
    }

    /// True if `addr/len` is one of the range's prefixes.
    pub fn contains(&self, addr: IpAddr, len: u8) -> bool {
        let (family, bits) = match addr {
            IpAddr::V4(a) => (Family::Ipv4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (Family::Ipv6, u128::from(a)),
        };
        self.contains_bits(family, bits, len)
    }

    /// The range of the same shape that starts right after this one.
    pub fn next_range(&self) -> Result<PrefixRange> {
        let next = self.first + u128::from(self.count) * self.step();
        PrefixRange::new(bits_to_addr(self.family, next), self.len, self.count)
    }

    fn overlaps(&self, (start, len): (u128, u8)) -> bool {
        let w = width(self.family);
        let end = start + ((1u128 << (w - len)) - 1);
        self.count > 0 && self.first <= end && start <= self.last_address()
    }
}

impl fmt::Display for PrefixRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} × /{} from {}",
            self.count,
            self.len,
            bits_to_addr(self.family, self.first)
        )
    }
}

pub(crate) fn bits_to_addr(family: Family, bits: u128) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// How many distinct attribute sets the prefixes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrSets {
    /// Every prefix the same: ORIGIN IGP, AS_PATH `[local AS]` (empty on iBGP, with
    /// LOCAL_PREF 100), NEXT_HOP. Packs ~800 IPv4 /32s per 4096-octet UPDATE.
    One,
    /// `k` sets over contiguous chunks of the range (set `j` holds prefixes `j·N/k ..
    /// (j+1)·N/k`), which packs better than round-robin: each chunk fills whole messages.
    /// Set `j` has AS_PATH `[local AS, 100000 + j]`.
    Sets(u32),
    /// One set per prefix, so one UPDATE per prefix: AS_PATH `[local AS, ...]` of 2 to 6
    /// ASes and 0 to 4 communities, from a PRNG seeded by [`LoadSpec::seed`].
    PerPrefix,
}

/// What one loader announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
    /// IPv4 or IPv6 unicast.
    pub family: Family,
    /// How many prefixes.
    pub count: u64,
    /// Their length.
    pub prefix_len: u8,
    /// The first prefix (the family's default base when `None`).
    pub base: Option<IpAddr>,
    /// The attribute sets.
    pub attrs: AttrSets,
    /// Seeds the PRNG of [`AttrSets::PerPrefix`].
    pub seed: u64,
    /// The next hop the UPDATEs carry; the session's local address when `None`.
    pub next_hop: Option<IpAddr>,
}

impl LoadSpec {
    /// `count` IPv4 /32s from 100.64.0.0, one attribute set.
    pub fn ipv4(count: u64) -> LoadSpec {
        LoadSpec {
            family: Family::Ipv4,
            count,
            prefix_len: 32,
            base: None,
            attrs: AttrSets::One,
            seed: 1,
            next_hop: None,
        }
    }

    /// `count` IPv6 /128s from 2001:db8:1000::, one attribute set.
    pub fn ipv6(count: u64) -> LoadSpec {
        LoadSpec {
            family: Family::Ipv6,
            prefix_len: 128,
            ..LoadSpec::ipv4(count)
        }
    }

    /// Sets the prefix length.
    pub fn prefix_len(mut self, len: u8) -> LoadSpec {
        self.prefix_len = len;
        self
    }

    /// Sets the first prefix.
    pub fn base(mut self, base: IpAddr) -> LoadSpec {
        self.base = Some(base);
        self
    }

    /// Sets the attribute sets.
    pub fn attrs(mut self, attrs: AttrSets) -> LoadSpec {
        self.attrs = attrs;
        self
    }

    /// Sets the PRNG seed.
    pub fn seed(mut self, seed: u64) -> LoadSpec {
        self.seed = seed;
        self
    }

    /// Sets the next hop.
    pub fn next_hop(mut self, next_hop: IpAddr) -> LoadSpec {
        self.next_hop = Some(next_hop);
        self
    }

    /// The same spec, moved `k` whole ranges up: loader `k` of several announces disjoint
    /// prefixes with `spec.shifted(k)`.
    pub fn shifted(&self, k: u64) -> Result<LoadSpec> {
        let r = self.range()?;
        let first = u128::from(k)
            .checked_mul(u128::from(r.count))
            .and_then(|n| n.checked_mul(r.step()))
            .and_then(|d| d.checked_add(r.first))
            .filter(|f| self.family == Family::Ipv6 || *f <= u128::from(u32::MAX))
            .context("shifted range overflows")?;
        let mut s = self.clone();
        s.base = Some(bits_to_addr(self.family, first));
        s.range()?;
        Ok(s)
    }

    /// The prefixes, checked against the blocks the lab uses (see the module docs).
    pub fn range(&self) -> Result<PrefixRange> {
        let base = self.base.unwrap_or(match self.family {
            Family::Ipv4 => IpAddr::V4(V4_BASE),
            Family::Ipv6 => IpAddr::V6(V6_BASE),
        });
        ensure!(
            Family::of(base) == self.family,
            "base {base} is not an {} address",
            self.family
        );
        let r = PrefixRange::new(base, self.prefix_len, self.count)?;
        for block in reserved(self.family) {
            ensure!(
                !r.overlaps(block),
                "{r} touches {}/{}, which the lab uses",
                bits_to_addr(self.family, block.0),
                block.1
            );
        }
        Ok(r)
    }
}

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `lo..hi` for test data.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// The octets a loader sends, built once: every announcement, every withdrawal and the
/// End-of-RIB marker, for a session with 4-octet AS numbers and 4096-octet messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Updates {
    /// The prefixes.
    pub range: PrefixRange,
    /// UPDATEs announcing every prefix, back to back.
    pub announce: Vec<u8>,
    /// How many messages `announce` holds.
    pub announce_messages: usize,
    /// UPDATEs withdrawing every prefix.
    pub withdraw: Vec<u8>,
    /// How many messages `withdraw` holds.
    pub withdraw_messages: usize,
    /// The End-of-RIB marker of the family.
    pub end_of_rib: Vec<u8>,
}

impl fmt::Debug for Updates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Updates")
            .field("range", &self.range.to_string())
            .field("announce_octets", &self.announce.len())
            .field("announce_messages", &self.announce_messages)
            .field("withdraw_octets", &self.withdraw.len())
            .field("withdraw_messages", &self.withdraw_messages)
            .finish()
    }
}

/// The session context every precomputed UPDATE is encoded for: RFC 6793 4-octet AS
/// numbers (the loaders insist on the capability), nothing else.
pub(crate) fn bench_context() -> SessionContext {
    SessionContext {
        four_octet_as: true,
        ..SessionContext::default()
    }
}

impl Updates {
    /// Builds the UPDATEs for `spec` as sent by `local_asn` to `peer_asn` (iBGP when equal)
    /// with next hop `next_hop`.
    pub fn build(
        spec: &LoadSpec,
        local_asn: u32,
        peer_asn: u32,
        next_hop: IpAddr,
    ) -> Result<Updates> {
        let range = spec.range()?;
        let next_hop = match (spec.family, next_hop) {
            (Family::Ipv4, IpAddr::V4(a)) => NextHop::V4(a),
            (Family::Ipv6, IpAddr::V6(a)) => NextHop::V6 {
                global: a,
                link_local: None,
            },
            (f, a) => bail!("next hop {a} does not suit {f} prefixes"),
        };
        let ctx = bench_context();
        let packer = UpdatePacker::new(ctx);
        let attrs = AttrBuilder {
            local: Asn::new(local_asn),
            peer: Asn::new(peer_asn),
            ibgp: local_asn == peer_asn,
        };
        let family = match spec.family {
            Family::Ipv4 => BgpFamily::IPV4_UNICAST,
            Family::Ipv6 => BgpFamily::IPV6_UNICAST,
        };
        let encode = |a: &PathAttributes| -> Result<EncodedAttributes> {
            packer
                .encode_attributes(family, a, next_hop)
                .context("encode the attributes")
        };
        let mut announce = Vec::new();
        let mut announce_messages = 0;
        let mut withdraw = Vec::new();
        let n = spec.count;
        // Announce one chunk of prefixes [from, to) with one attribute set.
        let mut put = |from: u64, to: u64, set: &EncodedAttributes| -> Result<()> {
            announce_messages += match spec.family {
                Family::Ipv4 => packer.announce(set, &v4_nlri(&range, from, to)?, &mut announce),
                Family::Ipv6 => packer.announce(set, &v6_nlri(&range, from, to)?, &mut announce),
            }
            .context("pack UPDATEs")?;
            Ok(())
        };
        match spec.attrs {
            AttrSets::One => put(0, n, &encode(&attrs.one())?)?,
            AttrSets::Sets(k) => {
                let k = u64::from(k.max(1)).min(n.max(1));
                for j in 0..k {
                    put(j * n / k, (j + 1) * n / k, &encode(&attrs.set(j as u32))?)?;
                }
            }
            AttrSets::PerPrefix => {
                let mut rng = Rng::new(spec.seed);
                for i in 0..n {
                    put(i, i + 1, &encode(&attrs.random(&mut rng))?)?;
                }
            }
        }
        let withdraw_messages = match spec.family {
            Family::Ipv4 => packer.withdraw(family, &v4_nlri(&range, 0, n)?, &mut withdraw),
            Family::Ipv6 => packer.withdraw(family, &v6_nlri(&range, 0, n)?, &mut withdraw),
        }
        .context("pack withdrawals")?;
        let end_of_rib = Message::Update(Update::end_of_rib_marker(family))
            .to_bytes(&ctx)
            .context("encode End-of-RIB")?;
        Ok(Updates {
            range,
            announce,
            announce_messages,
            withdraw,
            withdraw_messages,
            end_of_rib,
        })
    }
}

fn v4_nlri(r: &PrefixRange, from: u64, to: u64) -> Result<Vec<Nlri<Ipv4Prefix>>> {
    (from..to)
        .map(|i| {
            Ipv4Prefix::new(Ipv4Addr::from(r.nth_bits(i) as u32), r.len)
                .map(Nlri::new)
                .context("IPv4 prefix")
        })
        .collect()
}

fn v6_nlri(r: &PrefixRange, from: u64, to: u64) -> Result<Vec<Nlri<Ipv6Prefix>>> {
    (from..to)
        .map(|i| {
            Ipv6Prefix::new(Ipv6Addr::from(r.nth_bits(i)), r.len)
                .map(Nlri::new)
                .context("IPv6 prefix")
        })
        .collect()
}

struct AttrBuilder {
    local: Asn,
    peer: Asn,
    ibgp: bool,
}

impl AttrBuilder {
    fn base(&self, path: Vec<Asn>) -> PathAttributes {
        let mut a = PathAttributes::new();
        a.push(AttrValue::Origin(Origin::Igp));
        let mut full = if self.ibgp { vec![] } else { vec![self.local] };
        full.extend(path);
        a.push(AttrValue::AsPath(AsPath::from_sequence(full)));
        if self.ibgp {
            a.push(AttrValue::LocalPref(100));
        }
        a
    }

    fn one(&self) -> PathAttributes {
        self.base(vec![])
    }

    fn set(&self, j: u32) -> PathAttributes {
        let mut asn = 100_000 + j;
        if asn == self.peer.get() || asn == self.local.get() {
            asn = 50_000_000 + j;
        }
        self.base(vec![Asn::new(asn)])
    }

    /// A path of 2 to 6 ASes in all (1 to 5 on iBGP), 0 to 4 communities.
    fn random(&self, rng: &mut Rng) -> PathAttributes {
        let extra = rng.range(1, 6) as usize;
        let mut path = Vec::with_capacity(extra);
        while path.len() < extra {
            let asn = rng.range(1000, 64000) as u32;
            if asn != 23456 && asn != self.peer.get() && asn != self.local.get() {
                path.push(Asn::new(asn));
            }
        }
        let communities: Vec<Community> = (0..rng.range(0, 5))
            .map(|_| Community::from_parts(rng.range(1, 65000) as u16, rng.next_u64() as u16))
            .collect();
        let mut a = self.base(path);
        if !communities.is_empty() {
            // COMMUNITIES (8) after LOCAL_PREF (5): type-code order.
            a.push(AttrValue::Communities(communities));
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked_and_indexed() {
        let r = LoadSpec::ipv4(1000).range().unwrap();
        assert_eq!(r.nth(0), "100.64.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(r.nth(999), "100.64.3.231".parse::<IpAddr>().unwrap());
        assert!(r.contains("100.64.3.231".parse().unwrap(), 32));
        assert!(!r.contains("100.64.3.232".parse().unwrap(), 32));
        assert!(!r.contains("100.64.3.0".parse().unwrap(), 24));
        let r24 = LoadSpec::ipv4(3).prefix_len(24).range().unwrap();
        assert_eq!(r24.nth(2), "100.64.2.0".parse::<IpAddr>().unwrap());
        // 4M /32s fill 100.64.0.0/10 exactly.
        assert!(LoadSpec::ipv4(4 << 20).range().is_ok());
        // Into 127.0.0.0/8.
        assert!(
            LoadSpec::ipv4(1 << 20)
                .prefix_len(24)
                .base("120.0.0.0".parse().unwrap())
                .range()
                .is_err()
        );
        assert!(
            LoadSpec::ipv4(1)
                .base("192.0.2.0".parse().unwrap())
                .range()
                .is_err()
        );
        assert!(
            LoadSpec::ipv4(1)
                .prefix_len(24)
                .base("100.64.0.1".parse().unwrap())
                .range()
                .is_err()
        );
        let v6 = LoadSpec::ipv6(10).prefix_len(64).range().unwrap();
        assert_eq!(v6.nth(3), "2001:db8:1000:3::".parse::<IpAddr>().unwrap());
        assert!(
            LoadSpec::ipv6(10)
                .base("2001:db8::".parse().unwrap())
                .range()
                .is_err()
        );
        let shifted = LoadSpec::ipv4(1000).shifted(2).unwrap().range().unwrap();
        assert_eq!(shifted.nth(0), "100.64.7.208".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn builds_packed_updates() {
        let nh: IpAddr = "192.0.2.1".parse().unwrap();
        let u = Updates::build(&LoadSpec::ipv4(10_000), 65001, 64512, nh).unwrap();
        // 4096 − 19 header − 4 lengths − attributes (~25) leaves ~4040 octets: 808 /32s.
        assert!(
            (12..=14).contains(&u.announce_messages),
            "{}",
            u.announce_messages
        );
        let sets = Updates::build(
            &LoadSpec::ipv4(10_000).attrs(AttrSets::Sets(10)),
            65001,
            64512,
            nh,
        )
        .unwrap();
        assert!(
            sets.announce_messages <= 10 * 2,
            "{}",
            sets.announce_messages
        );
        let per = Updates::build(
            &LoadSpec::ipv4(100).attrs(AttrSets::PerPrefix),
            65001,
            64512,
            nh,
        )
        .unwrap();
        assert_eq!(per.announce_messages, 100);
        assert!(Updates::build(&LoadSpec::ipv6(10), 65001, 64512, nh).is_err());
    }
}
