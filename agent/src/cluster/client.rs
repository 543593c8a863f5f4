//! Connecting to the API server: in-cluster (the DaemonSet's
//! ServiceAccount), or a kubeconfig file (`kubernetes.kubeconfig`,
//! $KUBECONFIG, ~/.kube/config) for agents outside the cluster and tests.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::KubernetesSettings;

/// A client for the cluster `settings` name.
pub(crate) async fn connect(settings: &KubernetesSettings) -> anyhow::Result<kube::Client> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).with_context(|| {
                format!("cannot read the kubeconfig file {}", path.display())
            })?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("the kubeconfig file {} is not usable", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no Kubernetes API server found: not in a pod (no service account), and no $KUBECONFIG or ~/.kube/config; set `kubernetes.kubeconfig`",
        )?,
    };
    let server = config.cluster_url.to_string();
    kube::Client::try_from(config)
        .with_context(|| format!("cannot make a client for the API server at {server}"))
}
