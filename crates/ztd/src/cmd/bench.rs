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

use super::client::{next_page_path, Client, ServerArgs};
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
    /// The Graph API as Autopilot tools use it: list every device page by page with
    /// `$filter=contains(serialNumber,...)` (first-page latency and total), and a Graph import of devices
    /// until every record reads `complete`.
    Graph {
        /// Registered devices to list.
        #[arg(long, default_value_t = 100_000)]
        devices: usize,
        /// Devices imported through `importedWindowsAutopilotDeviceIdentities/import`.
        #[arg(long, default_value_t = 1_000)]
        imports: usize,
        /// Page size (`$top`); Graph's default is 100.
        #[arg(long, default_value_t = 100)]
        top: usize,
        /// Database; default: a fresh SQLite file in a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Create a fresh data directory for `ztd serve --data-dir DIR` (ztd.db and credentials.json, as a first
    /// start writes them) holding a fleet for HTTP load tests (`bench/http.sh`): devices with generated hashes,
    /// three dynamic groups on `[OrderId]` (small, mid, all), a profile assigned to the all-devices group; and,
    /// beside them, boot request bodies of registered devices, device ids and `bench-seed.json` (group ids).
    Seed(SeedPlan),
    /// The device side against a running server (`bench/devices.sh` starts one): joins, PRT requests,
    /// tokens through a PRT and nonces per second, each with the server's CPU per operation, against
    /// `GET /health` in the same run.
    Devices(super::bench_devices::DevicePlan),
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
        BenchCommand::Devices(plan) => {
            super::client::runtime()?.block_on(super::bench_devices::run(plan))?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Seed(plan) => {
            let seeded = super::client::runtime()?.block_on(bench_seed(plan))?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Graph {
            devices,
            imports,
            top,
            database_url,
            json,
        } => {
            let result = super::client::runtime()?.block_on(bench_graph(
                devices,
                imports,
                top,
                database_url,
            ))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!(
                    "list {} devices ($filter=contains(serialNumber), $top={}): first page {:.1} ms, all {} pages {:.2} s",
                    result.listed, result.top, result.first_page_ms, result.pages, result.list_seconds
                );
                println!(
                    "Graph import of {} devices: all complete after {:.0} ms ({} polls)",
                    result.imported, result.import_complete_ms, result.polls
                );
            }
            Ok(ExitCode::SUCCESS)
        }
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
    let (store, scratch) = bench_store(dir.path(), url.as_deref()).await?;
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
            let (client, serving) = serve_on_loopback(&app, tenant.id).await?;
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GraphBench {
    backend: String,
    listed: usize,
    top: usize,
    pages: usize,
    first_page_ms: f64,
    list_seconds: f64,
    imported: usize,
    import_complete_ms: f64,
    polls: usize,
}

/// Opens the benchmark's database: a fresh SQLite file in `dir`, or a fresh PostgreSQL schema.
async fn bench_store(
    dir: &std::path::Path,
    url: Option<&str>,
) -> anyhow::Result<(Store, Option<ztd_store::scratch::ScratchPostgres>)> {
    Ok(match url {
        Some(url) if url.starts_with("postgres") => {
            let pg = ztd_store::scratch::ScratchPostgres::create(url).await?;
            (pg.store.clone(), Some(pg))
        }
        Some(url) => (Store::open(url).await?, None),
        None => (ztd_store::scratch::sqlite_in(dir).await?, None),
    })
}

async fn bench_graph(
    devices: usize,
    imports: usize,
    top: usize,
    url: Option<String>,
) -> anyhow::Result<GraphBench> {
    let dir = tempfile::tempdir()?;
    let (store, scratch) = bench_store(dir.path(), url.as_deref()).await?;
    let backend = format!("{:?}", store.backend());
    let app = App::with_defaults(store);
    let tenant = app.create_tenant("Bench", "bench.example").await?;
    let mut next = 0;
    while next < devices {
        let count = (devices - next).min(5_000);
        let mut rows = ztd_app::demo::synthetic_rows(&format!("GRAPH-{next:07}-"), count, &["Lab"]);
        rows.iter_mut().for_each(|r| r.row += next as u64);
        app.import_devices(tenant.id, &rows).await?;
        next += count;
    }

    let (client, serving) = serve_on_loopback(&app, tenant.id).await?;

    // Find devices by serial the way Get-WindowsAutopilotInfo does, following @odata.nextLink to the end.
    let started = Instant::now();
    let mut next_page = Some(format!(
        "/beta/deviceManagement/windowsAutopilotDeviceIdentities?$filter=contains(serialNumber,'GRAPH-')&$top={top}"
    ));
    let (mut listed, mut pages, mut first_page_ms) = (0usize, 0usize, 0.0);
    while let Some(path) = next_page.take() {
        let page: serde_json::Value = client.get(&path).await?;
        if pages == 0 {
            first_page_ms = started.elapsed().as_secs_f64() * 1000.0;
        }
        pages += 1;
        listed += page["value"].as_array().map_or(0, Vec::len);
        next_page = next_page_path(&page);
    }
    let list_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        listed == devices,
        "listed {listed} devices, expected {devices}"
    );

    // Import through Graph (500 per call, as the service allows) and poll until nothing reads `unknown`.
    let bodies: Vec<serde_json::Value> = (0..imports)
        .map(|n| {
            let serial = format!("GIMP-{n:06}");
            serde_json::json!({
                "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
                "serialNumber": serial,
                "hardwareIdentifier": synthetic_hash(&serial, "Contoso", "Laptop 14"),
                "groupTag": "Imported",
                "importId": "bench",
            })
        })
        .collect();
    let started = Instant::now();
    for chunk in bodies.chunks(500) {
        let _: serde_json::Value = client
            .post(
                "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/import",
                &serde_json::json!({ "importedWindowsAutopilotDeviceIdentities": chunk }),
            )
            .await?;
    }
    let mut polls = 0;
    loop {
        polls += 1;
        let mut complete = 0usize;
        let mut next_page = Some(
            "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities?$top=999".to_string(),
        );
        while let Some(path) = next_page.take() {
            let page: serde_json::Value = client.get(&path).await?;
            complete += page["value"].as_array().map_or(0, |v| {
                v.iter()
                    .filter(|r| r["state"]["deviceImportStatus"] == "complete")
                    .count()
            });
            next_page = next_page_path(&page);
        }
        if complete >= imports {
            break;
        }
        anyhow::ensure!(
            started.elapsed().as_secs() < 120,
            "imports did not complete within 2 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let import_complete_ms = started.elapsed().as_secs_f64() * 1000.0;
    serving.abort();
    if let Some(pg) = scratch {
        pg.drop_schema().await?;
    }
    Ok(GraphBench {
        backend,
        listed,
        top,
        pages,
        first_page_ms,
        list_seconds,
        imported: imports,
        import_complete_ms,
        polls,
    })
}

/// Starts a server on loopback in this process and signs a client in to it, as `ztd serve` and the CLI do.
async fn serve_on_loopback(
    app: &App,
    tenant: ztd_core::TenantId,
) -> anyhow::Result<(Client, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let state = ztd_server::AppState {
        app: app.clone(),
        tokens: std::sync::Arc::new(ztd_server::Tokens::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = format!("http://{}", listener.local_addr()?);
    let serving = tokio::spawn(ztd_server::serve(listener, state, None));
    let credential = app
        .create_client(
            tenant,
            &ztd_app::ClientSpec::new("bench", ztd_app::ADMIN_SCOPES),
        )
        .await?;
    let client = Client::connect(&ServerArgs {
        server,
        credentials: std::path::PathBuf::from("/nonexistent"),
        tenant_id: Some(tenant.to_string()),
        client_id: Some(credential.client_id),
        client_secret: Some(credential.client_secret),
    })
    .await?;
    Ok((client, serving))
}

/// What `ztd bench seed` creates.
#[derive(Debug, clap::Args)]
struct SeedPlan {
    /// Directory to create; it must not hold a database yet.
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Registered devices (all in the "all" group).
    #[arg(long, default_value_t = 100_000)]
    devices: usize,
    /// Members of the small group (group tag M-SMALL).
    #[arg(long, default_value_t = 100)]
    small: usize,
    /// Members of the mid group (group tags M-SMALL and M-MID).
    #[arg(long, default_value_t = 25_000)]
    mid: usize,
    /// Boot request bodies to write (`{"hardwareHash":"..."}`, one per line), of devices spread over the
    /// fleet; the same number of device ids.
    #[arg(long, default_value_t = 1_000)]
    boot_bodies: usize,
    /// Name of the tenant.
    #[arg(long, default_value = "Bench")]
    tenant_name: String,
    /// Default domain of the tenant.
    #[arg(long, default_value = "bench.example")]
    tenant_domain: String,
    /// Seed this database (an empty `postgres://...` one, for several nodes) instead of SQLite in
    /// --data-dir; the credentials and boot bodies still go to --data-dir.
    #[arg(long)]
    database_url: Option<String>,
}

/// A seeded group: its id and how many members it has after the import.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeededGroup {
    id: String,
    display_name: String,
    membership_rule: String,
    members: u64,
}

/// `bench-seed.json`: what `bench/http.sh` needs to address the seeded data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Seeded {
    data_dir: String,
    tenant_id: String,
    devices: usize,
    seconds: f64,
    /// A `contains(serialNumber,'…')` argument matching every tenth device, spread over the whole fleet.
    serial_filter: String,
    serial_filter_matches: usize,
    profile_id: String,
    groups: std::collections::BTreeMap<&'static str, SeededGroup>,
    /// One `{"hardwareHash":"…"}` per line, of registered devices (the imported hash bytes).
    boot_bodies: String,
    /// One ZTDID (`windowsAutopilotDeviceIdentities/{id}`) per line.
    device_ids: String,
}

const SEED_MANUFACTURER: &str = "Contoso";

/// Serial numbers carry a lot code `L0-`…`L9-` (device n is in lot n % 10), so `contains(serialNumber,'L3-')`
/// matches a tenth of the fleet, spread evenly.
fn seed_serial(n: usize) -> String {
    format!("HB-L{}-{n:07}", n % 10)
}

fn seed_row(n: usize, small: usize, mid: usize) -> ztd_app::ImportRow {
    let serial = seed_serial(n);
    let model = if n.is_multiple_of(3) {
        "Contoso Laptop 14"
    } else {
        "Contoso Desktop 7"
    };
    ztd_app::ImportRow {
        row: n as u64 + 1,
        hardware_hash: synthetic_hash(&serial, SEED_MANUFACTURER, model),
        serial_number: serial,
        group_tag: if n < small {
            "M-SMALL".into()
        } else if n < mid {
            "M-MID".into()
        } else {
            "REST".into()
        },
        ..Default::default()
    }
}

/// Rows `range` with their hashes, generated on every core (hash generation is most of the seed's CPU).
fn seed_rows(range: std::ops::Range<usize>, small: usize, mid: usize) -> Vec<ztd_app::ImportRow> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = range.len().div_ceil(threads).max(1);
    let starts: Vec<usize> = range.clone().step_by(per).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = starts
            .iter()
            .map(|&start| {
                let end = (start + per).min(range.end);
                scope.spawn(move || {
                    (start..end)
                        .map(|n| seed_row(n, small, mid))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("hash generation panicked"))
            .collect()
    })
}

async fn bench_seed(plan: SeedPlan) -> anyhow::Result<Seeded> {
    use anyhow::Context;
    use std::io::Write;

    let SeedPlan {
        data_dir,
        devices,
        small,
        mid,
        boot_bodies,
        tenant_name,
        tenant_domain,
        database_url,
    } = plan;
    anyhow::ensure!(
        small <= mid && mid <= devices,
        "want --small <= --mid <= --devices"
    );
    anyhow::ensure!(
        (1..=devices).contains(&boot_bodies),
        "--boot-bodies must be between 1 and --devices"
    );
    let started = Instant::now();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&data_dir)?;
    let db = data_dir.join("ztd.db");
    anyhow::ensure!(
        !db.exists(),
        "{} already holds a database; seed a fresh directory",
        data_dir.display()
    );
    // The layout `ztd serve --data-dir` uses: the SQLite file, and the credentials of the first start.
    let url = database_url.unwrap_or_else(|| format!("sqlite://{}", db.display()));
    let store = Store::open(&url)
        .await
        .context("cannot open the database (check --database-url)")?;
    let app = App::with_defaults(store);
    let credentials = data_dir.join("credentials.json");
    let ztd_app::BootstrapOutcome::Created(first) = app
        .bootstrap(
            &tenant_name,
            &tenant_domain,
            &credentials.display().to_string(),
        )
        .await?
    else {
        anyhow::bail!("the new database already has a tenant");
    };
    let tenant = first.tenant.id;
    super::serve::write_credentials(
        &credentials,
        &super::client::CredentialsFile {
            tenant_id: tenant.to_string(),
            client_id: first.client_id.clone(),
            client_secret: first.client_secret.clone(),
            server: None,
        },
    )?;

    // Groups and the assignment first, so the import computes membership and assignment as it registers.
    let rules = [
        (
            "small",
            "Bench small",
            "(device.devicePhysicalIds -any (_ -eq \"[OrderId]:M-SMALL\"))",
        ),
        (
            "mid",
            "Bench mid",
            "(device.devicePhysicalIds -any (_ -startsWith \"[OrderId]:M-\"))",
        ),
        (
            "all",
            "Bench all",
            "(device.devicePhysicalIds -any (_ -startsWith \"[OrderId]:\"))",
        ),
    ];
    let mut groups = std::collections::BTreeMap::new();
    let mut group_ids = std::collections::BTreeMap::new();
    for (key, name, rule) in rules {
        let group = app
            .create_group(
                tenant,
                NewGroup {
                    display_name: name.into(),
                    description: "ztd bench seed".into(),
                    membership_rule: Some(rule.into()),
                },
            )
            .await?;
        group_ids.insert(key, group.id);
        groups.insert(
            key,
            SeededGroup {
                id: group.id.to_string(),
                display_name: name.into(),
                membership_rule: rule.into(),
                members: 0,
            },
        );
    }
    let profile = app
        .create_profile(
            tenant,
            profile_draft(
                "Bench user-driven",
                JoinType::AzureAd,
                DeviceUsageType::SingleUser,
                "HB-%SERIAL%",
            ),
        )
        .await?;
    app.assign_profile(
        tenant,
        profile.id,
        AssignmentTarget::Group(group_ids["all"]),
        None,
    )
    .await?;

    // Devices, in batches of 5,000; every (devices / boot_bodies)-th one also gives a boot body and an id.
    let every = devices / boot_bodies;
    let bodies_path = data_dir.join("bench-boot-bodies.txt");
    let ids_path = data_dir.join("bench-device-ids.txt");
    let mut bodies = std::io::BufWriter::new(std::fs::File::create(&bodies_path)?);
    let mut ids = std::io::BufWriter::new(std::fs::File::create(&ids_path)?);
    let mut written = 0usize;
    let mut next = 0;
    while next < devices {
        let end = (next + 5_000).min(devices);
        let rows = seed_rows(next..end, small, mid);
        let outcomes = app.import_devices(tenant, &rows).await?;
        for (row, outcome) in rows.iter().zip(&outcomes) {
            let ztdid = outcome.ztdid().with_context(|| {
                format!(
                    "row {} ({}) was not registered: {outcome:?}",
                    row.row, row.serial_number
                )
            })?;
            let n = (row.row - 1) as usize;
            if n.is_multiple_of(every) && written < boot_bodies {
                writeln!(
                    bodies,
                    "{}",
                    serde_json::json!({ "hardwareHash": row.hardware_hash })
                )?;
                writeln!(ids, "{ztdid}")?;
                written += 1;
            }
        }
        next = end;
    }
    bodies.flush()?;
    ids.flush()?;

    // Check the fleet is what the benchmark expects.
    for (key, group) in groups.iter_mut() {
        group.members = app.count_group_members(tenant, group_ids[key]).await?;
    }
    let expected = [("small", small), ("mid", mid), ("all", devices)];
    for (key, want) in expected {
        anyhow::ensure!(
            groups[key].members == want as u64,
            "group {key} has {} members, expected {want}",
            groups[key].members
        );
    }
    let seeded = Seeded {
        data_dir: data_dir.display().to_string(),
        tenant_id: tenant.to_string(),
        devices,
        seconds: started.elapsed().as_secs_f64(),
        serial_filter: "L3-".into(),
        serial_filter_matches: (0..devices).filter(|n| n % 10 == 3).count(),
        profile_id: profile.id.to_string(),
        groups,
        boot_bodies: bodies_path.display().to_string(),
        device_ids: ids_path.display().to_string(),
    };
    std::fs::write(
        data_dir.join("bench-seed.json"),
        serde_json::to_vec_pretty(&seeded)?,
    )?;
    Ok(seeded)
}
