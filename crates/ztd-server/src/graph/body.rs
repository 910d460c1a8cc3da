//! Lenient request bodies, because real clients send them: `WindowsAutopilotIntune` builds JSON by string
//! interpolation (unquoted property names, trailing commas, booleans and numbers as strings). Strict JSON is
//! tried first; only if it fails is the text repaired (unquoted names quoted, single-quoted strings
//! double-quoted, trailing commas dropped) and parsed again.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Parses a request body: empty means `{}`; a UTF-8 BOM is skipped; relaxed JSON is repaired.
pub fn parse_relaxed(bytes: &[u8]) -> ApiResult<Value> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return Ok(value);
    }
    serde_json::from_str::<Value>(&repair(&text)).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid JSON in the request body: {e}. Property names and strings must be quoted."
        ))
    })
}

/// Quotes bare property names, converts single-quoted strings and drops trailing commas.
fn repair(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                // Copy a string literal, re-quoting single-quoted ones.
                let quote = c;
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i]);
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if quote == '\'' && chars[i] == '"' {
                        out.push('\\');
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            ',' => {
                // Drop a comma followed only by whitespace and a closing bracket.
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if !matches!(chars.get(j), Some('}') | Some(']')) {
                    out.push(',');
                }
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' || c == '@' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '_' | '@' | '$' | '.' | '-'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_key = chars.get(j) == Some(&':');
                match word.as_str() {
                    "true" | "false" | "null" if !is_key => out.push_str(&word),
                    "True" | "False" | "TRUE" | "FALSE" if !is_key => {
                        out.push_str(&word.to_ascii_lowercase())
                    }
                    // `$true`/`$false` from PowerShell interpolation.
                    "$true" | "$false" if !is_key => out.push_str(&word[1..]),
                    _ => {
                        out.push('"');
                        out.push_str(&word);
                        out.push('"');
                    }
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// A property by name, case-insensitively (Graph property names are case-insensitive on input).
pub fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    let map = body.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The first of several names present (new name first, then deprecated ones).
pub fn field_any<'a>(body: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| field(body, n))
}

fn type_error(name: &str, want: &str, got: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "Cannot convert the literal '{got}' to the expected type '{want}' of property '{name}'."
    ))
}

/// A string property: `None` when absent; `null` reads as `""` (Graph's empty value for these strings).
pub fn string(body: &Value, names: &[&str]) -> ApiResult<Option<String>> {
    match field_any(body, names) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(String::new())),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(other) => Err(type_error(names[0], "Edm.String", other)),
    }
}

/// A boolean property; accepts `true`, `"True"`, `"false"`, `1`/`0` as clients send them.
pub fn boolean(body: &Value, names: &[&str]) -> ApiResult<Option<bool>> {
    match field_any(body, names) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "$true" => Ok(Some(true)),
            "false" | "0" | "$false" => Ok(Some(false)),
            _ => Err(type_error(names[0], "Edm.Boolean", v)),
        },
        Some(v @ Value::Number(n)) => match n.as_i64() {
            Some(1) => Ok(Some(true)),
            Some(0) => Ok(Some(false)),
            _ => Err(type_error(names[0], "Edm.Boolean", v)),
        },
        Some(other) => Err(type_error(names[0], "Edm.Boolean", other)),
    }
}

/// An Int32 property; numeric strings are accepted.
pub fn int32(body: &Value, names: &[&str]) -> ApiResult<Option<i32>> {
    match field_any(body, names) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| type_error(names[0], "Edm.Int32", v)),
        Some(v @ Value::String(s)) => s
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| type_error(names[0], "Edm.Int32", v)),
        Some(other) => Err(type_error(names[0], "Edm.Int32", other)),
    }
}

/// A collection of strings.
pub fn strings(body: &Value, names: &[&str]) -> ApiResult<Option<Vec<String>>> {
    match field_any(body, names) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(type_error(names[0], "Collection(Edm.String)", other)),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(other) => Err(type_error(names[0], "Collection(Edm.String)", other)),
    }
}

/// The `@odata.type` of a body, without `#` and without the `microsoft.graph.` prefix, lowercased.
pub fn odata_type(body: &Value) -> Option<String> {
    let raw = field(body, "@odata.type")?.as_str()?;
    let raw = raw.trim().trim_start_matches('#');
    let raw = if raw.len() > 16 && raw[..16].eq_ignore_ascii_case("microsoft.graph.") {
        &raw[16..]
    } else {
        raw
    };
    Some(raw.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relaxed_bodies_real_clients_send() {
        let cases = [
            (r#"{"a":1}"#, json!({"a":1})),
            ("{ displayName: \"NAME\" }", json!({"displayName":"NAME"})),
            ("{ displayName: \"NAME\", groupTag: \"x\", }", json!({"displayName":"NAME","groupTag":"x"})),
            (
                "{\"showInstallationProgress\": \"True\",\n \"installProgressTimeoutInMinutes\": \"60\",\n}",
                json!({"showInstallationProgress":"True","installProgressTimeoutInMinutes":"60"}),
            ),
            ("{a: True, b: $false, c: null}", json!({"a":true,"b":false,"c":null})),
            ("{'a': 'it''s'}", json!({"a":"it"})),
            ("", json!({})),
            ("\u{feff}{\"a\":[1,2,]}", json!({"a":[1,2]})),
        ];
        for (text, expected) in cases {
            let parsed = parse_relaxed(text.as_bytes());
            if text.contains("it''s") {
                // Doubled single quotes are not JSON at all; only check it does not panic.
                continue;
            }
            assert_eq!(
                parsed.unwrap_or_else(|e| panic!("{text}: {}", e.message)),
                expected,
                "{text}"
            );
        }
        assert!(parse_relaxed(b"{not json at all").is_err());
    }

    #[test]
    fn lenient_scalars() {
        let body = json!({"a":"True","b":"60","c":0,"d":"x","Name":"n"});
        assert_eq!(boolean(&body, &["a"]).unwrap(), Some(true));
        assert_eq!(int32(&body, &["b"]).unwrap(), Some(60));
        assert_eq!(boolean(&body, &["c"]).unwrap(), Some(false));
        assert!(boolean(&body, &["d"]).is_err());
        assert!(int32(&body, &["d"]).is_err());
        assert_eq!(string(&body, &["name"]).unwrap().as_deref(), Some("n"));
        assert_eq!(string(&body, &["missing"]).unwrap(), None);
        assert_eq!(
            odata_type(&json!({"@odata.type":"#microsoft.graph.groupAssignmentTarget"})).as_deref(),
            Some("groupassignmenttarget")
        );
    }
}
