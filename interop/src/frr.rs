//! FRR 8.4: `zebra` + `bgpd` in the foreground, one instance per node, queried with
//! `vtysh --vty_socket DIR ... json`.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::config::{BgpConfig, Direction, Neighbor, Origin, Policy};
use crate::daemon::Daemon;
use crate::lab::{COMMAND_TIMEOUT, Node, NodeProcess, require_programs};
use crate::process::{self, DEFAULT_GRACE, show_argv};
use crate::types::{Community, Family, LargeCommunity, Prefix, Route, SessionState};
use crate::wait::wait_until;

const ZEBRA: &str = "/usr/lib/frr/zebra";
const BGPD: &str = "/usr/lib/frr/bgpd";
/// How long zebra and bgpd get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Prefixes per `vtysh` call when fetching route details.
const DETAIL_BATCH: usize = 64;

/// A running FRR (`zebra` and `bgpd`) in one node.
#[derive(Debug)]
pub struct Frr {
    node: Node,
    config: BgpConfig,
    /// The run directory (owned by `frr:frr`): configs, pid files, zserv and vty sockets.
    dir: PathBuf,
    zebra: NodeProcess,
    bgpd: Option<NodeProcess>,
    /// Suffix of generated route-map and prefix-list names, bumped on every runtime change:
    /// FRR 8.4's bgpd can crash (NULL dereference in `route_map_apply_ext`) when a route-map in
    /// use is deleted and re-created while UPDATEs arrive, so the harness never deletes one;
    /// it creates a new one and points the neighbor at it.
    version: u32,
    /// Started from an integrated `frr.conf` ([`Frr::start_integrated`]): the daemons start
    /// with an empty configuration and `vtysh -b` applies `frr.conf`, as FRR's container
    /// image does; `config` then holds only the AS and router ID read from the file.
    integrated: bool,
}

impl Frr {
    /// Writes the configuration and starts zebra, then bgpd; returns once bgpd answers on its
    /// vty socket.
    pub fn start(node: &Node, config: BgpConfig) -> Result<Frr> {
        require_programs(&[ZEBRA, BGPD, "vtysh", "chown"])?;
        config.validate()?;
        let dir = node.dir().join("frr");
        fs::create_dir_all(&dir)?;
        fs::write(
            dir.join("bgpd.conf"),
            render_version(node.name(), &config, 0),
        )?;
        Frr::start_in(node, dir, config, false)
    }

    /// Starts zebra and bgpd from an integrated configuration file (`frr.conf`, as bound
    /// into FRR's container image): both start empty, then `vtysh -b` applies the file (it
    /// sends each command to the daemon it belongs to), and again after every
    /// [`Frr::start_bgpd`]. Interface addresses in the file are set by zebra. Only zebra and
    /// bgpd run: a file that needs another daemon (`ip route` needs staticd) fails here.
    ///
    /// [`Frr::config`] then holds only the AS and router ID read from the file (no
    /// neighbors): the helpers that look a neighbor up in it (`clear_soft_*`,
    /// `shutdown_neighbor`, `set_policy`) fail; the queries and waits work.
    pub fn start_integrated(node: &Node, frr_conf: &Path) -> Result<Frr> {
        require_programs(&[ZEBRA, BGPD, "vtysh", "chown"])?;
        let text =
            fs::read_to_string(frr_conf).with_context(|| format!("read {}", frr_conf.display()))?;
        let config = integrated_summary(&text)
            .with_context(|| format!("{} (FRR configuration)", frr_conf.display()))?;
        let dir = node.dir().join("frr");
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("frr.conf"), &text)?;
        // vtysh reads it (and complains when it is missing); the integrated file is the norm.
        fs::write(dir.join("vtysh.conf"), "service integrated-vtysh-config\n")?;
        Frr::start_in(node, dir, config, true)
    }

    fn start_in(node: &Node, dir: PathBuf, config: BgpConfig, integrated: bool) -> Result<Frr> {
        fs::write(
            dir.join("zebra.conf"),
            format!(
                "hostname {}-zebra\nlog stdout informational\n!\n",
                node.name()
            ),
        )?;
        // The daemons drop to user `frr`; they must own their run directory.
        process::run_checked(
            &["chown", "-R", "frr:frr", &dir.to_string_lossy()],
            COMMAND_TIMEOUT,
        )?;
        let d = dir.to_string_lossy().into_owned();
        let zebra = node.spawn(
            "zebra",
            &[
                ZEBRA,
                "-f",
                &format!("{d}/zebra.conf"),
                "-i",
                &format!("{d}/zebra.pid"),
                "-z",
                &format!("{d}/zserv.api"),
                "--vty_socket",
                &d,
                "-P",
                "0",
            ],
        )?;
        let sock = dir.join("zserv.api");
        wait_until("zebra's zserv socket", START_TIMEOUT, || {
            zebra.ensure_running()?;
            if sock.exists() {
                Ok(())
            } else {
                bail!("{} does not exist yet", sock.display())
            }
        })?;
        let mut frr = Frr {
            node: node.clone(),
            config,
            dir,
            zebra,
            bgpd: None,
            version: 0,
            integrated,
        };
        frr.start_bgpd()?;
        Ok(frr)
    }

    /// The configuration bgpd was (re)started with, plus changes made through this type.
    pub fn config(&self) -> &BgpConfig {
        &self.config
    }

    /// The run directory: configuration files, pid files and the vty sockets
    /// (`vtysh --vty_socket DIR`).
    pub fn run_dir(&self) -> &Path {
        &self.dir
    }

    /// The PIDs of zebra and (when running) bgpd.
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(self.zebra.pid())
            .chain(self.bgpd.as_ref().map(|p| p.pid()))
            .collect()
    }

    /// Runs `vtysh -c CMD` for each command in one session and returns the output. Fails if
    /// vtysh fails or prints an error line (starting with `%`).
    pub fn vtysh(&self, commands: &[&str]) -> Result<String> {
        let d = self.dir.to_string_lossy();
        let mut argv = vec!["vtysh", "--vty_socket", &d];
        for c in commands {
            argv.push("-c");
            argv.push(c);
        }
        let out = process::run(&argv, COMMAND_TIMEOUT)?;
        let errors: Vec<&str> = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .filter(|l| l.starts_with('%'))
            .collect();
        if !out.status.success() || !errors.is_empty() {
            bail!(
                "{}: `{}` failed ({}): {}{}",
                self.name(),
                show_argv(&argv),
                out.status,
                errors.join("; "),
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// Runs one `show ... json` command and parses its output.
    pub fn vtysh_json(&self, command: &str) -> Result<Value> {
        let out = self.vtysh(&[command])?;
        serde_json::from_str(&out)
            .with_context(|| format!("{}: `{command}` output: {out}", self.name()))
    }

    /// Runs configuration commands (`configure terminal` is added first).
    pub fn configure(&self, lines: &[&str]) -> Result<String> {
        let mut all = vec!["configure terminal"];
        all.extend_from_slice(lines);
        self.vtysh(&all)
    }

    /// `show bgp neighbors json`: an object keyed by neighbor address.
    pub fn neighbors(&self) -> Result<Value> {
        self.vtysh_json("show bgp neighbors json")
    }

    /// Soft reset inbound (ROUTE-REFRESH) for every family of the neighbor.
    pub fn clear_soft_in(&self, peer: IpAddr) -> Result<()> {
        self.clear_soft(peer, "in")
    }

    /// Soft reset outbound (re-advertise) for every family of the neighbor.
    pub fn clear_soft_out(&self, peer: IpAddr) -> Result<()> {
        self.clear_soft(peer, "out")
    }

    fn clear_soft(&self, peer: IpAddr, dir: &str) -> Result<()> {
        let n = self.config.find_neighbor(peer)?;
        for f in &n.families {
            self.vtysh(&[&format!("clear bgp {} unicast {peer} soft {dir}", f.name())])?;
        }
        Ok(())
    }

    /// `neighbor PEER shutdown`: closes the session (Cease) and keeps it down.
    pub fn shutdown_neighbor(&self, peer: IpAddr) -> Result<()> {
        self.config.find_neighbor(peer)?;
        self.configure(&[
            &format!("router bgp {}", self.config.asn),
            &format!("neighbor {peer} shutdown"),
        ])?;
        Ok(())
    }

    /// `no neighbor PEER shutdown`.
    pub fn enable_neighbor(&self, peer: IpAddr) -> Result<()> {
        self.config.find_neighbor(peer)?;
        self.configure(&[
            &format!("router bgp {}", self.config.asn),
            &format!("no neighbor {peer} shutdown"),
        ])?;
        Ok(())
    }

    /// Stops bgpd with TERM (KILL after a grace period), leaving zebra running. With graceful
    /// restart configured, FRR closes the sessions without a NOTIFICATION, so GR-capable
    /// neighbors keep its routes as stale.
    pub fn stop_bgpd(&mut self) -> Result<()> {
        if let Some(p) = self.bgpd.take() {
            p.stop(DEFAULT_GRACE)?;
        }
        Ok(())
    }

    /// Starts bgpd with the current configuration (rewritten from [`Frr::config`]) and waits
    /// until it answers on its vty socket.
    pub fn start_bgpd(&mut self) -> Result<()> {
        if self.bgpd.is_some() {
            bail!("{}: bgpd is already running", self.name());
        }
        let conf = self.dir.join("bgpd.conf");
        let text = if self.integrated {
            format!(
                "hostname {}\nlog stdout informational\n!\n",
                self.node.name()
            )
        } else {
            render_version(self.node.name(), &self.config, self.version)
        };
        fs::write(&conf, text)?;
        process::run_checked(
            &["chown", "frr:frr", &conf.to_string_lossy()],
            COMMAND_TIMEOUT,
        )?;
        let d = self.dir.to_string_lossy().into_owned();
        let bgpd = self.node.spawn(
            "bgpd",
            &[
                BGPD,
                "-f",
                &format!("{d}/bgpd.conf"),
                "-i",
                &format!("{d}/bgpd.pid"),
                "-z",
                &format!("{d}/zserv.api"),
                "--vty_socket",
                &d,
                "-P",
                "0",
            ],
        )?;
        self.bgpd = Some(bgpd);
        let argv = bgpd_probe(&d);
        let name = self.name();
        let bgpd = self.bgpd.as_mut().expect("just set");
        wait_until(&format!("{name}: bgpd's vty"), START_TIMEOUT, || {
            bgpd.ensure_running()?;
            process::run_checked(&argv, COMMAND_TIMEOUT).map(drop)
        })?;
        if self.integrated {
            self.apply_integrated()?;
        }
        Ok(())
    }

    /// `vtysh -b`: applies `frr.conf` from the run directory to zebra and bgpd.
    fn apply_integrated(&self) -> Result<()> {
        let d = self.dir.to_string_lossy();
        let argv = ["vtysh", "--vty_socket", &d, "--config_dir", &d, "-b"];
        let out = process::run(&argv, COMMAND_TIMEOUT)?;
        let errors: Vec<&str> = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .filter(|l| l.contains('%') || l.contains("rror"))
            .collect();
        if !out.status.success() || !errors.is_empty() {
            bail!(
                "{}: `{}` failed to apply {}/frr.conf ({}):\n{}\n{}",
                self.name(),
                show_argv(&argv),
                d,
                out.status,
                out.stdout.trim(),
                out.stderr.trim()
            );
        }
        Ok(())
    }

    /// Stops bgpd and starts it again with the same configuration (exercises graceful
    /// restart when it is configured).
    pub fn restart_bgpd(&mut self) -> Result<()> {
        self.stop_bgpd()?;
        self.start_bgpd()
    }

    /// Replaces one neighbor's import or export policy: creates a new route-map (and
    /// prefix-lists), points the neighbor at it, then soft-resets the session in that
    /// direction. Old route-maps are left in place (see `version`).
    pub fn set_policy(&mut self, peer: IpAddr, dir: Direction, policy: Policy) -> Result<()> {
        let mut new = self.config.find_neighbor(peer)?.clone();
        match dir {
            Direction::Import => new.import = policy,
            Direction::Export => new.export = policy,
        }
        let version = self.version + 1;
        let mut lines = policy_lines(&new, dir, version);
        lines.push(format!("router bgp {}", self.config.asn));
        for f in &new.families {
            lines.push(format!("address-family {f} unicast"));
            lines.push(format!(
                "neighbor {peer} route-map {} {}",
                route_map_name(&new, dir, version),
                dir.short()
            ));
            lines.push("exit-address-family".to_string());
        }
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.configure(&refs)?;
        self.version = version;
        *self.config.find_neighbor_mut(peer)? = new;
        self.clear_soft(peer, dir.short())
    }

    fn name_(&self) -> String {
        format!("frr@{}", self.node.name())
    }
}

impl Daemon for Frr {
    fn name(&self) -> String {
        self.name_()
    }

    fn node(&self) -> &Node {
        &self.node
    }

    fn session_state(&self, peer: IpAddr) -> Result<SessionState> {
        parse_session_state(&self.neighbors()?, peer)
    }

    fn routes(&self, family: Family) -> Result<Vec<Route>> {
        let afi = family.name();
        let table = self.vtysh_json(&format!("show bgp {afi} unicast json"))?;
        let prefixes: Vec<String> = match table.get("routes").and_then(Value::as_object) {
            Some(m) => m.keys().cloned().collect(),
            None => return Ok(Vec::new()),
        };
        let mut routes = Vec::new();
        for chunk in prefixes.chunks(DETAIL_BATCH) {
            let cmds: Vec<String> = chunk
                .iter()
                .map(|p| format!("show bgp {afi} unicast {p} json"))
                .collect();
            let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
            let out = self.vtysh(&refs)?;
            for v in serde_json::Deserializer::from_str(&out).into_iter::<Value>() {
                let v =
                    v.with_context(|| format!("{}: route detail output: {out}", self.name()))?;
                routes.extend(parse_prefix_detail(&v)?);
            }
        }
        Ok(routes)
    }

    fn originate(&mut self, origin: Origin) -> Result<()> {
        let mut cfg = self.config.clone();
        cfg.originate.push(origin.clone());
        cfg.validate()?;
        let version = self.version + 1;
        let mut lines = origin_lines(&origin, version);
        lines.push(format!("router bgp {}", cfg.asn));
        lines.push(format!("address-family {} unicast", origin.prefix.family()));
        lines.push(network_line(&origin, version));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.configure(&refs)?;
        self.version = version;
        self.config = cfg;
        Ok(())
    }

    fn withdraw(&mut self, prefix: Prefix) -> Result<()> {
        let i = self
            .config
            .originate
            .iter()
            .position(|o| o.prefix == prefix)
            .ok_or_else(|| anyhow!("{}: {prefix} is not originated", self.name()))?;
        self.configure(&[
            &format!("router bgp {}", self.config.asn),
            &format!("address-family {} unicast", prefix.family()),
            &format!("no network {prefix}"),
        ])?;
        self.config.originate.remove(i);
        Ok(())
    }

    fn log_tail(&self, lines: usize) -> String {
        let bgpd = match &self.bgpd {
            Some(p) => p.log_tail(lines),
            None => format!(
                "(bgpd stopped) {}",
                process::log_tail(&self.node.dir().join("bgpd.log"), lines)
            ),
        };
        format!(
            "[bgpd]\n{bgpd}\n[zebra]\n{}",
            self.zebra.log_tail(lines / 4)
        )
    }

    fn ensure_running(&self) -> Result<()> {
        self.zebra.ensure_running()?;
        match &self.bgpd {
            Some(p) => p.ensure_running(),
            None => bail!("{}: bgpd is stopped", self.name_()),
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        // bgpd before zebra, so zebra is there while bgpd withdraws.
        if let Some(p) = self.bgpd.take() {
            let _ = p.stop(DEFAULT_GRACE);
        }
    }
}

/// What the harness needs from an integrated `frr.conf`: `router bgp ASN` and
/// `bgp router-id ADDR` (0.0.0.0 when absent), as a [`BgpConfig`] without neighbors.
fn integrated_summary(text: &str) -> Result<BgpConfig> {
    let mut asn = None;
    let mut router_id = std::net::Ipv4Addr::UNSPECIFIED;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["router", "bgp", n, ..] => {
                if asn.is_some() {
                    bail!("more than one `router bgp`: the harness runs one BGP instance");
                }
                asn = Some(
                    n.parse::<u32>()
                        .with_context(|| format!("`{line}`: AS as a plain number"))?,
                );
            }
            ["bgp", "router-id", a] => {
                router_id = a.parse().with_context(|| format!("`{line}`"))?;
            }
            _ => {}
        }
    }
    let asn = asn.ok_or_else(|| anyhow!("no `router bgp ASN`"))?;
    Ok(BgpConfig::new(asn, router_id))
}

/// `vtysh` asking bgpd for its summary through the vty socket in `dir`: it
/// succeeds once bgpd is up and has read its configuration.
pub(crate) fn bgpd_probe(dir: &str) -> [&str; 7] {
    [
        "vtysh",
        "--vty_socket",
        dir,
        "-d",
        "bgpd",
        "-c",
        "show bgp summary json",
    ]
}

/// Renders `bgpd.conf`. Route-maps and prefix-lists come first: a `network ... route-map X`
/// read before X exists is announced only after bgpd's route-map delay timer (5 s), after
/// its End-of-RIB, which makes a restarting FRR look like it withdrew those routes.
pub fn render(hostname: &str, c: &BgpConfig) -> String {
    render_version(hostname, c, 0)
}

fn render_version(hostname: &str, c: &BgpConfig, version: u32) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "! generated by the interop harness");
    let _ = writeln!(w, "frr defaults traditional");
    let _ = writeln!(w, "hostname {hostname}");
    if std::env::var_os("INTEROP_FRR_DEBUG").is_some_and(|v| !v.is_empty() && v != "0") {
        let _ = writeln!(w, "log stdout debugging");
        for d in ["updates", "neighbor-events", "update-groups"] {
            let _ = writeln!(w, "debug bgp {d}");
        }
    } else {
        let _ = writeln!(w, "log stdout informational");
    }
    let _ = writeln!(w, "!");
    for o in &c.originate {
        for l in origin_lines(o, version) {
            let _ = writeln!(w, "{l}");
        }
    }
    for n in &c.neighbors {
        for dir in [Direction::Import, Direction::Export] {
            for l in policy_lines(n, dir, version) {
                let _ = writeln!(w, "{l}");
            }
        }
    }
    let _ = writeln!(w, "!");
    let _ = writeln!(w, "router bgp {}", c.asn);
    let _ = writeln!(w, " bgp router-id {}", c.router_id);
    let _ = writeln!(w, " no bgp ebgp-requires-policy");
    let _ = writeln!(w, " no bgp network import-check");
    let _ = writeln!(w, " no bgp default ipv4-unicast");
    let gr_time = c.neighbors.iter().filter_map(|n| n.graceful_restart).max();
    if let Some(t) = gr_time {
        let _ = writeln!(w, " bgp graceful-restart");
        let _ = writeln!(w, " bgp graceful-restart restart-time {t}");
        // Sets the F bit, so helpers keep our routes until our End-of-RIB after a restart.
        let _ = writeln!(w, " bgp graceful-restart preserve-fw-state");
    }
    let _ = writeln!(w, " timers bgp {} {}", c.timers.keepalive, c.timers.hold);
    // Default 1000 ms delays the first UPDATEs of a new session.
    let _ = writeln!(w, " coalesce-time 100");
    for n in &c.neighbors {
        let a = n.address;
        let _ = writeln!(w, " neighbor {a} remote-as {}", n.remote_as);
        let _ = writeln!(w, " neighbor {a} description {}", n.name);
        let _ = writeln!(w, " neighbor {a} timers connect {}", c.timers.connect_retry);
        let _ = writeln!(w, " neighbor {a} advertisement-interval 0");
        if let Some(l) = n.local_address {
            let _ = writeln!(w, " neighbor {a} update-source {l}");
        }
        if let Some(p) = &n.password {
            let _ = writeln!(w, " neighbor {a} password {p}");
        }
        if n.passive {
            let _ = writeln!(w, " neighbor {a} passive");
        }
        if n.graceful_restart.is_none() {
            let _ = writeln!(w, " neighbor {a} graceful-restart-disable");
        }
    }
    for f in [Family::Ipv4, Family::Ipv6] {
        let _ = writeln!(w, " address-family {f} unicast");
        for o in c.originate.iter().filter(|o| o.prefix.family() == f) {
            let _ = writeln!(w, "  {}", network_line(o, version));
        }
        for n in c.neighbors.iter().filter(|n| n.has_family(f)) {
            let a = n.address;
            let _ = writeln!(w, "  neighbor {a} activate");
            let _ = writeln!(
                w,
                "  neighbor {a} route-map {} in",
                route_map_name(n, Direction::Import, version)
            );
            let _ = writeln!(
                w,
                "  neighbor {a} route-map {} out",
                route_map_name(n, Direction::Export, version)
            );
        }
        let _ = writeln!(w, " exit-address-family");
    }
    let _ = writeln!(w, "exit");
    let _ = writeln!(w, "!");
    if !c.raw.is_empty() {
        let _ = write!(w, "{}", c.raw);
        let _ = writeln!(w, "!");
    }
    let _ = writeln!(w, "line vty");
    let _ = writeln!(w, "!");
    s
}

fn sanitize(p: &Prefix) -> String {
    p.to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `base`, or `base-VERSION` after runtime changes.
fn versioned(base: String, version: u32) -> String {
    if version == 0 {
        base
    } else {
        format!("{base}-{version}")
    }
}

fn origin_route_map(p: &Prefix, version: u32) -> String {
    versioned(format!("ORIG-{}", sanitize(p)), version)
}

fn network_line(o: &Origin, version: u32) -> String {
    format!(
        "network {} route-map {}",
        o.prefix,
        origin_route_map(&o.prefix, version)
    )
}

fn origin_lines(o: &Origin, version: u32) -> Vec<String> {
    let mut v = vec![
        format!(
            "route-map {} permit 10",
            origin_route_map(&o.prefix, version)
        ),
        " set origin igp".to_string(),
    ];
    if !o.communities.is_empty() {
        v.push(format!(" set community {}", join(&o.communities)));
    }
    if !o.large_communities.is_empty() {
        v.push(format!(
            " set large-community {}",
            join(&o.large_communities)
        ));
    }
    if let Some(m) = o.med {
        v.push(format!(" set metric {m}"));
    }
    v.push("exit".to_string());
    v
}

fn route_map_name(n: &Neighbor, dir: Direction, version: u32) -> String {
    versioned(format!("RM-{}-{}", n.name, dir.short()), version)
}

fn prefix_list_name(n: &Neighbor, dir: Direction, f: Family, version: u32) -> String {
    let v = if f == Family::Ipv4 { 4 } else { 6 };
    versioned(format!("PL-{}-{}-{v}", n.name, dir.short()), version)
}

fn prefix_list_kw(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ip",
        Family::Ipv6 => "ipv6",
    }
}

/// Prefix-lists and the route-map for one neighbor and direction. The route-map always
/// exists (an empty policy is one `permit` entry).
fn policy_lines(n: &Neighbor, dir: Direction, version: u32) -> Vec<String> {
    let p = n.policy(dir);
    let rm = route_map_name(n, dir, version);
    let mut v = Vec::new();
    let mut seq = 10;
    for f in [Family::Ipv4, Family::Ipv6] {
        let rejects = p.reject_of(f);
        if rejects.is_empty() {
            continue;
        }
        let pl = prefix_list_name(n, dir, f, version);
        for (i, r) in rejects.iter().enumerate() {
            v.push(format!(
                "{} prefix-list {pl} seq {} permit {r}",
                prefix_list_kw(f),
                5 * (i + 1)
            ));
        }
        v.push(format!("route-map {rm} deny {seq}"));
        v.push(format!(
            " match {} address prefix-list {pl}",
            prefix_list_kw(f)
        ));
        v.push("exit".to_string());
        seq += 10;
    }
    v.push(format!("route-map {rm} permit 100"));
    if !p.add_communities.is_empty() {
        v.push(format!(
            " set community {} additive",
            join(&p.add_communities)
        ));
    }
    if !p.add_large_communities.is_empty() {
        v.push(format!(
            " set large-community {} additive",
            join(&p.add_large_communities)
        ));
    }
    if let Some(m) = p.set_med {
        v.push(format!(" set metric {m}"));
    }
    v.push("exit".to_string());
    v
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Finds one neighbor's `bgpState` in `show bgp neighbors json`.
fn parse_session_state(neighbors: &Value, peer: IpAddr) -> Result<SessionState> {
    let map = neighbors
        .as_object()
        .ok_or_else(|| anyhow!("show bgp neighbors json: not an object: {neighbors}"))?;
    for (k, v) in map {
        if k.parse::<IpAddr>().ok() == Some(peer) {
            let s = v
                .get("bgpState")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("neighbor {peer}: no bgpState in {v}"))?;
            return Ok(SessionState::from_name(s));
        }
    }
    bail!(
        "no neighbor {peer} in show bgp neighbors (have: {})",
        map.keys().cloned().collect::<Vec<_>>().join(", ")
    )
}

/// Parses `show bgp <afi> unicast <prefix> json` (FRR 8.4). An empty object (the prefix
/// went away between listing and asking) gives no routes.
fn parse_prefix_detail(v: &Value) -> Result<Vec<Route>> {
    let Some(p) = v.get("prefix").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    let prefix: Prefix = p.parse()?;
    let paths = v
        .get("paths")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("{prefix}: no paths array"))?;
    let mut routes = Vec::new();
    for path in paths {
        let mut as_path = Vec::new();
        for seg in path["aspath"]["segments"].as_array().into_iter().flatten() {
            for asn in seg["list"].as_array().into_iter().flatten() {
                as_path.push(
                    asn.as_u64()
                        .and_then(|a| u32::try_from(a).ok())
                        .ok_or_else(|| anyhow!("{prefix}: bad AS {asn}"))?,
                );
            }
        }
        let communities = path["community"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or_default().parse::<Community>())
            .collect::<Result<Vec<_>>>()?;
        let large_communities = path["largeCommunity"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or_default().parse::<LargeCommunity>())
            .collect::<Result<Vec<_>>>()?;
        let med = path["metric"].as_u64().and_then(|m| u32::try_from(m).ok());
        let nexthops: Vec<&Value> = path["nexthops"].as_array().into_iter().flatten().collect();
        let next_hop = nexthops
            .iter()
            .find(|n| n["scope"].as_str() != Some("link-local"))
            .or(nexthops.first())
            .and_then(|n| n["ip"].as_str())
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified());
        let peer = path["peer"]["peerId"]
            .as_str()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified());
        routes.push(Route {
            prefix,
            as_path,
            next_hop,
            communities,
            large_communities,
            med,
            peer,
            best: path["bestpath"]["overall"].as_bool().unwrap_or(false),
            stale: path["stale"].as_bool().unwrap_or(false),
        });
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Neighbor;
    use crate::types::prefix;

    #[test]
    fn reads_as_and_router_id_from_an_integrated_config() {
        let c = integrated_summary(
            "frr defaults datacenter\n!\nrouter bgp 4200000100\n bgp router-id 203.0.113.1\n \
             neighbor 192.0.2.2 remote-as 4200000101\nexit\n",
        )
        .unwrap();
        assert_eq!(c.asn, 4200000100);
        assert_eq!(
            c.router_id,
            "203.0.113.1".parse::<std::net::Ipv4Addr>().unwrap()
        );
        assert!(c.neighbors.is_empty());
        assert!(integrated_summary("hostname x\n").is_err());
        assert!(integrated_summary("router bgp 1\nrouter bgp 2 vrf x\n").is_err());
    }

    #[test]
    fn parses_prefix_detail_captured_from_frr() {
        let v: Value =
            serde_json::from_str(include_str!("../testdata/frr/prefix_detail_v4.json")).unwrap();
        let routes = parse_prefix_detail(&v).unwrap();
        assert_eq!(routes.len(), 2);
        let r = &routes[0];
        assert_eq!(r.prefix, prefix("10.244.3.0/24"));
        assert_eq!(r.as_path, vec![4200000002, 4200000003]);
        assert_eq!(r.communities, vec![Community(64511, 3)]);
        assert_eq!(r.large_communities, vec![LargeCommunity(4200000003, 1, 1)]);
        assert_eq!(r.next_hop, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(r.peer, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(r.med, None);
        assert!(!r.best);
        let r = &routes[1];
        assert_eq!(r.as_path, vec![4200000003]);
        assert_eq!(r.med, Some(33));
        assert!(r.best);
        let v: Value =
            serde_json::from_str(include_str!("../testdata/frr/prefix_detail_v6.json")).unwrap();
        let routes = parse_prefix_detail(&v).unwrap();
        // The global next hop, not the link-local one FRR marks as used.
        assert_eq!(
            routes[0].next_hop,
            Some("2001:db8:0:12::2".parse().unwrap())
        );
        assert!(
            parse_prefix_detail(&serde_json::json!({}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn finds_neighbor_state() {
        let v = serde_json::json!({
            "2001:db8:0:12::2": {"bgpState": "Established"},
            "192.0.2.2": {"bgpState": "Active"},
        });
        assert_eq!(
            parse_session_state(&v, "2001:db8:0:12:0::2".parse().unwrap()).unwrap(),
            SessionState::Established
        );
        assert_eq!(
            parse_session_state(&v, "192.0.2.2".parse().unwrap()).unwrap(),
            SessionState::Active
        );
        assert!(parse_session_state(&v, "192.0.2.9".parse().unwrap()).is_err());
    }

    #[test]
    fn renders_policies_before_router_bgp() {
        let cfg = BgpConfig::new(4200000001, "192.0.2.1".parse().unwrap())
            .neighbor(
                Neighbor::new("192.0.2.2".parse().unwrap(), 4200000002)
                    .name("bird")
                    .graceful_restart(60)
                    .import(Policy::new().reject(prefix("10.244.9.0/24")))
                    .export(
                        Policy::new()
                            .add_community(Community(64511, 100))
                            .set_med(7),
                    ),
            )
            .originate(Origin::new(prefix("10.244.1.0/24")).community(Community(64511, 1)));
        let text = render("r1", &cfg);
        let router = text.find("router bgp").unwrap();
        assert!(text.find("route-map ORIG-10_244_1_0_24 permit 10").unwrap() < router);
        assert!(text.find("route-map RM-bird-in deny 10").unwrap() < router);
        assert!(text.contains("ip prefix-list PL-bird-in-4 seq 5 permit 10.244.9.0/24"));
        assert!(text.contains(" set community 64511:100 additive\n set metric 7\n"));
        assert!(text.contains(" bgp graceful-restart restart-time 60\n"));
        assert!(text.contains("  network 10.244.1.0/24 route-map ORIG-10_244_1_0_24\n"));
        assert!(!text.contains("graceful-restart-disable"));
    }
}
