//! The audit log: every administrative change through Graph names who made it (an app, or a user calling as
//! themselves), refused changes are recorded as failures, strangers and reads leave no entry, and one
//! tenant never sees another's log. Every scenario runs on SQLite and PostgreSQL.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use ztd_server::GraphConfig;
use ztd_testkit::{on_both_servers, Server};

const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const PASSWORD: &str = "Corr3ct-horse!";
const LOG: &str = "/beta/deviceManagement/auditEvents";

async fn create_user(s: &Server, upn: &str, role: &str) -> Value {
    let (status, body) = s
        .post(
            "/v1.0/users",
            &s.a.token,
            json!({
                "accountEnabled": true,
                "displayName": upn.split('@').next().unwrap(),
                "mailNickname": "x",
                "userPrincipalName": upn,
                "passwordProfile": { "password": PASSWORD, "forceChangePasswordNextSignIn": false },
                "ztdRole": role,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn user_token(s: &Server, upn: &str) -> String {
    let (status, body) = s
        .form(
            "/organizations/oauth2/v2.0/token",
            &[
                ("grant_type", "password"),
                ("client_id", AZURE_CLI),
                ("username", upn),
                ("password", PASSWORD),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn group(name: &str) -> Value {
    json!({
        "displayName": name,
        "mailEnabled": false,
        "mailNickname": name,
        "securityEnabled": true,
    })
}

async fn log(s: &Server, token: &str) -> Vec<Value> {
    let (status, body) = s.get(LOG, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn administrative_changes_and_refusals_are_audited_with_who_made_them() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let admin_upn = format!("grace@{}", s.a.domain);
        let reader_upn = format!("linus@{}", s.a.domain);
        create_user(&s, &admin_upn, "administrator").await;
        create_user(&s, &reader_upn, "readOnly").await;
        let admin = user_token(&s, &admin_upn).await;
        let reader = user_token(&s, &reader_upn).await;

        let (status, by_app) = s.post("/v1.0/groups", &s.a.token, group("by-app")).await;
        assert_eq!(status, StatusCode::CREATED, "{by_app}");
        let (status, by_user) = s.post("/v1.0/groups", &admin, group("by-user")).await;
        assert_eq!(status, StatusCode::CREATED, "{by_user}");
        let (status, _) = s.post("/v1.0/groups", &reader, group("by-reader")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = s
            .post("/v1.0/groups", &s.a.token, json!({"mailEnabled": false}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let before = log(&s, &s.a.token).await.len();
        // Neither a stranger's attempt, a read, nor a failed sign-in is an administrative change.
        let (status, _) = s
            .call(Method::POST, "/v1.0/groups", None, Some(group("anon")))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = s
            .call(
                Method::POST,
                "/v1.0/groups",
                Some("not-a-token"),
                Some(group("x")),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        s.get("/v1.0/groups", &admin).await;
        let (status, _) = s
            .form(
                "/organizations/oauth2/v2.0/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", AZURE_CLI),
                    ("username", &admin_upn),
                    ("password", "wrong"),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let entries = log(&s, &s.a.token).await;
        assert_eq!(entries.len(), before, "nothing new: {entries:#?}");

        // Newest first: the refused create, the reader's refusal, the user's group, the app's group, ...
        let [bad, forbidden, user_group, app_group] =
            [&entries[0], &entries[1], &entries[2], &entries[3]];
        assert_eq!(bad["activityResult"], "Failure");
        assert_eq!(bad["activityOperationType"], "Create");
        assert_eq!(bad["actor"]["applicationId"], s.a.client_id.as_str());
        assert_eq!(bad["actor"]["type"], "Application");
        assert_eq!(bad["resources"][0]["resourceId"], "/v1.0/groups");
        let status = bad["resources"][0]["modifiedProperties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["displayName"] == "status")
            .map(|p| p["newValue"].clone());
        assert_eq!(status, Some(json!("400")));

        assert_eq!(forbidden["activityResult"], "Failure");
        assert_eq!(forbidden["actor"]["userPrincipalName"], reader_upn.as_str());
        assert_eq!(forbidden["actor"]["type"], "ItPro");

        assert_eq!(user_group["activityResult"], "Success");
        assert_eq!(user_group["activity"], "Group created");
        assert_eq!(user_group["activityType"], "Create Group");
        assert_eq!(user_group["componentName"], "Directory");
        assert_eq!(user_group["actor"]["userPrincipalName"], admin_upn.as_str());
        assert_eq!(user_group["actor"]["applicationId"], AZURE_CLI);
        assert_eq!(user_group["actor"]["auditActorType"], "itPro");
        assert_eq!(user_group["resources"][0]["resourceId"], by_user["id"]);
        assert!(user_group["actor"]["userPermissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "Group.ReadWrite.All"));
        assert_eq!(user_group["actor"]["ipAddress"], "127.0.0.1");
        assert!(uuid::Uuid::parse_str(user_group["correlationId"].as_str().unwrap()).is_ok());

        assert_eq!(app_group["actor"]["applicationId"], s.a.client_id.as_str());
        assert_eq!(
            app_group["actor"]["applicationDisplayName"],
            "ztd administrator"
        );
        assert_eq!(app_group["resources"][0]["resourceId"], by_app["id"]);
        // The users created at the start are in the log too, by the app.
        assert!(entries.iter().any(|e| e["activity"] == "User created"));

        // One entry by id; v1.0 has no beta-only actor properties.
        let id = user_group["id"].as_str().unwrap();
        let (status, one) = s
            .get(
                &format!("/v1.0/deviceManagement/auditEvents/{id}"),
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["id"], id);
        assert!(one["actor"].get("auditActorType").is_none());

        // Paging: every entry exactly once, in order.
        let (_, first) = s.get(&format!("{LOG}?$top=2"), &s.a.token).await;
        let mut seen: Vec<Value> = first["value"].as_array().unwrap().clone();
        let mut next = first["@odata.nextLink"].as_str().map(str::to_string);
        while let Some(link) = next {
            let (status, page) = s.get(&link, &s.a.token).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(page["value"].as_array().unwrap().iter().cloned());
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        let ids = |list: &[Value]| list.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(&seen), ids(&entries));

        let (_, failures) = s
            .get(
                &format!("{LOG}?$filter=activityResult eq 'Failure'"),
                &s.a.token,
            )
            .await;
        assert_eq!(failures["value"].as_array().unwrap().len(), 2, "{failures}");

        let (status, categories) = s
            .get(
                "/beta/deviceManagement/auditEvents/getAuditCategories()",
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{categories}");
        assert!(categories["value"]
            .as_array()
            .unwrap()
            .contains(&json!("Enrollment")));
        let (status, types) = s
            .get(
                "/beta/deviceManagement/auditEvents/getAuditActivityTypes(category='Directory')",
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{types}");
        assert!(types["value"]
            .as_array()
            .unwrap()
            .contains(&json!("Create Group")));
        assert!(!types["value"]
            .as_array()
            .unwrap()
            .contains(&json!("Create WindowsAutopilotDeploymentProfile")));

        let (status, all_types) = s
            .get(
                "/beta/deviceManagement/auditEvents/getAuditActivityTypes()",
                &s.a.token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{all_types}");
        assert!(
            all_types["value"].as_array().unwrap().len() > types["value"].as_array().unwrap().len()
        );

        // A reader of Autopilot configuration sees enrollment entries and refusals, not directory changes.
        let config_reader = s
            .token_with(&["DeviceManagementServiceConfig.Read.All"])
            .await;
        let shown = log(&s, &config_reader).await;
        assert!(
            shown
                .iter()
                .all(|e| e["category"] != "Directory" && e["category"] != "Applications"),
            "{shown:#?}"
        );
        assert!(shown.iter().any(|e| e["activityResult"] == "Failure"));
        let (status, _) = s.get(&format!("{LOG}/{id}"), &config_reader).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "a directory entry by id is hidden too"
        );

        // The log is the tenant's own: B sees none of A's entries, and cannot read one by id.
        let theirs = log(&s, &s.b.token).await;
        assert!(theirs
            .iter()
            .all(|e| e["actor"]["applicationId"] != s.a.client_id.as_str()));
        let (status, _) = s.get(&format!("{LOG}/{id}"), &s.b.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Reading the log needs a device-management permission.
        let plain_upn = format!("alan@{}", s.a.domain);
        create_user(&s, &plain_upn, "user").await;
        let plain = user_token(&s, &plain_upn).await;
        let (status, _) = s.get(LOG, &plain).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn device_traffic_is_not_in_the_audit_log_but_its_registration_is() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let record = s.import_device(&s.a.token, "AUD-1", "Contoso", "tag").await;
        assert_eq!(
            record["state"]["deviceImportStatus"], "complete",
            "{record}"
        );
        let entries = log(&s, &s.a.token).await;
        assert!(
            entries
                .iter()
                .any(|e| e["activity"] == "Devices import requested"),
            "{entries:#?}"
        );
        // The worker's registration of the rows is ztd's own work, not an administrator's.
        assert!(entries.iter().all(|e| e["activity"] != "Devices imported"));
        assert!(entries.iter().all(|e| e["activity"] != "Device contacted"));
    })
    .await;
}

#[tokio::test]
async fn refusals_are_recorded_within_a_budget_and_correlate_with_the_request() {
    on_both_servers(GraphConfig::default(), |s| async move {
        // A caller's request-id is the entry's correlationId when its own client-request-id is no GUID.
        let response = s
            .http
            .post(format!("{}/v1.0/groups", s.url))
            .bearer_auth(&s.a.token)
            .header("client-request-id", "my-script-run-7")
            .json(&group("correlated"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let request_id = response.headers()["request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let entries = log(&s, &s.a.token).await;
        assert_eq!(entries[0]["activity"], "Group created");
        assert_eq!(entries[0]["correlationId"], request_id.as_str());

        // A token holder hammering refused changes is recorded up to the budget, not beyond.
        let reader = s
            .token_with(&["DeviceManagementServiceConfig.Read.All"])
            .await;
        let budget = ztd_server::auth::REFUSALS_RECORDED_PER_MINUTE as usize;
        for n in 0..budget + 15 {
            let (status, _) = s
                .post("/v1.0/groups", &reader, group(&format!("no-{n}")))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        let (_, failures) = s
            .get(
                &format!("{LOG}?$filter=activityResult eq 'Failure'&$top=999"),
                &s.a.token,
            )
            .await;
        let recorded = failures["value"].as_array().unwrap().len();
        assert!(
            recorded <= budget + 1 && recorded >= budget - 1,
            "{recorded} refusals recorded"
        );
    })
    .await;
}
