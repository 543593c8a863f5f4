//! `podroute bgp decode`, run as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff 0013 04";
/// UPDATE: ORIGIN IGP, AS_PATH 65001 (4-octet), NEXT_HOP 192.0.2.1,
/// NLRI 10.244.1.0/24.
const UPDATE: &str = "ffffffffffffffffffffffffffffffff 002f 02 0000 0014 40010100 400206020100 00fde9 400304c0000201 180af401";
/// The same with an ORIGIN of length 2.
const BAD_UPDATE: &str = "ffffffffffffffffffffffffffffffff 0030 02 0000 0015 4001020000 400206020100 00fde9 400304c0000201 180af401";

fn podroute(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_podroute"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("podroute runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn decodes_hex_arguments() {
    let o = podroute(&["bgp", "decode", UPDATE], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = text(&o);
    assert!(out.contains("#1 UPDATE, 47 octets at offset 0"), "{out}");
    assert!(out.contains("AS_PATH                 65001"), "{out}");
    assert!(
        out.contains("NLRI (1)                10.244.1.0/24"),
        "{out}"
    );
}

#[test]
fn decodes_hex_from_stdin_with_0x_and_newlines() {
    let input = format!("0x{}\n{}\n", KEEPALIVE.replace(' ', ""), UPDATE);
    let o = podroute(&["bgp", "decode"], Some(input.as_bytes()));
    assert!(o.status.success());
    let out = text(&o);
    assert!(
        out.contains("#1 KEEPALIVE") && out.contains("#2 UPDATE"),
        "{out}"
    );
}

#[test]
fn decodes_a_raw_stream_file() {
    let mut bytes = hex::decode(KEEPALIVE.replace(' ', "")).unwrap();
    bytes.extend(hex::decode(UPDATE.replace(' ', "")).unwrap());
    let dir = std::env::temp_dir().join(format!("podroute-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stream.bin");
    std::fs::write(&file, &bytes).unwrap();
    let o = podroute(&["bgp", "decode", "--raw", file.to_str().unwrap()], None);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(o.status.success());
    assert!(text(&o).contains("#2 UPDATE, 47 octets at offset 19"));
    let o = podroute(&["bgp", "decode", "--raw", "-"], Some(&bytes));
    assert!(o.status.success());
}

#[test]
fn malformed_messages_show_the_notification_and_fail() {
    let o = podroute(&["bgp", "decode", KEEPALIVE, BAD_UPDATE], None);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("#2 UPDATE, 48 octets at offset 19: MALFORMED"),
        "{out}"
    );
    assert!(
        out.contains("treat-as-withdraw (RFC 7606): 1 announced prefix becomes a withdrawal"),
        "{out}"
    );
    assert!(
        out.contains("UPDATE Message Error / Attribute Length Error (3/5), data 4001020000"),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 of 2 entries could not be decoded"));
}

#[test]
fn json_output_is_one_document() {
    let o = podroute(&["bgp", "decode", "-o", "json", UPDATE, BAD_UPDATE], None);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let msgs = doc["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["message"]["type"], "UPDATE");
    assert_eq!(msgs[0]["message"]["nlri"][0]["prefix"], "10.244.1.0/24");
    assert_eq!(msgs[1]["error"]["action"]["action"], "treat-as-withdraw");
    assert_eq!(msgs[1]["error"]["notification"]["error"]["subcode"], 5);
    assert_eq!(doc["context"]["four_octet_as_source"], "default");
}

#[test]
fn session_context_flags_change_the_reading() {
    // Four path-id octets before the prefix. Without --add-path the same
    // octets still parse, as other prefixes: the bytes cannot tell.
    let with_id = "ffffffffffffffffffffffffffffffff 0033 02 0000 0014 40010100 400206020100 00fde9 400304c0000201 00000007 180af401";
    let plain = text(&podroute(&["bgp", "decode", with_id], None));
    assert!(
        plain.contains("0.0.0.0/0 0.0.0.0/0 0.0.0.0/0 24.0.0.0/7"),
        "{plain}"
    );
    let o = podroute(&["bgp", "decode", "--add-path", "v4", with_id], None);
    assert!(o.status.success());
    assert!(text(&o).contains("10.244.1.0/24 (path 7)"));
    // 2-octet reading of the same AS_PATH octets.
    let o = podroute(&["bgp", "decode", "--no-as4", UPDATE], None);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn explains_bad_input() {
    let o = podroute(&["bgp", "decode", "ff zz"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("'z' at character 4 is not hex"));
    let o = podroute(
        &["bgp", "decode", "--raw", "-"],
        Some(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pcap"));
    let o = podroute(&["bgp", "decode", "--raw", "/nonexistent/x.bin"], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("reading /nonexistent/x.bin"));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let many: Vec<u8> = hex::decode(KEEPALIVE.replace(' ', ""))
        .unwrap()
        .repeat(20_000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_podroute"))
        .args(["bgp", "decode", "--raw", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    child.stdin.take().unwrap().write_all(&many).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn hints_name_the_missing_session_flags() {
    // An OPEN offering ADD-PATH send for IPv4 (capability 69, mode 2).
    let open =
        "ffffffffffffffffffffffffffffffff 0025 01 04 fde9 00b4 c0000201 08 02 06 4504 0001 01 02";
    let o = podroute(&["bgp", "decode", open], None);
    assert!(o.status.success());
    assert!(
        text(&o)
            .contains("hint: the OPEN offers to send ADD-PATH path identifiers for ipv4-unicast")
    );
    // An UPDATE longer than 4096 octets without --extended-message.
    let big = format!(
        "ffffffffffffffffffffffffffffffff 1388 02 {}",
        "00".repeat(5000 - 19)
    );
    let o = podroute(&["bgp", "decode", &big], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("decode with --extended-message"),
        "{}",
        text(&o)
    );
}
