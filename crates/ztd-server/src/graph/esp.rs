//! `deviceEnrollmentConfigurations` of the Enrollment Status Page type: the built-in default, created ones,
//! their priority order and their group assignments.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_core::esp::{EspConfiguration, EspSettings};
use ztd_core::profile::AssignmentTarget;
use ztd_core::Timestamp;

use super::body::{self, field};
use super::paging::Row;
use super::profiles::{parse_target, target_json};
use super::{no_content, Ctx, GraphBody, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const ESP_COLLECTION: &str = "deviceManagement/deviceEnrollmentConfigurations";
const ESP_TYPE: &str = "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration";

pub fn routes() -> Router<AppState> {
    let esp = "/deviceManagement/deviceEnrollmentConfigurations";
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
            get(list_esp_assignments).post(create_esp_assignment),
        )
        .route(
            &format!("{esp}/{{id}}/assignments/{{assignment}}"),
            get(get_esp_assignment).delete(delete_esp_assignment),
        )
}

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
        "roleScopeTagIds": e.role_scope_tag_ids,
        "deviceEnrollmentConfigurationType": "windows10EnrollmentCompletionPageConfiguration",
        "showInstallationProgress": s.show_installation_progress,
        "blockDeviceSetupRetryByUser": s.block_device_setup_retry_by_user,
        "allowDeviceResetOnInstallFailure": s.allow_device_reset_on_install_failure,
        "allowLogCollectionOnInstallFailure": s.allow_log_collection_on_install_failure,
        // The service writes an unset message as "", not null.
        "customErrorMessage": s.custom_error_message.as_deref().unwrap_or(""),
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
    if let Some(ids) = body::strings(body, &["roleScopeTagIds"])? {
        e.role_scope_tag_ids = ids;
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
        .map(|e| Row::json(e.id.clone(), with_assignments(esp_json(e, &ctx), e, &ctx)))
        .collect();
    ctx.page_of(ESP_COLLECTION, rows).await
}

fn with_assignments(mut v: Value, e: &EspConfiguration, ctx: &Ctx) -> Value {
    if ctx.query.expands("assignments") {
        if let Value::Object(map) = &mut v {
            map.insert(
                "assignments".into(),
                Value::Array(esp_assignments(e, ctx.version.is_beta())),
            );
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

fn esp_assignments(e: &EspConfiguration, beta: bool) -> Vec<Value> {
    e.assignments
        .iter()
        .map(|t| {
            json!({
                "id": esp_assignment_id(&e.id, *t), "source": "direct", "sourceId": e.id,
                "target": target_json(*t, e.filter_of(*t).as_ref(), beta),
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
        assignment_filters: Vec::new(),
        role_scope_tag_ids: vec![ztd_core::scope::DEFAULT_SCOPE_TAG_ID.into()],
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

/// PATCH: 200 with the updated configuration, as its update page documents.
async fn update_esp(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    require_esp_type(&body, false)?;
    let mut e = state.app.esp(caller.tenant_id, &id).await?;
    apply_esp(&mut e, &body)?;
    let updated = state.app.update_esp(caller.tenant_id, e).await?;
    Ok(ctx.entity(StatusCode::OK, ESP_COLLECTION, esp_json(&updated, &ctx)))
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
        let filter = super::scope::filter_of(target)?;
        let target = parse_target(target)?;
        if !targets.iter().any(|(t, _)| *t == target) {
            targets.push((target, filter));
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
        esp_assignments(&e, ctx.version.is_beta()),
        None,
        None,
    ))
}

/// `POST …/assignments {"target": …}`: 201 with the assignment, as its create page documents.
async fn create_esp_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let target =
        field(&body, "target").ok_or_else(|| ApiError::bad_request("target is required."))?;
    let filter = super::scope::filter_of(target)?;
    let target = parse_target(target)?;
    let e = state
        .app
        .add_esp_assignment(caller.tenant_id, &id, target, filter)
        .await?;
    let wanted = esp_assignment_id(&e.id, target);
    let item = esp_assignments(&e, ctx.version.is_beta())
        .into_iter()
        .find(|a| a["id"] == wanted.as_str())
        .unwrap_or(Value::Null);
    Ok(ctx.entity(
        StatusCode::CREATED,
        &format!("{ESP_COLLECTION}('{id}')/assignments"),
        item,
    ))
}

/// `DELETE …/assignments/{id}`: 204.
async fn delete_esp_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let e = state.app.esp(caller.tenant_id, &id).await?;
    let target = e
        .assignments
        .iter()
        .copied()
        .find(|t| esp_assignment_id(&e.id, *t).eq_ignore_ascii_case(&assignment))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "enrollmentConfigurationAssignment {assignment} was not found"
            ))
        })?;
    state
        .app
        .remove_esp_assignment(caller.tenant_id, &id, target)
        .await?;
    Ok(no_content())
}

async fn get_esp_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    let e = state.app.esp(caller.tenant_id, &id).await?;
    let item = esp_assignments(&e, ctx.version.is_beta())
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
