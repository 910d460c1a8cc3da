//! `ztd bench`: reproducible measurements of ztd's own pipeline (see docs/benchmarks.md).

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use indicatif::ProgressBar;
use serde::Serialize;
use ztd_app::demo::{profile_draft, synthetic_hash};
use ztd_app::{App, NewGroup};
use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
use ztd_formats::hash_csv::{write_hash_csv, CsvDialect, CsvEncoding, HashCsvRow};
use ztd_store::Store;

use super::client::{Client, ServerArgs};
use super::import::{import_file, import_with};

/// Measure ztd on this machine.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Import a generated hash CSV through the whole registration pipeline, exactly as `ztd import` does
    /// against `ztd serve`: CSV streaming, HTTP, decode, register, directory object, dynamic membership,
    /// profile resolution, durable commit. The server runs in this process on loopback.
    Import {
        /// Devices in the generated CSV.
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// Dynamic groups in the tenant.
        #[arg(long, default_value_t = 100)]
        groups: usize,
        /// Rows per transaction.
        #[arg(long, default_value_t = 2_500)]
        batch_size: usize,
        /// `http`: the CLI's import code posting to a server on loopback (the user's path); `in-process`: the
        /// same CSV streaming calling the registration use case directly (the pipeline without transport).
        #[arg(long, value_enum, default_value = "http")]
        transport: Transport,
        /// Database; default: a fresh SQLite file in a temporary directory. A `postgres://` URL gets a fresh
        /// schema that is dropped afterwards.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Transport {
    Http,
    InProcess,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportBench {
    backend: String,
    transport: Transport,
    devices: usize,
    dynamic_groups: usize,
    profiles: usize,
    batch_size: usize,
    csv_bytes: u64,
    seconds: f64,
    devices_per_second: f64,
    registered: usize,
    memberships_per_device: f64,
    assigned_devices: usize,
    peak_rss_mb: f64,
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // `RUST_LOG=ztd_app=info` shows where each import batch spends its time.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    match args.command {
        BenchCommand::Import {
            devices,
            groups,
            batch_size,
            transport,
            database_url,
            json,
        } => {
            let result = super::client::runtime()?.block_on(bench_import(
                devices,
                groups,
                batch_size,
                transport,
                database_url,
                json,
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!(
                    "{} devices on {} ({:?}) with {} dynamic groups and {} profiles: {:.2} s, {:.0} devices/s, peak RSS {:.0} MB",
                    result.registered,
                    result.backend,
                    result.transport,
                    result.dynamic_groups,
                    result.profiles,
                    result.seconds,
                    result.devices_per_second,
                    result.peak_rss_mb
                );
                println!(
                    "  {:.2} dynamic memberships per device, {} devices with an assigned profile",
                    result.memberships_per_device, result.assigned_devices
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Group tags cycle through 50 values; rules select them in the ways admins write them.
fn rule_for(n: usize) -> String {
    match n % 4 {
        0 | 1 => format!("(device.devicePhysicalIds -any (_ -eq \"[OrderId]:TAG-{:02}\"))", n % 50),
        2 => format!("(device.devicePhysicalIds -any (_ -startsWith \"[OrderId]:TAG-{}\"))", n % 5),
        _ => format!(
            "(device.deviceModel -eq \"Model {}\") -and (device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\"))",
            n % 10
        ),
    }
}

async fn bench_import(
    devices: usize,
    groups: usize,
    batch_size: usize,
    transport: Transport,
    url: Option<String>,
    quiet: bool,
) -> anyhow::Result<ImportBench> {
    let dir = tempfile::tempdir()?;
    let mut scratch = None;
    let store = match &url {
        Some(url) if url.starts_with("postgres") => {
            let pg = ztd_store::scratch::ScratchPostgres::create(url).await?;
            let store = pg.store.clone();
            scratch = Some(pg);
            store
        }
        Some(url) => Store::open(url).await?,
        None => ztd_store::scratch::sqlite_in(dir.path()).await?,
    };
    let backend = format!("{:?}", store.backend());
    let app = App::with_defaults(store);
    let tenant = app.create_tenant("Bench", "bench.example").await?;

    let mut group_ids = Vec::new();
    for n in 0..groups {
        let group = app
            .create_group(
                tenant.id,
                NewGroup {
                    display_name: format!("Group {n}"),
                    description: String::new(),
                    membership_rule: Some(rule_for(n)),
                },
            )
            .await?;
        group_ids.push(group.id);
    }
    let mut profiles = 0;
    for (n, group) in group_ids.iter().enumerate().step_by(10) {
        let profile = app
            .create_profile(
                tenant.id,
                profile_draft(
                    &format!("Profile {n}"),
                    JoinType::AzureAd,
                    DeviceUsageType::SingleUser,
                    "PC-%RAND:6%",
                ),
            )
            .await?;
        app.assign_profile(tenant.id, profile.id, AssignmentTarget::Group(*group), None)
            .await?;
        profiles += 1;
    }

    // The input: a Get-WindowsAutopilotInfo -GroupTag file (UTF-16LE), generated before the clock starts.
    let csv_path = dir.path().join("fleet.csv");
    {
        let rows = (0..devices).map(|n| {
            let serial = format!("BENCH-{n:07}");
            HashCsvRow {
                row: n as u64 + 1,
                hardware_hash: Some(synthetic_hash(
                    &serial,
                    "Contoso",
                    &format!("Model {}", n % 10),
                )),
                serial_number: serial,
                group_tag: Some(format!("TAG-{:02}", n % 50)),
                ..Default::default()
            }
        });
        let file = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
        write_hash_csv(file, CsvDialect::WithGroupTag, CsvEncoding::Utf16Le, rows)?;
    }
    let csv_bytes = std::fs::metadata(&csv_path)?.len();

    let progress = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    let (seconds, registered, import_peak_rss) = match transport {
        Transport::Http => {
            // The user's path: the CLI's import code posting to a real server on loopback.
            let key = app.token_signing_key().await?;
            let state = ztd_server::AppState {
                app: app.clone(),
                tokens: std::sync::Arc::new(ztd_server::TokenIssuer::new(&key)),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let server = format!("http://{}", listener.local_addr()?);
            let serving = tokio::spawn(ztd_server::serve(listener, state, None));
            let credential = app
                .create_client(tenant.id, "bench", ztd_app::ADMIN_SCOPES)
                .await?;
            let client = Client::connect(&ServerArgs {
                server,
                credentials: std::path::PathBuf::from("/nonexistent"),
                tenant_id: Some(tenant.id.to_string()),
                client_id: Some(credential.client_id),
                client_secret: Some(credential.client_secret),
            })
            .await?;
            let started = Instant::now();
            let imported = import_file(&client, &csv_path, batch_size, &progress).await?;
            let seconds = started.elapsed().as_secs_f64();
            serving.abort();
            (
                seconds,
                imported
                    .outcomes
                    .iter()
                    .filter(|o| o.ztdid().is_some())
                    .count(),
                peak_rss_mb(),
            )
        }
        Transport::InProcess => {
            let started = Instant::now();
            let tenant_id = tenant.id;
            let app_ref = &app;
            let imported = import_with(&csv_path, batch_size, &progress, |rows| async move {
                Ok(app_ref.import_devices(tenant_id, &rows).await?)
            })
            .await?;
            let seconds = started.elapsed().as_secs_f64();
            (
                seconds,
                imported
                    .outcomes
                    .iter()
                    .filter(|o| o.ztdid().is_some())
                    .count(),
                peak_rss_mb(),
            )
        }
    };
    progress.finish_and_clear();

    // Check the work was really done (outside the timing).
    let mut memberships = 0usize;
    for group in &group_ids {
        memberships += app
            .group_members(tenant.id, *group)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
    }
    let assigned = app
        .devices(tenant.id, &ztd_store::DeviceQuery::default())
        .await?
        .iter()
        .filter(|d| d.assignment.intended_profile_id.is_some())
        .count();
    let result = ImportBench {
        backend,
        transport,
        devices,
        dynamic_groups: groups,
        profiles,
        batch_size,
        csv_bytes,
        seconds,
        devices_per_second: registered as f64 / seconds,
        registered,
        memberships_per_device: memberships as f64 / registered.max(1) as f64,
        assigned_devices: assigned,
        peak_rss_mb: import_peak_rss,
    };
    if let Some(pg) = scratch {
        pg.drop_schema().await?;
    }
    Ok(result)
}
