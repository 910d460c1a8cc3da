//! Corporate identifier CSV for Windows (Intune "Manufacturer, model, and serial number"):
//! no header, one `manufacturer,model,serial` per line (research notes §7 of the behaviour
//! spec, §4.4 of the formats notes).
//!
//! Decisions:
//! * Limits as Intune enforces them, per file: at most [`MAX_ROWS`] (5,000) rows and at most
//!   [`MAX_BYTES`] bytes. "5 MB" is read as 5 MiB (5,242,880 bytes) — not documented which.
//!   Exceeding either is a file-level error (Intune rejects the whole file); the file is
//!   read into memory, bounded by the byte limit.
//! * Encodings as for hash CSVs (BOM sniffing, else UTF-8, else Windows-1252).
//! * **Periods are removed from the serial** (Intune tells admins to remove them); the
//!   serial as written is kept in [`CorporateIdentifierRow::raw_serial`].
//! * Values are trimmed. Blank lines are skipped. A row without exactly three fields or with
//!   an empty field is a row error; so is a first row that looks like a header
//!   (`Manufacturer,Model,Serial…`), since the format has none.
//! * Manufacturer and model keep their case (matching is the caller's business).

use std::io::{self, Read, Write};

use crate::hash_csv::{CsvEncoding, RowError};

/// Most rows per file.
pub const MAX_ROWS: usize = 5_000;
/// Most bytes per file (5 MiB).
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;

/// One identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorporateIdentifierRow {
    /// 1-based data row number (blank lines not counted).
    pub row: u64,
    /// 1-based physical line.
    pub line: u64,
    /// Manufacturer, trimmed.
    pub manufacturer: String,
    /// Model, trimmed.
    pub model: String,
    /// Serial number, trimmed, periods removed.
    pub serial: String,
    /// Serial number as written (trimmed).
    pub raw_serial: String,
}

/// A problem with the whole file.
#[derive(Debug, thiserror::Error)]
pub enum CorporateCsvError {
    /// More than 5 MiB.
    #[error("the corporate identifier file is larger than 5 MB ({MAX_BYTES} bytes), Intune's limit per file; split it into several files")]
    TooLarge,
    /// More than 5,000 rows.
    #[error("the corporate identifier file has {0} rows; Intune accepts at most 5,000 per file — split it into several files")]
    TooManyRows(usize),
    /// Empty file.
    #[error(
        "the corporate identifier file is empty; add one manufacturer,model,serial line per device"
    )]
    Empty,
    /// UTF-16 with an odd number of bytes.
    #[error("the file starts with a UTF-16 byte-order mark but has an odd number of bytes, so it is cut short; save it again")]
    OddUtf16Length,
    /// Reading failed.
    #[error("could not read the corporate identifier file: {0}; check the file is readable and try again")]
    Io(#[from] io::Error),
}

/// A parsed file: its encoding and every row or row error, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorporateIdentifierFile {
    /// Sniffed encoding.
    pub encoding: CsvEncoding,
    /// Rows in file order; one bad row does not stop the others.
    pub rows: Vec<Result<CorporateIdentifierRow, RowError>>,
}

/// Reads a corporate identifier file, enforcing Intune's size and row limits.
pub fn read_corporate_identifiers<R: Read>(
    input: R,
) -> Result<CorporateIdentifierFile, CorporateCsvError> {
    let mut bytes = Vec::new();
    input.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(CorporateCsvError::TooLarge);
    }
    let (text, encoding) = crate::text::decode_whole_with(&bytes);
    if matches!(encoding, CsvEncoding::Utf16Le | CsvEncoding::Utf16Be) && bytes.len() % 2 == 1 {
        return Err(CorporateCsvError::OddUtf16Length);
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut n: u64 = 0;
    let (mut counted, mut line_feeds) = (0usize, 0u64);
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // Only I/O can fail on an in-memory string; report it against the next row.
                rows.push(Err(RowError {
                    row: 0,
                    line: csv.position().line(),
                    field: None,
                    message: format!("reading the file failed ({e}); check the file and try again"),
                }));
                break;
            }
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        n += 1;
        if n as usize > MAX_ROWS {
            let total = MAX_ROWS + 1 + count_remaining(&mut csv, &mut record);
            return Err(CorporateCsvError::TooManyRows(total));
        }
        // Line of the record's end (see hash_csv::LineCounter), minus line breaks inside
        // quoted values.
        let end = usize::try_from(csv.position().byte())
            .unwrap_or(usize::MAX)
            .min(text.len());
        let upto = if end > 0 && text.as_bytes().get(end - 1) == Some(&b'\n') {
            end - 1
        } else {
            end
        };
        if upto > counted {
            line_feeds += text.as_bytes()[counted..upto]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            counted = upto;
        }
        let embedded = record
            .as_byte_record()
            .as_slice()
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let line = (line_feeds + 1).saturating_sub(embedded).max(1);
        rows.push(convert(&record, n, line));
    }
    if rows.is_empty() {
        return Err(CorporateCsvError::Empty);
    }
    Ok(CorporateIdentifierFile { encoding, rows })
}

fn count_remaining(csv: &mut csv::Reader<&[u8]>, record: &mut csv::StringRecord) -> usize {
    let mut extra = 0;
    while let Ok(true) = csv.read_record(record) {
        if !record.iter().all(|f| f.trim().is_empty()) {
            extra += 1;
        }
    }
    extra
}

fn convert(
    record: &csv::StringRecord,
    row: u64,
    line: u64,
) -> Result<CorporateIdentifierRow, RowError> {
    let err = |field: Option<&str>, message: String| RowError {
        row,
        line,
        field: field.map(str::to_owned),
        message,
    };
    if record.len() != 3 {
        return Err(err(
            None,
            format!(
                "the line has {} fields; each line must be manufacturer,model,serial (3 fields, no header) — fix the line",
                record.len()
            ),
        ));
    }
    let manufacturer = record.get(0).unwrap_or_default().trim();
    let model = record.get(1).unwrap_or_default().trim();
    let raw_serial = record.get(2).unwrap_or_default().trim();
    if row == 1
        && manufacturer.eq_ignore_ascii_case("manufacturer")
        && model.eq_ignore_ascii_case("model")
        && raw_serial.to_ascii_lowercase().starts_with("serial")
    {
        return Err(err(
            None,
            "this looks like a header line; corporate identifier files have no header — remove the line".to_owned(),
        ));
    }
    for (value, name) in [
        (manufacturer, "manufacturer"),
        (model, "model"),
        (raw_serial, "serial"),
    ] {
        if value.is_empty() {
            return Err(err(
                Some(name),
                format!("the {name} is empty; all three of manufacturer,model,serial are required — fill it in"),
            ));
        }
        if value.contains('\u{FFFD}') {
            return Err(err(
                Some(name),
                "the value contains bytes that could not be decoded; save the file as UTF-8 or ANSI again".to_owned(),
            ));
        }
    }
    let serial: String = raw_serial.chars().filter(|c| *c != '.').collect();
    if serial.is_empty() {
        return Err(err(
            Some("serial"),
            "the serial consists only of periods; give the device serial number".to_owned(),
        ));
    }
    Ok(CorporateIdentifierRow {
        row,
        line,
        manufacturer: manufacturer.to_owned(),
        model: model.to_owned(),
        serial,
        raw_serial: raw_serial.to_owned(),
    })
}

/// Writes `manufacturer,model,serial` lines, ASCII/ANSI (Windows-1252, `?` for what it
/// cannot represent), CRLF after each line, no header — the community script's output.
/// `raw_serial` is written. Values with commas, quotes or line breaks are an
/// `InvalidInput` error.
pub fn write_corporate_identifiers<'a, W: Write>(
    mut out: W,
    rows: impl IntoIterator<Item = &'a CorporateIdentifierRow>,
) -> io::Result<()> {
    let mut buf = Vec::new();
    for r in rows {
        for (i, v) in [&r.manufacturer, &r.model, &r.raw_serial]
            .into_iter()
            .enumerate()
        {
            if v.contains([',', '"', '\r', '\n']) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "row {}: the value \"{}\" contains a comma, quote or line break; remove it",
                        r.row,
                        crate::text::excerpt(v)
                    ),
                ));
            }
            if i > 0 {
                buf.push(b',');
            }
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(v);
            if unmappable {
                for c in v.chars() {
                    let mut tmp = [0u8; 4];
                    let (b, _, bad) = encoding_rs::WINDOWS_1252.encode(c.encode_utf8(&mut tmp));
                    if bad {
                        buf.push(b'?');
                    } else {
                        buf.extend_from_slice(&b);
                    }
                }
            } else {
                buf.extend_from_slice(&bytes);
            }
        }
        buf.extend_from_slice(b"\r\n");
    }
    out.write_all(&buf)?;
    out.flush()
}
