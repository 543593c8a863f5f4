//! `/version` and the legacy (non-aggregated) discovery documents, built from the kind
//! table. Typed kube clients never ask for them; `kube::Discovery` and kubectl-like tools
//! do.

use serde_json::{Value, json};

use super::kinds::KINDS;

const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The document served at `path`, if it is a discovery path.
pub(crate) fn document(path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Some(version()),
        ["api"] => Some(
            json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [] }),
        ),
        ["apis"] => Some(groups()),
        ["api", "v1"] => Some(resources("v1")),
        ["apis", group, version] => {
            let group_version = format!("{group}/{version}");
            KINDS
                .iter()
                .any(|k| k.api_version == group_version)
                .then(|| resources(&group_version))
        }
        _ => None,
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "fake-api-server",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `APIGroupList`: every non-core group, one version each.
fn groups() -> Value {
    let mut seen = Vec::new();
    for kind in KINDS {
        if let Some((group, version)) = kind.api_version.split_once('/')
            && !seen.iter().any(|(g, _)| *g == group)
        {
            seen.push((group, version));
        }
    }
    let groups: Vec<Value> = seen
        .into_iter()
        .map(|(group, version)| {
            let gv = json!({ "groupVersion": format!("{group}/{version}"), "version": version });
            json!({ "name": group, "versions": [gv], "preferredVersion": gv })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// `APIResourceList` for one group/version, with the `/status` subresources.
fn resources(group_version: &str) -> Value {
    let mut resources = Vec::new();
    for kind in KINDS.iter().filter(|k| k.api_version == group_version) {
        resources.push(json!({
            "name": kind.plural,
            "singularName": kind.kind.to_lowercase(),
            "namespaced": kind.namespaced(),
            "kind": kind.kind,
            "verbs": VERBS,
        }));
        if kind.has_status_subresource() {
            resources.push(json!({
                "name": format!("{}/status", kind.plural),
                "singularName": "",
                "namespaced": kind.namespaced(),
                "kind": kind.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}
