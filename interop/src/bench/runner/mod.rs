//! The side-by-side benchmark of issue 6 (`podroute-bench`, `interop/bench`): podroute,
//! BIRD 2, FRR 8.4 and GoBGP 3.10 as the target of loader → target → collector, in the same
//! run on the same machine, fresh daemons and fresh namespaces for every run, repetitions
//! interleaved (rep 1: podroute, bird, frr, gobgp; rep 2: ...), medians with min–max, as a
//! markdown table and JSON.
//!
//! - [`scenarios`]: the scenarios (a) to (g) and one run of each (see its docs for the
//!   topology and what every stamp means).
//! - [`targets`]: how each daemon is configured and started (its fast settings, in the
//!   report too).
//! - [`measure`]: `/proc` readings and statistics.
//! - [`report`]: the markdown and JSON printers.
//! - [`cluster`]: the other mode, a namespace cluster of podroute nodes (issue 6 item 4).
//!
//! Every wait is bounded: a run that does not finish within its limit (60 s + 300 s per
//! million prefixes, times `--limit-factor`) is recorded as a timeout for that target, and
//! the target is skipped in the scenario's later repetitions. Daemons are stopped by PID
//! (the ones the runner started) and the lab deletes its namespaces. Between runs the
//! runner waits for the machine to go quiet (a deleted namespace's routes are freed by the
//! kernel in the background).

pub mod cluster;
pub mod measure;
pub mod report;
pub mod scenarios;
pub mod targets;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde::Serialize;

use self::report::{Report, ScenarioReport};
use self::scenarios::{ManyPlan, Run, RunSettings, ScenarioId, Status, Who};
use self::targets::TargetKind;

/// The validated options of a benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Repetitions per scenario and target.
    pub reps: u32,
    /// Prefixes of (a), (b), (c), (e); (d) uses 10 × scale/10, (g) scale/5.
    pub scale: u64,
    /// Sessions of (f).
    pub many_peers: usize,
    /// Prefixes per session in (f).
    pub many_prefixes: u64,
    /// Sessions the (f) loader opens at a time.
    pub many_connecting: usize,
    /// The daemons, in interleaving order.
    pub targets: Vec<TargetKind>,
    /// The scenarios.
    pub scenarios: Vec<ScenarioId>,
    /// Where results.json and results.md go.
    pub out: PathBuf,
    /// Pause between sessions up and load start.
    pub settle: Duration,
    /// Multiplies every time limit.
    pub limit_factor: f64,
    /// Run the raw-netlink and loader→collector baselines.
    pub baselines: bool,
    /// Longest wait for the machine to go quiet between runs.
    pub idle_wait: Duration,
    /// `--quick` was given.
    pub quick: bool,
}

impl Options {
    /// The defaults: 5 repetitions of every scenario at 1M against every target.
    pub fn full() -> Options {
        Options {
            reps: 5,
            scale: 1_000_000,
            many_peers: 1000,
            many_prefixes: 10,
            many_connecting: 8,
            targets: TargetKind::ALL.to_vec(),
            scenarios: ScenarioId::ALL.to_vec(),
            out: PathBuf::from("target/bench"),
            settle: Duration::from_millis(1500),
            limit_factor: 1.0,
            baselines: true,
            idle_wait: Duration::from_secs(30),
            quick: false,
        }
    }

    /// CI's smoke run: everything scaled down (1k prefixes, (f) with 20 peers), 1 repetition.
    pub fn quick() -> Options {
        Options {
            reps: 1,
            scale: 1000,
            many_peers: 20,
            settle: Duration::from_millis(500),
            limit_factor: 0.5,
            idle_wait: Duration::from_secs(1),
            quick: true,
            ..Options::full()
        }
    }

    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.reps >= 1, "--reps must be at least 1");
        ensure!(
            (10..=4_000_000).contains(&self.scale),
            "--scale must be 10 to 4000000 (the IPv4 block holds 4M /32s)"
        );
        ensure!(!self.targets.is_empty(), "no targets");
        ensure!(!self.scenarios.is_empty(), "no scenarios");
        ensure!(
            (1..=60_000).contains(&self.many_peers),
            "--peers must be 1 to 60000"
        );
        ensure!(self.limit_factor > 0.0, "--limit-factor must be positive");
        Ok(())
    }

    fn settings(&self) -> RunSettings {
        RunSettings {
            settle: self.settle,
            limit_factor: self.limit_factor,
        }
    }

    fn many(&self) -> ManyPlan {
        ManyPlan {
            peers: self.many_peers,
            per_peer: self.many_prefixes,
            connecting: self.many_connecting,
        }
    }
}

/// Waits for quiet before a run and says so when it does not come; returns the share of
/// the CPUs busy just before.
fn settle_machine(o: &Options) -> f64 {
    let (waited, quiet) = measure::wait_idle(o.idle_wait, 0.10);
    let busy = measure::busy_share(Duration::from_millis(100)).unwrap_or(0.0);
    if !quiet && !o.quick {
        eprintln!(
            "bench: the machine is still busy after {:.1} s ({:.0}% now); going on \
             (figures may suffer)",
            waited.as_secs_f64(),
            busy * 100.0
        );
    }
    busy
}

/// Runs `f` after waiting for quiet; notes how busy the machine was and how long the run
/// took, and logs its line.
fn timed<T>(o: &Options, f: impl FnOnce() -> T, runs: impl Fn(&mut T) -> Vec<&mut Run>) -> T {
    let busy = settle_machine(o);
    let t0 = Instant::now();
    let mut out = f();
    let took = t0.elapsed().as_secs_f64();
    for r in runs(&mut out) {
        r.wall_s = took;
        r.busy_before = busy;
        eprintln!(
            "  {} [{took:.1} s{}]",
            r.line(),
            if busy > 0.10 {
                format!(", machine {:.0}% busy before", busy * 100.0)
            } else {
                String::new()
            }
        );
    }
    out
}

/// Runs every selected scenario; writes `results.json` and `results.md` to `o.out` after
/// each scenario (so a long run interrupted keeps what it measured) and returns the report.
pub fn run(o: &Options, command: &str) -> Result<Report> {
    o.validate()?;
    crate::lab::require_root()?;
    for t in &o.targets {
        crate::lab::require_programs(t.programs())?;
    }
    std::fs::create_dir_all(&o.out)?;
    let started = Instant::now();
    let mut report = Report::new(o, command);
    eprintln!("bench: {}", report.machine.summary());
    for (k, v) in &report.versions {
        eprintln!("bench: {k}: {v}");
    }
    let s = o.settings();
    let many = o.many();
    let has = |id| o.scenarios.contains(&id);
    for id in ScenarioId::ALL {
        if !has(id) || (id == ScenarioId::E && has(ScenarioId::A)) {
            // (e) is measured in (a)'s runs when both are asked for.
            continue;
        }
        let with_e = id == ScenarioId::E || (id == ScenarioId::A && has(ScenarioId::E));
        let mut main = ScenarioReport::new(id, scenarios::describe(id, o.scale, &many));
        let mut e = ScenarioReport::new(
            ScenarioId::E,
            scenarios::describe(ScenarioId::E, o.scale, &many),
        );
        let plan = if id == ScenarioId::F {
            None
        } else {
            let t0 = Instant::now();
            let plan_id = if with_e { ScenarioId::E } else { id };
            let p = scenarios::relay_plan(plan_id, o.scale)?;
            eprintln!(
                "bench: {id}: built {} UPDATEs for {} prefixes in {:.2} s",
                p.loaders
                    .iter()
                    .map(|l| l.updates.announce_messages)
                    .sum::<usize>(),
                p.total,
                t0.elapsed().as_secs_f64()
            );
            Some(p)
        };
        for rep in 1..=o.reps {
            eprintln!("bench: {id} rep {rep}/{}: {}", o.reps, main.title);
            if let Some(p) = &plan
                && o.baselines
            {
                if matches!(id, ScenarioId::A | ScenarioId::E | ScenarioId::G) {
                    let (r, rm) = timed(
                        o,
                        || scenarios::raw_netlink(p, &s, rep),
                        |(r, rm)| std::iter::once(r).chain(rm.as_mut()).collect(),
                    );
                    if id != ScenarioId::E {
                        main.runs.push(r);
                    }
                    if let Some(rm) = rm {
                        e.runs.push(rm);
                    }
                }
                if matches!(id, ScenarioId::A | ScenarioId::C) {
                    let r = timed(o, || scenarios::relay_tools(p, &s, rep), |r| vec![r]);
                    main.runs.push(r);
                }
            }
            for &kind in &o.targets {
                let who = Who::Target(kind);
                let timed_out = main
                    .runs
                    .iter()
                    .chain(&e.runs)
                    .any(|r| r.who == who && r.status == Status::Timeout);
                if timed_out {
                    let why = "timed out in an earlier repetition";
                    if id != ScenarioId::E {
                        main.runs.push(Run::skipped(who, rep, why));
                    }
                    if with_e {
                        e.runs.push(Run::skipped(who, rep, why));
                    }
                    continue;
                }
                match &plan {
                    Some(p) => {
                        let (r, rw) = timed(
                            o,
                            || scenarios::relay_target(kind, p, &s, rep),
                            |(r, rw)| std::iter::once(r).chain(rw.as_mut()).collect(),
                        );
                        match (id, rw) {
                            (ScenarioId::E, Some(rw)) if rw.status == Status::Skipped => {
                                // (e) alone: the announcement part's failure is (e)'s.
                                e.runs.push(r);
                            }
                            (ScenarioId::E, Some(rw)) => e.runs.push(rw),
                            (_, rw) => {
                                main.runs.push(r);
                                e.runs.extend(rw);
                            }
                        }
                    }
                    None => {
                        let r = timed(
                            o,
                            || scenarios::many_target(kind, &many, &s, rep),
                            |r| vec![r],
                        );
                        main.runs.push(r);
                    }
                }
            }
        }
        if id != ScenarioId::E {
            main.finish();
            eprintln!("{}", report::scenario_markdown(&main));
            report.scenarios.push(main);
        }
        if with_e {
            e.finish();
            eprintln!("{}", report::scenario_markdown(&e));
            report.scenarios.push(e);
        }
        report.scenarios.sort_by_key(|s| s.id);
        report.elapsed_s = started.elapsed().as_secs_f64();
        report.write(&o.out)?;
    }
    report.elapsed_s = started.elapsed().as_secs_f64();
    report.write(&o.out)?;
    Ok(report)
}
