//! Typed identifiers. Every id is a UUID rendered as a lowercase hyphenated string, as Graph does.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn parse(text: &str) -> Option<Self> {
                Uuid::parse_str(text.trim()).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A tenant (an organisation). Every stored object belongs to exactly one.
    TenantId
);
id_type!(
    /// The Zero-Touch Deployment ID: issued once per registration, never reused, never changed.
    /// It is also the Graph `windowsAutopilotDeviceIdentity.id`.
    Ztdid
);
id_type!(
    /// The object id of a directory (Entra-style) device object.
    DirectoryObjectId
);
id_type!(
    /// The `deviceId` of a directory device object (what Autopilot calls `azureActiveDirectoryDeviceId`).
    DirectoryDeviceId
);
id_type!(
    /// A static or dynamic device group.
    GroupId
);
id_type!(
    /// A deployment profile.
    ProfileId
);
id_type!(
    /// One imported device identity record (the Graph import queue entry).
    ImportId
);

id_type!(
    /// A device enrolled in device management (Graph `managedDevice.id`).
    ManagedDeviceId
);
id_type!(
    /// One command queued for a managed device.
    MdmCommandId
);

/// The source of fresh identifiers. Injected so the domain stays deterministic under test.
pub trait IdSource {
    fn next_uuid(&mut self) -> Uuid;
}

/// Sequential UUIDs (`00000000-0000-4000-8000-000000000001`, ...), for tests and reproducible demos.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: u64,
}

impl SequentialIds {
    pub fn starting_at(next: u64) -> Self {
        Self { next }
    }
}

impl IdSource for SequentialIds {
    fn next_uuid(&mut self) -> Uuid {
        self.next += 1;
        Uuid::from_u64_pair(0x0000_0000_0000_4000, 0x8000_0000_0000_0000 | self.next)
    }
}
