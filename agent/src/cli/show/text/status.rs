//! `podroute show status`.

use std::io::Write;

use super::{duration, field, list};
use crate::cli::output::outln;
use crate::control::protocol::Status;

const INDENT: &str = "  ";

pub(super) fn print(out: &mut impl Write, s: &Status) -> anyhow::Result<()> {
    let node = s
        .node
        .as_deref()
        .map(|n| format!(" on node {n}"))
        .unwrap_or_default();
    outln!(
        out,
        "podroute {}{node}, up {}",
        s.version,
        duration(s.uptime_secs)
    )?;
    field(out, INDENT, "Router ID", &s.router_id)?;
    field(out, INDENT, "Local AS", s.asn)?;
    field(
        out,
        INDENT,
        "Neighbors",
        format!(
            "{} of {} established",
            s.peers_established, s.peers_configured
        ),
    )?;
    field(
        out,
        INDENT,
        "Loc-RIB",
        format!(
            "{} prefixes, {} paths, {} attribute sets",
            s.prefixes, s.paths, s.attribute_sets
        ),
    )?;
    if s.deferring {
        field(
            out,
            INDENT,
            "Best-path selection",
            "deferred: waiting for End-of-RIB from peers after a restart (RFC 4724)",
        )?;
    }
    if s.originated.is_empty() {
        field(out, INDENT, "Originated", "none")
    } else {
        list(out, INDENT, "Originated", &s.originated)
    }
}
