//! The device API's trust model (docs/device-api.md): what a presented hash must prove, what a stranger
//! learns, who can raise "attention required", and what a boot writes. On SQLite and PostgreSQL.

use std::future::Future;
use std::sync::Arc;

use std::sync::atomic::{AtomicI64, Ordering};

use ztd_app::{App, BootOutcome, Clock, ImportRow, SystemClock};
use ztd_core::device::RemediationState;
use ztd_core::Timestamp;
use ztd_core::{TenantId, Ztdid};
use ztd_hwhash::{DeviceDescription, HardwareHash};

async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(App) -> Fut,
    Fut: Future<Output = ()>,
{
    let app = |store| App::new(store, Arc::new(SystemClock), Box::new(ztd_app::RandomIds));
    let dir = tempfile::tempdir().unwrap();
    scenario(app(ztd_store::scratch::sqlite_in(dir.path())
        .await
        .unwrap()))
    .await;
    if let Some(url) = ztd_store::scratch::postgres_url() {
        let scratch = ztd_store::scratch::ScratchPostgres::create(&url)
            .await
            .unwrap();
        scenario(app(scratch.store.clone())).await;
        scratch.drop_schema().await.unwrap();
    }
}

fn description(serial: &str) -> DeviceDescription {
    let mut d = DeviceDescription {
        serial_number: serial.into(),
        manufacturer: "Contoso".into(),
        model: "Laptop 7".into(),
        ..Default::default()
    };
    d.fill_defaults(serial.as_bytes());
    d
}

fn encode(d: &DeviceDescription) -> String {
    HardwareHash::generate(d).to_base64()
}

/// The genuine device's hash, registered in a fresh tenant; returns the tenant and ZTDID.
async fn registered(app: &App, serial: &str) -> (TenantId, Ztdid) {
    let tenant = app
        .create_tenant("Contoso", &format!("{}.example", serial.to_lowercase()))
        .await
        .unwrap()
        .id;
    let rows = [ImportRow {
        row: 1,
        serial_number: serial.into(),
        hardware_hash: encode(&description(serial)),
        ..Default::default()
    }];
    let outcomes = app.import_devices(tenant, &rows).await.unwrap();
    (tenant, outcomes[0].ztdid().expect("registered"))
}

/// The kinds of the events about the device, in feed order.
async fn events(app: &App, tenant: TenantId, ztdid: Ztdid) -> Vec<String> {
    app.event_feed(tenant, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.subject == ztdid.to_string())
        .map(|(_, e)| e.kind)
        .collect()
}

/// The answer as the device API writes it.
fn answer(outcome: &BootOutcome) -> String {
    let answer = match outcome {
        BootOutcome::Registered(plan) => {
            ztd_api::device::BootAnswer::Registered(Box::new(plan.as_ref().into()))
        }
        BootOutcome::NotRegistered => ztd_api::device::BootAnswer::not_registered(),
        BootOutcome::Deferred => return "deferred".into(),
    };
    serde_json::to_string(&answer).unwrap()
}

#[tokio::test]
async fn a_forged_hash_with_only_serial_and_manufacturer_gets_no_plan_and_writes_nothing() {
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0001").await;
        let before = events(&app, tenant, ztdid).await;
        let forged = DeviceDescription {
            serial_number: "TRUST-0001".into(),
            manufacturer: "Contoso".into(),
            ..Default::default()
        };
        let unknown = DeviceDescription {
            serial_number: "NEVER-SEEN".into(),
            manufacturer: "Contoso".into(),
            ..Default::default()
        };
        for _ in 0..50 {
            let outcome = app.device_boot(&encode(&forged)).await.unwrap();
            assert!(matches!(outcome, BootOutcome::NotRegistered));
            // Word for word the answer an unknown serial gets: nothing tells a sweep what is registered.
            let stranger = app.device_boot(&encode(&unknown)).await.unwrap();
            assert_eq!(answer(&outcome), answer(&stranger));
        }
        app.flush_contacts().await.unwrap();
        let device = app.device(tenant, ztdid).await.unwrap();
        assert_eq!(device.last_contacted_at, None);
        assert_eq!(device.assignment.status.as_str(), "notAssigned");
        assert_eq!(events(&app, tenant, ztdid).await, before);
    })
    .await;
}

#[tokio::test]
async fn a_guessed_serial_with_random_board_ids_cannot_raise_attention_required() {
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0002").await;
        let mut stranger = description("TRUST-0002");
        let mut other = description("SOMETHING-ELSE");
        other.serial_number = "TRUST-0002".into();
        stranger.smbios_uuid = other.smbios_uuid.clone();
        stranger.tpm_ek_public = other.tpm_ek_public.clone();
        stranger.disk_serial = other.disk_serial.clone();
        stranger.mac_addresses = other.mac_addresses.clone();
        let outcome = app.device_boot(&encode(&stranger)).await.unwrap();
        assert!(matches!(outcome, BootOutcome::NotRegistered));
        let device = app.device(tenant, ztdid).await.unwrap();
        assert_ne!(
            device.remediation_state,
            RemediationState::ManualRemediationRequired
        );
        // The real device still boots.
        let genuine = app
            .device_boot(&encode(&description("TRUST-0002")))
            .await
            .unwrap();
        assert!(matches!(genuine, BootOutcome::Registered(_)));
    })
    .await;
}

#[tokio::test]
async fn a_replaced_motherboard_is_flagged_and_the_original_board_clears_the_flag() {
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0003").await;
        // New board (new SMBIOS UUID, new TPM), same disk: the registered device, repaired.
        let mut repaired = description("TRUST-0003");
        let donor = description("DONOR-BOARD");
        repaired.smbios_uuid = donor.smbios_uuid.clone();
        repaired.tpm_ek_public = donor.tpm_ek_public.clone();
        let outcome = app.device_boot(&encode(&repaired)).await.unwrap();
        assert!(matches!(outcome, BootOutcome::NotRegistered));
        let device = app.device(tenant, ztdid).await.unwrap();
        assert_eq!(
            device.remediation_state,
            RemediationState::ManualRemediationRequired
        );
        // Raised once, however often the repaired device asks.
        for _ in 0..5 {
            app.device_boot(&encode(&repaired)).await.unwrap();
        }
        let kinds = events(&app, tenant, ztdid).await;
        assert_eq!(
            kinds
                .iter()
                .filter(|k| *k == "device.hardware_changed")
                .count(),
            1
        );
        // The registered board boots: it gets its plan and the flag is cleared.
        let genuine = app
            .device_boot(&encode(&description("TRUST-0003")))
            .await
            .unwrap();
        assert!(matches!(genuine, BootOutcome::Registered(_)));
        let device = app.device(tenant, ztdid).await.unwrap();
        assert_eq!(
            device.remediation_state,
            RemediationState::NoRemediationRequired
        );
        assert!(events(&app, tenant, ztdid)
            .await
            .contains(&"device.hardware_verified".to_string()));
    })
    .await;
}

#[tokio::test]
async fn repeated_boots_of_a_device_record_one_contact_event() {
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0004").await;
        let hash = encode(&description("TRUST-0004"));
        for _ in 0..500 {
            let outcome = app.device_boot(&hash).await.unwrap();
            assert!(matches!(outcome, BootOutcome::Registered(_)));
        }
        let kinds = events(&app, tenant, ztdid).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "device.contacted").count(),
            1,
            "{kinds:?}"
        );
        let device = app.device(tenant, ztdid).await.unwrap();
        assert!(device.last_contacted_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn with_a_recorder_running_contacts_are_written_in_batches() {
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0005").await;
        let recorder = app.spawn_contact_recorder();
        let outcome = app
            .device_boot(&encode(&description("TRUST-0005")))
            .await
            .unwrap();
        assert!(matches!(outcome, BootOutcome::Registered(_)));
        let mut written = false;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if app
                .device(tenant, ztdid)
                .await
                .unwrap()
                .last_contacted_at
                .is_some()
            {
                written = true;
                break;
            }
        }
        recorder.abort();
        assert!(written, "the recorder never wrote the contact");
    })
    .await;
}

/// A clock the test moves.
struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn boots_minutes_apart_record_the_time_again_but_not_another_first_contact() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000_000)));
    let app = App::new(
        ztd_store::scratch::sqlite_in(dir.path()).await.unwrap(),
        clock.clone(),
        Box::new(ztd_app::RandomIds),
    );
    let (tenant, ztdid) = registered(&app, "TRUST-0006").await;
    let hash = encode(&description("TRUST-0006"));
    for minute in 0..5 {
        clock.0.fetch_add(120_000, Ordering::SeqCst);
        let outcome = app.device_boot(&hash).await.unwrap();
        assert!(matches!(outcome, BootOutcome::Registered(_)), "{minute}");
        let device = app.device(tenant, ztdid).await.unwrap();
        assert_eq!(device.last_contacted_at, Some(clock.now()), "{minute}");
    }
    let kinds = events(&app, tenant, ztdid).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "device.contacted").count(),
        1,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_contact_written_late_never_overwrites_a_retargeting_made_since_the_boot() {
    use ztd_app::demo::profile_draft;
    use ztd_core::device::AssignmentStatus;
    use ztd_core::profile::{AssignmentTarget, DeviceUsageType, JoinType};
    on_both(|app| async move {
        let (tenant, ztdid) = registered(&app, "TRUST-0007").await;
        let profile = app
            .create_profile(
                tenant,
                profile_draft("Kiosk", JoinType::AzureAd, DeviceUsageType::Shared, ""),
            )
            .await
            .unwrap();
        let assignment = app
            .assign_profile(tenant, profile.id, AssignmentTarget::AllDevices, None)
            .await
            .unwrap();
        // Contacts are only noted while a recorder runs; stop it so the note waits for our flush.
        app.spawn_contact_recorder().abort();
        let outcome = app
            .device_boot(&encode(&description("TRUST-0007")))
            .await
            .unwrap();
        let BootOutcome::Registered(plan) = outcome else {
            panic!("not registered")
        };
        assert_eq!(plan.profile.as_ref().map(|p| p.id), Some(profile.id));
        // The admin removes the profile before the contact is written.
        app.unassign_profile(tenant, &assignment.id).await.unwrap();
        app.flush_contacts().await.unwrap();
        let device = app.device(tenant, ztdid).await.unwrap();
        assert!(device.last_contacted_at.is_some());
        assert_eq!(device.assignment.intended_profile_id, None);
        assert_eq!(device.assignment.delivered_profile_id, None);
        assert_ne!(device.assignment.status, AssignmentStatus::AssignedInSync);
    })
    .await;
}

/// Random bytes from a script: the device name's `%RAND:x%` digits come from the injected source. Past the
/// script (the join ticket's bytes, drawn after the name), a constant: were the name to draw more, its
/// digits would differ from the script's.
struct Scripted(std::sync::Mutex<std::collections::VecDeque<u8>>);

impl ztd_app::Randomness for Scripted {
    fn fill_bytes(&self, out: &mut [u8]) {
        let mut script = self.0.lock().unwrap();
        for byte in out {
            *byte = script.pop_front().unwrap_or(0x5A);
        }
    }
}

#[tokio::test]
async fn random_name_digits_come_from_the_injected_source_and_are_uniform() {
    let dir = tempfile::tempdir().unwrap();
    let store = ztd_store::scratch::sqlite_in(dir.path()).await.unwrap();
    // 255 and 250 are redrawn (keeping digits uniform); the rest give 7, 2, 3 and 9.
    let script = [255, 7, 250, 12, 3, 249];
    let app = App::new(store, Arc::new(SystemClock), Box::new(ztd_app::RandomIds))
        .with_randomness(Arc::new(Scripted(std::sync::Mutex::new(script.into()))));
    let (tenant, _) = registered(&app, "RAND-0001").await;
    let profile = app
        .create_profile(
            tenant,
            ztd_app::demo::profile_draft(
                "Lab",
                ztd_core::profile::JoinType::AzureAd,
                ztd_core::profile::DeviceUsageType::SingleUser,
                "LAB-%RAND:4%",
            ),
        )
        .await
        .unwrap();
    app.assign_profile(
        tenant,
        profile.id,
        ztd_core::profile::AssignmentTarget::AllDevices,
        None,
    )
    .await
    .unwrap();
    let BootOutcome::Registered(plan) = app
        .device_boot(&encode(&description("RAND-0001")))
        .await
        .unwrap()
    else {
        panic!("the registered device gets its plan");
    };
    assert_eq!(plan.device_name.name(), Some("LAB-7239"));
}
