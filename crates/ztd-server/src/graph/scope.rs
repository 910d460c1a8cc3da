//! `deviceManagement/roleScopeTags` (beta and v1.0) and `deviceManagement/assignmentFilters` (beta, with
//! `validateFilter`), and the filter properties of an assignment target (beta only), read and written for
//! every assignment that carries them. docs/graph-api.md.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_core::scope::{AssignmentFilter, FilterRef, RoleScopeTag};
use ztd_core::Timestamp;

use super::body;
use super::paging::Row;
use super::{no_content, require_any, Ctx, DateTime, GraphBody};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const TAGS: &str = "deviceManagement/roleScopeTags";
const FILTERS: &str = "deviceManagement/assignmentFilters";
/// Graph accepts either family for scope tags; filters are device configuration.
const TAG_FAMILIES: &[&str] = &["DeviceManagementRBAC", "DeviceManagementConfiguration"];
const FILTER_FAMILIES: &[&str] = &["DeviceManagementConfiguration"];
const FILTER_ID: &str = "deviceAndAppManagementAssignmentFilterId";
const FILTER_TYPE: &str = "deviceAndAppManagementAssignmentFilterType";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("/{TAGS}"), get(list_tags).post(create_tag))
        .route(
            &format!("/{TAGS}/{{id}}"),
            get(get_tag).patch(update_tag).delete(delete_tag),
        )
        .route(
            &format!("/{FILTERS}"),
            get(list_filters).post(create_filter),
        )
        .route(&format!("/{FILTERS}/validateFilter"), post(validate_filter))
        .route(
            &format!("/{FILTERS}/{{id}}"),
            get(get_filter).patch(update_filter).delete(delete_filter),
        )
}

/// The filter of an assignment `target` (its `deviceAndAppManagementAssignmentFilterId` and `…Type`).
pub fn filter_of(target: &Value) -> ApiResult<Option<FilterRef>> {
    let text = |name: &str| -> ApiResult<Option<String>> {
        match body::field(target, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::bad_request(format!(
                "target.{name} must be a string, not {other}."
            ))),
        }
    };
    let id = text(FILTER_ID)?;
    let mode = text(FILTER_TYPE)?;
    FilterRef::from_graph(id.as_deref(), mode.as_deref())
        .map_err(|e| ApiError::from(ztd_app::AppError::from(e)))
}

/// Writes an assignment target's filter properties: under beta the filter (or null and `none`), under
/// v1.0 neither (its `deviceAndAppManagementAssignmentTarget` has no such properties).
pub fn put_filter(target: &mut Value, filter: Option<&FilterRef>, beta: bool) {
    let Value::Object(map) = target else { return };
    map.remove(FILTER_ID);
    map.remove(FILTER_TYPE);
    if !beta {
        return;
    }
    let (id, mode) = match filter {
        Some(f) => (json!(f.filter_id.to_string()), json!(f.mode.as_str())),
        None => (Value::Null, json!("none")),
    };
    // Keep Graph's order: @odata.type, the filter pair, then the rest.
    let rest = std::mem::take(map);
    let mut rest = rest.into_iter();
    if let Some((k, v)) = rest.next() {
        map.insert(k, v);
    }
    map.insert(FILTER_ID.into(), id);
    map.insert(FILTER_TYPE.into(), mode);
    map.extend(rest);
}

fn tag_json(t: &RoleScopeTag) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.roleScopeTag",
        "id": t.id,
        "displayName": t.display_name,
        "description": t.description,
        "isBuiltIn": t.is_builtin(),
    })
}

async fn list_tags(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_any(&caller, TAG_FAMILIES, Access::Read)?;
    let rows = state
        .app
        .scope_tags(caller.tenant_id)
        .await?
        .iter()
        .map(|t| Row::json(t.id.clone(), tag_json(t)))
        .collect();
    ctx.page_of(TAGS, rows).await
}

async fn get_tag(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, TAG_FAMILIES, Access::Read)?;
    let tag = state.app.scope_tag(caller.tenant_id, id.trim()).await?;
    Ok(ctx.entity(StatusCode::OK, TAGS, tag_json(&tag)))
}

async fn create_tag(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, TAG_FAMILIES, Access::Write)?;
    if body::boolean(&body, &["isBuiltIn"])? == Some(true) {
        return Err(ApiError::bad_request(
            "isBuiltIn is read-only: only the Default tag (id \"0\") is built in.",
        ));
    }
    let name = body::string(&body, &["displayName"])?.unwrap_or_default();
    let description = body::string(&body, &["description"])?.unwrap_or_default();
    let tag = state
        .app
        .create_scope_tag(caller.tenant_id, name, description)
        .await?;
    Ok(ctx.entity(StatusCode::CREATED, TAGS, tag_json(&tag)))
}

/// `PATCH`: 200 with the updated tag, as Graph documents it.
async fn update_tag(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, TAG_FAMILIES, Access::Write)?;
    let tag = state
        .app
        .update_scope_tag(
            caller.tenant_id,
            id.trim(),
            body::string(&body, &["displayName"])?,
            body::string(&body, &["description"])?,
        )
        .await?;
    Ok(ctx.entity(StatusCode::OK, TAGS, tag_json(&tag)))
}

async fn delete_tag(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, TAG_FAMILIES, Access::Write)?;
    state
        .app
        .delete_scope_tag(caller.tenant_id, id.trim())
        .await?;
    Ok(no_content())
}

fn filter_json(f: &AssignmentFilter) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.deviceAndAppManagementAssignmentFilter",
        "id": f.id.to_string(),
        "createdDateTime": DateTime(Some(f.created_at)),
        "lastModifiedDateTime": DateTime(Some(f.updated_at)),
        "displayName": f.display_name,
        "description": f.description,
        "platform": f.platform,
        "rule": f.rule,
        "roleScopeTags": f.role_scope_tag_ids,
        "assignmentFilterManagementType": "devices",
    })
}

fn filter_id(id: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(id.trim()).map_err(|_| {
        ApiError::not_found(format!(
            "No deviceAndAppManagementAssignmentFilter has the id {:?}.",
            id.chars().take(64).collect::<String>()
        ))
    })
}

/// The scope tags a filter body sends: Graph's `roleScopeTags` (or `roleScopeTagIds`, as elsewhere).
fn filter_tags(body: &Value) -> ApiResult<Option<Vec<String>>> {
    body::strings(body, &["roleScopeTags", "roleScopeTagIds"])
}

/// Applies a filter body onto `f`, refusing what ztd does not do.
fn apply_filter(f: &mut AssignmentFilter, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request("The body must be a JSON object."));
    }
    if let Some(name) = body::string(body, &["displayName"])? {
        f.display_name = name;
    }
    if let Some(text) = body::string(body, &["description"])? {
        f.description = text;
    }
    if let Some(platform) = body::string(body, &["platform"])? {
        f.platform = platform;
    }
    if let Some(rule) = body::string(body, &["rule"])? {
        f.rule = rule;
    }
    match body::string(body, &["assignmentFilterManagementType"])?.as_deref() {
        None | Some("devices") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
            "assignmentFilterManagementType {other:?}: ztd filters managed devices only (devices)."
        )))
        }
    }
    Ok(())
}

async fn list_filters(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Read)?;
    ctx.beta_only()?;
    let rows = state
        .app
        .assignment_filters(caller.tenant_id)
        .await?
        .iter()
        .map(|f| Row::json(f.id.to_string(), filter_json(f)))
        .collect();
    ctx.page_of(FILTERS, rows).await
}

async fn get_filter(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Read)?;
    ctx.beta_only()?;
    let filter = state
        .app
        .assignment_filter(caller.tenant_id, filter_id(&id)?)
        .await?;
    Ok(ctx.entity(StatusCode::OK, FILTERS, filter_json(&filter)))
}

fn draft() -> AssignmentFilter {
    AssignmentFilter {
        tenant_id: ztd_core::TenantId(uuid::Uuid::nil()),
        id: uuid::Uuid::nil(),
        display_name: String::new(),
        description: String::new(),
        platform: String::new(),
        rule: String::new(),
        role_scope_tag_ids: Vec::new(),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

async fn create_filter(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Write)?;
    ctx.beta_only()?;
    let mut filter = draft();
    apply_filter(&mut filter, &body)?;
    let created = state
        .app
        .create_assignment_filter(caller.tenant_id, filter, filter_tags(&body)?)
        .await?;
    Ok(ctx.entity(StatusCode::CREATED, FILTERS, filter_json(&created)))
}

/// `PATCH`: 200 with the updated filter.
async fn update_filter(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Write)?;
    ctx.beta_only()?;
    let mut filter = state
        .app
        .assignment_filter(caller.tenant_id, filter_id(&id)?)
        .await?;
    apply_filter(&mut filter, &body)?;
    let updated = state
        .app
        .update_assignment_filter(caller.tenant_id, filter, filter_tags(&body)?)
        .await?;
    Ok(ctx.entity(StatusCode::OK, FILTERS, filter_json(&updated)))
}

async fn delete_filter(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Write)?;
    ctx.beta_only()?;
    state
        .app
        .delete_assignment_filter(caller.tenant_id, filter_id(&id)?)
        .await?;
    Ok(no_content())
}

/// `validateFilter {"deviceAndAppManagementAssignmentFilter": {...}}`: whether the rule is valid
/// (`assignmentFilterValidationResult`); ztd adds why not (`ztdError`). Nothing is stored.
async fn validate_filter(
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, FILTER_FAMILIES, Access::Read)?;
    ctx.beta_only()?;
    let filter = body::field(&body, "deviceAndAppManagementAssignmentFilter").ok_or_else(|| {
        ApiError::bad_request(
            "The body must carry deviceAndAppManagementAssignmentFilter: {\"rule\": \"...\", \"platform\": \"windows10AndLater\"}.",
        )
    })?;
    let mut draft = draft();
    draft.display_name = "validateFilter".into();
    draft.platform = ztd_core::scope::FILTER_PLATFORM.into();
    apply_filter(&mut draft, filter)?;
    let problem = match draft.validate() {
        Err(e) => Some(e.to_string()),
        Ok(()) => ztd_app::scope::check_filter_rule(&draft.rule)
            .err()
            .map(|e| e.to_string()),
    };
    Ok(ctx.entity(
        StatusCode::OK,
        "microsoft.graph.assignmentFilterValidationResult",
        json!({
            "@odata.type": "#microsoft.graph.assignmentFilterValidationResult",
            "isValidRule": problem.is_none(),
            "ztdError": problem,
        }),
    ))
}
