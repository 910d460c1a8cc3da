//! OData query options as Microsoft Graph clients send them: `$filter`, `$select`, `$expand`, `$top`, `$skip`,
//! `$skiptoken`, `$count`, `$orderby` and directory `$search`; and the body of a JSON batch ([`batch`]).
//!
//! Pure: no I/O, no HTTP. The server maps [`OdataError`] to Graph's `400 BadRequest`.
//!
//! Everything here reads request input from strangers, so every step is bounded (see [`limits`]): the
//! length of the query and of the filter, the nesting depth and node count of a filter, the depth of
//! lambdas, the number of `$select`/`$expand`/`$orderby` items, and the work spent evaluating a filter
//! ([`WorkBudget`]). Parsing recurses at most [`limits::MAX_DEPTH`] levels; evaluation follows the parsed
//! tree, so it is bounded by the same depth.

pub mod batch;
mod filter;
mod options;
mod search;
mod select;

pub use filter::{parse_filter, CompareOp, Expr, Literal, StringFn, Term, WorkBudget};
pub use options::{lookup, QueryOptions, SkipToken, DEFAULT_PAGE, MAX_PAGE};
pub use search::search_to_filter;
pub use select::Selected;

/// The bounds on request input. Each is far above what Graph tools send and far below what costs a server.
pub mod limits {
    /// The raw query string, in bytes.
    pub const MAX_QUERY_BYTES: usize = 16 * 1024;
    /// One `$filter` (or `$search`) after percent-decoding, in bytes. Tools that filter by a list of serials
    /// send a few dozen `or` clauses, about 2 KiB.
    pub const MAX_FILTER_BYTES: usize = 8 * 1024;
    /// Nesting of parentheses, `not`, function calls and lambdas in one filter.
    pub const MAX_DEPTH: usize = 32;
    /// Lambdas (`any`) inside lambdas. Graph itself refuses nested lambdas on directory objects; two levels
    /// cover every collection ztd serves.
    pub const MAX_LAMBDA_DEPTH: usize = 2;
    /// Comparisons, functions and operators in one filter.
    pub const MAX_NODES: usize = 512;
    /// Items in `$select`, `$expand` or `$orderby`.
    pub const MAX_LIST_ITEMS: usize = 64;
    /// Evaluation steps allowed for one item (a node visited, a collection element bound).
    pub const ITEM_WORK: u64 = 20_000;
    /// An encoded `$skiptoken`, in bytes.
    pub const MAX_SKIP_TOKEN_BYTES: usize = 512;
}

/// What kind of refusal an [`OdataError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OdataErrorKind {
    /// The query is malformed, or names something the entity does not have.
    Invalid,
    /// The query is well-formed but exceeds a limit (size, depth, work).
    TooComplex,
}

/// A refused query, with Graph's wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OdataError {
    pub kind: OdataErrorKind,
    pub message: String,
}

impl OdataError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: OdataErrorKind::Invalid,
            message: message.into(),
        }
    }

    pub fn too_complex(message: impl Into<String>) -> Self {
        Self {
            kind: OdataErrorKind::TooComplex,
            message: message.into(),
        }
    }
}

pub type OdataResult<T> = Result<T, OdataError>;

/// A short, printable excerpt of request input for error messages (the project's one implementation).
pub(crate) use ztd_formats::excerpt_chars as excerpt;
