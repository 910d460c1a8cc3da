//! Server-driven paging over any collection: rows come from a [`Source`] in id order, chunk by chunk, are
//! filtered on their Graph JSON, and a page ends with an opaque `$skiptoken` (the last id returned, so a
//! page boundary is stable while rows are added or removed elsewhere). `$orderby` switches to offset
//! tokens over the sorted, filtered collection.
//!
//! Collections the store can filter only partly are filtered here, in memory, one chunk at a time: a page
//! never needs more than the rows up to its last match, and nothing is skipped or repeated across pages.
//!
//! The work of one request is bounded ([`REQUEST_WORK`] filter steps, [`MAX_SCANNED`] rows). A keyset page
//! that runs out of either ends early with a `@odata.nextLink` after the last row it examined (Graph's
//! server-driven paging allows short pages), so a selective filter over a large tenant is answered in
//! bounded pieces instead of holding a core. Counting and sorting need every match, so they are refused
//! with a 400 past the bound instead.

use serde_json::Value;

use super::odata::limits::ITEM_WORK;
use super::odata::{QueryOptions, SkipToken, WorkBudget};
use crate::error::{ApiError, ApiResult};

/// One row of a collection: its key, its Graph JSON (what `$filter` sees) and the entity itself.
pub struct Row<T> {
    pub id: String,
    pub json: Value,
    pub item: T,
}

impl Row<()> {
    /// A row that is its JSON alone (collections paged in memory).
    pub fn json(id: impl Into<String>, json: Value) -> Self {
        Self {
            id: id.into(),
            json,
            item: (),
        }
    }
}

/// A collection readable in id order.
pub(crate) trait Source {
    type Item;
    /// Up to `limit` rows with an id greater than `after`, in id order.
    async fn chunk(&mut self, after: Option<&str>, limit: usize)
        -> ApiResult<Vec<Row<Self::Item>>>;

    /// Whether the rows come already filtered by the whole `$filter` (the store answered it exactly):
    /// they are not evaluated again, and need no JSON.
    fn filters_exactly(&self) -> bool {
        false
    }
}

/// The key a chunk resumes after, parsed as the collection's id type: a `$skiptoken` naming anything else
/// is Graph's 400.
pub(crate) fn resume_key<T>(
    after: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> ApiResult<Option<T>> {
    after
        .map(|text| {
            parse(text).ok_or_else(|| {
                crate::error::ApiError::bad_request("The $skiptoken is not valid for this request.")
            })
        })
        .transpose()
}

/// A collection already in memory (small ones: profiles, groups, ESPs, events...).
pub struct VecSource<T> {
    rows: Vec<Row<T>>,
}

impl<T> VecSource<T> {
    pub fn new(mut rows: Vec<Row<T>>) -> Self {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Self { rows }
    }
}

impl<T: Clone> Source for VecSource<T> {
    type Item = T;
    async fn chunk(&mut self, after: Option<&str>, limit: usize) -> ApiResult<Vec<Row<T>>> {
        let start = match after {
            Some(after) => self.rows.partition_point(|r| r.id.as_str() <= after),
            None => 0,
        };
        Ok(self.rows[start.min(self.rows.len())..]
            .iter()
            .take(limit)
            .map(|r| Row {
                id: r.id.clone(),
                json: r.json.clone(),
                item: r.item.clone(),
            })
            .collect())
    }
}

/// The id a filter pins with `property eq 'value'` (the first of `properties` it names), parsed: `Ok(None)`
/// when it pins none, `Err` with the empty page when the value cannot be such an id (nothing matches it).
pub(crate) fn pinned_id<I, T>(
    query: &QueryOptions,
    properties: &[&str],
    parse: impl Fn(&str) -> Option<I>,
) -> Result<Option<I>, Page<T>> {
    let pinned = query
        .filter
        .as_ref()
        .and_then(|f| properties.iter().find_map(|p| f.required_equal(p)));
    match pinned {
        None => Ok(None),
        Some(text) => parse(&text).map(Some).ok_or(Page {
            rows: Vec::new(),
            next: None,
            count: query.count.then_some(0),
        }),
    }
}

/// One page of a collection.
pub struct Page<T> {
    pub rows: Vec<Row<T>>,
    pub next: Option<SkipToken>,
    pub count: Option<usize>,
}

/// Rows read per store round trip.
const CHUNK: usize = 1000;
/// Filter evaluation steps one request may spend (a few hundred milliseconds of one core).
pub const REQUEST_WORK: u64 = 5_000_000;
/// Rows one request may examine.
pub const MAX_SCANNED: usize = 200_000;
/// Matches a sorted request may hold in memory to sort them.
pub const MAX_SORTED: usize = 20_000;

fn too_expensive(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The request would {what}; narrow it with a $filter (for example on a serial number or group tag)."
    ))
}

/// Reads the page `query` asks for from `source`.
pub(crate) async fn page<S: Source>(
    query: &QueryOptions,
    source: &mut S,
) -> ApiResult<Page<S::Item>> {
    page_within(query, source, REQUEST_WORK).await
}

/// [`page`] with an explicit filter budget for the request.
pub(crate) async fn page_within<S: Source>(
    query: &QueryOptions,
    source: &mut S,
    work: u64,
) -> ApiResult<Page<S::Item>> {
    let mut budget = WorkBudget::new(work);
    let ordered =
        !query.order_by.is_empty() || matches!(query.skip_token, Some(SkipToken::Offset(_)));
    if ordered || query.count {
        return whole(query, source, ordered, &mut budget).await;
    }
    let top = query.page_size();
    let need = query.skip + top + 1;
    let mut after = match &query.skip_token {
        Some(SkipToken::After(id)) => Some(id.clone()),
        _ => None,
    };
    let mut matched = Vec::new();
    let mut scanned = 0usize;
    // Set when a bound stops the scan before the collection ends: the next page resumes after this id.
    let mut resume_after: Option<Option<String>> = None;
    // Read only what the page needs when the store filters exactly (the usual case), and grow the read
    // when the in-memory filter drops rows.
    let mut chunk = need.clamp(1, CHUNK);
    'scan: loop {
        let rows = source.chunk(after.as_deref(), chunk).await?;
        let done = rows.len() < chunk;
        chunk = (chunk * 2).min(CHUNK);
        for row in rows {
            let examined_before = after.replace(row.id.clone());
            match matches_within(query, source.filters_exactly(), &row.json, &mut budget)? {
                Some(true) => {
                    matched.push(row);
                    if matched.len() >= need {
                        break 'scan;
                    }
                }
                Some(false) => {}
                // The request's budget ran out on this row: the next page starts with it.
                None => {
                    resume_after = Some(examined_before);
                    break 'scan;
                }
            }
            scanned += 1;
            if scanned >= MAX_SCANNED {
                resume_after = Some(after.clone());
                break 'scan;
            }
        }
        if done || after.is_none() {
            break;
        }
    }
    if resume_after.is_some() && matched.len() < query.skip {
        // The next page would not know how much of `$skip` is left (nextLinks drop `$skip`).
        return Err(too_expensive(&format!(
            "examine too much to skip {} results with this filter; page with the nextLink instead of $skip",
            query.skip
        )));
    }
    let more = matched.len() > query.skip + top;
    let rows: Vec<Row<S::Item>> = matched.into_iter().skip(query.skip).take(top).collect();
    let next = if more {
        rows.last().map(|r| SkipToken::After(r.id.clone()))
    } else {
        match resume_after {
            Some(Some(id)) => Some(SkipToken::After(id)),
            // Out of work on the very first row examined: nothing can ever be returned.
            Some(None) => return Err(too_expensive("spend more than one request's filter work")),
            None => None,
        }
    };
    Ok(Page {
        rows,
        next,
        count: None,
    })
}

/// Evaluates the filter on one row with at most [`ITEM_WORK`] steps from the request's budget. `None`: the
/// request's budget ran out (the caller ends the page there); an error: this row alone needs more than a
/// row may spend.
fn matches_within(
    query: &QueryOptions,
    already_filtered: bool,
    json: &Value,
    budget: &mut WorkBudget,
) -> ApiResult<Option<bool>> {
    if already_filtered {
        return Ok(Some(true));
    }
    let mut item = budget.split(ITEM_WORK);
    let full = item.remaining() == ITEM_WORK;
    let result = query.matches(json, &mut item);
    budget.refund(item);
    match result {
        Ok(keep) => Ok(Some(keep)),
        Err(err) if full => Err(err.into()),
        Err(_) => Ok(None),
    }
}

/// A page that needs every match: to sort it, or to count it.
async fn whole<S: Source>(
    query: &QueryOptions,
    source: &mut S,
    ordered: bool,
    budget: &mut WorkBudget,
) -> ApiResult<Page<S::Item>> {
    let top = query.page_size();
    let after_token = match &query.skip_token {
        Some(SkipToken::After(id)) => Some(id.clone()),
        _ => None,
    };
    // Sorting keeps every match; counting keeps only the rows of the page.
    let mut kept: Vec<Row<S::Item>> = Vec::new();
    let mut count = 0usize;
    let mut skipped = 0usize;
    let mut more = false;
    let mut scanned = 0usize;
    let mut after: Option<String> = None;
    loop {
        let rows = source.chunk(after.as_deref(), CHUNK).await?;
        let done = rows.len() < CHUNK;
        after = rows.last().map(|r| r.id.clone());
        scanned += rows.len();
        if scanned > MAX_SCANNED {
            return Err(too_expensive(&format!(
                "examine more than {MAX_SCANNED} objects"
            )));
        }
        for row in rows {
            match matches_within(query, source.filters_exactly(), &row.json, budget)? {
                Some(true) => {}
                Some(false) => continue,
                None => return Err(too_expensive("spend more than one request's filter work")),
            }
            count += 1;
            if ordered {
                if kept.len() == MAX_SORTED {
                    return Err(too_expensive(&format!(
                        "sort more than {MAX_SORTED} objects"
                    )));
                }
                kept.push(row);
            } else if after_token.as_deref().is_none_or(|a| row.id.as_str() > a) {
                if skipped < query.skip {
                    skipped += 1;
                } else if kept.len() < top {
                    kept.push(row);
                } else {
                    more = true;
                }
            }
        }
        if done || after.is_none() {
            break;
        }
    }
    if !ordered {
        let next = if more {
            kept.last().map(|r| SkipToken::After(r.id.clone()))
        } else {
            None
        };
        return Ok(Page {
            rows: kept,
            next,
            count: Some(count),
        });
    }
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by(|&a, &b| query.compare(&kept[a].json, &kept[b].json));
    let offset = match query.skip_token {
        Some(SkipToken::Offset(n)) => n,
        _ => 0,
    } + query.skip;
    let mut slots: Vec<Option<Row<S::Item>>> = kept.into_iter().map(Some).collect();
    let rows: Vec<Row<S::Item>> = order
        .iter()
        .skip(offset)
        .take(top)
        .filter_map(|i| slots.get_mut(*i).and_then(Option::take))
        .collect();
    let next = (offset + top < count).then_some(SkipToken::Offset(offset + top));
    Ok(Page {
        rows,
        next,
        count: query.count.then_some(count),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(n: usize) -> Vec<Row<()>> {
        (0..n)
            .map(|i| Row {
                id: format!("{i:04}"),
                json: json!({ "n": i, "tag": if i % 3 == 0 { "a" } else { "b" } }),
                item: (),
            })
            .collect()
    }

    /// Follows nextLinks until the end, returning every id once per page it appeared on.
    async fn follow(filter: &str, total: usize, work: u64) -> (Vec<String>, usize) {
        let mut query = QueryOptions::parse(Some(&format!("$filter={filter}&$top=5"))).unwrap();
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let mut source = VecSource::new(rows(total));
            let page = page_within(&query, &mut source, work).await.unwrap();
            pages += 1;
            seen.extend(page.rows.into_iter().map(|r| r.id));
            match page.next {
                Some(token) => query.skip_token = Some(token),
                None => return (seen, pages),
            }
            assert!(pages < 10_000, "paging does not terminate");
        }
    }

    #[tokio::test]
    async fn a_page_that_runs_out_of_work_ends_early_and_the_next_resumes_where_it_stopped() {
        let filter = "tag eq 'a' and n ge 0";
        let (all, pages_unbounded) = follow(filter, 300, REQUEST_WORK).await;
        assert_eq!(all.len(), 100);
        assert_eq!(pages_unbounded, 20);
        // A budget of a few rows per request: more, shorter pages, the same rows exactly once, in order.
        let (bounded, pages_bounded) = follow(filter, 300, 20).await;
        assert_eq!(bounded, all);
        assert!(pages_bounded > pages_unbounded, "{pages_bounded}");
    }

    #[tokio::test]
    async fn a_skip_that_a_short_page_cannot_finish_is_refused_not_lost() {
        let query =
            QueryOptions::parse(Some("$filter=tag eq 'a' and n ge 0&$skip=50&$top=5")).unwrap();
        let mut source = VecSource::new(rows(300));
        let err = page_within(&query, &mut source, 20).await.err().unwrap();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        let mut source = VecSource::new(rows(300));
        let page = page_within(&query, &mut source, REQUEST_WORK)
            .await
            .ok()
            .unwrap();
        assert_eq!(page.rows.first().map(|r| r.id.as_str()), Some("0150"));
    }

    /// A store that answered the whole `$filter` itself: its rows carry no JSON to evaluate.
    struct ExactSource(VecSource<()>);

    impl Source for ExactSource {
        type Item = ();
        async fn chunk(&mut self, after: Option<&str>, limit: usize) -> ApiResult<Vec<Row<()>>> {
            self.0.chunk(after, limit).await
        }
        fn filters_exactly(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn rows_a_source_filtered_exactly_are_not_evaluated_again() {
        // Null JSON matches no filter: were the rows evaluated, the page would be empty.
        let unevaluated = |n: usize| {
            (0..n)
                .map(|i| Row {
                    id: format!("{i:04}"),
                    json: Value::Null,
                    item: (),
                })
                .collect::<Vec<_>>()
        };
        let query = QueryOptions::parse(Some("$filter=tag eq 'a'&$top=5")).unwrap();
        let mut exact = ExactSource(VecSource::new(unevaluated(12)));
        let page = page(&query, &mut exact).await.ok().unwrap();
        assert_eq!(page.rows.len(), 5);
        assert_eq!(page.next, Some(SkipToken::After("0004".into())));
        let mut evaluated = VecSource::new(unevaluated(12));
        assert!(page_within(&query, &mut evaluated, REQUEST_WORK)
            .await
            .ok()
            .unwrap()
            .rows
            .is_empty());
    }

    #[tokio::test]
    async fn counting_past_the_budget_is_refused_not_truncated() {
        let query = QueryOptions::parse(Some("$filter=tag eq 'a'&$count=true")).unwrap();
        let mut source = VecSource::new(rows(300));
        let err = page_within(&query, &mut source, 100).await.err().unwrap();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        let mut source = VecSource::new(rows(300));
        let page = page_within(&query, &mut source, REQUEST_WORK)
            .await
            .ok()
            .unwrap();
        assert_eq!(page.count, Some(100));
    }
}
