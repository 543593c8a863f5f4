//! `podroute ipam ...`: the pod CIDR blocks, straight from where they are
//! kept (no agent needed): the API server (from a laptop with a kubeconfig,
//! or from any node), or the state file of the configuration's `ipam`
//! section (standalone hosts). `show ipam` asks a running agent instead.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use super::output::{Format, write_err};
use crate::cluster::{client, ipam};
use crate::config::{self, IpamSettings, KubernetesSettings, Overrides};
use crate::control::protocol::{IpamView, ResponseBody};
use crate::file_ipam;

#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
    podroute ipam list
    podroute ipam list -o json | jq '.blocks[] | select(.node == \"node-3\")'
    podroute ipam release node-3

The API server is found as kubectl finds it: `kubernetes.kubeconfig` in the
configuration, $KUBECONFIG, ~/.kube/config, or the pod's service account.
With an `ipam` section in the configuration (no Kubernetes), the blocks are
read from and released in its state file instead.")]
pub(crate) struct IpamArgs {
    #[command(subcommand)]
    what: IpamCommand,

    /// The configuration file whose `kubernetes` section names the pools
    /// and the cluster, or whose `ipam` section names the pools and the
    /// state file. Without one, the embedded default.
    #[arg(
        long,
        short = 'c',
        env = "PODROUTE_CONFIG",
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,

    /// A kubeconfig file, instead of the configuration's.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE", global = true)]
    kubeconfig: Option<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text, global = true)]
    output: Format,
}

#[derive(Debug, Subcommand)]
enum IpamCommand {
    /// Every block: which node holds it, from which pool, since when; and
    /// how full each pool is.
    List,
    /// Free every block of a node that is gone but whose Node object was
    /// not deleted (deleting the Node frees its blocks by itself). With an
    /// `ipam` state file there is no Node to check: the blocks are freed,
    /// and a running agent of that node allocates them again within seconds.
    Release {
        /// The node whose blocks to free.
        node: String,
        /// Free them even though the Node still exists: its agent, if it
        /// runs, claims blocks again at its next start.
        #[arg(long)]
        force: bool,
    },
}

pub(crate) fn run(args: IpamArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = source(&args).ipam()? {
        return run_file(&args, &file);
    }
    let settings = settings(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = client::connect(&settings).await?;
        match args.what {
            IpamCommand::List => {
                let blocks = ipam::list(&client).await?;
                let mode = settings.pod_cidr_source.name();
                let view = blocks.view(mode, None, settings.pools.as_ref());
                print_view(args.output, view)?;
            }
            IpamCommand::Release { node, force } => {
                let nodes = Api::<Node>::all(client.clone());
                let exists = nodes
                    .get_opt(&node)
                    .await
                    .with_context(|| format!("cannot read Node {node}"))?
                    .is_some();
                if exists && !force {
                    bail!(
                        "Node {node} still exists: its blocks are in use. Delete the Node (`kubectl delete node {node}`: its blocks go with it), or add --force"
                    );
                }
                let released = ipam::release(&client, &node).await?;
                print_released(&node, &released);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The configuration; a node name is not needed here, but validation
/// asks for one.
fn source(args: &IpamArgs) -> config::Source {
    config::Source {
        file: args.config.clone(),
        overrides: Overrides {
            node_name: Some("podroute-ipam-cli".into()),
            ..Overrides::default()
        },
        cluster: None,
        allocated: None,
    }
}

/// `list` and `release` on the `ipam` section's state file. Plain file
/// I/O: no runtime, no agent.
fn run_file(args: &IpamArgs, settings: &IpamSettings) -> anyhow::Result<ExitCode> {
    match &args.what {
        IpamCommand::List => {
            let view = file_ipam::read_view(settings, None)?;
            print_view(args.output, view)?;
        }
        // Nothing to force: no Node object says whether the node is alive.
        IpamCommand::Release { node, force: _ } => {
            let released = file_ipam::release(settings, node)?;
            print_released(node, &released);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_view(format: Format, view: IpamView) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match format {
        Format::Text => super::show::text::ipam::print(&mut out, &view)?,
        Format::Json => super::show::json::print(&mut out, &ResponseBody::Ipam(Box::new(view)))?,
    }
    out.flush().map_err(write_err)
}

fn print_released(node: &str, released: &[::ipam::Cidr]) {
    if released.is_empty() {
        println!("node {node} holds no blocks");
    }
    for b in released {
        println!("released {b} (node {node})");
    }
}

/// The `kubernetes` section of the configuration, or defaults if it has
/// none.
fn settings(args: &IpamArgs) -> anyhow::Result<KubernetesSettings> {
    let source = source(args);
    let mut settings = source.kubernetes()?.unwrap_or_else(|| KubernetesSettings {
        kubeconfig: None,
        namespace: config::DEFAULT_NAMESPACE.into(),
        pod_cidr_source: config::PodCidrSource::Ipam,
        pools: None,
        mesh: config::Mesh::Full,
        reflector_label: String::new(),
        import_guard: false,
        node_max_prefix: 0,
        status_interval: std::time::Duration::from_secs(10),
    });
    if let Some(k) = &args.kubeconfig {
        settings.kubeconfig = Some(k.clone());
    }
    Ok(settings)
}
