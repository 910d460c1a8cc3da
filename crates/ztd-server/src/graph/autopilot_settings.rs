//! `windowsAutopilotSettings` and its manual `sync` (one at a time per tenant, throttled).

use std::sync::Arc;

use axum::Extension;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_app::{SyncPolicy, SyncState, SyncTrigger};
use ztd_core::Timestamp;

use super::{no_content, Ctx, GraphConfig, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use ztd_core::error::Code;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/deviceManagement/windowsAutopilotSettings",
            get(get_settings),
        )
        .route(
            "/deviceManagement/windowsAutopilotSettings/sync",
            post(sync),
        )
}

/// The sync timings of this server, in the form the use cases take.
fn sync_policy(config: &GraphConfig) -> SyncPolicy {
    let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    SyncPolicy {
        duration_ms: millis(config.sync_duration),
        throttle_ms: millis(config.sync_throttle),
    }
}

fn sync_state_json(state: &SyncState) -> Value {
    let never = Timestamp::NEVER;
    json!({
        "lastSyncDateTime": state.last_sync.unwrap_or(never).to_rfc3339(),
        "lastManualSyncTriggerDateTime": state.last_trigger.unwrap_or(never).to_rfc3339(),
        "syncStatus": state.status.as_str(),
    })
}

async fn get_settings(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<GraphConfig>>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let sync = state
        .app
        .autopilot_sync_state(caller.tenant_id, sync_policy(&config))
        .await?;
    let mut v = sync_state_json(&sync);
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), Value::String(caller.tenant_id.to_string()));
    }
    Ok(ctx.entity(
        StatusCode::OK,
        "deviceManagement/windowsAutopilotSettings",
        v,
    ))
}

/// `sync`: 204; 409 while a sync runs; 429 (with `Retry-After`) within the throttle window of the previous.
async fn sync(
    State(state): State<AppState>,
    Extension(config): Extension<Arc<GraphConfig>>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let policy = sync_policy(&config);
    match state
        .app
        .trigger_autopilot_sync(caller.tenant_id, policy)
        .await?
    {
        SyncTrigger::Started => Ok(no_content()),
        SyncTrigger::AlreadyRunning => Err(ApiError::new(
            Code::Conflict,
            "A sync is already in progress; wait for it to complete.",
        )),
        SyncTrigger::Throttled { retry_after_secs } => {
            let mut response = ApiError::new(Code::TooManyRequests, format!(
                    "A sync was triggered less than {} seconds ago; retry after {retry_after_secs} seconds.",
                    policy.throttle_ms / 1000
                ),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
            Ok(response)
        }
    }
}
