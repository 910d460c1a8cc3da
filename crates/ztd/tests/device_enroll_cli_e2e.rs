//! `ztd device enroll`, `ztd device sync` and `ztd device poll` against a real server over HTTPS: a simulated
//! Windows device enrolls in management (by a user's name and password found by discovery; as a joined
//! device through its PRT; with the device's own token), holds sessions that carry queued commands (its CSP
//! tree kept between runs), and is refused once retired. On SQLite and PostgreSQL.

use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use ztd_testkit::{on_both_tls_servers, GraphConfig, Server};

const PASSWORD: &str = "Corr3ct-horse!";

fn ztd(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ztd"));
    command.args(args);
    for var in [
        "ZTD_SERVER",
        "ZTD_TENANT_ID",
        "ZTD_CLIENT_ID",
        "ZTD_CLIENT_SECRET",
        "ZTD_DEVICE_PASSWORD",
        "SSL_CERT_FILE",
    ] {
        command.env_remove(var);
    }
    command.env("ZTD_CREDENTIALS", "/nonexistent/credentials.json");
    command
}

async fn run(command: Command) -> Output {
    tokio::process::Command::from(command)
        .output()
        .await
        .expect("ztd runs")
}

/// Runs `command` with `input` on its standard input.
async fn run_with_stdin(command: Command, input: &str) -> Output {
    let mut child = tokio::process::Command::from(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ztd runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: not JSON: {}", text(&out.stdout)))
}

async fn create_user(s: &Server, upn: &str) {
    let (status, body) = s
        .post(
            "/v1.0/users",
            &s.a.token,
            json!({
                "accountEnabled": true, "displayName": "Enroller", "mailNickname": "enroller",
                "userPrincipalName": upn,
                "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false},
            }),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
}

async fn queue(s: &Server, id: &str, command: Value) {
    let (status, body) = s
        .post(
            &format!("/ztd/v1/managedDevices/{id}/commands"),
            &s.a.token,
            json!({ "command": command }),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
}

fn statuses(session: &Value) -> Vec<(String, i64)> {
    session["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| {
            (
                s["command"].as_str().unwrap().to_string(),
                s["code"].as_i64().unwrap(),
            )
        })
        .collect()
}

const POLICY: &str = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera";

fn add_policy(value: &str) -> Value {
    json!({"kind": "Single", "operations": {"verb": "Add", "items": [
        {"target": POLICY, "format": "int", "data": value}
    ]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrolls_by_password_syncs_keeps_its_tree_and_is_refused_once_retired() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("lab-ca.pem");
        std::fs::write(&ca, s.ca_pem.as_ref().unwrap()).unwrap();
        let connect = [
            "--server",
            s.url.as_str(),
            "--ca-cert",
            ca.to_str().unwrap(),
        ];
        let upn = format!("enroller@{}", s.a.domain);
        create_user(&s, &upn).await;
        let file = dir.path().join("pc-cli.mdm.json");
        let file_arg = file.to_str().unwrap();

        // Enroll (MDM only): discovery by the domain, the policy, the enrollment, the first session.
        let mut args = vec![
            "device",
            "enroll",
            "--user",
            &upn,
            "--name",
            "PC-CLI",
            "--serial",
            "SN-CLI-1",
            "--model",
            "Surface Lab",
            "--enrollment",
            file_arg,
            "--json",
        ];
        args.extend(connect);
        let mut command = ztd(&args);
        command.env("ZTD_DEVICE_PASSWORD", PASSWORD);
        let enrolled = json_of(&run(command).await);
        let id = enrolled["managedDeviceId"]
            .as_str()
            .expect("id")
            .to_string();
        assert_eq!(
            enrolled["managementUrl"],
            format!("{}/ManagementServer/MDM.svc", s.url)
        );
        assert_eq!(enrolled["enrollmentType"], "Full");
        assert_eq!(enrolled["flavour"], "password");
        assert_eq!(enrolled["user"], upn.as_str());
        assert_eq!(enrolled["enrollmentFile"], file_arg);
        let first = &enrolled["firstSession"];
        assert_eq!(first["refused"], false, "{enrolled}");
        assert_eq!(first["session"], 1);
        assert_eq!(first["commands"], 1, "the inventory Get");
        assert_eq!(statuses(first), vec![("Get".to_string(), 200)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the enrollment file holds a private key");
        }
        let (status, device) = s
            .get(
                &format!("/beta/deviceManagement/managedDevices/{id}"),
                &s.a.token,
            )
            .await;
        assert_eq!(status.as_u16(), 200, "{device}");
        assert_eq!(device["serialNumber"], "SN-CLI-1");
        assert_eq!(device["model"], "Surface Lab");
        assert_eq!(device["deviceName"], "PC-CLI");

        // A queued command is carried at the next sync; the tree is kept between runs, so the same Add
        // finds the node the next time.
        queue(&s, &id, add_policy("0")).await;
        let mut args = vec!["device", "sync", "--enrollment", file_arg, "--json"];
        args.extend(connect);
        let synced = json_of(&run(ztd(&args)).await);
        assert_eq!(synced["session"], 2);
        assert_eq!(synced["commands"], 2);
        let mut got = statuses(&synced);
        got.sort();
        assert_eq!(
            got,
            vec![("Add".to_string(), 200), ("Get".to_string(), 200)]
        );
        queue(&s, &id, add_policy("1")).await;
        let mut args = vec!["device", "sync", "--enrollment", file_arg];
        args.extend(connect);
        let out = run(ztd(&args)).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        assert!(table.contains("session 3"), "{table}");
        assert!(table.contains("418 already exists"), "{table}");
        assert!(table.contains(POLICY), "{table}");

        // Poll: bounded, one JSON line per session.
        let mut args = vec![
            "device",
            "poll",
            "--enrollment",
            file_arg,
            "--interval",
            "0",
            "--count",
            "2",
            "--json",
        ];
        args.extend(connect);
        let out = run(ztd(&args)).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 2, "{}", text(&out.stdout));
        assert_eq!(lines[0]["session"], 4);
        assert_eq!(lines[1]["session"], 5);

        // Retired in Graph: the next sync carries the Unenroll (the device leaves), the one after is refused.
        let (status, body) = s
            .post(
                &format!("/beta/deviceManagement/managedDevices/{id}/retire"),
                &s.a.token,
                json!({}),
            )
            .await;
        assert_eq!(status.as_u16(), 204, "{body}");
        let mut args = vec!["device", "sync", "--enrollment", file_arg, "--json"];
        args.extend(connect);
        let retired = json_of(&run(ztd(&args)).await);
        assert_eq!(retired["unenrolled"], true, "{retired}");
        assert!(statuses(&retired).contains(&("Exec".to_string(), 200)));
        let (status, _) = s
            .get(
                &format!("/beta/deviceManagement/managedDevices/{id}"),
                &s.a.token,
            )
            .await;
        assert_eq!(status.as_u16(), 404, "a retired device leaves");
        let out = run(ztd(&args)).await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        let refused: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(refused["refused"], true);
        assert!(
            text(&out.stderr).contains("refused"),
            "{}",
            text(&out.stderr)
        );
        // And in the table.
        let mut args = vec!["device", "sync", "--enrollment", file_arg];
        args.extend(connect);
        let out = run(ztd(&args)).await;
        assert_eq!(out.status.code(), Some(3));
        assert!(
            text(&out.stdout).contains("REFUSED"),
            "{}",
            text(&out.stdout)
        );

        // The password from standard input, the human table, the default file name.
        let mut args = vec![
            "device",
            "enroll",
            "--user",
            &upn,
            "--name",
            "PC-STDIN",
            "--password-stdin",
        ];
        args.extend(connect);
        let mut command = ztd(&args);
        command.current_dir(dir.path());
        let out = run_with_stdin(command, &format!("{PASSWORD}\n")).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let table = text(&out.stdout);
        for expected in [
            "managed device id",
            "management URL",
            "Full",
            "first session",
            "200 OK",
        ] {
            assert!(table.contains(expected), "{expected} in {table}");
        }
        assert!(dir.path().join("pc-stdin.mdm.json").exists());

        // Refusals say why and what to do.
        let mut args = vec!["device", "enroll", "--user", &upn];
        args.extend(connect);
        let mut command = ztd(&args);
        command.env("ZTD_DEVICE_PASSWORD", "Wrong-passw0rd");
        let out = run(command).await;
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("s:Authentication"), "{stderr}");
        assert!(stderr.contains("user name and password"), "{stderr}");
        let mut args = vec!["device", "enroll", "--user", "x@nowhere.example"];
        args.extend(connect);
        let mut command = ztd(&args);
        command.env("ZTD_DEVICE_PASSWORD", PASSWORD);
        let out = run(command).await;
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("s:Authorization"), "{stderr}");
        assert!(
            stderr.contains("ztd tenant domain add --tenant <tenant> nowhere.example"),
            "{stderr}"
        );
        let mut args = vec!["device", "enroll", "--user", &upn];
        args.extend(connect);
        let out = run(ztd(&args)).await;
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("--password-stdin"),
            "{}",
            text(&out.stderr)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_device_enrolls_through_its_prt_or_its_own_token() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("lab-ca.pem");
        std::fs::write(&ca, s.ca_pem.as_ref().unwrap()).unwrap();
        let connect = [
            "--server",
            s.url.as_str(),
            "--ca-cert",
            ca.to_str().unwrap(),
        ];
        let upn = format!("joiner@{}", s.a.domain);
        create_user(&s, &upn).await;
        let identity = dir.path().join("kiosk.device.json");
        let mut args = vec![
            "device",
            "join",
            "--user",
            &upn,
            "--name",
            "KIOSK-MDM",
            "--out",
            identity.to_str().unwrap(),
            "--json",
        ];
        args.extend(connect);
        let mut command = ztd(&args);
        command.env("ZTD_DEVICE_PASSWORD", PASSWORD);
        let joined = json_of(&run(command).await);
        let device_id = joined["deviceId"].as_str().unwrap().to_string();

        let mut args = vec![
            "device",
            "enroll",
            "--identity",
            identity.to_str().unwrap(),
            "--user",
            &upn,
            "--name",
            "KIOSK-MDM",
            "--json",
        ];
        args.extend(connect);
        let mut command = ztd(&args);
        command.env("ZTD_DEVICE_PASSWORD", PASSWORD);
        let enrolled = json_of(&run(command).await);
        assert_eq!(enrolled["enrollmentType"], "Device");
        assert_eq!(enrolled["flavour"], "prt");
        assert_eq!(enrolled["deviceId"], device_id.as_str());
        let beside = dir.path().join("kiosk.mdm.json");
        assert_eq!(enrolled["enrollmentFile"], beside.to_str().unwrap());
        assert!(beside.exists());
        let id = enrolled["managedDeviceId"].as_str().unwrap();
        let (_, device) = s
            .get(
                &format!("/beta/deviceManagement/managedDevices/{id}"),
                &s.a.token,
            )
            .await;
        assert_eq!(device["azureADDeviceId"], device_id.as_str());
        assert_eq!(device["deviceEnrollmentType"], "windowsAzureADJoin");

        // Userless: the device's own token, no password. The same device enrolling again keeps its record;
        // the earlier enrollment's certificate opens no session any more.
        let own = dir.path().join("own.mdm.json");
        let mut args = vec![
            "device",
            "enroll",
            "--identity",
            identity.to_str().unwrap(),
            "--userless",
            "--enrollment",
            own.to_str().unwrap(),
            "--json",
        ];
        args.extend(connect);
        let again = json_of(&run(ztd(&args)).await);
        assert_eq!(again["flavour"], "userless");
        assert_eq!(again["user"], Value::Null);
        assert_eq!(again["managedDeviceId"], id);
        assert_eq!(again["firstSession"]["refused"], false);
        let mut args = vec![
            "device",
            "sync",
            "--enrollment",
            own.to_str().unwrap(),
            "--json",
        ];
        args.extend(connect);
        let synced = json_of(&run(ztd(&args)).await);
        assert_eq!(synced["refused"], false);
        let mut args = vec!["device", "sync", "--enrollment", beside.to_str().unwrap()];
        args.extend(connect);
        let out = run(ztd(&args)).await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    })
    .await;
}
