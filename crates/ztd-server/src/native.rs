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
        .route(
            "/managedDevices/{device}/commands",
            get(device_commands).post(queue_command),
        )
}

const MANAGED_DEVICES: &str = "DeviceManagementManagedDevices";
/// The most items one queued command may carry, and operations an Atomic or Sequence may hold.
const MAX_COMMAND_ITEMS: usize = 100;
const MAX_COMMAND_OPERATIONS: usize = 50;
/// The longest LocURI a command may name.
const MAX_LOC_URI: usize = 1024;

fn managed_device_id(text: &str) -> ApiResult<ztd_core::ManagedDeviceId> {
    ztd_core::ManagedDeviceId::parse(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{:?} is not a managed device id",
            ztd_formats::excerpt_chars(text, 64)
        ))
    })
}

/// A queued command as ztd's API shows it.
fn command_json(c: &ztd_core::managed::QueuedCommand) -> serde_json::Value {
    serde_json::json!({
        "id": c.id.to_string(),
        "origin": c.origin,
        "command": c.command,
        "state": c.state.as_str(),
        "status": c.status(),
        "outcome": c.outcome,
        "createdDateTime": c.created_at.to_string(),
        "completedDateTime": c.completed_at.map(|t| t.to_string()),
    })
}

/// `GET /ztd/v1/managedDevices/{id}/commands`: the device's last 200 commands, newest first, with the
/// statuses and results the device answered.
async fn device_commands(
    State(state): State<AppState>,
    caller: Caller,
    Path(device): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(MANAGED_DEVICES, Access::Read)?;
    let commands = state
        .app
        .device_commands(caller.tenant_id, managed_device_id(&device)?, 200)
        .await?;
    Ok(Json(serde_json::json!({
        "value": commands.iter().map(command_json).collect::<Vec<_>>()
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueCommand {
    command: ztd_core::managed::MdmCommand,
}

/// `POST /ztd/v1/managedDevices/{id}/commands {"command": …}`: queues an OMA-DM command for the device's
/// next session (a lab's way to send any CSP node).
async fn queue_command(
    State(state): State<AppState>,
    caller: Caller,
    Path(device): Path<String>,
    body: Result<Json<QueueCommand>, JsonRejection>,
) -> ApiResult<(axum::http::StatusCode, Json<serde_json::Value>)> {
    caller.require(MANAGED_DEVICES, Access::Write)?;
    let Json(request) = body.map_err(|rejection| {
        ApiError::body_rejected(
            rejection.status(),
            format!(
                "The command is not valid: {}",
                ztd_formats::excerpt_chars(&rejection.body_text(), 300)
            ),
        )
    })?;
    use ztd_core::managed::MdmCommand;
    let operations = match &request.command {
        MdmCommand::Single(op) => std::slice::from_ref(op),
        MdmCommand::Atomic(ops) | MdmCommand::Sequence(ops) => ops.as_slice(),
    };
    if operations.is_empty() || operations.len() > MAX_COMMAND_OPERATIONS {
        return Err(ApiError::bad_request(format!(
            "A command holds 1 to {MAX_COMMAND_OPERATIONS} operations."
        )));
    }
    for op in operations {
        if op.verb == ztd_core::managed::Verb::Alert {
            return Err(ApiError::bad_request(
                "Alert is what a device reports; queue Get, Add, Replace, Delete or Exec.",
            ));
        }
        if op.items.is_empty() || op.items.len() > MAX_COMMAND_ITEMS {
            return Err(ApiError::bad_request(format!(
                "An operation names 1 to {MAX_COMMAND_ITEMS} nodes."
            )));
        }
        if let Some(bad) = op.items.iter().find(|i| {
            i.target.is_empty() || i.target.len() > MAX_LOC_URI || i.target.starts_with('/')
        }) {
            return Err(ApiError::bad_request(format!(
                "{:?} is not a LocURI: give a node path such as ./Device/Vendor/MSFT/... (at most {MAX_LOC_URI} characters, not starting with /).",
                ztd_formats::excerpt_chars(&bad.target, 64)
            )));
        }
    }
    let queued = state
        .app
        .queue_device_command(
            caller.tenant_id,
            managed_device_id(&device)?,
            request.command,
            ztd_core::managed::CommandOrigin::Admin,
        )
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(command_json(&queued))))
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
