//! `ztd device join` and `ztd device leave` against a real server over HTTPS: a simulated Windows device
//! joins as a user (tied to its Autopilot registration by the boot answer's ticket), gets a PRT and a Graph
//! token through it, and leaves with its certificate over mutual TLS.

use std::process::{Command, Output};

use serde_json::{json, Value};
use ztd_testkit::{hash, GraphConfig};

const PASSWORD: &str = "Corr3ct-horse!";

fn ztd(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ztd"));
    command.args(args);
    for var in [
        "ZTD_SERVER",
        "ZTD_TENANT_ID",
        "ZTD_CLIENT_ID",
        "ZTD_CLIENT_SECRET",
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

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_device_joins_as_its_autopilot_object_gets_a_prt_and_leaves() {
    let (store, dir) = ztd_testkit::sqlite_store().await;
    let s = ztd_testkit::start_tls_on(store, GraphConfig::default()).await;
    let ca = dir.path().join("lab-ca.pem");
    std::fs::write(&ca, s.ca_pem.as_ref().unwrap()).unwrap();
    let upn = format!("ada@{}", s.a.domain);
    let (status, body) = s
        .post(
            "/v1.0/users",
            &s.a.token,
            json!({
                "accountEnabled": true, "displayName": "Ada", "mailNickname": "ada", "userPrincipalName": upn,
                "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false},
            }),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let imported = s
        .import_device(&s.a.token, "CLI-JOIN-1", "Contoso", "")
        .await;
    let ztdid = imported["state"]["deviceRegistrationId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, autopilot) = s
        .get(
            &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
            &s.a.token,
        )
        .await;
    let hash_file = dir.path().join("hash.txt");
    std::fs::write(&hash_file, hash("CLI-JOIN-1", "Contoso")).unwrap();
    let identity = dir.path().join("kiosk.device.json");
    let connect = [
        "--server",
        s.url.as_str(),
        "--ca-cert",
        ca.to_str().unwrap(),
    ];

    let mut args = vec![
        "device",
        "join",
        "--user",
        upn.as_str(),
        "--name",
        "KIOSK-CLI",
    ];
    args.extend([
        "--hash",
        hash_file.to_str().unwrap(),
        "--out",
        identity.to_str().unwrap(),
        "--json",
    ]);
    args.extend(connect);
    let mut command = ztd(&args);
    command.env("ZTD_DEVICE_PASSWORD", PASSWORD);
    let out = run(command).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["autopilot"], true, "{summary}");
    assert_eq!(summary["prt"], true);
    assert_eq!(summary["graphTokenCarriesDeviceId"], true);
    assert_eq!(
        summary["deviceId"],
        autopilot["azureActiveDirectoryDeviceId"]
    );
    let device_id = summary["deviceId"].as_str().unwrap().to_string();
    let path = format!("/v1.0/devices?$filter=deviceId eq '{device_id}'");
    let joined = s.get(&path, &s.a.token).await.1["value"][0].clone();
    assert_eq!(joined["accountEnabled"], true, "{joined}");
    assert_eq!(joined["displayName"], "KIOSK-CLI");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&identity).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the identity file holds private keys");
    }

    let mut args = vec!["device", "leave", identity.to_str().unwrap(), "--json"];
    args.extend(connect);
    let out = run(ztd(&args)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let left = s.get(&path, &s.a.token).await.1["value"][0].clone();
    assert_eq!(
        left["accountEnabled"], false,
        "the Autopilot object is a placeholder again: {left}"
    );
    // Leaving twice: the certificate no longer works.
    let out = run(ztd(&args)).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("AuthenticationError"),
        "{}",
        text(&out.stderr)
    );

    // A wrong password says why.
    let mut args = vec!["device", "join", "--user", upn.as_str(), "--register"];
    args.extend(connect);
    let mut command = ztd(&args);
    command.env("ZTD_DEVICE_PASSWORD", "Wrong-passw0rd");
    let out = run(command).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("AADSTS50126"),
        "{}",
        text(&out.stderr)
    );
}
