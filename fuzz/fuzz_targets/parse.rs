#![no_main]
//! Any text: no panic; accepted rules round-trip through the printer.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ztd_rules::parse(text) {
        Err(e) => assert!(e.line >= 1 && e.column >= 1),
        Ok(rule) => {
            let printed = rule.to_string();
            let again = ztd_rules::parse(&printed).expect("printed rule parses");
            assert_eq!(again, rule);
            assert_eq!(again.to_string(), printed);
            let d = ztd_rules::Device::new();
            assert_eq!(rule.explain(&d).result, rule.evaluate(&d));
        }
    }
});
