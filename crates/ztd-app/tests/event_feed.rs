//! The event feed with several nodes on one database: sequence numbers are unique and a reader that follows
//! the feed by number never misses an event that commits late.

use std::sync::Arc;
use std::time::Duration;

use ztd_app::{App, NewGroup, SystemClock, TimeOrderedIds};
use ztd_store::Store;

const PER_NODE: usize = 40;

fn node(store: Store) -> App {
    App::new(store, Arc::new(SystemClock), Box::new(TimeOrderedIds))
}

/// Two writers (one per node) append concurrently while a reader follows the feed from node one.
async fn follow_while_two_nodes_write(one: App, two: App) {
    let tenant = one.create_tenant("Feed", "feed.example").await.unwrap().id;
    let writer = |app: App, name: &'static str| {
        tokio::spawn(async move {
            for i in 0..PER_NODE {
                app.create_group(
                    tenant,
                    NewGroup {
                        display_name: format!("{name} {i}"),
                        description: String::new(),
                        membership_rule: None,
                    },
                )
                .await
                .unwrap();
            }
        })
    };
    let writers = [writer(one.clone(), "one"), writer(two.clone(), "two")];
    let mut seen = Vec::new();
    let mut last = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let finished = writers.iter().all(|w| w.is_finished());
        let batch = one.event_feed(tenant, last, 17).await.unwrap();
        for (seq, event) in &batch {
            // What is visible is always a gapless prefix: a reader resuming after `last` misses nothing.
            assert_eq!(*seq, last + 1, "the feed skipped from {last} to {seq}");
            last = *seq;
            seen.push(event.id);
        }
        if batch.is_empty() && finished {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writers did not finish"
        );
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // Every event, once: the tenant's creation events and one per group.
    let all = two.event_feed(tenant, 0, 100_000).await.unwrap();
    assert_eq!(seen.len(), all.len());
    let mut ids: Vec<_> = seen.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "an event was read twice");
    assert!(all.len() >= 2 * PER_NODE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_append_one_gapless_feed() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    let second = scratch.another_node().await.unwrap();
    follow_while_two_nodes_write(node(scratch.store.clone()), node(second.clone())).await;
    second.close().await;
    scratch.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_on_one_sqlite_file_append_one_gapless_feed() {
    let dir = tempfile::tempdir().unwrap();
    let one = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    let two = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    follow_while_two_nodes_write(node(one), node(two)).await;
}
