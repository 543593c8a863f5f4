//! One HTTP request: which kind and verb it names, its query parameters, and the JSON
//! response. Every response, errors and watch streams included, is `application/json`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;

use super::discovery;
use super::errors::ApiError;
use super::kinds::{self, Kind, Target};
use super::list::{self, ListParams};
use super::select::Selector;
use super::store::{Key, Store, lock};
use super::watch::{self, WatchParams};
use super::write::{self, WriteParams};

/// A response body: a whole JSON document, or a watch's stream of events.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Serves one request.
pub(crate) async fn serve(
    store: Arc<Mutex<Store>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(error(&ApiError::bad_request(
            "the request body could not be read",
        )));
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = Query::parse(parts.uri.query());
    Ok(respond(
        &store,
        &parts.method,
        parts.uri.path(),
        &query,
        content_type,
        &body,
    ))
}

fn respond(
    store: &Arc<Mutex<Store>>,
    method: &Method,
    path: &str,
    query: &Query,
    content_type: &str,
    body: &[u8],
) -> Response<Body> {
    if *method == Method::GET
        && let Some(document) = discovery::document(path)
    {
        return json(StatusCode::OK, &document);
    }
    let Some(target) = kinds::route(path) else {
        return error(&ApiError::no_route(path));
    };
    let Some(verb) = Verb::of(method, &target, query) else {
        return error(&ApiError::method_not_allowed(method.as_str()));
    };
    lock(store).count_request(verb.name());
    if verb == Verb::Watch {
        return match watch_params(&target, query) {
            Ok(params) => stream(watch::open(store, params)),
            Err(e) => error(&e),
        };
    }
    let params = WriteParams {
        dry_run: query.get("dryRun") == Some("All"),
        field_manager: query.get("fieldManager").map(str::to_string),
    };
    let mut s = lock(store);
    let result = match verb {
        Verb::List => list_params(&target, query)
            .and_then(|params| list::list(&s, &params))
            .map(|list| (200, list)),
        Verb::Get => get(&s, &target).map(|object| (200, object)),
        Verb::Create => write::create(&mut s, &target, body, &params),
        Verb::Update => write::update(&mut s, &target, body, &params),
        Verb::Patch => write::patch(&mut s, &target, content_type, body, &params),
        Verb::Delete => write::delete(&mut s, &target, body, &params),
        Verb::Watch => unreachable!("answered above"),
    };
    drop(s);
    match result {
        Ok((code, object)) => json(
            StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
            &object,
        ),
        Err(e) => error(&e),
    }
}

/// What a request does, as [`FakeApiServer::requests`](super::FakeApiServer::requests)
/// counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    List,
    Watch,
    Get,
    Create,
    Update,
    Patch,
    Delete,
}

impl Verb {
    /// `None` if the method makes no sense on the path (a 405).
    fn of(method: &Method, target: &Target, query: &Query) -> Option<Verb> {
        let collection = target.name.is_none();
        // A namespaced kind's all-namespaces path can be listed and watched, not created in.
        let no_namespace = Kind::get(target.kind).namespaced() && target.namespace.is_none();
        match *method {
            Method::GET if collection && query.flag("watch") => Some(Verb::Watch),
            Method::GET if collection => Some(Verb::List),
            Method::GET => Some(Verb::Get),
            Method::POST if collection && !no_namespace => Some(Verb::Create),
            Method::PUT if !collection => Some(Verb::Update),
            Method::PATCH if !collection => Some(Verb::Patch),
            Method::DELETE if !collection && !target.status => Some(Verb::Delete),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Get => "get",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

fn get(store: &Store, target: &Target) -> Result<Value, ApiError> {
    let key = Key {
        kind: target.kind,
        namespace: target.namespace.clone().unwrap_or_default(),
        name: target.name.clone().unwrap_or_default(),
    };
    store
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(Kind::get(target.kind), &key.name))
}

fn selector(target: &Target, query: &Query) -> Result<Selector, ApiError> {
    Selector::parse(query.get("labelSelector"), query.get("fieldSelector"))
        .map(|s| s.in_namespace(target.namespace.as_deref()))
        .map_err(ApiError::bad_request)
}

fn list_params(target: &Target, query: &Query) -> Result<ListParams, ApiError> {
    let limit = match query.get("limit") {
        Some(limit) => Some(
            limit
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {limit:?}")))?,
        ),
        None => None,
    };
    let exact = if query.get("resourceVersionMatch") == Some("Exact") {
        Some(resource_version(query)?.unwrap_or(0))
    } else {
        None
    };
    Ok(ListParams {
        kind: target.kind,
        selector: selector(target, query)?,
        limit,
        continue_token: query
            .get("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        exact,
    })
}

fn watch_params(target: &Target, query: &Query) -> Result<WatchParams, ApiError> {
    let timeout = match query.get("timeoutSeconds") {
        Some(t) => {
            let seconds: u64 = t
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?;
            (seconds > 0).then(|| Duration::from_secs(seconds))
        }
        None => None,
    };
    Ok(WatchParams {
        kind: target.kind,
        selector: selector(target, query)?,
        from: resource_version(query)?,
        send_initial_events: query.flag("sendInitialEvents"),
        bookmarks: query.flag("allowWatchBookmarks"),
        timeout,
    })
}

/// `resourceVersion`: `None` for absent, `""` and `"0"` (any version will do).
fn resource_version(query: &Query) -> Result<Option<u64>, ApiError> {
    match query.get("resourceVersion") {
        None | Some("" | "0") => Ok(None),
        Some(rv) => rv
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}"))),
    }
}

/// The decoded query parameters; for a repeated one, the last.
#[derive(Debug, Default)]
struct Query(HashMap<String, String>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A boolean parameter, as the real server reads one: `true` or `1`.
    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }
}

fn json(code: StatusCode, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).expect("a JSON value serializes");
    response(code, Full::new(Bytes::from(bytes)).boxed_unsync())
}

fn error(e: &ApiError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(code, &e.to_status())
}

/// A watch: 200 and a body that is sent chunk by chunk as events come.
fn stream(events: futures::stream::BoxStream<'static, Bytes>) -> Response<Body> {
    let body = StreamBody::new(events.map(|event| Ok(Frame::data(event))));
    response(StatusCode::OK, body.boxed_unsync())
}

fn response(code: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
