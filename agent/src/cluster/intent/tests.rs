use std::time::Duration;

use bgp::fsm::RemoteAs;
use bgp::policy::{RouteContext, RouteSource, Verdict};
use bgp::rib::RouteAttrs;
use bgp::speaker::{MaxPrefixAction, PeerConfig, PeerKind};
use bgp::types::{Asn, FamilySet};
use bgp::wire::NextHop;
use ipam::{Pool, Pools};
use serde_json::json;

use super::*;
use crate::cluster::resources::BGPPeerSpec;
use crate::config::{Config, Host, reload_plan};

/// The file the overlay goes over in these tests: node `a` of a
/// dual-stack cluster, two policies a BGPPeer may name.
const FILE: &str = r#"
node: a
asn: 64512
kubernetes:
  pools:
    - cidr: 10.244.0.0/16
    - cidr: fd00:10:244::/48
      block_len: 64
policies:
  tor-in: { default: next }
  tor-out: { default: accept }
"#;

fn settings() -> KubernetesSettings {
    let pools = Pools::new(vec![
        Pool::new("10.244.0.0/16".parse().unwrap(), 24, vec![]).unwrap(),
        Pool::new("fd00:10:244::/48".parse().unwrap(), 64, vec![]).unwrap(),
    ])
    .unwrap();
    KubernetesSettings {
        kubeconfig: None,
        namespace: "podroute".into(),
        pod_cidr_source: PodCidrSource::Ipam,
        pools: Some(pools),
        mesh: Mesh::Full,
        reflector_label: "podroute.io/route-reflector".into(),
        import_guard: true,
        node_max_prefix: 64,
        status_interval: Duration::from_secs(10),
    }
}

fn reflectors() -> KubernetesSettings {
    KubernetesSettings {
        mesh: Mesh::Reflectors,
        ..settings()
    }
}

const RR: (&str, &str) = ("podroute.io/route-reflector", "true");

fn node(name: &str, addresses: &[&str], labels: &[(&str, &str)]) -> Arc<Node> {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let addresses: Vec<_> = addresses
        .iter()
        .map(|a| json!({"type": "InternalIP", "address": a}))
        .chain([json!({"type": "Hostname", "address": name})])
        .collect();
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"addresses": addresses},
        }))
        .unwrap(),
    )
}

/// A node with one IPv4 InternalIP, 10.0.0.N for node N of `a`, `b`, ...
fn v4(name: &str, labels: &[(&str, &str)]) -> Arc<Node> {
    let n = name.as_bytes()[0] - b'a' + 1;
    node(name, &[&format!("10.0.0.{n}")], labels)
}

fn peer(name: &str, spec: serde_json::Value) -> Arc<BGPPeer> {
    let spec: BGPPeerSpec = serde_json::from_value(spec).unwrap();
    Arc::new(BGPPeer::new(name, spec))
}

fn secret(name: &str, data: serde_json::Value) -> Arc<Secret> {
    let mut s = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "podroute"},
    });
    if let serde_json::Value::Object(fields) = data {
        s.as_object_mut().unwrap().extend(fields);
    }
    Arc::new(serde_json::from_value(s).unwrap())
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|c| c.parse().unwrap()).collect()
}

/// Node `me` among `nodes`, with block 10.244.1.0/24.
fn view(me: &str, nodes: Vec<Arc<Node>>) -> ClusterView {
    ClusterView {
        node: me.into(),
        nodes,
        peers: vec![],
        secrets: vec![],
        own_cidrs: Some(cidrs(&["10.244.1.0/24"])),
        file_policies: ["tor-in", "tor-out"].map(String::from).into(),
    }
}

/// The overlay over [`FILE`], validated: the overlay must always be.
fn config(intent: &Intent) -> Config {
    crate::config::parse_with_overlay(FILE, &Host::default(), &intent.overlay)
        .unwrap_or_else(|e| panic!("the overlay does not validate: {e:#}\n{intent:#?}"))
}

/// One line per peer, as the speaker will have it.
fn sessions(c: &Config) -> Vec<String> {
    c.peers
        .iter()
        .map(|p| {
            let kind = match p.kind {
                PeerKind::Mesh => "mesh",
                PeerKind::Reflector => "reflector",
                PeerKind::ReflectorClient => "client",
                PeerKind::Tor => "tor",
                _ => "other",
            };
            let families: Vec<String> = p.families.iter().map(|f| f.to_string()).collect();
            let local = p
                .transport
                .local_address
                .map(|a| format!(" from {a}"))
                .unwrap_or_default();
            let rr = if p.route_reflector_client {
                " rr-client"
            } else {
                ""
            };
            format!(
                "{} {kind} {}{local}{rr} ({})",
                p.address,
                families.join(","),
                p.description.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

fn intent_sessions(v: &ClusterView, s: &KubernetesSettings) -> Vec<String> {
    sessions(&config(&overlay(v, s)))
}

fn warned(intent: &Intent, what: &str) -> bool {
    intent.warnings.iter().any(|w| w.contains(what))
}

#[test]
fn this_node_gives_the_router_id_and_pod_cidrs_by_mode() {
    let with_spec = |pod_cidrs: &[&str]| -> Arc<Node> {
        let mut n = (*node("a", &["fd00::1", "10.0.0.1", "10.0.0.9"], &[])).clone();
        n.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
            pod_cidrs: Some(pod_cidrs.iter().map(|c| c.to_string()).collect()),
            ..Default::default()
        });
        Arc::new(n)
    };
    type Case<'a> = (
        PodCidrSource,
        Option<&'a [&'a str]>,
        &'a [&'a str],
        Option<&'a [&'a str]>,
    );
    let cases: &[Case<'_>] = &[
        // (mode, the agent's CIDRs, the Node's spec.podCIDRs, the overlay's)
        (
            PodCidrSource::Ipam,
            Some(&["10.244.1.0/24", "fd00:10:244:1::/64"]),
            &["10.9.0.0/24"],
            Some(&["10.244.1.0/24", "fd00:10:244:1::/64"]),
        ),
        (
            PodCidrSource::NodeSpec,
            None,
            &["10.244.7.0/24", "fd00:10:244:7::/64"],
            Some(&["10.244.7.0/24", "fd00:10:244:7::/64"]),
        ),
        (PodCidrSource::NodeSpec, None, &[], Some(&[])),
        // Two overlapping, one not a network: the rest stands.
        (
            PodCidrSource::NodeSpec,
            None,
            &["10.244.7.0/24", "10.244.7.128/25", "10.244.8.1/24"],
            Some(&["10.244.7.0/24"]),
        ),
        (PodCidrSource::Static, Some(&["10.244.1.0/24"]), &[], None),
        (PodCidrSource::Static, None, &["10.244.7.0/24"], None),
    ];
    for (source, own, spec, want) in cases {
        let s = KubernetesSettings {
            pod_cidr_source: *source,
            ..settings()
        };
        let mut v = view("a", vec![with_spec(spec)]);
        v.own_cidrs = own.map(cidrs);
        let intent = overlay(&v, &s);
        let want = want.map(|w| w.iter().map(|c| c.to_string()).collect::<Vec<_>>());
        assert_eq!(
            intent.overlay.pod_cidrs, want,
            "{source:?} {own:?} {spec:?}"
        );
        assert_eq!(
            intent.overlay.router_id,
            Some(Ipv4Addr::new(10, 0, 0, 1)),
            "the first IPv4 InternalIP"
        );
    }

    let mut v = view("a", vec![with_spec(&[])]);
    v.own_cidrs = None;
    let s = KubernetesSettings {
        pod_cidr_source: PodCidrSource::NodeSpec,
        ..settings()
    };
    assert!(warned(&overlay(&v, &s), "no spec.podCIDRs yet"));

    let only_v6 = view("a", vec![node("a", &["fd00::1"], &[])]);
    let intent = overlay(&only_v6, &settings());
    assert_eq!(intent.overlay.router_id, None);
    assert!(warned(&intent, "node a: no IPv4 InternalIP"));

    let stranger = view("zz", vec![v4("a", &[])]);
    let intent = overlay(&stranger, &settings());
    assert!(intent.overlay.peers.is_empty());
    assert!(warned(&intent, "node zz: no Node of that name"));
}

#[test]
fn full_mesh_is_one_session_per_family_both_nodes_have() {
    // (this node's InternalIPs, the other's, the sessions)
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["10.0.0.1"],
            &["10.0.0.2"],
            &["10.0.0.2 mesh ipv4-unicast from 10.0.0.1 (node b)"],
        ),
        (
            &["10.0.0.1", "fd00::1"],
            &["fd00::2", "10.0.0.2"],
            &[
                "10.0.0.2 mesh ipv4-unicast from 10.0.0.1 (node b)",
                "fd00::2 mesh ipv6-unicast from fd00::1 (node b)",
            ],
        ),
        (
            &["10.0.0.1", "fd00::1"],
            &["fd00::2"],
            &["fd00::2 mesh ipv6-unicast from fd00::1 (node b)"],
        ),
        // The first of a family counts.
        (
            &["10.0.0.1"],
            &["10.0.0.2", "10.0.0.3"],
            &["10.0.0.2 mesh ipv4-unicast from 10.0.0.1 (node b)"],
        ),
        (&["10.0.0.1"], &["fd00::2"], &[]),
        (&["10.0.0.1"], &[], &[]),
    ];
    for (mine, theirs, want) in cases {
        let v = view("a", vec![node("b", theirs, &[]), node("a", mine, &[])]);
        assert_eq!(
            intent_sessions(&v, &settings()),
            *want,
            "{mine:?} with {theirs:?}"
        );
    }

    let v = view(
        "a",
        vec![node("a", &["10.0.0.1"], &[]), node("b", &["fd00::2"], &[])],
    );
    assert!(warned(
        &overlay(&v, &settings()),
        "node b: no InternalIP of a family"
    ));
    let v = view(
        "a",
        vec![node("a", &["10.0.0.1"], &[]), node("b", &[], &[])],
    );
    assert!(warned(
        &overlay(&v, &settings()),
        "node b: no InternalIP: no session"
    ));
    let v = view("a", vec![node("a", &[], &[]), v4("b", &[])]);
    let intent = overlay(&v, &settings());
    assert!(intent.overlay.peers.is_empty());
    assert!(warned(
        &intent,
        "node a: no InternalIP: no sessions with other nodes"
    ));
}

#[test]
fn node_sessions_carry_the_guard_and_the_node_limit() {
    let v = view("a", vec![v4("a", &[]), v4("b", &[])]);
    let c = config(&overlay(&v, &settings()));
    let p = &c.peers[0];
    assert_eq!(p.remote_as, RemoteAs::Internal);
    assert_eq!(p.import.as_deref(), Some(&[GUARD.to_string()][..]));
    assert_eq!(p.export, None, "iBGP: the iBGP rules decide");
    let m = p.max_prefix.unwrap();
    assert_eq!(m.limit, 64);
    assert!(matches!(m.action, MaxPrefixAction::Restart(_)));
    assert_eq!(p.transport.password, None);

    let off = KubernetesSettings {
        import_guard: false,
        ..settings()
    };
    let c = config(&overlay(&v, &off));
    assert_eq!(c.peers[0].import, None);
    assert!(!c.speaker.policies.contains_key(GUARD));
    assert!(c.speaker.policies.contains_key(EXPORT_OWN));
}

#[test]
fn nodes_being_deleted_are_left_out() {
    let mut leaving = (*v4("c", &[])).clone();
    leaving.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
    );
    let v = view("a", vec![v4("a", &[]), v4("b", &[]), Arc::new(leaving)]);
    assert_eq!(
        intent_sessions(&v, &settings()),
        ["10.0.0.2 mesh ipv4-unicast from 10.0.0.1 (node b)"]
    );
}

#[test]
fn reflectors_peer_with_everyone_the_others_only_with_them() {
    // a and b reflect; c and d are clients.
    let nodes = || vec![v4("a", &[RR]), v4("b", &[RR]), v4("c", &[]), v4("d", &[])];
    let cases: &[(&str, &[&str])] = &[
        (
            "a",
            &[
                "10.0.0.2 reflector ipv4-unicast from 10.0.0.1 (node b)",
                "10.0.0.3 client ipv4-unicast from 10.0.0.1 rr-client (node c)",
                "10.0.0.4 client ipv4-unicast from 10.0.0.1 rr-client (node d)",
            ],
        ),
        (
            "c",
            &[
                "10.0.0.1 reflector ipv4-unicast from 10.0.0.3 (node a)",
                "10.0.0.2 reflector ipv4-unicast from 10.0.0.3 (node b)",
            ],
        ),
    ];
    for (me, want) in cases {
        let v = view(me, nodes());
        assert_eq!(intent_sessions(&v, &reflectors()), *want, "node {me}");
    }

    // Sessions to a reflector carry the whole cluster: no per-node limit.
    let c = config(&overlay(&view("c", nodes()), &reflectors()));
    assert!(c.peers.iter().all(|p| p.max_prefix.is_none()));
    let c = config(&overlay(&view("a", nodes()), &reflectors()));
    assert!(c.peers[0].max_prefix.is_none(), "b reflects too");
    assert!(c.peers[1].max_prefix.is_some(), "c is a client");

    // No reflector at all: nobody to peer with, and it is said.
    let v = view("c", vec![v4("a", &[]), v4("c", &[])]);
    let intent = overlay(&v, &reflectors());
    assert!(intent.overlay.peers.is_empty());
    assert!(warned(
        &intent,
        "no node is labelled podroute.io/route-reflector=true"
    ));
    // A label other than `true` is not a reflector.
    let v = view(
        "c",
        vec![
            v4("a", &[("podroute.io/route-reflector", "yes")]),
            v4("c", &[]),
        ],
    );
    assert!(overlay(&v, &reflectors()).overlay.peers.is_empty());
}

#[test]
fn mesh_none_has_no_node_sessions() {
    let s = KubernetesSettings {
        mesh: Mesh::None,
        ..settings()
    };
    let mut v = view("a", vec![v4("a", &[RR]), v4("b", &[RR]), v4("c", &[])]);
    v.peers = vec![peer("tor", json!({"address": "192.0.2.1", "asn": 65001}))];
    assert_eq!(
        intent_sessions(&v, &s),
        ["192.0.2.1 tor ipv4-unicast (BGPPeer tor)"]
    );
}

#[test]
fn a_node_selector_picks_the_nodes_by_their_labels() {
    let labels: &[(&str, &str)] = &[("rack", "r1"), ("zone", "z1"), ("role", "worker")];
    // (selector, whether it selects a node labelled `labels`)
    let cases: &[(serde_json::Value, bool)] = &[
        (json!(null), true),
        (json!({}), true),
        (json!({"matchLabels": {"rack": "r1"}}), true),
        (json!({"matchLabels": {"rack": "r2"}}), false),
        (json!({"matchLabels": {"rack": "r1", "zone": "z2"}}), false),
        (
            json!({"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r0", "r1"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "rack", "operator": "In", "values": ["r2"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r2"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["r1"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["a100"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "role", "operator": "Exists"}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "rack", "operator": "DoesNotExist"}]}),
            false,
        ),
        // matchLabels AND matchExpressions.
        (
            json!({"matchLabels": {"zone": "z1"}, "matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1"]}]}),
            true,
        ),
        (
            json!({"matchLabels": {"zone": "z1"}, "matchExpressions": [{"key": "rack", "operator": "In", "values": ["r9"]}]}),
            false,
        ),
    ];
    for (selector, selected) in cases {
        let mut v = view("a", vec![v4("a", labels)]);
        v.peers = vec![peer(
            "tor",
            json!({"address": "192.0.2.1", "asn": 65001, "nodeSelector": selector}),
        )];
        let intent = overlay(&v, &settings());
        assert_eq!(
            intent.overlay.peers.len(),
            usize::from(*selected),
            "{selector}"
        );
        assert!(
            intent.warnings.is_empty(),
            "{selector}: {:?}",
            intent.warnings
        );
    }

    let mut v = view("a", vec![v4("a", labels)]);
    v.peers = vec![peer(
        "tor",
        json!({"address": "192.0.2.1", "asn": 65001, "nodeSelector": {"matchExpressions": [{"key": "rack", "operator": "Near"}]}}),
    )];
    let intent = overlay(&v, &settings());
    assert!(intent.overlay.peers.is_empty());
    assert!(warned(&intent, "BGPPeer tor: nodeSelector is not valid"));
}

#[test]
fn a_bgp_peer_becomes_a_session_with_its_settings() {
    let mut v = view("a", vec![v4("a", &[])]);
    v.peers = vec![peer(
        "tor-a",
        json!({
            "address": "192.0.2.1",
            "asn": 65001,
            "passwordSecretRef": {"name": "tor-a", "key": "password"},
            "holdTime": 30,
            "gracefulRestart": false,
            "families": ["ipv4-unicast", "ipv6", "ipv4-unicast"],
            "import": ["tor-in"],
            "export": ["tor-out"],
            "maxPrefix": 100,
            "ttlSecurity": 1,
            "port": 1179,
        }),
    )];
    v.secrets = vec![secret("tor-a", json!({"data": {"password": "czNjcmV0"}}))];
    let intent = overlay(&v, &settings());
    assert!(intent.warnings.is_empty(), "{:?}", intent.warnings);
    let c = config(&intent);
    let p: &PeerConfig = &c.peers[0];
    assert_eq!(p.address, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(p.remote_as, RemoteAs::Exact(Asn::new(65001)));
    assert_eq!(p.kind, PeerKind::Tor);
    assert_eq!(p.description.as_deref(), Some("BGPPeer tor-a"));
    assert_eq!(p.transport.password.as_deref(), Some("s3cret"));
    assert_eq!(p.transport.port, 1179);
    assert_eq!(p.transport.ttl_security, Some(1));
    assert_eq!(p.hold_time.seconds(), 30);
    assert!(!p.graceful_restart);
    assert_eq!(
        p.families,
        [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
            .into_iter()
            .collect::<FamilySet>()
    );
    assert_eq!(
        p.import.as_deref(),
        Some(&[GUARD.to_string(), "tor-in".to_string()][..])
    );
    assert_eq!(p.export.as_deref(), Some(&["tor-out".to_string()][..]));
    let m = p.max_prefix.unwrap();
    assert_eq!(m.limit, 100);
    assert!(matches!(m.action, MaxPrefixAction::Restart(_)));
}

#[test]
fn a_bgp_peer_without_policies_still_has_both_chains() {
    // RFC 8212: an eBGP peer without an import (export) chain accepts
    // (sends) nothing. The guard and the own-routes export fill both.
    let mut v = view("a", vec![v4("a", &[])]);
    v.peers = vec![
        peer("tor-a", json!({"address": "192.0.2.1", "asn": 65001})),
        peer(
            "tor-b",
            json!({"address": "2001:db8::1", "asn": 65002, "acceptDefaultRoute": true}),
        ),
    ];
    let c = config(&overlay(&v, &settings()));
    let chains: Vec<_> = c
        .peers
        .iter()
        .map(|p| {
            (
                p.import.clone().unwrap(),
                p.export.clone().unwrap(),
                p.families,
            )
        })
        .collect();
    assert_eq!(
        chains,
        [
            (
                vec![GUARD.to_string()],
                vec![EXPORT_OWN.to_string()],
                FamilySet::from_iter([Family::IPV4_UNICAST])
            ),
            (
                vec![GUARD_DEFAULT_ROUTE.to_string()],
                vec![EXPORT_OWN.to_string()],
                FamilySet::from_iter([Family::IPV6_UNICAST])
            ),
        ]
    );

    // With the guard off, the BGPPeer's own choice stands, and an import
    // chain left empty is said in the log.
    let off = KubernetesSettings {
        import_guard: false,
        ..settings()
    };
    let intent = overlay(&v, &off);
    let c = config(&intent);
    assert_eq!(c.peers[0].import, None);
    assert_eq!(
        c.peers[0].export.as_deref(),
        Some(&[EXPORT_OWN.to_string()][..])
    );
    assert!(warned(
        &intent,
        "BGPPeer tor-a: no import policy and the import guard is off"
    ));
}

#[test]
fn passwords_come_from_secrets_or_the_peer_is_left_out() {
    let with_ref = json!({
        "address": "192.0.2.1",
        "asn": 65001,
        "passwordSecretRef": {"name": "tor-a", "key": "password"},
    });
    /// The Secrets; the password, or the warning.
    type Case = (Vec<Arc<Secret>>, Result<&'static str, &'static str>);
    let cases: &[Case] = &[
        (
            vec![secret("tor-a", json!({"data": {"password": "czNjcmV0"}}))],
            Ok("s3cret"),
        ),
        // `kubectl create secret --from-file` of a file ending in a newline.
        (
            vec![secret(
                "tor-a",
                json!({"data": {"password": "czNjcmV0Cg=="}}),
            )],
            Ok("s3cret"),
        ),
        // A server that keeps stringData as written.
        (
            vec![secret(
                "tor-a",
                json!({"stringData": {"password": "plain"}}),
            )],
            Ok("plain"),
        ),
        // data wins over stringData, as the API server merges them.
        (
            vec![secret(
                "tor-a",
                json!({"data": {"password": "czNjcmV0"}, "stringData": {"other": "x"}}),
            )],
            Ok("s3cret"),
        ),
        (
            vec![],
            Err("BGPPeer tor-a: Secret podroute/tor-a not found: session not configured"),
        ),
        (
            vec![secret("tor-b", json!({"data": {"password": "czNjcmV0"}}))],
            Err("BGPPeer tor-a: Secret podroute/tor-a not found: session not configured"),
        ),
        (
            vec![secret("tor-a", json!({"data": {"pass": "czNjcmV0"}}))],
            Err(
                "BGPPeer tor-a: Secret podroute/tor-a has no key `password`: session not configured",
            ),
        ),
        (
            vec![secret("tor-a", json!({"data": {"password": "//79"}}))],
            Err("BGPPeer tor-a: Secret podroute/tor-a key `password` is not UTF-8 text"),
        ),
        (
            vec![secret("tor-a", json!({"data": {"password": ""}}))],
            Err("key `password` is empty"),
        ),
        (
            vec![secret(
                "tor-a",
                json!({"stringData": {"password": "x".repeat(81)}}),
            )],
            Err("key `password` is 81 bytes; a TCP-MD5 password is at most 80"),
        ),
    ];
    for (secrets, want) in cases {
        let mut v = view("a", vec![v4("a", &[])]);
        v.peers = vec![peer("tor-a", with_ref.clone())];
        v.secrets = secrets.clone();
        let intent = overlay(&v, &settings());
        match want {
            Ok(pw) => {
                assert!(intent.warnings.is_empty(), "{:?}", intent.warnings);
                let c = config(&intent);
                assert_eq!(c.peers[0].transport.password.as_deref(), Some(*pw));
            }
            Err(w) => {
                assert!(intent.overlay.peers.is_empty(), "{w}");
                assert!(warned(&intent, w), "{w} not in {:?}", intent.warnings);
            }
        }
    }

    // A Secret of another namespace is not podroute's.
    let mut v = view("a", vec![v4("a", &[])]);
    v.peers = vec![peer("tor-a", with_ref)];
    let mut other = (*secret("tor-a", json!({"data": {"password": "czNjcmV0"}}))).clone();
    other.metadata.namespace = Some("default".into());
    v.secrets = vec![Arc::new(other)];
    assert!(overlay(&v, &settings()).overlay.peers.is_empty());
}

#[test]
fn a_bgp_peer_the_configuration_would_refuse_is_left_out_alone() {
    // Each would make the whole configuration invalid; the intent leaves
    // that peer out, says why, and the good one stays.
    let cases: &[(serde_json::Value, &str)] = &[
        (
            json!({"address": "tor.example", "asn": 65001}),
            "address `tor.example` is not an IP address",
        ),
        (
            json!({"address": "0.0.0.0", "asn": 65001}),
            "not a unicast address",
        ),
        (json!({"address": "fe80::1", "asn": 65001}), "is link-local"),
        (
            json!({"address": "10.0.0.1", "asn": 65001}),
            "is this node's own",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 0}),
            "asn 0 is reserved",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "holdTime": 2}),
            "holdTime 2",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "ttlSecurity": 0}),
            "ttlSecurity 0",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "port": 0}),
            "port 0",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "families": ["l2vpn-evpn"]}),
            "families: l2vpn-evpn",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "families": ["ipv5"]}),
            "families: unknown address family",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "families": []}),
            "families is empty",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "import": ["nope"]}),
            "import policy `nope` is not defined under `policies`",
        ),
        (
            json!({"address": "192.0.2.9", "asn": 65001, "export": ["nope"]}),
            "export policy `nope` is not defined under `policies`",
        ),
        // Peered already.
        (
            json!({"address": "10.0.0.2", "asn": 65001}),
            "address 10.0.0.2 is already peered as node b",
        ),
        (
            json!({"address": "192.0.2.1", "asn": 65009}),
            "address 192.0.2.1 is already peered as BGPPeer a-good",
        ),
    ];
    for (spec, why) in cases {
        let mut v = view("a", vec![v4("a", &[]), v4("b", &[])]);
        v.peers = vec![
            peer("z-bad", spec.clone()),
            peer("a-good", json!({"address": "192.0.2.1", "asn": 65001})),
        ];
        let intent = overlay(&v, &settings());
        let c = config(&intent);
        assert_eq!(
            sessions(&c),
            [
                "10.0.0.2 mesh ipv4-unicast from 10.0.0.1 (node b)",
                "192.0.2.1 tor ipv4-unicast (BGPPeer a-good)",
            ],
            "{spec}"
        );
        assert_eq!(intent.warnings.len(), 1, "{:?}", intent.warnings);
        assert!(
            intent.warnings[0].starts_with("BGPPeer z-bad: ") && intent.warnings[0].contains(why),
            "{why} not in {:?}",
            intent.warnings
        );
    }

    // A BGPPeer may name the overlay's own policies.
    let mut v = view("a", vec![v4("a", &[])]);
    v.peers = vec![peer(
        "tor",
        json!({"address": "192.0.2.1", "asn": 65001, "export": [EXPORT_OWN, "tor-out"]}),
    )];
    assert!(overlay(&v, &settings()).warnings.is_empty());
}

#[test]
fn two_nodes_with_one_address_peer_once() {
    let v = view(
        "a",
        vec![
            v4("a", &[]),
            node("b", &["10.0.0.7"], &[]),
            node("c", &["10.0.0.7"], &[]),
        ],
    );
    let intent = overlay(&v, &settings());
    assert_eq!(
        sessions(&config(&intent)),
        ["10.0.0.7 mesh ipv4-unicast from 10.0.0.1 (node b)"]
    );
    assert!(warned(
        &intent,
        "node c: address 10.0.0.7 is already peered as node b"
    ));
    let v = view("a", vec![v4("a", &[]), node("b", &["10.0.0.1"], &[])]);
    let intent = overlay(&v, &settings());
    assert!(intent.overlay.peers.is_empty());
    assert!(warned(
        &intent,
        "node b: InternalIP 10.0.0.1 is this node's own"
    ));
}

/// The verdict of `peer`'s import chain in `c` on `prefix`.
fn import_verdict(c: &Config, peer: &str, prefix: &str) -> Verdict {
    let address: IpAddr = peer.parse().unwrap();
    let p = c.peers.iter().find(|p| p.address == address).unwrap();
    let chain: Vec<_> = p
        .import
        .iter()
        .flatten()
        .map(|n| &c.speaker.policies[n])
        .collect();
    let prefix: Prefix = prefix.parse().unwrap();
    let ctx = RouteContext {
        prefix,
        neighbor: Some(address),
        source: RouteSource::External,
        local_as: Asn::new(64512),
        self_next_hop: None,
    };
    let mut attrs = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
    bgp::policy::evaluate(chain, &ctx, &mut attrs)
}

#[test]
fn the_guard_refuses_our_blocks_and_what_is_outside_the_pools() {
    let mut v = view("a", vec![v4("a", &[]), v4("b", &[])]);
    v.own_cidrs = Some(cidrs(&["10.244.1.0/24", "fd00:10:244:1::/64"]));
    v.peers = vec![
        peer(
            "tor-in",
            json!({"address": "192.0.2.1", "asn": 65001, "import": ["tor-in"]}),
        ),
        peer(
            "tor-default",
            json!({"address": "192.0.2.2", "asn": 65001, "acceptDefaultRoute": true}),
        ),
    ];
    let c = config(&overlay(&v, &settings()));
    use Verdict::{Accept, Reject};
    // (prefix, from node b, from ToR 192.0.2.1, from the ToR with default route)
    let cases: &[(&str, Verdict, Verdict, Verdict)] = &[
        // Another node's block, and pods inside it.
        ("10.244.2.0/24", Accept, Accept, Accept),
        ("10.244.2.7/32", Accept, Accept, Accept),
        ("fd00:10:244:2::/64", Accept, Accept, Accept),
        // Ours, inside ours, covering ours.
        ("10.244.1.0/24", Reject, Reject, Reject),
        ("10.244.1.128/25", Reject, Reject, Reject),
        ("10.244.1.5/32", Reject, Reject, Reject),
        ("10.244.0.0/23", Reject, Reject, Reject),
        ("10.244.0.0/16", Reject, Reject, Reject),
        ("10.0.0.0/8", Reject, Reject, Reject),
        ("fd00:10:244:1::/64", Reject, Reject, Reject),
        ("fd00:10:244:1::5/128", Reject, Reject, Reject),
        ("fd00:10:244::/48", Reject, Reject, Reject),
        // A supernet of someone else's block that does not cover ours.
        ("10.244.2.0/23", Accept, Accept, Accept),
        // Outside the pools.
        ("192.168.0.0/16", Reject, Reject, Reject),
        ("2001:db8::/32", Reject, Reject, Reject),
        // The default route, only where the BGPPeer asks for it.
        ("0.0.0.0/0", Reject, Reject, Accept),
        ("::/0", Reject, Reject, Accept),
    ];
    for (prefix, node, tor, tor_default) in cases {
        assert_eq!(
            import_verdict(&c, "10.0.0.2", prefix),
            *node,
            "{prefix} from node b"
        );
        assert_eq!(
            import_verdict(&c, "192.0.2.1", prefix),
            *tor,
            "{prefix} from tor-in"
        );
        assert_eq!(
            import_verdict(&c, "192.0.2.2", prefix),
            *tor_default,
            "{prefix} from tor-default"
        );
    }

    // The guard's default is `next`: the BGPPeer's own policy decides
    // after it. `tor-in` is `default: next` in FILE, so the end of the
    // chain accepts; make it reject and the guard's accept goes with it.
    let strict = FILE.replace("tor-in: { default: next }", "tor-in: { default: reject }");
    let c = crate::config::parse_with_overlay(
        &strict,
        &Host::default(),
        &overlay(&v, &settings()).overlay,
    )
    .unwrap();
    assert_eq!(import_verdict(&c, "192.0.2.1", "10.244.2.0/24"), Reject);
    assert_eq!(import_verdict(&c, "192.0.2.2", "10.244.2.0/24"), Accept);
}

#[test]
fn the_export_to_bgp_peers_is_this_nodes_own_routes() {
    let v = view("a", vec![v4("a", &[])]);
    let c = config(&overlay(&v, &settings()));
    let chain = [&c.speaker.policies[EXPORT_OWN]];
    let verdict = |source| {
        let ctx = RouteContext {
            prefix: "10.244.1.0/24".parse().unwrap(),
            neighbor: Some("192.0.2.1".parse().unwrap()),
            source,
            local_as: Asn::new(64512),
            self_next_hop: None,
        };
        let mut attrs = RouteAttrs::local(NextHop::V4(Ipv4Addr::UNSPECIFIED));
        bgp::policy::evaluate(chain, &ctx, &mut attrs)
    };
    assert_eq!(verdict(RouteSource::Local), Verdict::Accept);
    assert_eq!(verdict(RouteSource::Internal), Verdict::Reject);
    assert_eq!(verdict(RouteSource::External), Verdict::Reject);
}

#[test]
fn equal_state_gives_an_equal_overlay_whatever_the_order() {
    let nodes = vec![
        node("a", &["10.0.0.1", "fd00::1"], &[RR]),
        node("b", &["10.0.0.2", "fd00::2"], &[]),
        node("c", &["10.0.0.3", "fd00::3"], &[RR]),
        node("d", &["10.0.0.4"], &[]),
    ];
    let peers = vec![
        peer("tor-b", json!({"address": "192.0.2.2", "asn": 65002})),
        peer("tor-a", json!({"address": "192.0.2.1", "asn": 65001})),
        peer("tor-6", json!({"address": "2001:db8::1", "asn": 65001})),
    ];
    for s in [settings(), reflectors()] {
        let mut v = view("a", nodes.clone());
        v.peers = peers.clone();
        let first = overlay(&v, &s);
        v.nodes.reverse();
        v.peers.reverse();
        let second = overlay(&v, &s);
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        let addresses: Vec<IpAddr> = first
            .overlay
            .peers
            .iter()
            .map(|p| p.address.as_deref().unwrap().parse().unwrap())
            .collect();
        let mut sorted = addresses.clone();
        sorted.sort();
        assert_eq!(addresses, sorted);
    }
}

// What the speaker is told when the cluster changes: only the sessions
// concerned, through the same reload plan as a SIGHUP.

fn plan(old: &ClusterView, new: &ClusterView, s: &KubernetesSettings) -> Vec<String> {
    let plan = reload_plan(&config(&overlay(old, s)), &config(&overlay(new, s))).unwrap();
    crate::config::reload_kinds(&plan)
}

#[test]
fn nodes_joining_and_leaving_the_mesh_touch_only_their_sessions() {
    let three = view("a", vec![v4("a", &[]), v4("b", &[]), v4("c", &[])]);
    let four = view(
        "a",
        vec![v4("a", &[]), v4("b", &[]), v4("c", &[]), v4("d", &[])],
    );
    let two = view("a", vec![v4("a", &[]), v4("c", &[])]);
    assert_eq!(plan(&three, &three, &settings()), Vec::<String>::new());
    assert_eq!(plan(&three, &four, &settings()), ["AddPeer 10.0.0.4"]);
    assert_eq!(plan(&three, &two, &settings()), ["RemovePeer 10.0.0.2"]);
    // A node's labels change nothing in a full mesh.
    let labelled = view(
        "a",
        vec![v4("a", &[]), v4("b", &[("rack", "r1")]), v4("c", &[])],
    );
    assert_eq!(plan(&three, &labelled, &settings()), Vec::<String>::new());
    // A new block of ours: the guard follows, and the block is originated.
    let mut moved = three.clone();
    moved.own_cidrs = Some(cidrs(&["10.244.9.0/24"]));
    assert_eq!(
        plan(&three, &moved, &settings()),
        [
            "SetPolicies",
            "Withdraw 10.244.1.0/24",
            "Originate 10.244.9.0/24"
        ]
    );
}

#[test]
fn reflector_changes_touch_only_the_sessions_concerned() {
    let s = reflectors();
    // a reflects; b, c and d are its clients.
    let before = |me: &str| {
        view(
            me,
            vec![v4("a", &[RR]), v4("b", &[]), v4("c", &[]), v4("d", &[])],
        )
    };
    // b becomes a reflector too.
    let after = |me: &str| {
        view(
            me,
            vec![v4("a", &[RR]), v4("b", &[RR]), v4("c", &[]), v4("d", &[])],
        )
    };
    let cases: &[(&str, &[&str])] = &[
        // a: b is no longer its client.
        ("a", &["UpdatePeer 10.0.0.2"]),
        // b: its session to a is unchanged; it now reflects for c and d.
        ("b", &["AddPeer 10.0.0.3", "AddPeer 10.0.0.4"]),
        // c and d: one more reflector.
        ("c", &["AddPeer 10.0.0.2"]),
        ("d", &["AddPeer 10.0.0.2"]),
    ];
    for (me, want) in cases {
        assert_eq!(
            plan(&before(me), &after(me), &s),
            *want,
            "on node {me}, b becomes a reflector"
        );
        // And back.
        let back: Vec<String> = want
            .iter()
            .map(|w| w.replace("AddPeer", "RemovePeer"))
            .collect();
        assert_eq!(
            plan(&after(me), &before(me), &s),
            back,
            "on node {me}, b stops reflecting"
        );
    }

    // A client joins: only the reflectors hear of it.
    let joined = |me: &str| {
        view(
            me,
            vec![
                v4("a", &[RR]),
                v4("b", &[]),
                v4("c", &[]),
                v4("d", &[]),
                v4("e", &[]),
            ],
        )
    };
    assert_eq!(plan(&before("a"), &joined("a"), &s), ["AddPeer 10.0.0.5"]);
    assert_eq!(plan(&before("b"), &joined("b"), &s), Vec::<String>::new());
    // A reflector joins: every node hears of it.
    let with_f = |me: &str| {
        view(
            me,
            vec![
                v4("a", &[RR]),
                v4("b", &[]),
                v4("c", &[]),
                v4("d", &[]),
                v4("f", &[RR]),
            ],
        )
    };
    assert_eq!(plan(&before("a"), &with_f("a"), &s), ["AddPeer 10.0.0.6"]);
    assert_eq!(plan(&before("c"), &with_f("c"), &s), ["AddPeer 10.0.0.6"]);
    // The reflector leaves: its clients lose that session only.
    let gone = view("c", vec![v4("b", &[]), v4("c", &[]), v4("d", &[])]);
    assert_eq!(plan(&before("c"), &gone, &s), ["RemovePeer 10.0.0.1"]);
}

#[test]
fn a_secret_change_updates_that_peer_only() {
    let mut old = view("a", vec![v4("a", &[]), v4("b", &[])]);
    old.peers = vec![
        peer(
            "tor-a",
            json!({"address": "192.0.2.1", "asn": 65001, "passwordSecretRef": {"name": "tor-a", "key": "password"}}),
        ),
        peer(
            "tor-b",
            json!({"address": "192.0.2.2", "asn": 65001, "passwordSecretRef": {"name": "tor-b", "key": "password"}}),
        ),
    ];
    old.secrets = vec![
        secret("tor-a", json!({"stringData": {"password": "one"}})),
        secret("tor-b", json!({"stringData": {"password": "bee"}})),
    ];
    let mut new = old.clone();
    new.secrets[0] = secret("tor-a", json!({"stringData": {"password": "two"}}));
    assert_eq!(plan(&old, &new, &settings()), ["UpdatePeer 192.0.2.1"]);
    let c = config(&overlay(&new, &settings()));
    assert_eq!(c.peers[1].transport.password.as_deref(), Some("two"));

    // The Secret gone: the session goes rather than run without its key.
    let mut gone = old.clone();
    gone.secrets.remove(0);
    assert_eq!(plan(&old, &gone, &settings()), ["RemovePeer 192.0.2.1"]);
}
