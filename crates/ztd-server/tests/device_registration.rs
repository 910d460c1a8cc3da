//! The device registration service and the device grants, driven by ztd's own device client
//! (`ztd-device`) over real HTTPS with client certificates: discovery, join and registration, the device
//! object in Graph, PRTs (KDF v1 and v2, renewal), device tokens, single sign-on with the PRT cookie,
//! revocation by disabling or deleting, the certificate-authenticated delete, the Autopilot binding, every
//! refusal, and tenant isolation. Every scenario runs on SQLite and PostgreSQL.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Map, Value};
use ztd_device::{DeviceClient, DeviceError, DeviceIdentity, Kdf};
use ztd_server::GraphConfig;
use ztd_testkit::{hash, on_both_tls_servers, Server};

const PASSWORD: &str = "Corr3ct-horse!";
const GRAPH: &str = "https://graph.microsoft.com";
const ENROLLMENT: &str = "https://enrollment.manage.microsoft.com/";

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

async fn create_user(s: &Server, token: &str, upn: &str) -> Value {
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
                "ztdRole": "administrator",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn client(s: &Server, tenant: &str) -> DeviceClient {
    DeviceClient::new(&s.url, tenant, s.ca_pem.as_deref().map(str::as_bytes)).expect("client")
}

/// A user of tenant A (`ada@contoso.example`), a client for it, and a joined device.
async fn joined(s: &Server, name: &str, join_type: i64) -> (DeviceClient, DeviceIdentity, String) {
    let upn = format!("{}@{}", name.to_lowercase(), s.a.domain);
    create_user(s, &s.a.token, &upn).await;
    let c = client(s, &s.a.domain);
    let drs = c
        .user_token(&upn, PASSWORD, ztd_device::DRS_RESOURCE)
        .await
        .expect("DRS token");
    let identity = c.join(&drs, name, join_type, None).await.expect("join");
    (c, identity, upn)
}

async fn device_object(s: &Server, token: &str, device_id: &str) -> Option<Value> {
    let (status, body) = s
        .get(
            &format!("/v1.0/devices?$filter=deviceId eq '{device_id}'"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_array().and_then(|v| v.first()).cloned()
}

fn refused_with(
    result: Result<impl std::fmt::Debug, DeviceError>,
    status: u16,
    text: &str,
) -> Value {
    match result {
        Err(DeviceError::Refused { status: got, body }) => {
            assert_eq!(got, status, "{body}");
            assert!(body.contains(text), "expected {text} in {body}");
            serde_json::from_str(&body).unwrap_or(Value::Null)
        }
        other => panic!("expected a refusal ({status}, {text}), got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_points_at_the_server_and_names_the_tenant() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let c = client(&s, &s.a.domain);
        let document = c.discover().await.expect("discover");
        assert_eq!(document["TenantInfo"]["TenantId"], s.a.id.as_str());
        assert_eq!(
            document["DeviceJoinService"]["JoinEndpoint"],
            format!("{}/EnrollmentServer/device/", s.url).as_str()
        );
        assert_eq!(document["DeviceJoinService"]["ServiceVersion"], "2.0");
        assert_eq!(
            document["DeviceJoinService"]["JoinResourceId"],
            "urn:ms-drs:enterpriseregistration.windows.net"
        );
        let by_id = client(&s, &s.b.id).discover().await.expect("discover b");
        assert_eq!(by_id["TenantInfo"]["TenantId"], s.b.id.as_str());
        let unknown = client(&s, "nowhere.example").discover().await;
        refused_with(unknown, 404, "TenantNotFound");
    })
    .await;
}

#[tokio::test]
async fn a_joined_device_is_an_enabled_object_with_its_certificate_and_user() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (_, identity, upn) = joined(&s, "PC-JOIN1", 0).await;
        let der = identity.certificate_der().unwrap();
        let cert = ztd_drs::parse_device_certificate(&der).expect("certificate");
        assert_eq!(cert.device_id, identity.device_id);
        assert_eq!(cert.tenant_id.map(|t| t.to_string()), Some(s.a.id.clone()));
        let object = device_object(&s, &s.a.token, &identity.device_id.to_string())
            .await
            .expect("the object");
        assert_eq!(object["accountEnabled"], true);
        assert_eq!(object["trustType"], "AzureAd");
        assert_eq!(object["displayName"], "PC-JOIN1");
        assert_eq!(object["operatingSystem"], "Windows");
        assert_eq!(object["operatingSystemVersion"], "10.0.22631.4460");
        assert_eq!(object["physicalIds"], json!([]));
        let alt = &object["alternativeSecurityIds"][0];
        assert_eq!(alt["type"], 2);
        let key = base64::engine::general_purpose::STANDARD
            .decode(alt["key"].as_str().unwrap())
            .unwrap();
        let units: Vec<u16> = key
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16(&units).unwrap();
        assert!(
            text.starts_with(&format!("X509:<SHA1-TP-PUBKEY>{}", cert.sha1_thumbprint)),
            "{text}"
        );
        for relation in ["registeredOwners", "registeredUsers"] {
            let (status, owners) = s
                .get(
                    &format!(
                        "/v1.0/devices/{}/{relation}",
                        object["id"].as_str().unwrap()
                    ),
                    &s.a.token,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{owners}");
            assert_eq!(owners["value"][0]["userPrincipalName"], upn.as_str());
            assert_eq!(owners["value"][0]["@odata.type"], "#microsoft.graph.user");
        }
        // The audit log shows the join as the user's act.
        let (status, audit) = s
            .get("/beta/deviceManagement/auditEvents", &s.a.token)
            .await;
        assert_eq!(status, StatusCode::OK, "{audit}");
        let joins: Vec<&Value> = audit["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["activity"] == "Directory object joined")
            .collect();
        assert_eq!(joins.len(), 1, "{audit}");
        assert_eq!(joins[0]["actor"]["userPrincipalName"], upn.as_str());
        assert_eq!(joins[0]["resources"][0]["resourceId"], object["id"]);
        // Registration (workplace join) is the same with trustType Workplace.
        let (_, registered, _) = joined(&s, "PC-REG1", 4).await;
        let object = device_object(&s, &s.a.token, &registered.device_id.to_string())
            .await
            .unwrap();
        assert_eq!(object["trustType"], "Workplace");
        // The other tenant sees neither.
        assert!(
            device_object(&s, &s.b.token, &identity.device_id.to_string())
                .await
                .is_none()
        );
        let (status, _) = s
            .get(
                &format!("/v1.0/devices/{}", object["id"].as_str().unwrap()),
                &s.b.token,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_prt_gives_tokens_with_the_device_id_under_both_kdfs_and_renews() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, identity, upn) = joined(&s, "PC-PRT1", 0).await;
        let prt = c.request_prt(&identity, &upn, PASSWORD).await.expect("PRT");
        for kdf in [Kdf::V1, Kdf::V2] {
            let tokens = c
                .prt_tokens(
                    &identity,
                    &prt,
                    "1b730954-1685-4b74-9bfd-dac224a7b894",
                    GRAPH,
                    kdf,
                )
                .await
                .expect("tokens through the PRT");
            let access = tokens["access_token"].as_str().expect("access token");
            let granted = claims(access);
            assert_eq!(granted["deviceid"], identity.device_id.to_string().as_str());
            assert_eq!(granted["upn"], upn.as_str());
            assert_eq!(granted["aud"], GRAPH);
            // The token works against Graph and sees the device.
            let (status, body) = s.get("/v1.0/devices", access).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // Its refresh token is bound to the device: what it is exchanged for carries the device id.
            let refresh = tokens["refresh_token"].as_str().expect("refresh token");
            let (status, refreshed) = s
                .form(
                    &format!("/{}/oauth2/token", s.a.id),
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", "1b730954-1685-4b74-9bfd-dac224a7b894"),
                        ("refresh_token", refresh),
                        ("resource", GRAPH),
                    ],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{refreshed}");
            let access = refreshed["access_token"].as_str().unwrap();
            assert_eq!(
                claims(access)["deviceid"],
                identity.device_id.to_string().as_str()
            );
        }
        // Tokens only for first-party clients and the tenant's own applications.
        let tenant_b = ztd_core::TenantId::parse(&s.b.id).unwrap();
        let foreign = s
            .app
            .create_client(tenant_b, &ztd_app::ClientSpec::new("app of B", &[]))
            .await
            .unwrap();
        refused_with(
            c.prt_tokens(&identity, &prt, &foreign.client_id, GRAPH, Kdf::V2)
                .await,
            400,
            "700016",
        );
        let renewed = c.renew_prt(&identity, &prt).await.expect("renewal");
        assert_ne!(renewed.token, prt.token);
        c.prt_tokens(
            &identity,
            &renewed,
            "1b730954-1685-4b74-9bfd-dac224a7b894",
            GRAPH,
            Kdf::V2,
        )
        .await
        .expect("the renewed PRT works");
        // The PRT is never a plain refresh token.
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/token", s.a.id),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", ztd_device::PRT_CLIENT),
                    ("refresh_token", prt.token.as_str()),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // The device token names the device, not a user, and is for enrollment only.
        let device_token = c
            .device_token(&identity, ENROLLMENT)
            .await
            .expect("device token");
        let claims = claims(&device_token);
        assert_eq!(claims["idtyp"], "device");
        assert_eq!(claims["deviceid"], identity.device_id.to_string().as_str());
        assert_eq!(claims["aud"], ENROLLMENT);
        assert!(claims.get("upn").is_none());
        refused_with(c.device_token(&identity, GRAPH).await, 400, "enrollment");
    })
    .await;
}

/// A device-signed request built by hand, to send what a well-behaved client never would.
fn signed_request(identity: &DeviceIdentity, nonce: &str, upn: &str) -> String {
    let mut header = Map::new();
    header.insert("x5c".into(), identity.certificate.clone().into());
    let claims = json!({
        "client_id": ztd_device::PRT_CLIENT,
        "request_nonce": nonce,
        "scope": "openid aza ugs",
        "grant_type": "password",
        "username": upn,
        "password": PASSWORD,
    });
    let key = base64::engine::general_purpose::STANDARD
        .decode(&identity.device_key)
        .unwrap();
    ztd_drs::sign_rs256(&header, &claims, &key).expect("sign")
}

async fn post_signed(s: &Server, tenant: &str, request: &str) -> (StatusCode, Value) {
    s.form(
        &format!("/{tenant}/oauth2/token"),
        &[
            ("windows_api_version", "2.2"),
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("request", request),
        ],
    )
    .await
}

#[tokio::test]
async fn forged_nonces_replays_tampered_certificates_and_other_tenants_are_refused() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, identity, upn) = joined(&s, "PC-BAD1", 0).await;
        // A nonce ztd did not issue.
        let (status, body) = post_signed(&s, &s.a.id, &signed_request(&identity, "AAAAAAAAAAAAAAAA", &upn)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error_codes"][0], 50013, "{body}");
        // A request replayed: good once.
        let nonce = c.nonce().await.unwrap();
        let request = signed_request(&identity, &nonce, &upn);
        let (status, body) = post_signed(&s, &s.a.id, &request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "pop");
        let (status, body) = post_signed(&s, &s.a.id, &request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error_codes"][0], 50013);
        assert!(body["error_description"].as_str().unwrap().contains("used before"), "{body}");
        // A nonce that expired.
        let stale = c.nonce().await.unwrap();
        s.clock.advance(std::time::Duration::from_secs(400));
        let (_, body) = post_signed(&s, &s.a.id, &signed_request(&identity, &stale, &upn)).await;
        assert_eq!(body["error_codes"][0], 50013, "{body}");
        // A certificate altered by one byte is not the one ztd issued.
        let mut der = identity.certificate_der().unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let tampered = DeviceIdentity {
            certificate: base64::engine::general_purpose::STANDARD.encode(&der),
            ..identity.clone()
        };
        let (_, body) = post_signed(&s, &s.a.id, &signed_request(&tampered, &c.nonce().await.unwrap(), &upn)).await;
        assert_eq!(body["error_codes"][0], 50155, "{body}");
        // Signed with another key than the certificate's.
        let (_, stranger, _) = joined(&s, "PC-BAD2", 0).await;
        let mixed = DeviceIdentity {
            device_key: stranger.device_key.clone(),
            ..identity.clone()
        };
        let (_, body) = post_signed(&s, &s.a.id, &signed_request(&mixed, &c.nonce().await.unwrap(), &upn)).await;
        assert_eq!(body["error_codes"][0], 50013, "{body}");
        // A device of tenant A at tenant B's endpoint.
        let (_, body) = post_signed(&s, &s.b.id, &signed_request(&identity, &c.nonce().await.unwrap(), &upn)).await;
        assert_eq!(body["error_codes"][0], 50155, "{body}");
        // A wrong password inside a good request.
        let mut header = Map::new();
        header.insert("x5c".into(), json!([identity.certificate.clone()]));
        let key = base64::engine::general_purpose::STANDARD.decode(&identity.device_key).unwrap();
        let wrong = ztd_drs::sign_rs256(
            &header,
            &json!({"request_nonce": c.nonce().await.unwrap(), "grant_type": "password", "username": upn, "password": "Wrong-passw0rd"}),
            &key,
        )
        .unwrap();
        let (_, body) = post_signed(&s, &s.a.id, &wrong).await;
        assert_eq!(body["error_codes"][0], 50126, "{body}");
    })
    .await;
}

#[tokio::test]
async fn join_requests_that_cannot_be_used_are_refused_in_the_drs_shape() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let upn = format!("joiner@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn).await;
        let c = client(&s, &s.a.domain);
        let drs = c.user_token(&upn, PASSWORD, ztd_device::DRS_RESOURCE).await.unwrap();
        let join = |token: Option<String>, body: Value| {
            let s = &s;
            async move {
                let mut request = s
                    .http
                    .post(format!("{}/EnrollmentServer/device/?api-version=2.0", s.url))
                    .json(&body);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let good = json!({
            "CertificateRequest": {"Type": "pkcs10", "Data": "AAAA"},
            "TransportKey": "AAAA", "DeviceDisplayName": "X", "JoinType": 0,
        });
        let (status, body) = join(None, good.clone()).await;
        assert_eq!((status, body["ErrorType"].as_str()), (401, Some("AuthenticationError")), "{body}");
        assert!(body["TraceId"].is_string() && body["Time"].is_string(), "{body}");
        // A Graph token is not a DRS token.
        let graph = c.user_token(&upn, PASSWORD, GRAPH).await.unwrap();
        let (status, _) = join(Some(graph), good.clone()).await;
        assert_eq!(status, 401);
        let (status, body) = join(Some(drs.clone()), good.clone()).await;
        assert_eq!((status, body["ErrorType"].as_str()), (400, Some("InvalidParameter")), "{body}");
        // A ticket that is not text is refused, not ignored (the join would otherwise create a new object).
        let numeric = json!({
            "CertificateRequest": {"Type": "pkcs10", "Data": "AAAA"},
            "TransportKey": "AAAA", "DeviceDisplayName": "X", "JoinType": 0,
            "attributes": {"ztdJoinTicket": 123},
        });
        let (status, body) = join(Some(drs.clone()), numeric).await;
        assert_eq!((status, body["ErrorType"].as_str()), (400, Some("InvalidJoinTicket")), "{body}");
        let (status, body) = join(Some(drs.clone()), json!({"JoinType": 0})).await;
        assert_eq!(status, 400, "{body}");
        let hybrid = json!({
            "CertificateRequest": {"Type": "pkcs10", "Data": "AAAA"},
            "TransportKey": "AAAA", "DeviceDisplayName": "X", "JoinType": 6,
        });
        let (status, body) = join(Some(drs.clone()), hybrid).await;
        assert_eq!(status, 400);
        assert!(body["Message"].as_str().unwrap().contains("Active Directory"), "{body}");
        // An oversized body.
        let huge = json!({"CertificateRequest": {"Type": "pkcs10", "Data": "A".repeat(100_000)}, "JoinType": 0});
        let (status, _) = join(Some(drs.clone()), huge).await;
        assert_eq!(status, 413);
        // The delete without a client certificate, and the hybrid PUT.
        let response = s
            .http
            .delete(format!("{}/EnrollmentServer/device/{}", s.url, uuid::Uuid::nil()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let response = s
            .http
            .put(format!("{}/EnrollmentServer/device/{}?api-version=2.0", s.url, uuid::Uuid::nil()))
            .json(&json!({"JoinType": 6}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["ErrorType"], "InvalidParameter");
        // A Windows Hello key: recorded when it is a public key blob, refused otherwise.
        let blob = {
            let mut b = Vec::new();
            for v in [0x3141_5352u32, 2048, 3, 256, 0, 0] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&[1, 0, 1]);
            b.push(0xC1);
            b.extend_from_slice(&[0x5A; 254]);
            b.push(0x0B);
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let key = |kngc: String| {
            let (s, drs) = (&s, drs.clone());
            async move {
                let response = s
                    .http
                    .post(format!("{}/EnrollmentServer/key/?api-version=1.0", s.url))
                    .bearer_auth(drs)
                    .json(&json!({ "kngc": kngc }))
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, body) = key(blob).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["upn"], upn.as_str());
        let (status, body) = key("AAAA".into()).await;
        assert_eq!((status, body["ErrorType"].as_str()), (400, Some("InvalidParameter")), "{body}");
        // The nonce service, for a known tenant only.
        let nonce: Value = s
            .http
            .get(format!("{}/EnrollmentServer/nonce/{}/?api-version=1.0", s.url, s.a.id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(nonce["Value"].as_str().is_some_and(|v| v.len() > 20), "{nonce}");
        let response = s
            .http
            .get(format!("{}/EnrollmentServer/nonce/nowhere.example/", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 404);
    })
    .await;
}

#[tokio::test]
async fn disabling_or_deleting_the_object_stops_the_device() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, identity, upn) = joined(&s, "PC-OFF1", 0).await;
        let prt = c.request_prt(&identity, &upn, PASSWORD).await.unwrap();
        let object = device_object(&s, &s.a.token, &identity.device_id.to_string())
            .await
            .unwrap();
        let id = object["id"].as_str().unwrap().to_string();
        let (status, body) = s
            .patch(
                &format!("/v1.0/devices/{id}"),
                &s.a.token,
                json!({"accountEnabled": false}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        refused_with(
            c.request_prt(&identity, &upn, PASSWORD).await,
            400,
            "135011",
        );
        refused_with(
            c.prt_tokens(&identity, &prt, ztd_device::PRT_CLIENT, GRAPH, Kdf::V2)
                .await,
            400,
            "135011",
        );
        refused_with(c.device_token(&identity, ENROLLMENT).await, 400, "135011");
        refused_with(c.leave(&identity).await, 403, "AuthorizationError");
        // Properties ztd does not change here are refused by name.
        let (status, _) = s
            .patch(
                &format!("/v1.0/devices/{id}"),
                &s.a.token,
                json!({"trustType": "ServerAd"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Tenant B cannot touch it.
        let (status, _) = s
            .patch(
                &format!("/v1.0/devices/{id}"),
                &s.b.token,
                json!({"accountEnabled": true}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        s.patch(
            &format!("/v1.0/devices/{id}"),
            &s.a.token,
            json!({"accountEnabled": true}),
        )
        .await;
        c.prt_tokens(&identity, &prt, ztd_device::PRT_CLIENT, GRAPH, Kdf::V2)
            .await
            .expect("enabled again");
        // Another device's certificate cannot delete this one.
        let (_, other, _) = joined(&s, "PC-OFF2", 0).await;
        let imposter = DeviceIdentity {
            device_id: identity.device_id,
            ..other.clone()
        };
        refused_with(c.leave(&imposter).await, 403, "AuthorizationError");
        // Leaving deletes the object and revokes the certificate.
        c.leave(&identity).await.expect("leave");
        assert!(
            device_object(&s, &s.a.token, &identity.device_id.to_string())
                .await
                .is_none()
        );
        refused_with(c.request_prt(&identity, &upn, PASSWORD).await, 400, "50155");
        // Its PRTs were revoked with it.
        refused_with(
            c.prt_tokens(&identity, &prt, ztd_device::PRT_CLIENT, GRAPH, Kdf::V2)
                .await,
            400,
            "70000",
        );
        refused_with(c.leave(&identity).await, 401, "AuthenticationError");
        // Deleting an object in Graph stops its device too.
        let object = device_object(&s, &s.a.token, &other.device_id.to_string())
            .await
            .unwrap();
        let (status, _) = s
            .delete(
                &format!("/v1.0/devices/{}", object["id"].as_str().unwrap()),
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        refused_with(c.device_token(&other, ENROLLMENT).await, 400, "700003");
    })
    .await;
}

#[tokio::test]
async fn an_autopilot_device_joins_as_its_registration_object_and_falls_out_when_deleted() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let imported = s
            .import_device(&s.a.token, "AP-JOIN-1", "Contoso", "Kiosk")
            .await;
        let ztdid = imported["state"]["deviceRegistrationId"]
            .as_str()
            .expect("ztdid")
            .to_string();
        let (_, autopilot) = s
            .get(
                &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                &s.a.token,
            )
            .await;
        let aad_device_id = autopilot["azureActiveDirectoryDeviceId"]
            .as_str()
            .unwrap()
            .to_string();
        let boot = |serial: &'static str| {
            let s = &s;
            async move {
                let (status, body) = s
                    .post(
                        "/device/v1/boot",
                        "",
                        json!({"hardwareHash": hash(serial, "Contoso")}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body["joinTicket"]
                    .as_str()
                    .expect("a join ticket")
                    .to_string()
            }
        };
        let ticket = boot("AP-JOIN-1").await;
        let upn = format!("ap@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn).await;
        let c = client(&s, &s.a.domain);
        let drs = c
            .user_token(&upn, PASSWORD, ztd_device::DRS_RESOURCE)
            .await
            .unwrap();
        let identity = c
            .join(&drs, "KIOSK-01", 0, Some(&ticket))
            .await
            .expect("join");
        let first_prt = c.request_prt(&identity, &upn, PASSWORD).await.expect("PRT");
        assert_eq!(identity.device_id.to_string(), aad_device_id);
        let object = device_object(&s, &s.a.token, &aad_device_id).await.unwrap();
        assert_eq!(object["accountEnabled"], true);
        assert_eq!(object["displayName"], "KIOSK-01");
        let ids: Vec<&str> = object["physicalIds"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            ids.contains(&format!("[ZTDID]:{ztdid}").as_str()),
            "{ids:?}"
        );
        assert!(ids.contains(&"[OrderId]:Kiosk"), "{ids:?}");
        // A forged ticket, and a ticket used by a user of another tenant.
        let mut forged = ticket.clone();
        forged.replace_range(10..11, if &ticket[10..11] == "A" { "B" } else { "A" });
        refused_with(
            c.join(&drs, "KIOSK-01", 0, Some(&forged)).await,
            400,
            "InvalidJoinTicket",
        );
        let upn_b = format!("ap@{}", s.b.domain);
        create_user(&s, &s.b.token, &upn_b).await;
        let cb = client(&s, &s.b.domain);
        let drs_b = cb
            .user_token(&upn_b, PASSWORD, ztd_device::DRS_RESOURCE)
            .await
            .unwrap();
        refused_with(
            cb.join(&drs_b, "KIOSK-01", 0, Some(&ticket)).await,
            400,
            "InvalidJoinTicket",
        );
        // Leaving returns the object to its disabled placeholder.
        c.leave(&identity).await.expect("leave");
        let object = device_object(&s, &s.a.token, &aad_device_id).await.unwrap();
        assert_eq!(object["accountEnabled"], false);
        assert_eq!(object["displayName"], "AP-JOIN-1");
        // A ticket is good once: joining again takes a new boot. The earlier join's PRT ends with it.
        refused_with(
            c.join(&drs, "KIOSK-01", 0, Some(&ticket)).await,
            400,
            "used by an earlier join",
        );
        let identity = c
            .join(&drs, "KIOSK-01", 0, Some(&boot("AP-JOIN-1").await))
            .await
            .expect("join again");
        refused_with(
            c.prt_tokens(
                &identity,
                &first_prt,
                ztd_device::PRT_CLIENT,
                GRAPH,
                Kdf::V2,
            )
            .await,
            400,
            "70000",
        );
        // Deleting the registration deletes the object: the device falls out.
        let ticket = boot("AP-JOIN-1").await;
        let (status, _) = s
            .delete(
                &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        refused_with(
            c.join(&drs, "KIOSK-01", 0, Some(&ticket)).await,
            400,
            "AutopilotDeviceNotFound",
        );
        refused_with(c.device_token(&identity, ENROLLMENT).await, 400, "700003");
        // Imported again, it is a new registration: new ZTDID, new object, new device id.
        let again = s
            .import_device(&s.a.token, "AP-JOIN-1", "Contoso", "Kiosk")
            .await;
        let new_ztdid = again["state"]["deviceRegistrationId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(new_ztdid, ztdid);
        let new_ticket = boot("AP-JOIN-1").await;
        let rejoined = c
            .join(&drs, "KIOSK-01", 0, Some(&new_ticket))
            .await
            .expect("join");
        assert_ne!(rejoined.device_id, identity.device_id);
        let object = device_object(&s, &s.a.token, &rejoined.device_id.to_string())
            .await
            .unwrap();
        assert!(object["physicalIds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == &json!(format!("[ZTDID]:{new_ztdid}"))));
    })
    .await;
}

#[tokio::test]
async fn the_prt_cookie_signs_the_user_in_on_authorize() {
    on_both_tls_servers(GraphConfig::default(), |s| async move {
        let (c, identity, upn) = joined(&s, "PC-SSO1", 0).await;
        let prt = c.request_prt(&identity, &upn, PASSWORD).await.unwrap();
        let session_key = base64::engine::general_purpose::STANDARD.decode(&prt.session_key).unwrap();
        let cookie = |nonce: String, kdf: u8| {
            let ctx = [7u8; 24];
            let mut header = Map::new();
            header.insert("ctx".into(), base64::engine::general_purpose::STANDARD.encode(ctx).into());
            let claims = json!({"refresh_token": prt.token, "is_primary": "true", "request_nonce": nonce});
            let key = if kdf == 2 {
                header.insert("kdf_ver".into(), 2.into());
                ztd_drs::derive_key_v2(&session_key, &ctx, &serde_json::to_vec(&claims).unwrap())
            } else {
                ztd_drs::derive_key_v1(&session_key, &ctx)
            };
            ztd_drs::sign_hs256(&header, &claims, &key)
        };
        let no_redirects = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(s.ca_pem.as_ref().unwrap().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let authorize = format!(
            "{}/{}/oauth2/authorize?client_id=1b730954-1685-4b74-9bfd-dac224a7b894&response_type=code&redirect_uri=https%3A%2F%2Flogin.microsoftonline.com%2Fcommon%2Foauth2%2Fnativeclient&resource=https%3A%2F%2Fgraph.microsoft.com&code_challenge_method=S256&code_challenge={CHALLENGE}",
            s.url, s.a.id
        );
        let mut refresh = String::new();
        for kdf in [1, 2] {
            let response = no_redirects
                .get(&authorize)
                .header("Cookie", format!("x-ms-RefreshTokenCredential={}", cookie(c.nonce().await.unwrap(), kdf)))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert_eq!(status, 302, "kdf {kdf}: {}", response.text().await.unwrap_or_default());
            let location = response.headers()["location"].to_str().unwrap().to_string();
            let code = location.split("code=").nth(1).expect("a code").split('&').next().unwrap().to_string();
            let (status, tokens) = s
                .form(
                    &format!("/{}/oauth2/token", s.a.id),
                    &[
                        ("grant_type", "authorization_code"),
                        ("client_id", "1b730954-1685-4b74-9bfd-dac224a7b894"),
                        ("code", &percent_decode(&code)),
                        ("redirect_uri", "https://login.microsoftonline.com/common/oauth2/nativeclient"),
                        ("code_verifier", VERIFIER),
                    ],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            let access = claims(tokens["access_token"].as_str().unwrap());
            assert_eq!(access["upn"], upn.as_str());
            // Tokens of single sign-on are the device's too.
            assert_eq!(access["deviceid"], identity.device_id.to_string().as_str());
            refresh = tokens["refresh_token"].as_str().unwrap().to_string();
        }
        // An application of another tenant cannot sign this tenant's user in through the device, even at
        // /common, where no tenant is named.
        let tenant_b = ztd_core::TenantId::parse(&s.b.id).unwrap();
        let spec = ztd_app::ClientSpec {
            redirect_uris: vec!["https://app.example/callback".into()],
            ..ztd_app::ClientSpec::new("web app of B", &[])
        };
        let foreign = s.app.create_client(tenant_b, &spec).await.unwrap();
        let response = no_redirects
            .get(format!(
                "{}/common/oauth2/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&resource=https%3A%2F%2Fgraph.microsoft.com",
                s.url, foreign.client_id
            ))
            .header("Cookie", format!("x-ms-RefreshTokenCredential={}", cookie(c.nonce().await.unwrap(), 2)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "no code for another tenant's app");
        let page = response.text().await.unwrap();
        assert!(page.contains("AADSTS700016"), "{page}");
        // Disabling the device stops what single sign-on gave.
        let object = device_object(&s, &s.a.token, &identity.device_id.to_string()).await.unwrap();
        s.patch(
            &format!("/v1.0/devices/{}", object["id"].as_str().unwrap()),
            &s.a.token,
            json!({"accountEnabled": false}),
        )
        .await;
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/token", s.a.id),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "1b730954-1685-4b74-9bfd-dac224a7b894"),
                    ("refresh_token", &refresh),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // A cookie signed with the wrong key shows the sign-in page instead.
        let mut header = Map::new();
        header.insert("ctx".into(), base64::engine::general_purpose::STANDARD.encode([1u8; 24]).into());
        let bad = ztd_drs::sign_hs256(&header, &json!({"refresh_token": prt.token, "request_nonce": c.nonce().await.unwrap()}), &[0u8; 32]);
        let response = no_redirects
            .get(&authorize)
            .header("Cookie", format!("x-ms-RefreshTokenCredential={bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.text().await.unwrap().contains("AADSTS50013"));
    })
    .await;
}

/// RFC 7636's example verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .to_string()
}
