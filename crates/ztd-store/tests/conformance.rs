//! One conformance suite, run against SQLite (a temp file) and PostgreSQL (when `ZTD_TEST_POSTGRES_URL` is
//! set; each test gets its own schema, dropped afterwards).

// Test fixtures draw random and time-ordered ids of their own: they are not ztd's data.
#![allow(clippy::disallowed_methods)]

use uuid::Uuid;
use ztd_core::device::{
    AssignmentStatus, AutopilotDevice, EnrollmentState, HardwareKeys, ProfileAssignmentState,
    RemediationState,
};
use ztd_core::directory::DirectoryDevice;
use ztd_core::esp::{EspConfiguration, EspSettings};
use ztd_core::event::Event;
use ztd_core::group::{Group, MembershipSource};
use ztd_core::import::{ImportRecord, ImportStatus};
use ztd_core::profile::{
    AssignmentTarget, DeploymentProfile, DeviceType, DeviceUsageType, JoinType, OobeSettings,
    ProfileAssignment, UserType,
};
use ztd_core::tenant::{ClientCredential, Tenant};
use ztd_core::*;
use ztd_store::*;

// ---------------------------------------------------------------- harness

use ztd_store::scratch::{on_postgres, on_sqlite};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_postgres(super::$name).await
                }
            )*
        }
    };
}

conformance!(
    stored_listings_follow_every_write,
    round_trip_every_entity,
    rollback_on_drop_leaves_nothing,
    tenant_isolation,
    identity_key_is_unique_across_tenants,
    keyset_paging_returns_each_device_once_in_order,
    contains_filter_treats_wildcards_literally,
    membership_is_idempotent,
    claim_pending_imports_never_hands_out_a_record_twice,
    events_are_listed_newest_first,
    audit_log_lists_only_events_with_an_actor,
    concurrent_writers_all_commit,
    listings_carry_directory_ids_in_one_statement,
    scope_tags_and_filters_round_trip_per_tenant,
    a_member_page_tells_devices_users_and_members_that_are_gone_apart,
);

async fn scope_tags_and_filters_round_trip_per_tenant(store: Store) {
    use ztd_core::device_policy::{
        AssignmentTarget as PolicyTarget, DevicePolicy, PolicyAssignment, PolicyKind,
    };
    use ztd_core::scope::{AssignmentFilter, FilterMode, FilterRef, RoleScopeTag};
    let (a, b) = (tenant(1), tenant(2));
    seed_tenant(&store, &a).await;
    seed_tenant(&store, &b).await;
    let (ta, tb) = (a.id, b.id);
    let mut tx = store.begin().await.unwrap();

    // Tags, and the counter that numbers them.
    assert_eq!(tx.scope_tag_counter(ta).await.unwrap(), 0);
    let tag = RoleScopeTag {
        tenant_id: ta,
        id: "1".into(),
        display_name: "Paris".into(),
        description: "the Paris office".into(),
        created_at: Timestamp(10),
        updated_at: Timestamp(10),
    };
    tx.upsert_scope_tag(&tag).await.unwrap();
    tx.set_scope_tag_counter(ta, 1).await.unwrap();
    assert_eq!(tx.scope_tag_counter(ta).await.unwrap(), 1);
    assert_eq!(tx.scope_tag_counter(tb).await.unwrap(), 0);
    let renamed = RoleScopeTag {
        display_name: "Lyon".into(),
        updated_at: Timestamp(20),
        created_at: Timestamp(99),
        ..tag.clone()
    };
    tx.upsert_scope_tag(&renamed).await.unwrap();
    let read = tx.get_scope_tag(ta, "1").await.unwrap().unwrap();
    assert_eq!(read.display_name, "Lyon");
    assert_eq!(
        read.created_at,
        Timestamp(10),
        "upsert keeps the creation time"
    );
    assert_eq!(tx.list_scope_tags(ta).await.unwrap().len(), 1);
    assert!(tx.list_scope_tags(tb).await.unwrap().is_empty());
    assert!(tx.get_scope_tag(tb, "1").await.unwrap().is_none());
    assert!(!tx.delete_scope_tag(tb, "1").await.unwrap());

    // Filters.
    let filter = AssignmentFilter {
        tenant_id: ta,
        id: uid(0xF1),
        display_name: "Surface".into(),
        description: "".into(),
        platform: "windows10AndLater".into(),
        rule: r#"(device.model -startsWith "Surface")"#.into(),
        role_scope_tag_ids: vec!["0".into(), "1".into()],
        created_at: Timestamp(5),
        updated_at: Timestamp(6),
    };
    tx.upsert_assignment_filter(&filter).await.unwrap();
    assert_eq!(
        tx.get_assignment_filter(ta, filter.id).await.unwrap(),
        Some(filter.clone())
    );
    assert!(tx
        .get_assignment_filter(tb, filter.id)
        .await
        .unwrap()
        .is_none());
    assert!(tx.list_assignment_filters(tb).await.unwrap().is_empty());
    assert!(!tx.delete_assignment_filter(tb, filter.id).await.unwrap());
    let fref = FilterRef {
        filter_id: filter.id,
        mode: FilterMode::Exclude,
    };

    // A deployment profile assignment keeps its filter.
    let prof = profile(ta, 1);
    tx.insert_profile(&prof).await.unwrap();
    let pa = ProfileAssignment {
        tenant_id: ta,
        id: "pa".into(),
        profile_id: prof.id,
        target: AssignmentTarget::AllDevices,
        filter: Some(fref),
        created_at: Timestamp(1),
    };
    tx.insert_profile_assignment(&pa).await.unwrap();
    assert_eq!(tx.list_profile_assignments(ta).await.unwrap(), vec![pa]);

    // An ESP keeps its assignments' filters and its tags.
    let grp = group(ta, 1, None);
    tx.insert_group(&grp).await.unwrap();
    let mut e = esp(ta, grp.id);
    e.id = uid(0xE5).to_string();
    e.assignment_filters = vec![(AssignmentTarget::Group(grp.id), fref)];
    e.role_scope_tag_ids = vec!["1".into()];
    tx.upsert_esp(&e).await.unwrap();
    assert_eq!(tx.get_esp(ta, &e.id).await.unwrap(), Some(e.clone()));

    // A policy assignment keeps its filter.
    let policy = DevicePolicy {
        tenant_id: ta,
        kind: PolicyKind::Configuration,
        id: uid(0xD1),
        display_name: "p".into(),
        document: serde_json::json!({"roleScopeTagIds": ["1"]})
            .as_object()
            .cloned()
            .unwrap(),
        version: 1,
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    tx.insert_device_policy(&policy).await.unwrap();
    let assignments = vec![
        PolicyAssignment {
            id: "a".into(),
            target: PolicyTarget::AllDevices,
            filter: Some(FilterRef {
                mode: FilterMode::Include,
                ..fref
            }),
        },
        PolicyAssignment {
            id: "b".into(),
            target: PolicyTarget::Group { group_id: grp.id },
            filter: None,
        },
    ];
    tx.replace_policy_assignments(ta, PolicyKind::Configuration, policy.id, &assignments)
        .await
        .unwrap();
    let read: Vec<PolicyAssignment> = tx
        .policy_assignments(ta, PolicyKind::Configuration, Some(policy.id))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert_eq!(read, assignments);

    assert!(tx.delete_assignment_filter(ta, filter.id).await.unwrap());
    assert!(tx.delete_scope_tag(ta, "1").await.unwrap());
    assert!(tx.list_assignment_filters(ta).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

async fn audit_log_lists_only_events_with_an_actor(store: Store) {
    let (ta, tb) = (tenant(1), tenant(2));
    seed_tenant(&store, &ta).await;
    seed_tenant(&store, &tb).await;
    let mut actor = ztd_core::event::Actor::operator("ops");
    actor.permissions = vec!["Group.ReadWrite.All".into()];
    let with_actor = |t: TenantId, n: u128| Event {
        actor: Some(actor.clone()),
        ..event(t, n, 1000, "s")
    };
    let mut tx = store.begin().await.unwrap();
    tx.append_events(&[
        with_actor(ta.id, 1),
        event(ta.id, 2, 1000, "s"),
        with_actor(ta.id, 3),
        with_actor(tb.id, 4),
        with_actor(ta.id, 5),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let numbers = |events: &[(i64, Event)]| {
        events
            .iter()
            .map(|(_, e)| e.data["n"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let all = tx.list_audit_events(ta.id, None, 10, &[]).await.unwrap();
    assert_eq!(numbers(&all), vec![5, 3, 1], "newest first, actors only");
    assert_eq!(
        all[0].1.actor.as_ref(),
        Some(&actor),
        "the actor round-trips"
    );
    let page = tx.list_audit_events(ta.id, None, 2, &[]).await.unwrap();
    let rest = tx
        .list_audit_events(ta.id, Some(page[1].0), 10, &[])
        .await
        .unwrap();
    assert_eq!(numbers(&rest), vec![1], "paging on by sequence");
    let id = all[1].1.id;
    assert!(tx.get_audit_event(ta.id, id).await.unwrap().is_some());
    assert!(
        tx.get_audit_event(tb.id, id).await.unwrap().is_none(),
        "tenant scoped"
    );
    let silent = tx.list_events(ta.id, None, 10).await.unwrap();
    let without = silent.iter().find(|e| e.actor.is_none()).unwrap();
    assert!(tx
        .get_audit_event(ta.id, without.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        numbers(&tx.list_audit_events(tb.id, None, 10, &[]).await.unwrap()),
        vec![4]
    );
    drop(tx);
    // Hidden areas are left out by prefix, with no LIKE wildcards: `device` hides `device.x` only.
    let mut tx = store.begin().await.unwrap();
    let kinds = [
        "device.updated",
        "devices.imported",
        "device_x.y",
        "group.created",
    ];
    let tagged: Vec<Event> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| Event {
            kind: kind.to_string(),
            ..with_actor(ta.id, 10 + i as u128)
        })
        .collect();
    tx.append_events(&tagged).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    let shown: Vec<String> = tx
        .list_audit_events(ta.id, None, 10, &["device", "group"])
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.kind)
        .collect();
    // The older `device.registered` entries are hidden too.
    assert_eq!(shown, vec!["device_x.y", "devices.imported"]);
}

/// `sqlite::memory:` is one long-lived connection: data survives across transactions.
#[tokio::test]
async fn in_memory_sqlite_keeps_data_between_transactions() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(&[device(t.id, 1)]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.get_tenant(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(tx.all_devices(t.id).await.unwrap(), vec![device(t.id, 1)]);
    drop(tx);
    store.close().await;
}

// ---------------------------------------------------------------- fixtures

fn uid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn tenant(n: u128) -> Tenant {
    Tenant {
        id: TenantId(uid(0xA000 + n)),
        display_name: format!("Tenant {n}"),
        domain: format!("t{n}.onmicrosoft.com"),
        created_at: Timestamp(1_700_000_000_000 + n as i64),
    }
}

fn device(t: TenantId, n: u128) -> AutopilotDevice {
    AutopilotDevice {
        tenant_id: t,
        ztdid: Ztdid(uid(t.0.as_u128() << 32 | n)),
        serial_number: format!("SN-{}-{n:06}", t.0.as_u128() & 0xffff),
        manufacturer: "Contoso".into(),
        model: "Laptop 7".into(),
        product_key: "XXXXX-XXXXX".into(),
        sku_number: "SKU-1".into(),
        system_family: "Family".into(),
        hardware_hash: "T0FBQUFBQUFBQUFB".into(),
        keys: HardwareKeys {
            identity_key: format!("contoso\u{1f}SN-{}-{n:06}", t.0),
            smbios_uuid: Some(uid(n).to_string()),
            tpm_ek_pub_hash: Some(format!("ek{n}")),
            disk_serial: Some(format!("disk{n}")),
            mac_addresses: vec!["00:11:22:33:44:55".into(), "66:77:88:99:aa:bb".into()],
        },
        group_tag: "Kiosk".into(),
        purchase_order_id: "PO-1".into(),
        user_principal_name: "a@contoso.com".into(),
        addressable_user_name: "Alice".into(),
        display_name: "KIOSK-01".into(),
        enrollment_state: EnrollmentState::Enrolled,
        last_contacted_at: Some(Timestamp(1_700_000_100_000)),
        directory_object_id: DirectoryObjectId(uid(0xD000_0000 | n)),
        directory_device_id: DirectoryDeviceId(uid(t.0.as_u128() << 32 | 0xE000_0000 | n)),
        assignment: ProfileAssignmentState {
            intended_profile_id: Some(ProfileId(uid(0xB1))),
            delivered_profile_id: Some(ProfileId(uid(0xB2))),
            status: AssignmentStatus::AssignedUnknownSyncState,
            assigned_at: Some(Timestamp(1_700_000_200_000)),
        },
        remediation_state: RemediationState::ManualRemediationRequired,
        created_at: Timestamp(1_700_000_000_000),
        updated_at: Timestamp(1_700_000_000_001),
        managed_device_id: None,
    }
}

fn bare_device(t: TenantId, n: u128) -> AutopilotDevice {
    let mut d = device(t, n);
    d.keys.smbios_uuid = None;
    d.keys.tpm_ek_pub_hash = None;
    d.keys.disk_serial = None;
    d.keys.mac_addresses = vec![];
    d.last_contacted_at = None;
    d.assignment = ProfileAssignmentState::unassigned();
    d.group_tag = String::new();
    d
}

fn directory(t: TenantId, n: u128) -> DirectoryDevice {
    DirectoryDevice {
        tenant_id: t,
        id: DirectoryObjectId(uid(t.0.as_u128() << 32 | 0xD000_0000 | n)),
        device_id: DirectoryDeviceId(uid(t.0.as_u128() << 32 | 0xE000_0000 | n)),
        display_name: format!("SN-{n}"),
        account_enabled: false,
        physical_ids: vec!["[ZTDID]:x".into(), "[OrderId]:Kiosk".into()],
        operating_system: "Windows".into(),
        operating_system_version: "10.0.22631".into(),
        manufacturer: "Contoso".into(),
        model: "Laptop 7".into(),
        trust_type: "AzureAd".into(),
        enrollment_profile_name: "Kiosk profile".into(),
        ztdid: Some(Ztdid(uid(n))),
        created_at: Timestamp(1_700_000_000_000),
        alternative_security_id: "X509:<SHA1-TP-PUBKEY>00AAzz==".into(),
        registered_user_id: Some(DirectoryObjectId(uid(n | 0xF000))),
    }
}

fn group(t: TenantId, n: u128, rule: Option<&str>) -> Group {
    Group {
        tenant_id: t,
        id: GroupId(uid(t.0.as_u128() << 32 | 0x6000_0000 | n)),
        display_name: format!("Group {n}"),
        description: "desc".into(),
        membership_rule: rule.map(str::to_string),
        rule_processing_on: rule.is_some(),
        created_at: Timestamp(1_700_000_000_000 + n as i64),
    }
}

fn profile(t: TenantId, n: u128) -> DeploymentProfile {
    DeploymentProfile {
        tenant_id: t,
        id: ProfileId(uid(t.0.as_u128() << 32 | 0xB000_0000 | n)),
        display_name: format!("Profile {n}"),
        description: "self deploying".into(),
        device_type: DeviceType::HoloLens,
        join_type: JoinType::Hybrid,
        oobe: OobeSettings {
            device_usage_type: DeviceUsageType::Shared,
            user_type: UserType::Administrator,
            privacy_settings_hidden: false,
            eula_hidden: true,
            keyboard_selection_page_skipped: true,
            escape_link_hidden: false,
        },
        locale: "en-US".into(),
        preprovisioning_allowed: true,
        hardware_hash_extraction_enabled: true,
        device_name_template: "KIOSK-%RAND:4%".into(),
        hybrid_skip_connectivity_check: true,
        management_service_app_id: Some("app".into()),
        role_scope_tag_ids: vec!["0".into(), "7".into()],
        created_at: Timestamp(1_700_000_000_000 + n as i64),
        updated_at: Timestamp(1_700_000_000_500),
    }
}

fn esp(t: TenantId, g: GroupId) -> EspConfiguration {
    EspConfiguration {
        tenant_id: t,
        id: EspConfiguration::default_id(t),
        display_name: "All users and all devices".into(),
        description: "default".into(),
        priority: 3,
        settings: EspSettings {
            show_installation_progress: false,
            block_device_setup_retry_by_user: true,
            allow_device_reset_on_install_failure: true,
            allow_log_collection_on_install_failure: true,
            custom_error_message: Some("call IT".into()),
            install_progress_timeout_in_minutes: 90,
            allow_device_use_on_install_failure: true,
            selected_mobile_app_ids: vec!["app1".into()],
            allow_non_blocking_app_installation: true,
            install_quality_updates: false,
            track_install_progress_for_autopilot_only: true,
            disable_user_status_tracking_after_first_user: true,
        },
        assignments: vec![
            AssignmentTarget::AllDevices,
            AssignmentTarget::Group(g),
            AssignmentTarget::ExcludeGroup(g),
        ],
        assignment_filters: Vec::new(),
        role_scope_tag_ids: vec![],
        created_at: Timestamp(1_700_000_000_000),
        updated_at: Timestamp(1_700_000_000_001),
    }
}

fn import(t: TenantId, n: u128, created: i64) -> ImportRecord {
    ImportRecord {
        tenant_id: t,
        id: ImportId(uid(t.0.as_u128() << 32 | 0x1000_0000 | n)),
        batch_id: "batch-1".into(),
        serial_number: format!("IMP-{n:04}"),
        product_key: "pk".into(),
        hardware_hash: "aGFzaA==".into(),
        group_tag: "Kiosk".into(),
        assigned_user_principal_name: "u@contoso.com".into(),
        status: ImportStatus::Pending,
        ztdid: None,
        error_code: 0,
        error_name: String::new(),
        error_message: String::new(),
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
        request_id: "request-1".into(),
    }
}

fn event(t: TenantId, n: u128, at: i64, subject: &str) -> Event {
    Event {
        tenant_id: t,
        id: uid(t.0.as_u128() << 32 | 0xEE00_0000 | n),
        at: Timestamp(at),
        kind: "device.registered".into(),
        subject: subject.into(),
        data: serde_json::json!({"n": n as u64, "nested": {"list": [1, 2]}}),
        actor: None,
    }
}

fn client(t: TenantId, n: u128) -> ClientCredential {
    ClientCredential {
        tenant_id: t,
        client_id: format!("client-{}-{n}", t.0.as_u128()),
        display_name: "CI".into(),
        scopes: vec!["DeviceManagementServiceConfig.ReadWrite.All".into()],
        redirect_uris: vec!["http://localhost".into()],
        created_at: Timestamp(1_700_000_000_000),
    }
}

async fn seed_tenant(store: &Store, t: &Tenant) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(t).await.unwrap();
    tx.commit().await.unwrap();
}

// ---------------------------------------------------------------- scenarios

async fn round_trip_every_entity(store: Store) {
    let t = tenant(1);
    let tid = t.id;
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&t).await.unwrap();
    assert_eq!(tx.get_tenant(tid).await.unwrap(), Some(t.clone()));
    assert_eq!(tx.list_tenants().await.unwrap(), vec![t.clone()]);

    let c = client(tid, 1);
    tx.insert_client(&c).await.unwrap();
    assert_eq!(tx.get_client(&c.client_id).await.unwrap(), Some(c.clone()));
    assert_eq!(tx.list_clients(tid).await.unwrap(), vec![c.clone()]);
    assert_eq!(tx.get_client("nope").await.unwrap(), None);

    // Devices: every field set, and every optional field empty.
    let full = device(tid, 1);
    let bare = bare_device(tid, 2);
    tx.insert_devices(&[full.clone(), bare.clone()])
        .await
        .unwrap();
    assert_eq!(
        tx.get_device(tid, full.ztdid).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        tx.get_device(tid, bare.ztdid).await.unwrap(),
        Some(bare.clone())
    );
    let mut changed = full.clone();
    changed.serial_number = "NEW-SERIAL".into();
    changed.keys.identity_key = "contoso\u{1f}NEW-SERIAL".into();
    changed.keys.mac_addresses = vec!["aa".into()];
    changed.group_tag = "Other".into();
    changed.enrollment_state = EnrollmentState::Blocked;
    changed.remediation_state = RemediationState::NoRemediationRequired;
    changed.assignment = ProfileAssignmentState::unassigned();
    changed.last_contacted_at = None;
    changed.updated_at = Timestamp(1_800_000_000_000);
    tx.update_device(&changed).await.unwrap();
    assert_eq!(
        tx.get_device(tid, full.ztdid).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        tx.find_devices_by_serial(tid, "new-serial").await.unwrap(),
        vec![changed.clone()]
    );
    assert_eq!(
        tx.find_devices_by_identity_keys(&[changed.keys.identity_key.clone(), "none".into()])
            .await
            .unwrap(),
        vec![changed.clone()]
    );
    let mut all = vec![changed.clone(), bare.clone()];
    all.sort_by_key(|d| d.ztdid.to_string());
    assert_eq!(tx.all_devices(tid).await.unwrap(), all);
    assert_eq!(
        tx.count_devices(tid, &DeviceQuery::default())
            .await
            .unwrap(),
        2
    );
    let tagged = DeviceQuery {
        group_tag: Some("Other".into()),
        ..Default::default()
    };
    assert_eq!(
        tx.list_devices(tid, &tagged).await.unwrap(),
        vec![changed.clone()]
    );
    let state = ProfileAssignmentState {
        intended_profile_id: Some(ProfileId(uid(9))),
        delivered_profile_id: None,
        status: AssignmentStatus::AssignedOutOfSync,
        assigned_at: Some(Timestamp(5)),
    };
    tx.update_assignment_states(
        tid,
        &[
            (bare.ztdid, state.clone()),
            (changed.ztdid, ProfileAssignmentState::unassigned()),
        ],
    )
    .await
    .unwrap();
    let got = tx.get_device(tid, bare.ztdid).await.unwrap().unwrap();
    assert_eq!(got.assignment, state);
    assert_eq!(
        got,
        AutopilotDevice {
            assignment: state,
            ..bare.clone()
        }
    );
    assert!(tx.delete_device(tid, bare.ztdid).await.unwrap());
    assert!(!tx.delete_device(tid, bare.ztdid).await.unwrap());
    assert_eq!(tx.get_device(tid, bare.ztdid).await.unwrap(), None);

    // Directory objects.
    let d1 = directory(tid, 1);
    let mut d2 = directory(tid, 2);
    d2.ztdid = None;
    d2.account_enabled = true;
    d2.physical_ids = vec![];
    tx.insert_directory_devices(&[d1.clone(), d2.clone()])
        .await
        .unwrap();
    assert_eq!(
        tx.get_directory_device(tid, d1.id).await.unwrap(),
        Some(d1.clone())
    );
    assert_eq!(
        tx.get_directory_device(tid, d2.id).await.unwrap(),
        Some(d2.clone())
    );
    let mut d1b = d1.clone();
    d1b.display_name = "KIOSK-01".into();
    d1b.account_enabled = true;
    d1b.physical_ids.push("[HWID]:h:1".into());
    d1b.ztdid = None;
    tx.update_directory_device(&d1b).await.unwrap();
    assert_eq!(
        tx.get_directory_device(tid, d1.id).await.unwrap(),
        Some(d1b.clone())
    );
    let by_name = DirectoryQuery {
        display_name: Some("kiosk-01".into()),
        ..Default::default()
    };
    assert_eq!(
        tx.list_directory_devices(tid, &by_name).await.unwrap(),
        vec![d1b.clone()]
    );
    let by_device_id = DirectoryQuery {
        device_id: Some(d2.device_id),
        ..Default::default()
    };
    assert_eq!(
        tx.list_directory_devices(tid, &by_device_id).await.unwrap(),
        vec![d2.clone()]
    );
    let mut both = vec![d1b.clone(), d2.clone()];
    both.sort_by_key(|d| d.id.to_string());
    assert_eq!(tx.all_directory_devices(tid).await.unwrap(), both);
    let page = DirectoryQuery {
        after: Some(both[0].id),
        limit: Some(5),
        ..Default::default()
    };
    assert_eq!(
        tx.list_directory_devices(tid, &page).await.unwrap(),
        vec![both[1].clone()]
    );

    // Groups and members.
    let g1 = group(tid, 1, None);
    let g2 = group(
        tid,
        2,
        Some("(device.devicePhysicalIds -any _ -eq \"[OrderId]:Kiosk\")"),
    );
    tx.insert_group(&g1).await.unwrap();
    tx.insert_group(&g2).await.unwrap();
    assert_eq!(tx.get_group(tid, g2.id).await.unwrap(), Some(g2.clone()));
    let mut g1b = g1.clone();
    g1b.display_name = "Group 1 renamed".into();
    g1b.membership_rule = Some("x".into());
    g1b.rule_processing_on = true;
    tx.update_group(&g1b).await.unwrap();
    assert_eq!(tx.get_group(tid, g1.id).await.unwrap(), Some(g1b.clone()));
    assert_eq!(
        tx.list_groups(tid).await.unwrap(),
        vec![g1b.clone(), g2.clone()]
    );
    tx.add_members(
        tid,
        &[
            (g1.id, d1.id, MembershipSource::Static),
            (g2.id, d1.id, MembershipSource::Rule),
            (g2.id, d2.id, MembershipSource::Rule),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        tx.group_members(tid, g1.id).await.unwrap(),
        vec![(d1.id, MembershipSource::Static)]
    );
    let mut expected = vec![
        (d1.id, g1.id, MembershipSource::Static),
        (d1.id, g2.id, MembershipSource::Rule),
        (d2.id, g2.id, MembershipSource::Rule),
    ];
    expected.sort_by_key(|(m, g, _)| (m.to_string(), g.to_string()));
    assert_eq!(tx.all_memberships(tid).await.unwrap(), expected);
    let of_d2: Vec<_> = expected.iter().filter(|m| m.0 == d2.id).cloned().collect();
    assert_eq!(tx.memberships_of(tid, &[d2.id]).await.unwrap(), of_d2);

    // Profiles and assignments.
    let p1 = profile(tid, 1);
    let mut p2 = profile(tid, 2);
    p2.management_service_app_id = None;
    p2.join_type = JoinType::AzureAd;
    p2.device_type = DeviceType::WindowsPc;
    p2.role_scope_tag_ids = vec![];
    p2.oobe = OobeSettings::default();
    tx.insert_profile(&p1).await.unwrap();
    tx.insert_profile(&p2).await.unwrap();
    assert_eq!(tx.get_profile(tid, p1.id).await.unwrap(), Some(p1.clone()));
    assert_eq!(
        tx.list_profiles(tid).await.unwrap(),
        vec![p1.clone(), p2.clone()]
    );
    assert_eq!(tx.count_profiles(tid).await.unwrap(), 2);
    let mut p1b = p1.clone();
    p1b.display_name = "Renamed".into();
    p1b.locale = "os-default".into();
    p1b.updated_at = Timestamp(1_900_000_000_000);
    tx.update_profile(&p1b).await.unwrap();
    assert_eq!(tx.get_profile(tid, p1.id).await.unwrap(), Some(p1b.clone()));
    let assignments: Vec<ProfileAssignment> = [
        AssignmentTarget::AllDevices,
        AssignmentTarget::Group(g1.id),
        AssignmentTarget::ExcludeGroup(g2.id),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, target)| ProfileAssignment {
        tenant_id: tid,
        id: ProfileAssignment::conventional_id(p1.id, target) + &i.to_string(),
        profile_id: p1.id,
        target,
        filter: None,
        created_at: Timestamp(1_700_000_000_000 + i as i64),
    })
    .collect();
    for a in &assignments {
        tx.insert_profile_assignment(a).await.unwrap();
    }
    assert_eq!(tx.list_profile_assignments(tid).await.unwrap(), assignments);
    assert!(tx
        .delete_profile_assignment(tid, &assignments[0].id)
        .await
        .unwrap());
    assert_eq!(
        tx.list_profile_assignments(tid).await.unwrap(),
        assignments[1..].to_vec()
    );

    // ESP.
    let e = esp(tid, g1.id);
    tx.upsert_esp(&e).await.unwrap();
    assert_eq!(tx.get_esp(tid, &e.id).await.unwrap(), Some(e.clone()));
    let mut e2 = e.clone();
    e2.settings = EspSettings::default();
    e2.assignments = vec![];
    e2.priority = 0;
    e2.display_name = "changed".into();
    e2.updated_at = Timestamp(1_900_000_000_000);
    tx.upsert_esp(&EspConfiguration {
        created_at: Timestamp(42),
        ..e2.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        tx.get_esp(tid, &e.id).await.unwrap(),
        Some(e2.clone()),
        "upsert keeps the creation time"
    );
    let mut other = esp(tid, g1.id);
    other.id = Uuid::from_u128(77).to_string();
    other.priority = 1;
    tx.upsert_esp(&other).await.unwrap();
    assert_eq!(
        tx.list_esps(tid).await.unwrap(),
        vec![e2.clone(), other.clone()]
    );
    assert!(tx.delete_esp(tid, &other.id).await.unwrap());
    assert_eq!(tx.list_esps(tid).await.unwrap(), vec![e2.clone()]);

    // Imports.
    let i1 = import(tid, 1, 10);
    let i2 = import(tid, 2, 20);
    tx.insert_imports(&[i1.clone(), i2.clone()]).await.unwrap();
    assert_eq!(tx.get_import(tid, i1.id).await.unwrap(), Some(i1.clone()));
    let mut i1b = i1.clone();
    i1b.status = ImportStatus::Error;
    i1b.ztdid = Some(Ztdid(uid(5)));
    i1b.error_code = 806;
    i1b.error_name = "ZtdDeviceAlreadyAssigned".into();
    i1b.error_message = "already assigned".into();
    i1b.updated_at = Timestamp(99);
    tx.update_imports(std::slice::from_ref(&i1b)).await.unwrap();
    assert_eq!(tx.get_import(tid, i1.id).await.unwrap(), Some(i1b.clone()));
    let batch = ImportQuery {
        batch_id: Some("batch-1".into()),
        ..Default::default()
    };
    let mut both = vec![i1b.clone(), i2.clone()];
    both.sort_by_key(|r| r.id.to_string());
    assert_eq!(tx.list_imports(tid, &batch).await.unwrap(), both);
    assert!(tx.delete_import(tid, i2.id).await.unwrap());
    assert_eq!(tx.get_import(tid, i2.id).await.unwrap(), None);

    // Events and settings.
    let ev = event(tid, 1, 1000, "subject-1");
    tx.append_events(std::slice::from_ref(&ev)).await.unwrap();
    assert_eq!(
        tx.list_events(tid, None, 10).await.unwrap(),
        vec![ev.clone()]
    );
    assert_eq!(tx.get_setting(tid, "sync").await.unwrap(), None);
    tx.put_setting(tid, "sync", "{\"last\":1}").await.unwrap();
    tx.put_setting(tid, "sync", "{\"last\":2}").await.unwrap();
    assert_eq!(
        tx.get_setting(tid, "sync").await.unwrap().as_deref(),
        Some("{\"last\":2}")
    );
    tx.commit().await.unwrap();

    // Committed data is visible to a new transaction, and to a read transaction.
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(tx.get_device(tid, full.ztdid).await.unwrap(), Some(changed));
    assert_eq!(tx.get_profile(tid, p1.id).await.unwrap(), Some(p1b));
    drop(tx);

    // Deleting cascades to dependants.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_directory_device(tid, d1.id).await.unwrap());
    assert_eq!(
        tx.all_memberships(tid).await.unwrap(),
        vec![(d2.id, g2.id, MembershipSource::Rule)]
    );
    assert!(tx.delete_group(tid, g2.id).await.unwrap());
    assert!(tx.all_memberships(tid).await.unwrap().is_empty());
    assert!(tx.delete_profile(tid, p1.id).await.unwrap());
    assert!(tx.list_profile_assignments(tid).await.unwrap().is_empty());
    assert!(!tx.delete_profile(tid, p1.id).await.unwrap());
    tx.commit().await.unwrap();
}

async fn rollback_on_drop_leaves_nothing(store: Store) {
    let t = tenant(1);
    {
        let mut tx = store.begin().await.unwrap();
        tx.insert_tenant(&t).await.unwrap();
        tx.insert_devices(&[device(t.id, 1)]).await.unwrap();
        tx.insert_directory_devices(&[directory(t.id, 1)])
            .await
            .unwrap();
        tx.put_setting(t.id, "k", "v").await.unwrap();
        // dropped without commit
    }
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.get_tenant(t.id).await.unwrap(), None);
    assert!(tx.all_devices(t.id).await.unwrap().is_empty());
    assert!(tx.all_directory_devices(t.id).await.unwrap().is_empty());
    assert_eq!(tx.get_setting(t.id, "k").await.unwrap(), None);
    tx.insert_tenant(&t).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.list_tenants().await.unwrap().is_empty());
    // The same rows can now be written for real.
    tx.insert_tenant(&t).await.unwrap();
    tx.insert_devices(&[device(t.id, 1)]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.all_devices(t.id).await.unwrap().len(), 1);
}

async fn tenant_isolation(store: Store) {
    let a = tenant(1);
    let b = tenant(2);
    seed_tenant(&store, &a).await;
    seed_tenant(&store, &b).await;
    let (ta, tb) = (a.id, b.id);
    let dev = device(ta, 1);
    let dir = directory(ta, 1);
    let grp = group(ta, 1, None);
    let prof = profile(ta, 1);
    let assignment = ProfileAssignment {
        tenant_id: ta,
        id: ProfileAssignment::conventional_id(prof.id, AssignmentTarget::AllDevices),
        profile_id: prof.id,
        target: AssignmentTarget::AllDevices,
        filter: None,
        created_at: Timestamp(1),
    };
    let e = esp(ta, grp.id);
    let imp = import(ta, 1, 1);
    let ev = event(ta, 1, 1, &dev.ztdid.to_string());
    let cl = client(ta, 1);

    let mut tx = store.begin().await.unwrap();
    tx.insert_client(&cl).await.unwrap();
    tx.insert_devices(std::slice::from_ref(&dev)).await.unwrap();
    tx.insert_directory_devices(std::slice::from_ref(&dir))
        .await
        .unwrap();
    tx.insert_group(&grp).await.unwrap();
    tx.add_members(ta, &[(grp.id, dir.id, MembershipSource::Static)])
        .await
        .unwrap();
    tx.insert_profile(&prof).await.unwrap();
    tx.insert_profile_assignment(&assignment).await.unwrap();
    tx.upsert_esp(&e).await.unwrap();
    tx.insert_imports(std::slice::from_ref(&imp)).await.unwrap();
    tx.append_events(std::slice::from_ref(&ev)).await.unwrap();
    tx.put_setting(ta, "k", "a").await.unwrap();
    tx.commit().await.unwrap();

    // Reads from B see nothing of A.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.list_clients(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_device(tb, dev.ztdid).await.unwrap(), None);
    assert!(tx
        .find_devices_by_serial(tb, &dev.serial_number)
        .await
        .unwrap()
        .is_empty());
    assert!(tx
        .list_devices(tb, &DeviceQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        tx.count_devices(tb, &DeviceQuery::default()).await.unwrap(),
        0
    );
    assert!(tx.all_devices(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_directory_device(tb, dir.id).await.unwrap(), None);
    assert!(tx
        .list_directory_devices(tb, &DirectoryQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(tx.all_directory_devices(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_group(tb, grp.id).await.unwrap(), None);
    assert!(tx.list_groups(tb).await.unwrap().is_empty());
    assert!(tx.group_members(tb, grp.id).await.unwrap().is_empty());
    assert!(tx.memberships_of(tb, &[dir.id]).await.unwrap().is_empty());
    assert!(tx.all_memberships(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_profile(tb, prof.id).await.unwrap(), None);
    assert!(tx.list_profiles(tb).await.unwrap().is_empty());
    assert_eq!(tx.count_profiles(tb).await.unwrap(), 0);
    assert!(tx.list_profile_assignments(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_esp(tb, &e.id).await.unwrap(), None);
    assert!(tx.list_esps(tb).await.unwrap().is_empty());
    assert_eq!(tx.get_import(tb, imp.id).await.unwrap(), None);
    assert!(tx
        .list_imports(tb, &ImportQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(tx.list_events(tb, None, 100).await.unwrap().is_empty());
    assert!(tx
        .list_events(tb, Some(&ev.subject), 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(tx.get_setting(tb, "k").await.unwrap(), None);

    // Updates and deletes from B touch nothing of A.
    tx.update_device(&AutopilotDevice {
        tenant_id: tb,
        serial_number: "HIJACK".into(),
        ..dev.clone()
    })
    .await
    .unwrap();
    tx.update_assignment_states(tb, &[(dev.ztdid, ProfileAssignmentState::unassigned())])
        .await
        .unwrap();
    tx.update_directory_device(&DirectoryDevice {
        tenant_id: tb,
        display_name: "HIJACK".into(),
        ..dir.clone()
    })
    .await
    .unwrap();
    tx.update_group(&Group {
        tenant_id: tb,
        display_name: "HIJACK".into(),
        ..grp.clone()
    })
    .await
    .unwrap();
    tx.update_profile(&DeploymentProfile {
        tenant_id: tb,
        display_name: "HIJACK".into(),
        ..prof.clone()
    })
    .await
    .unwrap();
    tx.update_imports(&[ImportRecord {
        tenant_id: tb,
        status: ImportStatus::Complete,
        ..imp.clone()
    }])
    .await
    .unwrap();
    tx.remove_members(tb, &[(grp.id, dir.id)]).await.unwrap();
    assert!(!tx.delete_device(tb, dev.ztdid).await.unwrap());
    assert!(!tx.delete_directory_device(tb, dir.id).await.unwrap());
    assert!(!tx.delete_group(tb, grp.id).await.unwrap());
    assert!(!tx.delete_profile(tb, prof.id).await.unwrap());
    assert!(!tx
        .delete_profile_assignment(tb, &assignment.id)
        .await
        .unwrap());
    assert!(!tx.delete_esp(tb, &e.id).await.unwrap());
    assert!(!tx.delete_import(tb, imp.id).await.unwrap());
    tx.put_setting(tb, "k", "b").await.unwrap();
    tx.commit().await.unwrap();

    // A is intact.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.list_clients(ta).await.unwrap(), vec![cl]);
    assert_eq!(tx.get_device(ta, dev.ztdid).await.unwrap(), Some(dev));
    assert_eq!(
        tx.get_directory_device(ta, dir.id).await.unwrap(),
        Some(dir.clone())
    );
    assert_eq!(tx.get_group(ta, grp.id).await.unwrap(), Some(grp.clone()));
    assert_eq!(
        tx.group_members(ta, grp.id).await.unwrap(),
        vec![(dir.id, MembershipSource::Static)]
    );
    assert_eq!(tx.get_profile(ta, prof.id).await.unwrap(), Some(prof));
    assert_eq!(
        tx.list_profile_assignments(ta).await.unwrap(),
        vec![assignment]
    );
    assert_eq!(tx.get_esp(ta, &e.id).await.unwrap(), Some(e));
    assert_eq!(tx.get_import(ta, imp.id).await.unwrap(), Some(imp));
    assert_eq!(tx.list_events(ta, None, 10).await.unwrap(), vec![ev]);
    assert_eq!(tx.get_setting(ta, "k").await.unwrap().as_deref(), Some("a"));
    assert_eq!(tx.get_setting(tb, "k").await.unwrap().as_deref(), Some("b"));
}

async fn identity_key_is_unique_across_tenants(store: Store) {
    let a = tenant(1);
    let b = tenant(2);
    seed_tenant(&store, &a).await;
    seed_tenant(&store, &b).await;
    let in_a = device(a.id, 1);
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(std::slice::from_ref(&in_a))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // The same hardware in tenant B (different ZTDID) is refused by the database.
    let mut in_b = device(b.id, 1);
    in_b.keys.identity_key = in_a.keys.identity_key.clone();
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_devices(&[device(b.id, 2), in_b.clone()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    // Re-keying an existing device onto taken hardware is refused too.
    let mut tx = store.begin().await.unwrap();
    let other = device(b.id, 3);
    tx.insert_devices(std::slice::from_ref(&other))
        .await
        .unwrap();
    let err = tx
        .update_device(&AutopilotDevice {
            keys: in_a.keys.clone(),
            ..other
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    // A duplicate ZTDID is a conflict as well.
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .insert_devices(&[AutopilotDevice {
            keys: HardwareKeys {
                identity_key: "fresh".into(),
                ..in_a.keys.clone()
            },
            ..in_a.clone()
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    drop(tx);

    // Nothing of the failed transactions remains; the global lookup finds the owner.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.all_devices(b.id).await.unwrap().is_empty());
    assert_eq!(
        tx.find_devices_by_identity_keys(std::slice::from_ref(&in_a.keys.identity_key))
            .await
            .unwrap(),
        vec![in_a]
    );
}

async fn keyset_paging_returns_each_device_once_in_order(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    // Random ZTDIDs so that insertion order differs from ZTDID order.
    let devices: Vec<AutopilotDevice> = (0..2500u128)
        .map(|n| {
            let mut d = bare_device(t.id, n);
            d.ztdid = Ztdid(Uuid::new_v4());
            d.group_tag = if n % 2 == 0 {
                "even".into()
            } else {
                "odd".into()
            };
            d
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(&devices).await.unwrap();
    tx.commit().await.unwrap();
    let mut expected: Vec<Ztdid> = devices.iter().map(|d| d.ztdid).collect();
    expected.sort();

    let mut tx = store.begin_read().await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let q = DeviceQuery {
            after,
            limit: Some(333),
            ..Default::default()
        };
        let page = tx.list_devices(t.id, &q).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 333);
        after = page.last().map(|d| d.ztdid);
        seen.extend(page.into_iter().map(|d| d.ztdid));
    }
    assert_eq!(seen, expected);

    // Offset paging, filters and counts agree.
    let q = DeviceQuery {
        offset: Some(2400),
        ..Default::default()
    };
    let tail = tx.list_devices(t.id, &q).await.unwrap();
    assert_eq!(
        tail.iter().map(|d| d.ztdid).collect::<Vec<_>>(),
        expected[2400..]
    );
    let q = DeviceQuery {
        limit: Some(10),
        offset: Some(5),
        ..Default::default()
    };
    let mid = tx.list_devices(t.id, &q).await.unwrap();
    assert_eq!(
        mid.iter().map(|d| d.ztdid).collect::<Vec<_>>(),
        expected[5..15]
    );
    let even = DeviceQuery {
        group_tag: Some("even".into()),
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(tx.count_devices(t.id, &even).await.unwrap(), 1250);
    assert_eq!(tx.list_devices(t.id, &even).await.unwrap().len(), 1);
    assert_eq!(
        tx.count_devices(t.id, &DeviceQuery::default())
            .await
            .unwrap(),
        2500
    );
    assert_eq!(tx.all_devices(t.id).await.unwrap().len(), 2500);
}

async fn listings_carry_directory_ids_in_one_statement(store: Store) {
    let t = tenant(1);
    let other = tenant(2);
    seed_tenant(&store, &t).await;
    seed_tenant(&store, &other).await;
    // Objects and devices point at each other (`directory_object_id`/`directory_device_id`, `[ZTDID]`), as
    // registration links them. The other tenant has a device and an object with the same numbers.
    let devices = vec![device(t.id, 1), device(t.id, 2)];
    let mut object = directory(t.id, 1);
    object.id = devices[0].directory_object_id;
    object.device_id = devices[0].directory_device_id;
    object.ztdid = Some(devices[0].ztdid);
    let stranger = device(other.id, 1);
    let mut stranger_object = directory(other.id, 1);
    stranger_object.id = stranger.directory_object_id;
    stranger_object.device_id = stranger.directory_device_id;
    stranger_object.ztdid = Some(stranger.ztdid);
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(&devices).await.unwrap();
    tx.insert_devices(std::slice::from_ref(&stranger))
        .await
        .unwrap();
    tx.insert_directory_devices(&[object.clone(), stranger_object.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // A single-statement read handle reads what a transaction reads, each device with its deviceId.
    let mut tx = store.single_read().await.unwrap();
    let listed = tx
        .list_devices(t.id, &DeviceQuery::default())
        .await
        .unwrap();
    let mut expected = devices.clone();
    expected.sort_by_key(|d| d.ztdid);
    assert_eq!(listed, expected);
    assert_eq!(listed[0].directory_device_id, object.device_id);

    // Without the hardware identity: the hash and keys come back empty, everything else intact.
    let q = DeviceQuery {
        without_hardware: true,
        ..Default::default()
    };
    for (listed, full) in tx
        .list_devices(t.id, &q)
        .await
        .unwrap()
        .iter()
        .zip(&expected)
    {
        let mut blanked = full.clone();
        blanked.hardware_hash = String::new();
        blanked.keys = HardwareKeys::default();
        assert_eq!(listed, &blanked);
    }

    // By the directory's deviceId: only within the tenant.
    let by_device_id = |id| DeviceQuery {
        directory_device_id: Some(id),
        ..Default::default()
    };
    let found = tx
        .list_devices(t.id, &by_device_id(object.device_id))
        .await
        .unwrap();
    assert_eq!(found, vec![devices[0].clone()]);
    assert!(tx
        .list_devices(t.id, &by_device_id(stranger_object.device_id))
        .await
        .unwrap()
        .is_empty());
    tx.rollback().await.unwrap();
}

/// Pages on SQLite read each row's `listing`, packed when the row was written: after every kind of write,
/// every listing is the array packed from its row, and pages read through them return the rows as written,
/// whatever characters their text holds.
async fn stored_listings_follow_every_write(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let awkward = [
        "quote \" and \\ backslash",
        "tab\tnewline\ncontrol\u{1}",
        "Ünïcødé ✓ 🚀",
        "</script>&",
    ];
    let mut devices: Vec<AutopilotDevice> = (0..4)
        .map(|i| {
            let mut d = device(t.id, i as u128 + 1);
            d.serial_number = format!("SN{i} {}", awkward[i]);
            d.manufacturer = awkward[i].into();
            d.display_name = awkward[(i + 1) % 4].into();
            d.addressable_user_name = awkward[(i + 2) % 4].into();
            d
        })
        .collect();
    devices.push(bare_device(t.id, 5));
    let objects: Vec<DirectoryDevice> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut o = directory(t.id, i as u128 + 1);
            o.id = d.directory_object_id;
            o.device_id = d.directory_device_id;
            o.display_name = awkward[i % 4].into();
            o.physical_ids.push(format!("[OrderId]:{}", awkward[i % 4]));
            o.registered_user_id = (i % 2 == 0).then_some(o.id);
            o.ztdid = (i != 4).then_some(d.ztdid);
            o
        })
        .collect();
    let g = group(t.id, 1, None);
    let user_member = DirectoryObjectId(uid(0x7777));
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(&devices).await.unwrap();
    tx.insert_directory_devices(&objects).await.unwrap();
    tx.insert_group(&g).await.unwrap();
    let memberships: Vec<_> = objects
        .iter()
        .map(|o| (g.id, o.id, MembershipSource::Static))
        .collect();
    tx.add_members(t.id, &memberships).await.unwrap();
    tx.add_user_member(t.id, g.id, user_member).await.unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        scratch::stale_listings(&store).await.unwrap(),
        None | Some((0, 0))
    ));

    // Every other way a row changes: a whole-row update, the bulk assignment update, boot contacts, a
    // directory object rewritten.
    let mut tx = store.begin().await.unwrap();
    devices[0].model = "Renamed \"model\"".into();
    devices[0].group_tag = awkward[2].into();
    devices[0].managed_device_id = Some(ManagedDeviceId(uid(0x99)));
    tx.update_device(&devices[0]).await.unwrap();
    let state = ProfileAssignmentState {
        intended_profile_id: Some(ProfileId(uid(0xC1))),
        delivered_profile_id: None,
        status: AssignmentStatus::Pending,
        assigned_at: Some(Timestamp(1_700_000_300_000)),
    };
    tx.update_assignment_states(t.id, &[(devices[1].ztdid, state.clone())])
        .await
        .unwrap();
    devices[1].assignment = state;
    tx.record_contacts(
        t.id,
        &[(devices[4].ztdid, Timestamp(1_700_000_400_000), None)],
    )
    .await
    .unwrap();
    devices[4].last_contacted_at = Some(Timestamp(1_700_000_400_000));
    let mut renamed = objects[2].clone();
    renamed.display_name = "Now \"quoted\"".into();
    renamed.account_enabled = true;
    tx.update_directory_device(&renamed).await.unwrap();
    tx.commit().await.unwrap();
    let mut objects = objects;
    objects[2] = renamed;
    assert!(matches!(
        scratch::stale_listings(&store).await.unwrap(),
        None | Some((0, 0))
    ));

    // Pages read what was written.
    let mut tx = store.single_read().await.unwrap();
    let listing = DeviceQuery {
        without_hardware: true,
        ..Default::default()
    };
    let mut expected: Vec<AutopilotDevice> = devices
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.hardware_hash = String::new();
            d.keys = HardwareKeys::default();
            d
        })
        .collect();
    expected.sort_by_key(|d| d.ztdid);
    assert_eq!(tx.list_devices(t.id, &listing).await.unwrap(), expected);
    let found = tx
        .list_devices(
            t.id,
            &DeviceQuery {
                serial_contains: Some("ÜNÏCØDÉ ✓".into()),
                ..listing.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].serial_number, devices[2].serial_number);
    let second_page = tx
        .list_devices(
            t.id,
            &DeviceQuery {
                after: Some(expected[1].ztdid),
                limit: Some(2),
                ..listing.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(second_page, expected[2..4].to_vec());
    let mut objects_sorted = objects.clone();
    objects_sorted.sort_by_key(|o| o.id);
    assert_eq!(
        tx.list_directory_devices(t.id, &DirectoryQuery::default())
            .await
            .unwrap(),
        objects_sorted
    );
    let mut members = tx
        .group_member_page(t.id, g.id, None, 10, None)
        .await
        .unwrap();
    members.sort_by_key(|m| match m {
        MemberRow::Device(d) => d.id,
        MemberRow::User(id) | MemberRow::Missing(id) => *id,
    });
    let mut expected_members: Vec<MemberRow> = objects_sorted
        .iter()
        .map(|o| MemberRow::Device(Box::new(o.clone())))
        .collect();
    expected_members.push(MemberRow::User(user_member));
    expected_members.sort_by_key(|m| match m {
        MemberRow::Device(d) => d.id,
        MemberRow::User(id) | MemberRow::Missing(id) => *id,
    });
    assert_eq!(members, expected_members);
    tx.rollback().await.unwrap();
}

async fn contains_filter_treats_wildcards_literally(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let serials = ["AB%CD", "AB_CD", "ABxCD", "abzcd", "A\\B"];
    let devices: Vec<AutopilotDevice> = serials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut d = bare_device(t.id, i as u128);
            d.serial_number = s.to_string();
            d
        })
        .collect();
    let imports: Vec<ImportRecord> = serials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut r = import(t.id, i as u128, i as i64);
            r.serial_number = s.to_string();
            r
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_devices(&devices).await.unwrap();
    tx.insert_imports(&imports).await.unwrap();
    for (needle, want) in [
        ("%", vec!["AB%CD"]),
        ("_", vec!["AB_CD"]),
        ("b%c", vec!["AB%CD"]),
        ("B_C", vec!["AB_CD"]),
        ("bxc", vec!["ABxCD"]),
        ("AB", vec!["AB%CD", "AB_CD", "ABxCD", "abzcd"]),
        ("\\", vec!["A\\B"]),
        ("", serials.to_vec()),
        ("nothing", vec![]),
    ] {
        let q = DeviceQuery {
            serial_contains: Some(needle.into()),
            ..Default::default()
        };
        let mut got: Vec<String> = tx
            .list_devices(t.id, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.serial_number)
            .collect();
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(got, want, "devices containing {needle:?}");
        assert_eq!(tx.count_devices(t.id, &q).await.unwrap(), want.len() as u64);
        let q = ImportQuery {
            serial_contains: Some(needle.into()),
            ..Default::default()
        };
        let mut got: Vec<String> = tx
            .list_imports(t.id, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.serial_number)
            .collect();
        got.sort();
        assert_eq!(got, want, "imports containing {needle:?}");
    }
    // Exact serial lookup is case-insensitive and does not treat wildcards as such.
    let found = tx.find_devices_by_serial(t.id, "abxcd").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].serial_number, "ABxCD");
    assert!(tx
        .find_devices_by_serial(t.id, "AB_CD")
        .await
        .unwrap()
        .iter()
        .all(|d| d.serial_number == "AB_CD"));
}

async fn membership_is_idempotent(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let tid = t.id;
    let d1 = directory(tid, 1);
    let d2 = directory(tid, 2);
    let g = group(tid, 1, None);
    let mut tx = store.begin().await.unwrap();
    tx.insert_directory_devices(&[d1.clone(), d2.clone()])
        .await
        .unwrap();
    tx.insert_group(&g).await.unwrap();
    tx.add_members(
        tid,
        &[
            (g.id, d1.id, MembershipSource::Static),
            (g.id, d1.id, MembershipSource::Static),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.add_members(
        tid,
        &[
            (g.id, d1.id, MembershipSource::Rule),
            (g.id, d2.id, MembershipSource::Rule),
        ],
    )
    .await
    .unwrap();
    let mut want = vec![
        (d1.id, MembershipSource::Static),
        (d2.id, MembershipSource::Rule),
    ];
    want.sort_by_key(|(m, _)| m.to_string());
    assert_eq!(tx.group_members(tid, g.id).await.unwrap(), want);
    tx.remove_members(tid, &[(g.id, d1.id), (g.id, d1.id)])
        .await
        .unwrap();
    tx.remove_members(tid, &[(g.id, d1.id)]).await.unwrap();
    assert_eq!(
        tx.group_members(tid, g.id).await.unwrap(),
        vec![(d2.id, MembershipSource::Rule)]
    );
    tx.add_members(tid, &[]).await.unwrap();
    tx.remove_members(tid, &[]).await.unwrap();
    tx.commit().await.unwrap();
}

async fn claim_pending_imports_never_hands_out_a_record_twice(store: Store) {
    let a = tenant(1);
    let b = tenant(2);
    seed_tenant(&store, &a).await;
    seed_tenant(&store, &b).await;
    let mut records: Vec<ImportRecord> = (0..10u128)
        .map(|n| import(if n % 2 == 0 { a.id } else { b.id }, n, 100 + n as i64))
        .collect();
    records[9].status = ImportStatus::Complete;
    let mut tx = store.begin().await.unwrap();
    tx.insert_imports(&records).await.unwrap();
    tx.commit().await.unwrap();
    let pending: Vec<ImportId> = records[..9].iter().map(|r| r.id).collect();

    let ids = |claimed: &[ImportRecord]| claimed.iter().map(|r| r.id).collect::<Vec<_>>();
    match store.backend() {
        Backend::Postgres => {
            // Two workers hold their transactions open at the same time.
            let mut first = store.begin().await.unwrap();
            let mut second = store.begin().await.unwrap();
            let one = first.claim_pending_imports(4).await.unwrap();
            let two = second.claim_pending_imports(100).await.unwrap();
            assert_eq!(ids(&one), pending[..4], "oldest first, across tenants");
            assert_eq!(ids(&two), pending[4..]);
            // A third worker finds nothing while both hold their claims.
            let mut third = store.begin().await.unwrap();
            assert!(third.claim_pending_imports(100).await.unwrap().is_empty());
            drop(third);
            let done: Vec<ImportRecord> = one
                .into_iter()
                .map(|r| ImportRecord {
                    status: ImportStatus::Complete,
                    ..r
                })
                .collect();
            first.update_imports(&done).await.unwrap();
            first.commit().await.unwrap();
            second.rollback().await.unwrap(); // a failed worker: its records return to the queue
            let mut tx = store.begin().await.unwrap();
            assert_eq!(
                ids(&tx.claim_pending_imports(100).await.unwrap()),
                pending[4..]
            );
        }
        Backend::Sqlite => {
            // Write transactions are serialised: the second worker starts after the first committed.
            let mut first = store.begin().await.unwrap();
            let one = first.claim_pending_imports(4).await.unwrap();
            assert_eq!(ids(&one), pending[..4], "oldest first, across tenants");
            let done: Vec<ImportRecord> = one
                .into_iter()
                .map(|r| ImportRecord {
                    status: ImportStatus::Complete,
                    ..r
                })
                .collect();
            first.update_imports(&done).await.unwrap();
            let waiting = {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut second = store.begin().await.unwrap();
                    second.claim_pending_imports(100).await.unwrap()
                })
            };
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            first.commit().await.unwrap();
            let two = waiting.await.unwrap();
            assert_eq!(ids(&two), pending[4..]);
        }
    }
}

async fn events_are_listed_newest_first(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let tid = t.id;
    let mut tx = store.begin().await.unwrap();
    // Appended out of time order; three share one timestamp (one use case) and keep append order.
    let batch1 = vec![
        event(tid, 1, 2000, "s1"),
        event(tid, 2, 1000, "s2"),
        event(tid, 3, 3000, "s1"),
    ];
    tx.append_events(&batch1).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let batch2 = vec![
        event(tid, 4, 3000, "s2"),
        event(tid, 5, 3000, "s1"),
        event(tid, 6, 500, "s1"),
    ];
    tx.append_events(&batch2).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_read().await.unwrap();
    let n = |events: Vec<Event>| {
        events
            .iter()
            .map(|e| e.data["n"].as_u64().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        n(tx.list_events(tid, None, 100).await.unwrap()),
        vec![5, 4, 3, 1, 2, 6]
    );
    assert_eq!(n(tx.list_events(tid, None, 2).await.unwrap()), vec![5, 4]);
    assert_eq!(
        n(tx.list_events(tid, Some("s1"), 100).await.unwrap()),
        vec![5, 3, 1, 6]
    );
    assert_eq!(
        n(tx.list_events(tid, Some("s2"), 1).await.unwrap()),
        vec![4]
    );
    assert!(tx
        .list_events(tid, Some("none"), 10)
        .await
        .unwrap()
        .is_empty());
    let all = tx.list_events(tid, None, 100).await.unwrap();
    assert_eq!(all[0], batch2[1], "events round-trip whole");
}

async fn concurrent_writers_all_commit(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let tasks: Vec<_> = (0..16u128)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..5u128 {
                    let mut tx = store.begin().await.unwrap();
                    // read-then-write: the pattern that deadlocks deferred SQLite transactions
                    let before = tx
                        .count_devices(t.id, &DeviceQuery::default())
                        .await
                        .unwrap();
                    tx.insert_devices(&[bare_device(t.id, w * 100 + i)])
                        .await
                        .unwrap();
                    tx.append_events(&[event(t.id, w * 100 + i, before as i64, "x")])
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(
        tx.count_devices(t.id, &DeviceQuery::default())
            .await
            .unwrap(),
        80
    );
    assert_eq!(tx.list_events(t.id, None, 1000).await.unwrap().len(), 80);
}

/// A member page holds device members whole, user members by id, and a device membership whose directory
/// object is gone (never written by ztd: damage) as missing, in member order, on both backends.
async fn a_member_page_tells_devices_users_and_members_that_are_gone_apart(store: Store) {
    let t = tenant(1);
    seed_tenant(&store, &t).await;
    let objects: Vec<DirectoryDevice> = (1..=3).map(|i| directory(t.id, i)).collect();
    let g = group(t.id, 1, None);
    let user_member = DirectoryObjectId(uid(0x7777));
    let mut tx = store.begin().await.unwrap();
    tx.insert_directory_devices(&objects).await.unwrap();
    tx.insert_group(&g).await.unwrap();
    let memberships: Vec<_> = objects
        .iter()
        .map(|o| (g.id, o.id, MembershipSource::Static))
        .collect();
    tx.add_members(t.id, &memberships).await.unwrap();
    tx.add_user_member(t.id, g.id, user_member).await.unwrap();
    tx.commit().await.unwrap();
    scratch::orphan_memberships_of(&store, t.id, objects[1].id)
        .await
        .unwrap();

    let mut read = store.single_read().await.unwrap();
    let mut page = read
        .group_member_page(t.id, g.id, None, 10, None)
        .await
        .unwrap();
    page.sort_by_key(|m| match m {
        MemberRow::Device(d) => d.id,
        MemberRow::User(id) | MemberRow::Missing(id) => *id,
    });
    let mut expected = vec![
        MemberRow::Device(Box::new(objects[0].clone())),
        MemberRow::Missing(objects[1].id),
        MemberRow::Device(Box::new(objects[2].clone())),
        MemberRow::User(user_member),
    ];
    expected.sort_by_key(|m| match m {
        MemberRow::Device(d) => d.id,
        MemberRow::User(id) | MemberRow::Missing(id) => *id,
    });
    assert_eq!(page, expected);
    // Device members only: the user is left out, the member that is gone is still reported.
    let devices_only = read
        .group_member_page(t.id, g.id, None, 10, Some("device"))
        .await
        .unwrap();
    assert_eq!(devices_only.len(), 3);
    assert!(devices_only
        .iter()
        .all(|m| !matches!(m, MemberRow::User(_))));
}
