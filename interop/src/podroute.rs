//! podroute in a lab node: its configuration rendered from the same [`BgpConfig`] the other
//! daemons take, started as `podroute agent`, and queried through `podroute show -o json` on
//! its control socket (a unix socket in the node's directory, reachable from the host).
//!
//! The binary is the workspace's own build of `podroute` (see [`binary`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::config::{BgpConfig, Direction, Neighbor, Origin, Policy};
use crate::daemon::Daemon;
use crate::lab::{Node, NodeProcess};
use crate::process::{self, Signal};
use crate::types::{Community, Family, LargeCommunity, Prefix, Route, SessionState};
use crate::wait::wait_until;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TERM has to close sessions and leave the restart marker.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What a test can set on podroute beyond the shared [`BgpConfig`].
#[derive(Debug, Clone, Default)]
pub struct PodrouteExtras {
    /// Per neighbor: a max-prefix limit, and whether exceeding it closes the session (Cease,
    /// then a retry after `restart_after`) or only warns.
    pub max_prefix: BTreeMap<IpAddr, MaxPrefix>,
    /// Extra YAML appended to the rendered configuration (top-level keys the rendering does
    /// not write, e.g. `dynamic_neighbors`).
    pub raw: String,
    /// Neighbors rendered without import/export policies (RFC 8212 tests).
    pub without_policy: std::collections::BTreeSet<IpAddr>,
    /// Extra settings for one peer, as `key: value` lines (e.g. `interface: eth0`,
    /// `ttl_security: 1`), added to its entry.
    pub peer_settings: BTreeMap<IpAddr, Vec<String>>,
}

/// A max-prefix limit for one neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPrefix {
    /// Accepted prefixes (per family) before acting.
    pub limit: u32,
    /// `true`: Cease and retry after `restart_after`; `false`: log a warning only.
    pub restart: bool,
    /// Seconds before reconnecting after a Cease.
    pub restart_after: u16,
}

/// A running podroute agent.
#[derive(Debug)]
pub struct Podroute {
    node: Node,
    config: BgpConfig,
    extras: PodrouteExtras,
    dir: PathBuf,
    process: Option<NodeProcess>,
    /// How many times the agent was started (the log of each run is kept apart).
    runs: u32,
    /// Started from a given configuration file ([`Podroute::start_from_file`]): its text,
    /// with `control_socket` and `state_dir` pointed into the node's directory.
    file: Option<String>,
    /// Environment variables for the agent (`PODROUTE_LOG=debug`, ...).
    env: Vec<(String, String)>,
}

/// The `podroute` binary to run: `$PODROUTE_BIN` if set; otherwise the one cargo built next
/// to this test (or `podroute-lab`) binary (`target/<profile>/podroute`, which
/// `cargo test --workspace` builds),
/// building it with cargo if it is missing.
pub fn binary() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| find_binary().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn find_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PODROUTE_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("PODROUTE_BIN={} is not a file", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot find the test binary's path")?;
    // target/<profile>/deps/<test> (a test) or target/<profile>/<bin> (`podroute-lab`)
    // -> target/<profile>/podroute
    let profile_dir = exe
        .parent()
        .and_then(|d| {
            if d.file_name().is_some_and(|n| n == "deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .ok_or_else(|| anyhow!("unexpected binary path {}", exe.display()))?;
    let bin = profile_dir.join("podroute");
    if bin.is_file() {
        return Ok(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut argv: Vec<std::ffi::OsString> = vec![
        cargo,
        "build".into(),
        "--quiet".into(),
        "-p".into(),
        "podroute".into(),
        "--bin".into(),
        "podroute".into(),
    ];
    if release {
        argv.push("--release".into());
    }
    process::run_checked(&argv, Duration::from_secs(900))
        .context("building podroute for the interop tests")?;
    if !bin.is_file() {
        bail!(
            "built podroute, but {} is not there; set PODROUTE_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

impl Podroute {
    /// Writes the configuration, starts `podroute agent` and waits for its control socket.
    pub fn start(node: &Node, config: BgpConfig) -> Result<Podroute> {
        Podroute::start_with(node, config, PodrouteExtras::default())
    }

    /// As [`Podroute::start`], with podroute-only settings.
    pub fn start_with(node: &Node, config: BgpConfig, extras: PodrouteExtras) -> Result<Podroute> {
        config.validate()?;
        let dir = node.dir().join("podroute");
        fs::create_dir_all(&dir)?;
        let mut p = Podroute {
            node: node.clone(),
            config,
            extras,
            dir,
            process: None,
            runs: 0,
            file: None,
            env: Vec::new(),
        };
        p.start_agent()?;
        Ok(p)
    }

    /// Starts `podroute agent` with a given configuration file (e.g. the one a containerlab
    /// topology binds into the container). The file is copied into the node's directory with
    /// `control_socket` and `state_dir` pointed there (paths meant for a container would
    /// clash between nodes sharing one filesystem); everything else is used as written.
    /// `env` is added to the agent's environment; a `PODROUTE_LOG` there replaces the
    /// harness's default log level.
    ///
    /// [`Podroute::config`] then holds only the AS (when a plain number) and router ID read
    /// from the file: `reconfigure`, `set_policy`, `originate` and `withdraw` fail.
    pub fn start_from_file(
        node: &Node,
        config: &Path,
        env: &[(String, String)],
    ) -> Result<Podroute> {
        let text =
            fs::read_to_string(config).with_context(|| format!("read {}", config.display()))?;
        let dir = node.dir().join("podroute");
        fs::create_dir_all(&dir)?;
        let socket = dir.join("podroute.sock");
        let (yaml, summary) = relocate(&text, &socket, &dir.join("state"))
            .with_context(|| format!("{} (podroute configuration)", config.display()))?;
        let mut p = Podroute {
            node: node.clone(),
            config: summary,
            extras: PodrouteExtras::default(),
            dir,
            process: None,
            runs: 0,
            file: Some(yaml),
            env: env.to_vec(),
        };
        p.start_agent()?;
        Ok(p)
    }

    /// The agent's PID, while it runs.
    pub fn pids(&self) -> Vec<u32> {
        self.process.iter().map(|p| p.pid()).collect()
    }

    /// `podroute show ARGS` as text (the tables a person reads).
    pub fn show_text(&self, args: &[&str]) -> Result<String> {
        let bin = binary()?;
        let socket = self.socket();
        let mut argv: Vec<&std::ffi::OsStr> = vec![bin.as_os_str(), "show".as_ref()];
        argv.extend(args.iter().map(std::ffi::OsStr::new));
        argv.extend(["--socket".as_ref(), socket.as_os_str()]);
        process::run_checked(&argv, COMMAND_TIMEOUT)
    }

    /// The current configuration.
    pub fn config(&self) -> &BgpConfig {
        &self.config
    }

    /// The control socket `podroute show --socket` talks to.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("podroute.sock")
    }

    /// The rendered configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("podroute.yaml")
    }

    /// The log of the current (or last) run.
    pub fn log_path(&self) -> PathBuf {
        self.node.dir().join(format!("podroute-{}.log", self.runs))
    }

    /// Every log line of every run so far.
    pub fn full_log(&self) -> String {
        (1..=self.runs)
            .map(|i| {
                fs::read_to_string(self.node.dir().join(format!("podroute-{i}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    fn start_agent(&mut self) -> Result<()> {
        if self.process.is_some() {
            bail!("{}: podroute is already running", self.name());
        }
        fs::write(self.config_path(), self.render())?;
        self.runs += 1;
        let bin = binary()?;
        let config = self.config_path();
        let socket = self.socket();
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if !self.env.is_empty() {
            argv.push("env".into());
            argv.extend(self.env.iter().map(|(k, v)| format!("{k}={v}").into()));
        }
        argv.extend([
            bin.into_os_string(),
            "agent".into(),
            "--config".into(),
            config.into_os_string(),
            "--socket".into(),
            socket.into_os_string(),
        ]);
        if !self.env.iter().any(|(k, _)| k == "PODROUTE_LOG") {
            argv.extend(["--log-level".into(), "info,podroute=debug".into()]);
        }
        let process = self.node.spawn(&format!("podroute-{}", self.runs), &argv)?;
        self.process = Some(process);
        let name = self.name();
        let p = self.process.as_ref().expect("just set");
        wait_until(&format!("{name}'s control socket"), START_TIMEOUT, || {
            p.ensure_running()?;
            self.show(&["status"]).map(drop)
        })
        .map_err(|e| anyhow!("{e:#}\n--- log:\n{}", p.log_tail(40)))
    }

    /// Stops the agent with TERM: it closes its sessions so that graceful-restart peers keep
    /// its routes, and leaves the marker that makes the next start a graceful restart.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(p) = self.process.take() {
            let status = p.stop(STOP_GRACE)?;
            if !status.success() {
                bail!(
                    "{}: podroute exited with {status} on TERM\n{}",
                    self.name(),
                    p.log_tail(40)
                );
            }
        }
        Ok(())
    }

    /// Kills the agent (no NOTIFICATION, no marker): a crash.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(p) = self.process.take() {
            p.signal(Signal::Kill)?;
            let _ = p.stop(STOP_GRACE);
        }
        Ok(())
    }

    /// Starts the agent again with the current configuration.
    pub fn start_again(&mut self) -> Result<()> {
        self.start_agent()
    }

    /// Changes the configuration and tells the agent (SIGHUP), like `birdc configure`.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut BgpConfig)) -> Result<()> {
        if self.file.is_some() {
            bail!(
                "{}: started from a configuration file; the harness does not rewrite it",
                self.name()
            );
        }
        change(&mut self.config);
        self.config.validate()?;
        fs::write(self.config_path(), self.render())?;
        match &self.process {
            Some(p) => p.signal(Signal::Hup),
            None => Ok(()),
        }
    }

    /// Replaces one neighbor's import or export policy (a soft reconfiguration).
    pub fn set_policy(&mut self, peer: IpAddr, dir: Direction, policy: Policy) -> Result<()> {
        self.reconfigure(|c| {
            if let Ok(n) = c.find_neighbor_mut(peer) {
                match dir {
                    Direction::Import => n.import = policy,
                    Direction::Export => n.export = policy,
                }
            }
        })
    }

    /// `podroute show ARGS -o json`, parsed.
    pub fn show(&self, args: &[&str]) -> Result<Value> {
        let bin = binary()?;
        let socket = self.socket();
        let mut argv: Vec<&std::ffi::OsStr> = vec![bin.as_os_str(), "show".as_ref()];
        argv.extend(args.iter().map(std::ffi::OsStr::new));
        argv.extend([
            "-o".as_ref(),
            "json".as_ref(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ]);
        let out = process::run_checked(&argv, COMMAND_TIMEOUT)?;
        serde_json::from_str(&out).with_context(|| format!("podroute show {args:?} printed {out}"))
    }

    /// `podroute show neighbor ADDR`.
    pub fn neighbor(&self, peer: IpAddr) -> Result<Value> {
        self.show(&["neighbor", &peer.to_string()])
    }

    /// The summary line of one neighbor from `podroute show neighbors`.
    pub fn neighbor_summary(&self, peer: IpAddr) -> Result<Value> {
        let all = self.show(&["neighbors"])?;
        all["neighbors"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["address"].as_str() == Some(&peer.to_string()))
            .cloned()
            .ok_or_else(|| anyhow!("{peer} is not among podroute's neighbors: {all}"))
    }

    /// The configuration file for the current [`BgpConfig`] and extras.
    pub fn render(&self) -> String {
        match &self.file {
            Some(text) => text.clone(),
            None => render(&self.config, &self.extras, &self.socket(), &self.dir),
        }
    }
}

/// A podroute configuration with `control_socket` and `state_dir` replaced, and what the
/// harness keeps of it: the AS (0 unless a plain number) and the router ID (0.0.0.0 unless
/// an address).
fn relocate(text: &str, socket: &Path, state_dir: &Path) -> Result<(String, BgpConfig)> {
    use serde_yaml_ng::Value as Yaml;
    let mut doc: Yaml = serde_yaml_ng::from_str(text)?;
    let map = doc
        .as_mapping_mut()
        .ok_or_else(|| anyhow!("not a YAML mapping"))?;
    map.insert(
        Yaml::from("control_socket"),
        Yaml::from(socket.to_string_lossy().into_owned()),
    );
    map.insert(
        Yaml::from("state_dir"),
        Yaml::from(state_dir.to_string_lossy().into_owned()),
    );
    let asn = map
        .get("asn")
        .and_then(Yaml::as_u64)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0);
    let router_id = map
        .get("router_id")
        .and_then(Yaml::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let header = "# copied by the interop harness: control_socket and state_dir point into \
                  this node's directory\n";
    Ok((
        format!("{header}{}", serde_yaml_ng::to_string(&doc)?),
        BgpConfig::new(asn, router_id),
    ))
}

/// podroute's YAML for a [`BgpConfig`]. Every neighbor gets an import and an export policy
/// (accept-all when the test sets none), so that RFC 8212 does not block eBGP sessions.
pub fn render(c: &BgpConfig, extras: &PodrouteExtras, socket: &Path, dir: &Path) -> String {
    let mut y = String::new();
    let restart_time = c
        .neighbors
        .iter()
        .filter_map(|n| n.graceful_restart)
        .max()
        .unwrap_or(120);
    let _ = writeln!(y, "asn: {}", c.asn);
    let _ = writeln!(y, "router_id: {}", c.router_id);
    let _ = writeln!(y, "control_socket: {}", socket.display());
    let _ = writeln!(y, "state_dir: {}", dir.join("state").display());
    let _ = writeln!(
        y,
        "graceful_restart: {{ restart_time: {restart_time}, selection_deferral: 30 }}"
    );
    if !c.originate.is_empty() {
        y.push_str("originate:\n");
        for o in &c.originate {
            render_origin(&mut y, o);
        }
    }
    let with_policy = |n: &&Neighbor| !extras.without_policy.contains(&n.address);
    if !c.neighbors.is_empty() {
        y.push_str("peers:\n");
    }
    for n in &c.neighbors {
        render_neighbor(
            &mut y,
            c,
            n,
            extras.max_prefix.get(&n.address),
            with_policy(&n),
        );
        for line in extras.peer_settings.get(&n.address).into_iter().flatten() {
            let _ = writeln!(y, "    {line}");
        }
    }
    if c.neighbors.iter().any(|n| with_policy(&n)) {
        y.push_str("policies:\n");
    }
    for n in c.neighbors.iter().filter(with_policy) {
        render_policy(&mut y, &format!("{}-in", n.name), &n.import);
        render_policy(&mut y, &format!("{}-out", n.name), &n.export);
    }
    y.push_str(&extras.raw);
    y
}

fn render_origin(y: &mut String, o: &Origin) {
    let _ = writeln!(y, "  - prefix: {}", o.prefix);
    if !o.communities.is_empty() {
        let _ = writeln!(y, "    communities: [{}]", quoted(&o.communities));
    }
    if !o.large_communities.is_empty() {
        let _ = writeln!(
            y,
            "    large_communities: [{}]",
            quoted(&o.large_communities)
        );
    }
    if let Some(m) = o.med {
        let _ = writeln!(y, "    med: {m}");
    }
}

fn render_neighbor(
    y: &mut String,
    c: &BgpConfig,
    n: &Neighbor,
    max: Option<&MaxPrefix>,
    with_policy: bool,
) {
    let _ = writeln!(y, "  - address: {}", n.address);
    let _ = writeln!(y, "    remote_as: {}", n.remote_as);
    let _ = writeln!(y, "    description: {}", n.name);
    if n.passive {
        y.push_str("    passive: true\n");
    }
    if let Some(a) = n.local_address {
        let _ = writeln!(y, "    local_address: {a}");
    }
    if let Some(pw) = &n.password {
        let _ = writeln!(y, "    password: \"{pw}\"");
    }
    let _ = writeln!(y, "    hold_time: {}", c.timers.hold);
    let _ = writeln!(y, "    keepalive: {}", c.timers.keepalive);
    let _ = writeln!(y, "    connect_retry: {}", c.timers.connect_retry);
    let families: Vec<&str> = n
        .families
        .iter()
        .map(|f| match f {
            Family::Ipv4 => "ipv4-unicast",
            Family::Ipv6 => "ipv6-unicast",
        })
        .collect();
    let _ = writeln!(y, "    families: [{}]", families.join(", "));
    let _ = writeln!(y, "    graceful_restart: {}", n.graceful_restart.is_some());
    if with_policy {
        let _ = writeln!(y, "    import: [{}-in]", n.name);
        let _ = writeln!(y, "    export: [{}-out]", n.name);
    }
    if let Some(m) = max {
        let _ = writeln!(
            y,
            "    max_prefix: {{ limit: {}, action: {}, restart_after: {} }}",
            m.limit,
            if m.restart { "restart" } else { "warn" },
            m.restart_after
        );
    }
}

fn render_policy(y: &mut String, name: &str, p: &Policy) {
    let _ = writeln!(y, "  {name}:");
    y.push_str("    default: accept\n");
    if p.is_empty() {
        return;
    }
    y.push_str("    rules:\n");
    if !p.reject.is_empty() {
        let _ = writeln!(
            y,
            "      - match: {{ prefix: [{}] }}\n        action: reject",
            quoted(&p.reject)
        );
    }
    if p.modifies() {
        y.push_str("      - set:\n");
        if !p.add_communities.is_empty() {
            let _ = writeln!(
                y,
                "          add_communities: [{}]",
                quoted(&p.add_communities)
            );
        }
        if !p.add_large_communities.is_empty() {
            let _ = writeln!(
                y,
                "          add_large_communities: [{}]",
                quoted(&p.add_large_communities)
            );
        }
        if let Some(m) = p.set_med {
            let _ = writeln!(y, "          med: {m}");
        }
        y.push_str("        action: accept\n");
    }
}

fn quoted<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads `podroute show routes --all -o json` into [`Route`]s.
pub fn parse_routes(v: &Value) -> Result<Vec<Route>> {
    let mut out = Vec::new();
    for r in v["routes"]
        .as_array()
        .ok_or_else(|| anyhow!("no `routes` in {v}"))?
    {
        let prefix: Prefix = r["prefix"]
            .as_str()
            .ok_or_else(|| anyhow!("a route without a prefix: {r}"))?
            .parse()?;
        for p in r["paths"].as_array().into_iter().flatten() {
            let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            let as_path = text("as_path")
                .split(|c: char| c.is_whitespace() || "{}()[],".contains(c))
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u32>().with_context(|| format!("AS path {p}")))
                .collect::<Result<Vec<u32>>>()?;
            let first_ip = |s: &str| {
                s.split(|c: char| c.is_whitespace() || "(),".contains(c))
                    .find_map(|t| t.parse::<IpAddr>().ok())
            };
            let communities = p["communities"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap_or_default().parse::<Community>())
                .collect::<Result<Vec<_>>>()?;
            let large_communities = p["large_communities"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c.as_str().unwrap_or_default().parse::<LargeCommunity>())
                .collect::<Result<Vec<_>>>()?;
            out.push(Route {
                prefix,
                as_path,
                next_hop: first_ip(&text("next_hop")),
                communities,
                large_communities,
                med: p["med"].as_u64().map(|m| m as u32),
                peer: first_ip(&text("from")),
                best: p["best"].as_bool().unwrap_or(false),
                stale: p["stale"].as_bool().unwrap_or(false),
            });
        }
    }
    Ok(out)
}

impl Daemon for Podroute {
    fn name(&self) -> String {
        format!("podroute@{}", self.node.name())
    }

    fn node(&self) -> &Node {
        &self.node
    }

    fn session_state(&self, peer: IpAddr) -> Result<SessionState> {
        let n = self.neighbor_summary(peer)?;
        Ok(SessionState::from_name(n["state"].as_str().unwrap_or("?")))
    }

    fn routes(&self, family: Family) -> Result<Vec<Route>> {
        let v = self.show(&["routes", "--all"])?;
        Ok(parse_routes(&v)?
            .into_iter()
            .filter(|r| r.prefix.family() == family)
            .collect())
    }

    fn originate(&mut self, origin: Origin) -> Result<()> {
        self.reconfigure(|c| {
            c.originate.retain(|o| o.prefix != origin.prefix);
            c.originate.push(origin);
        })
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        self.reconfigure(|c| c.originate.retain(|o| o.prefix != prefix))
    }

    fn log_tail(&self, lines: usize) -> String {
        process::log_tail(&self.log_path(), lines)
    }

    fn ensure_running(&self) -> Result<()> {
        match &self.process {
            Some(p) => p.ensure_running(),
            None => bail!("{}: podroute is stopped", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::prefix;

    #[test]
    fn renders_a_config_podroute_accepts_the_shape_of() {
        let c = BgpConfig::new(4200000001, "192.0.2.1".parse().unwrap())
            .neighbor(
                Neighbor::new("192.0.2.2".parse().unwrap(), 4200000002)
                    .name("frr")
                    .password("pw")
                    .graceful_restart(60)
                    .import(Policy::new().reject(prefix("10.244.9.0/24")))
                    .export(Policy::new().add_community(Community(64511, 7)).set_med(5)),
            )
            .originate(
                Origin::new(prefix("10.244.1.0/24"))
                    .community(Community(64511, 1))
                    .large_community(LargeCommunity(4200000001, 1, 1)),
            );
        let y = render(
            &c,
            &PodrouteExtras::default(),
            Path::new("/tmp/s.sock"),
            Path::new("/tmp/d"),
        );
        for want in [
            "asn: 4200000001\n",
            "graceful_restart: { restart_time: 60, selection_deferral: 30 }\n",
            "  - prefix: 10.244.1.0/24\n    communities: [\"64511:1\"]\n    large_communities: [\"4200000001:1:1\"]\n",
            "    password: \"pw\"\n",
            "    import: [frr-in]\n    export: [frr-out]\n",
            "  frr-in:\n    default: accept\n    rules:\n      - match: { prefix: [\"10.244.9.0/24\"] }\n        action: reject\n",
            "  frr-out:\n    default: accept\n    rules:\n      - set:\n          add_communities: [\"64511:7\"]\n          med: 5\n        action: accept\n",
        ] {
            assert!(y.contains(want), "missing {want:?} in\n{y}");
        }
    }

    #[test]
    fn relocates_socket_and_state_dir_keeping_the_rest() {
        let (y, c) = relocate(
            "# a comment\nasn: 4200000101\nrouter_id: 192.0.2.2\ncontrol_socket: /run/podroute/podroute.sock\n\
             pod_cidrs: [10.244.1.0/24]\npeers:\n  - address: 192.0.2.1\n    remote_as: 4200000100\n",
            Path::new("/tmp/n/s.sock"),
            Path::new("/tmp/n/state"),
        )
        .unwrap();
        assert_eq!(c.asn, 4200000101);
        assert_eq!(
            c.router_id,
            "192.0.2.2".parse::<std::net::Ipv4Addr>().unwrap()
        );
        for want in [
            "control_socket: /tmp/n/s.sock\n",
            "state_dir: /tmp/n/state\n",
            "- 10.244.1.0/24\n",
            "- address: 192.0.2.1\n",
        ] {
            assert!(y.contains(want), "missing {want:?} in\n{y}");
        }
        assert!(!y.contains("/run/podroute"), "{y}");
        assert!(relocate("- a list\n", Path::new("/s"), Path::new("/d")).is_err());
    }

    #[test]
    fn parses_show_routes_json() {
        let v: Value = serde_json::from_str(
            r#"{"response":"routes","routes":[{"prefix":"10.244.1.0/24","paths":[
              {"best":true,"multipath":false,"from":"192.0.2.2","next_hop":"192.0.2.2",
               "as_path":"4200000002 {65001 65002}","origin":"i","med":5,"local_pref":null,
               "communities":["64511:1","no-export"],"large_communities":["1:2:3"],
               "age_secs":3,"stale":true,"not_best":null,"path_id":null},
              {"best":false,"multipath":false,"from":"local","next_hop":"self","as_path":"",
               "origin":"i","med":null,"local_pref":null,"communities":[],"large_communities":[],
               "age_secs":3,"stale":false,"not_best":"lower LOCAL_PREF","path_id":null}]}]}"#,
        )
        .unwrap();
        let r = parse_routes(&v).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].as_path, vec![4200000002, 65001, 65002]);
        assert_eq!(r[0].peer, Some("192.0.2.2".parse().unwrap()));
        assert!(r[0].has_community(Community(0xffff, 0xff01)));
        assert!(r[0].has_large_community(LargeCommunity(1, 2, 3)));
        assert!(r[0].best && r[0].stale);
        assert_eq!(r[1].peer, None);
        assert_eq!(r[1].next_hop, None);
        assert!(r[1].as_path.is_empty());
    }
}
