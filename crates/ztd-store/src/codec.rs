//! Decoding stored values. Nothing read from the database is trusted: every failure is `StoreError::Corrupt`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;
use ztd_core::group::MembershipSource;
use ztd_core::profile::AssignmentTarget;
use ztd_core::{GroupId, Timestamp};

use crate::StoreError;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A decoded row, read by column name: a driver row, or one element of a packed page ([`PackedRow`]).
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
}

impl Columns for AnyRow {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.try_get::<String, _>(col)
            .map_err(|e| corrupt(format!("column {col}: {e}")))
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get::<Option<String>, _>(col)
            .map_err(|e| corrupt(format!("column {col}: {e}")))
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(col)
            .map_err(|e| corrupt(format!("column {col}: {e}")))
    }
}

/// One row of a page the database packed into a single JSON array of arrays (see `Tx::fetch_packed`):
/// the values in the order of `names`.
pub(crate) struct PackedRow<'a> {
    pub names: &'a [&'a str],
    pub values: Vec<serde_json::Value>,
}

impl PackedRow<'_> {
    fn value(&self, col: &str) -> Result<&serde_json::Value, StoreError> {
        self.names
            .iter()
            .position(|name| *name == col)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| corrupt(format!("column {col}: missing from the packed row")))
    }
}

impl Columns for PackedRow<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| corrupt(format!("column {col}: NULL")))
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        match self.value(col)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(text) => Ok(Some(text.clone())),
            other => Err(corrupt(format!("column {col}: {other} is not text"))),
        }
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.value(col)? {
            serde_json::Value::Null => Ok(None),
            value => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| corrupt(format!("column {col}: {value} is not an integer"))),
        }
    }
}

pub(crate) fn text(row: &impl Columns, col: &str) -> Result<String, StoreError> {
    row.text(col)
}

pub(crate) fn opt_text(row: &impl Columns, col: &str) -> Result<Option<String>, StoreError> {
    row.opt_text(col)
}

pub(crate) fn int(row: &impl Columns, col: &str) -> Result<i64, StoreError> {
    row.opt_int(col)?
        .ok_or_else(|| corrupt(format!("column {col}: NULL")))
}

pub(crate) fn opt_int(row: &impl Columns, col: &str) -> Result<Option<i64>, StoreError> {
    row.opt_int(col)
}

pub(crate) fn int32(row: &impl Columns, col: &str) -> Result<i32, StoreError> {
    let value = int(row, col)?;
    i32::try_from(value).map_err(|_| corrupt(format!("column {col}: {value} out of range")))
}

pub(crate) fn flag(row: &impl Columns, col: &str) -> Result<bool, StoreError> {
    match int(row, col)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(format!("column {col}: {other} is not 0/1"))),
    }
}

pub(crate) fn ts(row: &impl Columns, col: &str) -> Result<Timestamp, StoreError> {
    int(row, col).map(Timestamp)
}

pub(crate) fn opt_ts(row: &impl Columns, col: &str) -> Result<Option<Timestamp>, StoreError> {
    opt_int(row, col).map(|v| v.map(Timestamp))
}

pub(crate) fn parse_id<T: From<Uuid>>(col: &str, value: &str) -> Result<T, StoreError> {
    Uuid::parse_str(value)
        .map(T::from)
        .map_err(|_| corrupt(format!("column {col}: {value:?} is not a UUID")))
}

pub(crate) fn id<T: From<Uuid>>(row: &impl Columns, col: &str) -> Result<T, StoreError> {
    parse_id(col, &text(row, col)?)
}

pub(crate) fn opt_id<T: From<Uuid>>(
    row: &impl Columns,
    col: &str,
) -> Result<Option<T>, StoreError> {
    opt_text(row, col)?
        .map(|value| parse_id(col, &value))
        .transpose()
}

/// An enum stored by wire name.
pub(crate) fn wire<T>(
    row: &impl Columns,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let value = text(row, col)?;
    parse(&value).ok_or_else(|| corrupt(format!("column {col}: unknown value {value:?}")))
}

pub(crate) fn json<T: DeserializeOwned>(row: &impl Columns, col: &str) -> Result<T, StoreError> {
    let value = text(row, col)?;
    serde_json::from_str(&value).map_err(|e| corrupt(format!("column {col}: {e}")))
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising plain structs, strings and lists cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Wraps a document body as `{"v": version, ...body}`.
pub(crate) fn versioned<T: Serialize>(version: u32, body: &T) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("v".into(), version.into());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(body) {
        doc.extend(fields);
    }
    to_json(&doc)
}

/// Splits a stored document into its version and body.
pub(crate) fn document(
    row: &impl Columns,
    col: &str,
) -> Result<(u64, serde_json::Value), StoreError> {
    let mut value: serde_json::Value = json(row, col)?;
    let version = value
        .as_object_mut()
        .and_then(|map| map.remove("v"))
        .and_then(|v| v.as_u64())
        .ok_or_else(|| corrupt(format!("column {col}: document without a version")))?;
    Ok((version, value))
}

pub(crate) fn from_value<T: DeserializeOwned>(
    col: &str,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| corrupt(format!("column {col}: {e}")))
}

pub(crate) fn source_str(source: MembershipSource) -> &'static str {
    match source {
        MembershipSource::Static => "static",
        MembershipSource::Rule => "rule",
    }
}

pub(crate) fn source(row: &impl Columns, col: &str) -> Result<MembershipSource, StoreError> {
    wire(row, col, |s| match s {
        "static" => Some(MembershipSource::Static),
        "rule" => Some(MembershipSource::Rule),
        _ => None,
    })
}

/// The stored form of an assignment target: `kind` plus optional group id (store-owned, independent of the
/// domain type's serde form).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetDoc {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

pub(crate) fn target_parts(target: AssignmentTarget) -> (&'static str, Option<String>) {
    match target {
        AssignmentTarget::AllDevices => ("allDevices", None),
        AssignmentTarget::Group(g) => ("group", Some(g.to_string())),
        AssignmentTarget::ExcludeGroup(g) => ("excludeGroup", Some(g.to_string())),
    }
}

pub(crate) fn target_from_parts(
    kind: &str,
    group: Option<&str>,
) -> Result<AssignmentTarget, StoreError> {
    let group_id = |g: Option<&str>| -> Result<GroupId, StoreError> {
        parse_id("target_group_id", g.unwrap_or_default())
    };
    match kind {
        "allDevices" => Ok(AssignmentTarget::AllDevices),
        "group" => Ok(AssignmentTarget::Group(group_id(group)?)),
        "excludeGroup" => Ok(AssignmentTarget::ExcludeGroup(group_id(group)?)),
        other => Err(corrupt(format!("unknown assignment target kind {other:?}"))),
    }
}

/// `%needle%` for `LIKE ... ESCAPE '\'`, lowercased the way the `*_lower` columns are.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}
