//! Sign-ins a person finishes on ztd's pages: the authorization code flow with PKCE (`/authorize`, then the
//! code at the token endpoint) and the device code flow (`/devicecode`, the code entered at `/devicelogin`,
//! the device polling). Driven over plain HTTP as a browser and the clients would. Both databases.

use std::time::Duration;

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use ztd_server::GraphConfig;
use ztd_testkit::{form_encode, on_both_servers, Server};

const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const PASSWORD: &str = "Corr3ct-horse!";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "http://localhost:8400/";

fn code(body: &Value) -> i64 {
    body["error_codes"][0].as_i64().unwrap_or_default()
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn create_user(s: &Server, upn: &str) {
    let (status, body) = s
        .post(
            "/v1.0/users",
            &s.a.token,
            json!({
                "accountEnabled": true, "displayName": "Person", "mailNickname": "p", "userPrincipalName": upn,
                "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": false},
                "ztdRole": "administrator",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A browser that does not follow redirects (the redirect goes to the application).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// Submits the sign-in form of `/authorize` and returns the response.
async fn sign_in_on_page(
    s: &Server,
    tenant: &str,
    params: &[(&str, &str)],
    login: &str,
    password: &str,
) -> reqwest::Response {
    let mut fields = params.to_vec();
    fields.extend([("login", login), ("passwd", password)]);
    browser()
        .post(format!("{}/{tenant}/oauth2/v2.0/authorize", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(&fields))
        .send()
        .await
        .unwrap()
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            (
                k.to_string(),
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
        .collect()
}

fn param(query: &[(String, String)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn the_authorization_code_flow_with_pkce_signs_a_person_in_on_the_page() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("pat@{}", s.a.domain);
        create_user(&s, &upn).await;
        let challenge = challenge();
        let request = [
            ("client_id", AZURE_CLI),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            (
                "scope",
                "https://graph.microsoft.com/.default openid profile offline_access",
            ),
            ("state", "st<ate>"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        // The page: a form that carries the request, escaped, framing forbidden.
        let page = browser()
            .get(format!(
                "{}/organizations/oauth2/v2.0/authorize?{}",
                s.url,
                form_encode(&request)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("name=\"passwd\"") && html.contains("st&lt;ate&gt;"),
            "{html}"
        );
        assert!(!html.contains("st<ate>"));

        // A wrong password re-renders the form with Entra's code.
        let wrong = sign_in_on_page(&s, "organizations", &request, &upn, "Wr0ng-password!").await;
        assert_eq!(wrong.status(), StatusCode::OK);
        assert!(wrong.text().await.unwrap().contains("AADSTS50126"));

        // The right one sends the browser back with a code and the state.
        let done = sign_in_on_page(&s, "organizations", &request, &upn, PASSWORD).await;
        assert_eq!(done.status(), StatusCode::FOUND);
        let location = done.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(param(&query, "state").as_deref(), Some("st<ate>"));
        let auth_code = param(&query, "code").expect("code");

        let redeem = |verifier: &'static str, redirect: &'static str, code: String| {
            let s = &s;
            async move {
                s.form(
                    "/organizations/oauth2/v2.0/token",
                    &[
                        ("grant_type", "authorization_code"),
                        ("client_id", AZURE_CLI),
                        ("code", &code),
                        ("redirect_uri", redirect),
                        ("code_verifier", verifier),
                        (
                            "scope",
                            "https://graph.microsoft.com/.default openid profile offline_access",
                        ),
                        ("client_info", "1"),
                    ],
                )
                .await
            }
        };
        // The wrong verifier and the wrong redirect URI are refused, and do not use the code up.
        let (status, body) = redeem("x".repeat(43).leak(), REDIRECT, auth_code.clone()).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, 501481),
            "{body}"
        );
        let (_, body) = redeem(VERIFIER, "http://localhost:9999/other", auth_code.clone()).await;
        assert_eq!(code(&body), 9002313, "{body}");
        let (status, tokens) = redeem(VERIFIER, REDIRECT, auth_code.clone()).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(id["preferred_username"], upn.as_str());
        assert!(
            tokens["refresh_token"].is_string(),
            "offline_access was asked for"
        );
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["upn"], upn.as_str());
        assert_eq!(s.get("/v1.0/users", access).await.0, StatusCode::OK);
        // A code is good once.
        let (_, body) = redeem(VERIFIER, REDIRECT, auth_code.clone()).await;
        assert_eq!(code(&body), 54005, "{body}");

        // A code redeemed after its ten minutes.
        let again = sign_in_on_page(&s, "organizations", &request, &upn, PASSWORD).await;
        let late = param(
            &query_of(again.headers()["location"].to_str().unwrap()),
            "code",
        )
        .unwrap();
        s.clock.advance(Duration::from_secs(11 * 60));
        let (_, body) = redeem(VERIFIER, REDIRECT, late).await;
        assert_eq!(code(&body), 70008, "{body}");

        // prompt=none: no session, so back to the app with login_required.
        let mut silent = request.to_vec();
        silent.push(("prompt", "none"));
        let answer = browser()
            .get(format!(
                "{}/organizations/oauth2/v2.0/authorize?{}",
                s.url,
                form_encode(&silent)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FOUND);
        let query = query_of(answer.headers()["location"].to_str().unwrap());
        assert_eq!(param(&query, "error").as_deref(), Some("login_required"));
    })
    .await;
}

#[tokio::test]
async fn the_authorize_page_refuses_unregistered_redirects_and_public_clients_without_pkce() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("quinn@{}", s.a.domain);
        create_user(&s, &upn).await;
        let tenant = ztd_core::TenantId::parse(&s.a.id).unwrap();
        let spec = ztd_app::ClientSpec {
            redirect_uris: vec!["https://app.example/callback".into()],
            ..ztd_app::ClientSpec::new("web app", &[])
        };
        let web = s.app.create_client(tenant, &spec).await.unwrap();
        let base = |client: &str, redirect: &str| -> Vec<(&'static str, String)> {
            vec![
                ("client_id", client.to_string()),
                ("response_type", "code".into()),
                ("redirect_uri", redirect.to_string()),
                ("scope", "openid".into()),
            ]
        };
        // Never redirect to a URI the app did not register: an error page instead (AADSTS50011).
        let (status, html) =
            authorize_page(&s, base(&web.client_id, "https://evil.example/steal")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("AADSTS50011"), "{html}");
        // A first-party public client must use PKCE, and only loopback redirects.
        let (status, html) = authorize_page(&s, base(AZURE_CLI, REDIRECT)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("AADSTS501481"), "{html}");
        let mut pkce = base(AZURE_CLI, "https://evil.example/");
        pkce.push(("code_challenge", challenge()));
        pkce.push(("code_challenge_method", "S256".into()));
        assert!(authorize_page(&s, pkce).await.1.contains("AADSTS50011"));
        // Another tenant's app is unknown here.
        // User info in a loopback URI would send the browser (and the code) to another host.
        let mut sneaky = base(AZURE_CLI, "http://localhost:1@evil.example/");
        sneaky.push(("code_challenge", challenge()));
        sneaky.push(("code_challenge_method", "S256".into()));
        let (status, html) = authorize_page(&s, sneaky).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("AADSTS50011"), "{html}");
        let mut other = base(&s.b.client_id, "https://app.example/callback");
        other.push(("code_challenge", challenge()));
        assert!(authorize_page(&s, other).await.1.contains("AADSTS700016"));

        // The registered web app: its redirect works, and redeeming needs its secret (a confidential client).
        let request = [
            ("client_id", web.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", "https://app.example/callback"),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let done = sign_in_on_page(&s, &s.a.id, &request, &upn, PASSWORD).await;
        assert_eq!(done.status(), StatusCode::FOUND);
        let auth_code = param(
            &query_of(done.headers()["location"].to_str().unwrap()),
            "code",
        )
        .unwrap();
        let token_path = format!("/{}/oauth2/v2.0/token", s.a.id);
        let base_fields = [
            ("grant_type", "authorization_code"),
            ("client_id", web.client_id.as_str()),
            ("code", auth_code.as_str()),
            ("redirect_uri", "https://app.example/callback"),
        ];
        let (status, body) = s.form(&token_path, &base_fields).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, 7000218),
            "{body}"
        );
        let mut with_secret = base_fields.to_vec();
        with_secret.push(("client_secret", web.client_secret.as_str()));
        let (status, body) = s.form(&token_path, &with_secret).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body.get("refresh_token").is_none(),
            "no offline_access, no refresh token (v2)"
        );
    })
    .await;
}

async fn authorize_page(s: &Server, query: Vec<(&'static str, String)>) -> (StatusCode, String) {
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = browser()
        .get(format!(
            "{}/{}/oauth2/v2.0/authorize?{}",
            s.url,
            s.a.id,
            form_encode(&pairs)
        ))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn start_device_code(s: &Server, path: &str, fields: &[(&str, &str)]) -> Value {
    let (status, body) = s.form(path, fields).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn device_login(s: &Server, fields: &[(&str, &str)]) -> String {
    let response = s
        .http
        .post(format!("{}/devicelogin", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(fields))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_device_code_flow_waits_for_the_person_and_is_redeemed_once() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("dev@{}", s.a.domain);
        create_user(&s, &upn).await;
        // v1, as roadtx asks: resource=, and it polls with `code=`.
        let started = start_device_code(
            &s,
            "/common/oauth2/devicecode",
            &[
                ("client_id", AZURE_CLI),
                ("resource", "urn:ms-drs:enterpriseregistration.windows.net"),
            ],
        )
        .await;
        let user_code = started["user_code"].as_str().unwrap().to_string();
        let device_code = started["device_code"].as_str().unwrap().to_string();
        assert!(
            started["verification_url"]
                .as_str()
                .unwrap()
                .ends_with("/devicelogin"),
            "{started}"
        );
        assert_eq!(started["expires_in"], "900");
        assert!(started["message"].as_str().unwrap().contains(&user_code));

        let poll = |code: String| {
            let s = &s;
            async move {
                s.form(
                    "/common/oauth2/token",
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("client_id", AZURE_CLI),
                        ("code", &code),
                    ],
                )
                .await
            }
        };
        let (status, body) = poll(device_code.clone()).await;
        assert_eq!(
            (status, body["error"].as_str(), code(&body)),
            (
                StatusCode::BAD_REQUEST,
                Some("authorization_pending"),
                70016
            ),
            "{body}"
        );

        // The page: a wrong code, then the right one typed in lower case with a dash.
        let html = device_login(
            &s,
            &[("otc", "BBBBBBBBB"), ("login", &upn), ("passwd", PASSWORD)],
        )
        .await;
        assert!(html.contains("not valid or has expired"), "{html}");
        let typed = format!("{}-{}", &user_code[..4].to_lowercase(), &user_code[4..]);
        let html = device_login(
            &s,
            &[
                ("otc", &typed),
                ("login", &upn),
                ("passwd", PASSWORD),
                ("action", "approve"),
            ],
        )
        .await;
        assert!(html.contains("signed in"), "{html}");

        let (status, tokens) = poll(device_code.clone()).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(
            access["aud"],
            "urn:ms-drs:enterpriseregistration.windows.net"
        );
        assert_eq!(access["upn"], upn.as_str());
        assert!(tokens["refresh_token"].is_string(), "v1 always returns one");
        let (_, body) = poll(device_code.clone()).await;
        assert_eq!(code(&body), 54005, "{body}");
        // The code cannot be approved twice either.
        let html = device_login(
            &s,
            &[("otc", &user_code), ("login", &upn), ("passwd", PASSWORD)],
        )
        .await;
        assert!(html.contains("not valid or has expired"));
        let (_, body) = poll("not-a-device-code".into()).await;
        assert_eq!(code(&body), 70018, "{body}");
    })
    .await;
}

#[tokio::test]
async fn a_device_code_can_be_declined_expires_and_stays_in_its_tenant() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let upn = format!("eve@{}", s.a.domain);
        create_user(&s, &upn).await;
        let scope = "https://graph.microsoft.com/.default offline_access";
        let v2 = |tenant: String| format!("/{tenant}/oauth2/v2.0/devicecode");
        let poll = |device_code: String| {
            let s = &s;
            async move {
                s.form(
                    "/organizations/oauth2/v2.0/token",
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("client_id", AZURE_CLI),
                        ("device_code", &device_code),
                    ],
                )
                .await
            }
        };
        // Declined on the page.
        let started = start_device_code(
            &s,
            &v2("organizations".into()),
            &[("client_id", AZURE_CLI), ("scope", scope)],
        )
        .await;
        assert_eq!(started["interval"], 5);
        device_login(
            &s,
            &[
                ("otc", started["user_code"].as_str().unwrap()),
                ("action", "decline"),
            ],
        )
        .await;
        let (_, body) = poll(started["device_code"].as_str().unwrap().into()).await;
        assert_eq!(body["error"], "authorization_declined", "{body}");

        // Approved by a user of A, then polled at tenant B's token endpoint: refused there, and still
        // redeemable where it belongs.
        let started = start_device_code(
            &s,
            &v2("organizations".into()),
            &[("client_id", AZURE_CLI), ("scope", scope)],
        )
        .await;
        device_login(
            &s,
            &[
                ("otc", started["user_code"].as_str().unwrap()),
                ("login", &upn),
                ("passwd", PASSWORD),
            ],
        )
        .await;
        let device_code = started["device_code"].as_str().unwrap();
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/v2.0/token", s.b.id),
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", AZURE_CLI),
                    ("device_code", device_code),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&body), 9002313, "{body}");
        let (status, body) = poll(device_code.into()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the refusal elsewhere did not use it up: {body}"
        );

        // A registered app may use the device code flow as a public client: its tokens, and the refresh
        // of them, need no secret (appidacr 0).
        let started = start_device_code(
            &s,
            &v2(s.a.domain.clone()),
            &[("client_id", &s.a.client_id), ("scope", scope)],
        )
        .await;
        device_login(
            &s,
            &[
                ("otc", started["user_code"].as_str().unwrap()),
                ("login", &upn),
                ("passwd", PASSWORD),
            ],
        )
        .await;
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/v2.0/token", s.a.domain),
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", &s.a.client_id),
                    ("device_code", started["device_code"].as_str().unwrap()),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, renewed) = s
            .form(
                &format!("/{}/oauth2/v2.0/token", s.a.domain),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &s.a.client_id),
                    ("refresh_token", body["refresh_token"].as_str().unwrap()),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{renewed}");

        // Requested at tenant B's endpoint: a user of tenant A cannot approve it.
        let started = start_device_code(
            &s,
            &v2(s.b.id.clone()),
            &[("client_id", AZURE_CLI), ("scope", scope)],
        )
        .await;
        let html = device_login(
            &s,
            &[
                ("otc", started["user_code"].as_str().unwrap()),
                ("login", &upn),
                ("passwd", PASSWORD),
            ],
        )
        .await;
        assert!(html.contains("AADSTS50034"), "{html}");

        // Left waiting past fifteen minutes.
        let started = start_device_code(
            &s,
            &v2(s.a.domain.clone()),
            &[("client_id", AZURE_CLI), ("scope", scope)],
        )
        .await;
        s.clock.advance(Duration::from_secs(16 * 60));
        let (_, body) = poll(started["device_code"].as_str().unwrap().into()).await;
        assert_eq!(
            (body["error"].as_str(), code(&body)),
            (Some("expired_token"), 70019),
            "{body}"
        );
        let html = device_login(
            &s,
            &[
                ("otc", started["user_code"].as_str().unwrap()),
                ("login", &upn),
                ("passwd", PASSWORD),
            ],
        )
        .await;
        assert!(html.contains("not valid or has expired"));

        // An unknown app, or tenant B's app at tenant A: refused before any code is issued.
        let (status, body) = s
            .form(
                &v2(s.a.id.clone()),
                &[("client_id", &s.b.client_id), ("scope", scope)],
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, 700016),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn code_entries_and_device_code_requests_are_limited_per_address() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let budget = ztd_server::auth::CODE_ENTRIES_PER_MINUTE as usize;
        let mut statuses = Vec::new();
        // A guesser trying codes: the budget, then 429 with Retry-After.
        for n in 0..budget + 5 {
            let response = s
                .http
                .post(format!("{}/devicelogin", s.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_encode(&[
                    ("otc", &format!("GUESS{n:04}")),
                    ("action", "decline"),
                ]))
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key("retry-after"));
            }
            statuses.push(response.status());
        }
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert!(refused >= 5, "{statuses:?}");
        assert!(
            statuses[..budget - 1].iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        // The same address's device code requests share the budget, refused in Entra's shape.
        let (status, body) = s
            .form(
                "/organizations/oauth2/v2.0/devicecode",
                &[
                    ("client_id", AZURE_CLI),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(code(&body), 90055, "{body}");
        // Time restores it.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let (status, _) = s
            .form(
                "/organizations/oauth2/v2.0/devicecode",
                &[
                    ("client_id", AZURE_CLI),
                    ("scope", "https://graph.microsoft.com/.default"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
}
