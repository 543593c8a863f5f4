use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The name of the node that owns a block.
///
/// Any non-empty text up to 253 bytes (the longest DNS name) without
/// whitespace or control characters: it must print unambiguously in errors
/// and tables, and nothing here depends on Kubernetes naming rules.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

/// Why a node name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeNameError {
    #[error("node name is empty")]
    Empty,
    #[error("node name is {len} bytes long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("node name {name:?} contains whitespace or a control character")]
    Unprintable { name: String },
}

impl NodeName {
    pub const MAX_LEN: usize = 253;

    pub fn new(name: impl Into<String>) -> Result<Self, NodeNameError> {
        let name = name.into();
        if name.is_empty() {
            return Err(NodeNameError::Empty);
        }
        if name.len() > Self::MAX_LEN {
            return Err(NodeNameError::TooLong {
                len: name.len(),
                max: Self::MAX_LEN,
            });
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NodeNameError::Unprintable { name });
        }
        Ok(NodeName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeName {
    type Error = NodeNameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        NodeName::new(name)
    }
}

impl From<NodeName> for String {
    fn from(name: NodeName) -> Self {
        name.0
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        NodeName::new(name)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(
            NodeName::new("worker-1.example").unwrap().as_str(),
            "worker-1.example"
        );
        assert_eq!("a".parse::<NodeName>().unwrap().to_string(), "a");
        assert!(NodeName::new("x".repeat(253)).is_ok());
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        assert_eq!(
            NodeName::new("").unwrap_err().to_string(),
            "node name is empty"
        );
        assert_eq!(
            NodeName::new("x".repeat(254)).unwrap_err().to_string(),
            "node name is 254 bytes long; at most 253 are allowed"
        );
        assert_eq!(
            NodeName::new("a b").unwrap_err().to_string(),
            "node name \"a b\" contains whitespace or a control character"
        );
        assert!(NodeName::new("a\u{7}").is_err());
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let name: NodeName = serde_json::from_str("\"n1\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"n1\"");
        assert!(serde_json::from_str::<NodeName>("\"\"").is_err());
    }
}
