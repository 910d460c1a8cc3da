//! Stable-toolchain fuzzing of the OData query parser and filter evaluation: mutates a corpus of queries
//! Graph tools send, with a deterministic PRNG, for N seconds. Asserts: no panic; every refusal is short
//! (never echoes the input whole); parsing and evaluation each finish in bounded time (the depth, node and
//! work limits hold). Usage: `fuzz_query SECONDS [SEED]`.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::panic;
use std::time::{Duration, Instant};

use serde_json::json;
use ztd_odata::{limits, QueryOptions, WorkBudget};

const SEEDS: &[&str] = &[
    "$filter=contains(serialNumber,'PF1')&$top=100",
    "$filter=groupTag eq 'Kiosk' and enrollmentState eq 'notContacted'&$select=id,serialNumber",
    "$filter=physicalIds/any(p:startswith(p,'[ZTDID]'))&$count=true",
    "$filter=physicalIds/any(a:physicalIds/any(b:b eq a))",
    "$filter=not(deviceVersion ge 2) or accountEnabled eq false&$orderby=displayName desc",
    "$filter=azureActiveDirectoryDeviceId eq 8a114385-b11b-4dda-bc33-a8725775e27e",
    "$filter=lastContactedDateTime gt 2024-01-01T00:00:00Z",
    "$search=\"deviceId:abc\" OR \"displayName:o'k\"&$skiptoken=azph",
    "$filter=tolower(groupTag) eq 'x' and physicalIds/$count eq 0&$expand=members",
    "%24top=5&%24filter=contains(serialNumber%2C%27a%27)",
    "$select=id,displayName&$expand=assignments($select=id,target),assignedDevices",
    "$expand=assignments($select=target;$filter=x)&ConsistencyLevel=eventual&$count=true",
    // JSON batch bodies (every input also goes through the batch reader).
    r#"{"requests":[{"id":"1","method":"GET","url":"/groups?$top=1"},{"id":"2","method":"POST","url":"/groups","headers":{"Content-Type":"application/json"},"body":{"displayName":"x"},"dependsOn":["1"]}]}"#,
    r#"{"requests":[{"id":"a","method":"PATCH","url":"deviceManagement/x/1","body":"eyJhIjoxfQ==","headers":{"content-type":"text/plain"}}]}"#,
];

const TOKENS: &[&str] = &[
    "(",
    ")",
    "'",
    "''",
    ",",
    ":",
    "/",
    " ",
    "%",
    "%2",
    "%27",
    "+",
    "&",
    "=",
    "$filter=",
    "$top=",
    "$skip=",
    "$search=",
    "$expand=",
    "($select=",
    ";",
    "\"",
    " and ",
    " or ",
    "not ",
    "not(",
    " eq ",
    " ne ",
    " gt ",
    "any(",
    "/any(p:",
    "/$count",
    "contains(",
    "startswith(",
    "tolower(",
    "null",
    "true",
    "-1",
    "1e308",
    "9999999999999999999",
    "physicalIds",
    "p",
    "é",
    "\u{0}",
    "\u{202e}",
    "00000000-0000-0000-0000-000000000000",
];

/// The harness's randomness: a seeded generator from `rand`, so a failing run replays with its seed.
struct Rng(StdRng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut text: Vec<char> = input.chars().collect();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(text.len() + 1);
        match rng.below(6) {
            0 if !text.is_empty() => {
                let end = (at + rng.below(8)).min(text.len());
                text.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                text.splice(at..at, token.chars());
            }
            2 => {
                // Repeat a token many times: nesting and length attacks.
                let token = TOKENS[rng.below(TOKENS.len())];
                let times = 1 + rng.below(3_000);
                text.splice(at..at, token.repeat(times).chars());
            }
            3 => {
                let c = char::from_u32(rng.next() as u32 % 0x11_0000).unwrap_or('?');
                text.insert(at, c);
            }
            4 => {
                let other = SEEDS[rng.below(SEEDS.len())];
                text.splice(at..at, other.chars());
            }
            _ => {
                if !text.is_empty() {
                    let (i, j) = (rng.below(text.len()), rng.below(text.len()));
                    text.swap(i, j);
                }
            }
        }
    }
    text.into_iter().collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let item = json!({
        "serialNumber": "PF1-ABC", "groupTag": "Kiosk", "deviceVersion": 2, "accountEnabled": false,
        "lastContactedDateTime": "2025-01-01T00:00:00Z", "displayName": "x",
        "physicalIds": (0..40).map(|i| format!("[OrderId]:{i}")).collect::<Vec<_>>(),
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut runs, mut accepted, mut slowest) = (0u64, 0u64, Duration::ZERO);
    panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        let seed_query = SEEDS[rng.below(SEEDS.len())];
        let input = mutate(&mut rng, seed_query);
        let started = Instant::now();
        let outcome = panic::catch_unwind(|| {
            if let Err(err) = ztd_odata::batch::parse_batch(input.as_bytes()) {
                assert!(err.message.len() <= 600, "a batch error echoes too much");
            }
            match QueryOptions::parse(Some(&input)) {
                Ok(options) => {
                    let mut budget = WorkBudget::new(limits::ITEM_WORK);
                    let _ = options.matches(&item, &mut budget);
                    let _ = options.project(item.clone());
                    let _ = options.next_query(&ztd_odata::SkipToken::Offset(1));
                    true
                }
                Err(err) => {
                    assert!(
                        err.message.len() <= 600,
                        "an error echoes too much: {} bytes",
                        err.message.len()
                    );
                    false
                }
            }
        });
        let took = started.elapsed();
        slowest = slowest.max(took);
        match outcome {
            Ok(ok) => accepted += u64::from(ok),
            Err(_) => {
                let _ = panic::take_hook();
                eprintln!(
                    "PANIC on input ({} chars): {:?}",
                    input.len(),
                    input.chars().take(300).collect::<String>()
                );
                std::process::exit(1);
            }
        }
        assert!(took < Duration::from_secs(1), "one query took {took:?}");
        runs += 1;
    }
    println!("fuzz_query: {runs} inputs, {accepted} accepted, slowest {slowest:?}, no panics");
}
