//! OpenID Connect discovery documents in Entra's shape, so MSAL-based credential libraries (azure-identity's
//! `ClientSecretCredential` given ztd's authority URL) find ztd's token endpoint.

use axum::extract::Path;
use axum::http::{header, HeaderMap, Uri};
use axum::Json;
use serde_json::{json, Value};

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

fn root(uri: &Uri, headers: &HeaderMap) -> String {
    let host = host(uri, headers);
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("https");
    format!("{scheme}://{host}")
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    let root = root(&uri, &headers);
    Json(json!({
        "token_endpoint": format!("{root}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "authorization_endpoint": format!("{root}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{root}/{tenant}/oauth2/v2.0/devicecode"),
        "issuer": format!("https://ztd/{tenant}/v2.0"),
        "jwks_uri": format!("{root}/{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "grant_types_supported": ["client_credentials"],
        "tenant_region_scope": null,
        "cloud_instance_name": "ztd",
        "msgraph_host": host(&uri, &headers),
    }))
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
