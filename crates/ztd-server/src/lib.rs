//! ztd's HTTP front end, the only crate that knows HTTP: the OAuth2 token endpoint, the Graph-compatible
//! admin API, ztd's own admin API (`/ztd/v1`, for what Graph has no call for), the device API used at first
//! boot, and health. Handlers are thin: they authenticate, translate, call one `ztd-app` use case and
//! translate back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;
use ztd_app::App;

pub mod auth;
mod auth_discovery;
mod device_api;
mod drs;
pub mod error;
pub mod graph;
pub mod lab_proxy;
pub mod mdm;
mod native;
pub mod request;
pub mod tls;

pub use auth::{Caller, Tokens};
pub use device_api::DeviceApiConfig;
pub use graph::GraphConfig;
pub use ztd_app::graph_imports::spawn_import_worker;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub tokens: Arc<Tokens>,
}

/// The whole HTTP surface, with the default Graph settings.
pub fn router(state: AppState) -> Router {
    router_with(state, GraphConfig::default())
}

/// The whole HTTP surface with explicit Graph settings (tests shorten the sync throttle, deployments set the
/// public base URL).
pub fn router_with(state: AppState, graph: GraphConfig) -> Router {
    router_configured(state, graph, DeviceApiConfig::default())
}

/// The whole HTTP surface with explicit Graph and device API settings.
pub fn router_configured(state: AppState, graph: GraphConfig, device: DeviceApiConfig) -> Router {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(auth::token_v2).layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/{tenant}/oauth2/token",
            post(auth::token_v1).layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(auth::authorize_get::<true>)
                .post(auth::authorize_post::<true>)
                .layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/{tenant}/oauth2/authorize",
            get(auth::authorize_get::<false>)
                .post(auth::authorize_post::<false>)
                .layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(auth::device_code_handler::<true>)
                .layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(auth::device_code_handler::<false>)
                .layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/devicelogin",
            get(auth::device_login_get)
                .post(auth::device_login_post)
                .layer(DefaultBodyLimit::max(auth::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route("/{tenant}/discovery/keys", get(auth_discovery::keys))
        .route("/{tenant}/discovery/v2.0/keys", get(auth_discovery::keys))
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(auth_discovery::openid_configuration_v1),
        )
        .merge(device_api::routes(&device))
        .merge(drs::routes())
        .merge(mdm::routes())
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth_discovery::openid_configuration),
        )
        .route("/common/userrealm/{user}", get(auth_discovery::user_realm))
        .route("/common/UserRealm/{user}", get(auth_discovery::user_realm))
        .route(
            "/common/discovery/instance",
            get(auth_discovery::instance_discovery),
        )
        .nest("/ztd/v1", native::routes())
        .merge(graph::routes(state.clone(), Arc::new(graph)))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request::identify,
        ))
        // A liveness probe needs no request identity (and stays the cheapest route).
        .route("/health", get(|| async { "ok" }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Stops the import worker when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// TLS material for `serve`.
pub struct TlsFiles {
    pub certificate: std::path::PathBuf,
    pub private_key: std::path::PathBuf,
}

/// Serves until the process is stopped. With `tls`, HTTPS via rustls; otherwise plain HTTP. Also runs the
/// Graph import worker.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsFiles>,
) -> std::io::Result<()> {
    serve_with(listener, state, tls, GraphConfig::default()).await
}

/// [`serve`] with explicit Graph settings.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsFiles>,
    graph: GraphConfig,
) -> std::io::Result<()> {
    serve_configured(listener, state, tls, graph, DeviceApiConfig::default()).await
}

/// [`serve`] with explicit Graph and device API settings.
pub async fn serve_configured(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsFiles>,
    mut graph: GraphConfig,
    device: DeviceApiConfig,
) -> std::io::Result<()> {
    graph.https |= tls.is_some();
    // Imports posted through Graph complete only while a worker runs; every node runs one.
    let worker = spawn_import_worker(state.app.clone());
    let _stop_worker = AbortOnDrop(worker);
    // Boots note contacts in memory; this task writes them in batches.
    let recorder = state.app.spawn_contact_recorder();
    let _stop_recorder = AbortOnDrop(recorder);
    let router = router_configured(state, graph, device);
    match tls {
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        }
        Some(files) => {
            // The binary links two rustls crypto back ends (the TLS server's and the HTTP client's), so rustls
            // cannot pick one by itself: choose explicitly. An error only means one is installed already.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = tls::server_config(&files.certificate, &files.private_key)?;
            tls::serve(listener, router, config).await
        }
    }
}
