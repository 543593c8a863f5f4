//! The fuzz properties (`common/fuzz_checks.rs`, shared with the cargo-fuzz
//! targets) run on every captured message and on deterministic mutations of
//! each, so CI exercises them on every change without a fuzzer.
//!
//! With `PODROUTE_FUZZ_SEEDS=DIR` set (relative to the workspace root), the
//! inputs derived from the captures are also written to DIR as a seed
//! corpus for `cargo fuzz run`.

mod common;

use std::path::Path;

use bgp::types::Family;
use bgp::wire::{HEADER_LEN, Messages, StreamItem};
use common::fuzz_checks::{context_from, decode_encode_decode, decode_never_panics};
use serde_json::Value;

/// Fuzz inputs ([context bits, type, body]) for every captured message.
fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut seeds = Vec::new();
    for entry in manifest {
        let c = &entry["context"];
        let has = |key: &str, f: Family| {
            c[key]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_str() == Some(&f.to_string()))
        };
        let bits = u8::from(c["four_octet_as"].as_bool().unwrap())
            | u8::from(c["extended_message"].as_bool().unwrap()) << 1
            | u8::from(has("add_path_receive", Family::IPV4_UNICAST)) << 2
            | u8::from(has("add_path_receive", Family::IPV6_UNICAST)) << 3
            | u8::from(has("extended_next_hop", Family::IPV4_UNICAST)) << 4;
        let bytes = std::fs::read(dir.join(entry["file"].as_str().unwrap())).unwrap();
        for item in Messages::new(&bytes, context_from(bits)) {
            let StreamItem::Message { raw, .. } = item else {
                panic!("captures are whole")
            };
            let mut seed = vec![bits, raw[18]];
            seed.extend_from_slice(&raw[HEADER_LEN..]);
            seeds.push(seed);
        }
    }
    seeds
}

/// xorshift64*: deterministic, so a failure here reproduces exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A small mutation of `seed`: flips, overwrites, cuts, splices, length
/// fields nudged. The context octet mutates too.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = m.len();
        match rng.below(6) {
            0 => {
                let i = rng.below(len);
                m[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                m[i] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x20, 0x21][rng.below(7)];
            }
            2 if len > 3 => m.truncate(2 + rng.below(len - 2)),
            3 => {
                let i = 2 + rng.below(len.saturating_sub(2));
                let extra: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                m.splice(i.min(m.len())..i.min(m.len()), extra);
            }
            4 if len > 4 => {
                // Nudge a two-octet big-endian field, as length fields are.
                let i = 2 + rng.below(len - 3);
                let v = u16::from_be_bytes([m[i], m[i + 1]])
                    .wrapping_add([1, 0xffff, 4, 0xfffc][rng.below(4)]);
                m[i..i + 2].copy_from_slice(&v.to_be_bytes());
            }
            _ => m[0] = rng.next() as u8,
        }
    }
    m
}

#[test]
fn fuzz_properties_hold_on_captures_and_their_mutations() {
    let seeds = seeds();
    assert!(seeds.len() > 400);
    if let Some(dir) = std::env::var_os("PODROUTE_FUZZ_SEEDS") {
        // Cargo runs tests in the package directory; a relative path means
        // relative to the workspace root, where the README's command runs.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("capture-{i:04}")), s).unwrap();
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut runs = 0;
    for seed in &seeds {
        decode_never_panics(seed);
        decode_encode_decode(seed);
        for _ in 0..100 {
            let m = mutate(seed, &mut rng);
            decode_never_panics(&m);
            decode_encode_decode(&m);
            runs += 1;
        }
    }
    assert!(runs > 40_000);
}
