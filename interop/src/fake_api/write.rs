//! Create, update (PUT), patch and delete, with the real server's rules for what a write
//! may change: identity and bookkeeping fields are the server's, optimistic concurrency
//! goes by `metadata.resourceVersion`, `.status` follows the kind's `StatusRule`, and a
//! write that changes nothing is not a write (no new resourceVersion, no watch event).
//!
//! Simplified: finalizers are ignored (a delete removes the object at once; there is no
//! `deletionTimestamp`), there is no admission, defaulting or schema validation, and the
//! Namespace of a namespaced object need not exist.

use std::hash::BuildHasher;

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::gc;
use super::kinds::{Kind, Target};
use super::patch::{self, PatchError, PatchKind};
use super::store::{Key, Store};

/// Options every write takes from the query.
#[derive(Debug, Default)]
pub(crate) struct WriteParams {
    /// `dryRun=All`: answer as if written, store nothing.
    pub(crate) dry_run: bool,
    /// `fieldManager`, which server-side apply requires.
    pub(crate) field_manager: Option<String>,
}

/// POST to a collection. Returns the HTTP code (201) and the stored object.
pub(crate) fn create(
    store: &mut Store,
    target: &Target,
    body: &[u8],
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let object = parse_object(body)?;
    insert(store, target, object, params)
}

/// PUT to an object or its `/status`.
pub(crate) fn update(
    store: &mut Store,
    target: &Target,
    body: &[u8],
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let key = key(target);
    let old = existing(store, target, &key)?;
    let proposed = parse_object(body)?;
    commit_update(store, target, key, old, proposed, params)
}

/// PATCH to an object or its `/status`. Server-side apply creates an absent object.
pub(crate) fn patch(
    store: &mut Store,
    target: &Target,
    content_type: &str,
    body: &[u8],
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let kind = Kind::get(target.kind);
    let patch_kind = PatchKind::from_content_type(content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
    if patch_kind == PatchKind::Apply && params.field_manager.is_none() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: \
             fieldManager: Required value: is required for apply patch",
        ));
    }
    let name = target.name.as_deref().unwrap_or("");
    let patch_error = |e| match e {
        PatchError::Malformed(message) => ApiError::bad_request(message),
        PatchError::NotApplicable(message) => ApiError::invalid(kind, name, message),
    };
    let body = patch::parse_body(patch_kind, body).map_err(patch_error)?;
    let key = key(target);
    let Some(old) = store.get(&key).cloned() else {
        if patch_kind == PatchKind::Apply && !target.status {
            return insert(store, target, body, params);
        }
        return Err(ApiError::not_found(kind, name));
    };
    let mut proposed = old.clone();
    patch::apply(patch_kind, &mut proposed, &body).map_err(patch_error)?;
    commit_update(store, target, key, old, proposed, params)
}

/// DELETE an object, then what it owned ([`gc`]). Returns the object as it was.
pub(crate) fn delete(
    store: &mut Store,
    target: &Target,
    body: &[u8],
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let kind = Kind::get(target.kind);
    let name = target.name.as_deref().unwrap_or("");
    let key = key(target);
    let old = existing(store, target, &key)?;
    // DeleteOptions: an empty body is the default.
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        parse_object(body)?
    };
    let preconditions = &options["preconditions"];
    for field in ["uid", "resourceVersion"] {
        if let Some(want) = preconditions[field].as_str()
            && Some(want) != old["metadata"][field].as_str()
        {
            return Err(ApiError::conflict(kind, name));
        }
    }
    if params.dry_run || options["dryRun"].as_array().is_some_and(|d| !d.is_empty()) {
        return Ok((200, old));
    }
    store.write(key, None);
    if options["propagationPolicy"] != "Orphan"
        && let Some(uid) = old["metadata"]["uid"].as_str()
    {
        gc::collect(store, uid);
    }
    Ok((200, old))
}

fn key(target: &Target) -> Key {
    Key {
        kind: target.kind,
        namespace: target.namespace.clone().unwrap_or_default(),
        name: target.name.clone().unwrap_or_default(),
    }
}

fn existing(store: &Store, target: &Target, key: &Key) -> Result<Value, ApiError> {
    store
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(Kind::get(target.kind), &key.name))
}

/// A body that must be a JSON object whose `metadata`, if any, is an object too.
fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request does not parse: {e}"))
    })?;
    if !value.is_object() || !(value["metadata"].is_null() || value["metadata"].is_object()) {
        return Err(ApiError::bad_request(
            "the body must be an object with an object `metadata`",
        ));
    }
    Ok(value)
}

/// A body's `kind`/`apiVersion`, when given, must be the path's.
fn check_type(kind: &Kind, object: &Value) -> Result<(), ApiError> {
    let given = |field: &str| object[field].as_str().filter(|s| !s.is_empty());
    if given("kind").is_some_and(|k| k != kind.kind)
        || given("apiVersion").is_some_and(|v| v != kind.api_version)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) \
             or kind ({}) does not match {}",
            object["apiVersion"], kind.api_version, object["kind"], kind.kind
        )));
    }
    Ok(())
}

/// Stores a new object: the server fills in identity and bookkeeping.
fn insert(
    store: &mut Store,
    target: &Target,
    mut object: Value,
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let kind = Kind::get(target.kind);
    check_type(kind, &object)?;
    object["kind"] = json!(kind.kind);
    object["apiVersion"] = json!(kind.api_version);
    let meta = &mut object["metadata"];
    let namespace = target.namespace.clone().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && kind.namespaced() && ns != namespace => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on \
                 the request",
            ));
        }
        _ if kind.namespaced() => meta["namespace"] = json!(namespace),
        _ => remove(meta, "namespace"),
    }
    // The name: the URL's (server-side apply), the body's, or generated.
    let given = meta["name"].as_str().unwrap_or("").to_string();
    let name = match (&target.name, given.is_empty()) {
        (Some(url), _) if !given.is_empty() && *url != given => {
            return Err(name_mismatch(&given, url));
        }
        (Some(url), _) => url.clone(),
        (None, false) => given,
        (None, true) => match meta["generateName"].as_str().filter(|p| !p.is_empty()) {
            Some(prefix) => generate_name(store, target, prefix),
            None => {
                let message = "metadata.name: Required value: name or generateName is required";
                return Err(ApiError::invalid(kind, "", message));
            }
        },
    };
    if meta["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let key = Key {
        kind: target.kind,
        namespace,
        name: name.clone(),
    };
    if store.get(&key).is_some() {
        return Err(ApiError::already_exists(kind, &name));
    }
    meta["name"] = json!(name);
    meta["uid"] = json!(store.new_uid());
    meta["creationTimestamp"] = json!(now());
    meta["generation"] = json!(1);
    for field in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        remove(meta, field);
    }
    if kind.create_drops_status() {
        remove(&mut object, "status");
    }
    if params.dry_run {
        return Ok((201, object));
    }
    Ok((201, store.write(key, Some(object))))
}

/// Turns a PUT body or a patched object into what is stored, and stores it.
fn commit_update(
    store: &mut Store,
    target: &Target,
    key: Key,
    old: Value,
    proposed: Value,
    params: &WriteParams,
) -> Result<(u16, Value), ApiError> {
    let kind = Kind::get(target.kind);
    check_type(kind, &proposed)?;
    let meta = &proposed["metadata"];
    if let Some(name) = meta["name"].as_str().filter(|n| !n.is_empty())
        && name != key.name
    {
        return Err(name_mismatch(name, &key.name));
    }
    // Optimistic concurrency: a resourceVersion, if given, must be the stored one.
    let stored_rv = &old["metadata"]["resourceVersion"];
    if meta["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty())
        && meta["resourceVersion"] != *stored_rv
    {
        return Err(ApiError::conflict(kind, &key.name));
    }
    let mut new = if target.status {
        // `/status` changes `.status` and nothing else.
        let mut new = old.clone();
        set(&mut new, "status", proposed.get("status").cloned());
        new
    } else {
        let mut new = proposed;
        if kind.has_status_subresource() {
            set(&mut new, "status", old.get("status").cloned());
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            set(
                &mut new["metadata"],
                field,
                old["metadata"].get(field).cloned(),
            );
        }
        new["kind"] = json!(kind.kind);
        new["apiVersion"] = json!(kind.api_version);
        new
    };
    new["metadata"]["resourceVersion"] = stored_rv.clone();
    if new == old {
        return Ok((200, old));
    }
    if without_meta_and_status(&new) != without_meta_and_status(&old) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(generation + 1);
    }
    if params.dry_run {
        return Ok((200, new));
    }
    Ok((200, store.write(key, Some(new))))
}

fn name_mismatch(body: &str, url: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the name of the object ({body}) does not match the name on the URL ({url})"
    ))
}

/// What `generation` counts changes of: everything but metadata and status.
fn without_meta_and_status(object: &Value) -> Map<String, Value> {
    let mut rest = object.as_object().cloned().unwrap_or_default();
    rest.remove("metadata");
    rest.remove("status");
    rest
}

/// `generateName` plus five characters from the real server's alphabet, not yet taken.
fn generate_name(store: &Store, target: &Target, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = std::collections::hash_map::RandomState::new();
    (0u64..)
        .map(|attempt| {
            let mut n = random.hash_one(attempt);
            let suffix: String = (0..5)
                .map(|_| {
                    let c = ALPHABET[(n % ALPHABET.len() as u64) as usize];
                    n /= ALPHABET.len() as u64;
                    char::from(c)
                })
                .collect();
            format!("{prefix}{suffix}")
        })
        .find(|name| {
            let key = Key {
                name: name.clone(),
                ..key(target)
            };
            store.get(&key).is_none()
        })
        .expect("an endless supply of names")
}

/// Now, as Kubernetes writes timestamps: RFC 3339 in UTC, whole seconds.
fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

fn set(object: &mut Value, field: &str, value: Option<Value>) {
    match value {
        Some(value) => object[field] = value,
        None => remove(object, field),
    }
}

fn remove(object: &mut Value, field: &str) {
    if let Some(map) = object.as_object_mut() {
        map.remove(field);
    }
}
