//! Stable-toolchain fuzzing of what a device sends DRS and the PRT endpoints that ztd parses itself: key
//! blobs and transport keys, the join's PKCS#10 and body, device certificates, PRT requests (RS256 with
//! `x5c`, HS256 with `ctx`), encrypted responses, session key JWEs, nonces and join tickets. Mutates seeds
//! with a deterministic PRNG for N seconds. Asserts: no panic; every refusal is short (never echoes the
//! input); each input is handled in bounded time.
//! Usage: `fuzz_drs SECONDS [SEED]`.

use std::panic;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Map, Value};
use time::macros::datetime;
use uuid::Uuid;
use ztd_drs::{
    create_device_ca, decrypt_response, encrypt_response, issue_device_certificate,
    mint_join_ticket, mint_nonce, open_session_key_jwe, parse_certificate_request,
    parse_device_certificate, session_key_jwe, sign_hs256, sign_rs256, verify_issued_by,
    verify_join_ticket, verify_nonce, DeviceCertificateFields, JoinKind, JoinRequest, JoinTicket,
    NoncePurpose, RsaPublicKey, SignedRequest,
};

const NONCE_KEY: [u8; 32] = [3; 32];
const SESSION_KEY: [u8; 32] = [4; 32];
const NOW: i64 = 1_750_000_000;

const TOKENS: &[&str] = &[
    ".",
    "=",
    "==",
    "-",
    "_",
    "+",
    "/",
    "{",
    "}",
    "\"",
    ":",
    ",",
    "[",
    "]",
    "null",
    "1e999",
    "-1",
    "\"x5c\":",
    "\"ctx\":",
    "\"kdf_ver\":2",
    "\"alg\":\"none\"",
    "\"kty\":\"RSA\"",
    "\"JoinType\":\"6\"",
    "\"attributes\":{",
    "RSA1",
    "zjt1.",
    "\u{0}",
    "é",
    "\u{202e}",
    "\u{30}\u{82}",
];

struct Rng(StdRng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

fn new_key() -> Vec<u8> {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("keygen");
    AsDer::<Pkcs8V1Der>::as_der(&key)
        .expect("pkcs8")
        .as_ref()
        .to_vec()
}

fn csr(key_pkcs8: &[u8]) -> Vec<u8> {
    let key =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_pkcs8.into(), &rcgen::PKCS_RSA_SHA256)
            .expect("rcgen key");
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "7E980AD9-B86D-4306-9425-9AC066FB014A",
    );
    params.serialize_request(&key).expect("csr").der().to_vec()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

struct Fixtures {
    seeds: Vec<Vec<u8>>,
    ca: Vec<u8>,
    transport_key: Vec<u8>,
}

fn fixtures() -> Fixtures {
    let device_key = new_key();
    let ca_key = new_key();
    let tenant = Uuid::from_u128(0x6287_f28f_4f7f_4322_9651_a869_7d8f_e1bc);
    let ca = create_device_ca(
        tenant,
        "Contoso",
        &ca_key,
        [0x42; 16],
        datetime!(2024-01-01 0:00 UTC),
        datetime!(2044-01-01 0:00 UTC),
    )
    .expect("ca");
    let csr = csr(&device_key);
    let request = parse_certificate_request(&csr).expect("csr parses");
    let fields = DeviceCertificateFields {
        device_id: Uuid::from_u128(1),
        tenant_id: tenant,
        user_object_id: Some(Uuid::from_u128(2)),
        join: JoinKind::Joined,
        region: "NA".into(),
        serial: [0x11; 16],
        not_before: datetime!(2025-01-01 0:00 UTC),
        not_after: datetime!(2035-01-01 0:00 UTC),
    };
    let cert = issue_device_certificate(&ca, &ca_key, &request, &fields).expect("issue");
    let blob = request.public_key.to_bcrypt_blob();
    let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&request.public_key.modulus),
        "e": STANDARD.encode(&request.public_key.exponent)});
    let rs256 = sign_rs256(
        &object(json!({"x5c": STANDARD.encode(&cert), "kdf_ver": 2})),
        &json!({"client_id": "38aa3b87-a06d-4817-b275-7a316988d93b", "request_nonce": "n",
            "grant_type": "password", "username": "u", "password": "p"}),
        &device_key,
    )
    .expect("rs256");
    let hs256 = sign_hs256(
        &object(
            json!({"ctx": STANDARD.encode([9u8; 24]), "kdf_ver": 2, "x5c": [STANDARD.encode(&cert)]}),
        ),
        &json!({"grant_type": "refresh_token", "refresh_token": "prt"}),
        b"derived",
    );
    let response =
        encrypt_response(&SESSION_KEY, [5; 24], [6; 12], br#"{"access_token":"a"}"#).expect("enc");
    let jwe = session_key_jwe(&SESSION_KEY, &request.public_key, [7; 12]).expect("jwe");
    let ticket = JoinTicket {
        tenant_id: tenant,
        ztdid: Uuid::from_u128(3),
        object_id: Uuid::from_u128(4),
        device_id: Uuid::from_u128(1),
        issued_at: NOW,
    };
    let join = json!({"CertificateRequest": {"Type": "pkcs10", "Data": STANDARD.encode(&csr)},
        "TransportKey": STANDARD.encode(&blob), "TargetDomain": "iminyour.cloud", "DeviceType": "Windows",
        "OSVersion": "10.0.19041.928", "DeviceDisplayName": "DESKTOP-ABCDEFGH", "JoinType": 0,
        "attributes": {"ReuseDevice": "true", "ReturnClientSid": "true"}});
    let seeds = vec![
        blob.clone(),
        STANDARD.encode(&blob).into_bytes(),
        STANDARD.encode(jwk.to_string()).into_bytes(),
        request.public_key.to_pkcs1_der(),
        request.public_key.to_spki_der(),
        csr,
        cert,
        ca.clone(),
        rs256.into_bytes(),
        hs256.into_bytes(),
        response.into_bytes(),
        jwe.into_bytes(),
        mint_nonce(&NONCE_KEY, NoncePurpose::Challenge, NOW, [8; 16], b"").into_bytes(),
        mint_join_ticket(&NONCE_KEY, &ticket, [9; 16]).into_bytes(),
        join.to_string().into_bytes(),
    ];
    Fixtures {
        seeds,
        ca,
        transport_key: device_key,
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let times = 1 + rng.below(5_000);
                bytes.splice(at..at, token.repeat(times).into_bytes());
            }
            3 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            _ => {
                // Splice in a base64url JSON header, as a JWT/JWE segment would be.
                let json = format!(
                    "{{\"alg\":\"RS256\",\"ctx\":\"{}\",\"x5c\":[\"{}\"]}}",
                    "A".repeat(rng.below(48)),
                    "M".repeat(rng.below(64))
                );
                bytes.splice(at..at, URL_SAFE_NO_PAD.encode(json).into_bytes());
            }
        }
    }
    bytes
}

fn check_short(message: String) {
    assert!(
        message.len() <= 200,
        "a refusal echoes too much: {} bytes",
        message.len()
    );
}

fn check<T>(outcome: Result<T, ztd_drs::DrsError>) -> u64 {
    match outcome {
        Ok(_) => 1,
        Err(e) => {
            check_short(e.to_string());
            0
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let fixtures = fixtures();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut parsed, mut slowest) = (0u64, 0u64, Duration::ZERO);
    panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let pick = rng.below(fixtures.seeds.len());
        let input = mutate(&mut rng, &fixtures.seeds[pick]);
        let started = Instant::now();
        let outcome = panic::catch_unwind(|| {
            let text = String::from_utf8_lossy(&input);
            let mut ok = 0u64;
            ok += check(RsaPublicKey::from_bcrypt_blob(&input));
            ok += check(RsaPublicKey::from_transport_key(&text));
            ok += check(RsaPublicKey::from_pkcs1_der(&input));
            ok += check(RsaPublicKey::from_spki_der(&input));
            ok += check(parse_certificate_request(&input));
            ok += check(parse_device_certificate(&input));
            ok += check(verify_issued_by(&input, &fixtures.ca));
            match SignedRequest::parse(&text) {
                Ok(request) => {
                    ok += 1;
                    ok += check(request.x5c());
                    ok += check(request.ctx());
                    let _ = request.kdf_ver();
                    let _ = request.claim_str("request_nonce");
                    check(request.verify_hs256(b"derived"));
                    if let Ok(Some(der)) = request.x5c() {
                        if let Ok(cert) = parse_device_certificate(&der) {
                            check(request.verify_rs256(&cert.public_key));
                        }
                    }
                }
                Err(e) => check_short(e.to_string()),
            }
            ok += check(decrypt_response(&SESSION_KEY, &text));
            ok += check(open_session_key_jwe(&text, &fixtures.transport_key));
            ok += check(verify_nonce(
                &NONCE_KEY,
                NoncePurpose::Challenge,
                &text,
                b"",
                NOW,
                300,
            ));
            ok += check(verify_join_ticket(&NONCE_KEY, &text, NOW, 600));
            if let Ok(join) = serde_json::from_slice::<JoinRequest>(&input) {
                ok += 1;
                let _ = join.attribute("ReuseDevice");
                ok += check(join.certificate_request_der());
                if let Some(key) = &join.transport_key {
                    ok += check(RsaPublicKey::from_transport_key(key));
                }
            }
            ok
        });
        let took = started.elapsed();
        slowest = slowest.max(took);
        match outcome {
            Ok(ok) => parsed += ok,
            Err(_) => {
                let _ = panic::take_hook();
                eprintln!(
                    "PANIC on input ({} bytes): {:?}",
                    input.len(),
                    String::from_utf8_lossy(&input[..input.len().min(300)])
                );
                std::process::exit(1);
            }
        }
        assert!(took < Duration::from_secs(1), "one input took {took:?}");
        runs += 1;
    }
    println!("fuzz_drs: {runs} inputs, {parsed} parsed, slowest {slowest:?}, no panics");
}
