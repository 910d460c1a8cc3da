//! ztd's own admin API, for what Graph has no call for: synchronous bulk registration with a per-row
//! report, the explanation of a device, the offline profile file. Same tokens and roles as the Graph API.

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ztd_api::native::{DeviceExplanation, ImportRequest, ImportResponse};
use ztd_core::ProfileId;

use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The most rows one import call takes; the CLI streams bigger files in batches of this size or less.
pub const MAX_IMPORT_BATCH: usize = 5_000;
/// Enough for a full batch of the largest hashes with room for JSON overhead.
const MAX_IMPORT_BODY_BYTES: usize = 64 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenant", get(tenant))
        // A full batch of 4K hashes is about 4 KB a row; the default 2 MB limit would cap batches at ~500 rows.
        .route(
            "/import",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY_BYTES)),
        )
        .route("/devices/{device}/explain", get(explain))
        .route("/profiles/{profile}/export", get(export))
}

const SERVICE_CONFIG: &str = "DeviceManagementServiceConfig";

async fn tenant(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ztd_core::tenant::Tenant>> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    Ok(Json(state.app.tenant(caller.tenant_id).await?))
}

/// `POST /ztd/v1/import {"rows":[...]}`: registers the rows in one transaction and reports every row.
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<ImportRequest>, JsonRejection>,
) -> ApiResult<Json<ImportResponse>> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    // Body errors in the same error shape as every other answer (413 for an oversized batch).
    let Json(request) = body.map_err(|rejection| {
        ApiError::body_rejected(
            rejection.status(),
            format!(
                "The import body is not valid: {}",
                ztd_formats::excerpt_chars(&rejection.body_text(), 300)
            ),
        )
    })?;
    if request.rows.len() > MAX_IMPORT_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} rows in one call; send at most {MAX_IMPORT_BATCH} per call",
            request.rows.len()
        )));
    }
    let outcomes = state
        .app
        .import_devices(caller.tenant_id, &request.rows)
        .await?;
    Ok(Json(ImportResponse { outcomes }))
}

/// `GET /ztd/v1/devices/{serial or ZTDID}/explain`.
async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    Path(device): Path<String>,
) -> ApiResult<Json<DeviceExplanation>> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    Ok(Json(
        state.app.explain_device(caller.tenant_id, &device).await?,
    ))
}

/// `GET /ztd/v1/profiles/{id}/export`: `AutopilotConfigurationFile.json`, byte for byte.
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(profile): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    let id = ProfileId::parse(&profile)
        .ok_or_else(|| ApiError::bad_request(format!("{profile:?} is not a profile id")))?;
    let bytes = state.app.export_profile(caller.tenant_id, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=us-ascii"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"AutopilotConfigurationFile.json\"",
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}
