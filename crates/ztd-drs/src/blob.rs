//! RSA public keys as DRS carries them: Windows sends `BCRYPT_RSAKEY_BLOB`s (transport key, Hello key), macOS
//! and Android send JWKs, certificates and CSRs carry PKCS#1 inside a SubjectPublicKeyInfo.

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::encoding::{
    decode_b64any, read_tlv, tlv, unsigned_integer, TAG_BIT_STRING, TAG_INTEGER, TAG_NULL, TAG_OID,
    TAG_SEQUENCE,
};
use crate::DrsError;

/// `BCRYPT_RSAPUBLIC_MAGIC`, "RSA1" read as a little-endian u32.
pub const BCRYPT_RSAPUBLIC_MAGIC: u32 = 0x3141_5352;
/// Smaller RSA keys are breakable; Entra and Windows use 2048.
pub const MIN_RSA_BITS: usize = 2048;
/// Larger keys only cost CPU on every verification; no DRS client makes them.
pub const MAX_RSA_BITS: usize = 4096;
/// Real exponents are 65537 (3 bytes); aws-lc refuses exponents above 33 bits anyway.
pub const MAX_EXPONENT_BYTES: usize = 4;
/// The join's `TransportKey` text: a 4096-bit key is under 1 KiB in any of its encodings.
pub const MAX_TRANSPORT_KEY_CHARS: usize = 8 * 1024;

const BLOB_HEADER_BYTES: usize = 24;
/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
pub(crate) const RSA_ENCRYPTION_OID_DER: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// An RSA public key: big-endian magnitudes without leading zeros, checked to be 2048–4096 bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RsaPublicKey {
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl RsaPublicKey {
    /// Builds a key from big-endian magnitudes (leading zeros allowed) and checks it is usable.
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self, DrsError> {
        let modulus = strip_zeros(modulus);
        let exponent = strip_zeros(exponent);
        let key = Self {
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        };
        let bits = key.bits();
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(DrsError::KeySize(bits));
        }
        if modulus.last().is_some_and(|b| b & 1 == 0) {
            return Err(DrsError::PublicKeyMalformed("the modulus is even"));
        }
        if exponent.len() > MAX_EXPONENT_BYTES {
            return Err(DrsError::PublicKeyMalformed(
                "the exponent is longer than 4 bytes",
            ));
        }
        let small = exponent.iter().fold(0u64, |e, &b| (e << 8) | u64::from(b));
        if small < 3 || small % 2 == 0 {
            return Err(DrsError::PublicKeyMalformed(
                "the exponent must be odd and at least 3",
            ));
        }
        Ok(key)
    }

    /// Reads a public `BCRYPT_RSAKEY_BLOB` (the header, then exponent and modulus big-endian).
    pub fn from_bcrypt_blob(bytes: &[u8]) -> Result<Self, DrsError> {
        if bytes.len() > MAX_TRANSPORT_KEY_CHARS {
            return Err(DrsError::TooLarge {
                what: "the key blob",
                max: MAX_TRANSPORT_KEY_CHARS,
            });
        }
        if bytes.len() < BLOB_HEADER_BYTES {
            return Err(DrsError::BlobMalformed("shorter than its 24-byte header"));
        }
        let field = |i: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
            u32::from_le_bytes(word) as usize
        };
        if field(0) != BCRYPT_RSAPUBLIC_MAGIC as usize {
            return Err(DrsError::BlobMalformed(
                "its magic is not RSA1 (BCRYPT_RSAPUBLIC_MAGIC)",
            ));
        }
        let (bit_length, exp_len, mod_len) = (field(1), field(2), field(3));
        if field(4) != 0 || field(5) != 0 {
            return Err(DrsError::BlobPrivate);
        }
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bit_length) {
            return Err(DrsError::KeySize(bit_length));
        }
        if mod_len != bit_length.div_ceil(8) {
            return Err(DrsError::BlobMalformed(
                "cbModulus does not match BitLength",
            ));
        }
        if exp_len == 0 || exp_len > MAX_EXPONENT_BYTES {
            return Err(DrsError::BlobMalformed(
                "cbPublicExp is not between 1 and 4",
            ));
        }
        if bytes.len() != BLOB_HEADER_BYTES + exp_len + mod_len {
            return Err(DrsError::BlobMalformed(
                "its length does not match the lengths in its header",
            ));
        }
        let (exponent, modulus) = bytes[BLOB_HEADER_BYTES..].split_at(exp_len);
        let key = Self::new(modulus, exponent)?;
        if key.bits() != bit_length {
            return Err(DrsError::BlobMalformed(
                "BitLength does not match the modulus",
            ));
        }
        Ok(key)
    }

    /// Writes the public `BCRYPT_RSAKEY_BLOB`, as Windows and roadlib do (minimal exponent and modulus).
    pub fn to_bcrypt_blob(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(BLOB_HEADER_BYTES + self.exponent.len() + self.modulus.len());
        for word in [
            BCRYPT_RSAPUBLIC_MAGIC,
            self.bits() as u32,
            self.exponent.len() as u32,
            self.modulus.len() as u32,
            0,
            0,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.exponent);
        out.extend_from_slice(&self.modulus);
        out
    }

    /// Reads the join's `TransportKey`: base64 of a BCRYPT blob (Windows) or of RSA JWK JSON (macOS, Android).
    pub fn from_transport_key(text: &str) -> Result<Self, DrsError> {
        if text.len() > MAX_TRANSPORT_KEY_CHARS {
            return Err(DrsError::TooLarge {
                what: "the transport key",
                max: MAX_TRANSPORT_KEY_CHARS,
            });
        }
        let bytes = decode_b64any(text.trim())
            .ok_or(DrsError::TransportKeyMalformed("it is not base64"))?;
        if bytes.starts_with(&BCRYPT_RSAPUBLIC_MAGIC.to_le_bytes()) {
            return Self::from_bcrypt_blob(&bytes);
        }
        if bytes.trim_ascii_start().starts_with(b"{") {
            return Self::from_jwk(&bytes);
        }
        Err(DrsError::TransportKeyMalformed(
            "the decoded bytes are neither an RSA1 blob nor JSON",
        ))
    }

    fn from_jwk(json: &[u8]) -> Result<Self, DrsError> {
        let jwk: Jwk = serde_json::from_slice(json).map_err(|_| {
            DrsError::TransportKeyMalformed("the JWK is not a JSON object with string kty, n and e")
        })?;
        if jwk.kty != "RSA" {
            return Err(DrsError::NotRsa);
        }
        let component = |value: Option<String>, missing: &'static str| {
            value
                .as_deref()
                .and_then(decode_b64any)
                .filter(|bytes| !bytes.is_empty())
                .ok_or(DrsError::TransportKeyMalformed(missing))
        };
        let n = component(jwk.n, "the JWK's n is missing or not base64")?;
        let e = component(jwk.e, "the JWK's e is missing or not base64")?;
        Self::new(&n, &e)
    }

    /// Reads a PKCS#1 `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, DrsError> {
        let malformed =
            DrsError::PublicKeyMalformed("not a DER RSAPublicKey SEQUENCE of two INTEGERs");
        let (tag, body, rest) = read_tlv(der).ok_or(malformed.clone())?;
        if tag != TAG_SEQUENCE || !rest.is_empty() {
            return Err(malformed);
        }
        let (n, body) = read_positive_integer(body).ok_or(malformed.clone())?;
        let (e, body) = read_positive_integer(body).ok_or(malformed.clone())?;
        if !body.is_empty() {
            return Err(malformed);
        }
        Self::new(n, e)
    }

    /// Writes the PKCS#1 `RSAPublicKey` DER (what rcgen puts in a SubjectPublicKeyInfo, what altSecurityIds hash).
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        let mut body = unsigned_integer(&self.modulus);
        body.extend_from_slice(&unsigned_integer(&self.exponent));
        tlv(TAG_SEQUENCE, &body)
    }

    /// Reads a SubjectPublicKeyInfo whose algorithm is rsaEncryption.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, DrsError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|_| DrsError::PublicKeyMalformed("not a DER SubjectPublicKeyInfo"))?;
        if !rest.is_empty() {
            return Err(DrsError::PublicKeyMalformed(
                "bytes follow the SubjectPublicKeyInfo",
            ));
        }
        Self::from_spki(&spki)
    }

    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, DrsError> {
        if spki.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION_OID {
            return Err(DrsError::NotRsa);
        }
        if spki.subject_public_key.unused_bits != 0 {
            return Err(DrsError::PublicKeyMalformed(
                "the public key BIT STRING has unused bits",
            ));
        }
        Self::from_pkcs1_der(&spki.subject_public_key.data)
    }

    /// Writes the SubjectPublicKeyInfo (rsaEncryption, NULL parameters): what aws-lc reads for encryption.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut algorithm = tlv(TAG_OID, RSA_ENCRYPTION_OID_DER);
        algorithm.extend_from_slice(&tlv(TAG_NULL, &[]));
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.to_pkcs1_der());
        let mut body = tlv(TAG_SEQUENCE, &algorithm);
        body.extend_from_slice(&tlv(TAG_BIT_STRING, &bits));
        tlv(TAG_SEQUENCE, &body)
    }

    /// The modulus length in bits.
    pub fn bits(&self) -> usize {
        match self.modulus.iter().position(|&b| b != 0) {
            Some(at) => (self.modulus.len() - at) * 8 - self.modulus[at].leading_zeros() as usize,
            None => 0,
        }
    }

    /// Checks an RSASSA-PKCS1-v1_5 SHA-256 signature (RS256, SHA256withRSA).
    pub fn verify_pkcs1_sha256(&self, message: &[u8], signature: &[u8]) -> Result<(), DrsError> {
        RsaPublicKeyComponents {
            n: self.modulus.as_slice(),
            e: self.exponent.as_slice(),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| DrsError::BadSignature)
    }

    /// RSA-OAEP with SHA-1 and MGF1-SHA-1: how the PRT session key travels to the device's transport key.
    pub fn oaep_sha1_encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, DrsError> {
        let key = PublicEncryptingKey::from_der(&self.to_spki_der())
            .map_err(|_| DrsError::Encryption("aws-lc refused the RSA key"))?;
        let key = OaepPublicEncryptingKey::new(key)
            .map_err(|_| DrsError::Encryption("aws-lc refused the RSA key for OAEP"))?;
        if plaintext.len() > key.max_plaintext_size(&OAEP_SHA1_MGF1SHA1) {
            return Err(DrsError::Encryption(
                "the plaintext is too long for the key",
            ));
        }
        let mut out = vec![0u8; key.ciphertext_size()];
        let written = key
            .encrypt(&OAEP_SHA1_MGF1SHA1, plaintext, &mut out, None)
            .map_err(|_| DrsError::Encryption("aws-lc could not encrypt"))?
            .len();
        out.truncate(written);
        Ok(out)
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[start..]
}

/// An INTEGER that must not be negative; returns its magnitude and the bytes after it.
fn read_positive_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = read_tlv(input)?;
    if tag != TAG_INTEGER || content.first().is_none_or(|&b| b & 0x80 != 0) {
        return None;
    }
    Some((content, rest))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encoding::b64std;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};
    use aws_lc_rs::signature::KeyPair as _;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// One RSA-2048 key for the whole test run (PKCS#8 DER): generating keys is slow.
    pub(crate) fn test_key() -> &'static [u8] {
        static KEY: OnceLock<Vec<u8>> = OnceLock::new();
        KEY.get_or_init(new_key)
    }

    /// A second key, for "signed by someone else" tests.
    pub(crate) fn other_key() -> &'static [u8] {
        static KEY: OnceLock<Vec<u8>> = OnceLock::new();
        KEY.get_or_init(new_key)
    }

    pub(crate) fn new_key() -> Vec<u8> {
        let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
        AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    pub(crate) fn public_of(pkcs8: &[u8]) -> RsaPublicKey {
        let key = KeyPair::from_pkcs8(pkcs8).unwrap();
        RsaPublicKey::from_pkcs1_der(key.public_key().as_ref()).unwrap()
    }

    #[test]
    fn blob_round_trip() {
        let key = public_of(test_key());
        assert_eq!(key.bits(), 2048);
        assert_eq!(key.exponent, [1, 0, 1]);
        let blob = key.to_bcrypt_blob();
        assert_eq!(&blob[..4], b"RSA1");
        assert_eq!(blob[4..8], 2048u32.to_le_bytes());
        assert_eq!(blob[8..12], 3u32.to_le_bytes());
        assert_eq!(blob[12..16], 256u32.to_le_bytes());
        assert_eq!(blob.len(), 24 + 3 + 256);
        assert_eq!(RsaPublicKey::from_bcrypt_blob(&blob).unwrap(), key);
        assert_eq!(
            RsaPublicKey::from_transport_key(&b64std(&blob)).unwrap(),
            key
        );
    }

    #[test]
    fn blob_refusals() {
        let blob = public_of(test_key()).to_bcrypt_blob();
        let mut private = blob.clone();
        private[16] = 128;
        assert_eq!(
            RsaPublicKey::from_bcrypt_blob(&private),
            Err(DrsError::BlobPrivate)
        );
        let mut magic = blob.clone();
        magic[3] = b'2';
        assert!(matches!(
            RsaPublicKey::from_bcrypt_blob(&magic),
            Err(DrsError::BlobMalformed(_))
        ));
        let mut trailing = blob.clone();
        trailing.push(0);
        assert!(matches!(
            RsaPublicKey::from_bcrypt_blob(&trailing),
            Err(DrsError::BlobMalformed(_))
        ));
        assert!(matches!(
            RsaPublicKey::from_bcrypt_blob(&blob[..blob.len() - 1]),
            Err(DrsError::BlobMalformed(_))
        ));
        assert!(matches!(
            RsaPublicKey::from_bcrypt_blob(&blob[..10]),
            Err(DrsError::BlobMalformed(_))
        ));
        let mut wrong_bits = blob.clone();
        wrong_bits[4..8].copy_from_slice(&2047u32.to_le_bytes());
        assert_eq!(
            RsaPublicKey::from_bcrypt_blob(&wrong_bits),
            Err(DrsError::KeySize(2047))
        );
        // A 1024-bit key, well-formed otherwise.
        let mut small = Vec::new();
        for word in [BCRYPT_RSAPUBLIC_MAGIC, 1024, 3, 128, 0, 0] {
            small.extend_from_slice(&word.to_le_bytes());
        }
        small.extend_from_slice(&[1, 0, 1]);
        small.extend_from_slice(&[0xff; 128]);
        assert_eq!(
            RsaPublicKey::from_bcrypt_blob(&small),
            Err(DrsError::KeySize(1024))
        );
        assert_eq!(
            RsaPublicKey::from_transport_key(&b64std(&small)),
            Err(DrsError::KeySize(1024))
        );
    }

    #[test]
    fn jwk_transport_keys_in_every_base64() {
        let key = public_of(test_key());
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        use base64::Engine;
        for engine in [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let jwk = serde_json::json!({"kty": "RSA", "n": engine.encode(&key.modulus),
                "e": engine.encode(&key.exponent), "alg": "RS256", "kid": "X"});
            let text = STANDARD.encode(jwk.to_string());
            assert_eq!(RsaPublicKey::from_transport_key(&text).unwrap(), key);
        }
        let ec = STANDARD.encode(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#);
        assert_eq!(RsaPublicKey::from_transport_key(&ec), Err(DrsError::NotRsa));
        let no_n = STANDARD.encode(r#"{"kty":"RSA","e":"AQAB"}"#);
        assert!(matches!(
            RsaPublicKey::from_transport_key(&no_n),
            Err(DrsError::TransportKeyMalformed(_))
        ));
    }

    #[test]
    fn transport_key_refusals() {
        assert!(matches!(
            RsaPublicKey::from_transport_key("not base64!"),
            Err(DrsError::TransportKeyMalformed(_))
        ));
        assert!(matches!(
            RsaPublicKey::from_transport_key("AAAA"),
            Err(DrsError::TransportKeyMalformed(_))
        ));
        assert!(matches!(
            RsaPublicKey::from_transport_key(&"A".repeat(MAX_TRANSPORT_KEY_CHARS + 1)),
            Err(DrsError::TooLarge { .. })
        ));
    }

    #[test]
    fn pkcs1_and_spki_round_trip() {
        let pair = KeyPair::from_pkcs8(test_key()).unwrap();
        let key = public_of(test_key());
        let der = key.to_pkcs1_der();
        assert_eq!(
            der,
            pair.public_key().as_ref(),
            "the same DER aws-lc writes"
        );
        assert_eq!(RsaPublicKey::from_pkcs1_der(&der).unwrap(), key);
        assert_eq!(
            RsaPublicKey::from_spki_der(&key.to_spki_der()).unwrap(),
            key
        );
        let spki =
            AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pair.public_key()).unwrap();
        assert_eq!(spki.as_ref(), key.to_spki_der());
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(RsaPublicKey::from_pkcs1_der(&trailing).is_err());
        assert!(RsaPublicKey::from_pkcs1_der(&der[..der.len() - 1]).is_err());
    }

    #[test]
    fn signatures_and_oaep() {
        let pair = KeyPair::from_pkcs8(test_key()).unwrap();
        let key = public_of(test_key());
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            b"message",
            &mut sig,
        )
        .unwrap();
        key.verify_pkcs1_sha256(b"message", &sig).unwrap();
        assert_eq!(
            key.verify_pkcs1_sha256(b"massage", &sig),
            Err(DrsError::BadSignature)
        );
        assert_eq!(
            key.verify_pkcs1_sha256(b"message", &[]),
            Err(DrsError::BadSignature)
        );

        let ciphertext = key.oaep_sha1_encrypt(&[7; 32]).unwrap();
        assert_eq!(ciphertext.len(), 256);
        let private =
            OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(test_key()).unwrap())
                .unwrap();
        let mut out = vec![0; private.min_output_size()];
        let plain = private
            .decrypt(&OAEP_SHA1_MGF1SHA1, &ciphertext, &mut out, None)
            .unwrap();
        assert_eq!(plain, [7; 32]);
        assert!(key.oaep_sha1_encrypt(&[0; 300]).is_err());
    }

    proptest! {
        #[test]
        fn key_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = RsaPublicKey::from_bcrypt_blob(&bytes);
            let _ = RsaPublicKey::from_pkcs1_der(&bytes);
            let _ = RsaPublicKey::from_spki_der(&bytes);
            let _ = RsaPublicKey::from_transport_key(&b64std(&bytes));
            let _ = RsaPublicKey::from_transport_key(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn mutated_blobs_never_panic(at in 0usize..283, value in any::<u8>()) {
            let mut blob = public_of(test_key()).to_bcrypt_blob();
            blob[at] = value;
            let _ = RsaPublicKey::from_bcrypt_blob(&blob);
        }
    }
}
