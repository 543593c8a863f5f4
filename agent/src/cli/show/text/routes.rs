//! `podroute show routes [--all] [PREFIX]`: the Loc-RIB as `vtysh show bgp
//! ipv4 unicast` prints it (`*>` best, `*=` multipath, `S` stale), or one
//! prefix path by path.

use std::io::Write;

use super::table::{Align, Table};
use super::{duration, field, list, or_dash, path_column};
use crate::cli::output::outln;
use crate::control::protocol::{PathEntry, RouteEntry};

const INDENT: &str = "     ";

pub(super) fn print(
    out: &mut impl Write,
    routes: &[RouteEntry],
    prefix: Option<&str>,
) -> anyhow::Result<()> {
    match prefix {
        Some(p) if routes.is_empty() => outln!(out, "No route for {p} in the Loc-RIB"),
        None if routes.is_empty() => outln!(out, "No routes in the Loc-RIB"),
        Some(_) => {
            for (i, r) in routes.iter().enumerate() {
                if i > 0 {
                    outln!(out)?;
                }
                detail(out, r)?;
            }
            Ok(())
        }
        None => table(out, routes),
    }
}

/// `*>`, `*=`, `* `; `S` in place of `*` for a stale path, as vtysh.
fn status(p: &PathEntry) -> String {
    let valid = if p.stale { 'S' } else { '*' };
    let selected = if p.best {
        '>'
    } else if p.multipath {
        '='
    } else {
        ' '
    };
    format!("{valid}{selected}")
}

fn table(out: &mut impl Write, routes: &[RouteEntry]) -> anyhow::Result<()> {
    let paths = || routes.iter().flat_map(|r| &r.paths);
    let with_id = paths().any(|p| p.path_id.is_some());
    let with_fib = routes.iter().any(|r| r.fib.is_some());
    let with_reason = paths().any(|p| p.not_best.is_some());

    let mut t = Table::new();
    // Status and prefix share a column, as in vtysh: `*> 10.0.0.0/24`.
    t.column("   Prefix", Align::Left);
    t.column("Next hop", Align::Left);
    t.column("From", Align::Left);
    if with_id {
        t.column("ID", Align::Right);
    }
    t.column("MED", Align::Right);
    t.column("LocPrf", Align::Right);
    t.column("Age", Align::Right);
    if with_fib {
        t.column("FIB", Align::Left);
    }
    if with_reason {
        t.column("Not best", Align::Left);
    }
    t.column("Path", Align::Left);

    for r in routes {
        for (i, p) in r.paths.iter().enumerate() {
            let mut cells = vec![
                if i == 0 {
                    format!("{} {}", status(p), r.prefix)
                } else {
                    status(p)
                },
                p.next_hop.clone(),
                p.from.clone(),
            ];
            if with_id {
                cells.push(or_dash(p.path_id));
            }
            cells.extend([or_dash(p.med), or_dash(p.local_pref), duration(p.age_secs)]);
            if with_fib {
                cells.push(match (&r.fib, i) {
                    (Some(f), 0) => f.clone(),
                    _ => String::new(),
                });
            }
            if with_reason {
                cells.push(p.not_best.clone().unwrap_or_default());
            }
            cells.push(path_column(&p.as_path, &p.origin));
            t.row(cells);
        }
        if let Some(why) = &r.fib_reason {
            t.note(format!("   note: {why}"));
        }
    }

    outln!(
        out,
        "Status codes: * valid, > best, = multipath (ECMP), S stale (graceful restart)"
    )?;
    outln!(out, "Origin codes: i IGP, e EGP, ? incomplete")?;
    outln!(out)?;
    t.print(out, "")?;
    outln!(out)?;
    outln!(
        out,
        "Displayed {} routes and {} total paths",
        routes.len(),
        paths().count()
    )
}

fn detail(out: &mut impl Write, r: &RouteEntry) -> anyhow::Result<()> {
    let n = r.paths.len();
    let fib = r
        .fib
        .as_deref()
        .map(|f| match &r.fib_reason {
            Some(why) => format!(", FIB: {f} ({why})"),
            None => format!(", FIB: {f}"),
        })
        .unwrap_or_default();
    outln!(
        out,
        "{}: {n} path{}{fib}",
        r.prefix,
        if n == 1 { "" } else { "s" }
    )?;
    for p in &r.paths {
        let mut tags = Vec::new();
        if p.best {
            tags.push("best".to_string());
        } else if p.multipath {
            tags.push("multipath (ECMP)".to_string());
        }
        if let Some(why) = &p.not_best {
            tags.push(format!("not best: {why}"));
        }
        if p.stale {
            tags.push("stale (graceful restart)".to_string());
        }
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(", {}", tags.join(", "))
        };
        outln!(out, "  {} from {}{tags}", status(p), p.from)?;
        field(out, INDENT, "Next hop", &p.next_hop)?;
        field(
            out,
            INDENT,
            "AS path",
            if p.as_path.is_empty() {
                "(empty)"
            } else {
                &p.as_path
            },
        )?;
        field(out, INDENT, "Origin", &p.origin)?;
        if let Some(m) = p.med {
            field(out, INDENT, "MED", m)?;
        }
        if let Some(l) = p.local_pref {
            field(out, INDENT, "Local preference", l)?;
        }
        if !p.communities.is_empty() {
            list(out, INDENT, "Communities", &p.communities)?;
        }
        if !p.large_communities.is_empty() {
            list(out, INDENT, "Large communities", &p.large_communities)?;
        }
        if let Some(id) = p.path_id {
            field(out, INDENT, "Path ID", id)?;
        }
        field(out, INDENT, "Age", duration(p.age_secs))?;
    }
    Ok(())
}
