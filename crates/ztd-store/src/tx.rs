//! The transaction handle and the statement helpers shared by every table module.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::Any;
use sqlx::AnyConnection;

use crate::codec::{Cell, PackedRow};
use crate::{Backend, StoreError};

pub(crate) type Q<'q> = Query<'q, Any, AnyArguments<'q>>;

/// One use case's transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    conn: Conn,
    backend: Backend,
    /// The store's write counter, for write transactions.
    writes: Option<Arc<AtomicU64>>,
    /// The locks taken so far (see [`Tx::holds`]).
    held: Vec<Lock>,
}

enum Conn {
    Transaction(sqlx::Transaction<'static, Any>),
    /// No transaction: each statement is consistent by itself (see `Store::single_read`).
    Single(PoolConnection<Any>),
}

/// What a use case locks, for the rest of its transaction, before it reads anything the lock guards.
///
/// SQLite needs none of these: its write transactions run one at a time (`BEGIN IMMEDIATE`), so a use case
/// that reads a value and acts on it always sees the last committed writer. PostgreSQL runs ztd's
/// transactions at READ COMMITTED, where two use cases that each read what the other writes can both commit
/// decisions made on stale reads (write skew). There each lock is a transaction-scoped advisory lock, taken
/// with [`Tx::lock`] as the use case's first statement, so every lock a transaction holds is taken before
/// any row lock and no cycle of waits can form through them. Locks are keyed by a 64-bit hash of their
/// name: a collision between two names only makes unrelated use cases wait for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Exclusive: a use case that recomputes targeting (memberships, intended profiles) of existing devices
    /// from what it reads: a change to a rule, its processing state, a profile or an assignment, or to one
    /// device's tag or static groups. Such recomputations run one at a time per tenant.
    Targeting(ztd_core::TenantId),
    /// Shared: a use case that adds or removes devices, or writes a device's own state, under the tenant's
    /// targeting as it stands (an import, a deletion, a boot's remediation flag). Any number run together;
    /// none runs while a [`Lock::Targeting`] holder does.
    Targeted(ztd_core::TenantId),
    /// Exclusive: the tenant's manual Autopilot sync ("is one running?" then "start one").
    Sync(ztd_core::TenantId),
    /// Exclusive, deployment-wide: the first start ("is there a tenant?" then "create one").
    Bootstrap,
    /// Exclusive: the tenant's signing keys ("is there an active key?" then "create one", or a rotation).
    SigningKeys(ztd_core::TenantId),
    /// Exclusive: one user's sign-in state (the lockout counters read, then written).
    SignIn(ztd_core::DirectoryObjectId),
    /// Exclusive: removing one of the tenant's verified domains ("does any user's name use it?" then
    /// "remove it").
    Domains(ztd_core::TenantId),
    /// Shared: giving a user a name in one of the tenant's verified domains (create, rename). Any number
    /// run together; none while a [`Lock::Domains`] holder does.
    DomainUse(ztd_core::TenantId),
    /// Exclusive: one managed device's session state (its queue read, commands sent, statuses recorded), so
    /// two sessions of one device, or a session and an admin's action, do not interleave.
    ManagedDevice(ztd_core::ManagedDeviceId),
    /// Exclusive: a tenant's MDM enrollments ("is this device enrolled already?" then "enroll it").
    Enrollment(ztd_core::TenantId),
    /// Exclusive: a tenant's scope tags and assignment filters changed from what was read ("which id comes
    /// next?" then "create it"; a tag or filter updated or a tag deleted).
    ScopeTags(ztd_core::TenantId),
}

impl Lock {
    fn key(self) -> String {
        match self {
            Self::Targeting(tenant) | Self::Targeted(tenant) => format!("ztd:targeting:{tenant}"),
            Self::Sync(tenant) => format!("ztd:sync:{tenant}"),
            Self::Bootstrap => "ztd:bootstrap".to_string(),
            Self::SigningKeys(tenant) => format!("ztd:keys:{tenant}"),
            Self::SignIn(user) => format!("ztd:sign-in:{user}"),
            Self::Domains(tenant) | Self::DomainUse(tenant) => format!("ztd:domains:{tenant}"),
            Self::ManagedDevice(device) => format!("ztd:managed-device:{device}"),
            Self::Enrollment(tenant) => format!("ztd:mdm-enrollment:{tenant}"),
            Self::ScopeTags(tenant) => format!("ztd:scope-tags:{tenant}"),
        }
    }

    fn shared(self) -> bool {
        matches!(self, Self::Targeted(_) | Self::DomainUse(_))
    }
}

/// A dynamically built statement's parameter.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

impl Tx {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Any>, backend: Backend) -> Self {
        Self {
            conn: Conn::Transaction(tx),
            backend,
            writes: None,
            held: Vec::new(),
        }
    }

    pub(crate) fn single(conn: PoolConnection<Any>, backend: Backend) -> Self {
        Self {
            conn: Conn::Single(conn),
            backend,
            writes: None,
            held: Vec::new(),
        }
    }

    fn connection(&mut self) -> &mut AnyConnection {
        match &mut self.conn {
            Conn::Transaction(tx) => tx,
            Conn::Single(conn) => conn,
        }
    }

    pub(crate) fn tracking(mut self, writes: Arc<AtomicU64>) -> Self {
        self.writes = Some(writes);
        self
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        if let Conn::Transaction(tx) = self.conn {
            tx.commit().await?;
        }
        // After the commit: a reader that sees the new version also sees the new data.
        if let Some(writes) = &self.writes {
            writes.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Commits without bumping [`Store::write_version`](crate::Store::write_version): for writes that no
    /// cached read depends on (a device's last contact time).
    pub async fn commit_untracked(self) -> Result<(), StoreError> {
        if let Conn::Transaction(tx) = self.conn {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping does the same, lazily).
    pub async fn rollback(self) -> Result<(), StoreError> {
        if let Conn::Transaction(tx) = self.conn {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// Takes `lock` until this transaction ends (see [`Lock`]). Call it first, in a write transaction.
    pub async fn lock(&mut self, lock: Lock) -> Result<(), StoreError> {
        if matches!(self.conn, Conn::Single(_)) {
            return Err(StoreError::Misuse(
                "a lock taken outside a transaction would be released at once",
            ));
        }
        if self.holds(lock) {
            return Ok(());
        }
        if self.backend == Backend::Postgres {
            let sql = if lock.shared() {
                "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))"
            } else {
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
            };
            self.execute(sqlx::query(sql).bind(lock.key())).await?;
        }
        self.held.push(lock);
        Ok(())
    }

    /// Whether this transaction took `lock`, or the exclusive lock that covers it. Recorded on SQLite too
    /// (where taking a lock issues no statement), so a step that relies on a lock can check that its use
    /// case took it, and every test on either database checks it.
    pub fn holds(&self, lock: Lock) -> bool {
        self.held.iter().any(|held| {
            *held == lock
                || matches!((*held, lock), (Lock::Targeting(a), Lock::Targeted(b)) if a == b)
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Bind parameters one statement may carry: SQLite's `SQLITE_MAX_VARIABLE_NUMBER` (32766 since 3.32) and
    /// PostgreSQL's protocol limit (65535).
    fn max_params(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 32_766,
            Backend::Postgres => 65_535,
        }
    }

    /// How many rows of `per_row` parameters fit in one statement next to `fixed` other parameters.
    pub(crate) fn rows_per_statement(&self, per_row: usize, fixed: usize) -> usize {
        ((self.max_params() - fixed) / per_row).max(1)
    }

    pub(crate) async fn execute(&mut self, query: Q<'_>) -> Result<u64, StoreError> {
        Ok(query.execute(self.connection()).await?.rows_affected())
    }

    pub(crate) async fn fetch_all(&mut self, query: Q<'_>) -> Result<Vec<AnyRow>, StoreError> {
        Ok(query.fetch_all(self.connection()).await?)
    }

    pub(crate) async fn fetch_optional(
        &mut self,
        query: Q<'_>,
    ) -> Result<Option<AnyRow>, StoreError> {
        Ok(query.fetch_optional(self.connection()).await?)
    }

    /// Fetches and decodes every row.
    pub(crate) async fn fetch_map<T>(
        &mut self,
        query: Q<'_>,
        decode: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.fetch_all(query).await?.iter().map(decode).collect()
    }

    pub(crate) async fn fetch_one_map<T>(
        &mut self,
        query: Q<'_>,
        decode: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.fetch_optional(query)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    /// Fetches the rows of `inner` (a whole `SELECT` of exactly `columns`, with its `ORDER BY` and `LIMIT`)
    /// packed by the database into one JSON array of arrays, and decodes each. A page then crosses from the
    /// driver in one piece: SQLite's driver otherwise hands every row to the async runtime through a
    /// channel, a thread switch per row, which cost more than the query itself (docs/benchmarks.md). The
    /// order of the rows is not guaranteed by SQL here: callers sort what they get.
    pub(crate) async fn fetch_packed<T>(
        &mut self,
        inner: &str,
        binds: Vec<Bind>,
        columns: &[&str],
        decode: impl Fn(&PackedRow<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let page = self.fetch_packed_text(inner, binds, columns).await?;
        decode_page(&page, columns, decode)
    }

    /// The packed page of [`Tx::fetch_packed`] as JSON text (`[[...], ...]`), for callers that
    /// deserialise rows into their own types (`codec::parse_page`).
    pub(crate) async fn fetch_packed_text(
        &mut self,
        inner: &str,
        binds: Vec<Bind>,
        columns: &[&str],
    ) -> Result<String, StoreError> {
        let list = columns.join(", ");
        let sql = match self.backend {
            Backend::Sqlite => {
                format!("SELECT json_group_array(json_array({list})) AS page FROM ({inner})")
            }
            Backend::Postgres => format!(
                "SELECT COALESCE(json_agg(json_build_array({list})), '[]'::json)::text AS page \
                 FROM ({inner}) AS packed"
            ),
        };
        self.fetch_page_value(&sql, binds).await
    }

    /// [`Tx::fetch_packed`] for stored listings ([`Tx::fetch_listing_text`]): each row decoded by `names`.
    pub(crate) async fn fetch_listing<T>(
        &mut self,
        inner: &str,
        binds: Vec<Bind>,
        names: &[&str],
        decode: impl Fn(&PackedRow<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let page = self.fetch_listing_text(inner, binds).await?;
        decode_page(&page, names, decode)
    }

    /// The page of `inner` (a whole `SELECT` of one column, `listing`: rows SQLite packed as JSON arrays when
    /// they were written, `migrations-sqlite/`) as the JSON text of [`Tx::fetch_packed_text`]. Joining the
    /// stored arrays copies bytes, where packing at read time escaped every value of the page again.
    /// SQLite only.
    pub(crate) async fn fetch_listing_text(
        &mut self,
        inner: &str,
        binds: Vec<Bind>,
    ) -> Result<String, StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Misuse("stored listings exist on SQLite only"));
        }
        let sql = format!("SELECT '[' || group_concat(listing, ',') || ']' AS page FROM ({inner})");
        self.fetch_page_value(&sql, binds).await
    }

    /// The `page` column of a statement that aggregates a page into one JSON text (`[]` for no rows).
    async fn fetch_page_value(
        &mut self,
        sql: &str,
        binds: Vec<Bind>,
    ) -> Result<String, StoreError> {
        Ok(
            match self
                .fetch_optional(bind_all(sqlx::query(sql), binds))
                .await?
            {
                Some(row) => crate::codec::opt_text(&row, "page")?.unwrap_or_else(|| "[]".into()),
                None => "[]".into(),
            },
        )
    }

    /// Multi-row `INSERT`: `head` is `INSERT INTO t (c1, ..., cn) VALUES `, `tail` follows the values (an
    /// `ON CONFLICT` clause or nothing). Rows are chunked to stay under the bind-parameter limit.
    pub(crate) async fn insert_rows<T>(
        &mut self,
        head: &str,
        columns: usize,
        tail: &str,
        rows: &[T],
        bind: impl for<'q> Fn(Q<'q>, &'q T) -> Q<'q>,
    ) -> Result<(), StoreError> {
        let per_statement = self.rows_per_statement(columns, 0);
        let mut full_sql = String::new();
        for chunk in rows.chunks(per_statement) {
            let sql = if chunk.len() == per_statement && !full_sql.is_empty() {
                full_sql.clone()
            } else {
                let sql = format!(
                    "{head}{}{tail}",
                    placeholders(self.backend, 1, chunk.len(), columns)
                );
                if chunk.len() == per_statement {
                    full_sql = sql.clone();
                }
                sql
            };
            // Only full-size statements are worth keeping prepared: a tail chunk's text differs almost every
            // time, and each cached bulk statement holds a large compiled program, so caching tails grew the
            // connection's memory with every import batch.
            let mut query = sqlx::query(&sql).persistent(chunk.len() == per_statement);
            for row in chunk {
                query = bind(query, row);
            }
            self.execute(query).await?;
        }
        Ok(())
    }
}

/// One numbered placeholder of a bulk statement. On SQLite it is an anonymous `?`, bound by position: SQLite
/// resolves `$N` names (at prepare time and in `sqlite3_bind_parameter_name`, which sqlx calls for every
/// parameter of every execution) by a linear scan, which makes a 32,000-parameter statement quadratic (about
/// 250x slower in the bulk import measurement). Bulk statements therefore number their parameters in textual
/// order, so `?` and `$N` bind identically. This is the one placeholder divergence; all other SQL uses `$N`.
fn placeholder(out: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => out.push('?'),
        Backend::Postgres => {
            let _ = write!(out, "${n}");
        }
    }
}

/// `($first, ...), (...)`: `rows` tuples of `columns` placeholders, numbered in textual order.
pub(crate) fn placeholders(backend: Backend, first: usize, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 7);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push(',');
            }
            placeholder(&mut out, backend, n);
            n += 1;
        }
        out.push(')');
    }
    out
}

/// `$first, $first+1, ...` for an `IN (...)` list (see [`placeholder`]).
pub(crate) fn in_list(backend: Backend, first: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 7);
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        placeholder(&mut out, backend, first + i);
    }
    out
}

/// A single placeholder for a bulk statement's fixed parameter (see [`placeholder`]).
pub(crate) fn param(backend: Backend, n: usize) -> String {
    let mut out = String::new();
    placeholder(&mut out, backend, n);
    out
}

pub(crate) fn bind_all(mut query: Q<'_>, binds: Vec<Bind>) -> Q<'_> {
    for bind in binds {
        query = match bind {
            Bind::Text(v) => query.bind(v),
            Bind::Int(v) => query.bind(v),
        };
    }
    query
}

/// Builds a `WHERE` clause with numbered placeholders.
pub(crate) struct Filter {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Filter {
    pub fn new(tenant: &str) -> Self {
        Self {
            sql: "tenant_id = $1".into(),
            binds: vec![Bind::Text(tenant.to_string())],
        }
    }

    /// The next placeholder, bound to `value`.
    pub fn param(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    /// Appends ` AND <clause>` where `{}` in `clause` is replaced by the placeholder for `value`.
    pub fn and(&mut self, clause: &str, value: Bind) {
        let p = self.param(value);
        self.sql.push_str(" AND ");
        self.sql.push_str(&clause.replace("{}", &p));
    }
}

/// Each row of a page's JSON text (arrays of values in the order of `names`), decoded.
fn decode_page<T>(
    page: &str,
    names: &[&str],
    decode: impl Fn(&PackedRow<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let rows: Vec<Vec<Cell<'_>>> = crate::codec::parse_page(page)?;
    rows.into_iter()
        .map(|values| decode(&PackedRow::new(names, values)))
        .collect()
}
