//! How the `ztd` CLI connects: retries of 503/429 answers (against a scripted loopback peer), and HTTPS to a
//! server whose certificate comes from a private CA (a real `ztd_server::serve` with TLS).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use ztd_server::TlsFiles;

/// A `ztd` command with no server, credentials or CA from the environment of the test run.
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
    command
        .env("ZTD_CREDENTIALS", "/nonexistent/credentials.json")
        .env("ZTD_TENANT_ID", "tenant")
        .env("ZTD_CLIENT_ID", "client")
        .env("ZTD_CLIENT_SECRET", "secret");
    command
}

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// A loopback HTTP/1.1 peer answering each path with the next of its scripted answers (the last one
/// repeats), one request per connection. Records every request's method and path.
struct Peer {
    base: String,
    seen: Arc<Mutex<Vec<(String, String, Instant)>>>,
}

impl Peer {
    fn start(script: Vec<(&'static str, Vec<Answer>)>) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut next: HashMap<&str, usize> = HashMap::new();
            // Bounded: a test makes a handful of requests.
            for stream in listener.incoming().take(64) {
                let Ok(stream) = stream else { continue };
                let Some((method, path)) = read_request(&stream) else {
                    continue;
                };
                log.lock()
                    .unwrap()
                    .push((method.clone(), path.clone(), Instant::now()));
                let Some((prefix, answers)) = script.iter().find(|(p, _)| path.contains(p)) else {
                    let _ = respond(&stream, &(404, vec![], "{}".into()));
                    continue;
                };
                let i = next.entry(prefix).or_default();
                let answer = &answers[(*i).min(answers.len() - 1)];
                *i += 1;
                let _ = respond(&stream, answer);
            }
        });
        Peer { base, seen }
    }

    fn requests(&self, fragment: &str) -> Vec<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, path, _)| path.contains(fragment))
            .map(|(_, _, at)| *at)
            .collect()
    }
}

fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, path))
}

fn respond(mut stream: &TcpStream, (status, headers, body): &Answer) -> std::io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

fn ok(body: &str) -> Answer {
    (200, vec![], body.to_string())
}

fn unavailable() -> Answer {
    (
        503,
        vec![],
        r#"{"error":{"code":"serviceUnavailable","message":"busy"}}"#.into(),
    )
}

fn too_many(seconds: u64) -> Answer {
    (
        429,
        vec![("Retry-After", seconds.to_string())],
        r#"{"error":{"code":"tooManyRequests","message":"slow down"}}"#.into(),
    )
}

const TOKEN: &str = r#"{"access_token":"t","token_type":"Bearer","expires_in":3600}"#;

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run ztd"))
        .await
        .expect("ztd thread")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_and_a_429_are_retried_with_backoff_and_retry_after() {
    let peer = Peer::start(vec![
        (
            "/oauth2/v2.0/token",
            vec![unavailable(), unavailable(), ok(TOKEN)],
        ),
        (
            "windowsAutopilotDeviceIdentities",
            vec![too_many(1), ok(r#"{"value":[]}"#)],
        ),
    ]);
    let mut command = ztd(&["device", "list", "--json"]);
    command.env("ZTD_SERVER", &peer.base);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    let token = peer.requests("/oauth2/v2.0/token");
    assert_eq!(token.len(), 3);
    // Backoff: 200 ms, then 400 ms.
    assert!(token[1] - token[0] >= Duration::from_millis(180));
    assert!(token[2] - token[1] >= Duration::from_millis(380));
    let list = peer.requests("windowsAutopilotDeviceIdentities");
    assert_eq!(list.len(), 2);
    // Retry-After: 1 is honoured.
    assert!(list[1] - list[0] >= Duration::from_millis(950));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_batch_answered_503_is_sent_again() {
    let outcome = r#"{"outcomes":[{"row":1,"serialNumber":"R-1","outcome":"registered","ztdid":"00000000-0000-0000-0000-000000000001"}]}"#;
    let peer = Peer::start(vec![
        ("/oauth2/v2.0/token", vec![ok(TOKEN)]),
        ("/ztd/v1/import", vec![unavailable(), ok(outcome)]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.csv");
    std::fs::write(
        &path,
        "Device Serial Number,Windows Product ID,Hardware Hash\r\nR-1,,AAAA\r\n",
    )
    .unwrap();
    let mut command = ztd(&["import", path.to_str().unwrap(), "--json"]);
    command.env("ZTD_SERVER", &peer.base);
    let out = output(command).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["registered"], 1);
    assert_eq!(peer.requests("/ztd/v1/import").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_after_five_attempts() {
    let peer = Peer::start(vec![("/oauth2/v2.0/token", vec![unavailable()])]);
    let mut command = ztd(&["device", "list"]);
    command.env("ZTD_SERVER", &peer.base);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
    assert_eq!(peer.requests("/oauth2/v2.0/token").len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_creates_something_is_not_retried() {
    let peer = Peer::start(vec![
        ("/oauth2/v2.0/token", vec![ok(TOKEN)]),
        ("/v1.0/groups", vec![unavailable(), ok(r#"{"id":"g"}"#)]),
    ]);
    let mut command = ztd(&["group", "create", "--name", "Once"]);
    command.env("ZTD_SERVER", &peer.base);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(peer.requests("/v1.0/groups").len(), 1);
}

/// A private CA and a certificate it signed for 127.0.0.1 and localhost, as PEM files in `dir`.
fn private_ca(dir: &Path) -> (std::path::PathBuf, TlsFiles) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ztd test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let certificate = dir.join("server.pem");
    std::fs::write(&certificate, server.pem()).unwrap();
    let private_key = dir.join("server-key.pem");
    std::fs::write(&private_key, server_key.serialize_pem()).unwrap();
    (
        ca_pem,
        TlsFiles {
            certificate,
            private_key,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_with_a_private_ca_is_reached_with_ca_cert_or_ssl_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, tls) = private_ca(dir.path());
    let store = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    let ztd_testkit::Served { base, first, .. } =
        ztd_testkit::serve(store, "TLS", "tls.example", Some(tls)).await;
    let command = |extra: &[&str]| {
        let mut args = vec!["device", "list", "--json"];
        args.extend_from_slice(extra);
        let mut command = ztd(&args);
        command
            .env("ZTD_SERVER", &base)
            .env("ZTD_TENANT_ID", first.tenant.id.to_string())
            .env("ZTD_CLIENT_ID", &first.client_id)
            .env("ZTD_CLIENT_SECRET", &first.client_secret);
        command
    };

    // The server may take a moment to load its certificate: wait for the TLS port to answer.
    let mut untrusted = None;
    for _ in 0..50 {
        let out = output(command(&[])).await;
        if !stderr(&out).contains("cannot reach") {
            untrusted = Some(out);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = untrusted.expect("the TLS server answered");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "the server's TLS certificate is not trusted; pass --ca-cert <file> or set SSL_CERT_FILE"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("is the server running"));

    let out = output(command(&["--ca-cert", ca_pem.to_str().unwrap()])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );

    let mut with_env = command(&[]);
    with_env.env("ZTD_CA_CERT", &ca_pem);
    let out = output(with_env).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let mut with_ssl_cert_file = command(&[]);
    with_ssl_cert_file.env("SSL_CERT_FILE", &ca_pem);
    let out = output(with_ssl_cert_file).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // A file that holds no certificate is an error that says so.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let out = output(command(&["--ca-cert", empty.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no PEM certificate"),
        "{}",
        stderr(&out)
    );
}
