//! Registration (the DDS side): deciding whether a presented hardware identity is a new device, a device this
//! tenant already has, or one another tenant owns; issuing the ZTDID; building the registration and its
//! directory object.
//!
//! # Matching policy
//! The 4K hash changes on every harvest (it embeds the collection time), so devices are matched by the
//! decoded identity, never by the literal blob:
//!
//! 1. The **identity key** is `lowercase(manufacturer) + U+001F + uppercase(serial)`, both trimmed. It is
//!    unique across all tenants: one device belongs to at most one tenant.
//! 2. Two identities with the same key are the **same device** when they share the SMBIOS UUID or the TPM
//!    EK hash (either suffices), or when neither side carries either. A new disk, NIC, RAM or GPU changes
//!    neither, so a re-harvested hash after a disk swap is recognised as the registered device.
//! 3. Same key but both the SMBIOS UUID and the TPM EK differ (each known on both sides) is a **replaced
//!    motherboard**: the registered identity no longer describes the hardware. As the service does, ztd does
//!    not re-register silently; the import is refused and says to delete the old registration first.

use serde::{Deserialize, Serialize};

use crate::device::{
    AutopilotDevice, EnrollmentState, HardwareKeys, ProfileAssignmentState, RemediationState,
};
use crate::directory::{autopilot_physical_ids, DirectoryDevice};
use crate::error::{ImportError, ImportErrorKind};
use crate::{DirectoryDeviceId, DirectoryObjectId, TenantId, Timestamp, Ztdid};

/// The longest group tag ztd accepts. The service documents no limit; 128 matches Graph's other tag-like
/// strings and keeps `[OrderId]:<tag>` well inside a physical id.
pub const MAX_GROUP_TAG_LEN: usize = 128;

/// The global identity key of a device.
pub fn identity_key(manufacturer: &str, serial_number: &str) -> String {
    format!(
        "{}\u{1f}{}",
        manufacturer.trim().to_lowercase(),
        serial_number.trim().to_uppercase()
    )
}

/// How a presented identity relates to a registered one with the same identity key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IdentityMatch {
    SameDevice,
    MotherboardReplaced,
}

pub fn classify_match(registered: &HardwareKeys, presented: &HardwareKeys) -> IdentityMatch {
    let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => Some(a.eq_ignore_ascii_case(b)),
        _ => None,
    };
    let uuid = same(&registered.smbios_uuid, &presented.smbios_uuid);
    let ek = same(&registered.tpm_ek_pub_hash, &presented.tpm_ek_pub_hash);
    match (uuid, ek) {
        (Some(true), _) | (_, Some(true)) => IdentityMatch::SameDevice,
        (Some(false), Some(false)) => IdentityMatch::MotherboardReplaced,
        // Only one board identifier is known on both sides and it differs: still a different board.
        (Some(false), None) | (None, Some(false)) => IdentityMatch::MotherboardReplaced,
        (None, None) => IdentityMatch::SameDevice,
    }
}

/// What a hardware hash presented at boot proves about the registration with the same identity key. The
/// manufacturer and serial number are printed on the box and guessable; the SMBIOS UUID and the TPM
/// endorsement key hash are not, so only they prove the device (see `docs/device-api.md`, "Trust model").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BootPresentation {
    /// A board identifier the registration holds is presented and equal: this is the registered device.
    Genuine,
    /// Every board identifier known on both sides differs, but the disk or a network adapter of the
    /// registration is presented: the registered device with a new motherboard ("attention required").
    BoardReplaced,
    /// Nothing that a stranger could not guess matches (or the registration holds no board identifier to
    /// check): answered exactly as an unknown device, and nothing is written.
    Unproven,
}

/// SMBIOS UUIDs that firmware ships as placeholders on many boards: they identify nothing.
const PLACEHOLDER_UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
];

/// Classifies a boot presentation against the registration with the same identity key.
///
/// The TPM endorsement key is the strongest identity (it never leaves the device; its hash is only in the
/// registration's hash): when the registration holds one, it must match. Only a registration without one is
/// proven by the SMBIOS UUID (which PXE boot broadcasts, so it is weaker). A replaced board is recognised
/// only with the registration's disk serial, never with MAC addresses, which anyone on the network sees.
pub fn verify_presentation(
    registered: &HardwareKeys,
    presented: &HardwareKeys,
) -> BootPresentation {
    fn known(value: &Option<String>) -> Option<&str> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .filter(|v| !PLACEHOLDER_UUIDS.iter().any(|p| p.eq_ignore_ascii_case(v)))
    }
    let same = |a: &Option<String>, b: &Option<String>| match (known(a), known(b)) {
        (Some(a), Some(b)) => Some(a.eq_ignore_ascii_case(b)),
        _ => None,
    };
    let uuid = same(&registered.smbios_uuid, &presented.smbios_uuid);
    let ek = same(&registered.tpm_ek_pub_hash, &presented.tpm_ek_pub_hash);
    let genuine = if known(&registered.tpm_ek_pub_hash).is_some() {
        ek == Some(true)
    } else {
        uuid == Some(true)
    };
    if genuine {
        return BootPresentation::Genuine;
    }
    let board_differs = uuid == Some(false) || ek == Some(false);
    let disk = same(&registered.disk_serial, &presented.disk_serial) == Some(true);
    if board_differs && disk {
        BootPresentation::BoardReplaced
    } else {
        BootPresentation::Unproven
    }
}

/// Everything a registration needs, already extracted from the CSV row or Graph body and the decoded hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationRequest {
    pub serial_number: String,
    pub manufacturer: String,
    pub model: String,
    pub product_key: String,
    pub hardware_hash: String,
    pub keys: HardwareKeys,
    pub group_tag: String,
    pub purchase_order_id: String,
    pub assigned_user: String,
}

/// Checks a group tag. The service documents no character set; ztd refuses what would corrupt a CSV row or a
/// `[OrderId]` physical id (comma, double quote, control characters) and caps the length.
pub fn validate_group_tag(tag: &str) -> Result<(), ImportError> {
    let invalid = |why: String| {
        Err(ImportError::new(
            ImportErrorKind::InvalidZtdRequestBody,
            why,
        ))
    };
    if tag.chars().count() > MAX_GROUP_TAG_LEN {
        return invalid(format!(
            "group tag is longer than {MAX_GROUP_TAG_LEN} characters"
        ));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| *c == ',' || *c == '"' || c.is_control())
    {
        return invalid(format!("group tag contains {bad:?}, which is not allowed (no commas, quotes or control characters)"));
    }
    Ok(())
}

/// Checks an assigned user: the service validates only that a domain is present.
pub fn validate_assigned_user(upn: &str) -> Result<(), ImportError> {
    if upn.is_empty() {
        return Ok(());
    }
    match upn.rsplit_once('@') {
        Some((user, domain))
            if !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err(ImportError::new(
            ImportErrorKind::InvalidZtdRequestBody,
            format!("assigned user {upn:?} is not a user principal name (user@domain.tld)"),
        )),
    }
}

/// Checks an assigned user's domain against the tenant's verified domains: what the service validates on
/// import (the user need not exist yet; assigning one through Graph later requires that it does).
pub fn check_assigned_user_domain(upn: &str, verified: &[String]) -> Result<(), ImportError> {
    let Some((_, domain)) = upn.trim().rsplit_once('@') else {
        return Ok(());
    };
    if verified.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Ok(());
    }
    Err(ImportError::new(
        ImportErrorKind::InvalidZtdRequestBody,
        format!(
            "assigned user {upn:?}: {domain:?} is not a verified domain of this tenant (verified: {})",
            verified.join(", ")
        ),
    ))
}

/// Decides whether `request` may be registered to `tenant`, given every registration that shares its
/// identity key (at most one: the key is unique across tenants).
pub fn decide(
    tenant: TenantId,
    request: &RegistrationRequest,
    registered: &[AutopilotDevice],
) -> Result<(), ImportError> {
    if request.serial_number.trim().is_empty() || request.manufacturer.trim().is_empty() {
        return Err(ImportError::new(
            ImportErrorKind::InvalidZtdHardwareHash,
            "the hardware hash carries no manufacturer or no serial number; harvest it again on the device",
        ));
    }
    validate_group_tag(&request.group_tag)?;
    validate_assigned_user(&request.assigned_user)?;
    let Some(existing) = registered.first() else {
        return Ok(());
    };
    if existing.tenant_id != tenant {
        return Err(ImportError::new(
            ImportErrorKind::ZtdDeviceAssignedToOtherTenant,
            format!(
                "device {} is registered to another tenant; it must be deregistered there before it can be imported here",
                request.serial_number
            ),
        ));
    }
    Err(match classify_match(&existing.keys, &request.keys) {
        IdentityMatch::SameDevice => ImportError::new(
            ImportErrorKind::ZtdDeviceAlreadyAssigned,
            format!("device {} is already registered in this tenant as {}", request.serial_number, existing.ztdid),
        ),
        IdentityMatch::MotherboardReplaced => ImportError::new(
            ImportErrorKind::ZtdDeviceAlreadyAssigned,
            format!(
                "device {} is registered as {} with a different motherboard (SMBIOS UUID and TPM differ); \
                 delete that registration, then import the new hash",
                request.serial_number, existing.ztdid
            ),
        ),
    })
}

/// The fresh ids a registration consumes, drawn by the caller.
#[derive(Clone, Copy, Debug)]
pub struct RegistrationIds {
    pub ztdid: Ztdid,
    pub directory_object_id: DirectoryObjectId,
    pub directory_device_id: DirectoryDeviceId,
}

/// Builds the registration and its disabled directory object (display name = serial, physical ids tagged).
pub fn register(
    tenant: TenantId,
    request: &RegistrationRequest,
    ids: RegistrationIds,
    now: Timestamp,
) -> (AutopilotDevice, DirectoryDevice) {
    let device = AutopilotDevice {
        tenant_id: tenant,
        ztdid: ids.ztdid,
        serial_number: request.serial_number.trim().to_string(),
        manufacturer: request.manufacturer.trim().to_string(),
        model: request.model.trim().to_string(),
        product_key: request.product_key.trim().to_string(),
        sku_number: String::new(),
        system_family: String::new(),
        hardware_hash: request.hardware_hash.clone(),
        keys: request.keys.clone(),
        group_tag: request.group_tag.clone(),
        purchase_order_id: request.purchase_order_id.clone(),
        user_principal_name: request.assigned_user.clone(),
        addressable_user_name: String::new(),
        display_name: String::new(),
        enrollment_state: EnrollmentState::NotContacted,
        last_contacted_at: None,
        directory_object_id: ids.directory_object_id,
        directory_device_id: ids.directory_device_id,
        assignment: ProfileAssignmentState::unassigned(),
        remediation_state: RemediationState::NoRemediationRequired,
        created_at: now,
        updated_at: now,
        managed_device_id: None,
    };
    let directory = DirectoryDevice {
        tenant_id: tenant,
        id: ids.directory_object_id,
        device_id: ids.directory_device_id,
        display_name: device.serial_number.clone(),
        account_enabled: false,
        physical_ids: autopilot_physical_ids(
            ids.ztdid,
            &device.group_tag,
            &device.purchase_order_id,
        ),
        operating_system: "Windows".into(),
        operating_system_version: String::new(),
        manufacturer: device.manufacturer.clone(),
        model: device.model.clone(),
        trust_type: String::new(),
        enrollment_profile_name: String::new(),
        ztdid: Some(ids.ztdid),
        created_at: now,
        alternative_security_id: String::new(),
        registered_user_id: None,
    };
    (device, directory)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn keys(uuid: Option<&str>, ek: Option<&str>, disk: &str) -> HardwareKeys {
        HardwareKeys {
            identity_key: identity_key("Contoso", "SN-1"),
            smbios_uuid: uuid.map(str::to_string),
            tpm_ek_pub_hash: ek.map(str::to_string),
            disk_serial: Some(disk.to_string()),
            mac_addresses: vec![],
        }
    }

    #[test]
    fn only_a_board_identifier_proves_a_device_at_boot() {
        use BootPresentation::*;
        let registered = keys(Some("U1"), Some("E1"), "D1");
        let cases = [
            (keys(Some("u1"), Some("E1"), "D1"), Genuine),
            (keys(None, Some("E1"), "other"), Genuine),
            // A disk swap keeps the board.
            (keys(Some("U1"), Some("E1"), "D2"), Genuine),
            // With an EK registered, the UUID alone (which PXE broadcasts) proves nothing.
            (keys(Some("U1"), None, "other"), Unproven),
            (keys(Some("U1"), Some("E9"), "other"), Unproven),
            // A new board, same disk: the registered device, repaired.
            (keys(Some("U2"), Some("E2"), "D1"), BoardReplaced),
            // Serial and manufacturer only (what a stranger can guess): nothing proven, nothing raised.
            (keys(None, None, ""), Unproven),
            // A guessed serial with random board ids: not the device, and no flag.
            (keys(Some("U9"), Some("E9"), "D9"), Unproven),
            // Empty identifiers never match.
            (keys(Some(""), Some(" "), "D1"), Unproven),
        ];
        for (presented, expected) in cases {
            assert_eq!(
                verify_presentation(&registered, &presented),
                expected,
                "{presented:?}"
            );
        }
        // Without an EK, the UUID proves the device, unless it is a firmware placeholder.
        let no_tpm = keys(Some("U1"), None, "D1");
        assert_eq!(
            verify_presentation(&no_tpm, &keys(Some("U1"), None, "")),
            Genuine
        );
        let placeholder = keys(Some("03000200-0400-0500-0006-000700080009"), None, "D1");
        assert_eq!(
            verify_presentation(&placeholder, &placeholder.clone()),
            Unproven
        );
        // A registration without board identifiers cannot be proven by anything presented.
        let weak = keys(None, None, "D1");
        assert_eq!(
            verify_presentation(&weak, &keys(Some("U1"), Some("E1"), "D1")),
            Unproven
        );
        // MAC addresses are visible on the network: they never corroborate a board replacement.
        let mut with_nic = keys(Some("U1"), None, "");
        with_nic.mac_addresses = vec!["00:11:22:33:44:55".into()];
        let mut repaired = keys(Some("U2"), None, "");
        repaired.mac_addresses = vec!["00:11:22:33:44:55".into()];
        assert_eq!(verify_presentation(&with_nic, &repaired), Unproven);
    }

    fn request(k: HardwareKeys) -> RegistrationRequest {
        RegistrationRequest {
            serial_number: "SN-1".into(),
            manufacturer: "Contoso".into(),
            model: "Laptop 1".into(),
            product_key: String::new(),
            hardware_hash: "T0E=".into(),
            keys: k,
            group_tag: "Kiosk".into(),
            purchase_order_id: String::new(),
            assigned_user: String::new(),
        }
    }

    fn tenant(n: u128) -> TenantId {
        TenantId(Uuid::from_u128(n))
    }

    fn registered(owner: TenantId, k: HardwareKeys) -> AutopilotDevice {
        let ids = RegistrationIds {
            ztdid: Ztdid(Uuid::from_u128(100)),
            directory_object_id: DirectoryObjectId(Uuid::from_u128(101)),
            directory_device_id: DirectoryDeviceId(Uuid::from_u128(102)),
        };
        register(owner, &request(k), ids, Timestamp(0)).0
    }

    #[test]
    fn identity_key_ignores_case_and_whitespace() {
        assert_eq!(
            identity_key(" Contoso ", "sn-1"),
            identity_key("CONTOSO", "SN-1 ")
        );
    }

    #[test]
    fn disk_swap_is_the_same_device() {
        let before = keys(Some("u1"), Some("ek1"), "disk-a");
        let after = keys(Some("u1"), Some("ek1"), "disk-b");
        assert_eq!(classify_match(&before, &after), IdentityMatch::SameDevice);
    }

    #[test]
    fn motherboard_swap_is_not_the_same_device() {
        let before = keys(Some("u1"), Some("ek1"), "disk-a");
        let after = keys(Some("u2"), Some("ek2"), "disk-a");
        assert_eq!(
            classify_match(&before, &after),
            IdentityMatch::MotherboardReplaced
        );
    }

    #[test]
    fn one_shared_board_identifier_is_enough() {
        assert_eq!(
            classify_match(
                &keys(Some("u1"), Some("ek1"), "d"),
                &keys(Some("u1"), Some("ek2"), "d")
            ),
            IdentityMatch::SameDevice
        );
        assert_eq!(
            classify_match(&keys(None, None, "d"), &keys(None, None, "e")),
            IdentityMatch::SameDevice
        );
        assert_eq!(
            classify_match(&keys(Some("u1"), None, "d"), &keys(Some("U1"), None, "d")),
            IdentityMatch::SameDevice
        );
    }

    #[test]
    fn a_new_device_is_accepted() {
        assert_eq!(
            decide(tenant(1), &request(keys(Some("u1"), None, "d")), &[]),
            Ok(())
        );
    }

    #[test]
    fn re_harvested_hash_in_the_same_tenant_is_806() {
        let existing = registered(tenant(1), keys(Some("u1"), Some("ek1"), "d"));
        let err = decide(
            tenant(1),
            &request(keys(Some("u1"), Some("ek1"), "other-disk")),
            &[existing],
        )
        .unwrap_err();
        assert_eq!(err.kind, ImportErrorKind::ZtdDeviceAlreadyAssigned);
    }

    #[test]
    fn device_of_another_tenant_is_808() {
        let existing = registered(tenant(2), keys(Some("u1"), Some("ek1"), "d"));
        let err = decide(
            tenant(1),
            &request(keys(Some("u1"), Some("ek1"), "d")),
            &[existing],
        )
        .unwrap_err();
        assert_eq!(err.kind, ImportErrorKind::ZtdDeviceAssignedToOtherTenant);
        assert_eq!(err.kind.code(), 808);
    }

    #[test]
    fn replaced_motherboard_is_refused_with_advice() {
        let existing = registered(tenant(1), keys(Some("u1"), Some("ek1"), "d"));
        let err = decide(
            tenant(1),
            &request(keys(Some("u2"), Some("ek2"), "d")),
            &[existing],
        )
        .unwrap_err();
        assert_eq!(err.kind, ImportErrorKind::ZtdDeviceAlreadyAssigned);
        assert!(
            err.message.contains("different motherboard"),
            "{}",
            err.message
        );
    }

    #[test]
    fn hash_without_manufacturer_is_802() {
        let mut req = request(keys(None, None, "d"));
        req.manufacturer.clear();
        assert_eq!(
            decide(tenant(1), &req, &[]).unwrap_err().kind,
            ImportErrorKind::InvalidZtdHardwareHash
        );
    }

    #[test]
    fn group_tag_rules() {
        assert!(validate_group_tag("Kiosk-01 Sales/EU").is_ok());
        assert!(validate_group_tag("a,b").is_err());
        assert!(validate_group_tag("a\"b").is_err());
        assert!(validate_group_tag(&"x".repeat(129)).is_err());
        assert!(validate_group_tag(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn assigned_user_needs_a_domain() {
        assert!(validate_assigned_user("").is_ok());
        assert!(validate_assigned_user("ann@contoso.com").is_ok());
        assert!(validate_assigned_user("ann").is_err());
        assert!(validate_assigned_user("ann@localhost").is_err());
        let verified = vec![
            "contoso.example".to_string(),
            "lab.contoso.example".to_string(),
        ];
        assert!(check_assigned_user_domain("", &verified).is_ok());
        assert!(check_assigned_user_domain("ann@Lab.Contoso.Example", &verified).is_ok());
        let refused = check_assigned_user_domain("ann@fabrikam.example", &verified).unwrap_err();
        assert_eq!(refused.kind, ImportErrorKind::InvalidZtdRequestBody);
        assert!(
            refused.message.contains("not a verified domain"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn registration_creates_a_disabled_tagged_directory_object() {
        let device = registered(tenant(1), keys(None, None, "d"));
        let ids = RegistrationIds {
            ztdid: device.ztdid,
            directory_object_id: device.directory_object_id,
            directory_device_id: DirectoryDeviceId(Uuid::from_u128(102)),
        };
        let (_, directory) = register(
            tenant(1),
            &request(keys(None, None, "d")),
            ids,
            Timestamp(5),
        );
        assert!(!directory.account_enabled);
        assert_eq!(directory.display_name, "SN-1");
        assert!(directory
            .physical_ids
            .contains(&"[OrderId]:Kiosk".to_string()));
        assert!(directory.physical_ids[0].starts_with("[ZTDID]:"));
    }
}
