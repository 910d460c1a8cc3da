//! Stable-toolchain fuzzing of the parser: mutates a seed corpus of spec rules with a
//! deterministic PRNG for N seconds. Asserts: no panic; errors point inside the text;
//! accepted rules print to text that parses back to the same tree and prints identically;
//! evaluate == explain; the index agrees with brute force. Usage: `fuzz_parse SECONDS [SEED]`.

use std::panic;
use std::time::{Duration, Instant};

use ztd_rules::{parse, parse_filter, Device, MembershipIndex};

const SEEDS: &[&str] = &[
    r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#,
    r#"device.devicePhysicalIDs -any _ -startsWith "[ZTDId]""#,
    r#"(device.deviceOSType -startsWith "Windows") -and (device.deviceOwnership -eq "Company") -and -not(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
    r#"device.objectId -ne null"#,
    r#"device.deviceModel -in ["Surface Laptop 5", 'x''y', -1.5]"#,
    r#"device.displayName -match "^KIOSK-\d+$" or device.accountEnabled eq true"#,
    r#"device.memberOf -any (group.objectId -in ['aaaa-1', 'bbbb-2'])"#,
    r#"device.extensionAttribute15 -eq "it''s `"quoted`" ``" -and device.isRooted -ne $null"#,
    r#"device.devicePhysicalIds -all (-not (_ -contains "a") -and (_ -endsWith "b" -or _ -notIn ["c"]))"#,
    "device.systemLabels -startsWith \"M365\"\n-or device.deviceOSVersion -notStartsWith \"10.0.1\"",
    r#"(device.manufacturer -eq "Microsoft Corporation") and (device.model -startsWith "Surface")"#,
    r#"(device.deviceOwnership -in ["Corporate"]) or (device.deviceName -notContains "LAB") and (device.osVersion -ne null)"#,
];

const TOKENS: &[&str] = &[
    "(",
    ")",
    "\"",
    "'",
    "`",
    "[",
    "]",
    ",",
    ".",
    "_",
    " ",
    "\n",
    "\t",
    "-",
    "-eq",
    " -ne ",
    "-any",
    "-all",
    " -and ",
    " or ",
    "-not",
    "-in",
    "-match",
    "$null",
    "null",
    "true",
    "device.",
    "device.deviceOSType",
    "group.objectId",
    "\u{2013}",
    "\u{201C}",
    "é",
    "\u{0130}",
    "\\",
    "(?=",
    "[a-[b]]",
    "\\1",
    "{,3}",
    "*",
    "0",
    "-1.5",
    "((((",
    "))))",
    "user.",
    "\u{0}",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut c: Vec<char> = base.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(c.len() + 1);
        match rng.below(6) {
            0 => {
                let t: Vec<char> = TOKENS[rng.below(TOKENS.len())].chars().collect();
                c.splice(at..at, t);
            }
            1 if !c.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(c.len());
                c.drain(at.min(end)..end);
            }
            2 => {
                let other: Vec<char> = SEEDS[rng.below(SEEDS.len())].chars().collect();
                let from = rng.below(other.len());
                let to = (from + rng.below(40)).min(other.len());
                c.splice(at..at, other[from..to].iter().copied());
            }
            3 if !c.is_empty() => {
                let i = at.min(c.len() - 1);
                c[i] = char::from_u32(rng.next() as u32 % 0x3000).unwrap_or('?');
            }
            4 if !c.is_empty() => {
                let end = (at + rng.below(30)).min(c.len());
                let dup: Vec<char> = c[at.min(end)..end].to_vec();
                c.splice(at..at, dup);
            }
            _ => c.truncate(at),
        }
    }
    c.into_iter().collect()
}

fn devices() -> Vec<Device> {
    let mut a = Device::new();
    a.set("deviceOSType", Some("Windows".into()));
    a.set("displayName", Some("KIOSK-12".into()));
    a.set("deviceModel", Some("Surface Laptop 5".into()));
    a.set_bool("accountEnabled", Some(true));
    a.set_list(
        "devicePhysicalIds",
        vec!["[ZTDId]:x".into(), "[OrderId]:Kiosk".into()],
    );
    a.set_list("memberOf", vec!["AAAA-1".into()]);
    let mut b = Device::new();
    b.set("extensionAttribute15", Some("it's \"quoted\" `".into()));
    b.set_list("systemLabels", vec!["M365Managed".into()]);
    vec![a, b, Device::new()]
}

fn check(text: &str, devices: &[Device]) {
    // The assignment filter dialect: same parser and bounds, its own properties.
    match parse_filter(text) {
        Err(e) => {
            assert!(e.position <= text.chars().count().max(3072));
            assert!(e.line >= 1 && e.column >= 1);
            let _ = e.snippet(text);
        }
        Ok(rule) => {
            let printed = rule.to_string();
            let again = parse_filter(&printed)
                .unwrap_or_else(|e| panic!("printed filter refused: {printed}\n{e}"));
            assert_eq!(again, rule, "print/parse changed the filter: {printed}");
            for d in devices {
                assert_eq!(again.evaluate(d), rule.evaluate(d));
            }
        }
    }
    match parse(text) {
        Err(e) => {
            let n = text.chars().count();
            assert!(
                e.position <= n.max(3072),
                "error position {} beyond text of {n} chars",
                e.position
            );
            assert!(e.line >= 1 && e.column >= 1);
            let _ = e.snippet(text);
        }
        Ok(rule) => {
            let printed = rule.to_string();
            let again =
                parse(&printed).unwrap_or_else(|e| panic!("printed form refused: {printed}\n{e}"));
            assert_eq!(again, rule, "print/parse changed the tree: {printed}");
            assert_eq!(again.to_string(), printed, "printing is not stable");
            let mut index = MembershipIndex::new();
            index.insert(0u8, rule.clone());
            for d in devices {
                let v = rule.evaluate(d);
                assert_eq!(rule.explain(d).result, v, "explain disagrees");
                assert_eq!(
                    again.evaluate(d),
                    v,
                    "normalised rule evaluates differently"
                );
                assert_eq!(index.matching(d).is_empty(), !v, "index disagrees");
            }
        }
    }
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let devices = devices();
    let mut rng = Rng(seed | 1);
    let mut corpus: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut accepted) = (0u64, 0u64);
    panic::set_hook(Box::new(|_| {}));
    while Instant::now() < deadline {
        for _ in 0..256 {
            let base = &corpus[rng.below(corpus.len())];
            let text = mutate(&mut rng, base);
            let result = panic::catch_unwind(|| check(&text, &devices));
            runs += 1;
            if let Err(p) = result {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("FAILED after {runs} inputs (seed {seed}) on input:\n{text:?}\n{msg}");
                std::process::exit(1);
            }
            if parse(&text).is_ok() {
                accepted += 1;
                if corpus.len() < 4096 && text.chars().count() < 2000 {
                    corpus.push(text);
                }
            }
        }
    }
    println!(
        "fuzz_parse: {runs} inputs in {secs} s, {accepted} accepted, corpus {} — no failures",
        corpus.len()
    );
}
