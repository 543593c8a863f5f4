//! The benchmark's results: one [`Report`], printed as markdown (tables a person reads) and
//! JSON (every run, for tools), as ripgrep keeps its human and JSON printers apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::Serialize;

use super::Options;
use super::measure::Summary;
use super::scenarios::{Metric, Run, ScenarioId, Status, Who};
use super::targets::{self, TargetKind};

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `/proc/cpuinfo` model name.
    pub cpu: String,
    /// CPUs online.
    pub cpus: usize,
    /// MemTotal, MiB.
    pub memory_mib: u64,
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/loadavg` when the run started.
    pub load_at_start: String,
}

impl Machine {
    /// Reads it from `/proc`.
    pub fn read() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory_mib = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or(0, |kib| kib / 1024);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let load_at_start = fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string();
        Machine {
            cpu,
            cpus,
            memory_mib,
            kernel,
            load_at_start,
        }
    }

    /// One line.
    pub fn summary(&self) -> String {
        format!(
            "{} CPUs ({}), {} MiB, Linux {}, load {}",
            self.cpus, self.cpu, self.memory_mib, self.kernel, self.load_at_start
        )
    }
}

/// One scenario: every run, and per participant the summary of each metric.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Which.
    pub id: ScenarioId,
    /// What it runs.
    pub title: String,
    /// Every run, in the order made.
    pub runs: Vec<Run>,
    /// Per participant (by name), per metric key: median, min, max over the successful runs.
    pub summary: BTreeMap<String, BTreeMap<String, Summary>>,
    /// podroute's median ÷ each other participant's median, per metric key.
    pub podroute_ratio: BTreeMap<String, BTreeMap<String, f64>>,
}

impl ScenarioReport {
    /// Empty.
    pub fn new(id: ScenarioId, title: String) -> ScenarioReport {
        ScenarioReport {
            id,
            title,
            runs: Vec::new(),
            summary: BTreeMap::new(),
            podroute_ratio: BTreeMap::new(),
        }
    }

    /// The participants, in the order they first ran.
    pub fn participants(&self) -> Vec<Who> {
        let mut v: Vec<Who> = Vec::new();
        for r in &self.runs {
            if !v.contains(&r.who) {
                v.push(r.who);
            }
        }
        // Targets first (in their order), then the baselines.
        v.sort_by_key(|w| match w {
            Who::Target(k) => (0, *k as usize),
            Who::RawNetlink => (1, 0),
            Who::Tools => (2, 0),
        });
        v
    }

    /// Computes the summaries and ratios from the runs.
    pub fn finish(&mut self) {
        self.summary.clear();
        self.podroute_ratio.clear();
        let mut keys: Vec<&'static str> = self.id.metrics().iter().map(|m| m.key()).collect();
        keys.push(Metric::Ack.key());
        for who in self.participants() {
            let mut per = BTreeMap::new();
            for key in &keys {
                let values: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|r| r.who == who && r.status == Status::Ok)
                    .filter_map(|r| r.metrics.get(key).copied())
                    .collect();
                if let Some(s) = Summary::of(&values) {
                    per.insert(key.to_string(), s);
                }
            }
            self.summary.insert(who.name().to_string(), per);
        }
        let Some(ours) = self.summary.get(TargetKind::Podroute.name()).cloned() else {
            return;
        };
        for (who, theirs) in &self.summary {
            if who == TargetKind::Podroute.name() || who == Who::Tools.name() {
                continue;
            }
            let mut ratios = BTreeMap::new();
            for (key, s) in &ours {
                if let Some(t) = theirs.get(key)
                    && t.median > 0.0
                {
                    ratios.insert(key.clone(), s.median / t.median);
                }
            }
            if !ratios.is_empty() {
                self.podroute_ratio.insert(who.clone(), ratios);
            }
        }
    }
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seconds since the epoch when the run started.
    pub started_unix: u64,
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Each daemon's version, from its binary.
    pub versions: BTreeMap<String, String>,
    /// Each daemon's settings.
    pub settings: BTreeMap<String, Vec<String>>,
    /// Which processes count for each daemon's memory and CPU.
    pub processes: BTreeMap<String, String>,
    /// The options.
    pub options: Options,
    /// The scenarios, (a) to (g).
    pub scenarios: Vec<ScenarioReport>,
    /// How long the whole run took so far, seconds.
    pub elapsed_s: f64,
}

impl Report {
    /// An empty report for a run about to start.
    pub fn new(o: &Options, command: &str) -> Report {
        let mut versions = BTreeMap::new();
        let mut settings = BTreeMap::new();
        let mut processes = BTreeMap::new();
        for &t in &o.targets {
            versions.insert(t.name().to_string(), targets::version(t));
            settings.insert(t.name().to_string(), targets::settings(t));
            processes.insert(t.name().to_string(), t.processes().to_string());
        }
        Report {
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            command: command.to_string(),
            machine: Machine::read(),
            versions,
            settings,
            processes,
            options: o.clone(),
            scenarios: Vec::new(),
            elapsed_s: 0.0,
        }
    }

    /// Writes `results.json` and `results.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir)?;
        let json = dir.join("results.json");
        fs::write(&json, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("write {}", json.display()))?;
        let md = dir.join("results.md");
        fs::write(&md, self.markdown()).with_context(|| format!("write {}", md.display()))?;
        Ok(())
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# podroute benchmark\n");
        let _ = writeln!(m, "Command: `{}`  ", self.command);
        let _ = writeln!(m, "Machine: {}  ", self.machine.summary());
        let o = &self.options;
        let _ = writeln!(
            m,
            "Repetitions: {} (interleaved: {}), scale {}; run took {:.0} s\n",
            o.reps,
            o.targets
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", "),
            o.scale,
            self.elapsed_s
        );
        let _ = writeln!(
            m,
            "Cells: median (min–max) over the successful repetitions; `n/a`: not \
             measured (no FIB, or not applicable); a run that did not finish is \
             listed below its table. Time to relay: loader's first UPDATE octet \
             written → collector has every prefix. Time to FIB: same start → the \
             target's kernel table holds every route (netlink events). Peak RSS: Σ VmHWM \
             of the target's processes; CPU: Σ utime+stime of those processes, read when \
             the scenario is complete (daemon start-up included).\n"
        );
        let _ = writeln!(m, "## Versions and settings\n");
        for (t, v) in &self.versions {
            let _ = writeln!(
                m,
                "- **{t}**: {v}; processes counted: {}",
                self.processes[t]
            );
            for s in &self.settings[t] {
                let _ = writeln!(m, "  - {s}");
            }
        }
        let _ = writeln!(m);
        for s in &self.scenarios {
            let _ = writeln!(m, "{}", scenario_markdown(s));
        }
        m
    }
}

fn cell(s: Option<&Summary>, digits: usize) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max, d = digits),
        Some(s) => format!("{:.d$}", s.median, d = digits),
        None => "n/a".to_string(),
    }
}

fn digits(m: Metric) -> usize {
    match m {
        Metric::PeakRss | Metric::PerSession => 1,
        Metric::Cpu => 2,
        _ => 3,
    }
}

/// One scenario's tables: the figures, then podroute's ratios, then the failures.
pub fn scenario_markdown(s: &ScenarioReport) -> String {
    let mut m = String::new();
    let metrics = s.id.metrics();
    let _ = writeln!(m, "### {} {}\n", s.id, s.title);
    let _ = write!(m, "| |");
    for x in metrics {
        let _ = write!(m, " {} |", x.label(s.id));
    }
    let _ = writeln!(m, " runs ok |");
    let _ = write!(m, "|---|");
    for _ in metrics {
        let _ = write!(m, "---|");
    }
    let _ = writeln!(m, "---|");
    for who in s.participants() {
        let sum = s.summary.get(who.name());
        let _ = write!(m, "| {} |", who.name());
        for x in metrics {
            let c = cell(sum.and_then(|v| v.get(x.key())), digits(*x));
            let _ = write!(m, " {c} |");
        }
        let runs: Vec<&Run> = s.runs.iter().filter(|r| r.who == who).collect();
        let ok = runs.iter().filter(|r| r.status == Status::Ok).count();
        let _ = writeln!(m, " {ok}/{} |", runs.len());
    }
    if let Some(ack) = s
        .summary
        .get(Who::RawNetlink.name())
        .and_then(|v| v.get(Metric::Ack.key()))
    {
        let _ = writeln!(
            m,
            "\nraw netlink with no watcher subscribed, every batch acknowledged: {} s",
            cell(Some(ack), 3)
        );
    }
    if !s.podroute_ratio.is_empty() {
        let _ = writeln!(
            m,
            "\npodroute ÷ other (medians; below 1 means podroute is faster or smaller):\n"
        );
        let _ = write!(m, "| |");
        for x in metrics {
            let _ = write!(m, " {} |", x.label(s.id));
        }
        let _ = writeln!(m);
        let _ = write!(m, "|---|");
        for _ in metrics {
            let _ = write!(m, "---|");
        }
        let _ = writeln!(m);
        for who in s.participants() {
            let Some(r) = s.podroute_ratio.get(who.name()) else {
                continue;
            };
            let _ = write!(m, "| ÷ {} |", who.name());
            for x in metrics {
                match r.get(x.key()) {
                    Some(v) => {
                        let _ = write!(m, " {v:.2}× |");
                    }
                    None => {
                        let _ = write!(m, " n/a |");
                    }
                }
            }
            let _ = writeln!(m);
        }
    }
    let busy: Vec<&Run> = s.runs.iter().filter(|r| r.busy_before > 0.10).collect();
    if !busy.is_empty() {
        let _ = writeln!(
            m,
            "\n{} of {} runs started with the machine more than 10% busy with something else \
             (highest {:.0}%): those figures may be inflated.",
            busy.len(),
            s.runs.len(),
            busy.iter().map(|r| r.busy_before).fold(0.0, f64::max) * 100.0
        );
    }
    let failed: Vec<&Run> = s.runs.iter().filter(|r| r.status != Status::Ok).collect();
    if !failed.is_empty() {
        let _ = writeln!(m, "\nRuns that did not complete:\n");
        for r in failed {
            let e = r.error.as_deref().unwrap_or_default();
            let first: String = e.lines().take(3).collect::<Vec<_>>().join(" / ");
            let _ = writeln!(
                m,
                "- {} rep {}: {:?}: {}",
                r.who.name(),
                r.rep,
                r.status,
                first
            );
        }
    }
    m
}
