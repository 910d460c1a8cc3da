//! One error type for every refusal: the server maps each to a DRS `ErrorType`/OAuth error, the client shows
//! the message. Messages say what is wrong and never echo more than a few characters of the input.

/// Why ztd-drs refused an input or could not build an output.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DrsError {
    #[error("{what} is larger than {max} bytes")]
    TooLarge { what: &'static str, max: usize },

    // RSA public keys
    #[error("the key blob is not a public BCRYPT_RSAKEY_BLOB: {0}")]
    BlobMalformed(&'static str),
    #[error("the key blob holds a private key (its prime lengths are not zero); send only the public key")]
    BlobPrivate,
    #[error("the RSA key has {0} bits; ztd accepts 2048 to 4096")]
    KeySize(usize),
    #[error("the RSA public key is malformed: {0}")]
    PublicKeyMalformed(&'static str),
    #[error("the key is not an RSA key (rsaEncryption)")]
    NotRsa,
    #[error("the transport key is neither a base64 BCRYPT_RSAKEY_BLOB nor a base64 RSA JWK: {0}")]
    TransportKeyMalformed(&'static str),
    #[error("the signature does not verify with the RSA key")]
    BadSignature,
    #[error("encryption failed: {0}")]
    Encryption(&'static str),
    #[error("the private key is not an RSA PKCS#8 key that can be used: {0}")]
    PrivateKey(&'static str),

    // The join's PKCS#10
    #[error("the certificate request is not a DER PKCS#10 request: {0}")]
    CsrMalformed(&'static str),
    #[error("the certificate request's key must be RSA (rsaEncryption)")]
    CsrNotRsa,
    #[error("the certificate request's key must be RSA with exactly 2048 bits, not {0}")]
    CsrKeySize(usize),
    #[error("the certificate request must be signed with SHA256withRSA")]
    CsrSignatureAlgorithm,
    #[error("the certificate request's signature does not verify with its own key (no proof of possession)")]
    CsrBadSignature,
    #[error("CertificateRequest.Type is {0:?}; only pkcs10 is supported")]
    CsrType(String),
    #[error("CertificateRequest.Data is not standard base64")]
    CsrBase64,

    // The device CA and device certificates
    #[error("the device CA certificate cannot be used: {0}")]
    CaCertificate(&'static str),
    #[error("the device CA private key does not match the device CA certificate")]
    CaKeyMismatch,
    #[error("the certificate fields are invalid: {0}")]
    InvalidFields(&'static str),
    #[error("could not build the certificate: {0}")]
    CertificateBuild(String),
    #[error("not a DER X.509 certificate: {0}")]
    CertificateMalformed(&'static str),
    #[error("the certificate's subject is not CN=<device id>: {0}")]
    CertificateDeviceId(&'static str),
    #[error("the certificate's {0} extension is not an OCTET STRING of a 16-byte GUID, or appears twice")]
    CertificateExtension(&'static str),
    #[error("the certificate's device id extension disagrees with its subject")]
    CertificateDeviceIdMismatch,
    #[error("the certificate was not issued by this device CA: {0}")]
    NotIssuedByCa(&'static str),

    // JOSE
    #[error("the JWT is malformed: {0}")]
    JwtMalformed(&'static str),
    #[error("the JWT is signed with {found}; expected {expected}")]
    JwtAlgorithm {
        found: String,
        expected: &'static str,
    },
    #[error("the JWT's signature does not verify")]
    JwtBadSignature,
    #[error("the JWT header's x5c is not a base64 certificate (a string or an array of strings)")]
    X5cMalformed,
    #[error("the JWT header's ctx is not base64")]
    CtxMalformed,
    #[error("the JWE is malformed: {0}")]
    JweMalformed(&'static str),
    #[error("the JWE uses {0}, which ztd does not support")]
    JweUnsupported(&'static str),
    #[error("the JWE does not decrypt: wrong key, or it was tampered with")]
    JweDecrypt,

    // Nonces and join tickets
    #[error("the nonce is malformed")]
    NonceMalformed,
    #[error("the nonce was issued for another purpose")]
    NonceWrongPurpose,
    #[error("the nonce was not issued by this server (bad MAC)")]
    NonceForged,
    #[error("the nonce has expired")]
    NonceExpired,
    #[error("the nonce is dated in the future")]
    NonceFromFuture,
    #[error("the join ticket is malformed")]
    JoinTicketMalformed,
    #[error("the join ticket was not issued by this server (bad MAC)")]
    JoinTicketForged,
    #[error("the join ticket has expired")]
    JoinTicketExpired,
    #[error("the join ticket is dated in the future")]
    JoinTicketFromFuture,
}

/// The first few characters of an input-derived value, for a message that must stay short; anything but
/// printable ASCII becomes `?` so a message cannot carry control or bidi characters.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 32;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn excerpts_are_short_and_plain() {
        assert_eq!(super::excerpt("RS256"), "RS256");
        assert_eq!(super::excerpt("a\u{202e}b\n"), "a?b?");
        let long = super::excerpt(&"\u{202e}".repeat(1000));
        assert_eq!(long.len(), 35);
    }
}
