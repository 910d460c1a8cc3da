//! Compiled form of a rule: literals folded once, regexes compiled once, large `-in` arrays
//! hashed. Case-insensitive comparison uses an allocation-free ASCII path and falls back to
//! `str::to_lowercase` when either side is non-ASCII, so both paths agree.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::ast::{CmpOp, Expr, Quantifier, Subject, Value};
use crate::device::Device;
use crate::property::{Property, PropertyKind};

/// Case folding used everywhere (rule literals, device values, index keys).
pub(crate) fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Folded {
    s: Box<str>,
    ascii: bool,
}

impl Folded {
    fn new(s: &str) -> Self {
        let f = fold(s).into_owned();
        Folded {
            ascii: f.is_ascii(),
            s: f.into_boxed_str(),
        }
    }
}

fn ascii_contains(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[derive(Debug, Clone)]
pub(crate) enum InSet {
    Small(Vec<Folded>),
    Large(HashSet<Box<str>>),
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    Eq(Folded),
    StartsWith(Folded),
    EndsWith(Folded),
    Contains(Folded),
    Match(regex::Regex),
    In(InSet),
}

impl Test {
    /// The positive test (negative operators negate the result).
    fn check(&self, a: &str) -> bool {
        let fast = a.is_ascii();
        match self {
            Test::Eq(f) if fast && f.ascii => {
                a.len() == f.s.len() && a.as_bytes().eq_ignore_ascii_case(f.s.as_bytes())
            }
            Test::Eq(f) => *fold(a) == *f.s,
            Test::StartsWith(f) if fast && f.ascii => {
                a.len() >= f.s.len()
                    && a.as_bytes()[..f.s.len()].eq_ignore_ascii_case(f.s.as_bytes())
            }
            Test::StartsWith(f) => fold(a).starts_with(&*f.s),
            Test::EndsWith(f) if fast && f.ascii => {
                a.len() >= f.s.len()
                    && a.as_bytes()[a.len() - f.s.len()..].eq_ignore_ascii_case(f.s.as_bytes())
            }
            Test::EndsWith(f) => fold(a).ends_with(&*f.s),
            Test::Contains(f) if fast && f.ascii => ascii_contains(a.as_bytes(), f.s.as_bytes()),
            Test::Contains(f) => fold(a).contains(&*f.s),
            Test::Match(r) => r.is_match(a),
            Test::In(InSet::Small(v)) => v.iter().any(|f| eq_folded(a, f)),
            Test::In(InSet::Large(set)) => set.contains(&*fold(a)),
        }
    }
}

fn eq_folded(a: &str, f: &Folded) -> bool {
    if a.is_ascii() && f.ascii {
        a.len() == f.s.len() && a.as_bytes().eq_ignore_ascii_case(f.s.as_bytes())
    } else {
        *fold(a) == *f.s
    }
}

/// Compiled expression; one node per AST node so explain can walk both together.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Or(Box<[Node]>),
    And(Box<[Node]>),
    Not(Box<Node>),
    Str {
        prop: Property,
        test: Test,
        negate: bool,
    },
    /// `-eq null` (`null: true`) / `-ne null` on a scalar.
    IsNull {
        prop: Property,
        null: bool,
    },
    Bool {
        prop: Property,
        want: bool,
        negate: bool,
    },
    Coll {
        prop: Property,
        test: Test,
        negate: bool,
    },
    Quant {
        prop: Property,
        all: bool,
        body: Box<Node>,
    },
    Item {
        test: Test,
        negate: bool,
    },
    /// Items are never null: `_ -eq null` is false, `_ -ne null` true.
    ItemNull {
        null: bool,
    },
    MemberOf {
        groups: Box<[Folded]>,
    },
    /// `organizationalUnit`: Entra adds no devices by it.
    Never,
}

fn compile_test(op: CmpOp, value: &Value) -> Option<Test> {
    let s = match value {
        Value::String(s) => s.as_str(),
        Value::Array(items) => {
            let v: Vec<Folded> = items.iter().map(|i| Folded::new(i.text())).collect();
            return Some(Test::In(if v.len() > 8 {
                InSet::Large(v.into_iter().map(|f| f.s).collect())
            } else {
                InSet::Small(v)
            }));
        }
        _ => return None,
    };
    Some(match op.positive() {
        CmpOp::Eq => Test::Eq(Folded::new(s)),
        CmpOp::StartsWith => Test::StartsWith(Folded::new(s)),
        CmpOp::EndsWith => Test::EndsWith(Folded::new(s)),
        CmpOp::Contains => Test::Contains(Folded::new(s)),
        // validated at parse time; a failure here means the AST was built by hand
        CmpOp::Match => Test::Match(crate::regex_check::compile(s).ok()?),
        _ => return None,
    })
}

/// Compiles a validated AST. Returns `None` only for ASTs the parser would have refused.
pub(crate) fn compile(e: &Expr) -> Option<Node> {
    Some(match e {
        Expr::Or(cs) => Node::Or(cs.iter().map(compile).collect::<Option<_>>()?),
        Expr::And(cs) => Node::And(cs.iter().map(compile).collect::<Option<_>>()?),
        Expr::Not(x) => Node::Not(Box::new(compile(x)?)),
        Expr::Compare { subject, op, value } => {
            let negate = op.is_negative();
            match subject {
                Subject::Item => match value {
                    Value::Null => Node::ItemNull {
                        null: *op == CmpOp::Eq,
                    },
                    _ => Node::Item {
                        test: compile_test(*op, value)?,
                        negate,
                    },
                },
                Subject::Property(p) => match p.kind() {
                    PropertyKind::Unsupported => Node::Never,
                    PropertyKind::Boolean => match value {
                        Value::Null => Node::IsNull {
                            prop: *p,
                            null: *op == CmpOp::Eq,
                        },
                        Value::Bool(b) => Node::Bool {
                            prop: *p,
                            want: *b,
                            negate,
                        },
                        _ => return None,
                    },
                    PropertyKind::String => match value {
                        Value::Null => Node::IsNull {
                            prop: *p,
                            null: *op == CmpOp::Eq,
                        },
                        _ => Node::Str {
                            prop: *p,
                            test: compile_test(*op, value)?,
                            negate,
                        },
                    },
                    PropertyKind::StringCollection => Node::Coll {
                        prop: *p,
                        test: compile_test(*op, value)?,
                        negate,
                    },
                    PropertyKind::MemberOf => return None,
                },
            }
        }
        Expr::Quantified {
            property,
            quantifier,
            body,
        } => Node::Quant {
            prop: *property,
            all: *quantifier == Quantifier::All,
            body: Box::new(compile(body)?),
        },
        Expr::MemberOf { groups } => Node::MemberOf {
            groups: groups.iter().map(|g| Folded::new(g)).collect(),
        },
    })
}

impl Node {
    pub(crate) fn eval(&self, d: &Device, item: Option<&str>) -> bool {
        match self {
            Node::Or(cs) => cs.iter().any(|c| c.eval(d, item)),
            Node::And(cs) => cs.iter().all(|c| c.eval(d, item)),
            Node::Not(x) => !x.eval(d, item),
            Node::Str { prop, test, negate } => {
                d.str_of(*prop).is_some_and(|a| test.check(a)) != *negate
            }
            Node::IsNull { prop, null } => {
                let is_null = match prop.kind() {
                    PropertyKind::Boolean => d.bool_of(*prop).is_none(),
                    _ => d.str_of(*prop).is_none(),
                };
                is_null == *null
            }
            Node::Bool { prop, want, negate } => (d.bool_of(*prop) == Some(*want)) != *negate,
            Node::Coll { prop, test, negate } => {
                d.list_of(*prop).iter().any(|a| test.check(a)) != *negate
            }
            Node::Quant { prop, all, body } => {
                let items = d.list_of(*prop);
                if *all {
                    items.iter().all(|i| body.eval(d, Some(i)))
                } else {
                    items.iter().any(|i| body.eval(d, Some(i)))
                }
            }
            Node::Item { test, negate } => item.is_some_and(|a| test.check(a)) != *negate,
            Node::ItemNull { null } => item.is_none() == *null,
            Node::MemberOf { groups } => d
                .list_of(Property::MEMBER_OF)
                .iter()
                .any(|g| groups.iter().any(|f| eq_folded(g, f))),
            Node::Never => false,
        }
    }
}

/// One evaluated sub-expression: its text, what it looked at on the device, its value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trace {
    /// Sub-expression in normalised rule syntax.
    pub expression: String,
    pub result: bool,
    /// The device property this node read, if it is a leaf or quantifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The value(s) read (null, string, bool or list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Inside `-any`/`-all`: the item `_` this node was evaluated for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Trace>,
}

impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, 0)
    }
}

impl Trace {
    fn write(&self, f: &mut std::fmt::Formatter<'_>, depth: usize) -> std::fmt::Result {
        let pad = "  ".repeat(depth);
        write!(f, "{pad}{:<5} {}", self.result, self.expression)?;
        if let Some(i) = &self.item {
            write!(f, "   [_ = {}]", serde_json::Value::String(i.clone()))?;
        }
        if let (Some(p), Some(v)) = (&self.property, &self.value) {
            write!(f, "   [{p} = {v}]")?;
        }
        if let Some(n) = &self.note {
            write!(f, "   ({n})")?;
        }
        writeln!(f)?;
        for c in &self.children {
            c.write(f, depth + 1)?;
        }
        Ok(())
    }
}

fn prop_value(d: &Device, p: Property) -> serde_json::Value {
    use serde_json::Value as J;
    match p.kind() {
        PropertyKind::Boolean => d.bool_of(p).map_or(J::Null, J::Bool),
        PropertyKind::StringCollection | PropertyKind::MemberOf => d
            .list_of(p)
            .iter()
            .map(|s| J::String(s.to_string()))
            .collect(),
        _ => d.str_of(p).map_or(J::Null, |s| J::String(s.to_string())),
    }
}

/// Walks AST and compiled node together; evaluates every child (no short-circuit) so the
/// trace shows every sub-expression.
pub(crate) fn explain(e: &Expr, n: &Node, d: &Device, item: Option<&str>) -> Trace {
    let mut t = Trace {
        expression: e.to_string(),
        result: n.eval(d, item),
        property: None,
        value: None,
        item: item.map(str::to_string),
        note: None,
        children: Vec::new(),
    };
    match (e, n) {
        (Expr::Or(es), Node::Or(ns)) | (Expr::And(es), Node::And(ns)) => {
            t.children = es
                .iter()
                .zip(ns.iter())
                .map(|(e, n)| explain(e, n, d, item))
                .collect();
        }
        (Expr::Not(e), Node::Not(n)) => t.children = vec![explain(e, n, d, item)],
        (Expr::Quantified { property, body, .. }, Node::Quant { body: nb, all, .. }) => {
            t.property = Some(property.to_string());
            let items = d.list_of(*property);
            t.value = Some(prop_value(d, *property));
            if items.is_empty() {
                t.note = Some(if *all {
                    "no items: -all is vacuously true".into()
                } else {
                    "no items: -any is false".into()
                });
            }
            t.children = items
                .iter()
                .map(|i| explain(body, nb, d, Some(i)))
                .collect();
        }
        (
            Expr::Compare {
                subject: Subject::Property(p),
                ..
            },
            _,
        ) => {
            t.property = Some(p.to_string());
            t.value = Some(prop_value(d, *p));
            if matches!(n, Node::Never) {
                t.note = Some("organizationalUnit is not supported by Entra; never matches".into());
            } else if p.kind() == PropertyKind::StringCollection {
                t.note = Some(
                    if matches!(e, Expr::Compare { op, .. } if op.is_negative()) {
                        "multi-valued: true iff no item satisfies the positive operator".into()
                    } else {
                        "multi-valued: true iff some item satisfies it".into()
                    },
                );
            }
        }
        (Expr::MemberOf { .. }, _) => {
            t.property = Some(Property::MEMBER_OF.to_string());
            t.value = Some(prop_value(d, Property::MEMBER_OF));
        }
        _ => {}
    }
    t
}
