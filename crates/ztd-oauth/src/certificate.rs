//! X.509 certificates registered as application credentials ("keyCredentials" of type `AsymmetricX509Cert`).

use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The largest certificate ztd accepts as a credential, PEM or DER (real ones are 1–2 KiB).
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// The OID of `rsaEncryption`: Entra's client assertions are RSA-signed, and so are the clients' keys.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("the certificate is larger than {MAX_CERTIFICATE_BYTES} bytes")]
    TooLarge,
    #[error("not a PEM or DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("the certificate's key is not RSA; client assertions must be signed with an RSA key")]
    NotRsa,
}

/// A certificate credential: what a client assertion is verified against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateCredential {
    /// The certificate as registered (DER).
    pub der: Vec<u8>,
    /// SHA-1 of the DER: the `x5t` header of assertions, and Entra's `customKeyIdentifier`.
    pub sha1: [u8; 20],
    /// SHA-256 of the DER: the `x5t#S256` header.
    pub sha256: [u8; 32],
    /// The RSA public key, PKCS#1 `RSAPublicKey` DER.
    pub rsa_public_key: Vec<u8>,
    pub subject: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertificateCredential {
    /// Reads a certificate from PEM (the first `CERTIFICATE` block; a private key beside it is ignored) or DER.
    pub fn parse(bytes: &[u8]) -> Result<Self, CertificateError> {
        if bytes.len() > MAX_CERTIFICATE_BYTES {
            return Err(CertificateError::TooLarge);
        }
        let der = if bytes.starts_with(b"-----") || bytes.trim_ascii_start().starts_with(b"-----") {
            pem_certificate(bytes)?
        } else {
            bytes.to_vec()
        };
        Self::from_der(der)
    }

    fn from_der(der: Vec<u8>) -> Result<Self, CertificateError> {
        let (rest, cert) = X509Certificate::from_der(&der)
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::Malformed(
                "bytes follow the certificate".into(),
            ));
        }
        let key = cert.public_key();
        if key.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION {
            return Err(CertificateError::NotRsa);
        }
        let credential = Self {
            sha1: Sha1::digest(&der).into(),
            sha256: Sha256::digest(&der).into(),
            rsa_public_key: key.subject_public_key.data.to_vec(),
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            der: Vec::new(),
        };
        Ok(Self { der, ..credential })
    }

    /// The SHA-1 thumbprint in upper-case hex, as Windows and the Entra portal show it.
    pub fn thumbprint(&self) -> String {
        hex_upper(&self.sha1)
    }

    /// Whether the certificate is within its validity at `now` (Unix seconds).
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn pem_certificate(bytes: &[u8]) -> Result<Vec<u8>, CertificateError> {
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| CertificateError::Malformed(e.to_string()))?;
        if pem.label == "CERTIFICATE" {
            return Ok(pem.contents);
        }
    }
    Err(CertificateError::Malformed(
        "no CERTIFICATE block in the PEM".into(),
    ))
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../tests/fixtures/app-cert.pem");
    const EC_CERT: &str = include_str!("../tests/fixtures/ec-cert.pem");

    #[test]
    fn reads_pem_and_der_alike() {
        let from_pem = CertificateCredential::parse(CERT.as_bytes()).unwrap();
        let from_der = CertificateCredential::parse(&from_pem.der).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_pem.subject, "CN=ztd test application");
        assert_eq!(from_pem.thumbprint().len(), 40);
        assert!(from_pem.valid_at(from_pem.not_before));
        assert!(!from_pem.valid_at(from_pem.not_after + 1));
    }

    #[test]
    fn refuses_keys_that_are_not_rsa() {
        assert_eq!(
            CertificateCredential::parse(EC_CERT.as_bytes()),
            Err(CertificateError::NotRsa)
        );
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        assert!(matches!(
            CertificateCredential::parse(b"not a certificate"),
            Err(CertificateError::Malformed(_))
        ));
        assert!(matches!(
            CertificateCredential::parse(
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(CertificateError::Malformed(_))
        ));
        assert_eq!(
            CertificateCredential::parse(&vec![b'A'; MAX_CERTIFICATE_BYTES + 1]),
            Err(CertificateError::TooLarge)
        );
    }
}
