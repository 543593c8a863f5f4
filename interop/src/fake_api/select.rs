//! Label and field selectors, as lists and watches take them in `labelSelector` and
//! `fieldSelector`.
//!
//! Labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) and `!k`
//! (does not exist); the numeric `k>n`/`k<n` are refused. Fields: `metadata.name` and
//! `metadata.namespace` with `=`, `==` and `!=`, the two every kind supports on the real
//! server; any other field label is refused as the real server refuses unsupported ones.

use serde_json::Value;

/// One label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// One field requirement: `field == value` (or `!=` when `equal` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    path: FieldPath,
    value: String,
    equal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldPath {
    Name,
    Namespace,
}

/// Which objects a list or watch wants. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    labels: Vec<Label>,
    fields: Vec<Field>,
}

impl Selector {
    /// Parses the `labelSelector` and `fieldSelector` query parameters; the error is the
    /// message for a 400.
    pub(crate) fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Selector, String> {
        let mut selector = Selector::default();
        for term in split_terms(labels.unwrap_or("")) {
            selector.labels.push(parse_label(term)?);
        }
        for term in split_terms(fields.unwrap_or("")) {
            selector.fields.push(parse_field(term)?);
        }
        Ok(selector)
    }

    /// Also require `metadata.namespace == namespace`: how a namespaced path scopes a list
    /// or watch.
    pub(crate) fn in_namespace(mut self, namespace: Option<&str>) -> Selector {
        if let Some(namespace) = namespace {
            self.fields.push(Field {
                path: FieldPath::Namespace,
                value: namespace.to_string(),
                equal: true,
            });
        }
        self
    }

    pub(crate) fn matches(&self, object: &Value) -> bool {
        let meta = &object["metadata"];
        let label = |key: &str| meta["labels"][key].as_str();
        let labels_match = self.labels.iter().all(|req| match req {
            Label::In(key, values) => label(key).is_some_and(|v| values.iter().any(|w| w == v)),
            Label::NotIn(key, values) => label(key).is_none_or(|v| values.iter().all(|w| w != v)),
            Label::Exists(key) => label(key).is_some(),
            Label::DoesNotExist(key) => label(key).is_none(),
        });
        let fields_match = self.fields.iter().all(|req| {
            let actual = match req.path {
                FieldPath::Name => &meta["name"],
                FieldPath::Namespace => &meta["namespace"],
            };
            (actual.as_str().unwrap_or("") == req.value) == req.equal
        });
        labels_match && fields_match
    }
}

/// Splits at the commas that are not inside `( )`, dropping empty terms.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_label(term: &str) -> Result<Label, String> {
    let bad = || format!("unable to parse requirement: invalid label selector term {term:?}");
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Label::DoesNotExist(key_of(key).ok_or_else(bad)?));
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Label::NotIn(
            key_of(key).ok_or_else(bad)?,
            vec![value.trim().to_string()],
        ));
    }
    if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(Label::In(
            key_of(key).ok_or_else(bad)?,
            vec![value.trim().to_string()],
        ));
    }
    if term.contains(['<', '>']) {
        return Err(format!("the fake API server does not support {term:?}"));
    }
    // `key in (a, b)`, `key notin (a, b)` or a bare `key`.
    let mut words = term.splitn(2, char::is_whitespace);
    let key = key_of(words.next().unwrap_or("")).ok_or_else(bad)?;
    let Some(rest) = words.next() else {
        return Ok(Label::Exists(key));
    };
    let rest = rest.trim_start();
    let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return Err(bad());
    };
    let set = set.trim();
    let values: Vec<String> = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(bad)?
        .split(',')
        .map(|v| v.trim().to_string())
        .collect();
    Ok(if negated {
        Label::NotIn(key, values)
    } else {
        Label::In(key, values)
    })
}

/// A label key: non-empty, no spaces or operator characters.
fn key_of(s: &str) -> Option<String> {
    let key = s.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    valid.then(|| key.to_string())
}

fn parse_field(term: &str) -> Result<Field, String> {
    let (path, value, equal) = if let Some((p, v)) = term.split_once("!=") {
        (p, v, false)
    } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        (p, v, true)
    } else {
        return Err(format!("invalid selector: {term:?}; can't understand"));
    };
    let path = match path.trim() {
        "metadata.name" => FieldPath::Name,
        "metadata.namespace" => FieldPath::Namespace,
        other => return Err(format!("field label not supported: {other}")),
    };
    Ok(Field {
        path,
        value: value.trim().to_string(),
        equal,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(name: &str, labels: Value) -> Value {
        json!({ "metadata": { "name": name, "namespace": "ns", "labels": labels } })
    }

    fn matches(labels: &str, fields: &str, object: &Value) -> bool {
        Selector::parse(Some(labels), Some(fields))
            .unwrap()
            .matches(object)
    }

    #[test]
    fn every_label_operator_selects_what_the_real_server_selects() {
        let a = object("a", json!({ "rack": "r1", "role": "rr" }));
        let b = object("b", json!({ "rack": "r2" }));
        let cases = [
            ("", true, true),
            ("rack=r1", true, false),
            ("rack==r1", true, false),
            ("rack!=r1", false, true),
            ("role!=rr", false, true), // absent counts as "not equal"
            ("rack in (r1, r3)", true, false),
            ("rack notin (r1,r3)", false, true),
            ("role", true, false),
            ("!role", false, true),
            ("rack in (r1,r2),!role", false, true),
        ];
        for (selector, want_a, want_b) in cases {
            assert_eq!(matches(selector, "", &a), want_a, "{selector} on a");
            assert_eq!(matches(selector, "", &b), want_b, "{selector} on b");
        }
    }

    #[test]
    fn field_selectors_take_name_and_namespace_only() {
        let a = object("a", json!({}));
        assert!(matches("", "metadata.name=a", &a));
        assert!(!matches("", "metadata.name!=a", &a));
        assert!(matches("", "metadata.namespace==ns,metadata.name=a", &a));
        assert!(!matches("", "metadata.namespace=other", &a));
        assert!(Selector::parse(None, Some("spec.unschedulable=true")).is_err());
        assert!(Selector::parse(Some("x in r1"), None).is_err());
        assert!(Selector::parse(Some("x>1"), None).is_err());
        assert!(Selector::parse(Some("=v"), None).is_err());
    }

    #[test]
    fn a_namespace_scope_is_a_field_requirement() {
        let a = object("a", json!({}));
        assert!(Selector::default().in_namespace(Some("ns")).matches(&a));
        assert!(!Selector::default().in_namespace(Some("other")).matches(&a));
        assert!(Selector::default().in_namespace(None).matches(&a));
    }
}
