//! `/groups`: static and dynamic device groups and their members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use ztd_app::{GroupMember, MemberKinds, NewGroup};
use ztd_core::group::Group;
use ztd_core::{DirectoryObjectId, GroupId, TenantId};

use super::body;
use super::directory_devices::{GraphDirectoryDevice, Nullable, DEVICE_PROPS};
use super::paging::{self, Row, Source, VecSource};
use super::users::{user_json, PROPS as USER_PROPS};
use super::{
    count_response, no_content, require_any, Ctx, GraphBody, DIRECTORY, GROUP, GROUP_MEMBER,
};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

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
    let mut router = Router::new()
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/$count", get(count_groups))
        .route(
            "/groups/{id}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route("/groups/{id}/members/$ref", post(add_member))
        .route("/groups/{id}/members/{member}/$ref", delete(remove_member));
    // Groups hold no groups in ztd, so a group's transitive members are its members. A type cast
    // (`…/microsoft.graph.device`, normalised to `…/device`) limits the page and the count to one kind.
    for relation in ["members", "transitiveMembers"] {
        for (cast, kinds) in [
            ("", MemberKinds::ALL),
            ("/device", MemberKinds::DEVICES),
            ("/user", MemberKinds::USERS),
        ] {
            let path = format!("/groups/{{id}}/{relation}{cast}");
            router = router
                .route(
                    &path,
                    get(move |state, caller, ctx, id| {
                        members_of_kind(state, caller, ctx, id, kinds)
                    }),
                )
                .route(
                    &format!("{path}/$count"),
                    get(move |state, caller, ctx, id| {
                        count_members_of_kind(state, caller, ctx, id, kinds)
                    }),
                );
        }
    }
    router
}

fn require_group(caller: &Caller, access: Access) -> ApiResult<()> {
    require_any(caller, &[GROUP, DIRECTORY], access)
}

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
    GroupId::parse(id).ok_or_else(|| ApiError::directory_object_not_found(id))
}

async fn group_rows(state: &AppState, tenant: TenantId) -> ApiResult<Vec<Row<()>>> {
    Ok(state
        .app
        .groups(tenant)
        .await?
        .iter()
        .map(|g| Row::json(g.id.to_string(), group_json(g)))
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
    refuse_bindings(&body)?;
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

/// `members@odata.bind` and `owners@odata.bind` are not served: refused rather than ignored, so that a
/// tool never believes members were added that were not.
fn refuse_bindings(body: &serde_json::Value) -> ApiResult<()> {
    for binding in ["members@odata.bind", "owners@odata.bind"] {
        if body::field(body, binding).is_some() {
            return Err(ApiError::bad_request(format!(
                "ztd does not take {binding}; add members one at a time with POST /groups/{{id}}/members/$ref (groups have no owners in ztd)."
            )));
        }
    }
    Ok(())
}

async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_group(&caller, Access::Write)?;
    refuse_bindings(&body)?;
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
        .group_member_page(
            tenant,
            group_id(id)?,
            None,
            EXPANDED_MEMBERS,
            MemberKinds::ALL,
        )
        .await?;
    Ok(members.iter().map(member_json).collect())
}

/// A member as Graph lists it, with its `@odata.type`.
fn member_json(member: &GroupMember) -> Value {
    match member {
        GroupMember::Device(device) => serde_json::to_value(GraphDirectoryDevice {
            device,
            with_type: true,
        })
        .unwrap_or(Value::Null),
        GroupMember::User(user) => {
            let mut json = user_json(user);
            if let Value::Object(map) = &mut json {
                map.insert("@odata.type".into(), "#microsoft.graph.user".into());
            }
            json
        }
    }
}

/// A group's members from the store, in object-id order, one chunk per read.
struct MemberSource<'a> {
    state: &'a AppState,
    tenant: TenantId,
    group: GroupId,
    kinds: MemberKinds,
    /// Whether rows need their Graph JSON (a `$filter` or `$orderby` reads it).
    filtered: bool,
}

/// A member written straight to the response (a page of devices is the hot path: no JSON values built).
struct MemberView<'a>(&'a GroupMember);

impl Serialize for MemberView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            GroupMember::Device(device) => GraphDirectoryDevice {
                device,
                with_type: true,
            }
            .serialize(serializer),
            user => member_json(user).serialize(serializer),
        }
    }
}

impl Source for MemberSource<'_> {
    type Item = GroupMember;

    async fn chunk(
        &mut self,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<Row<GroupMember>>> {
        let after = paging::resume_key(after, DirectoryObjectId::parse)?;
        let members = self
            .state
            .app
            .group_member_page(
                self.tenant,
                self.group,
                after,
                u32::try_from(limit).unwrap_or(u32::MAX),
                self.kinds,
            )
            .await?;
        Ok(members
            .into_iter()
            .map(|member| Row {
                id: member.id().to_string(),
                json: if self.filtered {
                    member_json(&member)
                } else {
                    Value::Null
                },
                item: member,
            })
            .collect())
    }
}

async fn members_of_kind(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    kinds: MemberKinds,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Read)?;
    let mut props: Vec<&str> = DEVICE_PROPS.to_vec();
    props.extend(USER_PROPS.iter().filter(|p| !DEVICE_PROPS.contains(p)));
    props.push("@odata.type");
    ctx.query.validate(&props, &[])?;
    let mut source = MemberSource {
        state: &state,
        tenant: caller.tenant_id,
        group: group_id(&id)?,
        kinds,
        filtered: ctx.query.reads_items(),
    };
    let page = paging::page(&ctx.query, &mut source).await?;
    let items: Vec<MemberView<'_>> = page.rows.iter().map(|row| MemberView(&row.item)).collect();
    Ok(ctx.collection("directoryObjects", items, page.next, page.count))
}

/// The groups a directory object is in (`users/{id}/memberOf`, `devices/{id}/memberOf`), each with its
/// `@odata.type`, paged in memory (an object is in few groups).
pub(super) async fn member_of(
    state: &AppState,
    caller: &Caller,
    ctx: &Ctx,
    member: DirectoryObjectId,
) -> ApiResult<Response> {
    let mut props = GROUP_PROPS.to_vec();
    props.push("@odata.type");
    ctx.query.validate(&props, &[])?;
    let rows = state
        .app
        .member_groups(caller.tenant_id, member)
        .await?
        .iter()
        .map(|g| {
            let mut json = group_json(g);
            if let Value::Object(map) = &mut json {
                map.insert("@odata.type".into(), "#microsoft.graph.group".into());
            }
            Row::json(g.id.to_string(), json)
        })
        .collect();
    let page = paging::page(&ctx.query, &mut VecSource::new(rows)).await?;
    let items: Vec<Value> = page.rows.into_iter().map(|row| row.json).collect();
    Ok(ctx.collection("directoryObjects", items, page.next, page.count))
}

async fn count_members_of_kind(
    State(state): State<AppState>,
    caller: Caller,
    // Extracted for its check: a directory `/$count` needs `ConsistencyLevel: eventual`.
    _ctx: Ctx,
    Path(id): Path<String>,
    kinds: MemberKinds,
) -> ApiResult<Response> {
    require_any(&caller, &[GROUP_MEMBER, GROUP, DIRECTORY], Access::Read)?;
    let n = state
        .app
        .count_group_members_of_kind(caller.tenant_id, group_id(&id)?, kinds)
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
