//! `podroute-bench`: the side-by-side benchmark of issue 6 (podroute, BIRD, FRR and GoBGP as
//! the target of loader → target → collector), and `podroute-bench cluster`, a namespace
//! cluster of podroute nodes. Needs root (network namespaces). Usually run through
//! `interop/bench`, which builds the release binaries first.
//!
//! ```text
//! podroute-bench                         # every scenario, every target, 5 reps, 1M prefixes
//! podroute-bench --quick                 # CI: 1k prefixes, 1 rep, (f) with 20 peers
//! podroute-bench --scenarios a,b --targets podroute,bird --reps 3 --scale 200000
//! podroute-bench cluster --nodes 100 --mesh 30
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use interop::bench::runner::{self, Options, cluster, scenarios::ScenarioId, targets::TargetKind};

#[derive(Parser, Debug)]
#[command(
    name = "podroute-bench",
    about = "podroute against BIRD, FRR and GoBGP, side by side (issue 6)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The scenarios (a) to (g) (the default).
    Run(RunArgs),
    /// A namespace cluster of podroute nodes: convergence and join time.
    Cluster(ClusterArgs),
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// CI's smoke run: 1k prefixes, 1 repetition, (f) with 20 peers, every target.
    #[arg(long)]
    quick: bool,
    /// Repetitions (interleaved across targets).
    #[arg(long)]
    reps: Option<u32>,
    /// Prefixes of (a), (b), (c), (e); (d) uses 10 × scale/10 and (g) scale/5.
    #[arg(long)]
    scale: Option<u64>,
    /// Targets, comma-separated: podroute,bird,frr,gobgp.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Scenarios, comma-separated: a,b,c,d,e,f,g.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Sessions of scenario (f) (default 1000; 20 with --quick).
    #[arg(long)]
    peers: Option<usize>,
    /// Sessions the (f) loader opens at a time.
    #[arg(long)]
    connecting: Option<usize>,
    /// Where results.json and results.md go.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Milliseconds between every session being up and the load starting.
    #[arg(long)]
    settle_ms: Option<u64>,
    /// Multiplies every time limit.
    #[arg(long)]
    limit_factor: Option<f64>,
    /// Skip the raw-netlink and loader→collector baselines.
    #[arg(long)]
    no_baselines: bool,
}

#[derive(Args, Debug, Clone)]
struct ClusterArgs {
    /// Small and quick: 10 nodes with reflectors, a mesh of 5, 1 repetition.
    #[arg(long)]
    quick: bool,
    /// Nodes of the route-reflector cluster (2 of them reflectors).
    #[arg(long)]
    nodes: Option<usize>,
    /// Nodes of the full mesh.
    #[arg(long)]
    mesh: Option<usize>,
    /// Repetitions.
    #[arg(long)]
    reps: Option<u32>,
    /// Where cluster.json and cluster.md go.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn run_options(a: &RunArgs) -> Result<Options> {
    let mut o = if a.quick {
        Options::quick()
    } else {
        Options::full()
    };
    if let Some(r) = a.reps {
        o.reps = r;
    }
    if let Some(s) = a.scale {
        o.scale = s;
    }
    if !a.targets.is_empty() {
        o.targets = a
            .targets
            .iter()
            .map(|t| TargetKind::parse(t))
            .collect::<Result<_>>()?;
        o.targets.dedup();
    }
    if !a.scenarios.is_empty() {
        o.scenarios = a
            .scenarios
            .iter()
            .map(|s| ScenarioId::parse(s))
            .collect::<Result<_>>()?;
        o.scenarios.sort();
        o.scenarios.dedup();
    }
    if let Some(p) = a.peers {
        o.many_peers = p;
    }
    if let Some(c) = a.connecting {
        o.many_connecting = c.max(1);
    }
    if let Some(d) = &a.out {
        o.out = d.clone();
    }
    if let Some(ms) = a.settle_ms {
        o.settle = Duration::from_millis(ms);
    }
    if let Some(f) = a.limit_factor {
        o.limit_factor = f;
    }
    if a.no_baselines {
        o.baselines = false;
    }
    o.validate()?;
    Ok(o)
}

fn cluster_options(a: &ClusterArgs) -> cluster::ClusterOptions {
    let mut o = if a.quick {
        cluster::ClusterOptions::quick()
    } else {
        cluster::ClusterOptions::full()
    };
    if let Some(n) = a.nodes {
        o.rr_nodes = n;
    }
    if let Some(n) = a.mesh {
        o.mesh_nodes = n;
    }
    if let Some(r) = a.reps {
        o.reps = r;
    }
    if let Some(d) = &a.out {
        o.out = d.clone();
    }
    o
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let result = match &cli.command {
        Some(Command::Cluster(a)) => {
            let o = cluster_options(a);
            cluster::run(&o, &command).map(|r| {
                print!("{}", r.markdown());
                println!("\nresults: {}", o.out.display());
            })
        }
        Some(Command::Run(a)) => main_run(a, &command),
        None => main_run(&cli.run, &command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podroute-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main_run(a: &RunArgs, command: &str) -> Result<()> {
    let o = run_options(a)?;
    let report = runner::run(&o, command).context("benchmark")?;
    print!("{}", report.markdown());
    println!(
        "\nresults: {} and {}",
        o.out.join("results.md").display(),
        o.out.join("results.json").display()
    );
    // A smoke run must complete: every run ok.
    if o.quick {
        let failed: Vec<String> = report
            .scenarios
            .iter()
            .flat_map(|s| {
                s.runs
                    .iter()
                    .filter(|r| r.status != runner::scenarios::Status::Ok)
                    .map(move |r| format!("{} {}", s.id, r.who.name()))
            })
            .collect();
        anyhow::ensure!(
            failed.is_empty(),
            "runs that did not complete: {}",
            failed.join(", ")
        );
    }
    Ok(())
}
