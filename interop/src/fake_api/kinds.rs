//! The kinds the fake API server knows, and how a request path names one of them.
//!
//! Adding a kind is one line in [`KINDS`]: everything else (routing, lists, watches,
//! discovery) reads the table.

/// Whether objects of a kind live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Cluster,
    Namespaced,
}

/// What `.status` means for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusRule {
    /// No `/status` subresource: `.status`, if the kind has one, is an ordinary field.
    Field,
    /// A `/status` subresource, as the real server has it: writes to `/status` change only
    /// `.status`, writes to the main resource keep the stored `.status`. A Node's create
    /// keeps the `.status` it is given (the kubelet registers with its addresses); a custom
    /// resource's create drops it.
    Subresource { create_keeps_status: bool },
}

/// One kind of object: its group/version, its URL plural and its `kind`.
#[derive(Debug)]
pub(crate) struct Kind {
    /// `v1` for the core group, else `group/version`.
    pub(crate) api_version: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) scope: Scope,
    pub(crate) status: StatusRule,
}

use Scope::{Cluster, Namespaced};
use StatusRule::{Field, Subresource};

/// Every kind served. The index of a kind in this table is its [`KindId`].
pub(crate) const KINDS: &[Kind] = &[
    kind("v1", "nodes", "Node", Cluster, NODE_STATUS),
    kind("v1", "namespaces", "Namespace", Cluster, Field),
    kind("v1", "secrets", "Secret", Namespaced, Field),
    kind("v1", "configmaps", "ConfigMap", Namespaced, Field),
    kind(CRD, "podcidrblocks", "PodCIDRBlock", Cluster, Field),
    kind(CRD, "bgppeers", "BGPPeer", Cluster, Field),
    kind(
        CRD,
        "podroutenodestatuses",
        "PodrouteNodeStatus",
        Cluster,
        CR_STATUS,
    ),
];

const CRD: &str = "podroute.io/v1alpha1";
/// `/status` as custom resources have it: create drops `.status`.
const CR_STATUS: StatusRule = Subresource {
    create_keeps_status: false,
};
/// `/status` as Nodes have it: create keeps `.status`.
const NODE_STATUS: StatusRule = Subresource {
    create_keeps_status: true,
};

const fn kind(
    api_version: &'static str,
    plural: &'static str,
    kind: &'static str,
    scope: Scope,
    status: StatusRule,
) -> Kind {
    Kind {
        api_version,
        plural,
        kind,
        scope,
        status,
    }
}

/// A kind, as its index in [`KINDS`].
pub(crate) type KindId = usize;

impl Kind {
    pub(crate) fn get(id: KindId) -> &'static Kind {
        &KINDS[id]
    }

    /// The kind served at `api_version` + `plural`.
    pub(crate) fn find(api_version: &str, plural: &str) -> Option<KindId> {
        KINDS
            .iter()
            .position(|k| k.api_version == api_version && k.plural == plural)
    }

    /// The API group, `""` for the core group.
    pub(crate) fn group(&self) -> &'static str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }

    /// How the real server names the resource in messages: `nodes`, `bgppeers.podroute.io`.
    pub(crate) fn resource(&self) -> String {
        match self.group() {
            "" => self.plural.to_string(),
            group => format!("{}.{group}", self.plural),
        }
    }

    pub(crate) fn namespaced(&self) -> bool {
        self.scope == Namespaced
    }

    pub(crate) fn has_status_subresource(&self) -> bool {
        matches!(self.status, Subresource { .. })
    }

    /// Whether a create drops the `.status` it is given.
    pub(crate) fn create_drops_status(&self) -> bool {
        self.status == CR_STATUS
    }
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) kind: KindId,
    /// The namespace in the path; `None` for cluster-scoped kinds, and for a namespaced
    /// kind's all-namespaces collection (`/api/v1/secrets`).
    pub(crate) namespace: Option<String>,
    /// The object's name; `None` for the collection.
    pub(crate) name: Option<String>,
    /// The `/status` subresource.
    pub(crate) status: bool,
}

/// Resolves `/api/v1/...` and `/apis/{group}/{version}/...`; `None` for anything else.
pub(crate) fn route(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    // `namespaces/{ns}/{plural}/...` names a namespaced kind; anything else starts with a
    // plural (which for `namespaces/{name}` is the Namespace object itself).
    if let ["namespaces", namespace, plural, tail @ ..] = rest
        && let Some(id) = Kind::find(&api_version, plural)
        && Kind::get(id).namespaced()
    {
        return object(id, Some(namespace), tail);
    }
    let [plural, tail @ ..] = rest else {
        return None;
    };
    let id = Kind::find(&api_version, plural)?;
    if Kind::get(id).namespaced() && !tail.is_empty() {
        return None; // a namespaced object needs its namespace in the path
    }
    object(id, None, tail)
}

/// The part of a path after the kind: nothing, `{name}` or `{name}/status`.
fn object(kind: KindId, namespace: Option<&str>, tail: &[&str]) -> Option<Target> {
    let (name, status) = match tail {
        [] => (None, false),
        [name] => (Some(name), false),
        [name, "status"] if Kind::get(kind).has_status_subresource() => (Some(name), true),
        _ => return None,
    };
    if namespace == Some("") || name == Some(&"") {
        return None;
    }
    Some(Target {
        kind,
        namespace: namespace.map(str::to_string),
        name: name.map(|n| n.to_string()),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(plural: &str) -> KindId {
        KINDS.iter().position(|k| k.plural == plural).unwrap()
    }

    #[test]
    fn paths_name_kinds_namespaces_objects_and_subresources() {
        let t = |kind, ns: Option<&str>, name: Option<&str>, status| Target {
            kind,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            status,
        };
        assert_eq!(
            route("/api/v1/nodes"),
            Some(t(id("nodes"), None, None, false))
        );
        assert_eq!(
            route("/api/v1/nodes/a/status"),
            Some(t(id("nodes"), None, Some("a"), true))
        );
        assert_eq!(
            route("/api/v1/namespaces/x"),
            Some(t(id("namespaces"), None, Some("x"), false))
        );
        assert_eq!(
            route("/api/v1/secrets"),
            Some(t(id("secrets"), None, None, false))
        );
        assert_eq!(
            route("/api/v1/namespaces/p/secrets/s"),
            Some(t(id("secrets"), Some("p"), Some("s"), false))
        );
        let status = id("podroutenodestatuses");
        assert_eq!(
            route("/apis/podroute.io/v1alpha1/podroutenodestatuses/n/status"),
            Some(t(status, None, Some("n"), true))
        );
        assert_eq!(route("/apis/podroute.io/v1alpha1/bgppeers/n/status"), None);
        assert_eq!(route("/api/v1/secrets/s"), None);
        assert_eq!(route("/api/v1/pods"), None);
        assert_eq!(route("/apis/podroute.io/v1/bgppeers"), None);
        assert_eq!(route("/healthz"), None);
    }

    #[test]
    fn resources_are_named_like_the_real_server_does() {
        assert_eq!(Kind::get(id("nodes")).resource(), "nodes");
        assert_eq!(Kind::get(id("bgppeers")).resource(), "bgppeers.podroute.io");
    }
}
