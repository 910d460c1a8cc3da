//! Full-scale benchmark: 1,000,000 devices × 1,000 rules. Run in release mode:
//! `cargo run --release -p ztd-rules --example bench_full [devices]`.
//! Prints timings and memory (VmRSS/VmHWM from /proc/self/status).

use std::time::Instant;

use ztd_rules::{parse, MembershipIndex};

include!("common/workload.rs");

fn status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!("threads: {}", rayon::current_num_threads());

    // parse + validate a 3,072-character rule
    let long = rule_of_3072_chars();
    assert_eq!(long.chars().count(), 3072);
    let t = Instant::now();
    let iters = 2000;
    for _ in 0..iters {
        std::hint::black_box(parse(std::hint::black_box(&long)).is_ok());
    }
    println!(
        "parse+validate 3,072-char rule: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / iters as f64
    );

    let rss0 = status("VmRSS:");
    let t = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let devices: Vec<_> = (0..n).map(|i| workload_device(&mut rng, i)).collect();
    let rss1 = status("VmRSS:");
    println!("generated {n} devices in {:.2} s; device storage ≈ {:.0} MiB RSS ({:.0} B/device; approx_bytes {:.0} B/device)",
        t.elapsed().as_secs_f64(), mib(rss1 - rss0), (rss1 - rss0) as f64 * 1024.0 / n as f64,
        devices.iter().map(|d| d.approx_bytes()).sum::<usize>() as f64 / n as f64);

    let texts = workload_rules();
    let t = Instant::now();
    let mut index = MembershipIndex::new();
    for (i, text) in texts.iter().enumerate() {
        index.insert(i as u32, parse(text).expect("workload rule"));
    }
    let rss2 = status("VmRSS:");
    println!(
        "compiled+indexed {} rules in {:.1} ms; index ≈ {:.2} MiB RSS; {:?}",
        texts.len(),
        t.elapsed().as_secs_f64() * 1e3,
        mib(rss2.saturating_sub(rss1)),
        index.stats()
    );

    // full evaluation: every device against every rule (through the index)
    let t = Instant::now();
    let all = index.matching_all(&devices);
    let full = t.elapsed();
    let memberships: usize = all.iter().map(Vec::len).sum();
    let candidates: usize = devices
        .iter()
        .take(100_000)
        .map(|d| index.candidate_count(d))
        .sum();
    println!("full evaluation {} rules × {n} devices: {:.2} s ({memberships} memberships; {:.1} candidate rules/device on average)",
        texts.len(), full.as_secs_f64(), candidates as f64 / n.min(100_000) as f64);
    drop(all);

    // brute force on a sample, for comparison and as a correctness check
    let rules: Vec<_> = texts.iter().map(|t| parse(t).expect("rule")).collect();
    let sample = 20_000usize.min(devices.len());
    let t = Instant::now();
    for d in &devices[..sample] {
        let brute: Vec<u32> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.evaluate(d))
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(brute, index.matching(d));
    }
    let per = t.elapsed().as_secs_f64() / sample as f64;
    println!("brute force (all 1,000 rules per device, 1 thread) + check: {:.1} µs/device → {:.0} s extrapolated for {n} devices", per * 1e6, per * n as f64);

    // one device change against 1,000 compiled rules
    let mut lat = Vec::with_capacity(20_000);
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let mut d = devices[rng.below(n) as usize].clone();
        d.set_list(
            "devicePhysicalIds",
            vec![
                format!("[ZTDId]:{:x}", rng.next()),
                format!("[OrderId]:Tag{}", rng.below(700)),
            ],
        );
        let t = Instant::now();
        std::hint::black_box(index.matching(&d));
        lat.push(t.elapsed().as_nanos() as f64 / 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "one device change: median {:.2} µs, p99 {:.2} µs, max {:.1} µs",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100],
        lat[lat.len() - 1]
    );

    // a rule change evaluated over all devices in parallel
    let t = Instant::now();
    let hits = index
        .evaluate_all(&7, &devices)
        .map_or(0, |v| v.iter().filter(|b| **b).count());
    println!(
        "rule change (one rule over {n} devices, parallel): {:.1} ms ({hits} members)",
        t.elapsed().as_secs_f64() * 1e3
    );

    println!("peak RSS (VmHWM): {:.0} MiB", mib(status("VmHWM:")));
}
