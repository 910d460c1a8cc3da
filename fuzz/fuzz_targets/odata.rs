#![no_main]
//! Any query string: no panic, short errors, and evaluation within the per-item work budget.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ztd_odata::QueryOptions::parse(Some(text)) {
        Err(e) => assert!(e.message.len() <= 600),
        Ok(options) => {
            let item = serde_json::json!({"serialNumber": "A", "physicalIds": ["[OrderId]:x", "[ZTDId]:y"]});
            let mut budget = ztd_odata::WorkBudget::new(ztd_odata::limits::ITEM_WORK);
            let _ = options.matches(&item, &mut budget);
        }
    }
});
