//! Windows MDM on the wire, as pure message types: what a device sends the enrollment and management
//! services, what they answer, and nothing about where it comes from or goes (no I/O, no clock).
//!
//! - [`xml`]: the one bounded XML reader every message goes through (size, depth, node and text limits; no
//!   DTD, no entities beyond XML's five and character references; no recursion).
//! - [`enrollment`]: [MS-MDE2] discovery, [MS-XCEP] GetPolicies, [MS-WSTEP] RequestSecurityToken, the
//!   provisioning document and the SOAP faults.
//! - [`syncml`]: OMA-DM SyncML 1.2 messages as Windows speaks them ([MS-MDM]).

pub mod enrollment;
pub mod syncml;
pub mod xml;
