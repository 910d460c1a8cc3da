//! Hardware-hash CSV files (Get-WindowsAutopilotInfo output, the Intune 5-column import
//! format, the Partner Center tuple form, `Import-AutopilotCSV` files with `OrderID`).
//!
//! [`HashCsvReader`] streams: memory is bounded by a 256 KiB sniffing prefix plus the
//! decoder/CSV buffers and one row of at most [`MAX_ROW_BYTES`], whatever the file holds
//! (about 1 MiB in all), including a file without a single line break.
//!
//! # Caps
//!
//! Sizes are bytes of the values as read (UTF-16 is measured after transcoding to UTF-8),
//! without the quotes and commas around them; a value never has more characters than its cap
//! in bytes (a Windows-1252 byte decodes to one character of up to 3 UTF-8 bytes).
//!
//! | cap | value | why |
//! | --- | --- | --- |
//! | header line ([`MAX_HEADER_BYTES`]) | 4 KiB | the longest accepted header is 105 bytes |
//! | one value ([`MAX_FIELD_BYTES`]) | 96 KiB | a 4K hash is 4,000 base64 characters; the largest hash `ztd-hwhash` decodes is 87,428 |
//! | one row ([`MAX_ROW_BYTES`]) | 128 KiB | a hash at the value cap plus 32 KiB for the other values |
//! | fields in a row ([`MAX_FIELDS`]) | 64 | a header has at most 8 columns |
//!
//! * A first line over the header cap is [`CsvFileError::HeaderTooLong`]; reading stops there
//!   (a 2 GB file without line breaks costs 4 KiB, not 2 GB).
//! * A file whose first line holds NUL or other control bytes (anything below 0x20 but tab,
//!   CR and LF, and DEL), or whose first 8 KiB do and whose header is not one we know, is
//!   [`CsvFileError::Binary`] ("not a text CSV file (binary content)"), not a wrong header.
//! * A row over a cap, or with a control byte in a value, is a [`RowError`] naming the row,
//!   the line, the column (for a value) and the size; the reader reads past it, dropping
//!   its bytes, and goes on with the next row.
//! * Errors never quote more than an [`excerpt`](crate::excerpt) of the input: control
//!   characters escaped, at most 80 characters, `…` when cut.
//!
//! Decisions (research notes §1.3, §4.2, §7; where they are silent, ours):
//!
//! * **Encoding.** BOM `FF FE` → UTF-16LE, `FE FF` → UTF-16BE, `EF BB BF` → UTF-8. Without
//!   a BOM the first 256 KiB are checked: valid UTF-8 → [`CsvEncoding::Utf8`], otherwise
//!   [`CsvEncoding::Windows1252`] (ANSI). In a file sniffed as UTF-8, a later field that is
//!   not valid UTF-8 is decoded as Windows-1252 (ANSI bytes after the prefix are not lost).
//!   A field that still contains U+FFFD after decoding (for example an unpaired UTF-16
//!   surrogate) is a row error.
//! * **UTF-16 with an odd byte count.** Detected in [`HashCsvReader::new`] when the whole
//!   file fits in the prefix ([`CsvFileError::OddUtf16Length`]); for longer files the
//!   dangling byte is dropped and reported as a final [`RowError`] with `row == 0` (see
//!   [`RowError::is_file_error`]).
//! * **Header.** Names are compared case-insensitively after trimming whitespace; the header
//!   must be exactly one of the column lists of [`CsvDialect`] (in that order), except that
//!   a header with an `OrderID` column maps columns by name in any order
//!   ([`CsvDialect::OrderIdColumn`]). Intune itself is case-sensitive and rejects quotes,
//!   so [`HashCsvReader::header_is_exact`] reports whether the header was byte-for-byte the
//!   canonical one (callers may warn). An unknown column is rejected with its name, as
//!   Intune rejects extra columns.
//! * **Rows.** Lines where every field is blank (including `,,,,` rows Excel leaves behind)
//!   are skipped and do not count as rows. A row with a different number of fields than the
//!   header, or without a serial number, is a [`RowError`]; reading continues. Values are
//!   trimmed; empty optional values are `None`. `OrderID` is used as the group tag when
//!   `Group Tag` is absent or empty (`Import-AutopilotCSV`).
//! * **Partner rows** may leave the serial empty when a hash or product key is given
//!   (Partner Center accepts hash-only and PKID-only rows); a row with a serial but neither
//!   hash nor product key needs manufacturer and model (the tuple).
//! * Line numbers count line feeds (a lone CR is not a line break for numbering).
//! * The hash is not decoded or validated here; the caller does that.
//!
//! [`write_hash_csv`] writes the Get-WindowsAutopilotInfo bytes (UTF-16LE BOM, CRLF, no
//! quotes, trailing CRLF) or any other [`CsvEncoding`]; [`write_hash_csv_with`] also offers
//! LF and quoting for tests. Characters Windows-1252 cannot represent are written as `?`
//! (what PowerShell's ANSI encoder does).

use std::borrow::Borrow;
use std::fmt;
use std::io::{self, BufWriter, Chain, Cursor, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use crate::records::{Oversize, Records};
pub use crate::text::CsvEncoding;
use crate::text::{decode_field, excerpt, read_full, sniff, EvenBytes};

/// Bytes read up front to sniff the encoding.
const SNIFF_LEN: usize = 256 * 1024;
/// Bytes at the start of an 8-bit file checked for control bytes (as `git` and `grep` do).
const BINARY_SNIFF_LEN: usize = 8 * 1024;
/// Buffer size for the decoder and the CSV parser.
const BUF_LEN: usize = 256 * 1024;

/// Longest header line kept, in bytes: far more than any accepted header (the longest is
/// 105 bytes); a longer first line is not a hardware-hash header.
pub const MAX_HEADER_BYTES: usize = 4 * 1024;
/// Longest value of a field, in bytes: a standard 4K hash is 4,000 base64 characters, and the
/// largest hash `ztd-hwhash` decodes (a 65,535-byte signed part plus its 36-byte trailer) is
/// 87,428, so every decodable hash fits.
pub const MAX_FIELD_BYTES: usize = 96 * 1024;
/// Longest row, in bytes (the values without quotes and commas): a hash at the field cap plus
/// 32 KiB for the other values.
pub const MAX_ROW_BYTES: usize = 128 * 1024;
/// Most fields in a row (a header has at most 8 columns).
pub const MAX_FIELDS: usize = 64;

/// Intune's documented maximum number of device rows per imported CSV.
pub const INTUNE_MAX_ROWS: usize = 500;

/// `Device Serial Number`
pub const COL_SERIAL: &str = "Device Serial Number";
/// `Windows Product ID`
pub const COL_PRODUCT_ID: &str = "Windows Product ID";
/// `Hardware Hash`
pub const COL_HASH: &str = "Hardware Hash";
/// `Group Tag`
pub const COL_GROUP_TAG: &str = "Group Tag";
/// `Assigned User`
pub const COL_ASSIGNED_USER: &str = "Assigned User";
/// `Manufacturer name`
pub const COL_MANUFACTURER: &str = "Manufacturer name";
/// `Device model`
pub const COL_MODEL: &str = "Device model";
/// `OrderID`
pub const COL_ORDER_ID: &str = "OrderID";

/// The column layout of a hardware-hash CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CsvDialect {
    /// `Device Serial Number,Windows Product ID,Hardware Hash` (Get-WindowsAutopilotInfo default).
    GetWindowsAutopilotInfo3,
    /// The default plus `Group Tag` (`-GroupTag`).
    WithGroupTag,
    /// Plus `Group Tag,Assigned User`: Intune's documented 5-column import format.
    IntuneFiveColumn,
    /// `...,Hardware Hash,Manufacturer name,Device model` (Partner Center, `-Partner`).
    Partner,
    /// A header with an `OrderID` column (read by name, any order;
    /// `Import-AutopilotCSV` uses it as the group tag). Written as
    /// `Device Serial Number,Windows Product ID,Hardware Hash,OrderID`.
    OrderIdColumn,
}

impl CsvDialect {
    /// Every dialect.
    pub const ALL: [CsvDialect; 5] = [
        CsvDialect::GetWindowsAutopilotInfo3,
        CsvDialect::WithGroupTag,
        CsvDialect::IntuneFiveColumn,
        CsvDialect::Partner,
        CsvDialect::OrderIdColumn,
    ];

    /// The canonical column names, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            CsvDialect::GetWindowsAutopilotInfo3 => &[COL_SERIAL, COL_PRODUCT_ID, COL_HASH],
            CsvDialect::WithGroupTag => &[COL_SERIAL, COL_PRODUCT_ID, COL_HASH, COL_GROUP_TAG],
            CsvDialect::IntuneFiveColumn => &[
                COL_SERIAL,
                COL_PRODUCT_ID,
                COL_HASH,
                COL_GROUP_TAG,
                COL_ASSIGNED_USER,
            ],
            CsvDialect::Partner => &[
                COL_SERIAL,
                COL_PRODUCT_ID,
                COL_HASH,
                COL_MANUFACTURER,
                COL_MODEL,
            ],
            CsvDialect::OrderIdColumn => &[COL_SERIAL, COL_PRODUCT_ID, COL_HASH, COL_ORDER_ID],
        }
    }

    /// The canonical header line (without line ending).
    pub fn header_line(self) -> String {
        self.columns().join(",")
    }
}

impl fmt::Display for CsvDialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvDialect::GetWindowsAutopilotInfo3 => "Get-WindowsAutopilotInfo (3 columns)",
            CsvDialect::WithGroupTag => "Get-WindowsAutopilotInfo with Group Tag",
            CsvDialect::IntuneFiveColumn => "Intune 5-column (Group Tag, Assigned User)",
            CsvDialect::Partner => "Partner Center (Manufacturer name, Device model)",
            CsvDialect::OrderIdColumn => "Import-AutopilotCSV with OrderID",
        })
    }
}

/// A problem with the file as a whole; nothing can be read from it.
#[derive(Debug, thiserror::Error)]
pub enum CsvFileError {
    /// No header line.
    #[error("the CSV file is empty; export it again with Get-WindowsAutopilotInfo -OutputFile <file>.csv")]
    Empty,
    /// The header is not one we know.
    #[error("the CSV header is not a hardware-hash header: found \"{found}\"; the first line must be one of: {expected} (Get-WindowsAutopilotInfo writes these; fix the first line)")]
    UnknownHeader {
        /// The header as read (fields joined with commas), control characters escaped and
        /// cut to 80 characters.
        found: String,
        /// The accepted headers, separated by ` | `.
        expected: String,
    },
    /// The header has a column we do not know.
    #[error("the CSV header has an unknown column \"{column}\" (column {position}); Intune rejects extra columns, remove it. Accepted headers: {expected}")]
    UnknownColumn {
        /// The column name as read, escaped and cut to 80 characters.
        column: String,
        /// 1-based column position.
        position: usize,
        /// The accepted headers, separated by ` | `.
        expected: String,
    },
    /// The start of the file is not text: NUL or other control bytes before the first line
    /// ends (an executable, an image, a spreadsheet, UTF-16 without a byte-order mark).
    #[error("not a text CSV file (binary content: the first line starts \"{start}\"); export the hardware hashes again with Get-WindowsAutopilotInfo -OutputFile <file>.csv (UTF-16 files need their byte-order mark)")]
    Binary {
        /// The start of the first line, control bytes escaped, at most 80 characters.
        start: String,
    },
    /// The first line is longer than [`MAX_HEADER_BYTES`].
    #[error("the first line of the file is longer than {limit} bytes, so it is not a hardware-hash header (it starts \"{start}\"); the first line must be one of: {expected}")]
    HeaderTooLong {
        /// The cap, in bytes.
        limit: usize,
        /// The start of the line, escaped, at most 80 characters.
        start: String,
        /// The accepted headers, separated by ` | `.
        expected: String,
    },
    /// A column appears twice.
    #[error("the CSV header has the column \"{0}\" twice; remove one of them")]
    DuplicateColumn(String),
    /// An `OrderID` header without the serial number column.
    #[error("the CSV header has no \"Device Serial Number\" column; add it as the first column")]
    MissingSerialColumn,
    /// UTF-16 with an odd number of bytes.
    #[error("the file starts with a UTF-16 byte-order mark but has an odd number of bytes, so it is cut short or not UTF-16; export it again")]
    OddUtf16Length,
    /// The bytes cannot be decoded.
    #[error("the CSV file cannot be decoded as {encoding}: {detail}; save it as UTF-8, UTF-16 or ANSI and try again")]
    Undecodable {
        /// The encoding that was tried.
        encoding: CsvEncoding,
        /// What went wrong.
        detail: String,
    },
    /// Reading failed.
    #[error("could not read the CSV file: {0}; check the file is readable and try again")]
    Io(#[from] io::Error),
}

/// A problem with one row; the other rows are still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row} (line {line}){}: {message}", field.as_ref().map(|f| format!(", column \"{f}\"")).unwrap_or_default())]
pub struct RowError {
    /// 1-based data row number; `0` for a problem with the file found while streaming
    /// (I/O error, dangling UTF-16 byte), after which iteration ends.
    pub row: u64,
    /// 1-based physical line in the file.
    pub line: u64,
    /// The column concerned, by its canonical name, if any.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl RowError {
    /// Whether this is a file-level problem found while streaming (`row == 0`).
    pub fn is_file_error(&self) -> bool {
        self.row == 0
    }
}

/// One device row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HashCsvRow {
    /// 1-based data row number (header and skipped blank lines not counted).
    pub row: u64,
    /// 1-based physical line in the file where the row starts.
    pub line: u64,
    /// `Device Serial Number`, trimmed (may be empty only in [`CsvDialect::Partner`] rows).
    pub serial_number: String,
    /// `Windows Product ID`.
    pub product_key: Option<String>,
    /// `Hardware Hash`: base64 text as given, trimmed, not validated.
    pub hardware_hash: Option<String>,
    /// `Group Tag` (or `OrderID`).
    pub group_tag: Option<String>,
    /// `Assigned User`.
    pub assigned_user: Option<String>,
    /// `Manufacturer name` (Partner).
    pub manufacturer: Option<String>,
    /// `Device model` (Partner).
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Serial,
    ProductId,
    Hash,
    GroupTag,
    AssignedUser,
    Manufacturer,
    Model,
    OrderId,
}

impl Column {
    fn from_name(name: &str) -> Option<Column> {
        const NAMES: [(&str, Column); 8] = [
            (COL_SERIAL, Column::Serial),
            (COL_PRODUCT_ID, Column::ProductId),
            (COL_HASH, Column::Hash),
            (COL_GROUP_TAG, Column::GroupTag),
            (COL_ASSIGNED_USER, Column::AssignedUser),
            (COL_MANUFACTURER, Column::Manufacturer),
            (COL_MODEL, Column::Model),
            (COL_ORDER_ID, Column::OrderId),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }

    fn name(self) -> &'static str {
        match self {
            Column::Serial => COL_SERIAL,
            Column::ProductId => COL_PRODUCT_ID,
            Column::Hash => COL_HASH,
            Column::GroupTag => COL_GROUP_TAG,
            Column::AssignedUser => COL_ASSIGNED_USER,
            Column::Manufacturer => COL_MANUFACTURER,
            Column::Model => COL_MODEL,
            Column::OrderId => COL_ORDER_ID,
        }
    }
}

type Prefixed<R> = Chain<Cursor<Vec<u8>>, R>;

/// The byte source handed to the CSV parser: UTF-16 transcoded to UTF-8, or raw 8-bit.
enum Source<R> {
    Utf16(DecodeReaderBytes<EvenBytes<Prefixed<R>>, Vec<u8>>),
    Bytes(Prefixed<R>),
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Utf16(r) => r.read(buf),
            Source::Bytes(r) => r.read(buf),
        }
    }
}

/// Streaming reader of hardware-hash CSV files; iterate it for rows.
pub struct HashCsvReader<R> {
    records: Records<Source<R>>,
    columns: Vec<Column>,
    header: Vec<String>,
    header_exact: bool,
    dialect: CsvDialect,
    encoding: CsvEncoding,
    rows: u64,
    odd: Arc<AtomicBool>,
    done: bool,
}

impl<R> fmt::Debug for HashCsvReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashCsvReader")
            .field("dialect", &self.dialect)
            .field("encoding", &self.encoding)
            .field("header", &self.header)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn binary_error(start: &[u8], encoding: CsvEncoding) -> CsvFileError {
    CsvFileError::Binary {
        start: excerpt(&decode_field(start, encoding)),
    }
}

fn expected_headers() -> String {
    CsvDialect::ALL
        .iter()
        .map(|d| d.header_line())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn is_blank<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> bool {
    fields.all(|f| f.iter().all(u8::is_ascii_whitespace))
}

/// The first [`is_binary_byte`] in `bytes`. The common case (no byte below 0x20 at all) is
/// checked a chunk at a time, which the compiler vectorises.
fn find_binary_byte(bytes: &[u8]) -> Option<u8> {
    let suspicious = bytes
        .chunks(64)
        .any(|c| c.iter().fold(false, |a, &b| a | (b < 0x20) | (b == 0x7F)));
    if !suspicious {
        return None;
    }
    bytes.iter().copied().find(|&b| is_binary_byte(b))
}

/// A control character other than tab, CR and LF (which quoted values may hold): what
/// binary content looks like. Checked on decoded UTF-8 or 8-bit bytes.
fn is_binary_byte(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || b == 0x7F
}

impl<R: Read> HashCsvReader<R> {
    /// Sniffs the encoding, reads and validates the header.
    pub fn new(mut input: R) -> Result<Self, CsvFileError> {
        let mut prefix = vec![0u8; SNIFF_LEN];
        let n = read_full(&mut input, &mut prefix)?;
        prefix.truncate(n);
        let at_eof = n < SNIFF_LEN;
        let (encoding, bom) = sniff(&prefix, at_eof);
        if matches!(encoding, CsvEncoding::Utf16Le | CsvEncoding::Utf16Be) && at_eof && n % 2 == 1 {
            return Err(CsvFileError::OddUtf16Length);
        }
        prefix.drain(..bom);
        // An 8-bit text file has no NUL or other control bytes near its start; used to tell a
        // binary file (whose first "line" may happen to be clean, as in a PNG) from a wrong header.
        let binary_start = !matches!(encoding, CsvEncoding::Utf16Le | CsvEncoding::Utf16Be)
            && prefix
                .iter()
                .take(BINARY_SNIFF_LEN)
                .copied()
                .any(is_binary_byte);
        let odd = Arc::new(AtomicBool::new(false));
        let chained = Cursor::new(prefix).chain(input);
        let source = match encoding {
            CsvEncoding::Utf16Le | CsvEncoding::Utf16Be => {
                let enc = if encoding == CsvEncoding::Utf16Le {
                    UTF_16LE
                } else {
                    UTF_16BE
                };
                Source::Utf16(
                    DecodeReaderBytesBuilder::new()
                        .encoding(Some(enc))
                        .bom_sniffing(false)
                        .build_with_buffer(
                            EvenBytes::new(chained, Arc::clone(&odd)),
                            vec![0u8; BUF_LEN],
                        )?,
                )
            }
            _ => Source::Bytes(chained),
        };
        let mut records = Records::new(source, BUF_LEN, MAX_ROW_BYTES, MAX_FIELDS);
        let header_fields = loop {
            match records.read(MAX_HEADER_BYTES, MAX_HEADER_BYTES, true)? {
                None => return Err(CsvFileError::Empty),
                Some(info) if info.oversize.is_some() => {
                    let start = records.bytes();
                    if start.iter().copied().any(is_binary_byte) {
                        return Err(binary_error(start, encoding));
                    }
                    if let Some(Oversize::Fields { count }) = info.oversize {
                        return Err(CsvFileError::UnknownHeader {
                            found: excerpt(&format!(
                                "{count} or more columns: {}",
                                decode_field(start, encoding)
                            )),
                            expected: expected_headers(),
                        });
                    }
                    return Err(CsvFileError::HeaderTooLong {
                        limit: MAX_HEADER_BYTES,
                        start: excerpt(&decode_field(start, encoding)),
                        expected: expected_headers(),
                    });
                }
                Some(_) if is_blank(records.fields()) => continue,
                Some(_) => break records.fields(),
            }
        };
        if records.bytes().iter().copied().any(is_binary_byte) {
            return Err(binary_error(records.bytes(), encoding));
        }
        let header: Vec<String> = header_fields
            .map(|f| decode_field(f, encoding).into_owned())
            .collect();
        let (dialect, columns, header_exact) = match classify_header(&header) {
            Err(CsvFileError::UnknownHeader { .. }) if binary_start => {
                return Err(binary_error(records.bytes(), encoding))
            }
            other => other?,
        };
        Ok(HashCsvReader {
            records,
            columns,
            header,
            header_exact,
            dialect,
            encoding,
            rows: 0,
            odd,
            done: false,
        })
    }

    /// The column layout recognised from the header.
    pub fn dialect(&self) -> CsvDialect {
        self.dialect
    }

    /// The sniffed encoding.
    pub fn encoding(&self) -> CsvEncoding {
        self.encoding
    }

    /// The header fields as read (untrimmed).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Whether the header names are exactly the canonical ones (same case, no surrounding
    /// spaces). Quoting is not considered. Intune's import is this strict; we accept more.
    pub fn header_is_exact(&self) -> bool {
        self.header_exact
    }

    /// Number of data rows returned so far (including rows with errors).
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    fn row_error(&self, line: u64, field: Option<&str>, message: String) -> RowError {
        RowError {
            row: self.rows,
            line,
            field: field.map(str::to_owned),
            message,
        }
    }

    /// The error for a row [`Records`] did not keep.
    fn oversize_error(&self, line: u64, oversize: Oversize) -> RowError {
        match oversize {
            Oversize::Field { index, len } => {
                let column = self.columns.get(index).map(|c| c.name());
                let what = match column {
                    Some(name) => format!("the value of \"{name}\""),
                    None => format!("field {}", index + 1),
                };
                self.row_error(
                    line,
                    column,
                    format!(
                        "{what} is {len} bytes long; a value may be at most {} KiB (a 4K hardware hash is 4,000 characters), so this is not a hardware-hash row — the row was skipped; fix or remove it",
                        MAX_FIELD_BYTES / 1024
                    ),
                )
            }
            Oversize::Record { len } => self.row_error(
                line,
                None,
                format!(
                    "the row is {len} bytes long; a row may be at most {} KiB, so this is not a hardware-hash row — the row was skipped; fix or remove it",
                    MAX_ROW_BYTES / 1024
                ),
            ),
            Oversize::Fields { count } => self.row_error(
                line,
                None,
                format!(
                    "the row has {count} fields but the header has {}; a row may have at most {MAX_FIELDS} — the row was skipped; fix or remove it",
                    self.columns.len()
                ),
            ),
        }
    }

    fn convert(&self, line: u64) -> Result<HashCsvRow, RowError> {
        let fields = self.records.fields().count();
        if fields != self.columns.len() {
            return Err(self.row_error(
                line,
                None,
                format!(
                    "the row has {} fields but the header has {}; a value probably contains a comma or the row is cut short — fix the row (quote values with commas) and import it again",
                    fields,
                    self.columns.len()
                ),
            ));
        }
        let mut row = HashCsvRow {
            row: self.rows,
            line,
            ..HashCsvRow::default()
        };
        let mut order_id = None;
        for (raw, column) in self.records.fields().zip(self.columns.iter().copied()) {
            if let Some(b) = find_binary_byte(raw) {
                return Err(self.row_error(
                    line,
                    Some(column.name()),
                    format!(
                        "the value contains the control character 0x{b:02X} (binary content: {}); a hardware-hash CSV holds text only — fix the row or export it again",
                        excerpt(&decode_field(raw, self.encoding))
                    ),
                ));
            }
            let decoded = decode_field(raw, self.encoding);
            let value = decoded.trim();
            if value.contains('\u{FFFD}') {
                return Err(self.row_error(
                    line,
                    Some(column.name()),
                    format!(
                        "the value contains bytes that are not valid {}; save the file as UTF-8, UTF-16 or ANSI again",
                        self.encoding
                    ),
                ));
            }
            let opt = || (!value.is_empty()).then(|| value.to_owned());
            match column {
                Column::Serial => row.serial_number = value.to_owned(),
                Column::ProductId => row.product_key = opt(),
                Column::Hash => row.hardware_hash = opt(),
                Column::GroupTag => row.group_tag = opt(),
                Column::AssignedUser => row.assigned_user = opt(),
                Column::Manufacturer => row.manufacturer = opt(),
                Column::Model => row.model = opt(),
                Column::OrderId => order_id = opt(),
            }
        }
        if row.group_tag.is_none() {
            row.group_tag = order_id;
        }
        if self.dialect == CsvDialect::Partner {
            let identified = row.hardware_hash.is_some() || row.product_key.is_some();
            if !identified {
                if row.serial_number.is_empty() {
                    return Err(self.row_error(
                        line,
                        None,
                        "the row has no hardware hash, no Windows Product ID and no serial number; give a hash, a product ID, or serial number + manufacturer + model".to_owned(),
                    ));
                }
                for (value, name) in [
                    (&row.manufacturer, COL_MANUFACTURER),
                    (&row.model, COL_MODEL),
                ] {
                    if value.is_none() {
                        return Err(self.row_error(
                            line,
                            Some(name),
                            format!("the row has neither a hardware hash nor a Windows Product ID, so it is a tuple row and needs \"{name}\" (case-exact, as the OEM reports it); fill it in"),
                        ));
                    }
                }
            }
        } else if row.serial_number.is_empty() {
            return Err(self.row_error(
                line,
                Some(COL_SERIAL),
                "the serial number is empty; every row needs the device serial number (Get-WindowsAutopilotInfo writes it) — fill it in or remove the row".to_owned(),
            ));
        }
        Ok(row)
    }
}

fn classify_header(header: &[String]) -> Result<(CsvDialect, Vec<Column>, bool), CsvFileError> {
    let trimmed: Vec<&str> = header
        .iter()
        .map(|h| h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}'))
        .collect();
    let unknown_header = || CsvFileError::UnknownHeader {
        found: excerpt(&header.join(",")),
        expected: expected_headers(),
    };
    let mut columns = Vec::with_capacity(trimmed.len());
    let mut any_known = false;
    let mut first_unknown = None;
    for (i, name) in trimmed.iter().enumerate() {
        match Column::from_name(name) {
            Some(c) => {
                if columns.contains(&c) {
                    return Err(CsvFileError::DuplicateColumn(c.name().to_owned()));
                }
                any_known = true;
                columns.push(c);
            }
            None => {
                if first_unknown.is_none() {
                    first_unknown = Some((i, excerpt(&header[i])));
                }
            }
        }
    }
    if let Some((i, column)) = first_unknown {
        if !any_known {
            return Err(unknown_header());
        }
        return Err(CsvFileError::UnknownColumn {
            column,
            position: i + 1,
            expected: expected_headers(),
        });
    }
    let is_exact = |canonical: &[&str]| {
        header.len() == canonical.len() && header.iter().zip(canonical).all(|(h, c)| h == c)
    };
    for dialect in [
        CsvDialect::GetWindowsAutopilotInfo3,
        CsvDialect::WithGroupTag,
        CsvDialect::IntuneFiveColumn,
        CsvDialect::Partner,
    ] {
        let canonical = dialect.columns();
        if canonical.len() == columns.len()
            && canonical
                .iter()
                .zip(&columns)
                .all(|(name, c)| c.name() == *name)
        {
            return Ok((dialect, columns, is_exact(canonical)));
        }
    }
    if columns.contains(&Column::OrderId) {
        if !columns.contains(&Column::Serial) {
            return Err(CsvFileError::MissingSerialColumn);
        }
        let exact = header
            .iter()
            .zip(&columns)
            .all(|(h, c)| h.as_str() == c.name());
        return Ok((CsvDialect::OrderIdColumn, columns, exact));
    }
    Err(unknown_header())
}

impl<R: Read> Iterator for HashCsvReader<R> {
    type Item = Result<HashCsvRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.records.read(MAX_ROW_BYTES, MAX_FIELD_BYTES, false) {
                Ok(Some(info)) => {
                    if let Some(oversize) = info.oversize {
                        self.rows += 1;
                        return Some(Err(self.oversize_error(info.line, oversize)));
                    }
                    if is_blank(self.records.fields()) {
                        continue;
                    }
                    self.rows += 1;
                    return Some(self.convert(info.line));
                }
                Ok(None) => {
                    self.done = true;
                    if self.odd.load(Ordering::Relaxed) {
                        return Some(Err(RowError {
                            row: 0,
                            line: self.records.current_line(),
                            field: None,
                            message: "the UTF-16 file has an odd number of bytes, so it is cut short; the last byte was ignored — check the last row and export the file again".to_owned(),
                        }));
                    }
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(RowError {
                        row: 0,
                        line: self.records.current_line(),
                        field: None,
                        message: format!(
                            "reading the file failed ({e}); the rows after this point were not read — check the file and try again"
                        ),
                    }));
                }
            }
        }
    }
}

/// Line ending used by the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n` (Windows, what every Autopilot tool writes).
    CrLf,
    /// `\n`.
    Lf,
}

/// How [`write_hash_csv_with`] writes a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteOptions {
    /// Column layout.
    pub dialect: CsvDialect,
    /// Encoding (with BOM where the encoding has one).
    pub encoding: CsvEncoding,
    /// Line ending; a line ending is also written after the last row.
    pub line_ending: LineEnding,
    /// Quote every field (`ConvertTo-Csv` style) instead of writing them bare.
    pub quote_all: bool,
}

impl WriteOptions {
    /// CRLF, unquoted: Get-WindowsAutopilotInfo's layout.
    pub fn new(dialect: CsvDialect, encoding: CsvEncoding) -> Self {
        WriteOptions {
            dialect,
            encoding,
            line_ending: LineEnding::CrLf,
            quote_all: false,
        }
    }
}

/// Writes a hardware-hash CSV the way Get-WindowsAutopilotInfo does: the dialect's header,
/// one unquoted row per device, CRLF after every line. `row`/`line` of the rows are ignored.
/// A value containing a comma, quote or line break is an `InvalidInput` error (it would
/// corrupt an unquoted file; use [`write_hash_csv_with`] with `quote_all`).
pub fn write_hash_csv<W, I>(
    out: W,
    dialect: CsvDialect,
    encoding: CsvEncoding,
    rows: I,
) -> io::Result<()>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<HashCsvRow>,
{
    write_hash_csv_with(out, &WriteOptions::new(dialect, encoding), rows)
}

/// [`write_hash_csv`] with a choice of line ending and quoting.
pub fn write_hash_csv_with<W, I>(out: W, options: &WriteOptions, rows: I) -> io::Result<()>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<HashCsvRow>,
{
    let mut out = BufWriter::with_capacity(BUF_LEN, out);
    let mut line = String::with_capacity(8 * 1024);
    let mut bytes = Vec::with_capacity(16 * 1024);
    out.write_all(options.encoding.bom())?;
    let columns = options.dialect.columns();
    let eol = match options.line_ending {
        LineEnding::CrLf => "\r\n",
        LineEnding::Lf => "\n",
    };
    for (i, name) in columns.iter().enumerate() {
        push_field(&mut line, i, name, options.quote_all, 0)?;
    }
    line.push_str(eol);
    encode_into(&line, options.encoding, &mut bytes);
    out.write_all(&bytes)?;
    for (n, row) in rows.into_iter().enumerate() {
        let row = row.borrow();
        line.clear();
        let row_no = n as u64 + 1;
        let values: [Option<&str>; 5] = match options.dialect {
            CsvDialect::GetWindowsAutopilotInfo3 => [
                Some(row.serial_number.as_str()),
                row.product_key.as_deref(),
                row.hardware_hash.as_deref(),
                None,
                None,
            ],
            CsvDialect::WithGroupTag | CsvDialect::OrderIdColumn => [
                Some(row.serial_number.as_str()),
                row.product_key.as_deref(),
                row.hardware_hash.as_deref(),
                row.group_tag.as_deref(),
                None,
            ],
            CsvDialect::IntuneFiveColumn => [
                Some(row.serial_number.as_str()),
                row.product_key.as_deref(),
                row.hardware_hash.as_deref(),
                row.group_tag.as_deref(),
                row.assigned_user.as_deref(),
            ],
            CsvDialect::Partner => [
                Some(row.serial_number.as_str()),
                row.product_key.as_deref(),
                row.hardware_hash.as_deref(),
                row.manufacturer.as_deref(),
                row.model.as_deref(),
            ],
        };
        for (i, value) in values.iter().take(columns.len()).enumerate() {
            push_field(&mut line, i, value.unwrap_or(""), options.quote_all, row_no)?;
        }
        line.push_str(eol);
        encode_into(&line, options.encoding, &mut bytes);
        out.write_all(&bytes)?;
    }
    out.flush()
}

fn push_field(
    line: &mut String,
    index: usize,
    value: &str,
    quote: bool,
    row: u64,
) -> io::Result<()> {
    if index > 0 {
        line.push(',');
    }
    if quote {
        line.push('"');
        for c in value.chars() {
            if c == '"' {
                line.push('"');
            }
            line.push(c);
        }
        line.push('"');
        return Ok(());
    }
    if value.contains([',', '"', '\r', '\n']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "row {row}: the value \"{}\" contains a comma, quote or line break, which corrupts an unquoted CSV; remove it or write with quoting",
                excerpt(value)
            ),
        ));
    }
    line.push_str(value);
    Ok(())
}

fn encode_into(text: &str, encoding: CsvEncoding, out: &mut Vec<u8>) {
    out.clear();
    match encoding {
        CsvEncoding::Utf8 | CsvEncoding::Utf8Bom => out.extend_from_slice(text.as_bytes()),
        CsvEncoding::Utf16Le | CsvEncoding::Utf16Be => {
            let le = encoding == CsvEncoding::Utf16Le;
            if text.is_ascii() {
                // Fast path: every byte becomes one code unit.
                out.resize(text.len() * 2, 0);
                let offset = usize::from(!le);
                for (pair, b) in out.chunks_exact_mut(2).zip(text.bytes()) {
                    pair[offset] = b;
                }
                return;
            }
            for u in text.encode_utf16() {
                out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
            }
        }
        CsvEncoding::Windows1252 => {
            if text.is_ascii() {
                out.extend_from_slice(text.as_bytes());
                return;
            }
            let mut buf = [0u8; 4];
            for c in text.chars() {
                if c.is_ascii() {
                    out.push(c as u8);
                    continue;
                }
                let (bytes, _, unmappable) = WINDOWS_1252.encode(c.encode_utf8(&mut buf));
                if unmappable {
                    out.push(b'?');
                } else {
                    out.extend_from_slice(&bytes);
                }
            }
        }
    }
}
