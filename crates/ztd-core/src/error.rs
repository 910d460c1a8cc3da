//! The error catalogue. Import errors carry the Device Directory Service codes and names that Graph clients
//! read from `deviceErrorCode`/`deviceErrorName`; domain errors carry a stable code and the field at fault.

use serde::Serialize;

/// Why one registration (one CSV row, one Graph import) was refused. Codes and names are the DDS wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ImportErrorKind {
    InvalidZtdRequestBody,
    InvalidZtdHardwareHash,
    MissingZtdSerialNumberAndProductKey,
    ZtdDeviceAlreadyAssigned,
    ZtdDeviceIsNotRegistered,
    ZtdDeviceAssignedToOtherTenant,
    ZtdDeviceNotFound,
    ZtdDeviceDuplicated,
    StorageError,
}

impl ImportErrorKind {
    /// The numeric `deviceErrorCode`. Names without a published number use codes ztd assigns above 900,
    /// outside the DDS range (801–814), so clients that match on `806|808` keep working.
    pub fn code(self) -> i32 {
        match self {
            Self::InvalidZtdRequestBody => 801,
            Self::InvalidZtdHardwareHash => 802,
            Self::MissingZtdSerialNumberAndProductKey => 803,
            Self::ZtdDeviceAlreadyAssigned => 806,
            Self::ZtdDeviceIsNotRegistered => 807,
            Self::ZtdDeviceAssignedToOtherTenant => 808,
            Self::ZtdDeviceNotFound => 812,
            Self::ZtdDeviceDuplicated => 901,
            Self::StorageError => 902,
        }
    }

    /// Every kind, for lookups.
    pub const ALL: [ImportErrorKind; 9] = [
        Self::InvalidZtdRequestBody,
        Self::InvalidZtdHardwareHash,
        Self::MissingZtdSerialNumberAndProductKey,
        Self::ZtdDeviceAlreadyAssigned,
        Self::ZtdDeviceIsNotRegistered,
        Self::ZtdDeviceAssignedToOtherTenant,
        Self::ZtdDeviceNotFound,
        Self::ZtdDeviceDuplicated,
        Self::StorageError,
    ];

    /// The kind with this `deviceErrorCode`.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The `deviceErrorName` wire value.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidZtdRequestBody => "InvalidZtdRequestBody",
            Self::InvalidZtdHardwareHash => "InvalidZtdHardwareHash",
            Self::MissingZtdSerialNumberAndProductKey => "MissingZtdSerialNumberAndProductKey",
            Self::ZtdDeviceAlreadyAssigned => "ZtdDeviceAlreadyAssigned",
            Self::ZtdDeviceIsNotRegistered => "ZtdDeviceIsNotRegistered",
            Self::ZtdDeviceAssignedToOtherTenant => "ZtdDeviceAssignedToOtherTenant",
            Self::ZtdDeviceNotFound => "ZtdDeviceNotFound",
            Self::ZtdDeviceDuplicated => "ZtdDeviceDuplicated",
            Self::StorageError => "StorageError",
        }
    }
}

/// An import refusal with a message that says what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} {}: {message}", kind.code(), kind.name())]
pub struct ImportError {
    pub kind: ImportErrorKind,
    pub message: String,
}

impl ImportError {
    pub fn new(kind: ImportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What kind of object a request named: the subject of a not-found answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ObjectKind {
    Tenant,
    DirectoryDevice,
    Group,
    GroupMember,
    AutopilotDevice,
    ImportedHash,
    CorporateIdentifier,
    DeploymentProfile,
    ProfileAssignment,
    EnrollmentConfiguration,
}

impl ObjectKind {
    /// The name clients know the object by (Graph's entity name, or a plain word).
    pub fn name(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::DirectoryDevice => "device",
            Self::Group => "group",
            Self::GroupMember => "group member",
            Self::AutopilotDevice => "windowsAutopilotDeviceIdentity",
            Self::ImportedHash => "importedWindowsAutopilotDeviceIdentity",
            Self::CorporateIdentifier => "importedDeviceIdentity",
            Self::DeploymentProfile => "windowsAutopilotDeploymentProfile",
            Self::ProfileAssignment => "windowsAutopilotDeploymentProfileAssignment",
            Self::EnrollmentConfiguration => "deviceEnrollmentConfiguration",
        }
    }

    /// Whether it is a directory object (Entra's, not Intune's): those answer in Entra's error shape.
    pub fn is_directory_object(self) -> bool {
        matches!(self, Self::DirectoryDevice | Self::Group)
    }
}

/// A refused command on a domain object: a stable code, the offending field (Graph property name) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum DomainError {
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error("{} {id} was not found", kind.name())]
    NotFound { kind: ObjectKind, id: String },
    #[error("{message}")]
    Conflict { message: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: ObjectKind, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// A stable machine-readable code (Graph's `error.code` style).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "BadRequest",
            Self::NotFound { .. } => "ResourceNotFound",
            Self::Conflict { .. } => "Conflict",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_errors_render_code_and_wire_name() {
        let err = ImportError::new(
            ImportErrorKind::ZtdDeviceAssignedToOtherTenant,
            "registered elsewhere",
        );
        assert_eq!(
            err.to_string(),
            "808 ZtdDeviceAssignedToOtherTenant: registered elsewhere"
        );
        assert_eq!(ImportErrorKind::ZtdDeviceAlreadyAssigned.code(), 806);
        for kind in ImportErrorKind::ALL {
            assert_eq!(ImportErrorKind::from_code(kind.code()), Some(kind));
        }
    }
}
