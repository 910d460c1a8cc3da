//! Application credentials at the token endpoint: several secrets per app with expiry and removal, and
//! certificate credentials whose keys sign client assertions the way MSAL and azure-identity sign them.
//! Every scenario runs on SQLite and PostgreSQL.

use std::time::Duration;

use axum::http::StatusCode;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use ztd_server::GraphConfig;
use ztd_testkit::{on_both_servers, Server};

const CERT: &str = include_str!("../../ztd-oauth/tests/fixtures/app-cert.pem");
const KEY: &str = include_str!("../../ztd-oauth/tests/fixtures/app-key-pkcs1.pem");
const GRAPH: &str = "https://graph.microsoft.com/.default";
const AUTOPILOT: &str = "/beta/deviceManagement/windowsAutopilotDeviceIdentities";

fn code(body: &Value) -> i64 {
    body["error_codes"][0].as_i64().unwrap_or_default()
}

async fn secret_token(s: &Server, tenant: &str, client: &str, secret: &str) -> (StatusCode, Value) {
    s.form(
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", GRAPH),
        ],
    )
    .await
}

/// A client assertion as MSAL signs it (RS256, padded SHA-1 `x5t`) or as azure-identity's async client
/// does (PS256, `x5t#S256`).
fn assertion(client: &str, aud: &str, alg: Algorithm, now: i64, jti: &str) -> String {
    let cert = ztd_oauth::CertificateCredential::parse(CERT.as_bytes()).unwrap();
    let mut header = Header::new(alg);
    if alg == Algorithm::PS256 {
        header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(cert.sha256));
    } else {
        header.x5t = Some(URL_SAFE.encode(cert.sha1));
    }
    let claims =
        json!({"aud": aud, "iss": client, "sub": client, "jti": jti, "nbf": now, "exp": now + 600});
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn assertion_token(
    s: &Server,
    tenant: &str,
    client: &str,
    assertion: &str,
) -> (StatusCode, Value) {
    s.form(
        &format!("/{tenant}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", GRAPH),
        ],
    )
    .await
}

fn tenant_id(s: &Server) -> ztd_core::TenantId {
    ztd_core::TenantId::parse(&s.a.id).unwrap()
}

#[tokio::test]
async fn secrets_rotate_expire_and_stop_their_tokens_when_removed() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let tenant = tenant_id(&s);
        let spec = ztd_app::ClientSpec {
            secret_lifetime_days: Some(30),
            ..ztd_app::ClientSpec::new("rotating", &["DeviceManagementServiceConfig.Read.All"])
        };
        let app = s.app.create_client(tenant, &spec).await.unwrap();
        let second = s
            .app
            .add_client_secret(tenant, &app.client_id, "second", 90)
            .await
            .unwrap();
        assert_eq!(second.hint, second.secret_text[..3]);

        // Both secrets sign in.
        let (status, first_token) =
            secret_token(&s, &s.a.id, &app.client_id, &app.client_secret).await;
        assert_eq!(status, StatusCode::OK, "{first_token}");
        let first_token = first_token["access_token"].as_str().unwrap().to_string();
        assert_eq!(s.get(AUTOPILOT, &first_token).await.0, StatusCode::OK);
        let (status, _) = secret_token(&s, &s.a.id, &app.client_id, &second.secret_text).await;
        assert_eq!(status, StatusCode::OK);
        // A wrong secret is 7000215, with the status Entra uses for invalid_client.
        let (status, body) = secret_token(&s, &s.a.id, &app.client_id, "wrong").await;
        assert_eq!(
            (status, code(&body), body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, 7000215, Some("invalid_client"))
        );

        // Removing the first: it is refused at once, and its token stops within a minute.
        s.app
            .remove_client_secret(tenant, &app.client_id, app.secret_key_id)
            .await
            .unwrap();
        let (_, body) = secret_token(&s, &s.a.id, &app.client_id, &app.client_secret).await;
        assert_eq!(code(&body), 7000215);
        let (status, _) = s.get(AUTOPILOT, &first_token).await;
        assert_eq!(status, StatusCode::OK, "remembered for at most a minute");
        s.clock.advance(Duration::from_secs(61));
        let (status, _) = s.get(AUTOPILOT, &first_token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Past 90 days the second secret has expired: 7000222, and the app needs a new one.
        s.clock.advance(Duration::from_secs(91 * 24 * 3600));
        let (status, body) = secret_token(&s, &s.a.id, &app.client_id, &second.secret_text).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, 7000222),
            "{body}"
        );
        let third = s
            .app
            .add_client_secret(tenant, &app.client_id, "third", 30)
            .await
            .unwrap();
        assert_eq!(
            secret_token(&s, &s.a.id, &app.client_id, &third.secret_text)
                .await
                .0,
            StatusCode::OK
        );

        // Lifetimes are bounded as Entra bounds them; another tenant cannot touch the app.
        assert!(s
            .app
            .add_client_secret(tenant, &app.client_id, "forever", 10_000)
            .await
            .is_err());
        let other = ztd_core::TenantId::parse(&s.b.id).unwrap();
        assert!(s
            .app
            .add_client_secret(other, &app.client_id, "theirs", 30)
            .await
            .is_err());
        assert!(s
            .app
            .remove_client_secret(other, &app.client_id, third.key_id)
            .await
            .is_err());
        assert_eq!(
            secret_token(&s, &s.a.id, &app.client_id, &third.secret_text)
                .await
                .0,
            StatusCode::OK
        );
        // Nor sign in at the other tenant's endpoint with it.
        let (_, body) = secret_token(&s, &s.b.id, &app.client_id, &third.secret_text).await;
        assert_eq!(code(&body), 700016);
    })
    .await;
}

#[tokio::test]
async fn certificate_credentials_sign_client_assertions_as_msal_and_azure_identity_do() {
    on_both_servers(GraphConfig::default(), |s| async move {
        let tenant = tenant_id(&s);
        let app = s
            .app
            .create_client(tenant, &ztd_app::ClientSpec::new("cert app", &["DeviceManagementServiceConfig.Read.All"]))
            .await
            .unwrap();
        let registered = s.app.add_client_certificate(tenant, &app.client_id, CERT.as_bytes(), None).await.unwrap();
        assert_eq!(registered.display_name, "CN=ztd test application");
        // The same certificate twice is refused.
        assert!(s.app.add_client_certificate(tenant, &app.client_id, CERT.as_bytes(), None).await.is_err());
        let now = s.app.now().0 / 1000;
        let v2 = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", s.a.id);
        let by_domain = format!("https://login.microsoftonline.com/{}/oauth2/token", s.a.domain);

        for (n, (alg, aud)) in [(Algorithm::RS256, &v2), (Algorithm::PS256, &by_domain)].into_iter().enumerate() {
            let signed = assertion(&app.client_id, aud, alg, now, &format!("jti-{n}"));
            let (status, body) = assertion_token(&s, &s.a.id, &app.client_id, &signed).await;
            assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
            let token = body["access_token"].as_str().unwrap();
            let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
            assert_eq!(claims["appidacr"], "2", "a certificate sign-in");
            assert_eq!(s.get(AUTOPILOT, token).await.0, StatusCode::OK);
            // The same assertion again is accepted within its lifetime, as Entra accepts it (MSAL reuses a
            // signed assertion for several requests).
            let (status, body) = assertion_token(&s, &s.a.id, &app.client_id, &signed).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }

        // An assertion for another tenant's endpoint, or expired, or tampered with, or by another key.
        let elsewhere = format!("https://login.microsoftonline.com/{}/oauth2/v2.0/token", s.b.id);
        let (_, body) = assertion_token(&s, &s.a.id, &app.client_id, &assertion(&app.client_id, &elsewhere, Algorithm::RS256, now, "a")).await;
        assert_eq!(code(&body), 50013, "{body}");
        let (_, body) = assertion_token(&s, &s.a.id, &app.client_id, &assertion(&app.client_id, &v2, Algorithm::RS256, now - 3600, "b")).await;
        assert_eq!(code(&body), 50013, "{body}");
        let good = assertion(&app.client_id, &v2, Algorithm::RS256, now, "c");
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(json!({"aud": v2, "iss": app.client_id, "sub": app.client_id, "exp": now + 600, "jti": "c2"}).to_string());
        let (_, body) = assertion_token(&s, &s.a.id, &app.client_id, &parts.join(".")).await;
        assert_eq!(code(&body), 700027, "{body}");
        let other = s.app.create_client(tenant, &ztd_app::ClientSpec::new("no cert", &[])).await.unwrap();
        let (_, body) = assertion_token(&s, &s.a.id, &other.client_id, &assertion(&other.client_id, &v2, Algorithm::RS256, now, "d")).await;
        assert_eq!(code(&body), 700027, "{body}");
        let (_, body) = assertion_token(&s, &s.a.id, &app.client_id, "not.a.jwt").await;
        assert_eq!(code(&body), 50013, "{body}");

        // Removing the certificate: its assertions are refused at once.
        s.app.remove_client_certificate(tenant, &app.client_id, registered.key_id).await.unwrap();
        let (_, body) = assertion_token(&s, &s.a.id, &app.client_id, &assertion(&app.client_id, &v2, Algorithm::RS256, now, "e")).await;
        assert_eq!(code(&body), 700027, "{body}");
    })
    .await;
}

#[tokio::test]
async fn client_credentials_need_the_tenant_in_the_path() {
    on_both_servers(GraphConfig::default(), |s| async move {
        for segment in ["common", "organizations"] {
            let (status, body) = secret_token(&s, segment, &s.a.client_id, &s.a.secret).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::BAD_REQUEST, 9001023),
                "{body}"
            );
        }
        // No credential at all: 7000218.
        let (status, body) = s
            .form(
                &format!("/{}/oauth2/v2.0/token", s.a.id),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &s.a.client_id),
                    ("scope", GRAPH),
                ],
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, 7000218),
            "{body}"
        );
    })
    .await;
}
