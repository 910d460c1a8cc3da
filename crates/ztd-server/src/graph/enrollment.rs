//! Enrollment resources: `deviceEnrollmentConfigurations` (the ESP type), `windowsAutopilotSettings` and its
//! `sync`, `importedDeviceIdentities` (corporate identifiers) and `autopilotEvents`.

use std::sync::Arc;

use axum::Extension;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_app::{CorporateIdentifier, SyncPolicy, SyncState, SyncTrigger};
use ztd_core::esp::{EspConfiguration, EspSettings};
use ztd_core::profile::AssignmentTarget;
use ztd_core::{TenantId, Timestamp};

use super::body::{self, field};
use super::paging::{self, Row, VecSource};
use super::profiles::{parse_target, target_json};
use super::{no_content, Ctx, GraphBody, GraphConfig, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const ESP_COLLECTION: &str = "deviceManagement/deviceEnrollmentConfigurations";
const ESP_TYPE: &str = "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration";

pub fn routes() -> Router<AppState> {
    let esp = "/deviceManagement/deviceEnrollmentConfigurations";
    let corp = "/deviceManagement/importedDeviceIdentities";
    Router::new()
        .route(esp, get(list_esps).post(create_esp))
        .route(
            &format!("{esp}/{{id}}"),
            get(get_esp).patch(update_esp).delete(delete_esp),
        )
        .route(&format!("{esp}/{{id}}/assign"), post(assign_esp))
        .route(&format!("{esp}/{{id}}/setPriority"), post(set_priority))
        .route(
            &format!("{esp}/{{id}}/assignments"),
            get(list_esp_assignments),
        )
        .route(
            &format!("{esp}/{{id}}/assignments/{{assignment}}"),
            get(get_esp_assignment),
        )
        .route(
            "/deviceManagement/windowsAutopilotSettings",
            get(get_settings),
        )
        .route(
            "/deviceManagement/windowsAutopilotSettings/sync",
            post(sync),
        )
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
        .route("/deviceManagement/autopilotEvents", get(list_events))
        .route("/deviceManagement/autopilotEvents/{id}", get(get_event))
}

// ESP -------------------------------------------------------------------------------------------------

/// Intune shows its built-in default ESP as created at the minimum date; ztd keeps the real creation time
/// (the tenant's) and shows it the way Intune does.
fn created_date_time(e: &EspConfiguration) -> String {
    if e.is_default() {
        Timestamp::NEVER.to_rfc3339()
    } else {
        e.created_at.to_rfc3339()
    }
}

fn esp_json(e: &EspConfiguration, ctx: &Ctx) -> Value {
    let s = &e.settings;
    if !ctx.version.is_beta() {
        return json!({
            "@odata.type": ESP_TYPE,
            "id": e.id, "displayName": e.display_name, "description": e.description, "priority": e.priority,
            "createdDateTime": created_date_time(e), "lastModifiedDateTime": e.updated_at.to_rfc3339(),
            "version": 1,
            "allowNonBlockingAppInstallation": s.allow_non_blocking_app_installation,
        });
    }
    json!({
        "@odata.type": ESP_TYPE,
        "id": e.id,
        "displayName": e.display_name,
        "description": e.description,
        "priority": e.priority,
        "createdDateTime": created_date_time(e),
        "lastModifiedDateTime": e.updated_at.to_rfc3339(),
        "version": 1,
        "roleScopeTagIds": if e.is_default() { json!([]) } else { json!(["0"]) },
        "deviceEnrollmentConfigurationType": "windows10EnrollmentCompletionPageConfiguration",
        "showInstallationProgress": s.show_installation_progress,
        "blockDeviceSetupRetryByUser": s.block_device_setup_retry_by_user,
        "allowDeviceResetOnInstallFailure": s.allow_device_reset_on_install_failure,
        "allowLogCollectionOnInstallFailure": s.allow_log_collection_on_install_failure,
        "customErrorMessage": s.custom_error_message,
        "installProgressTimeoutInMinutes": s.install_progress_timeout_in_minutes,
        "allowDeviceUseOnInstallFailure": s.allow_device_use_on_install_failure,
        "selectedMobileAppIds": s.selected_mobile_app_ids,
        "allowNonBlockingAppInstallation": s.allow_non_blocking_app_installation,
        "installQualityUpdates": s.install_quality_updates,
        "trackInstallProgressForAutopilotOnly": s.track_install_progress_for_autopilot_only,
        "disableUserStatusTrackingAfterFirstUser": s.disable_user_status_tracking_after_first_user,
    })
}

const ESP_PROPS: &[&str] = &[
    "@odata.type",
    "id",
    "displayName",
    "description",
    "priority",
    "createdDateTime",
    "lastModifiedDateTime",
    "version",
    "roleScopeTagIds",
    "deviceEnrollmentConfigurationType",
    "showInstallationProgress",
    "blockDeviceSetupRetryByUser",
    "allowDeviceResetOnInstallFailure",
    "allowLogCollectionOnInstallFailure",
    "customErrorMessage",
    "installProgressTimeoutInMinutes",
    "allowDeviceUseOnInstallFailure",
    "selectedMobileAppIds",
    "allowNonBlockingAppInstallation",
    "installQualityUpdates",
    "trackInstallProgressForAutopilotOnly",
    "disableUserStatusTrackingAfterFirstUser",
];

/// Applies an ESP body onto `e` (strings for booleans and numbers accepted; read-only fields ignored).
fn apply_esp(e: &mut EspConfiguration, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    if let Some(v) = body::string(body, &["displayName"])? {
        e.display_name = v;
    }
    if let Some(v) = body::string(body, &["description"])? {
        e.description = v;
    }
    let s: &mut EspSettings = &mut e.settings;
    let flags: [(&str, &mut bool); 9] = [
        (
            "showInstallationProgress",
            &mut s.show_installation_progress,
        ),
        (
            "blockDeviceSetupRetryByUser",
            &mut s.block_device_setup_retry_by_user,
        ),
        (
            "allowDeviceResetOnInstallFailure",
            &mut s.allow_device_reset_on_install_failure,
        ),
        (
            "allowLogCollectionOnInstallFailure",
            &mut s.allow_log_collection_on_install_failure,
        ),
        (
            "allowDeviceUseOnInstallFailure",
            &mut s.allow_device_use_on_install_failure,
        ),
        (
            "allowNonBlockingAppInstallation",
            &mut s.allow_non_blocking_app_installation,
        ),
        ("installQualityUpdates", &mut s.install_quality_updates),
        (
            "trackInstallProgressForAutopilotOnly",
            &mut s.track_install_progress_for_autopilot_only,
        ),
        (
            "disableUserStatusTrackingAfterFirstUser",
            &mut s.disable_user_status_tracking_after_first_user,
        ),
    ];
    for (name, slot) in flags {
        if let Some(v) = body::boolean(body, &[name])? {
            *slot = v;
        }
    }
    if let Some(field) = field(body, "customErrorMessage") {
        s.custom_error_message = field.as_str().map(str::to_string);
    }
    if let Some(v) = body::int32(body, &["installProgressTimeoutInMinutes"])? {
        s.install_progress_timeout_in_minutes = v;
    }
    if let Some(v) = body::strings(body, &["selectedMobileAppIds"])? {
        s.selected_mobile_app_ids = v;
    }
    Ok(())
}

fn require_esp_type(body: &Value, required: bool) -> ApiResult<()> {
    match body::odata_type(body).as_deref() {
        Some("windows10enrollmentcompletionpageconfiguration") => Ok(()),
        None if !required => Ok(()),
        None => Err(ApiError::bad_request(format!(
            "deviceEnrollmentConfiguration is abstract: the body must carry @odata.type ({ESP_TYPE})."
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "ztd serves Enrollment Status Page configurations only; '{other}' is not supported."
        ))),
    }
}

async fn list_esps(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.query.validate(ESP_PROPS, &["assignments"])?;
    let esps = state.app.esps(caller.tenant_id).await?;
    let rows = esps
        .iter()
        .map(|e| Row {
            id: e.id.clone(),
            json: with_assignments(esp_json(e, &ctx), e, &ctx),
            item: (),
        })
        .collect();
    ctx.page_of(ESP_COLLECTION, rows).await
}

fn with_assignments(mut v: Value, e: &EspConfiguration, ctx: &Ctx) -> Value {
    if ctx.query.expands("assignments") {
        if let Value::Object(map) = &mut v {
            map.insert("assignments".into(), Value::Array(esp_assignments(e)));
        }
    }
    v
}

fn esp_assignment_id(esp: &str, target: AssignmentTarget) -> String {
    match target {
        AssignmentTarget::AllDevices => {
            format!("{esp}_{}", ztd_core::profile::ALL_DEVICES_GROUP_ID)
        }
        AssignmentTarget::Group(g) => format!("{esp}_{g}"),
        AssignmentTarget::ExcludeGroup(g) => format!("{esp}_{g}_exclude"),
    }
}

fn esp_assignments(e: &EspConfiguration) -> Vec<Value> {
    e.assignments
        .iter()
        .map(|t| {
            json!({
                "id": esp_assignment_id(&e.id, *t), "source": "direct", "sourceId": e.id, "target": target_json(*t),
            })
        })
        .collect()
}

async fn get_esp(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.query.validate(ESP_PROPS, &["assignments"])?;
    let e = state.app.esp(caller.tenant_id, &id).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        ESP_COLLECTION,
        with_assignments(esp_json(&e, &ctx), &e, &ctx),
    ))
}

async fn create_esp(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    require_esp_type(&body, true)?;
    let mut draft = EspConfiguration {
        tenant_id: caller.tenant_id,
        id: String::new(),
        display_name: String::new(),
        description: String::new(),
        priority: body::int32(&body, &["priority"])?.unwrap_or(0),
        settings: EspSettings::default(),
        assignments: Vec::new(),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    apply_esp(&mut draft, &body)?;
    let created = state.app.create_esp(caller.tenant_id, draft).await?;
    Ok(ctx.entity(
        StatusCode::CREATED,
        ESP_COLLECTION,
        esp_json(&created, &ctx),
    ))
}

async fn update_esp(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    require_esp_type(&body, false)?;
    let mut e = state.app.esp(caller.tenant_id, &id).await?;
    apply_esp(&mut e, &body)?;
    state.app.update_esp(caller.tenant_id, e).await?;
    Ok(no_content())
}

async fn delete_esp(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    state.app.delete_esp(caller.tenant_id, &id).await?;
    Ok(no_content())
}

/// `assign {"enrollmentConfigurationAssignments":[...]}`: replaces the assignment set (204).
async fn assign_esp(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let Some(Value::Array(items)) = field(&body, "enrollmentConfigurationAssignments") else {
        return Err(ApiError::bad_request(
            "enrollmentConfigurationAssignments (a collection) is required.",
        ));
    };
    let mut targets = Vec::new();
    for item in items {
        let target = field(item, "target").ok_or_else(|| {
            ApiError::bad_request("enrollmentConfigurationAssignments[].target is required.")
        })?;
        let target = parse_target(target)?;
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    state.app.assign_esp(caller.tenant_id, &id, targets).await?;
    Ok(no_content())
}

async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let priority = body::int32(&body, &["priority"])?
        .ok_or_else(|| ApiError::bad_request("priority is required."))?;
    state
        .app
        .set_esp_priority(caller.tenant_id, &id, priority)
        .await?;
    Ok(no_content())
}

async fn list_esp_assignments(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    let e = state.app.esp(caller.tenant_id, &id).await?;
    Ok(ctx.collection(
        &format!("{ESP_COLLECTION}('{id}')/assignments"),
        esp_assignments(&e),
        None,
        None,
    ))
}

async fn get_esp_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    let e = state.app.esp(caller.tenant_id, &id).await?;
    let item = esp_assignments(&e)
        .into_iter()
        .find(|a| {
            a["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&assignment))
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "enrollmentConfigurationAssignment {assignment} was not found"
            ))
        })?;
    Ok(ctx.entity(
        StatusCode::OK,
        &format!("{ESP_COLLECTION}('{id}')/assignments"),
        item,
    ))
}

// windowsAutopilotSettings ----------------------------------------------------------------------------

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
            StatusCode::CONFLICT,
            "Conflict",
            "A sync is already in progress; wait for it to complete.",
        )),
        SyncTrigger::Throttled { retry_after_secs } => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!(
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

// importedDeviceIdentities (corporate identifiers) ------------------------------------------------------

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
        .map(|c| Row {
            id: c.id.clone(),
            json: corporate_json(c),
            item: (),
        })
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
    let Some(Value::Array(items)) = field(&body, "importedDeviceIdentities") else {
        return Err(ApiError::bad_request(
            "importedDeviceIdentities (a collection) is required.",
        ));
    };
    let overwrite = body::boolean(&body, &["overwriteImportedDeviceIdentities"])?.unwrap_or(false);
    let parsed = items
        .iter()
        .map(|i| parse_corporate(i, caller.tenant_id))
        .collect::<ApiResult<Vec<_>>>()?;
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
    let Some(Value::Array(items)) = field(&body, "importedDeviceIdentities") else {
        return Err(ApiError::bad_request(
            "importedDeviceIdentities (a collection) is required.",
        ));
    };
    let probes = items
        .iter()
        .map(|item| parse_corporate(item, caller.tenant_id))
        .collect::<ApiResult<Vec<_>>>()?;
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

// autopilotEvents -------------------------------------------------------------------------------------

/// How many of the newest events `autopilotEvents` reads.
const MAX_EVENTS: u32 = 10_000;

/// Builds `deviceManagementAutopilotEvent`s from ztd's `device.contacted` events (a device fetched its
/// provisioning plan at first boot): deployment started and the profile delivered.
async fn events(state: &AppState, tenant: TenantId) -> ApiResult<Vec<(String, Value)>> {
    let contacts = state.app.device_contacts(tenant, MAX_EVENTS).await?;
    let mut out = Vec::with_capacity(contacts.len());
    for ztd_app::DeviceContact {
        event,
        device,
        profile_name,
    } in contacts
    {
        let profile_id = event
            .data
            .get("profileId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let at = event.at.to_rfc3339();
        let v = json!({
            "id": event.id.to_string(),
            "deviceId": "",
            "eventDateTime": at,
            "deviceRegisteredDateTime": device.as_ref().map(|d| d.created_at.to_rfc3339()).unwrap_or_else(|| Timestamp::NEVER.to_rfc3339()),
            "enrollmentStartDateTime": at,
            "enrollmentType": if profile_id.is_empty() { "unknown" } else { "azureADJoinedWithAutopilotProfile" },
            "deviceSerialNumber": device.as_ref().map(|d| d.serial_number.clone()).unwrap_or_default(),
            "managedDeviceName": event.data.get("deviceName").and_then(Value::as_str).unwrap_or_default(),
            "userPrincipalName": device.as_ref().map(|d| d.user_principal_name.clone()).unwrap_or_default(),
            "windowsAutopilotDeploymentProfileDisplayName": profile_name.unwrap_or_default(),
            "enrollmentState": "notContacted",
            "windows10EnrollmentCompletionPageConfigurationDisplayName": "",
            "deploymentState": "inProgress",
            "deviceSetupStatus": "inProgress",
            "accountSetupStatus": "notAttempted",
            "deploymentStartDateTime": at,
            "deploymentEndDateTime": Timestamp::NEVER.to_rfc3339(),
            "deploymentDuration": "PT0S",
            "deploymentTotalDuration": "PT0S",
            "deviceSetupDuration": "PT0S",
            "accountSetupDuration": "PT0S",
            "targetedAppCount": 0,
            "targetedPolicyCount": 0,
            "enrollmentFailureDetails": null,
            "osVersion": "",
            "autopilotDeviceId": event.subject,
        });
        out.push((event.id.to_string(), v));
    }
    Ok(out)
}

async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let rows = events(&state, caller.tenant_id)
        .await?
        .into_iter()
        .map(|(id, json)| Row { id, json, item: () })
        .collect();
    let mut query = ctx.query.clone();
    if query.order_by.is_empty() {
        // Newest first, as the service lists them.
        query.order_by.push(("eventDateTime".into(), true));
    }
    let page = paging::page(&query, &mut VecSource::new(rows)).await?;
    let items = page.rows.into_iter().map(|r| r.json).collect();
    Ok(ctx.collection(
        "deviceManagement/autopilotEvents",
        items,
        page.next,
        page.count,
    ))
}

async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let item = events(&state, caller.tenant_id)
        .await?
        .into_iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(&id))
        .map(|(_, v)| v)
        .ok_or_else(|| {
            ApiError::not_found(format!("deviceManagementAutopilotEvent {id} was not found"))
        })?;
    Ok(ctx.entity(StatusCode::OK, "deviceManagement/autopilotEvents", item))
}
