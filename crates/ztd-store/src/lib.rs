//! ztd-store: persistence for ztd, the only crate that knows SQL.
//!
//! # One implementation, two databases
//! Everything goes through sqlx's `Any` driver, so SQLite (single node, zero setup) and PostgreSQL (any number
//! of stateless nodes) share every query and one migration history (`migrations/`). To keep that possible the
//! SQL follows a few portability rules:
//! - columns are only `TEXT` or `BIGINT`: booleans are 0/1, timestamps are Unix milliseconds, UUIDs are
//!   lowercase hyphenated text (their text order is their byte order), lists and documents are JSON text;
//! - enums are stored as their wire names (`as_str()`), never as numbers;
//! - no autoincrement: every row has an application-chosen id; event order uses a `seq` column assigned here;
//! - `$1`-style placeholders (SQLite accepts them), `ON CONFLICT ... DO NOTHING/UPDATE`, row values,
//!   `WITH ... UPDATE ... FROM` (SQLite ≥ 3.33, bundled);
//! - case-insensitive lookups use `*_lower` columns filled with Rust's `to_lowercase`, because `LOWER()`
//!   differs between the engines outside ASCII;
//! - a few tiny divergences: a substring test is `instr` on SQLite and `strpos` on PostgreSQL
//!   (`codec::contains_clause`), `Tx::lock` is an advisory lock on PostgreSQL and nothing on SQLite,
//!   `claim_pending_imports` and `get_device_for_update` lock rows on PostgreSQL only, and bulk
//!   statements (multi-row `INSERT`, long `IN` lists) write their placeholders as positional `?` on SQLite,
//!   because SQLite resolves `$N` names by linear scan, which made 32,000-parameter statements quadratic;
//! - bulk writes are multi-row statements chunked under the bind-parameter limits (SQLite 32766,
//!   PostgreSQL 65535), with rows sorted by primary key so index inserts are appends;
//! - what only one engine can express lives in that engine's own migrations, applied after or between the
//!   shared ones by version (`migrations-sqlite/`: the `listing` generated columns, each row's listed columns
//!   packed as a JSON array when the row is written and kept in an index in page order, so a SQLite page
//!   joins stored arrays instead of packing every value again; PostgreSQL packs pages at read time). A
//!   database that holds a version neither list knows was migrated by a newer ztd and is refused.
//!
//! # Schema
//! `tenants`, `clients`, `devices` (Autopilot registrations, assignment state inline), `directory_devices`,
//! `device_groups`, `group_members`, `profiles` and `esp_configurations` (settings as versioned JSON documents,
//! `{"v":1,...}`), `profile_assignments`, `imports` (the Graph import queue), `events`, `settings`. Every table
//! carries `tenant_id` and every tenant-scoped index leads with it; every query except the few marked GLOBAL
//! filters on it. `devices.identity_key` has a *global* unique index: one piece of hardware belongs to at most
//! one tenant, enforced by the database even when several nodes register concurrently.
//!
//! # SQLite durability and write serialisation
//! SQLite runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives an application crash,
//! but the last transactions before an OS crash or power loss may be lost (never corrupted). That is the usual
//! trade for WAL and makes bulk imports several times faster; use PostgreSQL where that matters.
//!
//! Write transactions ([`Store::begin`]) on SQLite go through a pool of exactly one connection and start with
//! `BEGIN IMMEDIATE`: writers queue in the pool (in process, fairly) instead of racing for the file lock, so
//! a deferred transaction can never fail to upgrade its read lock (`SQLITE_BUSY`) and concurrent writers cannot
//! deadlock. `BEGIN IMMEDIATE` plus the busy timeout also covers a second process (the CLI) on the same file.
//! Read-only work may use [`Store::begin_read`], which on SQLite uses a separate pool of `query_only`
//! connections that read a WAL snapshot concurrently with the writer. Never open a second write transaction
//! while holding one in the same task: on SQLite it waits for the first.

mod clients;
mod codec;
pub mod corporate;
mod device_policies;
mod devices;
mod directory;
mod drs;
mod groups;
mod imports;
mod mdm;
mod misc;
mod profiles;
mod scope;
pub mod scratch;
mod server_settings;
mod sign_ins;
mod tx;
mod users;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::{AnyPool, Executor};

pub use directory::MemberRow;
pub use drs::StoredDeviceCertificate;
pub use mdm::{ManagedDeviceQuery, StoredMdmCertificate};
pub use tx::{Lock, Tx};
pub use users::{StoredRefreshToken, StoredSigningKey, UserQuery};
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, ImportId, Ztdid};

/// The migration history both databases share.
static SHARED_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");
/// SQLite's own migrations, for what only SQLite can express (generated columns packing a page's rows when
/// they are written). Their versions never collide with the shared ones.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations-sqlite");

/// One backend's migrations in version order: the shared history, and on SQLite its own interleaved by
/// version. One migrator runs them all, so a database migrated by a newer ztd (a version this binary does
/// not know, from either directory) is still refused.
#[derive(Debug)]
struct BackendMigrations(Vec<Migration>);

impl<'s> MigrationSource<'s> for BackendMigrations {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async move { Ok(self.0) })
    }
}

async fn migrator(backend: Backend) -> Result<Migrator, StoreError> {
    let mut migrations: Vec<Migration> = SHARED_MIGRATIONS.iter().cloned().collect();
    if backend == Backend::Sqlite {
        migrations.extend(SQLITE_MIGRATIONS.iter().cloned());
    }
    migrations.sort_by_key(|m| m.version);
    Ok(Migrator::new(BackendMigrations(migrations)).await?)
}

/// Which database a [`Store`] talks to. Queries are shared; only pool setup and the queue claim differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A unique constraint was violated (same id, same identity key...). On PostgreSQL the transaction is
    /// aborted afterwards: drop it and start again.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be decoded (unknown enum name, bad UUID, undecodable document...).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// PostgreSQL aborted the transaction to resolve a conflict with a concurrent one (serialization
    /// failure `40001`, deadlock `40P01`): the whole use case can be run again.
    #[error("transaction conflict, retry: {0}")]
    Retryable(String),
    /// A caller broke the store's contract (a bug, never bad input).
    #[error("store misuse: {0}")]
    Misuse(&'static str),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                return StoreError::Conflict(db.message().to_string());
            }
            if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
                return StoreError::Retryable(db.message().to_string());
            }
        }
        StoreError::Database(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Database(sqlx::Error::Migrate(Box::new(error)))
    }
}

/// Filters for [`Tx::list_devices`] and [`Tx::count_devices`]. Results are ordered by ZTDID.
#[derive(Default, Clone, Debug)]
pub struct DeviceQuery {
    /// Case-insensitive substring of the serial number (`%` and `_` match literally).
    pub serial_contains: Option<String>,
    /// Exact (case-sensitive) group tag; `Some("")` selects untagged devices.
    pub group_tag: Option<String>,
    /// Only the device named (by ZTDID) by the directory object with this `deviceId`.
    pub directory_device_id: Option<DirectoryDeviceId>,
    /// Only devices whose intended profile is this one (a profile's `assignedDevices`).
    pub intended_profile_id: Option<ztd_core::ProfileId>,
    /// Keyset paging: only ZTDIDs greater than this. Ignored by `count_devices`.
    pub after: Option<Ztdid>,
    /// Ignored by `count_devices`.
    pub limit: Option<u32>,
    /// Ignored by `count_devices`.
    pub offset: Option<u64>,
    /// Leave the hash and the hardware keys empty instead of reading them (`hardware_hash` empty,
    /// `keys` default): listings never show a device's hardware identity, and skip reading its largest
    /// columns.
    pub without_hardware: bool,
}

/// Filters for [`Tx::list_directory_devices`]. Results are ordered by object id.
#[derive(Default, Clone, Debug)]
pub struct DirectoryQuery {
    pub device_id: Option<DirectoryDeviceId>,
    /// Case-insensitive exact display name.
    pub display_name: Option<String>,
    pub after: Option<DirectoryObjectId>,
    pub limit: Option<u32>,
}

/// Filters for [`Tx::list_imports`]. Results are ordered by import id.
#[derive(Default, Clone, Debug)]
pub struct ImportQuery {
    /// Case-insensitive substring of the serial number (`%` and `_` match literally).
    pub serial_contains: Option<String>,
    /// Exact batch id.
    pub batch_id: Option<String>,
    pub after: Option<ImportId>,
    pub limit: Option<u32>,
}

/// A handle on the database; cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Every transaction on PostgreSQL; write transactions on SQLite (one connection).
    write: AnyPool,
    /// Read-only transactions on SQLite (`query_only` connections); the same pool as `write` otherwise.
    read: AnyPool,
    /// Write transactions committed through this handle (see [`Store::write_version`]).
    writes: Arc<AtomicU64>,
}

/// How a store connects. Only PostgreSQL pools are sized: SQLite has one writer and a few readers in
/// process.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Connections one node opens to PostgreSQL at most (docs/multi-node.md has the arithmetic for
    /// `max_connections`).
    pub max_connections: u32,
    /// SQLite: the WAL size, in pages, past which a commit also checkpoints (`wal_autocheckpoint`). The
    /// background checkpointer does most of the copying, but it cannot finish while commits follow each other
    /// (an import), and SQLite restarts the WAL only once it is wholly copied back: without this bound, a
    /// 100,000-device import left a 983 MB WAL beside a 670 MB database.
    pub wal_autocheckpoint_pages: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            // 128 MiB of 16 KiB pages: measured as fast as no bound in the import benchmark
            // (docs/benchmarks.md, "The WAL, bounded").
            wal_autocheckpoint_pages: 8192,
        }
    }
}

/// SQLite: the size the WAL file is cut back to when SQLite restarts it (`journal_size_limit`), so a burst of
/// writes does not keep its disk space.
const WAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;
/// Reader connections for an SQLite file.
const SQLITE_READERS: u32 = 4;

impl Store {
    /// Opens (and migrates) a database: `sqlite:///abs/path/ztd.db` (created if missing), `sqlite::memory:`
    /// or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`Store::open`] with a pool size of the caller's choice.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("sqlite:") {
            open_sqlite(url, options).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(60))
                .connect(url)
                .await?;
            Inner {
                writes: Arc::default(),
                backend: Backend::Postgres,
                write: pool.clone(),
                read: pool,
            }
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database url (want sqlite: or postgres:): {url}").into(),
            )));
        };
        migrator(store.backend).await?.run(&store.write).await?;
        Ok(Store {
            inner: Arc::new(store),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Starts a read-write transaction: one use case, one transaction. Dropping it without
    /// [`Tx::commit`] rolls back.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.inner.backend {
            Backend::Sqlite => self.inner.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.write.begin().await?,
        };
        Ok(Tx::new(tx, self.inner.backend).tracking(self.inner.writes.clone()))
    }

    /// Starts a read-only transaction (a consistent snapshot). On SQLite it does not wait for, or block, the
    /// writer; writing through it fails. On PostgreSQL it is an ordinary transaction.
    pub async fn begin_read(&self) -> Result<Tx, StoreError> {
        let tx = self.inner.read.begin().await?;
        Ok(Tx::new(tx, self.inner.backend))
    }

    /// A read handle without a transaction, for use cases that read with a single statement (a page): one
    /// statement sees one consistent state by itself, and skipping `BEGIN`/`ROLLBACK` saves two round trips
    /// to the driver. Reads of more than one statement that must agree use [`Store::begin_read`].
    pub async fn single_read(&self) -> Result<Tx, StoreError> {
        let conn = self.inner.read.acquire().await?;
        Ok(Tx::single(conn, self.inner.backend))
    }

    /// A counter of the write transactions committed through this store handle (this node), bumped after
    /// each commit. A read cached at version `v` is current as long as the version is still `v` — for this
    /// node's writes; other nodes' writes are not counted (caches bound their age on PostgreSQL).
    /// [`Tx::commit_untracked`] commits without bumping it, for writes no cached read depends on.
    pub fn write_version(&self) -> u64 {
        self.inner.writes.load(Ordering::Acquire)
    }

    /// Closes every pooled connection (checkpointing the SQLite WAL).
    pub async fn close(&self) {
        self.inner.read.close().await;
        self.inner.write.close().await;
    }
}

async fn open_sqlite(url: &str, options: StoreOptions) -> Result<Inner, StoreError> {
    // Before the first connection: SQLite takes an allocator only until it initialises.
    if ztd_sqlite_heap::install() == ztd_sqlite_heap::Heap::System {
        tracing::debug!("SQLite initialised before ztd could give it mimalloc; it keeps malloc");
    }
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // Every new connection to `sqlite::memory:` made through `Any` is a new, empty database, so an
        // in-memory store is one connection kept forever, used for reads and writes alike.
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        return Ok(Inner {
            writes: Arc::default(),
            backend: Backend::Sqlite,
            write: pool.clone(),
            read: pool,
        });
    }
    let url = if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let connect = AnyConnectOptions::from_str(&url)?;
    // A connection to a local file cannot go stale: no ping (a round trip to the driver's thread) before
    // every acquire.
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(120))
        .after_connect(move |conn, _| {
            Box::pin(async move { sqlite_pragmas(conn, SqliteRole::Writer(options)).await })
        })
        .connect_with(connect.clone())
        .await?;
    // Switch to WAL once, through the writer, before any reader opens the file.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&write)
        .await?;
    let read = AnyPoolOptions::new()
        .max_connections(SQLITE_READERS)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _| {
            Box::pin(async move { sqlite_pragmas(conn, SqliteRole::Reader).await })
        })
        .connect_with(connect)
        .await?;
    spawn_checkpointer(&read);
    Ok(Inner {
        writes: Arc::default(),
        backend: Backend::Sqlite,
        write,
        read,
    })
}

/// Copies the SQLite WAL back into the database file in the background, every 250 ms, so writers rarely pay
/// for it at commit (only past `StoreOptions::wal_autocheckpoint_pages`). PASSIVE checkpoints never block
/// readers or the writer. The task ends when the store's
/// pools are closed.
fn spawn_checkpointer(pool: &AnyPool) {
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(250));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if pool.is_closed() {
                return;
            }
            // A checkpoint writes only the database file, which `query_only` permits.
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(%error, "background WAL checkpoint failed; will retry");
            }
        }
    });
}

/// Which of an SQLite store's connections is being set up.
#[derive(Clone, Copy)]
enum SqliteRole {
    Writer(StoreOptions),
    Reader,
}

async fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    role: SqliteRole,
) -> Result<(), sqlx::Error> {
    // synchronous=NORMAL: durable across application crashes, may lose the newest commits on power loss.
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    match role {
        SqliteRole::Reader => {
            // 16 MiB per reader: reads are point lookups and pages of a listing.
            conn.execute("PRAGMA cache_size = -16384").await?;
            conn.execute("PRAGMA query_only = ON").await?;
        }
        SqliteRole::Writer(options) => {
            // 32 MiB for the writer (allocated only as used): the hot index pages of a large import stay in
            // memory while the whole process stays well under 500 MB.
            conn.execute("PRAGMA cache_size = -32768").await?;
            // 16 KiB pages (applies when the database file is created): fewer, fuller pages per import batch;
            // measured about 15% faster imports than the 4 KiB default.
            conn.execute("PRAGMA page_size = 16384").await?;
            // The checkpointer task copies the WAL back in the background so that a commit usually costs only
            // its own WAL append (see `spawn_checkpointer`); past this size a commit checkpoints too, which
            // lets the next write transaction restart the WAL from its beginning.
            conn.execute(
                format!(
                    "PRAGMA wal_autocheckpoint = {}",
                    options.wal_autocheckpoint_pages
                )
                .as_str(),
            )
            .await?;
            conn.execute(format!("PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}").as_str())
                .await?;
        }
    }
    Ok(())
}
