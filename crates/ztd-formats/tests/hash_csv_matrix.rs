//! Table-driven tests: every dialect × encoding × line ending × quoting, file and row errors,
//! and a write → read round-trip property.

use proptest::prelude::*;
use ztd_formats::hash_csv::{
    write_hash_csv_with, CsvDialect, CsvEncoding, CsvFileError, HashCsvReader, HashCsvRow,
    LineEnding, WriteOptions,
};

fn sample_rows(dialect: CsvDialect) -> Vec<HashCsvRow> {
    (1..=3u64)
        .map(|i| {
            let mut r = HashCsvRow {
                row: i,
                line: i + 1,
                serial_number: format!("SER-{i}"),
                product_key: (i == 2).then(|| "00329-00000-0003-AA606".to_owned()),
                hardware_hash: Some(format!("T0Hp{i}AAAA==")),
                ..HashCsvRow::default()
            };
            match dialect {
                CsvDialect::GetWindowsAutopilotInfo3 => {}
                CsvDialect::WithGroupTag | CsvDialect::OrderIdColumn => {
                    r.group_tag = Some(format!("Équipe-{i}"));
                }
                CsvDialect::IntuneFiveColumn => {
                    r.group_tag = Some(format!("Équipe-{i}"));
                    r.assigned_user = (i != 3).then(|| format!("user{i}@contoso.example"));
                }
                CsvDialect::Partner => {
                    r.manufacturer = Some("Contoso Électronique".into());
                    r.model = Some("Contoso Laptop 1".into());
                }
            }
            r
        })
        .collect()
}

fn write(rows: &[HashCsvRow], o: &WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_hash_csv_with(&mut out, o, rows).expect("write");
    out
}

fn encode_extra(text: &str, encoding: CsvEncoding) -> Vec<u8> {
    match encoding {
        CsvEncoding::Utf16Le => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        CsvEncoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        _ => text.as_bytes().to_vec(),
    }
}

#[test]
fn every_dialect_encoding_line_ending_and_quoting() {
    let mut cases = 0;
    for dialect in CsvDialect::ALL {
        for encoding in CsvEncoding::ALL {
            for line_ending in [LineEnding::CrLf, LineEnding::Lf] {
                for quote_all in [false, true] {
                    for trailing_blank in [false, true] {
                        let o = WriteOptions {
                            dialect,
                            encoding,
                            line_ending,
                            quote_all,
                        };
                        let rows = sample_rows(dialect);
                        let mut bytes = write(&rows, &o);
                        if trailing_blank {
                            let eol = if line_ending == LineEnding::CrLf {
                                "\r\n"
                            } else {
                                "\n"
                            };
                            bytes.extend(encode_extra(&format!("{eol}{eol}  {eol}"), encoding));
                        }
                        let ctx = format!("{o:?} trailing_blank={trailing_blank}");
                        let reader = HashCsvReader::new(bytes.as_slice()).expect(&ctx);
                        assert_eq!(reader.dialect(), dialect, "{ctx}");
                        // Pure-ASCII ANSI is indistinguishable from UTF-8.
                        let expected = if encoding == CsvEncoding::Windows1252 && bytes.is_ascii() {
                            CsvEncoding::Utf8
                        } else {
                            encoding
                        };
                        assert_eq!(reader.encoding(), expected, "{ctx}");
                        assert!(reader.header_is_exact(), "{ctx}");
                        let got: Vec<HashCsvRow> = reader.map(|r| r.expect(&ctx)).collect();
                        assert_eq!(got, rows, "{ctx}");
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 5 * 5 * 2 * 2 * 2);
}

#[test]
fn windows_1252_byte_in_group_tag() {
    let bytes =
        b"Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\nS1,,AAAA,Caf\xe9\r\n";
    let mut r = HashCsvReader::new(&bytes[..]).unwrap();
    assert_eq!(r.encoding(), CsvEncoding::Windows1252);
    assert_eq!(r.dialect(), CsvDialect::WithGroupTag);
    assert_eq!(
        r.next().unwrap().unwrap().group_tag.as_deref(),
        Some("Café")
    );
    assert!(r.next().is_none());
}

#[test]
fn no_trailing_newline_and_header_leniency() {
    let bytes = b" device serial number , WINDOWS PRODUCT ID,hardware hash\nS1,,AAAA";
    let mut r = HashCsvReader::new(&bytes[..]).unwrap();
    assert_eq!(r.dialect(), CsvDialect::GetWindowsAutopilotInfo3);
    assert!(!r.header_is_exact());
    let row = r.next().unwrap().unwrap();
    assert_eq!(
        (row.serial_number.as_str(), row.row, row.line),
        ("S1", 1, 2)
    );
    assert!(r.next().is_none());
}

#[test]
fn order_id_is_a_group_tag_alias() {
    let bytes = b"OrderID,Device Serial Number,Hardware Hash\r\nPO-1,S1,AAAA\r\n";
    let mut r = HashCsvReader::new(&bytes[..]).unwrap();
    assert_eq!(r.dialect(), CsvDialect::OrderIdColumn);
    let row = r.next().unwrap().unwrap();
    assert_eq!(row.group_tag.as_deref(), Some("PO-1"));
    let bytes = b"Device Serial Number,Hardware Hash,Group Tag,OrderID\r\nS1,AAAA,Tag,PO-1\r\nS2,AAAA,,PO-2\r\n";
    let tags: Vec<_> = HashCsvReader::new(&bytes[..])
        .unwrap()
        .map(|r| r.unwrap().group_tag)
        .collect();
    assert_eq!(tags, vec![Some("Tag".to_owned()), Some("PO-2".to_owned())]);
}

#[test]
fn file_level_errors() {
    type Check = fn(&CsvFileError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", vec![], |e| matches!(e, CsvFileError::Empty)),
        ("bom only", vec![0xFF, 0xFE], |e| {
            matches!(e, CsvFileError::Empty)
        }),
        ("blank lines", b"\r\n\r\n".to_vec(), |e| {
            matches!(e, CsvFileError::Empty)
        }),
        ("odd utf-16", vec![0xFF, 0xFE, b'D', 0, b'e'], |e| {
            matches!(e, CsvFileError::OddUtf16Length)
        }),
        ("data as header", b"S1,,AAAA\r\n".to_vec(), |e| {
            matches!(e, CsvFileError::UnknownHeader { .. })
        }),
        (
            "extra column",
            b"Device Serial Number,Windows Product ID,Hardware Hash,Notes\r\n".to_vec(),
            |e| matches!(e, CsvFileError::UnknownColumn { column, position: 4, .. } if column == "Notes"),
        ),
        (
            "reordered",
            b"Hardware Hash,Device Serial Number,Windows Product ID\r\n".to_vec(),
            |e| matches!(e, CsvFileError::UnknownHeader { .. }),
        ),
        (
            "duplicate",
            b"Device Serial Number,Device Serial Number,Hardware Hash\r\n".to_vec(),
            |e| matches!(e, CsvFileError::DuplicateColumn(c) if c == "Device Serial Number"),
        ),
        (
            "orderid without serial",
            b"OrderID,Hardware Hash\r\n".to_vec(),
            |e| matches!(e, CsvFileError::MissingSerialColumn),
        ),
    ];
    for (name, bytes, check) in cases {
        match HashCsvReader::new(bytes.as_slice()) {
            Ok(r) => panic!("{name}: expected an error, got {r:?}"),
            Err(e) => {
                assert!(check(&e), "{name}: {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // Messages say what was expected and what was found.
    let e = HashCsvReader::new(&b"Serial,Hash\r\n"[..])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Serial,Hash")
            && e.contains("Device Serial Number,Windows Product ID,Hardware Hash"),
        "{e}"
    );
}

#[test]
fn header_only_is_zero_rows() {
    for bytes in [
        &b"Device Serial Number,Windows Product ID,Hardware Hash"[..],
        b"Device Serial Number,Windows Product ID,Hardware Hash\r\n\r\n",
    ] {
        assert_eq!(HashCsvReader::new(bytes).unwrap().count(), 0);
    }
}

#[test]
fn row_level_errors_do_not_stop_reading() {
    let text = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\r\n\
                S1,,AAAA,,\r\n\
                S2,,AAAA\r\n\
                ,,AAAA,,\r\n\
                S4,,AAAA,a,b,c\r\n\
                \r\n\
                S6,,AAAA,tag,\r\n";
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap().serial_number, "S1");
    let e = results[1].as_ref().unwrap_err();
    assert_eq!((e.row, e.line, e.field.as_deref()), (2, 3, None));
    assert!(
        e.message.contains("3 fields") && e.message.contains("5"),
        "{}",
        e.message
    );
    let e = results[2].as_ref().unwrap_err();
    assert_eq!(
        (e.row, e.line, e.field.as_deref()),
        (3, 4, Some("Device Serial Number"))
    );
    let e = results[3].as_ref().unwrap_err();
    assert_eq!((e.row, e.line), (4, 5));
    let ok = results[4].as_ref().unwrap();
    assert_eq!(
        (ok.row, ok.line, ok.group_tag.as_deref()),
        (5, 7, Some("tag"))
    );
    assert!(e.to_string().starts_with("row 4 (line 5)"));
}

#[test]
fn partner_row_rules() {
    let text =
        "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\r\n\
                ,,AAAA,,\r\n\
                ,00329-00000-0003-AA606,,,\r\n\
                S3,,,Contoso,\r\n\
                ,,,,\r\n\
                ,,,Contoso,Laptop\r\n";
    let results: Vec<_> = HashCsvReader::new(text.as_bytes()).unwrap().collect();
    assert_eq!(results.len(), 4, "{results:?}");
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(
        results[2].as_ref().unwrap_err().field.as_deref(),
        Some("Device model")
    );
    assert_eq!(results[3].as_ref().unwrap_err().row, 4);
}

#[test]
fn undecodable_utf16_is_a_row_error() {
    // Unpaired high surrogate in the serial.
    let text: Vec<u16> = "Device Serial Number,Windows Product ID,Hardware Hash\r\nS"
        .encode_utf16()
        .chain([0xD800])
        .chain(",,AAAA\r\nS2,,AAAA\r\n".encode_utf16())
        .collect();
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.iter().flat_map(|u| u.to_le_bytes()));
    let results: Vec<_> = HashCsvReader::new(bytes.as_slice()).unwrap().collect();
    assert_eq!(
        results[0].as_ref().unwrap_err().field.as_deref(),
        Some("Device Serial Number")
    );
    assert_eq!(results[1].as_ref().unwrap().serial_number, "S2");
}

/// A reader that hands out one byte per call, to exercise the streaming paths.
struct Trickle<'a>(&'a [u8]);
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn odd_utf16_byte_in_a_long_file_is_reported_at_the_end() {
    let rows: Vec<HashCsvRow> = (0..200)
        .map(|i| HashCsvRow {
            serial_number: format!("S{i}"),
            hardware_hash: Some("A".repeat(4000)),
            ..HashCsvRow::default()
        })
        .collect();
    let mut bytes = write(
        &rows,
        &WriteOptions::new(CsvDialect::GetWindowsAutopilotInfo3, CsvEncoding::Utf16Le),
    );
    assert!(bytes.len() > 256 * 1024);
    bytes.push(b'X');
    let results: Vec<_> = HashCsvReader::new(Trickle(&bytes)).unwrap().collect();
    assert_eq!(results.len(), 201);
    assert!(results[..200].iter().all(Result::is_ok));
    let last = results[200].as_ref().unwrap_err();
    assert!(
        last.is_file_error() && last.message.contains("odd"),
        "{last:?}"
    );
}

fn value() -> impl Strategy<Value = String> {
    // No commas, quotes, line breaks; Latin-1 letters so Windows-1252 can carry them;
    // no leading/trailing spaces (values are trimmed).
    "[A-Za-z0-9@._=+/éüÅ-]{0,12}"
}

fn opt() -> impl Strategy<Value = Option<String>> {
    value().prop_map(|v| (!v.is_empty()).then_some(v))
}

fn arb_row() -> impl Strategy<Value = HashCsvRow> {
    (
        "[A-Za-z0-9-]{1,12}",
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
        opt(),
    )
        .prop_map(
            |(
                serial_number,
                product_key,
                hardware_hash,
                group_tag,
                assigned_user,
                manufacturer,
                model,
            )| HashCsvRow {
                row: 0,
                line: 0,
                serial_number,
                product_key,
                hardware_hash,
                group_tag,
                assigned_user,
                manufacturer,
                model,
            },
        )
}

fn keep_dialect_fields(r: &HashCsvRow, d: CsvDialect) -> HashCsvRow {
    let mut r = r.clone();
    match d {
        CsvDialect::GetWindowsAutopilotInfo3 => {
            r.group_tag = None;
            r.assigned_user = None;
            r.manufacturer = None;
            r.model = None;
        }
        CsvDialect::WithGroupTag | CsvDialect::OrderIdColumn => {
            r.assigned_user = None;
            r.manufacturer = None;
            r.model = None;
        }
        CsvDialect::IntuneFiveColumn => {
            r.manufacturer = None;
            r.model = None;
        }
        CsvDialect::Partner => {
            r.group_tag = None;
            r.assigned_user = None;
            // Keep rows valid as Partner rows: give them a hash.
            r.hardware_hash.get_or_insert_with(|| "AAAA".to_owned());
        }
    }
    r
}

proptest! {
    #[test]
    fn write_then_read_round_trips(
        rows in proptest::collection::vec(arb_row(), 0..20),
        d in 0usize..5, e in 0usize..5, lf in any::<bool>(), quote in any::<bool>(),
    ) {
        let dialect = CsvDialect::ALL[d];
        let encoding = CsvEncoding::ALL[e];
        let o = WriteOptions {
            dialect,
            encoding,
            line_ending: if lf { LineEnding::Lf } else { LineEnding::CrLf },
            quote_all: quote,
        };
        let expected: Vec<HashCsvRow> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut r = keep_dialect_fields(r, dialect);
                r.row = i as u64 + 1;
                r.line = i as u64 + 2;
                r
            })
            .collect();
        let bytes = write(&expected, &o);
        let reader = HashCsvReader::new(bytes.as_slice()).unwrap();
        prop_assert_eq!(reader.dialect(), dialect);
        // A file of pure ASCII without BOM is reported as UTF-8 (indistinguishable).
        if encoding != CsvEncoding::Windows1252 || !bytes.is_ascii() {
            prop_assert_eq!(reader.encoding(), encoding);
        }
        let got: Vec<HashCsvRow> = reader.map(|r| r.unwrap()).collect();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn quoted_value_with_line_break_keeps_line_numbers() {
    let text = "\"Device Serial Number\",\"Windows Product ID\",\"Hardware Hash\",\"Group Tag\"\r\n\"S1\",\"\",\"AAAA\",\"a\r\nb\"\r\n\"S2\",\"\",\"AAAA\",\"\"\r\n";
    let rows: Vec<_> = HashCsvReader::new(text.as_bytes())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        (rows[0].line, rows[0].group_tag.as_deref()),
        (2, Some("a\r\nb"))
    );
    assert_eq!((rows[1].row, rows[1].line), (2, 4));
}
