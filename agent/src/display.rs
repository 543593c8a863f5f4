//! Small pieces of text shared by the CLI and the daemon's logs.

use std::fmt::Display;

/// `a, b, c`, or `none` for an empty list.
pub(crate) fn list_or_none<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
