//! The syntax tree and its printer. Parentheses are not nodes: the printer adds exactly the
//! ones precedence needs, so `parse(print(ast)) == ast`.

use std::fmt;

use crate::property::Property;

/// Comparison operators (the twelve of the device grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Contains,
    NotContains,
    Match,
    NotMatch,
    In,
    NotIn,
}

impl CmpOp {
    pub const ALL: [CmpOp; 12] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::StartsWith,
        CmpOp::NotStartsWith,
        CmpOp::EndsWith,
        CmpOp::NotEndsWith,
        CmpOp::Contains,
        CmpOp::NotContains,
        CmpOp::Match,
        CmpOp::NotMatch,
        CmpOp::In,
        CmpOp::NotIn,
    ];

    /// Canonical spelling with the hyphen.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "-eq",
            CmpOp::Ne => "-ne",
            CmpOp::StartsWith => "-startsWith",
            CmpOp::NotStartsWith => "-notStartsWith",
            CmpOp::EndsWith => "-endsWith",
            CmpOp::NotEndsWith => "-notEndsWith",
            CmpOp::Contains => "-contains",
            CmpOp::NotContains => "-notContains",
            CmpOp::Match => "-match",
            CmpOp::NotMatch => "-notMatch",
            CmpOp::In => "-in",
            CmpOp::NotIn => "-notIn",
        }
    }

    /// Negative operators are the negation of their positive counterpart (true on null).
    pub fn is_negative(self) -> bool {
        matches!(
            self,
            CmpOp::Ne
                | CmpOp::NotStartsWith
                | CmpOp::NotEndsWith
                | CmpOp::NotContains
                | CmpOp::NotMatch
                | CmpOp::NotIn
        )
    }

    /// The positive counterpart (identity for positive operators).
    pub fn positive(self) -> CmpOp {
        match self {
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::NotStartsWith => CmpOp::StartsWith,
            CmpOp::NotEndsWith => CmpOp::EndsWith,
            CmpOp::NotContains => CmpOp::Contains,
            CmpOp::NotMatch => CmpOp::Match,
            CmpOp::NotIn => CmpOp::In,
            p => p,
        }
    }

    /// `-not (a OP v)` ≡ `a NEG(OP) v`.
    pub fn negated(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::StartsWith => CmpOp::NotStartsWith,
            CmpOp::EndsWith => CmpOp::NotEndsWith,
            CmpOp::Contains => CmpOp::NotContains,
            CmpOp::Match => CmpOp::NotMatch,
            CmpOp::In => CmpOp::NotIn,
            n => n.positive(),
        }
    }

    pub fn takes_array(self) -> bool {
        matches!(self, CmpOp::In | CmpOp::NotIn)
    }
}

/// `-any` or `-all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantifier {
    Any,
    All,
}

impl Quantifier {
    pub fn as_str(self) -> &'static str {
        match self {
            Quantifier::Any => "-any",
            Quantifier::All => "-all",
        }
    }
}

/// Left operand of a comparison: a device property, or `_` inside an `-any`/`-all` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Property(Property),
    Item,
}

/// An `-in`/`-notIn` array item; numbers compare by their source text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    String(String),
    Number(String),
}

impl Item {
    pub fn text(&self) -> &str {
        match self {
            Item::String(s) | Item::Number(s) => s,
        }
    }
}

/// Right operand of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    String(String),
    Bool(bool),
    Null,
    Array(Vec<Item>),
}

/// A parsed, validated rule expression. `Or`/`And` have at least two children.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        subject: Subject,
        op: CmpOp,
        value: Value,
    },
    Quantified {
        property: Property,
        quantifier: Quantifier,
        body: Box<Expr>,
    },
    /// `device.memberOf -any (group.objectId -in [...])` — only valid as the whole rule.
    MemberOf {
        groups: Vec<String>,
    },
}

/// Writes a string literal: backtick escapes `"` and backtick; `'` is doubled (Entra's
/// documented form, which always means one quote).
pub(crate) fn write_dq(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("`\"")?,
            '`' => f.write_str("``")?,
            '\'' => f.write_str("''")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn write_sq(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        if c == '\'' {
            f.write_str("''")?;
        } else {
            f.write_char(c)?;
        }
    }
    f.write_char('\'')
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write_dq(f, s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Array(items) => {
                f.write_char('[')?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match it {
                        Item::String(s) => write_dq(f, s)?,
                        Item::Number(n) => f.write_str(n)?,
                    }
                }
                f.write_char(']')
            }
        }
    }
}

use std::fmt::Write as _;

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Property(p) => write!(f, "{p}"),
            Subject::Item => f.write_char('_'),
        }
    }
}

impl Expr {
    fn write_child(&self, f: &mut fmt::Formatter<'_>, paren: bool) -> fmt::Result {
        if paren {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" -or ")?;
                    }
                    c.write_child(f, matches!(c, Expr::Or(_)))?;
                }
                Ok(())
            }
            Expr::And(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" -and ")?;
                    }
                    c.write_child(f, matches!(c, Expr::Or(_) | Expr::And(_)))?;
                }
                Ok(())
            }
            Expr::Not(x) => write!(f, "-not ({x})"),
            Expr::Compare { subject, op, value } => write!(f, "{subject} {} {value}", op.as_str()),
            Expr::Quantified {
                property,
                quantifier,
                body,
            } => {
                write!(f, "{property} {} ({body})", quantifier.as_str())
            }
            Expr::MemberOf { groups } => {
                f.write_str("device.memberOf -any (group.objectId -in [")?;
                for (i, g) in groups.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_sq(f, g)?;
                }
                f.write_str("])")
            }
        }
    }
}
