//! The benchmark load tools (`interop::bench`) against each other, against BIRD and
//! against the kernel, with the rates they reach printed (`--nocapture` shows them).
//!
//! ```text
//!   direct:  loader (ld) ── 192.0.2.0/30, 2001:db8:0:1::/64 ── collector (col)
//!   BIRD:    loader ── 192.0.2.0/30 ── BIRD (AS 64512, kernel export) ── 198.51.100.0/30 ── collector
//!   rawfib:  fib ── 192.0.2.0/30 ── gw   (routes via gw installed in fib's table)
//! ```
//!
//! The rates are those of the build under test. The figures at full scale (loader →
//! collector at 1M /32s with one and with 1000 attribute sets, raw netlink at 1M routes with
//! and without a watcher, 1000 sessions through dynamic neighbours) are the benchmark's own:
//! `interop/bench` measures them in every run (its `loader→collector` and `raw netlink`
//! baselines, scenario (f)), so no test here is left out of the default run.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bgp::types::{Afi, Family as BgpFamily, Ipv4Prefix, Ipv6Prefix, Safi};
use bgp::wire::{
    AsPath, AttrValue, Message, MpReach, MpUnreach, NextHop, Nlri, Origin, PathAttributes,
    SessionContext, Update,
};
use interop::bench::scan::{Collect, scan_update};
use interop::bench::{
    AttrSets, Collector, FibFilter, FibWatcher, LoadSpec, Loader, ManyLoaders, ManySpec,
    ProtocolFilter, RawFib, RawFibSpec, SessionConfig, fib, many, rate, rtprot,
};
use interop::{BgpConfig, Bird, Family, Frr, Lab, Neighbor, Node};

const T: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

// ---------------------------------------------------------------------------------------
// The scanner against the codec.

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn v4_list(rng: &mut Rng) -> Vec<Nlri<Ipv4Prefix>> {
    let n = rng.below(60);
    (0..n)
        .map(|_| {
            let len = rng.below(33) as u8;
            Nlri::new(Ipv4Prefix::new_truncating((rng.next() as u32).into(), len).unwrap())
        })
        .collect()
}

fn v6_list(rng: &mut Rng) -> Vec<Nlri<Ipv6Prefix>> {
    let n = rng.below(60);
    (0..n)
        .map(|_| {
            let len = rng.below(129) as u8;
            let a = u128::from(rng.next()) << 64 | u128::from(rng.next());
            Nlri::new(Ipv6Prefix::new_truncating(a.into(), len).unwrap())
        })
        .collect()
}

fn random_update(rng: &mut Rng) -> Update {
    let mut u = Update {
        withdrawn: v4_list(rng),
        nlri: v4_list(rng),
        ..Update::default()
    };
    let reach6 = rng.below(3) == 0;
    let reach4 = !reach6 && rng.below(4) == 0;
    let unreach6 = rng.below(3) == 0;
    let mut a = PathAttributes::new();
    if !u.nlri.is_empty() || reach6 || reach4 {
        a.push(AttrValue::Origin(Origin::Igp));
        a.push(AttrValue::AsPath(AsPath::from_sequence([65001u32.into()])));
    }
    if !u.nlri.is_empty() {
        a.push(AttrValue::NextHop("192.0.2.1".parse().unwrap()));
    }
    if reach6 {
        // Sometimes multicast: the scanner must skip it.
        let safi = if rng.below(5) == 0 {
            Safi::MULTICAST
        } else {
            Safi::UNICAST
        };
        a.push(AttrValue::MpReachNlri(MpReach::Ipv6 {
            safi,
            next_hop: NextHop::V6 {
                global: "2001:db8::1".parse().unwrap(),
                link_local: (rng.below(2) == 0).then(|| "fe80::1".parse().unwrap()),
            },
            nlri: v6_list(rng),
        }));
    }
    if reach4 {
        a.push(AttrValue::MpReachNlri(MpReach::Ipv4 {
            safi: Safi::UNICAST,
            next_hop: NextHop::V4("192.0.2.1".parse().unwrap()),
            nlri: v4_list(rng),
        }));
    }
    if unreach6 {
        a.push(AttrValue::MpUnreachNlri(MpUnreach::Ipv6 {
            safi: Safi::UNICAST,
            withdrawn: v6_list(rng),
        }));
    }
    u.attributes = a;
    u
}

/// What the codec says the message announces and withdraws, unicast only, in the
/// scanner's order.
fn codec_view(u: &Update) -> Collect {
    let v4 = |p: &Nlri<Ipv4Prefix>| (u32::from(p.prefix.addr()), p.prefix.len());
    let v6 = |p: &Nlri<Ipv6Prefix>| (u128::from(p.prefix.addr()), p.prefix.len());
    let mut c = Collect {
        withdrawn_v4: u.withdrawn.iter().map(v4).collect(),
        ..Collect::default()
    };
    for a in u.attributes.iter() {
        match &a.value {
            AttrValue::MpReachNlri(MpReach::Ipv4 { safi, nlri, .. }) if *safi == Safi::UNICAST => {
                c.announced_v4.extend(nlri.iter().map(v4))
            }
            AttrValue::MpReachNlri(MpReach::Ipv6 { safi, nlri, .. }) if *safi == Safi::UNICAST => {
                c.announced_v6.extend(nlri.iter().map(v6))
            }
            AttrValue::MpUnreachNlri(MpUnreach::Ipv4 { safi, withdrawn })
                if *safi == Safi::UNICAST =>
            {
                c.withdrawn_v4.extend(withdrawn.iter().map(v4))
            }
            AttrValue::MpUnreachNlri(MpUnreach::Ipv6 { safi, withdrawn })
                if *safi == Safi::UNICAST =>
            {
                c.withdrawn_v6.extend(withdrawn.iter().map(v6))
            }
            _ => {}
        }
    }
    c.announced_v4.extend(u.nlri.iter().map(v4));
    c
}

fn eor_family(u: &Update) -> Option<Family> {
    match u.end_of_rib() {
        Some(f) if f == BgpFamily::IPV4_UNICAST => Some(Family::Ipv4),
        Some(f) if f == BgpFamily::IPV6_UNICAST => Some(Family::Ipv6),
        _ => None,
    }
}

#[test]
fn scanner_agrees_with_the_codec_on_random_updates() {
    let ctx = SessionContext {
        four_octet_as: true,
        ..SessionContext::default()
    };
    let mut rng = Rng(42);
    let (mut compared, mut mutants_compared) = (0, 0);
    for round in 0..3000 {
        let u = random_update(&mut rng);
        let bytes = Message::Update(u).to_bytes(&ctx).expect("encodes");
        let Ok(Message::Update(decoded)) = Message::decode(&bytes, &ctx) else {
            panic!("round {round}: the codec rejects its own UPDATE");
        };
        let mut seen = Collect::default();
        let s = scan_update(&bytes[19..], &mut seen).expect("scans");
        assert_eq!(seen, codec_view(&decoded), "round {round}");
        assert_eq!(s.end_of_rib, eor_family(&decoded), "round {round}");
        compared += 1;
        // Mutants: never a panic; where the codec still accepts the message, agreement.
        for _ in 0..8 {
            let mut m = bytes.clone();
            for _ in 0..=rng.below(3) {
                let i = 19 + rng.below((m.len() - 19) as u64) as usize;
                m[i] = rng.next() as u8;
            }
            let mut seen = Collect::default();
            let scanned = scan_update(&m[19..], &mut seen);
            if let Ok(Message::Update(d)) = Message::decode(&m, &ctx)
                && d.discarded.is_empty()
            {
                let s = scanned.expect("the codec accepts what the scanner rejects");
                assert_eq!(seen, codec_view(&d), "round {round}, mutant {m:02x?}");
                assert_eq!(s.end_of_rib, eor_family(&d));
                mutants_compared += 1;
            }
            let cut = 19 + rng.below((m.len() - 19) as u64) as usize;
            let _ = scan_update(&m[19..cut], &mut Collect::default());
        }
    }
    for f in [BgpFamily::IPV4_UNICAST, BgpFamily::IPV6_UNICAST] {
        let bytes = Message::Update(Update::end_of_rib_marker(f))
            .to_bytes(&ctx)
            .unwrap();
        let s = scan_update(&bytes[19..], &mut Collect::default()).unwrap();
        assert_eq!(
            s.end_of_rib.map(|f| f == Family::Ipv4),
            Some(f.afi == Afi::IPV4)
        );
    }
    println!(
        "scanner = codec on {compared} random UPDATEs and {mutants_compared} accepted mutants"
    );
}

// ---------------------------------------------------------------------------------------
// Loader → collector, no daemon between.

struct Direct {
    _lab: Lab,
    ld: Node,
    col: Node,
}

fn direct() -> Result<Direct> {
    let lab = Lab::new("benchdirect")?;
    let ld = lab.node("ld")?;
    let col = lab.node("col")?;
    let link = lab.link(&ld, "192.0.2.1/30", &col, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:1::1/64", "2001:db8:0:1::2/64")?;
    Ok(Direct { _lab: lab, ld, col })
}

/// Announces `spec` from the loader to a listening collector, checks the exact count and
/// End-of-RIB, withdraws, checks zero; prints the rates.
fn load_and_collect(d: &Direct, name: &str, spec: &LoadSpec, t: Duration) -> Result<()> {
    let (la, ca) = match spec.family {
        Family::Ipv4 => (ip("192.0.2.1"), ip("192.0.2.2")),
        Family::Ipv6 => (ip("2001:db8:0:1::1"), ip("2001:db8:0:1::2")),
    };
    let built = Instant::now();
    let collector = Collector::with_capacity(
        &d.col,
        SessionConfig::new(ca, 65002, la, 65001)
            .listen()
            .families(&[spec.family]),
        spec.count as usize,
    )?;
    let loader = Loader::start(&d.ld, SessionConfig::new(la, 65001, ca, 65002), spec)?;
    let built = built.elapsed();
    loader.wait_established(T)?;
    collector.wait_established(T)?;
    let n = spec.count;
    loader.announce()?;
    let all = collector.wait_until_count(n, t)?;
    let counted = Instant::now();
    let sent = loader.wait_announced(T)?;
    let eor = collector.wait_end_of_rib(spec.family, T)?;
    let totals = collector.totals();
    ensure!(
        collector.count() == n,
        "{name}: collector counts {} distinct, expected {n}",
        collector.count()
    );
    ensure!(
        totals.announced == n,
        "{name}: {} NLRI entries for {n} prefixes",
        totals.announced
    );
    let u = loader.updates();
    println!(
        "{name}: built {} UPDATEs ({} KiB) in {built:.2?}; the loader wrote them in {:.2?}; \
         all {n} had reached the collector {:.2?} after the first octet ({:.0} prefixes/s), \
         counted by {:.2?} ({:.0} prefixes/s; End-of-RIB {:.2?} after the last); \
         the collector's own work: {:.2?} busy, {:.0} prefixes/s",
        u.announce_messages,
        u.announce.len() / 1024,
        sent.duration(),
        all - sent.started,
        rate(n, all - sent.started),
        counted - sent.started,
        rate(n, counted - sent.started),
        eor.saturating_duration_since(all),
        totals.busy,
        rate(totals.announced, totals.busy),
    );
    loader.withdraw()?;
    let gone = collector.wait_until_withdrawn(t)?;
    let wsent = loader.wait_withdrawn(T)?;
    let totals = collector.totals();
    ensure!(
        totals.removed == n && collector.count() == 0,
        "{name}: after withdrawing, {} left, {} removed",
        collector.count(),
        totals.removed
    );
    println!(
        "{name}: withdrew {n} in {} UPDATEs; collector at 0 {:.2?} after the first octet: \
         {:.0} prefixes/s",
        u.withdraw_messages,
        gone - wsent.started,
        rate(n, gone - wsent.started),
    );
    ensure!(
        loader.closed().is_none() && collector.closed().is_none(),
        "{name}: a session closed: loader {:?}, collector {:?}",
        loader.closed(),
        collector.closed()
    );
    Ok(())
}

#[test]
fn loader_to_collector() -> Result<()> {
    let d = direct()?;
    load_and_collect(&d, "IPv4 100k /32, one set", &LoadSpec::ipv4(100_000), T)?;
    load_and_collect(&d, "IPv6 20k /128, one set", &LoadSpec::ipv6(20_000), T)?;
    load_and_collect(
        &d,
        "IPv6 20k /64, 16 sets",
        &LoadSpec::ipv6(20_000)
            .prefix_len(64)
            .attrs(AttrSets::Sets(16)),
        T,
    )?;
    load_and_collect(
        &d,
        "IPv4 10k /32, one set per prefix",
        &LoadSpec::ipv4(10_000).attrs(AttrSets::PerPrefix),
        T,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Loader → BIRD → collector, and BIRD's kernel table.

const BIRD_CONF: &str = r#"
router id 192.0.2.2;
log stderr all;
protocol device { scan time 10; }
protocol kernel k4 {
  ipv4 { import none; export where source = RTS_BGP; };
}
protocol bgp loader {
  local 192.0.2.2 as 64512;
  neighbor 192.0.2.1 as 65001;
  passive on;
  ipv4 { import all; export none; };
}
protocol bgp collector {
  local 198.51.100.1 as 64512;
  neighbor 198.51.100.2 as 65002;
  passive on;
  ipv4 { import none; export where source = RTS_BGP; };
}
template bgp many {
  local as 64512;
  neighbor range 198.18.0.0/15 external;
  dynamic name "ld";
  passive on;
  ipv4 { import all; export none; };
}
protocol bgp loaders from many { }
"#;

#[test]
fn loader_bird_collector() -> Result<()> {
    interop::require_programs(&["bird", "birdc"])?;
    let lab = Lab::new("benchbird")?;
    let ld = lab.node("ld")?;
    let br = lab.node("bird")?;
    let col = lab.node("col")?;
    let l1 = lab.link(&ld, "192.0.2.1/30", &br, "192.0.2.2/30")?;
    lab.link(&br, "198.51.100.1/30", &col, "198.51.100.2/30")?;
    let conf = lab.dir().join("bird-bench.conf");
    std::fs::write(&conf, BIRD_CONF)?;
    let _bird = Bird::start_from_file(&br, &conf)?;

    let spec = LoadSpec::ipv4(10_000);
    let range = spec.range()?;
    let watcher = FibWatcher::start(
        &br,
        FibFilter::range(range).protocol(ProtocolFilter::Only(rtprot::BIRD)),
    )?;
    let collector = Collector::start(
        &col,
        SessionConfig::new(ip("198.51.100.2"), 65002, ip("198.51.100.1"), 64512),
    )?;
    let loader = Loader::start(
        &ld,
        SessionConfig::new(ip("192.0.2.1"), 65001, ip("192.0.2.2"), 64512),
        &spec,
    )?;
    loader.wait_established(T)?;
    collector.wait_established(T)?;
    loader.announce()?;
    let sent = loader.wait_announced(T)?;
    let at_collector = collector.wait_until_count(10_000, T)?;
    let in_fib = watcher.wait_until_count(10_000, T)?;
    ensure!(
        collector.count() == 10_000,
        "collector: {}",
        collector.count()
    );
    let now = fib::count_now(&br, &FibFilter::range(range))?;
    ensure!(now == 10_000, "a dump of BIRD's table finds {now} routes");
    println!(
        "BIRD, 10k /32: at the collector {:.2?} after the loader's first octet, in BIRD's \
         kernel table (protocol {}) after {:.2?}; watcher overruns {}",
        at_collector - sent.started,
        rtprot::BIRD,
        in_fib - sent.started,
        watcher.overruns()
    );
    loader.withdraw()?;
    let wsent = loader.wait_withdrawn(T)?;
    let gone = collector.wait_until_withdrawn(T)?;
    let fib_gone = watcher.wait_until_at_most(0, T)?;
    println!(
        "BIRD, 10k withdrawn: collector at 0 after {:.2?}, kernel table after {:.2?}",
        gone - wsent.started,
        fib_gone - wsent.started
    );

    // Many small sessions (scenario (f) in miniature): 50 sources × 10 prefixes, through
    // BIRD's dynamic neighbors, each session announcing its own run.
    let (target, block) = many::target_address(Family::Ipv4);
    l1.b.ip(&["addr", "add", &format!("{target}/{block}"), "dev", &l1.b_if])?;
    let sources = many::source_addresses(Family::Ipv4, 50)?;
    many::add_addresses(&ld, &l1.a_if, &sources, block)?;
    let sessions: Vec<(IpAddr, u32)> = sources
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, 65100 + i as u32))
        .collect();
    let mut mspec = ManySpec::new(target, 64512, sessions);
    // After the 10k run above, so the counts add up cleanly.
    mspec.per_session = LoadSpec::ipv4(10).base(range.next_range()?.nth(0));
    let started = Instant::now();
    let m = ManyLoaders::start(&ld, mspec)?;
    let up = m.wait_established(T)?;
    m.announce()?;
    let msent = m.wait_announced(T)?;
    let all = collector.wait_until_count(500, T)?;
    println!(
        "50 sessions: all established {:.2?} after start; 500 prefixes at the collector \
         {:.2?} after the first octet",
        up - started,
        all - msent.started
    );
    m.withdraw()?;
    m.wait_withdrawn(T)?;
    collector.wait_until_at_most(0, T)?;
    ensure!(m.closed().is_empty(), "sessions closed: {:?}", m.closed());
    drop(m);
    ensure!(
        loader.closed().is_none() && collector.closed().is_none(),
        "a session closed: loader {:?}, collector {:?}",
        loader.closed(),
        collector.closed()
    );
    Ok(())
}

/// FRR's zebra marks the routes bgpd gives it with protocol 186 (`RTPROT_BGP`).
#[test]
fn loader_frr_fib() -> Result<()> {
    let lab = Lab::new("benchfrr")?;
    let ld = lab.node("ld")?;
    let fr = lab.node("frr")?;
    lab.link(&ld, "192.0.2.1/30", &fr, "192.0.2.2/30")?;
    let _frr = Frr::start(
        &fr,
        BgpConfig::new(64512, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(ip("192.0.2.1"), 65001).passive()),
    )?;
    let spec = LoadSpec::ipv4(10_000);
    let range = spec.range()?;
    let watcher = FibWatcher::start(
        &fr,
        FibFilter::range(range).protocol(ProtocolFilter::Only(rtprot::ZEBRA_BGP)),
    )?;
    let loader = Loader::start(
        &ld,
        SessionConfig::new(ip("192.0.2.1"), 65001, ip("192.0.2.2"), 64512),
        &spec,
    )?;
    loader.wait_established(T)?;
    loader.announce()?;
    let sent = loader.wait_announced(T)?;
    let in_fib = watcher.wait_until_count(10_000, T)?;
    println!(
        "FRR, 10k /32: in zebra's kernel table (protocol {}) {:.2?} after the loader's first \
         octet",
        rtprot::ZEBRA_BGP,
        in_fib - sent.started
    );
    loader.withdraw()?;
    let wsent = loader.wait_withdrawn(T)?;
    let gone = watcher.wait_until_at_most(0, T)?;
    println!(
        "FRR, 10k withdrawn: out of the kernel table after {:.2?}",
        gone - wsent.started
    );
    ensure!(loader.closed().is_none(), "loader: {:?}", loader.closed());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The kernel's own limit.

#[test]
fn rawfib_install_and_remove() -> Result<()> {
    let lab = Lab::new("benchfib")?;
    let f = lab.node("fib")?;
    let gw = lab.node("gw")?;
    let link = lab.link(&f, "192.0.2.1/30", &gw, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:1::1/64", "2001:db8:0:1::2/64")?;
    for (spec, gateway) in [
        (LoadSpec::ipv4(100_000), ip("192.0.2.2")),
        (LoadSpec::ipv6(20_000).prefix_len(64), ip("2001:db8:0:1::2")),
    ] {
        let range = spec.range()?;
        let filter = FibFilter::range(range).protocol(ProtocolFilter::Only(rtprot::BENCH));
        let watcher = FibWatcher::start(&f, filter.clone())?;
        let mut raw = RawFib::open(&f, RawFibSpec::new(gateway).device(&link.a_if))?;
        let n = range.count();
        let put = raw.install(&range).context("install")?;
        let seen = watcher.wait_until_count(n, T)?;
        let dumped = fib::count_now(&f, &filter)?;
        ensure!(dumped == n, "a dump finds {dumped} of {n} routes");
        println!(
            "rawfib {}: {n} routes acknowledged in {:.2?} ({:.0}/s, {} batches); the \
             watcher saw all of them after {:.2?} ({:.0}/s); overruns {}",
            range.family(),
            put.duration(),
            put.rate(),
            put.batches,
            seen - put.started,
            rate(n, seen - put.started),
            watcher.overruns()
        );
        let del = raw.remove(&range).context("remove")?;
        let gone = watcher.wait_until_at_most(0, T)?;
        ensure!(
            fib::count_now(&f, &filter)? == 0,
            "routes left after removal"
        );
        println!(
            "rawfib {}: removed {n} in {:.2?}; watcher at 0 after {:.2?} ({:.0}/s)",
            range.family(),
            del.duration(),
            gone - del.started,
            rate(n, gone - del.started)
        );
        drop(watcher);
        // A watcher whose buffer overflows (its thread kept off the CPU meanwhile by a busy
        // one) rebuilds its count from dumps and still ends exact.
        let small = FibWatcher::with_buffer(&f, filter.clone(), 64 << 10)?;
        let busy = std::thread::spawn(|| {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(300) {
                std::hint::black_box(0u64);
            }
        });
        raw.install(&range)?;
        small.wait_until_count(n, T)?;
        raw.remove(&range)?;
        small.wait_until_at_most(0, T)?;
        busy.join().expect("busy thread");
        println!(
            "rawfib {}: a watcher with a 64 KiB buffer overran {} times and still counted \
             exactly",
            range.family(),
            small.overruns()
        );
    }
    Ok(())
}
