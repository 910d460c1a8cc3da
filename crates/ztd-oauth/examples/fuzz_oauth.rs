//! Stable-toolchain fuzzing of what a stranger sends the token endpoint that ztd parses itself: client
//! assertions (signed JWTs, padded or not), certificates registered as credentials (PEM and DER), device-flow
//! user codes and PKCE verifiers. Mutates seeds with a deterministic PRNG for N seconds. Asserts: no panic;
//! every refusal is short (never echoes the input); each input is handled in bounded time.
//! Usage: `fuzz_oauth SECONDS [SEED]`.

use std::panic;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use ztd_oauth::{pkce, user_code, CertificateCredential, ClientAssertion};

const CERT: &str = include_str!("../tests/fixtures/app-cert.pem");
const KEY: &str = include_str!("../tests/fixtures/app-key-pkcs1.pem");

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
    "\"alg\":\"none\"",
    "\"alg\":\"HS256\"",
    "\"x5t\":",
    "\"x5t#S256\":",
    "\"aud\":[",
    "\u{0}",
    "é",
    "-----BEGIN CERTIFICATE-----\n",
    "-----END CERTIFICATE-----\n",
    "\u{202e}",
];

struct Rng(StdRng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let cert = CertificateCredential::parse(CERT.as_bytes()).expect("fixture");
    let key = EncodingKey::from_rsa_pem(KEY.as_bytes()).expect("fixture key");
    let claims = serde_json::json!({"aud": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        "iss": "c", "sub": "c", "exp": 1_900_000_000, "nbf": 1_899_999_400, "jti": "j"});
    let mut rs = Header::new(Algorithm::RS256);
    rs.x5t = Some(URL_SAFE.encode(cert.sha1));
    let mut ps = Header::new(Algorithm::PS256);
    ps.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(cert.sha256));
    let mut out = vec![
        jsonwebtoken::encode(&rs, &claims, &key)
            .expect("sign")
            .into_bytes(),
        jsonwebtoken::encode(&ps, &claims, &key)
            .expect("sign")
            .into_bytes(),
        CERT.as_bytes().to_vec(),
        cert.der.clone(),
        b"BCD-FGH-JKM".to_vec(),
        b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_vec(),
    ];
    out.push(
        URL_SAFE
            .encode(b"{\"alg\":\"RS256\",\"x5t\":\"AAAA\"}")
            .into_bytes(),
    );
    out
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
                // Re-encode a segment of a JWT as base64 of mutated JSON.
                let json = format!(
                    "{{\"alg\":\"RS256\",\"x5t\":\"{}\"}}",
                    "A".repeat(rng.below(64))
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let seeds = seeds();
    let cert = CertificateCredential::parse(CERT.as_bytes()).expect("fixture");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut parsed, mut slowest) = (0u64, 0u64, Duration::ZERO);
    panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let pick = rng.below(seeds.len());
        let input = mutate(&mut rng, &seeds[pick]);
        let started = Instant::now();
        let outcome = panic::catch_unwind(|| {
            let mut ok = 0u64;
            let text = String::from_utf8_lossy(&input);
            match ClientAssertion::parse(&text) {
                Ok(assertion) => {
                    ok += 1;
                    let _ = assertion.names(&cert);
                    if let Err(e) = assertion.verify_signature(&cert) {
                        check_short(e.to_string());
                    }
                    if let Err(e) =
                        assertion.check_claims("c", |a| a.ends_with("/token"), 1_900_000_000)
                    {
                        check_short(e.to_string());
                    }
                }
                Err(e) => check_short(e.to_string()),
            }
            match CertificateCredential::parse(&input) {
                Ok(_) => ok += 1,
                Err(e) => check_short(e.to_string()),
            }
            let _ = user_code::normalize(&text);
            let _ = pkce::verify(pkce::ChallengeMethod::S256, &text, &text);
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
    println!("fuzz_oauth: {runs} inputs, {parsed} parsed, slowest {slowest:?}, no panics");
}
