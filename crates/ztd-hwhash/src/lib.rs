//! Decode, verify, re-encode and generate Windows Autopilot 4K hardware hashes
//! (`DeviceHardwareData`, the "Hardware Hash" CSV column).
//!
//! # Container layout
//!
//! The text form is standard base64 of (normally) **3000 bytes** = 4000 characters. All integers
//! are little-endian.
//!
//! | Offset | Size | Content |
//! |---|---|---|
//! | 0 | 2 | magic `4F 41` (`"OA"`) |
//! | 2 | 2 | `totalLength`: offset of the checksum record = length of the signed part |
//! | 4 | … | records `u16 type, u16 length (incl. the 4-byte header), value` up to `totalLength` |
//! | totalLength | 36 | `43 53` (`"CS"`), `u16 0x0024`, SHA-256 over bytes `[0, totalLength)` |
//! | … | to 3000 | zero padding |
//!
//! The checksum record is not documented anywhere public; it was verified on three real hashes
//! (see the project research notes). [`HardwareHash::decode`] requires it.
//!
//! Records are kept verbatim and in order, including unknown types (34, 35, 37 are seen on
//! recent hardware), so `encode(decode(b)) == b` for every hash `decode` accepts.
//!
//! # Sizes
//!
//! A hash whose records do not fit in 3000 bytes cannot come from Windows, but `generate` can
//! build one from long strings. Rather than fail, [`HardwareHash::encode`] then emits exactly
//! `totalLength + 36` bytes with no padding, and `decode` accepts precisely that size (and
//! otherwise exactly 3000). Anything else is [`HashError::WrongLength`].
//!
//! # Record types
//!
//! See [`fields`](HardwareHash::fields) for names. Interpretations come from the
//! MrWyss/Niehaus decoders plus our own verification; these are **inferred** and may be wrong:
//! types 20–22 are read as baseboard manufacturer/product/version, type 27 as display size
//! in cm, the UTF-16 enumerator tail of type 8, type 29 as video memory, the local-time offset
//! byte of type 1 (15-minute units).
//!
//! # SMBIOS UUID byte order
//!
//! Type 12 holds the 16 raw SMBIOS bytes. We read and write them with the **first three
//! fields little-endian** (SMBIOS ≥ 2.6 / Windows `Win32_ComputerSystemProduct.UUID`
//! convention): wire `33 22 11 00 55 44 77 66 88 99 AA BB CC DD EE FF` is
//! `00112233-4455-6677-8899-aabbccddeeff`. With this order real HP and Lenovo hashes give
//! valid version-4 UUIDs; the Python decoder's big-endian reading does not.
//!
//! # Collection time
//!
//! Type 1 stores seconds since 2000-01-01T00:00:00Z as `u32`;
//! [`DeviceDescription::collected_at_unix`] exposes Unix seconds (representable range
//! 946684800 ..= 946684800 + 2^32 - 1; `generate` clamps).

#![forbid(unsafe_code)]

mod describe;
mod error;
mod fields;
mod util;

use sha2::{Digest, Sha256};

pub use describe::{
    DeviceDescription, HardwareIdentity, OsVersion, MAX_COLLECTED_AT_UNIX, MAX_EK_BYTES, MAX_MACS,
    MAX_STRING_BYTES,
};
pub use error::HashError;
pub use fields::Field;

/// Size of a standard hash in bytes (4000 base64 characters).
pub const STANDARD_LEN: usize = 3000;
/// Size of the `CS` checksum record.
pub const CHECKSUM_RECORD_LEN: usize = 36;
/// Largest possible signed part: `totalLength` is a `u16`.
pub const MAX_SIGNED_LEN: usize = u16::MAX as usize;

const MAGIC: [u8; 2] = *b"OA";
const CS_TAG: [u8; 2] = *b"CS";

/// One type/length/value record, value without the 4-byte header.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Record type (1..=30 known, see the crate docs).
    pub kind: u16,
    /// Raw value bytes, exactly as on the wire.
    pub value: Vec<u8>,
}

impl Record {
    /// Builds a record from a type and value.
    pub fn new(kind: u16, value: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

/// A decoded 4K hardware hash: the ordered records, preserved exactly.
///
/// Invariant: the records fit the format (`4 + Σ(4 + len) <= 65535`), so [`encode`](Self::encode)
/// cannot fail. Construct with [`decode`](Self::decode), [`from_base64`](Self::from_base64),
/// [`from_records`](Self::from_records) or [`generate`](Self::generate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareHash {
    records: Vec<Record>,
}

fn base64_engine() -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_encode_padding(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

fn signed_len(records: &[Record]) -> usize {
    records.iter().fold(4usize, |acc, r| {
        acc.saturating_add(4).saturating_add(r.value.len())
    })
}

impl HardwareHash {
    /// Parses the base64 text form. Surrounding and embedded ASCII whitespace (line breaks
    /// from e-mail or PDFs) is ignored; `=` padding is optional.
    pub fn from_base64(text: &str) -> Result<Self, HashError> {
        let is_noise = |c: char| c.is_ascii_whitespace() || c == '\u{feff}';
        // The usual input has nothing to strip: decode it in place instead of copying 4,000 characters.
        let trimmed = text.trim_matches(is_noise);
        let owned: String;
        let compact = if trimmed.contains(is_noise) {
            owned = trimmed.chars().filter(|c| !is_noise(*c)).collect();
            owned.as_str()
        } else {
            trimmed
        };
        if compact.is_empty() {
            return Err(HashError::Empty);
        }
        let bytes = base64::Engine::decode(&base64_engine(), compact.as_bytes()).map_err(|e| {
            HashError::NotBase64 {
                reason: e.to_string(),
            }
        })?;
        Self::decode(&bytes)
    }

    /// Parses and verifies the binary form: magic, `totalLength`, the record walk, the `CS`
    /// SHA-256 trailer and zero padding. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, HashError> {
        let len = bytes.len();
        let (Some(&m0), Some(&m1), Some(&t0), Some(&t1)) =
            (bytes.first(), bytes.get(1), bytes.get(2), bytes.get(3))
        else {
            return Err(HashError::WrongLength {
                len,
                expected: STANDARD_LEN,
            });
        };
        if [m0, m1] != MAGIC {
            return Err(HashError::BadMagic { found: [m0, m1] });
        }
        let total_length = u16::from_le_bytes([t0, t1]);
        let total = usize::from(total_length);
        let needed = total + CHECKSUM_RECORD_LEN;
        if total < 4 || (len == STANDARD_LEN && needed > STANDARD_LEN) {
            return Err(HashError::BadTotalLength { total_length, len });
        }
        let expected = needed.max(STANDARD_LEN);
        if len != expected {
            return Err(HashError::WrongLength { len, expected });
        }

        // Checksum first: a bit flip anywhere is best reported as "damaged", not as a
        // structural error at some offset.
        let trailer = bytes.get(total..needed).unwrap_or_default();
        if trailer.get(0..2) != Some(&CS_TAG[..]) || trailer.get(2..4) != Some(&[0x24, 0x00][..]) {
            return Err(HashError::MissingChecksum {
                offset: total,
                found: trailer.iter().take(4).copied().collect(),
            });
        }
        let stored = trailer.get(4..).unwrap_or_default();
        let computed = Sha256::digest(bytes.get(..total).unwrap_or_default());
        if stored != computed.as_slice() {
            return Err(HashError::ChecksumMismatch {
                offset: total + 4,
                covered: total,
                stored: hex::encode(stored),
                computed: hex::encode(computed),
            });
        }

        let mut records = Vec::new();
        let mut offset = 4usize;
        while offset < total {
            let header = bytes
                .get(offset..offset + 4)
                .filter(|_| offset + 4 <= total);
            let Some(&[k0, k1, l0, l1]) = header else {
                return Err(HashError::TruncatedRecord {
                    offset,
                    kind: 0,
                    length: 0,
                    total_length: total,
                });
            };
            let kind = u16::from_le_bytes([k0, k1]);
            let length = u16::from_le_bytes([l0, l1]);
            let rec_len = usize::from(length);
            if rec_len < 4 {
                return Err(HashError::BadRecordLength {
                    offset,
                    kind,
                    length,
                });
            }
            let end = offset + rec_len;
            let Some(value) = bytes.get(offset + 4..end).filter(|_| end <= total) else {
                return Err(HashError::TruncatedRecord {
                    offset,
                    kind,
                    length,
                    total_length: total,
                });
            };
            records.push(Record::new(kind, value));
            offset = end;
        }

        if let Some(pos) = bytes
            .get(needed..)
            .unwrap_or_default()
            .iter()
            .position(|&b| b != 0)
        {
            return Err(HashError::NonZeroPadding {
                offset: needed + pos,
            });
        }
        Ok(Self { records })
    }

    /// Builds a hash from records (any types, any order), checking they fit the format.
    pub fn from_records(records: Vec<Record>) -> Result<Self, HashError> {
        let needed = signed_len(&records);
        if needed > MAX_SIGNED_LEN {
            return Err(HashError::TooLarge {
                needed,
                max: MAX_SIGNED_LEN,
            });
        }
        Ok(Self { records })
    }

    /// Serialises to binary with a fresh `CS` trailer: 3000 bytes, or exactly
    /// `totalLength + 36` if the records do not fit in 3000 (see the crate docs).
    pub fn encode(&self) -> Vec<u8> {
        let total = signed_len(&self.records);
        let mut out = Vec::with_capacity((total + CHECKSUM_RECORD_LEN).max(STANDARD_LEN));
        out.extend_from_slice(&MAGIC);
        // The constructor invariant guarantees total <= u16::MAX; saturate rather than panic.
        out.extend_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_le_bytes());
        for r in &self.records {
            let len = u16::try_from(r.value.len() + 4).unwrap_or(u16::MAX);
            out.extend_from_slice(&r.kind.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&r.value);
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&CS_TAG);
        out.extend_from_slice(&(CHECKSUM_RECORD_LEN as u16).to_le_bytes());
        out.extend_from_slice(&digest);
        if out.len() < STANDARD_LEN {
            out.resize(STANDARD_LEN, 0);
        }
        out
    }

    /// Base64 (padded, standard alphabet) of [`encode`](Self::encode): 4000 characters for a
    /// standard-sized hash.
    pub fn to_base64(&self) -> String {
        base64::Engine::encode(&base64_engine(), self.encode())
    }

    /// Base64 of the hash without its zero padding (`totalLength + 36` bytes: about 1,400 characters
    /// instead of 4,000). Lossless, because [`decode`](Self::decode) only accepts all-zero padding;
    /// [`from_compact_base64`](Self::from_compact_base64) restores the standard form. Meant for storage.
    pub fn to_compact_base64(&self) -> String {
        let mut bytes = self.encode();
        let used = signed_len(&self.records) + CHECKSUM_RECORD_LEN;
        bytes.truncate(used);
        base64::Engine::encode(&base64_engine(), bytes)
    }

    /// The compact form of a hash given as base64 `text` that decodes to `self`, without re-encoding: the
    /// prefix of `text` that covers the signed part and the trailer (the rest decodes to zero padding). Equal to
    /// [`to_compact_base64`](Self::to_compact_base64) up to the final base64 group, and accepted by
    /// [`from_compact_base64`](Self::from_compact_base64) alike.
    pub fn compact_prefix<'t>(&self, text: &'t str) -> Option<&'t str> {
        let used = signed_len(&self.records) + CHECKSUM_RECORD_LEN;
        let chars = used.div_ceil(3) * 4;
        let trimmed = text.trim();
        (trimmed.is_ascii() && trimmed.len() >= chars).then(|| &trimmed[..chars])
    }

    /// Parses the compact form written by [`to_compact_base64`](Self::to_compact_base64) (the standard
    /// form is accepted too).
    pub fn from_compact_base64(text: &str) -> Result<Self, HashError> {
        let mut bytes =
            base64::Engine::decode(&base64_engine(), text.trim().as_bytes()).map_err(|e| {
                HashError::NotBase64 {
                    reason: e.to_string(),
                }
            })?;
        if bytes.len() < STANDARD_LEN {
            bytes.resize(STANDARD_LEN, 0);
        }
        Self::decode(&bytes)
    }

    /// The records in wire order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The first record of a type, if any.
    pub fn record(&self, kind: u16) -> Option<&Record> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// SHA-256 of the signed part, i.e. the value of the `CS` trailer.
    pub fn checksum(&self) -> [u8; 32] {
        let bytes = self.encode();
        let total = signed_len(&self.records).min(bytes.len());
        Sha256::digest(bytes.get(..total).unwrap_or_default()).into()
    }

    /// Every field of every record, named like OA3Tool where known, with a display value.
    pub fn fields(&self) -> Vec<Field> {
        self.records
            .iter()
            .flat_map(fields::record_fields)
            .collect()
    }

    /// Typed view of the fields [`generate`](Self::generate) takes.
    pub fn description(&self) -> DeviceDescription {
        describe::describe(self)
    }

    /// The fields the directory matches devices by (trimmed, `None` when absent or empty).
    pub fn identity(&self) -> HardwareIdentity {
        describe::identity(self)
    }

    /// Builds a complete, valid hash with plausible records for every known type. Fields of
    /// `desc` are written as given (see [`DeviceDescription`] for limits and what is clamped);
    /// records not covered by the description (CPU, memory, disk size, display, GPU) get fixed
    /// synthetic values. Deterministic: same input, same bytes.
    pub fn generate(desc: &DeviceDescription) -> HardwareHash {
        HardwareHash {
            records: describe::generate_records(desc),
        }
    }
}

#[cfg(test)]
mod compact_tests {
    use super::*;

    #[test]
    fn compact_form_is_lossless_and_shorter() {
        let mut description = DeviceDescription {
            serial_number: "SN-1".into(),
            manufacturer: "Contoso".into(),
            model: "M".into(),
            ..Default::default()
        };
        description.fill_defaults(b"SN-1");
        let hash = HardwareHash::generate(&description);
        let compact = hash.to_compact_base64();
        assert!(compact.len() < 2000, "{}", compact.len());
        let restored = HardwareHash::from_compact_base64(&compact).unwrap();
        assert_eq!(restored.to_base64(), hash.to_base64());
        assert_eq!(
            HardwareHash::from_compact_base64(&hash.to_base64()).unwrap(),
            hash
        );
    }
}
