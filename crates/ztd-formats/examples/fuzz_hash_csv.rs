//! Stable-toolchain fuzzing of the hash CSV reader: mutates the sample CSVs and generated files
//! of every dialect and encoding (bytes, CSV tokens, BOMs, long runs around the caps) with a
//! deterministic PRNG for N seconds; now and then streams a mutated file followed by megabytes
//! of one byte from a lazy reader.
//!
//! Asserts: no panic; rows are numbered 1, 2, 3… and their lines never go back; a file error
//! found while streaming is last; every value is within the field cap (in characters) and free of control
//! bytes; every message is short and printable; for plain UTF-8 input within the caps, the
//! reader sees as many rows as the `csv` crate; the corporate identifier reader does not panic
//! either; peak memory stays bounded. Usage: `fuzz_hash_csv SECONDS [SEED]`.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::io::{self, Read};
use std::panic;
use std::time::{Duration, Instant};

use ztd_formats::hash_csv::{
    write_hash_csv_with, CsvDialect, CsvEncoding, HashCsvReader, HashCsvRow, LineEnding,
    WriteOptions, MAX_FIELD_BYTES, MAX_HEADER_BYTES, MAX_ROW_BYTES,
};

const SAMPLES: &[&[u8]] = &[
    include_bytes!("../tests/data/hwid-synthetic_gwai-default_utf16le.csv"),
    include_bytes!("../tests/data/hwid-synthetic_grouptag-assigneduser_ascii.csv"),
    include_bytes!("../tests/data/partner-center_tuple_synthetic_ascii.csv"),
    include_bytes!("../tests/data/corporate-identifier_synthetic_ascii.csv"),
];

const TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\r",
    b"\n",
    b"\r\n",
    b"\"\"",
    b",\"",
    b"\",",
    b"\0",
    b"\x01",
    b"\x7f",
    b"\t",
    b" ",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xef\xbb\xbf",
    b"\x00\xd8",
    b"\xc3\xa9",
    b"\xe9",
    b"\x80",
    b"Device Serial Number",
    b"Windows Product ID",
    b"Hardware Hash",
    b"Group Tag",
    b"OrderID",
    b"Manufacturer name",
    b",,,,\r\n",
    b"T1VRQUFBQUFB",
];

/// Run lengths around the caps.
const RUNS: &[usize] = &[
    MAX_HEADER_BYTES - 1,
    MAX_HEADER_BYTES,
    MAX_HEADER_BYTES + 1,
    MAX_FIELD_BYTES - 1,
    MAX_FIELD_BYTES,
    MAX_FIELD_BYTES + 1,
    MAX_ROW_BYTES,
    MAX_ROW_BYTES + 1,
    200_000,
];

/// The harness's randomness: a seeded generator from `rand`, so a failing run replays with its seed.
struct Rng(StdRng);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn generated() -> Vec<Vec<u8>> {
    let rows: Vec<HashCsvRow> = (1..=3)
        .map(|n| HashCsvRow {
            serial_number: format!("SN-{n}"),
            product_key: (n == 2).then(|| "00330-80000-00000-AA123".to_string()),
            hardware_hash: Some("T0EAAAAA".repeat(n)),
            group_tag: Some(format!("Tag{n}")),
            assigned_user: (n == 3).then(|| "user@contoso.com".to_string()),
            manufacturer: Some("Contoso".into()),
            model: Some("Laptop é".into()),
            ..Default::default()
        })
        .collect();
    let mut out = Vec::new();
    for dialect in CsvDialect::ALL {
        for encoding in CsvEncoding::ALL {
            for (line_ending, quote_all) in [(LineEnding::CrLf, false), (LineEnding::Lf, true)] {
                let options = WriteOptions {
                    dialect,
                    encoding,
                    line_ending,
                    quote_all,
                };
                let mut bytes = Vec::new();
                write_hash_csv_with(&mut bytes, &options, &rows).expect("write");
                out.push(bytes);
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, base: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(9) {
            0 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            1 if !b.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len());
                let to = (from + rng.below(200)).min(other.len());
                b.splice(at..at, other[from..to].iter().copied());
            }
            3 if !b.is_empty() => {
                let i = at.min(b.len() - 1);
                b[i] = rng.next() as u8;
            }
            4 if !b.is_empty() => {
                let end = (at + rng.below(100)).min(b.len());
                let dup = b[at.min(end)..end].to_vec();
                b.splice(at..at, dup);
            }
            5 if rng.below(16) == 0 => {
                // A long run of one byte, around one of the caps.
                let byte = [b'A', 0, b'"', b',', b' ', b'\r', 0xE9][rng.below(7)];
                let n = RUNS[rng.below(RUNS.len())];
                b.splice(at..at, std::iter::repeat_n(byte, n));
            }
            6 => b.truncate(at),
            _ => {}
        }
    }
    b
}

fn is_control(c: char) -> bool {
    c.is_control()
}

fn check_message(message: &str) {
    assert!(
        !message.chars().any(is_control),
        "control character in message {message:?}"
    );
    assert!(message.len() < 2000, "message of {} bytes", message.len());
}

/// Reads `input` to the end, checking every invariant. Returns the number of rows and errors.
fn check_reader<R: Read>(input: R) -> Option<u64> {
    let reader = match HashCsvReader::new(input) {
        Err(e) => {
            check_message(&e.to_string());
            return None;
        }
        Ok(reader) => reader,
    };
    for name in reader.header() {
        assert!(name.len() <= MAX_HEADER_BYTES);
    }
    let mut expected = 1u64;
    let mut last_line = 0u64;
    let mut file_error = false;
    for item in reader {
        assert!(!file_error, "an item after a file error");
        match item {
            Ok(row) => {
                assert_eq!(row.row, expected, "row numbers");
                assert!(row.line >= last_line.max(1), "lines go back");
                last_line = row.line;
                expected += 1;
                for value in [
                    Some(&row.serial_number),
                    row.product_key.as_ref(),
                    row.hardware_hash.as_ref(),
                    row.group_tag.as_ref(),
                    row.assigned_user.as_ref(),
                    row.manufacturer.as_ref(),
                    row.model.as_ref(),
                ]
                .into_iter()
                .flatten()
                {
                    // Caps count bytes as read (UTF-8 after transcoding UTF-16): a Windows-1252
                    // byte may decode to 3 UTF-8 bytes, but never to more than one character.
                    let chars = value.chars().count();
                    assert!(chars <= MAX_FIELD_BYTES, "value of {chars} characters");
                    assert!(
                        !value
                            .chars()
                            .any(|c| (c < ' ' && !matches!(c, '\t' | '\r' | '\n')) || c == '\x7f'),
                        "control byte in {value:?}"
                    );
                    assert_eq!(value.trim(), value, "untrimmed value");
                }
            }
            Err(e) => {
                check_message(&e.to_string());
                if e.is_file_error() {
                    file_error = true;
                } else {
                    assert_eq!(e.row, expected, "row numbers (error)");
                    assert!(e.line >= last_line.max(1), "lines go back (error)");
                    last_line = e.line;
                    expected += 1;
                }
            }
        }
    }
    Some(expected - 1)
}

/// Rows the `csv` crate finds in plain UTF-8 text within the caps (non-blank records after the
/// first non-blank one), or `None` when the input is not such text.
fn csv_crate_rows(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.starts_with('\u{feff}')
        || text
            .chars()
            .any(|c| (c < ' ' && !matches!(c, '\t' | '\r' | '\n')) || c == '\x7f')
    {
        return None;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = 0u64;
    let mut header = true;
    for record in reader.byte_records() {
        let record = record.ok()?;
        if record.as_slice().len() > MAX_ROW_BYTES
            || record.iter().any(|f| f.len() > MAX_FIELD_BYTES)
            || record.len() > 64
        {
            return None;
        }
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if header {
            header = false;
            if record.as_slice().len() > MAX_HEADER_BYTES {
                return None;
            }
            continue;
        }
        records += 1;
    }
    Some(records)
}

fn check(bytes: &[u8]) {
    let rows = check_reader(bytes);
    if let (Some(rows), Some(expected)) = (rows, csv_crate_rows(bytes)) {
        assert_eq!(rows, expected, "row count differs from the csv crate's");
    }
    if let Err(e) = ztd_formats::read_corporate_identifiers(bytes) {
        let _ = e.to_string();
    }
}

/// `prefix`, then `count` copies of `byte`, then `suffix`, produced as read.
struct Stream<'a> {
    prefix: &'a [u8],
    byte: u8,
    count: u64,
    suffix: &'a [u8],
    pos: u64,
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (p, c) = (self.prefix.len() as u64, self.count);
        let mut n = 0;
        while n < buf.len() {
            let at = self.pos;
            if at < p {
                let m = ((p - at) as usize).min(buf.len() - n);
                buf[n..n + m].copy_from_slice(&self.prefix[at as usize..at as usize + m]);
                n += m;
                self.pos += m as u64;
            } else if at < p + c {
                let m = ((p + c - at) as usize).min(buf.len() - n);
                buf[n..n + m].fill(self.byte);
                n += m;
                self.pos += m as u64;
            } else {
                let s = (at - p - c) as usize;
                if s >= self.suffix.len() {
                    break;
                }
                let m = (self.suffix.len() - s).min(buf.len() - n);
                buf[n..n + m].copy_from_slice(&self.suffix[s..s + m]);
                n += m;
                self.pos += m as u64;
            }
        }
        Ok(n)
    }
}

fn fail(runs: u64, seed: u64, input: &[u8], p: Box<dyn std::any::Any + Send>) -> ! {
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let shown = &input[..input.len().min(4096)];
    eprintln!(
        "FAILED after {runs} inputs (seed {seed}) on input of {} bytes (first 4 KiB):\n{:?}\n{msg}",
        input.len(),
        String::from_utf8_lossy(shown)
    );
    std::process::exit(1);
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = Rng(StdRng::seed_from_u64(seed));
    let mut corpus: Vec<Vec<u8>> = SAMPLES.iter().map(|s| s.to_vec()).collect();
    corpus.extend(generated());
    let seeds = corpus.len();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut runs, mut accepted, mut streams) = (0u64, 0u64, 0u64);
    // The default panic hook stays: a failure prints its location, then the input (see `fail`).
    while Instant::now() < deadline {
        for _ in 0..64 {
            let base = &corpus[rng.below(corpus.len())];
            let input = mutate(&mut rng, base, &corpus);
            runs += 1;
            if let Err(p) = panic::catch_unwind(|| check(&input)) {
                fail(runs, seed, &input, p);
            }
            let readable = HashCsvReader::new(input.as_slice()).is_ok();
            if readable {
                accepted += 1;
                if corpus.len() < 4096 && input.len() < 64 * 1024 {
                    corpus.push(input);
                }
            }
        }
        if rng.below(8) == 0 {
            // A mutated file, then megabytes of one byte without a line break, then a good row.
            let pick = rng.below(seeds);
            let base = mutate(&mut rng, &corpus[pick], &corpus);
            let byte = [0u8, b'A', b'"', b','][rng.below(4)];
            let count = ((1 + rng.below(16)) as u64) << 20;
            let stream = Stream {
                prefix: &base,
                byte,
                count,
                suffix: b"\r\nLAST,,AAAA\r\n",
                pos: 0,
            };
            streams += 1;
            if let Err(p) = panic::catch_unwind(|| check_reader(stream)) {
                fail(runs, seed, &base, p);
            }
        }
    }
    let peak = peak_rss_mib();
    if let Some(peak) = peak {
        assert!(peak < 512, "peak RSS {peak} MiB");
    }
    println!(
        "fuzz_hash_csv: {runs} inputs in {secs} s (seed {seed}), {accepted} with a valid header, {streams} streams of 1-16 MiB, corpus {}, peak RSS {} MiB — no failures",
        corpus.len(),
        peak.map_or("?".to_string(), |p| p.to_string())
    );
}
