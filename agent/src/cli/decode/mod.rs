//! `podroute bgp decode`: BGP messages from a capture, made readable.

mod hints;
mod input;
mod json;
mod text;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bgp::types::{Family, FamilySet};
use bgp::wire::{Capability, Message, Messages, SessionContext, StreamItem};
use clap::Args;

use super::output::{Format, outln};

#[derive(Debug, Args)]
#[command(after_help = "\
EXAMPLES:
    podroute bgp decode ffffffffffffffffffffffffffffffff 0013 04
    tshark -r cap.pcap -q -z follow,tcp,raw,0 | ... | podroute bgp decode
    podroute bgp decode --raw bgp/tests/captures/a-ebgp/frr-to-bird.bin -o json

The session context decides how some octets read: 4-octet AS numbers and
ADD-PATH path identifiers are not visible in the bytes themselves. By default
the 4-octet AS setting follows the OPEN in the input (if any) and is on
otherwise, as every current implementation negotiates it.")]
pub(crate) struct DecodeArgs {
    /// Messages as hex; whitespace, `0x`, `:` and `,` are ignored. Read from
    /// standard input when no HEX and no --raw is given.
    #[arg(value_name = "HEX", conflicts_with = "raw")]
    hex: Vec<String>,

    /// Read a raw binary stream (e.g. one direction of a TCP payload dump);
    /// `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    raw: Option<PathBuf>,

    /// Decode with 4-octet AS numbers (RFC 6793).
    #[arg(long, conflicts_with = "no_as4")]
    as4: bool,

    /// Decode with 2-octet AS numbers.
    #[arg(long)]
    no_as4: bool,

    /// Families whose NLRI carry ADD-PATH path identifiers (RFC 7911),
    /// e.g. `v4,v6` or `ipv4-unicast`.
    #[arg(long, value_name = "FAMILIES", value_delimiter = ',', value_parser = parse_family)]
    add_path: Vec<Family>,

    /// IPv4 families that may carry an IPv6 next hop (RFC 8950).
    #[arg(long, value_name = "FAMILIES", value_delimiter = ',', value_parser = parse_family)]
    extended_next_hop: Vec<Family>,

    /// Allow messages up to 65535 octets (RFC 8654).
    #[arg(long)]
    extended_message: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

fn parse_family(s: &str) -> Result<Family, String> {
    let f: Family = s.parse()?;
    if f.is_ip_prefix() {
        Ok(f)
    } else {
        Err(format!("{f} is not an IP unicast or multicast family"))
    }
}

/// Where the 4-octet AS setting came from, so the output can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum As4Source {
    Flag,
    Open,
    Default,
}

/// Everything the printers show.
#[derive(Debug)]
struct Report<'a> {
    ctx: SessionContext,
    as4: As4Source,
    entries: Vec<Entry<'a>>,
    hints: Vec<String>,
}

/// One decoded entry, shared by both printers.
#[derive(Debug)]
struct Entry<'a> {
    index: usize,
    offset: usize,
    item: StreamItem<'a>,
}

pub(crate) fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let bytes = input::read(&args.hex, args.raw.as_deref())?;
    let (ctx, as4_source) = context(&args, &bytes);

    let mut entries = Vec::new();
    let mut offset = 0;
    for (i, item) in Messages::new(&bytes, ctx).enumerate() {
        let len = match &item {
            StreamItem::Message { raw, .. } => raw.len(),
            StreamItem::Truncated { raw, .. } | StreamItem::BadHeader { raw, .. } => raw.len(),
        };
        entries.push(Entry {
            index: i + 1,
            offset,
            item,
        });
        offset += len;
    }
    let failures = entries
        .iter()
        .filter(|e| !matches!(e.item, StreamItem::Message { result: Ok(_), .. }))
        .count();

    let hints = hints::for_entries(&ctx, as4_source, &entries);
    let report = Report {
        ctx,
        as4: as4_source,
        entries,
        hints,
    };

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.output {
        Format::Text => text::print(&mut out, &report)?,
        Format::Json => json::print(&mut out, &report)?,
    }
    out.flush().context("writing output")?;

    let total = report.entries.len();
    if total == 0 {
        eprintln!("podroute: no BGP messages in the input");
        return Ok(ExitCode::from(1));
    }
    if failures > 0 {
        eprintln!("podroute: {failures} of {total} entries could not be decoded");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The session context from the flags, with 4-octet AS following the first
/// OPEN in the input unless a flag says otherwise.
fn context(args: &DecodeArgs, bytes: &[u8]) -> (SessionContext, As4Source) {
    let (four_octet_as, source) = if args.as4 {
        (true, As4Source::Flag)
    } else if args.no_as4 {
        (false, As4Source::Flag)
    } else {
        match first_open_as4(bytes) {
            Some(v) => (v, As4Source::Open),
            None => (true, As4Source::Default),
        }
    };
    let add_path: FamilySet = args.add_path.iter().copied().collect();
    let ext_nh: FamilySet = args.extended_next_hop.iter().copied().collect();
    (
        SessionContext::symmetric(four_octet_as, args.extended_message, add_path, ext_nh),
        source,
    )
}

fn first_open_as4(bytes: &[u8]) -> Option<bool> {
    // OPENs decode the same under any context.
    let probe = SessionContext {
        extended_message: true,
        ..SessionContext::default()
    };
    Messages::new(bytes, probe).find_map(|item| match item {
        StreamItem::Message {
            result: Ok(Message::Open(o)),
            ..
        } => Some(
            o.capabilities()
                .any(|c| matches!(c, Capability::FourOctetAs(_))),
        ),
        _ => None,
    })
}
