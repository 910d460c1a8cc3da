//! `deviceManagement/managedDevices`: devices enrolled in ztd's MDM service, with their inventory, and the
//! remote actions an administrator requests (carried out at the device's next session).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use ztd_app::mdm::DeviceAction;
use ztd_app::ManagedDeviceQuery;
use ztd_core::managed::{EnrollmentType, JoinType, ManagedDevice};
use ztd_core::ManagedDeviceId;

use super::paging::{self, Row, Source};
use super::{count_response, no_content, Ctx, DateTime, Version};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const COLLECTION: &str = "deviceManagement/managedDevices";
const FAMILY: &str = "DeviceManagementManagedDevices";
/// Graph's `azureADDeviceId` of a device that is not in the directory.
const NO_DEVICE: &str = "00000000-0000-0000-0000-000000000000";
/// Graph's `complianceGracePeriodExpirationDateTime` when no grace period runs.
const NO_GRACE_PERIOD: &str = "9999-12-31T23:59:59Z";

/// Properties of the v1.0 projection.
const PROPS_V1: &[&str] = &[
    "id",
    "userId",
    "deviceName",
    "managedDeviceOwnerType",
    "enrolledDateTime",
    "lastSyncDateTime",
    "operatingSystem",
    "complianceState",
    "jailBroken",
    "managementAgent",
    "osVersion",
    "easActivated",
    "easDeviceId",
    "easActivationDateTime",
    "azureADRegistered",
    "deviceEnrollmentType",
    "activationLockBypassCode",
    "emailAddress",
    "azureADDeviceId",
    "deviceRegistrationState",
    "deviceCategoryDisplayName",
    "isSupervised",
    "exchangeLastSuccessfulSyncDateTime",
    "exchangeAccessState",
    "exchangeAccessStateReason",
    "remoteAssistanceSessionUrl",
    "remoteAssistanceSessionErrorDetails",
    "isEncrypted",
    "userPrincipalName",
    "model",
    "manufacturer",
    "imei",
    "complianceGracePeriodExpirationDateTime",
    "serialNumber",
    "phoneNumber",
    "androidSecurityPatchLevel",
    "userDisplayName",
    "wiFiMacAddress",
    "subscriberCarrier",
    "meid",
    "totalStorageSpaceInBytes",
    "freeStorageSpaceInBytes",
    "managedDeviceName",
    "partnerReportedThreatState",
    "managementCertificateExpirationDate",
    "physicalMemoryInBytes",
    "ztdHardwareHash",
];
/// Properties only beta has.
const PROPS_BETA_ONLY: &[&str] = &[
    "managementState",
    "joinType",
    "autopilotEnrolled",
    "hardwareInformation",
    "skuFamily",
];

pub fn routes() -> Router<AppState> {
    let base = "/deviceManagement/managedDevices";
    Router::new()
        .route(base, get(list))
        .route(&format!("{base}/$count"), get(count))
        .route(&format!("{base}/{{id}}"), get(get_one).delete(delete_one))
        .route(&format!("{base}/{{id}}/retire"), post(retire))
        .route(&format!("{base}/{{id}}/wipe"), post(wipe))
        .route(&format!("{base}/{{id}}/rebootNow"), post(reboot_now))
        .route(&format!("{base}/{{id}}/syncDevice"), post(sync_device))
}

fn properties(version: Version) -> Vec<&'static str> {
    let mut props = PROPS_V1.to_vec();
    if version.is_beta() {
        props.extend_from_slice(PROPS_BETA_ONLY);
    }
    props
}

fn flag_node<'a>(device: &'a ManagedDevice, uri: &str) -> &'a str {
    device.inventory.get(uri).map(String::as_str).unwrap_or("")
}

/// A managed device as Graph shows it.
pub fn managed_device_json(d: &ManagedDevice, version: Version) -> Value {
    let registered = d.directory_object_id.is_some();
    let grace_expiry = match d.grace_period_ends_at {
        Some(at) => json!(DateTime(Some(at))),
        None => json!(NO_GRACE_PERIOD),
    };
    let mut body = json!({
        "id": d.id.to_string(),
        "userId": d.user_id.map(|u| u.to_string()).unwrap_or_default(),
        "deviceName": d.device_name,
        "managedDeviceOwnerType": match d.enrollment_type {
            EnrollmentType::Device => "company",
            EnrollmentType::Full => "personal",
        },
        "enrolledDateTime": DateTime(Some(d.enrolled_at)),
        "lastSyncDateTime": DateTime(d.last_sync_at),
        "operatingSystem": "Windows",
        "complianceState": d.compliance_state.as_str(),
        "jailBroken": "Unknown",
        "managementAgent": "mdm",
        "osVersion": d.os_version(),
        "easActivated": false,
        "easDeviceId": "",
        "easActivationDateTime": DateTime(None),
        "azureADRegistered": registered,
        "deviceEnrollmentType": d.device_enrollment_type.as_str(),
        "activationLockBypassCode": null,
        "emailAddress": d.user_principal_name,
        "azureADDeviceId": d.directory_device_id.map(|id| id.to_string()).unwrap_or_else(|| NO_DEVICE.into()),
        "deviceRegistrationState": if registered { "registered" } else { "notRegistered" },
    });
    let rest = json!({
        "deviceCategoryDisplayName": "Unknown",
        "isSupervised": false,
        "exchangeLastSuccessfulSyncDateTime": DateTime(None),
        "exchangeAccessState": "none",
        "exchangeAccessStateReason": "none",
        "remoteAssistanceSessionUrl": null,
        "remoteAssistanceSessionErrorDetails": null,
        "isEncrypted": d.is_encrypted(),
        "userPrincipalName": d.user_principal_name,
        "model": d.model(),
        "manufacturer": d.manufacturer(),
        "imei": "",
        "complianceGracePeriodExpirationDateTime": grace_expiry,
        "serialNumber": d.serial_number(),
        "phoneNumber": "",
        "androidSecurityPatchLevel": "",
        "userDisplayName": d.user_principal_name.split('@').next().unwrap_or_default(),
        "wiFiMacAddress": "",
        "subscriberCarrier": "",
        "meid": "",
        "totalStorageSpaceInBytes": 0,
        "freeStorageSpaceInBytes": 0,
        "managedDeviceName": d.device_name,
        "partnerReportedThreatState": "unknown",
        "managementCertificateExpirationDate": DateTime(Some(d.certificate_expires_at)),
        "physicalMemoryInBytes": d.physical_memory_bytes(),
        // ztd's own: the 4K hash the device reported in DevDetail (hash harvesting).
        "ztdHardwareHash": d.hardware_hash(),
    });
    if let (Value::Object(map), Value::Object(rest)) = (&mut body, rest) {
        map.extend(rest);
    }
    if version.is_beta() {
        if let Value::Object(map) = &mut body {
            map.insert("managementState".into(), json!(d.management_state.as_str()));
            map.insert("joinType".into(), json!(d.join_type.as_str()));
            map.insert(
                "autopilotEnrolled".into(),
                json!(d.join_type != JoinType::Unknown && d.hardware_hash().is_some()),
            );
            map.insert("skuFamily".into(), json!(""));
            map.insert(
                "hardwareInformation".into(),
                json!({
                    "serialNumber": d.serial_number(),
                    "manufacturer": d.manufacturer(),
                    "model": d.model(),
                    "operatingSystemEdition": flag_node(d, ztd_core::managed::nodes::OS_PLATFORM),
                    "tpmSpecificationVersion": flag_node(d, ztd_core::managed::nodes::TPM_VERSION),
                    "isEncrypted": d.is_encrypted(),
                    "systemManagementBIOSVersion": flag_node(d, ztd_core::managed::nodes::FIRMWARE_VERSION),
                }),
            );
        }
    }
    body
}

/// A tenant's managed devices in id order, a chunk at a time.
struct ManagedSource<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    version: Version,
}

impl Source for ManagedSource<'_> {
    type Item = ();

    async fn chunk(&mut self, after: Option<&str>, limit: usize) -> ApiResult<Vec<Row<()>>> {
        let query = ManagedDeviceQuery {
            after: paging::resume_key(after, ManagedDeviceId::parse)?,
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        };
        Ok(self
            .state
            .app
            .managed_devices(self.caller.tenant_id, &query)
            .await?
            .iter()
            .map(|d| Row::json(d.id.to_string(), managed_device_json(d, self.version)))
            .collect())
    }
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    ctx.query.validate(&properties(ctx.version), &[])?;
    let mut source = ManagedSource {
        state: &state,
        caller: &caller,
        version: ctx.version,
    };
    let page = paging::page(&ctx.query, &mut source).await?;
    let items: Vec<Value> = page.rows.into_iter().map(|r| r.json).collect();
    Ok(ctx.collection(COLLECTION, items, page.next, page.count))
}

async fn count(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    ctx.query.validate(&properties(ctx.version), &[])?;
    let mut query = ctx.query.clone();
    query.count = true;
    query.top = Some(1);
    let mut source = ManagedSource {
        state: &state,
        caller: &caller,
        version: ctx.version,
    };
    let page = paging::page(&query, &mut source).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

fn parse_id(id: &str) -> ApiResult<ManagedDeviceId> {
    ManagedDeviceId::parse(id)
        .ok_or_else(|| ApiError::not_found(format!("No managedDevice has the id {:?}.", clip(id))))
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Read)?;
    ctx.query.validate(&properties(ctx.version), &[])?;
    let device = state
        .app
        .managed_device(caller.tenant_id, parse_id(&id)?)
        .await?;
    Ok(ctx.entity(
        StatusCode::OK,
        COLLECTION,
        managed_device_json(&device, ctx.version),
    ))
}

async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    state
        .app
        .delete_managed_device(caller.tenant_id, parse_id(&id)?)
        .await?;
    Ok(no_content())
}

async fn action(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: DeviceAction,
) -> ApiResult<Response> {
    caller.require(FAMILY, Access::Write)?;
    state
        .app
        .request_device_action(caller.tenant_id, parse_id(id)?, action)
        .await?;
    Ok(no_content())
}

async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    action(&state, &caller, &id, DeviceAction::Retire).await
}

async fn wipe(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    action(&state, &caller, &id, DeviceAction::Wipe).await
}

async fn reboot_now(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    action(&state, &caller, &id, DeviceAction::RebootNow).await
}

async fn sync_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    action(&state, &caller, &id, DeviceAction::SyncDevice).await
}
