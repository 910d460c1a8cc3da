//! The token endpoint: every grant, v1 and v2, with Entra's answers and errors.

use std::net::SocketAddr;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use ztd_app::App;
use ztd_core::error::Code;
use ztd_core::sign_in::GrantKind;
use ztd_core::user::User;
use ztd_core::TenantId;

use super::{
    delegated_scopes, issuer_v1, issuer_v2, Claims, Resource, MAX_TOKEN_REQUEST_BYTES,
    TOKEN_LIFETIME_SECS,
};
use crate::error::ApiError;
use crate::AppState;

/// A token request, every grant's fields (v1 and v2).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    scope: Option<String>,
    pub(super) resource: Option<String>,
    username: Option<String>,
    password: Option<String>,
    pub(super) client_info: Option<String>,
    refresh_token: Option<String>,
    /// Authorization code grant; roadtx also sends the device code under this name.
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    device_code: Option<String>,
    /// The signed request of the device grants (`jwt-bearer` with a device-signed or session-key-signed JWT).
    pub(super) request: Option<String>,
}

/// Which token endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// `/oauth2/token`: `resource=`, string lifetimes.
    V1,
    /// `/oauth2/v2.0/token`: `scope=`.
    V2,
}

/// An OAuth2 error in Entra's shape, from its catalogue entry.
pub(super) fn oauth_error(code: Code, description: &str) -> Response {
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
    match app.tenant_for_domain(segment).await {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => Err(unknown_tenant(segment)),
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

/// The resource prefix of a v2 scope (`<resource>/.default`, `<resource>/<permission>`), past the OpenID
/// scopes.
pub(super) fn scope_resource(scope: &str) -> Option<String> {
    scope
        .split_whitespace()
        .filter(|s| !["openid", "profile", "email", "offline_access"].contains(s))
        .find_map(|s| s.rsplit_once('/').map(|(resource, _)| resource.to_string()))
}

/// The delegated permissions a user's token for `resource` carries.
pub(super) fn user_scopes(user: &User, resource: Resource) -> String {
    match resource {
        Resource::Graph | Resource::Ztd => delegated_scopes(user.role).join(" "),
        Resource::DeviceRegistration | Resource::Enrollment => "user_impersonation".to_string(),
    }
}

/// The resource a request asks for: v1's `resource`, or the resource prefix of a v2 scope (`<resource>/.default`,
/// `<resource>/<permission>`); a bare permission or only OpenID scopes mean Microsoft Graph. `Err` names a
/// resource ztd does not serve.
pub(super) fn requested_resource(
    endpoint: Endpoint,
    form: &TokenRequest,
) -> Result<Resource, String> {
    let named = match endpoint {
        Endpoint::V1 => form.resource.clone(),
        Endpoint::V2 => form.scope.as_deref().and_then(scope_resource),
    };
    match named {
        None => Ok(Resource::Graph),
        Some(resource) => Resource::parse(&resource).ok_or(resource),
    }
}

pub(super) fn unknown_resource(resource: &str) -> Response {
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
    // A nonce names no tenant: clients ask for it under any tenant segment (pytune uses a foreign one).
    if form.grant_type.as_deref() == Some("srv_challenge") {
        return super::device_grants::server_challenge(state).await;
    }
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
            client_credentials_grant(state, named_tenant, endpoint, resource, headers, &form).await
        }
        Some("password") => {
            let source = source.map_or_else(|| "unknown".to_string(), |Extension(ConnectInfo(a))| a.ip().to_string());
            password_grant(state, named_tenant, endpoint, resource, &source, headers, &form).await
        }
        Some("refresh_token") => refresh_grant(state, named_tenant, endpoint, resource, headers, &form).await,
        Some("authorization_code") => {
            code_grant(state, named_tenant, endpoint, headers, &form, GrantKind::AuthorizationCode).await
        }
        Some("urn:ietf:params:oauth:grant-type:device_code" | "device_code") => {
            code_grant(state, named_tenant, endpoint, headers, &form, GrantKind::DeviceCode).await
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") if form.request.is_some() => {
            let source = source.map_or_else(|| "unknown".to_string(), |Extension(ConnectInfo(a))| a.ip().to_string());
            super::device_grants::signed_request_grant(state, named_tenant, endpoint, &source, &form).await
        }
        _ => oauth_error(
            Code::UnsupportedGrantType,
            "The app requested an unsupported grant type; ztd serves authorization_code, client_credentials, password, refresh_token, device_code, srv_challenge and the device grants (jwt-bearer with a device-signed or session-key-signed request).",
        ),
    }
}

/// How a confidential client proved itself.
struct AuthenticatedClient {
    client: ztd_core::tenant::ClientCredential,
    credential: uuid::Uuid,
    /// `appidacr`: `1` for a secret, `2` for a certificate.
    method: &'static str,
}

/// How the client of a user sign-in authenticated, as `appidacr` says it: a first-party public client
/// (`0`) proves nothing; a registered application is confidential and must prove itself with its secret
/// (`1`) or certificate (`2`), as Entra requires of confidential clients (AADSTS7000218 otherwise).
pub(super) async fn user_flow_client(
    state: &AppState,
    client_id: &str,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Result<&'static str, Response> {
    if ztd_app::clients::is_first_party_public(client_id) {
        return Ok("0");
    }
    let owner = match state.app.client_tenant(client_id).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return Err(client_not_found(client_id)),
        Err(err) => return Err(ApiError::from(err).into_response()),
    };
    authenticate_client(state, owner, headers, form)
        .await
        .map(|authenticated| authenticated.method)
}

/// Authenticates a confidential client by its secret (form or HTTP Basic) or its signed assertion, for a
/// request to `tenant`'s token endpoint. Every refusal is in Entra's shape.
async fn authenticate_client(
    state: &AppState,
    tenant: TenantId,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Result<AuthenticatedClient, Response> {
    use ztd_app::ClientAuthentication as Outcome;
    let (client_id, outcome, method) = if let Some(assertion) = &form.client_assertion {
        let Some(client_id) = &form.client_id else {
            return Err(oauth_error(
                Code::MissingParameter,
                "The request body must contain client_id.",
            ));
        };
        if form.client_assertion_type.as_deref() != Some(ztd_oauth::assertion::JWT_BEARER) {
            return Err(oauth_error(
                Code::InvalidClientAssertion,
                &format!(
                    "client_assertion_type must be {}.",
                    ztd_oauth::assertion::JWT_BEARER
                ),
            ));
        }
        let parsed = match ztd_oauth::ClientAssertion::parse(assertion) {
            Ok(parsed) => parsed,
            Err(refusal) => return Err(assertion_refused(&refusal)),
        };
        let accepted = match token_endpoint_segments(state, tenant).await {
            Ok(accepted) => accepted,
            Err(response) => return Err(response),
        };
        let outcome = state
            .app
            .authenticate_client_assertion(client_id, &parsed, |aud| {
                audience_names_tenant(aud, &accepted)
            })
            .await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(err) => return Err(ApiError::from(err).into_response()),
        };
        (client_id.clone(), outcome, "2")
    } else if let Some((client_id, secret)) = client_credentials(headers, form) {
        match state.app.authenticate_client(&client_id, &secret).await {
            Ok(outcome) => (client_id, outcome, "1"),
            Err(err) => return Err(ApiError::from(err).into_response()),
        }
    } else {
        return Err(oauth_error(
            Code::ClientCredentialRequired,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    let shown = ztd_formats::excerpt_chars(&client_id, 60);
    match outcome {
        // The credential must be the named client's own: another app's secret in HTTP Basic does not vouch
        // for the `client_id` in the form.
        Outcome::Authenticated { client, .. }
            if form
                .client_id
                .as_deref()
                .is_some_and(|named| !named.eq_ignore_ascii_case(&client.client_id)) =>
        {
            Err(oauth_error(
                Code::InvalidClientSecret,
                "The client credential presented is not the credential of the client_id in the request.",
            ))
        }
        Outcome::Authenticated { client, credential } if client.tenant_id == tenant => {
            Ok(AuthenticatedClient { client, credential, method })
        }
        Outcome::Authenticated { .. } | Outcome::UnknownClient => Err(oauth_error(
            Code::UnknownClientInTenant,
            &format!("Application with identifier '{shown}' was not found in the directory '{tenant}'."),
        )),
        Outcome::WrongSecret => Err(oauth_error(
            Code::InvalidClientSecret,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{shown}'."),
        )),
        Outcome::ExpiredSecret => Err(oauth_error(
            Code::ExpiredClientSecret,
            &format!("The provided client secret keys for app '{shown}' are expired. Add a new secret: ztd app secret add."),
        )),
        Outcome::UnknownCertificate => Err(oauth_error(
            Code::InvalidClientAssertionKey,
            &format!("Client assertion failed signature validation: the certificate it names (x5t) is not registered for app '{shown}'."),
        )),
        Outcome::ExpiredCertificate => Err(oauth_error(
            Code::InvalidClientAssertionKey,
            &format!("The certificate that signed the client assertion for app '{shown}' is outside its validity period."),
        )),
        Outcome::BadAssertion(refusal) => Err(assertion_refused(&refusal)),
    }
}

fn assertion_refused(refusal: &ztd_oauth::AssertionError) -> Response {
    use ztd_oauth::AssertionError as E;
    let code = match refusal {
        E::BadSignature => Code::InvalidClientAssertionKey,
        E::SubjectMismatchesIssuer => Code::AssertionSubjectMismatch,
        _ => Code::InvalidClientAssertion,
    };
    oauth_error(code, &format!("Client assertion is not valid: {refusal}."))
}

/// The path segments that name `tenant` at a token endpoint: its id and its verified domains.
async fn token_endpoint_segments(
    state: &AppState,
    tenant: TenantId,
) -> Result<Vec<String>, Response> {
    match state.app.domains(tenant).await {
        Ok(domains) => Ok(std::iter::once(tenant.to_string())
            .chain(domains.into_iter().map(|d| d.name))
            .collect()),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

/// Whether an assertion's `aud` is one of the tenant's token endpoints (v1 or v2, by id or domain, on any
/// host name ztd answers to) or its v2 issuer-style authority.
fn audience_names_tenant(aud: &str, segments: &[String]) -> bool {
    let Some(rest) = aud
        .strip_prefix("https://")
        .or_else(|| aud.strip_prefix("http://"))
    else {
        return false;
    };
    let Some((_, path)) = rest.split_once('/') else {
        return false;
    };
    let path = path.trim_end_matches('/');
    let Some((segment, endpoint)) = path.split_once('/') else {
        return false;
    };
    segments.iter().any(|s| s.eq_ignore_ascii_case(segment))
        && ["oauth2/token", "oauth2/v2.0/token", "v2.0"]
            .iter()
            .any(|e| e.eq_ignore_ascii_case(endpoint))
}

async fn client_credentials_grant(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    resource: Resource,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Response {
    let Some(tenant) = named_tenant else {
        return oauth_error(
            Code::TenantRequired,
            "Use a tenant-specific endpoint or configure the application to be multi-tenant: client credentials need the tenant id or domain in the path, not /common or /organizations.",
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
    let authenticated = match authenticate_client(state, tenant, headers, form).await {
        Ok(authenticated) => authenticated,
        Err(response) => return response,
    };
    let client = authenticated.client;
    let now = state.app.now().0.div_euclid(1000);
    let claims = Claims {
        aud: resource.audience().to_string(),
        iss: issuer_v1(client.tenant_id),
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECS,
        tid: client.tenant_id.to_string(),
        oid: client.client_id.clone(),
        sub: client.client_id.clone(),
        appid: client.client_id.clone(),
        appidacr: authenticated.method.into(),
        idtyp: "app".into(),
        roles: client.scopes,
        scp: None,
        upn: None,
        unique_name: None,
        name: None,
        amr: Vec::new(),
        ver: "1.0".into(),
        ztd_cred: Some(authenticated.credential.to_string()),
        deviceid: None,
    };
    match state
        .tokens
        .sign(&state.app, client.tenant_id, &claims)
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
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Response {
    let (Some(username), Some(password), Some(client_id)) =
        (&form.username, &form.password, &form.client_id)
    else {
        return oauth_error(
            Code::MissingParameter,
            "The request body must contain client_id, username and password.",
        );
    };
    // A registered app proves itself before any password is checked (no guessing through an app whose
    // secret one does not hold).
    let appidacr = match user_flow_client(state, client_id, headers, form).await {
        Ok(appidacr) => appidacr,
        Err(response) => return response,
    };
    // A first-party public client signs in users of any tenant; a registered app only users of its own.
    let owner = if appidacr == "0" {
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
        SignedIn {
            user: &user,
            client_id,
            appidacr,
            refresh_token,
            nonce: None,
            device: None,
        },
    )
    .await
}

/// `grant_type=authorization_code` and the device code grant: the code is redeemed once, by its client, for
/// the user who signed in on ztd's page, with the scope or resource of the original request.
async fn code_grant(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    headers: &HeaderMap,
    form: &TokenRequest,
    kind: GrantKind,
) -> Response {
    use ztd_core::sign_in::RedeemRefusal;
    let Some(client_id) = form.client_id.clone() else {
        return oauth_error(
            Code::MissingParameter,
            "The request body must contain client_id.",
        );
    };
    // roadtx sends the device code as `code`.
    let presented = match kind {
        GrantKind::AuthorizationCode => form.code.clone(),
        GrantKind::DeviceCode => form.device_code.clone().or_else(|| form.code.clone()),
    };
    let Some(presented) = presented else {
        let field = if kind == GrantKind::DeviceCode {
            "device_code"
        } else {
            "code"
        };
        return oauth_error(
            Code::MissingParameter,
            &format!("The request body must contain {field}."),
        );
    };
    // A registered application redeeming an authorization code is a confidential client: it proves itself.
    // The device code flow is a public-client flow, as Entra's (the app must allow public client flows).
    let appidacr = if kind == GrantKind::AuthorizationCode {
        match user_flow_client(state, &client_id, headers, form).await {
            Ok(appidacr) => appidacr,
            Err(response) => return response,
        }
    } else {
        "0"
    };
    let redeemed = match kind {
        GrantKind::AuthorizationCode => {
            state
                .app
                .redeem_authorization_code(
                    &presented,
                    &client_id,
                    named_tenant,
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                )
                .await
        }
        GrantKind::DeviceCode => {
            state
                .app
                .redeem_device_code(&presented, &client_id, named_tenant)
                .await
        }
    };
    let redeemed = match redeemed {
        Ok(Ok(redeemed)) => redeemed,
        Ok(Err(refusal)) => {
            let (code, text) = match (kind, refusal) {
                (_, RedeemRefusal::Pending) => (Code::AuthorizationPending, "The user has not yet finished signing in: poll again after the interval."),
                (_, RedeemRefusal::Declined) => (Code::AuthorizationDeclined, "The user declined the sign-in on the device login page."),
                (GrantKind::DeviceCode, RedeemRefusal::Expired) => (Code::DeviceCodeExpired, "The device code has expired: start again."),
                (GrantKind::AuthorizationCode, RedeemRefusal::Expired) => (Code::ExpiredAuthorizationCode, "The provided authorization code is expired: sign in again."),
                (_, RedeemRefusal::AlreadyRedeemed) => (Code::GrantAlreadyRedeemed, "The provided authorization code or device code was already redeemed; each is good once."),
                (_, RedeemRefusal::PkceMismatch) => (Code::PkceMismatch, "The code_verifier does not match the code_challenge supplied in the authorization request."),
                (GrantKind::DeviceCode, RedeemRefusal::Unknown) => (Code::UnknownDeviceCode, "The device code is not valid for this client."),
                (GrantKind::AuthorizationCode, RedeemRefusal::Unknown) => (Code::InvalidAuthorizationCode, "The authorization code is not valid for this client and redirect URI."),
                (_, RedeemRefusal::WrongTenant) => (Code::InvalidAuthorizationCode, "The code was issued for a user of another tenant than this endpoint's."),
            };
            return oauth_error(code, text);
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    // What the original request asked for, unless this one says again.
    let mut asked = form.clone();
    if asked.scope.is_none() && asked.resource.is_none() {
        asked.scope = redeemed.grant.scope.clone();
        asked.resource = redeemed.grant.resource.clone();
    }
    let resource = match requested_resource(endpoint, &asked) {
        Ok(resource) => resource,
        Err(unknown) => return unknown_resource(&unknown),
    };
    // v1 always returns a refresh token; v2 when `offline_access` was asked for.
    let refresh = match endpoint {
        Endpoint::V1 => true,
        Endpoint::V2 => asked
            .scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|s| s == "offline_access")),
    };
    user_tokens(
        state,
        endpoint,
        resource,
        &asked,
        SignedIn {
            user: &redeemed.user,
            client_id: &client_id,
            appidacr,
            refresh_token: refresh.then_some(redeemed.refresh_token),
            nonce: redeemed.grant.nonce.as_deref(),
            device: redeemed.device.as_ref().map(|d| d.device_id.to_string()),
        },
    )
    .await
}

/// Who signed in, with which client, and what the answer carries besides the access token.
struct SignedIn<'a> {
    user: &'a User,
    client_id: &'a str,
    /// How the client authenticated (`appidacr`).
    appidacr: &'static str,
    refresh_token: Option<String>,
    /// The authorization request's nonce, echoed in the id token.
    nonce: Option<&'a str>,
    /// The device id, for tokens of a session tied to a device (a refresh token obtained through a PRT).
    device: Option<String>,
}

/// The answer to a user's sign-in or refresh: an access token for `resource`, an id token, and the refresh
/// token when there is one.
async fn user_tokens(
    state: &AppState,
    endpoint: Endpoint,
    resource: Resource,
    form: &TokenRequest,
    signed_in: SignedIn<'_>,
) -> Response {
    let SignedIn {
        user,
        client_id,
        appidacr,
        refresh_token,
        nonce,
        device,
    } = signed_in;
    let now = state.app.now().0.div_euclid(1000);
    let scopes = user_scopes(user, resource);
    let mut claims = user_claims(user, resource, client_id, scopes, now);
    claims.appidacr = appidacr.to_string();
    claims.deviceid = device;
    let access_token = match state.tokens.sign(&state.app, user.tenant_id, &claims).await {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    let id_token = match state
        .tokens
        .sign(
            &state.app,
            user.tenant_id,
            &id_token_claims(user, endpoint, client_id, nonce, now),
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
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Response {
    use ztd_app::users::RefreshRefusal;
    let (Some(presented), Some(client_id)) = (&form.refresh_token, &form.client_id) else {
        return oauth_error(
            Code::MissingParameter,
            "The request body must contain client_id and refresh_token.",
        );
    };
    // A client that presents a credential must present a good one; a token issued to a confidential client
    // requires it (the device code flow's tokens, and first-party clients', need none).
    let presents_credential =
        form.client_assertion.is_some() || client_credentials(headers, form).is_some();
    let appidacr = if presents_credential {
        match user_flow_client(state, client_id, headers, form).await {
            Ok(appidacr) => appidacr,
            Err(response) => return response,
        }
    } else {
        "0"
    };
    let authenticated = appidacr != "0";
    let redeemed = match state.app.redeem_refresh_token(presented, client_id, named_tenant, authenticated).await {
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
        Ok(Err(RefreshRefusal::ClientCredentialRequired)) => {
            return oauth_error(
                Code::ClientCredentialRequired,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        }
        Ok(Err(RefreshRefusal::UserDisabled)) => {
            return oauth_error(Code::AccountDisabled, "The user account is disabled or deleted.")
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    user_tokens(
        state,
        endpoint,
        resource,
        form,
        SignedIn {
            user: &redeemed.user,
            client_id,
            appidacr,
            refresh_token: Some(redeemed.successor),
            nonce: None,
            device: redeemed.device.map(|d| d.device_id.to_string()),
        },
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

pub(super) fn user_claims(
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
        ztd_cred: None,
        deviceid: None,
    }
}

/// Entra's `sub` is pairwise: the same user has a different subject for each application.
fn pairwise_subject(user: &User, client_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}:{}", user.id, client_id.to_ascii_lowercase()));
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

pub(super) fn id_token_claims(
    user: &User,
    endpoint: Endpoint,
    client_id: &str,
    nonce: Option<&str>,
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
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
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

/// The catalogue entry and text for a refused password sign-in (the token endpoint's JSON and the sign-in
/// pages say the same).
pub(super) fn sign_in_refusal_text(
    refusal: &ztd_app::users::SignInRefusal,
    username: &str,
) -> (Code, String) {
    use ztd_app::users::SignInRefusal;
    let name = ztd_formats::excerpt_chars(username, 120);
    match refusal {
        SignInRefusal::UnknownUser => (
            Code::UnknownUser,
            format!("The user account {name} does not exist in the directory. To sign into this application, the account must be added to the directory."),
        ),
        SignInRefusal::WrongPassword => (Code::WrongPassword, "Error validating credentials due to invalid username or password.".into()),
        SignInRefusal::Disabled => (Code::AccountDisabled, "The user account is disabled.".into()),
        SignInRefusal::LockedOut { until } => (
            Code::AccountLocked,
            format!("The user account is locked because of too many sign-in attempts with a wrong password; try again after {}.", until.to_rfc3339_seconds()),
        ),
        SignInRefusal::ClientNotInTenant => (
            Code::UnknownClientInTenant,
            "The application was not found in the directory of the user.".into(),
        ),
        SignInRefusal::PasswordChangeRequired => (
            Code::PasswordChangeRequired,
            "The password is expired: an administrator requires it to be changed at the next sign-in.".into(),
        ),
    }
}

pub(super) fn sign_in_refused(
    refusal: &ztd_app::users::SignInRefusal,
    username: &str,
    client_id: &str,
) -> Response {
    if matches!(refusal, ztd_app::users::SignInRefusal::ClientNotInTenant) {
        return client_not_found(client_id);
    }
    let (code, text) = sign_in_refusal_text(refusal, username);
    oauth_error(code, &text)
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

pub(super) fn token_body(
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
