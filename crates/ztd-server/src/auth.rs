//! OAuth2 client credentials in the shape Entra uses, so standard credential libraries obtain tokens from
//! ztd: `POST /{tenant}/oauth2/v2.0/token`. Tokens are HS256 JWTs bound to one tenant and carrying the
//! client's granted application roles (`roles`), checked on every admin call.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use ztd_core::TenantId;

use crate::error::ApiError;
use crate::AppState;
use ztd_core::error::Code;

/// The audience of every token: Microsoft Graph's resource URI, which clients request as
/// `https://graph.microsoft.com/.default`.
pub const AUDIENCE: &str = "https://graph.microsoft.com";
const TOKEN_LIFETIME_SECS: i64 = 3599;

/// Issues and verifies access tokens with one symmetric key shared by every node (kept in the database).
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Tenant id.
    pub tid: String,
    /// Client id of the calling application.
    pub appid: String,
    pub azp: String,
    pub oid: String,
    pub sub: String,
    pub roles: Vec<String>,
    pub ver: String,
}

impl TokenIssuer {
    pub fn new(key: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
        }
    }

    pub fn issue(
        &self,
        tenant: TenantId,
        client_id: &str,
        roles: Vec<String>,
        now_secs: i64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            aud: AUDIENCE.into(),
            iss: format!("https://ztd/{tenant}/v2.0"),
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs + TOKEN_LIFETIME_SECS,
            tid: tenant.to_string(),
            appid: client_id.into(),
            azp: client_id.into(),
            oid: client_id.into(),
            sub: client_id.into(),
            roles,
            ver: "2.0".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::new(Code::InternalServerError, e.to_string()))
    }

    /// The claims of a token this server signed, valid at `now_secs` (the app's clock: the lifetime is
    /// checked here rather than by `jsonwebtoken`, which would read the system clock).
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE, "00000003-0000-0000-c000-000000000000"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "nbf", "aud"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::unauthorized(format!("Access token validation failure: {e}."))
            })?;
        if now_secs > claims.exp.saturating_add(LIFETIME_LEEWAY_SECS) {
            return Err(ApiError::unauthorized(
                "Lifetime validation failed, the token is expired.",
            ));
        }
        if now_secs < claims.nbf.saturating_sub(LIFETIME_LEEWAY_SECS) {
            return Err(ApiError::unauthorized(
                "Lifetime validation failed, the token is not yet valid.",
            ));
        }
        Ok(claims)
    }
}

/// Clock skew tolerated on `exp` and `nbf`.
const LIFETIME_LEEWAY_SECS: i64 = 30;

/// A permission family and the access needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The authenticated caller of an admin route.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub client_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    /// Requires `{family}.ReadWrite.All`, or for reads also `{family}.Read.All`; 403 in Graph's shape otherwise.
    pub fn require(&self, family: &str, access: Access) -> Result<(), ApiError> {
        let write = format!("{family}.ReadWrite.All");
        let read = format!("{family}.Read.All");
        let granted = self.roles.iter().any(|r| r.eq_ignore_ascii_case(&write))
            || (access == Access::Read && self.roles.iter().any(|r| r.eq_ignore_ascii_case(&read)));
        if granted {
            Ok(())
        } else {
            let needed = if access == Access::Read {
                format!("{read} or {write}")
            } else {
                write
            };
            Err(ApiError::forbidden(format!(
                "Insufficient privileges to complete the operation. This call needs {needed}."
            )))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("Access token is empty."))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must carry a Bearer token.")
            })?;
        let claims = state
            .tokens
            .verify(token.trim(), state.app.now().0.div_euclid(1000))?;
        let tenant_id = TenantId::parse(&claims.tid)
            .ok_or_else(|| ApiError::unauthorized("Access token has no valid tenant."))?;
        Ok(Caller {
            tenant_id,
            client_id: claims.appid,
            roles: claims.roles,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// An OAuth2 error in Entra's shape, from its catalogue entry.
fn oauth_error(code: Code, description: &str) -> Response {
    let context = crate::request::current();
    let number = code.aadsts().unwrap_or_default();
    let body = serde_json::json!({
        "error": code.wire(),
        "error_description": format!("AADSTS{number}: {description}"),
        "error_codes": [number],
        "timestamp": context.as_ref().map(|c| c.at.to_rfc3339_seconds()),
        "trace_id": context.as_ref().map(|c| c.id.as_str()),
        "correlation_id": context.as_ref().map(|c| c.correlation_id()),
    });
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

/// Whether a `.default` scope's resource names Microsoft Graph (its URI, with or without a trailing slash, or
/// its application id), the audience of every token ztd issues.
fn is_graph_resource(resource: &str) -> bool {
    let resource = resource.trim_end_matches('/');
    resource.eq_ignore_ascii_case(AUDIENCE)
        || resource.eq_ignore_ascii_case("00000003-0000-0000-c000-000000000000")
}

/// Client id and secret from the form or from HTTP Basic authentication (both are allowed by RFC 6749).
fn client_credentials(headers: &HeaderMap, form: &TokenRequest) -> Option<(String, String)> {
    if let (Some(id), Some(secret)) = (&form.client_id, &form.client_secret) {
        return Some((id.clone(), secret.clone()));
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`.
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TokenRequest>,
) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(Code::UnsupportedGrantType,
            "The app requested an unsupported grant type; ztd issues tokens for client_credentials only.",
        );
    }
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(
            Code::MissingClientCredentials,
            "The request body must contain client_id and client_secret.",
        );
    };
    if let Some(scope) = &form.scope {
        // The only resource ztd issues tokens for is Graph; Entra refuses unknown resources (AADSTS500011).
        if let Some(unknown) = scope
            .split_whitespace()
            .filter_map(|s| s.strip_suffix("/.default"))
            .find(|resource| !is_graph_resource(resource))
        {
            return oauth_error(Code::UnknownResource,
                &format!(
                    "The resource principal named {} was not found in the tenant. ztd issues tokens for Microsoft Graph (https://graph.microsoft.com/.default).",
                    ztd_formats::excerpt_chars(unknown, 120)
                ),
            );
        }
        if !scope.split_whitespace().any(|s| s.ends_with("/.default")) {
            return oauth_error(Code::InvalidScope,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            );
        }
    }
    let credential = match state.app.authenticate_client(&client_id, &secret).await {
        Ok(Some(credential)) => credential,
        Ok(None) => {
            return oauth_error(
                Code::InvalidClientSecret,
                "Invalid client secret provided, or unknown client id.",
            )
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let tenant_matches = match TenantId::parse(&tenant) {
        Some(id) => id == credential.tenant_id,
        None => match state.app.tenant(credential.tenant_id).await {
            Ok(t) => t.domain.eq_ignore_ascii_case(&tenant),
            Err(err) => return ApiError::from(err).into_response(),
        },
    };
    if !tenant_matches {
        return oauth_error(Code::UnknownClientInTenant,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    }
    match state.tokens.issue(
        credential.tenant_id,
        &credential.client_id,
        credential.scopes,
        state.app.now().0.div_euclid(1000),
    ) {
        Ok(access_token) => Json(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": access_token,
        }))
        .into_response(),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetime_is_checked_against_the_given_time_with_leeway() {
        let issuer = TokenIssuer::new(&[9u8; 64]);
        let issued_at = 1_800_000_000;
        let token = issuer
            .issue(TenantId(uuid::Uuid::nil()), "client", vec![], issued_at)
            .unwrap();
        assert!(issuer.verify(&token, issued_at).is_ok());
        // Within the leeway on either side.
        assert!(issuer.verify(&token, issued_at - 30).is_ok());
        assert!(issuer
            .verify(&token, issued_at + TOKEN_LIFETIME_SECS + 30)
            .is_ok());
        let early = issuer.verify(&token, issued_at - 31).unwrap_err();
        assert!(early.message.contains("not yet valid"), "{}", early.message);
        let late = issuer
            .verify(&token, issued_at + TOKEN_LIFETIME_SECS + 31)
            .unwrap_err();
        assert!(late.message.contains("expired"), "{}", late.message);
        // Another key's signature is refused whatever the time.
        let other = TokenIssuer::new(&[8u8; 64]);
        assert!(other.verify(&token, issued_at).is_err());
    }
}
