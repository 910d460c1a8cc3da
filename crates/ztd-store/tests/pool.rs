//! A node's PostgreSQL pool holds at most the configured number of connections.

use std::time::Duration;

use ztd_store::StoreOptions;

#[tokio::test]
async fn a_postgresql_pool_never_opens_more_than_its_size() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    let small = scratch
        .another_node_with(StoreOptions {
            max_connections: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let held = small.begin().await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(300), small.begin()).await;
    assert!(
        waiting.is_err(),
        "a second transaction got a connection from a pool of one"
    );
    held.commit().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), small.begin())
        .await
        .expect("the connection came back to the pool")
        .unwrap();
    next.rollback().await.unwrap();
    small.close().await;
    scratch.drop_schema().await.unwrap();
}

/// Opening an SQLite store gives SQLite mimalloc before its first connection (ztd-sqlite-heap), and the
/// store works on it.
#[tokio::test]
async fn an_sqlite_store_runs_sqlite_on_mimalloc() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ztd.db", dir.path().display());
    let store = ztd_store::Store::open(&url).await.unwrap();
    assert_eq!(
        ztd_sqlite_heap::install(),
        ztd_sqlite_heap::Heap::Mimalloc,
        "the store opened a connection before giving SQLite its allocator"
    );
    let tenant = ztd_core::tenant::Tenant {
        id: ztd_core::TenantId(uuid::Uuid::from_u128(0x4EA9)),
        display_name: "Heap".into(),
        domain: "heap.example".into(),
        created_at: ztd_core::Timestamp(1_700_000_000_000),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    tx.commit().await.unwrap();
    let read = store
        .single_read()
        .await
        .unwrap()
        .get_tenant(tenant.id)
        .await;
    assert_eq!(read.unwrap().map(|t| t.id), Some(tenant.id));
}

/// Commits that follow each other back to back (an import) do not grow SQLite's WAL without bound: past
/// `wal_autocheckpoint_pages` a commit checkpoints, the next write restarts the WAL, and its file is cut back.
#[tokio::test]
async fn back_to_back_commits_keep_the_sqlite_wal_bounded() {
    const PAGE: u64 = 16 << 10;
    const BOUND_PAGES: u32 = 32;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ztd.db", dir.path().display());
    let store = ztd_store::Store::open_with(
        &url,
        StoreOptions {
            wal_autocheckpoint_pages: BOUND_PAGES,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // 40 transactions of 20 tenants, each name about half a page: about 400 pages of table alone, in
    // commits of about 10 pages, written faster than the background checkpointer's 250 ms tick can
    // restart the WAL between them.
    let name = "n".repeat(8 << 10);
    let mut largest_wal = 0;
    for batch in 0..40u128 {
        let mut tx = store.begin().await.unwrap();
        for n in 0..20u128 {
            let tenant = ztd_core::tenant::Tenant {
                id: ztd_core::TenantId(uuid::Uuid::from_u128((batch << 32) | n | 1 << 100)),
                display_name: format!("{name}{batch}-{n}"),
                domain: format!("t{batch}-{n}.example"),
                created_at: ztd_core::Timestamp(1_700_000_000_000),
            };
            tx.insert_tenant(&tenant).await.unwrap();
        }
        tx.commit().await.unwrap();
        let wal = std::fs::metadata(dir.path().join("ztd.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        largest_wal = largest_wal.max(wal);
    }
    // The bound, plus the commit that crossed it and the one that restarted the WAL.
    let allowed = (u64::from(BOUND_PAGES) + 2 * 40) * (PAGE + 24) + 32;
    assert!(
        largest_wal <= allowed,
        "the WAL reached {largest_wal} bytes, past the {allowed} its bound allows"
    );
    let mut read = store.single_read().await.unwrap();
    let last = ztd_core::TenantId(uuid::Uuid::from_u128((39 << 32) | 19 | 1 << 100));
    assert!(read.get_tenant(last).await.unwrap().is_some());
}
