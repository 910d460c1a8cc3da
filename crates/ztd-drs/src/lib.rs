//! Entra's device registration service (DRS, [MS-DVRJ]) and Primary Refresh Token protocol ([MS-OAPXBC]) as
//! pure types and crypto, shared by ztd's server and its Rust device client: the RSA key blobs devices
//! send, the join's PKCS#10, the per-tenant device CA and the certificates it issues, the PRT key
//! derivation, the protocol's JWS/JWE shapes, stateless nonces and join tickets, and the JSON bodies.
//!
//! Nothing here does I/O, reads a clock or draws randomness: callers pass times and random bytes (aws-lc's
//! RSA-OAEP draws its own padding randomness). Every parser bounds its input before it decodes it, and
//! every refusal is a [`DrsError`].

pub mod blob;
pub mod certificate;
pub mod csr;
mod encoding;
pub mod error;
pub mod jose;
pub mod kdf;
pub mod messages;
pub mod nonce;

pub use blob::RsaPublicKey;
pub use certificate::{
    alternative_security_id, create_device_ca, create_tenant_ca, issue_device_certificate,
    parse_device_certificate, verify_issued_by, DeviceCaIssuer, DeviceCertificate,
    DeviceCertificateFields, JoinKind,
};
pub use csr::{
    parse_certificate_request, parse_certificate_request_with_key_bits, CertificateRequest,
};
pub use error::DrsError;
pub use jose::{
    decrypt_response, encrypt_response, open_session_key_jwe, session_key_jwe, sign_hs256,
    sign_rs256, SignedRequest, MAX_JWT_BYTES,
};
pub use kdf::{derive_key_v1, derive_key_v2};
pub use messages::{
    discovery_document, CertificateRequestField, DiscoveryEndpoints, DrsErrorBody,
    IssuedCertificate, JoinRequest, JoinResponse, JoinUser, KeyRegistration, MembershipChange,
};
pub use nonce::{
    mint_join_ticket, mint_nonce, verify_join_ticket, verify_nonce, JoinTicket, NoncePurpose,
};
