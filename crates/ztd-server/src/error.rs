//! Errors in Graph's shape: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ztd_api::error::{GraphError, GraphErrorBody, InnerError};
use ztd_app::AppError;
use ztd_core::error::Code;
use ztd_core::DomainError;

/// An error answer: an entry of the catalogue ([`Code`]: status, wire code) and what went wrong this time.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Field-level details for invalid requests.
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Code::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceNotFound, message)
    }

    /// A directory object that is not there, in Entra's words.
    pub fn directory_object_not_found(id: &str) -> Self {
        Self::new(
            Code::DirectoryObjectNotFound,
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidAuthenticationToken, message)
    }

    /// A request body that could not be read or parsed, with the catalogue entry of the rejection's status
    /// (413 past the route's limit, 415 not JSON, 422 the wrong shape, otherwise 400).
    pub fn body_rejected(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => Code::BodyTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Code::UnprocessableBody,
            _ => Code::BadRequest,
        };
        Self::new(code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::AuthorizationRequestDenied, message)
    }
}

impl From<ztd_odata::OdataError> for ApiError {
    /// Every refused query, malformed or over a limit, is Graph's 400.
    fn from(error: ztd_odata::OdataError) -> Self {
        Self::bad_request(error.message)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        if let Some(message) = error.store_conflict() {
            return Self::new(Code::Conflict, message);
        }
        match error {
            AppError::Invalid(errors) => {
                let message = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                let details = errors
                    .iter()
                    .map(|e| match e {
                        DomainError::InvalidField { field, message } => {
                            serde_json::json!({ "code": e.code().wire(), "target": field, "message": message })
                        }
                        other => serde_json::json!({ "code": other.code().wire(), "message": other.to_string() }),
                    })
                    .collect();
                Self {
                    details,
                    ..Self::bad_request(message)
                }
            }
            AppError::Domain(DomainError::NotFound { kind, id }) if kind.is_directory_object() => {
                Self::directory_object_not_found(&id)
            }
            AppError::Domain(err @ DomainError::NotFound { .. }) => {
                Self::new(err.code(), err.to_string())
            }
            AppError::Domain(err @ DomainError::InvalidField { .. }) => {
                Self::bad_request(err.to_string())
            }
            AppError::Domain(err @ DomainError::Conflict { .. }) => {
                Self::new(err.code(), err.to_string())
            }
            err @ AppError::Store(_) if err.store_failure_is_transient() => {
                tracing::error!(error = %err, "storage failure");
                Self::new(
                    Code::ServiceUnavailable,
                    "the database is unavailable; retry later",
                )
            }
            AppError::Store(err) => {
                // Corrupt stored data or a broken contract: retrying will not help; the log says what.
                tracing::error!(error = %err, "internal storage error");
                Self::new(
                    Code::InternalServerError,
                    "an internal error occurred; the server log has the details under this request's id",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // The request's own identity, the same `request-id` as the response header.
        let context = crate::request::current();
        let summary = ErrorSummary {
            code: self.code.wire().to_string(),
            message: self.message.clone(),
        };
        let body = GraphErrorBody {
            error: GraphError {
                code: self.code.wire().to_string(),
                message: self.message,
                details: self.details,
                inner_error: InnerError {
                    date: context.as_ref().map(|c| c.at.to_rfc3339_seconds()),
                    request_id: context.as_ref().map(|c| c.id.clone()),
                    client_request_id: context.as_ref().map(|c| c.correlation_id().to_string()),
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(summary);
        response
    }
}

/// An error answer's code and message, kept on the response for the audit log (which records refused
/// changes without reading the body back).
#[derive(Clone, Debug)]
pub struct ErrorSummary {
    pub code: String,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;
