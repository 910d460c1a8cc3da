//! Entra ID dynamic device membership rules: parse, validate, evaluate, explain, and keep
//! group membership current incrementally.
//!
//! ```
//! let rule = ztd_rules::parse(r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#).unwrap();
//! let mut device = ztd_rules::Device::new();
//! device.set_list("devicePhysicalIds", vec!["[OrderID]:kiosk".into()]);
//! assert!(rule.evaluate(&device));
//! assert_eq!(rule.to_string(), r#"device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk")"#);
//! ```
//!
//! The language follows `docs/rules.md` (derived from the project's Entra research notes).
//! Decisions on points the documentation leaves open, each kept from the research notes'
//! chosen policy unless stated:
//!
//! * Property and object names are case-insensitive; diagnostics and the printer use the
//!   canonical spelling (Q2).
//! * An unparenthesised `-any`/`-all` body followed by `-and`/`-or` is rejected as ambiguous (Q1).
//! * Operators work with or without the hyphen; the bare form must have whitespace (or the
//!   start/end of the rule) on both sides; `device.x-eq"v"` lexes as three tokens (Q8).
//! * String comparison folds case with `str::to_lowercase` (full Unicode lowercase; ASCII fast
//!   path), `-match` uses the regex engine's Unicode simple case folding (Q12).
//! * Negative operators are the negation of their positive counterpart: true on null (Q4).
//!   On a multi-valued property applied directly, a positive operator means "some item", a
//!   negative one "no item"; `-contains` is a substring test per item (Q3).
//! * Inside `"..."`: backtick + c → c (so `` `" `` is a quote), `''` → `'`, a lone `'` is kept
//!   and produces a [`Warning`]; backslash is literal (Q5, Q6). The printer writes `'` as `''`.
//! * Single-quoted strings only as array items (Q7); numbers only as array items, compared by
//!   source text; `true`/`false` against strings, empty arrays: rejected (Q11). Quoted
//!   `"true"`/`"false"` on a boolean property are accepted as booleans (the docs say quotes are
//!   optional for non-string values).
//! * `-le`/`-ge` rejected on device properties (Q10). En/em dashes, curly quotes and NBSP are
//!   rejected with a diagnostic that names the character (Q9).
//! * `-match`: unanchored, case-insensitive. Rust's `regex` runs it (linear time, size-limited);
//!   .NET-only or differently-behaving constructs (lookaround, backreferences, atomic groups,
//!   `\G`, `\Z`, class subtraction/nesting, `{,n}`, flags other than `imsx`) are rejected (Q13).
//!   Remaining known difference: .NET's `$` also matches before a final newline.
//! * Length: at most 3,072 Unicode scalar values, inclusive (Q14).
//! * `organizationalUnit` is accepted with a warning and never matches (Q15). Values outside
//!   the documented set of `deviceOwnership`, `deviceTrustType`, `profileType`,
//!   `managementType` are accepted with a warning (Entra would accept them and match nothing).
//! * memberOf must be the whole rule, `-any` only, at most 50 groups; group ids compare
//!   case-insensitively; membership is recomputed on every change (Q18, an intentional
//!   improvement on Entra's documented staleness).
//! * Empty collection: `-any` false, `-all` true. `_ -eq null` is false (items are never null).
//! * Parentheses and `-not` may nest at most 100 deep (stack safety on untrusted input).

mod ast;
mod device;
mod error;
mod eval;
mod index;
mod lexer;
mod parser;
mod property;
mod regex_check;

use std::sync::Arc;

pub use ast::{CmpOp, Expr, Item, Quantifier, Subject, Value};
pub use device::Device;
pub use error::{RuleError, RuleErrorKind, Warning};
pub use eval::Trace;
pub use index::{IndexStats, MembershipDiff, MembershipEngine, MembershipIndex};
pub use parser::{MAX_MEMBER_OF_GROUPS, MAX_NESTING, MAX_RULE_CHARS};
pub use property::{Dialect, Property, PropertyKind};

/// A validated, compiled rule. Equality compares the syntax tree (so two spellings of the
/// same rule are equal); `Display` prints the normalised rule text.
#[derive(Clone, Debug)]
pub struct Rule {
    ast: Expr,
    compiled: Arc<eval::Node>,
    warnings: Vec<Warning>,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.ast == other.ast
    }
}

impl Eq for Rule {}

/// Lexes, parses and validates a device rule.
pub fn parse(text: &str) -> Result<Rule, RuleError> {
    parse_in(text, Dialect::Membership)
}

/// Lexes, parses and validates an Intune assignment filter rule for managed Windows devices: the same
/// syntax and limits (length, nesting) as a membership rule, over the filter properties
/// ([`Property::all_in`]`(Dialect::Filter)`) with the operators Intune allows each of them. A device to
/// evaluate it against is built with [`Device::set_in`].
pub fn parse_filter(text: &str) -> Result<Rule, RuleError> {
    parse_in(text, Dialect::Filter)
}

fn parse_in(text: &str, dialect: Dialect) -> Result<Rule, RuleError> {
    let parsed = parser::parse_rule(text, dialect)?;
    let compiled = eval::compile(&parsed.expr).ok_or_else(|| {
        // The parser validated everything `compile` relies on; keep a positioned error anyway.
        RuleError {
            message: "internal error: rule could not be compiled".into(),
            position: 0,
            line: 1,
            column: 1,
            kind: RuleErrorKind::Syntax,
        }
    })?;
    Ok(Rule {
        ast: parsed.expr,
        compiled: Arc::new(compiled),
        warnings: parsed.warnings,
    })
}

impl Rule {
    /// Builds a rule from a syntax tree by printing and re-parsing it, so hand-built trees get
    /// exactly the parser's validation.
    pub fn from_ast(expr: &Expr) -> Result<Rule, RuleError> {
        parse(&expr.to_string())
    }

    pub fn ast(&self) -> &Expr {
        &self.ast
    }

    /// Non-fatal findings (lone `'`, undocumented enumerated values, `organizationalUnit`).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub fn evaluate(&self, device: &Device) -> bool {
        self.compiled.eval(device, None)
    }

    /// Every sub-expression with the device values it read and its result.
    pub fn explain(&self, device: &Device) -> Trace {
        eval::explain(&self.ast, &self.compiled, device, None)
    }

    /// Group ids referenced by `memberOf`, so the caller can order evaluation.
    pub fn member_of_groups(&self) -> Vec<String> {
        match &self.ast {
            Expr::MemberOf { groups } => groups.clone(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ast.fmt(f)
    }
}

impl std::str::FromStr for Rule {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn member_of_constant_is_the_member_of_property() {
        assert_eq!(Property::lookup("memberof"), Some(Property::MEMBER_OF));
    }
}
