//! Tokens with char positions. Hyphenated operators and quotes delimit themselves
//! (`device.x-eq"v"` lexes as property, `-eq`, string); bare operator words are recognised by
//! the parser, which checks that they are surrounded by whitespace.

use crate::error::{RuleError, RuleErrorKind, Warning};

/// Operator names, with or without the hyphen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpName {
    Cmp(crate::ast::CmpOp),
    Any,
    All,
    And,
    Or,
    Not,
    /// `-le`/`-ge`: user `employeeHireDate` only; recognised to give a precise error.
    Le,
    Ge,
}

pub(crate) fn op_name(word: &str) -> Option<OpName> {
    use crate::ast::CmpOp as C;
    let w = word.to_ascii_lowercase();
    Some(match w.as_str() {
        "eq" => OpName::Cmp(C::Eq),
        "ne" => OpName::Cmp(C::Ne),
        "startswith" => OpName::Cmp(C::StartsWith),
        "notstartswith" => OpName::Cmp(C::NotStartsWith),
        "endswith" => OpName::Cmp(C::EndsWith),
        "notendswith" => OpName::Cmp(C::NotEndsWith),
        "contains" => OpName::Cmp(C::Contains),
        "notcontains" => OpName::Cmp(C::NotContains),
        "match" => OpName::Cmp(C::Match),
        "notmatch" => OpName::Cmp(C::NotMatch),
        "in" => OpName::Cmp(C::In),
        "notin" => OpName::Cmp(C::NotIn),
        "any" => OpName::Any,
        "all" => OpName::All,
        "and" => OpName::And,
        "or" => OpName::Or,
        "not" => OpName::Not,
        "le" => OpName::Le,
        "ge" => OpName::Ge,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    /// `-name`
    Op(OpName),
    Word(String),
    DqString(String),
    SqString(String),
    Number(String),
    DollarNull,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub ws_before: bool,
    pub ws_after: bool,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Names characters that look like syntax but are not (publishing artefacts in Microsoft's docs).
fn describe_bad_char(c: char) -> String {
    match c {
        '\u{2013}' => {
            "en dash '\u{2013}' (U+2013) is not an operator hyphen; use the ASCII '-'".into()
        }
        '\u{2014}' => {
            "em dash '\u{2014}' (U+2014) is not an operator hyphen; use the ASCII '-'".into()
        }
        '\u{2212}' => {
            "minus sign '\u{2212}' (U+2212) is not an operator hyphen; use the ASCII '-'".into()
        }
        '\u{201C}' | '\u{201D}' | '\u{201E}' => {
            format!(
                "curly quote '{c}' (U+{:04X}) cannot delimit a string; use the ASCII '\"'",
                c as u32
            )
        }
        '\u{2018}' | '\u{2019}' => {
            format!(
                "curly quote '{c}' (U+{:04X}) cannot delimit a string; use the ASCII '\"'",
                c as u32
            )
        }
        '\u{00A0}' => {
            "non-breaking space (U+00A0) is not allowed between tokens; use an ordinary space"
                .into()
        }
        c if c.is_control() => format!("unexpected control character U+{:04X}", c as u32),
        c if c.is_whitespace() => format!(
            "unexpected whitespace character U+{:04X}; use an ordinary space",
            c as u32
        ),
        c => format!("unexpected character '{c}' (U+{:04X})", c as u32),
    }
}

pub(crate) fn lex(chars: &[char], warnings: &mut Vec<Warning>) -> Result<Vec<Token>, RuleError> {
    let err = |msg: String, pos: usize| RuleError::at(RuleErrorKind::Lex, msg, pos, chars);
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let n = chars.len();
    let mut ws = true; // start of text counts as a separator
    while i < n {
        let c = chars[i];
        if is_ws(c) {
            ws = true;
            if let Some(last) = out.last_mut() {
                last.ws_after = true;
            }
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '[' => {
                i += 1;
                Tok::LBracket
            }
            ']' => {
                i += 1;
                Tok::RBracket
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '.' => {
                i += 1;
                Tok::Dot
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                "unterminated string: missing closing '\"'".into(),
                                start,
                            ))
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('`') => match chars.get(i + 1) {
                            Some(&e) => {
                                s.push(e);
                                i += 2;
                            }
                            None => {
                                return Err(err(
                                    "unterminated string: missing closing '\"'".into(),
                                    start,
                                ))
                            }
                        },
                        Some('\'') => {
                            if chars.get(i + 1) == Some(&'\'') {
                                i += 2;
                            } else {
                                warnings.push(Warning {
                                    message: "a single quote inside a string should be written twice ('') — \
                                              Entra reportedly treats a lone ' inconsistently"
                                        .into(),
                                    position: i,
                                });
                                i += 1;
                            }
                            s.push('\'');
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::DqString(s)
            }
            '\'' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                "unterminated string: missing closing \"'\"".into(),
                                start,
                            ))
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::SqString(s)
            }
            '$' => {
                let mut j = i + 1;
                while j < n && is_word(chars[j]) {
                    j += 1;
                }
                let w: String = chars[i + 1..j].iter().collect();
                if !w.eq_ignore_ascii_case("null") {
                    return Err(err(
                        format!("unexpected '${w}': only $null is allowed"),
                        start,
                    ));
                }
                i = j;
                Tok::DollarNull
            }
            '-' => match chars.get(i + 1) {
                Some(d) if d.is_ascii_digit() => lex_number(chars, &mut i, &err)?,
                Some(&a) if a.is_ascii_alphabetic() => {
                    let mut j = i + 1;
                    while j < n && is_word(chars[j]) {
                        j += 1;
                    }
                    let w: String = chars[i + 1..j].iter().collect();
                    let Some(op) = op_name(&w) else {
                        return Err(err(
                            format!("unknown operator '-{w}' (operators: -eq -ne -startsWith -notStartsWith -endsWith -notEndsWith -contains -notContains -match -notMatch -in -notIn -any -all -and -or -not)"),
                            start,
                        ));
                    };
                    i = j;
                    Tok::Op(op)
                }
                _ => {
                    return Err(err(
                        "'-' must be followed by an operator name such as -eq".into(),
                        start,
                    ))
                }
            },
            c if c.is_ascii_digit() => lex_number(chars, &mut i, &err)?,
            c if is_word_start(c) => {
                let mut j = i;
                while j < n && is_word(chars[j]) {
                    j += 1;
                }
                let w: String = chars[i..j].iter().collect();
                i = j;
                Tok::Word(w)
            }
            c => return Err(err(describe_bad_char(c), start)),
        };
        out.push(Token {
            tok,
            start,
            ws_before: ws,
            ws_after: false,
        });
        ws = false;
    }
    if let Some(last) = out.last_mut() {
        last.ws_after = true; // end of text counts as a separator
    }
    out.push(Token {
        tok: Tok::Eof,
        start: n,
        ws_before: true,
        ws_after: true,
    });
    Ok(out)
}

fn lex_number(
    chars: &[char],
    i: &mut usize,
    err: &impl Fn(String, usize) -> RuleError,
) -> Result<Tok, RuleError> {
    let start = *i;
    let mut j = *i;
    if chars.get(j) == Some(&'-') {
        j += 1;
    }
    while chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
        j += 1;
    }
    if chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit()) {
        j += 1;
        while chars.get(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
    }
    if chars.get(j).is_some_and(|&c| is_word(c)) {
        return Err(err(
            "malformed number; string values must be in double quotes".into(),
            start,
        ));
    }
    *i = j;
    Ok(Tok::Number(chars[start..j].iter().collect()))
}
