//! The Kubernetes side of the agent: the cluster's intent (this node, the
//! other nodes, BGPPeers, Secrets) turned into peers and pod CIDRs, the
//! pod CIDR claims (PodCIDRBlock), and the node's status report.
//!
//! Everything here talks to the API server through `kube`; what can be
//! decided without it (which peers a node should have) is a pure function
//! in [`intent`], tested without a server.

pub(crate) mod client;
pub(crate) mod intent;
pub(crate) mod ipam;
pub(crate) mod keeper;
pub(crate) mod resources;
pub(crate) mod status;
pub(crate) mod watch;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{
    ClusterOverlay, Config, KubernetesSettings, PodCidrSource, RESERVED_POLICY_PREFIX,
};
use crate::control::protocol::IpamView;
use crate::display::list_or_none;

/// What the agent holds of the cluster once it started.
pub(crate) struct Started {
    /// Each new overlay (peers, pod CIDRs, router ID) from the watchers.
    pub(crate) overlay: tokio::sync::watch::Receiver<ClusterOverlay>,
    pub(crate) client: kube::Client,
    pub(crate) settings: KubernetesSettings,
    /// This node's Node, as read at start.
    pub(crate) node: Node,
    /// The cluster's blocks, for `show ipam` (`ipam` mode).
    pub(crate) ipam: Option<tokio::sync::watch::Receiver<IpamView>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("node", &self.node.metadata.name)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How long to wait between tries while the API server cannot be reached
/// at start (a node booting before the control plane answers).
const RETRY: Duration = Duration::from_secs(2);

/// Connects, finds this node's Node, gets its pod CIDRs the configured way
/// and starts the watchers; returns once the first overlay is known.
pub(crate) async fn start(
    settings: &KubernetesSettings,
    node_name: &str,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<Started> {
    let client = client::connect(settings).await?;
    let node = this_node(&client, node_name).await?;

    let mut ipam_view = None;
    let own_cidrs = match settings.pod_cidr_source {
        PodCidrSource::Ipam => {
            let pools = settings.pools.clone().context(
                "`pod_cidrs: ipam` without pools: the configuration check should have refused this",
            )?;
            let blocks = ipam::claim(&client, &pools, &node)
                .await
                .with_context(|| format!("cannot get a pod CIDR block for node {node_name}"))?;
            info!(
                mode = "ipam",
                pod_cidrs = %list_or_none(&blocks),
                "pod CIDRs: claimed as PodCIDRBlocks from the pools"
            );
            let claims = keeper::Claims {
                node: node.clone(),
                blocks: blocks.clone(),
                pools,
            };
            ipam_view = Some(keeper::spawn(client.clone(), claims, shutdown.clone()));
            Some(blocks)
        }
        PodCidrSource::NodeSpec => {
            let spec: Vec<String> = node
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidrs.clone())
                .unwrap_or_default();
            if spec.is_empty() {
                warn!(
                    mode = "node-spec",
                    "pod CIDRs: Node {node_name} has no spec.podCIDRs yet (kube-controller-manager sets them with --allocate-node-cidrs); they are followed as they come"
                );
            } else {
                info!(mode = "node-spec", pod_cidrs = %spec.join(", "), "pod CIDRs: the Node's spec.podCIDRs");
            }
            None
        }
        PodCidrSource::Static => {
            let cidrs: Vec<::ipam::Cidr> = config
                .pod_cidrs
                .iter()
                .filter_map(|p| p.to_string().parse().ok())
                .collect();
            info!(mode = "static", pod_cidrs = %list_or_none(&cidrs), "pod CIDRs: the configuration file's");
            Some(cidrs)
        }
    };

    let file_policies: BTreeSet<String> = config
        .speaker
        .policies
        .keys()
        .filter(|n| !n.starts_with(RESERVED_POLICY_PREFIX))
        .cloned()
        .collect();
    let overlay = watch::spawn(
        client.clone(),
        settings.clone(),
        node_name.to_string(),
        own_cidrs,
        file_policies,
        shutdown,
    )
    .await?;
    Ok(Started {
        overlay,
        client,
        settings: settings.clone(),
        node,
        ipam: ipam_view,
    })
}

/// This node's Node. While the API server does not answer, tries again
/// (said in the log); a Node that does not exist is an error at once.
async fn this_node(client: &kube::Client, name: &str) -> anyhow::Result<Node> {
    let nodes = Api::<Node>::all(client.clone());
    let mut tries = 0u32;
    loop {
        match nodes.get_opt(name).await {
            Ok(Some(node)) => return Ok(node),
            Ok(None) => bail!(
                "there is no Node named `{name}`: is --node-name / NODE_NAME right (in a DaemonSet, from the downward API's spec.nodeName)?"
            ),
            Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403 => {
                return Err(kube::Error::Api(s)).with_context(|| {
                    format!("may not read Node {name}: give podroute's ServiceAccount get/list/watch on nodes (deploy/rbac.yaml)")
                });
            }
            Err(e) => {
                tries += 1;
                warn!(
                    tries,
                    "cannot reach the API server to read Node {name}: {e}; trying again in {}s",
                    RETRY.as_secs()
                );
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}
