//! Three `ztd serve` processes started together on one empty PostgreSQL database: exactly one performs the
//! first start; the others wait for it and say where its credential was saved.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Node {
    child: Child,
    /// Everything the node printed on stderr up to "listening", or why it stopped.
    startup: mpsc::Receiver<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(url: &str, data_dir: &std::path::Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ztd"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("ZTD_DATABASE_URL")
        .env_remove("ZTD_LISTEN")
        .env_remove("ZTD_DATA_DIR")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ztd serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (send, startup) = mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = String::new();
        // Bounded: the node prints a few lines before it listens.
        for line in BufReader::new(stderr).lines().take(200) {
            let Ok(line) = line else { break };
            printed.push_str(&line);
            printed.push('\n');
            if line.contains("ztd listening on") {
                break;
            }
        }
        let _ = send.send(printed);
    });
    Node { child, startup }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_started_together_bootstrap_once_and_say_where_the_credential_is() {
    let Some(base) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&base)
        .await
        .unwrap();
    // The scratch schema is migrated, but holds no tenant: an empty deployment.
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Node> = dirs
        .iter()
        .map(|d| start(&scratch.url(), d.path()))
        .collect();
    let outputs: Vec<String> = nodes
        .iter()
        .map(|n| {
            n.startup
                .recv_timeout(Duration::from_secs(60))
                .expect("the node started")
        })
        .collect();
    for output in &outputs {
        assert!(output.contains("ztd listening on"), "{output}");
    }
    let first: Vec<usize> = (0..3)
        .filter(|&i| outputs[i].contains("First start: created tenant"))
        .collect();
    assert_eq!(first.len(), 1, "exactly one first start: {outputs:#?}");
    let saved = dirs[first[0]].path().join("credentials.json");
    assert!(saved.exists());
    for (i, output) in outputs.iter().enumerate().filter(|(i, _)| *i != first[0]) {
        assert!(
            output.contains("already set up") && output.contains(&saved.display().to_string()),
            "node {i} should say where the credential is: {output}"
        );
        assert!(!dirs[i].path().join("credentials.json").exists());
    }
    drop(nodes);
    let tenants = {
        let mut tx = scratch.store.begin_read().await.unwrap();
        tx.list_tenants().await.unwrap()
    };
    assert_eq!(tenants.len(), 1);
    scratch.drop_schema().await.unwrap();
}
