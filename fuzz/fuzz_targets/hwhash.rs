#![no_main]
//! Any bytes as a 4K hash, raw and re-sealed (a valid SHA-256 trailer written at the offset
//! `totalLength` names, so the record walk is reached), and as base64 text: no panic; an
//! accepted hash re-encodes to the same bytes and its compact form round-trips. (Stable
//! harness mutating generated hashes: crates/ztd-hwhash/examples/fuzz_hwhash.rs.)

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use ztd_hwhash::HardwareHash;

fn check(bytes: &[u8]) {
    if let Ok(h) = HardwareHash::decode(bytes) {
        assert_eq!(h.encode(), bytes);
        let _ = (h.fields(), h.identity(), h.description(), h.checksum());
        let compact = h.to_compact_base64();
        assert_eq!(HardwareHash::from_compact_base64(&compact).unwrap(), h);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 4 {
        let total = u16::from_le_bytes([data[2], data[3]]) as usize;
        let mut sealed = data.to_vec();
        sealed[..2].copy_from_slice(b"OA");
        if total + 36 <= sealed.len() {
            let digest = Sha256::digest(&sealed[..total]);
            sealed[total..total + 2].copy_from_slice(b"CS");
            sealed[total + 2..total + 4].copy_from_slice(&36u16.to_le_bytes());
            sealed[total + 4..total + 36].copy_from_slice(&digest);
            check(&sealed);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = HardwareHash::from_base64(text);
        let _ = HardwareHash::from_compact_base64(text);
    }
});
