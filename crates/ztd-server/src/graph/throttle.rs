//! Graph's throttling: every authenticated Graph request spends from two budgets, its tenant's and its app's
//! (the app within the tenant), and one over either answers 429 `TooManyRequests` with `Retry-After`, as
//! Graph does, so that tools exercise their retry logic against ztd. A batch's requests spend one each.
//!
//! The budgets are per node (a deployment of N nodes admits N times as much) and refill continuously over
//! the window (a burst of the whole budget, then its rate). Defaults in [`ThrottleConfig::default`] and in
//! `docs/graph-api.md` "Throttling".

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ztd_core::error::Code;
use ztd_core::TenantId;

use crate::auth::Caller;
use crate::device_api::checked;
use crate::error::ApiError;
use crate::AppState;

/// The budgets. `None` turns a budget off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Requests one tenant may make per `window`, all apps together.
    pub per_tenant: Option<NonZeroU32>,
    /// Requests one app may make in one tenant per `window`.
    pub per_app: Option<NonZeroU32>,
    pub window: Duration,
}

impl Default for ThrottleConfig {
    /// Intune's published limits for its Graph APIs: 2,000 requests per 20 seconds per tenant and 1,000 per
    /// 20 seconds per app in a tenant.
    fn default() -> Self {
        Self {
            per_tenant: NonZeroU32::new(2000),
            per_app: NonZeroU32::new(1000),
            window: Duration::from_secs(20),
        }
    }
}

/// The budgets' current state.
pub struct Throttle {
    per_tenant: Option<DefaultKeyedRateLimiter<TenantId>>,
    per_app: Option<DefaultKeyedRateLimiter<(TenantId, String)>>,
}

/// A keyed limiter admitting `requests` per `window`, all at once or spread out.
fn limiter<K: std::hash::Hash + Eq + Clone>(
    requests: Option<NonZeroU32>,
    window: Duration,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let requests = requests?;
    let period = window.checked_div(requests.get())?;
    Some(RateLimiter::keyed(
        Quota::with_period(period)?.allow_burst(requests),
    ))
}

impl Throttle {
    pub fn new(config: &ThrottleConfig) -> Self {
        Self {
            per_tenant: limiter(config.per_tenant, config.window),
            per_app: limiter(config.per_app, config.window),
        }
    }

    /// Spends one request of `caller`'s budgets, or says how long to wait. The app's budget is checked
    /// first: an app that goes on calling after its 429s spends only its own budget, never its tenant's,
    /// so it cannot shut the tenant's other apps out.
    pub fn admit(&self, caller: &Caller) -> Result<(), Duration> {
        checked(
            self.per_app.as_ref(),
            &(caller.tenant_id, caller.client_id.clone()),
        )?;
        checked(self.per_tenant.as_ref(), &caller.tenant_id)
    }
}

/// 429 in Graph's shape with `Retry-After` in whole seconds (at least 1).
pub fn too_many_requests(wait: Duration) -> Response {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response = ApiError::new(
        Code::TooManyRequests,
        format!("Too many requests for this tenant or application; retry after {seconds} seconds."),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Middleware on every Graph route: an authenticated caller spends from its budgets (and the handler reuses
/// the verified caller); a request without a valid token goes on to be refused by its handler.
pub async fn throttle(
    State((state, throttle)): State<(AppState, Arc<Throttle>)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Ok(caller) = Caller::from_request_parts(&mut parts, &state).await {
        if let Err(wait) = throttle.admit(&caller) {
            return too_many_requests(wait);
        }
        parts.extensions.insert(caller);
    }
    next.run(Request::from_parts(parts, body)).await
}
