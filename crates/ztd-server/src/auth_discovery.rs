//! OpenID Connect discovery documents and the tenants' published keys, in Entra's shape, so MSAL-based
//! credential libraries (azure-identity, MSAL, pytune) find ztd's token endpoints and verify its tokens.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use ztd_core::TenantId;

use crate::error::ApiError;
use crate::AppState;

/// The host (with port) the client addressed: the request's authority (HTTP/2 `:authority`, an absolute
/// HTTP/1.1 target), else the `Host` header.
fn host(uri: &Uri, headers: &HeaderMap) -> String {
    uri.authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "localhost".into())
}

pub(crate) fn root(uri: &Uri, headers: &HeaderMap) -> String {
    let host = host(uri, headers);
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("https");
    format!("{scheme}://{host}")
}

/// The tenant segment a discovery document names its endpoints with: the tenant's id when the path names a
/// tenant by id or domain (MSAL and pytune read the tenant from the token endpoint's first segment), else
/// `common` or `organizations` as asked. Resolved as the token endpoint resolves it.
async fn tenant_segment(
    state: &AppState,
    segment: &str,
) -> Result<(String, Option<TenantId>), Response> {
    Ok(match crate::auth::path_tenant(&state.app, segment).await? {
        Some(id) => (id.to_string(), Some(id)),
        None => (segment.to_ascii_lowercase(), None),
    })
}

const GRANTS: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "password",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "srv_challenge",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
];

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (segment, id) = match tenant_segment(&state, &tenant).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let root = root(&uri, &headers);
    let issuer = match id {
        Some(id) => crate::auth::issuer_v2(id),
        None => "https://login.microsoftonline.com/{tenantid}/v2.0".to_string(),
    };
    Json(json!({
        "token_endpoint": format!("{root}/{segment}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{root}/{segment}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{root}/oidc/userinfo"),
        "authorization_endpoint": format!("{root}/{segment}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{root}/{segment}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{root}/{segment}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{root}/{segment}/kerberos"),
        "grant_types_supported": GRANTS,
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
        // The PRT protocol's KDF v2 ([MS-OIDCE] §2.2.3.2).
        "capabilities": ["kdf_ver2"],
    }))
    .into_response()
}

/// `GET /{tenant}/.well-known/openid-configuration`: the v1 document (pytune and older ADAL-style tools).
pub async fn openid_configuration_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (segment, id) = match tenant_segment(&state, &tenant).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let root = root(&uri, &headers);
    let issuer = match id {
        Some(id) => crate::auth::issuer_v1(id),
        None => "https://sts.windows.net/{tenantid}/".to_string(),
    };
    Json(json!({
        "token_endpoint": format!("{root}/{segment}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{root}/{segment}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "authorization_endpoint": format!("{root}/{segment}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{root}/{segment}/oauth2/devicecode"),
        "grant_types_supported": GRANTS,
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "capabilities": ["kdf_ver2"],
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/keys` and `/discovery/v2.0/keys`: the tenant's published signing keys (JWKS).
pub async fn keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let id = match tenant_segment(&state, &tenant).await {
        Ok((_, Some(id))) => id,
        Ok((_, None)) => {
            // `common` publishes every tenant's keys, as Entra's common endpoint publishes all of its own.
            let tenants = match state.app.tenants().await {
                Ok(tenants) => tenants,
                Err(err) => return ApiError::from(err).into_response(),
            };
            let mut all = Vec::new();
            for tenant in tenants {
                match state.app.signing_keys(tenant.id).await {
                    Ok(keys) => all.extend(keys.published.iter().cloned()),
                    Err(err) => return ApiError::from(err).into_response(),
                }
            }
            return Json(json!({ "keys": all })).into_response();
        }
        Err(response) => return response,
    };
    match state.app.signing_keys(id).await {
        Ok(keys) => Json(json!({ "keys": keys.published })).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// `GET /common/userrealm/{user}` (MSAL) and `/common/UserRealm/{user}` (roadtx): whether the user's domain is
/// managed here. ztd answers `Managed` for a verified domain of a tenant (password sign-in happens at ztd's
/// token endpoint, never by federation) and `Unknown` otherwise; `account_type` is always present (roadtx
/// reads it unconditionally).
pub async fn user_realm(State(state): State<AppState>, Path(user): Path<String>) -> Response {
    let domain = user
        .rsplit_once('@')
        .map_or(user.as_str(), |(_, d)| d)
        .to_ascii_lowercase();
    let managed = match state.app.tenant_for_domain(&domain).await {
        Ok(found) => found.is_some(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let mut body = json!({
        "ver": "1.0",
        "account_type": if managed { "Managed" } else { "Unknown" },
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    });
    if managed {
        body["domain_name"] = domain.into();
    }
    Json(body).into_response()
}

/// `GET /common/discovery/instance`: MSAL's instance discovery, answering that this host is its own cloud.
pub async fn instance_discovery(uri: Uri, headers: HeaderMap) -> Json<Value> {
    let host = host(&uri, &headers);
    let root = root(&uri, &headers);
    Json(json!({
        "tenant_discovery_endpoint": format!("{root}/common/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_of_an_http2_request_keeps_its_port() {
        // HTTP/2 carries the host in `:authority` (the URI), not in a Host header.
        let uri: Uri = "http://127.0.0.1:8950/tenant/v2.0/.well-known/openid-configuration"
            .parse()
            .unwrap();
        assert_eq!(root(&uri, &HeaderMap::new()), "https://127.0.0.1:8950");
        // HTTP/1.1: only the Host header.
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "ztd.lab:9443".parse().unwrap());
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        let uri: Uri = "/tenant/v2.0/.well-known/openid-configuration"
            .parse()
            .unwrap();
        assert_eq!(root(&uri, &headers), "http://ztd.lab:9443");
    }
}
