//! `/users`: the tenant's directory users (who signs in to devices and, with a role, administers ztd).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use ztd_app::users::{NewUser, UserUpdate};
use ztd_app::UserQuery;
use ztd_core::user::{User, UserRole};
use ztd_core::{DirectoryObjectId, TenantId};

use super::paging::{self, Row, Source};
use super::{body, count_response, no_content, require_any, Ctx, DateTime, GraphBody, DIRECTORY};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub const USER: &str = "User";

pub(super) const PROPS: &[&str] = &[
    "id",
    "accountEnabled",
    "businessPhones",
    "createdDateTime",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "userType",
    "ztdRole",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/$count", get(count))
        .route("/users/{id}", get(get_one).patch(update).delete(delete))
        .route("/users/{id}/memberOf", get(member_of))
        .route("/users/{id}/memberOf/group", get(member_of))
        // Groups hold no groups in ztd: the transitive groups are the direct ones.
        .route("/users/{id}/transitiveMemberOf", get(member_of))
        .route("/users/{id}/transitiveMemberOf/group", get(member_of))
}

fn require_user(caller: &Caller, access: Access) -> ApiResult<()> {
    require_any(caller, &[USER, DIRECTORY], access)
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        text.into()
    }
}

/// A user as Graph shows it, with ztd's role (`ztdRole`, an extension: Graph assigns roles elsewhere).
pub(super) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "accountEnabled": u.account_enabled,
        "businessPhones": [],
        "createdDateTime": DateTime(Some(u.created_at)),
        "displayName": u.display_name,
        "givenName": text_or_null(&u.given_name),
        "jobTitle": null,
        "mail": text_or_null(&u.mail),
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": null,
        "surname": text_or_null(&u.surname),
        "userPrincipalName": u.user_principal_name,
        "userType": "Member",
        "ztdRole": u.role.as_str(),
    })
}

/// A tenant's users in object-id order, read a chunk at a time (keyset paging in the store).
struct UserSource<'a> {
    state: &'a AppState,
    tenant: TenantId,
}

impl Source for UserSource<'_> {
    type Item = ();

    async fn chunk(&mut self, after: Option<&str>, limit: usize) -> ApiResult<Vec<Row<()>>> {
        let query = UserQuery {
            after: paging::resume_key(after, DirectoryObjectId::parse)?,
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        };
        Ok(self
            .state
            .app
            .users(self.tenant, &query)
            .await?
            .iter()
            .map(|u| Row::json(u.id.to_string(), user_json(u)))
            .collect())
    }
}

async fn list(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_user(&caller, Access::Read)?;
    ctx.query.validate(PROPS, &[])?;
    let mut source = UserSource {
        state: &state,
        tenant: caller.tenant_id,
    };
    let page = paging::page(&ctx.query, &mut source).await?;
    let items: Vec<Value> = page.rows.into_iter().map(|r| r.json).collect();
    Ok(ctx.collection("users", items, page.next, page.count))
}

async fn count(State(state): State<AppState>, caller: Caller, ctx: Ctx) -> ApiResult<Response> {
    require_user(&caller, Access::Read)?;
    ctx.query.validate(PROPS, &[])?;
    let mut query = ctx.query.clone();
    query.count = true;
    query.top = Some(1);
    let mut source = UserSource {
        state: &state,
        tenant: caller.tenant_id,
    };
    let page = paging::page(&query, &mut source).await?;
    Ok(count_response(page.count.unwrap_or(0)))
}

/// `/users/{id or userPrincipalName}`.
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_user(&caller, Access::Read)?;
    ctx.query.validate(PROPS, &[])?;
    let user = state.app.user(caller.tenant_id, &id).await?;
    Ok(ctx.entity(StatusCode::OK, "users", user_json(&user)))
}

fn role(body: &Value) -> ApiResult<Option<UserRole>> {
    match body::string(body, &["ztdRole"])? {
        None => Ok(None),
        Some(text) => UserRole::parse(&text).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "ztdRole must be user, readOnly, autopilotOperator or administrator, not '{text}'."
            ))
        }),
    }
}

/// `passwordProfile.password` and `.forceChangePasswordNextSignIn`.
fn password_profile(body: &Value) -> ApiResult<(Option<String>, Option<bool>)> {
    match body::field(body, "passwordProfile") {
        None | Some(Value::Null) => Ok((None, None)),
        Some(profile @ Value::Object(_)) => Ok((
            body::string(profile, &["password"])?,
            body::boolean(profile, &["forceChangePasswordNextSignIn"])?,
        )),
        Some(_) => Err(ApiError::bad_request("passwordProfile must be an object.")),
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_user(&caller, Access::Write)?;
    let required = |name: &str| -> ApiResult<String> {
        body::string(&body, &[name])?
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Property '{name}' is required when creating a user."
                ))
            })
    };
    let upn = required("userPrincipalName")?;
    let display_name = required("displayName")?;
    let (password, force_change) = password_profile(&body)?;
    let new = NewUser {
        user_principal_name: upn,
        display_name,
        given_name: body::string(&body, &["givenName"])?.unwrap_or_default(),
        surname: body::string(&body, &["surname"])?.unwrap_or_default(),
        mail: body::string(&body, &["mail"])?.unwrap_or_default(),
        password,
        force_change_password_next_sign_in: force_change.unwrap_or(true),
        account_enabled: body::boolean(&body, &["accountEnabled"])?.unwrap_or(true),
        role: role(&body)?,
    };
    let user = state.app.create_user(caller.tenant_id, new).await?;
    Ok(ctx.entity(StatusCode::CREATED, "users", user_json(&user)))
}

async fn user_id(state: &AppState, tenant: TenantId, id: &str) -> ApiResult<DirectoryObjectId> {
    match DirectoryObjectId::parse(id) {
        Some(id) => Ok(id),
        None => Ok(state.app.user(tenant, id).await?.id),
    }
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    GraphBody(body): GraphBody,
) -> ApiResult<Response> {
    require_user(&caller, Access::Write)?;
    let (password, force_change) = password_profile(&body)?;
    let update = UserUpdate {
        user_principal_name: body::string(&body, &["userPrincipalName"])?,
        display_name: body::string(&body, &["displayName"])?,
        given_name: body::string(&body, &["givenName"])?,
        surname: body::string(&body, &["surname"])?,
        mail: body::string(&body, &["mail"])?,
        account_enabled: body::boolean(&body, &["accountEnabled"])?,
        role: role(&body)?,
        password,
        force_change_password_next_sign_in: force_change,
    };
    let id = user_id(&state, caller.tenant_id, &id).await?;
    state.app.update_user(caller.tenant_id, id, update).await?;
    Ok(no_content())
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_user(&caller, Access::Write)?;
    let id = user_id(&state, caller.tenant_id, &id).await?;
    state.app.delete_user(caller.tenant_id, id).await?;
    Ok(no_content())
}

/// `users/{id or userPrincipalName}/memberOf`: the groups the user is in.
async fn member_of(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_any(
        &caller,
        &[USER, DIRECTORY, super::GROUP_MEMBER, super::GROUP],
        Access::Read,
    )?;
    let user = state.app.user(caller.tenant_id, &id).await?;
    super::groups::member_of(&state, &caller, &ctx, user.id).await
}
