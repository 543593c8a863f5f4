//! The fake API server (a test double) driven by the real kube client, watcher and
//! reflector: every test asserts what a caller of the real API server would see.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use hyper::{Method, Request, StatusCode};
use interop::fake_api::FakeApiServer;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Status;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Every test's bound: far more than any needs, so a hang fails instead of blocking CI.
const T: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(T, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out after {T:?}"))
}

const POST: PostParams = PostParams {
    dry_run: false,
    field_manager: None,
};
const PATCH: PatchParams = PatchParams {
    dry_run: false,
    force: false,
    field_manager: None,
    field_validation: None,
};

/// A resourceVersion as the number it is here (never compare them as strings).
fn rv(object: &impl ResourceExt) -> u64 {
    object.resource_version().unwrap().parse().unwrap()
}

fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec.as_ref()?.pod_cidr.as_deref()
}

fn json_patch(operations: Value) -> Patch<()> {
    Patch::Json(serde_json::from_value(operations).unwrap())
}

fn node(name: &str, labels: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn config_map(namespace: &str, name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), name.to_string())])),
        ..Default::default()
    }
}

/// A podroute.io/v1alpha1 custom resource API.
fn custom(client: &Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("podroute.io", "v1alpha1", kind);
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn dynamic(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject")
}

/// The `Status` of a failed call, which must be a `kube::Error::Api`.
fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected kube::Error::Api, got {other:?}"),
    }
}

/// A raw request: the status code, the Content-Type and the JSON body.
async fn raw(
    client: &Client,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, String, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap().into())
        .unwrap();
    let response = client.send(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap(),
    )
}

fn names(objects: &[Value]) -> Vec<&str> {
    objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answers_201_then_409_already_exists() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    within("create twice", async {
        let body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}});
        let (code, content_type, created) = raw(&client, Method::POST, "/api/v1/nodes", body).await;
        assert_eq!(code, StatusCode::CREATED);
        assert_eq!(content_type, "application/json");
        assert_eq!(created["metadata"]["name"], "a");
        assert!(created["metadata"]["uid"].is_string());
        assert!(created["metadata"]["creationTimestamp"].is_string());

        // What callers match on: kube::Error::Api, reason AlreadyExists, code 409.
        let nodes: Api<Node> = Api::all(client.clone());
        let status = api_error(nodes.create(&POST, &node("a", &[])).await);
        assert_eq!(
            (status.code, status.reason.as_str()),
            (409, "AlreadyExists")
        );
        assert_eq!(status.message, "nodes \"a\" already exists");
        assert_eq!(server.requests("create"), 2);

        // generateName: the server picks a free name.
        let mut generated = node("", &[]);
        generated.metadata.name = None;
        generated.metadata.generate_name = Some("gen-".into());
        let made = nodes.create(&POST, &generated).await.unwrap();
        assert!(made.name_any().starts_with("gen-") && made.name_any().len() == 9);
        // Neither name nor generateName: 422 Invalid.
        generated.metadata.generate_name = None;
        let status = api_error(nodes.create(&POST, &generated).await);
        assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_needs_the_current_resource_version() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("replace", async {
        let first = nodes.create(&POST, &node("a", &[])).await.unwrap();
        let mut fresh = nodes.get("a").await.unwrap();
        fresh.labels_mut().insert("rack".into(), "r1".into());
        let second = nodes.replace("a", &POST, &fresh).await.unwrap();
        assert!(
            rv(&second) > rv(&first),
            "a write bumps the resourceVersion"
        );

        // `first` has the old resourceVersion: optimistic concurrency says no.
        let status = api_error(nodes.replace("a", &POST, &first).await);
        assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        let message = "Operation cannot be fulfilled on nodes \"a\": the object has been modified";
        assert!(status.message.starts_with(message), "{}", status.message);
        assert_eq!(nodes.get("a").await.unwrap().labels()["rack"], "r1");

        // A replace that changes nothing is no write: same resourceVersion.
        let same = nodes.replace("a", &POST, &second).await.unwrap();
        assert_eq!(rv(&same), rv(&second));
        let absent = api_error(nodes.replace("b", &POST, &node("b", &[])).await);
        assert_eq!(absent.code, 404);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_404_not_found() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    within("get", async {
        let nodes: Api<Node> = Api::all(client.clone());
        let status = api_error(nodes.get("nope").await);
        assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
        assert_eq!(status.message, "nodes \"nope\" not found");
        let details = status.details.unwrap();
        assert_eq!(
            (details.name.as_str(), details.kind.as_str()),
            ("nope", "nodes")
        );
        assert!(nodes.get_opt("nope").await.unwrap().is_none());
        let blocks = custom(&client, "PodCIDRBlock", "podcidrblocks");
        let status = api_error(blocks.delete("nope", &DeleteParams::default()).await);
        assert_eq!(
            status.message,
            "podcidrblocks.podroute.io \"nope\" not found"
        );

        // A path nothing is served at: 404 with a Status body, still JSON.
        let (code, content_type, body) = raw(&client, Method::GET, "/api/v1/pods", json!({})).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            (body["kind"].as_str(), body["code"].as_u64()),
            (Some("Status"), Some(404))
        );
        let (code, _, version) = raw(&client, Method::GET, "/version", json!({})).await;
        assert_eq!(
            (code, version["gitVersion"].as_str()),
            (StatusCode::OK, Some("v1.33.0"))
        );
    })
    .await;
    assert_eq!(server.requests("get"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_json_patches_change_the_object() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    let labels = |n: &Node| n.labels().clone().into_iter().collect::<Vec<_>>();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    within("patch", async {
        nodes
            .create(&POST, &node("a", &[("rack", "r1"), ("x", "1")]))
            .await
            .unwrap();
        let merge = json!({
            "metadata": {"labels": {"rack": "r2", "x": null}},
            "spec": {"podCIDR": "10.244.1.0/24"},
        });
        let patched = nodes
            .patch("a", &PATCH, &Patch::Merge(&merge))
            .await
            .unwrap();
        assert_eq!(labels(&patched), [pair("rack", "r2")]);
        assert_eq!(pod_cidr(&patched), Some("10.244.1.0/24"));
        assert_eq!(
            patched.metadata.generation,
            Some(2),
            "a spec change bumps generation"
        );

        let ops = json_patch(json!([
            {"op": "test", "path": "/metadata/labels/rack", "value": "r2"},
            {"op": "add", "path": "/metadata/labels/y", "value": "2"},
            {"op": "remove", "path": "/metadata/labels/rack"},
            {"op": "replace", "path": "/spec/podCIDR", "value": "10.244.2.0/24"},
        ]));
        let patched = nodes.patch("a", &PATCH, &ops).await.unwrap();
        assert_eq!(labels(&patched), [pair("y", "2")]);
        assert_eq!(pod_cidr(&patched), Some("10.244.2.0/24"));

        // A failed `test` is 422 and changes nothing.
        let failing =
            json_patch(json!([{"op": "test", "path": "/metadata/labels/y", "value": "9"}]));
        assert_eq!(
            api_error(nodes.patch("a", &PATCH, &failing).await).code,
            422
        );
        // A patch naming a stale resourceVersion is a conflict.
        let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"z": "3"}}});
        let status = api_error(nodes.patch("a", &PATCH, &Patch::Merge(&stale)).await);
        assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        // Strategic merge patch, applied as a merge patch.
        let strategic = json!({"metadata": {"labels": {"s": "4"}}});
        let patched = nodes
            .patch("a", &PATCH, &Patch::Strategic(&strategic))
            .await
            .unwrap();
        assert_eq!(labels(&patched), [pair("s", "4"), pair("y", "2")]);
        assert_eq!(
            api_error(nodes.patch("b", &PATCH, &Patch::Merge(&merge)).await).code,
            404
        );
    })
    .await;
    assert_eq!(server.requests("patch"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_then_updates() {
    let server = FakeApiServer::start().await.unwrap();
    let peers = custom(&server.client().await, "BGPPeer", "bgppeers");
    let peer = |spec: Value| {
        json!({
            "apiVersion": "podroute.io/v1alpha1",
            "kind": "BGPPeer",
            "metadata": {"name": "tor"},
            "spec": spec,
        })
    };
    within("apply", async {
        let apply = PatchParams::apply("podroute-test").force();
        let first = peer(json!({"address": "192.0.2.1", "asn": 65000}));
        let created = peers
            .patch("tor", &apply, &Patch::Apply(&first))
            .await
            .unwrap();
        assert_eq!(created.data["spec"]["asn"], 65000);
        assert!(created.metadata.uid.is_some());

        let second = peer(json!({"asn": 65001, "holdTime": 9}));
        let updated = peers
            .patch("tor", &apply, &Patch::Apply(&second))
            .await
            .unwrap();
        let merged = json!({"address": "192.0.2.1", "asn": 65001, "holdTime": 9});
        assert_eq!(updated.data["spec"], merged);
        assert_eq!(updated.metadata.uid, created.metadata.uid);
        let stored = server.objects("podroute.io/v1alpha1", "bgppeers");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["spec"], merged);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_subresource_changes_only_status() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let statuses = custom(&client, "PodrouteNodeStatus", "podroutenodestatuses");
    let established = |o: &DynamicObject| o.data["status"]["established"].as_u64();
    let node_of = |o: &DynamicObject| o.data["spec"]["node"].as_str().map(str::to_string);
    within("status", async {
        let object = dynamic(json!({
            "apiVersion": "podroute.io/v1alpha1",
            "kind": "PodrouteNodeStatus",
            "metadata": {"name": "a"},
            "spec": {"node": "a"},
            "status": {"established": 9},
        }));
        let created = statuses.create(&POST, &object).await.unwrap();
        assert_eq!(
            established(&created),
            None,
            "a custom resource's create drops .status"
        );

        let patch = json!({"spec": {"node": "ignored"}, "status": {"established": 2}});
        let patched = statuses
            .patch_status("a", &PATCH, &Patch::Merge(&patch))
            .await
            .unwrap();
        assert_eq!(established(&patched), Some(2));
        assert_eq!(
            node_of(&patched).as_deref(),
            Some("a"),
            "a status write keeps the spec"
        );
        assert_eq!(patched.metadata.generation, Some(1));

        let mut whole = patched.clone();
        whole.data["status"] = json!({"established": 3});
        let replaced = statuses.replace_status("a", &POST, &whole).await.unwrap();
        assert_eq!(established(&replaced), Some(3));

        // The main resource ignores .status.
        let main = json!({"spec": {"node": "b"}, "status": {"established": 99}});
        let patched = statuses
            .patch("a", &PATCH, &Patch::Merge(&main))
            .await
            .unwrap();
        assert_eq!(
            (node_of(&patched).as_deref(), established(&patched)),
            (Some("b"), Some(3))
        );
        assert_eq!(patched.metadata.generation, Some(2));
        let stale = api_error(statuses.replace_status("a", &POST, &whole).await);
        assert_eq!(stale.reason, "Conflict");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_node_collects_what_it_owns() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let blocks = custom(&client, "PodCIDRBlock", "podcidrblocks");
    let owner = |n: &Node| {
        let (name, uid) = (n.name_any(), n.uid());
        json!({"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid})
    };
    let block = |name: &str, owners: Vec<Value>| {
        dynamic(json!({
            "apiVersion": "podroute.io/v1alpha1",
            "kind": "PodCIDRBlock",
            "metadata": {"name": name, "ownerReferences": owners},
            "spec": {"cidr": "10.244.0.0/24"},
        }))
    };
    let left = || server.objects("podroute.io/v1alpha1", "podcidrblocks");
    within("delete and collect", async {
        let a = nodes.create(&POST, &node("a", &[])).await.unwrap();
        let b = nodes.create(&POST, &node("b", &[])).await.unwrap();
        for (name, owners) in [
            ("of-a", vec![owner(&a)]),
            ("of-b", vec![owner(&b)]),
            ("of-both", vec![owner(&a), owner(&b)]),
        ] {
            blocks.create(&POST, &block(name, owners)).await.unwrap();
        }

        let deleted = nodes.delete("a", &DeleteParams::default()).await.unwrap();
        assert_eq!(deleted.left().map(|n| n.name_any()).as_deref(), Some("a"));
        assert_eq!(
            names(&left()),
            ["of-b", "of-both"],
            "of-both still has a live owner"
        );
        nodes.delete("b", &DeleteParams::default()).await.unwrap();
        assert_eq!(names(&left()), Vec::<&str>::new());
        assert!(server.objects("v1", "nodes").is_empty());
        assert_eq!(
            server.requests("delete"),
            2,
            "the collector's deletes are not requests"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_select_by_label_and_field() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("list", async {
        for (name, rack) in [("a", "r1"), ("b", "r2"), ("c", "r1"), ("d", "r3")] {
            nodes
                .create(&PostParams::default(), &node(name, &[("rack", rack)]))
                .await
                .unwrap();
        }
        nodes
            .create(&PostParams::default(), &node("e", &[]))
            .await
            .unwrap();
        let listed = |selector: &'static str| {
            let nodes = nodes.clone();
            async move {
                let list = nodes
                    .list(&ListParams::default().labels(selector))
                    .await
                    .unwrap();
                list.items.iter().map(|n| n.name_any()).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed("rack=r1").await, ["a", "c"]);
        assert_eq!(listed("rack!=r1").await, ["b", "d", "e"]);
        assert_eq!(listed("rack in (r2,r3)").await, ["b", "d"]);
        assert_eq!(listed("rack notin (r2,r3)").await, ["a", "c", "e"]);
        assert_eq!(listed("rack").await, ["a", "b", "c", "d"]);
        assert_eq!(listed("!rack").await, ["e"]);
        let by_name = nodes
            .list(&ListParams::default().fields("metadata.name=c"))
            .await
            .unwrap();
        assert_eq!(by_name.items.len(), 1);
        assert_eq!(by_name.metadata.resource_version.as_deref(), Some("5"));
        assert_eq!(
            api_error(
                nodes
                    .list(&ListParams::default().labels("rack in r1"))
                    .await
            )
            .code,
            400
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_continue_consistently() {
    let server = FakeApiServer::start().await.unwrap();
    let client = server.client().await;
    within("pages", async {
        for (ns, name) in [
            ("x", "a"),
            ("x", "b"),
            ("y", "a"),
            ("y", "c"),
            ("y", "d"),
            ("z", "e"),
            ("z", "f"),
        ] {
            Api::<ConfigMap>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &config_map(ns, name))
                .await
                .unwrap();
        }
        let all: Api<ConfigMap> = Api::all(client.clone());
        let first = all.list(&ListParams::default().limit(3)).await.unwrap();
        let token = first.metadata.continue_.clone().expect("more pages");
        // Changed after the first page: the next pages still show the first page's state.
        Api::<ConfigMap>::namespaced(client.clone(), "z")
            .delete("f", &DeleteParams::default())
            .await
            .unwrap();
        let mut seen: Vec<String> = first
            .items
            .iter()
            .map(|c| format!("{}/{}", c.namespace().unwrap(), c.name_any()))
            .collect();
        let mut next = Some(token);
        while let Some(token) = next {
            let page = all
                .list(&ListParams::default().limit(3).continue_token(&token))
                .await
                .unwrap();
            assert!(page.items.len() <= 3);
            assert_eq!(
                page.metadata.resource_version,
                first.metadata.resource_version
            );
            seen.extend(
                page.items
                    .iter()
                    .map(|c| format!("{}/{}", c.namespace().unwrap(), c.name_any())),
            );
            next = page.metadata.continue_.filter(|c| !c.is_empty());
        }
        assert_eq!(seen, ["x/a", "x/b", "y/a", "y/c", "y/d", "z/e", "z/f"]);
        assert_eq!(server.requests("list"), 3);
        // One namespace only.
        let y = Api::<ConfigMap>::namespaced(client.clone(), "y")
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(
            y.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
            ["a", "c", "d"]
        );
        // After a compaction the old token has expired: 410, as on the real server.
        server.compact();
        let expired = api_error(
            all.list(
                &ListParams::default()
                    .limit(3)
                    .continue_token(first.metadata.continue_.as_deref().unwrap()),
            )
            .await,
        );
        assert_eq!(expired.code, 410);
    })
    .await;
}

/// Waits until the reflector's store holds exactly `want` (node name -> rack label).
async fn converge(store: &reflector::Store<Node>, want: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = want
        .iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect();
    loop {
        let have: BTreeMap<String, String> = store
            .state()
            .iter()
            .map(|n| {
                (
                    n.name_any(),
                    n.labels().get("rack").cloned().unwrap_or_default(),
                )
            })
            .collect();
        if have == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_sees_added_modified_deleted_and_converges() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("reflector", async {
        nodes
            .create(&PostParams::default(), &node("a", &[("rack", "r1")]))
            .await
            .unwrap();
        let (reader, writer) = reflector::store();
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let stream = reflector(writer, watcher(nodes.clone(), watcher::Config::default()));
        let task = tokio::spawn(stream.try_for_each(move |event| {
            let seen = match &event {
                watcher::Event::Apply(n) => Some(format!("apply {}", n.name_any())),
                watcher::Event::Delete(n) => Some(format!("delete {}", n.name_any())),
                _ => None,
            };
            if let Some(seen) = seen {
                let _ = events_tx.send(seen);
            }
            async { Ok(()) }
        }));
        reader.wait_until_ready().await.unwrap();
        converge(&reader, &[("a", "r1")]).await;

        nodes
            .create(&PostParams::default(), &node("b", &[("rack", "r2")]))
            .await
            .unwrap();
        let relabel = json!({"metadata": {"labels": {"rack": "r3"}}});
        nodes
            .patch("a", &PatchParams::default(), &Patch::Merge(&relabel))
            .await
            .unwrap();
        nodes.delete("b", &DeleteParams::default()).await.unwrap();
        converge(&reader, &[("a", "r3")]).await;
        let mut seen = Vec::new();
        while seen.len() < 3 {
            seen.push(events.recv().await.unwrap());
        }
        assert_eq!(seen, ["apply b", "apply a", "delete b"]);
        assert_eq!(
            server.requests("list"),
            1,
            "no relist: the watch carried everything"
        );
        task.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_converges() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("streaming list", async {
        nodes
            .create(&PostParams::default(), &node("a", &[("rack", "r1")]))
            .await
            .unwrap();
        let (reader, writer) = reflector::store();
        let config = watcher::Config::default().streaming_lists();
        let task =
            tokio::spawn(reflector(writer, watcher(nodes.clone(), config)).for_each(|_| async {}));
        reader.wait_until_ready().await.unwrap();
        converge(&reader, &[("a", "r1")]).await;
        nodes
            .create(&PostParams::default(), &node("b", &[("rack", "r2")]))
            .await
            .unwrap();
        converge(&reader, &[("a", "r1"), ("b", "r2")]).await;
        assert_eq!(
            server.requests("list"),
            0,
            "the initial state came as watch events"
        );
        task.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_compaction_an_old_watch_gets_410_and_the_watcher_relists() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("compaction", async {
        let a = nodes
            .create(
                &PostParams::default(),
                &node("a", &[("rack", "r1"), ("watched", "yes")]),
            )
            .await
            .unwrap();
        let old = a.resource_version().unwrap();
        nodes
            .create(&PostParams::default(), &node("x", &[]))
            .await
            .unwrap();
        server.compact();
        let mut stream = nodes
            .watch(&WatchParams::default(), &old)
            .await
            .unwrap()
            .boxed();
        match stream.try_next().await.unwrap() {
            Some(WatchEvent::Error(status)) => {
                assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
                assert!(
                    status.message.starts_with("too old resource version"),
                    "{}",
                    status.message
                );
            }
            other => panic!("expected a 410 ERROR event, got {other:?}"),
        }
        assert!(
            stream.try_next().await.unwrap().is_none(),
            "and then the end"
        );

        // A watcher whose resourceVersion falls behind (no bookmarks, nothing it selects
        // changes) gets the 410 when the compaction closes its watch, and lists again.
        let (reader, writer) = reflector::store();
        let config = watcher::Config::default()
            .labels("watched=yes")
            .disable_bookmarks();
        let task = tokio::spawn(
            reflector(writer, watcher(nodes.clone(), config))
                .default_backoff()
                .for_each(|_| async {}),
        );
        reader.wait_until_ready().await.unwrap();
        converge(&reader, &[("a", "r1")]).await;
        for rack in ["r2", "r3"] {
            let unwatched = json!({"metadata": {"labels": {"rack": rack}}});
            nodes
                .patch("x", &PatchParams::default(), &Patch::Merge(&unwatched))
                .await
                .unwrap();
        }
        server.compact();
        nodes
            .create(
                &PostParams::default(),
                &node("b", &[("rack", "r2"), ("watched", "yes")]),
            )
            .await
            .unwrap();
        converge(&reader, &[("a", "r1"), ("b", "r2")]).await;
        while server.requests("list") < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookmarks_come_when_asked_for_and_timeouts_end_watches() {
    let server = FakeApiServer::start().await.unwrap();
    let nodes: Api<Node> = Api::all(server.client().await);
    within("bookmarks", async {
        let a = nodes.create(&POST, &node("a", &[])).await.unwrap();
        let current = a.resource_version().unwrap();
        let mut events = nodes
            .watch(&WatchParams::default(), "0")
            .await
            .unwrap()
            .boxed();
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Added(n)) => assert_eq!(n.name_any(), "a"),
            other => panic!("expected a synthetic ADDED, got {other:?}"),
        }
        match events.try_next().await.unwrap() {
            Some(WatchEvent::Bookmark(b)) => assert_eq!(b.metadata.resource_version, current),
            other => panic!("expected a bookmark, got {other:?}"),
        }

        // No bookmarks asked for: none come, and timeoutSeconds ends the stream.
        let started = Instant::now();
        let params = WatchParams::default().disable_bookmarks().timeout(2);
        let stream = nodes.watch(&params, &current).await.unwrap();
        let events: Vec<_> = stream.try_collect().await.unwrap();
        assert!(events.is_empty(), "{events:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(4),
            "{took:?}"
        );
    })
    .await;
}

/// The server on one runtime, the clients on another, all racing to create one name.
#[test]
fn fifty_concurrent_creates_of_one_name_make_exactly_one() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(FakeApiServer::start()).unwrap();
    let outcomes: Vec<Result<(), u16>> = client_rt.block_on(within("50 creates", async {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let client = server.client().await;
            tasks.push(tokio::spawn(async move {
                let nodes: Api<Node> = Api::all(client);
                match nodes
                    .create(&PostParams::default(), &node("only", &[]))
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => Err(s.code),
                    Err(e) => panic!("{e}"),
                }
            }));
        }
        futures::future::try_join_all(tasks).await.unwrap()
    }));
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Err(409)).count(), 49);
    assert_eq!(server.requests("create"), 50);
    assert_eq!(server.objects("v1", "nodes").len(), 1);
    server_rt.block_on(server.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_works_through_kubes_own_loader() {
    let server = FakeApiServer::start().await.unwrap();
    let path = std::env::temp_dir().join(format!("fake-api-kubeconfig-{}", std::process::id()));
    server.write_kubeconfig(&path).unwrap();
    within("kubeconfig", async {
        let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
        let options = kube::config::KubeConfigOptions::default();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .unwrap();
        assert!(config.cluster_url.to_string().starts_with(&server.url()));
        let client = Client::try_from(config).unwrap();
        let nodes: Api<Node> = Api::all(client);
        nodes
            .create(&PostParams::default(), &node("a", &[]))
            .await
            .unwrap();
        assert_eq!(
            nodes
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            1
        );
    })
    .await;
    std::fs::remove_file(&path).unwrap();
}
