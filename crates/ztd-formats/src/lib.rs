//! ztd-formats: the file formats of Windows Autopilot, and nothing else (no storage, no
//! HTTP, no hardware-hash decoding).
//!
//! * [`hash_csv`] — streaming reader and writer for hardware-hash CSV files
//!   (Get-WindowsAutopilotInfo, Intune 5-column, Partner Center, `OrderID`).
//! * [`corporate_csv`] — corporate identifier files (`manufacturer,model,serial`).
//! * [`config_file`] — `AutopilotConfigurationFile.json`, byte-compatible with Windows
//!   PowerShell 5.1 output.
//! * [`device_profile`] — the device-side cached profile `AutopilotDDSZTDFile.json`.
//! * [`oobe`] — the `CloudAssignedOobeConfig` bitmask.
//!
//! Every decision the research leaves open is recorded in the module docs.

pub mod config_file;
pub mod corporate_csv;
pub mod device_profile;
pub mod hash_csv;
pub mod oobe;
mod records;
mod text;

pub use config_file::{AutopilotConfigurationFile, ConfigFileError, ConfigKey};
pub use corporate_csv::{
    read_corporate_identifiers, CorporateCsvError, CorporateIdentifierFile, CorporateIdentifierRow,
};
pub use device_profile::DeviceProfileFile;
pub use hash_csv::{
    write_hash_csv, CsvDialect, CsvEncoding, CsvFileError, HashCsvReader, HashCsvRow, RowError,
};
pub use oobe::{cloud_assigned_oobe_config, describe_oobe_config, OobeSettings};
pub use text::{excerpt, excerpt_chars, EXCERPT_CHARS};
