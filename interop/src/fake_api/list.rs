//! Lists, with selectors and pagination.
//!
//! Pages are consistent like the real server's: every page of one list shows the state at
//! the first page's resourceVersion (rebuilt from the history), so a client that watches
//! from the list's resourceVersion misses nothing. The continue token is opaque to
//! clients; here it is `{resourceVersion}/{namespace}/{name}` of the last item sent, and
//! it expires (410) when that history is compacted, as on the real server.

use serde_json::{Value, json};

use super::errors::ApiError;
use super::kinds::{Kind, KindId};
use super::select::Selector;
use super::store::Store;

/// What a list request asked for.
#[derive(Debug)]
pub(crate) struct ListParams {
    pub(crate) kind: KindId,
    pub(crate) selector: Selector,
    /// `limit`: at most this many items per page (0 or absent: all).
    pub(crate) limit: Option<usize>,
    /// `continue`: the token of the previous page.
    pub(crate) continue_token: Option<String>,
    /// `resourceVersion` with `resourceVersionMatch=Exact`: the state at that version.
    /// Other resourceVersion semantics are served from the current state, which satisfies
    /// them all ("not older than", "any").
    pub(crate) exact: Option<u64>,
}

/// The list object: `{apiVersion, kind: <Kind>List, metadata: {resourceVersion,
/// continue?}, items}`.
pub(crate) fn list(store: &Store, params: &ListParams) -> Result<Value, ApiError> {
    let kind = Kind::get(params.kind);
    let (at, after) = match &params.continue_token {
        Some(token) => {
            let (rv, ns, name) = parse_token(token).ok_or_else(|| {
                ApiError::bad_request(format!("continue key is not valid: {token:?}"))
            })?;
            (rv, Some((ns, name)))
        }
        None => (params.exact.unwrap_or(store.rv()), None),
    };
    let objects = store.snapshot(params.kind, at).ok_or_else(|| {
        ApiError::expired(if params.continue_token.is_some() {
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter."
                .to_string()
        } else {
            format!("too old resource version: {at} ({})", store.compacted())
        })
    })?;
    let limit = params.limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
    let mut items: Vec<(String, String, Value)> = objects
        .into_iter()
        .filter(|(key, _)| match &after {
            Some((ns, name)) => (&key.namespace, &key.name) > (ns, name),
            None => true,
        })
        .filter(|(_, object)| params.selector.matches(object))
        .map(|(key, object)| (key.namespace, key.name, object))
        .take(limit.saturating_add(1))
        .collect();
    let mut metadata = json!({ "resourceVersion": at.to_string() });
    if items.len() > limit {
        items.truncate(limit);
        if let Some((ns, name, _)) = items.last() {
            metadata["continue"] = json!(format!("{at}/{ns}/{name}"));
        }
    }
    Ok(json!({
        "apiVersion": kind.api_version,
        "kind": format!("{}List", kind.kind),
        "metadata": metadata,
        "items": items.into_iter().map(|(_, _, o)| o).collect::<Vec<_>>(),
    }))
}

/// `{rv}/{namespace}/{name}`: neither a namespace nor a name can contain `/`.
fn parse_token(token: &str) -> Option<(u64, String, String)> {
    let mut parts = token.splitn(3, '/');
    let rv = parts.next()?.parse().ok()?;
    let ns = parts.next()?.to_string();
    let name = parts.next()?.to_string();
    Some((rv, ns, name))
}
