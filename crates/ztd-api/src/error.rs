//! Error answers on the wire. The catalogue itself ([`Code`]) is the domain's; this is the body that carries
//! an entry in Graph's shape, for the server to write and clients to read.

use serde::{Deserialize, Serialize};
pub use ztd_core::error::{Code, Shape};

/// `{"error": {...}}`, the body of every error answer but the token endpoint's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphErrorBody {
    pub error: GraphError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphError {
    /// The catalogue entry's wire code ([`Code::wire`]).
    pub code: String,
    pub message: String,
    /// Field-level details of an invalid request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<serde_json::Value>,
    #[serde(rename = "innerError", default)]
    pub inner_error: InnerError,
}

/// The request's identity: `request-id` is the response header's value and the server log's key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InnerError {
    pub date: Option<String>,
    #[serde(rename = "request-id")]
    pub request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    pub client_request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_reads_back_as_written() {
        let body = GraphErrorBody {
            error: GraphError {
                code: Code::Conflict.wire().into(),
                message: "already running".into(),
                details: Vec::new(),
                inner_error: InnerError {
                    date: Some("2026-11-30T20:00:00Z".into()),
                    request_id: Some("r-1".into()),
                    client_request_id: Some("c-1".into()),
                },
            },
        };
        let text = serde_json::to_string(&body).unwrap();
        assert!(text.contains(r#""innerError":{"date":"2026-11-30T20:00:00Z","request-id":"r-1""#));
        assert_eq!(serde_json::from_str::<GraphErrorBody>(&text).unwrap(), body);
    }
}
