//! Errors from decoding, validating and building hardware hashes.
//!
//! Every variant names the byte offset (into the decoded binary, not the base64 text) where
//! the problem was found, so a user can compare against a hex dump.

/// Why a hardware hash (or a description used to build one) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The text was empty after trimming whitespace.
    #[error("the hardware hash is empty; paste the 4000-character 'Hardware Hash' value")]
    Empty,

    /// The text is not standard base64 (alphabet `A-Z a-z 0-9 + /`, optional `=` padding).
    #[error("the hardware hash is not valid base64 ({reason}); copy the 'Hardware Hash' column value exactly, without quotes or other columns")]
    NotBase64 {
        /// What the base64 decoder reported (includes the character offset).
        reason: String,
    },

    /// The decoded binary does not have the size the header implies (3000 bytes for a standard hash).
    #[error("the hardware hash decodes to {len} bytes but {expected} were expected (4000 base64 characters); it was probably truncated or padded when copied")]
    WrongLength {
        /// Decoded length in bytes.
        len: usize,
        /// Length implied by the header (3000 unless the records do not fit).
        expected: usize,
    },

    /// The first two bytes are not `OA` (`4F 41`).
    #[error("bad magic at offset 0: found {found:02x?}, expected [4f, 41] (\"OA\"); this is not a 4K hardware hash")]
    BadMagic {
        /// The two bytes found at offset 0.
        found: [u8; 2],
    },

    /// The `totalLength` field at offset 2 cannot be right for this buffer.
    #[error("bad totalLength {total_length} at offset 2: must be at least 4 and leave 36 bytes for the checksum record within {len} bytes")]
    BadTotalLength {
        /// The value found at offset 2.
        total_length: u16,
        /// Size of the decoded buffer.
        len: usize,
    },

    /// A record header declares a length smaller than its own 4-byte header.
    #[error("record at offset {offset} (type {kind}) declares length {length}, less than its 4-byte header; the hash is corrupt")]
    BadRecordLength {
        /// Offset of the record header.
        offset: usize,
        /// Record type.
        kind: u16,
        /// Declared length.
        length: u16,
    },

    /// A record (or its header) runs past `totalLength`.
    #[error("record at offset {offset} (type {kind}, length {length}) runs past totalLength {total_length}; the hash is corrupt or was edited")]
    TruncatedRecord {
        /// Offset of the record header.
        offset: usize,
        /// Record type (0 when the header itself is cut off).
        kind: u16,
        /// Declared length (0 when the header itself is cut off).
        length: u16,
        /// The `totalLength` from the header.
        total_length: usize,
    },

    /// No `CS` checksum record at `totalLength`.
    #[error("no checksum record at offset {offset}: expected tag 43 53 (\"CS\") and length 36, found {found:02x?}; the hash is corrupt or not produced by Windows")]
    MissingChecksum {
        /// Offset where the checksum record should start (= totalLength).
        offset: usize,
        /// The (up to) 4 bytes found there.
        found: Vec<u8>,
    },

    /// The SHA-256 in the `CS` record does not match bytes `[0, totalLength)`.
    #[error("checksum mismatch: the SHA-256 at offset {offset} is {stored} but bytes 0..{covered} hash to {computed}; the hash was altered or damaged in transit")]
    ChecksumMismatch {
        /// Offset of the 32-byte digest.
        offset: usize,
        /// Number of bytes covered (= totalLength).
        covered: usize,
        /// Digest stored in the hash (lowercase hex).
        stored: String,
        /// Digest computed over the signed part (lowercase hex).
        computed: String,
    },

    /// Bytes after the checksum record are not all zero.
    #[error("non-zero byte at offset {offset} in the padding after the checksum record; the hash was altered")]
    NonZeroPadding {
        /// Offset of the first non-zero padding byte.
        offset: usize,
    },

    /// The records would not fit in the 16-bit length fields of the format.
    #[error("records need {needed} bytes before the checksum but the format allows at most {max}")]
    TooLarge {
        /// Bytes needed for header plus records.
        needed: usize,
        /// Maximum (65535).
        max: usize,
    },

    /// A device description field cannot be encoded (see [`crate::DeviceDescription::normalized`]).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Field name as in [`crate::DeviceDescription`].
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
}
