//! Hand-run throughput check (not a timed unit test):
//! `cargo test --release -p ztd-formats --test throughput -- --ignored --nocapture`

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::time::Instant;

use ztd_formats::hash_csv::{write_hash_csv, CsvDialect, CsvEncoding, HashCsvReader, HashCsvRow};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
#[ignore = "run by hand in release mode"]
fn hundred_thousand_rows() {
    let rows = 100_000u64;
    let hash = "T0Hp".repeat(1000);
    for encoding in [CsvEncoding::Utf16Le, CsvEncoding::Utf8] {
        let path = std::env::temp_dir().join(format!("ztd-formats-throughput-{encoding:?}.csv"));
        let t = Instant::now();
        let file = BufWriter::new(File::create(&path).unwrap());
        let gen = (0..rows).map(|i| HashCsvRow {
            serial_number: format!("SER-{i:08}"),
            hardware_hash: Some(hash.clone()),
            group_tag: Some("Kiosk".into()),
            ..HashCsvRow::default()
        });
        write_hash_csv(file, CsvDialect::WithGroupTag, encoding, gen).unwrap();
        let written = t.elapsed();
        let size = std::fs::metadata(&path).unwrap().len();
        let t = Instant::now();
        let reader = HashCsvReader::new(BufReader::new(File::open(&path).unwrap())).unwrap();
        let mut n = 0u64;
        let mut bytes = 0usize;
        for row in reader {
            let row = row.unwrap();
            bytes += row.hardware_hash.map_or(0, |h| h.len());
            n += 1;
        }
        let read = t.elapsed();
        assert_eq!(n, rows);
        assert_eq!(bytes, 4000 * rows as usize);
        println!(
            "{encoding}: {size} bytes; write {:.2}s ({:.0} rows/s); read {:.2}s ({:.0} rows/s, {:.0} MB/s); peak RSS so far {:?} KiB",
            written.as_secs_f64(),
            rows as f64 / written.as_secs_f64(),
            read.as_secs_f64(),
            rows as f64 / read.as_secs_f64(),
            size as f64 / 1e6 / read.as_secs_f64(),
            peak_rss_kib()
        );
        let _ = std::fs::remove_file(&path);
    }
}
