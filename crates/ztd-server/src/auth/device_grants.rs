//! The token endpoint's device grants ([MS-OAPXBC] §3, docs/device-registration.md): the `srv_challenge`
//! nonce; requests signed by a device's certificate key (`x5c`: a PRT for a user's password or refresh
//! token, or the userless device token); and requests signed with a PRT's session key (`ctx`: access tokens
//! through the PRT, PRT renewal), answered encrypted with a key derived from the session key.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use ztd_app::drs::{AuthenticatedDevice, DeviceRefusal, PrtRefusal};
use ztd_core::error::Code;
use ztd_core::user::User;
use ztd_core::TenantId;
use ztd_drs::jose::SignedRequest;

use super::token::{
    id_token_claims, oauth_error, scope_resource, sign_in_refused, token_body, user_claims,
    user_scopes, Endpoint, TokenRequest,
};
use super::{Claims, Resource, TOKEN_LIFETIME_SECS};
use crate::error::ApiError;
use crate::AppState;

/// Windows' own client for PRT requests (roadlib, dsreg); the id token is issued to it.
const PRT_CLIENT: &str = "38aa3b87-a06d-4817-b275-7a316988d93b";

/// `grant_type=srv_challenge`: `{"Nonce": …}`, good once for a few minutes.
pub(super) async fn server_challenge(state: &AppState) -> Response {
    match state.app.server_challenge().await {
        Ok(nonce) => (StatusCode::OK, Json(serde_json::json!({ "Nonce": nonce }))).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn assertion_refused(text: impl std::fmt::Display) -> Response {
    oauth_error(
        Code::InvalidDeviceAssertion,
        &format!("The signed request is invalid: {text}."),
    )
}

fn device_refused(refusal: DeviceRefusal) -> Response {
    match refusal {
        DeviceRefusal::UnknownCertificate => oauth_error(
            Code::DeviceAuthenticationFailed,
            "Device authentication failed: the certificate is not a current device certificate of this tenant (unknown, altered, revoked or expired).",
        ),
        DeviceRefusal::ObjectDeleted => oauth_error(
            Code::DeviceObjectNotFound,
            "Device object was not found in the tenant directory.",
        ),
        DeviceRefusal::Disabled => oauth_error(
            Code::DeviceDisabled,
            "The device used during the authentication is disabled.",
        ),
    }
}

fn claim<'a>(request: &'a SignedRequest, name: &str) -> Option<&'a str> {
    request
        .claim_str(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with `request=<JWT>`.
pub(super) async fn signed_request_grant(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    source: &str,
    form: &TokenRequest,
) -> Response {
    let Some(text) = form.request.as_deref() else {
        return oauth_error(
            Code::MissingParameter,
            "The request body must contain request.",
        );
    };
    let request = match SignedRequest::parse(text) {
        Ok(request) => request,
        Err(err) => return assertion_refused(err),
    };
    match (request.x5c(), request.ctx()) {
        (Ok(Some(certificate)), _) => {
            device_signed(
                state,
                named_tenant,
                endpoint,
                source,
                form,
                &request,
                &certificate,
            )
            .await
        }
        (Ok(None), Ok(Some(ctx))) => {
            session_signed(state, named_tenant, endpoint, form, &request, &ctx).await
        }
        (Err(err), _) | (_, Err(err)) => assertion_refused(err),
        (Ok(None), Ok(None)) => assertion_refused(
            "it carries neither x5c (signed by the device key) nor ctx (signed with a session key)",
        ),
    }
}

/// The client a device grant names: one of Microsoft's first-party public clients, or an application
/// registered in the device's tenant (a device does not mint tokens for another tenant's or a deleted app).
async fn device_grant_client(
    state: &AppState,
    client_id: &str,
    tenant: TenantId,
) -> Result<(), Response> {
    if ztd_app::clients::is_first_party_public(client_id) {
        return Ok(());
    }
    match state.app.client_tenant(client_id).await {
        Ok(Some(owner)) if owner == tenant => Ok(()),
        Ok(_) => Err(oauth_error(
            Code::UnknownClientInTenant,
            &format!(
                "Application with identifier '{}' was not found in the directory of the device.",
                ztd_formats::excerpt_chars(client_id, 60)
            ),
        )),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

/// Redeems the request's `request_nonce`, or answers why not.
async fn redeem_nonce(state: &AppState, request: &SignedRequest) -> Result<(), Response> {
    let Some(nonce) = claim(request, "request_nonce") else {
        return Err(assertion_refused(
            "request_nonce is missing; ask for one with grant_type=srv_challenge",
        ));
    };
    match state.app.redeem_challenge(nonce).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err(assertion_refused(format!("request_nonce: {}", refusal.0))),
        Err(err) => Err(ApiError::from(err).into_response()),
    }
}

/// A request signed by the device key: a PRT for a user, or the device's own token.
async fn device_signed(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    source: &str,
    form: &TokenRequest,
    request: &SignedRequest,
    certificate: &[u8],
) -> Response {
    let device = match state.app.authenticate_device(certificate).await {
        Ok(Ok(device)) => device,
        Ok(Err(refusal)) => return device_refused(refusal),
        Err(err) => return ApiError::from(err).into_response(),
    };
    if named_tenant.is_some_and(|t| t != device.tenant_id) {
        return device_refused(DeviceRefusal::UnknownCertificate);
    }
    if let Err(err) = request.verify_rs256(&device.certificate.public_key) {
        return assertion_refused(err);
    }
    if let Err(response) = redeem_nonce(state, request).await {
        return response;
    }
    let client_id = claim(request, "client_id")
        .unwrap_or(PRT_CLIENT)
        .to_string();
    if let Err(response) = device_grant_client(state, &client_id, device.tenant_id).await {
        return response;
    }
    match claim(request, "grant_type") {
        Some("password") => {
            let (Some(username), Some(password)) = (claim(request, "username"), request.claim_str("password")) else {
                return assertion_refused("a password grant needs username and password");
            };
            let signed_in = state
                .app
                .sign_in_with_password(
                    Some(device.tenant_id),
                    username,
                    password,
                    source,
                    ztd_app::users::SignInClient {
                        client_id: &client_id,
                        owner: None,
                        refresh_token: false,
                    },
                )
                .await;
            match signed_in {
                Ok(Ok((user, _))) => prt_answer(state, endpoint, form, &device, &user, &client_id, None).await,
                Ok(Err(refusal)) => sign_in_refused(&refusal, username, &client_id),
                Err(err) => ApiError::from(err).into_response(),
            }
        }
        Some("refresh_token") => {
            let Some(presented) = claim(request, "refresh_token") else {
                return assertion_refused("a refresh_token grant needs refresh_token");
            };
            match state
                .app
                .redeem_refresh_token(presented, &client_id, Some(device.tenant_id), false)
                .await
            {
                Ok(Ok(redeemed)) => {
                    prt_answer(state, endpoint, form, &device, &redeemed.user, PRT_CLIENT, None).await
                }
                Ok(Err(_)) => oauth_error(
                    Code::InvalidRefreshToken,
                    "The provided grant is invalid or malformed.",
                ),
                Err(err) => ApiError::from(err).into_response(),
            }
        }
        Some("device_token") => device_token(state, form, &device, request, &client_id).await,
        other => oauth_error(
            Code::UnsupportedGrantType,
            &format!(
                "The signed request's grant_type '{}' is not supported: use password, refresh_token or device_token.",
                ztd_formats::excerpt_chars(other.unwrap_or_default(), 60)
            ),
        ),
    }
}

/// Issues a PRT and answers with it, its session key encrypted to the device's transport key, and an id
/// token.
async fn prt_answer(
    state: &AppState,
    endpoint: Endpoint,
    form: &TokenRequest,
    device: &AuthenticatedDevice,
    user: &User,
    client_id: &str,
    session_key: Option<&[u8]>,
) -> Response {
    let issued = match state
        .app
        .issue_prt(device, user, client_id, session_key)
        .await
    {
        Ok(issued) => issued,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let now = state.app.now().0.div_euclid(1000);
    let id_token = match device_id_token(state, endpoint, user, client_id, device, now).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let mut body = serde_json::json!({
        "token_type": "pop",
        "expires_in": issued.expires_in_secs.to_string(),
        "ext_expires_in": issued.expires_in_secs.to_string(),
        "expires_on": (now + issued.expires_in_secs).to_string(),
        "refresh_token": issued.prt,
        "refresh_token_expires_in": issued.expires_in_secs,
        "session_key_jwe": issued.session_key_jwe,
        "id_token": id_token,
    });
    if form.client_info.as_deref() == Some("1") {
        body["client_info"] = client_info(user).into();
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// An id token for `user` on `device` (with its `deviceid`), issued to `client_id`.
async fn device_id_token(
    state: &AppState,
    endpoint: Endpoint,
    user: &User,
    client_id: &str,
    device: &AuthenticatedDevice,
    now: i64,
) -> Result<String, Response> {
    let mut claims = id_token_claims(user, endpoint, client_id, None, now);
    claims["deviceid"] = device.object.device_id.to_string().into();
    state
        .tokens
        .sign(&state.app, user.tenant_id, &claims)
        .await
        .map_err(IntoResponse::into_response)
}

fn client_info(user: &User) -> String {
    URL_SAFE_NO_PAD.encode(
        serde_json::json!({ "uid": user.id.to_string(), "utid": user.tenant_id.to_string() })
            .to_string(),
    )
}

/// The userless device token (`grant_type=device_token`): an access token for device enrollment or
/// registration that names the device, not a user. Plain JSON, as clients read it.
async fn device_token(
    state: &AppState,
    form: &TokenRequest,
    device: &AuthenticatedDevice,
    request: &SignedRequest,
    client_id: &str,
) -> Response {
    let resource = match claim(request, "resource").or(form.resource.as_deref()) {
        None => Resource::Enrollment,
        Some(text) => match Resource::parse(text) {
            Some(r @ (Resource::Enrollment | Resource::DeviceRegistration)) => r,
            _ => {
                return oauth_error(
                    Code::UnknownResource,
                    "A device token is issued for MDM enrollment (https://enrollment.manage.microsoft.com/) or the device registration service only.",
                )
            }
        },
    };
    let now = state.app.now().0.div_euclid(1000);
    let tenant = device.tenant_id;
    let claims = Claims {
        aud: resource.audience().to_string(),
        iss: super::issuer_v1(tenant),
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECS,
        tid: tenant.to_string(),
        oid: device.object.id.to_string(),
        sub: device.object.id.to_string(),
        appid: client_id.to_string(),
        appidacr: "0".into(),
        idtyp: "device".into(),
        roles: Vec::new(),
        scp: None,
        upn: None,
        unique_name: None,
        name: Some(device.object.display_name.clone()),
        amr: vec!["rsa".into()],
        ver: "1.0".into(),
        ztd_cred: None,
        deviceid: Some(device.object.device_id.to_string()),
    };
    let token = match state.tokens.sign(&state.app, tenant, &claims).await {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME_SECS.to_string(),
        "ext_expires_in": TOKEN_LIFETIME_SECS.to_string(),
        "expires_on": (now + TOKEN_LIFETIME_SECS).to_string(),
        "resource": resource.audience(),
        "access_token": token,
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// A request signed with a key derived from a PRT's session key: an access token through the PRT, or a
/// renewed PRT (`scope` with `aza`). The answer is encrypted with a key derived from the session key.
async fn session_signed(
    state: &AppState,
    named_tenant: Option<TenantId>,
    endpoint: Endpoint,
    form: &TokenRequest,
    request: &SignedRequest,
    ctx: &[u8],
) -> Response {
    let Some(prt) = claim(request, "refresh_token") else {
        return assertion_refused("a session-key-signed request carries the PRT as refresh_token");
    };
    let session = match state.app.prt_session(prt).await {
        Ok(Ok(session)) => session,
        Ok(Err(PrtRefusal::Invalid)) => {
            return oauth_error(
                Code::InvalidRefreshToken,
                "The provided PRT is invalid, expired or revoked.",
            )
        }
        Ok(Err(PrtRefusal::UserDisabled)) => {
            return oauth_error(
                Code::AccountDisabled,
                "The user account is disabled or deleted.",
            )
        }
        Ok(Err(PrtRefusal::Device(refusal))) => return device_refused(refusal),
        Err(err) => return ApiError::from(err).into_response(),
    };
    if named_tenant.is_some_and(|t| t != session.user.tenant_id) {
        return oauth_error(
            Code::InvalidRefreshToken,
            "The PRT was issued in another tenant.",
        );
    }
    let key = if request.kdf_ver() == 2 {
        ztd_drs::kdf::derive_key_v2(&session.session_key, ctx, request.payload_bytes())
    } else {
        ztd_drs::kdf::derive_key_v1(&session.session_key, ctx)
    };
    if let Err(err) = request.verify_hs256(&key) {
        return assertion_refused(err);
    }
    if let Err(response) = redeem_nonce(state, request).await {
        return response;
    }
    if claim(request, "grant_type") != Some("refresh_token") {
        return assertion_refused("a session-key-signed request's grant_type is refresh_token");
    }
    let client_id = claim(request, "client_id")
        .unwrap_or(PRT_CLIENT)
        .to_string();
    if let Err(response) = device_grant_client(state, &client_id, session.user.tenant_id).await {
        return response;
    }
    let scope = claim(request, "scope").unwrap_or("openid");
    let user = &session.user;
    let device = &session.device;
    let now = state.app.now().0.div_euclid(1000);
    let body = if scope.split_whitespace().any(|s| s == "aza") {
        // Renewal: a successor PRT under the same session key.
        let issued = match state
            .app
            .issue_prt(device, user, &client_id, Some(&session.session_key))
            .await
        {
            Ok(issued) => issued,
            Err(err) => return ApiError::from(err).into_response(),
        };
        let id_token = match device_id_token(state, endpoint, user, &client_id, device, now).await {
            Ok(token) => token,
            Err(response) => return response,
        };
        serde_json::json!({
            "token_type": "pop",
            "expires_in": issued.expires_in_secs.to_string(),
            "expires_on": (now + issued.expires_in_secs).to_string(),
            "refresh_token": issued.prt,
            "refresh_token_expires_in": issued.expires_in_secs,
            "id_token": id_token,
            "client_info": client_info(user),
        })
    } else {
        let named = claim(request, "resource")
            .map(str::to_string)
            .or_else(|| scope_resource(scope));
        let resource = match named.as_deref() {
            None => None,
            Some(text) => match Resource::parse(text) {
                Some(resource) => Some(resource),
                None => return super::token::unknown_resource(text),
            },
        };
        let refresh_token = match state
            .app
            .device_bound_refresh_token(user, &client_id, device.object.id)
            .await
        {
            Ok(token) => token,
            Err(err) => return ApiError::from(err).into_response(),
        };
        let id_token = match device_id_token(state, endpoint, user, &client_id, device, now).await {
            Ok(token) => token,
            Err(response) => return response,
        };
        let mut body = match resource {
            Some(resource) => {
                let scopes = user_scopes(user, resource);
                let mut claims = user_claims(user, resource, &client_id, scopes, now);
                claims.deviceid = Some(device.object.device_id.to_string());
                claims.amr = vec!["pwd".into(), "rsa".into()];
                let access_token =
                    match state.tokens.sign(&state.app, user.tenant_id, &claims).await {
                        Ok(token) => token,
                        Err(err) => return err.into_response(),
                    };
                let mut asked = form.clone();
                asked.resource = named.clone();
                token_body(
                    endpoint,
                    resource,
                    &asked,
                    access_token,
                    Some(id_token),
                    None,
                    now,
                )
            }
            None => serde_json::json!({ "token_type": "Bearer", "id_token": id_token }),
        };
        body["refresh_token"] = refresh_token.into();
        body["client_info"] = client_info(user).into();
        body
    };
    encrypted(&session.session_key, state, &body)
}

/// The answer to a session-key-signed request: a JWE under a key derived from the session key and a fresh
/// context.
fn encrypted(session_key: &[u8], state: &AppState, body: &Value) -> Response {
    let (ctx, iv) = state.app.derivation_nonces();
    let plaintext = serde_json::to_vec(body).unwrap_or_default();
    match ztd_drs::jose::encrypt_response(session_key, ctx, iv, &plaintext) {
        Ok(jwe) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/jose")],
            jwe,
        )
            .into_response(),
        Err(err) => ApiError::new(Code::InternalServerError, err.to_string()).into_response(),
    }
}

/// How old an `x-ms-RefreshTokenCredential` without a nonce may be (the older time-based model: `iat`).
const CREDENTIAL_MAX_AGE_SECS: i64 = 300;

/// The user of an `x-ms-RefreshTokenCredential` ([MS-OAPXBC] §3.2.5.2.1.1.1): a JWT signed HS256 with a key
/// derived from the PRT's session key (KDF v1 or v2 by `kdf_ver`), carrying the PRT and a fresh
/// `request_nonce` (redeemed once) or an `iat` within five minutes. `Err` says why not.
pub(super) async fn prt_credential_user(
    state: &AppState,
    credential: &str,
) -> Result<(User, ztd_core::DirectoryObjectId), String> {
    let request = SignedRequest::parse(credential).map_err(|e| e.to_string())?;
    let ctx = request
        .ctx()
        .map_err(|e| e.to_string())?
        .ok_or("the credential has no ctx")?;
    let prt = claim(&request, "refresh_token").ok_or("the credential carries no PRT")?;
    let session = match state.app.prt_session(prt).await {
        Ok(Ok(session)) => session,
        Ok(Err(PrtRefusal::Invalid)) => return Err("the PRT is invalid, expired or revoked".into()),
        Ok(Err(PrtRefusal::UserDisabled)) => return Err("the user is disabled".into()),
        Ok(Err(PrtRefusal::Device(_))) => {
            return Err("the device is disabled, deleted, or its certificate revoked".into())
        }
        Err(err) => return Err(err.to_string()),
    };
    let key = if request.kdf_ver() == 2 {
        ztd_drs::kdf::derive_key_v2(&session.session_key, &ctx, request.payload_bytes())
    } else {
        ztd_drs::kdf::derive_key_v1(&session.session_key, &ctx)
    };
    request.verify_hs256(&key).map_err(|e| e.to_string())?;
    match claim(&request, "request_nonce") {
        Some(nonce) => match state.app.redeem_challenge(nonce).await {
            Ok(Ok(())) => {}
            Ok(Err(refusal)) => return Err(format!("request_nonce: {}", refusal.0)),
            Err(err) => return Err(err.to_string()),
        },
        None => {
            let iat = claim(&request, "iat")
                .and_then(|v| v.parse::<i64>().ok())
                .or_else(|| request.claims().get("iat").and_then(Value::as_i64))
                .ok_or("the credential has neither request_nonce nor iat")?;
            let now = state.app.now().0.div_euclid(1000);
            // At most five minutes old, and not from the future (a minute of clock skew).
            if iat > now.saturating_add(60) || now.saturating_sub(iat) > CREDENTIAL_MAX_AGE_SECS {
                return Err("the credential is too old; sign it again with a fresh nonce".into());
            }
        }
    }
    Ok((session.user, session.device.object.id))
}
