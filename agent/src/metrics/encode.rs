//! A [`Snapshot`] in the OpenMetrics text format, through prometheus-client.
//!
//! The snapshot is encoded as a [`Collector`]: every value is a constant
//! read at scrape time, and series come out in a stable order (peers by
//! address, then family), which keeps diffs of two scrapes readable.

use std::fmt;

use bgp::fsm::State;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::{PeerStats, Snapshot};

/// The media type of [`encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric name starts with this, then `_`.
const PREFIX: &str = "podroute";

/// Session states, in RFC 4271 order; each peer has one series per state.
const STATES: [State; 6] = [
    State::Idle,
    State::Connect,
    State::Active,
    State::OpenSent,
    State::OpenConfirm,
    State::Established,
];

/// Route operations always exported, even before the first one.
const FIB_OPS: [&str; 3] = ["add", "replace", "delete"];

/// The exposition of `snapshot`, `# EOF` included.
pub(crate) fn encode(snapshot: Snapshot) -> String {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// One metric family at a time, each with its HELP, TYPE and series.
struct Out<'e> {
    enc: DescriptorEncoder<'e>,
}

impl Out<'_> {
    fn gauge<'l, V: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        series: impl IntoIterator<Item = (Labels<'l>, V)>,
    ) -> fmt::Result {
        let mut m = self
            .enc
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
        for (labels, v) in series {
            if labels.is_empty() {
                m.encode_gauge(&v)?;
            } else {
                m.encode_family(&labels)?.encode_gauge(&v)?;
            }
        }
        Ok(())
    }

    /// `_total` is appended to the name.
    fn counter<'l, V: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Labels<'l>, V)>,
    ) -> fmt::Result {
        let mut m = self
            .enc
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, v) in series {
            if labels.is_empty() {
                m.encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            } else {
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
            }
        }
        Ok(())
    }

    fn info(&mut self, name: &str, help: &str, labels: &impl EncodeLabelSet) -> fmt::Result {
        self.enc
            .encode_descriptor(name, help, None, MetricType::Info)?
            .encode_info(labels)
    }
}

fn one<V>(v: V) -> [(Labels<'static>, V); 1] {
    [(Vec::new(), v)]
}

fn flag(b: bool) -> u64 {
    u64::from(b)
}

/// The labels that name a peer: address, AS ("" when not known yet), kind.
struct PeerLabels {
    peer: String,
    asn: String,
    kind: &'static str,
}

impl PeerLabels {
    fn of(p: &PeerStats) -> PeerLabels {
        PeerLabels {
            peer: p.address.to_string(),
            asn: p.asn.map(|a| a.to_string()).unwrap_or_default(),
            kind: p.kind,
        }
    }

    fn get(&self) -> Labels<'_> {
        vec![
            ("peer", &self.peer),
            ("asn", &self.asn),
            ("kind", self.kind),
        ]
    }

    fn with<'a>(&'a self, key: &'static str, value: &'a str) -> Labels<'a> {
        let mut l = self.get();
        l.push((key, value));
        l
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, enc: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let mut out = Out { enc };
        out.info(
            "build",
            "The running podroute's version.",
            &[("version", env!("CARGO_PKG_VERSION"))],
        )?;
        out.gauge(
            "uptime",
            "Time since the agent started.",
            Some(Unit::Seconds),
            one(s.uptime_secs),
        )?;
        bgp(&mut out, s)?;
        rib(&mut out, s)?;
        fib(&mut out, s)
    }
}

fn bgp(out: &mut Out<'_>, s: &Snapshot) -> fmt::Result {
    let peers: Vec<(PeerLabels, &PeerStats)> =
        s.peers.iter().map(|p| (PeerLabels::of(p), p)).collect();
    let state_names = STATES.map(|st| st.to_string());
    out.gauge(
        "bgp_peer_state",
        "BGP session state (RFC 4271 §8.2.2): 1 for the state the session is in, 0 for the others.",
        None,
        peers.iter().flat_map(|(l, p)| {
            STATES
                .iter()
                .zip(&state_names)
                .map(move |(st, name)| (l.with("state", name), flag(p.state == *st)))
        }),
    )?;
    out.gauge(
        "bgp_peer_uptime",
        "Time since the session reached Established; 0 while it is not.",
        Some(Unit::Seconds),
        peers
            .iter()
            .map(|(l, p)| (l.get(), p.uptime_secs.unwrap_or(0.0))),
    )?;
    out.counter(
        "bgp_peer_established",
        "Times the session reached Established since the agent started; a rising count is a flapping session.",
        peers.iter().map(|(l, p)| (l.get(), p.established)),
    )?;
    out.counter(
        "bgp_peer_updates_received",
        "UPDATE messages received from the peer.",
        peers.iter().map(|(l, p)| (l.get(), p.updates_received)),
    )?;
    out.counter(
        "bgp_peer_updates_sent",
        "UPDATE messages sent to the peer.",
        peers.iter().map(|(l, p)| (l.get(), p.updates_sent)),
    )?;
    out.counter(
        "bgp_peer_paths_rejected",
        "Paths refused by the checks before import policy (AS path loop, first AS, route reflection loops) since the session last came up.",
        peers.iter().map(|(l, p)| (l.get(), p.rejected_by_checks)),
    )?;
    out.gauge(
        "bgp_peer_stale",
        "1 while the peer's routes are kept as stale during its graceful restart (RFC 4724).",
        None,
        peers.iter().map(|(l, p)| (l.get(), flag(p.stale))),
    )?;
    let families = || {
        peers
            .iter()
            .flat_map(|(l, p)| p.families.iter().map(move |f| (l, f)))
    };
    out.gauge(
        "bgp_peer_prefixes_received",
        "Paths received from the peer before import policy, by address family; only for peers with `keep_received: true`.",
        None,
        families().filter_map(|(l, f)| Some((l.with("family", &f.family), f.received?))),
    )?;
    out.gauge(
        "bgp_peer_prefixes_accepted",
        "Paths from the peer accepted by import policy (in the Loc-RIB), by address family.",
        None,
        families().map(|(l, f)| (l.with("family", &f.family), f.accepted)),
    )?;
    out.gauge(
        "bgp_peer_prefixes_advertised",
        "Prefixes advertised to the peer (its Adj-RIB-Out), by address family.",
        None,
        families().map(|(l, f)| (l.with("family", &f.family), f.advertised)),
    )?;
    out.gauge(
        "bgp_graceful_restart_deferring",
        "1 while route selection waits for the peers' End-of-RIB after our restart (RFC 4724 §4.1).",
        None,
        one(flag(s.deferring)),
    )?;
    out.gauge(
        "bgp_initial_sync_done",
        "1 once the initial routing table is complete.",
        None,
        one(flag(s.initial_sync_done)),
    )
}

fn rib(out: &mut Out<'_>, s: &Snapshot) -> fmt::Result {
    out.gauge(
        "rib_prefixes",
        "Prefixes in the Loc-RIB.",
        None,
        one(s.rib.prefixes),
    )?;
    out.gauge(
        "rib_paths",
        "Paths in the Loc-RIB, all prefixes together.",
        None,
        one(s.rib.paths),
    )?;
    out.gauge(
        "rib_attribute_sets",
        "Distinct path attribute sets held (interned, shared between paths).",
        None,
        one(s.rib.attribute_sets),
    )?;
    out.gauge(
        "rib_originated_prefixes",
        "Prefixes this node originates.",
        None,
        one(s.rib.originated),
    )
}

fn fib(out: &mut Out<'_>, s: &Snapshot) -> fmt::Result {
    let f = &s.fib;
    out.gauge(
        "fib_enabled",
        "1 when podroute installs routes in the kernel; 0 with `fib.enabled: false` (the other fib metrics then stay 0).",
        None,
        one(flag(s.fib_enabled)),
    )?;
    out.gauge(
        "fib_routes_desired",
        "Routes the FIB wants in the kernel (best paths to install).",
        None,
        one(f.desired),
    )?;
    out.gauge(
        "fib_routes_installed",
        "Desired routes the kernel holds as wanted.",
        None,
        one(f.installed),
    )?;
    out.gauge(
        "fib_routes_not_installed",
        "Desired routes that cannot be installed: next hop not on a connected subnet, or refused by the kernel (see the log and `podroute show fib`).",
        None,
        one(f.not_installed),
    )?;
    out.gauge(
        "fib_routes_pending",
        "Desired routes waiting to be written to the kernel.",
        None,
        one(f.pending),
    )?;
    out.gauge(
        "fib_routes_kept",
        "Routes left in the kernel by the previous run, kept until the routing table is complete (graceful restart).",
        None,
        one(f.kept),
    )?;
    let mut ops: Vec<(&str, &str, u64)> = Vec::new();
    for (result, map) in [("ok", &f.ops_ok), ("error", &f.ops_failed)] {
        for op in FIB_OPS {
            ops.push((op, result, map.get(op).copied().unwrap_or(0)));
        }
        for (op, n) in map.iter().filter(|(op, _)| !FIB_OPS.contains(op)) {
            ops.push((op, result, *n));
        }
    }
    out.counter(
        "fib_operations",
        "Route writes sent to the kernel, by operation and result.",
        ops.into_iter()
            .map(|(op, result, n)| (vec![("op", op), ("result", result)], n)),
    )?;
    out.counter(
        "fib_netlink_batches",
        "Netlink sends carrying route writes (many routes per send).",
        one(f.batches),
    )?;
    out.counter(
        "fib_resyncs",
        "Full re-reads of our routes from the kernel, by reason.",
        f.resyncs
            .iter()
            .map(|(reason, n)| (vec![("reason", *reason)], *n)),
    )?;
    out.counter(
        "fib_external_changes",
        "Routes of ours changed or deleted by someone else, and put back.",
        one(f.external_changes),
    )?;
    out.gauge(
        "fib_initial_reconcile",
        "Time from the FIB's start to its first complete reconciliation; 0 until then.",
        Some(Unit::Seconds),
        one(f.sync_secs),
    )?;
    out.gauge(
        "fib_reconciled",
        "1 once the kernel's routes have been reconciled with the desired ones.",
        None,
        one(flag(f.reconciled)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::FibStats;
    use crate::metrics::snapshot::{FamilyStats, RibStats};

    fn sample() -> Snapshot {
        let mut fib = FibStats {
            desired: 10,
            installed: 8,
            not_installed: 1,
            pending: 1,
            kept: 0,
            batches: 4,
            external_changes: 2,
            sync_secs: 0.25,
            reconciled: true,
            ..FibStats::default()
        };
        fib.ops_ok.insert("replace", 9);
        fib.ops_failed.insert("replace", 1);
        fib.resyncs.insert("startup", 1);
        fib.resyncs.insert("overrun", 2);
        Snapshot {
            uptime_secs: 12.5,
            peers: vec![
                PeerStats {
                    address: "192.0.2.2".parse().unwrap(),
                    asn: Some(65001),
                    kind: "tor",
                    state: State::Established,
                    uptime_secs: Some(3.0),
                    established: 2,
                    updates_received: 7,
                    updates_sent: 5,
                    rejected_by_checks: 1,
                    stale: false,
                    families: vec![
                        FamilyStats {
                            family: "ipv4-unicast".into(),
                            received: Some(4),
                            accepted: 3,
                            advertised: 2,
                        },
                        FamilyStats {
                            family: "ipv6-unicast".into(),
                            received: Some(0),
                            accepted: 0,
                            advertised: 1,
                        },
                    ],
                },
                PeerStats {
                    address: "fd00::3".parse().unwrap(),
                    asn: None,
                    kind: "dynamic",
                    state: State::Active,
                    uptime_secs: None,
                    established: 0,
                    updates_received: 0,
                    updates_sent: 0,
                    rejected_by_checks: 0,
                    stale: true,
                    families: vec![FamilyStats {
                        family: "ipv6-unicast".into(),
                        received: None,
                        accepted: 0,
                        advertised: 0,
                    }],
                },
            ],
            rib: RibStats {
                prefixes: 11,
                paths: 13,
                attribute_sets: 4,
                originated: 1,
            },
            deferring: false,
            initial_sync_done: true,
            fib_enabled: true,
            fib,
        }
    }

    fn has(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }

    #[test]
    fn peer_series_carry_their_labels() {
        let t = encode(sample());
        let tor = r#"peer="192.0.2.2",asn="65001",kind="tor""#;
        has(
            &t,
            &format!("podroute_bgp_peer_state{{{tor},state=\"Established\"}} 1"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_state{{{tor},state=\"Idle\"}} 0"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_uptime_seconds{{{tor}}} 3.0"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_established_total{{{tor}}} 2"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_updates_received_total{{{tor}}} 7"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_updates_sent_total{{{tor}}} 5"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_paths_rejected_total{{{tor}}} 1"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_prefixes_accepted{{{tor},family=\"ipv4-unicast\"}} 3"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_prefixes_advertised{{{tor},family=\"ipv6-unicast\"}} 1"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_prefixes_received{{{tor},family=\"ipv4-unicast\"}} 4"),
        );

        // Unknown AS: an empty label; unknown received count: no series.
        let dynamic = r#"peer="fd00::3",asn="",kind="dynamic""#;
        has(
            &t,
            &format!("podroute_bgp_peer_state{{{dynamic},state=\"Active\"}} 1"),
        );
        has(
            &t,
            &format!("podroute_bgp_peer_uptime_seconds{{{dynamic}}} 0.0"),
        );
        has(&t, &format!("podroute_bgp_peer_stale{{{dynamic}}} 1"));
        assert!(!t.contains(r#"podroute_bgp_peer_prefixes_received{peer="fd00::3""#));
    }

    #[test]
    fn process_rib_and_fib_series() {
        let t = encode(sample());
        has(
            &t,
            &format!(
                "podroute_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        );
        has(&t, "podroute_uptime_seconds 12.5");
        has(&t, "podroute_rib_prefixes 11");
        has(&t, "podroute_rib_paths 13");
        has(&t, "podroute_rib_attribute_sets 4");
        has(&t, "podroute_rib_originated_prefixes 1");
        has(&t, "podroute_bgp_graceful_restart_deferring 0");
        has(&t, "podroute_bgp_initial_sync_done 1");
        has(&t, "podroute_fib_enabled 1");
        has(&t, "podroute_fib_routes_desired 10");
        has(&t, "podroute_fib_routes_installed 8");
        has(&t, "podroute_fib_routes_not_installed 1");
        has(&t, "podroute_fib_routes_pending 1");
        has(&t, "podroute_fib_routes_kept 0");
        has(
            &t,
            r#"podroute_fib_operations_total{op="replace",result="ok"} 9"#,
        );
        has(
            &t,
            r#"podroute_fib_operations_total{op="replace",result="error"} 1"#,
        );
        // Never used, still there from the start.
        has(
            &t,
            r#"podroute_fib_operations_total{op="add",result="ok"} 0"#,
        );
        has(
            &t,
            r#"podroute_fib_operations_total{op="delete",result="error"} 0"#,
        );
        has(&t, "podroute_fib_netlink_batches_total 4");
        has(&t, r#"podroute_fib_resyncs_total{reason="overrun"} 2"#);
        has(&t, r#"podroute_fib_resyncs_total{reason="startup"} 1"#);
        has(&t, "podroute_fib_external_changes_total 2");
        has(&t, "podroute_fib_initial_reconcile_seconds 0.25");
        has(&t, "podroute_fib_reconciled 1");
    }

    #[test]
    fn every_family_has_help_and_type_and_the_text_ends_with_eof() {
        let t = encode(sample());
        assert!(t.ends_with("# EOF\n"), "{t}");
        let helps = t.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = t.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(helps, types);
        assert!(helps >= 25, "{helps} families:\n{t}");
        has(&t, "# TYPE podroute_bgp_peer_updates_received counter");
        has(&t, "# TYPE podroute_bgp_peer_state gauge");
        has(&t, "# UNIT podroute_fib_initial_reconcile_seconds seconds");
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            assert!(l.starts_with("podroute_"), "{l}");
            assert!(!l.contains("{}"), "{l}");
        }
    }

    #[test]
    fn no_peers_still_describes_the_peer_metrics() {
        let t = encode(Snapshot::default());
        has(&t, "# TYPE podroute_bgp_peer_state gauge");
        assert!(!t.contains("podroute_bgp_peer_state{"), "{t}");
        has(&t, "podroute_fib_reconciled 0");
    }
}
