//! Reading the bytes to decode: hex text (arguments or standard input) or a
//! raw binary stream.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

pub(super) fn read(hex_args: &[String], raw: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = raw {
        let bytes = if path == Path::new("-") {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .context("reading standard input")?;
            v
        } else {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
        };
        check_not_a_capture_file(&bytes)?;
        return Ok(bytes);
    }
    let text = if hex_args.is_empty() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading hex from standard input (use --raw - for binary)")?;
        s
    } else {
        hex_args.join(" ")
    };
    parse_hex(&text)
}

/// Hex digits with whitespace, `0x` prefixes, `:` and `,` ignored.
pub(super) fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut digits = Vec::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        match c {
            '0' if matches!(chars.peek(), Some((_, 'x' | 'X'))) => {
                chars.next();
            }
            c if c.is_ascii_hexdigit() => digits.push(c as u8),
            c if c.is_whitespace() || c == ':' || c == ',' => {}
            c => bail!(
                "{c:?} at character {} is not hex; give messages as hex digits \
                 (whitespace, 0x, ':' and ',' are ignored) or a binary file with --raw",
                pos + 1
            ),
        }
    }
    if digits.len() % 2 != 0 {
        bail!(
            "odd number of hex digits ({}): a digit is missing somewhere",
            digits.len()
        );
    }
    let s = std::str::from_utf8(&digits).context("hex digits are ASCII")?;
    hex::decode(s).context("decoding hex")
}

/// A pcap or pcapng file is not a TCP payload stream; say how to get one.
fn check_not_a_capture_file(bytes: &[u8]) -> anyhow::Result<()> {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    if bytes.len() >= 4 && MAGICS.iter().any(|m| bytes[..4] == m[..]) {
        bail!(
            "this is a pcap/pcapng capture, not a TCP payload stream; extract one direction \
             first, e.g. `tshark -r FILE -q -z follow,tcp,raw,0` (then hex) or Wireshark's \
             Follow TCP Stream > Show data as Raw > Save as"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_forgiving_about_separators() {
        assert_eq!(
            parse_hex("0xff 0xFF\n00:13,04").unwrap(),
            vec![0xff, 0xff, 0x00, 0x13, 0x04]
        );
        assert_eq!(parse_hex("  ").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn hex_errors_say_where() {
        let e = parse_hex("ff zz").unwrap_err().to_string();
        assert!(e.contains("'z' at character 4"), "{e}");
        assert!(
            parse_hex("fff")
                .unwrap_err()
                .to_string()
                .contains("odd number")
        );
    }

    #[test]
    fn pcap_files_are_recognised() {
        let e = check_not_a_capture_file(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]).unwrap_err();
        assert!(e.to_string().contains("tshark"));
    }
}
