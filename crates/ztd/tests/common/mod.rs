//! The real server for CLI end-to-end tests: bootstrapped like a first `ztd serve`, on 127.0.0.1:0.
#![allow(dead_code)]

use std::sync::Arc;

use ztd_app::{App, Bootstrap};
use ztd_server::{AppState, TlsFiles, TokenIssuer};
use ztd_store::Store;

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
    let key = app.token_signing_key().await.unwrap();
    let state = AppState {
        app: app.clone(),
        tokens: Arc::new(TokenIssuer::new(&key)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", listener.local_addr().unwrap());
    tokio::spawn(ztd_server::serve(listener, state, tls));
    Served { base, app, first }
}
