//! `-match` patterns: Entra runs .NET regular expressions; we run Rust's `regex` (linear time,
//! no backtracking). Constructs whose meaning differs or that Rust cannot run are rejected
//! here, by name, instead of being silently evaluated differently.

/// Compiles a pattern for unanchored, case-insensitive search.
pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, String> {
    check_supported(pattern)?;
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .unwrap_or("invalid pattern");
            format!(
                "Query compilation error: invalid regular expression {pattern:?}: {}",
                last.trim_start_matches("error: ")
            )
        })
}

fn unsupported(what: &str, at: usize) -> Result<(), String> {
    Err(format!(
        "Query compilation error: regular expression construct {what} (at pattern offset {at}) is not supported by ztd; rewrite the pattern without it"
    ))
}

fn check_supported(p: &str) -> Result<(), String> {
    let c: Vec<char> = p.chars().collect();
    let n = c.len();
    let mut i = 0;
    let mut in_class = false;
    let mut class_first = 0;
    while i < n {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\\' {
            match next {
                Some(d) if d.is_ascii_digit() && d != '0' && !in_class => {
                    return unsupported("backreference \\N", i)
                }
                Some('k') => return unsupported("named backreference \\k", i),
                Some('<') | Some('>') => {
                    return unsupported("\\< / \\> (word-boundary in Rust, literal in .NET)", i)
                }
                Some('b') | Some('B') if c.get(i + 2) == Some(&'{') => {
                    return unsupported("\\b{...}", i)
                }
                Some('G') | Some('Z') => return unsupported("anchor \\G / \\Z", i),
                Some('U') => return unsupported("\\U escape", i),
                Some('x') | Some('u') if c.get(i + 2) == Some(&'{') => {
                    return unsupported("\\x{...} / \\u{...}", i)
                }
                Some('p') | Some('P') if c.get(i + 2) != Some(&'{') => {
                    return unsupported("one-letter \\pX class", i)
                }
                _ => {}
            }
            i += 2;
            continue;
        }
        if in_class {
            if ch == ']' && i > class_first {
                in_class = false;
            } else if ch == '[' {
                return unsupported(
                    "'[' inside a character class (nesting/subtraction differ between engines)",
                    i,
                );
            } else if matches!(
                (ch, next),
                ('&', Some('&')) | ('-', Some('-')) | ('~', Some('~'))
            ) {
                return unsupported("class set operator &&, -- or ~~", i);
            }
            i += 1;
            continue;
        }
        match ch {
            '[' => {
                in_class = true;
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                class_first = i; // a ']' right here is a literal
                if c.get(i) == Some(&']') {
                    i += 1;
                }
                continue;
            }
            '(' if next == Some('?') => {
                let a = c.get(i + 2).copied();
                let b = c.get(i + 3).copied();
                match (a, b) {
                    (Some('='), _) | (Some('!'), _) => {
                        return unsupported("lookahead (?= / (?!", i)
                    }
                    (Some('<'), Some('=')) | (Some('<'), Some('!')) => {
                        return unsupported("lookbehind (?<= / (?<!", i)
                    }
                    (Some('<'), _) | (Some(':'), _) => {}
                    (Some('>'), _) => return unsupported("atomic group (?>", i),
                    (Some('#'), _) => return unsupported("inline comment (?#", i),
                    (Some('('), _) => return unsupported("conditional (?(", i),
                    (Some('\''), _) => return unsupported("named group (?'name'", i),
                    (Some('P'), _) => return unsupported("(?P...) group", i),
                    _ => {
                        // inline flags: only those .NET and Rust agree on
                        let mut j = i + 2;
                        while let Some(&f) = c.get(j) {
                            match f {
                                'i' | 'm' | 's' | 'x' | '-' => j += 1,
                                ':' | ')' => break,
                                _ => return unsupported("inline flag other than i, m, s, x", i),
                            }
                        }
                    }
                }
            }
            '{' if next == Some(',') => {
                return unsupported("{,n} quantifier (literal text in .NET)", i)
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}
