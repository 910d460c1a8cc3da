//! `ztd import`: registers the devices of a hardware-hash CSV through the server, with a per-row report.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use futures::future::Either;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use ztd_api::native::{ImportRequestRef, ImportResponse, ImportRow, RowOutcome, RowResult};
use ztd_formats::hash_csv::HashCsvReader;

use super::client::{Client, ConnectArgs};

/// Register devices from a hardware-hash CSV (any Get-WindowsAutopilotInfo or Intune dialect, UTF-16 or
/// UTF-8 or ANSI, any size). Prints one line per row: row, serial, outcome, ZTDID or error.
///
/// Exit status: 0 when every row registered, 3 when some rows were refused (see the report), 2 when the
/// file cannot be read as a hash CSV, 1 on any other error.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  ztd import AutopilotHWID.csv\n  ztd import fleet.csv --json > report.json"
)]
pub struct Args {
    /// The CSV file.
    file: PathBuf,
    /// Rows per request (at most 5000; a request also never carries more than 8 MiB).
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(1..=5000))]
    batch_size: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    server: ConnectArgs,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    file: String,
    dialect: String,
    encoding: String,
    rows: usize,
    registered: usize,
    rejected: usize,
    outcomes: Vec<RowOutcome>,
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A batch of rows to send, plus the rows the CSV reader itself refused.
enum Batch {
    Rows(Vec<ImportRow>),
    Refused(RowOutcome),
}

fn refused(row: u64, serial: String, message: String) -> RowOutcome {
    let kind = ztd_core::error::ImportErrorKind::InvalidZtdRequestBody;
    RowOutcome {
        row,
        serial_number: serial,
        result: RowResult::Rejected {
            error_code: kind.code(),
            error_name: kind.name().to_string(),
            message,
        },
    }
}

/// Most JSON bytes in one import request: well under the server's 64 MiB body limit
/// (`MAX_IMPORT_BODY_BYTES` in ztd-server's `native.rs`), so that no batch is refused whole. A row the CSV
/// reader accepts is at most 128 KiB of values, under 1 MiB of JSON even if every byte needs escaping.
pub const BATCH_BYTES: usize = 8 << 20;

/// JSON bytes of an [`ImportRow`] besides its string values: key names, quotes, punctuation, the row number.
const ROW_OVERHEAD: usize = 160;

/// The length of `text` as a JSON string, quotes included (what serde_json writes).
fn json_string_len(text: &str) -> usize {
    2 + text.len()
        + text
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0C => 1,
                0..=0x1F => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// An upper bound of the JSON bytes `row` adds to an import request.
fn row_json_len(row: &ImportRow) -> usize {
    ROW_OVERHEAD
        + [
            &row.serial_number,
            &row.product_key,
            &row.hardware_hash,
            &row.group_tag,
            &row.assigned_user,
        ]
        .into_iter()
        .map(|s| json_string_len(s))
        .sum::<usize>()
}

/// Groups rows into batches of at most `rows` rows and `bytes` JSON bytes (a single row larger than `bytes`
/// goes alone).
struct Batcher {
    max_rows: usize,
    max_bytes: usize,
    rows: Vec<ImportRow>,
    bytes: usize,
}

impl Batcher {
    fn new(max_rows: usize, max_bytes: usize) -> Self {
        let max_rows = max_rows.max(1);
        Batcher {
            max_rows,
            max_bytes,
            rows: Vec::with_capacity(max_rows.min(8192)),
            bytes: 0,
        }
    }

    /// Adds a row; returns the batch that is complete, if any.
    fn push(&mut self, row: ImportRow) -> Option<Vec<ImportRow>> {
        let len = row_json_len(&row);
        // Byte budget: close the batch before a row that would take it over.
        let done = if !self.rows.is_empty() && self.bytes + len > self.max_bytes {
            self.take()
        } else {
            None
        };
        self.bytes += len;
        self.rows.push(row);
        // Row budget. After a byte flush the batch holds this one row, which fills it only when `max_rows` is
        // 1, and then the batch was empty and nothing was flushed: never two batches at once.
        if done.is_none() && self.rows.len() >= self.max_rows {
            return self.take();
        }
        done
    }

    fn take(&mut self) -> Option<Vec<ImportRow>> {
        self.bytes = 0;
        (!self.rows.is_empty())
            .then(|| std::mem::replace(&mut self.rows, Vec::with_capacity(self.max_rows.min(8192))))
    }

    fn finish(mut self) -> Option<Vec<ImportRow>> {
        self.take()
    }
}

/// The report line for a row the CSV reader refused.
fn reader_message(err: &ztd_formats::RowError) -> String {
    match &err.field {
        Some(field) => format!("line {}, column \"{field}\": {}", err.line, err.message),
        None => format!("line {}: {}", err.line, err.message),
    }
}

/// A file that is not a hash CSV (wrong header, wrong encoding...): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FileError {
    path: String,
    message: String,
}

/// What importing a file produced.
pub struct Imported {
    pub dialect: String,
    pub encoding: String,
    /// Every row's outcome, in file order.
    pub outcomes: Vec<RowOutcome>,
}

/// Streams `path` to the server in batches of `batch_size` rows, two requests in flight, and collects every
/// row's outcome. Memory stays bounded by the batch size whatever the file size.
pub async fn import_file(
    client: &Client,
    path: &Path,
    batch_size: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Imported> {
    import_with(
        path,
        batch_size,
        progress,
        |rows: Vec<ImportRow>| async move {
            client
                .post_idempotent::<_, ImportResponse>(
                    "/ztd/v1/import",
                    &ImportRequestRef { rows: &rows },
                )
                .await
                .map(|r| r.outcomes)
        },
    )
    .await
}

/// Streams `path` in batches to `register` (two batches in flight) and collects every row's outcome. The
/// CLI registers through the server; `ztd bench import --transport in-process` calls the use case directly.
pub async fn import_with<F, Fut>(
    path: &Path,
    batch_size: usize,
    progress: &ProgressBar,
    register: F,
) -> anyhow::Result<Imported>
where
    F: Fn(Vec<ImportRow>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Vec<RowOutcome>>>,
{
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    progress.set_length(file.metadata().map(|m| m.len()).unwrap_or(0));
    let read = Arc::new(AtomicU64::new(0));
    let reader = HashCsvReader::new(BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: file,
            read: read.clone(),
        },
    ))
    .map_err(|err| FileError {
        path: path.display().to_string(),
        message: err.to_string(),
    })?;
    let dialect = format!("{:?}", reader.dialect());
    let encoding = format!("{:?}", reader.encoding());

    let (sender, receiver) = tokio::sync::mpsc::channel::<Batch>(1);
    let producer = std::thread::spawn(move || {
        let mut batcher = Batcher::new(batch_size, BATCH_BYTES);
        for item in reader {
            let batch = match item {
                Ok(row) => {
                    let row = ImportRow {
                        row: row.row,
                        serial_number: row.serial_number,
                        product_key: row.product_key.unwrap_or_default(),
                        hardware_hash: row.hardware_hash.unwrap_or_default(),
                        group_tag: row.group_tag.unwrap_or_default(),
                        assigned_user: row.assigned_user.unwrap_or_default(),
                    };
                    match batcher.push(row) {
                        Some(rows) => Batch::Rows(rows),
                        None => continue,
                    }
                }
                Err(err) => Batch::Refused(refused(err.row, String::new(), reader_message(&err))),
            };
            if sender.blocking_send(batch).is_err() {
                return;
            }
        }
        if let Some(rows) = batcher.finish() {
            let _ = sender.blocking_send(Batch::Rows(rows));
        }
    });

    let mut registered = 0usize;
    let mut outcomes: Vec<RowOutcome> = Vec::new();
    // Two requests in flight: the next batch is parsed and sent while the server commits the previous.
    let mut responses = tokio_stream_from(receiver)
        .map(|batch| match batch {
            Batch::Rows(rows) => Either::Left(register(rows)),
            Batch::Refused(outcome) => Either::Right(futures::future::ready(Ok(vec![outcome]))),
        })
        .buffered(2);
    while let Some(result) = responses.next().await {
        let batch: Vec<RowOutcome> = result?;
        registered += batch.iter().filter(|o| o.ztdid().is_some()).count();
        outcomes.extend(batch);
        progress.set_position(read.load(Ordering::Relaxed));
        progress.set_message(format!("{} rows, {registered} registered", outcomes.len()));
    }
    drop(responses);
    let _ = producer.join();
    outcomes.sort_by_key(|o| o.row);
    Ok(Imported {
        dialect,
        encoding,
        outcomes,
    })
}

/// Opens `path` and reads its header, so that a file that is not a hash CSV is reported before signing in.
fn check_file(path: &Path) -> Result<(), FileError> {
    let file_error = |message: String| FileError {
        path: path.display().to_string(),
        message,
    };
    let file =
        File::open(path).map_err(|err| file_error(format!("cannot open the file: {err}")))?;
    HashCsvReader::new(BufReader::new(file)).map_err(|err| file_error(err.to_string()))?;
    Ok(())
}

/// The JSON printed on stdout with `--json` when there is no report: `{"file", "error": {"kind", "message"}}`.
fn json_error(file: &Path, kind: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "file": file.display().to_string(),
        "error": { "kind": kind, "message": message },
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let progress = if args.quiet || args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{bar:30}] {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let imported = check_file(&args.file)
        .map_err(anyhow::Error::new)
        .and_then(|()| {
            super::client::runtime()?.block_on(async {
                let client = Client::connect_with(&args.server).await?;
                import_file(&client, &args.file, args.batch_size as usize, &progress).await
            })
        });
    progress.finish_and_clear();
    let Imported {
        dialect,
        encoding,
        outcomes,
    } = match imported {
        Ok(imported) => imported,
        Err(err) => {
            let (kind, code) = match err.downcast_ref::<FileError>() {
                Some(_) => ("fileError", ExitCode::from(2)),
                None => ("error", ExitCode::FAILURE),
            };
            let message = match err.downcast_ref::<FileError>() {
                Some(file_error) => file_error.message.clone(),
                None => format!("{err:#}"),
            };
            if args.json {
                let value = json_error(&args.file, kind, &message);
                println!("{}", serde_json::to_string_pretty(&value)?);
            }
            if kind == "fileError" {
                eprintln!("error: {err}");
            } else {
                eprintln!("error: {err:#}");
            }
            return Ok(code);
        }
    };
    let registered = outcomes.iter().filter(|o| o.ztdid().is_some()).count();
    let rejected = outcomes.len() - registered;
    if args.json {
        let report = Report {
            file: args.file.display().to_string(),
            dialect,
            encoding,
            rows: outcomes.len(),
            registered,
            rejected,
            outcomes,
        };
        serde_json::to_writer_pretty(std::io::stdout().lock(), &report)?;
        println!();
    } else {
        let stdout = std::io::stdout();
        print_table(&mut std::io::BufWriter::new(stdout.lock()), &outcomes)?;
        eprintln!(
            "{}: {} rows ({dialect}, {encoding}): {registered} registered, {rejected} refused",
            args.file.display(),
            outcomes.len()
        );
    }
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// Most characters of a serial number shown in the table (the JSON report has it whole).
const SERIAL_DISPLAY_CHARS: usize = 40;
/// Most characters of an outcome's detail shown in the table.
const DETAIL_DISPLAY_CHARS: usize = 600;

fn print_table(out: &mut impl std::io::Write, outcomes: &[RowOutcome]) -> std::io::Result<()> {
    let serial =
        |o: &RowOutcome| ztd_formats::excerpt_chars(&o.serial_number, SERIAL_DISPLAY_CHARS);
    let width = outcomes
        .iter()
        .map(|o| serial(o).chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:>6}  {:<width$}  {:<10}  DETAIL",
        "ROW", "SERIAL", "OUTCOME"
    )?;
    for outcome in outcomes {
        match &outcome.result {
            RowResult::Registered { ztdid } => writeln!(
                out,
                "{:>6}  {:<width$}  {:<10}  ZTDID {ztdid}",
                outcome.row,
                serial(outcome),
                "registered"
            )?,
            RowResult::Rejected {
                error_code,
                error_name,
                message,
            } => writeln!(
                out,
                "{:>6}  {:<width$}  {:<10}  {error_code} {error_name}: {}",
                outcome.row,
                serial(outcome),
                "refused",
                ztd_formats::excerpt_chars(message, DETAIL_DISPLAY_CHARS)
            )?,
        }
    }
    out.flush()
}

/// Adapts a tokio receiver into a stream.
fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u64, serial: &str, hash: &str) -> ImportRow {
        ImportRow {
            row: n,
            serial_number: serial.into(),
            product_key: String::new(),
            hardware_hash: hash.into(),
            group_tag: String::new(),
            assigned_user: String::new(),
        }
    }

    #[test]
    fn a_serial_of_100000_characters_prints_truncated_instead_of_panicking() {
        let long = "S".repeat(100_000);
        let outcomes = vec![
            refused(1, long.clone(), "too long".into()),
            RowOutcome {
                row: 2,
                serial_number: format!("{long}\u{1b}[2J"),
                result: RowResult::Registered {
                    ztdid: uuid::Uuid::nil().into(),
                },
            },
        ];
        let mut out = Vec::new();
        print_table(&mut out, &outcomes).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            assert!(line.chars().count() < 200, "{line}");
            assert!(!line.contains('\u{1b}'), "{line:?}");
        }
        assert!(text.contains('…'));
    }

    #[test]
    fn json_length_estimate_is_an_upper_bound() {
        for (serial, hash) in [
            ("S1", "AAAA"),
            ("quote\"back\\slash", "tab\tnul\0bell\x07"),
            ("é€😀", &"H".repeat(10_000)),
        ] {
            let r = row(123_456_789, serial, hash);
            let exact = serde_json::to_vec(&r).unwrap().len() + 1;
            assert!(row_json_len(&r) >= exact, "{serial}");
            assert!(row_json_len(&r) <= exact + ROW_OVERHEAD, "{serial}");
        }
    }

    #[test]
    fn batches_respect_both_the_row_and_the_byte_budget() {
        let big = "H".repeat(100_000);
        let mut batcher = Batcher::new(3, 250_000);
        let mut batches = Vec::new();
        for n in 1..=8 {
            let hash = if (4..=6).contains(&n) {
                big.as_str()
            } else {
                "AAAA"
            };
            batches.extend(batcher.push(row(n, "S", hash)));
        }
        batches.extend(batcher.finish());
        let shape: Vec<Vec<u64>> = batches
            .iter()
            .map(|b| b.iter().map(|r| r.row).collect())
            .collect();
        assert_eq!(shape, vec![vec![1, 2, 3], vec![4, 5], vec![6, 7, 8]]);
        for batch in &batches {
            let json = serde_json::to_vec(&ImportRequestRef { rows: batch }).unwrap();
            assert!(json.len() <= 250_000, "{}", json.len());
        }
        // A row larger than the budget goes alone.
        let mut batcher = Batcher::new(10, 1_000);
        assert!(batcher.push(row(1, "S", "A")).is_none());
        assert_eq!(batcher.push(row(2, "S", &big)).unwrap().len(), 1);
        assert_eq!(batcher.push(row(3, "S", "A")).unwrap()[0].row, 2);
        assert_eq!(batcher.finish().unwrap()[0].row, 3);
    }

    #[test]
    fn the_batch_byte_budget_is_well_under_the_server_limit() {
        // ztd-server refuses import bodies over 64 MiB (native.rs); the largest row the reader accepts must
        // fit a batch many times over.
        let worst = ImportRow {
            row: u64::MAX,
            serial_number: "\0".repeat(ztd_formats::hash_csv::MAX_ROW_BYTES),
            ..row(0, "", "")
        };
        assert!(row_json_len(&worst) * 4 < BATCH_BYTES);
        const { assert!(BATCH_BYTES * 4 <= 64 << 20) };
    }
}
