//! BIRD 2.0: `bird -f` in a node, queried with `birdc -s SOCK`. BIRD has no JSON output, so
//! `show route all` and `show protocols all` are parsed from text (unit tests run the
//! parsers on output captured from BIRD 2.0.12, in `testdata/bird/`).

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::config::{BgpConfig, Direction, Neighbor, Origin, Policy};
use crate::daemon::Daemon;
use crate::lab::{COMMAND_TIMEOUT, Node, NodeProcess, require_programs};
use crate::process::{self, show_argv};
use crate::types::{Community, Family, LargeCommunity, Prefix, Route, SessionState};
use crate::wait::wait_until;

/// How long BIRD gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running BIRD in one node.
#[derive(Debug)]
pub struct Bird {
    node: Node,
    config: BgpConfig,
    conf: PathBuf,
    sock: PathBuf,
    /// `None` between [`Bird::graceful_restart`] (or [`Bird::stop`]) and [`Bird::start_again`].
    process: Option<NodeProcess>,
    /// Protocols with every debug trace on ([`Bird::debug_all`]).
    debug: Vec<String>,
    /// Started from a given `bird.conf` ([`Bird::start_from_file`]): the file is never
    /// rewritten, and `config` holds only the router ID and AS read from it.
    from_file: bool,
}

impl Bird {
    /// Writes the configuration, checks it with `bird -p`, starts BIRD and waits until it
    /// answers on its control socket.
    pub fn start(node: &Node, config: BgpConfig) -> Result<Bird> {
        require_programs(&["bird", "birdc"])?;
        config.validate()?;
        let conf = node.dir().join("bird.conf");
        let sock = node.dir().join("bird.ctl");
        fs::write(&conf, render(&config))?;
        let c = conf.to_string_lossy().into_owned();
        process::run_checked(&["bird", "-p", "-c", &c], COMMAND_TIMEOUT)
            .with_context(|| format!("BIRD rejects {c}"))?;
        let mut bird = Bird {
            node: node.clone(),
            config,
            conf,
            sock,
            process: None,
            debug: Vec::new(),
            from_file: false,
        };
        bird.spawn(false)?;
        Ok(bird)
    }

    /// Starts BIRD with a given configuration file (copied into the node's directory as
    /// `bird.conf`, checked with `bird -p`). Sessions are found by neighbor address in
    /// `show protocols all`; [`Bird::config`] holds only the router ID and the first
    /// `local ... as N` read from the file, so `reconfigure` and `set_policy` fail.
    pub fn start_from_file(node: &Node, bird_conf: &Path) -> Result<Bird> {
        require_programs(&["bird", "birdc"])?;
        let text = fs::read_to_string(bird_conf)
            .with_context(|| format!("read {}", bird_conf.display()))?;
        let conf = node.dir().join("bird.conf");
        let sock = node.dir().join("bird.ctl");
        fs::write(&conf, &text)?;
        let c = conf.to_string_lossy().into_owned();
        process::run_checked(&["bird", "-p", "-c", &c], COMMAND_TIMEOUT)
            .with_context(|| format!("BIRD rejects {}", bird_conf.display()))?;
        let mut bird = Bird {
            node: node.clone(),
            config: file_summary(&text),
            conf,
            sock,
            process: None,
            debug: Vec::new(),
            from_file: true,
        };
        bird.spawn(false)?;
        Ok(bird)
    }

    /// The control socket (`birdc -s PATH`).
    pub fn ctl_socket(&self) -> &Path {
        &self.sock
    }

    /// BIRD's PID, while it runs.
    pub fn pids(&self) -> Vec<u32> {
        self.process.iter().map(|p| p.pid()).collect()
    }

    /// `show protocols all`, parsed: every protocol.
    pub fn protocols(&self) -> Result<Vec<BirdProtocol>> {
        parse_protocols(&self.birdc(&["show", "protocols", "all"])?)
    }

    /// Starts `bird -f` (with `-R`, graceful-restart recovery, if asked) and waits until it
    /// answers on its control socket. Every run appends to the same `bird.log`.
    fn spawn(&mut self, recovery: bool) -> Result<()> {
        if self.process.is_some() {
            bail!("{}: BIRD is already running", self.name_());
        }
        let c = self.conf.to_string_lossy().into_owned();
        let s = self.sock.to_string_lossy().into_owned();
        let mut argv = vec!["bird", "-f", "-c", &c, "-s", &s];
        if recovery {
            argv.push("-R");
        }
        let process = self.node.spawn("bird", &argv)?;
        wait_until(
            &format!("bird@{}'s control socket", self.node.name()),
            START_TIMEOUT,
            || {
                process.ensure_running()?;
                let out =
                    process::run_checked(&["birdc", "-s", &s, "show", "status"], COMMAND_TIMEOUT)?;
                ensure!(out.contains("Daemon is up and running"), "status: {out}");
                Ok(())
            },
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// `birdc graceful restart`: BIRD shuts down for a graceful restart (closes its BGP
    /// sessions without a NOTIFICATION, so graceful-restart peers keep its routes) and exits.
    /// Waits for the exit; [`Bird::start_again`] with `recovery` brings it back.
    pub fn graceful_restart(&mut self) -> Result<()> {
        let Some(p) = self.process.as_ref() else {
            bail!("{}: BIRD is not running", self.name_());
        };
        let out = self.birdc(&["graceful", "restart"])?;
        ensure!(
            out.contains("Graceful restart"),
            "{}: graceful restart: {out}",
            self.name_()
        );
        wait_until(
            &format!("{} to exit for a graceful restart", self.name_()),
            START_TIMEOUT,
            || match p.try_status() {
                Some(_) => Ok(()),
                None => bail!("still running"),
            },
        )?;
        self.process = None;
        Ok(())
    }

    /// Stops BIRD with TERM (a regular shutdown: its BGP sessions are closed with a Cease).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(p) = self.process.take() {
            p.stop(process::DEFAULT_GRACE)?;
        }
        Ok(())
    }

    /// Starts BIRD again with the current configuration (rewritten from [`Bird::config`]);
    /// `recovery` passes `-R`: BIRD comes back as a graceful-restarting speaker (R bit, F bit).
    pub fn start_again(&mut self, recovery: bool) -> Result<()> {
        if !self.from_file {
            fs::write(&self.conf, self.render())?;
        }
        self.spawn(recovery)
    }

    /// Every line BIRD logged, over all its runs (`log stderr all`; `birdc debug NAME all`
    /// adds packet traces such as `NAME: Got ROUTE-REFRESH`).
    pub fn full_log(&self) -> String {
        fs::read_to_string(self.node.dir().join("bird.log")).unwrap_or_default()
    }

    /// The current configuration.
    pub fn config(&self) -> &BgpConfig {
        &self.config
    }

    /// Runs `birdc -s SOCK ARGS...`; fails on a non-zero exit or a syntax error reply.
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let s = self.sock.to_string_lossy();
        let mut argv = vec!["birdc", "-s", &s];
        argv.extend_from_slice(args);
        let out = process::run(&argv, COMMAND_TIMEOUT)?;
        if !out.status.success() || out.stdout.contains("syntax error") {
            bail!(
                "{}: `{}` failed ({}): {}{}",
                self.name_(),
                show_argv(&argv),
                out.status,
                out.stdout.trim(),
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// The BIRD protocol name of the session with `peer`.
    pub fn protocol_name(&self, peer: IpAddr) -> Result<String> {
        if !self.from_file {
            return Ok(self.config.find_neighbor(peer)?.name.clone());
        }
        let all = self.protocols()?;
        all.iter()
            .find(|p| p.neighbor_address == Some(peer))
            .map(|p| p.name.clone())
            .ok_or_else(|| {
                anyhow!(
                    "{}: no BGP protocol with neighbor {peer} (have: {})",
                    self.name_(),
                    all.iter()
                        .filter_map(|p| p.neighbor_address.map(|a| format!("{} {a}", p.name)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// `show protocols all NAME`, parsed.
    pub fn protocol(&self, name: &str) -> Result<BirdProtocol> {
        let out = self.birdc(&["show", "protocols", "all", name])?;
        parse_protocols(&out)?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| anyhow!("{}: no protocol {name} in:\n{out}", self.name_()))
    }

    /// The BGP protocol of the session with `peer`, parsed.
    pub fn protocol_for(&self, peer: IpAddr) -> Result<BirdProtocol> {
        self.protocol(&self.protocol_name(peer)?)
    }

    /// Turns on every debug trace of the session with `peer` (`debug all` in its protocol,
    /// applied at once with `birdc debug NAME all`): BIRD then logs each message it sends and
    /// gets (`NAME: Got ROUTE-REFRESH`, `NAME: Sending END-OF-RIB`, ...), see
    /// [`Bird::full_log`]. It is written into the configuration because `birdc configure`
    /// resets what `birdc debug` set.
    pub fn debug_all(&mut self, peer: IpAddr) -> Result<()> {
        let name = self.protocol_name(peer)?;
        if !self.debug.contains(&name) {
            self.debug.push(name.clone());
        }
        if !self.from_file {
            fs::write(&self.conf, self.render())?;
        }
        self.birdc(&["debug", &name, "all"]).map(drop)
    }

    fn render(&self) -> String {
        render_with_debug(&self.config, &self.debug)
    }

    /// Rewrites the configuration file from [`Bird::config`] and runs `birdc configure`.
    pub fn configure(&self) -> Result<()> {
        if !self.from_file {
            fs::write(&self.conf, self.render())?;
        }
        let out = self.birdc(&["configure"])?;
        ensure!(
            out.contains("Reconfigured") || out.contains("Reconfiguration in progress"),
            "{}: configure: {out}",
            self.name_()
        );
        Ok(())
    }

    /// Changes the configuration and applies it with `birdc configure`. BIRD reloads or
    /// refeeds the channels whose filters changed.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut BgpConfig)) -> Result<()> {
        ensure!(
            !self.from_file,
            "{}: started from a configuration file; the harness does not rewrite it",
            self.name_()
        );
        let mut cfg = self.config.clone();
        change(&mut cfg);
        cfg.validate()?;
        let old = std::mem::replace(&mut self.config, cfg);
        if let Err(e) = self.configure() {
            self.config = old;
            return Err(e);
        }
        Ok(())
    }

    /// Replaces one neighbor's import or export policy.
    pub fn set_policy(&mut self, peer: IpAddr, dir: Direction, policy: Policy) -> Result<()> {
        self.config.find_neighbor(peer)?;
        self.reconfigure(|c| {
            if let Ok(n) = c.find_neighbor_mut(peer) {
                match dir {
                    Direction::Import => n.import = policy,
                    Direction::Export => n.export = policy,
                }
            }
        })
    }

    /// `birdc disable NAME`: closes the session (Cease) and keeps it down.
    pub fn disable(&self, peer: IpAddr) -> Result<()> {
        self.birdc(&["disable", &self.protocol_name(peer)?])
            .map(drop)
    }

    /// `birdc enable NAME`.
    pub fn enable(&self, peer: IpAddr) -> Result<()> {
        self.birdc(&["enable", &self.protocol_name(peer)?])
            .map(drop)
    }

    /// `birdc reload in NAME`: asks the neighbor to resend (ROUTE-REFRESH).
    pub fn reload_in(&self, peer: IpAddr) -> Result<()> {
        self.birdc(&["reload", "in", &self.protocol_name(peer)?])
            .map(drop)
    }

    /// `birdc reload out NAME`: re-sends everything to the neighbor.
    pub fn reload_out(&self, peer: IpAddr) -> Result<()> {
        self.birdc(&["reload", "out", &self.protocol_name(peer)?])
            .map(drop)
    }

    /// `show route all` for one family with BIRD's own details (protocol, time of last
    /// change); `route.peer` is filled in from the configuration.
    pub fn bird_routes(&self, family: Family) -> Result<Vec<BirdRoute>> {
        let table = match family {
            Family::Ipv4 => "master4",
            Family::Ipv6 => "master6",
        };
        let out = self.birdc(&["show", "route", "all", "table", table])?;
        let mut routes = parse_routes(&out)?;
        let by_protocol: Vec<(String, IpAddr)> = if self.from_file {
            self.protocols()?
                .into_iter()
                .filter_map(|p| p.neighbor_address.map(|a| (p.name, a)))
                .collect()
        } else {
            self.config
                .neighbors
                .iter()
                .map(|n| (n.name.clone(), n.address))
                .collect()
        };
        for br in &mut routes {
            br.route.peer = by_protocol
                .iter()
                .find(|(name, _)| *name == br.protocol)
                .map(|(_, a)| *a);
        }
        Ok(routes)
    }

    fn name_(&self) -> String {
        format!("bird@{}", self.node.name())
    }
}

impl Daemon for Bird {
    fn name(&self) -> String {
        self.name_()
    }

    fn node(&self) -> &Node {
        &self.node
    }

    fn session_state(&self, peer: IpAddr) -> Result<SessionState> {
        let p = self.protocol_for(peer)?;
        let s = p
            .bgp_state
            .ok_or_else(|| anyhow!("protocol {} shows no BGP state", p.name))?;
        Ok(SessionState::from_name(&s))
    }

    fn routes(&self, family: Family) -> Result<Vec<Route>> {
        Ok(self
            .bird_routes(family)?
            .into_iter()
            .map(|br| br.route)
            .collect())
    }

    fn originate(&mut self, origin: Origin) -> Result<()> {
        self.reconfigure(|c| c.originate.push(origin))
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        ensure!(
            self.config.originate.iter().any(|o| o.prefix == prefix),
            "{}: {prefix} is not originated",
            self.name_()
        );
        self.reconfigure(|c| c.originate.retain(|o| o.prefix != prefix))
    }

    fn log_tail(&self, lines: usize) -> String {
        process::log_tail(&self.node.dir().join("bird.log"), lines)
    }

    fn ensure_running(&self) -> Result<()> {
        match &self.process {
            Some(p) => p.ensure_running(),
            None => bail!("{}: BIRD is stopped", self.name_()),
        }
    }
}

/// What the harness keeps from a given `bird.conf`: `router id A;` and the first
/// `local [ADDR] as N;` (0.0.0.0 and 0 when absent).
fn file_summary(text: &str) -> BgpConfig {
    let mut router_id = std::net::Ipv4Addr::UNSPECIFIED;
    let mut asn = None;
    let code: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in code.split([';', '{', '}', '\n']).map(str::trim) {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        match words.as_slice() {
            ["router", "id", a] => router_id = a.parse().unwrap_or(router_id),
            ["local", .., "as", n] if asn.is_none() => asn = n.parse().ok(),
            _ => {}
        }
    }
    BgpConfig::new(asn.unwrap_or(0), router_id)
}

/// Renders `bird.conf`.
pub fn render(c: &BgpConfig) -> String {
    render_with_debug(c, &[])
}

/// Renders `bird.conf` with `debug all` in the named protocols.
fn render_with_debug(c: &BgpConfig, debug: &[String]) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# generated by the interop harness");
    let _ = writeln!(w, "router id {};", c.router_id);
    let _ = writeln!(w, "log stderr all;");
    // Mandatory: without it BGP never sees directly connected neighbors.
    let _ = writeln!(w, "protocol device {{ scan time 10; }}");
    for f in [Family::Ipv4, Family::Ipv6] {
        let v = if f == Family::Ipv4 { 4 } else { 6 };
        let _ = writeln!(w, "protocol static origin{v} {{");
        let _ = writeln!(w, "  {f};");
        for o in c.originate.iter().filter(|o| o.prefix.family() == f) {
            let _ = write!(w, "  route {} blackhole", o.prefix);
            let attrs = attr_statements(&o.communities, &o.large_communities, None);
            if attrs.is_empty() {
                let _ = writeln!(w, ";");
            } else {
                let _ = writeln!(w, " {{ {attrs}}};");
            }
        }
        let _ = writeln!(w, "}}");
    }
    for n in &c.neighbors {
        for f in [Family::Ipv4, Family::Ipv6] {
            if !n.has_family(f) {
                continue;
            }
            for dir in [Direction::Import, Direction::Export] {
                let _ = writeln!(w, "{}", filter(c, n, f, dir));
            }
        }
    }
    for n in &c.neighbors {
        let _ = writeln!(w, "protocol bgp {} {{", n.name);
        match n.local_address {
            Some(l) => {
                let _ = writeln!(w, "  local {l} as {};", c.asn);
            }
            None => {
                let _ = writeln!(w, "  local as {};", c.asn);
            }
        }
        let _ = writeln!(w, "  neighbor {} as {};", n.address, n.remote_as);
        let t = &c.timers;
        let _ = writeln!(w, "  hold time {}; keepalive time {};", t.hold, t.keepalive);
        // Defaults are 120 s retry, 5 s initial delay and 60..300 s after an error.
        let _ = writeln!(
            w,
            "  connect retry time {}; connect delay time 1; error wait time 1, 5;",
            t.connect_retry
        );
        if let Some(p) = &n.password {
            let _ = writeln!(w, "  password \"{p}\";");
        }
        if n.passive {
            let _ = writeln!(w, "  passive on;");
        }
        if debug.contains(&n.name) {
            let _ = writeln!(w, "  debug all;");
        }
        match n.graceful_restart {
            Some(t) => {
                let _ = writeln!(w, "  graceful restart on; graceful restart time {t};");
            }
            None => {
                let _ = writeln!(w, "  graceful restart off;");
            }
        }
        for f in [Family::Ipv4, Family::Ipv6] {
            if n.has_family(f) {
                let _ = writeln!(
                    w,
                    "  {f} {{ import filter {}; export filter {}; }};",
                    filter_name(n, f, Direction::Import),
                    filter_name(n, f, Direction::Export)
                );
            }
        }
        let _ = writeln!(w, "}}");
    }
    if !c.raw.is_empty() {
        let _ = write!(w, "{}", c.raw);
    }
    s
}

fn filter_name(n: &Neighbor, f: Family, dir: Direction) -> String {
    let v = if f == Family::Ipv4 { 4 } else { 6 };
    format!("{}_{}{v}", n.name, dir.short())
}

fn attr_statements(comms: &[Community], large: &[LargeCommunity], med: Option<u32>) -> String {
    let mut s = String::new();
    for c in comms {
        let _ = write!(s, "bgp_community.add(({},{})); ", c.0, c.1);
    }
    for c in large {
        let _ = write!(s, "bgp_large_community.add(({},{},{})); ", c.0, c.1, c.2);
    }
    if let Some(m) = med {
        let _ = write!(s, "bgp_med = {m}; ");
    }
    s
}

/// One channel filter. BIRD sends MED to an eBGP neighbor only if the export filter set it,
/// so originated MEDs are set here rather than on the static routes.
fn filter(c: &BgpConfig, n: &Neighbor, f: Family, dir: Direction) -> String {
    let p = n.policy(dir);
    let mut s = format!("filter {} {{\n", filter_name(n, f, dir));
    let rejects = p.reject_of(f);
    if !rejects.is_empty() {
        let set = rejects
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "  if net ~ [ {set} ] then reject;");
    }
    if dir == Direction::Export {
        for o in c.originate.iter().filter(|o| o.prefix.family() == f) {
            if let Some(m) = o.med {
                let _ = writeln!(
                    s,
                    "  if source = RTS_STATIC && net = {} then bgp_med = {m};",
                    o.prefix
                );
            }
        }
    }
    let attrs = attr_statements(&p.add_communities, &p.add_large_communities, p.set_med);
    if !attrs.is_empty() {
        let _ = writeln!(s, "  {attrs}");
    }
    s.push_str("  accept;\n}");
    s
}

/// One path from `show route all`, with the BIRD protocol it came from (`peer` is left
/// `None`; [`Bird::routes`] fills it in from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdRoute {
    /// The path.
    pub route: Route,
    /// The protocol that imported it (a BGP session or a static protocol).
    pub protocol: String,
    /// When BIRD last changed the route, as printed (`03:10:40.218`). A route refreshed with
    /// the same attributes (e.g. after a graceful restart) keeps its time; a route withdrawn
    /// and learned again gets a new one. Compare with [`same_time`]: the printed millisecond
    /// can move by one between two queries.
    pub since: String,
    /// `BGP.local_pref` (BIRD shows it on every BGP route, iBGP or not).
    pub local_pref: Option<u32>,
}

/// Whether two times BIRD printed (`BirdRoute::since`, `BirdProtocol::since`) are the same
/// moment. BIRD keeps them on its monotonic clock and prints them converted to wall-clock time
/// against the current offset between the two clocks, so the same route shows `23.683` in one
/// `show route` and `23.682` in the next: `hh:mm:ss.mmm` times within 2 ms of each other count
/// as the same; other formats must be equal.
pub fn same_time(a: &str, b: &str) -> bool {
    fn ms(t: &str) -> Option<i64> {
        let (hms, frac) = t.split_once('.')?;
        let mut parts = hms.split(':').map(|x| x.parse::<i64>().ok());
        let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
        if parts.next().is_some() || frac.len() != 3 {
            return None;
        }
        Some(((h * 60 + m) * 60 + s) * 1000 + frac.parse::<i64>().ok()?)
    }
    match (ms(a), ms(b)) {
        (Some(x), Some(y)) => {
            let d = (x - y).rem_euclid(86_400_000);
            d.min(86_400_000 - d) <= 2
        }
        _ => a == b,
    }
}

/// Parses `birdc show route all` (BIRD 2.0). "Network not found" gives no routes.
pub fn parse_routes(text: &str) -> Result<Vec<BirdRoute>> {
    let mut out: Vec<BirdRoute> = Vec::new();
    let mut current_prefix: Option<Prefix> = None;
    for (i, line) in text.lines().enumerate() {
        let ctx = || format!("line {}: {line:?}", i + 1);
        if line.trim().is_empty()
            || line.starts_with("BIRD ")
            || line.starts_with("Table ")
            || line.trim() == "Network not found"
        {
            continue;
        }
        if let Some(attr) = line.strip_prefix('\t') {
            let br = out
                .last_mut()
                .ok_or_else(|| anyhow!("attribute before any route"))
                .with_context(ctx)?;
            if let Some(v) = attr.strip_prefix("BGP.local_pref:") {
                br.local_pref = Some(
                    v.trim()
                        .parse()
                        .with_context(|| format!("LOCAL_PREF {v:?}"))
                        .with_context(ctx)?,
                );
            }
            parse_route_attr(&mut br.route, attr).with_context(ctx)?;
            continue;
        }
        let rest = if line.starts_with(char::is_whitespace) {
            line.trim()
        } else {
            let (p, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            current_prefix = Some(p.parse().with_context(ctx)?);
            rest.trim()
        };
        let prefix = current_prefix
            .ok_or_else(|| anyhow!("route line before any prefix"))
            .with_context(ctx)?;
        out.push(parse_route_header(prefix, rest).with_context(ctx)?);
    }
    Ok(out)
}

/// `unicast [frr_v4 03:10:40.218 from 192.0.2.1] * (100s) [AS4200000001i]`
fn parse_route_header(prefix: Prefix, rest: &str) -> Result<BirdRoute> {
    let open = rest.find('[').ok_or_else(|| anyhow!("no [protocol ...]"))?;
    let close = rest[open..]
        .find(']')
        .map(|j| open + j)
        .ok_or_else(|| anyhow!("no closing ]"))?;
    let dest = rest[..open].trim();
    ensure!(
        !dest.is_empty() && !dest.contains(char::is_whitespace),
        "bad route type {dest:?}"
    );
    let mut bracket = rest[open + 1..close].split_whitespace();
    let protocol = bracket
        .next()
        .ok_or_else(|| anyhow!("empty [protocol ...]"))?
        .to_string();
    let since = bracket
        .take_while(|t| *t != "from")
        .collect::<Vec<_>>()
        .join(" ");
    let after = rest[close + 1..].trim();
    let best = after.starts_with('*');
    let stale = match (after.find('('), after.find(')')) {
        (Some(a), Some(b)) if a < b => after[a + 1..b].chars().any(|c| c == 's'),
        _ => false,
    };
    Ok(BirdRoute {
        route: Route {
            prefix,
            as_path: Vec::new(),
            next_hop: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            med: None,
            peer: None,
            best,
            stale,
        },
        protocol,
        since,
        local_pref: None,
    })
}

fn parse_route_attr(r: &mut Route, attr: &str) -> Result<()> {
    let Some((key, value)) = attr.split_once(':') else {
        return Ok(()); // "via 192.0.2.1 on eth0" and similar
    };
    let value = value.trim();
    match key {
        "BGP.as_path" => {
            r.as_path = value
                .split(|c: char| c.is_whitespace() || c == '{' || c == '}')
                .filter(|t| !t.is_empty())
                .map(|t| t.parse::<u32>().with_context(|| format!("AS {t:?}")))
                .collect::<Result<_>>()?;
        }
        "BGP.next_hop" => {
            let first = value.split_whitespace().next().unwrap_or_default();
            r.next_hop = Some(
                first
                    .parse()
                    .with_context(|| format!("next hop {first:?}"))?,
            );
        }
        "BGP.med" => r.med = Some(value.parse().with_context(|| format!("MED {value:?}"))?),
        "BGP.community" => {
            r.communities = tuples(value)
                .iter()
                .map(|t| t.replace(',', ":").parse::<Community>())
                .collect::<Result<_>>()?;
        }
        "BGP.large_community" => {
            r.large_communities = tuples(value)
                .iter()
                .map(|t| t.replace(',', ":").parse::<LargeCommunity>())
                .collect::<Result<_>>()?;
        }
        _ => {}
    }
    Ok(())
}

/// `(64511,1) (4200000001, 1, 1)` -> `["64511,1", "4200000001,1,1"]`
fn tuples(s: &str) -> Vec<String> {
    s.split('(')
        .filter_map(|t| t.split_once(')').map(|(inner, _)| inner.replace(' ', "")))
        .collect()
}

/// One protocol from `birdc show protocols all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Protocol name.
    pub name: String,
    /// Protocol type (`BGP`, `Static`, `Device`, ...).
    pub proto: String,
    /// Protocol state (`up`, `start`, `down`, ...).
    pub state: String,
    /// When the protocol state last changed, as printed (`03:12:25.718`): unchanged while a
    /// session stays up, new after any reset. Compare with [`same_time`].
    pub since: String,
    /// The Info column (for BGP: the session state, then the last error if any).
    pub info: String,
    /// `BGP state:` (`Established`, `Passive`, `Active`, `Down`, ...).
    pub bgp_state: Option<String>,
    /// `Neighbor address:`.
    pub neighbor_address: Option<IpAddr>,
    /// `Neighbor AS:`.
    pub neighbor_as: Option<u32>,
    /// BIRD is a graceful-restart helper for this neighbor right now (keeps its routes as
    /// stale): `Neighbor graceful restart active`.
    pub gr_active: bool,
    /// `Last error:`.
    pub last_error: Option<String>,
    /// The channels (`Channel ipv4`, ...) with their route change statistics.
    pub channels: Vec<BirdChannel>,
}

/// One channel of a protocol in `birdc show protocols all`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BirdChannel {
    /// `ipv4`, `ipv6`.
    pub name: String,
    /// `UP`, `START`, ...
    pub state: String,
    /// `Route change stats:` rows by name (`Import updates`, `Import withdraws`, `Export
    /// updates`, `Export withdraws`), each as received, rejected, filtered, ignored, accepted
    /// (`---` is `None`).
    pub stats: Vec<(String, [Option<u64>; 5])>,
}

impl BirdChannel {
    /// One cell of the route change statistics: `row` (e.g. `Export updates`), `column` 0..5
    /// (received, rejected, filtered, ignored, accepted). 0 when absent.
    pub fn stat(&self, row: &str, column: usize) -> u64 {
        self.stats
            .iter()
            .find(|(r, _)| r == row)
            .and_then(|(_, v)| v.get(column).copied().flatten())
            .unwrap_or(0)
    }
}

impl BirdProtocol {
    /// The channel named `name` (`ipv4`, `ipv6`).
    pub fn channel(&self, name: &str) -> Option<&BirdChannel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// Parses `birdc show protocols [all] [NAME]` (BIRD 2.0).
pub fn parse_protocols(text: &str) -> Result<Vec<BirdProtocol>> {
    let mut out: Vec<BirdProtocol> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("BIRD ") || line.starts_with("Name ") {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let t: Vec<&str> = line.split_whitespace().collect();
            ensure!(t.len() >= 5, "line {}: short protocol row {line:?}", i + 1);
            // Since is a time, or a date and a time.
            let info_at = if t[4].contains('-') && t.get(5).is_some_and(|x| x.contains(':')) {
                6
            } else {
                5
            };
            let since = t[4..info_at.min(t.len())].join(" ");
            out.push(BirdProtocol {
                name: t[0].to_string(),
                proto: t[1].to_string(),
                state: t[3].to_string(),
                since,
                info: t.get(info_at..).unwrap_or_default().join(" "),
                bgp_state: None,
                neighbor_address: None,
                neighbor_as: None,
                gr_active: false,
                last_error: None,
                channels: Vec::new(),
            });
            continue;
        }
        let Some(p) = out.last_mut() else {
            bail!("line {}: detail before any protocol: {line:?}", i + 1);
        };
        let l = line.trim();
        if let Some(name) = l.strip_prefix("Channel ") {
            p.channels.push(BirdChannel {
                name: name.trim().to_string(),
                ..BirdChannel::default()
            });
            continue;
        }
        if let Some(c) = p.channels.last_mut() {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim();
                if k == "State" {
                    c.state = v.trim().to_string();
                } else if k.starts_with("Import ") || k.starts_with("Export ") {
                    let cells: Vec<Option<u64>> =
                        v.split_whitespace().map(|x| x.parse().ok()).collect();
                    let mut row = [None; 5];
                    for (slot, cell) in row.iter_mut().zip(cells) {
                        *slot = cell;
                    }
                    c.stats.push((k.to_string(), row));
                }
            }
            continue;
        }
        if l == "Neighbor graceful restart active" {
            p.gr_active = true;
        } else if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            match k {
                "BGP state" => p.bgp_state = Some(v.to_string()),
                "Neighbor address" => p.neighbor_address = v.parse().ok(),
                "Neighbor AS" => p.neighbor_as = v.parse().ok(),
                "Last error" => p.last_error = Some(v.to_string()),
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Neighbor;
    use crate::types::prefix;

    fn sample(name: &str) -> String {
        let path = format!("{}/testdata/bird/{name}", env!("CARGO_MANIFEST_DIR"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_router_id_and_as_from_a_given_config() {
        let c = file_summary(
            "# local as 1;\nrouter id 203.0.113.2;\ntemplate bgp peer {\n  local as 4200000200;\n}\n\
             protocol bgp x from peer { local 192.0.2.1 as 7; neighbor 192.0.2.2 as 4200000201; }\n",
        );
        assert_eq!(c.asn, 4200000200);
        assert_eq!(
            c.router_id,
            "203.0.113.2".parse::<std::net::Ipv4Addr>().unwrap()
        );
        assert_eq!(file_summary("").asn, 0);
    }

    #[test]
    fn routes_with_several_paths() {
        let routes = parse_routes(&sample("route_all.txt")).unwrap();
        let summary: Vec<(String, &str, bool)> = routes
            .iter()
            .map(|r| {
                (
                    r.route.prefix.to_string(),
                    r.protocol.as_str(),
                    r.route.best,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("10.244.1.0/24".into(), "frr_v4", true),
                ("10.244.1.0/24".into(), "gobgp_v4", false),
                ("10.244.2.0/24".into(), "s4", true),
                ("10.244.3.0/24".into(), "gobgp_v4", true),
                ("10.244.3.0/24".into(), "frr_v4", false),
                ("fd00:10:244:2::/64".into(), "s6", true),
                ("fd00:10:244:1::/64".into(), "frr_v6", true),
            ]
        );
        assert_eq!(routes[0].since, "03:11:58.800");
        assert_eq!(routes[0].local_pref, Some(100));
        assert_eq!(routes[2].local_pref, None);
        let r = &routes[0].route;
        assert_eq!(r.as_path, vec![4200000001]);
        assert_eq!(r.next_hop, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.med, Some(11));
        assert_eq!(r.communities, vec![Community(64511, 1)]);
        assert_eq!(r.large_communities, vec![LargeCommunity(4200000001, 1, 1)]);
        assert!(!r.stale);
        let r = &routes[1].route;
        assert_eq!(r.as_path, vec![4200000003, 4200000001]);
        assert_eq!(r.med, None);
        // A static route: no path, no next hop, but the communities it was given.
        let r = &routes[2].route;
        assert!(r.as_path.is_empty());
        assert_eq!(r.next_hop, None);
        assert_eq!(r.communities, vec![Community(64511, 2)]);
    }

    #[test]
    fn ipv6_routes_take_the_global_next_hop() {
        let routes = parse_routes(&sample("route_v6.txt")).unwrap();
        assert_eq!(routes.len(), 2);
        let r = &routes[1].route;
        assert_eq!(r.prefix, prefix("fd00:10:244:1::/64"));
        assert_eq!(r.next_hop, Some("2001:db8:0:12::1".parse().unwrap()));
        assert_eq!(routes[1].protocol, "frr_v6");
    }

    #[test]
    fn no_route_and_edited_corner_cases() {
        assert!(parse_routes(&sample("route_none.txt")).unwrap().is_empty());
        // Hand-edited from route_all.txt: a "from" address, an AS_SET, LLGR-stale flag.
        let text = "Table master4:\n\
            10.244.8.0/24        unicast [p1 2026-11-21 03:10:40 from 192.0.2.9] * (100s/?) [AS3i]\n\
            \tvia 192.0.2.1 on eth0\n\
            \tBGP.as_path: 1 2 {3 4}\n\
            \tBGP.next_hop: 192.0.2.1\n\
            \tBGP.community: (65535,6) (64511,1)\n";
        let routes = parse_routes(text).unwrap();
        let r = &routes[0].route;
        assert_eq!(routes[0].protocol, "p1");
        assert_eq!(routes[0].since, "2026-11-21 03:10:40");
        assert_eq!(r.as_path, vec![1, 2, 3, 4]);
        assert!(r.stale && r.best);
        assert_eq!(
            r.communities,
            vec![Community(65535, 6), Community(64511, 1)]
        );
        assert!(parse_routes("garbage line\n").is_err());
        assert!(parse_routes("\tBGP.med: 1\n").is_err());
    }

    #[test]
    fn times_a_millisecond_apart_are_the_same() {
        assert!(same_time("04:18:23.683", "04:18:23.682"));
        assert!(same_time("23:59:59.999", "00:00:00.001"));
        assert!(!same_time("04:18:23.683", "04:18:23.690"));
        assert!(!same_time("04:18:23.683", "04:18:24.683"));
        assert!(same_time("2026-11-21 03:10:40", "2026-11-21 03:10:40"));
        assert!(!same_time("2026-11-21 03:10:40", "03:10:40.000"));
    }

    #[test]
    fn protocols_established_disabled_and_gr() {
        let p = parse_protocols(&sample("proto_established_v6.txt")).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "frr_v6");
        assert_eq!(p[0].bgp_state.as_deref(), Some("Established"));
        assert_eq!(
            p[0].neighbor_address,
            Some("2001:db8:0:12::1".parse().unwrap())
        );
        assert_eq!(p[0].neighbor_as, Some(4200000001));
        assert!(!p[0].gr_active);
        assert_eq!(p[0].since, "03:12:25.718");
        let c = p[0].channel("ipv6").unwrap();
        assert_eq!(c.state, "UP");
        assert_eq!(c.stat("Import updates", 0), 3);
        assert_eq!(c.stat("Export updates", 1), 3);
        assert_eq!(c.stats[1].1, [Some(3), Some(0), None, Some(3), Some(0)]);
        assert_eq!(c.stat("Export withdraws", 4), 0);

        let p = parse_protocols(&sample("proto_disabled.txt")).unwrap();
        assert_eq!(p[0].state, "down");
        assert_eq!(
            SessionState::from_name(p[0].bgp_state.as_deref().unwrap()),
            SessionState::Idle
        );

        let p = parse_protocols(&sample("proto_gr_active.txt")).unwrap();
        assert!(p[0].gr_active);
        assert_eq!(p[0].bgp_state.as_deref(), Some("Passive"));
        assert_eq!(
            p[0].last_error.as_deref(),
            Some("Socket: Connection closed")
        );
        assert_eq!(p[0].info, "Passive Socket: Connection closed");

        let p = parse_protocols(&sample("protocols.txt")).unwrap();
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["device1", "s4", "s6", "frr_v4", "frr_v6", "gobgp_v4"]
        );
        assert_eq!(p[5].info, "Active Socket: Connection reset by peer");
    }

    #[test]
    fn renders_filters_and_sessions() {
        let cfg = BgpConfig::new(4200000002, "198.51.100.1".parse().unwrap())
            .neighbor(
                Neighbor::new("192.0.2.1".parse().unwrap(), 4200000001)
                    .name("frr")
                    .passive()
                    .password("s3cret")
                    .graceful_restart(60)
                    .import(
                        Policy::new()
                            .reject(prefix("10.244.9.0/24"))
                            .reject(prefix("fd00:10:244:9::/64")),
                    )
                    .export(Policy::new().add_large_community(LargeCommunity(1, 2, 3))),
            )
            .originate(
                Origin::new(prefix("10.244.2.0/24"))
                    .community(Community(64511, 2))
                    .med(22),
            );
        let text = render(&cfg);
        assert!(
            text.contains("  route 10.244.2.0/24 blackhole { bgp_community.add((64511,2)); };\n")
        );
        assert!(
            text.contains(
                "filter frr_in4 {\n  if net ~ [ 10.244.9.0/24 ] then reject;\n  accept;\n}"
            )
        );
        assert!(text.contains("if source = RTS_STATIC && net = 10.244.2.0/24 then bgp_med = 22;"));
        assert!(text.contains("bgp_large_community.add((1,2,3));"));
        assert!(text.contains("  password \"s3cret\";\n  passive on;\n"));
        assert!(text.contains("graceful restart on; graceful restart time 60;"));
        assert!(!text.contains("frr_in6"), "no IPv6 channel, no IPv6 filter");
    }
}
