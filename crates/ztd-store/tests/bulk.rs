//! Bulk import throughput, run by hand (not a timed test):
//!
//! ```text
//! ZTD_BULK_DEVICES=100000 cargo test --release -p ztd-store --test bulk -- --ignored --nocapture
//! ```
//!
//! Each device is one Autopilot registration with a 4 KB hardware hash (`ZTD_BULK_HASH_BYTES` to change), its directory object, three group
//! memberships and a bulk assignment-state update, all in one transaction, as an import use case writes them.
//! PostgreSQL is measured too when `ZTD_TEST_POSTGRES_URL` is set.

// Test fixtures draw random and time-ordered ids of their own: they are not ztd's data.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use sqlx::Connection;
use uuid::Uuid;
use ztd_core::device::{
    AssignmentStatus, AutopilotDevice, EnrollmentState, HardwareKeys, ProfileAssignmentState,
    RemediationState,
};
use ztd_core::directory::{autopilot_physical_ids, DirectoryDevice};
use ztd_core::group::{Group, MembershipSource};
use ztd_core::tenant::Tenant;
use ztd_core::*;
use ztd_store::*;

type Fleet = (
    Vec<AutopilotDevice>,
    Vec<DirectoryDevice>,
    Vec<(GroupId, DirectoryObjectId, MembershipSource)>,
);

fn fleet(tenant: TenantId, count: usize, groups: &[GroupId]) -> Fleet {
    let hash_bytes = std::env::var("ZTD_BULK_HASH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    let hash = "A".repeat(hash_bytes);
    let mut devices = Vec::with_capacity(count);
    let mut objects = Vec::with_capacity(count);
    let mut members = Vec::with_capacity(count * groups.len());
    for n in 0..count {
        let ztdid = Ztdid(Uuid::new_v4());
        let object = DirectoryObjectId(Uuid::new_v4());
        let serial = format!("PF{n:08}");
        devices.push(AutopilotDevice {
            tenant_id: tenant,
            ztdid,
            serial_number: serial.clone(),
            manufacturer: "Contoso".into(),
            model: "Laptop 7".into(),
            product_key: String::new(),
            sku_number: "SKU".into(),
            system_family: "Laptop".into(),
            hardware_hash: hash.clone(),
            keys: HardwareKeys {
                identity_key: format!("contoso\u{1f}{serial}"),
                smbios_uuid: Some(Uuid::new_v4().to_string()),
                tpm_ek_pub_hash: Some(format!("{:064x}", n)),
                disk_serial: Some(format!("DISK{n}")),
                mac_addresses: vec![format!(
                    "00:11:22:{:02x}:{:02x}:{:02x}",
                    n >> 16 & 255,
                    n >> 8 & 255,
                    n & 255
                )],
            },
            group_tag: "Kiosk".into(),
            purchase_order_id: "PO-42".into(),
            user_principal_name: String::new(),
            addressable_user_name: String::new(),
            display_name: String::new(),
            enrollment_state: EnrollmentState::NotContacted,
            last_contacted_at: None,
            directory_object_id: object,
            directory_device_id: ztd_core::DirectoryDeviceId(uuid::Uuid::nil()),
            assignment: ProfileAssignmentState::unassigned(),
            remediation_state: RemediationState::Unknown,
            created_at: Timestamp(1_700_000_000_000),
            updated_at: Timestamp(1_700_000_000_000),
            managed_device_id: None,
        });
        objects.push(DirectoryDevice {
            tenant_id: tenant,
            id: object,
            device_id: DirectoryDeviceId(Uuid::new_v4()),
            display_name: serial,
            account_enabled: false,
            physical_ids: autopilot_physical_ids(ztdid, "Kiosk", "PO-42"),
            operating_system: "Windows".into(),
            operating_system_version: String::new(),
            manufacturer: "Contoso".into(),
            model: "Laptop 7".into(),
            trust_type: "AzureAd".into(),
            enrollment_profile_name: String::new(),
            ztdid: Some(ztdid),
            created_at: Timestamp(1_700_000_000_000),
            alternative_security_id: String::new(),
            registered_user_id: None,
        });
        for g in groups {
            members.push((*g, object, MembershipSource::Rule));
        }
    }
    (devices, objects, members)
}

async fn measure(store: &Store, label: &str, count: usize) {
    let tenant = Tenant {
        id: TenantId(Uuid::new_v4()),
        display_name: "Bulk".into(),
        domain: "bulk.onmicrosoft.com".into(),
        created_at: Timestamp(0),
    };
    let groups: Vec<Group> = (0..3)
        .map(|n| Group {
            tenant_id: tenant.id,
            id: GroupId(Uuid::new_v4()),
            display_name: format!("Group {n}"),
            description: String::new(),
            membership_rule: Some(
                "(device.devicePhysicalIds -any _ -eq \"[OrderId]:Kiosk\")".into(),
            ),
            rule_processing_on: true,
            created_at: Timestamp(0),
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    for g in &groups {
        tx.insert_group(g).await.unwrap();
    }
    tx.commit().await.unwrap();
    let group_ids: Vec<GroupId> = groups.iter().map(|g| g.id).collect();
    let (devices, objects, members) = fleet(tenant.id, count, &group_ids);
    let profile = ProfileId(Uuid::new_v4());
    let states: Vec<(Ztdid, ProfileAssignmentState)> = devices
        .iter()
        .map(|d| {
            (
                d.ztdid,
                ProfileAssignmentState {
                    intended_profile_id: Some(profile),
                    delivered_profile_id: None,
                    status: AssignmentStatus::AssignedUnknownSyncState,
                    assigned_at: Some(Timestamp(1_700_000_000_000)),
                },
            )
        })
        .collect();
    let keys: Vec<String> = devices
        .iter()
        .map(|d| d.keys.identity_key.clone())
        .collect();

    let started = Instant::now();
    let mut tx = store.begin().await.unwrap();
    let found = tx.find_devices_by_identity_keys(&keys).await.unwrap();
    assert!(found.is_empty());
    let checked = started.elapsed();
    tx.insert_devices(&devices).await.unwrap();
    let devices_done = started.elapsed();
    tx.insert_directory_devices(&objects).await.unwrap();
    let objects_done = started.elapsed();
    tx.add_members(tenant.id, &members).await.unwrap();
    let members_done = started.elapsed();
    tx.update_assignment_states(tenant.id, &states)
        .await
        .unwrap();
    let states_done = started.elapsed();
    tx.commit().await.unwrap();
    let total = started.elapsed();
    let rate = count as f64 / total.as_secs_f64();
    println!(
        "{label}: {count} devices in {:.2}s = {rate:.0} devices/s \
         (identity check {:.2}s, devices {:.2}s, directory {:.2}s, memberships {:.2}s, states {:.2}s, commit {:.2}s)",
        total.as_secs_f64(),
        checked.as_secs_f64(),
        (devices_done - checked).as_secs_f64(),
        (objects_done - devices_done).as_secs_f64(),
        (members_done - objects_done).as_secs_f64(),
        (states_done - members_done).as_secs_f64(),
        (total - states_done).as_secs_f64(),
    );
    let mut tx = store.begin_read().await.unwrap();
    assert_eq!(
        tx.count_devices(tenant.id, &DeviceQuery::default())
            .await
            .unwrap(),
        count as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement; run by hand in release mode"]
async fn bulk_import_rate() {
    let count: usize = std::env::var("ZTD_BULK_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bulk.db").display());
    let store = Store::open(&url).await.unwrap();
    measure(&store, "sqlite", count).await;
    store.close().await;

    if let Some(base) = ztd_store::scratch::postgres_url() {
        let schema = format!("ztd_bulk_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let store = Store::open(&format!("{base}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap();
        measure(&store, "postgres", count).await;
        store.close().await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}
