//! The device API: what a device calls at first boot. Documented in `docs/device-api.md`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use ztd_app::BootOutcome;

use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootRequest {
    pub hardware_hash: String,
}

/// `POST /device/v1/boot {"hardwareHash": "<base64>"}`: 200 with the plan for a registered device, 404 with
/// `{"status":"notRegistered"}` for an unregistered one (the device continues normal setup), 400 for a
/// hash that does not decode.
pub async fn boot(State(state): State<AppState>, Json(request): Json<BootRequest>) -> Response {
    match state.app.device_boot(&request.hardware_hash).await {
        Ok(outcome @ BootOutcome::Registered(_)) => (StatusCode::OK, Json(outcome)).into_response(),
        Ok(outcome @ BootOutcome::NotRegistered { .. }) => {
            (StatusCode::NOT_FOUND, Json(outcome)).into_response()
        }
        Err(err) => ApiError::from(err).into_response(),
    }
}
