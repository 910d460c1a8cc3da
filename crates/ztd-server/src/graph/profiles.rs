//! `deviceManagement/windowsAutopilotDeploymentProfiles` (beta): both subtypes, their assignments and the
//! `assign` action.
//!
//! ztd keeps one canonical value per setting and maps Graph's two generations of names: on read both are
//! emitted (`locale` and `language`, `outOfBoxExperienceSetting` and `outOfBoxExperienceSettings`, ...), on
//! write either is accepted. When a body carries both and they disagree (a client that GETs the profile,
//! edits the old names and PATCHes the whole object back), the one that differs from the stored value is
//! the edit and wins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_core::profile::{
    AssignmentTarget, DeploymentProfile, DeviceType, DeviceUsageType, JoinType, OobeSettings,
    ProfileAssignment, UserType,
};
use ztd_core::scope::FilterRef;
use ztd_core::{GroupId, ProfileId, TenantId, Timestamp, Ztdid};

use super::body::{self, field, field_any};
use super::paging::Row;
use super::{no_content, Ctx, GraphBody, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub(super) const COLLECTION: &str = "deviceManagement/windowsAutopilotDeploymentProfiles";
const AZURE_AD_TYPE: &str = "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile";
const HYBRID_TYPE: &str = "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile";

const PROPS: &[&str] = &[
    "@odata.type",
    "id",
    "displayName",
    "description",
    "language",
    "locale",
    "createdDateTime",
    "lastModifiedDateTime",
    "outOfBoxExperienceSettings",
    "outOfBoxExperienceSetting",
    "enrollmentStatusScreenSettings",
    "extractHardwareHash",
    "hardwareHashExtractionEnabled",
    "deviceNameTemplate",
    "deviceType",
    "enableWhiteGlove",
    "preprovisioningAllowed",
    "roleScopeTagIds",
    "managementServiceAppId",
    "hybridAzureADJoinSkipConnectivityCheck",
];

pub fn routes() -> Router<AppState> {
    let base = "/deviceManagement/windowsAutopilotDeploymentProfiles";
    Router::new()
        .route(base, get(list).post(create))
        .route(&format!("{base}/hasPayloadLinks"), post(has_payload_links))
        .route(
            &format!("{base}/{{id}}"),
            get(get_one).patch(update).delete(delete),
        )
        .route(
            &format!("{base}/{{id}}/assignments"),
            get(list_assignments).post(create_assignment),
        )
        .route(
            &format!("{base}/{{id}}/assignments/{{assignment}}"),
            get(get_assignment).delete(delete_assignment),
        )
        .route(&format!("{base}/{{id}}/assign"), post(assign))
}

fn device_type_name(t: DeviceType) -> &'static str {
    match t {
        DeviceType::WindowsPc => "windowsPc",
        DeviceType::HoloLens => "holoLens",
        DeviceType::SurfaceHub2 => "surfaceHub2",
        DeviceType::SurfaceHub2S => "surfaceHub2S",
        DeviceType::VirtualMachine => "virtualMachine",
    }
}

fn parse_enum<T: Copy>(name: &str, text: &str, values: &[(&str, T)]) -> ApiResult<T> {
    values
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(text.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Cannot convert the literal '{text}' to the expected type of '{name}'; expected one of {}.",
                values.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        })
}

const DEVICE_TYPES: &[(&str, DeviceType)] = &[
    ("windowsPc", DeviceType::WindowsPc),
    ("holoLens", DeviceType::HoloLens),
    ("surfaceHub2", DeviceType::SurfaceHub2),
    ("surfaceHub2S", DeviceType::SurfaceHub2S),
    ("virtualMachine", DeviceType::VirtualMachine),
];
const USAGE_TYPES: &[(&str, DeviceUsageType)] = &[
    ("singleUser", DeviceUsageType::SingleUser),
    ("shared", DeviceUsageType::Shared),
];
const USER_TYPES: &[(&str, UserType)] = &[
    ("administrator", UserType::Administrator),
    ("standard", UserType::Standard),
];

fn usage_name(u: DeviceUsageType) -> &'static str {
    match u {
        DeviceUsageType::SingleUser => "singleUser",
        DeviceUsageType::Shared => "shared",
    }
}

fn user_type_name(u: UserType) -> &'static str {
    match u {
        UserType::Administrator => "administrator",
        UserType::Standard => "standard",
    }
}

/// The profile's locale; one never set reads as the service's default, `os-default` (not null).
fn locale(p: &DeploymentProfile) -> &str {
    if p.locale.is_empty() {
        ztd_core::profile::LOCALE_OS_DEFAULT
    } else {
        &p.locale
    }
}

/// A profile as Graph serialises it (beta), with both the current and the deprecated property names.
pub fn profile_json(p: &DeploymentProfile) -> Value {
    let oobe = &p.oobe;
    let mut v = json!({
        "@odata.type": match p.join_type { JoinType::AzureAd => AZURE_AD_TYPE, JoinType::Hybrid => HYBRID_TYPE },
        "id": p.id.to_string(),
        "displayName": p.display_name,
        "description": p.description,
        "language": locale(p),
        "locale": locale(p),
        "createdDateTime": p.created_at.to_rfc3339(),
        "lastModifiedDateTime": p.updated_at.to_rfc3339(),
        "enrollmentStatusScreenSettings": null,
        "extractHardwareHash": p.hardware_hash_extraction_enabled,
        "hardwareHashExtractionEnabled": p.hardware_hash_extraction_enabled,
        "deviceNameTemplate": p.device_name_template,
        "deviceType": device_type_name(p.device_type),
        "enableWhiteGlove": p.preprovisioning_allowed,
        "preprovisioningAllowed": p.preprovisioning_allowed,
        "roleScopeTagIds": p.role_scope_tag_ids,
        "managementServiceAppId": p.management_service_app_id,
        "outOfBoxExperienceSettings": {
            "hidePrivacySettings": oobe.privacy_settings_hidden,
            "hideEULA": oobe.eula_hidden,
            "userType": user_type_name(oobe.user_type),
            "deviceUsageType": usage_name(oobe.device_usage_type),
            "skipKeyboardSelectionPage": oobe.keyboard_selection_page_skipped,
            "hideEscapeLink": oobe.escape_link_hidden,
        },
        "outOfBoxExperienceSetting": {
            "privacySettingsHidden": oobe.privacy_settings_hidden,
            "eulaHidden": oobe.eula_hidden,
            "userType": user_type_name(oobe.user_type),
            "deviceUsageType": usage_name(oobe.device_usage_type),
            "keyboardSelectionPageSkipped": oobe.keyboard_selection_page_skipped,
            "escapeLinkHidden": oobe.escape_link_hidden,
        },
    });
    if p.join_type == JoinType::Hybrid {
        if let Value::Object(map) = &mut v {
            map.insert(
                "hybridAzureADJoinSkipConnectivityCheck".into(),
                Value::Bool(p.hybrid_skip_connectivity_check),
            );
        }
    }
    v
}

/// Chooses between a value given under the new name and one under the old name (see the module docs).
fn pick<T: PartialEq>(current: T, new: Option<T>, old: Option<T>) -> T {
    match (new, old) {
        (Some(n), Some(o)) if n != o => {
            if n == current {
                o
            } else {
                n
            }
        }
        (Some(n), _) => n,
        (None, Some(o)) => o,
        (None, None) => current,
    }
}

fn join_type_of(body: &Value) -> ApiResult<Option<JoinType>> {
    match body::odata_type(body).as_deref() {
        None => Ok(None),
        Some("azureadwindowsautopilotdeploymentprofile") => Ok(Some(JoinType::AzureAd)),
        Some("activedirectorywindowsautopilotdeploymentprofile") => Ok(Some(JoinType::Hybrid)),
        Some(other) => Err(ApiError::bad_request(format!(
            "'{other}' is not a deployment profile type; use {AZURE_AD_TYPE} or {HYBRID_TYPE}."
        ))),
    }
}

/// Applies a create or PATCH body onto `p`. Read-only and unknown properties are ignored.
fn apply(p: &mut DeploymentProfile, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    }
    if let Some(name) = body::string(body, &["displayName"])? {
        p.display_name = name;
    }
    if let Some(description) = body::string(body, &["description"])? {
        p.description = description;
    }
    if let Some(template) = body::string(body, &["deviceNameTemplate"])? {
        p.device_name_template = template;
    }
    let locale = body::string(body, &["locale"])?;
    let language = body::string(body, &["language"])?;
    p.locale = pick(p.locale.clone(), locale, language);
    p.preprovisioning_allowed = pick(
        p.preprovisioning_allowed,
        body::boolean(body, &["preprovisioningAllowed"])?,
        body::boolean(body, &["enableWhiteGlove"])?,
    );
    p.hardware_hash_extraction_enabled = pick(
        p.hardware_hash_extraction_enabled,
        body::boolean(body, &["hardwareHashExtractionEnabled"])?,
        body::boolean(body, &["extractHardwareHash"])?,
    );
    if let Some(t) = body::string(body, &["deviceType"])? {
        p.device_type = parse_enum("deviceType", &t, DEVICE_TYPES)?;
    }
    if let Some(ids) = body::strings(body, &["roleScopeTagIds"])? {
        p.role_scope_tag_ids = ids;
    }
    if let Some(app) = field(body, "managementServiceAppId") {
        p.management_service_app_id = app.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    }
    if let Some(skip) = body::boolean(body, &["hybridAzureADJoinSkipConnectivityCheck"])? {
        p.hybrid_skip_connectivity_check = skip;
    }
    let new = field(body, "outOfBoxExperienceSetting").filter(|v| v.is_object());
    let old = field(body, "outOfBoxExperienceSettings").filter(|v| v.is_object());
    let flag = |o: Option<&Value>, name: &str| -> ApiResult<Option<bool>> {
        o.map(|o| body::boolean(o, &[name]))
            .transpose()
            .map(Option::flatten)
    };
    let enum_of = |o: Option<&Value>, name: &str| -> ApiResult<Option<String>> {
        o.map(|o| body::string(o, &[name]).map(|s| s.filter(|s| !s.is_empty())))
            .transpose()
            .map(Option::flatten)
    };
    let usage = |o: Option<&Value>| -> ApiResult<Option<DeviceUsageType>> {
        enum_of(o, "deviceUsageType")?
            .map(|t| parse_enum("deviceUsageType", &t, USAGE_TYPES))
            .transpose()
    };
    let user = |o: Option<&Value>| -> ApiResult<Option<UserType>> {
        enum_of(o, "userType")?
            .map(|t| parse_enum("userType", &t, USER_TYPES))
            .transpose()
    };
    let current: OobeSettings = p.oobe;
    p.oobe = OobeSettings {
        device_usage_type: pick(current.device_usage_type, usage(new)?, usage(old)?),
        user_type: pick(current.user_type, user(new)?, user(old)?),
        privacy_settings_hidden: pick(
            current.privacy_settings_hidden,
            flag(new, "privacySettingsHidden")?,
            flag(old, "hidePrivacySettings")?,
        ),
        eula_hidden: pick(
            current.eula_hidden,
            flag(new, "eulaHidden")?,
            flag(old, "hideEULA")?,
        ),
        keyboard_selection_page_skipped: pick(
            current.keyboard_selection_page_skipped,
            flag(new, "keyboardSelectionPageSkipped")?,
            flag(old, "skipKeyboardSelectionPage")?,
        ),
        escape_link_hidden: pick(
            current.escape_link_hidden,
            flag(new, "escapeLinkHidden")?,
            flag(old, "hideEscapeLink")?,
        ),
    };
    Ok(())
}

pub(super) fn profile_id(id: &str) -> ApiResult<ProfileId> {
    ProfileId::parse(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "windowsAutopilotDeploymentProfile {id} was not found"
        ))
    })
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    ctx.query
        .validate(PROPS, &["assignments", "assignedDevices"])?;
    let rows = if ctx.query.expands("assignments") {
        state
            .app
            .profiles_with_assignments(caller.tenant_id)
            .await?
            .into_iter()
            .map(|(p, assignments)| {
                let mut json = profile_json(&p);
                if let Value::Object(map) = &mut json {
                    let expanded = assignments.iter().map(assignment_json).collect();
                    map.insert("assignments".into(), Value::Array(expanded));
                }
                Row::json(p.id.to_string(), json)
            })
            .collect()
    } else {
        state
            .app
            .profiles(caller.tenant_id)
            .await?
            .into_iter()
            .map(|p| Row::json(p.id.to_string(), profile_json(&p)))
            .collect()
    };
    ctx.page_of(COLLECTION, rows).await
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    ctx.query
        .validate(PROPS, &["assignments", "assignedDevices"])?;
    let profile = state
        .app
        .profile(caller.tenant_id, profile_id(&id)?)
        .await?;
    let mut v = profile_json(&profile);
    if ctx.query.expands("assignments") {
        let assignments = state
            .app
            .profile_assignments(caller.tenant_id, profile.id)
            .await?;
        if let Value::Object(map) = &mut v {
            map.insert(
                "assignments".into(),
                Value::Array(assignments.iter().map(assignment_json).collect()),
            );
        }
    }
    Ok(ctx.entity(StatusCode::OK, COLLECTION, v))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let join_type = join_type_of(&body)?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "windowsAutopilotDeploymentProfile is abstract: the body must carry @odata.type ({AZURE_AD_TYPE} or {HYBRID_TYPE})."
        ))
    })?;
    let mut draft = DeploymentProfile {
        tenant_id: caller.tenant_id,
        id: ProfileId(uuid::Uuid::nil()),
        display_name: String::new(),
        description: String::new(),
        device_type: DeviceType::WindowsPc,
        join_type,
        oobe: OobeSettings::default(),
        locale: String::new(),
        preprovisioning_allowed: false,
        hardware_hash_extraction_enabled: false,
        device_name_template: String::new(),
        hybrid_skip_connectivity_check: false,
        management_service_app_id: None,
        role_scope_tag_ids: vec!["0".into()],
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    apply(&mut draft, &body)?;
    let created = state.app.create_profile(caller.tenant_id, draft).await?;
    Ok(ctx.entity(StatusCode::CREATED, COLLECTION, profile_json(&created)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let mut profile = state
        .app
        .profile(caller.tenant_id, profile_id(&id)?)
        .await?;
    if let Some(join_type) = join_type_of(&body)? {
        if join_type != profile.join_type {
            return Err(ApiError::bad_request(
                "The type of a deployment profile cannot change; create a new profile of the other type.",
            ));
        }
    }
    apply(&mut profile, &body)?;
    let updated = state.app.update_profile(caller.tenant_id, profile).await?;
    // 200 with the updated profile, as the update pages of both profile types document.
    Ok(ctx.entity(StatusCode::OK, COLLECTION, profile_json(&updated)))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    state
        .app
        .delete_profile(caller.tenant_id, profile_id(&id)?)
        .await?;
    Ok(no_content())
}

/// An assignment target as Graph serialises it, with its filter (beta only; `super::scope::put_filter`).
pub fn target_json(target: AssignmentTarget, filter: Option<&FilterRef>, beta: bool) -> Value {
    let mut v = json!({
        "deviceAndAppManagementAssignmentFilterId": null,
        "deviceAndAppManagementAssignmentFilterType": "none",
    });
    let (odata_type, group) = match target {
        AssignmentTarget::AllDevices => ("#microsoft.graph.allDevicesAssignmentTarget", None),
        AssignmentTarget::Group(g) => ("#microsoft.graph.groupAssignmentTarget", Some(g)),
        AssignmentTarget::ExcludeGroup(g) => {
            ("#microsoft.graph.exclusionGroupAssignmentTarget", Some(g))
        }
    };
    if let Value::Object(map) = &mut v {
        let mut ordered = serde_json::Map::new();
        ordered.insert("@odata.type".into(), Value::String(odata_type.into()));
        ordered.extend(std::mem::take(map));
        if let Some(group) = group {
            ordered.insert("groupId".into(), Value::String(group.to_string()));
        }
        *map = ordered;
    }
    super::scope::put_filter(&mut v, filter, beta);
    v
}

/// Parses a `target` (polymorphic by `@odata.type`).
pub fn parse_target(target: &Value) -> ApiResult<AssignmentTarget> {
    let group = || -> ApiResult<GroupId> {
        let text = body::string(target, &["groupId"])?.unwrap_or_default();
        GroupId::parse(&text).ok_or_else(|| {
            ApiError::bad_request(format!("target.groupId '{text}' is not a group id."))
        })
    };
    match body::odata_type(target).as_deref() {
        Some("groupassignmenttarget") => Ok(AssignmentTarget::Group(group()?)),
        Some("exclusiongroupassignmenttarget") => Ok(AssignmentTarget::ExcludeGroup(group()?)),
        Some("alldevicesassignmenttarget") => Ok(AssignmentTarget::AllDevices),
        Some("alllicensedusersassignmenttarget") => Err(ApiError::bad_request(
            "ztd targets devices only; All Users targets are not supported. Assign to All Devices or a device group.",
        )),
        Some(other) => Err(ApiError::bad_request(format!(
            "'{other}' is not a supported assignment target; use groupAssignmentTarget, exclusionGroupAssignmentTarget or allDevicesAssignmentTarget."
        ))),
        None => Err(ApiError::bad_request(
            "target must carry @odata.type (e.g. #microsoft.graph.groupAssignmentTarget).",
        )),
    }
}

fn assignment_json(a: &ProfileAssignment) -> Value {
    // Deployment profiles are served under beta only.
    json!({
        "id": a.id,
        "source": "direct",
        "sourceId": a.profile_id.to_string(),
        "target": target_json(a.target, a.filter.as_ref(), true),
    })
}

fn assignments_context(profile: &str) -> String {
    format!("{COLLECTION}('{profile}')/assignments")
}

async fn list_assignments(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    ctx.query
        .validate(&["id", "source", "sourceId", "target"], &[])?;
    let assignments = state
        .app
        .profile_assignments(caller.tenant_id, profile_id(&id)?)
        .await?;
    let rows = assignments
        .iter()
        .map(|a| Row::json(a.id.clone(), assignment_json(a)))
        .collect();
    ctx.page_of(&assignments_context(&id), rows).await
}

async fn find_assignment(
    state: &AppState,
    tenant: TenantId,
    profile: &str,
    assignment: &str,
) -> ApiResult<ProfileAssignment> {
    state
        .app
        .profile_assignments(tenant, profile_id(profile)?)
        .await?
        .into_iter()
        .find(|a| a.id.eq_ignore_ascii_case(assignment))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "windowsAutopilotDeploymentProfileAssignment {assignment} was not found"
            ))
        })
}

async fn get_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let a = find_assignment(&state, caller.tenant_id, &id, &assignment).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        &assignments_context(&id),
        assignment_json(&a),
    ))
}

async fn create_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let target =
        field(&body, "target").ok_or_else(|| ApiError::bad_request("target is required."))?;
    let filter = super::scope::filter_of(target)?;
    let target = parse_target(target)?;
    let client_id = body::string(&body, &["id"])?.filter(|s| !s.trim().is_empty());
    let a = state
        .app
        .assign_profile_filtered(
            caller.tenant_id,
            profile_id(&id)?,
            target,
            client_id,
            filter,
        )
        .await?;
    Ok(ctx.entity(
        StatusCode::CREATED,
        &assignments_context(&id),
        assignment_json(&a),
    ))
}

async fn delete_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path((id, assignment)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let a = find_assignment(&state, caller.tenant_id, &id, &assignment).await?;
    state.app.unassign_profile(caller.tenant_id, &a.id).await?;
    Ok(no_content())
}

/// `assign`: `{"deviceIds":[ztdid...]}` assigns the profile to individual devices (through a static group
/// per profile, `App::assign_profile_to_devices`); `{"assignments":[...]}` replaces the profile's assignment
/// set. Each is one use case in one transaction.
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    ctx.beta_only()?;
    let tenant = caller.tenant_id;
    let profile = profile_id(&id)?;
    if let Some(device_ids) = body::strings(&body, &["deviceIds"])? {
        let devices = device_ids
            .iter()
            .map(|device_id| {
                Ztdid::parse(device_id).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "deviceIds: '{device_id}' is not an Autopilot device id."
                    ))
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        state
            .app
            .assign_profile_to_devices(tenant, profile, &devices)
            .await?;
        return Ok(no_content());
    }
    let Some(Value::Array(items)) = field_any(&body, &["assignments"]) else {
        return Err(ApiError::bad_request(
            "The body must carry deviceIds or assignments.",
        ));
    };
    let mut wanted = Vec::new();
    for item in items {
        let target = field(item, "target")
            .ok_or_else(|| ApiError::bad_request("assignments[].target is required."))?;
        wanted.push((
            parse_target(target)?,
            body::string(item, &["id"])?.filter(|s| !s.is_empty()),
            super::scope::filter_of(target)?,
        ));
    }
    state
        .app
        .replace_profile_assignments(tenant, profile, wanted)
        .await?;
    Ok(no_content())
}

/// `hasPayloadLinks`: ztd has no policy sets, so nothing links to a profile.
async fn has_payload_links(
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let ids = body::strings(&body, &["payloadIds"])?.unwrap_or_default();
    let items = ids
        .into_iter()
        .map(|id| json!({"payloadId": id, "hasLink": false, "error": null, "sources": []}))
        .collect();
    Ok(ctx.collection(
        "Collection(microsoft.graph.hasPayloadLinkResultItem)",
        items,
        None,
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_or_old_name_whichever_was_edited() {
        assert!(pick(false, Some(true), None));
        assert!(pick(false, None, Some(true)));
        // GET, edit the old name, PATCH both back: the old name carries the edit.
        assert!(pick(false, Some(false), Some(true)));
        // Edit the new name: it wins.
        assert!(pick(false, Some(true), Some(false)));
        assert!(!pick(false, None, None));
    }
}
