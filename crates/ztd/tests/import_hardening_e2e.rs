//! `ztd import` against hostile files, end to end on SQLite: an oversized row is refused alone while the
//! others register, batches stay under the server's body limit, a very long serial prints, a file error is
//! reported as JSON; and the CLI finds the server in the credentials file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use ztd_app::demo::synthetic_hash;

struct Running {
    base: String,
    tenant: String,
    client_id: String,
    client_secret: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    let served = ztd_testkit::serve(store, "Hardening", "hardening.example", None).await;
    Running {
        base: served.base,
        tenant: served.first.tenant.id.to_string(),
        client_id: served.first.client_id,
        client_secret: served.first.client_secret,
        _dir: dir,
    }
}

/// A `ztd` command with no server or credentials from the environment of the test run.
fn ztd(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ztd"));
    command.args(args);
    for var in [
        "ZTD_SERVER",
        "ZTD_TENANT_ID",
        "ZTD_CLIENT_ID",
        "ZTD_CLIENT_SECRET",
        "ZTD_CA_CERT",
        "SSL_CERT_FILE",
    ] {
        command.env_remove(var);
    }
    command.env("ZTD_CREDENTIALS", "/nonexistent/credentials.json");
    command
}

impl Running {
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = ztd(args);
        command
            .env("ZTD_SERVER", &self.base)
            .env("ZTD_TENANT_ID", &self.tenant)
            .env("ZTD_CLIENT_ID", &self.client_id)
            .env("ZTD_CLIENT_SECRET", &self.client_secret);
        output(command).await
    }
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run ztd"))
        .await
        .expect("ztd thread")
}

fn good_row(serial: &str) -> String {
    format!(
        "{serial},,{}\r\n",
        synthetic_hash(serial, "Contoso", "Laptop 14")
    )
}

fn write(path: &Path, parts: &[&[u8]]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for part in parts {
        file.write_all(part).unwrap();
    }
    file.flush().unwrap();
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(2000)]),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const HEADER: &[u8] = b"Device Serial Number,Windows Product ID,Hardware Hash\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_row_is_refused_alone_and_the_twenty_good_rows_register() {
    let running = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-row.csv");
    let before: String = (1..=10)
        .map(|n| good_row(&format!("HARD-{n:02}")))
        .collect();
    let after: String = (11..=20)
        .map(|n| good_row(&format!("HARD-{n:02}")))
        .collect();
    let huge = vec![b'Q'; 70 << 20];
    write(
        &path,
        &[
            HEADER,
            before.as_bytes(),
            b"HUGE-1,,",
            &huge,
            b"\r\n",
            after.as_bytes(),
        ],
    );
    drop(huge);
    let out = running
        .run(&["import", path.to_str().unwrap(), "--json"])
        .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report(&out);
    assert_eq!(report["rows"], 21);
    assert_eq!(report["registered"], 20);
    assert_eq!(report["rejected"], 1);
    let refused = &report["outcomes"][10];
    assert_eq!(refused["row"], 11);
    assert_eq!(refused["errorCode"], 801, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("line 12") && message.contains("Hardware Hash") && message.contains("KiB"),
        "{message}"
    );
    assert!(message.len() < 1000, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_too_large_for_one_request_together_are_sent_in_several() {
    // 720 rows of 90 KiB (each within the reader's caps) are 63 MiB of values and over 64 MiB of JSON: one
    // request of 720 rows would be refused whole (413). Split by bytes, every row gets its own outcome.
    let running = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide-rows.csv");
    let filler = "A".repeat(90 * 1024);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    file.write_all(HEADER).unwrap();
    file.write_all(good_row("WIDE-FIRST").as_bytes()).unwrap();
    for n in 0..720 {
        write!(file, "WIDE-{n:04},,{filler}\r\n").unwrap();
    }
    file.write_all(good_row("WIDE-LAST").as_bytes()).unwrap();
    file.flush().unwrap();
    drop(file);
    let out = running
        .run(&[
            "import",
            path.to_str().unwrap(),
            "--json",
            "--batch-size",
            "5000",
        ])
        .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = report(&out);
    assert_eq!(report["rows"], 722);
    assert_eq!(report["registered"], 2);
    let outcomes = report["outcomes"].as_array().unwrap();
    assert!(
        outcomes[1..721]
            .iter()
            .all(|o| o["errorCode"] == 802
                && o["serialNumber"].as_str().unwrap().starts_with("WIDE-"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_of_70000_characters_prints_in_the_table_without_panicking() {
    let running = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long-serial.csv");
    let serial = "L".repeat(70_000);
    write(
        &path,
        &[
            HEADER,
            format!("{serial},,AAAA\r\n").as_bytes(),
            good_row("SHORT-1").as_bytes(),
        ],
    );
    let out = running.run(&["import", path.to_str().unwrap()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.lines().all(|l| l.chars().count() < 1000));
    assert!(stdout.contains("LLLL…"), "{stdout}");
    assert!(stdout.contains("SHORT-1"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_json_prints_a_file_error_object_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("nul.csv");
    write(&binary, &[&vec![0u8; 1 << 20]]);
    let missing = dir.path().join("missing.csv");
    for (path, expected) in [
        (&binary, "not a text CSV file (binary content"),
        (&missing, "cannot open"),
    ] {
        // No server is needed to refuse the file: nothing listens on port 9.
        let mut command = ztd(&["import", path.to_str().unwrap(), "--json"]);
        command.env("ZTD_SERVER", "http://127.0.0.1:9");
        let out = output(command).await;
        assert_eq!(out.status.code(), Some(2));
        let value = report(&out);
        assert_eq!(value["file"], path.to_str().unwrap());
        assert_eq!(value["error"]["kind"], "fileError");
        let message = value["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        assert!(message.len() < 1000, "{message}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_json_prints_an_error_object_when_the_server_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.csv");
    write(&path, &[HEADER, good_row("UNREACH-1").as_bytes()]);
    let mut command = ztd(&["import", path.to_str().unwrap(), "--json"]);
    command
        .env("ZTD_SERVER", "http://127.0.0.1:9")
        .env("ZTD_TENANT_ID", "t")
        .env("ZTD_CLIENT_ID", "c")
        .env("ZTD_CLIENT_SECRET", "s");
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    let value = report(&out);
    assert_eq!(value["error"]["kind"], "error");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the ztd server"),
        "{value}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_in_the_credentials_file_is_used_without_flag_or_environment() {
    let running = start().await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        serde_json::to_vec(&serde_json::json!({
            "tenantId": running.tenant,
            "clientId": running.client_id,
            "clientSecret": running.client_secret,
            "server": running.base,
        }))
        .unwrap(),
    )
    .unwrap();
    let mut command = ztd(&["device", "list", "--json"]);
    command.env("ZTD_CREDENTIALS", &credentials);
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report(&out), serde_json::json!([]));

    // A flag still wins over the file.
    let mut command = ztd(&["device", "list", "--json", "--server", "http://127.0.0.1:9"]);
    command.env("ZTD_CREDENTIALS", &credentials);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http://127.0.0.1:9"));
}
