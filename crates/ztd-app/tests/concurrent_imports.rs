//! Overlapping imports from two nodes on one PostgreSQL database: no batch fails with a deadlock or a
//! serialization failure, and every device is registered exactly once.

use std::sync::Arc;

use ztd_app::demo::synthetic_rows;
use ztd_app::{App, ImportRow, SystemClock};

#[tokio::test]
async fn overlapping_imports_on_two_nodes_never_deadlock() {
    let Some(url) = ztd_store::scratch::postgres_url() else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: this test needs PostgreSQL");
        return;
    };
    let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
        .await
        .unwrap();
    let node = || {
        App::new(
            scratch.store.clone(),
            Arc::new(SystemClock),
            Box::new(ztd_app::RandomIds),
        )
    };
    let (a, b) = (node(), node());
    let tenant = a
        .create_tenant("Contoso", "contoso.example")
        .await
        .unwrap()
        .id;
    let mut failures = Vec::new();
    let mut registered = 0;
    for round in 0..8 {
        let rows: Vec<ImportRow> = synthetic_rows(&format!("DL{round}-"), 300, &["W00"]);
        // The same devices in opposite orders, plus some of each node's own.
        let forward: Vec<ImportRow> = rows[..250].to_vec();
        let mut backward: Vec<ImportRow> = rows[50..].to_vec();
        backward.reverse();
        let (x, y) = tokio::join!(
            a.import_devices(tenant, &forward),
            b.import_devices(tenant, &backward)
        );
        for outcome in [x, y] {
            match outcome {
                Ok(outcomes) => {
                    registered += outcomes.iter().filter(|o| o.ztdid().is_some()).count()
                }
                Err(err) => failures.push(err.to_string()),
            }
        }
    }
    scratch.drop_schema().await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(registered, 8 * 300, "each device registered exactly once");
}
