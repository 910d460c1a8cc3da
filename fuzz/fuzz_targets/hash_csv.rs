#![no_main]
//! Any bytes as a hash CSV: no panic; rows numbered 1, 2, 3…; values within the field cap and
//! free of control bytes; messages short and printable. (Stable harness with more checks and
//! streaming inputs: crates/ztd-formats/examples/fuzz_hash_csv.rs.)

use libfuzzer_sys::fuzz_target;
use ztd_formats::hash_csv::{HashCsvReader, MAX_FIELD_BYTES};

fn check_message(message: &str) {
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(message.len() < 2000);
}

fuzz_target!(|data: &[u8]| {
    let reader = match HashCsvReader::new(data) {
        Ok(reader) => reader,
        Err(e) => return check_message(&e.to_string()),
    };
    let mut expected = 1;
    for item in reader {
        match item {
            Ok(row) => {
                assert_eq!(row.row, expected);
                expected += 1;
                for value in [Some(&row.serial_number), row.hardware_hash.as_ref(), row.group_tag.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    assert!(value.chars().count() <= MAX_FIELD_BYTES);
                    assert!(!value.contains('\0'));
                }
            }
            Err(e) => {
                check_message(&e.to_string());
                if !e.is_file_error() {
                    assert_eq!(e.row, expected);
                    expected += 1;
                }
            }
        }
    }
    let _ = ztd_formats::read_corporate_identifiers(data);
});
