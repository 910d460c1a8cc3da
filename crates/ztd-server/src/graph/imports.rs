//! `deviceManagement/importedWindowsAutopilotDeviceIdentities`: registration by hardware hash, processed
//! asynchronously by the import worker (`ztd_app::graph_imports`). Records read `unknown` while queued, as
//! clients expect (they poll while `unknown`), then `complete` with `deviceRegistrationId` = the ZTDID, or
//! `error` with `deviceErrorCode`/`deviceErrorName`.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use ztd_app::graph_imports::NewImport;
use ztd_app::ImportQuery;
use ztd_core::import::{ImportRecord, ImportStatus};
use ztd_core::ImportId;

use super::body::{self, field};
use super::paging::Row;
use super::{no_content, Ctx, GraphBody, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const COLLECTION: &str = "deviceManagement/importedWindowsAutopilotDeviceIdentities";
/// The most records one `import` call takes (Intune's CSV limit).
pub const MAX_IMPORT: usize = 500;
/// The longest hardware hash in base64: the hash format's own maximum, far above real hashes (about 4,000
/// characters).
const MAX_HASH_BASE64: usize = ztd_hwhash::MAX_SIGNED_LEN.div_ceil(3) * 4;
/// One record's JSON besides its hash, as the most verbose client sends it: `@odata.type`, every property
/// at the longest ztd accepts, indented.
const MAX_RECORD_OVERHEAD: usize = 4096;
/// The body of the largest `import` the service takes: [`MAX_IMPORT`] records with the longest hashes
/// (about 44 MiB). Only callers that passed authentication get to send it.
pub const MAX_IMPORT_BODY: usize = MAX_IMPORT * (MAX_HASH_BASE64 + MAX_RECORD_OVERHEAD) + 4096;

const PROPS: &[&str] = &[
    "@odata.type",
    "id",
    "orderIdentifier",
    "serialNumber",
    "productKey",
    "importId",
    "hardwareIdentifier",
    "groupTag",
    "assignedUserPrincipalName",
    "state",
];

pub fn routes() -> Router<AppState> {
    let base = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
    Router::new()
        .route(base, get(list).post(create))
        .route(
            &format!("{base}/import"),
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BODY)),
        )
        .route(&format!("{base}/{{id}}"), get(get_one).delete(delete))
}

/// A record as Graph serialises it. `pending` reads as `unknown`: that is what clients poll on.
fn import_json(r: &ImportRecord) -> Value {
    let status = match r.status {
        ImportStatus::Pending => ImportStatus::Unknown,
        other => other,
    };
    json!({
        "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
        "id": r.id.to_string(),
        "groupTag": r.group_tag,
        "serialNumber": r.serial_number,
        "productKey": r.product_key,
        "importId": r.batch_id,
        "hardwareIdentifier": r.hardware_hash,
        "assignedUserPrincipalName": r.assigned_user_principal_name,
        "state": {
            "deviceImportStatus": status.as_str(),
            "deviceRegistrationId": r.ztdid.map(|z| z.to_string()).unwrap_or_default(),
            "deviceErrorCode": r.error_code,
            "deviceErrorName": r.error_name,
        },
    })
}

/// Reads one import from a body. The hash must be base64 (Graph's `Edm.Binary`); whether it is a valid
/// hardware hash is the worker's decision (802 `InvalidZtdHardwareHash`).
fn parse_import(body: &Value) -> ApiResult<NewImport> {
    if !body.is_object() {
        return Err(ApiError::bad_request("Each import must be a JSON object."));
    }
    let hash = body::string(body, &["hardwareIdentifier"])?.unwrap_or_default();
    let trimmed = hash.trim();
    if trimmed.len() > MAX_HASH_BASE64 {
        return Err(ApiError::bad_request(format!(
            "hardwareIdentifier has {} characters; a hardware hash has at most {MAX_HASH_BASE64} in base64.",
            trimmed.len()
        )));
    }
    if !trimmed.is_empty() {
        let ok = base64::engine::general_purpose::STANDARD
            .decode(trimmed)
            .is_ok()
            || base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trimmed.trim_end_matches('='))
                .is_ok();
        if !ok {
            let shown: String = trimmed.chars().take(40).collect();
            return Err(ApiError::bad_request(format!(
                "Cannot convert the literal '{shown}…' to the expected type 'Edm.Binary'."
            )));
        }
    }
    Ok(NewImport {
        batch_id: body::string(body, &["importId"])?.unwrap_or_default(),
        serial_number: body::string(body, &["serialNumber"])?.unwrap_or_default(),
        product_key: body::string(body, &["productKey"])?.unwrap_or_default(),
        hardware_hash: trimmed.to_string(),
        group_tag: body::string(body, &["groupTag", "orderIdentifier"])?.unwrap_or_default(),
        assigned_user_principal_name: body::string(body, &["assignedUserPrincipalName"])?
            .unwrap_or_default(),
    })
}

fn import_id(id: &str) -> ApiResult<ImportId> {
    ImportId::parse(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "importedWindowsAutopilotDeviceIdentity {id} was not found"
        ))
    })
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.query.validate(PROPS, &[])?;
    let query = ImportQuery {
        serial_contains: ctx
            .query
            .filter
            .as_ref()
            .and_then(|f| f.required_substring("serialNumber")),
        ..Default::default()
    };
    let records = state.app.import_records(caller.tenant_id, &query).await?;
    let rows = records
        .iter()
        .map(|r| Row::json(r.id.to_string(), import_json(r)))
        .collect();
    ctx.page_of(COLLECTION, rows).await
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.query.validate(PROPS, &[])?;
    let record = state
        .app
        .import_record(caller.tenant_id, import_id(&id)?)
        .await?;
    Ok(ctx.entity(StatusCode::OK, COLLECTION, import_json(&record)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let new = parse_import(&body)?;
    let mut records = state
        .app
        .enqueue_imports(caller.tenant_id, vec![new])
        .await?;
    let record = records
        .pop()
        .ok_or_else(|| ApiError::bad_request("nothing to import"))?;
    Ok(ctx.entity(StatusCode::CREATED, COLLECTION, import_json(&record)))
}

/// `import {"importedWindowsAutopilotDeviceIdentities":[...]}`: 200 with the queued records.
async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let Some(Value::Array(items)) = field(&body, "importedWindowsAutopilotDeviceIdentities") else {
        return Err(ApiError::bad_request(
            "importedWindowsAutopilotDeviceIdentities (a collection) is required.",
        ));
    };
    if items.len() > MAX_IMPORT {
        return Err(ApiError::bad_request(format!(
            "{} devices in one import; send at most {MAX_IMPORT} per call.",
            items.len()
        )));
    }
    let new = items
        .iter()
        .map(parse_import)
        .collect::<ApiResult<Vec<_>>>()?;
    let records = state.app.enqueue_imports(caller.tenant_id, new).await?;
    Ok(ctx.collection(
        COLLECTION,
        records.iter().map(import_json).collect(),
        None,
        None,
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    state
        .app
        .delete_import_record(caller.tenant_id, import_id(&id)?)
        .await?;
    Ok(no_content())
}
