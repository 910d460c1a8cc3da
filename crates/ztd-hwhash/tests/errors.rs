//! One test per `HashError` variant, each checking the offset the message names.

use sha2::{Digest, Sha256};
use ztd_hwhash::{DeviceDescription, HardwareHash, HashError, Record};

const SAMPLE: &str = include_str!("data/hwhash-synthetic.b64.txt");

fn sample_bytes() -> Vec<u8> {
    HardwareHash::from_base64(SAMPLE).unwrap().encode()
}

/// Rewrites the CS digest so structural corruption is not masked by the checksum check.
fn reseal(b: &mut [u8]) {
    let total = usize::from(u16::from_le_bytes([b[2], b[3]]));
    let d = Sha256::digest(&b[..total]);
    b[total + 4..total + 36].copy_from_slice(&d);
}

#[test]
fn empty_text() {
    assert_eq!(HardwareHash::from_base64("  \r\n"), Err(HashError::Empty));
}

#[test]
fn not_base64() {
    let mut t = SAMPLE.trim().to_owned();
    t.replace_range(10..11, "*");
    let e = HardwareHash::from_base64(&t).unwrap_err();
    assert!(matches!(e, HashError::NotBase64 { .. }), "{e}");
    assert!(e.to_string().contains("not valid base64"));
}

#[test]
fn whitespace_and_missing_padding_accepted() {
    let t = SAMPLE.trim();
    let wrapped: String = t
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(HardwareHash::from_base64(&format!("\n {wrapped}\t\n")).is_ok());
    // An oversized hash (5044 bytes) needs `==` padding; both forms are accepted.
    let h = HardwareHash::from_records(vec![Record::new(99, vec![0xab; 5000])]).unwrap();
    let padded = h.to_base64();
    assert!(padded.ends_with("=="));
    assert_eq!(HardwareHash::from_base64(&padded).unwrap(), h);
    assert_eq!(
        HardwareHash::from_base64(padded.trim_end_matches('=')).unwrap(),
        h
    );
}

#[test]
fn truncated_base64_is_wrong_length() {
    let t = &SAMPLE.trim()[..3996];
    assert_eq!(
        HardwareHash::from_base64(t),
        Err(HashError::WrongLength {
            len: 2997,
            expected: 3000
        })
    );
}

#[test]
fn too_short_for_header() {
    assert_eq!(
        HardwareHash::decode(b"OA"),
        Err(HashError::WrongLength {
            len: 2,
            expected: 3000
        })
    );
}

#[test]
fn bad_magic() {
    let mut b = sample_bytes();
    b[0] = b'X';
    let e = HardwareHash::decode(&b).unwrap_err();
    assert_eq!(
        e,
        HashError::BadMagic {
            found: [b'X', b'A']
        }
    );
    assert!(e.to_string().contains("offset 0"));
}

#[test]
fn bad_total_length() {
    let mut b = sample_bytes();
    b[2..4].copy_from_slice(&2990u16.to_le_bytes());
    assert_eq!(
        HardwareHash::decode(&b),
        Err(HashError::BadTotalLength {
            total_length: 2990,
            len: 3000
        })
    );
    b[2..4].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        HardwareHash::decode(&b),
        Err(HashError::BadTotalLength {
            total_length: 2,
            ..
        })
    ));
}

#[test]
fn missing_checksum() {
    let mut b = sample_bytes();
    b[1001] = 0;
    let e = HardwareHash::decode(&b).unwrap_err();
    assert_eq!(
        e,
        HashError::MissingChecksum {
            offset: 1001,
            found: vec![0, 0x53, 0x24, 0]
        }
    );
    assert!(e.to_string().contains("offset 1001"));
}

#[test]
fn corrupted_checksum() {
    let mut b = sample_bytes();
    b[1005] ^= 1;
    let e = HardwareHash::decode(&b).unwrap_err();
    assert!(matches!(
        e,
        HashError::ChecksumMismatch {
            offset: 1005,
            covered: 1001,
            ..
        }
    ));
    assert!(e.to_string().contains("c1cec76492ed5328"));
}

#[test]
fn corrupted_content_fails_checksum() {
    let mut b = sample_bytes();
    b[690] ^= 0x20; // inside the serial number
    assert!(matches!(
        HardwareHash::decode(&b),
        Err(HashError::ChecksumMismatch { .. })
    ));
}

#[test]
fn record_running_past_total_length() {
    let mut b = sample_bytes();
    // Last record (type 30 at offset 925, length 76): claim 80.
    b[927..929].copy_from_slice(&80u16.to_le_bytes());
    reseal(&mut b);
    let e = HardwareHash::decode(&b).unwrap_err();
    assert_eq!(
        e,
        HashError::TruncatedRecord {
            offset: 925,
            kind: 30,
            length: 80,
            total_length: 1001
        }
    );
    assert!(e.to_string().contains("offset 925"));
}

#[test]
fn record_header_cut_off() {
    // Signed part of 4 + 2 bytes: a record header that cannot fit.
    let mut b = vec![0u8; 3000];
    b[0..2].copy_from_slice(b"OA");
    b[2..4].copy_from_slice(&6u16.to_le_bytes());
    b[4] = 1;
    b[6..8].copy_from_slice(b"CS");
    b[8..10].copy_from_slice(&36u16.to_le_bytes());
    reseal(&mut b);
    assert_eq!(
        HardwareHash::decode(&b),
        Err(HashError::TruncatedRecord {
            offset: 4,
            kind: 0,
            length: 0,
            total_length: 6
        })
    );
}

#[test]
fn record_length_below_header() {
    let mut b = sample_bytes();
    b[6..8].copy_from_slice(&3u16.to_le_bytes()); // type-1 record at offset 4
    reseal(&mut b);
    assert_eq!(
        HardwareHash::decode(&b),
        Err(HashError::BadRecordLength {
            offset: 4,
            kind: 1,
            length: 3
        })
    );
}

#[test]
fn non_zero_padding() {
    let mut b = sample_bytes();
    b[2500] = 7;
    assert_eq!(
        HardwareHash::decode(&b),
        Err(HashError::NonZeroPadding { offset: 2500 })
    );
}

#[test]
fn wrong_length_with_valid_content() {
    let mut b = sample_bytes();
    b.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        HardwareHash::decode(&b),
        Err(HashError::WrongLength {
            len: 3003,
            expected: 3000
        })
    );
}

#[test]
fn too_large() {
    let big = vec![
        Record::new(99, vec![0u8; 40_000]),
        Record::new(98, vec![0u8; 30_000]),
    ];
    assert!(matches!(
        HardwareHash::from_records(big),
        Err(HashError::TooLarge { max: 65535, .. })
    ));
}

#[test]
fn oversized_hash_round_trips_without_padding() {
    let h = HardwareHash::from_records(vec![Record::new(99, vec![0xab; 5000])]).unwrap();
    let b = h.encode();
    assert_eq!(b.len(), 4 + 5004 + 36);
    assert_eq!(HardwareHash::decode(&b).unwrap(), h);
}

#[test]
fn invalid_fields() {
    let ok = DeviceDescription {
        collected_at_unix: 1_735_732_800,
        ..Default::default()
    };
    assert!(ok.clone().normalized().is_ok());
    let cases: Vec<(&str, DeviceDescription)> = vec![
        (
            "smbios_uuid",
            DeviceDescription {
                smbios_uuid: "not-a-uuid".into(),
                ..ok.clone()
            },
        ),
        (
            "mac_addresses",
            DeviceDescription {
                mac_addresses: vec!["00:11".into()],
                ..ok.clone()
            },
        ),
        (
            "serial_number",
            DeviceDescription {
                serial_number: "a\0b".into(),
                ..ok.clone()
            },
        ),
        (
            "disk_serial",
            DeviceDescription {
                disk_serial: "a|b".into(),
                ..ok.clone()
            },
        ),
        (
            "product_key_id",
            DeviceDescription {
                product_key_id: Some("12ab".into()),
                ..ok.clone()
            },
        ),
        (
            "collected_at_unix",
            DeviceDescription {
                collected_at_unix: 0,
                ..ok.clone()
            },
        ),
        (
            "tpm_ek_public",
            DeviceDescription {
                tpm_ek_public: vec![1; 2000],
                ..ok.clone()
            },
        ),
    ];
    for (name, d) in cases {
        match d.normalized() {
            Err(HashError::InvalidField { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn normalized_canonicalises() {
    let d = DeviceDescription {
        smbios_uuid: "{4C4C4544-0032-3910-8056-B4C04F4B4D32}".into(),
        mac_addresses: vec!["02-00-5e-00-00-01".into(), "aabbccddeeff".into()],
        product_key_id: Some(" 3305012345678 ".into()),
        collected_at_unix: 1_735_732_800,
        ..Default::default()
    }
    .normalized()
    .unwrap();
    assert_eq!(d.smbios_uuid, "4c4c4544-0032-3910-8056-b4c04f4b4d32");
    assert_eq!(d.mac_addresses, ["02:00:5E:00:00:01", "AA:BB:CC:DD:EE:FF"]);
    assert_eq!(d.product_key_id.as_deref(), Some("3305012345678"));
}
