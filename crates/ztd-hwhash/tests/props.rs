//! Property tests: generate/decode round trips, byte-exact re-encoding with unknown records,
//! and `decode` never panicking.

use proptest::prelude::*;
use ztd_hwhash::{DeviceDescription, HardwareHash, OsVersion, Record};

/// Strings `generate` can carry: no NUL, bounded length, any Unicode.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[^\u{0}]{0,40}").unwrap()
}

fn uuid() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        any::<[u8; 16]>().prop_map(|b| {
            let h = hex::encode(b);
            format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        })
    ]
}

fn mac() -> impl Strategy<Value = String> {
    any::<[u8; 6]>().prop_map(|b| {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

prop_compose! {
    fn os_version()(major in any::<u16>(), minor in any::<u16>(), build in any::<u16>(), revision in any::<u16>()) -> OsVersion {
        OsVersion { major, minor, build, revision }
    }
}

prop_compose! {
    fn description()(
        serial_number in text(),
        manufacturer in text(),
        model in text(),
        smbios_uuid in uuid(),
        mac_addresses in proptest::collection::vec(mac(), 0..5),
        disk_serial in proptest::string::string_regex("[^\u{0}|]{0,40}").unwrap(),
        disk_model in text(),
        tpm_ek_public in prop_oneof![Just(vec![]), proptest::collection::vec(any::<u8>(), 256), proptest::collection::vec(any::<u8>(), 1..300)],
        tpm_version in text(),
        product_key_id in proptest::option::of("[0-9]{13}"),
        collected_at_unix in 946_684_800i64..=946_684_800 + u32::MAX as i64,
        os_version in os_version(),
        (sku, family, bios_vendor, system_version) in (text(), text(), text(), text()),
    ) -> DeviceDescription {
        DeviceDescription {
            serial_number, manufacturer, model, smbios_uuid, mac_addresses, disk_serial,
            disk_model, tpm_ek_public, tpm_version, product_key_id, collected_at_unix,
            os_version, sku, family, bios_vendor, system_version,
        }
    }
}

proptest! {
    #[test]
    fn generate_decode_description_round_trip(d in description()) {
        let h = HardwareHash::generate(&d);
        let bytes = h.encode();
        let back = HardwareHash::decode(&bytes).unwrap();
        prop_assert_eq!(&back.description(), &d);
        prop_assert_eq!(back.to_base64(), h.to_base64());
        // Descriptions in the strategy are already normal.
        prop_assert_eq!(d.clone().normalized().unwrap(), d);
    }

    #[test]
    fn reencode_is_byte_exact_with_unknown_records(
        d in description(),
        extra in proptest::collection::vec(
            (prop_oneof![Just(34u16), Just(35), Just(37), 31u16..=u16::MAX], proptest::collection::vec(any::<u8>(), 0..40), any::<usize>()),
            0..6,
        ),
    ) {
        let mut records = HardwareHash::generate(&d).records().to_vec();
        for (kind, value, pos) in extra {
            let at = pos % (records.len() + 1);
            records.insert(at, Record::new(kind, value));
        }
        let h = HardwareHash::from_records(records.clone()).unwrap();
        let b = h.encode();
        let back = HardwareHash::decode(&b).unwrap();
        prop_assert_eq!(back.records(), &records[..]);
        prop_assert_eq!(back.encode(), b);
        // fields() and identity() never panic and cover every record.
        let kinds: std::collections::BTreeSet<u16> = back.fields().iter().map(|f| f.record_type).collect();
        let expected: std::collections::BTreeSet<u16> = records.iter().map(|r| r.kind).collect();
        prop_assert_eq!(kinds, expected);
        let _ = back.identity();
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3100)) {
        let _ = HardwareHash::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_oa_prefixed(mut bytes in proptest::collection::vec(any::<u8>(), 4..3100), total in any::<u16>()) {
        bytes[0] = b'O';
        bytes[1] = b'A';
        bytes[2..4].copy_from_slice(&total.to_le_bytes());
        let _ = HardwareHash::decode(&bytes);
    }

    #[test]
    fn resealed_random_records_never_panic(body in proptest::collection::vec(any::<u8>(), 0..1200)) {
        // Random bytes as the signed part with a valid trailer exercise the record walk.
        use sha2::Digest;
        let total = 4 + body.len();
        let mut b = vec![b'O', b'A'];
        b.extend_from_slice(&(total as u16).to_le_bytes());
        b.extend_from_slice(&body);
        let d = sha2::Sha256::digest(&b);
        b.extend_from_slice(b"CS");
        b.extend_from_slice(&36u16.to_le_bytes());
        b.extend_from_slice(&d);
        b.resize(3000, 0);
        if let Ok(h) = HardwareHash::decode(&b) {
            prop_assert_eq!(h.encode(), b);
            let _ = (h.fields(), h.identity(), h.description());
        }
    }

    #[test]
    fn from_base64_never_panics(s in ".{0,200}") {
        let _ = HardwareHash::from_base64(&s);
    }

    #[test]
    fn arbitrary_description_generate_never_panics(
        s in ".{0,50}", uuid in ".{0,40}", macs in proptest::collection::vec(".{0,20}", 0..3),
        t in any::<i64>(),
    ) {
        let d = DeviceDescription {
            serial_number: s.clone(), manufacturer: s.clone(), smbios_uuid: uuid,
            mac_addresses: macs, disk_serial: s, collected_at_unix: t, ..Default::default()
        };
        let h = HardwareHash::generate(&d);
        prop_assert!(HardwareHash::decode(&h.encode()).is_ok());
    }
}
