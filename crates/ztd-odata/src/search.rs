//! Directory `$search` (`"property:term"` clauses joined by `AND`/`OR`, as `Get-MgDevice -Search
//! "deviceId:..."` sends), translated into the equivalent `$filter`.

use crate::{limits, OdataError, OdataResult};

/// Translates `$search` into a filter. Graph matches search terms as word prefixes; ztd matches them as
/// prefixes of the whole value (`startswith`), which is exact for ids and serials, the values tools search by.
pub fn search_to_filter(search: &str) -> OdataResult<String> {
    let bad = |why: &str| OdataError::invalid(format!("Syntax error in $search: {why}"));
    if search.len() > limits::MAX_FILTER_BYTES {
        return Err(OdataError::too_complex(format!(
            "Syntax error in $search: the search is longer than {} bytes.",
            limits::MAX_FILTER_BYTES
        )));
    }
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
