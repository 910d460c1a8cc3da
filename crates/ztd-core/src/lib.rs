//! The ztd domain: tenants, Autopilot registrations and their ZTDIDs, directory device objects, groups,
//! deployment profiles, ESP configurations, assignment and conflict resolution, and provisioning plans.
//!
//! Architecture invariant: this crate does no I/O, reads no clock and draws no randomness. Every decision
//! takes the current time (`Timestamp`) and any fresh ids or random digits as parameters, so every decision
//! is deterministic, unit-testable and explainable.

pub mod assignment;
pub mod corporate;
pub mod device;
pub mod device_policy;
pub mod directory;
pub mod error;
pub mod esp;
pub mod event;
pub mod group;
pub mod ids;
pub mod import;
pub mod managed;
pub mod naming;
pub mod profile;
pub mod provisioning;
pub mod registration;
pub mod scope;
pub mod sign_in;
pub mod sync;
pub mod tenant;
pub mod time;
pub mod user;

pub use error::{DomainError, ImportError};
pub use ids::*;
pub use time::Timestamp;
