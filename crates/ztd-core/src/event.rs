//! The audit trail: every use case appends events in its own transaction.

use serde::{Deserialize, Serialize};

use crate::{TenantId, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub tenant_id: TenantId,
    pub id: uuid::Uuid,
    pub at: Timestamp,
    /// The wire name of an [`EventKind`] (`device.contacted`, `group.updated`...). Kept as text so events
    /// written by another version of ztd still read.
    pub kind: String,
    /// The id of the object the event is about (a ZTDID, group id, profile id...).
    pub subject: String,
    pub data: serde_json::Value,
    /// Who caused it: an administrator (a user, an app, or the operator at the command line) for the
    /// changes the audit log shows; `None` for what devices, sign-ins and ztd itself cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

/// Who made an administrative change, as the audit log names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's object id (a user), the application id (an app), the account name (the operator).
    pub id: String,
    /// The user's principal name, or empty.
    #[serde(default)]
    pub user_principal_name: String,
    /// The application the change came through (a user's client, or the app itself); empty for the
    /// operator.
    #[serde(default)]
    pub application_id: String,
    /// The permissions the caller held (a token's roles or scopes).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The caller's network address, when known.
    #[serde(default)]
    pub ip_address: String,
    /// The request the change was made in (the caller's `client-request-id`, or ztd's `request-id`).
    #[serde(default)]
    pub correlation_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorKind {
    /// A user calling as themselves (a delegated token).
    User,
    /// An application calling with its own credential.
    Application,
    /// The server's operator, running `ztd` commands against the database.
    Operator,
}

impl Actor {
    /// The operator at the command line, named by their account.
    pub fn operator(account: &str) -> Self {
        Self {
            kind: ActorKind::Operator,
            id: account.to_string(),
            user_principal_name: String::new(),
            application_id: String::new(),
            permissions: Vec::new(),
            ip_address: String::new(),
            correlation_id: String::new(),
        }
    }
}

/// What an event records. Every event ztd appends has one of these kinds; its wire name (`as_str`) is what
/// the event's `kind` holds, in the store and in every API that shows events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    AutopilotSyncTriggered,
    ClientCreated,
    ClientDeleted,
    ClientSecretAdded,
    ClientSecretRemoved,
    ClientCertificateAdded,
    ClientCertificateRemoved,
    CorporateIdentifierCreated,
    CorporateIdentifierDeleted,
    CorporateIdentifiersImported,
    DeviceContacted,
    DeviceDeleted,
    DeviceEnrollmentAllowed,
    DeviceHardwareChanged,
    DeviceHardwareVerified,
    DeviceUpdated,
    DevicesImported,
    DevicesImportRequested,
    DirectoryObjectDeleted,
    DirectoryObjectJoined,
    DirectoryObjectKeyRegistered,
    DirectoryObjectLeft,
    DirectoryObjectRegistered,
    DirectoryObjectUpdated,
    EspAssigned,
    EspCreated,
    EspDeleted,
    EspPrioritySet,
    EspUpdated,
    GroupCreated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    GroupUpdated,
    ImportRecordDeleted,
    ManagedDeviceActionRequested,
    ManagedDeviceCommandQueued,
    ManagedDeviceConverted,
    ManagedDeviceDeleted,
    ManagedDeviceEnrolled,
    ManagedDeviceRemoved,
    ProfileAssigned,
    ProfileCreated,
    ProfileDeleted,
    ProfileUnassigned,
    ProfileUpdated,
    RequestRefused,
    AssignmentFilterCreated,
    AssignmentFilterDeleted,
    AssignmentFilterUpdated,
    ScopeTagCreated,
    ScopeTagDeleted,
    ScopeTagUpdated,
    SigningKeyRotated,
    TenantCreated,
    TenantDomainAdded,
    TenantDomainRemoved,
    UserCreated,
    UserDeleted,
    UserLockedOut,
    UserUpdated,
}

impl EventKind {
    pub const ALL: [EventKind; 61] = [
        Self::AutopilotSyncTriggered,
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::ClientSecretAdded,
        Self::ClientSecretRemoved,
        Self::ClientCertificateAdded,
        Self::ClientCertificateRemoved,
        Self::CorporateIdentifierCreated,
        Self::CorporateIdentifierDeleted,
        Self::CorporateIdentifiersImported,
        Self::DeviceContacted,
        Self::DeviceDeleted,
        Self::DeviceEnrollmentAllowed,
        Self::DeviceHardwareChanged,
        Self::DeviceHardwareVerified,
        Self::DeviceUpdated,
        Self::DevicesImported,
        Self::DevicesImportRequested,
        Self::DirectoryObjectDeleted,
        Self::DirectoryObjectJoined,
        Self::DirectoryObjectKeyRegistered,
        Self::DirectoryObjectLeft,
        Self::DirectoryObjectRegistered,
        Self::DirectoryObjectUpdated,
        Self::EspAssigned,
        Self::EspCreated,
        Self::EspDeleted,
        Self::EspPrioritySet,
        Self::EspUpdated,
        Self::GroupCreated,
        Self::GroupDeleted,
        Self::GroupMemberAdded,
        Self::GroupMemberRemoved,
        Self::GroupUpdated,
        Self::ImportRecordDeleted,
        Self::ManagedDeviceActionRequested,
        Self::ManagedDeviceCommandQueued,
        Self::ManagedDeviceConverted,
        Self::ManagedDeviceDeleted,
        Self::ManagedDeviceEnrolled,
        Self::ManagedDeviceRemoved,
        Self::ProfileAssigned,
        Self::ProfileCreated,
        Self::ProfileDeleted,
        Self::ProfileUnassigned,
        Self::ProfileUpdated,
        Self::RequestRefused,
        Self::AssignmentFilterCreated,
        Self::AssignmentFilterDeleted,
        Self::AssignmentFilterUpdated,
        Self::ScopeTagCreated,
        Self::ScopeTagDeleted,
        Self::ScopeTagUpdated,
        Self::SigningKeyRotated,
        Self::TenantCreated,
        Self::TenantDomainAdded,
        Self::TenantDomainRemoved,
        Self::UserCreated,
        Self::UserDeleted,
        Self::UserLockedOut,
        Self::UserUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutopilotSyncTriggered => "autopilot.sync_triggered",
            Self::ClientCreated => "client.created",
            Self::ClientDeleted => "client.deleted",
            Self::ClientSecretAdded => "client.secret_added",
            Self::ClientSecretRemoved => "client.secret_removed",
            Self::ClientCertificateAdded => "client.certificate_added",
            Self::ClientCertificateRemoved => "client.certificate_removed",
            Self::CorporateIdentifierCreated => "corporate_identifier.created",
            Self::CorporateIdentifierDeleted => "corporate_identifier.deleted",
            Self::CorporateIdentifiersImported => "corporate_identifiers.imported",
            Self::DeviceContacted => "device.contacted",
            Self::DeviceDeleted => "device.deleted",
            Self::DeviceEnrollmentAllowed => "device.enrollment_allowed",
            Self::DeviceHardwareChanged => "device.hardware_changed",
            Self::DeviceHardwareVerified => "device.hardware_verified",
            Self::DeviceUpdated => "device.updated",
            Self::DevicesImported => "devices.imported",
            Self::DevicesImportRequested => "devices.import_requested",
            Self::DirectoryObjectDeleted => "directory_object.deleted",
            Self::DirectoryObjectJoined => "directory_object.joined",
            Self::DirectoryObjectKeyRegistered => "directory_object.key_registered",
            Self::DirectoryObjectLeft => "directory_object.left",
            Self::DirectoryObjectRegistered => "directory_object.registered",
            Self::DirectoryObjectUpdated => "directory_object.updated",
            Self::EspAssigned => "esp.assigned",
            Self::EspCreated => "esp.created",
            Self::AssignmentFilterCreated => "assignment_filter.created",
            Self::AssignmentFilterDeleted => "assignment_filter.deleted",
            Self::AssignmentFilterUpdated => "assignment_filter.updated",
            Self::ScopeTagCreated => "scope_tag.created",
            Self::ScopeTagDeleted => "scope_tag.deleted",
            Self::ScopeTagUpdated => "scope_tag.updated",
            Self::EspDeleted => "esp.deleted",
            Self::EspPrioritySet => "esp.priority_set",
            Self::EspUpdated => "esp.updated",
            Self::GroupCreated => "group.created",
            Self::GroupDeleted => "group.deleted",
            Self::GroupMemberAdded => "group.member_added",
            Self::GroupMemberRemoved => "group.member_removed",
            Self::GroupUpdated => "group.updated",
            Self::ImportRecordDeleted => "import.deleted",
            Self::ManagedDeviceActionRequested => "managed_device.action_requested",
            Self::ManagedDeviceCommandQueued => "managed_device.command_queued",
            Self::ManagedDeviceConverted => "managed_device.converted",
            Self::ManagedDeviceDeleted => "managed_device.deleted",
            Self::ManagedDeviceEnrolled => "managed_device.enrolled",
            Self::ManagedDeviceRemoved => "managed_device.removed",
            Self::ProfileAssigned => "profile.assigned",
            Self::ProfileCreated => "profile.created",
            Self::ProfileDeleted => "profile.deleted",
            Self::ProfileUnassigned => "profile.unassigned",
            Self::ProfileUpdated => "profile.updated",
            Self::RequestRefused => "request.refused",
            Self::SigningKeyRotated => "signing_key.rotated",
            Self::TenantCreated => "tenant.created",
            Self::TenantDomainAdded => "tenant.domain_added",
            Self::TenantDomainRemoved => "tenant.domain_removed",
            Self::UserCreated => "user.created",
            Self::UserDeleted => "user.deleted",
            Self::UserLockedOut => "user.locked_out",
            Self::UserUpdated => "user.updated",
        }
    }

    /// The kind with this wire name, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// The audit log's categories (Graph `auditEvent.category` and `componentName`), each a set of event areas
/// (the part of a kind before its dot). Who may read a category depends on their permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuditCategory {
    /// Registrations, imports, profiles, ESP, Autopilot settings, scope tags and assignment filters.
    Enrollment,
    /// Users, groups, directory devices.
    Directory,
    /// App registrations and their credentials.
    Applications,
    /// The tenant's domains and signing keys.
    Tenant,
    /// Refused requests.
    Other,
}

impl AuditCategory {
    pub const ALL: [AuditCategory; 5] = [
        Self::Enrollment,
        Self::Directory,
        Self::Applications,
        Self::Tenant,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrollment => "Enrollment",
            Self::Directory => "Directory",
            Self::Applications => "Applications",
            Self::Tenant => "Tenant",
            Self::Other => "Other",
        }
    }

    /// The event areas in the category.
    pub fn areas(self) -> &'static [&'static str] {
        match self {
            Self::Enrollment => &[
                "assignment_filter",
                "autopilot",
                "corporate_identifier",
                "corporate_identifiers",
                "device",
                "devices",
                "esp",
                "import",
                "managed_device",
                "profile",
                "scope_tag",
            ],
            Self::Directory => &["directory_object", "group", "user"],
            Self::Applications => &["client"],
            Self::Tenant => &["signing_key", "tenant"],
            Self::Other => &["request"],
        }
    }

    /// The category of an event kind's wire name.
    pub fn of(kind: &str) -> Self {
        let area = kind.split('.').next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|category| category.areas().contains(&area))
            .unwrap_or(Self::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_dotted_wire_name_that_parses_back() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert!(kind.as_str().contains('.'), "{kind:?}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }

    #[test]
    fn every_kind_but_a_refusal_has_a_named_audit_category() {
        for kind in EventKind::ALL {
            let category = AuditCategory::of(kind.as_str());
            assert_eq!(
                category == AuditCategory::Other,
                kind == EventKind::RequestRefused,
                "{kind:?}"
            );
        }
    }
}
