//! The use cases against real databases: every scenario runs on SQLite and, when `ZTD_TEST_POSTGRES_URL` is
//! set, on PostgreSQL in a schema of its own.

// Test fixtures draw random and time-ordered ids of their own: they are not ztd's data.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use ztd_app::demo::{profile_draft, synthetic_hash, synthetic_rows};
use ztd_app::{App, Clock, DeviceUpdate, ImportRow, NewGroup, RowResult};
use ztd_core::device::AssignmentStatus;
use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
use ztd_core::{TenantId, Timestamp};
use ztd_store::Store;

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
        Box::new(ztd_app::RandomIds),
    )
}

/// Runs `scenario` with an app on SQLite, then on PostgreSQL when one is configured. The scenario also gets
/// the app's store, to arrange what no use case can (injected faults, drift) and to read events.
async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(App, Store) -> Fut,
    Fut: Future<Output = ()>,
{
    ztd_store::scratch::on_both(|store| scenario(app_on(store.clone()), store)).await;
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
    on_both(|app, _store| async move {
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
    on_both(|app, _store| async move {
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
    on_both(|app, _store| async move {
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
    on_both(|app, _store| async move {
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
async fn of_concurrent_adds_of_one_member_exactly_one_adds_and_of_removes_one_removes() {
    on_both(|app, _store| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &[row(1, "C-1", "")]).await.unwrap();
        let group = app
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
        let member = app.find_device(t, "C-1").await.unwrap().directory_object_id;
        let adds =
            futures::future::join_all((0..8).map(|_| app.add_group_member(t, group.id, member)))
                .await;
        let added = adds.iter().filter(|r| r.is_ok()).count();
        assert_eq!(added, 1, "{adds:?}");
        assert!(adds
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, ztd_app::AppError::Invalid(_))));
        assert_eq!(app.group_members(t, group.id).await.unwrap().len(), 1);
        let removes =
            futures::future::join_all((0..8).map(|_| app.remove_group_member(t, group.id, member)))
                .await;
        assert_eq!(
            removes.iter().filter(|r| r.is_ok()).count(),
            1,
            "{removes:?}"
        );
        assert!(removes
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(
                e,
                ztd_app::AppError::Domain(ztd_core::DomainError::NotFound { .. })
            )));
        assert!(app.group_members(t, group.id).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn delete_devices_by_serial_reports_each_serial_and_a_failure_midway_deletes_nothing() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(
            t,
            &[row(1, "D-1", ""), row(2, "D-BOOM", ""), row(3, "D-3", "")],
        )
        .await
        .unwrap();
        // Per serial: a known one is deleted, an unknown one is reported, neither stops the other.
        let outcomes = app
            .delete_devices_by_serial(t, &["d-1".into(), "NOPE".into()])
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes[0].ztdid.is_some() && outcomes[0].result.is_ok());
        assert!(outcomes[1].ztdid.is_none() && outcomes[1].result.is_err());
        assert!(app.find_device(t, "D-1").await.is_err());

        // A store failure on the second of three serials: the first is not deleted either.
        ztd_store::scratch::fail_deleting_serial(&store, "D-BOOM")
            .await
            .unwrap();
        app.import_devices(t, &[row(4, "D-4", "")]).await.unwrap();
        let failed = app
            .delete_devices_by_serial(t, &["D-4".into(), "D-BOOM".into(), "D-3".into()])
            .await;
        assert!(
            matches!(failed, Err(ztd_app::AppError::Store(_))),
            "{failed:?}"
        );
        for serial in ["D-4", "D-BOOM", "D-3"] {
            let device = app.find_device(t, serial).await.unwrap();
            assert!(app
                .directory_devices(t, &ztd_store::DirectoryQuery::default())
                .await
                .unwrap()
                .iter()
                .any(|o| o.id == device.directory_object_id));
        }
    })
    .await;
}

#[tokio::test]
async fn assigning_a_profile_to_devices_is_one_transaction() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(t, &[row(1, "P-1", ""), row(2, "P-2", "")])
            .await
            .unwrap();
        let profile = app
            .create_profile(
                t,
                profile_draft("Direct", JoinType::AzureAd, DeviceUsageType::SingleUser, ""),
            )
            .await
            .unwrap();
        let ztdids = [
            app.find_device(t, "P-1").await.unwrap().ztdid,
            app.find_device(t, "P-2").await.unwrap().ztdid,
        ];
        // An unknown device refuses the whole call.
        let unknown = ztd_core::Ztdid(uuid::Uuid::nil());
        assert!(app
            .assign_profile_to_devices(t, profile.id, &[ztdids[0], unknown])
            .await
            .is_err());
        assert!(app.groups(t).await.unwrap().is_empty());

        // A failure at the last step (the assignment) leaves no group and no member behind.
        ztd_store::scratch::fail_assigning_profiles(&store)
            .await
            .unwrap();
        let failed = app.assign_profile_to_devices(t, profile.id, &ztdids).await;
        assert!(
            matches!(failed, Err(ztd_app::AppError::Store(_))),
            "{failed:?}"
        );
        assert!(app.groups(t).await.unwrap().is_empty());
        assert!(app
            .profile_assignments(t, profile.id)
            .await
            .unwrap()
            .is_empty());
        for ztdid in ztdids {
            assert_eq!(
                app.device(t, ztdid)
                    .await
                    .unwrap()
                    .assignment
                    .intended_profile_id,
                None
            );
        }
    })
    .await;
}

#[tokio::test]
async fn assigning_a_profile_to_devices_targets_them_through_one_group() {
    on_both(|app, _store| async move {
        let t = tenant(&app, "Alpha").await;
        app.import_devices(
            t,
            &[row(1, "Q-1", ""), row(2, "Q-2", ""), row(3, "Q-3", "")],
        )
        .await
        .unwrap();
        let profile = app
            .create_profile(
                t,
                profile_draft("Direct", JoinType::AzureAd, DeviceUsageType::SingleUser, ""),
            )
            .await
            .unwrap();
        let ztdid = |serial: &'static str| {
            let app = app.clone();
            async move { app.find_device(t, serial).await.unwrap().ztdid }
        };
        let (q1, q2, q3) = (ztdid("Q-1").await, ztdid("Q-2").await, ztdid("Q-3").await);
        app.assign_profile_to_devices(t, profile.id, &[q1, q2])
            .await
            .unwrap();
        // Again, with one more: the same group, the same assignment.
        app.assign_profile_to_devices(t, profile.id, &[q2, q3])
            .await
            .unwrap();
        let groups = app.groups(t).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(app.group_members(t, groups[0].id).await.unwrap().len(), 3);
        assert_eq!(
            app.profile_assignments(t, profile.id).await.unwrap().len(),
            1
        );
        for z in [q1, q2, q3] {
            assert_eq!(
                app.device(t, z)
                    .await
                    .unwrap()
                    .assignment
                    .intended_profile_id,
                Some(profile.id)
            );
        }
    })
    .await;
}

#[tokio::test]
async fn static_group_and_member_of_rules_follow_membership() {
    on_both(|app, _store| async move {
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
    on_both(|app, _store| async move {
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
    on_both(|app, _store| async move {
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

/// The tenant's events of `kind`, newest first.
async fn events_of(store: &Store, t: TenantId, kind: &str) -> Vec<ztd_core::event::Event> {
    let mut tx = store.begin_read().await.unwrap();
    tx.list_events(t, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

fn corporate(identifier: &str, description: &str) -> ztd_app::CorporateIdentifier {
    ztd_app::CorporateIdentifier {
        tenant_id: TenantId(uuid::Uuid::nil()),
        id: String::new(),
        identifier: identifier.into(),
        identifier_type: "serialNumber".into(),
        platform: "windows".into(),
        description: description.into(),
        enrollment_state: "notContacted".into(),
        last_contacted_at: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

#[tokio::test]
async fn corporate_import_keeps_or_overwrites_existing_declarations() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Contoso").await;
        let first = app
            .import_corporate_identifiers(
                t,
                vec![corporate("PF-1", "first"), corporate("PF-2", "first")],
                false,
            )
            .await
            .unwrap();
        assert!(first.iter().all(|(c, stored)| *stored && c.tenant_id == t));
        assert!(first.iter().all(|(c, _)| !c.id.is_empty()));
        let original = first[0].0.clone();

        // Without overwrite: the existing one (compared case-insensitively) is kept as it was.
        let kept = app
            .import_corporate_identifiers(
                t,
                vec![corporate("pf-1", "second"), corporate("PF-3", "second")],
                false,
            )
            .await
            .unwrap();
        assert_eq!(kept[0], (original.clone(), false));
        assert!(kept[1].1);

        // With overwrite: replaced by the new declaration.
        let replaced = app
            .import_corporate_identifiers(t, vec![corporate("PF-1", "third")], true)
            .await
            .unwrap();
        assert!(replaced[0].1);
        assert_ne!(replaced[0].0.id, original.id);
        let mut tx = store.begin_read().await.unwrap();
        let stored = tx.list_corporate_identifiers(t).await.unwrap();
        drop(tx);
        assert_eq!(stored.len(), 3);
        let pf1: Vec<_> = stored.iter().filter(|c| c.identifier == "PF-1").collect();
        assert_eq!(pf1.len(), 1);
        assert_eq!(pf1[0].description, "third");

        let events = events_of(&store, t, "corporate_identifiers.imported").await;
        assert_eq!(events.len(), 3);
        // Newest first: the overwrite, then the kept import, then the first.
        assert_eq!(events[0].data["replaced"], 1);
        assert_eq!(events[1].data["kept"], 1);
        assert_eq!(events[1].data["created"], 1);
        assert_eq!(events[2].data["created"], 2);

        // Single create and delete, each with its event; a duplicate create is a conflict.
        let single = app
            .create_corporate_identifier(t, corporate("PF-9", ""))
            .await
            .unwrap();
        assert!(app
            .create_corporate_identifier(t, corporate("pf-9", ""))
            .await
            .is_err());
        app.delete_corporate_identifier(t, &single.id)
            .await
            .unwrap();
        assert!(app
            .delete_corporate_identifier(t, &single.id)
            .await
            .is_err());
        assert_eq!(
            events_of(&store, t, "corporate_identifier.created")
                .await
                .len(),
            1
        );
        assert_eq!(
            events_of(&store, t, "corporate_identifier.deleted")
                .await
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn manual_sync_is_recorded_and_refused_while_running() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Contoso").await;
        // The stepping clock moves one second per reading.
        let policy = ztd_app::SyncPolicy {
            duration_ms: 60_000,
            throttle_ms: 600_000,
        };
        let state = app.autopilot_sync_state(t, policy).await.unwrap();
        assert_eq!(state.status, ztd_app::SyncStatus::Unknown);
        assert_eq!(
            app.trigger_autopilot_sync(t, policy).await.unwrap(),
            ztd_app::SyncTrigger::Started
        );
        assert_eq!(
            app.autopilot_sync_state(t, policy).await.unwrap().status,
            ztd_app::SyncStatus::InProgress
        );
        assert_eq!(
            app.trigger_autopilot_sync(t, policy).await.unwrap(),
            ztd_app::SyncTrigger::AlreadyRunning
        );
        assert_eq!(
            events_of(&store, t, "autopilot.sync_triggered").await.len(),
            1
        );
    })
    .await;
}

/// A database whose stored membership drifted from the rules (as versions that lost targeting under
/// concurrency left some): a manual sync re-evaluates the tenant and puts it right.
#[tokio::test]
async fn a_sync_repairs_targeting_that_drifted() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Contoso").await;
        let group = app
            .create_group(
                t,
                NewGroup {
                    display_name: "Kiosks".into(),
                    description: String::new(),
                    membership_rule: Some(
                        r#"(device.devicePhysicalIds -any (_ -eq "[OrderId]:Kiosk"))"#.into(),
                    ),
                },
            )
            .await
            .unwrap();
        app.import_devices(t, &[row(1, "S-1", "Kiosk"), row(2, "S-2", "Kiosk")])
            .await
            .unwrap();
        assert_eq!(app.count_group_members(t, group.id).await.unwrap(), 2);
        let drifted = app.find_device(t, "S-1").await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.remove_members(t, &[(group.id, drifted.directory_object_id)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(app.count_group_members(t, group.id).await.unwrap(), 1);

        let policy = ztd_app::SyncPolicy {
            duration_ms: 60_000,
            throttle_ms: 600_000,
        };
        assert_eq!(
            app.trigger_autopilot_sync(t, policy).await.unwrap(),
            ztd_app::SyncTrigger::Started
        );
        assert_eq!(app.count_group_members(t, group.id).await.unwrap(), 2);
        let synced = events_of(&store, t, "autopilot.sync_triggered").await;
        assert_eq!(synced[0].data["devicesRepaired"], 1);
    })
    .await;
}

#[tokio::test]
async fn directory_object_of_a_registration_is_not_deleted_alone() {
    on_both(|app, store| async move {
        let t = tenant(&app, "Contoso").await;
        app.import_devices(t, &[row(1, "D-1", "")]).await.unwrap();
        let device = app.find_device(t, "D-1").await.unwrap();
        let refused = app
            .delete_directory_object(t, device.directory_object_id)
            .await;
        assert!(
            matches!(refused, Err(ztd_app::AppError::Invalid(_))),
            "{refused:?}"
        );

        // An object no registration owns goes, with an event.
        let mut loose = {
            let mut tx = store.begin_read().await.unwrap();
            tx.get_directory_device(t, device.directory_object_id)
                .await
                .unwrap()
                .unwrap()
        };
        loose.id = ztd_core::DirectoryObjectId(uuid::Uuid::new_v4());
        loose.device_id = ztd_core::DirectoryDeviceId(uuid::Uuid::new_v4());
        loose.ztdid = None;
        let mut tx = store.begin().await.unwrap();
        tx.insert_directory_devices(std::slice::from_ref(&loose))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        app.delete_directory_object(t, loose.id).await.unwrap();
        assert!(app.delete_directory_object(t, loose.id).await.is_err());
        assert_eq!(
            events_of(&store, t, "directory_object.deleted").await.len(),
            1
        );
    })
    .await;
}

/// Every import outcome the service reports, one row each: what was sent and the code that comes back.
#[tokio::test]
async fn every_import_error_code_is_reported_for_its_row_and_nothing_else() {
    on_both(|app, _store| async move {
        let mine = tenant(&app, "Alpha").await;
        let other = tenant(&app, "Beta").await;
        app.import_devices(mine, &[row(1, "MINE-1", "")])
            .await
            .unwrap();
        app.import_devices(other, &[row(1, "THEIRS-1", "")])
            .await
            .unwrap();
        let with = |n: u64, serial: &str, change: &dyn Fn(&mut ImportRow)| {
            let mut r = row(n, serial, "");
            change(&mut r);
            r
        };
        // (row, expected code: None = registered)
        let cases: Vec<(ImportRow, Option<i32>)> = vec![
            (row(1, "NEW-1", "Kiosk"), None),
            (with(2, "NEW-2", &|r| r.group_tag = "a,b".into()), Some(801)),
            (
                with(3, "NEW-3", &|r| r.assigned_user = "not-a-upn".into()),
                Some(801),
            ),
            (
                with(4, "NEW-4", &|r| r.hardware_hash = "not base64!".into()),
                Some(802),
            ),
            (
                with(5, "NEW-5", &|r| r.hardware_hash = "T0FPQQ==".into()),
                Some(802),
            ),
            (with(6, "NEW-6", &|r| r.hardware_hash.clear()), Some(802)),
            (
                with(7, "OTHER-SERIAL", &|r| {
                    r.hardware_hash = synthetic_hash("NEW-7", "Contoso", "Laptop")
                }),
                Some(802),
            ),
            (with(8, "", &|r| r.hardware_hash.clear()), Some(803)),
            (row(9, "MINE-1", ""), Some(806)),
            (row(10, "THEIRS-1", ""), Some(808)),
            (row(11, "NEW-1", ""), Some(901)),
        ];
        let rows: Vec<ImportRow> = cases.iter().map(|(r, _)| r.clone()).collect();
        let outcomes = app.import_devices(mine, &rows).await.unwrap();
        assert_eq!(outcomes.len(), cases.len());
        for ((sent, expected), outcome) in cases.iter().zip(&outcomes) {
            assert_eq!(outcome.row, sent.row);
            assert_eq!(code(outcome), *expected, "row {}: {outcome:?}", sent.row);
        }
        // The refused rows left nothing behind; the good row registered.
        assert!(app.find_device(mine, "NEW-1").await.is_ok());
        for serial in ["NEW-2", "NEW-3", "NEW-7"] {
            assert!(
                app.find_device(mine, serial).await.is_err(),
                "{serial} must not be registered"
            );
        }
    })
    .await;
}
