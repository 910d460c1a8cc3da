//! The directory's users and sign-in: Graph `/users`, the password grant on the v1 and v2 token endpoints,
//! the tokens' audiences and claims, smart lockout, the tenants' published keys and their rotation. Every
//! scenario runs on SQLite and PostgreSQL.

use axum::http::StatusCode;
use base64::Engine;
use serde_json::{json, Value};
use ztd_server::GraphConfig;
use ztd_testkit::{assert_graph_error, on_both_servers, Server};

const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const PASSWORD: &str = "Corr3ct-horse!";

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("header")
}

async fn create_user(s: &Server, token: &str, upn: &str, role: &str) -> Value {
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
                "ztdRole": role,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn password_v2(
    s: &Server,
    tenant: &str,
    user: &str,
    password: &str,
    scope: &str,
) -> (StatusCode, Value) {
    s.form(
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "password"),
            ("client_id", AZURE_CLI),
            ("username", user),
            ("password", password),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn users_are_created_read_changed_and_deleted_through_graph_within_their_tenant() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("ada@{}", s.a.domain);
        let created = create_user(&s, &s.a.token, &upn, "user").await;
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["userPrincipalName"], upn.as_str());
        assert_eq!(created["accountEnabled"], true);

        let (status, by_upn) = s.get(&format!("/v1.0/users/{upn}"), &s.a.token).await;
        assert_eq!(status, StatusCode::OK, "{by_upn}");
        assert_eq!(by_upn["id"], id.as_str());
        let (_, list) = s.get("/v1.0/users?$filter=startswith(userPrincipalName,'ada')", &s.a.token).await;
        assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");

        // The UPN must be in the tenant's domain, and unique.
        let (status, body) = s
            .post("/v1.0/users", &s.a.token, json!({"displayName": "x", "userPrincipalName": "x@elsewhere.example", "accountEnabled": true}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains("verified domain"), "{body}");
        let (status, _) = s
            .post("/v1.0/users", &s.a.token, json!({"displayName": "again", "userPrincipalName": upn, "accountEnabled": true}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        // Another tenant sees nothing of it, and cannot change or delete it.
        for path in [format!("/v1.0/users/{id}"), format!("/v1.0/users/{upn}")] {
            let (status, body) = s.get(&path, &s.b.token).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert_eq!(assert_graph_error(&body), "Request_ResourceNotFound");
            assert_eq!(s.patch(&path, &s.b.token, json!({"displayName": "B"})).await.0, StatusCode::NOT_FOUND);
            assert_eq!(s.delete(&path, &s.b.token).await.0, StatusCode::NOT_FOUND);
        }
        let (_, b_list) = s.get("/v1.0/users", &s.b.token).await;
        assert_eq!(b_list["value"].as_array().unwrap().len(), 0);

        let (status, _) = s.patch(&format!("/v1.0/users/{id}"), &s.a.token, json!({"displayName": "Ada L."})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(s.get(&format!("/v1.0/users/{id}"), &s.a.token).await.1["displayName"], "Ada L.");
        assert_eq!(s.delete(&format!("/v1.0/users/{id}"), &s.a.token).await.0, StatusCode::NO_CONTENT);
        assert_eq!(s.get(&format!("/v1.0/users/{id}"), &s.a.token).await.0, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_user_signs_in_with_a_password_and_calls_graph_within_their_role() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let admin = format!("admin@{}", s.a.domain);
        let plain = format!("plain@{}", s.a.domain);
        let reader = format!("reader@{}", s.a.domain);
        create_user(&s, &s.a.token, &admin, "administrator").await;
        create_user(&s, &s.a.token, &plain, "user").await;
        create_user(&s, &s.a.token, &reader, "readOnly").await;

        // v2 at /organizations: the UPN names the tenant.
        let (status, body) = password_v2(&s, "organizations", &admin, PASSWORD, "https://graph.microsoft.com/.default openid profile offline_access").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].is_i64());
        let token = body["access_token"].as_str().unwrap().to_string();
        let c = claims(&token);
        assert_eq!(c["aud"], "https://graph.microsoft.com");
        assert_eq!(c["iss"], format!("https://sts.windows.net/{}/", s.a.id));
        assert_eq!(c["tid"], s.a.id.as_str());
        assert_eq!(c["upn"], admin.as_str());
        assert_eq!(c["appid"], AZURE_CLI);
        assert_eq!(c["amr"], json!(["pwd"]));
        assert_eq!(c["ver"], "1.0");
        let id_token = claims(body["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], AZURE_CLI);
        assert_eq!(id_token["preferred_username"], admin.as_str());
        assert_eq!(id_token["iss"], format!("https://login.microsoftonline.com/{}/v2.0", s.a.id));
        let info: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body["client_info"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(info["utid"], s.a.id.as_str());

        // The administrator works as themselves; a plain user may not; a reader reads only.
        let devices = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";
        assert_eq!(s.get(devices, &token).await.0, StatusCode::OK);
        let (_, plain_body) = password_v2(&s, &s.a.id, &plain, PASSWORD, "https://graph.microsoft.com/.default").await;
        let plain_token = plain_body["access_token"].as_str().unwrap();
        assert_eq!(s.get(devices, plain_token).await.0, StatusCode::FORBIDDEN);
        let (_, reader_body) = password_v2(&s, &s.a.domain, &reader, PASSWORD, "https://graph.microsoft.com/.default").await;
        let reader_token = reader_body["access_token"].as_str().unwrap();
        assert_eq!(s.get(devices, reader_token).await.0, StatusCode::OK);
        let (status, _) = s.post("/v1.0/groups", reader_token, json!({"displayName": "g", "securityEnabled": true, "mailEnabled": false, "mailNickname": "g"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // v1 with resource=: a device registration token, refused by the admin API.
        let (status, body) = s
            .form(
                "/common/oauth2/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", AZURE_CLI),
                    ("resource", "urn:ms-drs:enterpriseregistration.windows.net"),
                    ("username", &admin),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["expires_on"].is_string() && body["expires_in"].is_string(), "{body}");
        assert_eq!(body["resource"], "urn:ms-drs:enterpriseregistration.windows.net");
        let drs = body["access_token"].as_str().unwrap();
        assert_eq!(claims(drs)["aud"], "urn:ms-drs:enterpriseregistration.windows.net");
        assert_eq!(s.get(devices, drs).await.0, StatusCode::UNAUTHORIZED);

        // A user of tenant A cannot sign in through tenant B.
        let (status, body) = password_v2(&s, &s.b.id, &admin, PASSWORD, "https://graph.microsoft.com/.default").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_codes"][0], 50034, "{body}");
    })
    .await;
}

#[tokio::test]
async fn refused_sign_ins_answer_with_entra_codes() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("bob@{}", s.a.domain);
        let created = create_user(&s, &s.a.token, &upn, "user").await;
        let id = created["id"].as_str().unwrap().to_string();
        let graph = "https://graph.microsoft.com/.default";
        let code = |body: &Value| body["error_codes"][0].as_i64().unwrap_or_default();

        let (status, body) = password_v2(&s, "organizations", &upn, "Wr0ng-password", graph).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, 50126), "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS50126:"));
        let (_, body) = password_v2(&s, "organizations", &format!("nobody@{}", s.a.domain), PASSWORD, graph).await;
        assert_eq!(code(&body), 50034, "{body}");
        let (_, body) = password_v2(&s, "no-such-tenant.example", &upn, PASSWORD, graph).await;
        assert_eq!(code(&body), 90002, "{body}");
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, "https://unknown.example/.default").await;
        assert_eq!(code(&body), 500011, "{body}");

        s.patch(&format!("/v1.0/users/{id}"), &s.a.token, json!({"passwordProfile": {"forceChangePasswordNextSignIn": true}})).await;
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, graph).await;
        assert_eq!(code(&body), 50055, "{body}");
        s.patch(&format!("/v1.0/users/{id}"), &s.a.token, json!({"accountEnabled": false, "passwordProfile": {"forceChangePasswordNextSignIn": false}})).await;
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, graph).await;
        assert_eq!(code(&body), 50057, "{body}");
        s.patch(&format!("/v1.0/users/{id}"), &s.a.token, json!({"accountEnabled": true})).await;
        let (status, body) = password_v2(&s, "organizations", &upn, PASSWORD, graph).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    })
    .await;
}

#[tokio::test]
async fn ten_wrong_passwords_lock_the_account_and_a_repeat_counts_once() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("carol@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn, "user").await;
        let graph = "https://graph.microsoft.com/.default";
        let code = |body: &Value| body["error_codes"][0].as_i64().unwrap_or_default();
        // The same wrong password twenty times is one failure: still not locked.
        for _ in 0..20 {
            let (_, body) = password_v2(&s, "organizations", &upn, "Same-wr0ng!", graph).await;
            assert_eq!(code(&body), 50126);
        }
        assert_eq!(password_v2(&s, "organizations", &upn, PASSWORD, graph).await.0, StatusCode::OK);
        // Ten different ones lock it: the right password is refused too, with 50053.
        for n in 0..10 {
            let (_, body) = password_v2(&s, "organizations", &upn, &format!("Wr0ng-{n}!"), graph).await;
            assert_eq!(code(&body), 50126, "attempt {n}: {body}");
        }
        let (status, body) = password_v2(&s, "organizations", &upn, PASSWORD, graph).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, 50053), "{body}");
        // An administrator's password reset starts the count over.
        let new_password = "N3w-password!";
        let (status, _) = s
            .patch(&format!("/v1.0/users/{upn}"), &s.a.token, json!({"passwordProfile": {"password": new_password, "forceChangePasswordNextSignIn": false}}))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(password_v2(&s, "organizations", &upn, new_password, graph).await.0, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn each_tenant_publishes_its_keys_and_a_rotation_keeps_old_tokens_valid() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let devices = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";
        let old = s.a.token.clone();
        let old_kid = header(&old)["kid"].as_str().unwrap().to_string();
        assert_eq!(header(&old)["alg"], "RS256");
        let (status, jwks) = s.get(&format!("/{}/discovery/keys", s.a.id), "").await;
        assert_eq!(status, StatusCode::OK);
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec![old_kid.as_str()]);
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        // Tenant B's keys are its own.
        let (_, b_jwks) = s
            .get(&format!("/{}/discovery/v2.0/keys", s.b.domain), "")
            .await;
        assert!(!b_jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == old_kid.as_str()));

        let tenant = ztd_core::TenantId::parse(&s.a.id).unwrap();
        let new_kid = s.app.rotate_signing_key(tenant).await.unwrap();
        assert_ne!(new_kid, old_kid);
        let fresh = s.token(&s.a.id, &s.a.client_id, &s.a.secret).await;
        assert_eq!(header(&fresh)["kid"], new_kid.as_str());
        assert_eq!(s.get(devices, &fresh).await.0, StatusCode::OK);
        assert_eq!(
            s.get(devices, &old).await.0,
            StatusCode::OK,
            "a token of the retired key still works"
        );
        let (_, jwks) = s.get(&format!("/{}/discovery/keys", s.a.id), "").await;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

        // OIDC documents name the tenant by id and Entra's issuers.
        let (_, v2) = s
            .get(
                &format!("/{}/v2.0/.well-known/openid-configuration", s.a.domain),
                "",
            )
            .await;
        assert_eq!(
            v2["issuer"],
            format!("https://login.microsoftonline.com/{}/v2.0", s.a.id)
        );
        assert!(v2["token_endpoint"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{}/oauth2/v2.0/token", s.a.id)));
        let (_, v1) = s
            .get(&format!("/{}/.well-known/openid-configuration", s.a.id), "")
            .await;
        assert_eq!(v1["issuer"], format!("https://sts.windows.net/{}/", s.a.id));
        assert!(v1["token_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/oauth2/token"));
    })
    .await;
}

async fn refresh(s: &Server, token: &str, client: &str, scope: &str) -> (StatusCode, Value) {
    s.form(
        "/organizations/oauth2/v2.0/token",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", token),
            ("scope", scope),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_family() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("dave@{}", s.a.domain);
        let created = create_user(&s, &s.a.token, &upn, "administrator").await;
        let graph = "https://graph.microsoft.com/.default";
        let code = |body: &Value| body["error_codes"][0].as_i64().unwrap_or_default();

        let (_, without) = password_v2(&s, "organizations", &upn, PASSWORD, graph).await;
        assert!(without.get("refresh_token").is_none(), "no offline_access, no refresh token");
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, &format!("{graph} offline_access")).await;
        let first = body["refresh_token"].as_str().expect("refresh token").to_string();

        // Exchanged for a token of another resource and a successor.
        let (status, body) = refresh(&s, &first, AZURE_CLI, "urn:ms-drs:enterpriseregistration.windows.net/.default").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"], "urn:ms-drs:enterpriseregistration.windows.net");
        let second = body["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        // Another client cannot redeem it.
        let (_, body) = refresh(&s, &second, "1950a258-227b-4e31-a9cf-717495945fc2", graph).await;
        assert_eq!(code(&body), 70000, "{body}");
        // The first one again: a replay; the whole family is revoked, the second one too.
        let (_, body) = refresh(&s, &first, AZURE_CLI, graph).await;
        assert_eq!(code(&body), 50173, "{body}");
        let (_, body) = refresh(&s, &second, AZURE_CLI, graph).await;
        assert_eq!(code(&body), 70000, "{body}");
        let (_, body) = refresh(&s, "ztd1.not-a-token", AZURE_CLI, graph).await;
        assert_eq!(code(&body), 70000, "{body}");

        // A password reset ends every session of the user.
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, &format!("{graph} offline_access")).await;
        let live = body["refresh_token"].as_str().unwrap().to_string();
        let id = created["id"].as_str().unwrap();
        s.patch(&format!("/v1.0/users/{id}"), &s.a.token, json!({"passwordProfile": {"password": "An0ther-password!", "forceChangePasswordNextSignIn": false}})).await;
        let (_, body) = refresh(&s, &live, AZURE_CLI, graph).await;
        assert_eq!(code(&body), 70000, "{body}");
    })
    .await;
}

#[tokio::test]
async fn a_registered_app_signs_in_only_its_own_tenants_users() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("erin@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn, "user").await;
        let graph = "https://graph.microsoft.com/.default";
        let sign_in = |client: String, secret: Option<String>| {
            let s = &s;
            let upn = upn.clone();
            async move {
                let mut fields = vec![
                    ("grant_type", "password".to_string()),
                    ("client_id", client),
                    ("username", upn),
                    ("password", PASSWORD.to_string()),
                    ("scope", format!("{graph} offline_access")),
                ];
                if let Some(secret) = secret {
                    fields.push(("client_secret", secret));
                }
                let fields: Vec<(&str, &str)> =
                    fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                s.form("/organizations/oauth2/v2.0/token", &fields).await
            }
        };
        // A registered app is a confidential client: it proves itself before a password is checked.
        let (status, body) = sign_in(s.a.client_id.clone(), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error_codes"][0], 7000218, "{body}");
        let (_, body) = sign_in(s.a.client_id.clone(), Some("wrong".into())).await;
        assert_eq!(body["error_codes"][0], 7000215, "{body}");
        let (status, body) = sign_in(s.a.client_id.clone(), Some(s.a.secret.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = claims(body["access_token"].as_str().unwrap());
        assert_eq!(token["appid"], s.a.client_id.as_str());
        assert_eq!(token["appidacr"], "1", "a secret-authenticated client");
        // Its refresh token, too, is redeemed only with the secret.
        let refresh_token = body["refresh_token"].as_str().expect("a refresh token");
        let (_, refused) = refresh(&s, refresh_token, &s.a.client_id, graph).await;
        assert_eq!(refused["error_codes"][0], 7000218, "{refused}");
        // Refused untouched: with the secret, the same token is redeemed.
        let (status, renewed) = s
            .form(
                "/organizations/oauth2/v2.0/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &s.a.client_id),
                    ("client_secret", &s.a.secret),
                    ("refresh_token", refresh_token),
                    ("scope", graph),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        assert_eq!(
            claims(renewed["access_token"].as_str().unwrap())["appidacr"],
            "1"
        );
        let (status, body) = sign_in(s.b.client_id.clone(), Some(s.b.secret.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_codes"][0], 700016, "{body}");
        let (_, body) = sign_in("11111111-2222-3333-4444-555555555555".into(), None).await;
        assert_eq!(body["error_codes"][0], 700016, "{body}");
    })
    .await;
}

#[tokio::test]
async fn a_deleted_app_and_a_disabled_user_lose_their_tokens_within_a_minute() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let devices = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";
        let tenant = ztd_core::TenantId::parse(&s.a.id).unwrap();
        let client = s
            .app
            .create_client(
                tenant,
                &ztd_app::ClientSpec::new(
                    "short-lived",
                    &["DeviceManagementServiceConfig.Read.All"],
                ),
            )
            .await
            .unwrap();
        let token = s
            .token(&s.a.id, &client.client_id, &client.client_secret)
            .await;

        // A node that verified the token remembers it for at most a minute after the app is deleted.
        let tokens = ztd_server::Tokens::default();
        let audiences = ["https://graph.microsoft.com"];
        let now = s.app.now().0 / 1000;
        assert!(tokens.verify(&s.app, &token, &audiences, now).await.is_ok());
        s.app
            .delete_client(tenant, &client.client_id)
            .await
            .unwrap();
        assert!(
            tokens
                .verify(&s.app, &token, &audiences, now + 30)
                .await
                .is_ok(),
            "remembered"
        );
        assert!(
            tokens
                .verify(&s.app, &token, &audiences, now + 61)
                .await
                .is_err(),
            "a minute later"
        );
        // A server that had not seen it refuses it at once, and the secret no longer signs in.
        assert_eq!(s.get(devices, &token).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = s
            .token_request(&s.a.id, &client.client_id, &client.client_secret)
            .await;
        // An unknown application, as Entra answers it (AADSTS700016).
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error_codes"][0], 700016, "{body}");

        // A user's tokens end when the account is disabled.
        let upn = format!("frank@{}", s.a.domain);
        let created = create_user(&s, &s.a.token, &upn, "readOnly").await;
        let (_, body) = password_v2(
            &s,
            "organizations",
            &upn,
            PASSWORD,
            "https://graph.microsoft.com/.default",
        )
        .await;
        let user_token = body["access_token"].as_str().unwrap().to_string();
        let id = created["id"].as_str().unwrap();
        s.patch(
            &format!("/v1.0/users/{id}"),
            &s.a.token,
            json!({"accountEnabled": false}),
        )
        .await;
        let fresh = ztd_server::Tokens::default();
        assert!(fresh
            .verify(&s.app, &user_token, &audiences, now)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn oversized_and_malformed_token_input_is_refused_in_the_protocols_shape() {
    on_both_servers(GraphConfig::default(), |s| async move {
        // A bearer token longer than any ztd issues: Graph's 401, before any parsing.
        let huge = format!(
            "{}.{}.x",
            "e".repeat(10),
            "a".repeat(ztd_server::auth::MAX_TOKEN_BYTES)
        );
        let (status, body) = s
            .get(
                "/beta/deviceManagement/windowsAutopilotDeviceIdentities",
                &huge,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(assert_graph_error(&body), "InvalidAuthenticationToken");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("longer than any token"),
            "{body}"
        );

        // A token request over the size limit: 413 in Entra's shape.
        let padding = "x".repeat(ztd_server::auth::MAX_TOKEN_REQUEST_BYTES);
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/v2.0/token", s.a.id),
                &[("grant_type", "password"), ("username", &padding)],
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["error_codes"][0], 90014);

        // A body that is not a form.
        let response = s
            .http
            .post(format!("{}/{}/oauth2/token", s.url, s.a.id))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_codes"][0], 90014, "{body}");
    })
    .await;
}

#[tokio::test]
async fn an_autopilot_operator_manages_groups_but_not_users() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("op@{}", s.a.domain);
        create_user(&s, &s.a.token, &upn, "autopilotOperator").await;
        let (_, body) = password_v2(&s, "organizations", &upn, PASSWORD, "https://graph.microsoft.com/.default").await;
        let token = body["access_token"].as_str().unwrap().to_string();
        let (status, body) = s
            .post("/v1.0/groups", &token, json!({"displayName": "ops", "securityEnabled": true, "mailEnabled": false, "mailNickname": "ops"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(s.get("/v1.0/users", &token).await.0, StatusCode::OK);
        let (status, _) = s
            .post("/v1.0/users", &token, json!({"displayName": "x", "userPrincipalName": format!("x@{}", s.a.domain), "accountEnabled": true}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn users_page_in_the_store_with_next_links_and_count() {
    on_both_servers(GraphConfig::default(), |s| async move {
        for name in ["u1", "u2", "u3"] {
            create_user(&s, &s.a.token, &format!("{name}@{}", s.a.domain), "user").await;
        }
        let (status, first) = s.get("/v1.0/users?$top=2", &s.a.token).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["value"].as_array().unwrap().len(), 2);
        let next = first["@odata.nextLink"]
            .as_str()
            .expect("nextLink")
            .to_string();
        let (_, second) = s.get(&next, &s.a.token).await;
        assert_eq!(second["value"].as_array().unwrap().len(), 1, "{second}");
        assert!(second.get("@odata.nextLink").is_none());
        let mut seen: Vec<Value> = first["value"].as_array().unwrap().clone();
        seen.extend(second["value"].as_array().unwrap().iter().cloned());
        seen.dedup_by_key(|u| u["id"].clone());
        assert_eq!(seen.len(), 3);
        let (status, count) = s
            .call(
                axum::http::Method::GET,
                "/v1.0/users/$count?ConsistencyLevel=eventual",
                Some(&s.a.token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(count, json!(3), "{count}");
        // Tenant B counts none of them.
        let (_, count) = s
            .call(
                axum::http::Method::GET,
                "/v1.0/users/$count?ConsistencyLevel=eventual",
                Some(&s.b.token),
                None,
            )
            .await;
        assert_eq!(count, json!(0), "{count}");
    })
    .await;
}

#[tokio::test]
async fn a_tenant_verifies_more_domains_and_only_it_signs_users_in_with_them() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let a = ztd_core::TenantId::parse(&s.a.id).unwrap();
        let b = ztd_core::TenantId::parse(&s.b.id).unwrap();
        let lab = "Lab.Contoso.example";
        let added = s.app.add_domain(a, lab).await.unwrap();
        assert_eq!(added.name, "lab.contoso.example");
        // One domain, one tenant; and a name that is not a domain.
        assert!(s.app.add_domain(b, "lab.contoso.example").await.is_err());
        assert!(s.app.add_domain(b, "not_a_domain").await.is_err());

        // Graph shows both domains to A, none of A's to B.
        let (status, org) = s.get("/v1.0/organization", &s.a.token).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = org["value"][0]["verifiedDomains"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec![s.a.domain.as_str(), "lab.contoso.example"]);
        let (status, domains) = s.get("/v1.0/domains", &s.a.token).await;
        assert_eq!(status, StatusCode::OK, "{domains}");
        assert_eq!(domains["value"].as_array().unwrap().len(), 2);
        assert_eq!(s.get("/v1.0/domains/lab.contoso.example", &s.a.token).await.0, StatusCode::OK);
        assert_eq!(s.get("/v1.0/domains/lab.contoso.example", &s.b.token).await.0, StatusCode::NOT_FOUND);
        let (_, domains_b) = s.get("/v1.0/domains", &s.b.token).await;
        assert!(!domains_b.to_string().contains("lab.contoso.example"));

        // Users' names in the new domain; not in a domain nobody verified.
        let upn = "lee@lab.contoso.example";
        create_user(&s, &s.a.token, upn, "user").await;
        let (status, body) = s
            .post("/v1.0/users", &s.a.token, json!({"accountEnabled": true, "displayName": "X", "mailNickname": "x",
                "userPrincipalName": "x@unverified.example", "passwordProfile": {"password": PASSWORD}}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // B cannot create a user in A's domain.
        let (status, _) = s
            .post("/v1.0/users", &s.b.token, json!({"accountEnabled": true, "displayName": "Y", "mailNickname": "y",
                "userPrincipalName": "y@lab.contoso.example", "passwordProfile": {"password": PASSWORD}}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // The domain names the tenant in sign-in paths and the user realm.
        let graph = "https://graph.microsoft.com/.default";
        let (status, body) = password_v2(&s, "lab.contoso.example", upn, PASSWORD, graph).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let realm = s.http.get(format!("{}/common/userrealm/{upn}?api-version=1.0", s.url)).send().await.unwrap();
        let realm: Value = realm.json().await.unwrap();
        assert_eq!(realm["account_type"], "Managed");

        // A domain in use, or the default one, stays; once unused it goes, and the realm no longer knows it.
        assert!(s.app.remove_domain(a, "lab.contoso.example").await.is_err());
        assert!(s.app.remove_domain(a, &s.a.domain).await.is_err());
        assert!(s.app.remove_domain(b, "lab.contoso.example").await.is_err(), "B cannot remove A's domain");
        assert_eq!(s.delete(&format!("/v1.0/users/{upn}"), &s.a.token).await.0, StatusCode::NO_CONTENT);
        s.app.remove_domain(a, "lab.contoso.example").await.unwrap();
        let realm: Value = s.http.get(format!("{}/common/userrealm/{upn}?api-version=1.0", s.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(realm["account_type"], "Unknown");
        let (status, _) = password_v2(&s, "lab.contoso.example", upn, PASSWORD, graph).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
}
