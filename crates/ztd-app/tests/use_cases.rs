//! The use cases against real databases: every scenario runs on SQLite and, when `ZTD_TEST_POSTGRES_URL` is
//! set, on PostgreSQL in a schema of its own.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use ztd_app::demo::{profile_draft, synthetic_hash, synthetic_rows};
use ztd_app::{App, Clock, DeviceUpdate, ImportRow, NewGroup, RowResult};
use ztd_core::device::AssignmentStatus;
use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
use ztd_core::{TenantId, Timestamp};

/// A clock that moves one second per reading, so creation order is also `createdDateTime` order.
#[derive(Default)]
struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        Timestamp(1_800_000_000_000 + 1000 * self.0.fetch_add(1, Ordering::SeqCst))
    }
}

fn app_on(store: ztd_store::Store) -> App {
    App::new(
        store,
        Arc::new(SteppingClock::default()),
        Box::new(ztd_core::RandomIds),
    )
}

async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(App) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    scenario(app_on(
        ztd_store::scratch::sqlite_in(dir.path()).await.unwrap(),
    ))
    .await;
    if let Ok(url) = std::env::var("ZTD_TEST_POSTGRES_URL") {
        let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
            .await
            .unwrap();
        scenario(app_on(scratch.store.clone())).await;
        scratch.drop_schema().await.unwrap();
    }
}

async fn tenant(app: &App, name: &str) -> TenantId {
    app.create_tenant(name, &format!("{}.example", name.to_lowercase()))
        .await
        .unwrap()
        .id
}

fn row(n: u64, serial: &str, tag: &str) -> ImportRow {
    ImportRow {
        row: n,
        serial_number: serial.into(),
        hardware_hash: synthetic_hash(serial, "Contoso", "Laptop"),
        group_tag: tag.into(),
        ..Default::default()
    }
}

fn code(outcome: &ztd_app::RowOutcome) -> Option<i32> {
    match outcome.result {
        RowResult::Rejected { error_code, .. } => Some(error_code),
        RowResult::Registered { .. } => None,
    }
}

async fn kiosk_group(app: &App, tenant: TenantId) -> ztd_core::group::Group {
    app.create_group(
        tenant,
        NewGroup {
            display_name: "Kiosks".into(),
            description: String::new(),
            membership_rule: Some(
                r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#.into(),
            ),
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_device_registered_in_one_tenant_is_refused_by_another_with_808() {
    on_both(|app| async move {
        let a = tenant(&app, "Alpha").await;
        let b = tenant(&app, "Beta").await;
        let first = app.import_devices(a, &[row(1, "SN-1", "")]).await.unwrap();
        assert!(first[0].ztdid().is_some());
        let second = app.import_devices(b, &[row(1, "SN-1", "")]).await.unwrap();
        assert_eq!(code(&second[0]), Some(808));
        assert!(
            app.find_device(b, "SN-1").await.is_err(),
            "tenant B sees nothing of tenant A"
        );
    })
    .await;
}

#[tokio::test]
async fn re_registration_after_delete_issues_a_new_ztdid() {
    on_both(|app| async move {
        let t = tenant(&app, "Alpha").await;
        let first = app.import_devices(t, &[row(1, "SN-1", "")]).await.unwrap()[0]
            .ztdid()
            .unwrap();
        let deleted = app.delete_device(t, first).await.unwrap();
        assert_eq!(deleted.ztdid, first);
        let again = app.import_devices(t, &[row(1, "SN-1", "")]).await.unwrap()[0]
            .ztdid()
            .unwrap();
        assert_ne!(first, again, "a ZTDID is never reused");
    })
    .await;
}

#[tokio::test]
async fn rule_change_updates_membership_and_profile_before_commit() {
    on_both(|app| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &synthetic_rows("R-", 20, &["Kiosk", "Sales"]))
            .await
            .unwrap();
        let group = kiosk_group(&app, t).await;
        assert_eq!(app.group_members(t, group.id).await.unwrap().len(), 10);
        let profile = app
            .create_profile(
                t,
                profile_draft("Kiosk", JoinType::AzureAd, DeviceUsageType::Shared, ""),
            )
            .await
            .unwrap();
        app.assign_profile(t, profile.id, AssignmentTarget::Group(group.id), None)
            .await
            .unwrap();
        let kiosk = app.find_device(t, "R-000000").await.unwrap();
        assert_eq!(kiosk.assignment.intended_profile_id, Some(profile.id));
        assert_eq!(
            kiosk.assignment.status,
            AssignmentStatus::AssignedUnknownSyncState
        );

        // Widen the rule to Sales too: all 20 devices now get the profile.
        app.update_group(
            t,
            group.id,
            None,
            None,
            Some(Some(
                r#"(device.devicePhysicalIds -any (_ -startsWith "[OrderId]:"))"#.into(),
            )),
            None,
        )
        .await
        .unwrap();
        assert_eq!(app.group_members(t, group.id).await.unwrap().len(), 20);
        let sales = app.find_device(t, "R-000001").await.unwrap();
        assert_eq!(sales.assignment.intended_profile_id, Some(profile.id));

        // Unassigning leaves the devices without a profile; the status follows.
        let assignment = ztd_core::profile::ProfileAssignment::conventional_id(
            profile.id,
            AssignmentTarget::Group(group.id),
        );
        app.unassign_profile(t, &assignment).await.unwrap();
        let sales = app.find_device(t, "R-000001").await.unwrap();
        assert_eq!(sales.assignment.status, AssignmentStatus::NotAssigned);
    })
    .await;
}

#[tokio::test]
async fn oldest_profile_wins_and_exclusion_and_all_devices_default_apply() {
    on_both(|app| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &[row(1, "K-1", "Kiosk"), row(2, "S-1", "Sales")])
            .await
            .unwrap();
        let group = kiosk_group(&app, t).await;
        let draft =
            |name: &str| profile_draft(name, JoinType::AzureAd, DeviceUsageType::SingleUser, "");
        let older = app.create_profile(t, draft("Older")).await.unwrap();
        let newer = app.create_profile(t, draft("Newer")).await.unwrap();
        let default = app.create_profile(t, draft("Default")).await.unwrap();
        app.assign_profile(t, newer.id, AssignmentTarget::Group(group.id), None)
            .await
            .unwrap();
        app.assign_profile(t, older.id, AssignmentTarget::Group(group.id), None)
            .await
            .unwrap();
        app.assign_profile(t, default.id, AssignmentTarget::AllDevices, None)
            .await
            .unwrap();
        let kiosk = app.find_device(t, "K-1").await.unwrap();
        assert_eq!(
            kiosk.assignment.intended_profile_id,
            Some(older.id),
            "oldest created wins"
        );
        let sales = app.find_device(t, "S-1").await.unwrap();
        assert_eq!(
            sales.assignment.intended_profile_id,
            Some(default.id),
            "All Devices is the default"
        );
        app.assign_profile(t, older.id, AssignmentTarget::ExcludeGroup(group.id), None)
            .await
            .unwrap();
        let kiosk = app.find_device(t, "K-1").await.unwrap();
        assert_eq!(
            kiosk.assignment.intended_profile_id,
            Some(newer.id),
            "exclusion beats inclusion"
        );
        let explanation = app.explain_device(t, "K-1").await.unwrap();
        assert_eq!(explanation.profile.winner, Some(newer.id));
        assert!(explanation.groups.iter().all(|g| g.consistent));
    })
    .await;
}

#[tokio::test]
async fn static_group_and_member_of_rules_follow_membership() {
    on_both(|app| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &[row(1, "M-1", ""), row(2, "M-2", "")])
            .await
            .unwrap();
        let pilots = app
            .create_group(
                t,
                NewGroup {
                    display_name: "Pilots".into(),
                    description: String::new(),
                    membership_rule: None,
                },
            )
            .await
            .unwrap();
        let rule = format!(
            r#"device.memberOf -any (group.objectId -in ["{}"])"#,
            pilots.id
        );
        let nested = app
            .create_group(
                t,
                NewGroup {
                    display_name: "Pilot devices".into(),
                    description: String::new(),
                    membership_rule: Some(rule),
                },
            )
            .await
            .unwrap();
        assert!(app.group_members(t, nested.id).await.unwrap().is_empty());
        let device = app.find_device(t, "M-1").await.unwrap();
        app.add_group_member(t, pilots.id, device.directory_object_id)
            .await
            .unwrap();
        let members = app.group_members(t, nested.id).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].0.id, device.directory_object_id);
        app.remove_group_member(t, pilots.id, device.directory_object_id)
            .await
            .unwrap();
        assert!(app.group_members(t, nested.id).await.unwrap().is_empty());
        // Members of a dynamic group cannot be added by hand.
        assert!(app
            .add_group_member(t, nested.id, device.directory_object_id)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn group_tag_change_rewrites_physical_ids_and_membership() {
    on_both(|app| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &[row(1, "G-1", "Sales")])
            .await
            .unwrap();
        let group = kiosk_group(&app, t).await;
        let device = app.find_device(t, "G-1").await.unwrap();
        let retag = DeviceUpdate {
            group_tag: Some("Kiosk".into()),
            ..Default::default()
        };
        app.update_device(t, device.ztdid, retag).await.unwrap();
        let members = app.group_members(t, group.id).await.unwrap();
        assert_eq!(members.len(), 1);
        assert!(members[0]
            .0
            .physical_ids
            .contains(&"[OrderId]:Kiosk".to_string()));
        assert!(!members[0]
            .0
            .physical_ids
            .iter()
            .any(|id| id == "[OrderId]:Sales"));
        // Invalid input is refused and changes nothing.
        let bad = DeviceUpdate {
            group_tag: Some("a,b".into()),
            ..Default::default()
        };
        assert!(app.update_device(t, device.ztdid, bad).await.is_err());
        assert_eq!(app.find_device(t, "G-1").await.unwrap().group_tag, "Kiosk");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_imports_of_one_device_register_it_once() {
    on_both(|app| async move {
        let a = tenant(&app, "Alpha").await;
        let b = tenant(&app, "Beta").await;
        let rows = [row(1, "C-1", "")];
        let (left, right) =
            tokio::join!(app.import_devices(a, &rows), app.import_devices(b, &rows));
        let outcomes = [left.unwrap().remove(0), right.unwrap().remove(0)];
        assert_eq!(
            outcomes.iter().filter(|o| o.ztdid().is_some()).count(),
            1,
            "{outcomes:?}"
        );
        assert_eq!(
            outcomes.iter().filter(|o| code(o) == Some(808)).count(),
            1,
            "{outcomes:?}"
        );
    })
    .await;
}
