//! The MDM service as Windows speaks it (docs/mdm.md): enrollment discovery, the X.509 enrollment policy
//! and the WS-Trust enrollment ([MS-MDE2], [MS-XCEP], [MS-WSTEP]) with SOAP faults, and the OMA-DM
//! management endpoint (SyncML 1.2 over mutual TLS with the enrolled certificate).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ztd_app::mdm::{
    EnrollRefusal, Enroller, EnrollmentInput, SessionRefusal, UserCredential, PROVIDER_ID,
};
use ztd_app::users::{SignInClient, SignInRefusal};
use ztd_core::error::Code;
use ztd_core::managed::EnrollmentType;
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, TenantId};
use ztd_mdm::enrollment::{
    self, AuthPolicy, CertificatePolicy, CertificateScope, Credential, DiscoverResponse,
    EnrollmentMessage, Fault, FaultCode, PollSchedule, ProvisioningDocument, SoapHeader,
};
use ztd_mdm::syncml::{self, SyncMessage};

use crate::auth::Resource;
use crate::tls::PeerCertificate;
use crate::AppState;

/// The largest enrollment request: the XML reader's own bound for SOAP.
pub const MAX_ENROLLMENT_BODY_BYTES: usize = ztd_mdm::xml::Limits::SOAP.max_bytes;
/// The largest SyncML message: the XML reader's own bound for SyncML.
pub const MAX_SYNCML_BODY_BYTES: usize = ztd_mdm::xml::Limits::SYNCML.max_bytes;
/// Where enrolled devices hold their sessions (the w7 application's `ADDR`).
pub const MANAGEMENT_PATH: &str = "/ManagementServer/MDM.svc";
/// The policy and enrollment services' paths (both on the discovery service's host, as Windows requires).
pub const POLICY_PATH: &str = "/EnrollmentServer/Policy.svc";
pub const ENROLLMENT_PATH: &str = "/EnrollmentServer/Enrollment.svc";
/// The Federated policy's sign-in page (`AuthenticationServiceUrl`).
pub const AUTHENTICATION_PATH: &str = "/EnrollmentServer/AuthenticationService";
/// The terms-of-use page (Entra's MDM terms-of-use URL).
pub const TERMS_PATH: &str = "/EnrollmentServer/TermsOfUse";
/// The client id the audit log records for a user name and password enrollment (Intune's application).
const ENROLLMENT_CLIENT_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// How many days a certificate's validity the enrollment policy announces.
const POLICY_VALIDITY_SECS: u64 = ztd_app::mdm::MDM_CERTIFICATE_DAYS as u64 * 86_400;

const SOAP_CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

pub(crate) fn routes() -> Router<AppState> {
    let enrollment = Router::new()
        // Windows asks `enterpriseenrollment.<domain>` for `/EnrollmentServer/Discovery.svc`; Entra's MDM
        // discovery URL is lower case. Paths are matched exactly, so both spellings are served.
        .route(
            "/EnrollmentServer/Discovery.svc",
            post(discover).get(discovery_probe),
        )
        .route(
            "/enrollmentserver/discovery.svc",
            post(discover).get(discovery_probe),
        )
        .route(POLICY_PATH, post(policies))
        .route(
            AUTHENTICATION_PATH,
            axum::routing::get(crate::auth::mdm_pages::sign_in_get)
                .post(crate::auth::mdm_pages::sign_in_post),
        )
        .route(
            TERMS_PATH,
            axum::routing::get(crate::auth::mdm_pages::terms_get)
                .post(crate::auth::mdm_pages::terms_post),
        )
        .route(ENROLLMENT_PATH, post(enroll))
        // Intune's enrollment service path, which independent clients call straight.
        .route(
            "/StatelessEnrollmentService/DeviceEnrollment.svc",
            post(enroll),
        )
        .layer(axum::extract::DefaultBodyLimit::max(
            MAX_ENROLLMENT_BODY_BYTES,
        ));
    let management = Router::new()
        .route(MANAGEMENT_PATH, post(management))
        // Intune's management path, which independent clients call straight.
        .route("/devicegatewayproxy/cimhandler.ashx", post(management))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_SYNCML_BODY_BYTES));
    enrollment.merge(management)
}

fn fault_code(code: Code) -> FaultCode {
    match code {
        Code::MdmAuthentication => FaultCode::Authentication,
        Code::MdmAuthorization => FaultCode::Authorization,
        Code::MdmCertificateRequest => FaultCode::CertificateRequest,
        Code::MdmInvalidSecurity => FaultCode::InvalidSecurity,
        Code::MdmInternalServiceFault => FaultCode::InternalServiceFault,
        _ => FaultCode::MessageFormat,
    }
}

fn catalogue_code(code: FaultCode) -> Code {
    match code {
        FaultCode::Authentication => Code::MdmAuthentication,
        FaultCode::Authorization => Code::MdmAuthorization,
        FaultCode::CertificateRequest => Code::MdmCertificateRequest,
        FaultCode::InvalidSecurity => Code::MdmInvalidSecurity,
        FaultCode::InternalServiceFault | FaultCode::EnrollmentServer => {
            Code::MdmInternalServiceFault
        }
        FaultCode::MessageFormat => Code::MdmMessageFormat,
    }
}

/// A SOAP fault answering the message `relates_to`, with this request's trace id.
fn fault(code: Code, relates_to: Option<&str>, reason: impl Into<String>) -> Response {
    fault_with_type(code, relates_to, reason, None)
}

fn fault_with_type(
    code: Code,
    relates_to: Option<&str>,
    reason: impl Into<String>,
    error_type: Option<&str>,
) -> Response {
    let body = enrollment::fault_response(
        relates_to,
        &Fault {
            code: fault_code(code),
            reason: reason.into(),
            error_type: error_type.map(str::to_string),
            trace_id: crate::request::current().map(|c| c.id.clone()),
        },
    );
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    soap(status, body)
}

fn soap(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, SOAP_CONTENT_TYPE)], body).into_response()
}

/// A failure of ztd itself (its database): the fault that says "try again", logged with the request id.
fn internal_fault(relates_to: Option<&str>, err: ztd_app::AppError) -> Response {
    tracing::error!(error = %err, "MDM enrollment failed");
    fault(
        Code::MdmInternalServiceFault,
        relates_to,
        "ztd could not complete the request; retry later.",
    )
}

/// The fault answering a request that cannot be read.
fn unreadable(e: &enrollment::EnrollmentError) -> Response {
    fault(catalogue_code(e.fault_code()), None, e.to_string())
}

/// `GET /EnrollmentServer/Discovery.svc`: Windows probes the service before it posts (an empty 200).
async fn discovery_probe() -> StatusCode {
    StatusCode::OK
}

/// `POST /EnrollmentServer/Discovery.svc`: which authentication the tenant of the e-mail's domain takes, and
/// where its policy and enrollment services are.
async fn discover(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match enrollment::parse_request(&body) {
        Ok(request) => request,
        Err(e) => return unreadable(&e),
    };
    let relates_to = request.header.message_id.as_deref();
    let EnrollmentMessage::Discover(discover) = &request.message else {
        return fault(
            Code::MdmMessageFormat,
            relates_to,
            "The discovery service answers Discover only.",
        );
    };
    let domain = discover
        .email_address
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_ascii_lowercase());
    let Some(domain) = domain.filter(|d| !d.is_empty()) else {
        return fault(
            Code::MdmAuthorization,
            relates_to,
            "Enroll with a user principal name (user@domain): its domain names the organization.",
        );
    };
    let tenant = match state.app.tenant_for_domain(&domain).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            return fault(
                Code::MdmAuthorization,
                relates_to,
                "No organization has this domain; add it to the tenant's verified domains.",
            )
        }
        Err(err) => return internal_fault(relates_to, err),
    };
    // A tenant with terms of use shows them on its sign-in page (Federated) whenever Windows offers it.
    let terms = match state.app.mdm_settings(tenant).await {
        Ok(settings) => settings.terms_of_use.is_some(),
        Err(err) => return internal_fault(relates_to, err),
    };
    // A user name and password (OnPremise) whenever Windows offers it, else the sign-in page (Federated).
    let auth_policy = if terms && discover.auth_policies.contains(&AuthPolicy::Federated) {
        AuthPolicy::Federated
    } else if discover.auth_policies.contains(&AuthPolicy::OnPremise)
        || discover.auth_policies.is_empty()
    {
        AuthPolicy::OnPremise
    } else if discover.auth_policies.contains(&AuthPolicy::Federated) {
        AuthPolicy::Federated
    } else {
        return fault(
            Code::MdmAuthorization,
            relates_to,
            "ztd enrolls with a user name and password (OnPremise) or its sign-in page (Federated); the device offered neither.",
        );
    };
    let root = crate::auth_discovery::root(&uri, &headers);
    let response = DiscoverResponse {
        auth_policy,
        enrollment_version: "4.0".into(),
        policy_service_url: format!("{root}{POLICY_PATH}"),
        enrollment_service_url: format!("{root}{ENROLLMENT_PATH}"),
        authentication_service_url: (auth_policy == AuthPolicy::Federated)
            .then(|| format!("{root}{AUTHENTICATION_PATH}")),
    };
    soap(
        StatusCode::OK,
        enrollment::discover_response(relates_to, &response),
    )
}

/// The token in a BinarySecurityToken: the JWT itself, or (as Windows and pytune send it) its base64; and
/// the terms-of-use acceptance ztd's sign-in page put after it.
fn token_text(value: &str) -> (String, Option<String>) {
    let value = value.trim();
    let text = if value.contains('.') {
        value.to_string()
    } else {
        STANDARD
            .decode(value)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(|text| text.trim().to_string())
            .unwrap_or_else(|| value.to_string())
    };
    match text.split_once(crate::auth::mdm_pages::TERMS_SEPARATOR) {
        Some((token, acceptance)) => (token.to_string(), Some(acceptance.to_string())),
        None => (text, None),
    }
}

/// Who the request's security header says is enrolling, or the fault that refuses it.
async fn enroller(
    state: &AppState,
    header: &SoapHeader,
    extensions: &axum::http::Extensions,
) -> Result<Enroller, Response> {
    let relates_to = header.message_id.as_deref();
    let source = crate::auth::source_address(extensions);
    match &header.credential {
        None => Err(fault(
            Code::MdmAuthentication,
            relates_to,
            "The request carries no credential (wsse:Security with a UsernameToken or a BinarySecurityToken).",
        )),
        Some(Credential::UsernameToken { username, password }) => {
            let signed_in = state
                .app
                .sign_in_with_password(
                    None,
                    username,
                    password,
                    &source,
                    SignInClient {
                        client_id: ENROLLMENT_CLIENT_ID,
                        owner: None,
                        refresh_token: false,
                    },
                )
                .await;
            match signed_in {
                Ok(Ok((user, _))) => {
                    crate::auth::act_as_user(&user, ENROLLMENT_CLIENT_ID, source);
                    Ok(Enroller::User {
                        user: Box::new(user),
                        token_device: None,
                        credential: UserCredential::Password,
                    })
                }
                Ok(Err(refusal)) => Err(fault(
                    Code::MdmAuthentication,
                    relates_to,
                    match refusal {
                        SignInRefusal::UnknownUser | SignInRefusal::WrongPassword => {
                            "The user name or password is wrong."
                        }
                        SignInRefusal::Disabled => "The account is disabled.",
                        SignInRefusal::LockedOut { .. } => {
                            "The account is locked after too many wrong passwords; try again later."
                        }
                        SignInRefusal::PasswordChangeRequired => {
                            "The password must be changed first (sign in once elsewhere)."
                        }
                        SignInRefusal::ClientNotInTenant => "The account cannot enroll here.",
                    },
                )),
                Err(err) => Err(internal_fault(relates_to, err)),
            }
        }
        Some(Credential::BinaryToken { value, .. }) => {
            let (token, acceptance) = token_text(value);
            let now = state.app.now().0.div_euclid(1000);
            let audiences = [
                Resource::Enrollment.audience(),
                "https://enrollment.manage.microsoft.com",
                "d4ebce55-015a-49b5-a083-c84d1797ae8c",
            ];
            let claims = state
                .tokens
                .verify(&state.app, &token, &audiences, now)
                .await
                .map_err(|err| fault(Code::MdmAuthentication, relates_to, err.message))?;
            let tenant = TenantId::parse(&claims.tid).ok_or_else(|| {
                fault(
                    Code::MdmAuthentication,
                    relates_to,
                    "The token names no tenant.",
                )
            })?;
            crate::auth::act_as(&claims, tenant, source);
            match claims.idtyp.as_str() {
                "device" => {
                    let object = DirectoryObjectId::parse(&claims.oid).ok_or_else(|| {
                        fault(
                            Code::MdmAuthentication,
                            relates_to,
                            "The device token names no device.",
                        )
                    })?;
                    Ok(Enroller::Device { tenant, object })
                }
                "user" => {
                    let user = state
                        .app
                        .user(tenant, &claims.oid)
                        .await
                        .map_err(|_| {
                            fault(
                                Code::MdmAuthentication,
                                relates_to,
                                "The token's user no longer exists.",
                            )
                        })?;
                    if !user.account_enabled {
                        return Err(fault(
                            Code::MdmAuthentication,
                            relates_to,
                            "The account is disabled.",
                        ));
                    }
                    Ok(Enroller::User {
                        user: Box::new(user),
                        credential: UserCredential::Token { acceptance },
                        token_device: claims
                            .deviceid
                            .as_deref()
                            .and_then(DirectoryDeviceId::parse),
                    })
                }
                _ => Err(fault(
                    Code::MdmAuthorization,
                    relates_to,
                    "An application's token cannot enroll a device: sign in as a user or use the device's token.",
                )),
            }
        }
    }
}

/// `POST /EnrollmentServer/Policy.svc` ([MS-XCEP] GetPolicies): the certificate the device must request.
async fn policies(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let request = match enrollment::parse_request(&body) {
        Ok(request) => request,
        Err(e) => return unreadable(&e),
    };
    let relates_to = request.header.message_id.as_deref();
    if !matches!(request.message, EnrollmentMessage::GetPolicies(_)) {
        return fault(
            Code::MdmMessageFormat,
            relates_to,
            "The policy service answers GetPolicies only.",
        );
    }
    if let Err(response) = enroller(&state, &request.header, &extensions).await {
        return response;
    }
    let policy = CertificatePolicy {
        policy_id: "ztd-mdm-client".into(),
        friendly_name: "ztd MDM client certificate".into(),
        validity_seconds: POLICY_VALIDITY_SECS,
        renewal_seconds: POLICY_VALIDITY_SECS / 2,
        minimal_key_length: 2048,
        next_update_hours: 8,
    };
    soap(
        StatusCode::OK,
        enrollment::get_policies_response(relates_to, &policy),
    )
}

/// `POST /EnrollmentServer/Enrollment.svc` ([MS-WSTEP] RequestSecurityToken): issues the management
/// certificate and answers the provisioning document.
async fn enroll(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let request = match enrollment::parse_request(&body) {
        Ok(request) => request,
        Err(e) => return unreadable(&e),
    };
    let relates_to = request.header.message_id.as_deref();
    let EnrollmentMessage::RequestSecurityToken(rst) = &request.message else {
        return fault(
            Code::MdmMessageFormat,
            relates_to,
            "The enrollment service answers RequestSecurityToken only.",
        );
    };
    if rst.is_renewal() {
        return fault_with_type(
            Code::MdmMessageFormat,
            relates_to,
            "ztd does not renew management certificates; enroll again.",
            Some(enrollment::ERROR_TYPE_NOT_ELIGIBLE_TO_RENEW),
        );
    }
    let enroller = match enroller(&state, &request.header, &extensions).await {
        Ok(enroller) => enroller,
        Err(response) => return response,
    };
    let input = EnrollmentInput {
        certificate_request: rst.certificate_request.clone(),
        context: rst
            .context
            .iter()
            .map(|item| (item.name.clone(), item.value.clone()))
            .collect(),
    };
    let enrolled = match state.app.enroll_managed_device(&enroller, &input).await {
        Ok(Ok(enrolled)) => enrolled,
        Ok(Err(EnrollRefusal::CertificateRequest(why))) => {
            return fault(Code::MdmCertificateRequest, relates_to, why)
        }
        Ok(Err(EnrollRefusal::Authorization(why))) => {
            return fault(Code::MdmAuthorization, relates_to, why)
        }
        Ok(Err(EnrollRefusal::Invalid(why))) => {
            return fault(Code::MdmMessageFormat, relates_to, why)
        }
        Err(err) => return internal_fault(relates_to, err),
    };
    let root = crate::auth_discovery::root(&uri, &headers);
    let device = &enrolled.device;
    let random = |n: usize| -> Vec<u8> { state.app.random_secret()[..n].to_vec() };
    let document = ProvisioningDocument {
        root_certificate: enrolled.ca_certificate.clone(),
        // The issuing CA again in the intermediate store: Windows ignores the duplicate, and clients that
        // read the client certificate as the third one (pytune) find it.
        issuing_certificate: Some(enrolled.ca_certificate.clone()),
        client_certificate: enrolled.certificate.clone(),
        client_scope: match device.enrollment_type {
            EnrollmentType::Device => CertificateScope::System,
            EnrollmentType::Full => CertificateScope::User,
        },
        provider_id: PROVIDER_ID.into(),
        server_name: "ztd".into(),
        management_url: format!("{root}{MANAGEMENT_PATH}"),
        client_certificate_subject: format!("CN={}", device.id),
        upn: Some(device.user_principal_name.clone()).filter(|u| !u.is_empty()),
        device_name: Some(device.device_name.clone()),
        poll: PollSchedule {
            first_retries: 5,
            first_interval_minutes: 3,
            second_retries: 8,
            second_interval_minutes: 15,
            // 0: forever.
            remaining_retries: 0,
            remaining_interval_minutes: 15,
            poll_on_login: true,
        },
        renewal: None,
        // Windows requires both application credentials; ztd authenticates sessions by the certificate.
        client_secret: STANDARD.encode(random(24)),
        client_nonce: random(16),
        server_auth_name: device.id.to_string(),
        server_secret: STANDARD.encode(random(24)),
    };
    let now = time::OffsetDateTime::from_unix_timestamp(state.app.now().0.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    soap(
        StatusCode::OK,
        enrollment::security_token_response(
            relates_to,
            &enrollment::provisioning_document(&document),
            now,
            now + time::Duration::minutes(5),
        ),
    )
}

/// A SyncML answer that refuses the whole message with `code` on its SyncHdr.
fn refuse_session(message: &SyncMessage, catalogue: Code) -> Response {
    let http = StatusCode::from_u16(catalogue.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let code = catalogue.status();
    let reply = SyncMessage {
        header: syncml::reply_header(&message.header),
        commands: vec![syncml::Command::Status(syncml::header_status(
            &message.header,
            1,
            code,
        ))],
        final_: true,
    };
    (
        http,
        [(header::CONTENT_TYPE, syncml::CONTENT_TYPE)],
        syncml::to_xml(&reply),
    )
        .into_response()
}

/// `POST /ManagementServer/MDM.svc`: one message of a device's OMA-DM session, authenticated by the
/// management certificate the device presents in the TLS handshake.
async fn management(
    State(state): State<AppState>,
    peer: Option<Extension<PeerCertificate>>,
    body: Bytes,
) -> Response {
    let message = match syncml::parse(&body) {
        Ok(message) => message,
        Err(e) => {
            // Without a readable header there is no SyncML to answer with: plain text.
            let status = StatusCode::from_u16(Code::SyncMlBadMessage.status())
                .unwrap_or(StatusCode::BAD_REQUEST);
            return (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("The SyncML message cannot be read: {e}."),
            )
                .into_response();
        }
    };
    let Some(Extension(PeerCertificate(certificate))) = peer else {
        return refuse_session(&message, Code::SyncMlUnauthorized);
    };
    match state.app.management_session(&certificate, &message).await {
        Ok(Ok(reply)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, syncml::CONTENT_TYPE)],
            syncml::to_xml(&reply),
        )
            .into_response(),
        Ok(Err(SessionRefusal::UnknownCertificate | SessionRefusal::DeviceDeleted)) => {
            refuse_session(&message, Code::SyncMlUnauthorized)
        }
        Err(err) => {
            // ztd's own failure (its database): the device retries at its next poll.
            tracing::error!(error = %err, "a management session failed");
            refuse_session(&message, Code::SyncMlUnavailable)
        }
    }
}
