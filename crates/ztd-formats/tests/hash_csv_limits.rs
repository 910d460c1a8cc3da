//! Hostile input: memory stays bounded whatever the file holds, an oversized row is one row
//! error and the rows after it are still read, and errors quote only a short printable excerpt.
//! The large inputs are generated lazily by an `io::Read`, never held in memory.

use std::io::{self, Read};

use ztd_formats::hash_csv::{
    CsvFileError, HashCsvReader, MAX_FIELDS, MAX_FIELD_BYTES, MAX_HEADER_BYTES, MAX_ROW_BYTES,
};

const MB: u64 = 1 << 20;
const HEADER: &str = "Device Serial Number,Windows Product ID,Hardware Hash\r\n";

/// An input made of literal pieces and long runs of one byte, produced as it is read; counts
/// the bytes handed out.
struct Lazy {
    parts: Vec<(Vec<u8>, u64)>,
    index: usize,
    offset: u64,
    served: u64,
}

impl Lazy {
    fn new() -> Self {
        Lazy {
            parts: Vec::new(),
            index: 0,
            offset: 0,
            served: 0,
        }
    }
    fn text(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.parts.push((bytes.as_ref().to_vec(), 1));
        self
    }
    fn repeat(mut self, byte: u8, count: u64) -> Self {
        self.parts.push((vec![byte], count));
        self
    }
}

impl Read for Lazy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let Some((piece, times)) = self.parts.get(self.index) else {
                break;
            };
            let total = piece.len() as u64 * times;
            if self.offset >= total {
                self.index += 1;
                self.offset = 0;
                continue;
            }
            if piece.len() == 1 {
                let m = ((total - self.offset) as usize).min(buf.len() - n);
                buf[n..n + m].fill(piece[0]);
                n += m;
                self.offset += m as u64;
            } else {
                let at = self.offset as usize;
                let m = (piece.len() - at).min(buf.len() - n);
                buf[n..n + m].copy_from_slice(&piece[at..at + m]);
                n += m;
                self.offset += m as u64;
            }
        }
        self.served += n as u64;
        Ok(n)
    }
}

/// Reads through `&mut Lazy` so the test can see how much was read.
struct Counted<'a>(&'a mut Lazy);
impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// Peak resident memory of this process in MiB (Linux; `None` elsewhere). nextest runs every
/// test in its own process, so this is the test's own peak.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn assert_printable_and_short(message: &str) {
    assert!(
        !message.chars().any(|c| c.is_control()),
        "control characters in {message:?}"
    );
    assert!(message.len() < 1200, "{} bytes: {message}", message.len());
}

fn good_row(i: usize) -> String {
    format!("SER-{i:03},,AAAA{i:03}\r\n")
}

#[test]
fn nul_bytes_without_line_breaks_are_refused_promptly_as_binary() {
    // 200 MB of NUL bytes and no line break (the issue had 2 GB reach 12.6 GB of memory).
    let mut input = Lazy::new().repeat(0, 200 * MB);
    let err = HashCsvReader::new(Counted(&mut input)).unwrap_err();
    assert!(matches!(err, CsvFileError::Binary { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("not a text CSV file (binary content"),
        "{message}"
    );
    assert!(message.contains("\\0\\0\\0"), "{message}");
    assert_printable_and_short(&message);
    // It stopped at the header cap, having read only the sniffing prefix and one buffer.
    assert!(input.served <= 2 * MB, "read {} bytes", input.served);
}

#[test]
fn a_binary_file_is_not_reported_as_a_wrong_header() {
    for bytes in [
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
        b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec(),
        b"Device Serial Number,\x01Windows Product ID,Hardware Hash\r\n".to_vec(),
        // UTF-16LE without its byte-order mark.
        "Device Serial Number,Windows Product ID,Hardware Hash\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect(),
    ] {
        let err = HashCsvReader::new(bytes.as_slice()).unwrap_err();
        assert!(matches!(err, CsvFileError::Binary { .. }), "{err:?}");
        assert_printable_and_short(&err.to_string());
    }
}

#[test]
fn a_first_line_longer_than_the_header_cap_is_refused_without_reading_on() {
    let mut input = Lazy::new().repeat(b'A', 200 * MB);
    let err = HashCsvReader::new(Counted(&mut input)).unwrap_err();
    assert!(
        matches!(err, CsvFileError::HeaderTooLong { limit, .. } if limit == MAX_HEADER_BYTES),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("AAAA…"), "{message}");
    assert_printable_and_short(&message);
    assert!(input.served <= 2 * MB, "read {} bytes", input.served);
}

#[test]
fn errors_quote_only_a_short_escaped_excerpt_of_the_input() {
    let long_name = "x".repeat(3000);
    let header = format!("Device Serial Number,{long_name}\u{85}\r\n");
    let err = HashCsvReader::new(header.as_bytes()).unwrap_err();
    let CsvFileError::UnknownColumn { column, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        column.chars().count() <= 81 && column.ends_with('…'),
        "{column}"
    );
    assert_printable_and_short(&err.to_string());

    let err = HashCsvReader::new(format!("{long_name},y\t\r\n").as_bytes()).unwrap_err();
    let CsvFileError::UnknownHeader { found, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        found.chars().count() <= 81 && found.ends_with('…'),
        "{found}"
    );
    assert_printable_and_short(&err.to_string());
}

#[test]
fn an_oversized_row_is_a_row_error_and_the_rows_after_it_are_read() {
    // 70 MB in the hash column of row 11, between 20 good rows (the issue: 0 of 20 registered).
    let mut input = Lazy::new().text(HEADER);
    for i in 1..=10 {
        input = input.text(good_row(i));
    }
    input = input.text("BIG-1,,").repeat(b'Q', 70 * MB).text("\r\n");
    for i in 12..=21 {
        input = input.text(good_row(i));
    }
    let results: Vec<_> = HashCsvReader::new(input).unwrap().collect();
    assert_eq!(results.len(), 21);
    for (i, result) in results.iter().enumerate() {
        if i == 10 {
            continue;
        }
        let row = result.as_ref().unwrap();
        assert_eq!(row.serial_number, format!("SER-{:03}", i + 1));
        assert_eq!((row.row, row.line), (i as u64 + 1, i as u64 + 2));
    }
    let err = results[10].as_ref().unwrap_err();
    assert_eq!(
        (err.row, err.line, err.field.as_deref()),
        (11, 12, Some("Hardware Hash"))
    );
    assert!(
        err.message.contains(&(70 * MB).to_string()),
        "{}",
        err.message
    );
    assert!(err.message.contains("96 KiB"), "{}", err.message);
    assert_printable_and_short(&err.to_string());
    if let Some(peak) = peak_rss_mib() {
        assert!(peak < 60, "peak RSS {peak} MiB while reading a 70 MB row");
    }
}

#[test]
fn a_row_of_nul_bytes_without_line_breaks_after_the_header_is_one_row_error() {
    let input = Lazy::new()
        .text(HEADER)
        .text(good_row(1))
        .repeat(0, 200 * MB);
    let results: Vec<_> = HashCsvReader::new(input).unwrap().collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.row, err.line), (2, 3));
    assert_eq!(err.field.as_deref(), Some("Device Serial Number"));
    if let Some(peak) = peak_rss_mib() {
        assert!(peak < 60, "peak RSS {peak} MiB while reading 200 MB");
    }
}

#[test]
fn an_oversized_row_in_a_utf16_file_is_a_row_error_too() {
    let text = format!(
        "{HEADER}{}BIG,,{}\r\n{}",
        good_row(1),
        "Z".repeat(MAX_FIELD_BYTES + 1),
        good_row(3)
    );
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let results: Vec<_> = HashCsvReader::new(bytes.as_slice()).unwrap().collect();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().serial_number, "SER-001");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(
        (err.row, err.line, err.field.as_deref()),
        (2, 3, Some("Hardware Hash"))
    );
    assert_eq!(results[2].as_ref().unwrap().serial_number, "SER-003");
}

#[test]
fn values_up_to_the_caps_are_kept_and_one_byte_more_is_refused() {
    let at_cap = "H".repeat(MAX_FIELD_BYTES);
    let over = "H".repeat(MAX_FIELD_BYTES + 1);
    let text = format!("{HEADER}A,,{at_cap}\r\nB,,{over}\r\nC,,x\r\n");
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    assert_eq!(
        results[0].as_ref().unwrap().hardware_hash.as_deref(),
        Some(at_cap.as_str())
    );
    assert!(results[1].is_err());
    assert_eq!(results[2].as_ref().unwrap().serial_number, "C");

    // A row over the row cap whose values are each within the field cap.
    let half = "k".repeat(MAX_ROW_BYTES / 2);
    let text = format!("{HEADER}{half},{half},x\r\nD,,y\r\n");
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    let err = results[0].as_ref().unwrap_err();
    assert_eq!((err.row, err.field.as_deref()), (1, None));
    assert!(err.message.contains("128 KiB"), "{}", err.message);
    assert_eq!(results[1].as_ref().unwrap().serial_number, "D");
}

#[test]
fn a_row_with_too_many_fields_is_a_row_error_and_reading_continues() {
    let text = format!("{HEADER}{}\r\nE,,z\r\n", ",".repeat(100_000));
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    let err = results[0].as_ref().unwrap_err();
    assert!(err.message.contains("100001 fields"), "{}", err.message);
    assert!(err.message.contains(&MAX_FIELDS.to_string()));
    assert_eq!(results[1].as_ref().unwrap().serial_number, "E");
}

#[test]
fn control_bytes_in_a_value_are_a_row_error_with_an_escaped_excerpt() {
    let text = format!("{HEADER}S\0\x01N,,AAAA\r\nF,,AAAA\r\n");
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.field.as_deref(), Some("Device Serial Number"));
    assert!(err.message.contains("S\\0\\x01N"), "{}", err.message);
    assert_printable_and_short(&err.to_string());
    assert_eq!(results[1].as_ref().unwrap().serial_number, "F");
}
