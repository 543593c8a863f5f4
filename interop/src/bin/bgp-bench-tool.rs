//! `bgp-bench-tool`: the benchmark's loader and collector (`interop::bench`) by hand, in the
//! namespace it runs in (use `ip netns exec NS bgp-bench-tool ...`).
//!
//! ```text
//! bgp-bench-tool load --connect 198.51.100.2 --asn 65001 --peer-asn 64512 \
//!     --prefixes 1000000 --len 32 --attr-sets 1
//! bgp-bench-tool collect --listen 0.0.0.0:179 --asn 65002 --peer-asn 64512 \
//!     --router-id 192.0.2.9 --expect 1000000
//! ```
//!
//! Both run until `--duration` has passed (or the count is reached, for `collect --exit`),
//! then close their session with a Cease.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use interop::Family;
use interop::bench::{AttrSets, Collector, LoadSpec, Loader, Netns, SessionConfig, rate};

#[derive(Parser, Debug)]
#[command(
    name = "bgp-bench-tool",
    about = "BGP load generator and collector for benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Announce N prefixes to a peer as fast as it takes them, then hold the session.
    Load(LoadArgs),
    /// Count the distinct prefixes a peer announces.
    Collect(CollectArgs),
}

#[derive(Args, Debug)]
struct Session {
    /// Connect to this peer address (port --port).
    #[arg(long, conflicts_with = "listen")]
    connect: Option<IpAddr>,
    /// Listen on ADDR:PORT and accept the peer (the one given by --peer, or anyone).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The peer's address when listening (default: accept any).
    #[arg(long)]
    peer: Option<IpAddr>,
    /// Our source address (default: the one the kernel would use towards the peer).
    #[arg(long)]
    local: Option<IpAddr>,
    /// The peer's port when connecting.
    #[arg(long, default_value_t = 179)]
    port: u16,
    /// Our AS.
    #[arg(long)]
    asn: u32,
    /// The peer's AS.
    #[arg(long)]
    peer_asn: u32,
    /// Our BGP identifier (default: from the local address).
    #[arg(long)]
    router_id: Option<Ipv4Addr>,
    /// Hold time offered, seconds.
    #[arg(long, default_value_t = 90)]
    hold_time: u16,
    /// Seconds to wait for the session to come up.
    #[arg(long, default_value_t = 60)]
    establish_timeout: u64,
    /// How long to keep running, seconds.
    #[arg(long, default_value_t = 3600)]
    duration: u64,
}

#[derive(Args, Debug)]
struct LoadArgs {
    #[command(flatten)]
    session: Session,
    /// How many prefixes.
    #[arg(long, default_value_t = 100_000)]
    prefixes: u64,
    /// Prefix length (32 or less for IPv4, 128 or less for IPv6).
    #[arg(long)]
    len: Option<u8>,
    /// ipv4 or ipv6 (default: the local address's family).
    #[arg(long)]
    family: Option<String>,
    /// The first prefix (default 100.64.0.0 or 2001:db8:1000::).
    #[arg(long)]
    base: Option<IpAddr>,
    /// Attribute sets: a number k (contiguous chunks), or `per-prefix`.
    #[arg(long, default_value = "1")]
    attr_sets: String,
    /// Next hop (default: the local address).
    #[arg(long)]
    next_hop: Option<IpAddr>,
    /// Withdraw everything after this many seconds (then keep holding).
    #[arg(long)]
    withdraw_after: Option<u64>,
}

#[derive(Args, Debug)]
struct CollectArgs {
    #[command(flatten)]
    session: Session,
    /// Families to ask for (repeat; default: the local address's family).
    #[arg(long)]
    family: Vec<String>,
    /// Report when this many distinct prefixes are there.
    #[arg(long)]
    expect: Option<u64>,
    /// Exit once --expect is reached.
    #[arg(long)]
    exit: bool,
}

fn family(s: &str) -> Result<Family> {
    match s {
        "ipv4" | "4" => Ok(Family::Ipv4),
        "ipv6" | "6" => Ok(Family::Ipv6),
        _ => bail!("family {s:?}: ipv4 or ipv6"),
    }
}

/// The source address the kernel picks towards `peer` (a UDP "connect" sends nothing).
fn source_towards(peer: IpAddr) -> Result<IpAddr> {
    let any: SocketAddr = match peer {
        IpAddr::V4(_) => "0.0.0.0:0".parse()?,
        IpAddr::V6(_) => "[::]:0".parse()?,
    };
    let s = UdpSocket::bind(any)?;
    s.connect(SocketAddr::new(peer, 179))
        .with_context(|| format!("no route to {peer}"))?;
    Ok(s.local_addr()?.ip())
}

fn config(s: &Session) -> Result<SessionConfig> {
    let mut cfg = match (s.connect, s.listen) {
        (Some(peer), None) => {
            let local = match s.local {
                Some(l) => l,
                None => source_towards(peer)?,
            };
            SessionConfig::new(local, s.asn, peer, s.peer_asn).port(s.port)
        }
        (None, Some(at)) => {
            let peer = s.peer.unwrap_or(match at.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            });
            if at.ip().is_unspecified() && s.router_id.is_none() {
                bail!("listening on {at}: give --router-id");
            }
            SessionConfig::new(at.ip(), s.asn, peer, s.peer_asn)
                .listen()
                .port(at.port())
        }
        _ => bail!("give --connect PEER or --listen ADDR:PORT"),
    };
    if let Some(id) = s.router_id {
        cfg = cfg.router_id(id);
    }
    Ok(cfg
        .hold_time(s.hold_time)
        .establish_timeout(Duration::from_secs(s.establish_timeout)))
}

fn load(a: &LoadArgs) -> Result<()> {
    let mut cfg = config(&a.session)?;
    let fam = match &a.family {
        Some(f) => family(f)?,
        None => Family::of(cfg.local_addr),
    };
    let mut spec = match fam {
        Family::Ipv4 => LoadSpec::ipv4(a.prefixes),
        Family::Ipv6 => LoadSpec::ipv6(a.prefixes),
    };
    if let Some(l) = a.len {
        spec = spec.prefix_len(l);
    }
    if let Some(b) = a.base {
        spec = spec.base(b);
    }
    if let Some(nh) = a.next_hop {
        spec = spec.next_hop(nh);
    }
    spec = spec.attrs(match a.attr_sets.as_str() {
        "per-prefix" => AttrSets::PerPrefix,
        "1" => AttrSets::One,
        k => AttrSets::Sets(k.parse().context("--attr-sets: a number or per-prefix")?),
    });
    cfg = cfg.families(&[fam]);
    let t0 = Instant::now();
    let loader = Loader::start(Netns::Current, cfg, &spec)?;
    let u = loader.updates();
    println!(
        "built {} UPDATEs ({} octets) for {} in {:.2?}",
        u.announce_messages,
        u.announce.len(),
        u.range,
        t0.elapsed()
    );
    let est = loader.wait_established(Duration::from_secs(a.session.establish_timeout))?;
    println!(
        "established with {} (AS {}), hold time {} s",
        est.peer,
        est.peer_open.asn(),
        est.hold_time
    );
    loader.announce()?;
    let sent = loader.wait_announced(Duration::from_secs(a.session.duration))?;
    println!(
        "wrote {} messages ({} octets) in {:.2?}: {:.0} prefixes/s into the socket",
        sent.messages,
        sent.octets,
        sent.duration(),
        rate(a.prefixes, sent.duration())
    );
    let end = Instant::now() + Duration::from_secs(a.session.duration);
    let mut withdraw_at = a
        .withdraw_after
        .map(|s| Instant::now() + Duration::from_secs(s));
    while Instant::now() < end {
        if let Some(why) = loader.closed() {
            bail!("session closed: {why}");
        }
        if withdraw_at.is_some_and(|t| Instant::now() >= t) {
            withdraw_at = None;
            loader.withdraw()?;
            let w = loader.wait_withdrawn(Duration::from_secs(600))?;
            println!(
                "withdrew everything: {} messages in {:.2?}",
                w.messages,
                w.duration()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn collect(a: &CollectArgs) -> Result<()> {
    let mut cfg = config(&a.session)?;
    let families: Vec<Family> = if a.family.is_empty() {
        vec![Family::of(cfg.local_addr)]
    } else {
        a.family.iter().map(|f| family(f)).collect::<Result<_>>()?
    };
    cfg = cfg.families(&families);
    let collector = Collector::with_capacity(
        Netns::Current,
        cfg,
        a.expect.unwrap_or(0).min(16 << 20) as usize,
    )?;
    let est = collector.wait_established(Duration::from_secs(a.session.establish_timeout))?;
    println!(
        "established with {} (AS {}), hold time {} s",
        est.peer,
        est.peer_open.asn(),
        est.hold_time
    );
    let end = Instant::now() + Duration::from_secs(a.session.duration);
    let mut first: Option<Instant> = None;
    let mut reported = false;
    let mut last = 0;
    while Instant::now() < end {
        if let Some(why) = collector.closed() {
            bail!("session closed: {why}");
        }
        let count = collector.count();
        if first.is_none() && count > 0 {
            first = collector.wait_until_count(1, Duration::ZERO).ok();
        }
        if count != last {
            let t = collector.totals();
            println!(
                "{count} distinct ({} IPv4, {} IPv6); {} UPDATEs, {} withdrawn",
                t.ipv4, t.ipv6, t.updates, t.withdrawn
            );
            last = count;
        }
        if let (Some(n), false) = (a.expect, reported)
            && count >= n
        {
            let at = collector.wait_until_count(n, Duration::ZERO)?;
            let since = first.map(|f| at - f).unwrap_or_default();
            if since.is_zero() {
                println!("all {n} there, all in the first read");
            } else {
                println!(
                    "all {n} there {since:.2?} after the first: {:.0} prefixes/s",
                    rate(n, since)
                );
            }
            reported = true;
            if a.exit {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(1000));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Load(a) => load(a),
        Command::Collect(a) => collect(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgp-bench-tool: {e:#}");
            ExitCode::FAILURE
        }
    }
}
