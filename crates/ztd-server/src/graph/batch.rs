//! JSON batching (`POST /$batch`): up to [`MAX_BATCH_REQUESTS`] Graph requests in one body, answered in one
//! body. Each request is served exactly as if it had been sent alone, through the same router and with the
//! batch's `Authorization`: it is normalised, throttled, authorised, audited and given its own `request-id`.
//! Errors belong to the request that made them; the batch itself fails only when its body cannot be read.
//!
//! Requests run one after another in the order given (Graph lets a server run independent requests in any
//! order; running them in order also honours every `dependsOn`, which may name only earlier requests). A
//! request that depends on one that did not succeed is not run and answers 424 `FailedDependency`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tower::ServiceExt;
use ztd_core::error::Code;

use super::throttle::{too_many_requests, Throttle};
use super::{json_response, Version};
use crate::auth::Caller;
use crate::error::ApiError;

pub use ztd_odata::batch::MAX_BATCH_REQUESTS;
use ztd_odata::batch::{parse_batch, BatchRequest, MAX_URL_LEN};

/// The largest batch body: room for an import of the most devices one import takes, plus a margin.
pub const MAX_BATCH_BODY: usize = super::MAX_IMPORT_BODY + 64 * 1024;
/// The largest answer of one request that a batch carries; a larger one is refused in its place (send
/// that request alone). Only reads answer that much: ztd's largest write answer (an import of 500
/// devices) is well under it.
const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;
/// The most answer bytes one batch carries in all, so a batch holds a bounded amount of memory.
const MAX_BATCH_ANSWER: usize = 24 * 1024 * 1024;
/// What a URL cannot carry as is; `%` stays, so an encoded URL is not encoded twice.
const URL_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'#');

/// The router a batch's requests are served by: the Graph routes of both versions behind the request
/// identity middleware, without `$batch` itself (a batch in a batch is not a route).
#[derive(Clone)]
pub struct Dispatch(pub Router);

#[derive(Serialize)]
struct BatchAnswer {
    responses: Vec<BatchResponse>,
}

#[derive(Serialize)]
struct BatchResponse {
    id: String,
    status: u16,
    #[serde(skip_serializing_if = "Map::is_empty")]
    headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Box<RawValue>>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, message)
}

/// `POST /$batch`: 200 with one response per request, in the order of the requests; 400 for a body that is
/// not a batch; 401 without a valid token; 429 when the caller is over its budget (the batch itself spends
/// one request of it, so a throttled caller's body is not even read).
pub async fn batch(
    caller: Caller,
    Extension(version): Extension<Version>,
    Extension(Dispatch(router)): Extension<Dispatch>,
    Extension(throttle): Extension<Arc<Throttle>>,
    request: Request,
) -> Response {
    if let Err(wait) = throttle.admit(&caller) {
        return too_many_requests(wait);
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BATCH_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                Code::BodyTooLarge,
                format!(
                    "The batch body could not be read whole; a batch body takes at most {MAX_BATCH_BODY} bytes."
                ),
            )
            .into_response()
        }
    };
    let requests = match parse_batch(&bytes) {
        Ok(requests) => requests,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let mut failed: HashSet<String> = HashSet::new();
    let mut responses = Vec::with_capacity(requests.len());
    let mut room = MAX_BATCH_ANSWER;
    for request in requests {
        let response = if let Some(dependency) = request
            .depends_on
            .iter()
            .find(|d| failed.contains(d.as_str()))
        {
            ApiError::new(
                Code::FailedDependency,
                format!(
                    "Request '{}' was not run: request '{}', on which it depends, did not succeed.",
                    ztd_formats::excerpt(&request.id),
                    ztd_formats::excerpt(dependency)
                ),
            )
            .into_response()
        } else {
            let authority = parts.uri.authority().map(|a| a.as_str());
            match build(
                &parts.headers,
                authority,
                &parts.extensions,
                version,
                &request,
            ) {
                Ok(sub) => match router.clone().oneshot(sub).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                Err(error) => error.into_response(),
            }
        };
        if !response.status().is_success() {
            failed.insert(request.id.clone());
        }
        let (rendered, used) = render(request.id, response, room.min(MAX_RESPONSE_BODY)).await;
        room = room.saturating_sub(used);
        responses.push(rendered);
    }
    // Serialised from the typed answer: each body is written as the bytes it came as, never parsed again.
    json_response(StatusCode::OK, &BatchAnswer { responses })
}

/// The request as it would have been sent alone: the batch's `Authorization` (and the host and scheme its
/// links are built from), the request's own headers, and its body as JSON (or, for another content type,
/// the bytes its base64 string holds).
fn build(
    outer: &HeaderMap,
    authority: Option<&str>,
    extensions: &axum::http::Extensions,
    version: Version,
    request: &BatchRequest,
) -> Result<Request, ApiError> {
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PATCH" => Method::PATCH,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        _ => {
            return Err(invalid(format!(
            "The method '{}' is not one a batch request can use (GET, POST, PATCH, PUT, DELETE).",
            ztd_formats::excerpt(&request.method)
        )))
        }
    };
    let url = request.url.trim();
    let path = url.split('?').next().unwrap_or_default();
    if url.len() > MAX_URL_LEN || path.contains("://") || url.is_empty() {
        return Err(invalid(
            "A batch request's url must be relative to the version, such as '/users?$top=5'.",
        ));
    }
    let relative = url.trim_start_matches('/');
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if first.eq_ignore_ascii_case("$batch") || first.eq_ignore_ascii_case("%24batch") {
        return Err(invalid("A batch cannot contain another batch."));
    }
    // Graph's own examples write batch URLs unencoded (`$filter=importance eq 'high'`).
    let relative = utf8_percent_encode(relative, URL_UNSAFE);
    let uri = format!("/{}/{relative}", version.segment());
    let mut headers = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::HOST] {
        if let Some(value) = outer.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    // HTTP/2 carries the host in the request's authority, not in a Host header.
    if !headers.contains_key(header::HOST) {
        if let Some(value) = authority.and_then(|a| HeaderValue::from_str(a).ok()) {
            headers.insert(header::HOST, value);
        }
    }
    if let Some(value) = outer.get("x-forwarded-proto") {
        headers.insert(HeaderName::from_static("x-forwarded-proto"), value.clone());
    }
    for (name, value) in &request.headers {
        let value = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            return Err(invalid(format!(
                "The header '{}' of request '{}' is not a valid HTTP header.",
                ztd_formats::excerpt(name),
                ztd_formats::excerpt(&request.id)
            )));
        };
        // The batch's caller, host and scheme are the batch's own: a request cannot choose others.
        if name == header::AUTHORIZATION
            || name == header::HOST
            || name.as_str().starts_with("x-forwarded-")
        {
            continue;
        }
        headers.insert(name, value);
    }
    let body = match &request.body {
        None | Some(Value::Null) => Body::empty(),
        Some(value) => {
            let json = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.to_ascii_lowercase().contains("json"));
            if json {
                headers
                    .entry(header::CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static("application/json"));
                Body::from(serde_json::to_vec(value).unwrap_or_default())
            } else {
                let Value::String(encoded) = value else {
                    return Err(invalid(format!(
                        "The body of request '{}' is not JSON, so it must be a base64 string.",
                        ztd_formats::excerpt(&request.id)
                    )));
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| {
                        invalid(format!(
                            "The body of request '{}' is not valid base64.",
                            ztd_formats::excerpt(&request.id)
                        ))
                    })?;
                Body::from(bytes)
            }
        }
    };
    let mut sub = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|_| invalid("A batch request's url is not a valid URL path."))?;
    *sub.headers_mut() = headers;
    if let Some(info) = extensions.get::<ConnectInfo<std::net::SocketAddr>>() {
        sub.extensions_mut().insert(*info);
    }
    Ok(sub)
}

/// One response as a batch carries it: status, headers, and the body as JSON (other content as base64);
/// with the bytes it takes of the batch's answer (at most `limit`).
async fn render(id: String, response: Response, limit: usize) -> (BatchResponse, usize) {
    let (parts, body) = response.into_parts();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let Ok(text) = value.to_str() {
            headers.insert(header_name(name), Value::String(text.to_string()));
        }
    }
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let refused = ApiError::new(
                Code::BodyTooLarge,
                format!(
                    "The answer to request '{}' is larger than this batch can still carry ({limit} bytes); send it alone.",
                    ztd_formats::excerpt(&id)
                ),
            )
            .into_response();
            return Box::pin(render(id, refused, usize::MAX)).await;
        }
    };
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let used = bytes.len();
    let response = BatchResponse {
        id,
        status: parts.status.as_u16(),
        headers,
        body: body_value(&bytes, json),
    };
    (response, used)
}

fn body_value(bytes: &Bytes, json: bool) -> Option<Box<RawValue>> {
    if bytes.is_empty() {
        return None;
    }
    if json {
        if let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(bytes) {
            return Some(raw);
        }
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    RawValue::from_string(Value::String(encoded).to_string()).ok()
}

/// Headers as Graph writes them in a batch (`Content-Type`, `Retry-After`).
fn header_name(name: &HeaderName) -> String {
    let mut out = String::with_capacity(name.as_str().len());
    let mut upper = true;
    for c in name.as_str().chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_written_as_graph_writes_them() {
        assert_eq!(
            header_name(&HeaderName::from_static("retry-after")),
            "Retry-After"
        );
        assert_eq!(
            header_name(&HeaderName::from_static("content-type")),
            "Content-Type"
        );
    }

    #[test]
    fn json_bodies_are_kept_and_others_encoded() {
        let json = body_value(&Bytes::from_static(b"{\"a\":1}"), true).unwrap();
        assert_eq!(json.get(), "{\"a\":1}");
        let text = body_value(&Bytes::from_static(b"42"), false).unwrap();
        assert_eq!(text.get(), "\"NDI=\"");
        assert!(body_value(&Bytes::new(), true).is_none());
    }
}
