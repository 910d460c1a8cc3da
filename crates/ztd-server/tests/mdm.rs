//! The MDM service driven by ztd's own Windows MDM client (`ztd-device`) over real HTTPS with client
//! certificates: discovery, the enrollment policy and WS-Trust enrollment for every flavour (a user name and
//! password, a token through an Entra-joined device's PRT, the device's own token), OMA-DM sessions with
//! inventory, queued commands answered by a CSP tree (including its failures), the managed device in Graph
//! and its link to the Autopilot registration, remote actions (reboot, retire, wipe, delete) and what they
//! leave, every SOAP fault and SyncML refusal, and tenant isolation. Every scenario runs on SQLite and
//! PostgreSQL.

use axum::http::StatusCode;
use serde_json::{json, Value};
use ztd_device::mdm::{CspTree, EnrollCredential, EnrollOptions, Hardware, MdmEnrollment};
use ztd_device::{DeviceClient, DeviceError, DeviceIdentity, Kdf};
use ztd_mdm::enrollment::{self, Credential, FaultCode};
use ztd_server::GraphConfig;
use ztd_testkit::{hash, on_both_tls_servers, Server};

const PASSWORD: &str = "Corr3ct-horse!";
const ENROLLMENT: &str = "https://enrollment.manage.microsoft.com/";
/// The client Windows uses for the MDM enrollment token through its PRT.
const MDM_CLIENT: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";

async fn create_user(s: &Server, token: &str, upn: &str) {
    let (status, body) = s
        .post(
            "/v1.0/users",
            token,
            json!({
                "accountEnabled": true,
                "displayName": upn.split('@').next().unwrap(),
                "mailNickname": "x",
                "userPrincipalName": upn,
                "passwordProfile": { "password": PASSWORD, "forceChangePasswordNextSignIn": false },
                "ztdRole": "user",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A device id no other device of the test has.
fn fresh_id() -> uuid::Uuid {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    uuid::Uuid::from_u128(0x7a7d_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn client(s: &Server, tenant: &str) -> DeviceClient {
    DeviceClient::new(&s.url, tenant, s.ca_pem.as_deref().map(str::as_bytes)).expect("client")
}

fn options(credential: EnrollCredential, enrollment_type: &str, device_id: &str) -> EnrollOptions {
    EnrollOptions {
        credential,
        enrollment_type: enrollment_type.into(),
        device_id: device_id.into(),
        hw_dev_id: format!("{:0>64}", device_id.replace('-', "")),
        device_name: "PC-MDM".into(),
        not_in_oobe: enrollment_type == "Full",
        autopilot_correlator: None,
        domain_name: None,
        enrollment_data: None,
    }
}

fn password(upn: &str) -> EnrollCredential {
    EnrollCredential::Password {
        upn: upn.into(),
        password: PASSWORD.into(),
    }
}

/// A user of tenant A enrolled "in device management only": discovery by the e-mail's domain, the policy,
/// the enrollment with the user's name and password.
async fn enrolled_by_password(s: &Server, name: &str) -> (DeviceClient, MdmEnrollment, String) {
    let upn = format!("{name}@{}", s.a.domain);
    create_user(s, &s.a.token, &upn).await;
    let c = client(s, &s.a.domain);
    let discovered = c.mdm_discover(&upn).await.expect("discovery");
    let device_id = fresh_id().to_string();
    let enrollment = c
        .mdm_enroll(
            Some(&discovered.policy_service_url),
            &discovered.enrollment_service_url,
            &options(password(&upn), "Full", &device_id),
        )
        .await
        .expect("enrollment");
    (c, enrollment, upn)
}

fn tree_for(enrollment: &MdmEnrollment, serial: &str) -> CspTree {
    CspTree::windows(
        &Hardware::lab("PC-MDM", serial),
        &enrollment.device_id,
        &enrollment.provider_id,
    )
}

async fn managed(s: &Server, token: &str, version: &str, id: &str) -> (StatusCode, Value) {
    s.get(
        &format!("/{version}/deviceManagement/managedDevices/{id}"),
        token,
    )
    .await
}

/// A joined device of tenant A and its user.
async fn joined(
    s: &Server,
    name: &str,
    ticket: Option<&str>,
) -> (DeviceClient, DeviceIdentity, String) {
    let upn = format!("{}@{}", name.to_lowercase(), s.a.domain);
    create_user(s, &s.a.token, &upn).await;
    let c = client(s, &s.a.domain);
    let drs = c
        .user_token(&upn, PASSWORD, ztd_device::DRS_RESOURCE)
        .await
        .expect("DRS token");
    let identity = c.join(&drs, name, 0, ticket).await.expect("join");
    (c, identity, upn)
}

/// The MDM enrollment token a joined device gets through its PRT (as OOBE does).
async fn prt_enrollment_token(c: &DeviceClient, identity: &DeviceIdentity, upn: &str) -> String {
    let prt = c.request_prt(identity, upn, PASSWORD).await.expect("PRT");
    let tokens = c
        .prt_tokens(identity, &prt, MDM_CLIENT, ENROLLMENT, Kdf::V2)
        .await
        .expect("token through the PRT");
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

#[tokio::test]
async fn a_user_enrolls_in_device_management_only_and_sessions_report_inventory() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let upn = format!("mia@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn).await;
        let c = client(&s, &s.a.domain);
        let discovered = c.mdm_discover(&upn).await.expect("discovery");
        assert_eq!(discovered.auth_policy, enrollment::AuthPolicy::OnPremise);
        assert_eq!(
            discovered.policy_service_url,
            format!("{}/EnrollmentServer/Policy.svc", s.url)
        );
        assert_eq!(
            discovered.enrollment_service_url,
            format!("{}/EnrollmentServer/Enrollment.svc", s.url)
        );
        let device_id = fresh_id().to_string();
        let mut e = c
            .mdm_enroll(
                Some(&discovered.policy_service_url),
                &discovered.enrollment_service_url,
                &options(password(&upn), "Full", &device_id),
            )
            .await
            .expect("enrollment");
        assert_eq!(
            e.management_url,
            format!("{}/ManagementServer/MDM.svc", s.url)
        );
        assert_eq!(e.provider_id, "ztd");
        // The management certificate is issued by the tenant's MDM CA to the managed device id.
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &e.certificate).unwrap();
        let ca = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &e.ca_certificate).unwrap();
        ztd_drs::verify_issued_by(&der, &ca).expect("chains to the MDM CA");

        let mut tree = tree_for(&e, "SN-MDM-1");
        let report = c.mdm_session(&mut e, &mut tree, "user").await.expect("session");
        assert!(!report.refused);
        assert_eq!(report.messages, 2, "package 1, then the inventory's answers");
        assert_eq!(report.commands, 1, "the inventory Get");
        assert!(report.statuses.iter().all(|(_, _, code)| *code == 200), "{report:?}");

        let (status, device) = managed(&s, &s.a.token, "beta", &e.managed_device_id).await;
        assert_eq!(status, StatusCode::OK, "{device}");
        assert_eq!(device["serialNumber"], "SN-MDM-1");
        assert_eq!(device["manufacturer"], "Contoso");
        assert_eq!(device["model"], "Lab PC");
        assert_eq!(device["osVersion"], "10.0.22631.4460");
        assert_eq!(device["operatingSystem"], "Windows");
        assert_eq!(device["deviceEnrollmentType"], "userEnrollment");
        assert_eq!(device["managedDeviceOwnerType"], "personal");
        assert_eq!(device["userPrincipalName"], upn.as_str());
        assert_eq!(device["azureADDeviceId"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(device["azureADRegistered"], false);
        assert_eq!(device["joinType"], "unknown");
        assert_eq!(device["managementState"], "managed");
        assert_eq!(device["complianceState"], "compliant", "no compliance policy: compliant by default");
        assert_eq!(device["isEncrypted"], true);
        assert_eq!(device["physicalMemoryInBytes"], 16_384i64 * 1024 * 1024);
        assert_eq!(device["hardwareInformation"]["tpmSpecificationVersion"], "2.0");
        assert_ne!(device["lastSyncDateTime"], "0001-01-01T00:00:00Z");
        // v1.0 has no beta-only properties.
        let (_, v1) = managed(&s, &s.a.token, "v1.0", &e.managed_device_id).await;
        assert!(v1.get("managementState").is_none() && v1.get("joinType").is_none());
        let (_, list) = s
            .get("/v1.0/deviceManagement/managedDevices?$filter=serialNumber eq 'SN-MDM-1'&$select=id,deviceName", &s.a.token)
            .await;
        assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list["value"][0]["id"], e.managed_device_id.as_str());

        // The inventory is read again at every session: a change on the device shows.
        tree.set("./DevDetail/SwV", "chr", "10.0.26100.1");
        let again = c.mdm_session(&mut e, &mut tree, "user").await.expect("second session");
        assert_eq!(again.commands, 1);
        let (_, device) = managed(&s, &s.a.token, "v1.0", &e.managed_device_id).await;
        assert_eq!(device["osVersion"], "10.0.26100.1");
        let (status, count) = s
            .get("/v1.0/deviceManagement/managedDevices/$count", &s.a.token)
            .await;
        assert_eq!((status, count), (StatusCode::OK, json!(1)));
    })
    .await;
}

#[tokio::test]
async fn an_entra_joined_device_enrolls_with_its_prt_or_its_own_token_and_links_to_autopilot() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        // An Autopilot registration, booted, joined through its ticket, then enrolled as OOBE does.
        let imported = s
            .import_device(&s.a.token, "AP-MDM-1", "Contoso", "Lab")
            .await;
        let ztdid = imported["state"]["deviceRegistrationId"]
            .as_str()
            .expect("ztdid")
            .to_string();
        let (status, boot) = s
            .post(
                "/device/v1/boot",
                "",
                json!({"hardwareHash": hash("AP-MDM-1", "Contoso")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{boot}");
        let ticket = boot["joinTicket"].as_str().expect("ticket").to_string();
        let (c, identity, upn) = joined(&s, "AP-PC-01", Some(&ticket)).await;
        let token = prt_enrollment_token(&c, &identity, &upn).await;
        let mut e = c
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(
                    EnrollCredential::Token(token.clone()),
                    "Device",
                    &identity.device_id.simple().to_string(),
                ),
            )
            .await
            .expect("enrollment through the PRT");
        let (_, device) = managed(&s, &s.a.token, "beta", &e.managed_device_id).await;
        assert_eq!(
            device["azureADDeviceId"],
            identity.device_id.to_string().as_str()
        );
        assert_eq!(device["azureADRegistered"], true);
        assert_eq!(device["joinType"], "azureADJoined");
        assert_eq!(device["deviceEnrollmentType"], "windowsAzureADJoin");
        assert_eq!(device["managedDeviceOwnerType"], "company");
        assert_eq!(device["deviceRegistrationState"], "registered");
        // The Autopilot registration names its managed device and is enrolled.
        let (_, autopilot) = s
            .get(
                &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                &s.a.token,
            )
            .await;
        assert_eq!(autopilot["managedDeviceId"], e.managed_device_id.as_str());
        assert_eq!(autopilot["enrollmentState"], "enrolled");

        // Enrolling again keeps the record; the earlier certificate stops opening sessions.
        let earlier = e.clone();
        let again = c
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(
                    EnrollCredential::Token(token),
                    "Device",
                    &identity.device_id.to_string(),
                ),
            )
            .await
            .expect("re-enrollment");
        assert_eq!(again.managed_device_id, e.managed_device_id);
        let mut tree = tree_for(&e, "AP-MDM-1");
        let mut stale = earlier;
        let report = c.mdm_session(&mut stale, &mut tree, "user").await.unwrap();
        assert!(report.refused, "the replaced certificate opens no session");
        e = again;
        let report = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert!(!report.refused);

        // Userless: the device's own token (self-deploying).
        let (c2, identity2, _) = joined(&s, "KIOSK-MDM", None).await;
        let device_token = c2
            .device_token(&identity2, ENROLLMENT)
            .await
            .expect("device token");
        // A device's own token enrolls the device itself, never as a user's (Full) enrollment.
        let as_user = c2
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(
                    EnrollCredential::Token(device_token.clone()),
                    "Full",
                    &identity2.device_id.to_string(),
                ),
            )
            .await;
        match as_user {
            Err(DeviceError::Refused { status: 500, body }) => {
                assert!(body.contains("s:Authorization"), "{body}")
            }
            other => panic!("expected an authorization fault, got {other:?}"),
        }
        let e2 = c2
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(
                    EnrollCredential::Token(device_token),
                    "Device",
                    &identity2.device_id.to_string(),
                ),
            )
            .await
            .expect("enrollment with the device token");
        let (_, device2) = managed(&s, &s.a.token, "beta", &e2.managed_device_id).await;
        assert_eq!(
            device2["deviceEnrollmentType"],
            "windowsAzureADJoinUsingDeviceAuth"
        );
        assert_eq!(device2["userPrincipalName"], "");
        assert_eq!(
            device2["azureADDeviceId"],
            identity2.device_id.to_string().as_str()
        );

        // Deleting the managed device unlinks the registration.
        let (status, _) = s
            .delete(
                &format!(
                    "/beta/deviceManagement/managedDevices/{}",
                    e.managed_device_id
                ),
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, autopilot) = s
            .get(
                &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                &s.a.token,
            )
            .await;
        assert_eq!(autopilot["managedDeviceId"], "");
        let report = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert!(
            report.refused,
            "a deleted managed device's certificate opens no session"
        );
    })
    .await;
}

async fn queue(s: &Server, id: &str, command: Value) -> Value {
    let (status, body) = s
        .post(
            &format!("/ztd/v1/managedDevices/{id}/commands"),
            &s.a.token,
            json!({ "command": command }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn queued_commands_carry_the_devices_statuses_including_csp_failures() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, mut e, _) = enrolled_by_password(&s, "cmd").await;
        let id = e.managed_device_id.clone();
        let policy = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera";
        let item = |target: &str, format: &str, data: &str| json!({"target": target, "format": format, "data": data});
        let add = queue(&s, &id, json!({"kind": "Single", "operations": {"verb": "Add", "items": [item(policy, "int", "0")]}})).await;
        let again = queue(&s, &id, json!({"kind": "Single", "operations": {"verb": "Add", "items": [item(policy, "int", "1")]}})).await;
        let bad_format = queue(&s, &id, json!({"kind": "Single", "operations": {"verb": "Replace", "items": [item(policy, "int", "yes")]}})).await;
        let missing = queue(&s, &id, json!({"kind": "Single", "operations": {"verb": "Get", "items": [{"target": "./Vendor/MSFT/Nothing"}]}})).await;
        let read_only = queue(&s, &id, json!({"kind": "Single", "operations": {"verb": "Replace", "items": [item("./DevDetail/SwV", "chr", "1")]}})).await;
        let atomic = queue(&s, &id, json!({"kind": "Atomic", "operations": [
            {"verb": "Add", "items": [item("./Device/Vendor/MSFT/Policy/Config/A/B", "int", "1")]},
            {"verb": "Replace", "items": [item("./DevInfo/Man", "chr", "x")]},
        ]})).await;
        let sequence = queue(&s, &id, json!({"kind": "Sequence", "operations": [
            {"verb": "Add", "items": [item("./Device/Vendor/MSFT/Policy/Config/C/D", "int", "1")]},
            {"verb": "Get", "items": [{"target": "./Device/Vendor/MSFT/Policy/Result/C/D"}]},
        ]})).await;
        let mut tree = tree_for(&e, "SN-CMD");
        let report = c.mdm_session(&mut e, &mut tree, "user").await.expect("session");
        assert_eq!(report.commands, 8, "inventory and seven queued commands");
        assert_eq!(tree.value(policy), Some("0"));
        assert_eq!(tree.value("./Vendor/MSFT/Policy/Config/A/B"), None, "the Atomic was rolled back");

        let (status, list) = s
            .get(&format!("/ztd/v1/managedDevices/{id}/commands"), &s.a.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let find = |queued: &Value| -> Value {
            list["value"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == queued["id"])
                .cloned()
                .expect("listed")
        };
        let expect = [
            (&add, "succeeded", 200),
            (&again, "failed", 418),
            (&bad_format, "failed", 415),
            (&missing, "failed", 404),
            (&read_only, "failed", 405),
            (&atomic, "failed", 507),
            (&sequence, "succeeded", 200),
        ];
        for (queued, state, code) in expect {
            let got = find(queued);
            assert_eq!(got["state"], state, "{got}");
            assert_eq!(got["status"], code, "{got}");
        }
        let atomic = find(&atomic);
        let inner: Vec<i64> = atomic["outcome"]["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["code"].as_i64().unwrap())
            .collect();
        assert_eq!(inner, vec![507, 216, 405]);
        let sequence = find(&sequence);
        assert_eq!(sequence["outcome"]["results"][0]["data"], "1");
        // Nothing is left to send: the next session carries only the inventory.
        let next = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(next.commands, 1);

        // A command ztd cannot send is refused with the error shape.
        for bad in [
            json!({"kind": "Single", "operations": {"verb": "Get", "items": []}}),
            json!({"kind": "Single", "operations": {"verb": "Get", "items": [{"target": "/abs"}]}}),
            json!({"kind": "Atomic", "operations": []}),
            json!({"kind": "Single", "operations": {"verb": "Format", "items": [{"target": "./a"}]}}),
            json!({"kind": "Single", "operations": {"verb": "Alert", "items": [{"target": "./a"}]}}),
        ] {
            let (status, body) = s
                .post(&format!("/ztd/v1/managedDevices/{id}/commands"), &s.a.token, json!({"command": bad}))
                .await;
            assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{status} {body}");
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn remote_actions_are_carried_out_at_the_next_session() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, mut e, _) = enrolled_by_password(&s, "act").await;
        let id = e.managed_device_id.clone();
        let mut tree = tree_for(&e, "SN-ACT");
        let post = |action: &'static str| {
            let s = &s;
            let id = id.clone();
            async move {
                let (status, body) = s
                    .post(
                        &format!("/beta/deviceManagement/managedDevices/{id}/{action}"),
                        &s.a.token,
                        json!({}),
                    )
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{action}: {body}");
            }
        };
        post("rebootNow").await;
        post("syncDevice").await;
        // The device also reports an asynchronous result (an MSI install) as a generic alert.
        tree.report_alert(
            "./Device/Vendor/MSFT/EnterpriseDesktopAppManagement/MSI/%7BAAAA%7D/DownloadInstall",
            "Reversed-Domain-Name:com.microsoft.mdm.win32csp_install",
            "0",
        );
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(tree.effects.reboots, 1);
        let (_, history) = s
            .get(&format!("/ztd/v1/managedDevices/{id}/commands"), &s.a.token)
            .await;
        let alert = history["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["origin"]["type"] == "deviceAlert")
            .cloned()
            .unwrap_or_else(|| panic!("the alert is in the device's history: {history}"));
        assert_eq!(
            alert["command"]["operations"]["items"][0]["data"], "0",
            "{alert}"
        );
        assert_eq!(
            alert["command"]["operations"]["items"][0]["type"],
            "Reversed-Domain-Name:com.microsoft.mdm.win32csp_install"
        );
        post("retire").await;
        let (_, device) = managed(&s, &s.a.token, "beta", &id).await;
        assert_eq!(device["managementState"], "retirePending");
        let report = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert!(!report.refused);
        assert!(tree.effects.unenrolled, "the device was told to unenroll");
        let (status, _) = managed(&s, &s.a.token, "beta", &id).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a retired device leaves");
        let report = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert!(
            report.refused,
            "a retired device's certificate opens no session"
        );

        // Wipe: the same, with the device wiped.
        let (c2, mut e2, _) = enrolled_by_password(&s, "wipe").await;
        let mut tree2 = tree_for(&e2, "SN-WIPE");
        let (status, _) = s
            .post(
                &format!(
                    "/v1.0/deviceManagement/managedDevices/{}/wipe",
                    e2.managed_device_id
                ),
                &s.a.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        c2.mdm_session(&mut e2, &mut tree2, "user").await.unwrap();
        assert!(tree2.effects.wiped);
        assert!(
            c2.mdm_session(&mut e2, &mut tree2, "user")
                .await
                .unwrap()
                .refused
        );

        // Unknown ids.
        let (status, body) = s
            .post(
                &format!(
                    "/beta/deviceManagement/managedDevices/{}/retire",
                    fresh_id()
                ),
                &s.a.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = managed(&s, &s.a.token, "beta", "not-an-id").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

/// Posts a SOAP message; returns the HTTP status and the fault, if one came back.
async fn soap(s: &Server, path: &str, body: String) -> (u16, Option<enrollment::Fault>, String) {
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(s.ca_pem.as_deref().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let response = http
        .post(format!("{}{path}", s.url))
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, enrollment::parse_fault(text.as_bytes()).ok(), text)
}

fn rst(credential: &Credential, csr: Vec<u8>, context: &[(&str, &str)]) -> String {
    let request = enrollment::SecurityTokenRequest {
        token_type: enrollment::DEVICE_ENROLLMENT_TOKEN.into(),
        request_type: enrollment::REQUEST_TYPE_ISSUE.into(),
        value_type: enrollment::VALUE_TYPE_PKCS10.into(),
        certificate_request: csr,
        context: context
            .iter()
            .map(|(n, v)| enrollment::ContextItem {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
    };
    enrollment::security_token_request("urn:uuid:1", "https://ztd/", credential, &request)
}

fn good_csr() -> Vec<u8> {
    // rcgen cannot generate RSA keys: AWS-LC makes one, rcgen signs the request with it.
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_ref().to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec()
}

#[tokio::test]
async fn every_enrollment_refusal_is_a_soap_fault_with_its_subcode() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let upn = format!("fault@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn).await;
        let user = Credential::UsernameToken {
            username: upn.clone(),
            password: PASSWORD.into(),
        };
        let path = "/EnrollmentServer/Enrollment.svc";
        let expect =
            |got: (u16, Option<enrollment::Fault>, String), code: FaultCode, text: &str| {
                let (status, fault, body) = got;
                assert_eq!(status, 500, "{body}");
                let fault = fault.unwrap_or_else(|| panic!("a fault: {body}"));
                assert_eq!(fault.code, code, "{body}");
                assert!(fault.reason.contains(text), "{text} in {}", fault.reason);
                assert!(fault.trace_id.is_some_and(|t| !t.is_empty()), "{body}");
            };
        // Not SOAP at all.
        expect(
            soap(&s, path, "hello".into()).await,
            FaultCode::MessageFormat,
            "XML",
        );
        // The discovery service is probed with GET and answers an empty 200.
        let probe = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(s.ca_pem.as_deref().unwrap().as_bytes()).unwrap(),
            )
            .build()
            .unwrap()
            .get(format!("{}/EnrollmentServer/Discovery.svc", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 200);
        // Discovery of a domain no tenant has.
        let discover = |email: &str| {
            enrollment::discover_request(
                "urn:uuid:2",
                "https://ztd/",
                &enrollment::DiscoverRequest {
                    email_address: email.into(),
                    request_version: "5.0".into(),
                    device_type: None,
                    application_version: None,
                    os_edition: None,
                    auth_policies: vec![enrollment::AuthPolicy::OnPremise],
                },
            )
        };
        expect(
            soap(
                &s,
                "/EnrollmentServer/Discovery.svc",
                discover("x@nowhere.example"),
            )
            .await,
            FaultCode::Authorization,
            "domain",
        );
        expect(
            soap(
                &s,
                "/EnrollmentServer/Discovery.svc",
                discover("no-at-sign"),
            )
            .await,
            FaultCode::Authorization,
            "user@domain",
        );
        // A Discover sent to the enrollment service.
        expect(
            soap(&s, path, discover(&upn)).await,
            FaultCode::MessageFormat,
            "RequestSecurityToken only",
        );
        // No credential; a wrong password; an unknown user; a token for another audience.
        let no_credential = rst(&user, good_csr(), &[]).replace("wsse:Security", "wsse:Ignored");
        expect(
            soap(&s, path, no_credential).await,
            FaultCode::Authentication,
            "",
        );
        let wrong = Credential::UsernameToken {
            username: upn.clone(),
            password: "Wrong-pass1!".into(),
        };
        expect(
            soap(&s, path, rst(&wrong, good_csr(), &[])).await,
            FaultCode::Authentication,
            "wrong",
        );
        let graph_token = Credential::BinaryToken {
            value_type: enrollment::TOKEN_TYPE_JWT.into(),
            encoding_type: None,
            value: s.a.token.clone(),
        };
        expect(
            soap(&s, path, rst(&graph_token, good_csr(), &[])).await,
            FaultCode::Authentication,
            "",
        );
        // A security token larger than any ztd issues: the header cannot be read.
        let huge = Credential::BinaryToken {
            value_type: enrollment::TOKEN_TYPE_JWT.into(),
            encoding_type: None,
            value: "x".repeat(enrollment::MAX_TOKEN + 1),
        };
        expect(
            soap(&s, path, rst(&huge, good_csr(), &[])).await,
            FaultCode::InvalidSecurity,
            "",
        );
        // A certificate request that is not one.
        expect(
            soap(&s, path, rst(&user, b"not a csr".to_vec(), &[])).await,
            FaultCode::CertificateRequest,
            "PKCS#10",
        );
        // An Entra-joined device enrollment by a user with no joined device.
        expect(
            soap(
                &s,
                path,
                rst(&user, good_csr(), &[("EnrollmentType", "Device")]),
            )
            .await,
            FaultCode::Authorization,
            "joined device",
        );
        expect(
            soap(
                &s,
                path,
                rst(&user, good_csr(), &[("EnrollmentType", "Sideways")]),
            )
            .await,
            FaultCode::MessageFormat,
            "EnrollmentType",
        );
        // Renewal is not offered.
        let renewal = rst(&user, good_csr(), &[])
            .replace(enrollment::VALUE_TYPE_PKCS10, enrollment::VALUE_TYPE_PKCS7);
        let (status, fault, body) = soap(&s, path, renewal).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(
            fault.unwrap().error_type.as_deref(),
            Some("NotEligibleToRenew")
        );
        // The policy service authenticates too.
        let policies = enrollment::get_policies_request(
            "urn:uuid:3",
            "https://ztd/",
            &wrong,
            &enrollment::GetPoliciesRequest {
                last_update: None,
                preferred_language: None,
            },
        );
        expect(
            soap(&s, "/EnrollmentServer/Policy.svc", policies).await,
            FaultCode::Authentication,
            "",
        );
        // An over-large body is refused before it is read.
        let (status, _, _) = soap(
            &s,
            path,
            "x".repeat(ztd_server::mdm::MAX_ENROLLMENT_BODY_BYTES + 1),
        )
        .await;
        assert_eq!(status, 413);
    })
    .await;
}

#[tokio::test]
async fn a_management_message_without_an_enrolled_certificate_is_refused_in_syncml() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(s.ca_pem.as_deref().unwrap().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let url = format!("{}/ManagementServer/MDM.svc", s.url);
        let message = ztd_mdm::syncml::SyncMessage {
            header: ztd_mdm::syncml::SyncHeader {
                session_id: "1".into(),
                msg_id: 1,
                target: url.clone(),
                source: "dev".into(),
                meta: None,
            },
            commands: vec![],
            final_: true,
        };
        let response = http
            .post(&url)
            .body(ztd_mdm::syncml::to_xml(&message))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let reply =
            ztd_mdm::syncml::parse(response.text().await.unwrap().as_bytes()).expect("SyncML");
        let ztd_mdm::syncml::Command::Status(status) = &reply.commands[0] else {
            panic!("a status")
        };
        assert_eq!((status.cmd.as_str(), status.data), ("SyncHdr", 401));
        // Not SyncML.
        let response = http
            .post(&url)
            .body("<SyncML><SyncHdr/></SyncML>")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("SyncML"));
        // A joined device's DRS certificate is not a management certificate.
        let (c, identity, _) = joined(&s, "NOT-ENROLLED", None).await;
        let mut fake = MdmEnrollment {
            managed_device_id: identity.device_id.to_string(),
            management_url: url.clone(),
            provider_id: "ztd".into(),
            certificate: identity.certificate.clone(),
            key: identity.device_key.clone(),
            ca_certificate: String::new(),
            device_id: identity.device_id.to_string(),
            next_session: 1,
        };
        let mut tree = tree_for(&fake, "SN-X");
        assert!(
            c.mdm_session(&mut fake, &mut tree, "none")
                .await
                .unwrap()
                .refused
        );
    })
    .await;
}

#[tokio::test]
async fn managed_devices_never_cross_tenants() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (_, e, _) = enrolled_by_password(&s, "iso").await;
        let id = &e.managed_device_id;
        for version in ["beta", "v1.0"] {
            let (status, _) = managed(&s, &s.b.token, version, id).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            let (_, list) = s.get(&format!("/{version}/deviceManagement/managedDevices"), &s.b.token).await;
            assert_eq!(list["value"], json!([]));
        }
        for action in ["retire", "wipe", "rebootNow", "syncDevice"] {
            let (status, _) = s
                .post(&format!("/beta/deviceManagement/managedDevices/{id}/{action}"), &s.b.token, json!({}))
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
        }
        let (status, _) = s.delete(&format!("/beta/deviceManagement/managedDevices/{id}"), &s.b.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s.get(&format!("/ztd/v1/managedDevices/{id}/commands"), &s.b.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = s
            .post(&format!("/ztd/v1/managedDevices/{id}/commands"), &s.b.token, json!({"command": {"kind": "Single", "operations": {"verb": "Get", "items": [{"target": "./DevDetail/SwV"}]}}}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A user of tenant B cannot enroll tenant A's joined device as theirs.
        let (_, identity, _) = joined(&s, "A-DEVICE", None).await;
        let upn_b = format!("bee@{}", s.b.domain);
        create_user(&s, &s.b.token, &upn_b).await;
        let cb = client(&s, &s.b.domain);
        let refused = cb
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(password(&upn_b), "Device", &identity.device_id.to_string()),
            )
            .await;
        match refused {
            Err(DeviceError::Refused { status: 500, body }) => assert!(body.contains("Authorization"), "{body}"),
            other => panic!("expected an authorization fault, got {other:?}"),
        }
        // Nor does tenant A's admin see tenant B's.
        let (_, eb, _) = {
            let upn = format!("iso2@{}", s.b.domain);
            create_user(&s, &s.b.token, &upn).await;
            let c = client(&s, &s.b.domain);
            let d = c.mdm_discover(&upn).await.unwrap();
            let e = c
                .mdm_enroll(Some(&d.policy_service_url), &d.enrollment_service_url, &options(password(&upn), "Full", &fresh_id().to_string()))
                .await
                .unwrap();
            (c, e, upn)
        };
        let (status, _) = managed(&s, &s.a.token, "beta", &eb.managed_device_id).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

fn oma(kind: &str, uri: &str, value: Value) -> Value {
    json!({"@odata.type": format!("#microsoft.graph.omaSetting{kind}"), "displayName": uri, "omaUri": uri, "value": value})
}

async fn create_policy(s: &Server, token: &str, collection: &str, body: Value) -> Value {
    let (status, created) = s
        .post(&format!("/beta/deviceManagement/{collection}"), token, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn assign(s: &Server, collection: &str, id: &str, targets: Value) -> Value {
    let (status, body) = s
        .post(
            &format!("/beta/deviceManagement/{collection}/{id}/assign"),
            &s.a.token,
            json!({ "assignments": targets }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn statuses(s: &Server, collection: &str, id: &str) -> Vec<Value> {
    let (status, body) = s
        .get(
            &format!("/beta/deviceManagement/{collection}/{id}/deviceStatuses"),
            &s.a.token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_array().unwrap().clone()
}

const ALL_DEVICES: &str = "#microsoft.graph.allDevicesAssignmentTarget";

/// A managed device's compliance state and grace period end.
async fn compliance(s: &Server, id: &str) -> (String, String) {
    let (_, d) = managed(s, &s.a.token, "beta", id).await;
    (
        d["complianceState"].as_str().unwrap().to_string(),
        d["complianceGracePeriodExpirationDateTime"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test]
async fn configuration_profiles_are_applied_tracked_per_setting_and_removed_when_unassigned() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, mut e, upn) = enrolled_by_password(&s, "cfg").await;
        let mut tree = tree_for(&e, "SN-CFG");
        // A static group holding the user, for an inclusion and an exclusion.
        let (status, group) = s
            .post("/v1.0/groups", &s.a.token, json!({"displayName": "MDM users", "mailEnabled": false, "mailNickname": "mdm", "securityEnabled": true}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{group}");
        let gid = group["id"].as_str().unwrap().to_string();
        let (_, user) = s.get(&format!("/v1.0/users/{upn}"), &s.a.token).await;
        let (status, body) = s
            .post(
                &format!("/v1.0/groups/{gid}/members/$ref"),
                &s.a.token,
                json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", user["id"].as_str().unwrap())}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

        let camera = "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera";
        let home = "./Device/Vendor/MSFT/Policy/Config/Browser/HomePages";
        let unknown = "./Device/Vendor/MSFT/NoSuchCsp/Setting";
        let a = create_policy(&s, &s.a.token, "deviceConfigurations", json!({
            "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
            "displayName": "Lab baseline",
            "omaSettings": [oma("Integer", camera, json!(0)), oma("String", home, json!("https://intranet")), oma("Integer", unknown, json!(1))],
        })).await;
        assert_eq!(a["version"], 1);
        assert_eq!(a["omaSettings"][0]["omaUri"], camera);
        let a_id = a["id"].as_str().unwrap().to_string();
        let assigned = assign(&s, "deviceConfigurations", &a_id, json!([{"target": {"@odata.type": ALL_DEVICES}}])).await;
        assert_eq!(assigned["value"][0]["target"]["@odata.type"], ALL_DEVICES);
        let b = create_policy(&s, &s.a.token, "deviceConfigurations", json!({
            "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
            "displayName": "For the group",
            "omaSettings": [oma("Boolean", "./Device/Vendor/MSFT/Policy/Config/Experience/AllowCortana", json!(false))],
        })).await;
        let b_id = b["id"].as_str().unwrap().to_string();
        assign(&s, "deviceConfigurations", &b_id, json!([{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": gid}}])).await;
        let excluded = create_policy(&s, &s.a.token, "deviceConfigurations", json!({
            "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
            "displayName": "Everyone but the group",
            "omaSettings": [oma("Integer", "./Device/Vendor/MSFT/Policy/Config/Excluded/Thing", json!(1))],
        })).await;
        let excluded_id = excluded["id"].as_str().unwrap().to_string();
        assign(&s, "deviceConfigurations", &excluded_id, json!([
            {"target": {"@odata.type": ALL_DEVICES}},
            {"target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": gid}},
        ])).await;

        c.mdm_session(&mut e, &mut tree, "user").await.expect("session");
        assert_eq!(tree.value(camera), Some("0"));
        assert_eq!(tree.value(home), Some("https://intranet"));
        assert_eq!(tree.value("./Vendor/MSFT/Policy/Config/Experience/AllowCortana"), Some("false"));
        assert_eq!(tree.value("./Vendor/MSFT/Policy/Config/Excluded/Thing"), None, "the exclusion wins");
        let a_status = statuses(&s, "deviceConfigurations", &a_id).await;
        assert_eq!(a_status.len(), 1);
        assert_eq!(a_status[0]["status"], "error", "one setting failed: {a_status:?}");
        assert_eq!(a_status[0]["userPrincipalName"], upn.as_str());
        let per_setting: Vec<(&str, &str)> = a_status[0]["ztdSettings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["status"].as_str().unwrap(), x["detail"].as_str().unwrap()))
            .collect();
        assert_eq!(per_setting, vec![("compliant", "200"), ("compliant", "200"), ("error", "404")]);
        assert_eq!(statuses(&s, "deviceConfigurations", &b_id).await[0]["status"], "compliant");
        assert!(statuses(&s, "deviceConfigurations", &excluded_id).await.is_empty());
        let (_, overview) = s
            .get(&format!("/beta/deviceManagement/deviceConfigurations/{a_id}/deviceStatusOverview"), &s.a.token)
            .await;
        assert_eq!((overview["errorCount"].as_i64(), overview["successCount"].as_i64()), (Some(1), Some(0)), "{overview}");

        // A changed profile is delivered again at its new version.
        let (status, updated) = s
            .patch(
                &format!("/beta/deviceManagement/deviceConfigurations/{a_id}"),
                &s.a.token,
                json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "omaSettings": [oma("Integer", camera, json!(1)), oma("String", home, json!("https://intranet"))]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["version"], 2);
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(tree.value(camera), Some("1"));
        assert_eq!(statuses(&s, "deviceConfigurations", &a_id).await[0]["status"], "compliant");
        let (_, overview) = s
            .get(&format!("/beta/deviceManagement/deviceConfigurations/{a_id}/deviceStatusOverview"), &s.a.token)
            .await;
        assert_eq!((overview["successCount"].as_i64(), overview["configurationVersion"].as_i64()), (Some(1), Some(2)));

        // Unassigning removes what the profile set; deleting another does too.
        let (_, assignments) = s
            .get(&format!("/beta/deviceManagement/deviceConfigurations/{b_id}/assignments"), &s.a.token)
            .await;
        let assignment = assignments["value"][0]["id"].as_str().unwrap().to_string();
        let (status, _) = s
            .delete(&format!("/beta/deviceManagement/deviceConfigurations/{b_id}/assignments/{assignment}"), &s.a.token)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = s
            .delete(&format!("/beta/deviceManagement/deviceConfigurations/{a_id}"), &s.a.token)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(tree.value("./Vendor/MSFT/Policy/Config/Experience/AllowCortana"), None);
        assert_eq!(tree.value(camera), None);
        assert!(statuses(&s, "deviceConfigurations", &b_id).await.is_empty());

        // Refusals name the field; another tenant sees nothing.
        let (status, body) = s
            .post("/beta/deviceManagement/deviceConfigurations", &s.a.token, json!({"@odata.type": "#microsoft.graph.windows10CustomConfiguration", "displayName": "x", "omaSettings": [oma("Integer", "/abs", json!(1))]}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains("omaSettings[0].omaUri"), "{body}");
        let (status, body) = s
            .post(&format!("/beta/deviceManagement/deviceConfigurations/{excluded_id}/assign"), &s.b.token, json!({"assignments": []}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = s.get(&format!("/beta/deviceManagement/deviceConfigurations/{excluded_id}"), &s.b.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = s.get("/beta/deviceManagement/deviceConfigurations", &s.b.token).await;
        assert_eq!(list["value"], json!([]));
        // A group of another tenant cannot be a target.
        let (_, b_group) = s
            .post("/v1.0/groups", &s.b.token, json!({"displayName": "B", "mailEnabled": false, "mailNickname": "b", "securityEnabled": true}))
            .await;
        let (status, body) = s
            .post(
                &format!("/beta/deviceManagement/deviceConfigurations/{excluded_id}/assign"),
                &s.a.token,
                json!({"assignments": [{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": b_group["id"]}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    })
    .await;
}

#[tokio::test]
async fn compliance_is_evaluated_from_reported_inventory_with_grace_and_the_no_policy_default() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, mut e, _) = enrolled_by_password(&s, "comp").await;
        let id = e.managed_device_id.clone();
        let mut tree = tree_for(&e, "SN-COMP");
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(compliance(&s, &id).await.0, "compliant", "no policy: compliant by default");
        let (status, updated) = s
            .patch("/beta/deviceManagement", &s.a.token, json!({"settings": {"secureByDefault": true}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["settings"]["secureByDefault"], true);
        let (_, dm) = s.get("/beta/deviceManagement", &s.a.token).await;
        assert_eq!(dm["settings"]["secureByDefault"], true);
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(compliance(&s, &id).await.0, "noncompliant", "no policy: not compliant when secure by default");

        let policy = create_policy(&s, &s.a.token, "deviceCompliancePolicies", json!({
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "Windows baseline",
            "osMinimumVersion": "10.0.26100",
            "tpmRequired": true,
            "secureBootEnabled": true,
            "bitLockerEnabled": true,
            "passwordRequired": true,
            "scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 24}]}],
        })).await;
        let pid = policy["id"].as_str().unwrap().to_string();
        assert_eq!(policy["osMinimumVersion"], "10.0.26100");
        assign(&s, "deviceCompliancePolicies", &pid, json!([{"target": {"@odata.type": ALL_DEVICES}}])).await;
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        let (state, grace) = compliance(&s, &id).await;
        assert_eq!(state, "inGracePeriod");
        assert_ne!(grace, "9999-12-31T23:59:59Z");
        let status = statuses(&s, "deviceCompliancePolicies", &pid).await;
        assert_eq!(status[0]["status"], "nonCompliant");
        let failed: Vec<&str> = status[0]["ztdSettings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == "nonCompliant")
            .map(|x| x["setting"].as_str().unwrap())
            .collect();
        assert_eq!(failed, vec!["osMinimumVersion"]);

        // The device updates: compliant.
        tree.set("./DevDetail/SwV", "chr", "10.0.26100.2");
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(compliance(&s, &id).await, ("compliant".to_string(), "9999-12-31T23:59:59Z".to_string()));
        assert_eq!(statuses(&s, "deviceCompliancePolicies", &pid).await[0]["status"], "compliant");

        // Without a grace period, a failure is non-compliant at once.
        let (status, _) = s
            .patch(
                &format!("/beta/deviceManagement/deviceCompliancePolicies/{pid}"),
                &s.a.token,
                json!({"scheduledActionsForRule": [{"ruleName": "PasswordRequired", "scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 0}]}]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        tree.set("./Vendor/MSFT/DeviceStatus/SecureBootState", "int", "2");
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(compliance(&s, &id).await.0, "noncompliant");
        let (_, overview) = s
            .get(&format!("/beta/deviceManagement/deviceCompliancePolicies/{pid}/deviceStatusOverview"), &s.a.token)
            .await;
        assert_eq!(overview["failedCount"], 1, "{overview}");
        // Bad rules are refused with the field.
        let (status, body) = s
            .post("/beta/deviceManagement/deviceCompliancePolicies", &s.a.token, json!({"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "x", "osMinimumVersion": "ten"}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.to_string().contains("osMinimumVersion"), "{body}");
        let (status, _) = s.get("/beta/deviceManagement", &s.b.token).await;
        assert_eq!(status, StatusCode::OK);
        let (_, dm_b) = s.get("/beta/deviceManagement", &s.b.token).await;
        assert_eq!(dm_b["settings"]["secureByDefault"], false, "settings are per tenant");
    })
    .await;
}

#[tokio::test]
async fn a_targeted_corporate_device_that_reports_its_hash_is_converted_to_autopilot() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (status, profile) = s
            .post(
                "/beta/deviceManagement/windowsAutopilotDeploymentProfiles",
                &s.a.token,
                json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Convert", "hardwareHashExtractionEnabled": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{profile}");
        let pid = profile["id"].as_str().unwrap().to_string();
        let (status, body) = s
            .post(
                &format!("/beta/deviceManagement/windowsAutopilotDeploymentProfiles/{pid}/assignments"),
                &s.a.token,
                json!({"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        // A corporate (Entra-joined, EnrollmentType Device) device reports its hash: registered.
        let (c, identity, upn) = joined(&s, "HARVEST-1", None).await;
        let token = prt_enrollment_token(&c, &identity, &upn).await;
        let mut e = c
            .mdm_enroll(
                None,
                &format!("{}/EnrollmentServer/Enrollment.svc", s.url),
                &options(EnrollCredential::Token(token), "Device", &identity.device_id.to_string()),
            )
            .await
            .unwrap();
        let mut hardware = Hardware::lab("HARVEST-1", "HV-SERIAL-1");
        hardware.hardware_hash = Some(hash("HV-SERIAL-1", "Contoso"));
        let mut tree = CspTree::windows(&hardware, &e.device_id, &e.provider_id);
        // The hash (about 5 KB) comes back as a large object in 1 KB chunks, as Windows splits values
        // over its object size.
        tree.max_object_size = Some(1024);
        let report = c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        let chunks = hash("HV-SERIAL-1", "Contoso").len().div_ceil(1024) as u32;
        assert!(chunks > 2);
        assert_eq!(report.messages, 1 + chunks, "package 1, then a message per chunk: {report:?}");
        assert!(!tree.sending_large_object());
        let (_, device) = managed(&s, &s.a.token, "v1.0", &e.managed_device_id).await;
        assert_eq!(device["ztdHardwareHash"], hash("HV-SERIAL-1", "Contoso").as_str(), "the hash is shown, whole");
        assert_eq!(device["serialNumber"], "HV-SERIAL-1", "the other inventory arrived with the first chunk");
        let (_, list) = s
            .get("/beta/deviceManagement/windowsAutopilotDeviceIdentities?$filter=contains(serialNumber,'HV-SERIAL-1')", &s.a.token)
            .await;
        let registrations = list["value"].as_array().unwrap();
        assert_eq!(registrations.len(), 1, "{list}");
        let registration = &registrations[0];
        assert_eq!(registration["managedDeviceId"], e.managed_device_id.as_str());
        assert_eq!(registration["enrollmentState"], "enrolled");
        assert_eq!(
            registration["azureActiveDirectoryDeviceId"],
            identity.device_id.to_string().as_str(),
            "the registration adopts the joined object"
        );
        let ztdid = registration["id"].as_str().unwrap();
        let (_, objects) = s
            .get(&format!("/v1.0/devices?$filter=deviceId eq '{}'", identity.device_id), &s.a.token)
            .await;
        let ids = objects["value"][0]["physicalIds"].as_array().unwrap();
        assert!(ids.iter().any(|id| id == &json!(format!("[ZTDID]:{ztdid}"))), "{ids:?}");
        let (_, count) = s.get("/v1.0/devices/$count?ConsistencyLevel=eventual", &s.a.token).await;
        // Only the joined objects: the registration created no second one.
        let (_, all) = s.get("/v1.0/devices", &s.a.token).await;
        assert_eq!(count, json!(all["value"].as_array().unwrap().len()));
        assert!(all["value"].as_array().unwrap().iter().all(|o| o["displayName"] != "HV-SERIAL-1"), "{all}");
        // A second session converts nothing more.
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        let (_, list) = s.get("/beta/deviceManagement/windowsAutopilotDeviceIdentities", &s.a.token).await;
        assert_eq!(list["value"].as_array().unwrap().len(), 1);

        // A personal (MDM-only) device that reports a hash is not converted.
        let (c2, mut e2, _) = enrolled_by_password(&s, "personal").await;
        let mut hardware = Hardware::lab("PERSONAL", "HV-SERIAL-2");
        hardware.hardware_hash = Some(hash("HV-SERIAL-2", "Contoso"));
        let mut tree2 = CspTree::windows(&hardware, &e2.device_id, &e2.provider_id);
        c2.mdm_session(&mut e2, &mut tree2, "user").await.unwrap();
        let (_, list) = s.get("/beta/deviceManagement/windowsAutopilotDeviceIdentities", &s.a.token).await;
        assert_eq!(list["value"].as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn federated_sign_in_and_terms_of_use_as_windows_walks_them() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let upn = format!("fed@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn).await;
        let c = client(&s, &s.a.domain);
        let discovered = c
            .mdm_discover_with(&upn, &[enrollment::AuthPolicy::Federated])
            .await
            .expect("discovery");
        assert_eq!(discovered.auth_policy, enrollment::AuthPolicy::Federated);
        let auth_url = discovered
            .authentication_service_url
            .clone()
            .expect("a sign-in page");
        assert_eq!(
            auth_url,
            format!("{}/EnrollmentServer/AuthenticationService", s.url)
        );
        // The sign-in page: a wrong password stays on the page; the right one posts the token back.
        assert!(matches!(
            c.mdm_federated_sign_in(&auth_url, &upn, "Wrong-pass1!")
                .await,
            Err(DeviceError::Refused { .. })
        ));
        let token = c
            .mdm_federated_sign_in(&auth_url, &upn, PASSWORD)
            .await
            .expect("sign-in");
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], ENROLLMENT);
        // The page gives a token to Windows' broker only.
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(s.ca_pem.as_deref().unwrap().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let evil = http
            .post(&auth_url)
            .form(&[
                ("appru", "https://evil.example/"),
                ("username", upn.as_str()),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(evil.status(), 400);
        assert!(!evil.text().await.unwrap().contains("wresult"));

        // The tenant sets terms of use: an enrollment without their acceptance is refused.
        let (status, _) = s
            .patch(
                "/beta/deviceManagement",
                &s.a.token,
                json!({"settings": {"ztdTermsOfUse": "Devices are managed by Contoso."}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        // With terms, the sign-in page asks for them first; a token without their acceptance enrolls no more.
        assert!(
            c.mdm_federated_sign_in(&auth_url, &upn, PASSWORD)
                .await
                .is_err(),
            "the page asks to accept the terms"
        );
        let without = options(
            EnrollCredential::FederatedToken(token.clone()),
            "Full",
            &fresh_id().to_string(),
        );
        match c
            .mdm_enroll(None, &discovered.enrollment_service_url, &without)
            .await
        {
            Err(DeviceError::Refused { status: 500, body }) => {
                assert!(body.contains("terms of use"), "{body}")
            }
            other => panic!("expected the terms to be required, got {other:?}"),
        }
        let accepted = c
            .mdm_federated_sign_in_accepting(&auth_url, &upn, PASSWORD, true)
            .await
            .expect("signed in, terms accepted");
        c.mdm_enroll(
            None,
            &discovered.enrollment_service_url,
            &options(
                EnrollCredential::FederatedToken(accepted),
                "Full",
                &fresh_id().to_string(),
            ),
        )
        .await
        .expect("a federated enrollment with the terms accepted on the sign-in page");
        // A user name and password has no terms step: refused while terms are set; discovery says Federated.
        match c
            .mdm_enroll(
                None,
                &discovered.enrollment_service_url,
                &options(password(&upn), "Full", &fresh_id().to_string()),
            )
            .await
        {
            Err(DeviceError::Refused { status: 500, body }) => {
                assert!(body.contains("sign-in page"), "{body}")
            }
            other => panic!("expected a password enrollment to be refused, got {other:?}"),
        }
        assert_eq!(
            c.mdm_discover(&upn).await.unwrap().auth_policy,
            enrollment::AuthPolicy::Federated
        );
        // The terms page answers only to Windows' own schemes or a true loopback address.
        for evil in [
            "http://localhost.evil.example/",
            "http://localhost@evil.example/",
            "https://evil.example/",
        ] {
            let response = http
                .get(format!("{}/EnrollmentServer/TermsOfUse", s.url))
                .query(&[("redirect_uri", evil)])
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{evil}");
        }
        // An Entra enrollment (its token as an Entra JWT) needs the user's acceptance.
        let mut opts = options(
            EnrollCredential::Token(token.clone()),
            "Full",
            &fresh_id().to_string(),
        );
        match c
            .mdm_enroll(
                Some(&discovered.policy_service_url),
                &discovered.enrollment_service_url,
                &opts,
            )
            .await
        {
            Err(DeviceError::Refused { status: 500, body }) => {
                assert!(body.contains("terms of use"), "{body}")
            }
            other => panic!("expected the terms to be required, got {other:?}"),
        }
        let terms_url = format!("{}/EnrollmentServer/TermsOfUse", s.url);
        assert_eq!(
            c.mdm_terms_of_use(&terms_url, &token, false).await.unwrap(),
            None,
            "declined"
        );
        let blob = c
            .mdm_terms_of_use(&terms_url, &token, true)
            .await
            .unwrap()
            .expect("accepted");
        // Another user's acceptance does not count.
        let other = format!("other@{}", s.a.domain);
        create_user(&s, &s.a.token, &other).await;
        let other_token = c
            .mdm_federated_sign_in_accepting(&auth_url, &other, PASSWORD, true)
            .await
            .unwrap()
            .split('~')
            .next()
            .unwrap()
            .to_string();
        let other_blob = c
            .mdm_terms_of_use(&terms_url, &other_token, true)
            .await
            .unwrap()
            .unwrap();
        opts.enrollment_data = Some(other_blob);
        assert!(c
            .mdm_enroll(None, &discovered.enrollment_service_url, &opts)
            .await
            .is_err());
        opts.enrollment_data = Some(blob);
        let e = c
            .mdm_enroll(
                Some(&discovered.policy_service_url),
                &discovered.enrollment_service_url,
                &opts,
            )
            .await
            .expect("enrolled with the terms accepted");
        let (_, device) = managed(&s, &s.a.token, "beta", &e.managed_device_id).await;
        assert_eq!(device["userPrincipalName"], upn.as_str());
        // The terms page needs the user's enrollment token.
        assert!(c
            .mdm_terms_of_use(&terms_url, &s.a.token, true)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn one_device_from_discovery_to_retire_with_configuration_and_compliance() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        // Discovery and enrollment.
        let (c, mut e, _) = enrolled_by_password(&s, "chain").await;
        let id = e.managed_device_id.clone();
        let mut tree = tree_for(&e, "SN-CHAIN");
        // A configuration profile and a compliance policy for all devices.
        let profile = create_policy(&s, &s.a.token, "deviceConfigurations", json!({
            "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
            "displayName": "Chain",
            "omaSettings": [oma("Integer", "./Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera", json!(0))],
        })).await;
        let profile_id = profile["id"].as_str().unwrap().to_string();
        assign(&s, "deviceConfigurations", &profile_id, json!([{"target": {"@odata.type": ALL_DEVICES}}])).await;
        let policy = create_policy(&s, &s.a.token, "deviceCompliancePolicies", json!({
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "Chain",
            "secureBootEnabled": true,
            "tpmRequired": true,
        })).await;
        let policy_id = policy["id"].as_str().unwrap().to_string();
        assign(&s, "deviceCompliancePolicies", &policy_id, json!([{"target": {"@odata.type": ALL_DEVICES}}])).await;
        // Sessions: the profile applied, compliance reported.
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert_eq!(tree.value("./Vendor/MSFT/Policy/Config/Camera/AllowCamera"), Some("0"));
        assert_eq!(statuses(&s, "deviceConfigurations", &profile_id).await[0]["status"], "compliant");
        assert_eq!(compliance(&s, &id).await.0, "compliant");
        assert_eq!(statuses(&s, "deviceCompliancePolicies", &policy_id).await[0]["status"], "compliant");
        // Another tenant sees neither the policies nor their statuses.
        for path in [
            format!("/beta/deviceManagement/deviceCompliancePolicies/{policy_id}"),
            format!("/beta/deviceManagement/deviceCompliancePolicies/{policy_id}/deviceStatuses"),
            format!("/beta/deviceManagement/deviceConfigurations/{profile_id}/deviceStatusOverview"),
            format!("/beta/deviceManagement/deviceConfigurations/{profile_id}/assignments"),
        ] {
            let (status, _) = s.get(&path, &s.b.token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, _) = s
            .patch(&format!("/beta/deviceManagement/deviceCompliancePolicies/{policy_id}"), &s.b.token, json!({"tpmRequired": false}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Retire: carried out at the next session, then the device is gone.
        let (status, _) = s
            .post(&format!("/v1.0/deviceManagement/managedDevices/{id}/retire"), &s.a.token, json!({}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        c.mdm_session(&mut e, &mut tree, "user").await.unwrap();
        assert!(tree.effects.unenrolled);
        assert!(c.mdm_session(&mut e, &mut tree, "user").await.unwrap().refused);
        assert!(statuses(&s, "deviceConfigurations", &profile_id).await.is_empty(), "a retired device has no status");
    })
    .await;
}
