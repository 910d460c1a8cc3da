//! The signed client assertion (RFC 7523 §2.2) a confidential client sends instead of a secret:
//! `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion=<JWT>`.
//!
//! Real clients differ from the JWT norm in ways a strict decoder refuses: azure-identity's async client pads
//! all three segments with `=`; MSAL signs RS256 with a padded SHA-1 `x5t`, or PS256 with `x5t#S256` when it
//! has the certificate. So the assertion is split and decoded here, padding-tolerant, and only the signature
//! check is left to `jsonwebtoken`.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::certificate::CertificateCredential;

/// `client_assertion_type` for a signed JWT.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest assertion ztd reads. MSAL's with an `x5c` chain of one 2048-bit certificate is under 4 KiB.
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// Clocks of client and server differ; Entra tolerates five minutes.
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The longest an assertion may be valid for, from `nbf`/`iat` to `exp` (Entra documents ten minutes for
/// its own samples; clients send 10–30 minutes, azure-identity 30).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 60 * 60;

const PADDING_INDIFFERENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why an assertion was refused. The token endpoint maps each to its AADSTS code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssertionError {
    #[error("the client assertion is longer than {MAX_ASSERTION_BYTES} bytes")]
    TooLong,
    #[error("the client assertion is not a signed JWT: {0}")]
    Malformed(&'static str),
    #[error("the client assertion is signed with {0}; use RS256 or PS256")]
    UnsupportedAlgorithm(String),
    #[error("the client assertion's header names no certificate (x5t or x5t#S256)")]
    NoThumbprint,
    #[error("the client assertion's signature does not verify with the registered certificate")]
    BadSignature,
    #[error("the client assertion's sub does not match its iss")]
    SubjectMismatchesIssuer,
    #[error("the client assertion's iss is not the client id")]
    WrongIssuer,
    #[error("the client assertion's aud is not this tenant's token endpoint")]
    WrongAudience,
    #[error("the client assertion has expired")]
    Expired,
    #[error("the client assertion is not valid yet")]
    NotYetValid,
    #[error("the client assertion is valid for longer than {MAX_ASSERTION_LIFETIME_SECS} seconds")]
    TooLongLived,
}

#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    x5t: Option<String>,
    #[serde(default, rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A JSON NumericDate (RFC 7519 §2): seconds, possibly fractional (MSAL sends `time.time()` floats).
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let secs = n
        .as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        })
        .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))?;
    Ok(secs)
}

fn optional_numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date(d).map(Some)
}

#[derive(Debug, Deserialize)]
struct RawClaims {
    aud: Audience,
    iss: String,
    sub: String,
    #[serde(deserialize_with = "numeric_date")]
    exp: i64,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "optional_numeric_date")]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// Which certificate the assertion says signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Thumbprint {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

/// A parsed, not yet verified, client assertion.
#[derive(Debug)]
pub struct ClientAssertion {
    pub algorithm: Algorithm,
    pub thumbprint: Thumbprint,
    pub audiences: Vec<String>,
    pub issuer: String,
    pub subject: String,
    pub expires: i64,
    pub not_before: Option<i64>,
    pub issued_at: Option<i64>,
    /// The assertion's unique id, for replay detection.
    pub jti: Option<String>,
    /// `header.payload` exactly as received: what was signed.
    signing_input: String,
    /// The signature segment, padding removed.
    signature: String,
}

impl ClientAssertion {
    pub fn parse(text: &str) -> Result<Self, AssertionError> {
        if text.len() > MAX_ASSERTION_BYTES {
            return Err(AssertionError::TooLong);
        }
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AssertionError::Malformed(
                "a JWT has three dot-separated parts",
            ));
        };
        let header: RawHeader = decode_json(header, "the header")?;
        let algorithm = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "PS256" => Algorithm::PS256,
            other => {
                let shown: String = other.chars().take(16).collect();
                return Err(AssertionError::UnsupportedAlgorithm(shown));
            }
        };
        // Prefer SHA-256 when a client sends both.
        let thumbprint = if let Some(s256) = header.x5t_s256.as_deref() {
            Thumbprint::Sha256(decode_fixed(s256)?)
        } else if let Some(sha1) = header.x5t.as_deref() {
            Thumbprint::Sha1(decode_fixed(sha1)?)
        } else {
            return Err(AssertionError::NoThumbprint);
        };
        let claims: RawClaims = decode_json(payload, "the payload")?;
        let audiences = match claims.aud {
            Audience::One(aud) => vec![aud],
            Audience::Many(auds) => auds,
        };
        let signing_input_len = text.len() - signature.len() - 1;
        Ok(Self {
            algorithm,
            thumbprint,
            audiences,
            issuer: claims.iss,
            subject: claims.sub,
            expires: claims.exp,
            not_before: claims.nbf,
            issued_at: claims.iat,
            jti: claims.jti,
            signing_input: text[..signing_input_len].to_string(),
            signature: signature.trim_end_matches('=').to_string(),
        })
    }

    /// Whether the assertion names this certificate.
    pub fn names(&self, certificate: &CertificateCredential) -> bool {
        match &self.thumbprint {
            Thumbprint::Sha1(sha1) => *sha1 == certificate.sha1,
            Thumbprint::Sha256(sha256) => *sha256 == certificate.sha256,
        }
    }

    /// Checks the signature against the certificate's RSA key.
    pub fn verify_signature(
        &self,
        certificate: &CertificateCredential,
    ) -> Result<(), AssertionError> {
        let key = DecodingKey::from_rsa_der(&certificate.rsa_public_key);
        match jsonwebtoken::crypto::verify(
            &self.signature,
            self.signing_input.as_bytes(),
            &key,
            self.algorithm,
        ) {
            Ok(true) => Ok(()),
            _ => Err(AssertionError::BadSignature),
        }
    }

    /// Checks who the assertion is from and for, and when: `iss` = `sub` = the client id, an audience the
    /// caller accepts (its token endpoints), and `now` (Unix seconds) inside the lifetime with clock skew.
    pub fn check_claims(
        &self,
        client_id: &str,
        accepts_audience: impl Fn(&str) -> bool,
        now: i64,
    ) -> Result<(), AssertionError> {
        if self.issuer != self.subject {
            return Err(AssertionError::SubjectMismatchesIssuer);
        }
        if !self.issuer.eq_ignore_ascii_case(client_id) {
            return Err(AssertionError::WrongIssuer);
        }
        if !self.audiences.iter().any(|aud| accepts_audience(aud)) {
            return Err(AssertionError::WrongAudience);
        }
        if now > self.expires.saturating_add(CLOCK_SKEW_SECS) {
            return Err(AssertionError::Expired);
        }
        let start = self.not_before.or(self.issued_at).unwrap_or(now);
        if now < start.saturating_sub(CLOCK_SKEW_SECS) {
            return Err(AssertionError::NotYetValid);
        }
        if self.expires.saturating_sub(start) > MAX_ASSERTION_LIFETIME_SECS {
            return Err(AssertionError::TooLongLived);
        }
        Ok(())
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(
    segment: &str,
    what: &'static str,
) -> Result<T, AssertionError> {
    let bytes = PADDING_INDIFFERENT
        .decode(segment)
        .map_err(|_| AssertionError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed(what))
}

fn decode_fixed<const N: usize>(segment: &str) -> Result<[u8; N], AssertionError> {
    let bytes = PADDING_INDIFFERENT
        .decode(segment)
        .map_err(|_| AssertionError::Malformed("the certificate thumbprint"))?;
    bytes
        .try_into()
        .map_err(|_| AssertionError::Malformed("the certificate thumbprint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{URL_SAFE as PADDED, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header};

    const CERT: &str = include_str!("../tests/fixtures/app-cert.pem");
    const KEY: &str = include_str!("../tests/fixtures/app-key-pkcs1.pem");
    const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
    const AUD: &str = "https://login.microsoftonline.com/t/oauth2/v2.0/token";

    fn certificate() -> CertificateCredential {
        CertificateCredential::parse(CERT.as_bytes()).unwrap()
    }

    fn claims(now: i64) -> serde_json::Value {
        // MSAL's `exp` and `iat` are floats (`time.time()`).
        serde_json::json!({"aud": AUD, "iss": CLIENT, "sub": CLIENT, "exp": now as f64 + 600.25, "iat": now as f64 + 0.5, "nbf": now, "jti": "j1"})
    }

    fn sign(alg: Algorithm, sha256: bool, claims: &serde_json::Value) -> String {
        let cert = certificate();
        let mut header = Header::new(alg);
        if sha256 {
            header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(cert.sha256));
        } else {
            // MSAL pads the SHA-1 thumbprint.
            header.x5t = Some(PADDED.encode(cert.sha1));
        }
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    /// azure-identity's async client pads every segment, and signs the padded text.
    fn pad_every_segment(jwt: &str) -> String {
        let parts: Vec<String> = jwt
            .split('.')
            .take(2)
            .map(|part| PADDED.encode(URL_SAFE_NO_PAD.decode(part).unwrap()))
            .collect();
        let input = parts.join(".");
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        let alg = if header["alg"] == "PS256" {
            Algorithm::PS256
        } else {
            Algorithm::RS256
        };
        let key = EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap();
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).unwrap();
        let padded = PADDED.encode(URL_SAFE_NO_PAD.decode(signature).unwrap());
        format!("{input}.{padded}")
    }

    #[test]
    fn accepts_what_msal_and_azure_identity_send() {
        let now = 1_800_000_000;
        for (alg, sha256) in [
            (Algorithm::RS256, false),
            (Algorithm::PS256, true),
            (Algorithm::RS256, true),
        ] {
            let jwt = sign(alg, sha256, &claims(now));
            for text in [jwt.clone(), pad_every_segment(&jwt)] {
                let assertion = ClientAssertion::parse(&text).unwrap();
                assert!(assertion.names(&certificate()));
                assertion.verify_signature(&certificate()).unwrap();
                assertion.check_claims(CLIENT, |a| a == AUD, now).unwrap();
                assert_eq!(assertion.jti.as_deref(), Some("j1"));
            }
        }
    }

    #[test]
    fn refuses_a_tampered_assertion() {
        let now = 1_800_000_000;
        let jwt = sign(Algorithm::RS256, false, &claims(now));
        let mut other = claims(now);
        other["sub"] = "someone-else".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(other.to_string());
        let parts: Vec<&str> = jwt.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        let assertion = ClientAssertion::parse(&forged).unwrap();
        assert_eq!(
            assertion.verify_signature(&certificate()),
            Err(AssertionError::BadSignature)
        );
    }

    #[test]
    fn checks_issuer_audience_and_lifetime() {
        let now = 1_800_000_000;
        let check = |claims: serde_json::Value, at: i64| {
            ClientAssertion::parse(&sign(Algorithm::RS256, false, &claims))
                .unwrap()
                .check_claims(CLIENT, |a| a == AUD, at)
        };
        let mut c = claims(now);
        c["sub"] = "x".into();
        assert_eq!(check(c, now), Err(AssertionError::SubjectMismatchesIssuer));
        let mut c = claims(now);
        c["sub"] = "x".into();
        c["iss"] = "x".into();
        assert_eq!(check(c, now), Err(AssertionError::WrongIssuer));
        let mut c = claims(now);
        c["aud"] = serde_json::json!(["https://elsewhere/token"]);
        assert_eq!(check(c, now), Err(AssertionError::WrongAudience));
        assert_eq!(
            check(claims(now), now + 600 + CLOCK_SKEW_SECS + 1),
            Err(AssertionError::Expired)
        );
        assert_eq!(
            check(claims(now), now - CLOCK_SKEW_SECS - 1),
            Err(AssertionError::NotYetValid)
        );
        let mut c = claims(now);
        c["exp"] = (now + 2 * MAX_ASSERTION_LIFETIME_SECS).into();
        assert_eq!(check(c, now), Err(AssertionError::TooLongLived));
    }

    #[test]
    fn refuses_malformed_assertions_without_panicking() {
        for text in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            &"A".repeat(MAX_ASSERTION_BYTES + 1),
        ] {
            assert!(ClientAssertion::parse(text).is_err(), "{text:.20}");
        }
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","x5t":"AAAA"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(
            ClientAssertion::parse(&none),
            Err(AssertionError::UnsupportedAlgorithm(_))
        ));
        let hs = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(
            ClientAssertion::parse(&hs),
            Err(AssertionError::UnsupportedAlgorithm(_))
        ));
        let no_thumb = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert_eq!(
            ClientAssertion::parse(&no_thumb).unwrap_err(),
            AssertionError::NoThumbprint
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in ".{0,400}") {
            let _ = ClientAssertion::parse(&text);
        }
    }
}
