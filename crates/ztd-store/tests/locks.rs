//! `Tx::lock` on PostgreSQL: an exclusive targeting lock excludes the shared one of the same tenant only,
//! shared ones do not exclude each other, and every lock ends with its transaction.

use std::time::Duration;

use ztd_core::TenantId;
use ztd_store::{Lock, Store};

fn tenant(n: u128) -> TenantId {
    TenantId(uuid::Uuid::from_u128(n))
}

/// Whether `lock` can be taken by a new transaction within a short wait; the transaction is returned held.
async fn try_lock(store: &Store, lock: Lock) -> Option<ztd_store::Tx> {
    let mut tx = store.begin().await.unwrap();
    match tokio::time::timeout(Duration::from_millis(300), tx.lock(lock)).await {
        Ok(result) => {
            result.unwrap();
            Some(tx)
        }
        Err(_) => None,
    }
}

#[tokio::test]
async fn targeting_locks_exclude_what_they_must_and_nothing_else() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    let store = &scratch.store;
    let (a, b) = (tenant(1), tenant(2));

    let changing = try_lock(store, Lock::Targeting(a)).await.unwrap();
    assert!(changing.holds(Lock::Targeting(a)) && changing.holds(Lock::Targeted(a)));
    assert!(!changing.holds(Lock::Targeting(b)));
    assert!(
        try_lock(store, Lock::Targeted(a)).await.is_none(),
        "an import waits for a targeting change"
    );
    assert!(try_lock(store, Lock::Targeting(a)).await.is_none());
    let other = try_lock(store, Lock::Targeted(b)).await;
    assert!(other.is_some(), "another tenant's import does not wait");
    drop(other);
    changing.commit().await.unwrap();

    let one = try_lock(store, Lock::Targeted(a)).await.unwrap();
    let two = try_lock(store, Lock::Targeted(a)).await;
    assert!(two.is_some(), "imports do not wait for each other");
    assert!(
        try_lock(store, Lock::Targeting(a)).await.is_none(),
        "a targeting change waits for imports"
    );
    drop(two);
    one.rollback().await.unwrap();
    assert!(
        try_lock(store, Lock::Targeting(a)).await.is_some(),
        "a rolled-back lock is released"
    );

    let sync = try_lock(store, Lock::Sync(a)).await.unwrap();
    assert!(try_lock(store, Lock::Sync(a)).await.is_none());
    assert!(
        try_lock(store, Lock::Targeting(a)).await.is_some(),
        "locks of different names are independent"
    );
    drop(sync);
    scratch.drop_schema().await.unwrap();
}

#[tokio::test]
async fn a_lock_outside_a_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    let mut single = store.single_read().await.unwrap();
    assert!(single.lock(Lock::Bootstrap).await.is_err());
    let mut tx = store.begin().await.unwrap();
    tx.lock(Lock::Targeted(tenant(1))).await.unwrap();
    assert!(tx.holds(Lock::Targeted(tenant(1))));
    assert!(
        !tx.holds(Lock::Targeting(tenant(1))),
        "shared does not cover exclusive"
    );
}
