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
use serde::{Deserialize, Serialize};
use ztd_app::{ImportRow, RowOutcome, RowResult};
use ztd_formats::hash_csv::HashCsvReader;

use super::client::{Client, ServerArgs};

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
    /// Rows per request (at most 5000).
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(1..=5000))]
    batch_size: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Deserialize)]
struct ImportResponse {
    outcomes: Vec<RowOutcome>,
}

#[derive(Serialize)]
struct ImportRequest<'a> {
    rows: &'a [ImportRow],
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
                .post::<_, ImportResponse>("/ztd/v1/import", &ImportRequest { rows: &rows })
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
        let mut rows = Vec::with_capacity(batch_size);
        for item in reader {
            let batch = match item {
                Ok(row) => {
                    rows.push(ImportRow {
                        row: row.row,
                        serial_number: row.serial_number,
                        product_key: row.product_key.unwrap_or_default(),
                        hardware_hash: row.hardware_hash.unwrap_or_default(),
                        group_tag: row.group_tag.unwrap_or_default(),
                        assigned_user: row.assigned_user.unwrap_or_default(),
                    });
                    if rows.len() < batch_size {
                        continue;
                    }
                    Batch::Rows(std::mem::replace(&mut rows, Vec::with_capacity(batch_size)))
                }
                Err(err) => Batch::Refused(refused(
                    err.row,
                    String::new(),
                    format!("line {}: {}", err.line, err.message),
                )),
            };
            if sender.blocking_send(batch).is_err() {
                return;
            }
        }
        if !rows.is_empty() {
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
    let runtime = super::client::runtime()?;
    let imported = runtime.block_on(async {
        let client = Client::connect(&args.server).await?;
        import_file(&client, &args.file, args.batch_size as usize, &progress).await
    });
    progress.finish_and_clear();
    let Imported {
        dialect,
        encoding,
        outcomes,
    } = match imported {
        Ok(imported) => imported,
        Err(err) => {
            if let Some(file_error) = err.downcast_ref::<FileError>() {
                eprintln!("error: {file_error}");
                return Ok(ExitCode::from(2));
            }
            return Err(err);
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
        print_table(&outcomes)?;
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

fn print_table(outcomes: &[RowOutcome]) -> std::io::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let width = outcomes
        .iter()
        .map(|o| o.serial_number.len())
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
                outcome.row, outcome.serial_number, "registered"
            )?,
            RowResult::Rejected {
                error_code,
                error_name,
                message,
            } => writeln!(
                out,
                "{:>6}  {:<width$}  {:<10}  {error_code} {error_name}: {message}",
                outcome.row, outcome.serial_number, "refused"
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
