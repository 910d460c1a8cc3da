//! The query options of one request, and the opaque `$skiptoken`.

use std::cmp::Ordering;

use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use crate::filter::{compare_values, parse_filter, Expr, WorkBudget};
use crate::search::search_to_filter;
use crate::{excerpt, limits, OdataError, OdataResult};

/// Graph's default page size for these collections.
pub const DEFAULT_PAGE: usize = 100;
/// The largest `$top` accepted.
pub const MAX_PAGE: usize = 999;

/// The parsed query options of one request.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    pub filter: Option<Expr>,
    pub select: Option<Vec<String>>,
    pub expand: Vec<String>,
    pub top: Option<usize>,
    pub skip: usize,
    pub skip_token: Option<SkipToken>,
    pub count: bool,
    pub order_by: Vec<(String, bool)>,
    /// The raw query pairs, kept to rebuild `@odata.nextLink`.
    pub raw: Vec<(String, String)>,
    /// Whether `$search` was given (directory objects take it only with eventual consistency).
    pub search: bool,
    /// Whether the query string asks for eventual consistency (`ConsistencyLevel=eventual`, which some
    /// tools send there instead of as a header).
    pub eventual: bool,
}

/// Where the next page starts: after an id (keyset, stable under inserts) or at an offset (`$orderby`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipToken {
    After(String),
    Offset(usize),
}

impl SkipToken {
    pub fn encode(&self) -> String {
        let plain = match self {
            SkipToken::After(id) => format!("k:{id}"),
            SkipToken::Offset(n) => format!("o:{n}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(plain)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() > limits::MAX_SKIP_TOKEN_BYTES {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let plain = String::from_utf8(bytes).ok()?;
        if let Some(id) = plain.strip_prefix("k:") {
            return Some(SkipToken::After(id.to_string()));
        }
        plain
            .strip_prefix("o:")
            .and_then(|n| n.parse().ok())
            .map(SkipToken::Offset)
    }
}

fn bad(message: impl Into<String>) -> OdataError {
    OdataError::invalid(message)
}

/// Percent-decodes a query component (`+` is a space, as form encoding and PowerShell clients send it).
fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// What stays readable in the query components of `@odata.nextLink`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b',')
    .remove(b'(')
    .remove(b')')
    .remove(b':')
    .remove(b'/');

fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// A comma-separated option value (`$select`, `$expand`), bounded in items.
fn list(name: &str, value: &str) -> OdataResult<Vec<String>> {
    let items: Vec<String> = value
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > limits::MAX_LIST_ITEMS {
        return Err(OdataError::too_complex(format!(
            "{name} lists more than {} items.",
            limits::MAX_LIST_ITEMS
        )));
    }
    Ok(items)
}

/// The items of an `$expand` list: commas split items only outside parentheses, so that
/// `assignments($select=id,target),assignedDevices` is two items.
fn expand_list(value: &str) -> OdataResult<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (at, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    bad("Parsing OData Select and Expand failed: unbalanced ')' in $expand.")
                })?
            }
            ',' if depth == 0 => {
                items.push(value[start..at].trim().to_string());
                start = at + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad(
            "Parsing OData Select and Expand failed: unbalanced '(' in $expand.",
        ));
    }
    items.push(value[start..].trim().to_string());
    items.retain(|item| !item.is_empty());
    if items.len() > limits::MAX_LIST_ITEMS {
        return Err(OdataError::too_complex(format!(
            "$expand lists more than {} items.",
            limits::MAX_LIST_ITEMS
        )));
    }
    for item in &items {
        nested_select(item)?;
    }
    Ok(items)
}

/// The `$select` inside one `$expand` item (`assignments($select=id,target)`); `None` when there is none.
/// Only `$select` may be nested: Graph's Intune and directory navigations take nothing else.
fn nested_select(item: &str) -> OdataResult<Option<Vec<String>>> {
    let Some(open) = item.find('(') else {
        return Ok(None);
    };
    let inner = item[open + 1..].trim_end().trim_end_matches(')');
    let mut select = None;
    for option in inner.split(';').map(str::trim).filter(|o| !o.is_empty()) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        if name
            .trim()
            .trim_start_matches('$')
            .eq_ignore_ascii_case("select")
        {
            select = Some(list("$select", value)?);
        } else {
            return Err(bad(format!(
                "Query option '{}' is not supported inside $expand; only $select is.",
                excerpt(name.trim(), 40)
            )));
        }
    }
    Ok(select)
}

impl QueryOptions {
    /// Parses the raw query string. Option names are case-insensitive and may omit the `$`, as Graph allows.
    pub fn parse(query: Option<&str>) -> OdataResult<Self> {
        let mut options = QueryOptions::default();
        let Some(query) = query else {
            return Ok(options);
        };
        if query.len() > limits::MAX_QUERY_BYTES {
            return Err(OdataError::too_complex(format!(
                "The query string is {} bytes long; at most {} are accepted.",
                query.len(),
                limits::MAX_QUERY_BYTES
            )));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name);
            let value = decode_component(value);
            let key = name.trim_start_matches('$').to_ascii_lowercase();
            match key.as_str() {
                "filter" => {
                    let filter = parse_filter(&value)?;
                    options.filter = Some(match options.filter.take() {
                        Some(search) => filter.and(search),
                        None => filter,
                    });
                }
                "select" => options.select = Some(list("$select", &value)?),
                "expand" => options.expand = expand_list(&value)?,
                "top" => {
                    let top: usize = value.trim().parse().map_err(|_| {
                        bad(format!(
                            "Invalid value '{}' for $top query option found.",
                            excerpt(&value, 40)
                        ))
                    })?;
                    options.top = Some(top);
                }
                "skip" => {
                    options.skip = value.trim().parse().map_err(|_| {
                        bad(format!(
                            "Invalid value '{}' for $skip query option found.",
                            excerpt(&value, 40)
                        ))
                    })?
                }
                "skiptoken" => {
                    options.skip_token = Some(
                        SkipToken::decode(&value)
                            .ok_or_else(|| bad("The $skiptoken is not valid for this request."))?,
                    )
                }
                "count" => {
                    options.count = match value.trim().to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(bad(format!(
                                "Invalid value '{}' for $count query option found.",
                                excerpt(&value, 40)
                            )))
                        }
                    }
                }
                "orderby" => {
                    for item in list("$orderby", &value)? {
                        let mut parts = item.split_whitespace();
                        let property = parts.next().unwrap_or_default().to_string();
                        let descending = match parts.next().map(str::to_ascii_lowercase).as_deref()
                        {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => {
                                return Err(bad(format!(
                                    "Invalid $orderby direction '{}'; use asc or desc.",
                                    excerpt(other, 40)
                                )))
                            }
                        };
                        options.order_by.push((property, descending));
                    }
                }
                "search" => {
                    options.search = true;
                    let search = parse_filter(&search_to_filter(&value)?)?;
                    options.filter = Some(match options.filter.take() {
                        Some(filter) => filter.and(search),
                        None => search,
                    });
                }
                "consistencylevel" => {
                    options.eventual = value.trim().eq_ignore_ascii_case("eventual");
                }
                "format" | "api-version" => {}
                _ if name.starts_with('$') => {
                    return Err(bad(format!(
                        "Query option '{}' is not allowed. Make sure that it is supported.",
                        excerpt(&name, 40)
                    )))
                }
                // Parameters without `$` that are not query options (e.g. tools adding their own) are ignored,
                // as Graph does.
                _ => {}
            }
            options.raw.push((name, value));
        }
        if let Some(top) = options.top {
            if top == 0 || top > MAX_PAGE {
                return Err(bad(format!(
                    "Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE} inclusive."
                )));
            }
        }
        Ok(options)
    }

    pub fn page_size(&self) -> usize {
        self.top.unwrap_or(DEFAULT_PAGE)
    }

    /// Checks `$filter`, `$select` and `$orderby` against an entity's properties and `$expand` against its
    /// navigation properties; an error on anything unknown.
    pub fn validate(&self, properties: &[&str], navigations: &[&str]) -> OdataResult<()> {
        let known = |p: &str| properties.iter().any(|k| k.eq_ignore_ascii_case(p));
        if let Some(filter) = &self.filter {
            let mut paths = Vec::new();
            filter.paths(&mut paths);
            for path in paths {
                let head = path.split('/').next().unwrap_or_default();
                if !known(head) {
                    return Err(bad(format!(
                        "Invalid filter clause: Could not find a property named '{}' on this type.",
                        excerpt(head, 80)
                    )));
                }
            }
        }
        for p in self.select.iter().flatten() {
            if p != "*" && !known(p) && !navigations.iter().any(|n| n.eq_ignore_ascii_case(p)) {
                return Err(bad(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{}' on this type.",
                    excerpt(p, 80)
                )));
            }
        }
        for e in &self.expand {
            let name = e.split('(').next().unwrap_or_default().trim();
            if name != "*" && !navigations.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(bad(format!(
                    "Parsing OData Select and Expand failed: Could not find a navigation property named '{}' on this type.",
                    excerpt(name, 80)
                )));
            }
        }
        for (p, _) in &self.order_by {
            if !known(p) {
                return Err(bad(format!(
                    "Invalid $orderby: Could not find a property named '{}' on this type.",
                    excerpt(p, 80)
                )));
            }
        }
        Ok(())
    }

    /// The properties an expanded navigation keeps (`$expand=assignments($select=id,target)`); `None` keeps
    /// all of them.
    pub fn expanded_select(&self, navigation: &str) -> Option<Vec<String>> {
        self.expand.iter().find_map(|e| {
            let name = e.split('(').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case(navigation) {
                nested_select(e).ok().flatten()
            } else {
                None
            }
        })
    }

    pub fn expands(&self, navigation: &str) -> bool {
        self.expand.iter().any(|e| {
            let name = e.split('(').next().unwrap_or_default().trim();
            name == "*" || name.eq_ignore_ascii_case(navigation)
        })
    }

    /// Whether `item` passes `$filter`, spending from the request's budget.
    pub fn matches(&self, item: &Value, budget: &mut WorkBudget) -> OdataResult<bool> {
        match &self.filter {
            None => Ok(true),
            Some(filter) => filter.evaluate(item, budget),
        }
    }

    /// Whether answering the query reads the items' values (a `$filter`, `$search` or `$orderby`): when
    /// it does not, a collection need not build them before paging.
    pub fn reads_items(&self) -> bool {
        self.filter.is_some() || !self.order_by.is_empty()
    }

    /// Whether [`QueryOptions::project`] keeps every property (no `$select`, or `$select=*`).
    pub fn selects_everything(&self) -> bool {
        !self.expand.iter().any(|e| e.contains('('))
            && self
                .select
                .as_ref()
                .is_none_or(|select| select.iter().any(|s| s == "*"))
    }

    /// Applies `$select` (keeping `id` and `@odata.*` annotations, as Graph does).
    pub fn project(&self, item: Value) -> Value {
        let item = self.project_expanded(item);
        let Some(select) = &self.select else {
            return item;
        };
        if select.iter().any(|s| s == "*") {
            return item;
        }
        match item {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| self.keeps_property(k))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Whether `$select` keeps a top-level property of an item: `id`, `@odata.*` annotations, the selected
    /// properties and the expanded navigations (everything without a `$select`).
    pub fn keeps_property(&self, key: &str) -> bool {
        let Some(select) = &self.select else {
            return true;
        };
        key == "id"
            || key.starts_with("@odata.")
            || select
                .iter()
                .any(|s| s == "*" || s.eq_ignore_ascii_case(key))
            || self.expands(key)
    }

    /// Whether [`QueryOptions::project`] only drops top-level properties (no `$expand` with options of its
    /// own), so that [`crate::Selected`] can apply it while serialising.
    pub fn selects_top_level_only(&self) -> bool {
        !self.expand.iter().any(|e| e.contains('('))
    }

    /// Applies each expanded navigation's own `$select` to its items.
    fn project_expanded(&self, item: Value) -> Value {
        if !self.expand.iter().any(|e| e.contains('(')) {
            return item;
        }
        let Value::Object(mut map) = item else {
            return item;
        };
        for (key, value) in map.iter_mut() {
            let Some(select) = self.expanded_select(key) else {
                continue;
            };
            let keep = |object: &mut Map<String, Value>| {
                object.retain(|k, _| {
                    k == "id"
                        || k.starts_with("@odata.")
                        || select.iter().any(|s| s == "*" || s.eq_ignore_ascii_case(k))
                })
            };
            match value {
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(object) = item {
                            keep(object);
                        }
                    }
                }
                Value::Object(object) => keep(object),
                _ => {}
            }
        }
        Value::Object(map)
    }

    /// The `$orderby` ordering of two items (ties are equal, so a stable sort keeps id order).
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (property, descending) in &self.order_by {
            let ordering = compare_values(lookup(a, property), lookup(b, property));
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// The query string of the next page: every option but `$skip` and `$skiptoken`, plus the new token.
    pub fn next_query(&self, token: &SkipToken) -> String {
        let mut parts: Vec<String> = self
            .raw
            .iter()
            .filter(|(k, _)| {
                let key = k.trim_start_matches('$').to_ascii_lowercase();
                key != "skip" && key != "skiptoken"
            })
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect();
        parts.push(format!("$skiptoken={}", token.encode()));
        parts.join("&")
    }
}

/// Case-insensitive property lookup along a `/`-separated path.
pub fn lookup<'a>(item: &'a Value, path: &str) -> &'a Value {
    let mut current = item;
    for segment in path.split('/') {
        current = match current {
            Value::Object(map) => map
                .get(segment)
                .or_else(|| {
                    map.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(segment))
                        .map(|(_, v)| v)
                })
                .unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    current
}
