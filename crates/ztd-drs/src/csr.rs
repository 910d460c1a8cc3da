//! The join's PKCS#10 ([MS-DVRJ] §3.1.5.1.1.1): RSA-2048, SHA256withRSA, signed by its own key. Its subject is
//! a placeholder (`CN=7E980AD9-…` in every client) and is ignored: ztd names the device.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::blob::{RsaPublicKey, RSA_ENCRYPTION_OID};
use crate::DrsError;

/// A CSR is about 700 bytes; anything near this is not one.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// The key size Entra requires for device keys.
pub const CSR_KEY_BITS: usize = 2048;
pub(crate) const SHA256_WITH_RSA_OID: &str = "1.2.840.113549.1.1.11";

/// A certificate request whose key has proven possession.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRequest {
    pub public_key: RsaPublicKey,
    /// The requested subject as text, for messages only.
    pub subject: String,
}

/// Parses and checks the join's PKCS#10: size, form, RSA-2048, SHA256withRSA, and its signature.
pub fn parse_certificate_request(der: &[u8]) -> Result<CertificateRequest, DrsError> {
    parse_certificate_request_with_key_bits(der, CSR_KEY_BITS..=CSR_KEY_BITS)
}

/// Parses and checks a PKCS#10 whose RSA key may have any size in `key_bits` (the MDM enrollment's
/// policy says "at least 2048"); otherwise as [`parse_certificate_request`].
pub fn parse_certificate_request_with_key_bits(
    der: &[u8],
    key_bits: std::ops::RangeInclusive<usize>,
) -> Result<CertificateRequest, DrsError> {
    if der.len() > MAX_CSR_BYTES {
        return Err(DrsError::TooLarge {
            what: "the certificate request",
            max: MAX_CSR_BYTES,
        });
    }
    let (rest, request) = X509CertificationRequest::from_der(der)
        .map_err(|_| DrsError::CsrMalformed("it does not parse as PKCS#10"))?;
    if !rest.is_empty() {
        return Err(DrsError::CsrMalformed("bytes follow the request"));
    }
    let info = &request.certification_request_info;
    if info.subject_pki.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION_OID {
        return Err(DrsError::CsrNotRsa);
    }
    if request.signature_algorithm.algorithm.to_id_string() != SHA256_WITH_RSA_OID {
        return Err(DrsError::CsrSignatureAlgorithm);
    }
    let public_key = RsaPublicKey::from_spki(&info.subject_pki).map_err(|e| match e {
        DrsError::KeySize(bits) => DrsError::CsrKeySize(bits),
        other => other,
    })?;
    if !key_bits.contains(&public_key.bits()) {
        return Err(DrsError::CsrKeySize(public_key.bits()));
    }
    if request.signature_value.unused_bits != 0 {
        return Err(DrsError::CsrBadSignature);
    }
    public_key
        .verify_pkcs1_sha256(info.raw, &request.signature_value.data)
        .map_err(|_| DrsError::CsrBadSignature)?;
    Ok(CertificateRequest {
        public_key,
        subject: info.subject.to_string(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::blob::tests::{public_of, test_key};
    use proptest::prelude::*;
    use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};

    /// A CSR as Windows and roadlib make it, signed with `pkcs8`.
    pub(crate) fn csr_for(pkcs8: &[u8]) -> Vec<u8> {
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &PKCS_RSA_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "7E980AD9-B86D-4306-9425-9AC066FB014A");
        params.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_good_request_parses() {
        let request = parse_certificate_request(&csr_for(test_key())).unwrap();
        assert_eq!(request.public_key, public_of(test_key()));
        assert_eq!(request.subject, "CN=7E980AD9-B86D-4306-9425-9AC066FB014A");
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let mut der = csr_for(test_key());
        let last = der.len() - 1;
        der[last] ^= 1;
        assert_eq!(
            parse_certificate_request(&der),
            Err(DrsError::CsrBadSignature)
        );
        // Tampering the signed part (here the subject's last byte) fails the same way.
        let mut der = csr_for(test_key());
        let at = der.windows(4).position(|w| w == b"014A").unwrap();
        der[at] = b'1';
        assert_eq!(
            parse_certificate_request(&der),
            Err(DrsError::CsrBadSignature)
        );
    }

    #[test]
    fn an_ecdsa_request_is_refused() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let der = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .der()
            .to_vec();
        assert_eq!(parse_certificate_request(&der), Err(DrsError::CsrNotRsa));
    }

    /// Requests made with OpenSSL (`openssl req -new -newkey rsa:N -sha1|-sha256 -outform der`): rcgen and
    /// aws-lc cannot sign with SHA-1 or with 1024-bit keys.
    const CSR_SHA1: &[u8] = include_bytes!("../tests/fixtures/csr-sha1.der");
    const CSR_RSA1024: &[u8] = include_bytes!("../tests/fixtures/csr-rsa1024.der");
    const CSR_RSA3072: &[u8] = include_bytes!("../tests/fixtures/csr-rsa3072.der");

    #[test]
    fn a_sha1_request_is_refused() {
        assert_eq!(
            parse_certificate_request(CSR_SHA1),
            Err(DrsError::CsrSignatureAlgorithm)
        );
    }

    #[test]
    fn keys_other_than_2048_bits_are_refused() {
        assert_eq!(
            parse_certificate_request(CSR_RSA1024),
            Err(DrsError::CsrKeySize(1024))
        );
        assert_eq!(
            parse_certificate_request(CSR_RSA3072),
            Err(DrsError::CsrKeySize(3072))
        );
        assert!(parse_certificate_request_with_key_bits(CSR_RSA3072, 2048..=4096).is_ok());
        assert_eq!(
            parse_certificate_request_with_key_bits(CSR_RSA1024, 2048..=4096),
            Err(DrsError::CsrKeySize(1024))
        );
    }

    #[test]
    fn size_and_garbage_are_refused() {
        assert!(matches!(
            parse_certificate_request(&vec![0x30; MAX_CSR_BYTES + 1]),
            Err(DrsError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_certificate_request(b"hello"),
            Err(DrsError::CsrMalformed(_))
        ));
        let mut trailing = csr_for(test_key());
        trailing.push(0);
        assert!(matches!(
            parse_certificate_request(&trailing),
            Err(DrsError::CsrMalformed(_))
        ));
    }

    proptest! {
        #[test]
        fn csr_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_certificate_request(&bytes);
        }

        #[test]
        fn mutated_csrs_never_panic(at in 0usize..600, value in any::<u8>()) {
            let mut der = csr_for(test_key());
            let at = at % der.len();
            der[at] = value;
            let _ = parse_certificate_request(&der);
        }
    }
}
