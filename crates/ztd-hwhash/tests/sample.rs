//! The synthetic reference sample (tests/data, copied from the research notes) decodes, verifies
//! and re-encodes byte-exactly; values match `hwhash-synthetic.layout.txt`.

use ztd_hwhash::{HardwareHash, OsVersion};

const SAMPLE: &str = include_str!("data/hwhash-synthetic.b64.txt");
const LAYOUT: &str = include_str!("data/hwhash-synthetic.layout.txt");

fn sample() -> HardwareHash {
    HardwareHash::from_base64(SAMPLE).expect("sample decodes")
}

fn field(h: &HardwareHash, name: &str) -> String {
    h.fields()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .value
}

#[test]
fn sample_reencodes_identically() {
    let h = sample();
    assert_eq!(h.to_base64(), SAMPLE.trim());
    assert_eq!(h.encode().len(), 3000);
}

#[test]
fn sample_records_match_layout_dump() {
    let h = sample();
    // Each dump line: offset type length hex…
    let expected: Vec<(usize, u16, usize, String)> = LAYOUT
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let off = it.next()?.parse().ok()?;
            let kind = it.next()?.parse().ok()?;
            let len = it.next()?.parse().ok()?;
            Some((off, kind, len, it.next()?.to_owned()))
        })
        .collect();
    assert_eq!(expected.len(), 31);
    assert_eq!(h.records().len(), expected.len());
    let mut offset = 4;
    for (rec, (off, kind, len, hexv)) in h.records().iter().zip(&expected) {
        assert_eq!(offset, *off);
        assert_eq!(rec.kind, *kind);
        assert_eq!(rec.value.len() + 4, *len);
        let shown = hex::encode(&rec.value[..rec.value.len().min(48)]);
        assert_eq!(&shown, hexv, "type {kind}");
        offset += len;
    }
    assert_eq!(offset, 1001);
    assert_eq!(
        hex::encode(h.checksum()),
        "c1cec76492ed5328f8138535087c33ab5ebfc6bb2b3b2ee7ada0bb678a35ff4f"
    );
}

#[test]
fn sample_description() {
    let d = sample().description();
    assert_eq!(d.serial_number, "SYNTH-0001");
    assert_eq!(d.manufacturer, "Contoso");
    assert_eq!(d.model, "Contoso Laptop 1");
    assert_eq!(d.smbios_uuid, "00000000-0000-4000-8000-000000000001");
    assert_eq!(d.mac_addresses, ["02:00:5E:00:00:01", "02:00:5E:00:00:02"]);
    assert_eq!(d.disk_serial, "SYNTH_0000_0000_0001.");
    assert_eq!(d.disk_model, "CONTOSO NVME 512G");
    assert_eq!(d.tpm_ek_public.len(), 256);
    assert_eq!(d.tpm_ek_public[..4], [0xde, 0x33, 0x07, 0x47]);
    assert_eq!(d.product_key_id.as_deref(), Some("0000000000001"));
    assert_eq!(d.collected_at_unix, 946_684_800 + 0x2f07_eac0);
    assert_eq!(
        d.os_version,
        OsVersion {
            major: 10,
            minor: 0,
            build: 26100,
            revision: 2605
        }
    );
    assert_eq!(d.sku, "CTSO-SKU-1");
    assert_eq!(d.family, "Contoso Laptop");
    assert_eq!(d.bios_vendor, "Contoso");
    assert_eq!(d.system_version, "1.0");
    assert!(d
        .tpm_version
        .starts_with("TPM-Version:2.0 -Level:0-Revision:1.59-VendorID:"));
}

#[test]
fn sample_identity() {
    let id = sample().identity();
    assert_eq!(id.serial_number.as_deref(), Some("SYNTH-0001"));
    assert_eq!(id.manufacturer.as_deref(), Some("Contoso"));
    assert_eq!(id.model.as_deref(), Some("Contoso Laptop 1"));
    assert_eq!(
        id.smbios_uuid.as_deref(),
        Some("00000000-0000-4000-8000-000000000001")
    );
    assert_eq!(
        id.tpm_ek_pub_hash.as_deref(),
        Some("bb46d5da76226284c8f267eb7dff88127cb98896b16bff5dfa40a3f0f3c5ff5b")
    );
    assert_eq!(id.mac_addresses, ["02:00:5E:00:00:01", "02:00:5E:00:00:02"]);
    assert_eq!(id.disk_serial.as_deref(), Some("SYNTH_0000_0000_0001."));
    assert_eq!(id.product_key_id.as_deref(), Some("0000000000001"));
}

#[test]
fn sample_type11_is_sha256_of_type25() {
    use sha2::Digest;
    let h = sample();
    let ek = &h.records().iter().find(|r| r.kind == 25).unwrap().value;
    let id = &h.records().iter().find(|r| r.kind == 11).unwrap().value;
    assert_eq!(&id[10..], sha2::Sha256::digest(ek).as_slice());
}

#[test]
fn sample_fields_named_like_oa3tool() {
    let h = sample();
    assert_eq!(field(&h, "SmbiosSystemSerialNumber"), "SYNTH-0001");
    assert_eq!(field(&h, "SmbiosSystemManufacturer"), "Contoso");
    assert_eq!(field(&h, "SmbiosSystemProductName"), "Contoso Laptop 1");
    assert_eq!(field(&h, "SmbiosSkuNumber"), "CTSO-SKU-1");
    assert_eq!(field(&h, "SmbiosSystemFamily"), "Contoso Laptop");
    assert_eq!(field(&h, "SmbiosFirmwareVendor"), "Contoso");
    assert_eq!(field(&h, "SmbiosBaseboardProduct"), "CTSO-BOARD");
    assert_eq!(
        field(&h, "SmbiosUuid"),
        "00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(field(&h, "ToolBuild"), "10.0.26100.1");
    assert_eq!(field(&h, "OsBuild"), "10.0.26100.2605");
    assert_eq!(field(&h, "OsSystemTime"), "2025-01-01T12:00:00Z");
    assert_eq!(field(&h, "OsLocalTime"), "2025-01-01T12:00:00Z");
    assert_eq!(field(&h, "OSType"), "2 (FullOS)");
    assert_eq!(field(&h, "OsCpuArchitecture"), "9 (x64)");
    assert_eq!(field(&h, "ToolVersion"), "9");
    assert_eq!(field(&h, "ProcessorArchitecture"), "9 (x64)");
    assert_eq!(field(&h, "ProcessorPackages"), "1");
    assert_eq!(field(&h, "ProcessorCores"), "4");
    assert_eq!(field(&h, "ProcessorThreads"), "8");
    assert_eq!(field(&h, "ProcessorHyperThreading"), "1");
    assert_eq!(field(&h, "ProcessorManufacturer"), "GenuineIntel");
    assert_eq!(
        field(&h, "ProcessorModel"),
        "Synthetic(R) CPU Model 1000 @ 1.00GHz"
    );
    assert_eq!(field(&h, "TotalPhysicalRAM"), "16 GB");
    assert_eq!(field(&h, "SmbiosRamMaximumCapacity"), "64 GB");
    assert_eq!(field(&h, "SmbiosRamSlots"), "2");
    assert_eq!(field(&h, "SmbiosRamArrayCount"), "1");
    assert_eq!(field(&h, "SmbiosRamErrorCorrection"), "3 (None)");
    assert_eq!(field(&h, "PrimaryDiskTotalCapacity"), "512 GB");
    assert_eq!(field(&h, "PrimaryDiskBusType"), "17 (NVMe)");
    assert_eq!(field(&h, "PrimaryDiskType"), "0 (SSD)");
    assert_eq!(
        field(&h, "DiskSerialNumber"),
        "SYNTH_0000_0000_0001.|CONTOSO NVME 512G|"
    );
    assert_eq!(
        field(&h, "DiskSSNKernel"),
        "SYNTH_0000_0000_0001.|CONTOSO NVME 512G|"
    );
    assert_eq!(field(&h, "NetworkPhysicalMedium"), "14 (Ethernet)");
    assert_eq!(field(&h, "MacAddress"), "02:00:5E:00:00:01");
    assert_eq!(field(&h, "NetworkEnumerator"), "PCI");
    assert_eq!(field(&h, "DisplayPhysicalWidth"), "344 mm");
    assert_eq!(field(&h, "DisplayPhysicalHeight"), "194 mm");
    assert_eq!(field(&h, "DisplayResolutionHorizontal"), "1920");
    assert_eq!(field(&h, "DisplayResolutionVertical"), "1080");
    assert_eq!(field(&h, "DisplaySizeCm"), "34 x 19");
    assert_eq!(field(&h, "ChassisType"), "10 (Notebook)");
    assert_eq!(field(&h, "PowerPlatformRole"), "2 (Mobile)");
    assert_eq!(field(&h, "OfflineDeviceIdType"), "1 (TPM_EK)");
    assert_eq!(field(&h, "ProductKeyID"), "0000000000001");
    assert_eq!(field(&h, "ProductKeyPartNumber"), "[TH]res-v0000");
    assert!(field(&h, "VideoAdapterNames").starts_with("Contoso Corporation|Contoso"));
    assert_eq!(field(&h, "VideoMemoryDedicated"), "134217728");
    assert_eq!(field(&h, "TpmEkPublic").len(), 512);
    // Every record yields at least one field; no raw fallbacks for the sample.
    assert!(h.fields().iter().all(|f| !f.name.starts_with("Unknown")));
}

#[test]
fn fields_serialize_to_json() {
    let v = serde_json::to_value(sample().fields()).unwrap();
    assert_eq!(v[0]["record_type"], 1);
    assert_eq!(v[0]["name"], "ToolBuild");
}
