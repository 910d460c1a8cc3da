//! The device API: what a device calls at first boot. Documented in `docs/device-api.md`, with its trust
//! model: what a device must prove to get its plan, and the rate limits here.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ztd_app::BootOutcome;
use ztd_core::Ztdid;

use crate::error::ApiError;
use crate::AppState;
use ztd_api::device::{BootAnswer, BootRequest, PlanBody};
use ztd_core::error::Code;

/// A boot request: a 4K hash is about 5.5 KB of base64; anything much larger is not one.
const MAX_BOOT_BODY: usize = 64 * 1024;
/// Keys a limiter may hold before stale ones are dropped.
const MAX_LIMITER_KEYS: usize = 100_000;

/// Rate limits of the device API. `None` turns a limit off (benchmarks, a lab behind one NAT address).
#[derive(Clone, Debug)]
pub struct DeviceApiConfig {
    /// Boot requests per second from one source address, with a burst of five seconds' worth.
    pub per_source_per_second: Option<NonZeroU32>,
    /// Plans per minute for one registered device (counted only after the device proved its hardware, so a
    /// stranger cannot spend a real device's allowance), with a burst of the same size.
    pub per_device_per_minute: Option<NonZeroU32>,
}

impl Default for DeviceApiConfig {
    fn default() -> Self {
        Self {
            per_source_per_second: NonZeroU32::new(20),
            per_device_per_minute: NonZeroU32::new(12),
        }
    }
}

impl DeviceApiConfig {
    /// No limits.
    pub fn unlimited() -> Self {
        Self {
            per_source_per_second: None,
            per_device_per_minute: None,
        }
    }
}

struct Limits {
    per_source: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_device: Option<DefaultKeyedRateLimiter<Ztdid>>,
}

pub(crate) fn checked<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Duration> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    if limiter.len() > MAX_LIMITER_KEYS {
        limiter.retain_recent();
    }
    limiter
        .check_key(key)
        .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

/// The per-source key: an IPv4 address, or an IPv6 address's /64 (one host usually owns a whole /64, so
/// keying by full address would give it unlimited buckets).
pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// The device routes, with their limits.
pub fn routes(config: &DeviceApiConfig) -> Router<AppState> {
    let limits = Limits {
        per_source: config.per_source_per_second.map(|n| {
            let burst = n.saturating_mul(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN));
            RateLimiter::keyed(Quota::per_second(n).allow_burst(burst))
        }),
        per_device: config
            .per_device_per_minute
            .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(n))),
    };
    Router::new()
        .route("/device/v1/boot", post(boot))
        .layer(DefaultBodyLimit::max(MAX_BOOT_BODY))
        .layer(Extension(Arc::new(limits)))
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = ApiError::new(
        Code::TooManyRequests,
        format!("Too many boot requests; retry after {seconds} s."),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `POST /device/v1/boot {"hardwareHash": "<base64>"}`: 200 with the plan for a registered device that
/// proves its hardware, 404 with `{"status":"notRegistered"}` otherwise (the device continues normal
/// setup), 400 for a hash that does not decode, 429 past a rate limit.
async fn boot(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    request: Request,
) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| source_key(addr.ip()));
    if let Some(ip) = source {
        if let Err(wait) = checked(limits.per_source.as_ref(), &ip) {
            return too_many(wait);
        }
    }
    let Json(body) = match Json::<BootRequest>::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            return ApiError::body_rejected(
                rejection.status(),
                format!(
                    "The body must be {{\"hardwareHash\": \"<base64>\"}} of at most {MAX_BOOT_BODY} bytes: {}",
                    ztd_formats::excerpt_chars(&rejection.body_text(), 200)
                ),
            )
            .into_response()
        }
    };
    let mut wait = None;
    let admit = |ztdid: Ztdid| match checked(limits.per_device.as_ref(), &ztdid) {
        Ok(()) => true,
        Err(retry_after) => {
            wait = Some(retry_after);
            false
        }
    };
    match state
        .app
        .device_boot_admitted(&body.hardware_hash, admit)
        .await
    {
        Ok(BootOutcome::Registered(plan)) => {
            let answer = BootAnswer::Registered(Box::new(PlanBody::from(plan.as_ref())));
            (StatusCode::OK, Json(answer)).into_response()
        }
        Ok(BootOutcome::Deferred) => too_many(wait.unwrap_or(Duration::from_secs(1))),
        Ok(BootOutcome::NotRegistered) => {
            (StatusCode::NOT_FOUND, Json(BootAnswer::not_registered())).into_response()
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}
