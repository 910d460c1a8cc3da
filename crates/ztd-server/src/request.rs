//! What identifies one request in every answer it gets: the `request-id` header, the `innerError` of a
//! Graph error, the `trace_id` of an OAuth2 error. Drawn once per request from the app's id source and clock
//! (never from the system's directly), and visible to everything the request runs through a task-local.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use ztd_core::Timestamp;

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
    let mut response = CURRENT.scope(context.clone(), next.run(request)).await;
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
