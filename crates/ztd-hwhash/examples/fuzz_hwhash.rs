//! Stable-toolchain fuzzing of the 4K hash decoder: generates valid hashes from random device
//! descriptions, mutates their bytes (re-sealing the SHA-256 trailer half of the time, so the
//! record walk and the field decoders see the damage instead of the checksum refusing it) and
//! their base64 text, for N seconds with a deterministic PRNG.
//!
//! Asserts: `decode`, `from_base64` and `from_compact_base64` never panic; an accepted hash
//! re-encodes to the same bytes; `fields`, `description`, `identity`, `checksum` never panic;
//! the compact form round-trips; `from_base64` agrees with `decode` of the same bytes; a
//! description read from an accepted hash generates a hash that decodes.
//! Usage: `fuzz_hwhash SECONDS [SEED]`.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::panic;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use ztd_hwhash::{DeviceDescription, HardwareHash, OsVersion, CHECKSUM_RECORD_LEN, STANDARD_LEN};

/// The harness's randomness: a seeded generator from `rand`, so a failing run replays with its seed.
struct Rng(StdRng);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }
}

const PIECES: &[&str] = &[
    "",
    "SN-0001",
    "Contoso",
    "Surface Laptop 5",
    " padded ",
    "é",
    "\u{1F600}",
    "\u{FFFD}",
    "a\u{7}b",
    "|",
    "0",
    "HP",
    "LENOVO",
    "Default string",
    "To Be Filled By O.E.M.",
];

fn text(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => String::new(),
        1 => PIECES[rng.below(PIECES.len())].to_string(),
        2 => (0..rng.below(12))
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect(),
        _ => (0..rng.below(40))
            .map(|_| char::from_u32(1 + rng.next() as u32 % 0x2FFF).unwrap_or('?'))
            .collect(),
    }
}

fn description(rng: &mut Rng) -> DeviceDescription {
    let mut d = DeviceDescription {
        serial_number: text(rng),
        manufacturer: text(rng),
        model: text(rng),
        disk_serial: text(rng).replace('|', ""),
        disk_model: text(rng),
        tpm_version: text(rng),
        sku: text(rng),
        family: text(rng),
        bios_vendor: text(rng),
        system_version: text(rng),
        product_key_id: rng
            .chance(2)
            .then(|| format!("{:013}", rng.next() % 10_000_000_000_000)),
        collected_at_unix: 946_684_800 + (rng.next() % u32::MAX as u64) as i64,
        os_version: OsVersion {
            major: rng.next() as u16,
            minor: rng.next() as u16,
            build: rng.next() as u16,
            revision: rng.next() as u16,
        },
        ..Default::default()
    };
    if rng.chance(2) {
        d.smbios_uuid = hex::encode(rng.bytes(16));
        let h = d.smbios_uuid.clone();
        d.smbios_uuid = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
    }
    for _ in 0..rng.below(4) {
        d.mac_addresses.push(
            rng.bytes(6)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        );
    }
    if rng.chance(2) {
        let n = [256, 1 + rng.below(400)][rng.below(2)];
        d.tpm_ek_public = rng.bytes(n);
    }
    if rng.chance(3) {
        d.fill_defaults(d.serial_number.clone().as_bytes());
    }
    // Rarely, strings long enough to push the hash past 3,000 bytes.
    if rng.chance(20) {
        d.model = "M".repeat(rng.below(3000));
    }
    d
}

/// Rewrites the `CS` trailer at the offset `totalLength` names, if it fits.
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 4 {
        return;
    }
    let total = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    if total + CHECKSUM_RECORD_LEN > bytes.len() {
        return;
    }
    let digest = Sha256::digest(&bytes[..total]);
    bytes[total..total + 2].copy_from_slice(b"CS");
    bytes[total + 2..total + 4].copy_from_slice(&36u16.to_le_bytes());
    bytes[total + 4..total + 36].copy_from_slice(&digest);
}

fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let signed = if b.len() >= 4 {
            (u16::from_le_bytes([b[2], b[3]]) as usize).min(b.len())
        } else {
            b.len()
        };
        let at = rng.below(signed.max(1));
        match rng.below(10) {
            0 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = [0, 0xFF, 0x7F, 0x80, b'|', rng.next() as u8][rng.below(6)];
            }
            // A record header's length or type (records start at 4; pick one by walking).
            2 | 3 => {
                let mut offset = 4;
                let mut headers = Vec::new();
                while offset + 4 <= signed {
                    headers.push(offset);
                    let len = u16::from_le_bytes([b[offset + 2], b[offset + 3]]) as usize;
                    if len < 4 {
                        break;
                    }
                    offset += len;
                }
                if let Some(&h) = headers.get(rng.below(headers.len())) {
                    let field = h + 2 * rng.below(2);
                    let v = [0u16, 1, 3, 4, 5, 0xFFFF, rng.next() as u16][rng.below(7)];
                    b[field..field + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
            // totalLength
            4 if b.len() >= 4 => {
                let v = [0u16, 3, 4, 2963, 2964, 2965, 0xFFFF, rng.next() as u16][rng.below(8)];
                b[2..4].copy_from_slice(&v.to_le_bytes());
            }
            5 => b.truncate(at),
            6 => {
                let extra = rng.some_bytes(64);
                let i = at.min(b.len());
                b.splice(i..i, extra);
            }
            7 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                let end = (i + 1 + rng.below(64)).min(b.len());
                b.drain(i..end);
            }
            8 => {
                let n = b.len() + rng.below(40);
                b.resize(n, 0);
            }
            _ if !b.is_empty() => {
                // Non-zero padding.
                let i = b.len() - 1 - rng.below(b.len().min(64));
                b[i] = 1;
            }
            _ => {}
        }
    }
    if rng.chance(2) {
        reseal(b);
    }
}

fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut c: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(c.len() + 1);
        match rng.below(8) {
            0 => c.insert(at, [' ', '\n', '\r', '\t', '\u{feff}'][rng.below(5)]),
            1 => c.insert(at, ['=', '-', '_', '.', '!', 'é', '\0'][rng.below(7)]),
            2 => c.truncate(at),
            3 if !c.is_empty() => {
                let i = at.min(c.len() - 1);
                c[i] = (b'A' + rng.below(26) as u8) as char;
            }
            4 => c.extend(['='; 2]),
            5 if !c.is_empty() => {
                let end = (at + rng.below(8)).min(c.len());
                c.drain(at.min(end)..end);
            }
            6 => {
                // Dropping trailing padding (accepted) or the last group (not).
                while c.last() == Some(&'=') {
                    c.pop();
                }
            }
            _ => {}
        }
    }
    c.into_iter().collect()
}

fn check_bytes(bytes: &[u8]) -> bool {
    match HardwareHash::decode(bytes) {
        Err(e) => {
            let _ = e.to_string();
            false
        }
        Ok(h) => {
            assert_eq!(h.encode(), bytes, "re-encoding changed the bytes");
            let _ = (h.fields(), h.identity(), h.checksum());
            let description = h.description();
            let compact = h.to_compact_base64();
            assert_eq!(
                HardwareHash::from_compact_base64(&compact).expect("compact form decodes"),
                h
            );
            let text = h.to_base64();
            assert_eq!(h.compact_prefix(&text).map(str::len), Some(compact.len()));
            let again = HardwareHash::generate(&description);
            assert!(
                HardwareHash::decode(&again.encode()).is_ok(),
                "a description read from a hash does not generate a valid hash"
            );
            true
        }
    }
}

fn check_text(text: &str) {
    let result = HardwareHash::from_base64(text);
    let _ = HardwareHash::from_compact_base64(text);
    let cleaned: String = text
        .trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{feff}')
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '\u{feff}')
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    if let Ok(bytes) = engine.decode(cleaned.as_bytes()) {
        assert_eq!(
            result.is_ok(),
            HardwareHash::decode(&bytes).is_ok(),
            "from_base64 and decode disagree"
        );
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut accepted, mut texts) = (0u64, 0u64, 0u64);
    // The default panic hook stays: a failure prints its location, then the input below.
    let fail = |what: &str, input: &dyn std::fmt::Debug, p: Box<dyn std::any::Any + Send>| -> ! {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        eprintln!("FAILED ({what}, seed {seed}) on input:\n{input:?}\n{msg}");
        std::process::exit(1);
    };
    while Instant::now() < deadline {
        let d = description(&mut rng);
        let valid = match panic::catch_unwind(|| {
            let valid = HardwareHash::generate(&d).encode();
            assert!(valid.len() >= STANDARD_LEN);
            assert!(check_bytes(&valid), "a generated hash does not decode");
            valid
        }) {
            Ok(valid) => valid,
            Err(p) => fail("generate", &d, p),
        };
        for _ in 0..64 {
            let mut bytes = valid.clone();
            mutate_bytes(&mut rng, &mut bytes);
            runs += 1;
            match panic::catch_unwind(|| check_bytes(&bytes)) {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(p) => fail("bytes", &hex::encode(&bytes), p),
            }
        }
        let text = base64::engine::general_purpose::STANDARD.encode(&valid);
        for _ in 0..8 {
            let mutated = mutate_text(&mut rng, &text);
            texts += 1;
            if let Err(p) = panic::catch_unwind(|| check_text(&mutated)) {
                fail("text", &mutated, p);
            }
        }
    }
    println!(
        "fuzz_hwhash: {runs} byte inputs ({accepted} accepted) and {texts} base64 inputs in {secs} s (seed {seed}) — no failures"
    );
}
