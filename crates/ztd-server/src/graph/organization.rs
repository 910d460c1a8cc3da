//! `/organization`: the tenant as Graph shows it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{require_any, Ctx, DIRECTORY, SERVICE_CONFIG};
use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use ztd_core::error::Code;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/organization", get(list_organization))
        .route("/organization/{id}", get(get_organization))
}

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
            Code::DirectoryObjectNotFound,
            format!("Resource '{id}' does not exist."),
        ));
    }
    Ok(ctx.entity(StatusCode::OK, "organization", organization_json(&tenant)))
}
