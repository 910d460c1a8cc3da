//! Throw-away databases for tests and benchmarks of the crates above the store: a SQLite file in a temporary
//! directory, or a fresh PostgreSQL schema that is dropped afterwards. Keeps SQL out of other crates' tests.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use sqlx::Connection;

use crate::{Store, StoreError};

/// The PostgreSQL server tests run against: `ZTD_TEST_POSTGRES_URL`, or `None` (the PostgreSQL half of the
/// suite is skipped). With `ZTD_REQUIRE_POSTGRES=1`, which CI sets, a missing URL fails the test instead of
/// skipping half the suite in silence.
pub fn postgres_url() -> Option<String> {
    match std::env::var("ZTD_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("ZTD_REQUIRE_POSTGRES").as_deref() == Ok("1") => panic!(
            "ZTD_REQUIRE_POSTGRES=1 but ZTD_TEST_POSTGRES_URL is not set: start PostgreSQL and set it \
             (postgres://postgres@127.0.0.1:5432/test on the CI machine)"
        ),
        _ => None,
    }
}

/// A store on a PostgreSQL schema of its own. Call [`ScratchPostgres::drop_schema`] when done.
pub struct ScratchPostgres {
    pub store: Store,
    base_url: String,
    schema: String,
}

impl ScratchPostgres {
    /// Creates a uniquely named schema on the server at `base_url` and opens a store on it.
    #[allow(
        clippy::disallowed_methods,
        reason = "test databases, not ztd's data: the name must differ across concurrent test processes"
    )]
    pub async fn create(base_url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let schema = format!("ztd_scratch_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(base_url).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let store = Store::open(&schema_url(base_url, &schema)).await?;
        Ok(Self {
            store,
            base_url: base_url.to_string(),
            schema,
        })
    }

    /// Another store on the same schema, with its own pool: a second node of the same deployment.
    pub async fn another_node(&self) -> Result<Store, StoreError> {
        Store::open(&schema_url(&self.base_url, &self.schema)).await
    }

    /// The database URL of this schema, for a `ztd serve` process of the same deployment.
    pub fn url(&self) -> String {
        schema_url(&self.base_url, &self.schema)
    }

    /// [`ScratchPostgres::another_node`] with its own store options (a pool of another size).
    pub async fn another_node_with(
        &self,
        options: crate::StoreOptions,
    ) -> Result<Store, StoreError> {
        Store::open_with(&schema_url(&self.base_url, &self.schema), options).await
    }

    /// Closes the store and drops the schema with everything in it.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        self.store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.base_url).await?;
        // Tests drop their schemas concurrently; PostgreSQL can pick one of two drops as a deadlock victim
        // (they lock shared catalog rows). The drop is simply tried again.
        let drop = format!("DROP SCHEMA {} CASCADE", self.schema);
        let mut attempt = 0;
        loop {
            match sqlx::query(&drop)
                .execute(&mut admin)
                .await
                .map_err(StoreError::from)
            {
                Ok(_) => break,
                Err(StoreError::Retryable(_)) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                Err(other) => return Err(other),
            }
        }
        admin.close().await?;
        Ok(())
    }
}

fn schema_url(base_url: &str, schema: &str) -> String {
    let separator = if base_url.contains('?') { '&' } else { '?' };
    format!("{base_url}{separator}options=-c%20search_path%3D{schema}")
}

/// Runs `scenario` on a store of a fresh SQLite file (deleted afterwards).
pub async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = sqlite_in(dir.path()).await.expect("open SQLite");
    assert_eq!(store.backend(), crate::Backend::Sqlite);
    scenario(store.clone()).await;
    store.close().await;
}

/// Runs `scenario` on a store of a fresh PostgreSQL schema, which is dropped afterwards even when the
/// scenario panics. Without a server ([`postgres_url`]) it is skipped, or fails under
/// `ZTD_REQUIRE_POSTGRES=1`.
pub async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(base) = postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipping the PostgreSQL half of this test");
        return;
    };
    let scratch = ScratchPostgres::create(&base)
        .await
        .expect("a scratch PostgreSQL schema");
    assert_eq!(scratch.store.backend(), crate::Backend::Postgres);
    let outcome = AssertUnwindSafe(scenario(scratch.store.clone()))
        .catch_unwind()
        .await;
    scratch
        .drop_schema()
        .await
        .expect("drop the scratch schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The one run-on-both-databases harness: `scenario` on SQLite, then on PostgreSQL ([`on_postgres`]).
pub async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    on_sqlite(&scenario).await;
    on_postgres(&scenario).await;
}

/// A store on a SQLite file in `dir`.
pub async fn sqlite_in(dir: &std::path::Path) -> Result<Store, StoreError> {
    Store::open(&format!("sqlite://{}", dir.join("ztd.db").display())).await
}

/// Fault injection for tests of all-or-nothing use cases: from now on, deleting the registration with this
/// serial number fails inside the database (a trigger), as a failing disk or a lost connection would in the
/// middle of a transaction.
pub async fn fail_deleting_serial(store: &Store, serial: &str) -> Result<(), StoreError> {
    let serial = serial.replace('\'', "''");
    fail_in_trigger(
        store,
        "DELETE ON devices",
        &format!("OLD.serial_number = '{serial}'"),
    )
    .await
}

/// Rows whose stored listing (SQLite's `listing` columns, `migrations-sqlite/`) is not the array the store
/// would pack from the row at read time, in `devices` and in `directory_devices`, as the page indexes hold
/// them: `(0, 0)` when every
/// listing follows its row and the column lists of the migration match the store's. PostgreSQL stores no
/// listings: `None`.
pub async fn stale_listings(store: &Store) -> Result<Option<(u64, u64)>, StoreError> {
    if store.backend() != crate::Backend::Sqlite {
        return Ok(None);
    }
    let mut tx = store.begin_read().await?;
    let devices = crate::devices::LISTED_COLS.join(", ");
    let directory = crate::directory::DIRECTORY_COLS;
    let stale_devices = tx
        .count(sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM devices INDEXED BY devices_listing \
             WHERE listing IS NOT json_array({devices})"
        )))
        .await?;
    let stale_directory = tx
        .count(sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM directory_devices INDEXED BY directory_devices_listing \
             WHERE listing IS NOT json_array({directory})"
        )))
        .await?;
    tx.rollback().await?;
    Ok(Some((stale_devices, stale_directory)))
}

/// Damage: gives the registration with this serial number an enrollment state no version of ztd writes, as
/// a hand edit or a bad restore would, so a test can see how a corrupt stored value is reported.
pub async fn corrupt_enrollment_state(store: &Store, serial: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.execute(
        sqlx::query("UPDATE devices SET enrollment_state = 'not-a-state' WHERE serial_number = $1")
            .bind(serial),
    )
    .await?;
    tx.commit().await
}

/// Damage: deletes a directory object's row but not its group memberships, as a bad restore would (ztd
/// deletes them together), so a test can see how a member page reports a member that is gone.
pub async fn orphan_memberships_of(
    store: &Store,
    tenant: ztd_core::TenantId,
    object: ztd_core::DirectoryObjectId,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.execute(
        sqlx::query("DELETE FROM directory_devices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(object.to_string()),
    )
    .await?;
    tx.commit().await
}

/// Fault injection: from now on, every new profile assignment fails inside the database.
pub async fn fail_assigning_profiles(store: &Store) -> Result<(), StoreError> {
    fail_in_trigger(store, "INSERT ON profile_assignments", "1 = 1").await
}

/// A trigger that aborts `event` (`DELETE ON devices`) when `condition` (on `OLD`/`NEW`) holds.
async fn fail_in_trigger(store: &Store, event: &str, condition: &str) -> Result<(), StoreError> {
    let name = format!(
        "ztd_injected_{}",
        event
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let statements = match store.backend() {
        crate::Backend::Sqlite => vec![format!(
            "CREATE TRIGGER {name} BEFORE {event} WHEN {condition} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        crate::Backend::Postgres => {
            let row = if event.starts_with("DELETE") {
                "OLD"
            } else {
                "NEW"
            };
            vec![
                format!(
                    "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN \
                     IF {condition} THEN RAISE EXCEPTION 'injected failure'; END IF; \
                     RETURN {row}; END $$ LANGUAGE plpgsql"
                ),
                format!(
                    "CREATE TRIGGER {name} BEFORE {event} FOR EACH ROW EXECUTE FUNCTION {name}()"
                ),
            ]
        }
    };
    let mut tx = store.begin().await?;
    for sql in statements {
        tx.execute(sqlx::query(&sql)).await?;
    }
    tx.commit().await
}
