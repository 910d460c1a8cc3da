//! `generate`: every known record type is present and well-formed; per-type field decoding.

use sha2::{Digest, Sha256};
use ztd_hwhash::{DeviceDescription, HardwareHash, OsVersion, Record};

fn desc() -> DeviceDescription {
    DeviceDescription {
        serial_number: "PF3ABCDE".into(),
        manufacturer: "LENOVO".into(),
        model: "21AH00BSMX".into(),
        smbios_uuid: "4c4c4544-0032-3910-8056-b4c04f4b4d32".into(),
        mac_addresses: vec!["00:1A:2B:3C:4D:5E".into(), "02:00:00:00:00:07".into()],
        disk_serial: "0000_0000_0000_0001_00A0_7520_2B3C_1234.".into(),
        disk_model: "SAMSUNG MZVL2512HCJQ".into(),
        tpm_ek_public: (0..=255u8).collect(),
        tpm_version: "TPM-Version:2.0 -Level:0-Revision:1.38-VendorID:'STM '-Firmware:1.512".into(),
        product_key_id: Some("3305012345678".into()),
        collected_at_unix: 1_700_000_000,
        os_version: OsVersion {
            major: 10,
            minor: 0,
            build: 22631,
            revision: 3085,
        },
        sku: "LENOVO_MT_21AH".into(),
        family: "ThinkPad T14 Gen 3".into(),
        bios_vendor: "LENOVO".into(),
        system_version: "ThinkPad T14 Gen 3".into(),
    }
}

fn rec(h: &HardwareHash, kind: u16) -> &Record {
    h.records()
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no type {kind}"))
}

fn field(h: &HardwareHash, name: &str) -> String {
    h.fields()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .value
}

#[test]
fn generated_hash_is_standard_size_and_valid() {
    let h = HardwareHash::generate(&desc());
    let b64 = h.to_base64();
    assert_eq!(b64.len(), 4000);
    let back = HardwareHash::from_base64(&b64).unwrap();
    assert_eq!(back, h);
    assert_eq!(back.description(), desc());
}

#[test]
fn generate_is_deterministic() {
    assert_eq!(
        HardwareHash::generate(&desc()).encode(),
        HardwareHash::generate(&desc()).encode()
    );
}

#[test]
fn every_known_type_present() {
    let h = HardwareHash::generate(&desc());
    for kind in 1..=30u16 {
        assert!(
            h.records().iter().any(|r| r.kind == kind),
            "missing type {kind}"
        );
    }
    // No field falls back to raw hex.
    assert!(h.fields().iter().all(|f| !f.name.starts_with("Unknown")));
}

#[test]
fn type1_os_info() {
    let h = HardwareHash::generate(&desc());
    assert_eq!(rec(&h, 1).value.len(), 24);
    assert_eq!(field(&h, "OsBuild"), "10.0.22631.3085");
    assert_eq!(field(&h, "ToolBuild"), "10.0.22631.3085");
    assert_eq!(field(&h, "OsSystemTime"), "2023-11-14T22:13:20Z");
    assert_eq!(field(&h, "OsCpuArchitecture"), "9 (x64)");
}

#[test]
fn type1_local_offset_display() {
    let mut v = rec(&HardwareHash::generate(&desc()), 1).value.clone();
    v[20] = 4; // +1h in 15-minute units
    let h = HardwareHash::from_records(vec![Record::new(1, v.clone())]).unwrap();
    assert_eq!(field(&h, "OsLocalTime"), "2023-11-14T23:13:20+01:00");
    v[20] = (-20i8) as u8; // -5h
    let h = HardwareHash::from_records(vec![Record::new(1, v)]).unwrap();
    assert_eq!(field(&h, "OsLocalTime"), "2023-11-14T17:13:20-05:00");
}

#[test]
fn types_2_to_6_hardware() {
    let h = HardwareHash::generate(&desc());
    assert_eq!(field(&h, "ProcessorCores"), "4");
    assert_eq!(field(&h, "ProcessorManufacturer"), "GenuineIntel");
    assert_eq!(rec(&h, 4).value.len(), 48);
    assert_eq!(field(&h, "TotalPhysicalRAM"), "16 GB");
    assert_eq!(rec(&h, 5).value.len(), 21);
    assert_eq!(field(&h, "PrimaryDiskBusType"), "17 (NVMe)");
}

#[test]
fn types_7_and_28_disk() {
    let h = HardwareHash::generate(&desc());
    let text = "0000_0000_0000_0001_00A0_7520_2B3C_1234.|SAMSUNG MZVL2512HCJQ|";
    assert_eq!(rec(&h, 7).value, text.as_bytes());
    assert_eq!(rec(&h, 28).value, format!("{text}\0").as_bytes());
    assert_eq!(
        h.identity().disk_serial.as_deref(),
        Some("0000_0000_0000_0001_00A0_7520_2B3C_1234.")
    );
    // Only type 28 present: identity falls back to it.
    let h = HardwareHash::from_records(vec![rec(&h, 28).clone()]).unwrap();
    assert_eq!(
        h.identity().disk_serial.as_deref(),
        Some("0000_0000_0000_0001_00A0_7520_2B3C_1234.")
    );
}

#[test]
fn type8_network_adapters() {
    let h = HardwareHash::generate(&desc());
    let nics: Vec<_> = h.records().iter().filter(|r| r.kind == 8).collect();
    assert_eq!(nics.len(), 2);
    assert_eq!(nics[0].value.len(), 22);
    assert_eq!(&nics[0].value[4..10], &[0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
    assert_eq!(field(&h, "NetworkPhysicalMedium"), "14 (Ethernet)");
    assert_eq!(field(&h, "NetworkEnumerator"), "PCI");
    assert_eq!(
        h.identity().mac_addresses,
        ["00:1A:2B:3C:4D:5E", "02:00:00:00:00:07"]
    );
}

#[test]
fn types_9_10_27_display_and_chassis() {
    let h = HardwareHash::generate(&desc());
    assert_eq!(field(&h, "DisplayResolutionHorizontal"), "1920");
    assert_eq!(field(&h, "ChassisType"), "10 (Notebook)");
    assert_eq!(field(&h, "DisplaySizeCm"), "34 x 19");
}

#[test]
fn types_11_and_25_tpm_ek() {
    let d = desc();
    let h = HardwareHash::generate(&d);
    assert_eq!(rec(&h, 25).value, d.tpm_ek_public);
    let id = &rec(&h, 11).value;
    assert_eq!(id.len(), 42);
    assert_eq!(&id[..10], &[0, 0, 0, 0, 1, 0, 32, 0, 0, 0]);
    let expected = hex::encode(Sha256::digest(&d.tpm_ek_public));
    assert_eq!(&id[10..], Sha256::digest(&d.tpm_ek_public).as_slice());
    assert_eq!(field(&h, "EkPubHash"), expected);
    assert_eq!(h.identity().tpm_ek_pub_hash, Some(expected));
    // No EK: neither record.
    let h = HardwareHash::generate(&DeviceDescription {
        tpm_ek_public: vec![],
        ..d
    });
    assert!(h.records().iter().all(|r| r.kind != 25 && r.kind != 11));
    assert_eq!(h.identity().tpm_ek_pub_hash, None);
}

#[test]
fn type11_missing_falls_back_to_hash_of_type25() {
    let h = HardwareHash::from_records(vec![Record::new(25, vec![7u8; 256])]).unwrap();
    assert_eq!(
        h.identity().tpm_ek_pub_hash,
        Some(hex::encode(Sha256::digest([7u8; 256])))
    );
}

#[test]
fn type12_uuid_byte_order() {
    let h = HardwareHash::generate(&desc());
    assert_eq!(
        rec(&h, 12).value,
        [
            0x44, 0x45, 0x4c, 0x4c, 0x32, 0x00, 0x10, 0x39, 0x80, 0x56, 0xb4, 0xc0, 0x4f, 0x4b,
            0x4d, 0x32
        ]
    );
    assert_eq!(
        field(&h, "SmbiosUuid"),
        "4c4c4544-0032-3910-8056-b4c04f4b4d32"
    );
    // All-zero and all-FF UUIDs mean "not set": no identity UUID.
    for b in [0u8, 0xff] {
        let h = HardwareHash::from_records(vec![Record::new(12, vec![b; 16])]).unwrap();
        assert_eq!(h.identity().smbios_uuid, None);
    }
}

#[test]
fn types_13_to_24_and_26_strings() {
    let h = HardwareHash::generate(&desc());
    assert!(field(&h, "TPMVersion").contains("STM"));
    assert_eq!(rec(&h, 14).value, b"PF3ABCDE\0");
    assert_eq!(field(&h, "SmbiosSystemSerialNumber"), "PF3ABCDE");
    assert_eq!(field(&h, "SmbiosFirmwareVendor"), "LENOVO");
    assert_eq!(field(&h, "SmbiosSystemManufacturer"), "LENOVO");
    assert_eq!(field(&h, "SmbiosSystemProductName"), "21AH00BSMX");
    assert_eq!(field(&h, "SmbiosSkuNumber"), "LENOVO_MT_21AH");
    assert_eq!(field(&h, "SmbiosSystemFamily"), "ThinkPad T14 Gen 3");
    assert_eq!(field(&h, "SmbiosBaseboardManufacturer"), "LENOVO");
    assert_eq!(field(&h, "SmbiosBaseboardProduct"), "ZTD-BOARD");
    assert_eq!(field(&h, "SmbiosBaseboardVersion"), "1.0");
    assert_eq!(field(&h, "SmbiosSystemVersion"), "ThinkPad T14 Gen 3");
    assert_eq!(field(&h, "ProductKeyID"), "3305012345678");
    assert_eq!(field(&h, "ProductKeyPartNumber"), "[TH]ztd-v0000");
}

#[test]
fn types_29_30_video() {
    let h = HardwareHash::generate(&desc());
    assert_eq!(field(&h, "VideoMemoryDedicated"), "134217728");
    assert_eq!(
        field(&h, "VideoAdapterNames"),
        "ZTD|ZTD Synthetic Display Adapter"
    );
}

#[test]
fn identity_trims_and_drops_empty() {
    let h = HardwareHash::from_records(vec![
        Record::new(14, b"  SER 1 \0".to_vec()),
        Record::new(16, b"\0".to_vec()),
        Record::new(24, b" \0".to_vec()),
    ])
    .unwrap();
    let id = h.identity();
    assert_eq!(id.serial_number.as_deref(), Some("SER 1"));
    assert_eq!(id.manufacturer, None);
    assert_eq!(id.model, None);
    assert_eq!(id.product_key_id, None);
    assert!(id.mac_addresses.is_empty());
    // description keeps the raw text
    assert_eq!(h.description().serial_number, "  SER 1 ");
}

#[test]
fn malformed_known_record_shows_raw_hex() {
    let h = HardwareHash::from_records(vec![Record::new(12, vec![1, 2, 3])]).unwrap();
    let f = h.fields();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].name, "SmbiosUuid");
    assert_eq!(f[0].value, "010203");
    let h = HardwareHash::from_records(vec![Record::new(35, vec![0xab])]).unwrap();
    assert_eq!(h.fields()[0].name, "UnknownRecord35");
}

#[test]
fn fill_defaults_is_deterministic_and_valid() {
    let base = DeviceDescription {
        serial_number: "S1".into(),
        manufacturer: "Contoso".into(),
        model: "Laptop 1".into(),
        ..Default::default()
    };
    let mut a = base.clone();
    a.fill_defaults(b"S1:0");
    let mut b = base.clone();
    b.fill_defaults(b"S1:0");
    assert_eq!(a, b);
    let mut c = base;
    c.fill_defaults(b"S1:1");
    assert_ne!(a.tpm_ek_public, c.tpm_ek_public);
    assert_eq!(a.tpm_ek_public.len(), 256);
    assert!(a.tpm_ek_public[0] & 0x80 != 0);
    assert_eq!(a.smbios_uuid.as_bytes()[14], b'4');
    assert_eq!(a.product_key_id, None);
    let n = a.clone().normalized().unwrap();
    assert_eq!(n, a);
    let h = HardwareHash::generate(&a);
    assert_eq!(h.to_base64().len(), 4000);
    assert_eq!(HardwareHash::decode(&h.encode()).unwrap().description(), a);
}

#[test]
fn description_json_round_trip() {
    let d = desc();
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["tpm_ek_public"].as_str().unwrap().len(), 512);
    let back: DeviceDescription = serde_json::from_value(j).unwrap();
    assert_eq!(back, d);
    // Missing keys take defaults.
    let partial: DeviceDescription = serde_json::from_str(r#"{"serial_number":"X"}"#).unwrap();
    assert_eq!(partial.serial_number, "X");
}

#[test]
fn os_version_parse() {
    assert_eq!(
        "10.0.26100.2605".parse::<OsVersion>().unwrap(),
        OsVersion::WINDOWS_11_24H2
    );
    assert_eq!("10.0.19045".parse::<OsVersion>().unwrap().build, 19045);
    assert!("10.x".parse::<OsVersion>().is_err());
    assert_eq!(OsVersion::WINDOWS_11_24H2.to_string(), "10.0.26100.2605");
}
