//! ztd's HTTP front end, the only crate that knows HTTP: the OAuth2 token endpoint, the Graph-compatible
//! admin API, ztd's own admin API (`/ztd/v1`, for what Graph has no call for), the device API used at first
//! boot, and health. Handlers are thin: they authenticate, translate, call one `ztd-app` use case and
//! translate back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;
use ztd_app::App;

pub mod auth;
mod auth_discovery;
mod device_api;
pub mod error;
pub mod graph;
mod native;

pub use auth::{Caller, TokenIssuer};
pub use graph::GraphConfig;
pub use ztd_app::graph_imports::spawn_import_worker;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub tokens: Arc<TokenIssuer>,
    /// Settings of the Graph API (sync throttling, link base URL).
    pub graph: Arc<GraphConfig>,
}

impl AppState {
    /// State with the default Graph settings.
    pub fn new(app: App, tokens: Arc<TokenIssuer>) -> Self {
        Self {
            app,
            tokens,
            graph: Arc::new(GraphConfig::default()),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route("/device/v1/boot", post(device_api::boot))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth_discovery::openid_configuration),
        )
        .route(
            "/common/discovery/instance",
            get(auth_discovery::instance_discovery),
        )
        .nest("/ztd/v1", native::routes())
        .merge(graph::routes(state.clone()))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// TLS material for `serve`.
pub struct TlsFiles {
    pub certificate: std::path::PathBuf,
    pub private_key: std::path::PathBuf,
}

/// Serves until the process is stopped. With `tls`, HTTPS via rustls; otherwise plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsFiles>,
) -> std::io::Result<()> {
    let mut state = state;
    if tls.is_some() && !state.graph.https {
        let mut config = (*state.graph).clone();
        config.https = true;
        state.graph = Arc::new(config);
    }
    let router = router(state);
    match tls {
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        }
        Some(files) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(
                files.certificate,
                files.private_key,
            )
            .await?;
            let listener = listener.into_std()?;
            axum_server::from_tcp_rustls(listener, config)
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await
        }
    }
}
