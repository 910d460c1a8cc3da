//! The body of a JSON batch request (`POST /$batch`, OData's JSON batch format as Graph serves it), read and
//! checked before anything in it runs: at most [`MAX_BATCH_REQUESTS`] requests, unique non-empty ids of at
//! most [`MAX_ID_LEN`] characters, a `method` and a `url` each, at most [`MAX_HEADERS`] headers a request,
//! and `dependsOn` naming earlier requests only (so running them in order honours every dependency).
//! What a request's method, URL and headers mean is the server's business; this module only reads them.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{excerpt, OdataError, OdataResult};

/// Graph's limit on the requests of one batch.
pub const MAX_BATCH_REQUESTS: usize = 20;
/// The longest `id` of a request in a batch.
pub const MAX_ID_LEN: usize = 64;
/// The longest relative URL of a request in a batch.
pub const MAX_URL_LEN: usize = 8 * 1024;
/// The most headers one request of a batch carries.
pub const MAX_HEADERS: usize = 32;

/// One request of a batch, as sent.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    pub id: String,
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Map<String, Value>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

#[derive(Deserialize)]
struct BatchBody {
    requests: Vec<BatchRequest>,
}

fn invalid(message: String) -> OdataError {
    OdataError::invalid(message)
}

/// Reads a batch body (JSON; a UTF-8 BOM is skipped) and checks it as the module docs say.
pub fn parse_batch(bytes: &[u8]) -> OdataResult<Vec<BatchRequest>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let batch: BatchBody = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "Invalid batch payload: {}. The body must be {{\"requests\": [{{\"id\", \"method\", \"url\", ...}}]}}.",
            excerpt(&e.to_string(), 200)
        ))
    })?;
    if batch.requests.is_empty() {
        return Err(invalid("The batch has no requests.".into()));
    }
    if batch.requests.len() > MAX_BATCH_REQUESTS {
        return Err(invalid(format!(
            "The batch has {} requests; a batch takes at most {MAX_BATCH_REQUESTS}.",
            batch.requests.len()
        )));
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for request in &batch.requests {
        let id = request.id.as_str();
        if id.is_empty() || id.chars().count() > MAX_ID_LEN {
            return Err(invalid(format!(
                "Every request of a batch needs an id of 1 to {MAX_ID_LEN} characters."
            )));
        }
        if request.url.len() > MAX_URL_LEN {
            return Err(invalid(format!(
                "The url of request '{}' is longer than {MAX_URL_LEN} bytes.",
                excerpt(id, 64)
            )));
        }
        if request.headers.len() > MAX_HEADERS {
            return Err(invalid(format!(
                "Request '{}' has more than {MAX_HEADERS} headers.",
                excerpt(id, 64)
            )));
        }
        for dependency in &request.depends_on {
            if !seen.contains(dependency.as_str()) {
                return Err(invalid(format!(
                    "Request '{}' depends on '{}', which is not an earlier request of the batch.",
                    excerpt(id, 64),
                    excerpt(dependency, 64)
                )));
            }
        }
        if !seen.insert(id) {
            return Err(invalid(format!(
                "The id '{}' is used by more than one request of the batch.",
                excerpt(id, 64)
            )));
        }
    }
    Ok(batch.requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(requests: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "requests": requests })).unwrap()
    }

    #[test]
    fn a_batch_takes_at_most_twenty_requests() {
        let requests: Vec<Value> = (0..21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
            .collect();
        let error = parse_batch(&body(Value::Array(requests))).unwrap_err();
        assert!(error.message.contains("at most 20"), "{}", error.message);
    }

    #[test]
    fn depends_on_must_name_an_earlier_request() {
        let later = body(json!([
            {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/users"}
        ]));
        assert!(parse_batch(&later).is_err());
        let earlier = body(json!([
            {"id": "1", "method": "GET", "url": "/users"},
            {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]}
        ]));
        assert_eq!(parse_batch(&earlier).unwrap().len(), 2);
    }

    #[test]
    fn ids_are_unique_present_and_short() {
        let twice = body(json!([
            {"id": "1", "method": "GET", "url": "/users"},
            {"id": "1", "method": "GET", "url": "/groups"}
        ]));
        assert!(parse_batch(&twice).is_err());
        assert!(parse_batch(&body(json!([{"id": "", "method": "GET", "url": "/users"}]))).is_err());
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(parse_batch(&body(json!([{"id": long, "method": "GET", "url": "/u"}]))).is_err());
        assert!(parse_batch(b"{\"requests\": []}").is_err());
        assert!(parse_batch(b"[1,2]").is_err());
        assert!(parse_batch(
            b"\xEF\xBB\xBF{\"requests\": [{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/u\"}]}"
        )
        .is_ok());
    }

    #[test]
    fn refusals_never_echo_the_input_whole() {
        let huge = format!("{{\"requests\": [{{\"id\": \"{}\"", "y".repeat(100_000));
        let error = parse_batch(huge.as_bytes()).unwrap_err();
        assert!(error.message.len() < 600, "{}", error.message.len());
    }
}
