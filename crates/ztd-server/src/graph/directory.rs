//! Directory resources: `/devices` (the Entra-style device objects Autopilot creates), `/groups` (static and
//! dynamic device groups and their members) and `/organization`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Value};
use ztd_app::DirectoryQuery;
use ztd_app::{App, AppError, NewGroup};
use ztd_core::directory::DirectoryDevice;
use ztd_core::group::Group;
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, DomainError, GroupId, TenantId};

use super::body;
use super::odata::QueryOptions;
use super::paging::{self, Row, Source, VecSource};
use super::{
    count_response, no_content, require_any, Ctx, DateTime, GraphBody, DEVICE, DIRECTORY, GROUP,
    GROUP_MEMBER, SERVICE_CONFIG,
};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

const DEVICE_PROPS: &[&str] = &[
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

const GROUP_PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "securityEnabled",
    "isAssignableToRole",
    "visibility",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/devices", get(list_devices))
        .route("/devices/$count", get(count_devices))
        .route("/devices/{id}", get(get_device).delete(delete_device))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/$count", get(count_groups))
        .route(
            "/groups/{id}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route("/groups/{id}/members", get(list_members))
        .route("/groups/{id}/members/device", get(list_members))
        .route("/groups/{id}/members/$count", get(count_members))
        .route("/groups/{id}/transitiveMembers", get(list_members))
        .route("/groups/{id}/members/$ref", post(add_member))
        .route("/groups/{id}/members/{member}/$ref", delete(remove_member))
        .route("/organization", get(list_organization))
        .route("/organization/{id}", get(get_organization))
}

/// Text Graph shows as `null` when empty.
struct Nullable<'a>(&'a str);

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
        map.serialize_entry("alternativeSecurityIds", &empty)?;
        map.end()
    }
}

/// A device object as a JSON value (what `$filter` reads).
pub fn directory_device_json(d: &DirectoryDevice) -> Value {
    to_value(GraphDirectoryDevice {
        device: d,
        with_type: false,
    })
}

/// A group member as a JSON value.
fn member_json(d: &DirectoryDevice) -> Value {
    to_value(GraphDirectoryDevice {
        device: d,
        with_type: true,
    })
}

fn to_value(item: impl Serialize) -> Value {
    // Plain strings, flags and ids: serialising cannot fail.
    serde_json::to_value(item).unwrap_or(Value::Null)
}

fn require_device(caller: &Caller, access: Access) -> ApiResult<()> {
    require_any(caller, &[DEVICE, DIRECTORY], access)
}

fn require_group(caller: &Caller, access: Access) -> ApiResult<()> {
    require_any(caller, &[GROUP, DIRECTORY], access)
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
            member_of: None,
        };
        let objects = self.app.directory_devices(self.tenant, &query).await?;
        Ok(rows(objects, self.filtered, directory_device_json))
    }
}

/// Rows of directory objects, with their JSON only when a filter or an ordering reads it.
fn rows(
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
fn render(objects: &[Row<DirectoryDevice>], with_type: bool) -> Vec<GraphDirectoryDevice<'_>> {
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
async fn find_device(app: &App, tenant: TenantId, id: &str) -> ApiResult<DirectoryDevice> {
    let not_found = || {
        ApiError::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
    };
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

// Groups ------------------------------------------------------------------------------------------------

/// A mail nickname for a group: ztd stores none, so one is derived from the name (Graph requires the
/// property; tools never read it back).
fn nickname(name: &str) -> String {
    let slug: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if slug.is_empty() {
        "group".into()
    } else {
        slug
    }
}

pub fn group_json(g: &Group) -> Value {
    let dynamic = g.is_dynamic();
    json!({
        "id": g.id.to_string(),
        "createdDateTime": g.created_at.to_rfc3339(),
        "description": &Nullable(&g.description),
        "displayName": g.display_name,
        "groupTypes": if dynamic { json!(["DynamicMembership"]) } else { json!([]) },
        "mail": null,
        "mailEnabled": false,
        "mailNickname": nickname(&g.display_name),
        "membershipRule": g.membership_rule,
        "membershipRuleProcessingState": if dynamic { json!(if g.rule_processing_on { "On" } else { "Paused" }) } else { Value::Null },
        "securityEnabled": true,
        "isAssignableToRole": null,
        "visibility": null,
    })
}

fn group_id(id: &str) -> ApiResult<GroupId> {
    GroupId::parse(id).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
    })
}

async fn group_rows(state: &AppState, tenant: TenantId) -> ApiResult<Vec<Row<()>>> {
    Ok(state
        .app
        .groups(tenant)
        .await?
        .iter()
        .map(|g| Row {
            id: g.id.to_string(),
            json: group_json(g),
            item: (),
        })
        .collect())
}

async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_group(&caller, Access::Read)?;
    ctx.query.validate(GROUP_PROPS, &["members"])?;
    let rows = group_rows(&state, caller.tenant_id).await?;
    let page = paging::page(&ctx.query, &mut VecSource::new(rows)).await?;
    let mut items = Vec::new();
    for row in page.rows {
        let mut v = row.json;
        if ctx.query.expands("members") {
            let members = members_json(&state, caller.tenant_id, &row.id).await?;
            if let Value::Object(map) = &mut v {
                map.insert("members".into(), Value::Array(members));
            }
        }
        items.push(v);
    }
    Ok(ctx.collection("groups", items, page.next, page.count))
}

async fn count_groups(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_group(&caller, Access::Read)?;
    ctx.query.validate(GROUP_PROPS, &[])?;
    let mut query = ctx.query.clone();
    query.count = true;
    let rows = group_rows(&state, caller.tenant_id).await?;
    let page = paging::page(&query, &mut VecSource::new(rows)).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_group(&caller, Access::Read)?;
    ctx.query.validate(GROUP_PROPS, &["members"])?;
    let group = state.app.group(caller.tenant_id, group_id(&id)?).await?;
    let mut v = group_json(&group);
    if ctx.query.expands("members") {
        let members = members_json(&state, caller.tenant_id, &id).await?;
        if let Value::Object(map) = &mut v {
            map.insert("members".into(), Value::Array(members));
        }
    }
    Ok(ctx.entity(StatusCode::OK, "groups", v))
}

/// Reads `groupTypes` and the rule: `Some(rule)` for a dynamic group.
fn dynamic_rule(body: &Value) -> ApiResult<(Option<bool>, Option<String>)> {
    let types = body::strings(body, &["groupTypes"])?;
    if types
        .iter()
        .flatten()
        .any(|t| t.eq_ignore_ascii_case("Unified"))
    {
        return Err(ApiError::bad_request(
            "ztd serves security groups of devices only; Microsoft 365 (Unified) groups are not supported.",
        ));
    }
    let dynamic = types.map(|t| {
        t.iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    });
    let rule = body::string(body, &["membershipRule"])?.filter(|r| !r.trim().is_empty());
    Ok((dynamic, rule))
}

fn processing_state(body: &Value) -> ApiResult<Option<bool>> {
    match body::string(body, &["membershipRuleProcessingState"])? {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("On") => Ok(Some(true)),
        Some(s) if s.eq_ignore_ascii_case("Paused") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "membershipRuleProcessingState must be On or Paused, not '{other}'."
        ))),
    }
}

async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_group(&caller, Access::Write)?;
    let display_name = body::string(&body, &["displayName"])?.unwrap_or_default();
    if body::boolean(&body, &["mailEnabled"])? == Some(true) {
        return Err(ApiError::bad_request(
            "ztd serves security groups only; mailEnabled must be false.",
        ));
    }
    let (dynamic, rule) = dynamic_rule(&body)?;
    let membership_rule = match (dynamic.unwrap_or(false), rule) {
        (true, Some(rule)) => Some(rule),
        (true, None) => {
            return Err(ApiError::bad_request(
                "A DynamicMembership group needs a membershipRule.",
            ))
        }
        (false, Some(_)) => {
            return Err(ApiError::bad_request(
                "membershipRule is only valid with groupTypes [\"DynamicMembership\"].",
            ))
        }
        (false, None) => None,
    };
    let paused = processing_state(&body)? == Some(false);
    let mut group = state
        .app
        .create_group(
            caller.tenant_id,
            NewGroup {
                display_name,
                description: body::string(&body, &["description"])?.unwrap_or_default(),
                membership_rule,
            },
        )
        .await?;
    if paused && group.is_dynamic() {
        group = state
            .app
            .update_group(caller.tenant_id, group.id, None, None, None, Some(false))
            .await?;
    }
    Ok(ctx.entity(StatusCode::CREATED, "groups", group_json(&group)))
}

async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_group(&caller, Access::Write)?;
    let gid = group_id(&id)?;
    let existing = state.app.group(caller.tenant_id, gid).await?;
    let (dynamic, rule) = dynamic_rule(&body)?;
    let membership_rule = match (dynamic, rule) {
        (Some(false), _) => Some(None),
        (_, Some(rule)) => {
            if dynamic != Some(true) && !existing.is_dynamic() {
                return Err(ApiError::bad_request(
                    "membershipRule is only valid with groupTypes [\"DynamicMembership\"].",
                ));
            }
            Some(Some(rule))
        }
        (Some(true), None) if !existing.is_dynamic() => {
            return Err(ApiError::bad_request(
                "A DynamicMembership group needs a membershipRule.",
            ))
        }
        _ => None,
    };
    state
        .app
        .update_group(
            caller.tenant_id,
            gid,
            body::string(&body, &["displayName"])?,
            body::string(&body, &["description"])?,
            membership_rule,
            processing_state(&body)?,
        )
        .await?;
    Ok(no_content())
}

async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_group(&caller, Access::Write)?;
    state
        .app
        .delete_group(caller.tenant_id, group_id(&id)?)
        .await?;
    Ok(no_content())
}

/// Graph returns at most this many members in a `$expand=members`.
const EXPANDED_MEMBERS: u32 = 20;

/// The members shown by `$expand=members`: the first [`EXPANDED_MEMBERS`], as Graph caps them.
async fn members_json(state: &AppState, tenant: TenantId, id: &str) -> ApiResult<Vec<Value>> {
    let members = state
        .app
        .group_member_page(tenant, group_id(id)?, None, EXPANDED_MEMBERS)
        .await?;
    Ok(members.iter().map(member_json).collect())
}

/// A group's members from the store, in object-id order, one chunk per read.
struct MemberSource<'a> {
    state: &'a AppState,
    tenant: TenantId,
    group: GroupId,
    /// Whether rows need their Graph JSON (a `$filter` or `$orderby` reads it).
    filtered: bool,
}

impl Source for MemberSource<'_> {
    type Item = DirectoryDevice;

    async fn chunk(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<Row<DirectoryDevice>>> {
        let after = paging::resume_key(after, DirectoryObjectId::parse)?;
        let members = self
            .state
            .app
            .group_member_page(
                self.tenant,
                self.group,
                after,
                u32::try_from(limit).unwrap_or(u32::MAX),
            )
            .await?;
        Ok(rows(members, self.filtered, member_json))
    }
}

async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Read)?;
    let mut props = DEVICE_PROPS.to_vec();
    props.push("@odata.type");
    ctx.query.validate(&props, &[])?;
    let mut source = MemberSource {
        state: &state,
        tenant: caller.tenant_id,
        group: group_id(&id)?,
        filtered: ctx.query.reads_items(),
    };
    let page = paging::page(&ctx.query, &mut source).await?;
    let items = render(&page.rows, true);
    Ok(ctx.collection("directoryObjects", items, page.next, page.count))
}

async fn count_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Read)?;
    let n = state
        .app
        .count_group_members(caller.tenant_id, group_id(&id)?)
        .await?;
    Ok(count_response(usize::try_from(n).unwrap_or(usize::MAX)))
}

/// The object id at the end of an `@odata.id` such as `https://graph.microsoft.com/v1.0/directoryObjects/{id}`
/// or `.../directoryObjects('{id}')`.
fn referenced_id(reference: &str) -> Option<DirectoryObjectId> {
    let last = reference.trim().trim_end_matches('/').rsplit('/').next()?;
    let last = match (last.find('('), last.ends_with(')')) {
        (Some(open), true) => &last[open + 1..last.len() - 1],
        _ => last,
    };
    DirectoryObjectId::parse(last.trim_matches('\''))
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Write)?;
    let reference = body::string(&body, &["@odata.id"])?.ok_or_else(|| {
        ApiError::bad_request(
            "The body must carry @odata.id, the URL of the directory object to add.",
        )
    })?;
    let member = referenced_id(&reference).ok_or_else(|| {
        ApiError::bad_request(format!("Invalid object identifier '{reference}'."))
    })?;
    let gid = group_id(&id)?;
    state
        .app
        .add_group_member(caller.tenant_id, gid, member)
        .await?;
    Ok(no_content())
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Write)?;
    let gid = group_id(&id)?;
    let member = DirectoryObjectId::parse(&member)
        .ok_or_else(|| ApiError::not_found(format!("member {member} was not found")))?;
    state
        .app
        .remove_group_member(caller.tenant_id, gid, member)
        .await?;
    Ok(no_content())
}

// Organization ---------------------------------------------------------------------------------------------

fn organization_json(tenant: &ztd_core::tenant::Tenant) -> Value {
    json!({
        "id": tenant.id.to_string(),
        "deletedDateTime": null,
        "displayName": tenant.display_name,
        "createdDateTime": tenant.created_at.to_rfc3339(),
        "tenantType": "AAD",
        "countryLetterCode": null,
        "preferredLanguage": null,
        "businessPhones": [],
        "technicalNotificationMails": [],
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": tenant.domain,
            "type": "Managed",
        }],
    })
}

/// `/organization` needs `Organization.Read.All` or `Directory.Read.All` in Graph; ztd also accepts the
/// Intune service configuration permission, because the Autopilot tools that read it
/// (`ConvertTo-AutopilotConfigurationJSON`) are usually granted only that.
fn require_organization(caller: &Caller) -> ApiResult<()> {
    require_any(
        caller,
        &["Organization", DIRECTORY, SERVICE_CONFIG],
        Access::Read,
    )
}

async fn list_organization(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_organization(&caller)?;
    let tenant = state.app.tenant(caller.tenant_id).await?;
    let mut budget = ztd_odata::WorkBudget::new(ztd_odata::limits::ITEM_WORK);
    let organization = organization_json(&tenant);
    let items = if ctx.query.matches(&organization, &mut budget)? {
        vec![organization]
    } else {
        Vec::new()
    };
    Ok(ctx.collection("organization", items, None, None))
}

async fn get_organization(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_organization(&caller)?;
    let tenant = state.app.tenant(caller.tenant_id).await?;
    if !id.eq_ignore_ascii_case(&tenant.id.to_string()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist."),
        ));
    }
    Ok(ctx.entity(StatusCode::OK, "organization", organization_json(&tenant)))
}
