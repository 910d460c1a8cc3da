//! Typed views of a hash ([`DeviceDescription`], [`HardwareIdentity`]) and the generator.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::util::{
    clean_str, cstr, mac_to_string, parse_mac, to_utf16le, u16_at, u32_at, uuid_from_wire,
    uuid_to_wire, DetRng, EPOCH_2000_UNIX,
};
use crate::{HardwareHash, HashError, Record};

/// Longest string `generate` writes per record (bytes); longer values are truncated.
pub const MAX_STRING_BYTES: usize = 1024;
/// Most MAC addresses `generate` writes; further ones are dropped.
pub const MAX_MACS: usize = 32;
/// Longest EK public value `generate` writes (bytes); longer values are truncated.
pub const MAX_EK_BYTES: usize = 1024;
/// Latest collection time the `u32` seconds-since-2000 field can hold.
pub const MAX_COLLECTED_AT_UNIX: i64 = EPOCH_2000_UNIX + u32::MAX as i64;

/// A Windows version as stored in type 1, shown as `major.minor.build.revision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct OsVersion {
    /// 10 for Windows 10 and 11.
    pub major: u16,
    /// 0 for Windows 10 and 11.
    pub minor: u16,
    /// e.g. 26100 (24H2).
    pub build: u16,
    /// Update build revision (UBR), e.g. 2605.
    pub revision: u16,
}

impl OsVersion {
    /// Windows 11 24H2 (10.0.26100.x), what `fill_defaults` uses.
    pub const WINDOWS_11_24H2: OsVersion = OsVersion {
        major: 10,
        minor: 0,
        build: 26100,
        revision: 2605,
    };

    fn to_wire(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.minor.to_le_bytes());
        b[2..4].copy_from_slice(&self.major.to_le_bytes());
        b[4..6].copy_from_slice(&self.revision.to_le_bytes());
        b[6..8].copy_from_slice(&self.build.to_le_bytes());
        b
    }

    fn from_wire(v: &[u8], o: usize) -> Option<Self> {
        Some(Self {
            minor: u16_at(v, o)?,
            major: u16_at(v, o + 2)?,
            revision: u16_at(v, o + 4)?,
            build: u16_at(v, o + 6)?,
        })
    }
}

impl std::fmt::Display for OsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.major, self.minor, self.build, self.revision
        )
    }
}

impl std::str::FromStr for OsVersion {
    type Err = HashError;

    /// Parses `10.0.26100.2605` (the revision may be omitted: `10.0.26100`).
    fn from_str(s: &str) -> Result<Self, HashError> {
        let bad = || HashError::InvalidField {
            field: "os_version",
            reason: format!("{s:?} is not major.minor.build[.revision] with numbers up to 65535"),
        };
        let parts = s
            .trim()
            .split('.')
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        match *parts.as_slice() {
            [major, minor, build] => Ok(Self {
                major,
                minor,
                build,
                revision: 0,
            }),
            [major, minor, build, revision] => Ok(Self {
                major,
                minor,
                build,
                revision,
            }),
            _ => Err(bad()),
        }
    }
}

/// Everything [`HardwareHash::generate`] takes and [`HardwareHash::description`] gives back:
/// `decode(generate(x)).description() == x` for every `x` that passes
/// [`normalized`](Self::normalized) unchanged.
///
/// Representation rules (what `generate` does with values outside them):
/// * strings are written UTF-8 + NUL; they are cut at the first NUL and at
///   [`MAX_STRING_BYTES`];
/// * empty `smbios_uuid` → no type-12 record; an unparsable one is also omitted;
/// * MACs that do not parse are skipped, at most [`MAX_MACS`];
/// * empty `tpm_ek_public` → no type-25/11 records; empty `tpm_version` → no type 13;
/// * `disk_serial` and `disk_model` are stored as `"{serial}|{model}|"` in types 7 and 28
///   (omitted when both are empty), so `disk_serial` must not contain `|`;
/// * `product_key_id: None` → no type-24/26 records;
/// * `collected_at_unix` is clamped to 2000-01-01 ..= [`MAX_COLLECTED_AT_UNIX`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DeviceDescription {
    /// SMBIOS system serial number (type 14).
    pub serial_number: String,
    /// SMBIOS system manufacturer (type 16).
    pub manufacturer: String,
    /// SMBIOS system product name (type 17).
    pub model: String,
    /// SMBIOS UUID (type 12), canonical lowercase hyphenated; wire bytes have the first three
    /// fields little-endian (see crate docs). Empty = no record.
    pub smbios_uuid: String,
    /// Network adapter MACs (type 8, one record each) as `AA:BB:CC:DD:EE:FF`.
    pub mac_addresses: Vec<String>,
    /// Disk serial as Windows reports it (NVMe serials end in `.`), type 7/28.
    pub disk_serial: String,
    /// Disk model, the second part of type 7/28.
    pub disk_model: String,
    /// TPM endorsement key public value (type 25), normally a 256-byte RSA-2048 modulus.
    /// Type 11 (`EkPubHash`) is its SHA-256. Empty = no TPM records. Hex in JSON.
    #[serde(with = "hex_bytes")]
    pub tpm_ek_public: Vec<u8>,
    /// TPM version string (type 13), e.g. `TPM-Version:2.0 -Level:0-Revision:1.59-…`.
    pub tpm_version: String,
    /// OA3 product key ID, 13 digits (type 24). `None` = no record (VMs, non-OA3 devices).
    pub product_key_id: Option<String>,
    /// When the hash was harvested, Unix seconds (type 1 `OsSystemTime`).
    pub collected_at_unix: i64,
    /// Windows version (type 1 `OsBuild`; `ToolBuild` is written equal).
    pub os_version: OsVersion,
    /// SMBIOS SKU number (type 18).
    pub sku: String,
    /// SMBIOS system family (type 19).
    pub family: String,
    /// SMBIOS firmware (BIOS) vendor (type 15).
    pub bios_vendor: String,
    /// SMBIOS system version (type 23).
    pub system_version: String,
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.trim()).map_err(serde::de::Error::custom)
    }
}

/// The fields the directory matches devices by. All strings trimmed; `None` when the record is
/// absent or empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HardwareIdentity {
    /// Type 14.
    pub serial_number: Option<String>,
    /// Type 16.
    pub manufacturer: Option<String>,
    /// Type 17.
    pub model: Option<String>,
    /// Type 12, lowercase hyphenated; `None` also for all-00 / all-FF (SMBIOS "not set").
    pub smbios_uuid: Option<String>,
    /// Lowercase hex of the type-11 32-byte hash (SHA-256 of type 25 if type 11 is missing).
    pub tpm_ek_pub_hash: Option<String>,
    /// Type 8 MACs, uppercase colon form, in record order, duplicates removed.
    pub mac_addresses: Vec<String>,
    /// Serial part of type 7 (or 28 if 7 is missing), trimmed.
    pub disk_serial: Option<String>,
    /// Type 24.
    pub product_key_id: Option<String>,
}

impl DeviceDescription {
    /// Canonicalises (UUID lowercase, MACs `AA:BB:…`, trimmed UUID/MAC/PKID) and checks that
    /// every field survives `generate` → `decode` unchanged; use it on user input before
    /// [`HardwareHash::generate`], which silently clamps instead.
    pub fn normalized(mut self) -> Result<Self, HashError> {
        let strings: [(&'static str, &String); 10] = [
            ("serial_number", &self.serial_number),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
            ("disk_serial", &self.disk_serial),
            ("disk_model", &self.disk_model),
            ("tpm_version", &self.tpm_version),
            ("sku", &self.sku),
            ("family", &self.family),
            ("bios_vendor", &self.bios_vendor),
            ("system_version", &self.system_version),
        ];
        for (field, s) in strings {
            check_string(field, s)?;
        }
        if self.disk_serial.contains('|') {
            return Err(invalid(
                "disk_serial",
                "must not contain '|' (it separates serial and model on the wire)",
            ));
        }
        if !self.smbios_uuid.trim().is_empty() {
            let wire = uuid_to_wire(&self.smbios_uuid).ok_or_else(|| {
                invalid(
                    "smbios_uuid",
                    format!(
                        "{:?} is not a UUID like 4c4c4544-0032-3910-8056-b4c04f4b4d32",
                        self.smbios_uuid
                    ),
                )
            })?;
            self.smbios_uuid = uuid_from_wire(&wire).unwrap_or_default();
        } else {
            self.smbios_uuid.clear();
        }
        if self.mac_addresses.len() > MAX_MACS {
            return Err(invalid(
                "mac_addresses",
                format!("at most {MAX_MACS} addresses"),
            ));
        }
        for mac in &mut self.mac_addresses {
            let b = parse_mac(mac).ok_or_else(|| {
                invalid(
                    "mac_addresses",
                    format!("{mac:?} is not a MAC address like 00:1A:2B:3C:4D:5E"),
                )
            })?;
            *mac = mac_to_string(&b);
        }
        if self.tpm_ek_public.len() > MAX_EK_BYTES {
            return Err(invalid(
                "tpm_ek_public",
                format!("at most {MAX_EK_BYTES} bytes (an RSA-2048 modulus is 256)"),
            ));
        }
        if let Some(p) = &mut self.product_key_id {
            *p = p.trim().to_owned();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 20 {
                return Err(invalid(
                    "product_key_id",
                    format!("{p:?} is not a product key ID (13 digits, e.g. 3305012345678)"),
                ));
            }
        }
        if !(EPOCH_2000_UNIX..=MAX_COLLECTED_AT_UNIX).contains(&self.collected_at_unix) {
            return Err(invalid(
                "collected_at_unix",
                format!(
                    "{} is outside {EPOCH_2000_UNIX}..={MAX_COLLECTED_AT_UNIX} (2000-01-01 to 2136-02-07)",
                    self.collected_at_unix
                ),
            ));
        }
        Ok(self)
    }

    /// Fills empty fields with deterministic synthetic values derived from `seed`, so test
    /// devices are reproducible: a v4 UUID, one locally administered MAC, an NVMe-style disk
    /// serial, a 256-byte pseudo-random EK (top bit set, odd, like an RSA modulus), TPM version,
    /// SKU/family/BIOS vendor/system version, Windows 11 24H2 and a collection time in 2025.
    /// `serial_number`, `manufacturer`, `model` and `product_key_id` are left alone (a PKID
    /// only exists on OA3-activated hardware, so none is invented).
    pub fn fill_defaults(&mut self, seed: &[u8]) {
        let mut rng = DetRng::new(seed);
        if self.smbios_uuid.is_empty() {
            let mut b = rng.bytes(16);
            // Canonical (big-endian) byte 6 holds the version, byte 8 the variant; in wire
            // order the version nibble is in byte 7.
            if let (Some(v), Some(var)) = (b.get(7).copied(), b.get(8).copied()) {
                b[7] = (v & 0x0f) | 0x40;
                b[8] = (var & 0x3f) | 0x80;
            }
            self.smbios_uuid = uuid_from_wire(&b).unwrap_or_default();
        }
        if self.mac_addresses.is_empty() {
            let mut b = rng.bytes(6);
            if let Some(first) = b.first_mut() {
                *first = (*first & 0xfc) | 0x02; // unicast, locally administered
            }
            self.mac_addresses.push(mac_to_string(&b));
        }
        if self.disk_serial.is_empty() {
            let h = hex::encode_upper(rng.bytes(8));
            self.disk_serial = format!(
                "ZTD0_{}_{}_{}_{}.",
                &h[0..4],
                &h[4..8],
                &h[8..12],
                &h[12..16]
            );
        }
        if self.disk_model.is_empty() {
            self.disk_model = "ZTD VIRTUAL NVME 512G".to_owned();
        }
        if self.tpm_ek_public.is_empty() {
            let mut ek = rng.bytes(256);
            if let Some(first) = ek.first_mut() {
                *first |= 0x80;
            }
            if let Some(last) = ek.last_mut() {
                *last |= 0x01;
            }
            self.tpm_ek_public = ek;
        }
        if self.tpm_version.is_empty() {
            self.tpm_version =
                "TPM-Version:2.0 -Level:0-Revision:1.59-VendorID:'ZTD '-Firmware:1.0".to_owned();
        }
        if self.sku.is_empty() {
            self.sku = format!("{}-SKU", self.model.replace(' ', "-")).to_uppercase();
        }
        if self.family.is_empty() {
            self.family = self.model.clone();
        }
        if self.bios_vendor.is_empty() {
            self.bios_vendor = self.manufacturer.clone();
        }
        if self.system_version.is_empty() {
            self.system_version = "1.0".to_owned();
        }
        if self.os_version == OsVersion::default() {
            self.os_version = OsVersion::WINDOWS_11_24H2;
        }
        if self.collected_at_unix == 0 {
            // 2025-01-01T00:00:00Z plus up to a year.
            let span = 365 * 86_400;
            self.collected_at_unix = 1_735_689_600 + (rng.u64() % span) as i64;
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> HashError {
    HashError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn check_string(field: &'static str, s: &str) -> Result<(), HashError> {
    if s.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    if s.len() > MAX_STRING_BYTES {
        return Err(invalid(
            field,
            format!("{} bytes is longer than {MAX_STRING_BYTES}", s.len()),
        ));
    }
    Ok(())
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = clean_str(s, MAX_STRING_BYTES).as_bytes().to_vec();
    v.push(0);
    v
}

/// Splits the type-7/28 text `"{serial}|{model}|"`; other shapes are all serial.
fn split_disk(s: &str) -> (String, String) {
    if let Some(inner) = s.strip_suffix('|') {
        if let Some((serial, model)) = inner.split_once('|') {
            return (serial.to_owned(), model.to_owned());
        }
    }
    (s.to_owned(), String::new())
}

fn string_of(h: &HardwareHash, kind: u16) -> String {
    h.record(kind).map(|r| cstr(&r.value)).unwrap_or_default()
}

fn disk_of(h: &HardwareHash) -> Option<(String, String)> {
    h.record(7)
        .or_else(|| h.record(28))
        .map(|r| split_disk(&cstr(&r.value)))
}

fn macs_of(h: &HardwareHash) -> impl Iterator<Item = String> + '_ {
    h.records()
        .iter()
        .filter(|r| r.kind == 8)
        .filter_map(|r| r.value.get(4..10).map(mac_to_string))
}

pub fn describe(h: &HardwareHash) -> DeviceDescription {
    let os = h.record(1).map(|r| r.value.as_slice()).unwrap_or_default();
    let (disk_serial, disk_model) = disk_of(h).unwrap_or_default();
    DeviceDescription {
        serial_number: string_of(h, 14),
        manufacturer: string_of(h, 16),
        model: string_of(h, 17),
        smbios_uuid: h
            .record(12)
            .and_then(|r| uuid_from_wire(&r.value))
            .unwrap_or_default(),
        mac_addresses: macs_of(h).collect(),
        disk_serial,
        disk_model,
        tpm_ek_public: h.record(25).map(|r| r.value.clone()).unwrap_or_default(),
        tpm_version: string_of(h, 13),
        product_key_id: h.record(24).map(|r| cstr(&r.value)),
        collected_at_unix: u32_at(os, 16)
            .map(|s| EPOCH_2000_UNIX + i64::from(s))
            .unwrap_or_default(),
        os_version: OsVersion::from_wire(os, 8).unwrap_or_default(),
        sku: string_of(h, 18),
        family: string_of(h, 19),
        bios_vendor: string_of(h, 15),
        system_version: string_of(h, 23),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

pub fn identity(h: &HardwareHash) -> HardwareIdentity {
    let text = |kind| h.record(kind).and_then(|r| non_empty(&cstr(&r.value)));
    let smbios_uuid = h
        .record(12)
        .filter(|r| !r.value.iter().all(|&b| b == 0) && !r.value.iter().all(|&b| b == 0xff))
        .and_then(|r| uuid_from_wire(&r.value));
    let tpm_ek_pub_hash = h
        .record(11)
        .and_then(|r| r.value.get(10..42))
        .map(hex::encode)
        .or_else(|| {
            h.record(25)
                .filter(|r| !r.value.is_empty())
                .map(|r| hex::encode(Sha256::digest(&r.value)))
        });
    let mut mac_addresses: Vec<String> = Vec::new();
    for m in macs_of(h) {
        if !mac_addresses.contains(&m) {
            mac_addresses.push(m);
        }
    }
    HardwareIdentity {
        serial_number: text(14),
        manufacturer: text(16),
        model: text(17),
        smbios_uuid,
        tpm_ek_pub_hash,
        mac_addresses,
        disk_serial: disk_of(h).and_then(|(s, _)| non_empty(&s)),
        product_key_id: text(24),
    }
}

/// Records in the order Windows writes them (as in the reference samples).
pub fn generate_records(d: &DeviceDescription) -> Vec<Record> {
    let mut r = Vec::with_capacity(40);

    // 1: ToolBuild, OsBuild, OsSystemTime, local offset 0, FullOS, x64, tool version 9.
    let secs = d
        .collected_at_unix
        .clamp(EPOCH_2000_UNIX, MAX_COLLECTED_AT_UNIX)
        - EPOCH_2000_UNIX;
    let mut os = Vec::with_capacity(24);
    os.extend_from_slice(&d.os_version.to_wire());
    os.extend_from_slice(&d.os_version.to_wire());
    os.extend_from_slice(&u32::try_from(secs).unwrap_or(u32::MAX).to_le_bytes());
    os.extend_from_slice(&[0, 2, 9, 9]);
    r.push(Record::new(1, os));

    // 2: x64, 1 package, 4 cores, 8 threads, hyper-threading.
    r.push(Record::new(2, [9, 0, 1, 0, 4, 0, 8, 0, 1, 0, 0, 0]));
    // 5: 16 GB RAM, 64 GB max, 2 slots, 1 array, no ECC.
    let mut mem = vec![0u8; 21];
    mem[0] = 16;
    mem[8] = 64;
    mem[16] = 2;
    mem[18] = 1;
    mem[20] = 3;
    r.push(Record::new(5, mem));
    r.push(Record::new(3, b"GenuineIntel\0".to_vec()));
    let mut cpu = b"ZTD Synthetic CPU @ 2.00GHz".to_vec();
    cpu.resize(48, 0);
    r.push(Record::new(4, cpu));
    // 6: 512 GB NVMe SSD.
    r.push(Record::new(6, [0, 2, 0, 0, 0, 0, 0, 0, 17, 0, 0, 1]));

    let has_disk = !d.disk_serial.is_empty() || !d.disk_model.is_empty();
    let disk_text = format!(
        "{}|{}|",
        clean_str(&d.disk_serial, MAX_STRING_BYTES),
        clean_str(&d.disk_model, MAX_STRING_BYTES)
    );
    if has_disk {
        r.push(Record::new(7, disk_text.as_bytes().to_vec()));
    }

    // 8: first adapter Ethernet, the rest 802.11; PCI enumerator.
    let macs = d.mac_addresses.iter().filter_map(|m| parse_mac(m));
    for (i, mac) in macs.take(MAX_MACS).enumerate() {
        let medium: u32 = if i == 0 { 14 } else { 9 };
        let enumerator = to_utf16le("PCI\0");
        let mut v = Vec::with_capacity(22);
        v.extend_from_slice(&medium.to_le_bytes());
        v.extend_from_slice(&mac);
        v.extend_from_slice(&(enumerator.len() as u32).to_le_bytes());
        v.extend_from_slice(&enumerator);
        r.push(Record::new(8, v));
    }

    // 9: 344x194 mm, 1920x1080; 27: 34x19 cm; 10: notebook, mobile.
    r.push(Record::new(
        9,
        [
            0x58, 0x01, 0xc2, 0x00, 0x80, 0x07, 0x38, 0x04, 0, 0, 0, 0x80,
        ],
    ));
    r.push(Record::new(27, [34, 0, 19, 0]));
    r.push(Record::new(10, [10, 2, 1, 0, 0]));

    if !d.tpm_version.is_empty() {
        r.push(Record::new(13, nul_terminated(&d.tpm_version)));
    }
    if !d.tpm_ek_public.is_empty() {
        let ek = d
            .tpm_ek_public
            .get(..MAX_EK_BYTES)
            .unwrap_or(&d.tpm_ek_public);
        r.push(Record::new(25, ek.to_vec()));
        let mut id = vec![0, 0, 0, 0, 1, 0, 32, 0, 0, 0];
        id.extend_from_slice(&Sha256::digest(ek));
        r.push(Record::new(11, id));
    }
    if let Some(wire) = uuid_to_wire(&d.smbios_uuid) {
        r.push(Record::new(12, wire.to_vec()));
    }
    r.push(Record::new(14, nul_terminated(&d.serial_number)));
    r.push(Record::new(15, nul_terminated(&d.bios_vendor)));
    r.push(Record::new(16, nul_terminated(&d.manufacturer)));
    r.push(Record::new(17, nul_terminated(&d.model)));
    r.push(Record::new(18, nul_terminated(&d.sku)));
    r.push(Record::new(19, nul_terminated(&d.family)));
    r.push(Record::new(23, nul_terminated(&d.system_version)));
    r.push(Record::new(20, nul_terminated(&d.manufacturer)));
    r.push(Record::new(21, b"ZTD-BOARD\0".to_vec()));
    r.push(Record::new(22, b"1.0\0".to_vec()));
    if let Some(pkid) = &d.product_key_id {
        r.push(Record::new(24, nul_terminated(pkid)));
        r.push(Record::new(26, b"[TH]ztd-v0000\0".to_vec()));
    }
    if has_disk {
        let mut v = disk_text.into_bytes();
        v.push(0);
        r.push(Record::new(28, v));
    }
    // 29: 128 MiB dedicated video memory; 30: GPU "vendor|name".
    r.push(Record::new(
        29,
        [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1],
    ));
    r.push(Record::new(
        30,
        to_utf16le("ZTD|ZTD Synthetic Display Adapter"),
    ));
    r
}
