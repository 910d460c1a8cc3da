//! Base64 flavours and the little DER this crate reads and writes itself.

use base64::alphabet::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// base64url, padded or not: JOSE says unpadded, Python clients often pad.
const URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Standard base64, padded or not.
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url without padding, as JOSE writes it.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Standard base64 with padding, as DRS writes certificates and `ctx`.
pub(crate) fn b64std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JOSE segment: base64url, padding optional.
pub(crate) fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_ANY_PADDING.decode(text).ok()
}

/// Standard base64 strictly by alphabet, padding optional.
pub(crate) fn decode_b64std(text: &str) -> Option<Vec<u8>> {
    STANDARD_ANY_PADDING.decode(text).ok()
}

/// Either alphabet, padding optional: clients disagree on which base64 a field is (JWK `n`, `ctx`, `x5c`).
pub(crate) fn decode_b64any(text: &str) -> Option<Vec<u8>> {
    if text.contains(['-', '_']) {
        if text.contains(['+', '/']) {
            return None;
        }
        URL_ANY_PADDING.decode(text).ok()
    } else {
        STANDARD_ANY_PADDING.decode(text).ok()
    }
}

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// One DER element: `(tag, content, rest)`. Lengths up to three bytes (16 MiB); indefinite lengths refused.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 3 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// Appends a DER element with the minimal length encoding.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// A DER element as a new vector.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 5);
    write_tlv(&mut out, tag, content);
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes: leading zeros dropped, one 0x00 added when the
/// top bit is set (else DER reads it as negative).
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude.iter().take_while(|&&b| b == 0).count();
    let digits = &magnitude[start..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    tlv(TAG_INTEGER, &content)
}

/// Upper-case hex, as Windows shows thumbprints.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let content = vec![7u8; len];
            let encoded = tlv(TAG_OCTET_STRING, &content);
            let (tag, read, rest) = read_tlv(&encoded).unwrap();
            assert_eq!((tag, read, rest), (TAG_OCTET_STRING, &content[..], &[][..]));
        }
        assert_eq!(tlv(TAG_OCTET_STRING, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert!(read_tlv(&[0x30, 0x80, 0, 0]).is_none(), "indefinite length");
        assert!(read_tlv(&[0x30, 0x05, 0]).is_none(), "short content");
    }

    #[test]
    fn integers_get_a_sign_byte_only_when_needed() {
        assert_eq!(unsigned_integer(&[0x00, 0x01, 0x00, 0x01]), [2, 3, 1, 0, 1]);
        assert_eq!(unsigned_integer(&[0x80]), [2, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), [2, 1, 0]);
    }

    #[test]
    fn base64_flavours() {
        assert_eq!(decode_b64any("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_b64any("+/8=").unwrap(), [0xfb, 0xff]);
        assert!(decode_b64any("+_8").is_none());
        assert_eq!(decode_b64url("AQ==").unwrap(), [1]);
        assert_eq!(decode_b64url("AQ").unwrap(), [1]);
    }
}
