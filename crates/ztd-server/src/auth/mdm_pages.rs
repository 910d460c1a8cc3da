//! The two web pages of MDM enrollment: the Federated sign-in page Windows opens in its web authentication
//! broker (`AuthenticationServiceUrl`: it ends by posting `wresult` to the `appru` Windows gave), and the
//! terms-of-use page an enrolling user accepts (Entra's shape: `redirect_uri?IsAccepted=…&OpaqueBlob=…`).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use ztd_core::TenantId;

use super::pages::{escape, page};
use super::token::user_claims;
use super::Resource;
use crate::AppState;

/// Intune's application: the client the enrollment token of the sign-in page is issued to.
const ENROLLMENT_CLIENT_ID: &str = "0000000a-0000-0000-c000-000000000000";
/// Between the token and the terms-of-use acceptance in the sign-in page's `wresult` (neither contains it).
pub const TERMS_SEPARATOR: char = '~';
/// The longest `appru`, `redirect_uri` or `login_hint` echoed into a page.
const MAX_PARAM_CHARS: usize = 2048;

#[derive(Debug, Deserialize)]
pub struct SignInParams {
    appru: Option<String>,
    login_hint: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    appru: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// "I accept" the organization's terms of use (shown when it has terms).
    accept_terms: Option<String>,
}

fn bounded(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.chars().count() <= MAX_PARAM_CHARS)
}

/// Windows' broker hands its own app URI (`ms-app://…`); nothing else may receive a token from this page.
fn app_return(appru: &Option<String>) -> Option<&str> {
    bounded(appru).filter(|a| a.to_ascii_lowercase().starts_with("ms-app://"))
}

fn refused(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Enrollment cannot continue",
        &format!("<p class=\"error\">{}</p>", escape(message)),
        false,
    )
}

fn sign_in_form(
    appru: &str,
    login_hint: &str,
    terms: Option<&str>,
    error: Option<&str>,
) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let terms = terms.map_or_else(String::new, |t| {
        format!(
            "<pre style=\"white-space:pre-wrap\">{}</pre>\
             <label><input type=\"checkbox\" name=\"accept_terms\" value=\"true\"> I accept the terms of use</label>",
            escape(t)
        )
    });
    page(
        StatusCode::OK,
        "Sign in to enroll this device",
        &format!(
            "{error}<form method=\"post\"><input type=\"hidden\" name=\"appru\" value=\"{}\">\
             <label>User name<input name=\"username\" value=\"{}\" autocomplete=\"username\"></label>\
             <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
             {terms}<button type=\"submit\">Sign in</button></form>",
            escape(appru),
            escape(login_hint)
        ),
        false,
    )
}

/// `GET /EnrollmentServer/AuthenticationService?appru=…&login_hint=…`: the Federated policy's sign-in page.
pub async fn sign_in_get(
    State(state): State<AppState>,
    Query(params): Query<SignInParams>,
) -> Response {
    let Some(appru) = app_return(&params.appru) else {
        return refused(
            "This page is opened by Windows during enrollment (appru must be an ms-app:// URI).",
        );
    };
    let login_hint = bounded(&params.login_hint).unwrap_or("");
    let terms = terms_for_domain(&state, login_hint).await;
    sign_in_form(appru, login_hint, terms.as_deref(), None)
}

/// The terms of use of the tenant a user name's domain names, if it has terms.
async fn terms_for_domain(state: &AppState, upn: &str) -> Option<String> {
    let domain = upn.rsplit_once('@')?.1.to_ascii_lowercase();
    let tenant = state.app.tenant_for_domain(&domain).await.ok()??;
    state.app.mdm_settings(tenant).await.ok()?.terms_of_use
}

/// `POST` of the sign-in form: a user who signs in gets an enrollment token, posted to Windows' `appru`
/// as `wresult` (Windows puts it, base64, in the enrollment's `DeviceEnrollmentUserToken`).
pub async fn sign_in_post(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(appru) = app_return(&form.appru) else {
        return refused(
            "This page is opened by Windows during enrollment (appru must be an ms-app:// URI).",
        );
    };
    let username = bounded(&form.username).unwrap_or("");
    let password = form.password.as_deref().unwrap_or("");
    if username.is_empty() || password.is_empty() || password.len() > 1024 {
        let terms = terms_for_domain(&state, username).await;
        return sign_in_form(
            appru,
            username,
            terms.as_deref(),
            Some("Enter your user name and password."),
        );
    }
    let source = super::source_address(&extensions);
    let signed_in = state
        .app
        .sign_in_with_password(
            None,
            username,
            password,
            &source,
            ztd_app::users::SignInClient {
                client_id: ENROLLMENT_CLIENT_ID,
                owner: None,
                refresh_token: false,
            },
        )
        .await;
    let user = match signed_in {
        Ok(Ok((user, _))) => user,
        Ok(Err(refusal)) => {
            let terms = terms_for_domain(&state, username).await;
            return sign_in_form(
                appru,
                username,
                terms.as_deref(),
                Some(&super::token::sign_in_refusal_text(&refusal, username).1),
            );
        }
        Err(err) => return crate::error::ApiError::from(err).into_response(),
    };
    let now = state.app.now().0.div_euclid(1000);
    let claims = user_claims(
        &user,
        Resource::Enrollment,
        ENROLLMENT_CLIENT_ID,
        "user_impersonation".into(),
        now,
    );
    let token = match state.tokens.sign(&state.app, user.tenant_id, &claims).await {
        Ok(token) => token,
        Err(err) => return err.into_response(),
    };
    // The organization's terms of use, when it has them, are accepted here: the acceptance travels with
    // the token in `wresult` (Windows hands it back whole as the enrollment's user token).
    let terms = match state.app.mdm_settings(user.tenant_id).await {
        Ok(settings) => settings.terms_of_use,
        Err(err) => return crate::error::ApiError::from(err).into_response(),
    };
    let wresult = match terms {
        None => token,
        Some(terms) if form.accept_terms.as_deref() != Some("true") => {
            return sign_in_form(
                appru,
                username,
                Some(&terms),
                Some("Accept the terms of use to enroll this device."),
            )
        }
        Some(_) => match state.app.terms_acceptance(user.tenant_id, user.id).await {
            Ok(acceptance) => format!("{token}{TERMS_SEPARATOR}{acceptance}"),
            Err(err) => return crate::error::ApiError::from(err).into_response(),
        },
    };
    page(
        StatusCode::OK,
        "Signing in",
        &format!(
            "<form method=\"post\" action=\"{}\" id=\"back\"><input type=\"hidden\" name=\"wresult\" value=\"{}\">\
             <noscript><button type=\"submit\">Continue</button></noscript></form>\
             <script>document.getElementById('back').submit()</script>",
            escape(appru),
            escape(&wresult)
        ),
        true,
    )
}

#[derive(Debug, Deserialize)]
pub struct TermsParams {
    redirect_uri: Option<String>,
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TermsForm {
    redirect_uri: Option<String>,
    tenant: Option<String>,
    user: Option<String>,
    ticket: Option<String>,
    accept: Option<String>,
}

/// Where the terms page may send its answer: Windows' own schemes, or a loopback address (a lab client);
/// never a web site (the acceptance is a credential of sorts).
fn terms_return(redirect_uri: &Option<String>) -> Option<&str> {
    let uri = bounded(redirect_uri)?;
    let parsed = url::Url::parse(uri).ok()?;
    match parsed.scheme() {
        "ms-appx-web" | "ms-app" | "ms-aadj-redir" => Some(uri),
        "http" | "https" => {
            let loopback = matches!(
                parsed.host(),
                Some(url::Host::Domain("localhost"))
                    | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                    | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
            );
            (loopback && parsed.username().is_empty() && parsed.password().is_none()).then_some(uri)
        }
        _ => None,
    }
}

/// Back to `redirect_uri` with `params` in its query: the sign-in pages' own redirect.
fn back(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    super::pages::back_to_app(redirect_uri, None, params)
}

/// `GET /EnrollmentServer/TermsOfUse?redirect_uri=…[&mode=azureadjoin]` with the user's enrollment token:
/// the tenant's terms, to accept (or decline, outside an Entra join).
pub async fn terms_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<TermsParams>,
) -> Response {
    let Some(redirect_uri) = terms_return(&params.redirect_uri) else {
        return refused(
            "redirect_uri must be the app's own URI (ms-appx-web://…) or a loopback address.",
        );
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return back(
            redirect_uri,
            &[
                ("error", "unauthorized_client"),
                (
                    "error_description",
                    "An enrollment token (Bearer) is required.",
                ),
            ],
        );
    };
    let now = state.app.now().0.div_euclid(1000);
    let claims = match state
        .tokens
        .verify(&state.app, token, &[Resource::Enrollment.audience()], now)
        .await
    {
        Ok(claims) if claims.idtyp == "user" => claims,
        _ => {
            return back(
                redirect_uri,
                &[
                    ("error", "unauthorized_client"),
                    (
                        "error_description",
                        "The token is not a user's enrollment token.",
                    ),
                ],
            )
        }
    };
    let (Some(tenant), Some(user)) = (
        TenantId::parse(&claims.tid),
        ztd_core::DirectoryObjectId::parse(&claims.oid),
    ) else {
        return back(
            redirect_uri,
            &[
                ("error", "invalid_request"),
                ("error_description", "The token names no user."),
            ],
        );
    };
    let (settings, ticket) = match (
        state.app.mdm_settings(tenant).await,
        state.app.terms_form_ticket(tenant, user).await,
    ) {
        (Ok(settings), Ok(ticket)) => (settings, ticket),
        _ => {
            return back(
                redirect_uri,
                &[
                    ("error", "server_error"),
                    ("error_description", "Try again later."),
                ],
            )
        }
    };
    let terms = settings
        .terms_of_use
        .unwrap_or_else(|| "This organization has set no terms of use.".to_string());
    let decline = if params.mode.as_deref() == Some("azureadjoin") {
        String::new()
    } else {
        "<button type=\"submit\" name=\"accept\" value=\"false\">Decline</button>".to_string()
    };
    page(
        StatusCode::OK,
        "Terms of use",
        &format!(
            "<pre style=\"white-space:pre-wrap\">{}</pre><form method=\"post\">\
             <input type=\"hidden\" name=\"redirect_uri\" value=\"{}\">\
             <input type=\"hidden\" name=\"tenant\" value=\"{tenant}\">\
             <input type=\"hidden\" name=\"user\" value=\"{user}\">\
             <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
             <button type=\"submit\" name=\"accept\" value=\"true\">Accept</button>{decline}</form>",
            escape(&terms),
            escape(redirect_uri),
            escape(&ticket)
        ),
        false,
    )
}

/// `POST` of the terms form: back to `redirect_uri` with `IsAccepted` and, when accepted, the `OpaqueBlob`
/// the device sends as `EnrollmentData`.
pub async fn terms_post(State(state): State<AppState>, Form(form): Form<TermsForm>) -> Response {
    let Some(redirect_uri) = terms_return(&form.redirect_uri) else {
        return refused(
            "redirect_uri must be the app's own URI (ms-appx-web://…) or a loopback address.",
        );
    };
    let ids = (
        form.tenant.as_deref().and_then(TenantId::parse),
        form.user
            .as_deref()
            .and_then(ztd_core::DirectoryObjectId::parse),
    );
    let (Some(tenant), Some(user)) = ids else {
        return back(
            redirect_uri,
            &[
                ("error", "invalid_request"),
                ("error_description", "The form is incomplete."),
            ],
        );
    };
    if form.accept.as_deref() != Some("true") {
        return back(redirect_uri, &[("IsAccepted", "false")]);
    }
    match state
        .app
        .accept_terms(tenant, user, form.ticket.as_deref().unwrap_or(""))
        .await
    {
        Ok(Some(blob)) => back(
            redirect_uri,
            &[("IsAccepted", "true"), ("OpaqueBlob", &blob)],
        ),
        Ok(None) => back(
            redirect_uri,
            &[
                ("error", "invalid_request"),
                (
                    "error_description",
                    "The terms page expired or is not this user's; open it again.",
                ),
            ],
        ),
        Err(_) => back(
            redirect_uri,
            &[
                ("error", "server_error"),
                ("error_description", "Try again later."),
            ],
        ),
    }
}
