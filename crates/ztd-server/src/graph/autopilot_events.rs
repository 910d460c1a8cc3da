//! `autopilotEvents`: deployment events built from devices' first-boot contacts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use ztd_core::{TenantId, Timestamp};

use super::paging::{self, Row, VecSource};
use super::{Ctx, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/deviceManagement/autopilotEvents", get(list_events))
        .route("/deviceManagement/autopilotEvents/{id}", get(get_event))
}

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
