//! OAuth 2.0 and OpenID Connect messages as Entra ID and its clients speak them, as pure types: the signed
//! client assertion (RFC 7523) that certificate credentials send, the certificates those assertions are checked
//! against, PKCE (RFC 7636) and the user codes of the device authorization grant (RFC 8628).
//!
//! Nothing here does I/O or reads a clock: callers pass the time, the stored certificate and the random bytes.
//! Every parser bounds its input before it decodes it.

pub mod assertion;
pub mod certificate;
pub mod pkce;
pub mod user_code;

pub use assertion::{AssertionError, ClientAssertion};
pub use certificate::{CertificateCredential, CertificateError};
