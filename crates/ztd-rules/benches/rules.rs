//! Criterion benches: parse/validate of a 3,072-character rule, one device change against
//! 1,000 compiled rules, and single-rule evaluation. The 1M-device run is
//! `examples/bench_full.rs`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ztd_rules::{parse, MembershipIndex};

include!("../examples/common/workload.rs");

fn benches(c: &mut Criterion) {
    let long = rule_of_3072_chars();
    c.bench_function("parse_validate_3072_chars", |b| {
        b.iter(|| parse(black_box(&long)).is_ok())
    });

    let mut index = MembershipIndex::new();
    for (i, t) in workload_rules().iter().enumerate() {
        index.insert(i as u32, parse(t).unwrap_or_else(|e| panic!("{t}: {e}")));
    }
    let mut rng = Rng(7);
    let devices: Vec<_> = (0..1024).map(|i| workload_device(&mut rng, i)).collect();
    let mut i = 0;
    c.bench_function("device_change_vs_1000_rules", |b| {
        b.iter(|| {
            i = (i + 1) % devices.len();
            index.matching(black_box(&devices[i]))
        })
    });

    let rule = parse(r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:Tag5") -and device.deviceOSType -eq "Windows""#).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("evaluate_one_rule", |b| {
        b.iter(|| {
            i = (i + 1) % devices.len();
            rule.evaluate(black_box(&devices[i]))
        })
    });
}

criterion_group!(rules, benches);
criterion_main!(rules);
