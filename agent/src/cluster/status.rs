//! The node's `PodrouteNodeStatus` (as CalicoNodeStatus): its sessions and
//! route counts, for `kubectl get podroutenodestatuses` and dashboards.
//!
//! Written at a bounded rate: the agent is asked every `status_interval`,
//! and the object is written only when the report changed, or, unchanged,
//! every [`HEARTBEAT_INTERVALS`] intervals so `updated` shows the agent is
//! alive. A thousand nodes with sessions flapping still make at most one
//! write per node per interval. The object is owned by the Node: deleting
//! the Node deletes it.

use std::time::Duration;

use k8s_openapi::jiff::{Timestamp, Unit};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Started;
use super::resources::{NodeStatusReport, PodrouteNodeStatus, RouteCounts, SessionReport};
use crate::control::protocol::{NeighborSummary, Query, ResponseBody, Status};
use crate::control::server::ControlHandle;

/// An unchanged report is written again after this many intervals.
const HEARTBEAT_INTERVALS: u32 = 30;
/// Who writes the status, for server-side apply.
const FIELD_MANAGER: &str = "podroute";

/// Starts the status writer of the node `c` is about.
pub(crate) fn spawn_for(
    c: &Started,
    control: ControlHandle,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    let writer = Writer {
        api: Api::all(c.client.clone()),
        node: c.node.clone(),
        created: false,
        last_error: None,
    };
    tokio::spawn(run(writer, c.settings.status_interval, control, shutdown))
}

async fn run(
    mut writer: Writer,
    interval: Duration,
    control: ControlHandle,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last: Option<NodeStatusReport> = None;
    let mut unchanged = 0u32;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(report) = ask(&control).await else {
            continue;
        };
        let changed = last.as_ref().is_none_or(|l| !same(l, &report));
        unchanged = if changed { 0 } else { unchanged + 1 };
        if !changed && unchanged < HEARTBEAT_INTERVALS {
            continue;
        }
        if writer.write(&report).await {
            unchanged = 0;
            last = Some(report);
        }
    }
}

/// The agent's state as a report; `None` if the agent did not answer (it
/// is stopping).
async fn ask(control: &ControlHandle) -> Option<NodeStatusReport> {
    let query = async |q: Query| -> Option<ResponseBody> {
        let (tx, rx) = oneshot::channel();
        control.send((q, tx)).await.ok()?;
        rx.await.ok()
    };
    let Some(ResponseBody::Status(status)) = query(Query::Status).await else {
        return None;
    };
    let Some(ResponseBody::Neighbors { neighbors }) = query(Query::Neighbors).await else {
        return None;
    };
    Some(report(&status, &neighbors, Timestamp::now()))
}

/// The report of an agent in state `status` with `neighbors`, at `now`. The
/// kernel route counts come with the status (the FIB task keeps them), not
/// from a `show fib` of every route.
pub(crate) fn report(
    status: &Status,
    neighbors: &[NeighborSummary],
    now: Timestamp,
) -> NodeStatusReport {
    let at = |secs_ago: u64| {
        now.checked_sub(Duration::from_secs(secs_ago))
            .ok()
            .map(rfc3339)
    };
    let sessions: Vec<SessionReport> = neighbors
        .iter()
        .map(|n| {
            let sum = |f: fn(&crate::control::protocol::FamilyCounts) -> u64| {
                n.families.iter().map(f).sum()
            };
            SessionReport {
                peer: n.address.to_string(),
                asn: n.asn.unwrap_or(0),
                kind: n.kind.clone(),
                state: n.state.clone(),
                since: n.uptime_secs.and_then(at),
                prefixes_received: sum(|f| f.received.unwrap_or(f.accepted)),
                prefixes_accepted: sum(|f| f.accepted),
                prefixes_advertised: sum(|f| f.advertised),
                last_error: n.last_error.clone(),
            }
        })
        .collect();
    NodeStatusReport {
        updated: rfc3339(now),
        router_id: status.router_id.clone(),
        asn: status.asn,
        pod_cidrs: status.originated.clone(),
        session_count: sessions.len() as u32,
        established: sessions.iter().filter(|s| s.state == "Established").count() as u32,
        sessions,
        routes: RouteCounts {
            best: status.prefixes as u64,
            installed: status.fib.map_or(0, |f| f.installed),
            not_installed: status.fib.map_or(0, |f| f.not_installed),
        },
    }
}

fn api_version() -> String {
    <PodrouteNodeStatus as kube::Resource>::api_version(&()).into_owned()
}

fn rfc3339(t: Timestamp) -> String {
    t.round(Unit::Second).unwrap_or(t).to_string()
}

/// Equal but for the times, which move on every poll.
fn same(a: &NodeStatusReport, b: &NodeStatusReport) -> bool {
    let strip = |r: &NodeStatusReport| {
        let mut r = r.clone();
        r.updated.clear();
        for s in &mut r.sessions {
            s.since = None;
        }
        r
    };
    strip(a) == strip(b)
}

struct Writer {
    api: Api<PodrouteNodeStatus>,
    node: k8s_openapi::api::core::v1::Node,
    /// The object exists (made by us this run).
    created: bool,
    /// Said once, until it changes or writing works again.
    last_error: Option<String>,
}

impl Writer {
    /// Writes `report`; `false` (and a warning, once) if the API server
    /// refused.
    async fn write(&mut self, report: &NodeStatusReport) -> bool {
        match self.try_write(report).await {
            Ok(()) => {
                if self.last_error.take().is_some() {
                    info!("writing the node status works again");
                }
                debug!(established = report.established, "node status written");
                true
            }
            Err(e) => {
                let text = format!("{e:#}");
                if self.last_error.as_deref() != Some(text.as_str()) {
                    warn!(
                        "cannot write the PodrouteNodeStatus: {text}; trying again next interval"
                    );
                    self.last_error = Some(text);
                }
                false
            }
        }
    }

    async fn try_write(&mut self, report: &NodeStatusReport) -> anyhow::Result<()> {
        let name = self.node.name_any();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        if !self.created {
            // Server-side apply: made if missing, left as is if there.
            let object = json!({
                "apiVersion": api_version(),
                "kind": "PodrouteNodeStatus",
                "metadata": {
                    "name": name,
                    "ownerReferences": [{
                        "apiVersion": "v1",
                        "kind": "Node",
                        "name": name,
                        "uid": self.node.metadata.uid,
                    }],
                },
                "spec": {"node": name},
            });
            self.api
                .patch(&name, &params, &Patch::Apply(&object))
                .await?;
            self.created = true;
        }
        let status = json!({
            "apiVersion": api_version(),
            "kind": "PodrouteNodeStatus",
            "status": report,
        });
        if let Err(e) = self
            .api
            .patch_status(&name, &params, &Patch::Apply(&status))
            .await
        {
            // Deleted by hand since: made again next time.
            if matches!(&e, kube::Error::Api(s) if s.is_not_found()) {
                self.created = false;
            }
            return Err(e.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
