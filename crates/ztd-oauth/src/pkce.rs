//! Proof Key for Code Exchange (RFC 7636): the code verifier must hash to the challenge the authorization
//! request carried.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// How a challenge was derived from its verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeMethod {
    S256,
    Plain,
}

impl ChallengeMethod {
    /// `code_challenge_method`; absent means `plain` (RFC 7636 §4.3).
    pub fn parse(text: Option<&str>) -> Option<Self> {
        match text {
            None | Some("plain") => Some(Self::Plain),
            Some("S256") => Some(Self::S256),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// Whether a verifier or challenge is well formed: 43–128 unreserved characters (RFC 7636 §4.1).
pub fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` answers `challenge`.
pub fn verify(method: ChallengeMethod, challenge: &str, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let derived = match method {
        ChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        ChallengeMethod::Plain => verifier.to_string(),
    };
    // Both are public once the code is redeemed; the comparison need not be constant-time.
    derived == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(ChallengeMethod::S256, challenge, verifier));
        assert!(!verify(
            ChallengeMethod::S256,
            challenge,
            &verifier.replace('d', "e")
        ));
        assert!(!verify(ChallengeMethod::Plain, challenge, verifier));
        assert!(verify(ChallengeMethod::Plain, verifier, verifier));
        assert!(!verify(ChallengeMethod::Plain, "short", "short"));
        assert_eq!(ChallengeMethod::parse(Some("S512")), None);
    }
}
