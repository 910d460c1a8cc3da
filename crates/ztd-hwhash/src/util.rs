//! Small byte/format helpers shared by decoding and generation. All total (no panics).

use sha2::{Digest, Sha256};

/// Unix time of 2000-01-01T00:00:00Z, the epoch of the type-1 `OsSystemTime`.
pub const EPOCH_2000_UNIX: i64 = 946_684_800;

pub fn u8_at(v: &[u8], o: usize) -> Option<u8> {
    v.get(o).copied()
}

pub fn u16_at(v: &[u8], o: usize) -> Option<u16> {
    match v.get(o..o.checked_add(2)?)? {
        &[a, b] => Some(u16::from_le_bytes([a, b])),
        _ => None,
    }
}

pub fn u32_at(v: &[u8], o: usize) -> Option<u32> {
    match v.get(o..o.checked_add(4)?)? {
        &[a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Text up to the first NUL (SMBIOS strings are NUL-terminated; some records are not).
pub fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(v.get(..end).unwrap_or_default()).into_owned()
}

/// UTF-16LE text, trailing NULs removed, invalid units replaced.
pub fn utf16le(v: &[u8]) -> String {
    let units = v
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect::<Vec<_>>();
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .trim_end_matches('\0')
        .to_owned()
}

pub fn to_utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// 16 wire bytes → canonical lowercase UUID, first three fields little-endian.
pub fn uuid_from_wire(b: &[u8]) -> Option<String> {
    let b: &[u8; 16] = b.try_into().ok()?;
    let mut be = *b;
    be[0..4].reverse();
    be[4..6].reverse();
    be[6..8].reverse();
    let h = hex::encode(be);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Parses a UUID leniently (hyphens optional, braces allowed, any case) into wire order.
pub fn uuid_to_wire(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(s);
    let hexs: String = s.chars().filter(|&c| c != '-').collect();
    if hexs.len() != 32 {
        return None;
    }
    let mut b: [u8; 16] = hex::decode(&hexs).ok()?.try_into().ok()?;
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

pub fn mac_to_string(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `AA:BB:CC:DD:EE:FF`, `aa-bb-…` or `aabbccddeeff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hexs: String = s.trim().chars().filter(|&c| c != ':' && c != '-').collect();
    if hexs.len() != 12 {
        return None;
    }
    hex::decode(hexs).ok()?.try_into().ok()
}

/// Truncates to at most `max` bytes on a char boundary and cuts at the first NUL, so the
/// result survives a NUL-terminated round trip.
pub fn clean_str(s: &str, max: usize) -> &str {
    let s = s.split('\0').next().unwrap_or_default();
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (or with `±HH:MM`) for Unix seconds, proleptic Gregorian.
pub fn format_time(unix: i64, offset_secs: i64) -> String {
    let t = unix + offset_secs;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let zone = if offset_secs == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset_secs < 0 { '-' } else { '+' };
        let a = offset_secs.abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{zone}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Deterministic byte stream: SHA-256(seed || counter), counter mode. Not for secrets; it
/// only makes generated test devices reproducible without a `rand` dependency.
pub struct DetRng {
    seed: Vec<u8>,
    counter: u64,
    buf: Vec<u8>,
}

impl DetRng {
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            counter: 0,
            buf: Vec::new(),
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut h = Sha256::new();
            h.update(&self.seed);
            h.update(self.counter.to_le_bytes());
            self.counter += 1;
            self.buf.extend_from_slice(&h.finalize());
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    pub fn u64(&mut self) -> u64 {
        let b = self.bytes(8);
        b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trip_and_byte_order() {
        let wire = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        let s = uuid_from_wire(&wire).unwrap();
        assert_eq!(s, "00112233-4455-6677-8899-aabbccddeeff");
        assert_eq!(uuid_to_wire(&s), Some(wire));
        assert_eq!(
            uuid_to_wire("{00112233-4455-6677-8899-AABBCCDDEEFF}"),
            Some(wire)
        );
        assert_eq!(uuid_to_wire("nope"), None);
        assert_eq!(uuid_from_wire(&[0; 15]), None);
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac("02-00-5e-00-00-01"), Some([2, 0, 0x5e, 0, 0, 1]));
        assert_eq!(mac_to_string(&[2, 0, 0x5e, 0, 0, 1]), "02:00:5E:00:00:01");
        assert_eq!(parse_mac("02:00:5e"), None);
    }

    #[test]
    fn time_formatting() {
        assert_eq!(format_time(EPOCH_2000_UNIX, 0), "2000-01-01T00:00:00Z");
        assert_eq!(format_time(1_700_000_000, 0), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_time(1_700_000_000, 3600),
            "2023-11-14T23:13:20+01:00"
        );
        assert_eq!(format_time(0, -5400), "1969-12-31T22:30:00-01:30");
    }

    #[test]
    fn clean_str_cuts_nul_and_length() {
        assert_eq!(clean_str("ab\0cd", 10), "ab");
        assert_eq!(clean_str("héllo", 2), "h");
    }

    #[test]
    fn rng_is_deterministic() {
        let a = DetRng::new(b"x").bytes(70);
        let b = DetRng::new(b"x").bytes(70);
        assert_eq!(a, b);
        assert_ne!(a, DetRng::new(b"y").bytes(70));
    }
}
