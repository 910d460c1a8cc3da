//! `/organization`: the tenant as Graph shows it, with its verified domains; `/domains`: those domains.

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
use ztd_core::tenant::VerifiedDomain;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/organization", get(list_organization))
        .route("/organization/{id}", get(get_organization))
        .route("/domains", get(list_domains))
        .route("/domains/{id}", get(get_domain))
}

fn organization_json(tenant: &ztd_core::tenant::Tenant, domains: &[VerifiedDomain]) -> Value {
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
        "verifiedDomains": domains.iter().map(|d| json!({
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": d.is_default,
            "isInitial": d.is_default,
            "name": d.name,
            "type": "Managed",
        })).collect::<Vec<_>>(),
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
    let domains = state.app.domains(caller.tenant_id).await?;
    let mut budget = ztd_odata::WorkBudget::new(ztd_odata::limits::ITEM_WORK);
    let organization = organization_json(&tenant, &domains);
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
    let domains = state.app.domains(caller.tenant_id).await?;
    Ok(ctx.entity(
        StatusCode::OK,
        "organization",
        organization_json(&tenant, &domains),
    ))
}

/// Graph's `domain` resource for a verified domain (ztd verifies by the operator's word: no DNS records).
fn domain_json(d: &VerifiedDomain) -> Value {
    json!({
        "id": d.name,
        "authenticationType": "Managed",
        "availabilityStatus": null,
        "isAdminManaged": true,
        "isDefault": d.is_default,
        "isInitial": d.is_default,
        "isRoot": true,
        "isVerified": true,
        "supportedServices": ["Email", "OfficeCommunicationsOnline"],
        "passwordValidityPeriodInDays": 2147483647,
        "passwordNotificationWindowInDays": 14,
        "state": null,
    })
}

/// `GET /domains` (`Domain.Read.All` in Graph; ztd takes the organization's permissions).
async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
) -> ApiResult<Response> {
    require_organization(&caller)?;
    let mut budget = ztd_odata::WorkBudget::new(ztd_odata::limits::ITEM_WORK);
    let mut items = Vec::new();
    for domain in state.app.domains(caller.tenant_id).await? {
        let item = domain_json(&domain);
        if ctx.query.matches(&item, &mut budget)? {
            items.push(item);
        }
    }
    Ok(ctx.collection("domains", items, None, None))
}

async fn get_domain(
    State(state): State<AppState>,
    caller: Caller,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    require_organization(&caller)?;
    let found = state
        .app
        .domains(caller.tenant_id)
        .await?
        .into_iter()
        .find(|d| d.name.eq_ignore_ascii_case(&id));
    match found {
        Some(domain) => Ok(ctx.entity(StatusCode::OK, "domains", domain_json(&domain))),
        None => Err(ApiError::new(
            Code::DirectoryObjectNotFound,
            format!(
                "Resource '{}' does not exist.",
                ztd_formats::excerpt_chars(&id, 120)
            ),
        )),
    }
}
