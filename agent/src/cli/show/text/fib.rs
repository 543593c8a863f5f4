//! `podroute show fib`: what podroute wants in the kernel against what the
//! kernel holds with our protocol number, prefix by prefix, with the reason
//! for anything not installed.

use std::io::Write;

use super::table::{Align, Table};
use crate::cli::output::outln;
use crate::control::protocol::FibView;

pub(super) fn print(out: &mut impl Write, f: &FibView) -> anyhow::Result<()> {
    let table = match f.table {
        254 => "main".to_string(),
        t => t.to_string(),
    };
    outln!(
        out,
        "Kernel routes with protocol {} in table {table}{}",
        f.protocol,
        if f.synced {
            ""
        } else {
            " (graceful restart: the previous run's routes are kept until the routing table is complete)"
        }
    )?;
    if f.routes.is_empty() {
        return outln!(out, "No routes");
    }
    outln!(out)?;
    let mut t = Table::new();
    t.column("Prefix", Align::Left);
    t.column("State", Align::Left);
    t.column("Desired", Align::Left);
    t.column("Kernel", Align::Left);
    for r in &f.routes {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
        t.row(vec![
            r.prefix.clone(),
            dash(&r.state),
            dash(&r.desired),
            dash(&r.kernel),
        ]);
        if let Some(why) = &r.reason {
            t.note(format!("note: {why}"));
        }
    }
    t.print(out, "")?;
    let count = |s: &str| {
        f.routes
            .iter()
            .filter(|r| r.state.as_deref() == Some(s))
            .count()
    };
    outln!(out)?;
    outln!(
        out,
        "{} prefixes: {} installed, {} pending, {} not installed, {} kept",
        f.routes.len(),
        count("installed"),
        count("pending"),
        count("not-installed"),
        count("kept")
    )
}
