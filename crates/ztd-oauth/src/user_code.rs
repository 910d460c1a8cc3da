//! The user code of the device authorization grant (RFC 8628 §6.1): short, typed by a person on another
//! device, so drawn from letters and digits that cannot be confused or spell words.

/// No vowels (no words), no 0/O, 1/I/L: 27 symbols, 9 of them ≈ 43 bits, against guesses within the code's
/// 15-minute life.
const ALPHABET: &[u8; 27] = b"BCDFGHJKMNPQRSTVWXZ23456789";
const LEN: usize = 9;

/// A user code from random bytes (one per symbol).
pub fn from_random(bytes: [u8; LEN]) -> String {
    // The modulo bias (256 is not a multiple of 27) is negligible for codes that live 15 minutes.
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// The code a person typed, in canonical form: upper case, spaces and dashes dropped; `None` if it cannot be
/// a code ztd issued.
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > 64 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_what_people_type() {
        let code = from_random([0, 1, 2, 3, 4, 5, 6, 7, 255]);
        assert_eq!(code.len(), LEN);
        assert_eq!(normalize(&code.to_ascii_lowercase()), Some(code.clone()));
        let spaced = format!("{}-{} {}", &code[..3], &code[3..6], &code[6..]);
        assert_eq!(normalize(&spaced), Some(code));
        assert_eq!(normalize("AEIOU0000"), None);
        assert_eq!(normalize("BCD"), None);
        assert_eq!(normalize(&"B".repeat(100)), None);
    }
}
