//! End to end, on SQLite and on PostgreSQL: a hash CSV imported with the `ztd` binary, a dynamic group on
//! `[OrderId]`, a profile assigned to it, a device booting through the device API and receiving its name and
//! OOBE bitmask; then a group-tag change moving it to another profile.

use std::io::Write;
use std::process::Command;

use serde_json::Value;
use ztd_app::demo::{profile_draft, synthetic_hash};
use ztd_app::{App, NewGroup};
use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
use ztd_formats::hash_csv::{write_hash_csv, CsvDialect, CsvEncoding, HashCsvRow};
use ztd_store::Store;

struct Running {
    base: String,
    app: App,
    tenant: ztd_core::TenantId,
    cli: Cli,
}

/// How the `ztd` binary reaches the server under test.
#[derive(Clone)]
struct Cli {
    base: String,
    tenant: String,
    client_id: String,
    client_secret: String,
}

impl Cli {
    /// Runs `ztd` with `args` on a blocking thread (the server runs on this test's runtime).
    async fn run(&self, args: &[&str]) -> std::process::Output {
        let cli = self.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_ztd"))
                .args(&args)
                .env("ZTD_SERVER", &cli.base)
                .env("ZTD_TENANT_ID", &cli.tenant)
                .env("ZTD_CLIENT_ID", &cli.client_id)
                .env("ZTD_CLIENT_SECRET", &cli.client_secret)
                .env("ZTD_CREDENTIALS", "/nonexistent/credentials.json")
                .output()
                .expect("run ztd")
        })
        .await
        .expect("ztd thread")
    }
}

async fn start(store: Store) -> Running {
    let ztd_testkit::Served { base, app, first } =
        ztd_testkit::serve(store, "E2E", "e2e.example", None).await;
    let cli = Cli {
        base: base.clone(),
        tenant: first.tenant.id.to_string(),
        client_id: first.client_id,
        client_secret: first.client_secret,
    };
    Running {
        base,
        app,
        tenant: first.tenant.id,
        cli,
    }
}

async fn boot(base: &str, hash: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/device/v1/boot"))
        .json(&serde_json::json!({ "hardwareHash": hash }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn scenario(store: Store) {
    let running = start(store).await;
    let dir = tempfile::tempdir().unwrap();

    // A Get-WindowsAutopilotInfo -GroupTag file: UTF-16LE, BOM, CRLF.
    let rows: Vec<HashCsvRow> = (0..40)
        .map(|n| {
            let serial = format!("E2E-{n:04}");
            HashCsvRow {
                row: n + 1,
                hardware_hash: Some(synthetic_hash(&serial, "Contoso", "Laptop 14")),
                serial_number: serial,
                group_tag: Some(if n % 2 == 0 {
                    "Kiosk".into()
                } else {
                    "Sales".into()
                }),
                ..Default::default()
            }
        })
        .collect();
    let csv_path = dir.path().join("AutopilotHWID.csv");
    let mut file = std::fs::File::create(&csv_path).unwrap();
    write_hash_csv(
        &mut file,
        CsvDialect::WithGroupTag,
        CsvEncoding::Utf16Le,
        &rows,
    )
    .unwrap();
    file.flush().unwrap();
    drop(file);

    let csv = csv_path.to_str().unwrap().to_string();
    let out = running
        .cli
        .run(&["import", &csv, "--json", "--batch-size", "16"])
        .await;
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["registered"], 40);
    assert_eq!(report["encoding"], "Utf16Le");
    assert_eq!(report["outcomes"][0]["outcome"], "registered");

    // A file that is not a hash CSV is one clear error naming the problem (exit status 2), and registers nothing.
    let bad_path = dir.path().join("inventory.csv");
    std::fs::write(&bad_path, "Name,Owner\r\nPC-1,ann\r\n").unwrap();
    let bad = running
        .cli
        .run(&["import", bad_path.to_str().unwrap()])
        .await;
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("Device Serial Number"),
        "the error names the expected header: {message}"
    );

    // Dynamic group on the group tag, and a profile assigned to it.
    let app = &running.app;
    let kiosk = app
        .create_group(
            running.tenant,
            NewGroup {
                display_name: "Kiosks".into(),
                description: String::new(),
                membership_rule: Some(
                    "(device.devicePhysicalIds -any (_ -eq \"[OrderId]:Kiosk\"))".into(),
                ),
            },
        )
        .await
        .unwrap();
    let profile = app
        .create_profile(
            running.tenant,
            profile_draft(
                "Kiosk",
                JoinType::AzureAd,
                DeviceUsageType::Shared,
                "KSK-%SERIAL%",
            ),
        )
        .await
        .unwrap();
    app.assign_profile(
        running.tenant,
        profile.id,
        AssignmentTarget::Group(kiosk.id),
        None,
    )
    .await
    .unwrap();

    // Device E2E-0002 (Kiosk) boots: self-deploying, name from the template, OOBE bits 264+2+4+16+32+64.
    let hash = synthetic_hash("E2E-0002", "Contoso", "Laptop 14");
    let (status, plan) = boot(&running.base, &hash).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["status"], "registered");
    assert_eq!(plan["profileName"], "Kiosk");
    assert_eq!(plan["deploymentMode"], "selfDeploying");
    assert_eq!(plan["deviceName"]["name"], "KSK-E2E-0002");
    assert_eq!(plan["oobeConfig"], 382);
    assert_eq!(plan["deviceProfile"]["CloudAssignedOobeConfig"], 382);
    assert_eq!(
        plan["deviceProfile"]["CloudAssignedTenantDomain"],
        "e2e.example"
    );

    // The contact is recorded (the server's recorder writes it within a fraction of a second; flushing
    // here makes the check immediate) and the assignment is now in sync.
    app.flush_contacts().await.unwrap();
    let device = app.find_device(running.tenant, "E2E-0002").await.unwrap();
    assert!(device.last_contacted_at.is_some());
    assert_eq!(
        device.assignment.status,
        ztd_core::device::AssignmentStatus::AssignedInSync
    );

    // A Sales device gets no profile; changing its tag to Kiosk moves it into the group and the profile.
    let sales_hash = synthetic_hash("E2E-0003", "Contoso", "Laptop 14");
    let (_, plan) = boot(&running.base, &sales_hash).await;
    assert!(plan["profileId"].is_null(), "{plan}");
    let sales = app.find_device(running.tenant, "E2E-0003").await.unwrap();
    app.update_device(
        running.tenant,
        sales.ztdid,
        ztd_app::DeviceUpdate {
            group_tag: Some("Kiosk".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, plan) = boot(&running.base, &sales_hash).await;
    assert_eq!(plan["profileName"], "Kiosk");
    assert_eq!(plan["deviceName"]["name"], "KSK-E2E-0003");

    // An unknown device is told to continue normal setup.
    let (status, answer) = boot(&running.base, &synthetic_hash("NOPE-1", "Fabrikam", "X")).await;
    assert_eq!(status, 404);
    assert_eq!(answer["status"], "notRegistered");

    // Importing the same file again registers nothing twice.
    let again = running.cli.run(&["import", &csv, "--json"]).await;
    assert_eq!(again.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["registered"], 0);
    for outcome in report["outcomes"].as_array().unwrap() {
        assert_eq!(outcome["errorCode"], 806, "{outcome}");
    }

    // The explanation names the group, the rule's trace and the winning profile.
    let explained = running
        .cli
        .run(&["device", "explain", "E2E-0003", "--json"])
        .await;
    assert!(
        explained.status.success(),
        "{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let explanation: Value = serde_json::from_slice(&explained.stdout).unwrap();
    let group = &explanation["groups"][0];
    assert_eq!(group["member"], true);
    assert_eq!(group["trace"]["result"], true);
    assert_eq!(explanation["profile"]["winner"], profile.id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_to_first_boot_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    scenario(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_to_first_boot_on_postgres() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipping the PostgreSQL run");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    scenario(scratch.store.clone()).await;
    scratch.drop_schema().await.unwrap();
}

#[test]
fn serve_on_a_port_in_use_fails_before_creating_a_tenant() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = Command::new(env!("CARGO_BIN_EXE_ztd"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(&data)
        .output()
        .expect("run ztd serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(!stderr.contains("client secret"), "{stderr}");
    assert!(!data.join("credentials.json").exists());
    assert!(!data.join("ztd.db").exists());
}
