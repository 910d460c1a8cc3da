//! The device registration service as Entra's DRS speaks it ([MS-DVRJ], docs/device-registration.md):
//! discovery, join and registration with a DRS bearer token, the certificate-authenticated delete, Windows
//! Hello key registration, and the nonce service. Errors in the DRS shape.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ztd_app::drs::{DeviceRefusal, JoinRefusal};
use ztd_core::error::Code;
use ztd_core::user::User;
use ztd_core::TenantId;
use ztd_drs::messages::{
    DiscoveryEndpoints, DrsErrorBody, IssuedCertificate, JoinRequest, JoinResponse, JoinUser,
    KeyRegistration, MembershipChange,
};

use crate::auth::{Resource, MAX_TOKEN_BYTES};
use crate::error::ApiError;
use crate::tls::PeerCertificate;
use crate::AppState;

/// The largest DRS request body: a join is a CSR, a transport key and a few names (a few KiB).
pub const MAX_DRS_BODY_BYTES: usize = 64 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/Discover", get(discover))
        .route("/{tenant}/discover", get(discover))
        .route("/EnrollmentServer/device/", post(join))
        .route("/EnrollmentServer/device", post(join))
        .route(
            "/EnrollmentServer/device/{id}",
            axum::routing::delete(leave).put(hybrid_update),
        )
        .route("/EnrollmentServer/key/", post(register_key))
        .route("/EnrollmentServer/key", post(register_key))
        .route("/EnrollmentServer/nonce/{tenant}/", get(nonce))
        .route("/EnrollmentServer/nonce/{tenant}", get(nonce))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_DRS_BODY_BYTES))
}

/// An error answer in the DRS shape: `{"ErrorType","Message","TraceId","Time"}`.
pub(crate) fn drs_error(code: Code, message: impl Into<String>) -> Response {
    let context = crate::request::current();
    let body = DrsErrorBody {
        error_type: code.wire().to_string(),
        message: message.into(),
        trace_id: context.as_ref().map(|c| c.id.clone()).unwrap_or_default(),
        time: context
            .as_ref()
            .map(|c| c.at.to_rfc3339_seconds())
            .unwrap_or_default(),
    };
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, Json(body)).into_response();
    response
        .extensions_mut()
        .insert(crate::error::ErrorSummary {
            code: code.wire().to_string(),
            message: String::new(),
        });
    response
}

fn from_api(err: ApiError) -> Response {
    let code = match err.status() {
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => {
            return err.into_response()
        }
        StatusCode::UNAUTHORIZED => Code::DrsAuthenticationFailed,
        _ => Code::DrsInvalidRequest,
    };
    drs_error(code, err.message)
}

/// The user of a DRS bearer token (`aud` the DRS resource, a user's token of an existing, enabled user).
async fn bearer_user(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Result<User, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES)
        .ok_or_else(|| {
            drs_error(
                Code::DrsAuthenticationFailed,
                "A bearer token for the device registration service (urn:ms-drs:enterpriseregistration.windows.net) is required.",
            )
        })?;
    let now = state.app.now().0.div_euclid(1000);
    let audiences = [
        Resource::DeviceRegistration.audience(),
        "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9",
    ];
    let claims = state
        .tokens
        .verify(&state.app, token, &audiences, now)
        .await
        .map_err(|err| drs_error(Code::DrsAuthenticationFailed, err.message))?;
    let tenant = TenantId::parse(&claims.tid)
        .ok_or_else(|| drs_error(Code::DrsAuthenticationFailed, "The token names no tenant."))?;
    if claims.idtyp != "user" {
        return Err(drs_error(
            Code::DrsAuthenticationFailed,
            "Joining or registering a device needs a user's token (the device is registered to the user who signs in).",
        ));
    }
    // The join is the user's act: the audit log shows it so.
    crate::auth::act_as(&claims, tenant, crate::auth::source_address(extensions));
    state
        .app
        .user(tenant, &claims.oid)
        .await
        .map_err(|err| from_api(ApiError::from(err)))
}

/// The base URLs a client reached ztd under: the discovery answer points it back at the same host (under
/// Microsoft's names in a lab, ztd's own address otherwise).
fn base_urls(headers: &HeaderMap) -> (String, String) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("enterpriseregistration.windows.net");
    let drs = format!("https://{host}");
    let login = if host.eq_ignore_ascii_case("enterpriseregistration.windows.net") {
        "https://login.microsoftonline.com".to_string()
    } else {
        drs.clone()
    };
    (drs, login)
}

/// `GET /{domain or tenant id}/Discover`: the service objects clients read.
async fn discover(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    headers: HeaderMap,
) -> Response {
    let tenant = match crate::auth::token::path_tenant(&state.app, &segment).await {
        Ok(Some(tenant)) => tenant,
        _ => {
            return drs_error(
                Code::DrsUnknownTenant,
                format!(
                    "No tenant has the id or verified domain '{}'.",
                    ztd_formats::excerpt_chars(&segment, 120)
                ),
            )
        }
    };
    let tenant_row = match state.app.tenant(tenant).await {
        Ok(t) => t,
        Err(err) => return from_api(err.into()),
    };
    let (drs_base, login_base) = base_urls(&headers);
    let document = ztd_drs::messages::discovery_document(&DiscoveryEndpoints {
        drs_base,
        login_base,
        tenant_id: tenant.0,
        tenant_name: tenant_row.display_name,
        domain: tenant_row.domain,
    });
    (StatusCode::OK, Json(document)).into_response()
}

/// `POST /EnrollmentServer/device/?api-version=2.0`: join (0) or register (4) with a DRS token.
async fn join(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let user = match bearer_user(&state, &headers, &extensions).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let request: JoinRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return drs_error(
                Code::DrsInvalidRequest,
                format!("The request body is not a device registration request: {err}"),
            )
        }
    };
    let joined = match state.app.join_device(user.tenant_id, &user, &request).await {
        Ok(Ok(joined)) => joined,
        Ok(Err(JoinRefusal::Invalid(text))) => return drs_error(Code::DrsInvalidRequest, text),
        Ok(Err(JoinRefusal::InvalidTicket(text))) => {
            return drs_error(
                Code::DrsInvalidJoinTicket,
                format!("The join ticket (attributes.ztdJoinTicket) does not tie this join to an Autopilot registration: {text}. Boot the device again (POST /device/v1/boot) for a fresh ticket."),
            )
        }
        Ok(Err(JoinRefusal::AutopilotDeviceDeleted(ztdid))) => {
            return drs_error(
                Code::DrsAutopilotDeviceNotFound,
                format!("The Autopilot registration {ztdid} this device downloaded its profile from was deleted, so the device is no longer an Autopilot device. Import its hardware hash again and restart setup; it will get a new ZTDID and a new device object."),
            )
        }
        Err(err) => return from_api(err.into()),
    };
    let answer = JoinResponse {
        certificate: IssuedCertificate {
            thumbprint: joined.thumbprint,
            raw_body: STANDARD.encode(&joined.certificate_der),
        },
        user: Some(JoinUser {
            upn: user.user_principal_name.clone(),
        }),
        membership_changes: vec![MembershipChange {
            local_sid: "S-1-5-32-544".into(),
            add_sids: Vec::new(),
        }],
    };
    (StatusCode::OK, Json(answer)).into_response()
}

fn device_refused(refusal: DeviceRefusal) -> Response {
    match refusal {
        DeviceRefusal::UnknownCertificate => drs_error(
            Code::DrsAuthenticationFailed,
            "The client certificate is not a current device certificate of this service.",
        ),
        DeviceRefusal::ObjectDeleted => drs_error(
            Code::DrsDeviceNotFound,
            "The device object of this certificate was deleted.",
        ),
        DeviceRefusal::Disabled => drs_error(
            Code::DrsAuthorizationFailed,
            "The device object of this certificate is disabled.",
        ),
    }
}

/// `DELETE /EnrollmentServer/device/{deviceId}`: the device leaves, authenticated by its certificate over
/// mutual TLS.
async fn leave(
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    peer: Option<Extension<PeerCertificate>>,
) -> Response {
    let Some(Extension(PeerCertificate(certificate))) = peer else {
        return drs_error(
            Code::DrsAuthenticationFailed,
            "Deleting a device needs its device certificate as the TLS client certificate.",
        );
    };
    let device = match state.app.authenticate_device(&certificate).await {
        Ok(Ok(device)) => device,
        Ok(Err(refusal)) => return device_refused(refusal),
        Err(err) => return from_api(err.into()),
    };
    if !device_id
        .trim()
        .eq_ignore_ascii_case(&device.object.device_id.to_string())
    {
        return drs_error(
            Code::DrsAuthorizationFailed,
            "A device certificate deletes only its own device: the path names another device.",
        );
    }
    match state.app.leave_device(&device).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => from_api(err.into()),
    }
}

/// `PUT /EnrollmentServer/device/{id}` (hybrid join of an object synced from Active Directory): refused
/// until ztd has synced objects (the hybrid mode).
async fn hybrid_update(Path(_id): Path<String>) -> Response {
    drs_error(
        Code::DrsInvalidRequest,
        "Hybrid join (JoinType 6) completes a device object synced from Active Directory; ztd has no synced objects yet, so there is nothing to complete.",
    )
}

/// `POST /EnrollmentServer/key/?api-version=1.0`: a user's Windows Hello for Business key, recorded.
async fn register_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let user = match bearer_user(&state, &headers, &extensions).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let request: KeyRegistration = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return drs_error(
                Code::DrsInvalidRequest,
                format!("The body must be {{\"kngc\": \"<base64 key blob>\"}}: {err}"),
            )
        }
    };
    match state
        .app
        .register_user_key(&user, None, &request.kngc)
        .await
    {
        Ok(Ok(id)) => (
            StatusCode::OK,
            Json(serde_json::json!({ "kid": id, "upn": user.user_principal_name })),
        )
            .into_response(),
        Ok(Err(JoinRefusal::Invalid(text))) => drs_error(Code::DrsInvalidRequest, text),
        Ok(Err(_)) => drs_error(Code::DrsInvalidRequest, "The key cannot be registered."),
        Err(err) => from_api(err.into()),
    }
}

/// `GET /EnrollmentServer/nonce/{tenant}/`: a fresh server nonce (the same kind as `srv_challenge`'s).
async fn nonce(State(state): State<AppState>, Path(segment): Path<String>) -> Response {
    if !matches!(
        crate::auth::token::path_tenant(&state.app, &segment).await,
        Ok(Some(_))
    ) {
        return drs_error(
            Code::DrsUnknownTenant,
            format!(
                "No tenant has the id or verified domain '{}'.",
                ztd_formats::excerpt_chars(&segment, 120)
            ),
        );
    }
    match state.app.server_challenge().await {
        Ok(nonce) => (StatusCode::OK, Json(serde_json::json!({ "Value": nonce }))).into_response(),
        Err(err) => from_api(err.into()),
    }
}
