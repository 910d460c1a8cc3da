//! Decoding stored values. Nothing read from the database is trusted: every failure is `StoreError::Corrupt`.

use std::borrow::Cow;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;
use ztd_core::group::MembershipSource;
use ztd_core::profile::AssignmentTarget;
use ztd_core::{GroupId, Timestamp};

use crate::Backend;
use crate::StoreError;

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A decoded row, read by column name: a driver row, or one element of a packed page ([`PackedRow`]).
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    /// Text without copying it where the row allows.
    fn opt_str(&self, col: &str) -> Result<Option<Cow<'_, str>>, StoreError> {
        Ok(self.opt_text(col)?.map(Cow::Owned))
    }
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

/// One value of a packed page, borrowing its text from the page where JSON needed no unescaping.
#[derive(Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    /// A value no column of ours stores (a float, a bool, a nested array): decoding it is corruption.
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column value (null, an integer or text)")
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
                i64::try_from(v)
                    .map(Cell::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other("a number with a fraction"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Other("a boolean"))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Cell::Other("an array"))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Cell<'de>, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Cell::Other("an object"))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

/// One row of a page the database packed into a single JSON array of arrays (see `Tx::fetch_packed`):
/// the values in the order of `names`.
pub(crate) struct PackedRow<'a> {
    pub names: &'a [&'a str],
    pub values: Vec<Cell<'a>>,
    /// Where the last lookup found its column: decoders read columns in order, so the next one is
    /// usually right after it.
    pub hint: std::cell::Cell<usize>,
}

impl<'a> PackedRow<'a> {
    pub fn new(names: &'a [&'a str], values: Vec<Cell<'a>>) -> Self {
        Self {
            names,
            values,
            hint: std::cell::Cell::new(0),
        }
    }

    fn value(&self, col: &str) -> Result<&Cell<'a>, StoreError> {
        let start = self.hint.get().min(self.names.len());
        let found = self.names[start..]
            .iter()
            .position(|name| *name == col)
            .map(|i| start + i)
            .or_else(|| self.names[..start].iter().position(|name| *name == col));
        found
            .and_then(|i| {
                self.hint.set(i + 1);
                self.values.get(i)
            })
            .ok_or_else(|| corrupt(format!("column {col}: missing from the packed row")))
    }
}

impl Columns for PackedRow<'_> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| corrupt(format!("column {col}: NULL")))
    }

    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.opt_str(col)?.map(Cow::into_owned))
    }

    fn opt_str(&self, col: &str) -> Result<Option<Cow<'_, str>>, StoreError> {
        match self.value(col)? {
            Cell::Null => Ok(None),
            Cell::Text(text) => Ok(Some(Cow::Borrowed(text.as_ref()))),
            Cell::Int(n) => Err(corrupt(format!("column {col}: {n} is not text"))),
            Cell::Other(what) => Err(corrupt(format!("column {col}: {what} is not text"))),
        }
    }

    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.value(col)? {
            Cell::Null => Ok(None),
            Cell::Int(n) => Ok(Some(*n)),
            Cell::Text(text) => Err(corrupt(format!("column {col}: {text:?} is not an integer"))),
            Cell::Other(what) => Err(corrupt(format!("column {col}: {what} is not an integer"))),
        }
    }
}

/// The rows of a packed page (see `Tx::fetch_packed_text`), each deserialised from its JSON array.
pub(crate) fn parse_page<'a, R: Deserialize<'a>>(page: &'a str) -> Result<Vec<R>, StoreError> {
    serde_json::from_str(page).map_err(|e| corrupt(format!("packed page: {e}")))
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
    match row.opt_str(col)? {
        Some(value) => parse_id(col, &value),
        None => Err(corrupt(format!("column {col}: NULL"))),
    }
}

pub(crate) fn opt_id<T: From<Uuid>>(
    row: &impl Columns,
    col: &str,
) -> Result<Option<T>, StoreError> {
    row.opt_str(col)?
        .map(|value| parse_id(col, &value))
        .transpose()
}

/// An enum stored by wire name.
pub(crate) fn wire<T>(
    row: &impl Columns,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let value = row
        .opt_str(col)?
        .ok_or_else(|| corrupt(format!("column {col}: NULL")))?;
    parse(&value).ok_or_else(|| corrupt(format!("column {col}: unknown value {value:?}")))
}

pub(crate) fn json<T: DeserializeOwned>(row: &impl Columns, col: &str) -> Result<T, StoreError> {
    let value = row
        .opt_str(col)?
        .ok_or_else(|| corrupt(format!("column {col}: NULL")))?;
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
    /// The assignment's filter (ESP assignments); absent in rows written before filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ztd_core::scope::FilterRef>,
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

/// A case-insensitive substring test of a `*_lower` column, with `{}` where the needle's placeholder goes
/// (bind [`lower_needle`]). A plain substring search rather than `LIKE`: nothing to escape, and SQLite
/// prepares a statement whose `LIKE` pattern is a bound parameter again at every execution (the pattern
/// might allow its prefix optimisation), which cost a `contains` page 6% of its time.
pub(crate) fn contains_clause(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Sqlite => format!("instr({column}, {{}}) > 0"),
        Backend::Postgres => format!("strpos({column}, {{}}) > 0"),
    }
}

/// The needle of [`contains_clause`], lowercased the way the `*_lower` columns are.
pub(crate) fn lower_needle(needle: &str) -> String {
    needle.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_targets_stored_before_filters_still_read() {
        // The form rows had before assignment filters: no `filter` key.
        let old = r#"[{"kind":"allDevices"},{"kind":"group","groupId":"6b1f0e37-3e1c-4c4a-9f5e-2d1f0c3a4b5c"}]"#;
        let targets: Vec<TargetDoc> = serde_json::from_str(old).unwrap();
        assert_eq!(targets.len(), 2);
        assert!(targets.iter().all(|t| t.filter.is_none()));
        assert_eq!(
            targets[1].group_id.as_deref(),
            Some("6b1f0e37-3e1c-4c4a-9f5e-2d1f0c3a4b5c")
        );
    }

    fn packed(json: &str) -> Vec<Vec<Cell<'_>>> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn packed_cells_borrow_plain_text_and_own_unescaped_text() {
        let rows = packed(r#"[["plain", "with \"quote\"", 42, null]]"#);
        assert!(matches!(&rows[0][0], Cell::Text(Cow::Borrowed("plain"))));
        assert!(matches!(&rows[0][1], Cell::Text(Cow::Owned(t)) if t == "with \"quote\""));
        assert_eq!(rows[0][2], Cell::Int(42));
        assert_eq!(rows[0][3], Cell::Null);
    }

    #[test]
    fn packed_values_of_the_wrong_kind_are_corruption_not_panics() {
        let names = ["a", "b", "c", "d"];
        for (json, col) in [
            (r#"[[1.5, "x", "y", "z"]]"#, "a"),
            (r#"[["x", true, "y", "z"]]"#, "b"),
            (r#"[["x", "y", [1, [2]], "z"]]"#, "c"),
            (r#"[["x", "y", "z", {"k": 1}]]"#, "d"),
            (r#"[["x", "y", "z", 18446744073709551615]]"#, "missing"),
        ] {
            let Ok(mut rows) = serde_json::from_str::<Vec<Vec<Cell<'_>>>>(json) else {
                // An integer past i64 is refused while parsing the page: also an error, not a panic.
                continue;
            };
            let row = PackedRow::new(&names, rows.remove(0));
            assert!(
                matches!(text(&row, col), Err(StoreError::Corrupt(_))),
                "{json}"
            );
            assert!(
                matches!(int(&row, col), Err(StoreError::Corrupt(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn packed_columns_are_found_in_any_order() {
        let names = ["a", "b", "c"];
        let row = PackedRow::new(&names, packed(r#"[["1", "2", "3"]]"#).remove(0));
        for col in ["c", "a", "b", "b", "a", "c"] {
            assert_eq!(
                text(&row, col).unwrap(),
                col.replace('a', "1").replace('b', "2").replace('c', "3")
            );
        }
    }
}
