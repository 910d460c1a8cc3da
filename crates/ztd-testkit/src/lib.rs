//! The test kit of ztd's integration tests: the real server on 127.0.0.1:0 over SQLite in a temporary
//! directory or a fresh PostgreSQL schema, two tenants with administrator credentials, tokens from the real
//! token endpoint, a small HTTP client, and the one run-on-both-databases harness
//! ([`on_both_servers`], over `ztd_store::scratch::on_both`). [`serve`] starts a server as a first
//! `ztd serve` would, for the CLI's end-to-end tests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use ztd_app::{App, Bootstrap};
use ztd_hwhash::{DeviceDescription, HardwareHash};
pub use ztd_server::GraphConfig;
use ztd_server::{AppState, TlsFiles, Tokens};
use ztd_store::Store;

pub use ztd_app::ADMIN_SCOPES;

pub struct TenantCreds {
    pub id: String,
    pub domain: String,
    pub client_id: String,
    pub secret: String,
    pub token: String,
}

pub struct Server {
    pub url: String,
    pub http: reqwest::Client,
    pub app: App,
    pub a: TenantCreds,
    pub b: TenantCreds,
    /// The server's database, for tests that arrange what no request can (damage, faults).
    pub store: Store,
    /// The server's clock: the system's, moved forward by [`Server::advance`].
    pub clock: Arc<TestClock>,
    /// The lab root (PEM) of a server started over TLS ([`on_both_tls_servers`]), which `http` trusts.
    pub ca_pem: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _tls_dir: Option<tempfile::TempDir>,
}

/// The system clock plus an offset a test moves forward, so expiry is tested without waiting.
#[derive(Debug, Default)]
pub struct TestClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl ztd_app::Clock for TestClock {
    fn now(&self) -> ztd_core::Timestamp {
        let base = ztd_app::SystemClock.now();
        ztd_core::Timestamp(base.0 + self.offset_ms.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl TestClock {
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn hash(serial: &str, manufacturer: &str) -> String {
    let mut d = DeviceDescription {
        serial_number: serial.to_string(),
        manufacturer: manufacturer.to_string(),
        model: "Laptop 7".to_string(),
        ..Default::default()
    };
    d.fill_defaults(format!("{manufacturer}/{serial}").as_bytes());
    HardwareHash::generate(&d).to_base64()
}

pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ztd.db").display());
    (Store::open(&url).await.expect("open sqlite"), dir)
}

pub async fn start() -> Server {
    start_with(GraphConfig::default()).await
}

pub async fn start_with(config: GraphConfig) -> Server {
    let (store, dir) = sqlite_store().await;
    let mut server = start_on(store, config).await;
    server._dir = Some(dir);
    server
}

pub async fn start_on(store: Store, config: GraphConfig) -> Server {
    start_serving(store, config, false).await
}

/// [`start_on`] over HTTPS with a certificate from the deployment's lab root (for `127.0.0.1` and the
/// Microsoft host names), accepting client certificates as `ztd serve --lab-tls` does.
pub async fn start_tls_on(store: Store, config: GraphConfig) -> Server {
    start_serving(store, config, true).await
}

async fn start_serving(store: Store, config: GraphConfig, tls: bool) -> Server {
    let clock = Arc::new(TestClock::default());
    let app = App::new(
        store.clone(),
        clock.clone(),
        Box::new(ztd_app::TimeOrderedIds),
    );
    let boot = app
        .bootstrap("Contoso", "contoso.example", "credentials.json")
        .await
        .expect("bootstrap")
        .created()
        .expect("first start");
    let fabrikam = app
        .create_tenant("Fabrikam", "fabrikam.example")
        .await
        .expect("tenant b");
    let client_b = app
        .create_client(
            fabrikam.id,
            &ztd_app::ClientSpec::new("admin", ADMIN_SCOPES),
        )
        .await
        .expect("client b");
    let state = AppState {
        app: app.clone(),
        tokens: Arc::new(Tokens::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (url, http, ca_pem, tls_dir) = if tls {
        let ca = app.lab_ca().await.expect("lab root");
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        names.extend(
            ztd_app::lab_ca::MICROSOFT_HOSTS
                .iter()
                .map(|h| h.to_string()),
        );
        let (chain, key) = ca
            .issue_server_certificate(&names)
            .expect("server certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let certificate = dir.path().join("server.pem");
        let private_key = dir.path().join("server-key.pem");
        std::fs::write(&certificate, chain).expect("write certificate");
        std::fs::write(&private_key, key).expect("write key");
        tokio::spawn(ztd_server::serve_with(
            listener,
            state,
            Some(TlsFiles {
                certificate,
                private_key,
            }),
            config,
        ));
        let root = reqwest::Certificate::from_pem(ca.cert_pem.as_bytes()).expect("root");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(root)
            .build()
            .expect("client");
        (
            format!("https://{addr}"),
            http,
            Some(ca.cert_pem.clone()),
            Some(dir),
        )
    } else {
        tokio::spawn(ztd_server::serve_with(listener, state, None, config));
        (format!("http://{addr}"), reqwest::Client::new(), None, None)
    };
    let mut a = TenantCreds {
        id: boot.tenant.id.to_string(),
        domain: boot.tenant.domain.clone(),
        client_id: boot.client_id.clone(),
        secret: boot.client_secret.clone(),
        token: String::new(),
    };
    let mut b = TenantCreds {
        id: fabrikam.id.to_string(),
        domain: fabrikam.domain.clone(),
        client_id: client_b.client_id.clone(),
        secret: client_b.client_secret.clone(),
        token: String::new(),
    };
    let mut server = Server {
        url,
        http,
        app,
        a: TenantCreds {
            token: String::new(),
            ..clone_creds(&a)
        },
        b: TenantCreds {
            token: String::new(),
            ..clone_creds(&b)
        },
        store,
        clock,
        ca_pem,
        _dir: None,
        _tls_dir: tls_dir,
    };
    a.token = server.token(&a.id, &a.client_id, &a.secret).await;
    b.token = server.token(&b.id, &b.client_id, &b.secret).await;
    server.a = a;
    server.b = b;
    server
}

fn clone_creds(c: &TenantCreds) -> TenantCreds {
    TenantCreds {
        id: c.id.clone(),
        domain: c.domain.clone(),
        client_id: c.client_id.clone(),
        secret: c.secret.clone(),
        token: c.token.clone(),
    }
}

pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Server {
    /// A token from the token endpoint, as a client-credentials library gets it.
    pub async fn token(&self, tenant: &str, client_id: &str, secret: &str) -> String {
        let (status, body) = self.token_request(tenant, client_id, secret).await;
        assert_eq!(status, StatusCode::OK, "token: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn token_request(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
    ) -> (StatusCode, Value) {
        let body = form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]);
        let response = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A form POST (`application/x-www-form-urlencoded`), as OAuth clients send to the token endpoints.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(fields))
            .send()
            .await
            .expect("form request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A token for tenant A with only `scopes`.
    pub async fn token_with(&self, scopes: &[&str]) -> String {
        let tenant = ztd_core::TenantId::parse(&self.a.id).expect("tenant id");
        let client = self
            .app
            .create_client(tenant, &ztd_app::ClientSpec::new("limited", scopes))
            .await
            .expect("client");
        self.token(&self.a.id, &client.client_id, &client.client_secret)
            .await
    }

    /// Any request; `path` starts with `/`, or is an absolute URL (a nextLink). The body is sent raw when
    /// it is a JSON string value, as JSON otherwise.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.url)
        };
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        match body {
            Some(Value::String(raw)) => {
                request = request.header("content-type", "application/json").body(raw);
            }
            Some(json) => request = request.json(&json),
            None => {}
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Imports one device through Graph and waits for the record to leave `unknown`; returns the record.
    pub async fn import_device(
        &self,
        token: &str,
        serial: &str,
        manufacturer: &str,
        group_tag: &str,
    ) -> Value {
        let (status, created) = self
            .post(
                "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities",
                token,
                serde_json::json!({
                    "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
                    "groupTag": group_tag, "serialNumber": serial, "productKey": "",
                    "hardwareIdentifier": hash(serial, manufacturer), "assignedUserPrincipalName": "",
                    "state": {"@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                              "deviceImportStatus": "pending", "deviceRegistrationId": "", "deviceErrorCode": 0, "deviceErrorName": ""}
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("import id").to_string();
        self.wait_import(token, &id).await
    }

    pub async fn wait_import(&self, token: &str, id: &str) -> Value {
        for _ in 0..400 {
            let (status, record) = self
                .get(
                    &format!(
                        "/beta/deviceManagement/importedWindowsAutopilotDeviceIdentities/{id}"
                    ),
                    token,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{record}");
            if record["state"]["deviceImportStatus"] != "unknown" {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("import {id} never left unknown");
    }

    /// `autopilotEvents` once it lists at least one event: boots note contacts in memory and the contact
    /// recorder writes them (and their events) within a fraction of a second.
    pub async fn wait_for_autopilot_events(&self, token: &str) -> Value {
        for _ in 0..200 {
            let (status, events) = self
                .get("/beta/deviceManagement/autopilotEvents", token)
                .await;
            assert_eq!(status, StatusCode::OK, "{events}");
            if events["value"].as_array().is_some_and(|v| !v.is_empty()) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no autopilot event was recorded");
    }

    /// Registers devices directly through the use case (fast seeding for paging tests).
    pub async fn seed(&self, tenant: &str, serials: &[String], group_tag: &str) {
        let tenant = ztd_core::TenantId::parse(tenant).expect("tenant");
        for chunk in serials.chunks(1000) {
            let rows: Vec<ztd_app::ImportRow> = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| ztd_app::ImportRow {
                    row: i as u64 + 1,
                    serial_number: s.clone(),
                    hardware_hash: hash(s, "Contoso"),
                    group_tag: group_tag.to_string(),
                    ..Default::default()
                })
                .collect();
            let outcomes = self.app.import_devices(tenant, &rows).await.expect("seed");
            assert!(
                outcomes.iter().all(|o| o.ztdid().is_some()),
                "seed rejected rows"
            );
        }
    }
}

/// Asserts Graph's error envelope and returns the code.
pub fn assert_graph_error(body: &Value) -> String {
    let error = &body["error"];
    assert!(error["code"].is_string(), "no error.code in {body}");
    assert!(error["message"].is_string(), "no error.message in {body}");
    assert!(
        error["innerError"]["request-id"].is_string(),
        "no innerError in {body}"
    );
    assert!(
        error["innerError"]["date"].is_string(),
        "no innerError.date in {body}"
    );
    error["code"].as_str().unwrap_or_default().to_string()
}

/// Runs `scenario` against a real server on SQLite, then against one on a fresh PostgreSQL schema (see
/// [`on_both`]): every integration test of the server runs on both databases.
pub async fn on_both_servers<F, Fut>(config: GraphConfig, scenario: F)
where
    F: Fn(Server) -> Fut,
    Fut: Future<Output = ()>,
{
    on_both(|store| {
        let server = start_on(store, config.clone());
        let scenario = &scenario;
        async move { scenario(server.await).await }
    })
    .await;
}

/// [`on_both_servers`] with the servers over HTTPS (client certificates accepted), as `ztd serve --lab-tls`.
pub async fn on_both_tls_servers<F, Fut>(config: GraphConfig, scenario: F)
where
    F: Fn(Server) -> Fut,
    Fut: Future<Output = ()>,
{
    on_both(|store| {
        let server = start_tls_on(store, config.clone());
        let scenario = &scenario;
        async move { scenario(server.await).await }
    })
    .await;
}

/// Runs `scenario` on SQLite, then on a fresh PostgreSQL schema (the one harness,
/// `ztd_store::scratch::on_both`).
pub async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    ztd_store::scratch::on_both(scenario).await;
}

pub struct Served {
    /// `http://…` or `https://…` with the bound port.
    pub base: String,
    pub app: App,
    /// The first tenant and its administrator credential.
    pub first: Bootstrap,
}

/// Bootstraps a tenant on `store` and serves it (over TLS with `tls`) until the test's runtime ends.
pub async fn serve(store: Store, name: &str, domain: &str, tls: Option<TlsFiles>) -> Served {
    let app = App::with_defaults(store);
    let first = app
        .bootstrap(name, domain, "credentials.json")
        .await
        .unwrap()
        .created()
        .expect("first start");
    let state = AppState {
        app: app.clone(),
        tokens: Arc::new(Tokens::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    tokio::spawn(ztd_server::serve(listener, state, tls));
    Served { base, app, first }
}
