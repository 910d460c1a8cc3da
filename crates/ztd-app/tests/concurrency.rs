//! Use cases racing on several nodes of one database: state derived from a read (group membership, a
//! device's intended profile, "is a sync running", "is there a tenant yet") must come out as if the racing
//! use cases had run one after the other. Each test runs on PostgreSQL (three nodes, each with its own pool,
//! as three processes would have) and on one SQLite file opened three times.

use std::sync::Arc;

use ztd_app::demo::{profile_draft, synthetic_rows};
use ztd_app::graph_imports::NewImport;
use ztd_app::{App, NewGroup, SyncPolicy, SyncTrigger, SystemClock, TimeOrderedIds};
use ztd_core::import::ImportStatus;
use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
use ztd_store::{DeviceQuery, Store};

fn node(store: Store) -> App {
    App::new(store, Arc::new(SystemClock), Box::new(TimeOrderedIds))
}

/// Three nodes of one deployment, and what to do when the test is over.
struct Nodes {
    apps: [App; 3],
    stores: Vec<Store>,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<ztd_store::scratch::ScratchPostgres>,
}

impl Nodes {
    async fn postgres() -> Option<Self> {
        let url = ztd_store::scratch::postgres_url()?;
        let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
            .await
            .unwrap();
        let two = scratch.another_node().await.unwrap();
        let three = scratch.another_node().await.unwrap();
        Some(Self {
            apps: [
                node(scratch.store.clone()),
                node(two.clone()),
                node(three.clone()),
            ],
            stores: vec![two, three],
            _dir: None,
            scratch: Some(scratch),
        })
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut stores = Vec::new();
        for _ in 0..3 {
            stores.push(ztd_store::scratch::sqlite_in(dir.path()).await.unwrap());
        }
        let [one, two, three]: [Store; 3] = stores.try_into().ok().unwrap();
        Self {
            apps: [node(one.clone()), node(two.clone()), node(three.clone())],
            stores: vec![one, two, three],
            _dir: Some(dir),
            scratch: None,
        }
    }

    async fn finish(self) {
        for store in &self.stores {
            store.close().await;
        }
        if let Some(scratch) = self.scratch {
            scratch.drop_schema().await.unwrap();
        }
    }
}

const ROUNDS: usize = 20;
const BATCHES: usize = 4;
const PER_BATCH: usize = 15;

/// Nodes B and C import tagged devices batch by batch while node A creates the dynamic group for the tag
/// and assigns a profile to it. Whatever the interleaving, every device ends up a member with the profile.
async fn targeting_is_never_lost(nodes: &Nodes) {
    let [a, b, c] = &nodes.apps;
    for round in 0..ROUNDS {
        let tenant = a
            .create_tenant("Race", &format!("race{round}.example"))
            .await
            .unwrap()
            .id;
        let profile = a
            .create_profile(
                tenant,
                profile_draft("Race", JoinType::AzureAd, DeviceUsageType::SingleUser, ""),
            )
            .await
            .unwrap();
        let tag = format!("W{round:02}");
        let importer = |app: App, node: &str, tag: String| {
            // Serials of their own per round: one piece of hardware belongs to one tenant.
            let prefix = format!("RACE-{round}-{node}-");
            tokio::spawn(async move {
                let rows = synthetic_rows(&prefix, BATCHES * PER_BATCH, &[tag.as_str()]);
                for batch in rows.chunks(PER_BATCH) {
                    let outcomes = app.import_devices(tenant, batch).await.unwrap();
                    let refused: Vec<_> = outcomes
                        .iter()
                        .filter(|o| !matches!(o.result, ztd_app::RowResult::Registered { .. }))
                        .collect();
                    assert!(refused.is_empty(), "refused: {refused:?}");
                }
            })
        };
        let importers = [
            importer(b.clone(), "B", tag.clone()),
            importer(c.clone(), "C", tag.clone()),
        ];
        let group = a
            .create_group(
                tenant,
                NewGroup {
                    display_name: tag.clone(),
                    description: String::new(),
                    membership_rule: Some(format!(
                        r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:{tag}"))"#
                    )),
                },
            )
            .await
            .unwrap();
        a.assign_profile(tenant, profile.id, AssignmentTarget::Group(group.id), None)
            .await
            .unwrap();
        for importer in importers {
            importer.await.unwrap();
        }

        let expected = 2 * BATCHES * PER_BATCH;
        let members = a.count_group_members(tenant, group.id).await.unwrap();
        let devices = a
            .devices(
                tenant,
                &DeviceQuery {
                    limit: Some(1000),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let targeted = devices
            .iter()
            .filter(|d| d.assignment.intended_profile_id == Some(profile.id))
            .count();
        assert_eq!(
            (members as usize, targeted),
            (expected, expected),
            "round {round}: members and devices with the profile, of {expected} devices"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn targeting_is_never_lost_on_three_postgresql_nodes() {
    let Some(nodes) = Nodes::postgres().await else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    targeting_is_never_lost(&nodes).await;
    nodes.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn targeting_is_never_lost_on_one_sqlite_file_opened_three_times() {
    let nodes = Nodes::sqlite().await;
    targeting_is_never_lost(&nodes).await;
    nodes.finish().await;
}

/// Three nodes start together on an empty database: one tenant, one administrator; the others are told.
async fn one_bootstrap(nodes: &Nodes) {
    let starts = nodes.apps.iter().map(|app| {
        let app = app.clone();
        tokio::spawn(async move {
            app.bootstrap("Lab", "lab.example", "credentials.json of the first node")
                .await
                .unwrap()
        })
    });
    let mut created = 0;
    let mut told = Vec::new();
    for start in starts.collect::<Vec<_>>() {
        match start.await.unwrap() {
            ztd_app::BootstrapOutcome::Created(_) => created += 1,
            ztd_app::BootstrapOutcome::AlreadyDone { credentials } => told.push(credentials),
        }
    }
    assert_eq!(created, 1, "exactly one node bootstraps");
    assert_eq!(told, vec!["credentials.json of the first node"; 2]);
    assert_eq!(nodes.apps[1].tenants().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_postgresql_nodes_starting_together_bootstrap_once() {
    for _ in 0..5 {
        let Some(nodes) = Nodes::postgres().await else {
            eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
            return;
        };
        one_bootstrap(&nodes).await;
        nodes.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_starting_together_on_one_sqlite_file_bootstrap_once() {
    let nodes = Nodes::sqlite().await;
    one_bootstrap(&nodes).await;
    nodes.finish().await;
}

/// The same manual sync triggered at once on every node (several times per node): exactly one starts.
async fn one_sync(nodes: &Nodes) {
    let tenant = nodes.apps[0]
        .create_tenant("Sync", "sync.example")
        .await
        .unwrap()
        .id;
    let policy = SyncPolicy {
        duration_ms: 60_000,
        throttle_ms: 600_000,
    };
    let mut calls = Vec::new();
    for _ in 0..3 {
        for app in &nodes.apps {
            let app = app.clone();
            calls.push(tokio::spawn(async move {
                app.trigger_autopilot_sync(tenant, policy).await.unwrap()
            }));
        }
    }
    let mut started = 0;
    for call in calls {
        match call.await.unwrap() {
            SyncTrigger::Started => started += 1,
            SyncTrigger::AlreadyRunning => {}
            other => panic!("a sync inside its own duration is running, not {other:?}"),
        }
    }
    assert_eq!(started, 1, "exactly one of the simultaneous syncs starts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_syncs_on_three_postgresql_nodes_start_once() {
    for _ in 0..5 {
        let Some(nodes) = Nodes::postgres().await else {
            eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
            return;
        };
        one_sync(&nodes).await;
        nodes.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_syncs_on_one_sqlite_file_start_once() {
    let nodes = Nodes::sqlite().await;
    one_sync(&nodes).await;
    nodes.finish().await;
}

/// The same device posted in two Graph import requests (processed in one worker batch): the first
/// registers it, the second is told it is registered already (806), not that it appeared twice in one
/// import (901, which stays for a device repeated inside one request).
async fn duplicates_across_requests(app: &App) {
    let tenant = app.create_tenant("Dup", "dup.example").await.unwrap().id;
    let rows = synthetic_rows("DUP-", 2, &[]);
    let import = |row: &ztd_app::ImportRow| NewImport {
        serial_number: row.serial_number.clone(),
        hardware_hash: row.hardware_hash.clone(),
        ..Default::default()
    };
    let first = app
        .enqueue_imports(tenant, vec![import(&rows[0])])
        .await
        .unwrap();
    let second = app
        .enqueue_imports(
            tenant,
            vec![import(&rows[0]), import(&rows[1]), import(&rows[1])],
        )
        .await
        .unwrap();
    while app.process_import_queue(500).await.unwrap() > 0 {}
    let outcome = |id| async move {
        let record = app.import_record(tenant, id).await.unwrap();
        (record.status, record.error_code)
    };
    assert_eq!(outcome(first[0].id).await, (ImportStatus::Complete, 0));
    assert_eq!(outcome(second[0].id).await, (ImportStatus::Error, 806));
    assert_eq!(outcome(second[1].id).await, (ImportStatus::Complete, 0));
    assert_eq!(outcome(second[2].id).await, (ImportStatus::Error, 901));
}

#[tokio::test]
async fn a_device_posted_in_two_requests_is_already_registered_on_postgresql() {
    let Some(nodes) = Nodes::postgres().await else {
        eprintln!("ZTD_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    duplicates_across_requests(&nodes.apps[0]).await;
    nodes.finish().await;
}

#[tokio::test]
async fn a_device_posted_in_two_requests_is_already_registered_on_sqlite() {
    let nodes = Nodes::sqlite().await;
    duplicates_across_requests(&nodes.apps[0]).await;
    nodes.finish().await;
}
