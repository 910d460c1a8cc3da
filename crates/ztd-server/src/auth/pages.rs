//! The pages a person signs in on, server-rendered: `/{tenant}/oauth2[/v2.0]/authorize` (the authorization
//! code flow: sign in, then back to the application with a code) and `/devicelogin` (enter the code a device
//! shows, sign in, approve or decline), and the device authorization endpoint `/{tenant}/oauth2[/v2.0]/devicecode`.
//!
//! The pages keep no session: each form carries what it needs, so there is no cookie to steal or forge. Every
//! value a page shows is HTML-escaped; the pages forbid framing.

use std::net::SocketAddr;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;
use ztd_app::grants::{PageRefusal, RequestRefusal, SignInRequest};
use ztd_core::error::Code;
use ztd_core::sign_in::GrantKind;

use super::token::{oauth_error, path_tenant, sign_in_refusal_text};
use crate::error::ApiError;
use crate::AppState;

/// The parameters of an authorization request (query on GET, form on POST), plus the page's own fields.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    response_mode: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    prompt: Option<String>,
    /// The page's fields, as Entra's own sign-in form names them.
    login: Option<String>,
    passwd: Option<String>,
}

/// What the device authorization endpoint reads.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceCodeParams {
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// The device login page's form.
#[derive(Debug, Default, Deserialize)]
pub struct DeviceLoginForm {
    otc: Option<String>,
    login: Option<String>,
    passwd: Option<String>,
    /// `approve` (the default) or `decline`.
    action: Option<String>,
}

/// The longest `state` echoed back to the application.
const MAX_STATE_CHARS: usize = 2048;

/// HTML text and attribute escaping (the five characters that matter in both).
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn page(
    status: StatusCode,
    title: &str,
    body: &str,
    allow_inline_script: bool,
) -> Response {
    let script = if allow_inline_script {
        "'unsafe-inline'"
    } else {
        "'none'"
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <style>body{{font-family:sans-serif;max-width:26em;margin:3em auto}}label,input,button{{display:block;margin:.4em 0}}\
         .error{{color:#a00}}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::X_FRAME_OPTIONS, "DENY".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                format!("default-src 'none'; style-src 'unsafe-inline'; script-src {script}; frame-ancestors 'none'"),
            ),
        ],
        html,
    )
        .into_response()
}

fn error_page(code: Code, message: &str) -> Response {
    let number = code.aadsts().unwrap_or_default();
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    page(
        status,
        "Sign-in cannot continue",
        &format!("<p class=\"error\">AADSTS{number}: {}</p>", escape(message)),
        false,
    )
}

fn hidden(name: &str, value: &Option<String>) -> String {
    value.as_ref().map_or_else(String::new, |v| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(v)
        )
    })
}

fn source_ip(addr: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<std::net::IpAddr> {
    addr.as_ref().map(|Extension(ConnectInfo(a))| a.ip())
}

fn set_retry_after(response: &mut Response, wait: std::time::Duration) {
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
}

fn source(addr: Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    addr.map_or_else(
        || "unknown".to_string(),
        |Extension(ConnectInfo(a))| a.ip().to_string(),
    )
}

fn request_refused(refusal: &RequestRefusal, client_id: &str) -> Response {
    let client = ztd_formats::excerpt_chars(client_id, 60);
    match refusal {
        RequestRefusal::UnknownClient => error_page(
            Code::UnknownClientInTenant,
            &format!("Application with identifier '{client}' was not found in the directory."),
        ),
        RequestRefusal::RedirectUriMismatch => error_page(
            Code::RedirectUriMismatch,
            &format!("The redirect URI specified in the request does not match the redirect URIs configured for the application '{client}'."),
        ),
        RequestRefusal::PkceRequired => error_page(
            Code::PkceMismatch,
            "Proof Key for Code Exchange is required for public clients: send code_challenge and code_challenge_method=S256.",
        ),
        RequestRefusal::Malformed(why) => error_page(Code::MissingParameter, why),
    }
}

fn authorize_request(
    tenant: Option<ztd_core::TenantId>,
    v2: bool,
    p: &AuthorizeParams,
) -> SignInRequest {
    SignInRequest {
        requested_tenant: tenant,
        client_id: p.client_id.clone().unwrap_or_default(),
        scope: p.scope.clone(),
        resource: p.resource.clone(),
        v2,
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
        code_challenge_method: p.code_challenge_method.clone(),
        nonce: p.nonce.clone(),
    }
}

/// What is wrong with an authorize request before any page, if anything: a client id, `response_type=code`, a bounded
/// state, and `prompt` other than `none` (ztd keeps no session to sign in silently with).
fn authorize_params_problem(p: &AuthorizeParams) -> Option<Response> {
    if p.client_id.as_deref().is_none_or(str::is_empty) {
        return Some(error_page(
            Code::MissingParameter,
            "The request must contain client_id.",
        ));
    }
    if p.response_type.as_deref() != Some("code") {
        return Some(error_page(
            Code::MissingParameter,
            "response_type must be 'code': ztd serves the authorization code flow (with PKCE).",
        ));
    }
    if p.state
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_STATE_CHARS)
    {
        return Some(error_page(Code::MissingParameter, "state is too long."));
    }
    None
}

fn sign_in_form(tenant: &str, v2: bool, p: &AuthorizeParams, error: Option<&str>) -> Response {
    let action = if v2 {
        format!("/{}/oauth2/v2.0/authorize", escape(tenant))
    } else {
        format!("/{}/oauth2/authorize", escape(tenant))
    };
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let fields = [
        hidden("client_id", &p.client_id),
        hidden("response_type", &p.response_type),
        hidden("redirect_uri", &p.redirect_uri),
        hidden("scope", &p.scope),
        hidden("resource", &p.resource),
        hidden("state", &p.state),
        hidden("nonce", &p.nonce),
        hidden("response_mode", &p.response_mode),
        hidden("code_challenge", &p.code_challenge),
        hidden("code_challenge_method", &p.code_challenge_method),
    ]
    .concat();
    let login = p
        .login
        .as_ref()
        .or(p.login_hint.as_ref())
        .map(|l| escape(l))
        .unwrap_or_default();
    let body = format!(
        "<p>Application <code>{client}</code> asks you to sign in.</p>{error}\
         <form method=\"post\" action=\"{action}\">{fields}\
         <label for=\"login\">Email, phone, or Skype</label><input id=\"login\" name=\"login\" type=\"email\" value=\"{login}\" required autofocus>\
         <label for=\"passwd\">Password</label><input id=\"passwd\" name=\"passwd\" type=\"password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        client = escape(p.client_id.as_deref().unwrap_or_default()),
    );
    page(StatusCode::OK, "Sign in", &body, false)
}

/// Sends the browser back to the application with `params`: a redirect (`query`, the default) or an
/// auto-submitted form (`form_post`).
pub(super) fn back_to_app(
    redirect_uri: &str,
    response_mode: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    if response_mode == Some("form_post") {
        let fields: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(k),
                    escape(v)
                )
            })
            .collect();
        let body = format!(
            "<form method=\"post\" action=\"{}\" id=\"back\">{fields}<noscript><button type=\"submit\">Continue</button></noscript></form>\
             <script>document.getElementById('back').submit()</script>",
            escape(redirect_uri)
        );
        return page(StatusCode::OK, "Signing in", &body, true);
    }
    let query: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                k,
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    (
        StatusCode::FOUND,
        [
            (
                header::LOCATION,
                format!("{redirect_uri}{separator}{query}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

async fn authorize(
    state: &AppState,
    tenant: &str,
    v2: bool,
    params: AuthorizeParams,
    submitted: bool,
    source: String,
    prt_credential: Option<String>,
) -> Response {
    if let Some(problem) = authorize_params_problem(&params) {
        return problem;
    }
    let named = match path_tenant(&state.app, tenant).await {
        Ok(named) => named,
        Err(_) => {
            return error_page(
                Code::UnknownTenant,
                &format!(
                    "Tenant '{}' not found.",
                    ztd_formats::excerpt_chars(tenant, 120)
                ),
            )
        }
    };
    let request = authorize_request(named, v2, &params);
    let client_id = request.client_id.clone();
    match state
        .app
        .check_sign_in_request(GrantKind::AuthorizationCode, &request)
        .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => return request_refused(&refusal, &client_id),
        Err(err) => return ApiError::from(err).into_response(),
    }
    let redirect_uri = request.redirect_uri.clone().unwrap_or_default();
    let response_mode = params.response_mode.clone();
    let echo_state = |mut pairs: Vec<(&'static str, String)>| {
        if let Some(s) = &params.state {
            pairs.push(("state", s.clone()));
        }
        pairs
    };
    // Single sign-on with a device's PRT: the signed cookie stands for the user's sign-in.
    let mut sso_problem = None;
    if let Some(credential) = prt_credential {
        match super::device_grants::prt_credential_user(state, &credential).await {
            Ok((user, device)) => {
                match state.app.authorize_signed_in(&request, &user, device).await {
                    Ok(Ok(code)) => {
                        let pairs = echo_state(vec![("code", code)]);
                        let refs: Vec<(&str, &str)> =
                            pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        return back_to_app(&redirect_uri, response_mode.as_deref(), &refs);
                    }
                    Ok(Err(PageRefusal::Request(refusal))) => {
                        return request_refused(&refusal, &client_id)
                    }
                    Ok(Err(_)) => {
                        sso_problem = Some(
                            "AADSTS700016: The application or the tenant named is not the device user's tenant's."
                                .to_string(),
                        )
                    }
                    Err(err) => return ApiError::from(err).into_response(),
                }
            }
            Err(text) => {
                sso_problem = Some(format!(
                    "AADSTS50013: Single sign-on with the device failed: {text}"
                ))
            }
        }
    }
    if let Some(problem) = &sso_problem {
        tracing::info!(problem = %problem, "PRT single sign-on refused; falling back to the sign-in form");
        if params.prompt.as_deref() != Some("none") && !submitted {
            return sign_in_form(tenant, v2, &params, Some(problem));
        }
    }
    if params.prompt.as_deref() == Some("none") {
        // No session to sign in silently with: tell the application, as Entra does.
        let pairs = echo_state(vec![
            ("error", "login_required".into()),
            (
                "error_description",
                "AADSTS50058: A silent sign-in request was sent but no user is signed in.".into(),
            ),
        ]);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return back_to_app(&redirect_uri, response_mode.as_deref(), &refs);
    }
    let (Some(login), Some(passwd), true) =
        (params.login.clone(), params.passwd.clone(), submitted)
    else {
        return sign_in_form(tenant, v2, &params, None);
    };
    match state
        .app
        .authorize_with_password(&request, &login, &passwd, &source)
        .await
    {
        Ok(Ok(code)) => {
            let pairs = echo_state(vec![("code", code)]);
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            back_to_app(&redirect_uri, response_mode.as_deref(), &refs)
        }
        Ok(Err(PageRefusal::Request(refusal))) => request_refused(&refusal, &client_id),
        Ok(Err(PageRefusal::SignIn(refusal))) => {
            let (code, text) = sign_in_refusal_text(&refusal, &login);
            let message = format!("AADSTS{}: {text}", code.aadsts().unwrap_or_default());
            sign_in_form(tenant, v2, &params, Some(&message))
        }
        Ok(Err(_)) => sign_in_form(
            tenant,
            v2,
            &params,
            Some("AADSTS50034: The user account does not exist in this tenant."),
        ),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// The `x-ms-RefreshTokenCredential` a browser or broker sends: a cookie of that name or a header.
fn prt_credential(headers: &HeaderMap) -> Option<String> {
    const NAME: &str = "x-ms-RefreshTokenCredential";
    if let Some(value) = headers.get(NAME).and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_string()).filter(|v| !v.is_empty());
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case(NAME))
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `GET /{tenant}/oauth2/v2.0/authorize` (`V2`) and `/{tenant}/oauth2/authorize` (v1: `resource=`).
pub async fn authorize_get<const V2: bool>(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    params: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page(
            Code::MissingParameter,
            "The query string could not be read.",
        );
    };
    let credential = prt_credential(&headers);
    authorize(&state, &tenant, V2, params, false, source(addr), credential).await
}

/// `POST` of the same paths: the sign-in form.
pub async fn authorize_post<const V2: bool>(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<AuthorizeParams>, FormRejection>,
) -> Response {
    let credential = prt_credential(&headers);
    match form {
        Ok(Form(params)) => {
            authorize(&state, &tenant, V2, params, true, source(addr), credential).await
        }
        Err(_) => error_page(
            Code::MalformedTokenRequest,
            "The sign-in form could not be read.",
        ),
    }
}

async fn device_code(
    state: &AppState,
    tenant: &str,
    v2: bool,
    uri: &Uri,
    headers: &HeaderMap,
    form: Result<Form<DeviceCodeParams>, FormRejection>,
) -> Response {
    let Ok(Form(params)) = form else {
        return oauth_error(
            Code::MalformedTokenRequest,
            "The request body must be application/x-www-form-urlencoded.",
        );
    };
    let named = match path_tenant(&state.app, tenant).await {
        Ok(named) => named,
        Err(response) => return response,
    };
    let Some(client_id) = params.client_id.filter(|c| !c.is_empty()) else {
        return oauth_error(
            Code::MissingParameter,
            "The request body must contain client_id.",
        );
    };
    let request = SignInRequest {
        requested_tenant: named,
        client_id: client_id.clone(),
        scope: params.scope,
        resource: params.resource,
        v2,
        ..SignInRequest::default()
    };
    match state.app.begin_device_sign_in(&request).await {
        Ok(Ok(started)) => {
            let verification = format!("{}/devicelogin", crate::auth_discovery::root(uri, headers));
            let message = format!(
                "To sign in, use a web browser to open the page {verification} and enter the code {} to authenticate.",
                started.user_code
            );
            let mut body = serde_json::json!({
                "user_code": started.user_code,
                "device_code": started.device_code,
                "verification_uri": verification,
                "expires_in": started.expires_in_secs,
                "interval": started.interval_secs,
                "message": message,
            });
            if !v2 {
                // The v1 endpoint names it `verification_url`, with string numbers.
                body["verification_url"] = body["verification_uri"].clone();
                body["expires_in"] = started.expires_in_secs.to_string().into();
                body["interval"] = started.interval_secs.to_string().into();
            }
            (StatusCode::OK, Json(body)).into_response()
        }
        Ok(Err(RequestRefusal::UnknownClient)) => oauth_error(
            Code::UnknownClientInTenant,
            &format!(
                "Application with identifier '{}' was not found in the directory.",
                ztd_formats::excerpt_chars(&client_id, 60)
            ),
        ),
        Ok(Err(RequestRefusal::Malformed(why))) => oauth_error(Code::MissingParameter, &why),
        Ok(Err(refusal)) => oauth_error(
            Code::MissingParameter,
            &format!("the request cannot be served: {refusal:?}"),
        ),
        Err(err) => ApiError::from(err).into_response(),
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (`V2`) and `/{tenant}/oauth2/devicecode` (v1: `resource=`).
pub async fn device_code_handler<const V2: bool>(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<DeviceCodeParams>, FormRejection>,
) -> Response {
    if let Err(wait) = state.tokens.code_entries.check(source_ip(&addr)) {
        let mut response = oauth_error(
            Code::SignInThrottled,
            "Too many device code requests from this address: wait, then try again.",
        );
        set_retry_after(&mut response, wait);
        return response;
    }
    device_code(&state, &tenant, V2, &uri, &headers, form).await
}

fn device_login_form(code: Option<&str>, error: Option<&str>) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let body = format!(
        "<p>Enter the code shown on your device, then sign in to let it use your account.</p>{error}\
         <form method=\"post\" action=\"/devicelogin\">\
         <label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" value=\"{}\" required autocomplete=\"off\">\
         <label for=\"login\">Email, phone, or Skype</label><input id=\"login\" name=\"login\" type=\"email\">\
         <label for=\"passwd\">Password</label><input id=\"passwd\" name=\"passwd\" type=\"password\">\
         <button type=\"submit\" name=\"action\" value=\"approve\">Sign in and allow</button>\
         <button type=\"submit\" name=\"action\" value=\"decline\" formnovalidate>Decline</button></form>",
        escape(code.unwrap_or_default())
    );
    page(StatusCode::OK, "Enter code", &body, false)
}

/// `GET /devicelogin`.
pub async fn device_login_get() -> Response {
    device_login_form(None, None)
}

/// `POST /devicelogin`: approve (sign in) or decline a device's sign-in.
pub async fn device_login_post(
    State(state): State<AppState>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    form: Result<Form<DeviceLoginForm>, FormRejection>,
) -> Response {
    if let Err(wait) = state.tokens.code_entries.check(source_ip(&addr)) {
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "<p>Too many codes were entered from your address. Wait a minute, then try again.</p>",
            false,
        );
        set_retry_after(&mut response, wait);
        return response;
    }
    let Ok(Form(form)) = form else {
        return device_login_form(None, Some("The form could not be read."));
    };
    let code = form.otc.unwrap_or_default();
    let code_shown = ztd_formats::excerpt_chars(&code, 32);
    if form.action.as_deref() == Some("decline") {
        return match state.app.decline_device_sign_in(&code).await {
            Ok(Ok(())) => page(StatusCode::OK, "Declined", "<p>You declined. The device will not be signed in; you can close this window.</p>", false),
            Ok(Err(_)) => device_login_form(Some(&code_shown), Some("That code is not valid or has expired. Check the code on your device and try again.")),
            Err(err) => ApiError::from(err).into_response(),
        };
    }
    let (Some(login), Some(passwd)) = (form.login, form.passwd) else {
        return device_login_form(Some(&code_shown), Some("Enter your account and password."));
    };
    match state.app.approve_device_sign_in(&code, &login, &passwd, &source(addr)).await {
        Ok(Ok(user)) => page(
            StatusCode::OK,
            "You're signed in",
            &format!(
                "<p>Signed in as {} on your device. You can close this window.</p>",
                escape(&user.user_principal_name)
            ),
            false,
        ),
        Ok(Err(PageRefusal::UnknownCode | PageRefusal::Expired)) => device_login_form(
            Some(&code_shown),
            Some("That code is not valid or has expired. Check the code on your device and try again."),
        ),
        Ok(Err(PageRefusal::SignIn(refusal))) => {
            let (code_entry, text) = sign_in_refusal_text(&refusal, &login);
            let message = format!("AADSTS{}: {text}", code_entry.aadsts().unwrap_or_default());
            device_login_form(Some(&code_shown), Some(&message))
        }
        Ok(Err(PageRefusal::WrongTenant)) => device_login_form(
            Some(&code_shown),
            Some("AADSTS50034: The account is not in the tenant the device asked for."),
        ),
        Ok(Err(PageRefusal::Request(refusal))) => request_refused(&refusal, ""),
        Err(err) => ApiError::from(err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_breaks_html() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
