//! Hostile and heavy requests: each answered in Graph's shape and bounded, never a crash or a stall.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use ztd_testkit::{assert_graph_error, on_both_servers, GraphConfig};

const LISTS: &[&str] = &[
    "/v1.0/devices",
    "/v1.0/groups",
    "/beta/deviceManagement/windowsAutopilotDeviceIdentities",
    "/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/$count",
    "/v1.0/devices/$count",
];

async fn health_is_ok(s: &ztd_testkit::Server) {
    let response = s
        .http
        .get(format!("{}/health", s.url))
        .send()
        .await
        .expect("the server is still up");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn deeply_nested_filters_answer_400_and_the_server_stays_up() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let no_roles = s.token_with(&[]).await;
        for nesting in [
            format!(
                "{}serialNumber eq 'x'{}",
                "(".repeat(2_000),
                ")".repeat(2_000)
            ),
            format!(
                "{}serialNumber eq 'x'{}",
                "not(".repeat(2_000),
                ")".repeat(2_000)
            ),
            format!("{}serialNumber eq 'x'", "not ".repeat(3_000)),
        ] {
            let encoded = nesting.replace(' ', "%20");
            for list in LISTS {
                for token in [&s.a.token, &no_roles] {
                    let (status, body) = s.get(&format!("{list}?$filter={encoded}"), token).await;
                    assert!(
                        status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
                        "{list}: {status} {body}"
                    );
                    assert_graph_error(&body);
                }
            }
        }
        health_is_ok(&s).await;
    })
    .await;
}

#[tokio::test]
async fn nested_lambdas_are_refused_quickly() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let serials: Vec<String> = (0..30).map(|i| format!("LAMBDA-{i:03}")).collect();
        s.seed(&s.a.id, &serials, "Kiosk").await;
        let mut filter = "p0 eq 'x'".to_string();
        for level in (0..20).rev() {
            filter = format!("physicalIds/any(p{level}:{filter})");
        }
        let started = Instant::now();
        let (status, body) = s
            .get(
                &format!("/v1.0/devices?$filter={}", filter.replace(' ', "%20")),
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("lambdas"),
            "{body}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // Two levels are served, and answer correctly.
        let (status, body) = s
            .get(
                "/v1.0/devices?$filter=physicalIds/any(a:physicalIds/any(b:b%20eq%20a%20and%20startswith(a,'[OrderId]')))",
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["value"].as_array().map(Vec::len), Some(30));
        health_is_ok(&s).await;
    })
    .await;
}

#[tokio::test]
async fn members_pages_come_from_the_database_and_cover_the_group_once() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let serials: Vec<String> = (0..1_250).map(|i| format!("MEMBER-{i:05}")).collect();
        s.seed(&s.a.id, &serials, "Big").await;
        let (status, group) = s
            .post(
                "/v1.0/groups",
                &s.a.token,
                json!({"displayName": "Big", "mailEnabled": false, "mailNickname": "big", "securityEnabled": true,
                       "groupTypes": ["DynamicMembership"], "membershipRuleProcessingState": "On",
                       "membershipRule": "(device.devicePhysicalIds -any (_ -eq \"[OrderID]:Big\"))"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{group}");
        let gid = group["id"].as_str().unwrap().to_string();
        let mut next = Some(format!("/v1.0/groups/{gid}/members?$top=100"));
        let mut ids = Vec::new();
        while let Some(url) = next {
            let (status, page) = s.get(&url, &s.a.token).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            ids.extend(
                page["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["id"].as_str().unwrap().to_string()),
            );
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), 1_250);
        assert_eq!(unique.len(), 1_250);
        let (_, count) = s
            .get(&format!("/v1.0/groups/{gid}/members/$count?ConsistencyLevel=eventual"), &s.a.token)
            .await;
        assert_eq!(count, json!(1250));
        let (_, expanded) = s
            .get(&format!("/v1.0/groups/{gid}?$expand=members"), &s.a.token)
            .await;
        assert_eq!(expanded["members"].as_array().map(Vec::len), Some(20));
        // Another tenant sees no such group, through any of these routes.
        for path in [
            format!("/v1.0/groups/{gid}/members"),
            format!("/v1.0/groups/{gid}/members/$count?ConsistencyLevel=eventual"),
        ] {
            let (status, body) = s.get(&path, &s.b.token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        }
    })
    .await;
}

#[tokio::test]
async fn boot_requests_past_the_per_source_limit_get_429_with_retry_after() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let body = json!({"hardwareHash": ztd_testkit::hash("NOT-REGISTERED", "Contoso")});
        let mut limited = None;
        for _ in 0..300 {
            let response = s
                .http
                .post(format!("{}/device/v1/boot", s.url))
                .json(&body)
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                limited = Some(response);
                break;
            }
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
        let response = limited.expect("the per-source limit never applied");
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(assert_graph_error(&body), "TooManyRequests");
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413_in_the_error_shape() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let huge = "x".repeat(3 << 20);
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/beta/deviceManagement/windowsAutopilotDeploymentProfiles",
                Some(&s.a.token),
                Some(serde_json::Value::String(format!(
                    "{{\"displayName\":\"{huge}\"}}"
                ))),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_graph_error(&body);
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/device/v1/boot",
                None,
                Some(serde_json::Value::String(format!(
                    "{{\"hardwareHash\":\"{huge}\"}}"
                ))),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/ztd/v1/import",
                Some(&s.a.token),
                Some(serde_json::Value::String("{\"rows\": 12}".into())),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_graph_error(&body);
    })
    .await;
}

#[tokio::test]
async fn tokens_for_unknown_resources_are_refused_and_roleless_tokens_read_nothing() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let response = s
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", s.url, s.a.id))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.a.client_id.as_str()),
                ("client_secret", s.a.secret.as_str()),
                ("scope", "https://anything.example/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_resource");
        assert_eq!(body["error_codes"][0], 500011);
        let no_roles = s.token_with(&[]).await;
        let (status, body) = s.get("/ztd/v1/tenant", &no_roles).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    })
    .await;
}

#[tokio::test]
async fn a_token_is_not_valid_before_its_nbf() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let tenant = ztd_core::TenantId::parse(&s.a.id).unwrap();
        let in_an_hour = s.app.now().0 / 1000 + 3600;
        let claims = ztd_server::auth::Claims {
            aud: "https://graph.microsoft.com".into(),
            iss: ztd_server::auth::issuer_v1(tenant),
            iat: in_an_hour,
            nbf: in_an_hour,
            exp: in_an_hour + 3600,
            tid: tenant.to_string(),
            oid: s.a.client_id.clone(),
            sub: s.a.client_id.clone(),
            appid: s.a.client_id.clone(),
            appidacr: "1".into(),
            idtyp: "app".into(),
            roles: vec!["DeviceManagementServiceConfig.ReadWrite.All".into()],
            scp: None,
            upn: None,
            unique_name: None,
            name: None,
            amr: vec![],
            ver: "1.0".into(),
            ztd_cred: None,
            deviceid: None,
        };
        // Signed with the tenant's own key: only the time is wrong.
        let future = s
            .app
            .signing_keys(tenant)
            .await
            .unwrap()
            .active
            .sign(&claims)
            .unwrap();
        let (status, body) = s
            .get(
                "/beta/deviceManagement/windowsAutopilotDeviceIdentities",
                &future,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    })
    .await;
}

#[tokio::test]
async fn an_error_names_the_request_its_header_names() {
    on_both_servers(GraphConfig::default(), |s| async move {
        // A Graph error, with and without the caller's own client-request-id.
        for client_request_id in [None, Some("5a0c9e4e-6c7b-4b7e-9d0f-0123456789ab")] {
            let mut request = s
                .http
                .get(format!(
                    "{}/beta/deviceManagement/windowsAutopilotDeviceIdentities/{}",
                    s.url, "00000000-0000-0000-0000-000000000001"
                ))
                .bearer_auth(&s.a.token);
            if let Some(id) = client_request_id {
                request = request.header("client-request-id", id);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let request_id = header("request-id").expect("request-id header");
            assert_eq!(header("client-request-id").as_deref(), client_request_id);
            let body: serde_json::Value = response.json().await.unwrap();
            let inner = &body["error"]["innerError"];
            assert_eq!(inner["request-id"], json!(request_id), "{body}");
            assert_eq!(
                inner["client-request-id"],
                json!(client_request_id.unwrap_or(&request_id)),
                "{body}"
            );
            assert!(inner["date"].as_str().is_some_and(|d| d.ends_with('Z')));
        }
        // An OAuth2 error: its trace id is the request id, its correlation id the caller's.
        let response = s
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", s.url, s.a.id))
            .header("client-request-id", "c0ffee00-0000-4000-8000-000000000000")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.a.client_id.as_str()),
                ("client_secret", "wrong"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let request_id = response.headers()["request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["trace_id"], json!(request_id), "{body}");
        assert_eq!(
            body["correlation_id"],
            json!("c0ffee00-0000-4000-8000-000000000000")
        );
    })
    .await;
}

/// A stored value no version of ztd writes (a hand edit, a bad restore) is an internal error in Graph's
/// shape, not "the database is unavailable; retry later": retrying cannot help.
#[tokio::test]
async fn a_corrupt_stored_value_is_a_500_not_a_503() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let device = s.import_device(t, "CORRUPT-1", "Contoso", "").await;
        let ztdid = device["state"]["deviceRegistrationId"]
            .as_str()
            .expect("registered")
            .to_string();
        ztd_store::scratch::corrupt_enrollment_state(&s.store, "CORRUPT-1")
            .await
            .unwrap();
        let (status, body) = s
            .get(
                &format!("/beta/deviceManagement/windowsAutopilotDeviceIdentities/{ztdid}"),
                t,
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(assert_graph_error(&body), "InternalServerError");
    })
    .await;
}
