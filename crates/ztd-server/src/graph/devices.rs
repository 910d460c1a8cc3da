//! `deviceManagement/windowsAutopilotDeviceIdentities`: the Autopilot device records. The id is the ZTDID.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_app::{AppError, DeviceUpdate};
use ztd_core::device::{AutopilotDevice, EnrollmentState};
use ztd_core::profile::DeploymentProfile;
use ztd_core::{DirectoryObjectId, TenantId, Timestamp, Ztdid};
use ztd_store::{DeviceQuery, DirectoryQuery, StoreError, Tx};

use super::body;
use super::odata::QueryOptions;
use super::paging::{self, Row, Source, VecSource};
use super::profiles::profile_json;
use super::{no_content, Ctx, GraphBody, Version, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const COLLECTION: &str = "deviceManagement/windowsAutopilotDeviceIdentities";

/// Properties of the v1.0 projection.
const PROPS_V1: &[&str] = &[
    "id",
    "addressableUserName",
    "azureActiveDirectoryDeviceId",
    "displayName",
    "enrollmentState",
    "groupTag",
    "lastContactedDateTime",
    "managedDeviceId",
    "manufacturer",
    "model",
    "productKey",
    "purchaseOrderIdentifier",
    "resourceName",
    "serialNumber",
    "skuNumber",
    "systemFamily",
    "userPrincipalName",
];
/// Properties only beta has.
const PROPS_BETA_ONLY: &[&str] = &[
    "deploymentProfileAssignmentStatus",
    "deploymentProfileAssignmentDetailedStatus",
    "deploymentProfileAssignedDateTime",
    "azureAdDeviceId",
    "remediationState",
    "remediationStateLastModifiedDateTime",
    "userlessEnrollmentStatus",
    "deviceAccountUpn",
    "deviceAccountPassword",
    "deviceFriendlyName",
];
const NAVIGATIONS_BETA: &[&str] = &["deploymentProfile", "intendedDeploymentProfile"];

pub fn routes() -> Router<AppState> {
    let base = "/deviceManagement/windowsAutopilotDeviceIdentities";
    Router::new()
        .route(base, get(list))
        .route(&format!("{base}/$count"), get(count))
        .route(&format!("{base}/deleteDevices"), post(delete_devices))
        .route(&format!("{base}/{{id}}"), get(get_one).delete(delete_one))
        .route(
            &format!("{base}/{{id}}/updateDeviceProperties"),
            post(update_properties),
        )
        .route(
            &format!("{base}/{{id}}/assignUserToDevice"),
            post(assign_user),
        )
        .route(
            &format!("{base}/{{id}}/unassignUserFromDevice"),
            post(unassign_user),
        )
        .route(
            &format!("{base}/{{id}}/allowNextEnrollment"),
            post(allow_next_enrollment),
        )
        .route(
            &format!("{base}/{{id}}/deploymentProfile"),
            get(delivered_profile),
        )
        .route(
            &format!("{base}/{{id}}/intendedDeploymentProfile"),
            get(intended_profile),
        )
}

pub fn store_error(error: StoreError) -> ApiError {
    ApiError::from(AppError::from(error))
}

fn properties(version: Version) -> Vec<&'static str> {
    let mut props = PROPS_V1.to_vec();
    if version.is_beta() {
        props.extend_from_slice(PROPS_BETA_ONLY);
    }
    props
}

fn never_or(at: Option<Timestamp>) -> String {
    at.unwrap_or(Timestamp::NEVER).to_rfc3339()
}

/// A device as Graph serialises it. `aad_device_id` is the directory object's `deviceId`.
pub fn device_json(d: &AutopilotDevice, aad_device_id: &str, version: Version) -> Value {
    let enrollment_state = match (version, d.enrollment_state) {
        // v1.0's enrollmentState has no `blocked`.
        (Version::V1, EnrollmentState::Blocked) => "unknown",
        (_, state) => state.as_str(),
    };
    let mut v = json!({
        "id": d.ztdid.to_string(),
        "addressableUserName": d.addressable_user_name,
        "azureActiveDirectoryDeviceId": aad_device_id,
        "displayName": d.display_name,
        "enrollmentState": enrollment_state,
        "groupTag": d.group_tag,
        "lastContactedDateTime": never_or(d.last_contacted_at),
        "managedDeviceId": "",
        "manufacturer": d.manufacturer,
        "model": d.model,
        "productKey": d.product_key,
        "purchaseOrderIdentifier": d.purchase_order_id,
        "resourceName": "",
        "serialNumber": d.serial_number,
        "skuNumber": d.sku_number,
        "systemFamily": d.system_family,
        "userPrincipalName": d.user_principal_name,
    });
    if version.is_beta() {
        if let Value::Object(map) = &mut v {
            let extra = json!({
                "deploymentProfileAssignmentStatus": d.assignment.status.as_str(),
                "deploymentProfileAssignmentDetailedStatus": "none",
                "deploymentProfileAssignedDateTime": never_or(d.assignment.assigned_at),
                "azureAdDeviceId": aad_device_id,
                "remediationState": d.remediation_state.as_str(),
                "remediationStateLastModifiedDateTime": d.updated_at.to_rfc3339(),
                "userlessEnrollmentStatus": "allowed",
                "deviceAccountUpn": "",
                "deviceAccountPassword": null,
                "deviceFriendlyName": "",
            });
            if let Value::Object(extra) = extra {
                map.extend(extra);
            }
        }
    }
    v
}

pub async fn read_tx(state: &AppState) -> ApiResult<Tx> {
    state.app.store().begin_read().await.map_err(store_error)
}

/// Autopilot devices of one tenant from the store, in ZTDID order, with the serial-number pre-filter
/// pushed down when the `$filter` implies one.
struct DeviceSource {
    tx: Tx,
    tenant: TenantId,
    serial_contains: Option<String>,
    version: Version,
    /// Directory `deviceId` by object id, loaded only when the filter reads it.
    aad: Option<HashMap<DirectoryObjectId, String>>,
    /// Whether rows need their Graph JSON (a `$filter` or `$orderby` reads it).
    filtered: bool,
}

impl Source for DeviceSource {
    type Item = AutopilotDevice;

    async fn chunk(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<Row<AutopilotDevice>>> {
        let after = paging::resume_key(after, Ztdid::parse)?;
        let query = DeviceQuery {
            serial_contains: self.serial_contains.clone(),
            after,
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
            // Graph never shows the hash.
            without_hash: true,
            ..Default::default()
        };
        let devices = self
            .tx
            .list_devices(self.tenant, &query)
            .await
            .map_err(store_error)?;
        Ok(devices
            .into_iter()
            .map(|d| {
                // The JSON is what `$filter` reads; without a filter nothing reads it (the page is
                // rendered once, from the devices, after paging).
                let json = if self.filtered {
                    let aad = self
                        .aad
                        .as_ref()
                        .and_then(|m| m.get(&d.directory_object_id).cloned())
                        .unwrap_or_default();
                    device_json(&d, &aad, self.version)
                } else {
                    Value::Null
                };
                Row {
                    id: d.ztdid.to_string(),
                    json,
                    item: d,
                }
            })
            .collect())
    }
}

/// Renders devices of a page: real directory ids and the requested expansions.
async fn render(
    tx: &mut Tx,
    ctx: &Ctx,
    tenant: TenantId,
    devices: &[AutopilotDevice],
) -> ApiResult<Vec<Value>> {
    let expand_delivered = ctx.version.is_beta() && ctx.query.expands("deploymentProfile");
    let expand_intended = ctx.version.is_beta() && ctx.query.expands("intendedDeploymentProfile");
    let profiles: HashMap<_, DeploymentProfile> = if expand_delivered || expand_intended {
        tx.list_profiles(tenant)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect()
    } else {
        HashMap::new()
    };
    // One lookup for the page's directory objects, not one per device.
    let object_ids: Vec<_> = devices.iter().map(|d| d.directory_object_id).collect();
    let directory_ids: HashMap<_, String> = tx
        .directory_device_ids(tenant, &object_ids)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|(object, device)| (object, device.to_string()))
        .collect();
    let mut out = Vec::with_capacity(devices.len());
    for d in devices {
        let aad = directory_ids
            .get(&d.directory_object_id)
            .cloned()
            .unwrap_or_default();
        let mut v = device_json(d, &aad, ctx.version);
        if let Value::Object(map) = &mut v {
            let nav = |id: Option<ztd_core::ProfileId>| {
                id.and_then(|id| profiles.get(&id))
                    .map(profile_json)
                    .unwrap_or(Value::Null)
            };
            if expand_delivered {
                map.insert(
                    "deploymentProfile".into(),
                    nav(d.assignment.delivered_profile_id),
                );
            }
            if expand_intended {
                map.insert(
                    "intendedDeploymentProfile".into(),
                    nav(d.assignment.intended_profile_id),
                );
            }
        }
        out.push(v);
    }
    Ok(out)
}

fn validate(ctx: &Ctx) -> ApiResult<()> {
    let navigations: &[&str] = if ctx.version.is_beta() {
        NAVIGATIONS_BETA
    } else {
        &[]
    };
    Ok(ctx.query.validate(&properties(ctx.version), navigations)?)
}

async fn page(
    state: &AppState,
    tenant: TenantId,
    version: Version,
    query: &QueryOptions,
) -> ApiResult<(Tx, paging::Page<AutopilotDevice>)> {
    let mut tx = read_tx(state).await?;
    let filter = query.filter.as_ref();
    // `azureActiveDirectoryDeviceId eq 'x'` (what tools send): one directory lookup instead of a scan.
    let by_aad = filter.and_then(|f| {
        f.required_equal("azureActiveDirectoryDeviceId")
            .or_else(|| f.required_equal("azureAdDeviceId"))
    });
    if let Some(aad) = by_aad {
        let mut rows = Vec::new();
        if let Some(device_id) = ztd_core::DirectoryDeviceId::parse(&aad) {
            let objects = tx
                .list_directory_devices(
                    tenant,
                    &DirectoryQuery {
                        device_id: Some(device_id),
                        ..Default::default()
                    },
                )
                .await
                .map_err(store_error)?;
            for object in objects {
                let Some(ztdid) = object.ztdid else { continue };
                if let Some(d) = tx.get_device(tenant, ztdid).await.map_err(store_error)? {
                    rows.push(Row {
                        id: d.ztdid.to_string(),
                        json: device_json(&d, &object.device_id.to_string(), version),
                        item: d,
                    });
                }
            }
        }
        let page = paging::page(query, &mut VecSource::new(rows)).await?;
        return Ok((tx, page));
    }
    let needs_aad = filter.is_some_and(|f| {
        f.mentions("azureActiveDirectoryDeviceId") || f.mentions("azureAdDeviceId")
    }) || query.order_by.iter().any(|(p, _)| {
        p.eq_ignore_ascii_case("azureActiveDirectoryDeviceId")
            || p.eq_ignore_ascii_case("azureAdDeviceId")
    });
    let aad = if needs_aad {
        Some(
            tx.all_directory_devices(tenant)
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|o| (o.id, o.device_id.to_string()))
                .collect(),
        )
    } else {
        None
    };
    let mut source = DeviceSource {
        tx,
        tenant,
        serial_contains: filter.and_then(|f| f.required_substring("serialNumber")),
        version,
        aad,
        filtered: filter.is_some() || !query.order_by.is_empty(),
    };
    let page = paging::page(query, &mut source).await?;
    Ok((source.tx, page))
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    validate(&ctx)?;
    let (mut tx, page) = page(&state, caller.tenant_id, ctx.version, &ctx.query).await?;
    let devices: Vec<AutopilotDevice> = page.rows.into_iter().map(|r| r.item).collect();
    let items = render(&mut tx, &ctx, caller.tenant_id, &devices).await?;
    Ok(ctx.collection(COLLECTION, items, page.next, page.count))
}

/// `/$count`: the number of matching devices as `text/plain`.
async fn count(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    validate(&ctx)?;
    let mut query = ctx.query.clone();
    query.count = true;
    query.top = Some(1);
    let (_, page) = page(&state, caller.tenant_id, ctx.version, &query).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

pub fn count_response(n: usize) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        n.to_string(),
    )
        .into_response()
}

/// A ZTDID from the path; anything else cannot name a device (404, as for an unknown id).
pub fn ztdid(id: &str) -> ApiResult<Ztdid> {
    Ztdid::parse(id).ok_or_else(|| {
        ApiError::not_found(format!("windowsAutopilotDeviceIdentity {id} was not found"))
    })
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    validate(&ctx)?;
    let ztdid = ztdid(&id)?;
    let mut tx = read_tx(&state).await?;
    let device = tx
        .get_device(caller.tenant_id, ztdid)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(format!("windowsAutopilotDeviceIdentity {id} was not found"))
        })?;
    let mut items = render(&mut tx, &ctx, caller.tenant_id, &[device]).await?;
    let item = items.pop().unwrap_or(Value::Null);
    Ok(ctx.entity(StatusCode::OK, COLLECTION, item))
}

async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    state
        .app
        .delete_device(caller.tenant_id, ztdid(&id)?)
        .await?;
    Ok(no_content())
}

async fn update_properties(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let update = DeviceUpdate {
        group_tag: body::string(&body, &["groupTag", "orderIdentifier"])?,
        display_name: body::string(&body, &["displayName"])?,
        user_principal_name: body::string(&body, &["userPrincipalName"])?,
        addressable_user_name: body::string(&body, &["addressableUserName"])?,
        purchase_order_id: None,
    };
    state
        .app
        .update_device(caller.tenant_id, ztdid(&id)?, update)
        .await?;
    Ok(no_content())
}

async fn assign_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let upn = body::string(&body, &["userPrincipalName"])?
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("userPrincipalName is required."))?;
    let update = DeviceUpdate {
        user_principal_name: Some(upn),
        addressable_user_name: body::string(&body, &["addressableUserName"])?,
        ..Default::default()
    };
    state
        .app
        .update_device(caller.tenant_id, ztdid(&id)?, update)
        .await?;
    Ok(no_content())
}

async fn unassign_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let update = DeviceUpdate {
        user_principal_name: Some(String::new()),
        addressable_user_name: Some(String::new()),
        ..Default::default()
    };
    state
        .app
        .update_device(caller.tenant_id, ztdid(&id)?, update)
        .await?;
    Ok(no_content())
}

async fn allow_next_enrollment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    state
        .app
        .allow_next_enrollment(caller.tenant_id, ztdid(&id)?)
        .await?;
    Ok(no_content())
}

/// The most serial numbers one `deleteDevices` call takes (clients send at most 100).
const MAX_DELETE_SERIALS: usize = 1000;

/// `deleteDevices {"serialNumbers":[...]}`: 200 with one `deletedWindowsAutopilotDeviceState` per serial.
async fn delete_devices(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Write)?;
    let serials = body::strings(&body, &["serialNumbers"])?
        .ok_or_else(|| ApiError::bad_request("serialNumbers is required."))?;
    if serials.len() > MAX_DELETE_SERIALS {
        return Err(ApiError::bad_request(format!(
            "{} serial numbers in one call; send at most {MAX_DELETE_SERIALS}.",
            serials.len()
        )));
    }
    let mut results = Vec::new();
    for serial in serials {
        let found = {
            let mut tx = read_tx(&state).await?;
            tx.find_devices_by_serial(caller.tenant_id, serial.trim())
                .await
                .map_err(store_error)?
        };
        if found.is_empty() {
            results.push(json!({
                "@odata.type": "microsoft.graph.deletedWindowsAutopilotDeviceState",
                "serialNumber": serial, "deviceRegistrationId": null, "deletionState": "failed",
                "errorMessage": format!("ZtdDeviceIsNotRegistered: no device with serial number {serial} is registered in this tenant"),
            }));
            continue;
        }
        for device in found {
            let (deletion_state, error) = match state
                .app
                .delete_device(caller.tenant_id, device.ztdid)
                .await
            {
                Ok(_) => ("accepted", Value::Null),
                Err(err) => ("error", Value::String(err.to_string())),
            };
            results.push(json!({
                "@odata.type": "microsoft.graph.deletedWindowsAutopilotDeviceState",
                "serialNumber": device.serial_number, "deviceRegistrationId": device.ztdid.to_string(),
                "deletionState": deletion_state, "errorMessage": error,
            }));
        }
    }
    Ok(ctx.collection(
        "Collection(microsoft.graph.deletedWindowsAutopilotDeviceState)",
        results,
        None,
        None,
    ))
}

async fn nav_profile(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    id: &str,
    intended: bool,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let device = state.app.device(caller.tenant_id, ztdid(id)?).await?;
    let profile_id = if intended {
        device.assignment.intended_profile_id
    } else {
        device.assignment.delivered_profile_id
    };
    let profile_id = profile_id.ok_or_else(|| {
        ApiError::not_found(format!(
            "device {id} has no {} profile",
            if intended { "intended" } else { "assigned" }
        ))
    })?;
    let profile = state.app.profile(caller.tenant_id, profile_id).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        "deviceManagement/windowsAutopilotDeploymentProfiles",
        profile_json(&profile),
    ))
}

async fn delivered_profile(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    nav_profile(&state, &caller, &ctx, &id, false).await
}

async fn intended_profile(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    nav_profile(&state, &caller, &ctx, &id, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The property lists used to validate `$filter`/`$select` are exactly what is serialised.
    #[test]
    fn property_lists_match_serialisation() {
        use ztd_core::device::{HardwareKeys, ProfileAssignmentState, RemediationState};
        let device = AutopilotDevice {
            tenant_id: TenantId(uuid::Uuid::nil()),
            ztdid: Ztdid(uuid::Uuid::nil()),
            serial_number: "S".into(),
            manufacturer: "M".into(),
            model: "X".into(),
            product_key: String::new(),
            sku_number: String::new(),
            system_family: String::new(),
            hardware_hash: String::new(),
            keys: HardwareKeys::default(),
            group_tag: String::new(),
            purchase_order_id: String::new(),
            user_principal_name: String::new(),
            addressable_user_name: String::new(),
            display_name: String::new(),
            enrollment_state: EnrollmentState::NotContacted,
            last_contacted_at: None,
            directory_object_id: DirectoryObjectId(uuid::Uuid::nil()),
            assignment: ProfileAssignmentState::unassigned(),
            remediation_state: RemediationState::NoRemediationRequired,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        for version in [Version::V1, Version::Beta] {
            let v = device_json(&device, "", version);
            let keys: Vec<&str> = v
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut expected = properties(version);
            let mut keys_sorted = keys.clone();
            keys_sorted.sort_unstable();
            expected.sort_unstable();
            assert_eq!(keys_sorted, expected, "{version:?}");
        }
    }
}
