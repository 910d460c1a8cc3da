//! Errors in Graph's shape: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ztd_app::AppError;
use ztd_core::DomainError;

/// An HTTP error with a Graph error code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Field-level details for invalid requests.
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFound", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// A request body that could not be read or parsed, with the rejection's status: 413
    /// `RequestEntityTooLarge` past the route's limit, otherwise `BadRequest` (400, 415 or 422).
    pub fn body_rejected(status: StatusCode, message: impl Into<String>) -> Self {
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "RequestEntityTooLarge"
        } else {
            "BadRequest"
        };
        Self::new(status, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            message,
        )
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
            return Self::new(StatusCode::CONFLICT, "Conflict", message);
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
                            serde_json::json!({ "code": "InvalidValue", "target": field, "message": message })
                        }
                        other => serde_json::json!({ "code": other.code(), "message": other.to_string() }),
                    })
                    .collect();
                Self {
                    details,
                    ..Self::bad_request(message)
                }
            }
            // Directory objects answer as Entra does; Intune objects as Intune does.
            AppError::Domain(DomainError::NotFound { kind, id }) if kind.is_directory_object() => Self::new(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
            ),
            AppError::Domain(DomainError::NotFound { kind, id }) => {
                Self::not_found(format!("{} {id} was not found", kind.name()))
            }
            AppError::Domain(err @ DomainError::InvalidField { .. }) => {
                Self::bad_request(err.to_string())
            }
            AppError::Domain(DomainError::Conflict { message }) => {
                Self::new(StatusCode::CONFLICT, "Conflict", message)
            }
            err @ AppError::Store(_) if err.store_failure_is_transient() => {
                tracing::error!(error = %err, "storage failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "the database is unavailable; retry later",
                )
            }
            AppError::Store(err) => {
                // Corrupt stored data or a broken contract: retrying will not help; the log says what.
                tracing::error!(error = %err, "internal storage error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "an internal error occurred; the server log has the details under this request's id",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request's own identity, the same `request-id` as the response header.
        let context = crate::request::current();
        let mut error = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": context.as_ref().map(|c| c.at.to_rfc3339_seconds()),
                "request-id": context.as_ref().map(|c| c.id.as_str()),
                "client-request-id": context.as_ref().map(|c| c.correlation_id()),
            }
        });
        if !self.details.is_empty() {
            error["details"] = serde_json::Value::Array(self.details);
        }
        (self.status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
