//! Recursive-descent parser with the typed validation pass applied at each comparison, where
//! the positions of property, operator and value are at hand for the error message.

use crate::ast::{CmpOp, Expr, Item, Quantifier, Subject, Value};
use crate::error::{RuleError, RuleErrorKind as K, Warning};
use crate::lexer::{lex, op_name, OpName, Tok, Token};
use crate::property::{Dialect, Property, PropertyKind};

/// Entra's limit on the rule body, counted in Unicode scalar values, inclusive.
pub const MAX_RULE_CHARS: usize = 3072;
/// Parentheses plus `-not` nesting; deeper rules are refused so evaluation cannot overflow the stack.
pub const MAX_NESTING: usize = 100;
/// Entra: at most 50 groups in one memberOf rule.
pub const MAX_MEMBER_OF_GROUPS: usize = 50;

pub(crate) struct Parsed {
    pub expr: Expr,
    pub warnings: Vec<Warning>,
}

pub(crate) fn parse_rule(text: &str, dialect: Dialect) -> Result<Parsed, RuleError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_RULE_CHARS {
        return Err(RuleError::at(
            K::LengthExceeded,
            format!(
                "Rule exceeds maximum allowed length: {} characters (limit {MAX_RULE_CHARS})",
                chars.len()
            ),
            MAX_RULE_CHARS,
            &chars,
        ));
    }
    let mut warnings = Vec::new();
    let toks = lex(&chars, &mut warnings)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        chars: &chars,
        warnings,
        member_of: Vec::new(),
        dialect,
    };
    if p.peek().tok == Tok::Eof {
        return Err(p.err(
            K::Syntax,
            "empty rule: expected an expression such as device.deviceOSType -eq \"Windows\"",
            0,
        ));
    }
    let expr = p.parse_or(false)?;
    let t = p.peek().clone();
    if t.tok != Tok::Eof {
        let msg = match &t.tok {
            Tok::RParen => "unmatched ')'".to_string(),
            _ => format!(
                "Query compilation error: expected -and, -or or the end of the rule, found {}",
                describe(&t.tok)
            ),
        };
        return Err(p.err(K::Syntax, msg, t.start));
    }
    if let Some(&pos) = p.member_of.first() {
        if !matches!(expr, Expr::MemberOf { .. }) {
            return Err(p.err(
                K::MemberOfRestriction,
                "memberOf cannot be combined with other conditions or negated: \
                 device.memberOf -any (group.objectId -in [...]) must be the whole rule",
                pos,
            ));
        }
    }
    Ok(Parsed {
        expr,
        warnings: p.warnings,
    })
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Comma => "','".into(),
        Tok::Dot => "'.'".into(),
        Tok::Op(o) => format!("operator {}", op_text(*o)),
        Tok::Word(w) => format!("'{w}'"),
        Tok::DqString(s) => format!("string {s:?}"),
        Tok::SqString(s) => format!("string '{s}'"),
        Tok::Number(n) => format!("number {n}"),
        Tok::DollarNull => "$null".into(),
        Tok::Eof => "the end of the rule".into(),
    }
}

fn op_text(o: OpName) -> &'static str {
    match o {
        OpName::Cmp(c) => c.as_str(),
        OpName::Any => "-any",
        OpName::All => "-all",
        OpName::And => "-and",
        OpName::Or => "-or",
        OpName::Not => "-not",
        OpName::Le => "-le",
        OpName::Ge => "-ge",
    }
}

/// Names used by other Microsoft rule languages (CA filters, Intune filters, Graph).
fn suggestion(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "operatingsystem" | "ostype" => "deviceOSType",
        "operatingsystemversion" | "osversion" => "deviceOSVersion",
        "model" => "deviceModel",
        "manufacturer" => "deviceManufacturer",
        "trusttype" => "deviceTrustType",
        "physicalids" => "devicePhysicalIds",
        "devicename" | "name" => "displayName",
        "mdmappid" => "deviceManagementAppId",
        "id" => "objectId",
        "memberof" => "memberOf",
        _ => return None,
    })
}

enum Raw {
    Value(Value),
    Number(String),
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    chars: &'a [char],
    warnings: Vec<Warning>,
    member_of: Vec<usize>,
    dialect: Dialect,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `bump` never passes it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err(&self, kind: K, msg: impl Into<String>, pos: usize) -> RuleError {
        RuleError::at(kind, msg, pos, self.chars)
    }

    /// The operator at the cursor: `-name`, or a bare name with whitespace on both sides.
    fn op_here(&self) -> Option<OpName> {
        let t = self.peek();
        match &t.tok {
            Tok::Op(o) => Some(*o),
            Tok::Word(w) if t.ws_before && t.ws_after => op_name(w),
            _ => None,
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), RuleError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(
                K::NestingTooDeep,
                format!("rule nests parentheses/-not deeper than {MAX_NESTING} levels"),
                pos,
            ));
        }
        Ok(())
    }

    fn expect_rparen(&mut self, open: usize) -> Result<(), RuleError> {
        let t = self.peek().clone();
        if t.tok == Tok::RParen {
            self.bump();
            return Ok(());
        }
        let (line, col) = {
            let e = self.err(K::Syntax, "", open);
            (e.line, e.column)
        };
        Err(self.err(
            K::Syntax,
            format!(
                "expected ')' to close the '(' at line {line}, column {col}, found {}",
                describe(&t.tok)
            ),
            t.start,
        ))
    }

    fn parse_or(&mut self, item: bool) -> Result<Expr, RuleError> {
        let mut v = vec![self.parse_and(item)?];
        while self.op_here() == Some(OpName::Or) {
            self.bump();
            v.push(self.parse_and(item)?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn parse_and(&mut self, item: bool) -> Result<Expr, RuleError> {
        let mut v = vec![self.parse_not(item)?];
        while self.op_here() == Some(OpName::And) {
            self.bump();
            v.push(self.parse_not(item)?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn parse_not(&mut self, item: bool) -> Result<Expr, RuleError> {
        if self.op_here() == Some(OpName::Not) {
            let t = self.bump();
            self.enter(t.start)?;
            let x = self.parse_not(item)?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(x)));
        }
        self.parse_primary(item)
    }

    fn parse_primary(&mut self, item: bool) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.bump();
                self.enter(t.start)?;
                let e = self.parse_or(item)?;
                self.expect_rparen(t.start)?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Word(w) if w == "_" => {
                if !item {
                    return Err(self.err(K::Syntax, "'_' can only be used inside an -any/-all condition", t.start));
                }
                self.bump();
                self.parse_comparison(Subject::Item, t.start, "_".into())
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("device") => {
                self.bump();
                let prop = self.parse_property_name(t.start)?;
                if item {
                    return Err(self.err(
                        K::Syntax,
                        format!("inside an -any/-all condition only '_' (the current item) can be referenced, found {prop}"),
                        t.start,
                    ));
                }
                self.parse_property_expr(prop, t.start)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("user") => Err(self.err(
                K::MixedObjectTypes,
                "user properties cannot be used in a device rule (a rule cannot mix user and device properties)",
                t.start,
            )),
            Tok::Word(w) if w.eq_ignore_ascii_case("group") => Err(self.err(
                K::MemberOfRestriction,
                "group.objectId is only valid inside device.memberOf -any (group.objectId -in [...])",
                t.start,
            )),
            Tok::Word(w) if w.eq_ignore_ascii_case("direct") => Err(self.err(
                K::Syntax,
                "Direct Reports rules are only valid for user groups, not in device rules",
                t.start,
            )),
            Tok::Word(w) if Property::lookup_in(self.dialect, w).is_some() => {
                let name = Property::lookup_in(self.dialect, w).map_or("", |p| p.name());
                Err(self.err(K::Syntax, format!("missing object prefix: write device.{name}"), t.start))
            }
            Tok::Word(w) if op_name(w).is_some() => Err(self.err(
                K::Syntax,
                format!("expected an expression, found '{w}' (an operator without its hyphen must be surrounded by spaces; write -{w})"),
                t.start,
            )),
            Tok::Word(w) => Err(self.err(K::Syntax, format!("expected device.<property>, found '{w}'"), t.start)),
            Tok::Eof => Err(self.err(K::Syntax, "unexpected end of rule: expected an expression", t.start)),
            Tok::RParen => Err(self.err(K::Syntax, "expected an expression, found ')'", t.start)),
            Tok::DqString(_) | Tok::SqString(_) | Tok::Number(_) | Tok::DollarNull => Err(self.err(
                K::Syntax,
                format!("expected device.<property>, found {} (the property must come first in an expression)", describe(&t.tok)),
                t.start,
            )),
            other => Err(self.err(K::Syntax, format!("expected an expression, found {}", describe(other)), t.start)),
        }
    }

    /// After `device`: `.name`.
    fn parse_property_name(&mut self, device_pos: usize) -> Result<Property, RuleError> {
        let dot = self.peek().clone();
        if dot.tok != Tok::Dot {
            return Err(self.err(
                K::Syntax,
                format!(
                    "expected '.' and a property name after 'device', found {}",
                    describe(&dot.tok)
                ),
                dot.start,
            ));
        }
        self.bump();
        let t = self.peek().clone();
        let Tok::Word(name) = &t.tok else {
            return Err(self.err(
                K::Syntax,
                format!(
                    "expected a property name after 'device.', found {}",
                    describe(&t.tok)
                ),
                t.start,
            ));
        };
        self.bump();
        if self.dialect == Dialect::Filter {
            return Property::lookup_in(Dialect::Filter, name).ok_or_else(|| {
                let supported: Vec<&str> = Property::all_in(Dialect::Filter).map(|p| p.name()).collect();
                self.err(
                    K::UnknownAttribute,
                    format!(
                        "Attribute not supported: device.{name} is not a property ztd evaluates in a windows10AndLater assignment filter; the supported properties are {}",
                        supported.join(", ")
                    ),
                    device_pos,
                )
            });
        }
        Property::lookup(name).ok_or_else(|| {
            let hint = suggestion(name)
                .map(|s| format!("; did you mean device.{s}?"))
                .unwrap_or_default();
            self.err(
                K::UnknownAttribute,
                format!("Attribute not supported: device.{name} is not a device property{hint}"),
                device_pos,
            )
        })
    }

    fn parse_property_expr(&mut self, prop: Property, prop_pos: usize) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        match self.op_here() {
            Some(q @ (OpName::Any | OpName::All)) => {
                let quantifier = if q == OpName::Any {
                    Quantifier::Any
                } else {
                    Quantifier::All
                };
                match prop.kind() {
                    PropertyKind::StringCollection => {
                        self.bump();
                        let body = self.parse_lambda()?;
                        Ok(Expr::Quantified { property: prop, quantifier, body: Box::new(body) })
                    }
                    PropertyKind::MemberOf => {
                        if quantifier == Quantifier::All {
                            return Err(self.err(
                                K::MemberOfRestriction,
                                "Invalid operands found for operator -all: memberOf supports only device.memberOf -any (group.objectId -in [...])",
                                t.start,
                            ));
                        }
                        self.bump();
                        self.member_of.push(prop_pos);
                        self.parse_member_of()
                    }
                    _ => Err(self.err(
                        K::OperatorNotSupported,
                        format!("Invalid operands found for operator {}: {prop} is single-valued (only devicePhysicalIds and systemLabels take -any/-all)", quantifier.as_str()),
                        t.start,
                    )),
                }
            }
            _ if prop.kind() == PropertyKind::MemberOf => Err(self.err(
                K::MemberOfRestriction,
                "memberOf supports only device.memberOf -any (group.objectId -in [...])",
                t.start,
            )),
            _ => self.parse_comparison(Subject::Property(prop), prop_pos, prop.to_string()),
        }
    }

    /// Body of `-any`/`-all`: `( ... )` or a single unparenthesised `_ op value`.
    fn parse_lambda(&mut self) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.bump();
                self.enter(t.start)?;
                let e = self.parse_or(true)?;
                self.expect_rparen(t.start)?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Word(w) if w == "_" => {
                self.bump();
                let e = self.parse_comparison(Subject::Item, t.start, "_".into())?;
                if let Some(o @ (OpName::And | OpName::Or)) = self.op_here() {
                    let at = self.peek().start;
                    return Err(self.err(
                        K::AmbiguousQuantifierBody,
                        format!("ambiguous {} after an unparenthesised -any/-all condition: parenthesize the -any/-all condition, e.g. -any (_ -eq \"a\")", op_text(o)),
                        at,
                    ));
                }
                Ok(e)
            }
            other => Err(self.err(
                K::Syntax,
                format!(
                    "expected '(' or '_' after -any/-all, found {}",
                    describe(other)
                ),
                t.start,
            )),
        }
    }

    fn parse_member_of(&mut self) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        if t.tok != Tok::LParen {
            return Err(self.err(
                K::MemberOfRestriction,
                format!(
                    "expected '(' after device.memberOf -any, found {}",
                    describe(&t.tok)
                ),
                t.start,
            ));
        }
        self.bump();
        let g = self.bump();
        if !matches!(&g.tok, Tok::Word(w) if w.eq_ignore_ascii_case("group")) {
            return Err(self.err(
                K::MemberOfRestriction,
                format!(
                    "Wrong property applied: expected group.objectId, found {}",
                    describe(&g.tok)
                ),
                g.start,
            ));
        }
        let d = self.bump();
        if d.tok != Tok::Dot {
            return Err(self.err(
                K::Syntax,
                format!("expected '.' after 'group', found {}", describe(&d.tok)),
                d.start,
            ));
        }
        let o = self.bump();
        match &o.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("objectId") => {}
            Tok::Word(w) => {
                return Err(self.err(
                    K::MemberOfRestriction,
                    format!(
                        "Property '{w}' cannot be applied to object 'Group' (only group.objectId)"
                    ),
                    o.start,
                ))
            }
            other => {
                return Err(self.err(
                    K::Syntax,
                    format!(
                        "expected objectId after 'group.', found {}",
                        describe(other)
                    ),
                    o.start,
                ))
            }
        }
        let op = self.peek().clone();
        if self.op_here() != Some(OpName::Cmp(CmpOp::In)) {
            return Err(self.err(
                K::MemberOfRestriction,
                format!(
                    "memberOf supports only group.objectId -in [...], found {}",
                    describe(&op.tok)
                ),
                op.start,
            ));
        }
        self.bump();
        let at = self.peek().start;
        let items = match self.parse_value()? {
            Raw::Value(Value::Array(items)) => items,
            _ => {
                return Err(self.err(
                    K::InvalidValue,
                    "group.objectId -in needs an array of group ids, e.g. ['<groupId>']",
                    at,
                ))
            }
        };
        let mut groups = Vec::with_capacity(items.len());
        for it in items {
            match it {
                Item::String(s) => groups.push(s),
                Item::Number(n) => {
                    return Err(self.err(
                        K::InvalidValue,
                        format!("group ids must be quoted strings, found number {n}"),
                        at,
                    ))
                }
            }
        }
        if groups.len() > MAX_MEMBER_OF_GROUPS {
            return Err(self.err(
                K::MemberOfRestriction,
                format!(
                    "memberOf rule lists {} groups; the limit is {MAX_MEMBER_OF_GROUPS}",
                    groups.len()
                ),
                at,
            ));
        }
        let close = self.peek().start;
        self.expect_rparen(close)?;
        Ok(Expr::MemberOf { groups })
    }

    fn parse_value(&mut self) -> Result<Raw, RuleError> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::DqString(s) => Raw::Value(Value::String(s)),
            Tok::SqString(_) => {
                return Err(self.err(K::InvalidValue, "single-quoted strings are only allowed as -in/-notIn array items; use double quotes", t.start))
            }
            Tok::DollarNull => Raw::Value(Value::Null),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Raw::Value(Value::Null),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Raw::Value(Value::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Raw::Value(Value::Bool(false)),
            Tok::Word(w) => {
                return Err(self.err(K::Syntax, format!("unquoted value '{w}': string values must be in double quotes (\"{w}\")"), t.start))
            }
            Tok::Number(n) => Raw::Number(n),
            Tok::LBracket => {
                let mut items = Vec::new();
                loop {
                    let it = self.bump();
                    match it.tok {
                        Tok::DqString(s) | Tok::SqString(s) => items.push(Item::String(s)),
                        Tok::Number(n) => items.push(Item::Number(n)),
                        Tok::RBracket if items.is_empty() => {
                            return Err(self.err(K::InvalidValue, "empty array: -in/-notIn need at least one value", t.start))
                        }
                        other => {
                            return Err(self.err(K::Syntax, format!("expected a quoted string or number in the array, found {}", describe(&other)), it.start))
                        }
                    }
                    let sep = self.bump();
                    match sep.tok {
                        Tok::Comma => continue,
                        Tok::RBracket => break,
                        other => {
                            return Err(self.err(K::Syntax, format!("expected ',' or ']' in the array, found {}", describe(&other)), sep.start))
                        }
                    }
                }
                Raw::Value(Value::Array(items))
            }
            other => return Err(self.err(K::Syntax, format!("expected a value (a \"string\", true, false, null or [array]), found {}", describe(&other)), t.start)),
        })
    }

    /// `subject op value` and its typed validation.
    fn parse_comparison(
        &mut self,
        subject: Subject,
        subj_pos: usize,
        subj_text: String,
    ) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        let op = match self.op_here() {
            Some(OpName::Cmp(op)) => op,
            Some(OpName::Le | OpName::Ge) => {
                return Err(self.err(
                    K::OperatorNotSupported,
                    format!("Operator isn't supported on attribute: {} is only supported on user.employeeHireDate, not on {subj_text}", describe(&t.tok).trim_start_matches("operator ")),
                    t.start,
                ))
            }
            Some(o @ (OpName::Any | OpName::All)) => {
                return Err(self.err(K::OperatorNotSupported, format!("Invalid operands found for operator {}: {subj_text} is a single value", op_text(o)), t.start))
            }
            Some(OpName::Not) => {
                return Err(self.err(K::Syntax, format!("expected a comparison operator after {subj_text}, found -not (for 'not null' write -ne null)"), t.start))
            }
            Some(o) => {
                return Err(self.err(K::Syntax, format!("expected a comparison operator after {subj_text}, found {}", op_text(o)), t.start))
            }
            None => {
                let msg = match &t.tok {
                    Tok::Word(w) if op_name(w).is_some() => {
                        format!("operator '{w}' without its hyphen must be surrounded by spaces (or write -{w})")
                    }
                    other => format!("expected a comparison operator such as -eq after {subj_text}, found {}", describe(other)),
                };
                return Err(self.err(K::Syntax, msg, t.start));
            }
        };
        self.bump();
        let vpos = self.peek().start;
        let raw = self.parse_value()?;
        let value = self.validate(subject, op, raw, subj_pos, t.start, vpos)?;
        Ok(Expr::Compare { subject, op, value })
    }

    /// The typed validation pass: operator valid for the type, value valid for the operator.
    fn validate(
        &mut self,
        subject: Subject,
        op: CmpOp,
        raw: Raw,
        subj_pos: usize,
        op_pos: usize,
        vpos: usize,
    ) -> Result<Value, RuleError> {
        let kind = match subject {
            Subject::Property(p) => p.kind(),
            Subject::Item => PropertyKind::String,
        };
        let name = subject.to_string();
        let value = match raw {
            Raw::Number(n) => {
                return Err(self.err(K::InvalidValue, format!("Value can't be applied to property: number {n} can only be an item of an -in/-notIn array; quote it (\"{n}\")"), vpos))
            }
            Raw::Value(v) => v,
        };
        if kind == PropertyKind::Boolean {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(self.err(K::OperatorNotSupported, format!("Operator isn't supported on attribute: {} on boolean {name} (use -eq or -ne)", op.as_str()), op_pos));
            }
            return match value {
                Value::Bool(_) | Value::Null => Ok(value),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
                _ => Err(self.err(K::InvalidValue, format!("Value can't be applied to property: {name} is boolean; compare it with true, false or null"), vpos)),
            };
        }
        match (&value, op.takes_array()) {
            (Value::Array(_), false) => {
                return Err(self.err(K::InvalidValue, format!("Value can't be applied to property: an array needs -in or -notIn, not {}", op.as_str()), vpos))
            }
            (Value::Array(_), true) => {}
            (_, true) => {
                return Err(self.err(K::InvalidValue, format!("{} needs an array value, e.g. [\"a\", \"b\"]", op.as_str()), vpos))
            }
            (Value::Bool(b), false) => {
                return Err(self.err(K::InvalidValue, format!("Value can't be applied to property: {name} is a string; quote the value (\"{b}\")"), vpos))
            }
            (Value::Null, false) => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.err(K::InvalidValue, format!("null can only be compared with -eq or -ne, not {}", op.as_str()), vpos));
                }
                if kind == PropertyKind::StringCollection {
                    return Err(self.err(K::InvalidValue, format!("{name} is multi-valued and never null; test its items with -any/-all"), vpos));
                }
            }
            (Value::String(s), false) => {
                if matches!(op, CmpOp::Match | CmpOp::NotMatch) {
                    if let Err(m) = crate::regex_check::compile(s) {
                        return Err(self.err(K::InvalidRegex, m, vpos));
                    }
                }
            }
        }
        if let Subject::Property(p) = subject {
            let operators = p.operators();
            if !operators.is_empty() && !operators.contains(&op) {
                let names: Vec<&str> = operators.iter().map(|o| o.as_str()).collect();
                return Err(self.err(
                    K::OperatorNotSupported,
                    format!(
                        "Operator isn't supported on attribute: {} on {p}; it takes {}",
                        op.as_str(),
                        names.join(", ")
                    ),
                    op_pos,
                ));
            }
            if kind == PropertyKind::Unsupported {
                self.warnings.push(Warning {
                    message: format!(
                        "{p} is not supported by Entra: this comparison never matches"
                    ),
                    position: subj_pos,
                });
            }
            let allowed = p.allowed_values();
            if !allowed.is_empty() && matches!(op.positive(), CmpOp::Eq | CmpOp::In) {
                let texts: Vec<&str> = match &value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items.iter().map(Item::text).collect(),
                    _ => vec![],
                };
                for t in texts {
                    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(t)) {
                        self.warnings.push(Warning {
                            message: format!("{t:?} is not a documented value of {p} ({}); no device will have it", allowed.join(", ")),
                            position: vpos,
                        });
                    }
                }
            }
        }
        Ok(value)
    }
}
