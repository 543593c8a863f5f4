//! The scenarios of issue 6 and one run of each: a fresh lab (loader, target and collector
//! namespaces), a fresh daemon, the load, the stamps, `/proc` readings, teardown.
//!
//! ```text
//!   ld (loaders) 198.51.100.1/24 ─── 198.51.100.2/24 tg (target) 203.0.113.1/24 ─── 203.0.113.2/24 col
//!                2001:db8:1::1/64     2001:db8:1::2/64            2001:db8:2::1/64    2001:db8:2::2/64
//!   (d): loaders 198.51.100.11..20 (AS 65011..65020); (f): 1000 sources in 198.18.0.0/15 on ld,
//!   the target also 198.19.255.254/15 on its loader side (AS 65100 for every source)
//! ```
//!
//! Time to relay: from the loader writing the first octet of its first UPDATE (the earliest
//! over the loaders) until the read that brought the collector's N-th distinct prefix
//! returned. Time to FIB: from the same first octet until the FIB watcher read the
//! notification of the N-th route (the target's protocol number, the announced ranges) in the
//! target namespace's main table. Memory: `VmHWM` summed over the target's processes, read
//! once the scenario is complete (before stopping); CPU: `utime + stime` of those processes,
//! read at the same moment (so daemon start-up is included; for (e), the difference over the
//! withdrawal).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Serialize;

use super::measure::{self, Usage};
use super::targets::{DynamicSpec, PeerSpec, Target, TargetKind, TargetSpec, check_alive};
use crate::bench::fib::{self, FibFilter, FibWatcher, ProtocolFilter};
use crate::bench::many::{self, ManyLoaders, ManySpec};
use crate::bench::prefixes::{AttrSets, LoadSpec, PrefixRange, Updates};
use crate::bench::rawfib::{RawFib, RawFibSpec};
use crate::bench::session::{SendStamps, SessionConfig};
use crate::bench::{Collector, Loader};
use crate::lab::{Lab, Node};
use crate::types::Family;

/// The target's AS.
pub const TARGET_ASN: u32 = 64512;
/// The collector's AS.
pub const COLLECTOR_ASN: u32 = 65002;
/// The first loader's AS; loader k of (d) is `65011 + k`.
pub const LOADER_ASN: u32 = 65001;
/// Every many-session source's AS in (f).
pub const MANY_ASN: u32 = 65100;
/// How long sessions get to come up.
const ESTABLISH: Duration = Duration::from_secs(60);

/// One of issue 6's scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioId {
    /// 1 peer × N IPv4 /32, one attribute set, FIB on.
    A,
    /// (a) with FIB off.
    B,
    /// 1 peer × N with 1000 attribute sets.
    C,
    /// 10 peers × N/10.
    D,
    /// Withdrawal of all N after (a).
    E,
    /// Many peers × 10 prefixes, dynamic neighbours.
    F,
    /// IPv6: 1 peer × N/5 /64s, FIB on.
    G,
}

impl ScenarioId {
    /// All, in order.
    pub const ALL: [ScenarioId; 7] = [
        ScenarioId::A,
        ScenarioId::B,
        ScenarioId::C,
        ScenarioId::D,
        ScenarioId::E,
        ScenarioId::F,
        ScenarioId::G,
    ];

    /// `a` to `g`.
    pub fn letter(self) -> char {
        match self {
            ScenarioId::A => 'a',
            ScenarioId::B => 'b',
            ScenarioId::C => 'c',
            ScenarioId::D => 'd',
            ScenarioId::E => 'e',
            ScenarioId::F => 'f',
            ScenarioId::G => 'g',
        }
    }

    /// Parses [`ScenarioId::letter`].
    pub fn parse(s: &str) -> Result<ScenarioId> {
        let s = s.trim();
        ScenarioId::ALL
            .into_iter()
            .find(|id| s.len() == 1 && s.starts_with(id.letter()))
            .ok_or_else(|| anyhow!("unknown scenario {s:?} (a to g)"))
    }

    /// The metrics this scenario reports, in table order.
    pub fn metrics(self) -> &'static [Metric] {
        use Metric as M;
        match self {
            ScenarioId::A | ScenarioId::C | ScenarioId::D | ScenarioId::G => {
                &[M::Relay, M::Fib, M::PeakRss, M::Cpu]
            }
            ScenarioId::B => &[M::Relay, M::PeakRss, M::Cpu],
            ScenarioId::E => &[M::Relay, M::Fib, M::Cpu, M::PeakRss],
            ScenarioId::F => &[
                M::Established,
                M::Relay,
                M::Total,
                M::Fib,
                M::PerSession,
                M::PeakRss,
                M::Cpu,
            ],
        }
    }
}

impl fmt::Display for ScenarioId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.letter())
    }
}

/// A measured quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// First UPDATE octet → the collector has all (for (e): has none left).
    Relay,
    /// First UPDATE octet → the FIB holds all (for (e): none).
    Fib,
    /// Σ VmHWM, MiB.
    PeakRss,
    /// Σ utime + stime, s.
    Cpu,
    /// (f): loaders started → every session established.
    Established,
    /// (f): loaders started → every prefix at the collector.
    Total,
    /// (f): (VmRSS with the sessions − VmRSS before) / sessions, KiB.
    PerSession,
    /// Raw netlink: the kernel acknowledged every batch (no watcher subscribed).
    Ack,
}

impl Metric {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Relay => "relay_s",
            Metric::Fib => "fib_s",
            Metric::PeakRss => "peak_rss_mib",
            Metric::Cpu => "cpu_s",
            Metric::Established => "established_s",
            Metric::Total => "total_s",
            Metric::PerSession => "rss_per_session_kib",
            Metric::Ack => "ack_s",
        }
    }

    /// The column heading in scenario `id`.
    pub fn label(self, id: ScenarioId) -> &'static str {
        match (self, id) {
            (Metric::Relay, ScenarioId::E) => "withdrawn at collector (s)",
            (Metric::Fib, ScenarioId::E) => "withdrawn from FIB (s)",
            (Metric::Cpu, ScenarioId::E) => "CPU during withdrawal (s)",
            (Metric::Relay, _) => "time to relay (s)",
            (Metric::Fib, _) => "time to FIB (s)",
            (Metric::PeakRss, _) => "peak RSS (MiB)",
            (Metric::Cpu, _) => "CPU (s)",
            (Metric::Established, _) => "all established (s)",
            (Metric::Total, _) => "start → all relayed (s)",
            (Metric::PerSession, _) => "RSS per session (KiB)",
            (Metric::Ack, _) => "acknowledged, unwatched (s)",
        }
    }
}

/// Who ran: a target daemon or a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Who {
    /// A daemon.
    Target(TargetKind),
    /// RawFib installing the same routes into a fresh namespace: the kernel's limit.
    RawNetlink,
    /// Loader → collector with no daemon between: the tools' own limit.
    Tools,
}

impl Who {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Who::Target(k) => k.name(),
            Who::RawNetlink => "raw netlink",
            Who::Tools => "loader→collector",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every stamp was taken.
    Ok,
    /// It did not complete within the limit.
    Timeout,
    /// Something failed (a daemon exited, a session closed, a count was wrong...).
    Error,
    /// Not run: the target timed out in an earlier repetition of the scenario.
    Skipped,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Who ran.
    pub who: Who,
    /// The repetition (1-based).
    pub rep: u32,
    /// How it ended.
    pub status: Status,
    /// The metrics measured, by [`Metric::key`].
    pub metrics: BTreeMap<&'static str, f64>,
    /// What else is worth knowing (watcher overruns, counts...).
    pub notes: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// How long the whole run took (lab, daemon start, load, teardown), seconds.
    pub wall_s: f64,
    /// The share of all CPUs busy just before the run (anything but the benchmark running
    /// on the machine shows here).
    pub busy_before: f64,
}

impl Run {
    fn new(who: Who, rep: u32) -> Run {
        Run {
            who,
            rep,
            status: Status::Ok,
            metrics: BTreeMap::new(),
            notes: Vec::new(),
            error: None,
            wall_s: 0.0,
            busy_before: 0.0,
        }
    }

    /// A run not made.
    pub fn skipped(who: Who, rep: u32, why: &str) -> Run {
        Run {
            status: Status::Skipped,
            error: Some(why.to_string()),
            ..Run::new(who, rep)
        }
    }

    fn set(&mut self, m: Metric, v: f64) {
        self.metrics.insert(m.key(), v);
    }

    fn fail(&mut self, f: Fail) {
        let (status, msg) = match f {
            Fail::Timeout(m) => (Status::Timeout, m),
            Fail::Error(e) => (Status::Error, format!("{e:#}")),
        };
        self.status = status;
        self.error = Some(msg);
    }

    /// One line for the progress log.
    pub fn line(&self) -> String {
        let mut s = format!("{:<16} ", self.who.name());
        match self.status {
            Status::Ok => {
                for (k, v) in &self.metrics {
                    s.push_str(&format!("{k}={v:.3} "));
                }
            }
            st => {
                let e = self.error.as_deref().unwrap_or_default();
                let first = e.lines().next().unwrap_or_default();
                s.push_str(&format!("{st:?}: {first}"));
            }
        }
        s
    }
}

/// Why a run stopped.
#[derive(Debug)]
pub(crate) enum Fail {
    Timeout(String),
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Fail {
        Fail::Error(e)
    }
}

/// `ensure!` for functions that fail with [`Fail`].
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Fail::Error(anyhow!($($msg)+)));
        }
    };
}

/// Runs `f` with what is left until `deadline`; a failure once the deadline has passed is
/// a timeout.
fn by<T>(what: &str, deadline: Instant, f: impl FnOnce(Duration) -> Result<T>) -> Result<T, Fail> {
    let left = deadline.saturating_duration_since(Instant::now());
    f(left).map_err(|e| {
        if Instant::now() + Duration::from_millis(20) >= deadline {
            Fail::Timeout(format!("{what}: {e:#}"))
        } else {
            Fail::Error(e.context(what.to_string()))
        }
    })
}

/// Knobs every run shares.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Pause after every session is up, before the load starts.
    pub settle: Duration,
    /// Multiplies every time limit.
    pub limit_factor: f64,
}

impl RunSettings {
    /// The limit for the load of `prefixes` prefixes to go through: 60 s + 300 s per
    /// million, times the factor.
    pub fn limit(&self, prefixes: u64) -> Duration {
        Duration::from_secs_f64((60.0 + 300.0 * prefixes as f64 / 1e6) * self.limit_factor)
    }
}

/// Addresses of the lab.
mod addr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    const fn v6(a: u16, b: u16, c: u16, h: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(a, b, c, 0, 0, 0, 0, h))
    }
    pub(super) const LD4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    pub(super) const TG4_LD: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
    pub(super) const TG4_COL: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    pub(super) const COL4: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
    pub(super) const LD6: IpAddr = v6(0x2001, 0xdb8, 1, 1);
    pub(super) const TG6_LD: IpAddr = v6(0x2001, 0xdb8, 1, 2);
    pub(super) const TG6_COL: IpAddr = v6(0x2001, 0xdb8, 2, 1);
    pub(super) const COL6: IpAddr = v6(0x2001, 0xdb8, 2, 2);
}

/// One loader of a plan.
#[derive(Debug, Clone)]
pub struct LoaderPlan {
    /// Its address on the loader node.
    pub addr: IpAddr,
    /// Its BGP identifier.
    pub router_id: Ipv4Addr,
    /// Its AS.
    pub asn: u32,
    /// What it sends, built once for every run of the scenario.
    pub updates: Arc<Updates>,
}

/// The load of a relay scenario (everything but (f)).
#[derive(Debug, Clone)]
pub struct RelayPlan {
    /// The family.
    pub family: Family,
    /// The loaders.
    pub loaders: Vec<LoaderPlan>,
    /// Prefixes over all loaders.
    pub total: u64,
    /// Their ranges (for the FIB filter).
    pub ranges: Vec<PrefixRange>,
    /// FIB on.
    pub fib: bool,
    /// Also withdraw everything ((e)).
    pub withdraw: bool,
}

impl RelayPlan {
    /// `loaders` loaders of `per_loader` prefixes each (`spec` shifted per loader), built
    /// now.
    pub fn build(spec: &LoadSpec, loaders: usize, fib: bool, withdraw: bool) -> Result<RelayPlan> {
        let family = spec.family;
        let mut plans = Vec::new();
        let mut ranges = Vec::new();
        for k in 0..loaders {
            let s = spec.shifted(k as u64)?;
            let (addr, router_id, asn) = match (family, loaders) {
                (Family::Ipv4, 1) => (addr::LD4, Ipv4Addr::new(198, 51, 100, 1), LOADER_ASN),
                (Family::Ipv4, _) => {
                    let a = Ipv4Addr::new(198, 51, 100, 11 + k as u8);
                    (IpAddr::V4(a), a, 65011 + k as u32)
                }
                (Family::Ipv6, 1) => (addr::LD6, Ipv4Addr::new(198, 51, 100, 1), LOADER_ASN),
                (Family::Ipv6, _) => bail!("one IPv6 loader only"),
            };
            ensure!(k < 200, "too many loaders");
            let updates = Updates::build(&s, asn, TARGET_ASN, addr)?;
            ranges.push(updates.range);
            plans.push(LoaderPlan {
                addr,
                router_id,
                asn,
                updates: Arc::new(updates),
            });
        }
        Ok(RelayPlan {
            family,
            total: spec.count * loaders as u64,
            loaders: plans,
            ranges,
            fib,
            withdraw,
        })
    }

    fn target_ld(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => addr::TG4_LD,
            Family::Ipv6 => addr::TG6_LD,
        }
    }

    fn target_col(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => addr::TG4_COL,
            Family::Ipv6 => addr::TG6_COL,
        }
    }

    fn collector(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => addr::COL4,
            Family::Ipv6 => addr::COL6,
        }
    }
}

/// The plan of scenario (f).
#[derive(Debug, Clone, Copy)]
pub struct ManyPlan {
    /// Sessions.
    pub peers: usize,
    /// Prefixes per session.
    pub per_peer: u64,
    /// Sessions connecting at once (the loader's throttle; see [`ManySpec::max_connecting`]).
    pub connecting: usize,
}

/// The three namespaces and their links.
struct Topo {
    lab: Lab,
    ld: Node,
    tg: Node,
    col: Node,
    ld_if: String,
    tg_ld_if: String,
}

fn topo(family: Family) -> Result<Topo> {
    let lab = Lab::new("bench")?;
    let ld = lab.node("ld")?;
    let tg = lab.node("tg")?;
    let col = lab.node("col")?;
    let l1 = lab.link(&ld, "198.51.100.1/24", &tg, "198.51.100.2/24")?;
    let l2 = lab.link(&tg, "203.0.113.1/24", &col, "203.0.113.2/24")?;
    if family == Family::Ipv6 {
        l1.add_addrs("2001:db8:1::1/64", "2001:db8:1::2/64")?;
        l2.add_addrs("2001:db8:2::1/64", "2001:db8:2::2/64")?;
    }
    Ok(Topo {
        ld_if: l1.a_if,
        tg_ld_if: l1.b_if,
        lab,
        ld,
        tg,
        col,
    })
}

/// Drops every value on its own thread at once (each session's goodbye takes a moment).
fn drop_all<T: Send>(items: Vec<T>) {
    thread::scope(|s| {
        for item in items {
            s.spawn(move || drop(item));
        }
    });
}

/// The routes a target's watcher counts.
fn filter(family: Family, ranges: &[PrefixRange], protocol: ProtocolFilter) -> FibFilter {
    FibFilter {
        families: vec![family],
        prefixes: ranges.to_vec(),
        ..FibFilter::default()
    }
    .protocol(protocol)
}

fn earliest(stamps: &[SendStamps]) -> Result<Instant> {
    stamps
        .iter()
        .map(|s| s.started)
        .min()
        .ok_or_else(|| anyhow!("no loader"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One run of a relay scenario against `kind`: the run of the scenario, and, with
/// `plan.withdraw`, the run of (e).
pub fn relay_target(
    kind: TargetKind,
    plan: &RelayPlan,
    s: &RunSettings,
    rep: u32,
) -> (Run, Option<Run>) {
    let who = Who::Target(kind);
    let mut main = Run::new(who, rep);
    let mut withdrawal = plan.withdraw.then(|| Run::new(who, rep));
    if let Err(f) = relay_target_inner(kind, plan, s, &mut main, withdrawal.as_mut()) {
        // A failure before the first part finished fails both.
        if main.metrics.is_empty() {
            if let Some(w) = &mut withdrawal {
                w.status = Status::Skipped;
                w.error = Some("the announcement part failed".into());
            }
            main.fail(f);
        } else if let Some(w) = &mut withdrawal {
            w.fail(f);
        } else {
            main.fail(f);
        }
    }
    (main, withdrawal)
}

fn relay_target_inner(
    kind: TargetKind,
    plan: &RelayPlan,
    s: &RunSettings,
    main: &mut Run,
    withdrawal: Option<&mut Run>,
) -> Result<(), Fail> {
    let t = topo(plan.family)?;
    for l in plan
        .loaders
        .iter()
        .filter(|l| l.addr != addr::LD4 && l.addr != addr::LD6)
    {
        t.ld.add_addr(&t.ld_if, &format!("{}/24", l.addr))?;
    }
    let mut peers: Vec<PeerSpec> = plan
        .loaders
        .iter()
        .enumerate()
        .map(|(k, l)| PeerSpec {
            name: format!("l{k}"),
            addr: l.addr,
            asn: l.asn,
        })
        .collect();
    peers.push(PeerSpec {
        name: "col".into(),
        addr: plan.collector(),
        asn: COLLECTOR_ASN,
    });
    let spec = TargetSpec {
        asn: TARGET_ASN,
        router_id: Ipv4Addr::new(198, 51, 100, 2),
        peers,
        dynamic: None,
        fib: plan.fib,
    };
    let target = Target::start(kind, &t.tg, &spec)?;
    let result = relay_measure(&t, &target, plan, s, main, withdrawal);
    if let Err(Fail::Error(_)) | Err(Fail::Timeout(_)) = &result
        && let Err(e) = target.ensure_running()
    {
        main.notes.push(format!("the target exited: {e:#}"));
    }
    drop(target);
    drop(t.lab);
    result
}

fn relay_measure(
    t: &Topo,
    target: &Target,
    plan: &RelayPlan,
    s: &RunSettings,
    main: &mut Run,
    withdrawal: Option<&mut Run>,
) -> Result<(), Fail> {
    let kind = target.kind();
    let limit = s.limit(plan.total);
    let watcher = match (plan.fib, kind.fib_protocol()) {
        (true, Some(p)) => Some(FibWatcher::start(
            &t.tg,
            filter(plan.family, &plan.ranges, ProtocolFilter::Only(p)),
        )?),
        _ => None,
    };
    let collector = Collector::with_capacity(
        &t.col,
        SessionConfig::new(
            plan.collector(),
            COLLECTOR_ASN,
            plan.target_col(),
            TARGET_ASN,
        )
        .families(&[plan.family])
        .router_id(Ipv4Addr::new(203, 0, 113, 2))
        .establish_timeout(ESTABLISH),
        plan.total as usize,
    )?;
    let loaders: Vec<Loader> = plan
        .loaders
        .iter()
        .map(|l| {
            Loader::start_with(
                &t.ld,
                SessionConfig::new(l.addr, l.asn, plan.target_ld(), TARGET_ASN)
                    .families(&[plan.family])
                    .router_id(l.router_id)
                    .establish_timeout(ESTABLISH),
                Arc::clone(&l.updates),
            )
        })
        .collect::<Result<_>>()?;
    let up = Instant::now() + ESTABLISH;
    by("the collector's session", up, |left| {
        collector.wait_established(left)
    })?;
    for l in &loaders {
        by("a loader's session", up, |left| l.wait_established(left))?;
    }
    thread::sleep(s.settle);
    check_alive(target)?;
    let n = plan.total;
    let t0 = Instant::now();
    for l in &loaders {
        l.announce()?;
    }
    let deadline = t0 + limit;
    let at_collector = by("all prefixes at the collector", deadline, |left| {
        collector.wait_until_count(n, left)
    })?;
    let in_fib = match &watcher {
        Some(w) => Some(by("all routes in the FIB", deadline, |left| {
            w.wait_until_count(n, left)
        })?),
        None => None,
    };
    let sent: Vec<SendStamps> = loaders
        .iter()
        .map(|l| {
            by("the loader's writes", deadline, |left| {
                l.wait_announced(left)
            })
        })
        .collect::<Result<_, Fail>>()?;
    let first = earliest(&sent)?;
    let usage: Usage = measure::usage(&target.pids())?;
    check_alive(target)?;
    // Exact counts: nothing missing, nothing extra.
    let counted = collector.count();
    if counted != n {
        return Err(
            anyhow!("the collector counts {counted} distinct prefixes, expected {n}").into(),
        );
    }
    if let Some(w) = &watcher {
        let now = w.count();
        check!(
            now == n,
            "the FIB watcher counts {now} routes, expected {n}"
        );
        if w.overruns() > 0 {
            main.notes
                .push(format!("FIB watcher overruns: {}", w.overruns()));
        }
    }
    if !plan.fib && kind.fib_protocol().is_some() {
        // FIB off really is off.
        let any = fib::count_now(
            &t.tg,
            &filter(plan.family, &plan.ranges, ProtocolFilter::Any),
        )?;
        check!(
            any == 0,
            "FIB off, yet {any} of the routes are in the kernel table"
        );
    }
    if plan.fib && kind.fib_protocol().is_none() {
        main.notes
            .push("no FIB: the daemon does not install kernel routes".into());
    }
    let totals = collector.totals();
    main.notes.push(format!(
        "{} UPDATEs ({} MiB) to the collector; {} prefixes announced to it",
        totals.updates,
        totals.update_octets >> 20,
        totals.announced
    ));
    // Set last: metrics present mean the first part is complete.
    main.set(Metric::Relay, (at_collector - first).as_secs_f64());
    if let Some(at) = in_fib {
        main.set(Metric::Fib, (at - first).as_secs_f64());
    }
    main.set(Metric::PeakRss, mib(usage.hwm_kib));
    main.set(Metric::Cpu, usage.cpu_s);

    let Some(w_run) = withdrawal else {
        return Ok(());
    };
    let before = usage.cpu_s;
    let t1 = Instant::now();
    for l in &loaders {
        l.withdraw()?;
    }
    let deadline = t1 + limit;
    let gone = by(
        "every prefix withdrawn at the collector",
        deadline,
        |left| collector.wait_until_withdrawn(left),
    )?;
    let fib_gone = match &watcher {
        Some(w) => Some(by("every route out of the FIB", deadline, |left| {
            w.wait_until_at_most(0, left)
        })?),
        None => None,
    };
    let sent: Vec<SendStamps> = loaders
        .iter()
        .map(|l| {
            by("the loader's withdrawals", deadline, |left| {
                l.wait_withdrawn(left)
            })
        })
        .collect::<Result<_, Fail>>()?;
    let first = earliest(&sent)?;
    let after = measure::usage(&target.pids())?;
    check_alive(target)?;
    w_run.set(Metric::Relay, (gone - first).as_secs_f64());
    if let Some(at) = fib_gone {
        w_run.set(Metric::Fib, (at - first).as_secs_f64());
    }
    w_run.set(Metric::Cpu, after.cpu_s - before);
    w_run.set(Metric::PeakRss, mib(after.hwm_kib));
    drop_all(loaders);
    drop(collector);
    drop(watcher);
    Ok(())
}

/// The tools alone: loader → collector over one link, no daemon.
pub fn relay_tools(plan: &RelayPlan, s: &RunSettings, rep: u32) -> Run {
    let mut run = Run::new(Who::Tools, rep);
    let r = (|| -> Result<(), Fail> {
        check!(plan.loaders.len() == 1, "one loader");
        let l = &plan.loaders[0];
        let lab = Lab::new("benchtools")?;
        let ld = lab.node("ld")?;
        let col = lab.node("col")?;
        // The collector stands in for the target: the target's address and AS.
        let link = lab.link(&ld, "198.51.100.1/24", &col, "198.51.100.2/24")?;
        if plan.family == Family::Ipv6 {
            link.add_addrs("2001:db8:1::1/64", "2001:db8:1::2/64")?;
        }
        let collector = Collector::with_capacity(
            &col,
            SessionConfig::new(plan.target_ld(), TARGET_ASN, l.addr, l.asn)
                .listen()
                .families(&[plan.family])
                .router_id(Ipv4Addr::new(198, 51, 100, 2)),
            plan.total as usize,
        )?;
        let loader = Loader::start_with(
            &ld,
            SessionConfig::new(l.addr, l.asn, plan.target_ld(), TARGET_ASN)
                .families(&[plan.family])
                .router_id(l.router_id),
            Arc::clone(&l.updates),
        )?;
        let up = Instant::now() + ESTABLISH;
        by("the loader's session", up, |left| {
            loader.wait_established(left)
        })?;
        by("the collector's session", up, |left| {
            collector.wait_established(left)
        })?;
        thread::sleep(s.settle);
        let t0 = Instant::now();
        loader.announce()?;
        let deadline = t0 + s.limit(plan.total);
        let all = by("all prefixes at the collector", deadline, |left| {
            collector.wait_until_count(plan.total, left)
        })?;
        let sent = by("the loader's writes", deadline, |left| {
            loader.wait_announced(left)
        })?;
        run.set(Metric::Relay, (all - sent.started).as_secs_f64());
        let busy = collector.totals().busy;
        run.notes
            .push(format!("collector busy {:.3} s", busy.as_secs_f64()));
        drop_all(vec![loader]);
        drop(collector);
        drop(lab);
        Ok(())
    })();
    if let Err(f) = r {
        run.fail(f);
    }
    run
}

/// The kernel alone: RawFib installs the plan's routes (one range) into a fresh namespace
/// with a watcher subscribed (time until the watcher saw all: the figure a daemon's FIB
/// time compares with), removes them (the (e) baseline), then installs them again with
/// nobody listening (time until every batch was acknowledged).
pub fn raw_netlink(plan: &RelayPlan, s: &RunSettings, rep: u32) -> (Run, Option<Run>) {
    let mut main = Run::new(Who::RawNetlink, rep);
    let mut removal = plan.withdraw.then(|| Run::new(Who::RawNetlink, rep));
    let r = (|| -> Result<(), Fail> {
        check!(plan.ranges.len() == 1, "one range");
        let range = plan.ranges[0];
        let lab = Lab::new("benchraw")?;
        let f = lab.node("fib")?;
        let gw = lab.node("gw")?;
        let link = lab.link(&f, "198.51.100.2/24", &gw, "198.51.100.1/24")?;
        let gateway = match plan.family {
            Family::Ipv4 => addr::LD4,
            Family::Ipv6 => {
                link.add_addrs("2001:db8:1::2/64", "2001:db8:1::1/64")?;
                addr::LD6
            }
        };
        let flt = filter(
            plan.family,
            &plan.ranges,
            ProtocolFilter::Only(crate::bench::rtprot::BENCH),
        );
        let mut raw = RawFib::open(&f, RawFibSpec::new(gateway).device(&link.a_if))?;
        let watcher = FibWatcher::start(&f, flt.clone())?;
        let n = range.count();
        let limit = s.limit(n);
        let put = raw.install(&range).context("install")?;
        let seen = by(
            "the watcher to see every route",
            put.started + limit,
            |left| watcher.wait_until_count(n, left),
        )?;
        main.set(Metric::Fib, (seen - put.started).as_secs_f64());
        main.notes.push(format!(
            "watched install acknowledged after {:.3} s; {} batches",
            put.duration().as_secs_f64(),
            put.batches
        ));
        let del = raw.remove(&range).context("remove")?;
        let gone = by("the watcher to see none", del.started + limit, |left| {
            watcher.wait_until_at_most(0, left)
        })?;
        if let Some(r) = &mut removal {
            r.set(Metric::Fib, (gone - del.started).as_secs_f64());
        }
        drop(watcher);
        let put = raw.install(&range).context("install unwatched")?;
        main.set(Metric::Ack, put.duration().as_secs_f64());
        let dumped = fib::count_now(&f, &flt)?;
        check!(dumped == n, "a dump finds {dumped} of {n} routes");
        raw.remove(&range).context("remove unwatched")?;
        drop(raw);
        drop(lab);
        Ok(())
    })();
    if let Err(e) = r {
        main.fail(e);
        if let Some(r) = &mut removal {
            r.status = Status::Error;
            r.error = main.error.clone();
        }
    }
    (main, removal)
}

/// One run of (f) against `kind`.
pub fn many_target(kind: TargetKind, plan: &ManyPlan, s: &RunSettings, rep: u32) -> Run {
    let mut run = Run::new(Who::Target(kind), rep);
    if let Err(f) = many_target_inner(kind, plan, s, &mut run) {
        run.fail(f);
    }
    run
}

fn many_target_inner(
    kind: TargetKind,
    plan: &ManyPlan,
    s: &RunSettings,
    run: &mut Run,
) -> Result<(), Fail> {
    let t = topo(Family::Ipv4)?;
    let (tg_addr, block) = many::target_address(Family::Ipv4);
    t.tg.ip(&[
        "addr",
        "add",
        &format!("{tg_addr}/{block}"),
        "dev",
        &t.tg_ld_if,
    ])?;
    let sources = many::source_addresses(Family::Ipv4, plan.peers)?;
    many::add_addresses(&t.ld, &t.ld_if, &sources, block)?;
    let (range_base, range_len) = match tg_addr {
        IpAddr::V4(_) => (IpAddr::V4(crate::bench::prefixes::V4_SOURCES.0), block),
        IpAddr::V6(_) => return Err(anyhow!("IPv4 only").into()),
    };
    let spec = TargetSpec {
        asn: TARGET_ASN,
        router_id: Ipv4Addr::new(198, 51, 100, 2),
        peers: vec![PeerSpec {
            name: "col".into(),
            addr: addr::COL4,
            asn: COLLECTOR_ASN,
        }],
        dynamic: Some(DynamicSpec {
            addr: range_base,
            len: range_len,
            asn: MANY_ASN,
            limit: plan.peers,
        }),
        fib: true,
    };
    let target = Target::start(kind, &t.tg, &spec)?;
    let r = many_measure(&t, &target, plan, s, run, tg_addr, &sources);
    drop(target);
    drop(t.lab);
    r
}

fn many_measure(
    t: &Topo,
    target: &Target,
    plan: &ManyPlan,
    s: &RunSettings,
    run: &mut Run,
    tg_addr: IpAddr,
    sources: &[IpAddr],
) -> Result<(), Fail> {
    let kind = target.kind();
    let n = plan.per_peer * plan.peers as u64;
    let range = LoadSpec::ipv4(n).range()?;
    let watcher = match kind.fib_protocol() {
        Some(p) => Some(FibWatcher::start(
            &t.tg,
            filter(Family::Ipv4, &[range], ProtocolFilter::Only(p)),
        )?),
        None => None,
    };
    let collector = Collector::with_capacity(
        &t.col,
        SessionConfig::new(addr::COL4, COLLECTOR_ASN, addr::TG4_COL, TARGET_ASN)
            .router_id(Ipv4Addr::new(203, 0, 113, 2))
            .establish_timeout(ESTABLISH),
        n as usize,
    )?;
    by(
        "the collector's session",
        Instant::now() + ESTABLISH,
        |left| collector.wait_established(left),
    )?;
    thread::sleep(s.settle);
    check_alive(target)?;
    let before = measure::usage(&target.pids())?;
    let limit = Duration::from_secs_f64((60.0 + 0.12 * plan.peers as f64) * s.limit_factor);
    let sessions: Vec<(IpAddr, u32)> = sources.iter().map(|a| (*a, MANY_ASN)).collect();
    let mut mspec = ManySpec::new(tg_addr, TARGET_ASN, sessions);
    mspec.per_session = LoadSpec::ipv4(plan.per_peer);
    mspec.max_connecting = plan.connecting;
    mspec.establish_timeout = limit;
    let t0 = Instant::now();
    let deadline = t0 + limit;
    let m = ManyLoaders::start(&t.ld, mspec)?;
    let up = by("every session established", deadline, |left| {
        m.wait_established(left)
    })?;
    m.announce()?;
    let all = by("all prefixes at the collector", deadline, |left| {
        collector.wait_until_count(n, left)
    })?;
    let in_fib = match &watcher {
        Some(w) => Some(by("all routes in the FIB", deadline, |left| {
            w.wait_until_count(n, left)
        })?),
        None => None,
    };
    let sent = by("the loaders' writes", deadline, |left| {
        m.wait_announced(left)
    })?;
    let after = measure::usage(&target.pids())?;
    check_alive(target)?;
    let counted = collector.count();
    if counted != n {
        return Err(
            anyhow!("the collector counts {counted} distinct prefixes, expected {n}").into(),
        );
    }
    run.set(Metric::Established, (up - t0).as_secs_f64());
    run.set(Metric::Relay, (all - sent.started).as_secs_f64());
    run.set(Metric::Total, (all - t0).as_secs_f64());
    if let Some(at) = in_fib {
        run.set(Metric::Fib, (at - sent.started).as_secs_f64());
    }
    run.set(
        Metric::PerSession,
        (after.rss_kib as f64 - before.rss_kib as f64) / plan.peers as f64,
    );
    run.set(Metric::PeakRss, mib(after.hwm_kib));
    run.set(Metric::Cpu, after.cpu_s);
    run.notes.push(format!(
        "RSS {} KiB before the sessions, {} KiB with them; {} connection retries",
        before.rss_kib,
        after.rss_kib,
        m.retries()
    ));
    drop(m);
    drop(collector);
    drop(watcher);
    Ok(())
}

/// The load of a scenario at a scale.
pub fn relay_plan(id: ScenarioId, scale: u64) -> Result<RelayPlan> {
    let n = scale.max(10);
    match id {
        ScenarioId::A => RelayPlan::build(&LoadSpec::ipv4(n), 1, true, false),
        ScenarioId::E => RelayPlan::build(&LoadSpec::ipv4(n), 1, true, true),
        ScenarioId::B => RelayPlan::build(&LoadSpec::ipv4(n), 1, false, false),
        ScenarioId::C => RelayPlan::build(
            &LoadSpec::ipv4(n).attrs(AttrSets::Sets(1000)),
            1,
            true,
            false,
        ),
        ScenarioId::D => RelayPlan::build(&LoadSpec::ipv4(n / 10), 10, true, false),
        ScenarioId::G => RelayPlan::build(&LoadSpec::ipv6(n / 5).prefix_len(64), 1, true, false),
        ScenarioId::F => bail!("(f) is not a relay scenario"),
    }
}

/// What a scenario runs, in words (for the report).
pub fn describe(id: ScenarioId, scale: u64, many: &ManyPlan) -> String {
    let n = scale.max(10);
    match id {
        ScenarioId::A => format!("1 peer × {n} IPv4 /32, one attribute set, FIB on"),
        ScenarioId::B => format!("1 peer × {n} IPv4 /32, one attribute set, FIB off"),
        ScenarioId::C => format!("1 peer × {n} IPv4 /32, 1000 attribute sets, FIB on"),
        ScenarioId::D => format!(
            "10 peers × {} IPv4 /32 (distinct), one attribute set each, FIB on",
            n / 10
        ),
        ScenarioId::E => format!("withdrawal of all {n} after (a) (same run as (a)), FIB on"),
        ScenarioId::F => format!(
            "{} peers × {} IPv4 /32 via dynamic neighbours (198.18.0.0/15, one AS), FIB on; \
             the loader opens at most {} connections at a time",
            many.peers, many.per_peer, many.connecting
        ),
        ScenarioId::G => format!("1 peer × {} IPv6 /64, one attribute set, FIB on", n / 5),
    }
}
