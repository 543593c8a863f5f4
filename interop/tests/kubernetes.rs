//! podroute as a DaemonSet would run it, with the cluster played by the fake API server
//! (`interop::fake_api`, a test double: no etcd, no kubelet, no controllers) and the nodes
//! played by network namespaces: every agent claims its pod CIDR from the IPAM
//! (PodCIDRBlock objects), finds the other nodes (iBGP full mesh) and the FRR top-of-rack
//! router (a BGPPeer with its TCP-MD5 password in a Secret) through the API, and pods on
//! different nodes reach each other with no encapsulation. A new password in the Secret
//! re-keys the ToR sessions, and only them.
//!
//! ```text
//!                      tor (FRR, AS 65000), the API server at 192.0.2.1:6443
//!                       | br0 192.0.2.1/24
//!        +--------------+--------------+
//!     node-1         node-2         node-3        podroute, AS 64512, iBGP mesh + eBGP to tor
//!   192.0.2.11     192.0.2.12     192.0.2.13
//!        | pod1          | pod1          | pod1
//!      pod-1          pod-2          pod-3        .10 of the block the node claimed
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use interop::fake_api::FakeApiServer;
use interop::{Frr, Lab, Node, Podroute, require_programs, wait_until};
use k8s_openapi::api::core::v1::{Node as KubeNode, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);
const ASN: u32 = 64512;
const TOR_ASN: u32 = 65000;
const PASSWORD: &str = "rack-a-secret";
/// What the Secret is changed to, to re-key the ToR sessions.
const NEW_PASSWORD: &str = "rack-a-rotated";
const API_PORT: u16 = 6443;
const PROTO: &str = "44";

fn tor_addr() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}

fn node_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + i as u8)
}

/// A Node as the kubelet registers it: InternalIP, a rack label.
fn kube_node(name: &str, addr: Ipv4Addr) -> Result<KubeNode> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": { "name": name, "labels": { "kubernetes.io/hostname": name, "rack": "a" } },
        "status": { "addresses": [
            { "type": "InternalIP", "address": addr.to_string() },
            { "type": "Hostname", "address": name },
        ] },
    }))?)
}

/// The ConfigMap's configuration, with a kubeconfig for the fake API server.
fn agent_config(kubeconfig: &std::path::Path) -> String {
    format!(
        "asn: {ASN}\n\
         router_id: auto\n\
         graceful_restart: {{ restart_time: 30s }}\n\
         metrics: {{ listen: none }}\n\
         kubernetes:\n  \
           enabled: true\n  \
           kubeconfig: {}\n  \
           namespace: podroute\n  \
           pod_cidrs: ipam\n  \
           pools:\n    - cidr: 10.244.0.0/16\n      block_len: 24\n  \
           mesh: full\n  \
           status_interval: 1s\n",
        kubeconfig.display()
    )
}

fn tor_frr_conf(nodes: usize) -> String {
    let mut c = format!(
        "frr defaults datacenter\nhostname tor\n!\nrouter bgp {TOR_ASN}\n bgp router-id {}\n no bgp ebgp-requires-policy\n",
        tor_addr()
    );
    for i in 1..=nodes {
        c.push_str(&format!(
            " neighbor {a} remote-as {ASN}\n neighbor {a} password {PASSWORD}\n neighbor {a} timers 3 9\n",
            a = node_addr(i)
        ));
    }
    c.push_str("!\n");
    c
}

/// podroute's kernel routes on a node: destination -> gateway (or route type).
fn kernel_routes(node: &Node) -> Result<BTreeMap<String, String>> {
    let text = node.ip(&["-j", "-4", "route", "show", "proto", PROTO])?;
    let v: Value = serde_json::from_str(text.trim()).context("ip -j route")?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let via = r["gateway"]
                .as_str()
                .or(r["type"].as_str())
                .unwrap_or("?")
                .to_string();
            (r["dst"].as_str().unwrap_or("?").to_string(), via)
        })
        .collect())
}

/// The ToR's view of each node's session: (bgpState, connectionsEstablished), node-1 first.
fn tor_sessions(frr: &Frr, nodes: usize) -> Result<Vec<(String, u64)>> {
    let v = frr.neighbors()?;
    Ok((1..=nodes)
        .map(|i| {
            let n = &v[node_addr(i).to_string()];
            (
                n["bgpState"].as_str().unwrap_or("?").to_string(),
                n["connectionsEstablished"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// Segments the namespace's kernel dropped for a wrong TCP-MD5 signature (`TcpExt:
/// TCPMD5Failure` in its /proc/net/netstat).
fn md5_failures(node: &Node) -> Result<u64> {
    let text = node.exec(&["cat", "/proc/net/netstat"])?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (
        lines.next().context("no TcpExt in /proc/net/netstat")?,
        lines
            .next()
            .context("no TcpExt values in /proc/net/netstat")?,
    );
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "TCPMD5Failure")
        .context("no TCPMD5Failure in /proc/net/netstat")?
        .1
        .parse()
        .context("TCPMD5Failure")
}

/// One iBGP mesh session as an agent shows it (`podroute show neighbor`).
#[derive(Debug, PartialEq)]
struct MeshSession {
    state: String,
    uptime_secs: u64,
    last_down: Value,
}

/// Every agent's iBGP mesh sessions: (node, peer node) -> the session.
fn mesh_sessions(agents: &[Podroute]) -> Result<BTreeMap<(usize, usize), MeshSession>> {
    let mut out = BTreeMap::new();
    for (i, a) in agents.iter().enumerate() {
        for j in (1..=agents.len()).filter(|j| *j != i + 1) {
            let n = a.neighbor(IpAddr::V4(node_addr(j)))?;
            out.insert(
                (i + 1, j),
                MeshSession {
                    state: n["summary"]["state"].as_str().unwrap_or("?").to_string(),
                    uptime_secs: n["summary"]["uptime_secs"].as_u64().unwrap_or(0),
                    last_down: n["last_down"].clone(),
                },
            );
        }
    }
    Ok(out)
}

/// Every PodCIDRBlock in the API: cidr -> node.
fn blocks(api: &FakeApiServer) -> BTreeMap<String, String> {
    api.objects("podroute.io/v1alpha1", "podcidrblocks")
        .iter()
        .map(|o| {
            (
                o["spec"]["cidr"].as_str().unwrap_or("?").to_string(),
                o["spec"]["node"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// A pod on `node`: a namespace behind a veth, its address the block's `.10`, its gateway
/// the Calico-style link-local 169.254.1.1 on the node's side.
fn add_pod(lab: &Lab, node: &Node, name: &str, block: &str) -> Result<(Node, IpAddr)> {
    let net: ipnet_v4::Net = block.parse()?;
    let addr = net.host(10);
    let pod = lab.node(name)?;
    lab.veth(node, "pod1", &pod, "eth0")?;
    pod.ip(&["addr", "add", &format!("{addr}/32"), "dev", "eth0"])?;
    pod.ip(&["link", "set", "eth0", "up"])?;
    pod.ip(&[
        "route",
        "add",
        "169.254.1.1",
        "dev",
        "eth0",
        "scope",
        "link",
    ])?;
    pod.ip(&[
        "route",
        "add",
        "default",
        "via",
        "169.254.1.1",
        "dev",
        "eth0",
    ])?;
    node.ip(&["addr", "add", "169.254.1.1/32", "dev", "pod1"])?;
    node.ip(&["link", "set", "pod1", "up"])?;
    node.ip(&["route", "add", &format!("{addr}/32"), "dev", "pod1"])?;
    Ok((pod, IpAddr::V4(addr)))
}

/// Enough IPv4 prefix arithmetic for the test, without another dependency.
mod ipnet_v4 {
    use std::net::Ipv4Addr;

    pub(crate) struct Net(Ipv4Addr);

    impl std::str::FromStr for Net {
        type Err = anyhow::Error;
        fn from_str(s: &str) -> anyhow::Result<Net> {
            let (a, _) = s
                .split_once('/')
                .ok_or_else(|| anyhow::anyhow!("{s}: no prefix length"))?;
            Ok(Net(a.parse()?))
        }
    }

    impl Net {
        pub(crate) fn host(&self, n: u32) -> Ipv4Addr {
            Ipv4Addr::from(u32::from(self.0) + n)
        }
    }
}

#[test]
fn agents_claim_blocks_find_each_other_and_the_tor_and_pods_reach_each_other() -> Result<()> {
    require_programs(&["ping"])?;
    const NODES: usize = 3;
    let lab = Lab::new("kube")?;
    let tor = lab.node("tor")?;
    tor.ip(&["link", "add", "br0", "type", "bridge"])?;
    tor.ip(&["addr", "add", "192.0.2.1/24", "dev", "br0"])?;
    tor.ip(&["link", "set", "br0", "up"])?;
    let mut nodes = Vec::new();
    for i in 1..=NODES {
        let n = lab.node(&format!("node-{i}"))?;
        lab.veth(&n, "eth0", &tor, &format!("n{i}"))?;
        tor.ip(&["link", "set", &format!("n{i}"), "master", "br0", "up"])?;
        n.ip(&[
            "addr",
            "add",
            &format!("{}/24", node_addr(i)),
            "dev",
            "eth0",
        ])?;
        n.ip(&["link", "set", "eth0", "up"])?;
        n.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        nodes.push(n);
    }

    // The API server, listening inside the ToR's namespace (where the nodes reach it).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = tor.bind_tcp(SocketAddr::from((tor_addr(), API_PORT)))?;
    let mut api = rt.block_on(FakeApiServer::start_on(listener))?;
    let kubeconfig = lab.dir().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig)?;
    // The test itself, outside the namespaces, reaches the same server on loopback.
    let local =
        rt.block_on(api.listen_also(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?))?;
    let client = rt.block_on(api.client_at(local));

    // What the cluster has before the DaemonSet starts: the Nodes, the ToR as a BGPPeer,
    // its password in a Secret.
    rt.block_on(async {
        let node_api: Api<KubeNode> = Api::all(client.clone());
        for i in 1..=NODES {
            node_api
                .create(
                    &PostParams::default(),
                    &kube_node(&format!("node-{i}"), node_addr(i))?,
                )
                .await?;
        }
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "podroute");
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("tor-a".into()),
                namespace: Some("podroute".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "password".to_string(),
                k8s_openapi::ByteString(PASSWORD.as_bytes().to_vec()),
            )])),
            ..Default::default()
        };
        secrets.create(&PostParams::default(), &secret).await?;
        let peers = dynamic(&client, "BGPPeer", "bgppeers");
        let peer: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "podroute.io/v1alpha1", "kind": "BGPPeer",
            "metadata": { "name": "tor-a" },
            "spec": {
                "address": tor_addr().to_string(), "asn": TOR_ASN, "holdTime": 9,
                "nodeSelector": { "matchLabels": { "rack": "a" } },
                "passwordSecretRef": { "name": "tor-a", "key": "password" },
            },
        }))?;
        peers.create(&PostParams::default(), &peer).await?;
        anyhow::Ok(())
    })?;

    let conf_path = lab.dir().join("tor-frr.conf");
    std::fs::write(&conf_path, tor_frr_conf(NODES))?;
    let frr = Frr::start_integrated(&tor, &conf_path)?;

    let started = Instant::now();
    let config_path = lab.dir().join("podroute.yaml");
    std::fs::write(&config_path, agent_config(&kubeconfig))?;
    let mut agents = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let env = vec![("NODE_NAME".to_string(), format!("node-{}", i + 1))];
        agents.push(Podroute::start_from_file(n, &config_path, &env)?);
    }

    // Every node got its own block of the pool, recorded as a PodCIDRBlock.
    wait_until("three PodCIDRBlocks", T, || {
        let b = blocks(&api);
        ensure!(b.len() == NODES, "blocks so far: {b:?}");
        Ok(())
    })?;
    let by_node: BTreeMap<String, String> = blocks(&api).into_iter().map(|(c, n)| (n, c)).collect();
    ensure!(by_node.len() == NODES, "one block per node: {by_node:?}");
    for cidr in by_node.values() {
        ensure!(
            cidr.starts_with("10.244.") && cidr.ends_with("/24"),
            "{cidr} is not a /24 of 10.244.0.0/16"
        );
    }

    // Each node: the other nodes' blocks via their addresses (iBGP mesh, next hop on the
    // bridge, no tunnel), its own as unreachable.
    for (i, n) in nodes.iter().enumerate() {
        let me = format!("node-{}", i + 1);
        wait_until(&format!("{me}'s FIB"), T, || {
            let routes = kernel_routes(n)?;
            for (owner, cidr) in &by_node {
                let want = if *owner == me {
                    "unreachable".to_string()
                } else {
                    let j: usize = owner.trim_start_matches("node-").parse().unwrap_or(0);
                    node_addr(j).to_string()
                };
                ensure!(
                    routes.get(cidr) == Some(&want),
                    "{cidr} of {owner}: want {want}, kernel has {routes:?}"
                );
            }
            Ok(())
        })?;
    }
    let converged = started.elapsed();

    // Each agent said at start which mode it uses and which block it got; `show ipam`
    // and `podroute ipam list` (straight from the API) tell the same.
    for (i, a) in agents.iter().enumerate() {
        let me = format!("node-{}", i + 1);
        let log = a.full_log();
        ensure!(
            log.contains("pod CIDRs: claimed as PodCIDRBlocks") && log.contains(&by_node[&me]),
            "{me}'s log does not say which block it claimed:\n{log}"
        );
        wait_until(
            &format!("{me}'s show ipam"),
            Duration::from_secs(10),
            || {
                let ipam = a.show(&["ipam"])?;
                ensure!(ipam["mode"] == "ipam", "{me}: {ipam}");
                ensure!(ipam["node_cidrs"] == json!([by_node[&me]]), "{me}: {ipam}");
                ensure!(
                    ipam["blocks"].as_array().map(Vec::len) == Some(NODES),
                    "{me}: {ipam}"
                );
                Ok(())
            },
        )?;
    }
    let bin = interop::podroute::binary()?;
    let listed = nodes[0].exec(&[
        bin.to_str().context("binary path")?,
        "ipam",
        "list",
        "-o",
        "json",
        "--kubeconfig",
        kubeconfig.to_str().context("kubeconfig path")?,
    ])?;
    let listed: Value = serde_json::from_str(&listed).context("podroute ipam list -o json")?;
    let listed: BTreeMap<String, String> = listed["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["node"].as_str().unwrap_or("?").into(),
                b["cidr"].as_str().unwrap_or("?").into(),
            )
        })
        .collect();
    ensure!(
        listed == by_node,
        "podroute ipam list: {listed:?}, want {by_node:?}"
    );

    // The ToR learned every block over MD5-protected eBGP.
    wait_until("the ToR's table", T, || {
        let v = frr.vtysh_json("show ip bgp json")?;
        for c in by_node.values() {
            ensure!(v["routes"][c].is_array(), "the ToR has no {c}");
        }
        Ok(())
    })?;

    // Pods on different nodes reach each other.
    let mut pods = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let owner = format!("node-{}", i + 1);
        pods.push(add_pod(
            &lab,
            n,
            &format!("pod-{}", i + 1),
            &by_node[&owner],
        )?);
    }
    let pod1 = &pods[0].0;
    for (_, to) in &pods[1..] {
        let stats = interop::clab::ping(pod1, *to, 3)?;
        ensure!(stats.no_loss(), "pod-1 -> {to}: {stats:?}");
    }

    // The node status resources tell the sessions: 2 nodes + the ToR, all Established.
    wait_until("node status resources", T, || {
        let all = api.objects("podroute.io/v1alpha1", "podroutenodestatuses");
        ensure!(all.len() == NODES, "{} status objects", all.len());
        for s in &all {
            ensure!(
                s["status"]["established"].as_u64() == Some(NODES as u64),
                "{}: {}",
                s["metadata"]["name"],
                s["status"]
            );
        }
        Ok(())
    })?;

    // A new password in the Secret re-keys the ToR sessions, and only them. With the ToR
    // still on the old password they go down and stay down: the kernel drops the segments
    // signed with the new key silently (counted as TCPMD5Failure in the ToR's namespace), so
    // the sessions sit in Connect/Active. The iBGP mesh (no password) is not touched.
    let rekey = Instant::now();
    let tor_ip = IpAddr::V4(tor_addr());
    let frr_before = tor_sessions(&frr, NODES)?;
    ensure!(
        frr_before.iter().all(|(s, _)| s == "Established"),
        "the ToR's sessions before the re-key: {frr_before:?}"
    );
    let md5_before = md5_failures(&tor)?;
    let mesh_before = mesh_sessions(&agents)?;
    let mesh_sampled = Instant::now();
    rt.block_on(async {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), "podroute");
        let mut s = secrets.get("tor-a").await?;
        s.data = Some(BTreeMap::from([(
            "password".to_string(),
            k8s_openapi::ByteString(NEW_PASSWORD.as_bytes().to_vec()),
        )]));
        secrets.replace("tor-a", &PostParams::default(), &s).await?;
        anyhow::Ok(())
    })?;
    wait_until(
        "the ToR sessions down on the new key",
        Duration::from_secs(20),
        || {
            let frr_now = tor_sessions(&frr, NODES)?;
            ensure!(
                frr_now.iter().all(|(s, _)| s != "Established"),
                "the ToR: {frr_now:?}"
            );
            for (i, a) in agents.iter().enumerate() {
                let s = a.neighbor_summary(tor_ip)?;
                ensure!(s["state"] != "Established", "node-{}: {s}", i + 1);
            }
            let md5 = md5_failures(&tor)?;
            ensure!(
                md5 > md5_before,
                "the ToR's kernel has dropped no segment with a wrong TCP-MD5 signature yet \
                 ({md5_before} -> {md5})"
            );
            Ok(())
        },
    )?;
    let frr_down = tor_sessions(&frr, NODES)?;
    for (i, ((state, n), (_, n0))) in frr_down.iter().zip(&frr_before).enumerate() {
        ensure!(
            state != "Established" && n == n0,
            "node-{}: the ToR re-established the session on the old password \
             ({state}, connectionsEstablished {n0} -> {n})",
            i + 1
        );
    }
    let down = rekey.elapsed();

    // The ToR gets the new password too (FRR resets the neighbor): the sessions come back,
    // the ToR learns every block again, the pods still reach each other.
    let mut lines = vec![format!("router bgp {TOR_ASN}")];
    for i in 1..=NODES {
        lines.push(format!("neighbor {} password {NEW_PASSWORD}", node_addr(i)));
    }
    frr.configure(&lines.iter().map(String::as_str).collect::<Vec<_>>())?;
    wait_until("the ToR sessions up on the new key", T, || {
        let frr_now = tor_sessions(&frr, NODES)?;
        for (i, ((state, n), (_, n0))) in frr_now.iter().zip(&frr_before).enumerate() {
            ensure!(
                state == "Established" && n > n0,
                "node-{}: {state}, connectionsEstablished {n0} -> {n}",
                i + 1
            );
        }
        for (i, a) in agents.iter().enumerate() {
            let s = a.neighbor_summary(tor_ip)?;
            ensure!(s["state"] == "Established", "node-{}: {s}", i + 1);
        }
        let v = frr.vtysh_json("show ip bgp json")?;
        for c in by_node.values() {
            ensure!(v["routes"][c].is_array(), "the ToR has no {c}");
        }
        Ok(())
    })?;
    // At most the time between the two samples of any one session, so an untouched
    // session's uptime has grown by at least as much.
    let elapsed = mesh_sampled.elapsed().as_secs();
    let mesh_after = mesh_sessions(&agents)?;
    for (k, now) in &mesh_after {
        let then = &mesh_before[k];
        ensure!(
            now.state == "Established"
                && now.uptime_secs >= then.uptime_secs + elapsed
                && now.last_down == then.last_down,
            "node-{} -> node-{}: the mesh session was touched by the re-key ({elapsed} s \
             between the samples): {then:?} -> {now:?}",
            k.0,
            k.1
        );
    }
    let stats = interop::clab::ping(pod1, pods[1].1, 1)?;
    ensure!(stats.no_loss(), "pod-1 -> {}: {stats:?}", pods[1].1);
    eprintln!(
        "a new password in the Secret took the ToR sessions down in {down:?}, back up with the \
         ToR re-keyed in {:?} ({:?} in all)",
        rekey.elapsed() - down,
        rekey.elapsed()
    );

    // node-3 leaves the cluster: its agent stops, its Node is deleted. Its block is freed
    // (garbage-collected with the Node) and the other nodes drop it from their FIBs.
    agents[2].kill()?;
    let removed = Instant::now();
    rt.block_on(async {
        let node_api: Api<KubeNode> = Api::all(client.clone());
        node_api.delete("node-3", &DeleteParams::default()).await?;
        anyhow::Ok(())
    })?;
    let gone = by_node["node-3"].clone();
    wait_until("node-3's block freed", T, || {
        ensure!(!blocks(&api).contains_key(&gone), "{gone} still claimed");
        Ok(())
    })?;
    for n in &nodes[..2] {
        wait_until("node-3's route withdrawn", Duration::from_secs(5), || {
            ensure!(
                !kernel_routes(n)?.contains_key(&gone),
                "{gone} still routed"
            );
            Ok(())
        })?;
    }
    let withdrawn = removed.elapsed();
    eprintln!(
        "3 agents converged (blocks claimed, mesh and ToR up, FIBs complete) in {converged:?}; \
         a deleted Node left every FIB in {withdrawn:?}"
    );
    drop(agents);
    drop(frr);
    rt.block_on(api.shutdown());
    Ok(())
}

fn dynamic(client: &kube::Client, kind: &str, plural: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("podroute.io", "v1alpha1", kind);
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
    Api::all_with(client.clone(), &resource)
}
