//! The PRT key derivation ([MS-OAPXBC] §3.1.5.2.1.3): SP 800-108 counter mode with HMAC-SHA256, keyed with
//! the session key. Requests signed with the PRT and responses encrypted to it use keys derived per `ctx`,
//! so the session key itself never signs or encrypts anything.

use aws_lc_rs::hmac;
use sha2::{Digest, Sha256};

/// The fixed SP 800-108 label.
pub const KDF_LABEL: &[u8] = b"AzureAD-SecureConversation";

/// KDF version 1: the context is the `ctx` header (24 random bytes in practice).
pub fn derive_key_v1(session_key: &[u8], context: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(KDF_LABEL);
    ctx.update(&[0]);
    ctx.update(context);
    ctx.update(&256u32.to_be_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// KDF version 2 (`kdf_ver: 2`): the context is SHA-256 of `ctx` then the decoded JWT payload, which binds
/// the derived key to one request.
pub fn derive_key_v2(session_key: &[u8], ctx: &[u8], jwt_payload: &[u8]) -> [u8; 32] {
    let context = Sha256::new()
        .chain_update(ctx)
        .chain_update(jwt_payload)
        .finalize();
    derive_key_v1(session_key, &context)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from Python `cryptography` KBKDFHMAC (SHA256, CounterMode, rlen 4, llen 4,
    // BeforeFixed, label AzureAD-SecureConversation), as roadlib's calculate_derived_key(_v2) computes them.
    fn key() -> Vec<u8> {
        (0u8..32).collect()
    }
    fn ctx() -> Vec<u8> {
        (100u8..124).collect()
    }

    #[test]
    fn v1_matches_python_cryptography() {
        assert_eq!(
            hex::encode(derive_key_v1(&key(), &ctx())),
            "fd86b1821bd2effa68009dee12e23d90b6889712dc9ec3a625075817ca47f47a"
        );
    }

    #[test]
    fn v2_matches_python_cryptography() {
        let payload = br#"{"grant_type":"refresh_token","request_nonce":"n"}"#;
        assert_eq!(
            hex::encode(derive_key_v2(&key(), &ctx(), payload)),
            "6ae6f41368b7d6880daaf2680717d6096dbfae7af603b9a7a4dfc158c80f56b2"
        );
    }
}
