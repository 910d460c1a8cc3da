//! `deviceManagement/windowsAutopilotDeviceIdentities`: the Autopilot device records. The id is the ZTDID.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};
use ztd_app::DeviceQuery;
use ztd_app::{App, DeviceUpdate};
use ztd_core::device::{AutopilotDevice, EnrollmentState};
use ztd_core::profile::DeploymentProfile;
use ztd_core::{DirectoryDeviceId, ProfileId, TenantId, Ztdid};

use super::body;
use super::odata::QueryOptions;
use super::paging::{self, Row, Source};
use super::profiles::{self, profile_json};
use super::{
    count_response, no_content, Ctx, DateTime, GraphBody, IdOrEmpty, Version, SERVICE_CONFIG,
};
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
        .route(
            "/deviceManagement/windowsAutopilotDeploymentProfiles/{id}/assignedDevices",
            get(assigned_devices),
        )
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

fn properties(version: Version) -> Vec<&'static str> {
    let mut props = PROPS_V1.to_vec();
    if version.is_beta() {
        props.extend_from_slice(PROPS_BETA_ONLY);
    }
    props
}

/// A device as Graph serialises it, written straight to the response (a page of them is the busiest
/// read of the API): no intermediate `Value` tree.
pub struct GraphDevice<'a> {
    pub device: &'a AutopilotDevice,
    pub version: Version,
    /// `$expand`ed navigation properties (beta): `Some(None)` is an expanded property with no profile.
    pub delivered_profile: Option<Option<&'a DeploymentProfile>>,
    pub intended_profile: Option<Option<&'a DeploymentProfile>>,
}

impl<'a> GraphDevice<'a> {
    pub fn new(device: &'a AutopilotDevice, version: Version) -> Self {
        Self {
            device,
            version,
            delivered_profile: None,
            intended_profile: None,
        }
    }
}

impl Serialize for GraphDevice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = self.device;
        let beta = self.version.is_beta();
        let enrollment_state = match (self.version, d.enrollment_state) {
            // v1.0's enrollmentState has no `blocked`.
            (Version::V1, EnrollmentState::Blocked) => "unknown",
            (_, state) => state.as_str(),
        };
        let aad = IdOrEmpty(Some(d.directory_device_id));
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("id", &IdOrEmpty(Some(d.ztdid)))?;
        map.serialize_entry("addressableUserName", &d.addressable_user_name)?;
        map.serialize_entry("azureActiveDirectoryDeviceId", &aad)?;
        map.serialize_entry("displayName", &d.display_name)?;
        map.serialize_entry("enrollmentState", enrollment_state)?;
        map.serialize_entry("groupTag", &d.group_tag)?;
        map.serialize_entry("lastContactedDateTime", &DateTime(d.last_contacted_at))?;
        map.serialize_entry("managedDeviceId", &IdOrEmpty(d.managed_device_id))?;
        map.serialize_entry("manufacturer", &d.manufacturer)?;
        map.serialize_entry("model", &d.model)?;
        map.serialize_entry("productKey", &d.product_key)?;
        map.serialize_entry("purchaseOrderIdentifier", &d.purchase_order_id)?;
        map.serialize_entry("resourceName", "")?;
        map.serialize_entry("serialNumber", &d.serial_number)?;
        map.serialize_entry("skuNumber", &d.sku_number)?;
        map.serialize_entry("systemFamily", &d.system_family)?;
        map.serialize_entry("userPrincipalName", &d.user_principal_name)?;
        if beta {
            map.serialize_entry(
                "deploymentProfileAssignmentStatus",
                d.assignment.status.as_str(),
            )?;
            map.serialize_entry("deploymentProfileAssignmentDetailedStatus", "none")?;
            map.serialize_entry(
                "deploymentProfileAssignedDateTime",
                &DateTime(d.assignment.assigned_at),
            )?;
            map.serialize_entry("azureAdDeviceId", &aad)?;
            map.serialize_entry("remediationState", d.remediation_state.as_str())?;
            map.serialize_entry(
                "remediationStateLastModifiedDateTime",
                &DateTime(Some(d.updated_at)),
            )?;
            map.serialize_entry("userlessEnrollmentStatus", "allowed")?;
            map.serialize_entry("deviceAccountUpn", "")?;
            map.serialize_entry("deviceAccountPassword", &())?;
            map.serialize_entry("deviceFriendlyName", "")?;
            if let Some(profile) = self.delivered_profile {
                map.serialize_entry("deploymentProfile", &profile.map(profile_json))?;
            }
            if let Some(profile) = self.intended_profile {
                map.serialize_entry("intendedDeploymentProfile", &profile.map(profile_json))?;
            }
        }
        map.end()
    }
}

/// A device as a JSON value (what `$filter` and `$orderby` read).
pub fn device_json(d: &AutopilotDevice, version: Version) -> Value {
    // Serialising plain strings and ids cannot fail.
    serde_json::to_value(GraphDevice::new(d, version)).unwrap_or(Value::Null)
}

/// Autopilot devices of one tenant in ZTDID order, with what the `$filter` implies pushed down to SQL.
struct DeviceSource<'a> {
    app: &'a App,
    tenant: TenantId,
    /// The store's part of the filter (`after` and `limit` are set per chunk).
    query: DeviceQuery,
    version: Version,
    /// Whether rows need their Graph JSON (a `$filter` or `$orderby` reads it).
    filtered: bool,
    /// Whether the store's query is the whole `$filter`.
    exact: bool,
}

impl Source for DeviceSource<'_> {
    type Item = AutopilotDevice;

    fn filters_exactly(&self) -> bool {
        self.exact
    }

    async fn chunk(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<Row<AutopilotDevice>>> {
        let query = DeviceQuery {
            after: paging::resume_key(after, Ztdid::parse)?,
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
            ..self.query.clone()
        };
        let devices = self.app.device_page(self.tenant, &query).await?;
        Ok(devices
            .into_iter()
            .map(|device| {
                // The JSON is what `$filter` reads; without a filter nothing reads it (the page is
                // serialised once, from the devices, after paging).
                let json = if self.filtered {
                    device_json(&device, self.version)
                } else {
                    Value::Null
                };
                Row {
                    id: device.ztdid.to_string(),
                    json,
                    item: device,
                }
            })
            .collect())
    }
}

/// What a page's `$expand` asks for (beta only), with the profiles it needs by id (none without one).
struct Expansions {
    delivered: bool,
    intended: bool,
    profiles: HashMap<ProfileId, DeploymentProfile>,
}

async fn expansions(state: &AppState, ctx: &Ctx, tenant: TenantId) -> ApiResult<Expansions> {
    let delivered = ctx.version.is_beta() && ctx.query.expands("deploymentProfile");
    let intended = ctx.version.is_beta() && ctx.query.expands("intendedDeploymentProfile");
    let profiles = if delivered || intended {
        state
            .app
            .profiles(tenant)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect()
    } else {
        HashMap::new()
    };
    Ok(Expansions {
        delivered,
        intended,
        profiles,
    })
}

/// Devices of a page as Graph shows them, with the requested expansions.
fn render<'a>(
    ctx: &Ctx,
    devices: &'a [AutopilotDevice],
    expansions: &'a Expansions,
) -> Vec<GraphDevice<'a>> {
    let nav = |id: Option<ProfileId>| id.and_then(|id| expansions.profiles.get(&id));
    devices
        .iter()
        .map(|d| GraphDevice {
            delivered_profile: expansions
                .delivered
                .then(|| nav(d.assignment.delivered_profile_id)),
            intended_profile: expansions
                .intended
                .then(|| nav(d.assignment.intended_profile_id)),
            ..GraphDevice::new(d, ctx.version)
        })
        .collect()
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
) -> ApiResult<paging::Page<AutopilotDevice>> {
    page_within(state, tenant, version, query, DeviceQuery::default()).await
}

/// A page of the devices `scope` selects (all of them by default), with the request's OData applied and as
/// much of it as the store can answer pushed down to it.
pub(super) async fn page_within(
    state: &AppState,
    tenant: TenantId,
    version: Version,
    query: &QueryOptions,
    scope: DeviceQuery,
) -> ApiResult<paging::Page<AutopilotDevice>> {
    let filter = query.filter.as_ref();
    // `azureActiveDirectoryDeviceId eq 'x'` (what tools send): through the directory's index, not a scan.
    let directory_device_id = match paging::pinned_id(
        query,
        &["azureActiveDirectoryDeviceId", "azureAdDeviceId"],
        DirectoryDeviceId::parse,
    ) {
        Ok(id) => id,
        Err(nothing) => return Ok(nothing),
    };
    // `contains(serialNumber,'x')` alone (the console's search box) is answered by the store exactly:
    // its serial match is the same case-insensitive substring test.
    let exact = filter.is_some_and(|f| f.only_contains("serialNumber").is_some());
    let mut source = DeviceSource {
        app: &state.app,
        tenant,
        query: DeviceQuery {
            serial_contains: filter.and_then(|f| f.required_substring("serialNumber")),
            directory_device_id,
            // Graph never shows the hash or the hardware keys.
            without_hardware: true,
            ..scope
        },
        version,
        filtered: !query.order_by.is_empty() || (query.reads_items() && !exact),
        exact,
    };
    paging::page(query, &mut source).await
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    validate(&ctx)?;
    let page = page(&state, caller.tenant_id, ctx.version, &ctx.query).await?;
    let devices: Vec<AutopilotDevice> = page.rows.into_iter().map(|r| r.item).collect();
    let expansions = expansions(&state, &ctx, caller.tenant_id).await?;
    let items = render(&ctx, &devices, &expansions);
    Ok(ctx.collection(COLLECTION, items, page.next, page.count))
}

/// `/$count`: the number of matching devices as `text/plain`.
async fn count(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    validate(&ctx)?;
    let mut query = ctx.query.clone();
    query.count = true;
    query.top = Some(1);
    let page = page(&state, caller.tenant_id, ctx.version, &query).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

/// A deployment profile's `assignedDevices`: the devices whose intended profile it is (served here, with
/// the device pages it shares its paging with).
async fn assigned_devices(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(SERVICE_CONFIG, Access::Read)?;
    ctx.beta_only()?;
    let profile = state
        .app
        .profile(caller.tenant_id, profiles::profile_id(&id)?)
        .await?;
    let scope = DeviceQuery {
        intended_profile_id: Some(profile.id),
        ..Default::default()
    };
    let page = page_within(&state, caller.tenant_id, ctx.version, &ctx.query, scope).await?;
    let items = page
        .rows
        .into_iter()
        .map(|r| device_json(&r.item, ctx.version))
        .collect();
    Ok(ctx.collection(
        &format!("{}('{id}')/assignedDevices", profiles::COLLECTION),
        items,
        page.next,
        page.count,
    ))
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
    let device = state.app.device(caller.tenant_id, ztdid(&id)?).await?;
    let expansions = expansions(&state, &ctx, caller.tenant_id).await?;
    let devices = [device];
    let items = render(&ctx, &devices, &expansions);
    let item = serde_json::to_value(&items[0]).unwrap_or(Value::Null);
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
    let outcomes = state
        .app
        .delete_devices_by_serial(caller.tenant_id, &serials)
        .await?;
    let results: Vec<Value> = outcomes
        .into_iter()
        .map(|outcome| {
            let (deletion_state, error) = match (&outcome.ztdid, &outcome.result) {
                (None, _) => (
                    "failed",
                    Value::String(format!(
                        "ZtdDeviceIsNotRegistered: no device with serial number {} is registered in this tenant",
                        outcome.serial_number
                    )),
                ),
                (Some(_), Ok(())) => ("accepted", Value::Null),
                (Some(_), Err(err)) => ("error", Value::String(err.to_string())),
            };
            json!({
                "@odata.type": "microsoft.graph.deletedWindowsAutopilotDeviceState",
                "serialNumber": outcome.serial_number,
                "deviceRegistrationId": outcome.ztdid.map(|z| z.to_string()),
                "deletionState": deletion_state,
                "errorMessage": error,
            })
        })
        .collect();
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
    use ztd_core::{DirectoryObjectId, Timestamp};

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
            directory_device_id: ztd_core::DirectoryDeviceId(uuid::Uuid::nil()),
            assignment: ProfileAssignmentState::unassigned(),
            remediation_state: RemediationState::NoRemediationRequired,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            managed_device_id: None,
        };
        for version in [Version::V1, Version::Beta] {
            let v = device_json(&device, version);
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
