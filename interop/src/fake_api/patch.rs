//! The four PATCH formats, chosen by `Content-Type`.
//!
//! Simplified on purpose (this is a test double):
//! - strategic merge patch is applied as a JSON merge patch: lists are replaced whole,
//!   never merged by key, and `$patch`-style directives are not understood;
//! - server-side apply merges the applied object into the stored one like a merge patch:
//!   there is no field ownership, so it never reports a conflict (`force` changes
//!   nothing) and a field left out of the applied configuration is not removed.

use serde_json::Value;

/// A PATCH body's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/merge-patch+json`, RFC 7386.
    Merge,
    /// `application/json-patch+json`, RFC 6902.
    Json,
    /// `application/strategic-merge-patch+json`, applied as [`PatchKind::Merge`].
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchKind {
    pub(crate) fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        match media_type {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Why a patch failed: a body that does not parse (400), or a JSON patch whose operation
/// cannot apply, such as a failed `test` (422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatchError {
    Malformed(String),
    NotApplicable(String),
}

/// Parses a body: JSON, or for apply YAML (of which JSON is a subset).
pub(crate) fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, PatchError> {
    let parsed = match kind {
        PatchKind::Apply => serde_yaml_ng::from_slice(body).map_err(|e| e.to_string()),
        _ => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| PatchError::Malformed(format!("the body of the patch does not parse: {e}")))
}

/// Applies a parsed patch to `doc`.
pub(crate) fn apply(kind: PatchKind, doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    match kind {
        PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(PatchError::Malformed(
                    "a merge patch must be a JSON object".into(),
                ));
            }
            json_patch::merge(doc, patch);
            Ok(())
        }
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| PatchError::Malformed(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(doc, &operations)
                .map_err(|e| PatchError::NotApplicable(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(kind: PatchKind, doc: Value, body: &str) -> Result<Value, PatchError> {
        let mut doc = doc;
        apply(kind, &mut doc, &parse_body(kind, body.as_bytes())?)?;
        Ok(doc)
    }

    #[test]
    fn merge_patch_sets_replaces_and_removes_with_null() {
        let doc = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "l": [1, 2] });
        let out = patched(
            PatchKind::Merge,
            doc,
            r#"{"b": {"c": null, "e": 4}, "l": [3]}"#,
        );
        assert_eq!(
            out,
            Ok(json!({ "a": 1, "b": { "d": 3, "e": 4 }, "l": [3] }))
        );
    }

    #[test]
    fn json_patch_adds_removes_replaces_and_tests() {
        let doc = json!({ "a": 1, "l": [1] });
        let body = r#"[{"op": "test", "path": "/a", "value": 1},
                       {"op": "replace", "path": "/a", "value": 2},
                       {"op": "add", "path": "/l/-", "value": 2},
                       {"op": "remove", "path": "/l/0"}]"#;
        assert_eq!(
            patched(PatchKind::Json, doc.clone(), body),
            Ok(json!({ "a": 2, "l": [2] }))
        );
        let failing = r#"[{"op": "test", "path": "/a", "value": 9}]"#;
        assert!(matches!(
            patched(PatchKind::Json, doc.clone(), failing),
            Err(PatchError::NotApplicable(_))
        ));
        assert!(matches!(
            patched(PatchKind::Json, doc, "{}"),
            Err(PatchError::Malformed(_))
        ));
    }

    #[test]
    fn apply_takes_yaml_and_json() {
        let doc = json!({ "spec": { "a": 1 } });
        let yaml = "spec:\n  b: two\n";
        assert_eq!(
            patched(PatchKind::Apply, doc.clone(), yaml),
            Ok(json!({ "spec": { "a": 1, "b": "two" } }))
        );
        assert_eq!(
            patched(PatchKind::Apply, doc, r#"{"spec": {"a": 2}}"#),
            Ok(json!({ "spec": { "a": 2 } }))
        );
    }

    #[test]
    fn content_types_choose_the_format() {
        let kind = PatchKind::from_content_type;
        assert_eq!(kind("application/merge-patch+json"), Some(PatchKind::Merge));
        assert_eq!(
            kind("application/json-patch+json; charset=utf-8"),
            Some(PatchKind::Json)
        );
        assert_eq!(
            kind("application/strategic-merge-patch+json"),
            Some(PatchKind::Strategic)
        );
        assert_eq!(kind("application/apply-patch+yaml"), Some(PatchKind::Apply));
        assert_eq!(kind("application/json"), None);
    }
}
