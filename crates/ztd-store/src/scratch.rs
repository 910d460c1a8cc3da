//! Throw-away databases for tests and benchmarks of the crates above the store: a SQLite file in a temporary
//! directory, or a fresh PostgreSQL schema that is dropped afterwards. Keeps SQL out of other crates' tests.

use sqlx::Connection;

use crate::{Store, StoreError};

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
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
        let store = Store::open(&url).await?;
        Ok(Self {
            store,
            base_url: base_url.to_string(),
            schema,
        })
    }

    /// Closes the store and drops the schema with everything in it.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        self.store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.base_url).await?;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(())
    }
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
    let statements = match store.backend() {
        crate::Backend::Sqlite => vec![format!(
            "CREATE TRIGGER ztd_injected_failure BEFORE DELETE ON devices \
             WHEN OLD.serial_number = '{serial}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        crate::Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION ztd_injected_failure() RETURNS trigger AS $$ BEGIN \
                 IF OLD.serial_number = '{serial}' THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN OLD; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER ztd_injected_failure BEFORE DELETE ON devices \
             FOR EACH ROW EXECUTE FUNCTION ztd_injected_failure()"
                .to_string(),
        ],
    };
    let mut tx = store.begin().await?;
    for sql in statements {
        tx.execute(sqlx::query(&sql)).await?;
    }
    tx.commit().await
}
