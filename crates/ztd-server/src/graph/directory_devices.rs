//! `/devices`: the Entra-style device objects that Autopilot registration creates.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use ztd_app::DirectoryQuery;
use ztd_app::{App, AppError};
use ztd_core::directory::DirectoryDevice;
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, DomainError, TenantId};

use super::odata::QueryOptions;
use super::paging::{self, Row, Source};
use super::{
    body, count_response, no_content, require_any, Ctx, DateTime, GraphBody, DEVICE, DIRECTORY,
};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub(super) const DEVICE_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "approximateLastSignInDateTime",
    "deviceId",
    "deviceMetadata",
    "deviceVersion",
    "displayName",
    "isCompliant",
    "isManaged",
    "manufacturer",
    "mdmAppId",
    "model",
    "operatingSystem",
    "operatingSystemVersion",
    "physicalIds",
    "profileType",
    "registrationDateTime",
    "systemLabels",
    "trustType",
    "enrollmentProfileName",
    "enrollmentType",
    "deviceOwnership",
    "managementType",
    "onPremisesSyncEnabled",
    "alternativeSecurityIds",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list_devices))
        .route("/devices/$count", get(count_devices))
        .route(
            "/devices/{id}",
            get(get_device).patch(update_device).delete(delete_device),
        )
        .route("/devices/{id}/registeredOwners", get(registered_users))
        .route("/devices/{id}/registeredUsers", get(registered_users))
        .route("/devices/{id}/memberOf", get(member_of))
        .route("/devices/{id}/memberOf/group", get(member_of))
        // Groups hold no groups in ztd: the transitive groups are the direct ones.
        .route("/devices/{id}/transitiveMemberOf", get(member_of))
        .route("/devices/{id}/transitiveMemberOf/group", get(member_of))
}

/// Text Graph shows as `null` when empty.
pub(super) struct Nullable<'a>(pub(super) &'a str);

impl Serialize for Nullable<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            serializer.serialize_none()
        } else {
            serializer.serialize_str(self.0)
        }
    }
}

/// A device object as Graph serialises it, written straight to the response; as a group member it
/// carries its `@odata.type` first.
pub struct GraphDirectoryDevice<'a> {
    pub device: &'a DirectoryDevice,
    pub with_type: bool,
}

impl Serialize for GraphDirectoryDevice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = self.device;
        let none = ();
        let empty: [&str; 0] = [];
        let mut map = serializer.serialize_map(None)?;
        if self.with_type {
            map.serialize_entry("@odata.type", "#microsoft.graph.device")?;
        }
        map.serialize_entry("id", &d.id)?;
        map.serialize_entry("deletedDateTime", &none)?;
        map.serialize_entry("accountEnabled", &d.account_enabled)?;
        map.serialize_entry("approximateLastSignInDateTime", &none)?;
        map.serialize_entry("deviceId", &d.device_id)?;
        map.serialize_entry("deviceMetadata", &none)?;
        map.serialize_entry("deviceVersion", &2)?;
        map.serialize_entry("displayName", &d.display_name)?;
        map.serialize_entry("isCompliant", &none)?;
        map.serialize_entry("isManaged", &none)?;
        map.serialize_entry("manufacturer", &Nullable(&d.manufacturer))?;
        map.serialize_entry("mdmAppId", &none)?;
        map.serialize_entry("model", &Nullable(&d.model))?;
        map.serialize_entry("operatingSystem", &Nullable(&d.operating_system))?;
        map.serialize_entry(
            "operatingSystemVersion",
            &Nullable(&d.operating_system_version),
        )?;
        map.serialize_entry("physicalIds", &d.physical_ids)?;
        map.serialize_entry("profileType", "RegisteredDevice")?;
        map.serialize_entry("registrationDateTime", &DateTime(Some(d.created_at)))?;
        map.serialize_entry("systemLabels", &empty)?;
        map.serialize_entry("trustType", &Nullable(&d.trust_type))?;
        map.serialize_entry(
            "enrollmentProfileName",
            &Nullable(&d.enrollment_profile_name),
        )?;
        map.serialize_entry("enrollmentType", &none)?;
        map.serialize_entry("deviceOwnership", "Company")?;
        map.serialize_entry("managementType", &none)?;
        map.serialize_entry("onPremisesSyncEnabled", &none)?;
        map.serialize_entry(
            "alternativeSecurityIds",
            &AlternativeSecurityIds(&d.alternative_security_id),
        )?;
        map.end()
    }
}

/// Graph's `alternativeSecurityIds`: the join's `X509:<SHA1-TP-PUBKEY>…` value as one type-2 entry whose
/// `key` is the UTF-16LE bytes of the text (base64, as Graph shows binary); none before a join.
struct AlternativeSecurityIds<'a>(&'a str);

impl Serialize for AlternativeSecurityIds<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        if !self.0.is_empty() {
            let bytes: Vec<u8> = self.0.encode_utf16().flat_map(u16::to_le_bytes).collect();
            seq.serialize_element(&serde_json::json!({
                "type": 2,
                "identityProvider": null,
                "key": base64::engine::general_purpose::STANDARD.encode(bytes),
            }))?;
        }
        seq.end()
    }
}

/// A device object as a JSON value (what `$filter` reads).
pub fn directory_device_json(d: &DirectoryDevice) -> Value {
    to_value(GraphDirectoryDevice {
        device: d,
        with_type: false,
    })
}

fn to_value(item: impl Serialize) -> Value {
    // Plain strings, flags and ids: serialising cannot fail.
    serde_json::to_value(item).unwrap_or(Value::Null)
}

fn require_device(caller: &Caller, access: Access) -> ApiResult<()> {
    require_any(caller, &[DEVICE, DIRECTORY], access)
}

/// Directory objects of a tenant in object-id order, with `deviceId eq`/`displayName eq` pushed down.
struct DirectorySource<'a> {
    app: &'a ztd_app::App,
    tenant: TenantId,
    device_id: Option<DirectoryDeviceId>,
    display_name: Option<String>,
    /// Whether rows need their Graph JSON (a `$filter` or `$orderby` reads it).
    filtered: bool,
}

impl Source for DirectorySource<'_> {
    type Item = DirectoryDevice;

    async fn chunk(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<Row<DirectoryDevice>>> {
        let query = DirectoryQuery {
            device_id: self.device_id,
            display_name: self.display_name.clone(),
            after: paging::resume_key(after, DirectoryObjectId::parse)?,
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        };
        let objects = self.app.directory_devices(self.tenant, &query).await?;
        Ok(rows(objects, self.filtered, directory_device_json))
    }
}

/// Rows of directory objects, with their JSON only when a filter or an ordering reads it.
pub(super) fn rows(
    objects: Vec<DirectoryDevice>,
    filtered: bool,
    json: fn(&DirectoryDevice) -> Value,
) -> Vec<Row<DirectoryDevice>> {
    objects
        .into_iter()
        .map(|o| Row {
            id: o.id.to_string(),
            json: if filtered { json(&o) } else { Value::Null },
            item: o,
        })
        .collect()
}

/// A page of directory objects as Graph shows them.
pub(super) fn render(
    objects: &[Row<DirectoryDevice>],
    with_type: bool,
) -> Vec<GraphDirectoryDevice<'_>> {
    objects
        .iter()
        .map(|row| GraphDirectoryDevice {
            device: &row.item,
            with_type,
        })
        .collect()
}

async fn device_page(
    state: &AppState,
    tenant: TenantId,
    query: &QueryOptions,
) -> ApiResult<paging::Page<DirectoryDevice>> {
    let filter = query.filter.as_ref();
    let device_id = match paging::pinned_id(query, &["deviceId"], DirectoryDeviceId::parse) {
        Ok(id) => id,
        Err(nothing) => return Ok(nothing),
    };
    let mut source = DirectorySource {
        app: &state.app,
        tenant,
        device_id,
        display_name: filter.and_then(|f| f.required_equal("displayName")),
        filtered: query.reads_items(),
    };
    paging::page(query, &mut source).await
}

async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_device(&caller, Access::Read)?;
    ctx.query.validate(
        DEVICE_PROPS,
        &["memberOf", "registeredOwners", "registeredUsers"],
    )?;
    let page = device_page(&state, caller.tenant_id, &ctx.query).await?;
    let items = render(&page.rows, false);
    Ok(ctx.collection("devices", items, page.next, page.count))
}

async fn count_devices(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_device(&caller, Access::Read)?;
    ctx.query.validate(DEVICE_PROPS, &[])?;
    let mut query = ctx.query.clone();
    query.count = true;
    query.top = Some(1);
    let page = device_page(&state, caller.tenant_id, &query).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

/// A device by object id, or by the alternate key `deviceId=...` (`/devices(deviceId='...')`).
pub(super) async fn find_device(
    app: &App,
    tenant: TenantId,
    id: &str,
) -> ApiResult<DirectoryDevice> {
    let not_found = || ApiError::directory_object_not_found(id);
    if let Some(device_id) = id.strip_prefix("deviceId=") {
        let device_id = DirectoryDeviceId::parse(device_id).ok_or_else(not_found)?;
        let found = app
            .directory_devices(
                tenant,
                &DirectoryQuery {
                    device_id: Some(device_id),
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .await?;
        return found.into_iter().next().ok_or_else(not_found);
    }
    let object = DirectoryObjectId::parse(id).ok_or_else(not_found)?;
    app.directory_device(tenant, object)
        .await?
        .ok_or_else(not_found)
}

async fn get_device(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_device(&caller, Access::Read)?;
    ctx.query.validate(DEVICE_PROPS, &[])?;
    let device = find_device(&state.app, caller.tenant_id, &id).await?;
    Ok(ctx.entity(StatusCode::OK, "devices", directory_device_json(&device)))
}

/// Deleting the device object of a registered Autopilot device is refused: ztd removes the object together
/// with the registration (`DELETE windowsAutopilotDeviceIdentities/{id}`), in the documented order.
async fn delete_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_device(&caller, Access::Write)?;
    let device = find_device(&state.app, caller.tenant_id, &id).await?;
    state
        .app
        .delete_directory_object(caller.tenant_id, device.id)
        .await
        .map_err(|err| match err {
            // The refusal answers with its message alone, as Entra words it.
            AppError::Invalid(errors) => match errors.as_slice() {
                [DomainError::InvalidField { message, .. }] => {
                    ApiError::bad_request(message.clone())
                }
                _ => ApiError::from(AppError::Invalid(errors)),
            },
            other => ApiError::from(other),
        })?;
    Ok(no_content())
}

/// `PATCH devices/{id}`: `accountEnabled` and `displayName`, as an administrator changes them. Disabling a
/// joined device stops its certificate, PRTs and device tokens until it is enabled again.
async fn update_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_device(&caller, Access::Write)?;
    if let Value::Object(map) = &body {
        if let Some(other) = map
            .keys()
            .find(|k| !["accountEnabled", "displayName"].contains(&k.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "Property '{}' cannot be changed on a device object here; ztd changes accountEnabled and displayName.",
                ztd_formats::excerpt_chars(other, 80)
            )));
        }
    }
    let update = ztd_app::drs::DirectoryObjectUpdate {
        account_enabled: body::boolean(&body, &["accountEnabled"])?,
        display_name: body::string(&body, &["displayName"])?,
    };
    let device = find_device(&state.app, caller.tenant_id, &id).await?;
    state
        .app
        .update_directory_object(caller.tenant_id, device.id, update)
        .await?;
    Ok(no_content())
}

/// `devices/{id}/registeredOwners` and `registeredUsers`: the user who joined or registered the device.
async fn registered_users(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, &[DEVICE, DIRECTORY], Access::Read)?;
    ctx.query.validate(super::users::PROPS, &[])?;
    let device = find_device(&state.app, caller.tenant_id, &id).await?;
    let mut items = Vec::new();
    if let Some(user) = device.registered_user_id {
        // A deleted user is no longer listed.
        if let Ok(user) = state.app.user(caller.tenant_id, &user.to_string()).await {
            let mut json = super::users::user_json(&user);
            if let Value::Object(map) = &mut json {
                map.insert("@odata.type".into(), "#microsoft.graph.user".into());
            }
            items.push(json);
        }
    }
    let count = ctx.query.count.then_some(items.len());
    Ok(ctx.collection("directoryObjects", items, None, count))
}

/// `devices/{id}/memberOf`: the groups the device object is in.
async fn member_of(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(
        &caller,
        &[DEVICE, DIRECTORY, super::GROUP_MEMBER, super::GROUP],
        Access::Read,
    )?;
    let device = find_device(&state.app, caller.tenant_id, &id).await?;
    super::groups::member_of(&state, &caller, &ctx, device.id).await
}
