//! The wire types of ztd's own APIs, one definition each, shared by the server that writes them and the
//! clients that read them (the CLI, and the device client to come):
//!
//! - [`native`]: `/ztd/v1`, the admin calls Graph has no equivalent for (bulk import with per-row results,
//!   explain);
//! - [`device`]: `/device/v1`, what a device presents at first boot and the plan it receives;
//! - [`files`]: the files rendered from domain values (`AutopilotConfigurationFile.json`, the device's
//!   profile cache, the OOBE bits);
//! - [`error`]: the error catalogue's entries and the body every error answer has.
//!
//! Pure data and renderings: no HTTP, no storage, no decisions (those are `ztd-core`'s).

pub mod device;
pub mod error;
pub mod files;
pub mod native;
