//! `$filter`: lexer, parser, syntax tree and evaluation over an entity's Graph JSON.
//!
//! String comparisons (`eq`, `ne`, `contains`, `startswith`, `endswith`) are case-insensitive, as Intune's
//! `contains()` and Entra's `eq` are. `and`/`or` chains are flat lists, so a long chain of clauses adds no
//! depth; nesting (parentheses, `not`, calls, lambdas) is counted and refused past
//! [`limits::MAX_DEPTH`](crate::limits::MAX_DEPTH).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::options::lookup;
use crate::{excerpt, limits, OdataError, OdataResult};

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

impl Literal {
    fn to_value(&self) -> Value {
        match self {
            Literal::String(s) => Value::String(s.clone()),
            Literal::Number(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
        }
    }
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
    /// `tolower(x)`/`toupper(x)`/`trim(x)`: comparisons are case-insensitive anyway, so these are identity.
    Case(Box<Term>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Every clause holds (two or more).
    And(Vec<Expr>),
    /// Some clause holds (two or more).
    Or(Vec<Expr>),
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

/// The evaluation work one request may still spend. Every node visited and every collection element
/// bound costs one step; running out is an error, never a stall.
#[derive(Clone, Copy, Debug)]
pub struct WorkBudget {
    remaining: u64,
}

impl WorkBudget {
    pub fn new(steps: u64) -> Self {
        Self { remaining: steps }
    }

    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    pub fn is_exhausted(&self) -> bool {
        self.remaining == 0
    }

    /// Takes up to `max` steps out of this budget for one item; [`WorkBudget::refund`] returns what is left.
    pub fn split(&mut self, max: u64) -> WorkBudget {
        let steps = max.min(self.remaining);
        self.remaining -= steps;
        WorkBudget::new(steps)
    }

    /// Returns the unspent part of a budget taken with [`WorkBudget::split`].
    pub fn refund(&mut self, unused: WorkBudget) {
        self.remaining += unused.remaining;
    }

    fn spend(&mut self) -> OdataResult<()> {
        match self.remaining.checked_sub(1) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(OdataError::too_complex(
                "The filter needs more work than one request may spend; narrow it (for example with a serial number or group tag).",
            )),
        }
    }
}

impl Expr {
    /// Every property path the filter reads (lambda variables excluded).
    pub fn paths(&self, out: &mut Vec<String>) {
        fn term(t: &Term, vars: &[&str], out: &mut Vec<String>) {
            match t {
                Term::Path(p) => {
                    let head = p.split('/').next().unwrap_or_default();
                    if !vars.contains(&head) {
                        out.push(p.clone());
                    }
                }
                Term::Case(inner) => term(inner, vars, out),
                Term::Literal(_) => {}
            }
        }
        fn walk<'a>(e: &'a Expr, vars: &mut Vec<&'a str>, out: &mut Vec<String>) {
            match e {
                Expr::And(items) | Expr::Or(items) => {
                    for item in items {
                        walk(item, vars, out);
                    }
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
                        vars.push(variable);
                        walk(body, vars, out);
                        vars.pop();
                    }
                }
                Expr::Count(collection, _, _) => out.push(collection.clone()),
            }
        }
        walk(self, &mut Vec::new(), out);
    }

    /// Whether `item` matches, spending from `budget`.
    pub fn evaluate(&self, item: &Value, budget: &mut WorkBudget) -> OdataResult<bool> {
        eval(self, item, &mut Vec::new(), budget)
    }

    /// Whether `item` matches, within the per-item budget.
    pub fn matches(&self, item: &Value) -> OdataResult<bool> {
        self.evaluate(item, &mut WorkBudget::new(limits::ITEM_WORK))
    }

    /// A case-insensitive substring every match must contain in `property`, if the filter implies one
    /// (`contains(p,'x')`, `startswith(p,'x')`, `p eq 'x'`, possibly inside a top-level `and`). Used to push
    /// a cheap pre-filter down to the store; the full filter is still evaluated on the results.
    pub fn required_substring(&self, property: &str) -> Option<String> {
        match self {
            Expr::And(items) => items.iter().find_map(|e| e.required_substring(property)),
            Expr::Function(_, Term::Path(p), Term::Literal(Literal::String(s)))
                if p.eq_ignore_ascii_case(property) =>
            {
                Some(s.clone())
            }
            _ => self.required_equal(property),
        }
    }

    /// The needle when the whole filter is `contains(property,'needle')`: a store that matches the same
    /// case-insensitive substring answers it exactly, and nothing is left to evaluate in memory.
    pub fn only_contains(&self, property: &str) -> Option<&str> {
        match self {
            Expr::Function(
                StringFn::Contains,
                Term::Path(p),
                Term::Literal(Literal::String(s)),
            ) if p.eq_ignore_ascii_case(property) => Some(s),
            _ => None,
        }
    }

    /// The exact value `property` must equal, if the filter says so at the top level (`p eq 'x'`, possibly
    /// inside a top-level `and`).
    pub fn required_equal(&self, property: &str) -> Option<String> {
        match self {
            Expr::And(items) => items.iter().find_map(|e| e.required_equal(property)),
            Expr::Compare(Term::Path(p), CompareOp::Eq, Term::Literal(Literal::String(s)))
            | Expr::Compare(Term::Literal(Literal::String(s)), CompareOp::Eq, Term::Path(p))
                if p.eq_ignore_ascii_case(property) =>
            {
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// Whether the filter reads `property` anywhere.
    pub fn mentions(&self, property: &str) -> bool {
        let mut paths = Vec::new();
        self.paths(&mut paths);
        paths.iter().any(|p| {
            p.split('/')
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case(property))
        })
    }

    /// Both filters must hold.
    pub fn and(self, other: Expr) -> Expr {
        match self {
            Expr::And(mut items) => {
                items.push(other);
                Expr::And(items)
            }
            first => Expr::And(vec![first, other]),
        }
    }
}

/// Variables bound by enclosing lambdas, innermost last.
type Scope<'a> = Vec<(&'a str, &'a Value)>;

fn resolve<'a>(term: &'a Term, item: &'a Value, vars: &Scope<'a>) -> Cow<'a, Value> {
    match term {
        Term::Literal(literal) => Cow::Owned(literal.to_value()),
        Term::Case(inner) => resolve(inner, item, vars),
        Term::Path(path) => {
            let (head, rest) = path.split_once('/').unwrap_or((path, ""));
            match vars.iter().rev().find(|(name, _)| *name == head) {
                Some((_, bound)) if rest.is_empty() => Cow::Borrowed(*bound),
                Some((_, bound)) => Cow::Borrowed(lookup(bound, rest)),
                None => Cow::Borrowed(lookup(item, path)),
            }
        }
    }
}

/// The `$orderby` ordering of two values (case-insensitive for strings, nulls first).
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
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

fn eval<'a>(
    expr: &'a Expr,
    item: &'a Value,
    vars: &mut Scope<'a>,
    budget: &mut WorkBudget,
) -> OdataResult<bool> {
    budget.spend()?;
    Ok(match expr {
        Expr::And(items) => {
            for e in items {
                if !eval(e, item, vars, budget)? {
                    return Ok(false);
                }
            }
            true
        }
        Expr::Or(items) => {
            for e in items {
                if eval(e, item, vars, budget)? {
                    return Ok(true);
                }
            }
            false
        }
        Expr::Not(a) => !eval(a, item, vars, budget)?,
        Expr::Compare(a, op, b) => {
            let (x, y) = (resolve(a, item, vars), resolve(b, item, vars));
            let (x, y) = (x.as_ref(), y.as_ref());
            match op {
                CompareOp::Eq => equal(x, y),
                CompareOp::Ne => !equal(x, y),
                _ if x.is_null() || y.is_null() => false,
                CompareOp::Gt => compare_values(x, y) == Ordering::Greater,
                CompareOp::Ge => compare_values(x, y) != Ordering::Less,
                CompareOp::Lt => compare_values(x, y) == Ordering::Less,
                CompareOp::Le => compare_values(x, y) != Ordering::Greater,
            }
        }
        Expr::Function(function, a, b) => {
            let (haystack, needle) = (resolve(a, item, vars), resolve(b, item, vars));
            let (Value::String(haystack), Value::String(needle)) =
                (haystack.as_ref(), needle.as_ref())
            else {
                return Ok(false);
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
            let elements = match resolve_collection(collection, item, vars) {
                Some(elements) => elements,
                None => return Ok(false),
            };
            match body {
                None => !elements.is_empty(),
                Some(body) => {
                    let mut found = false;
                    for element in elements {
                        budget.spend()?;
                        vars.push((variable.as_str(), element));
                        let matched = eval(body, item, vars, budget);
                        vars.pop();
                        if matched? {
                            found = true;
                            break;
                        }
                    }
                    found
                }
            }
        }
        Expr::Count(collection, op, n) => {
            let len = resolve_collection(collection, item, vars).map_or(0, Vec::len) as f64;
            match op {
                CompareOp::Eq => len == *n,
                CompareOp::Ne => len != *n,
                CompareOp::Gt => len > *n,
                CompareOp::Ge => len >= *n,
                CompareOp::Lt => len < *n,
                CompareOp::Le => len <= *n,
            }
        }
    })
}

/// The elements of a collection path, which may start at a lambda variable.
fn resolve_collection<'a>(
    path: &'a str,
    item: &'a Value,
    vars: &Scope<'a>,
) -> Option<&'a Vec<Value>> {
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    let value = match vars.iter().rev().find(|(name, _)| *name == head) {
        Some((_, bound)) if rest.is_empty() => *bound,
        Some((_, bound)) => lookup(bound, rest),
        None => lookup(item, path),
    };
    value.as_array()
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

fn invalid(what: impl std::fmt::Display) -> OdataError {
    OdataError::invalid(format!("Invalid filter clause: {what}"))
}

fn is_datetime(word: &str) -> bool {
    time::OffsetDateTime::parse(word, &time::format_description::well_known::Rfc3339).is_ok()
}

fn tokenize(text: &str) -> OdataResult<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let single = match c {
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            ',' => Some(Token::Comma),
            ':' => Some(Token::Colon),
            '/' => Some(Token::Slash),
            _ => None,
        };
        if let Some(token) = single {
            tokens.push(token);
            i += 1;
            continue;
        }
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(invalid("unterminated string literal.")),
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
                } else if uuid::Uuid::parse_str(&word).is_ok() || is_datetime(&word) {
                    tokens.push(Token::Str(word));
                } else {
                    return Err(invalid(format!(
                        "'{}' is not a valid literal.",
                        excerpt(&word, 40)
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
                return Err(invalid(format!(
                    "unexpected character '{}'.",
                    excerpt(&other.to_string(), 1)
                )))
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting (parentheses, `not`, calls, lambdas).
    depth: usize,
    /// Lambdas open around the current position.
    lambdas: usize,
    /// Nodes built so far.
    nodes: usize,
}

/// Parses a `$filter` expression; errors carry Graph's `Invalid filter clause` wording.
pub fn parse_filter(text: &str) -> OdataResult<Expr> {
    if text.len() > limits::MAX_FILTER_BYTES {
        return Err(OdataError::too_complex(format!(
            "Invalid filter clause: the filter is {} bytes long; at most {} are accepted.",
            text.len(),
            limits::MAX_FILTER_BYTES
        )));
    }
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        depth: 0,
        lambdas: 0,
        nodes: 0,
    };
    if parser.tokens.is_empty() {
        return Err(invalid("the filter is empty."));
    }
    let expr = parser.or()?;
    if parser.pos != parser.tokens.len() {
        return Err(parser.error("unexpected input after the expression"));
    }
    Ok(expr)
}

impl Parser {
    fn error(&self, what: &str) -> OdataError {
        invalid(format!("{what} (at token {}).", self.pos + 1))
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: &Token, what: &str) -> OdataResult<()> {
        if self.peek() == Some(token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    /// Enters one level of nesting; refuses past the limit.
    fn enter(&mut self) -> OdataResult<()> {
        self.depth += 1;
        if self.depth > limits::MAX_DEPTH {
            return Err(OdataError::too_complex(format!(
                "Invalid filter clause: the filter nests deeper than {} levels.",
                limits::MAX_DEPTH
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn node(&mut self) -> OdataResult<()> {
        self.nodes += 1;
        if self.nodes > limits::MAX_NODES {
            return Err(OdataError::too_complex(format!(
                "Invalid filter clause: the filter has more than {} clauses and operators.",
                limits::MAX_NODES
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> OdataResult<Expr> {
        let first = self.and()?;
        if !self.keyword("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.keyword("or") {
            self.pos += 1;
            self.node()?;
            items.push(self.and()?);
        }
        Ok(Expr::Or(items))
    }

    fn and(&mut self) -> OdataResult<Expr> {
        let first = self.unary()?;
        if !self.keyword("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.keyword("and") {
            self.pos += 1;
            self.node()?;
            items.push(self.unary()?);
        }
        Ok(Expr::And(items))
    }

    fn unary(&mut self) -> OdataResult<Expr> {
        if self.keyword("not") {
            self.pos += 1;
            self.node()?;
            self.enter()?;
            let inner = self.unary();
            self.leave();
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> OdataResult<Expr> {
        self.node()?;
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            self.enter()?;
            let inner = self.or();
            self.leave();
            let inner = inner?;
            self.expect(&Token::RParen, "')'")?;
            return Ok(inner);
        }
        // Boolean functions.
        if let Some(Token::Ident(name)) = self.peek() {
            let function = match name.to_ascii_lowercase().as_str() {
                "contains" => Some(StringFn::Contains),
                "startswith" => Some(StringFn::StartsWith),
                "endswith" => Some(StringFn::EndsWith),
                _ => None,
            };
            if let Some(function) = function {
                if self.tokens.get(self.pos + 1) == Some(&Token::LParen) {
                    return self.function_call(function);
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
                if lower.ends_with("/all") {
                    return Err(self.error("the 'all' operator is not supported; use 'any'"));
                }
                let collection = path[..path.len() - 4].to_string();
                return self.lambda(collection);
            }
        }
        let op = self
            .compare_op()
            .ok_or_else(|| self.error("expected eq, ne, gt, ge, lt or le"))?;
        let right = self.term()?;
        Ok(Expr::Compare(left, op, right))
    }

    /// `contains(a, b)` and friends, optionally compared with `true`/`false`.
    fn function_call(&mut self, function: StringFn) -> OdataResult<Expr> {
        self.pos += 2;
        self.enter()?;
        let args = self.term().and_then(|a| {
            self.expect(&Token::Comma, "','")?;
            Ok((a, self.term()?))
        });
        self.leave();
        let (a, b) = args?;
        self.expect(&Token::RParen, "')'")?;
        let call = Expr::Function(function, a, b);
        // `contains(x,'y') eq true` is accepted too.
        let Some(op) = self.compare_op() else {
            return Ok(call);
        };
        match (op, self.term()?) {
            (CompareOp::Eq, Term::Literal(Literal::Bool(true)))
            | (CompareOp::Ne, Term::Literal(Literal::Bool(false))) => Ok(call),
            (CompareOp::Eq, Term::Literal(Literal::Bool(false)))
            | (CompareOp::Ne, Term::Literal(Literal::Bool(true))) => Ok(Expr::Not(Box::new(call))),
            _ => Err(self.error("a function result can only be compared with true or false")),
        }
    }

    /// `collection/any(v: body)` or `collection/any()`.
    fn lambda(&mut self, collection: String) -> OdataResult<Expr> {
        self.expect(&Token::LParen, "'(' after any")?;
        if self.peek() == Some(&Token::RParen) {
            self.pos += 1;
            return Ok(Expr::Any {
                collection,
                variable: String::new(),
                body: None,
            });
        }
        let variable = match self.peek() {
            Some(Token::Ident(v)) => v.clone(),
            _ => return Err(self.error("expected a lambda variable")),
        };
        self.pos += 1;
        self.expect(&Token::Colon, "':' after the lambda variable")?;
        self.lambdas += 1;
        if self.lambdas > limits::MAX_LAMBDA_DEPTH {
            return Err(OdataError::too_complex(format!(
                "Invalid filter clause: lambdas nest at most {} deep.",
                limits::MAX_LAMBDA_DEPTH
            )));
        }
        self.enter()?;
        let body = self.or();
        self.leave();
        self.lambdas -= 1;
        let body = body?;
        self.expect(&Token::RParen, "')'")?;
        Ok(Expr::Any {
            collection,
            variable,
            body: Some(Box::new(body)),
        })
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
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn term(&mut self) -> OdataResult<Term> {
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
                        self.enter()?;
                        let inner = self.term();
                        self.leave();
                        let inner = inner?;
                        self.expect(&Token::RParen, "')'")?;
                        return Ok(Term::Case(Box::new(inner)));
                    }
                    _ => {}
                }
                if self.peek() == Some(&Token::LParen) {
                    return Err(self.error(&format!("unknown function '{}'", excerpt(&word, 40))));
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
                    match self.peek() {
                        Some(Token::Ident(next)) => {
                            path.push('/');
                            path.push_str(next);
                            self.pos += 1;
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
