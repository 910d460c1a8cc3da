//! What identifies one request in every answer it gets: the `request-id` header, the `innerError` of a
//! Graph error, the `trace_id` of an OAuth2 error. Drawn once per request from the app's id source and clock
//! (never from the system's directly), and visible to everything the request runs through a task-local.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ztd_core::Timestamp;

use crate::error::ErrorSummary;
use crate::AppState;

/// One request's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    /// ztd's id for the request (`request-id`).
    pub id: String,
    /// The caller's `client-request-id`, when it sent one (echoed back, as Graph does).
    pub client_request_id: Option<String>,
    /// When the request arrived, by the app's clock.
    pub at: Timestamp,
}

impl RequestContext {
    /// The id a client correlates with: its own `client-request-id`, or ours.
    pub fn correlation_id(&self) -> &str {
        self.client_request_id.as_deref().unwrap_or(&self.id)
    }
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// The context of the request being served, if any (errors built outside a request have none).
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The longest `client-request-id` echoed back (Graph's are GUIDs).
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Middleware for every route but `/health`: draws the request's identity, serves the request inside it,
/// and sets `request-id` (and `client-request-id`) on the response.
pub async fn identify(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= MAX_CLIENT_REQUEST_ID)
        .map(str::to_owned);
    let context = RequestContext {
        id: state.app.new_id().to_string(),
        client_request_id,
        at: state.app.now(),
    };
    // Only administrative changes can be refused into the audit log; nothing is kept for other requests.
    let change = is_admin_change(request.method(), request.uri().path())
        .then(|| (request.method().clone(), request.uri().path().to_string()));
    let work = async {
        let response = next.run(request).await;
        if let Some((method, path)) = &change {
            let summary = response.extensions().get::<ErrorSummary>().cloned();
            record_refusal(&state, method, path, response.status(), summary).await;
        }
        response
    };
    let mut response = CURRENT
        .scope(context.clone(), ztd_app::audit::with_actor_slot(work))
        .await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&context.id) {
        headers.insert("request-id", value);
    }
    if let Some(value) = context
        .client_request_id
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert("client-request-id", value);
    }
    response
}

/// Whether a request is an administrative change: a write to the Graph or the native admin API.
fn is_admin_change(method: &Method, path: &str) -> bool {
    let write = matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    write
        && ["/beta/", "/v1.0/", "/ztd/v1/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Records a refused administrative change (a 4xx) of a known caller in the audit log. A request whose
/// caller is unknown (no valid token) is not one: strangers cannot write to the log. A 5xx is ztd's failure,
/// not the caller's, and is in the server log; writing it would only add load to a struggling database.
/// One caller's refusals are recorded at most [`crate::auth::REFUSALS_RECORDED_PER_MINUTE`] a minute.
async fn record_refusal(
    state: &AppState,
    method: &Method,
    path: &str,
    status: StatusCode,
    summary: Option<ErrorSummary>,
) {
    if !status.is_client_error() {
        return;
    }
    let Some((Some(tenant), actor)) = ztd_app::audit::current_caller() else {
        return;
    };
    if !state.tokens.refusals.admit(tenant, &actor.id) {
        tracing::debug!(%tenant, actor = %actor.id, %path, "refusal not recorded: over the caller's budget");
        return;
    }
    let refused = ztd_app::audit::RefusedRequest {
        method: method.to_string(),
        path: path.to_string(),
        status: status.as_u16(),
        code: summary.as_ref().map(|s| s.code.clone()).unwrap_or_default(),
        message: summary.map(|s| s.message).unwrap_or_default(),
    };
    if let Err(error) = state.app.record_refusal(tenant, actor, refused).await {
        tracing::warn!(%error, "could not record a refused request in the audit log");
    }
}
