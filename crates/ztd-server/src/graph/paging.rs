//! Server-driven paging over any collection: rows come from a [`Source`] in id order, chunk by chunk, are
//! filtered on their Graph JSON, and a page ends with an opaque `$skiptoken` (the last id returned, so a
//! page boundary is stable while rows are added or removed elsewhere). `$orderby` switches to offset
//! tokens over the sorted, filtered collection.
//!
//! Collections the store can filter only partly (everything but the serial number on Autopilot devices)
//! are filtered here, in memory, one chunk at a time: a page never needs more than the rows up to its last
//! match, and nothing is skipped or repeated across pages.

use serde_json::Value;

use super::odata::{QueryOptions, SkipToken};
use crate::error::ApiResult;

/// One row of a collection: its key, its Graph JSON (what `$filter` sees) and the entity itself.
pub struct Row<T> {
    pub id: String,
    pub json: Value,
    pub item: T,
}

/// A collection readable in id order.
pub(crate) trait Source {
    type Item;
    /// Up to `limit` rows with an id greater than `after`, in id order.
    async fn chunk(&mut self, after: Option<&str>, limit: usize)
        -> ApiResult<Vec<Row<Self::Item>>>;
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

/// One page of a collection.
pub struct Page<T> {
    pub rows: Vec<Row<T>>,
    pub next: Option<SkipToken>,
    pub count: Option<usize>,
}

/// Rows read per store round trip.
const CHUNK: usize = 1000;

/// Reads the page `query` asks for from `source`.
pub(crate) async fn page<S: Source>(
    query: &QueryOptions,
    source: &mut S,
) -> ApiResult<Page<S::Item>> {
    let top = query.page_size();
    let ordered =
        !query.order_by.is_empty() || matches!(query.skip_token, Some(SkipToken::Offset(_)));
    if ordered || query.count {
        // Everything that matches is needed: to sort it, or to count it.
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows = source.chunk(after.as_deref(), CHUNK).await?;
            let done = rows.len() < CHUNK;
            after = rows.last().map(|r| r.id.clone());
            all.extend(rows.into_iter().filter(|r| query.matches(&r.json)));
            if done || after.is_none() {
                break;
            }
        }
        let count = all.len();
        if ordered {
            let mut order: Vec<usize> = (0..all.len()).collect();
            order.sort_by(|&a, &b| query.compare(&all[a].json, &all[b].json));
            let offset = match query.skip_token {
                Some(SkipToken::Offset(n)) => n,
                _ => 0,
            } + query.skip;
            let mut slots: Vec<Option<Row<S::Item>>> = all.into_iter().map(Some).collect();
            let rows: Vec<Row<S::Item>> = order
                .iter()
                .skip(offset)
                .take(top)
                .filter_map(|i| slots.get_mut(*i).and_then(Option::take))
                .collect();
            let next = (offset + top < count).then_some(SkipToken::Offset(offset + top));
            return Ok(Page {
                rows,
                next,
                count: query.count.then_some(count),
            });
        }
        // Keyset paging over the counted rows.
        let after = match &query.skip_token {
            Some(SkipToken::After(id)) => Some(id.clone()),
            _ => None,
        };
        let mut rest: Vec<Row<S::Item>> = all
            .into_iter()
            .filter(|r| after.as_deref().is_none_or(|a| r.id.as_str() > a))
            .skip(query.skip)
            .collect();
        let more = rest.len() > top;
        rest.truncate(top);
        let next = if more {
            rest.last().map(|r| SkipToken::After(r.id.clone()))
        } else {
            None
        };
        return Ok(Page {
            rows: rest,
            next,
            count: Some(count),
        });
    }
    let need = query.skip + top + 1;
    let mut after = match &query.skip_token {
        Some(SkipToken::After(id)) => Some(id.clone()),
        _ => None,
    };
    let mut matched = Vec::new();
    // Read only what the page needs when the store filters exactly (the usual case), and grow the read
    // when the in-memory filter drops rows.
    let mut chunk = need.clamp(1, CHUNK);
    loop {
        let rows = source.chunk(after.as_deref(), chunk).await?;
        let done = rows.len() < chunk;
        chunk = (chunk * 2).min(CHUNK);
        after = rows.last().map(|r| r.id.clone());
        for row in rows {
            if query.matches(&row.json) {
                matched.push(row);
                if matched.len() >= need {
                    break;
                }
            }
        }
        if done || matched.len() >= need || after.is_none() {
            break;
        }
    }
    let more = matched.len() > query.skip + top;
    let rows: Vec<Row<S::Item>> = matched.into_iter().skip(query.skip).take(top).collect();
    let next = if more {
        rows.last().map(|r| SkipToken::After(r.id.clone()))
    } else {
        None
    };
    Ok(Page {
        rows,
        next,
        count: None,
    })
}
