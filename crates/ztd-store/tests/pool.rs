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
        .another_node_with(StoreOptions { max_connections: 1 })
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
