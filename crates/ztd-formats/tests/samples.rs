//! Byte-exact tests against the synthetic samples in tests/data.

use ztd_formats::config_file::{aad_server_data, AutopilotConfigurationFile, ConfigKey};
use ztd_formats::corporate_csv::{read_corporate_identifiers, write_corporate_identifiers};
use ztd_formats::device_profile::DeviceProfileFile;
use ztd_formats::hash_csv::{write_hash_csv, CsvDialect, CsvEncoding, HashCsvReader, HashCsvRow};

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn read_all(bytes: &[u8]) -> (CsvDialect, CsvEncoding, bool, Vec<HashCsvRow>) {
    let reader = HashCsvReader::new(bytes).expect("header");
    let (d, e, x) = (
        reader.dialect(),
        reader.encoding(),
        reader.header_is_exact(),
    );
    let rows = reader.map(|r| r.expect("row")).collect();
    (d, e, x, rows)
}

fn hash() -> String {
    String::from_utf8(data("hwid-synthetic_grouptag-assigneduser_ascii.csv"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .to_owned()
}

#[test]
fn gwai_utf16le_sample() {
    let bytes = data("hwid-synthetic_gwai-default_utf16le.csv");
    let (dialect, encoding, exact, rows) = read_all(&bytes);
    assert_eq!(dialect, CsvDialect::GetWindowsAutopilotInfo3);
    assert_eq!(encoding, CsvEncoding::Utf16Le);
    assert!(exact);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.row, r.line), (1, 2));
    assert_eq!(r.serial_number, "SYNTH-0001");
    assert_eq!(r.product_key, None);
    assert_eq!(r.hardware_hash.as_deref(), Some(hash().as_str()));
    assert_eq!(r.hardware_hash.as_ref().map(String::len), Some(4000));
    let mut out = Vec::new();
    write_hash_csv(&mut out, dialect, encoding, &rows).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn intune_five_column_sample() {
    let bytes = data("hwid-synthetic_grouptag-assigneduser_ascii.csv");
    let (dialect, encoding, exact, rows) = read_all(&bytes);
    assert_eq!(dialect, CsvDialect::IntuneFiveColumn);
    assert_eq!(encoding, CsvEncoding::Utf8);
    assert!(exact);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].group_tag.as_deref(), Some("Kiosk"));
    assert_eq!(
        rows[0].assigned_user.as_deref(),
        Some("user1@contoso.example")
    );
    let mut out = Vec::new();
    write_hash_csv(&mut out, dialect, CsvEncoding::Windows1252, &rows).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn partner_sample() {
    let bytes = data("partner-center_tuple_synthetic_ascii.csv");
    let (dialect, _, exact, rows) = read_all(&bytes);
    assert_eq!(dialect, CsvDialect::Partner);
    assert!(exact);
    assert_eq!(rows[0].serial_number, "SYNTH-0001");
    assert_eq!(rows[0].hardware_hash, None);
    assert_eq!(rows[0].manufacturer.as_deref(), Some("Contoso"));
    assert_eq!(rows[0].model.as_deref(), Some("Contoso Laptop 1"));
    let mut out = Vec::new();
    write_hash_csv(&mut out, dialect, CsvEncoding::Windows1252, &rows).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn corporate_identifier_sample() {
    let bytes = data("corporate-identifier_synthetic_ascii.csv");
    let file = read_corporate_identifiers(bytes.as_slice()).unwrap();
    assert_eq!(file.rows.len(), 1);
    let row = file.rows[0].as_ref().unwrap();
    assert_eq!(
        (
            row.manufacturer.as_str(),
            row.model.as_str(),
            row.serial.as_str()
        ),
        ("Contoso", "Contoso Laptop 1", "SYNTH-0001")
    );
    let mut out = Vec::new();
    write_corporate_identifiers(&mut out, file.rows.iter().flatten()).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn config_file_docs_example() {
    let f = AutopilotConfigurationFile {
        comment_file: "Profile Autopilot Profile".into(),
        version: 2049,
        ztd_correlation_id: "7F9E6025-1E13-45F3-BF82-A3E8C5B59EAC".into(),
        domain_join_method: 0,
        device_name: None,
        language: None,
        region: None,
        oobe_config: 28,
        forced_enrollment: true,
        tenant_id: "1537de22-988c-4e93-b8a5-83890f34a69b".into(),
        tenant_domain: "M365x373186.onmicrosoft.com".into(),
        aad_server_data: aad_server_data("M365x373186.onmicrosoft.com", true),
        hybrid_skip_dc_check: false,
        update_disabled: None,
        update_timeout: None,
        key_order: Some(ConfigKey::DOCS_EXAMPLE_ORDER.to_vec()),
    };
    let bytes = data("AutopilotConfigurationFile.docs-example.json");
    assert_eq!(
        String::from_utf8_lossy(&f.to_file_bytes()),
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(f.to_file_bytes(), bytes);
    assert_eq!(AutopilotConfigurationFile::parse(&bytes).unwrap(), f);
}

#[test]
fn config_file_synthetic_userdriven() {
    let mut f = AutopilotConfigurationFile::new(
        "Contoso user-driven",
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "11111111-2222-3333-4444-555555555555",
        "contoso.onmicrosoft.com",
    );
    f.device_name = Some("CTSO-%SERIAL%".into());
    f.language = Some("en-US".into());
    f.region = Some("en-US".into());
    f.oobe_config = 1310;
    f.forced_enrollment = true;
    f.refresh_aad_server_data();
    let bytes = data("AutopilotConfigurationFile.synthetic-userdriven-aadj.json");
    assert_eq!(
        String::from_utf8_lossy(&f.to_file_bytes()),
        String::from_utf8_lossy(&bytes)
    );
    let parsed = AutopilotConfigurationFile::parse(&bytes).unwrap();
    assert_eq!(parsed.to_file_bytes(), bytes);
    assert_eq!(
        AutopilotConfigurationFile {
            key_order: None,
            ..parsed
        },
        f
    );
}

#[test]
fn config_file_synthetic_hybrid() {
    let mut f = AutopilotConfigurationFile::new(
        "Contoso hybrid",
        "ffffffff-0000-1111-2222-333333333333",
        "11111111-2222-3333-4444-555555555555",
        "contoso.onmicrosoft.com",
    );
    f.domain_join_method = 1;
    f.hybrid_skip_dc_check = true;
    let bytes = data("AutopilotConfigurationFile.synthetic-hybrid.json");
    assert_eq!(
        String::from_utf8_lossy(&f.to_file_bytes()),
        String::from_utf8_lossy(&bytes)
    );
    let parsed = AutopilotConfigurationFile::parse(&bytes).unwrap();
    assert_eq!(parsed.to_file_bytes(), bytes);
}

#[test]
fn config_file_parse_tolerates_utf8_bom() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(data("AutopilotConfigurationFile.synthetic-hybrid.json"));
    let parsed = AutopilotConfigurationFile::parse(&bytes).unwrap();
    assert_eq!(parsed.oobe_config, 264);
    assert!(parsed.hybrid_skip_dc_check);
}

#[test]
fn device_profile_sample() {
    let bytes = data("AutopilotDDSZTDFile.sanitized.json");
    let f = DeviceProfileFile {
        autopilot_service_correlation_id: "00000000-0000-0000-0000-0000000000a1".into(),
        ztd_registration_id: "00000000-0000-0000-0000-0000000000b2".into(),
        aad_device_id: Some("00000000-0000-0000-0000-0000000000c3".into()),
        cloud_assigned_oobe_config: 286,
        cloud_assigned_domain_join_method: 0,
        cloud_assigned_forced_enrollment: 1,
        cloud_assigned_tenant_domain: "contoso.onmicrosoft.com".into(),
        cloud_assigned_tenant_id: "11111111-2222-3333-4444-555555555555".into(),
        cloud_assigned_mdm_id: "9cb77803-d937-493e-9a3b-4b49de3f5a74".into(),
        cloud_assigned_device_name: Some("CTSO%SERIAL%".into()),
        deployment_profile_name: "Contoso_StandardUserProfile".into(),
        is_explicit_profile_assignment: true,
        cloud_assigned_autopilot_update_disabled: 1,
        cloud_assigned_privacy_diagnostics: 0,
        hybrid_join_skip_dc_connectivity_check: 0,
        cloud_assigned_autopilot_update_timeout: 1_800_000,
        policy_download_date: Some("2022-09-13T15:14:02Z".into()),
        extra: Default::default(),
    };
    assert_eq!(f.to_compact_json().as_bytes(), bytes.as_slice());
    assert_eq!(DeviceProfileFile::parse(&bytes).unwrap(), f);
}

#[test]
fn device_profile_keeps_unknown_keys() {
    let text = r#"{"AutopilotServiceCorrelationId":"a","ZtdRegistrationId":"b","CloudAssignedOobeConfig":264,"CloudAssignedDomainJoinMethod":0,"CloudAssignedForcedEnrollment":0,"CloudAssignedTenantDomain":"d","CloudAssignedTenantId":"t","CloudAssignedMdmId":"m","DeploymentProfileName":"p","IsExplicitProfileAssignment":false,"CloudAssignedAutopilotUpdateDisabled":1,"CloudAssignedPrivacyDiagnostics":0,"HybridJoinSkipDCConnectivityCheck":0,"CloudAssignedAutopilotUpdateTimeout":1800000,"AutopilotMode":1,"CloudAssignedLanguage":"en-US"}"#;
    let f = DeviceProfileFile::parse(text.as_bytes()).unwrap();
    assert_eq!(f.extra.len(), 2);
    assert_eq!(f.to_compact_json(), text);
}
