//! The watchers against a fake API server: objects are created, changed
//! and deleted through the API as an operator would, and the overlay must
//! follow.

use std::collections::BTreeMap;
use std::time::Instant;

use interop::fake_api::FakeApiServer;
use ipam::{Pool, Pools};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::*;
use crate::config::{Config, Host, Mesh, PodCidrSource, reload_plan};

/// Long enough for a loaded machine, short enough to fail a test soon.
const WAIT: Duration = Duration::from_secs(20);

fn settings(mesh: Mesh) -> KubernetesSettings {
    KubernetesSettings {
        kubeconfig: None,
        namespace: "podroute".into(),
        pod_cidr_source: PodCidrSource::Ipam,
        pools: Some(
            Pools::new(vec![
                Pool::new("10.244.0.0/16".parse().unwrap(), 24, vec![]).unwrap(),
            ])
            .unwrap(),
        ),
        mesh,
        reflector_label: "podroute.io/route-reflector".into(),
        import_guard: true,
        node_max_prefix: 64,
        status_interval: Duration::from_secs(10),
    }
}

/// Node N of `a`, `b`, ... has InternalIP 10.0.0.N and block 10.244.N.0/24.
fn index(name: &str) -> u8 {
    name.as_bytes()[0] - b'a' + 1
}

fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {"addresses": [
            {"type": "InternalIP", "address": format!("10.0.0.{}", index(name))},
            {"type": "Hostname", "address": name},
        ]},
    }))
    .unwrap()
}

async fn create_node(client: &kube::Client, name: &str, labels: &[(&str, &str)]) {
    let api = Api::<Node>::all(client.clone());
    let n = node(name, labels);
    let created = api.create(&PostParams::default(), &n).await.unwrap();
    // A real API server drops the status of a create: set it as the
    // kubelet does.
    if created
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .is_none()
    {
        let status = json!({"status": n.status});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
}

async fn delete_node(client: &kube::Client, name: &str) {
    Api::<Node>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

async fn label_node(client: &kube::Client, name: &str, key: &str, value: Option<&str>) {
    let patch = json!({"metadata": {"labels": {key: value}}});
    Api::<Node>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn put_secret(client: &kube::Client, name: &str, password: &str) {
    let api = Api::<Secret>::namespaced(client.clone(), "podroute");
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "podroute"},
        "data": {"password": k8s_openapi::ByteString(password.as_bytes().to_vec())},
    }))
    .unwrap();
    match api.get_opt(name).await.unwrap() {
        None => {
            api.create(&PostParams::default(), &s).await.unwrap();
        }
        Some(old) => {
            let mut s = s;
            s.metadata.resource_version = old.metadata.resource_version;
            api.replace(name, &PostParams::default(), &s).await.unwrap();
        }
    }
}

async fn create_peer(client: &kube::Client, name: &str, spec: serde_json::Value) {
    let spec = serde_json::from_value(spec).unwrap();
    Api::<BGPPeer>::all(client.clone())
        .create(&PostParams::default(), &BGPPeer::new(name, spec))
        .await
        .unwrap();
}

/// The agent of node `me`.
async fn agent(
    client: &kube::Client,
    mesh: Mesh,
    me: &str,
    shutdown: &CancellationToken,
) -> watch::Receiver<ClusterOverlay> {
    let own = vec![format!("10.244.{}.0/24", index(me)).parse().unwrap()];
    tokio::time::timeout(
        WAIT,
        spawn(
            client.clone(),
            settings(mesh),
            me.into(),
            Some(own),
            BTreeSet::new(),
            shutdown.clone(),
        ),
    )
    .await
    .expect("the watchers are ready in time")
    .unwrap()
}

/// The overlay's peers: address, then description.
fn peers(o: &ClusterOverlay) -> Vec<String> {
    o.peers
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p.address.as_deref().unwrap_or("-"),
                p.description.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// Waits until the overlay's peers are `want`.
async fn until_peers(rx: &mut watch::Receiver<ClusterOverlay>, want: &[&str]) -> ClusterOverlay {
    until(rx, &format!("peers {want:?}"), |o| peers(o) == want).await
}

async fn until(
    rx: &mut watch::Receiver<ClusterOverlay>,
    what: &str,
    done: impl Fn(&ClusterOverlay) -> bool,
) -> ClusterOverlay {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        {
            let o = rx.borrow_and_update();
            if done(&o) {
                return o.clone();
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("the watchers stopped while waiting for {what}"),
            Err(_) => panic!(
                "no overlay with {what} within {WAIT:?}; the last: {:#?}",
                peers(&rx.borrow())
            ),
        }
    }
}

const FILE: &str = "node: a\nasn: 64512\nkubernetes:\n  pools: [{cidr: 10.244.0.0/16}]\n";

fn config(o: &ClusterOverlay) -> Config {
    crate::config::parse_with_overlay(FILE, &Host::default(), o).unwrap()
}

fn plan(old: &ClusterOverlay, new: &ClusterOverlay) -> Vec<String> {
    crate::config::reload_kinds(&reload_plan(&config(old), &config(new)).unwrap())
}

#[test]
fn a_warning_is_logged_when_it_appears() {
    let mut logged = BTreeSet::new();
    let w = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(fresh(&mut logged, w(&["x", "y"])), ["x", "y"]);
    assert_eq!(fresh(&mut logged, w(&["y", "x"])), Vec::<String>::new());
    assert_eq!(fresh(&mut logged, w(&["y"])), Vec::<String>::new());
    assert_eq!(
        fresh(&mut logged, w(&["x", "y"])),
        ["x"],
        "x went away and came back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mesh_peers_follow_nodes_joining_and_leaving() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    create_node(&client, "a", &[]).await;
    create_node(&client, "b", &[]).await;
    let shutdown = CancellationToken::new();
    let mut rx = agent(&client, Mesh::Full, "a", &shutdown).await;
    let first = rx.borrow().clone();
    assert_eq!(peers(&first), ["10.0.0.2 node b"]);
    assert_eq!(first.router_id, Some(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(
        first.pod_cidrs.as_deref(),
        Some(&["10.244.1.0/24".to_string()][..])
    );

    create_node(&client, "c", &[]).await;
    let three = until_peers(&mut rx, &["10.0.0.2 node b", "10.0.0.3 node c"]).await;
    assert_eq!(plan(&first, &three), ["AddPeer 10.0.0.3"]);
    delete_node(&client, "b").await;
    let two = until_peers(&mut rx, &["10.0.0.3 node c"]).await;
    assert_eq!(plan(&three, &two), ["RemovePeer 10.0.0.2"]);
    // A burst: one node after another, all seen.
    for n in ["d", "e", "f", "g"] {
        create_node(&client, n, &[]).await;
    }
    until_peers(
        &mut rx,
        &[
            "10.0.0.3 node c",
            "10.0.0.4 node d",
            "10.0.0.5 node e",
            "10.0.0.6 node f",
            "10.0.0.7 node g",
        ],
    )
    .await;
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reflector_label_changes_only_the_sessions_concerned() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let rr = ("podroute.io/route-reflector", "true");
    create_node(&client, "a", &[rr]).await;
    create_node(&client, "b", &[]).await;
    create_node(&client, "c", &[]).await;
    let shutdown = CancellationToken::new();
    let mut on_a = agent(&client, Mesh::Reflectors, "a", &shutdown).await;
    let mut on_b = agent(&client, Mesh::Reflectors, "b", &shutdown).await;
    let mut on_c = agent(&client, Mesh::Reflectors, "c", &shutdown).await;
    let a0 = on_a.borrow().clone();
    let b0 = on_b.borrow().clone();
    let c0 = on_c.borrow().clone();
    assert_eq!(peers(&a0), ["10.0.0.2 node b", "10.0.0.3 node c"]);
    assert_eq!(peers(&b0), ["10.0.0.1 node a"]);
    assert_eq!(peers(&c0), ["10.0.0.1 node a"]);

    // c becomes a reflector.
    label_node(&client, "c", "podroute.io/route-reflector", Some("true")).await;
    let b1 = until_peers(&mut on_b, &["10.0.0.1 node a", "10.0.0.3 node c"]).await;
    let c1 = until_peers(&mut on_c, &["10.0.0.1 node a", "10.0.0.2 node b"]).await;
    let a1 = until(&mut on_a, "c no longer a client", |o| {
        o.peers
            .iter()
            .any(|p| p.address.as_deref() == Some("10.0.0.3") && p.route_reflector_client.is_none())
    })
    .await;
    assert_eq!(plan(&a0, &a1), ["UpdatePeer 10.0.0.3"]);
    assert_eq!(plan(&b0, &b1), ["AddPeer 10.0.0.3"]);
    assert_eq!(plan(&c0, &c1), ["AddPeer 10.0.0.2"]);

    // And back.
    label_node(&client, "c", "podroute.io/route-reflector", None).await;
    let b2 = until_peers(&mut on_b, &["10.0.0.1 node a"]).await;
    let c2 = until_peers(&mut on_c, &["10.0.0.1 node a"]).await;
    assert_eq!(plan(&b1, &b2), ["RemovePeer 10.0.0.3"]);
    assert_eq!(plan(&c1, &c2), ["RemovePeer 10.0.0.2"]);
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bgp_peer_selector_applies_to_exactly_the_matching_nodes() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    create_node(&client, "a", &[("rack", "r1")]).await;
    create_node(&client, "b", &[("rack", "r1")]).await;
    create_node(&client, "c", &[("rack", "r2")]).await;
    create_peer(
        &client,
        "tor-r1",
        json!({"address": "192.0.2.1", "asn": 65001, "nodeSelector": {"matchLabels": {"rack": "r1"}}}),
    )
    .await;
    let shutdown = CancellationToken::new();
    let s = Mesh::None;
    let a = agent(&client, s, "a", &shutdown).await.borrow().clone();
    let b = agent(&client, s, "b", &shutdown).await.borrow().clone();
    let mut on_c = agent(&client, s, "c", &shutdown).await;
    assert_eq!(peers(&a), ["192.0.2.1 BGPPeer tor-r1"]);
    assert_eq!(peers(&b), ["192.0.2.1 BGPPeer tor-r1"]);
    assert_eq!(peers(&on_c.borrow()), Vec::<String>::new());

    // c moves to rack r1: now it peers too.
    label_node(&client, "c", "rack", Some("r1")).await;
    until_peers(&mut on_c, &["192.0.2.1 BGPPeer tor-r1"]).await;
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_change_re_keys_that_peer_only() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    create_node(&client, "a", &[]).await;
    create_node(&client, "b", &[]).await;
    for tor in ["tor-1", "tor-2"] {
        put_secret(&client, tor, "one").await;
        let n = &tor[4..];
        create_peer(
            &client,
            tor,
            json!({"address": format!("192.0.2.{n}"), "asn": 65001,
                   "passwordSecretRef": {"name": tor, "key": "password"}}),
        )
        .await;
    }
    let shutdown = CancellationToken::new();
    let mut rx = agent(&client, Mesh::Full, "a", &shutdown).await;
    let password = |o: &ClusterOverlay, a: &str| {
        o.peers
            .iter()
            .find(|p| p.address.as_deref() == Some(a))
            .and_then(|p| p.password.clone())
    };
    let before = rx.borrow().clone();
    assert_eq!(password(&before, "192.0.2.1").as_deref(), Some("one"));

    put_secret(&client, "tor-1", "two").await;
    let after = until(&mut rx, "the new password", |o| {
        password(o, "192.0.2.1").as_deref() == Some("two")
    })
    .await;
    assert_eq!(password(&after, "192.0.2.2").as_deref(), Some("one"));
    assert_eq!(plan(&before, &after), ["UpdatePeer 192.0.2.1"]);

    // The Secret deleted: the session goes, never on without its key.
    Api::<Secret>::namespaced(client.clone(), "podroute")
        .delete("tor-1", &DeleteParams::default())
        .await
        .unwrap();
    until_peers(&mut rx, &["10.0.0.2 node b", "192.0.2.2 BGPPeer tor-2"]).await;
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_compaction_the_relist_still_converges() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    create_node(&client, "a", &[]).await;
    create_node(&client, "b", &[]).await;
    let shutdown = CancellationToken::new();
    let mut rx = agent(&client, Mesh::Full, "a", &shutdown).await;
    assert_eq!(peers(&rx.borrow()), ["10.0.0.2 node b"]);

    // The history is gone: watches from an old resourceVersion get 410
    // Gone and the watchers list again.
    server.compact();
    delete_node(&client, "b").await;
    create_node(&client, "c", &[]).await;
    until_peers(&mut rx, &["10.0.0.3 node c"]).await;
    server.compact();
    create_node(&client, "d", &[]).await;
    until_peers(&mut rx, &["10.0.0.3 node c", "10.0.0.4 node d"]).await;
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn in_node_spec_mode_the_pod_cidrs_follow_the_node() {
    let started = Instant::now();
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    create_node(&client, "a", &[]).await;
    let shutdown = CancellationToken::new();
    let settings = KubernetesSettings {
        pod_cidr_source: PodCidrSource::NodeSpec,
        ..settings(Mesh::Full)
    };
    let mut rx = tokio::time::timeout(
        WAIT,
        spawn(
            client.clone(),
            settings,
            "a".into(),
            None,
            BTreeSet::new(),
            shutdown.clone(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(rx.borrow().pod_cidrs, Some(vec![]), "not allocated yet");

    // kube-controller-manager allocates.
    let patch = json!({"spec": {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}});
    Api::<Node>::all(client.clone())
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    until(&mut rx, "the allocated block", |o| {
        o.pod_cidrs.as_deref() == Some(&["10.244.7.0/24".to_string()][..])
    })
    .await;
    shutdown.cancel();
    eprintln!("took {:?}", started.elapsed());
}
