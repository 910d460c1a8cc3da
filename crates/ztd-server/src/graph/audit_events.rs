//! `deviceManagement/auditEvents`: the audit log, read from the events that name an actor (see
//! `ztd_app::audit`), newest first, paged in the database. Each event becomes an Intune `auditEvent`:
//! what changed (activity, resource, the event's data as modified properties), who (the actor), when, and
//! whether it succeeded (a refused change is a `Failure`).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use ztd_core::event::{ActorKind, AuditCategory, Event, EventKind};
use ztd_core::TenantId;

use super::paging::{self, Row, Source};
use super::{require_any, Ctx, DIRECTORY, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The permission Graph documents for audit events; ztd also lets service-configuration readers in.
const APPS: &str = "DeviceManagementApps";

pub fn routes() -> Router<AppState> {
    let base = "/deviceManagement/auditEvents";
    Router::new()
        .route(base, get(list))
        .route(&format!("{base}/getAuditCategories"), get(categories))
        .route(&format!("{base}/getAuditCategories/"), get(categories))
        .route(
            &format!("{base}/getAuditActivityTypes/{{argument}}"),
            get(activity_types),
        )
        .route(
            &format!("{base}/getAuditActivityTypes/"),
            get(all_activity_types),
        )
        .route(&format!("{base}/{{id}}"), get(get_one))
}

fn require_reader(caller: &Caller) -> ApiResult<()> {
    require_any(caller, &[APPS, SERVICE_CONFIG], Access::Read)
}

/// The component (and category) an event belongs to, and the Graph type of the resource it is about.
fn area(kind: &str) -> (&'static str, &'static str) {
    let resource = match kind.split('.').next().unwrap_or_default() {
        "autopilot" => "WindowsAutopilotSettings",
        "corporate_identifier" | "corporate_identifiers" => "ImportedDeviceIdentity",
        "device" | "devices" => "WindowsAutopilotDeviceIdentity",
        "import" => "ImportedWindowsAutopilotDeviceIdentity",
        "esp" => "DeviceEnrollmentConfiguration",
        "scope_tag" => "RoleScopeTag",
        "assignment_filter" => "DeviceAndAppManagementAssignmentFilter",
        "profile" => "WindowsAutopilotDeploymentProfile",
        "managed_device" => "ManagedDevice",
        "directory_object" => "Device",
        "group" => "Group",
        "user" => "User",
        "client" => "Application",
        "tenant" | "signing_key" => "Organization",
        _ => "Request",
    };
    (AuditCategory::of(kind).as_str(), resource)
}

/// The categories the caller may read: enrollment changes and refused requests with the log's own
/// permission; directory changes also need a directory read permission (users, groups or devices); app
/// registrations and the tenant's domains and keys need `Directory` or `Organization`. The log never shows
/// more than the caller could read elsewhere.
fn visible_categories(caller: &Caller) -> Vec<AuditCategory> {
    let reads = |families: &[&str]| require_any(caller, families, Access::Read).is_ok();
    let mut visible = vec![AuditCategory::Enrollment, AuditCategory::Other];
    if reads(&[DIRECTORY, "User", "Group", "GroupMember", "Device"]) {
        visible.push(AuditCategory::Directory);
    }
    if reads(&[DIRECTORY, "Organization"]) {
        visible.push(AuditCategory::Applications);
        visible.push(AuditCategory::Tenant);
    }
    visible
}

/// Graph's HTTP operation type of an event's action.
fn operation(kind: &str, method: Option<&str>) -> &'static str {
    if let Some(method) = method {
        return match method {
            "POST" => "Create",
            "PATCH" | "PUT" => "Patch",
            "DELETE" => "Delete",
            _ => "Action",
        };
    }
    let action = kind.rsplit('.').next().unwrap_or_default();
    if action == "created" || action.ends_with("added") || action.starts_with("import") {
        "Create"
    } else if action == "updated" || action == "priority_set" {
        "Patch"
    } else if action == "deleted" || action.ends_with("removed") {
        "Delete"
    } else {
        "Action"
    }
}

/// `group.member_added` → `Group member added`.
fn activity(kind: &str) -> String {
    let words = kind.replace(['.', '_'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The value a modified property shows: text as is, anything else as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One `auditEvent`. `apps` names the tenant's applications by id.
fn audit_json(event: &Event, apps: &HashMap<String, String>, beta: bool) -> Value {
    let refused = event.kind == EventKind::RequestRefused.as_str();
    let method = refused
        .then(|| event.data.get("method").and_then(Value::as_str))
        .flatten();
    let (component, resource_type) = area(&event.kind);
    let operation = operation(&event.kind, method);
    let actor = event.actor.clone().unwrap_or_else(|| {
        // Only events with an actor are read; this keeps the shape whole regardless.
        ztd_core::event::Actor::operator("")
    });
    let application_name = apps
        .get(&actor.application_id.to_ascii_lowercase())
        .cloned()
        .unwrap_or_default();
    let (actor_type, actor_kind) = match actor.kind {
        ActorKind::User => ("ItPro", "itPro"),
        ActorKind::Application => ("Application", "system"),
        ActorKind::Operator => ("Operator", "itPro"),
    };
    let user_principal_name = match actor.kind {
        ActorKind::Operator => actor.id.clone(),
        _ => actor.user_principal_name.clone(),
    };
    let modified: Vec<Value> = match &event.data {
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| {
                json!({
                    "displayName": name,
                    "oldValue": null,
                    "newValue": shown(value),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let correlation = uuid::Uuid::parse_str(&actor.correlation_id).unwrap_or(event.id);
    let activity = activity(&event.kind);
    let mut actor_json = json!({
        "type": actor_type,
        "userPermissions": actor.permissions,
        "applicationId": actor.application_id,
        "applicationDisplayName": application_name,
        "userPrincipalName": user_principal_name,
        "servicePrincipalName": if actor.kind == ActorKind::Application { application_name.clone() } else { String::new() },
        "ipAddress": actor.ip_address,
        "userId": if actor.kind == ActorKind::User { actor.id.clone() } else { String::new() },
    });
    if beta {
        actor_json["auditActorType"] = json!(actor_kind);
        actor_json["userRoleScopeTags"] = json!([]);
        actor_json["remoteTenantId"] = Value::Null;
        actor_json["remoteUserId"] = Value::Null;
    }
    json!({
        "id": event.id.to_string(),
        "displayName": activity,
        "componentName": component,
        "actor": actor_json,
        "activity": activity,
        "activityDateTime": event.at.to_rfc3339(),
        "activityType": format!("{operation} {resource_type}"),
        "activityOperationType": operation,
        "activityResult": if refused { "Failure" } else { "Success" },
        "correlationId": correlation.to_string(),
        "resources": [{
            "displayName": event.subject,
            "modifiedProperties": modified,
            "type": resource_type,
            "auditResourceType": resource_type,
            "resourceId": event.subject,
        }],
        "category": component,
    })
}

async fn application_names(
    state: &AppState,
    tenant: TenantId,
) -> ApiResult<HashMap<String, String>> {
    Ok(state
        .app
        .clients(tenant)
        .await?
        .into_iter()
        .map(|client| (client.client_id.to_ascii_lowercase(), client.display_name))
        .collect())
}

/// The log in the database, newest first. A row's key orders like the log (ascending key = descending
/// sequence number), so the keyset pager resumes exactly where a page ended.
struct AuditSource<'a> {
    state: &'a AppState,
    tenant: TenantId,
    apps: HashMap<String, String>,
    beta: bool,
    visible: Vec<AuditCategory>,
}

fn row_key(seq: i64) -> String {
    format!("{:019}", i64::MAX - seq)
}

fn seq_of(key: &str) -> Option<i64> {
    let inverted: i64 = key.parse().ok().filter(|n| *n >= 0)?;
    Some(i64::MAX - inverted)
}

impl Source for AuditSource<'_> {
    type Item = ();

    async fn chunk(&mut self, after: Option<&str>, limit: usize) -> ApiResult<Vec<Row<()>>> {
        let before = paging::resume_key(after, seq_of)?;
        let events = self
            .state
            .app
            .audit_events(
                self.tenant,
                before,
                u32::try_from(limit).unwrap_or(u32::MAX),
                &self.visible,
            )
            .await?;
        Ok(events
            .into_iter()
            .map(|(seq, event)| Row::json(row_key(seq), audit_json(&event, &self.apps, self.beta)))
            .collect())
    }
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_reader(&caller)?;
    ctx.query.validate(&PROPERTIES, &[])?;
    let mut source = AuditSource {
        state: &state,
        tenant: caller.tenant_id,
        apps: application_names(&state, caller.tenant_id).await?,
        beta: ctx.version.is_beta(),
        visible: visible_categories(&caller),
    };
    let page = paging::page(&ctx.query, &mut source).await?;
    let items = page.rows.into_iter().map(|row| row.json).collect();
    Ok(ctx.collection("deviceManagement/auditEvents", items, page.next, page.count))
}

/// What `$select`, `$filter` and `$orderby` may name.
const PROPERTIES: [&str; 13] = [
    "id",
    "displayName",
    "componentName",
    "actor",
    "activity",
    "activityDateTime",
    "activityType",
    "activityOperationType",
    "activityResult",
    "correlationId",
    "resources",
    "category",
    "@odata.type",
];

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_reader(&caller)?;
    let not_found = || ApiError::not_found(format!("auditEvent {id} was not found"));
    let event_id = uuid::Uuid::parse_str(&id).map_err(|_| not_found())?;
    let event = state
        .app
        .audit_event(caller.tenant_id, event_id, &visible_categories(&caller))
        .await?;
    let apps = application_names(&state, caller.tenant_id).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        "deviceManagement/auditEvents",
        audit_json(&event, &apps, ctx.version.is_beta()),
    ))
}

fn strings(ctx: &Ctx, values: Vec<String>) -> Response {
    Json(json!({
        "@odata.context": ctx.context("Collection(Edm.String)"),
        "value": values,
    }))
    .into_response()
}

/// `getAuditCategories()`.
async fn categories(caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_reader(&caller)?;
    Ok(strings(
        &ctx,
        AuditCategory::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
    ))
}

/// `getAuditActivityTypes()`: every activity type.
async fn all_activity_types(caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_reader(&caller)?;
    Ok(strings(&ctx, activity_types_of("")))
}

/// `getAuditActivityTypes(category='…')`: the activity types of a category.
async fn activity_types(
    caller: Caller,
    ctx: Ctx,
    Path(argument): Path<String>,
) -> ApiResult<Response> {
    require_reader(&caller)?;
    let category = match argument.split_once('=') {
        Some((name, value)) if name.eq_ignore_ascii_case("category") => value.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "getAuditActivityTypes takes one parameter, category='<category>'.",
            ))
        }
    };
    Ok(strings(&ctx, activity_types_of(&category)))
}

/// The activity types of `category` (every one for an empty category), sorted.
fn activity_types_of(category: &str) -> Vec<String> {
    let mut types: Vec<String> = EventKind::ALL
        .iter()
        .filter(|kind| **kind != EventKind::RequestRefused)
        .map(|kind| {
            let (component, resource) = area(kind.as_str());
            (
                component,
                format!("{} {resource}", operation(kind.as_str(), None)),
            )
        })
        .filter(|(component, _)| category.is_empty() || component.eq_ignore_ascii_case(category))
        .map(|(_, activity_type)| activity_type)
        .collect();
    types.sort();
    types.dedup();
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_has_an_area_and_an_operation() {
        for kind in EventKind::ALL {
            let (_, resource) = area(kind.as_str());
            assert_eq!(
                resource == "Request",
                kind == EventKind::RequestRefused,
                "{kind:?} has no resource type"
            );
        }
        assert_eq!(operation("group.created", None), "Create");
        assert_eq!(operation("group.member_removed", None), "Delete");
        assert_eq!(operation("profile.assigned", None), "Action");
        assert_eq!(operation("request.refused", Some("PATCH")), "Patch");
        assert_eq!(activity("group.member_added"), "Group member added");
    }

    #[test]
    fn row_keys_order_like_the_log() {
        assert!(
            row_key(10) < row_key(9),
            "newer (larger sequence) sorts first"
        );
        assert_eq!(seq_of(&row_key(42)), Some(42));
        assert_eq!(seq_of("-1"), None);
        assert_eq!(seq_of("x"), None);
    }
}
