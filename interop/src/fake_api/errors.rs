//! Failures as the real API server reports them: a `Status` object with an HTTP code, a
//! machine-readable `reason` and a message worded like the real one, which kube turns
//! into `kube::Error::Api(status)`.

use serde_json::{Value, json};

use super::kinds::Kind;

/// A failed request: the HTTP code and the `Status` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// `details` naming the object, as the real server fills them in.
    fn about(mut self, kind: &Kind, name: &str) -> ApiError {
        let mut details = json!({ "name": name, "kind": kind.plural });
        if !kind.group().is_empty() {
            details["group"] = json!(kind.group());
        }
        self.details = Some(details);
        self
    }

    pub(crate) fn not_found(kind: &Kind, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" not found", kind.resource());
        ApiError::new(404, "NotFound", message).about(kind, name)
    }

    pub(crate) fn already_exists(kind: &Kind, name: &str) -> ApiError {
        let message = format!("{} \"{name}\" already exists", kind.resource());
        ApiError::new(409, "AlreadyExists", message).about(kind, name)
    }

    /// An optimistic-concurrency failure: the caller's resourceVersion is not the stored one.
    pub(crate) fn conflict(kind: &Kind, name: &str) -> ApiError {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            kind.resource()
        );
        ApiError::new(409, "Conflict", message).about(kind, name)
    }

    /// The history a watch or a continued list needs was compacted away.
    pub(crate) fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// A validation failure (HTTP 422).
    pub(crate) fn invalid(kind: &Kind, name: &str, message: impl Into<String>) -> ApiError {
        let message = format!("{} \"{name}\" is invalid: {}", kind.kind, message.into());
        ApiError::new(422, "Invalid", message).about(kind, name)
    }

    pub(crate) fn method_not_allowed(method: &str) -> ApiError {
        let message =
            format!("the server does not allow this method on the requested resource ({method})");
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format: {content_type}"),
        )
    }

    /// A path the server does not serve.
    pub(crate) fn no_route(path: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}
