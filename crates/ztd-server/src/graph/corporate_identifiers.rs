//! `importedDeviceIdentities`: corporate device identifiers (manufacturer, model and serial; IMEI; serial).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_app::CorporateIdentifier;
use ztd_core::{TenantId, Timestamp};

use super::body::{self, field};
use super::paging::Row;
use super::{no_content, Ctx, GraphBody, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    let corp = "/deviceManagement/importedDeviceIdentities";
    Router::new()
        .route(corp, get(list_corporate).post(create_corporate))
        .route(
            &format!("{corp}/importDeviceIdentityList"),
            post(import_corporate),
        )
        .route(
            &format!("{corp}/searchExistingIdentities"),
            post(search_corporate),
        )
        .route(
            &format!("{corp}/{{id}}"),
            get(get_corporate).delete(delete_corporate),
        )
}

const CORP_COLLECTION: &str = "deviceManagement/importedDeviceIdentities";
const IDENTIFIER_TYPES: &[&str] = &["unknown", "imei", "serialNumber", "manufacturerModelSerial"];
const PLATFORMS: &[&str] = &[
    "unknown",
    "ios",
    "android",
    "windows",
    "windowsMobile",
    "macOS",
];

fn corporate_json(c: &CorporateIdentifier) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.importedDeviceIdentity",
        "id": c.id,
        "importedDeviceIdentifier": c.identifier,
        "importedDeviceIdentityType": c.identifier_type,
        "lastModifiedDateTime": c.updated_at.to_rfc3339(),
        "createdDateTime": c.created_at.to_rfc3339(),
        "lastContactedDateTime": c.last_contacted_at.unwrap_or(Timestamp::NEVER).to_rfc3339(),
        "description": c.description,
        "enrollmentState": c.enrollment_state,
        "platform": c.platform,
    })
}

fn canonical(list: &[&str], name: &str, value: &str) -> ApiResult<String> {
    list.iter()
        .find(|v| v.eq_ignore_ascii_case(value.trim()))
        .map(|v| (*v).to_string())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "'{value}' is not a valid {name}; expected one of {}.",
                list.join(", ")
            ))
        })
}

/// A declaration from its Graph body; the use case assigns its id and times.
fn parse_corporate(body: &Value, tenant: TenantId) -> ApiResult<CorporateIdentifier> {
    let identifier = body::string(body, &["importedDeviceIdentifier"])?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("importedDeviceIdentifier is required."))?;
    let kind = canonical(
        IDENTIFIER_TYPES,
        "importedDeviceIdentityType",
        &body::string(body, &["importedDeviceIdentityType"])?.unwrap_or_else(|| "unknown".into()),
    )?;
    if kind == "manufacturerModelSerial"
        && identifier
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .count()
            != 3
    {
        return Err(ApiError::bad_request(
            "a manufacturerModelSerial identifier is \"manufacturer,model,serial number\".",
        ));
    }
    let platform = canonical(
        PLATFORMS,
        "platform",
        &body::string(body, &["platform"])?.unwrap_or_else(|| "windows".into()),
    )?;
    Ok(CorporateIdentifier {
        tenant_id: tenant,
        id: String::new(),
        identifier,
        identifier_type: kind,
        platform,
        description: body::string(body, &["description"])?.unwrap_or_default(),
        enrollment_state: "notContacted".into(),
        last_contacted_at: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    })
}

async fn list_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let items = state.app.corporate_identifiers(caller.tenant_id).await?;
    let rows = items
        .iter()
        .map(|c| Row::json(c.id.clone(), corporate_json(c)))
        .collect();
    ctx.page_of(CORP_COLLECTION, rows).await
}

async fn get_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let item = state
        .app
        .corporate_identifier(caller.tenant_id, &id)
        .await?;
    Ok(ctx.entity(StatusCode::OK, CORP_COLLECTION, corporate_json(&item)))
}

async fn create_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let draft = parse_corporate(&body, caller.tenant_id)?;
    let item = state
        .app
        .create_corporate_identifier(caller.tenant_id, draft)
        .await?;
    Ok(ctx.entity(StatusCode::CREATED, CORP_COLLECTION, corporate_json(&item)))
}

async fn delete_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    state
        .app
        .delete_corporate_identifier(caller.tenant_id, &id)
        .await?;
    Ok(no_content())
}

/// The `importedDeviceIdentities` collection of an action's body, each item parsed and checked.
fn identities_in(body: &Value, tenant: TenantId) -> ApiResult<Vec<CorporateIdentifier>> {
    let Some(Value::Array(items)) = field(body, "importedDeviceIdentities") else {
        return Err(ApiError::bad_request(
            "importedDeviceIdentities (a collection) is required.",
        ));
    };
    items
        .iter()
        .map(|item| parse_corporate(item, tenant))
        .collect()
}

/// `importDeviceIdentityList {importedDeviceIdentities, overwriteImportedDeviceIdentities}`: 200 with one
/// `importedDeviceIdentityResult` per item (`status` false for an existing one kept as it was).
async fn import_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let parsed = identities_in(&body, caller.tenant_id)?;
    let overwrite = body::boolean(&body, &["overwriteImportedDeviceIdentities"])?.unwrap_or(false);
    let stored = state
        .app
        .import_corporate_identifiers(caller.tenant_id, parsed, overwrite)
        .await?;
    let results = stored
        .iter()
        .map(|(item, status)| {
            let mut v = corporate_json(item);
            if let Value::Object(map) = &mut v {
                map.insert(
                    "@odata.type".into(),
                    json!("#microsoft.graph.importedDeviceIdentityResult"),
                );
                map.insert("status".into(), Value::Bool(*status));
            }
            v
        })
        .collect();
    Ok(ctx.collection(
        "Collection(microsoft.graph.importedDeviceIdentityResult)",
        results,
        None,
        None,
    ))
}

/// `searchExistingIdentities {importedDeviceIdentities}`: the ones already declared.
async fn search_corporate(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let probes = identities_in(&body, caller.tenant_id)?;
    let found = state
        .app
        .find_corporate_identifiers(caller.tenant_id, &probes)
        .await?;
    Ok(ctx.collection(
        "Collection(microsoft.graph.importedDeviceIdentity)",
        found.iter().map(corporate_json).collect(),
        None,
        None,
    ))
}
