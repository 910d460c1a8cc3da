//! `deviceManagement/deviceConfigurations` (custom OMA-URI profiles, `windows10CustomConfiguration`) and
//! `deviceManagement/deviceCompliancePolicies` (`windows10CompliancePolicy`): create, list, get, update,
//! delete, assignments (`assign`, the `assignments` collection), the per-device status collections
//! (`deviceStatuses`, `deviceStatusOverview`), and `deviceManagement`'s own settings ("mark devices with
//! no compliance policy assigned as").

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use ztd_app::device_policies::MdmSettings;
use ztd_core::device_policy::{AssignmentTarget, DevicePolicy, PolicyAssignment, PolicyKind};
use ztd_core::scope::FilterRef;

use super::body;
use super::paging::Row;
use super::{no_content, Ctx, DateTime, GraphBody};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const FAMILY: &str = "DeviceManagementConfiguration";

fn collection(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Configuration => "deviceManagement/deviceConfigurations",
        PolicyKind::Compliance => "deviceManagement/deviceCompliancePolicies",
    }
}

fn assignment_type(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Configuration => "#microsoft.graph.deviceConfigurationAssignment",
        PolicyKind::Compliance => "#microsoft.graph.deviceCompliancePolicyAssignment",
    }
}

pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route(
        "/deviceManagement",
        get(device_management).patch(update_device_management),
    );
    for kind in [PolicyKind::Configuration, PolicyKind::Compliance] {
        let base = format!("/{}", collection(kind));
        router = router
            .route(
                &base,
                get(move |s, c, x| list(s, c, x, kind))
                    .post(move |s, c, x, b| create(s, c, x, b, kind)),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(move |s, c, x, p| get_one(s, c, x, p, kind))
                    .patch(move |s, c, x, p, b| update(s, c, x, p, b, kind))
                    .delete(move |s, c, p| delete_one(s, c, p, kind)),
            )
            .route(
                &format!("{base}/{{id}}/assign"),
                post(move |s, c, x, p, b| assign(s, c, x, p, b, kind)),
            )
            .route(
                &format!("{base}/{{id}}/assignments"),
                get(move |s, c, x, p| assignments(s, c, x, p, kind))
                    .post(move |s, c, x, p, b| add_assignment(s, c, x, p, b, kind)),
            )
            .route(
                &format!("{base}/{{id}}/assignments/{{assignment}}"),
                get(move |s, c, x, p| get_assignment(s, c, x, p, kind))
                    .delete(move |s, c, p| delete_assignment(s, c, p, kind)),
            )
            .route(
                &format!("{base}/{{id}}/deviceStatuses"),
                get(move |s, c, x, p| device_statuses(s, c, x, p, kind)),
            )
            .route(
                &format!("{base}/{{id}}/deviceStatusOverview"),
                get(move |s, c, x, p| device_status_overview(s, c, x, p, kind)),
            );
    }
    router
}

fn policy_id(id: &str, kind: PolicyKind) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id).map_err(|_| {
        ApiError::not_found(format!(
            "No {} has the id {:?}.",
            match kind {
                PolicyKind::Configuration => "deviceConfiguration",
                PolicyKind::Compliance => "deviceCompliancePolicy",
            },
            id.chars().take(64).collect::<String>()
        ))
    })
}

/// A policy as Graph shows it: its document, with the server's properties.
pub fn policy_json(policy: &DevicePolicy) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.type".into(),
        policy
            .document
            .get("@odata.type")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert("id".into(), json!(policy.id.to_string()));
    out.insert(
        "createdDateTime".into(),
        json!(DateTime(Some(policy.created_at))),
    );
    out.insert(
        "lastModifiedDateTime".into(),
        json!(DateTime(Some(policy.updated_at))),
    );
    out.insert("version".into(), json!(policy.version));
    out.insert("roleScopeTagIds".into(), json!(["0"]));
    out.insert("description".into(), json!(""));
    for (key, value) in &policy.document {
        out.insert(key.clone(), value.clone());
    }
    Value::Object(out)
}

fn assignment_json(kind: PolicyKind, a: &PolicyAssignment, beta: bool) -> Value {
    let mut target = a.target.to_graph();
    super::scope::put_filter(&mut target, a.filter.as_ref(), beta);
    let mut out = json!({
        "@odata.type": assignment_type(kind),
        "id": a.id,
        "target": target,
    });
    // Beta's assignment types add where the assignment came from (and, for configurations, its intent);
    // v1.0's have only id and target.
    if beta {
        out["source"] = json!("direct");
        out["sourceId"] = json!(a.id.split('_').next().unwrap_or_default());
        if kind == PolicyKind::Configuration {
            out["intent"] = json!("apply");
        }
    }
    out
}

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("The body must be a JSON object.")),
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let beta = ctx.version.is_beta();
    let rows = if ctx.query.expands("assignments") {
        state
            .app
            .device_policies_with_assignments(caller.tenant_id, kind)
            .await?
            .iter()
            .map(|(p, assignments)| {
                Row::json(
                    p.id.to_string(),
                    with_assignments(policy_json(p), kind, assignments, beta),
                )
            })
            .collect()
    } else {
        state
            .app
            .device_policies(caller.tenant_id, kind)
            .await?
            .iter()
            .map(|p| Row::json(p.id.to_string(), policy_json(p)))
            .collect()
    };
    ctx.page_of(collection(kind), rows).await
}

/// A policy with its assignments inline (`$expand=assignments`).
fn with_assignments(
    mut policy: Value,
    kind: PolicyKind,
    assignments: &[PolicyAssignment],
    beta: bool,
) -> Value {
    if let Value::Object(map) = &mut policy {
        map.insert(
            "assignments".into(),
            assignments
                .iter()
                .map(|a| assignment_json(kind, a, beta))
                .collect(),
        );
    }
    policy
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    let mut document = object(body)?;
    // Assignments may come with the policy (Graph accepts them on create).
    let assignments = document.remove("assignments");
    let policy = state
        .app
        .create_device_policy(caller.tenant_id, kind, document)
        .await?;
    if let Some(Value::Array(items)) = assignments {
        let targets = targets_of(&items)?;
        state
            .app
            .assign_device_policy(caller.tenant_id, kind, policy.id, targets, false)
            .await?;
    }
    Ok(ctx.entity(StatusCode::CREATED, collection(kind), policy_json(&policy)))
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let id = policy_id(&id, kind)?;
    let policy = state.app.device_policy(caller.tenant_id, kind, id).await?;
    let mut json = policy_json(&policy);
    if ctx.query.expands("assignments") {
        let assignments = state
            .app
            .policy_assignments(caller.tenant_id, kind, id)
            .await?;
        json = with_assignments(json, kind, &assignments, ctx.version.is_beta());
    }
    Ok(ctx.entity(StatusCode::OK, collection(kind), json))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    let policy = state
        .app
        .update_device_policy(caller.tenant_id, kind, policy_id(&id, kind)?, object(body)?)
        .await?;
    Ok(ctx.entity(StatusCode::OK, collection(kind), policy_json(&policy)))
}

async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    state
        .app
        .delete_device_policy(caller.tenant_id, kind, policy_id(&id, kind)?)
        .await?;
    Ok(no_content())
}

fn targets_of(items: &[Value]) -> ApiResult<Vec<(AssignmentTarget, Option<FilterRef>)>> {
    items
        .iter()
        .map(|item| {
            let target = body::field(item, "target")
                .ok_or_else(|| ApiError::bad_request("Each assignment needs a target."))?;
            let parsed = AssignmentTarget::from_graph(target)
                .map_err(|e| ApiError::from(ztd_app::AppError::from(e)))?;
            Ok((parsed, super::scope::filter_of(target)?))
        })
        .collect()
}

/// `POST …/{id}/assign {"assignments": [...]}`: replaces the policy's assignments; answers them.
async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    let items = match body::field_any(&body, &["assignments", "deviceConfigurationAssignments"]) {
        Some(Value::Array(items)) => items.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "The body must carry assignments: [{\"target\": {...}}].",
            ))
        }
    };
    let assignments = state
        .app
        .assign_device_policy(
            caller.tenant_id,
            kind,
            policy_id(&id, kind)?,
            targets_of(&items)?,
            false,
        )
        .await?;
    let items: Vec<Value> = assignments
        .iter()
        .map(|a| assignment_json(kind, a, ctx.version.is_beta()))
        .collect();
    Ok(ctx.collection(
        &format!(
            "Collection({})",
            assignment_type(kind).trim_start_matches("#microsoft.graph.")
        ),
        items,
        None,
        None,
    ))
}

async fn assignments(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let rows = state
        .app
        .policy_assignments(caller.tenant_id, kind, policy_id(&id, kind)?)
        .await?
        .iter()
        .map(|a| {
            Row::json(
                a.id.clone(),
                assignment_json(kind, a, ctx.version.is_beta()),
            )
        })
        .collect();
    ctx.page_of(&format!("{}('{id}')/assignments", collection(kind)), rows)
        .await
}

async fn add_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    let targets = targets_of(std::slice::from_ref(&body))?;
    let wanted = targets.first().map(|(t, _)| t.clone());
    let assignments = state
        .app
        .assign_device_policy(caller.tenant_id, kind, policy_id(&id, kind)?, targets, true)
        .await?;
    let created = assignments
        .iter()
        .find(|a| Some(&a.target) == wanted.as_ref())
        .ok_or_else(|| ApiError::bad_request("The assignment was not recorded."))?;
    Ok(ctx.entity(
        StatusCode::CREATED,
        &format!("{}('{id}')/assignments", collection(kind)),
        assignment_json(kind, created, ctx.version.is_beta()),
    ))
}

async fn get_assignment(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path((id, assignment)): Path<(String, String)>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let found = state
        .app
        .policy_assignments(caller.tenant_id, kind, policy_id(&id, kind)?)
        .await?
        .into_iter()
        .find(|a| a.id == assignment)
        .ok_or_else(|| ApiError::not_found("No assignment has this id."))?;
    Ok(ctx.entity(
        StatusCode::OK,
        &format!("{}('{id}')/assignments", collection(kind)),
        assignment_json(kind, &found, ctx.version.is_beta()),
    ))
}

async fn delete_assignment(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, assignment)): Path<(String, String)>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    state
        .app
        .delete_policy_assignment(caller.tenant_id, kind, policy_id(&id, kind)?, &assignment)
        .await?;
    Ok(no_content())
}

async fn device_statuses(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let statuses = state
        .app
        .policy_device_statuses(caller.tenant_id, kind, policy_id(&id, kind)?)
        .await?;
    let status_type = match kind {
        PolicyKind::Configuration => "#microsoft.graph.deviceConfigurationDeviceStatus",
        PolicyKind::Compliance => "#microsoft.graph.deviceComplianceDeviceStatus",
    };
    let rows = statuses
        .iter()
        .map(|s| {
            let d = &s.device;
            let id = format!("{}_{}", s.state.policy_id, d.id);
            Row::json(
                id.clone(),
                json!({
                    "@odata.type": status_type,
                    "id": id,
                    "deviceDisplayName": d.device_name,
                    "userName": d.user_principal_name.split('@').next().unwrap_or_default(),
                    "deviceModel": d.model(),
                    "platform": 0,
                    "complianceGracePeriodExpirationDateTime": match d.grace_period_ends_at {
                        Some(at) => json!(DateTime(Some(at))),
                        None => json!("9999-12-31T23:59:59Z"),
                    },
                    "status": s.state.status.as_str(),
                    "lastReportedDateTime": DateTime(Some(s.state.reported_at)),
                    "userPrincipalName": d.user_principal_name,
                    // ztd's own: each setting's state (an OMA-URI with the device's status code, or a
                    // compliance rule with the value the device reported).
                    "ztdSettings": s.state.settings,
                }),
            )
        })
        .collect();
    ctx.page_of(
        &format!("{}('{id}')/deviceStatuses", collection(kind)),
        rows,
    )
    .await
}

async fn device_status_overview(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    kind: PolicyKind,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let policy_id = policy_id(&id, kind)?;
    let policy = state
        .app
        .device_policy(caller.tenant_id, kind, policy_id)
        .await?;
    let statuses = state
        .app
        .policy_device_statuses(caller.tenant_id, kind, policy_id)
        .await?;
    use ztd_core::device_policy::PolicyStatus as S;
    let count = |wanted: S| statuses.iter().filter(|s| s.state.status == wanted).count();
    let last = statuses.iter().map(|s| s.state.reported_at).max();
    let overview_type = match kind {
        PolicyKind::Configuration => "#microsoft.graph.deviceConfigurationDeviceOverview",
        PolicyKind::Compliance => "#microsoft.graph.deviceComplianceDeviceOverview",
    };
    Ok(ctx.entity(
        StatusCode::OK,
        &format!("{}('{id}')/deviceStatusOverview", collection(kind)),
        json!({
            "@odata.type": overview_type,
            "id": format!("{policy_id}_overview"),
            "pendingCount": count(S::Pending),
            "notApplicableCount": count(S::NotApplicable),
            "notApplicablePlatformCount": 0,
            "successCount": count(S::Compliant),
            "errorCount": count(S::Error),
            "failedCount": count(S::NonCompliant),
            "conflictCount": 0,
            "lastUpdateDateTime": DateTime(last),
            "configurationVersion": policy.version,
        }),
    ))
}

fn settings_json(settings: &MdmSettings) -> Value {
    json!({
        "deviceComplianceCheckinThresholdDays": settings.device_compliance_checkin_threshold_days,
        "isScheduledActionEnabled": true,
        "secureByDefault": settings.secure_by_default,
        // ztd's own: the MDM terms of use enrolling users accept (null: none).
        "ztdTermsOfUse": settings.terms_of_use,
    })
}

/// `GET /deviceManagement`: the tenant's device management singleton (its settings).
async fn device_management(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    let settings = state.app.mdm_settings(caller.tenant_id).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        "deviceManagement",
        json!({
            "id": caller.tenant_id.to_string(),
            "settings": settings_json(&settings),
        }),
    ))
}

/// `PATCH /deviceManagement {"settings": {...}}`: the compliance settings; 200 with the updated
/// singleton, as its update page documents.
async fn update_device_management(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    let Some(settings) = body::field(&body, "settings") else {
        return Err(ApiError::bad_request(
            "ztd changes deviceManagement's settings only: send {\"settings\": {...}}.",
        ));
    };
    let mut current = state.app.mdm_settings(caller.tenant_id).await?;
    if let Some(value) = body::boolean(settings, &["secureByDefault"])? {
        current.secure_by_default = value;
    }
    match body::field(settings, "ztdTermsOfUse") {
        Some(Value::Null) => current.terms_of_use = None,
        Some(Value::String(text)) => current.terms_of_use = Some(text.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "settings.ztdTermsOfUse is the terms' text, or null for none.",
            ))
        }
        None => {}
    }
    if let Some(days) = body::int32(settings, &["deviceComplianceCheckinThresholdDays"])? {
        current.device_compliance_checkin_threshold_days = u32::try_from(days).unwrap_or(0);
    }
    let settings = state
        .app
        .update_mdm_settings(caller.tenant_id, current)
        .await?;
    Ok(ctx.entity(
        StatusCode::OK,
        "deviceManagement",
        json!({
            "id": caller.tenant_id.to_string(),
            "settings": settings_json(&settings),
        }),
    ))
}
