//! OData query options as Graph tools use them: `$filter`, `$select`, `$expand`, `$top`, `$skip`,
//! `$skiptoken`, `$count`, `$orderby`, `$search` (rejected).
//!
//! Filters are parsed into an [`Expr`] and evaluated over the entity's Graph JSON, so every property a
//! collection emits can be filtered on. String comparisons (`eq`, `ne`, `contains`, `startswith`,
//! `endswith`) are case-insensitive, as Intune's `contains()` and Entra's `eq` are. Unknown properties,
//! unknown functions and syntax errors are a 400, never silently ignored.

use std::cmp::Ordering;
use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::error::ApiError;

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

    fn decode(text: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
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

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// Percent-decodes a query component (`+` is a space, as form encoding and PowerShell clients send it).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Translates Graph's directory `$search` (`"property:term"` clauses joined by `AND`/`OR`, as
/// `Get-MgDevice -Search "deviceId:..."` sends) into the equivalent `$filter`. Graph matches search terms as
/// word prefixes; ztd matches them as prefixes of the whole value (`startswith`), which is exact for ids and
/// serials, the values tools search by.
pub fn search_to_filter(search: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("Syntax error in $search: {why}"));
    let mut out = String::new();
    let mut rest = search.trim();
    let mut expect_clause = true;
    while !rest.is_empty() {
        if expect_clause {
            let Some(body) = rest.strip_prefix('"') else {
                return Err(bad("each clause must be a quoted \"property:term\""));
            };
            let Some(end) = body.find('"') else {
                return Err(bad("unterminated quote"));
            };
            let (property, term) = body[..end]
                .split_once(':')
                .ok_or_else(|| bad("a clause needs property:term"))?;
            let property = property.trim();
            if property.is_empty()
                || !property
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad("the property name is not valid"));
            }
            out.push_str(&format!(
                "startswith({property},'{}')",
                term.trim().replace('\'', "''")
            ));
            rest = body[end + 1..].trim_start();
        } else {
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match word.to_ascii_uppercase().as_str() {
                "AND" => out.push_str(" and "),
                "OR" => out.push_str(" or "),
                _ => return Err(bad("clauses are joined by AND or OR")),
            }
            rest = after.trim_start();
        }
        expect_clause = !expect_clause;
    }
    if out.is_empty() || expect_clause {
        return Err(bad("the search is empty or ends with an operator"));
    }
    Ok(out)
}

impl QueryOptions {
    /// Parses the raw query string. Option names are case-insensitive and may omit the `$`, as Graph allows.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut options = QueryOptions::default();
        let Some(query) = query else {
            return Ok(options);
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name);
            let value = percent_decode(value);
            options.raw.push((name.clone(), value.clone()));
            let key = name.trim_start_matches('$').to_ascii_lowercase();
            match key.as_str() {
                "filter" => {
                    let filter = parse_filter(&value)?;
                    options.filter = Some(match options.filter.take() {
                        Some(search) => Expr::And(Box::new(filter), Box::new(search)),
                        None => filter,
                    });
                }
                "select" => {
                    options.select = Some(
                        value
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                }
                "expand" => {
                    options.expand = value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "top" => {
                    let top: usize = value.trim().parse().map_err(|_| {
                        bad(format!(
                            "Invalid value '{value}' for $top query option found."
                        ))
                    })?;
                    options.top = Some(top);
                }
                "skip" => {
                    options.skip = value.trim().parse().map_err(|_| {
                        bad(format!(
                            "Invalid value '{value}' for $skip query option found."
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
                                "Invalid value '{value}' for $count query option found."
                            )))
                        }
                    }
                }
                "orderby" => {
                    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        let mut parts = item.split_whitespace();
                        let property = parts.next().unwrap_or_default().to_string();
                        let descending = match parts.next().map(str::to_ascii_lowercase).as_deref()
                        {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => {
                                return Err(bad(format!(
                                    "Invalid $orderby direction '{other}'; use asc or desc."
                                )))
                            }
                        };
                        options.order_by.push((property, descending));
                    }
                }
                "search" => {
                    let search = parse_filter(&search_to_filter(&value)?)?;
                    options.filter = Some(match options.filter.take() {
                        Some(filter) => Expr::And(Box::new(filter), Box::new(search)),
                        None => search,
                    });
                }
                "format" | "consistencylevel" | "api-version" => {}
                _ if name.starts_with('$') => {
                    return Err(bad(format!(
                        "Query option '{name}' is not allowed. Make sure that it is supported."
                    )))
                }
                // Parameters without `$` that are not query options (e.g. tools adding their own) are ignored,
                // as Graph does.
                _ => {}
            }
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
    /// navigation properties; 400 on anything unknown.
    pub fn validate(&self, properties: &[&str], navigations: &[&str]) -> Result<(), ApiError> {
        let known = |p: &str| properties.iter().any(|k| k.eq_ignore_ascii_case(p));
        if let Some(filter) = &self.filter {
            let mut paths = Vec::new();
            filter.paths(&mut paths);
            for path in paths {
                let head = path.split('/').next().unwrap_or_default();
                if !known(head) {
                    return Err(bad(format!(
                        "Invalid filter clause: Could not find a property named '{head}' on this type."
                    )));
                }
            }
        }
        for p in self.select.iter().flatten() {
            if p != "*" && !known(p) && !navigations.iter().any(|n| n.eq_ignore_ascii_case(p)) {
                return Err(bad(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{p}' on this type."
                )));
            }
        }
        for e in &self.expand {
            let name = e.split('(').next().unwrap_or_default().trim();
            if name != "*" && !navigations.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return Err(bad(format!(
                    "Parsing OData Select and Expand failed: Could not find a navigation property named '{name}' on this type."
                )));
            }
        }
        for (p, _) in &self.order_by {
            if !known(p) {
                return Err(bad(format!(
                    "Invalid $orderby: Could not find a property named '{p}' on this type."
                )));
            }
        }
        Ok(())
    }

    pub fn expands(&self, navigation: &str) -> bool {
        self.expand.iter().any(|e| {
            let name = e.split('(').next().unwrap_or_default().trim();
            name == "*" || name.eq_ignore_ascii_case(navigation)
        })
    }

    pub fn matches(&self, item: &Value) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(item))
    }

    /// Applies `$select` (keeping `id` and `@odata.*` annotations, as Graph does).
    pub fn project(&self, item: Value) -> Value {
        let Some(select) = &self.select else {
            return item;
        };
        if select.iter().any(|s| s == "*") {
            return item;
        }
        match item {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(k, _)| {
                        k == "id"
                            || k.starts_with("@odata.")
                            || select.iter().any(|s| s.eq_ignore_ascii_case(k))
                            || self.expands(k)
                    })
                    .collect(),
            ),
            other => other,
        }
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

/// Percent-encodes a query component, leaving what OData URLs conventionally keep readable.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b','
            | b'('
            | b')'
            | b':'
            | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// $filter

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringFn {
    Contains,
    StartsWith,
    EndsWith,
}

/// A value-producing term: a property path (or lambda variable path), a literal, or `tolower`/`toupper`.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Path(String),
    Literal(Literal),
    /// `tolower(x)`/`toupper(x)`: comparisons are case-insensitive anyway, so these are identity.
    Case(Box<Term>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Term, CompareOp, Term),
    Function(StringFn, Term, Term),
    /// `collection/any(v: body)`; `body` None is `any()` (non-empty).
    Any {
        collection: String,
        variable: String,
        body: Option<Box<Expr>>,
    },
    /// `collection/$count op n` (e.g. `physicalIds/$count eq 0`).
    Count(String, CompareOp, f64),
}

impl Expr {
    /// Every property path the filter reads (lambda variables excluded).
    pub fn paths(&self, out: &mut Vec<String>) {
        fn term(t: &Term, vars: &[String], out: &mut Vec<String>) {
            match t {
                Term::Path(p) => {
                    let head = p.split('/').next().unwrap_or_default();
                    if !vars.iter().any(|v| v == head) {
                        out.push(p.clone());
                    }
                }
                Term::Case(inner) => term(inner, vars, out),
                Term::Literal(_) => {}
            }
        }
        fn walk(e: &Expr, vars: &mut Vec<String>, out: &mut Vec<String>) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, vars, out);
                    walk(b, vars, out);
                }
                Expr::Not(a) => walk(a, vars, out),
                Expr::Compare(a, _, b) | Expr::Function(_, a, b) => {
                    term(a, vars, out);
                    term(b, vars, out);
                }
                Expr::Any {
                    collection,
                    variable,
                    body,
                } => {
                    out.push(collection.clone());
                    if let Some(body) = body {
                        vars.push(variable.clone());
                        walk(body, vars, out);
                        vars.pop();
                    }
                }
                Expr::Count(collection, _, _) => out.push(collection.clone()),
            }
        }
        walk(self, &mut Vec::new(), out);
    }

    pub fn matches(&self, item: &Value) -> bool {
        eval(self, item, &HashMap::new())
    }

    /// A case-insensitive substring every match must contain in `property`, if the filter implies one
    /// (`contains(p,'x')`, `startswith(p,'x')`, `p eq 'x'`, possibly inside a top-level `and`). Used to push
    /// a cheap pre-filter down to the store; the full filter is still evaluated on the results.
    pub fn required_substring(&self, property: &str) -> Option<String> {
        match self {
            Expr::And(a, b) => a
                .required_substring(property)
                .or_else(|| b.required_substring(property)),
            Expr::Function(_, Term::Path(p), Term::Literal(Literal::String(s)))
                if p.eq_ignore_ascii_case(property) =>
            {
                Some(s.clone())
            }
            Expr::Compare(Term::Path(p), CompareOp::Eq, Term::Literal(Literal::String(s)))
            | Expr::Compare(Term::Literal(Literal::String(s)), CompareOp::Eq, Term::Path(p))
                if p.eq_ignore_ascii_case(property) =>
            {
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// The exact value `property` must equal, if the filter says so at the top level (`p eq 'x'`, possibly
    /// inside a top-level `and`).
    pub fn required_equal(&self, property: &str) -> Option<String> {
        match self {
            Expr::And(a, b) => a
                .required_equal(property)
                .or_else(|| b.required_equal(property)),
            Expr::Compare(Term::Path(p), CompareOp::Eq, Term::Literal(Literal::String(s)))
            | Expr::Compare(Term::Literal(Literal::String(s)), CompareOp::Eq, Term::Path(p))
                if p.eq_ignore_ascii_case(property) =>
            {
                Some(s.clone())
            }
            _ => None,
        }
    }

    pub fn mentions(&self, property: &str) -> bool {
        let mut paths = Vec::new();
        self.paths(&mut paths);
        paths.iter().any(|p| {
            p.split('/')
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case(property))
        })
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

fn resolve<'a>(term: &'a Term, item: &'a Value, vars: &HashMap<String, &'a Value>) -> Value {
    match term {
        Term::Literal(Literal::String(s)) => Value::String(s.clone()),
        Term::Literal(Literal::Number(n)) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Term::Literal(Literal::Bool(b)) => Value::Bool(*b),
        Term::Literal(Literal::Null) => Value::Null,
        Term::Case(inner) => resolve(inner, item, vars),
        Term::Path(path) => {
            let (head, rest) = path.split_once('/').unwrap_or((path, ""));
            if let Some(bound) = vars.get(head) {
                if rest.is_empty() {
                    (*bound).clone()
                } else {
                    lookup(bound, rest).clone()
                }
            } else {
                lookup(item, path).clone()
            }
        }
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase() == y.to_lowercase(),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        // Lenient: a number compared with a numeric string (clients quote numbers).
        (Value::Number(x), Value::String(y)) | (Value::String(y), Value::Number(x)) => {
            y.trim().parse::<f64>().ok() == x.as_f64()
        }
        (Value::Bool(x), Value::String(y)) | (Value::String(y), Value::Bool(x)) => {
            y.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        _ => a == b,
    }
}

fn eval<'a>(expr: &'a Expr, item: &'a Value, vars: &HashMap<String, &'a Value>) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, item, vars) && eval(b, item, vars),
        Expr::Or(a, b) => eval(a, item, vars) || eval(b, item, vars),
        Expr::Not(a) => !eval(a, item, vars),
        Expr::Compare(a, op, b) => {
            let (x, y) = (resolve(a, item, vars), resolve(b, item, vars));
            match op {
                CompareOp::Eq => equal(&x, &y),
                CompareOp::Ne => !equal(&x, &y),
                _ if x.is_null() || y.is_null() => false,
                CompareOp::Gt => compare_values(&x, &y) == Ordering::Greater,
                CompareOp::Ge => compare_values(&x, &y) != Ordering::Less,
                CompareOp::Lt => compare_values(&x, &y) == Ordering::Less,
                CompareOp::Le => compare_values(&x, &y) != Ordering::Greater,
            }
        }
        Expr::Function(function, a, b) => {
            let (Value::String(haystack), Value::String(needle)) =
                (resolve(a, item, vars), resolve(b, item, vars))
            else {
                return false;
            };
            let (haystack, needle) = (haystack.to_lowercase(), needle.to_lowercase());
            match function {
                StringFn::Contains => haystack.contains(&needle),
                StringFn::StartsWith => haystack.starts_with(&needle),
                StringFn::EndsWith => haystack.ends_with(&needle),
            }
        }
        Expr::Any {
            collection,
            variable,
            body,
        } => {
            let Value::Array(elements) = lookup(item, collection) else {
                return false;
            };
            match body {
                None => !elements.is_empty(),
                Some(body) => elements.iter().any(|element| {
                    let mut scoped = vars.clone();
                    scoped.insert(variable.clone(), element);
                    eval(body, item, &scoped)
                }),
            }
        }
        Expr::Count(collection, op, n) => {
            let len = match lookup(item, collection) {
                Value::Array(a) => a.len() as f64,
                _ => 0.0,
            };
            match op {
                CompareOp::Eq => len == *n,
                CompareOp::Ne => len != *n,
                CompareOp::Gt => len > *n,
                CompareOp::Ge => len >= *n,
                CompareOp::Lt => len < *n,
                CompareOp::Le => len <= *n,
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1
            }
            ':' => {
                tokens.push(Token::Colon);
                i += 1
            }
            '/' => {
                tokens.push(Token::Slash);
                i += 1
            }
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(bad(format!(
                                "Invalid filter clause: unterminated string literal in '{text}'."
                            )))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            value.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '-' | ':' | '+'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                // Numbers, and the unquoted GUID and DateTimeOffset literals OData allows.
                if let Ok(n) = word.parse::<f64>() {
                    tokens.push(Token::Num(n));
                } else if uuid::Uuid::parse_str(&word).is_ok()
                    || ztd_core::Timestamp::parse_rfc3339(&word).is_some()
                {
                    tokens.push(Token::Str(word));
                } else {
                    return Err(bad(format!(
                        "Invalid filter clause: '{word}' is not a valid literal."
                    )));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '@' || c == '$' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '_' | '.' | '-' | '@' | '$'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if uuid::Uuid::parse_str(&word).is_ok() {
                    tokens.push(Token::Str(word));
                } else {
                    tokens.push(Token::Ident(word));
                }
            }
            other => {
                return Err(bad(format!(
                    "Invalid filter clause: unexpected character '{other}' in '{text}'."
                )))
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    text: String,
}

/// Parses a `$filter` expression; errors are Graph's `Invalid filter clause` 400.
pub fn parse_filter(text: &str) -> Result<Expr, ApiError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        text: text.to_string(),
    };
    if parser.tokens.is_empty() {
        return Err(bad("Invalid filter clause: the filter is empty."));
    }
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(parser.error("unexpected input after the expression"));
    }
    Ok(expr)
}

impl Parser {
    fn error(&self, what: &str) -> ApiError {
        bad(format!(
            "Invalid filter clause: {what} (at token {} of '{}').",
            self.pos + 1,
            self.text
        ))
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), ApiError> {
        if self.peek() == Some(token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ApiError> {
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(&Token::RParen, "')'")?;
            return Ok(inner);
        }
        // Boolean functions.
        if let Some(Token::Ident(name)) = self.peek().cloned() {
            let function = match name.to_ascii_lowercase().as_str() {
                "contains" => Some(StringFn::Contains),
                "startswith" => Some(StringFn::StartsWith),
                "endswith" => Some(StringFn::EndsWith),
                _ => None,
            };
            if let Some(function) = function {
                if self.tokens.get(self.pos + 1) == Some(&Token::LParen) {
                    self.pos += 2;
                    let a = self.term()?;
                    self.expect(&Token::Comma, "','")?;
                    let b = self.term()?;
                    self.expect(&Token::RParen, "')'")?;
                    let call = Expr::Function(function, a, b);
                    // `contains(x,'y') eq true` is accepted too.
                    if let Some(op) = self.compare_op() {
                        let rhs = self.term()?;
                        return match (op, rhs) {
                            (CompareOp::Eq, Term::Literal(Literal::Bool(true)))
                            | (CompareOp::Ne, Term::Literal(Literal::Bool(false))) => Ok(call),
                            (CompareOp::Eq, Term::Literal(Literal::Bool(false)))
                            | (CompareOp::Ne, Term::Literal(Literal::Bool(true))) => {
                                Ok(Expr::Not(Box::new(call)))
                            }
                            _ => Err(self.error(
                                "a function result can only be compared with true or false",
                            )),
                        };
                    }
                    return Ok(call);
                }
            }
        }
        let left = self.term()?;
        // Lambda and $count on a collection path.
        if let Term::Path(path) = &left {
            if let Some(collection) = path.strip_suffix("/$count") {
                let op = self
                    .compare_op()
                    .ok_or_else(|| self.error("expected a comparison after /$count"))?;
                return match self.term()? {
                    Term::Literal(Literal::Number(n)) => {
                        Ok(Expr::Count(collection.to_string(), op, n))
                    }
                    _ => Err(self.error("/$count compares with a number")),
                };
            }
            let lower = path.to_ascii_lowercase();
            if lower.ends_with("/any") || lower.ends_with("/all") {
                let collection = path[..path.len() - 4].to_string();
                if lower.ends_with("/all") {
                    return Err(self.error("the 'all' operator is not supported; use 'any'"));
                }
                self.expect(&Token::LParen, "'(' after any")?;
                if self.peek() == Some(&Token::RParen) {
                    self.pos += 1;
                    return Ok(Expr::Any {
                        collection,
                        variable: String::new(),
                        body: None,
                    });
                }
                let variable = match self.peek().cloned() {
                    Some(Token::Ident(v)) => v,
                    _ => return Err(self.error("expected a lambda variable")),
                };
                self.pos += 1;
                self.expect(&Token::Colon, "':' after the lambda variable")?;
                let body = self.or()?;
                self.expect(&Token::RParen, "')'")?;
                return Ok(Expr::Any {
                    collection,
                    variable,
                    body: Some(Box::new(body)),
                });
            }
        }
        let op = self
            .compare_op()
            .ok_or_else(|| self.error("expected eq, ne, gt, ge, lt or le"))?;
        if matches!(self.peek(), Some(Token::Ident(w)) if ["in", "has"].contains(&w.to_ascii_lowercase().as_str()))
        {
            return Err(self.error("operator not supported"));
        }
        let right = self.term()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn compare_op(&mut self) -> Option<CompareOp> {
        let Some(Token::Ident(word)) = self.peek() else {
            return None;
        };
        let op = match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            "in" | "has" => return None,
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn term(&mut self) -> Result<Term, ApiError> {
        match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.pos += 1;
                Ok(Term::Literal(Literal::String(s)))
            }
            Some(Token::Num(n)) => {
                self.pos += 1;
                Ok(Term::Literal(Literal::Number(n)))
            }
            Some(Token::Ident(word)) => {
                self.pos += 1;
                match word.to_ascii_lowercase().as_str() {
                    "true" => return Ok(Term::Literal(Literal::Bool(true))),
                    "false" => return Ok(Term::Literal(Literal::Bool(false))),
                    "null" => return Ok(Term::Literal(Literal::Null)),
                    "tolower" | "toupper" | "trim" if self.peek() == Some(&Token::LParen) => {
                        self.pos += 1;
                        let inner = self.term()?;
                        self.expect(&Token::RParen, "')'")?;
                        return Ok(Term::Case(Box::new(inner)));
                    }
                    _ => {}
                }
                if self.peek() == Some(&Token::LParen) {
                    return Err(self.error(&format!("unknown function '{word}'")));
                }
                // Typed literal: `microsoft.graph.enrollmentState'enrolled'`.
                if let Some(Token::Str(s)) = self.peek().cloned() {
                    if word.contains('.') {
                        self.pos += 1;
                        return Ok(Term::Literal(Literal::String(s)));
                    }
                }
                let mut path = word;
                while self.peek() == Some(&Token::Slash) {
                    self.pos += 1;
                    match self.peek().cloned() {
                        Some(Token::Ident(next)) => {
                            self.pos += 1;
                            path.push('/');
                            path.push_str(&next);
                        }
                        _ => return Err(self.error("expected a property after '/'")),
                    }
                }
                Ok(Term::Path(path))
            }
            _ => Err(self.error("expected a property, a literal or a function")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: &str, item: &Value, expected: bool) {
        let expr = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {}", e.message));
        assert_eq!(expr.matches(item), expected, "{filter}");
    }

    #[test]
    fn filters_tools_send() {
        let device = json!({
            "serialNumber": "PF1-ABC DE", "groupTag": "Kiosk", "enrollmentState": "notContacted",
            "azureActiveDirectoryDeviceId": "8a114385-b11b-4dda-bc33-a8725775e27e", "deviceVersion": 2,
            "accountEnabled": false,
            "physicalIds": ["[ZTDID]:abc", "[OrderId]:Kiosk"]
        });
        let cases = [
            ("contains(serialNumber,'abc')", true),
            ("contains(serialNumber,'PF1-ABC DE')", true),
            ("contains(serialNumber, 'zzz')", false),
            ("startswith(serialNumber,'pf1')", true),
            ("endswith(serialNumber,'de')", true),
            ("serialNumber eq 'pf1-abc de'", true),
            ("serialNumber ne 'x'", true),
            ("groupTag eq 'Kiosk' and contains(serialNumber,'PF1')", true),
            (
                "groupTag eq 'Other' or enrollmentState eq 'notContacted'",
                true,
            ),
            ("not(groupTag eq 'Kiosk')", false),
            (
                "azureActiveDirectoryDeviceId eq '8a114385-b11b-4dda-bc33-a8725775e27e'",
                true,
            ),
            (
                "azureActiveDirectoryDeviceId eq 8a114385-b11b-4dda-bc33-a8725775e27e",
                true,
            ),
            ("physicalIds/any(p:p eq '[ZTDID]:abc')", true),
            ("physicalIds/any(p: startswith(p, '[ztdid]'))", true),
            ("physicalIds/any(p:p eq '[ZTDID]:zzz')", false),
            ("physicalIds/$count eq 0", false),
            ("deviceVersion ge 2", true),
            ("deviceVersion lt 2", false),
            ("accountEnabled eq false", true),
            ("contains(serialNumber,'abc') eq true", true),
            ("tolower(groupTag) eq 'kiosk'", true),
            ("groupTag eq 'O''Brien'", false),
        ];
        for (filter, expected) in cases {
            check(filter, &device, expected);
        }
    }

    #[test]
    fn bad_filters_are_graph_400s() {
        for filter in [
            "",
            "serialNumber",
            "serialNumber eq",
            "contains(serialNumber 'x')",
            "frobnicate(serialNumber,'x')",
            "serialNumber eq 'unterminated",
            "serialNumber in ('a','b')",
            "(serialNumber eq 'x'",
            "serialNumber eq 'x' extra",
        ] {
            let err = parse_filter(filter).expect_err(filter);
            assert_eq!(err.code, "BadRequest");
            assert!(
                err.message.starts_with("Invalid filter clause"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn unknown_properties_are_rejected() {
        let options = QueryOptions::parse(Some("$filter=contains(nope,'x')")).unwrap();
        assert!(options.validate(&["serialNumber"], &[]).is_err());
        let options = QueryOptions::parse(Some("$filter=contains(SERIALNUMBER,'x')")).unwrap();
        assert!(options.validate(&["serialNumber"], &[]).is_ok());
    }

    #[test]
    fn pushdown_hints() {
        let e = parse_filter("contains(serialNumber,'AB') and groupTag eq 'x'").unwrap();
        assert_eq!(e.required_substring("serialNumber").as_deref(), Some("AB"));
        let e = parse_filter("contains(serialNumber,'AB') or groupTag eq 'x'").unwrap();
        assert_eq!(e.required_substring("serialNumber"), None);
        let e = parse_filter("deviceId eq 'x'").unwrap();
        assert_eq!(e.required_equal("deviceid").as_deref(), Some("x"));
    }

    #[test]
    fn skip_tokens_round_trip_and_options_parse() {
        for token in [SkipToken::After("abc".into()), SkipToken::Offset(42)] {
            assert_eq!(SkipToken::decode(&token.encode()), Some(token));
        }
        let o = QueryOptions::parse(Some(
            "%24top=5&$select=id,serialNumber&$count=true&$orderby=serialNumber%20desc",
        ))
        .unwrap();
        assert_eq!(o.top, Some(5));
        assert!(o.count);
        assert_eq!(o.order_by, vec![("serialNumber".to_string(), true)]);
        assert!(QueryOptions::parse(Some("$top=0")).is_err());
        assert!(QueryOptions::parse(Some("$top=1000")).is_err());
        assert!(QueryOptions::parse(Some("$search=\"x\"")).is_err());
        assert_eq!(
            search_to_filter("\"deviceId:abc\"").unwrap(),
            "startswith(deviceId,'abc')"
        );
        assert_eq!(
            search_to_filter("\"displayName:o'k\" OR \"deviceId:1\"").unwrap(),
            "startswith(displayName,'o''k') or startswith(deviceId,'1')"
        );
        assert!(QueryOptions::parse(Some("$search=%22deviceId:abc%22"))
            .unwrap()
            .filter
            .is_some());
        assert!(search_to_filter("\"a:b\" AND").is_err());
        assert!(QueryOptions::parse(Some("$bogus=1")).is_err());
        assert!(QueryOptions::parse(Some("$skiptoken=!!")).is_err());
    }
}
