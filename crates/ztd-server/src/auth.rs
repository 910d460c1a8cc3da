//! OAuth2 and OpenID Connect as Entra speaks them, so standard clients (azure-identity, MSAL, roadtx) obtain
//! tokens from ztd: `POST /{tenant}/oauth2/v2.0/token` (scopes) and `/{tenant}/oauth2/token` (v1, `resource=`),
//! with the client credentials and resource-owner password grants. Tokens are RS256 JWTs signed with the
//! tenant's own key (published at `/{tenant}/discovery/keys`), in Entra's v1.0 access-token shape for every
//! resource: Microsoft Graph, the device registration service, the MDM enrollment service and ztd's own API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, RwLock};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use ztd_app::App;
use ztd_core::error::Code;
use ztd_core::user::{User, UserRole};
use ztd_core::TenantId;

use crate::error::ApiError;
use crate::AppState;

/// Access tokens live an hour, as Entra's do by default.
pub const TOKEN_LIFETIME_SECS: i64 = 3599;
/// Clock skew tolerated on `exp` and `nbf`.
const LIFETIME_LEEWAY_SECS: i64 = 30;
/// A verified token is remembered this long at most (and never past its expiry): the bound on how long a
/// change to its signing keys can go unnoticed by a node.
const VERIFIED_TOKEN_CACHE_SECS: i64 = 60;
/// The longest bearer token accepted: Entra's are a few kilobytes; anything longer is refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The largest token request body (a form of a few fields; a client assertion with its certificate chain
/// fits many times over).
pub const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;
/// Verified tokens remembered per node; past it the memory starts over.
const VERIFIED_TOKEN_CACHE_CAPACITY: usize = 16_384;

/// The resources ztd issues tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Microsoft Graph: ztd's Graph-compatible admin API.
    Graph,
    /// The device registration service (join, register).
    DeviceRegistration,
    /// The MDM enrollment service.
    Enrollment,
    /// ztd's own admin API (`/ztd/v1`).
    Ztd,
}

impl Resource {
    const ALL: [Resource; 4] = [
        Self::Graph,
        Self::DeviceRegistration,
        Self::Enrollment,
        Self::Ztd,
    ];

    /// The `aud` of its tokens (Entra's v1 audience: the resource URI).
    pub fn audience(self) -> &'static str {
        match self {
            Self::Graph => "https://graph.microsoft.com",
            Self::DeviceRegistration => "urn:ms-drs:enterpriseregistration.windows.net",
            Self::Enrollment => "https://enrollment.manage.microsoft.com/",
            Self::Ztd => "api://ztd",
        }
    }

    /// Microsoft's application id for the resource, which clients may name instead of its URI.
    fn app_id(self) -> Option<&'static str> {
        match self {
            Self::Graph => Some("00000003-0000-0000-c000-000000000000"),
            Self::DeviceRegistration => Some("01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
            Self::Enrollment => Some("d4ebce55-015a-49b5-a083-c84d1797ae8c"),
            Self::Ztd => None,
        }
    }

    /// The resource a `resource=` value or a scope's prefix names (URI with or without its trailing slash,
    /// or application id).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_end_matches('/');
        Self::ALL.into_iter().find(|r| {
            r.audience()
                .trim_end_matches('/')
                .eq_ignore_ascii_case(text)
                || r.app_id().is_some_and(|id| id.eq_ignore_ascii_case(text))
        })
    }
}

/// Public clients that sign users in on behalf of Microsoft's own tools (azure-cli, Azure PowerShell, the
/// Microsoft Authentication Broker, Intune's company portal); tools such as roadtx and azure-identity send
/// these ids by default. ztd accepts them in every tenant for user sign-in, as Entra does.
const FIRST_PARTY_PUBLIC_CLIENTS: &[&str] = &[
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    "1950a258-227b-4e31-a9cf-717495945fc2",
    "1b730954-1685-4b74-9bfd-dac224a7b894",
    "29d9ed98-a469-4536-ade2-f981bc1d605e",
    "9ba1a5c7-f17a-4de9-a1f1-6178c8d51223",
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",
];

/// The claims of an access token, in Entra's v1.0 shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub tid: String,
    pub oid: String,
    pub sub: String,
    /// The client the token was issued to.
    pub appid: String,
    /// How the client authenticated: `0` public client, `1` secret, `2` certificate.
    pub appidacr: String,
    /// `app` for a client's own token, `user` for a user's.
    pub idtyp: String,
    /// Application permissions (client credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Delegated permissions, space-separated (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub ver: String,
}

/// Entra's v1 issuer for a tenant.
pub fn issuer_v1(tenant: TenantId) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// Entra's v2 issuer for a tenant (v2 id tokens).
pub fn issuer_v2(tenant: TenantId) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

#[derive(Deserialize)]
struct TenantOnly {
    tid: String,
}

/// Signs tokens with the tenants' keys and verifies them, remembering verified tokens for a short while
/// (RSA verification is the costliest step of an authenticated request otherwise).
#[derive(Default)]
pub struct Tokens {
    keys: RwLock<HashMap<(TenantId, String), DecodingKey>>,
    verified: Mutex<HashMap<String, (Claims, i64)>>,
    /// When each tenant's keys were last read because a token named an unknown key (at most once a second).
    reloads: Mutex<HashMap<TenantId, i64>>,
}

impl Tokens {
    /// Signs `claims` with the tenant's active key.
    pub async fn sign(
        &self,
        app: &App,
        tenant: TenantId,
        claims: &impl Serialize,
    ) -> Result<String, ApiError> {
        let keys = app.signing_keys(tenant).await?;
        Ok(keys.active.sign(claims)?)
    }

    /// The claims of a token signed by its tenant's key, for one of `audiences`, valid at `now_secs` (the
    /// app's clock: the lifetime is checked here rather than by `jsonwebtoken`, which would read the system
    /// clock).
    pub async fn verify(
        &self,
        app: &App,
        token: &str,
        audiences: &[&str],
        now_secs: i64,
    ) -> Result<Claims, ApiError> {
        if let Some(claims) = self.remembered(token, now_secs) {
            if audiences
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&claims.aud))
            {
                return Ok(claims);
            }
        }
        let invalid =
            |why: &str| ApiError::unauthorized(format!("Access token validation failure: {why}."));
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the token is longer than any token ztd issues"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("the token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key"))?;
        let payload = token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice::<TenantOnly>(&bytes).ok())
            .ok_or_else(|| invalid("the token has no tenant"))?;
        let tenant = TenantId::parse(&payload.tid)
            .ok_or_else(|| invalid("the token has no valid tenant"))?;
        let key = self
            .decoding_key(app, tenant, &kid, now_secs)
            .await?
            .ok_or_else(|| invalid("the token is signed with a key this tenant does not have"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(audiences);
        validation.set_issuer(&[issuer_v1(tenant)]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims = ["exp", "nbf", "aud", "iss"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::unauthorized(format!("Access token validation failure: {e}."))
            })?;
        check_lifetime(&claims, now_secs)?;
        // A deleted application or a disabled or deleted user: its tokens stop here, at most a minute after
        // the change (a verified token is remembered that long).
        let principal = match claims.idtyp.as_str() {
            "user" => ztd_core::DirectoryObjectId::parse(&claims.oid).map(ztd_app::Principal::User),
            _ => Some(ztd_app::Principal::App(&claims.appid)),
        };
        let active = match principal {
            Some(principal) => app.principal_active(tenant, principal).await?,
            None => false,
        };
        if !active {
            return Err(ApiError::unauthorized(
                "Access token validation failure: the application or user it was issued to no longer exists or is disabled.",
            ));
        }
        self.remember(token, &claims, now_secs);
        Ok(claims)
    }

    fn remembered(&self, token: &str, now_secs: i64) -> Option<Claims> {
        let cache = self.verified.lock().ok()?;
        let (claims, until) = cache.get(token)?;
        (now_secs < *until && check_lifetime(claims, now_secs).is_ok()).then(|| claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims, now_secs: i64) {
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_TOKEN_CACHE_CAPACITY {
                cache.clear();
            }
            let until = (now_secs + VERIFIED_TOKEN_CACHE_SECS).min(claims.exp);
            cache.insert(token.to_string(), (claims.clone(), until));
        }
    }

    async fn decoding_key(
        &self,
        app: &App,
        tenant: TenantId,
        kid: &str,
        now_secs: i64,
    ) -> Result<Option<DecodingKey>, ApiError> {
        if let Some(key) = self.cached_key(tenant, kid) {
            return Ok(Some(key));
        }
        let mut keys = app.signing_keys(tenant).await?;
        if !keys.published.iter().any(|k| k.kid == kid) {
            // A key this node has not seen (rotated on another node), read again, at most once a second.
            let due = self.reloads.lock().is_ok_and(|mut last| {
                let due = last.get(&tenant).is_none_or(|at| now_secs > *at);
                if due {
                    last.insert(tenant, now_secs);
                }
                due
            });
            if due {
                keys = app.reload_signing_keys(tenant).await?;
            }
        }
        let Some(jwk) = keys.published.iter().find(|k| k.kid == kid) else {
            return Ok(None);
        };
        let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).map_err(|_| {
            ApiError::new(Code::InternalServerError, "a published key does not decode")
        })?;
        if let Ok(mut cache) = self.keys.write() {
            cache.insert((tenant, kid.to_string()), key.clone());
        }
        Ok(Some(key))
    }

    fn cached_key(&self, tenant: TenantId, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .ok()?
            .get(&(tenant, kid.to_string()))
            .cloned()
    }
}

fn check_lifetime(claims: &Claims, now_secs: i64) -> Result<(), ApiError> {
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
    Ok(())
}

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

/// The delegated permissions a user's role grants (what a user token's `scp` holds for Graph).
pub fn delegated_scopes(role: UserRole) -> Vec<String> {
    let mut scopes = vec!["User.Read".to_string()];
    for family in ztd_app::PERMISSION_FAMILIES {
        if role.allows(family, true) {
            scopes.push(format!("{family}.ReadWrite.All"));
        } else if role.allows(family, false) {
            scopes.push(format!("{family}.Read.All"));
        }
    }
    scopes
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
        let graph = Resource::Graph;
        let audiences = [
            graph.audience(),
            "https://graph.microsoft.com/",
            "00000003-0000-0000-c000-000000000000",
            Resource::Ztd.audience(),
        ];
        let claims = state
            .tokens
            .verify(
                &state.app,
                token.trim(),
                &audiences,
                state.app.now().0.div_euclid(1000),
            )
            .await?;
        let tenant_id = TenantId::parse(&claims.tid)
            .ok_or_else(|| ApiError::unauthorized("Access token has no valid tenant."))?;
        // A user's token carries its delegated permissions in `scp`, a client's in `roles`.
        let roles = match &claims.scp {
            Some(scp) => scp.split_whitespace().map(str::to_string).collect(),
            None => claims.roles,
        };
        Ok(Caller {
            tenant_id,
            client_id: claims.appid,
            roles,
        })
    }
}

/// A token request, every grant's fields (v1 and v2).
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_info: Option<String>,
    refresh_token: Option<String>,
}

/// Which token endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    /// `/oauth2/token`: `resource=`, string lifetimes.
    V1,
    /// `/oauth2/v2.0/token`: `scope=`.
    V2,
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

/// The tenant a token request's path names: `Ok(None)` for `common` and `organizations`.
pub(crate) async fn path_tenant(app: &App, segment: &str) -> Result<Option<TenantId>, Response> {
    if segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations") {
        return Ok(None);
    }
    if let Some(id) = TenantId::parse(segment) {
        return match app.tenant(id).await {
            Ok(_) => Ok(Some(id)),
            Err(_) => Err(unknown_tenant(segment)),
        };
    }
    match app.tenants().await {
        Ok(tenants) => tenants
            .into_iter()
            .find(|t| t.domain.eq_ignore_ascii_case(segment))
            .map(|t| Some(t.id))
            .ok_or_else(|| unknown_tenant(segment)),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

fn unknown_tenant(segment: &str) -> Response {
    oauth_error(
        Code::UnknownTenant,
        &format!(
            "Tenant '{}' not found. Check that the tenant id or domain is right.",
            ztd_formats::excerpt_chars(segment, 120)
        ),
    )
}

/// The resource a request asks for: v1's `resource`, or the resource prefix of a v2 scope (`<resource>/.default`,
/// `<resource>/<permission>`); a bare permission or only OpenID scopes mean Microsoft Graph. `Err` names a
/// resource ztd does not serve.
fn requested_resource(endpoint: Endpoint, form: &TokenRequest) -> Result<Resource, String> {
    let named = match endpoint {
        Endpoint::V1 => form.resource.clone(),
        Endpoint::V2 => form.scope.as_deref().and_then(|scope| {
            scope
                .split_whitespace()
                .filter(|s| !["openid", "profile", "email", "offline_access"].contains(s))
                .find_map(|s| s.rsplit_once('/').map(|(resource, _)| resource.to_string()))
        }),
    };
    match named {
        None => Ok(Resource::Graph),
        Some(resource) => Resource::parse(&resource).ok_or(resource),
    }
}

fn unknown_resource(resource: &str) -> Response {
    oauth_error(
        Code::UnknownResource,
        &format!(
            "The resource principal named {} was not found in the tenant. ztd issues tokens for Microsoft Graph, the device registration service (urn:ms-drs:enterpriseregistration.windows.net), MDM enrollment and ztd's own API (api://ztd).",
            ztd_formats::excerpt_chars(resource, 120)
        ),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    source: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    token(&state, &tenant, Endpoint::V2, source, &headers, form).await
}

/// `POST /{tenant}/oauth2/token` (v1: `resource=`).
pub async fn token_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    source: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    token(&state, &tenant, Endpoint::V1, source, &headers, form).await
}

async fn token(
    state: &AppState,
    tenant: &str,
    endpoint: Endpoint,
    source: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: &HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    // A body that is not a readable form is refused in Entra's shape, not axum's plain text.
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return oauth_error(
                Code::TokenRequestTooLarge,
                &format!("The request body is larger than {MAX_TOKEN_REQUEST_BYTES} bytes."),
            )
        }
        Err(rejection) => {
            return oauth_error(
                Code::MalformedTokenRequest,
                &format!(
                    "The request body must be application/x-www-form-urlencoded: {}",
                    ztd_formats::excerpt_chars(&rejection.body_text(), 200)
                ),
            )
        }
    };
    let named_tenant = match path_tenant(&state.app, tenant).await {
        Ok(named) => named,
        Err(response) => return response,
    };
    let resource = match requested_resource(endpoint, &form) {
        Ok(resource) => resource,
        Err(unknown) => return unknown_resource(&unknown),
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {
            client_credentials_grant(state, tenant, named_tenant, endpoint, resource, headers, &form).await
        }
        Some("password") => {
            let source = source.map_or_else(|| "unknown".to_string(), |Extension(ConnectInfo(a))| a.ip().to_string());
            password_grant(state, named_tenant, endpoint, resource, &source, &form).await
        }
        Some("refresh_token") => refresh_grant(state, named_tenant, endpoint, resource, &form).await,
        _ => oauth_error(
            Code::UnsupportedGrantType,
            "The app requested an unsupported grant type; ztd serves client_credentials, password and refresh_token.",
        ),
    }
}

async fn client_credentials_grant(
    state: &AppState,
    tenant: &str,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    resource: Resource,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Response {
    let Some((client_id, secret)) = client_credentials(headers, form) else {
        return oauth_error(
            Code::MissingClientCredentials,
            "The request body must contain client_id and client_secret.",
        );
    };
    if endpoint == Endpoint::V2 {
        if let Some(scope) = &form.scope {
            if !scope.split_whitespace().any(|s| s.ends_with("/.default")) {
                return oauth_error(
                    Code::InvalidScope,
                    "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
                );
            }
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
    if named_tenant != Some(credential.tenant_id) {
        return oauth_error(
            Code::UnknownClientInTenant,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    }
    let now = state.app.now().0.div_euclid(1000);
    let claims = Claims {
        aud: resource.audience().to_string(),
        iss: issuer_v1(credential.tenant_id),
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECS,
        tid: credential.tenant_id.to_string(),
        oid: credential.client_id.clone(),
        sub: credential.client_id.clone(),
        appid: credential.client_id.clone(),
        appidacr: "1".into(),
        idtyp: "app".into(),
        roles: credential.scopes,
        scp: None,
        upn: None,
        unique_name: None,
        name: None,
        amr: Vec::new(),
        ver: "1.0".into(),
    };
    match state
        .tokens
        .sign(&state.app, credential.tenant_id, &claims)
        .await
    {
        Ok(access_token) => token_response(endpoint, resource, form, access_token, None, None, now),
        Err(err) => err.into_response(),
    }
}

async fn password_grant(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    resource: Resource,
    source: &str,
    form: &TokenRequest,
) -> Response {
    let (Some(username), Some(password), Some(client_id)) =
        (&form.username, &form.password, &form.client_id)
    else {
        return oauth_error(
            Code::MissingClientCredentials,
            "The request body must contain client_id, username and password.",
        );
    };
    // A first-party public client signs in users of any tenant; a registered app only users of its own.
    let first_party = FIRST_PARTY_PUBLIC_CLIENTS
        .iter()
        .any(|known| known.eq_ignore_ascii_case(client_id));
    let owner = if first_party {
        None
    } else {
        match state.app.client_tenant(client_id).await {
            Ok(Some(owner)) => Some(owner),
            Ok(None) => return client_not_found(client_id),
            Err(err) => return ApiError::from(err).into_response(),
        }
    };
    // Entra's v1 endpoint always returns a refresh token to a user sign-in; v2 when `offline_access` is asked.
    let wants_refresh = match endpoint {
        Endpoint::V1 => true,
        Endpoint::V2 => form
            .scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|s| s == "offline_access")),
    };
    let (user, refresh_token) = match state
        .app
        .sign_in_with_password(
            named_tenant,
            username,
            password,
            source,
            ztd_app::users::SignInClient {
                client_id,
                owner,
                refresh_token: wants_refresh,
            },
        )
        .await
    {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(refusal)) => return sign_in_refused(&refusal, username, client_id),
        Err(err) => return ApiError::from(err).into_response(),
    };
    user_tokens(
        state,
        endpoint,
        resource,
        form,
        &user,
        client_id,
        refresh_token,
    )
    .await
}

/// The answer to a user's sign-in or refresh: an access token for `resource`, an id token, and the refresh
/// token when there is one.
async fn user_tokens(
    state: &AppState,
    endpoint: Endpoint,
    resource: Resource,
    form: &TokenRequest,
    user: &User,
    client_id: &str,
    refresh_token: Option<String>,
) -> Response {
    let now = state.app.now().0.div_euclid(1000);
    let scopes = match resource {
        Resource::Graph | Resource::Ztd => delegated_scopes(user.role).join(" "),
        Resource::DeviceRegistration | Resource::Enrollment => "user_impersonation".to_string(),
    };
    let claims = user_claims(user, resource, client_id, scopes, now);
    let access_token = match state.tokens.sign(&state.app, user.tenant_id, &claims).await {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    let id_token = match state
        .tokens
        .sign(
            &state.app,
            user.tenant_id,
            &id_token_claims(user, endpoint, client_id, now),
        )
        .await
    {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    let client_info = URL_SAFE_NO_PAD.encode(
        serde_json::json!({ "uid": user.id.to_string(), "utid": user.tenant_id.to_string() })
            .to_string(),
    );
    let mut response = token_body(
        endpoint,
        resource,
        form,
        access_token,
        Some(id_token),
        Some(client_info),
        now,
    );
    if let Some(refresh_token) = refresh_token {
        response["refresh_token"] = refresh_token.into();
    }
    (StatusCode::OK, Json(response)).into_response()
}

/// `grant_type=refresh_token`: a successor refresh token and an access token for the resource asked for
/// (a refresh token is good for any resource, as Entra's are).
async fn refresh_grant(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    resource: Resource,
    form: &TokenRequest,
) -> Response {
    use ztd_app::users::RefreshRefusal;
    let (Some(presented), Some(client_id)) = (&form.refresh_token, &form.client_id) else {
        return oauth_error(
            Code::MissingClientCredentials,
            "The request body must contain client_id and refresh_token.",
        );
    };
    let (user, successor) = match state.app.redeem_refresh_token(presented, client_id).await {
        Ok(Ok(redeemed)) => redeemed,
        Ok(Err(RefreshRefusal::Invalid)) => {
            return oauth_error(Code::InvalidRefreshToken, "The provided grant is invalid or malformed.")
        }
        Ok(Err(RefreshRefusal::Expired)) => {
            return oauth_error(Code::ExpiredRefreshToken, "The refresh token has expired due to inactivity.")
        }
        Ok(Err(RefreshRefusal::Replayed)) => {
            return oauth_error(
                Code::RevokedRefreshToken,
                "The provided grant has expired due to it being revoked: the refresh token was used before, so every token of its sign-in is revoked.",
            )
        }
        Ok(Err(RefreshRefusal::UserDisabled)) => {
            return oauth_error(Code::AccountDisabled, "The user account is disabled or deleted.")
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    if named_tenant.is_some_and(|tenant| tenant != user.tenant_id) {
        return oauth_error(
            Code::InvalidRefreshToken,
            "The refresh token was not issued by this tenant.",
        );
    }
    user_tokens(
        state,
        endpoint,
        resource,
        form,
        &user,
        client_id,
        Some(successor),
    )
    .await
}

fn client_not_found(client_id: &str) -> Response {
    oauth_error(
        Code::UnknownClientInTenant,
        &format!(
            "Application with identifier '{}' was not found in the directory of the user.",
            ztd_formats::excerpt_chars(client_id, 60)
        ),
    )
}

fn user_claims(
    user: &User,
    resource: Resource,
    client_id: &str,
    scopes: String,
    now: i64,
) -> Claims {
    Claims {
        aud: resource.audience().to_string(),
        iss: issuer_v1(user.tenant_id),
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECS,
        tid: user.tenant_id.to_string(),
        oid: user.id.to_string(),
        sub: pairwise_subject(user, client_id),
        appid: client_id.to_string(),
        appidacr: "0".into(),
        idtyp: "user".into(),
        roles: Vec::new(),
        scp: Some(scopes),
        upn: Some(user.user_principal_name.clone()),
        unique_name: Some(user.user_principal_name.clone()),
        name: Some(user.display_name.clone()),
        amr: vec!["pwd".into()],
        ver: "1.0".into(),
    }
}

/// Entra's `sub` is pairwise: the same user has a different subject for each application.
fn pairwise_subject(user: &User, client_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}:{}", user.id, client_id.to_ascii_lowercase()));
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

fn id_token_claims(
    user: &User,
    endpoint: Endpoint,
    client_id: &str,
    now: i64,
) -> serde_json::Value {
    let mut claims = serde_json::json!({
        "aud": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        "tid": user.tenant_id.to_string(),
        "oid": user.id.to_string(),
        "sub": pairwise_subject(user, client_id),
        "name": user.display_name,
    });
    match endpoint {
        Endpoint::V2 => {
            claims["iss"] = issuer_v2(user.tenant_id).into();
            claims["preferred_username"] = user.user_principal_name.clone().into();
            claims["ver"] = "2.0".into();
        }
        Endpoint::V1 => {
            claims["iss"] = issuer_v1(user.tenant_id).into();
            claims["upn"] = user.user_principal_name.clone().into();
            claims["unique_name"] = user.user_principal_name.clone().into();
            claims["amr"] = serde_json::json!(["pwd"]);
            claims["ver"] = "1.0".into();
        }
    }
    claims
}

fn sign_in_refused(
    refusal: &ztd_app::users::SignInRefusal,
    username: &str,
    client_id: &str,
) -> Response {
    use ztd_app::users::SignInRefusal;
    let name = ztd_formats::excerpt_chars(username, 120);
    match refusal {
        SignInRefusal::UnknownUser => oauth_error(
            Code::UnknownUser,
            &format!("The user account {name} does not exist in the directory. To sign into this application, the account must be added to the directory."),
        ),
        SignInRefusal::WrongPassword => oauth_error(Code::WrongPassword, "Error validating credentials due to invalid username or password."),
        SignInRefusal::Disabled => oauth_error(Code::AccountDisabled, "The user account is disabled."),
        SignInRefusal::LockedOut { until } => oauth_error(
            Code::AccountLocked,
            &format!("The user account is locked because of too many sign-in attempts with a wrong password; try again after {}.", until.to_rfc3339_seconds()),
        ),
        SignInRefusal::ClientNotInTenant => client_not_found(client_id),
        SignInRefusal::PasswordChangeRequired => oauth_error(
            Code::PasswordChangeRequired,
            "The password is expired: an administrator requires it to be changed at the next sign-in.",
        ),
    }
}

/// The success answer: v2 with numeric lifetimes, v1 with string ones and `resource`.
fn token_response(
    endpoint: Endpoint,
    resource: Resource,
    form: &TokenRequest,
    access_token: String,
    id_token: Option<String>,
    client_info: Option<String>,
    now: i64,
) -> Response {
    let body = token_body(
        endpoint,
        resource,
        form,
        access_token,
        id_token,
        client_info,
        now,
    );
    (StatusCode::OK, Json(body)).into_response()
}

fn token_body(
    endpoint: Endpoint,
    resource: Resource,
    form: &TokenRequest,
    access_token: String,
    id_token: Option<String>,
    client_info: Option<String>,
    now: i64,
) -> serde_json::Value {
    let mut body = match endpoint {
        Endpoint::V2 => serde_json::json!({
            "token_type": "Bearer",
            "scope": form.scope.clone().unwrap_or_else(|| format!("{}/.default", resource.audience().trim_end_matches('/'))),
            "expires_in": TOKEN_LIFETIME_SECS,
            "ext_expires_in": TOKEN_LIFETIME_SECS,
            "access_token": access_token,
        }),
        Endpoint::V1 => serde_json::json!({
            "token_type": "Bearer",
            "scope": "user_impersonation",
            "expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
            "expires_on": (now + TOKEN_LIFETIME_SECS).to_string(),
            "not_before": now.to_string(),
            "resource": form.resource.clone().unwrap_or_else(|| resource.audience().to_string()),
            "access_token": access_token,
        }),
    };
    if let Some(id_token) = id_token {
        body["id_token"] = id_token.into();
    }
    if let (Some(info), Some("1")) = (client_info, form.client_info.as_deref()) {
        body["client_info"] = info.into();
    }
    body
}
