//! Membership questions about one directory object, as directory tools ask them:
//! `checkMemberGroups`, `checkMemberObjects`, `getMemberGroups` and `getMemberObjects` on `/devices/{id}`,
//! `/users/{id}`, `/groups/{id}` and `/directoryObjects/{id}` (POST, 200 with `{"value": [ids]}`).
//!
//! ztd's groups hold devices and users, never groups, so transitive membership is direct membership and a
//! group is a member of nothing. Every ztd group is a security group, so `securityEnabledOnly` changes
//! nothing; ztd has no administrative units and no directory roles as objects, so the "objects" variants
//! answer groups only.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use ztd_core::{DirectoryObjectId, GroupId};

use super::body;
use super::{json_response, require_any, Ctx, GraphBody, DEVICE, DIRECTORY, GROUP, GROUP_MEMBER};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Graph's limit on the ids one `checkMemberGroups` or `checkMemberObjects` asks about.
pub const MAX_CHECKED_IDS: usize = 20;

/// Which collection a question was asked through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Device,
    User,
    Group,
    Any,
}

/// The four actions under each collection that has them.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (collection, kind) in [
        ("devices", Kind::Device),
        ("users", Kind::User),
        ("groups", Kind::Group),
        ("directoryObjects", Kind::Any),
    ] {
        router = router
            .route(
                &format!("/{collection}/{{id}}/checkMemberGroups"),
                post(move |s, c, x, p, b| check(s, c, x, p, b, kind, "groupIds")),
            )
            .route(
                &format!("/{collection}/{{id}}/checkMemberObjects"),
                post(move |s, c, x, p, b| check(s, c, x, p, b, kind, "ids")),
            )
            .route(
                &format!("/{collection}/{{id}}/getMemberGroups"),
                post(move |s, c, x, p, b| list(s, c, x, p, b, kind)),
            )
            .route(
                &format!("/{collection}/{{id}}/getMemberObjects"),
                post(move |s, c, x, p, b| list(s, c, x, p, b, kind)),
            );
    }
    router
}

/// The permission families that may read an object's memberships through `kind`.
fn families(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Device => &[DEVICE, DIRECTORY, GROUP_MEMBER, GROUP],
        Kind::User => &[super::users::USER, DIRECTORY, GROUP_MEMBER, GROUP],
        Kind::Group => &[GROUP_MEMBER, GROUP, DIRECTORY],
        Kind::Any => &[DIRECTORY, DEVICE, super::users::USER, GROUP_MEMBER, GROUP],
    }
}

/// The groups the object `id` (in the caller's tenant) is a member of; 404 in Entra's words when there is no
/// such object. Through `/directoryObjects` the id may be a device's, a user's or a group's.
async fn groups_of(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    id: &str,
) -> ApiResult<BTreeSet<GroupId>> {
    let tenant = caller.tenant_id;
    let member: Option<DirectoryObjectId> = match kind {
        Kind::Device => Some(
            super::directory_devices::find_device(&state.app, tenant, id)
                .await?
                .id,
        ),
        Kind::User => Some(state.app.user(tenant, id).await?.id),
        Kind::Group => {
            let group =
                GroupId::parse(id).ok_or_else(|| ApiError::directory_object_not_found(id))?;
            state.app.group(tenant, group).await?;
            None
        }
        Kind::Any => {
            let object = DirectoryObjectId::parse(id)
                .ok_or_else(|| ApiError::directory_object_not_found(id))?;
            let user = match state.app.user(tenant, id).await {
                Ok(_) => true,
                Err(ztd_app::AppError::Domain(ztd_core::DomainError::NotFound { .. })) => false,
                Err(other) => return Err(other.into()),
            };
            // The object's own kind decides the permission, as if it had been asked through its collection.
            if user {
                require_any(caller, families(Kind::User), Access::Read)?;
                Some(object)
            } else if state.app.directory_device(tenant, object).await?.is_some() {
                require_any(caller, families(Kind::Device), Access::Read)?;
                Some(object)
            } else {
                let group =
                    GroupId::parse(id).ok_or_else(|| ApiError::directory_object_not_found(id))?;
                state.app.group(tenant, group).await?;
                require_any(caller, families(Kind::Group), Access::Read)?;
                None
            }
        }
    };
    Ok(match member {
        Some(member) => state
            .app
            .member_groups(tenant, member)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect(),
        None => BTreeSet::new(),
    })
}

fn ids_response(ctx: &Ctx, ids: impl IntoIterator<Item = String>) -> Response {
    let value: Vec<String> = ids.into_iter().collect();
    json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": ctx.context("Collection(Edm.String)"),
            "value": value,
        }),
    )
}

/// `checkMemberGroups {"groupIds": [...]}` / `checkMemberObjects {"ids": [...]}`: which of at most 20 ids
/// the object is a member of (ids that name no group of the tenant are simply not in the answer).
async fn check(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(request): GraphBody,
    kind: Kind,
    field: &'static str,
) -> ApiResult<Response> {
    require_any(&caller, families(kind), Access::Read)?;
    let asked = body::strings(&request, &[field])?.ok_or_else(|| {
        ApiError::bad_request(format!("The body must carry {field}, a list of group ids."))
    })?;
    if asked.len() > MAX_CHECKED_IDS {
        return Err(ApiError::bad_request(format!(
            "{field} lists {} ids; at most {MAX_CHECKED_IDS} are checked in one call.",
            asked.len()
        )));
    }
    let mut wanted = Vec::with_capacity(asked.len());
    for text in &asked {
        let group = GroupId::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid GUID '{}' in {field}.",
                ztd_formats::excerpt(text)
            ))
        })?;
        wanted.push(group);
    }
    let groups = groups_of(&state, &caller, kind, &id).await?;
    let mut answered = BTreeSet::new();
    let ids = wanted
        .into_iter()
        .filter(|g| groups.contains(g) && answered.insert(*g))
        .map(|g| g.to_string());
    Ok(ids_response(&ctx, ids))
}

/// `getMemberGroups` / `getMemberObjects {"securityEnabledOnly": bool}`: every group the object is in.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
    GraphBody(request): GraphBody,
    kind: Kind,
) -> ApiResult<Response> {
    require_any(&caller, families(kind), Access::Read)?;
    match body::field(&request, "securityEnabledOnly") {
        None | Some(Value::Bool(_)) => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "securityEnabledOnly must be true or false.",
            ))
        }
    }
    let groups = groups_of(&state, &caller, kind, &id).await?;
    Ok(ids_response(
        &ctx,
        groups.into_iter().map(|g| g.to_string()),
    ))
}
