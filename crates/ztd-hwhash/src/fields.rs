//! Human-readable fields for each record type (table and JSON output of `ztd hash decode`).

use crate::util::{
    cstr, format_time, mac_to_string, u16_at, u32_at, u8_at, utf16le, uuid_from_wire,
    EPOCH_2000_UNIX,
};
use crate::Record;

/// One named value from a record, for display. Names follow OA3Tool (`/DecodeHwHash`) where
/// known; invented names are used for fields OA3Tool output we have not seen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    /// Type of the record the field came from.
    pub record_type: u16,
    /// Field name, e.g. `SmbiosSystemSerialNumber`.
    pub name: String,
    /// Display value (numbers in decimal, with a label for known enums; binary as hex).
    pub value: String,
}

/// Name used for a record type as a whole (also for its raw hex when it cannot be parsed).
pub fn record_name(kind: u16) -> String {
    known_name(kind).map_or_else(|| format!("UnknownRecord{kind}"), str::to_owned)
}

fn known_name(kind: u16) -> Option<&'static str> {
    Some(match kind {
        1 => "OsInfo",
        2 => "ProcessorInfo",
        3 => "ProcessorManufacturer",
        4 => "ProcessorModel",
        5 => "MemoryInfo",
        6 => "PrimaryDiskInfo",
        7 => "DiskSerialNumber",
        8 => "NetworkAdapter",
        9 => "DisplayInfo",
        10 => "ChassisInfo",
        11 => "OfflineDeviceId",
        12 => "SmbiosUuid",
        13 => "TPMVersion",
        14 => "SmbiosSystemSerialNumber",
        15 => "SmbiosFirmwareVendor",
        16 => "SmbiosSystemManufacturer",
        17 => "SmbiosSystemProductName",
        18 => "SmbiosSkuNumber",
        19 => "SmbiosSystemFamily",
        20 => "SmbiosBaseboardManufacturer",
        21 => "SmbiosBaseboardProduct",
        22 => "SmbiosBaseboardVersion",
        23 => "SmbiosSystemVersion",
        24 => "ProductKeyID",
        25 => "TpmEkPublic",
        26 => "ProductKeyPartNumber",
        27 => "DisplaySizeCm",
        28 => "DiskSSNKernel",
        29 => "VideoMemory",
        30 => "VideoAdapterNames",
        _ => return None,
    })
}

fn label(n: u64, name: Option<&str>) -> String {
    match name {
        Some(s) => format!("{n} ({s})"),
        None => n.to_string(),
    }
}

fn arch_name(a: u64) -> Option<&'static str> {
    Some(match a {
        0 => "x86",
        5 => "ARM",
        6 => "ia64",
        9 => "x64",
        12 => "ARM64",
        _ => return None,
    })
}

fn version(v: &[u8], o: usize) -> Option<String> {
    // Wire order: minor, major, revision (UBR), build.
    let minor = u16_at(v, o)?;
    let major = u16_at(v, o + 2)?;
    let rev = u16_at(v, o + 4)?;
    let build = u16_at(v, o + 6)?;
    Some(format!("{major}.{minor}.{build}.{rev}"))
}

fn chassis_name(c: u64) -> Option<&'static str> {
    Some(match c {
        1 => "Other",
        2 => "Unknown",
        3 => "Desktop",
        4 => "Low Profile Desktop",
        6 => "Mini Tower",
        7 => "Tower",
        8 => "Portable",
        9 => "Laptop",
        10 => "Notebook",
        11 => "Hand Held",
        13 => "All in One",
        14 => "Sub Notebook",
        30 => "Tablet",
        31 => "Convertible",
        32 => "Detachable",
        35 => "Mini PC",
        _ => return None,
    })
}

fn power_role_name(r: u64) -> Option<&'static str> {
    Some(match r {
        0 => "Unspecified",
        1 => "Desktop",
        2 => "Mobile",
        3 => "Workstation",
        4 => "EnterpriseServer",
        5 => "SOHOServer",
        6 => "AppliancePC",
        7 => "PerformanceServer",
        8 => "Slate",
        _ => return None,
    })
}

fn ecc_name(e: u64) -> Option<&'static str> {
    Some(match e {
        1 => "Other",
        2 => "Unknown",
        3 => "None",
        4 => "Parity",
        5 => "Single-bit ECC",
        6 => "Multi-bit ECC",
        7 => "CRC",
        _ => return None,
    })
}

fn bus_name(b: u64) -> Option<&'static str> {
    Some(match b {
        1 => "SCSI",
        2 => "ATAPI",
        3 => "ATA",
        7 => "USB",
        8 => "RAID",
        10 => "SAS",
        11 => "SATA",
        12 => "SD",
        13 => "MMC",
        15 => "FileBackedVirtual",
        17 => "NVMe",
        _ => return None,
    })
}

fn medium_name(m: u64) -> Option<&'static str> {
    Some(match m {
        0 => "Unspecified",
        1 => "Wireless LAN",
        8 => "WWAN",
        9 => "Native 802.11",
        10 => "Bluetooth",
        14 => "Ethernet",
        _ => return None,
    })
}

/// Parsed (name, value) pairs; `None` if the value is too short for the known layout.
fn parse(kind: u16, v: &[u8]) -> Option<Vec<(&'static str, String)>> {
    let n8 = |o| u8_at(v, o).map(u64::from);
    let n16 = |o| u16_at(v, o).map(u64::from);
    let n32 = |o| u32_at(v, o).map(u64::from);
    let mut out = Vec::new();
    match kind {
        1 => {
            out.push(("ToolBuild", version(v, 0)?));
            out.push(("OsBuild", version(v, 8)?));
            let secs = i64::from(u32_at(v, 16)?);
            out.push(("OsSystemTime", format_time(EPOCH_2000_UNIX + secs, 0)));
            if let Some(off) = u8_at(v, 20) {
                let off = i64::from(off as i8) * 900;
                out.push(("OsLocalTime", format_time(EPOCH_2000_UNIX + secs, off)));
            }
            if let Some(t) = n8(21) {
                out.push(("OSType", label(t, (t == 2).then_some("FullOS"))));
            }
            if let Some(a) = n8(22) {
                out.push(("OsCpuArchitecture", label(a, arch_name(a))));
            }
            if let Some(t) = n8(23) {
                out.push(("ToolVersion", t.to_string()));
            }
        }
        2 => {
            let a = n16(0)?;
            out.push(("ProcessorArchitecture", label(a, arch_name(a))));
            out.push(("ProcessorPackages", n16(2)?.to_string()));
            out.push(("ProcessorCores", n16(4)?.to_string()));
            out.push(("ProcessorThreads", n16(6)?.to_string()));
            out.push(("ProcessorHyperThreading", n8(8)?.to_string()));
        }
        3 => out.push(("ProcessorManufacturer", cstr(v))),
        4 => out.push(("ProcessorModel", cstr(v))),
        5 => {
            out.push(("TotalPhysicalRAM", format!("{} GB", n16(0)?)));
            out.push(("SmbiosRamMaximumCapacity", format!("{} GB", n16(8)?)));
            out.push(("SmbiosRamSlots", n16(16)?.to_string()));
            out.push(("SmbiosRamArrayCount", n16(18)?.to_string()));
            let e = n8(20)?;
            out.push(("SmbiosRamErrorCorrection", label(e, ecc_name(e))));
        }
        6 => {
            out.push(("PrimaryDiskTotalCapacity", format!("{} GB", n32(0)?)));
            let b = n8(8)?;
            out.push(("PrimaryDiskBusType", label(b, bus_name(b))));
            let t = n8(10)?;
            let tn = match t {
                0 => Some("SSD"),
                255 => Some("HDD"),
                _ => None,
            };
            out.push(("PrimaryDiskType", label(t, tn)));
        }
        7 => out.push(("DiskSerialNumber", cstr(v))),
        8 => {
            let m = n32(0)?;
            out.push(("NetworkPhysicalMedium", label(m, medium_name(m))));
            out.push(("MacAddress", mac_to_string(v.get(4..10)?)));
            if let Some(rest) = v.get(14..) {
                out.push(("NetworkEnumerator", utf16le(rest)));
            }
        }
        9 => {
            out.push(("DisplayPhysicalWidth", format!("{} mm", n16(0)?)));
            out.push(("DisplayPhysicalHeight", format!("{} mm", n16(2)?)));
            out.push(("DisplayResolutionHorizontal", n16(4)?.to_string()));
            out.push(("DisplayResolutionVertical", n16(6)?.to_string()));
        }
        10 => {
            let c = n8(0)?;
            out.push(("ChassisType", label(c, chassis_name(c))));
            let r = n8(1)?;
            out.push(("PowerPlatformRole", label(r, power_role_name(r))));
        }
        11 => {
            let t = n16(4)?;
            let tn = match t {
                1 => Some("TPM_EK"),
                2 => Some("UEFI_VARIABLE_TPM"),
                _ => None,
            };
            out.push(("OfflineDeviceIdType", label(t, tn)));
            out.push(("EkPubHash", hex::encode(v.get(10..42)?)));
        }
        12 => out.push(("SmbiosUuid", uuid_from_wire(v)?)),
        13 => out.push(("TPMVersion", cstr(v))),
        14..=24 | 26 => out.push((known_name(kind)?, cstr(v))),
        25 => out.push(("TpmEkPublic", hex::encode(v))),
        27 => out.push(("DisplaySizeCm", format!("{} x {}", n16(0)?, n16(2)?))),
        28 => out.push(("DiskSSNKernel", cstr(v))),
        29 => {
            out.push(("VideoMemoryDedicated", n32(0)?.to_string()));
            out.push(("VideoMemorySystem", n32(4)?.to_string()));
        }
        30 => out.push(("VideoAdapterNames", utf16le(v))),
        _ => return None,
    }
    Some(out)
}

/// Fields of one record; unknown or malformed records become one hex field so nothing is hidden.
pub fn record_fields(r: &Record) -> Vec<Field> {
    match parse(r.kind, &r.value) {
        Some(pairs) => pairs
            .into_iter()
            .map(|(name, value)| Field {
                record_type: r.kind,
                name: name.to_owned(),
                value,
            })
            .collect(),
        None => vec![Field {
            record_type: r.kind,
            name: record_name(r.kind),
            value: hex::encode(&r.value),
        }],
    }
}
