//! Stateless server nonces ([MS-OAPXBC] §3.1.5.1.1 `srv_challenge`) and join tickets: a MAC under a server
//! key makes them unforgeable, a purpose byte keeps one kind from being replayed as another, and the issue
//! time bounds their life, so the server keeps no table of what it handed out.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use uuid::Uuid;

use crate::encoding::{b64url, decode_b64url};
use crate::DrsError;

/// A nonce is 56 characters; more is not one of ours.
pub const MAX_NONCE_CHARS: usize = 128;
/// A join ticket is 167 characters.
pub const MAX_JOIN_TICKET_CHARS: usize = 512;
/// Clocks of server replicas differ: a nonce dated this far ahead is still accepted.
pub const FUTURE_SKEW_SECS: i64 = 60;

const NONCE_VERSION: u8 = 1;
const NONCE_MAC_BYTES: usize = 16;
/// version ‖ purpose ‖ issued_at ‖ random.
const NONCE_BODY_BYTES: usize = 1 + 1 + 8 + 16;
const JOIN_TICKET_PREFIX: &str = "zjt1.";
const JOIN_TICKET_TAG: &[u8] = b"zjt1";
/// Four UUIDs, issued_at, random.
const JOIN_TICKET_PAYLOAD_BYTES: usize = 4 * 16 + 8 + 16;
const JOIN_TICKET_MAC_BYTES: usize = 32;

/// What a nonce may be used for: its byte is MACed, so a nonce of one purpose fails as another.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoncePurpose {
    Challenge = 1,
    JoinTicket = 2,
    /// The MDM terms-of-use page's form: the signed-in user saw the terms.
    TermsForm = 3,
    /// The terms-of-use acceptance a device hands back at enrollment (`EnrollmentData`).
    TermsAccepted = 4,
}

/// Mints a nonce: base64url of version, purpose, `issued_at` (i64 big-endian), `random`, and the first 16
/// bytes of HMAC-SHA256 over those and `bound` (data the nonce is tied to but does not carry, e.g. a tenant).
pub fn mint_nonce(
    key: &[u8; 32],
    purpose: NoncePurpose,
    issued_at: i64,
    random: [u8; 16],
    bound: &[u8],
) -> String {
    let mut bytes = Vec::with_capacity(NONCE_BODY_BYTES + NONCE_MAC_BYTES);
    bytes.push(NONCE_VERSION);
    bytes.push(purpose as u8);
    bytes.extend_from_slice(&issued_at.to_be_bytes());
    bytes.extend_from_slice(&random);
    let mac = nonce_mac(key, &bytes, bound);
    bytes.extend_from_slice(&mac.as_ref()[..NONCE_MAC_BYTES]);
    b64url(&bytes)
}

/// Checks a nonce this server minted for `purpose` and `bound`, and its age at `now`; returns its issue time.
pub fn verify_nonce(
    key: &[u8; 32],
    purpose: NoncePurpose,
    text: &str,
    bound: &[u8],
    now: i64,
    max_age_secs: i64,
) -> Result<i64, DrsError> {
    if text.len() > MAX_NONCE_CHARS {
        return Err(DrsError::NonceMalformed);
    }
    let bytes = decode_b64url(text).ok_or(DrsError::NonceMalformed)?;
    if bytes.len() != NONCE_BODY_BYTES + NONCE_MAC_BYTES || bytes[0] != NONCE_VERSION {
        return Err(DrsError::NonceMalformed);
    }
    let (body, mac) = bytes.split_at(NONCE_BODY_BYTES);
    let expected = nonce_mac(key, body, bound);
    verify_slices_are_equal(&expected.as_ref()[..NONCE_MAC_BYTES], mac)
        .map_err(|_| DrsError::NonceForged)?;
    if body[1] != purpose as u8 {
        return Err(DrsError::NonceWrongPurpose);
    }
    let issued_at = read_i64(&body[2..10]);
    check_age(issued_at, now, max_age_secs).map_err(|future| {
        if future {
            DrsError::NonceFromFuture
        } else {
            DrsError::NonceExpired
        }
    })?;
    Ok(issued_at)
}

/// A join handed from one ztd step to the next (e.g. Autopilot binding to the join), signed so the device
/// cannot change the ids it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JoinTicket {
    pub tenant_id: Uuid,
    pub ztdid: Uuid,
    pub object_id: Uuid,
    pub device_id: Uuid,
    pub issued_at: i64,
}

/// Mints `zjt1.<payload>.<mac>`: the payload is the four UUIDs, `issued_at` and `random`; the MAC is
/// HMAC-SHA256 over the tag `zjt1`, the join-ticket purpose byte and the payload.
pub fn mint_join_ticket(key: &[u8; 32], ticket: &JoinTicket, random: [u8; 16]) -> String {
    let mut payload = Vec::with_capacity(JOIN_TICKET_PAYLOAD_BYTES);
    for id in [
        ticket.tenant_id,
        ticket.ztdid,
        ticket.object_id,
        ticket.device_id,
    ] {
        payload.extend_from_slice(id.as_bytes());
    }
    payload.extend_from_slice(&ticket.issued_at.to_be_bytes());
    payload.extend_from_slice(&random);
    let mac = join_ticket_mac(key, &payload);
    format!(
        "{JOIN_TICKET_PREFIX}{}.{}",
        b64url(&payload),
        b64url(mac.as_ref())
    )
}

/// Checks a join ticket's MAC (constant time) and age at `now`, and returns what it carries.
pub fn verify_join_ticket(
    key: &[u8; 32],
    text: &str,
    now: i64,
    max_age_secs: i64,
) -> Result<JoinTicket, DrsError> {
    if text.len() > MAX_JOIN_TICKET_CHARS {
        return Err(DrsError::JoinTicketMalformed);
    }
    let (payload, mac) = text
        .strip_prefix(JOIN_TICKET_PREFIX)
        .and_then(|rest| rest.split_once('.'))
        .ok_or(DrsError::JoinTicketMalformed)?;
    let payload = decode_b64url(payload).ok_or(DrsError::JoinTicketMalformed)?;
    let mac = decode_b64url(mac).ok_or(DrsError::JoinTicketMalformed)?;
    if payload.len() != JOIN_TICKET_PAYLOAD_BYTES || mac.len() != JOIN_TICKET_MAC_BYTES {
        return Err(DrsError::JoinTicketMalformed);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut signed = Vec::with_capacity(JOIN_TICKET_TAG.len() + 1 + payload.len());
    signed.extend_from_slice(JOIN_TICKET_TAG);
    signed.push(NoncePurpose::JoinTicket as u8);
    signed.extend_from_slice(&payload);
    hmac::verify(&key, &signed, &mac).map_err(|_| DrsError::JoinTicketForged)?;
    let uuid = |i: usize| {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&payload[i * 16..i * 16 + 16]);
        Uuid::from_bytes(bytes)
    };
    let issued_at = read_i64(&payload[64..72]);
    check_age(issued_at, now, max_age_secs).map_err(|future| {
        if future {
            DrsError::JoinTicketFromFuture
        } else {
            DrsError::JoinTicketExpired
        }
    })?;
    Ok(JoinTicket {
        tenant_id: uuid(0),
        ztdid: uuid(1),
        object_id: uuid(2),
        device_id: uuid(3),
        issued_at,
    })
}

fn nonce_mac(key: &[u8; 32], body: &[u8], bound: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(body);
    ctx.update(bound);
    ctx.sign()
}

fn join_ticket_mac(key: &[u8; 32], payload: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(JOIN_TICKET_TAG);
    ctx.update(&[NoncePurpose::JoinTicket as u8]);
    ctx.update(payload);
    ctx.sign()
}

fn read_i64(bytes: &[u8]) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(word)
}

/// `Err(true)` when dated too far ahead, `Err(false)` when too old. Saturating: times come from the input.
fn check_age(issued_at: i64, now: i64, max_age_secs: i64) -> Result<(), bool> {
    if issued_at > now.saturating_add(FUTURE_SKEW_SECS) {
        return Err(true);
    }
    if now.saturating_sub(issued_at) > max_age_secs {
        return Err(false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 32] = [5; 32];
    const NOW: i64 = 1_750_000_000;
    const TENANT: &[u8] = b"6287f28f-4f7f-4322-9651-a8697d8fe1bc";

    #[test]
    fn nonce_round_trip() {
        let nonce = mint_nonce(&KEY, NoncePurpose::Challenge, NOW, [7; 16], TENANT);
        assert_eq!(nonce.len(), 56);
        assert!(nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            verify_nonce(&KEY, NoncePurpose::Challenge, &nonce, TENANT, NOW + 10, 300),
            Ok(NOW)
        );
        let unbound = mint_nonce(&KEY, NoncePurpose::Challenge, NOW, [7; 16], b"");
        assert_eq!(
            verify_nonce(&KEY, NoncePurpose::Challenge, &unbound, b"", NOW, 300),
            Ok(NOW)
        );
        assert_ne!(unbound, nonce);
    }

    #[test]
    fn nonce_refusals() {
        let nonce = mint_nonce(&KEY, NoncePurpose::Challenge, NOW, [7; 16], TENANT);
        let check = |purpose, text: &str, bound: &[u8], now| {
            verify_nonce(&KEY, purpose, text, bound, now, 300)
        };
        assert_eq!(
            check(NoncePurpose::JoinTicket, &nonce, TENANT, NOW),
            Err(DrsError::NonceWrongPurpose)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, b"other tenant", NOW),
            Err(DrsError::NonceForged)
        );
        assert_eq!(
            verify_nonce(&[6; 32], NoncePurpose::Challenge, &nonce, TENANT, NOW, 300),
            Err(DrsError::NonceForged)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, NOW + 301),
            Err(DrsError::NonceExpired)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, NOW + 300),
            Ok(NOW)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, NOW - 61),
            Err(DrsError::NonceFromFuture)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, NOW - 60),
            Ok(NOW)
        );
        // Re-dating the nonce breaks its MAC.
        let mut bytes = decode_b64url(&nonce).unwrap();
        bytes[9] ^= 1;
        assert_eq!(
            check(NoncePurpose::Challenge, &b64url(&bytes), TENANT, NOW),
            Err(DrsError::NonceForged)
        );
        for bad in ["", "abc", "!!!!", &"A".repeat(200), &nonce[..55]] {
            assert_eq!(
                check(NoncePurpose::Challenge, bad, TENANT, NOW),
                Err(DrsError::NonceMalformed),
                "{bad}"
            );
        }
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, i64::MIN),
            Err(DrsError::NonceFromFuture)
        );
        assert_eq!(
            check(NoncePurpose::Challenge, &nonce, TENANT, i64::MAX),
            Err(DrsError::NonceExpired)
        );
    }

    fn ticket() -> JoinTicket {
        JoinTicket {
            tenant_id: Uuid::from_u128(1),
            ztdid: Uuid::from_u128(2),
            object_id: Uuid::from_u128(3),
            device_id: Uuid::from_u128(4),
            issued_at: NOW,
        }
    }

    #[test]
    fn join_ticket_round_trip() {
        let text = mint_join_ticket(&KEY, &ticket(), [8; 16]);
        assert!(text.starts_with("zjt1."));
        assert!(text.len() <= MAX_JOIN_TICKET_CHARS);
        assert_eq!(verify_join_ticket(&KEY, &text, NOW + 5, 600), Ok(ticket()));
    }

    #[test]
    fn join_ticket_refusals() {
        let text = mint_join_ticket(&KEY, &ticket(), [8; 16]);
        assert_eq!(
            verify_join_ticket(&[1; 32], &text, NOW, 600),
            Err(DrsError::JoinTicketForged)
        );
        let (prefix_payload, mac) = text.rsplit_once('.').unwrap();
        let mut payload = decode_b64url(&prefix_payload[5..]).unwrap();
        payload[63] ^= 1; // another device id
        let tampered = format!("zjt1.{}.{mac}", b64url(&payload));
        assert_eq!(
            verify_join_ticket(&KEY, &tampered, NOW, 600),
            Err(DrsError::JoinTicketForged)
        );
        assert_eq!(
            verify_join_ticket(&KEY, &text, NOW + 601, 600),
            Err(DrsError::JoinTicketExpired)
        );
        assert_eq!(
            verify_join_ticket(&KEY, &text, NOW - 61, 600),
            Err(DrsError::JoinTicketFromFuture)
        );
        // A challenge nonce is not a ticket, and vice versa.
        let nonce = mint_nonce(&KEY, NoncePurpose::JoinTicket, NOW, [7; 16], b"");
        assert_eq!(
            verify_join_ticket(&KEY, &nonce, NOW, 600),
            Err(DrsError::JoinTicketMalformed)
        );
        assert_eq!(
            verify_nonce(&KEY, NoncePurpose::JoinTicket, &text, b"", NOW, 600),
            Err(DrsError::NonceMalformed)
        );
        for bad in ["", "zjt1.", "zjt1.a.b", "zjt2.AAAA.AAAA", &"z".repeat(600)] {
            assert_eq!(
                verify_join_ticket(&KEY, bad, NOW, 600),
                Err(DrsError::JoinTicketMalformed)
            );
        }
    }

    proptest! {
        #[test]
        fn nonce_parsers_never_panic(text in ".{0,300}", now in any::<i64>(), age in any::<i64>()) {
            let _ = verify_nonce(&KEY, NoncePurpose::Challenge, &text, b"", now, age);
            let _ = verify_join_ticket(&KEY, &text, now, age);
        }

        #[test]
        fn minted_values_verify_at_any_time(issued in any::<i64>(), random in any::<[u8; 16]>()) {
            let nonce = mint_nonce(&KEY, NoncePurpose::Challenge, issued, random, b"b");
            prop_assert_eq!(verify_nonce(&KEY, NoncePurpose::Challenge, &nonce, b"b", issued, 0), Ok(issued));
            let ticket = JoinTicket { issued_at: issued, ..ticket() };
            let text = mint_join_ticket(&KEY, &ticket, random);
            prop_assert_eq!(verify_join_ticket(&KEY, &text, issued, 0), Ok(ticket));
        }
    }
}
