//! The human printers, one file per view, in the manner of `birdc` and
//! `vtysh`: tables with a header line and widths from the content, blocks
//! of aligned labels for one object, ages as `00:05:12` or `1d02h03m`.

mod fib;
pub(crate) mod ipam;
mod neighbor;
mod neighbors;
mod rib;
mod routes;
mod status;
mod table;

use std::fmt::Display;
use std::io::Write;

use anyhow::anyhow;

use crate::cli::output::outln;
use crate::control::protocol::{Query, ResponseBody};

/// Lines are kept within this many columns where a list can wrap.
const WIDTH: usize = 100;
/// Labels in a block.
const LABEL: usize = 21;

pub(super) fn print(
    out: &mut impl Write,
    query: &Query,
    body: &ResponseBody,
) -> anyhow::Result<()> {
    match (query, body) {
        (_, ResponseBody::Status(s)) => status::print(out, s),
        (_, ResponseBody::Fib(f)) => fib::print(out, f),
        (_, ResponseBody::Ipam(v)) => ipam::print(out, v),
        (_, ResponseBody::Neighbors { neighbors }) => neighbors::print(out, neighbors),
        (_, ResponseBody::Neighbor(n)) => neighbor::print(out, n),
        (Query::Routes { prefix, .. }, ResponseBody::Routes { routes }) => {
            routes::print(out, routes, prefix.as_deref())
        }
        (Query::Rib { direction, address }, ResponseBody::Rib { entries }) => {
            rib::print(out, *direction, *address, entries)
        }
        _ => Err(anyhow!("no printer for this answer")),
    }
}

/// vtysh's `peer_uptime`: `00:05:12` under a day, `1d02h03m` under a week,
/// `02w3d04h` under a year, `01y02w3d` beyond.
fn duration(secs: u64) -> String {
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;
    const YEAR: u64 = 365 * DAY;
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if secs < DAY {
        format!("{h:02}:{m:02}:{s:02}")
    } else if secs < WEEK {
        format!("{}d{h:02}h{m:02}m", secs / DAY)
    } else if secs < YEAR {
        format!("{:02}w{}d{h:02}h", secs / WEEK, secs % WEEK / DAY)
    } else {
        let rest = secs % YEAR;
        format!(
            "{:02}y{:02}w{}d",
            secs / YEAR,
            rest / WEEK,
            rest % WEEK / DAY
        )
    }
}

/// The one-letter ORIGIN codes of `show bgp`.
fn origin_code(origin: &str) -> &str {
    match origin.to_ascii_lowercase().as_str() {
        "igp" => "i",
        "egp" => "e",
        "incomplete" => "?",
        _ => origin,
    }
}

/// AS_PATH then the origin code, as vtysh's `Path` column.
fn path_column(as_path: &str, origin: &str) -> String {
    let code = origin_code(origin);
    if as_path.is_empty() {
        code.to_string()
    } else {
        format!("{as_path} {code}")
    }
}

fn or_dash(v: Option<impl Display>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `label     value`, the label column [`LABEL`] wide.
fn field(
    out: &mut impl Write,
    indent: &str,
    label: &str,
    value: impl Display,
) -> anyhow::Result<()> {
    outln!(out, "{indent}{label:LABEL$}{value}")
}

/// A list after a label, wrapped under itself within [`WIDTH`].
fn list(out: &mut impl Write, indent: &str, label: &str, items: &[String]) -> anyhow::Result<()> {
    let room = WIDTH.saturating_sub(indent.len() + LABEL);
    for (i, line) in table::wrap(&items.join(" "), room).iter().enumerate() {
        let l = if i == 0 { label } else { "" };
        outln!(out, "{indent}{l:LABEL$}{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_vtysh() {
        assert_eq!(duration(0), "00:00:00");
        assert_eq!(duration(312), "00:05:12");
        assert_eq!(duration(86_399), "23:59:59");
        assert_eq!(duration(86_400 + 2 * 3600 + 3 * 60 + 4), "1d02h03m");
        assert_eq!(duration(2 * 604_800 + 3 * 86_400 + 4 * 3600), "02w3d04h");
        assert_eq!(duration(365 * 86_400 + 604_800 + 86_400), "01y01w1d");
    }

    #[test]
    fn paths_end_with_the_origin_code() {
        assert_eq!(path_column("", "IGP"), "i");
        assert_eq!(
            path_column("65001 {65002,65003}", "incomplete"),
            "65001 {65002,65003} ?"
        );
        assert_eq!(path_column("65001", "EGP"), "65001 e");
    }
}
