//! One error type for every way a rule can be refused, positioned in the rule text.

use serde::Serialize;

/// What went wrong; messages reuse Entra's wording where Entra has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleErrorKind {
    /// More than 3,072 characters.
    LengthExceeded,
    /// A character or token the lexer cannot read (bad quote, en dash, unterminated string...).
    Lex,
    /// Tokens in the wrong order ("Query compilation error").
    Syntax,
    /// Not a device property ("Attribute not supported").
    UnknownAttribute,
    /// Operator not valid for the property's type ("Operator isn't supported on attribute").
    OperatorNotSupported,
    /// Value of the wrong type or shape ("Value can't be applied to property").
    InvalidValue,
    /// `-match` pattern that does not compile or uses a construct we cannot evaluate faithfully.
    InvalidRegex,
    /// A `user.` property in a device rule.
    MixedObjectTypes,
    /// memberOf used other than as the whole rule `device.memberOf -any (group.objectId -in [...])`.
    MemberOfRestriction,
    /// Unparenthesised `-any`/`-all` body followed by `-and`/`-or`.
    AmbiguousQuantifierBody,
    /// Parentheses / `-not` nested deeper than we evaluate (protects the stack).
    NestingTooDeep,
}

/// A refused rule: message plus where (0-based char offset, 1-based line/column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message} (line {line}, column {column})")]
pub struct RuleError {
    pub message: String,
    pub position: usize,
    pub line: usize,
    pub column: usize,
    pub kind: RuleErrorKind,
}

impl RuleError {
    pub(crate) fn at(
        kind: RuleErrorKind,
        message: impl Into<String>,
        position: usize,
        chars: &[char],
    ) -> Self {
        let end = position.min(chars.len());
        let before = &chars[..end];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let column = end - before.iter().rposition(|&c| c == '\n').map_or(0, |p| p + 1) + 1;
        RuleError {
            message: message.into(),
            position,
            line,
            column,
            kind,
        }
    }

    /// The offending line of `text` with a caret under the error column, for humans.
    pub fn snippet(&self, text: &str) -> String {
        let line = text.split('\n').nth(self.line - 1).unwrap_or("");
        let line = line.trim_end_matches('\r');
        let pad: String = line
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("  {line}\n  {pad}^")
    }
}

/// Something accepted but suspicious (would never match, or relies on inconsistent service behaviour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub message: String,
    pub position: usize,
}
