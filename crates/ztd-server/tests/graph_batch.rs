//! JSON batching (`$batch`) and Graph's throttling: each request of a batch is served, authorised, audited
//! and throttled as if sent alone; errors belong to the request; tenants stay apart.

use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use ztd_server::graph::ThrottleConfig;
use ztd_testkit::*;

fn response<'a>(batch: &'a Value, id: &str) -> &'a Value {
    batch["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {batch}"))
}

#[tokio::test]
async fn a_batch_answers_each_request_as_if_sent_alone() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let (status, batch) = s
            .post(
                "/v1.0/$batch",
                t,
                json!({"requests": [
                    {"id": "1", "method": "POST", "url": "/groups",
                     "headers": {"Content-Type": "application/json"},
                     "body": {"displayName": "Batched", "mailEnabled": false, "mailNickname": "batched", "securityEnabled": true}},
                    {"id": "2", "method": "GET", "url": "groups?$filter=displayName eq 'Batched'&$select=id,displayName", "dependsOn": ["1"]},
                    {"id": "3", "method": "GET", "url": "/groups/00000000-0000-0000-0000-000000000000"},
                    {"id": "4", "method": "GET", "url": "/groups/00000000-0000-0000-0000-000000000000/members", "dependsOn": ["3"]},
                    {"id": "5", "method": "GET", "url": "/groups/$count", "headers": {"ConsistencyLevel": "eventual"}},
                    {"id": "6", "method": "GET", "url": "/noSuchCollection"},
                    {"id": "7", "method": "TRACE", "url": "/groups"},
                    {"id": "8", "method": "GET", "url": "/$batch"}
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        assert_eq!(batch["responses"].as_array().map(Vec::len), Some(8));

        let created = response(&batch, "1");
        assert_eq!(created["status"], 201, "{created}");
        assert!(created["headers"]["Content-Type"]
            .as_str()
            .is_some_and(|c| c.starts_with("application/json")));
        let group_id = created["body"]["id"].as_str().expect("group id").to_string();

        let listed = response(&batch, "2");
        assert_eq!(listed["status"], 200, "{listed}");
        assert_eq!(listed["body"]["value"][0]["id"], group_id.as_str());
        assert!(listed["body"]["value"][0].get("mailNickname").is_none());

        let missing = response(&batch, "3");
        assert_eq!(missing["status"], 404);
        assert_graph_error(&missing["body"]);
        let skipped = response(&batch, "4");
        assert_eq!(skipped["status"], 424, "{skipped}");
        assert_eq!(skipped["body"]["error"]["code"], "FailedDependency");

        // A plain-text answer travels as base64, as Graph carries non-JSON bodies.
        let count = response(&batch, "5");
        assert_eq!(count["status"], 200, "{count}");
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(count["body"].as_str().expect("base64 body"))
            .expect("base64");
        assert_eq!(String::from_utf8(decoded).unwrap(), "1");

        assert_eq!(response(&batch, "6")["status"], 404);
        assert_eq!(response(&batch, "7")["status"], 400);
        let nested = response(&batch, "8");
        assert_eq!(nested["status"], 400);
        assert_graph_error(&nested["body"]);

        // Each request that ran has its own identity (4, 7 and 8 were refused before running).
        let ids: std::collections::HashSet<&str> = batch["responses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["headers"]["Request-Id"].as_str())
            .collect();
        assert_eq!(ids.len(), 5, "{batch}");

        // The change is in the audit log as if sent alone.
        let (_, log) = s.get("/beta/deviceManagement/auditEvents", t).await;
        assert!(
            log["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["activity"] == "Group created"),
            "{log}"
        );
        // And the object is there for a request sent alone.
        let (status, _) = s.get(&format!("/v1.0/groups/{group_id}"), t).await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn each_request_of_a_batch_is_authorised_on_its_own() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let reader = s.token_with(&["Group.Read.All"]).await;
        let (status, batch) = s
            .post(
                "/beta/$batch",
                &reader,
                json!({"requests": [
                    {"id": "read", "method": "GET", "url": "/groups"},
                    {"id": "write", "method": "POST", "url": "/groups",
                     "body": {"displayName": "Nope", "mailEnabled": false, "mailNickname": "nope", "securityEnabled": true}},
                    {"id": "intune", "method": "GET", "url": "/deviceManagement/windowsAutopilotDeviceIdentities"}
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        assert_eq!(response(&batch, "read")["status"], 200);
        assert_eq!(response(&batch, "write")["status"], 403);
        assert_eq!(response(&batch, "intune")["status"], 403);

        // The refused write is recorded as a refusal of its own path.
        let (_, log) = s.get("/beta/deviceManagement/auditEvents", &s.a.token).await;
        let refused = log["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["activityResult"] == "Failure")
            .cloned()
            .expect("refusal recorded");
        assert_eq!(refused["resources"][0]["resourceId"], "/beta/groups");

        // Tenant B's batch does not reach tenant A's objects.
        let (_, group) = s
            .post(
                "/v1.0/groups",
                &s.a.token,
                json!({"displayName": "A only", "mailEnabled": false, "mailNickname": "a-only", "securityEnabled": true}),
            )
            .await;
        let id = group["id"].as_str().expect("id");
        let (_, batch) = s
            .post(
                "/v1.0/$batch",
                &s.b.token,
                json!({"requests": [
                    {"id": "get", "method": "GET", "url": format!("/groups/{id}")},
                    {"id": "delete", "method": "DELETE", "url": format!("/groups/{id}")},
                    {"id": "list", "method": "GET", "url": "/groups?$select=id"}
                ]}),
            )
            .await;
        assert_eq!(response(&batch, "get")["status"], 404);
        assert_eq!(response(&batch, "delete")["status"], 404);
        assert!(!response(&batch, "list")["body"]["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == id));
        assert_eq!(s.get(&format!("/v1.0/groups/{id}"), &s.a.token).await.0, StatusCode::OK);

        // A request's own Authorization, Host or X-Forwarded-Proto never replaces the batch's.
        let (_, batch) = s
            .post(
                "/v1.0/$batch",
                &s.b.token,
                json!({"requests": [
                    {"id": "1", "method": "GET", "url": format!("/groups/{id}"),
                     "headers": {"Authorization": format!("Bearer {}", s.a.token), "Host": "evil.example", "X-Forwarded-Proto": "gopher"}},
                    {"id": "2", "method": "GET", "url": "/groups?$top=1", "headers": {"Host": "evil.example", "X-Forwarded-Proto": "gopher"}}
                ]}),
            )
            .await;
        assert_eq!(response(&batch, "1")["status"], 404, "{batch}");
        let context = response(&batch, "2")["body"]["@odata.context"].as_str().unwrap_or_default().to_string();
        assert!(context.starts_with("http://127.0.0.1:"), "{context}");
        // A nested batch, however spelled, is refused for that request.
        let (_, batch) = s
            .post("/v1.0/$batch", &s.a.token, json!({"requests": [{"id": "1", "method": "POST", "url": "/%24batch", "body": {"requests": []}}]}))
            .await;
        assert_eq!(response(&batch, "1")["status"], 400, "{batch}");
        // GET on $batch is a Graph-shaped 405.
        let (status, body) = s.get("/v1.0/$batch", &s.a.token).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_graph_error(&body);
    })
    .await;
}

#[tokio::test]
async fn a_batch_that_cannot_be_read_is_refused_whole() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let t = &s.a.token;
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/groups"}))
            .collect();
        let cases = [
            json!({"requests": many}),
            json!({"requests": []}),
            json!({"requests": [{"id": "1", "method": "GET"}]}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/groups"}, {"id": "1", "method": "GET", "url": "/users"}]}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/groups", "dependsOn": ["2"]}, {"id": "2", "method": "GET", "url": "/users"}]}),
            json!("{not json"),
        ];
        for case in cases {
            let (status, body) = s.post("/v1.0/$batch", t, case.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
            assert_graph_error(&body);
        }
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/v1.0/$batch",
                None,
                Some(json!({"requests": [{"id": "1", "method": "GET", "url": "/groups"}]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        // An absolute URL is refused for that request alone.
        let (status, batch) = s
            .post(
                "/v1.0/$batch",
                t,
                json!({"requests": [
                    {"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/groups"},
                    {"id": "2", "method": "GET", "url": "/groups"}
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(response(&batch, "1")["status"], 400);
        assert_eq!(response(&batch, "2")["status"], 200);
    })
    .await;
}

fn throttled(per_tenant: u32, per_app: u32) -> GraphConfig {
    GraphConfig {
        throttle: ThrottleConfig {
            per_tenant: NonZeroU32::new(per_tenant),
            per_app: NonZeroU32::new(per_app),
            window: Duration::from_secs(600),
        },
        ..GraphConfig::default()
    }
}

#[tokio::test]
async fn graph_throttles_an_app_and_a_tenant_with_retry_after() {
    on_both_servers(throttled(6, 4), |s| async move {
        // The limited client is made before spending anything of app A's budget.
        let second_app = s.token_with(&["Group.Read.All"]).await;
        let t = &s.a.token;
        for _ in 0..4 {
            assert_eq!(s.get("/v1.0/groups", t).await.0, StatusCode::OK);
        }
        let refused = s
            .http
            .get(format!("{}/v1.0/groups", s.url))
            .bearer_auth(t)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=600).contains(&wait), "{wait}");
        let body: Value = refused.json().await.expect("json");
        assert_eq!(body["error"]["code"], "TooManyRequests");

        // Another app of the same tenant has its own budget, within the tenant's.
        let (_, batch) = s
            .post(
                "/v1.0/$batch",
                &second_app,
                json!({"requests": (0..5).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/groups"})).collect::<Vec<_>>()}),
            )
            .await;
        let statuses: Vec<u64> = batch["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .map(|r| r["status"].as_u64().unwrap_or(0))
            .collect();
        // App A spent four of the tenant's six (its refused fifth spent none); app B's batch spends one and
        // its first request the last: then the tenant is out although app B's own budget is not.
        assert_eq!(statuses, vec![200, 429, 429, 429, 429], "{batch}");
        let last = response(&batch, "4");
        assert!(last["headers"]["Retry-After"].as_str().is_some(), "{last}");
        assert_eq!(last["body"]["error"]["code"], "TooManyRequests");

        // The batch itself spends from the budget: an exhausted caller's batch is refused whole, unread.
        let (status, _) = s
            .post("/v1.0/$batch", &second_app, json!({"requests": [{"id": "1", "method": "GET", "url": "/groups"}]}))
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        // Another tenant is not touched by this one's throttling.
        assert_eq!(s.get("/v1.0/groups", &s.b.token).await.0, StatusCode::OK);
        // Requests without a valid token are refused as before, not throttled.
        assert_eq!(
            s.get("/v1.0/groups", "not-a-token").await.0,
            StatusCode::UNAUTHORIZED
        );
    })
    .await;
}
