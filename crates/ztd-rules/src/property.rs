//! The device properties a rule may name, interned to small ids so that a device is a
//! compact sorted vector instead of a map keyed by strings.

/// How a property's values look and which operators apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PropertyKind {
    /// Single string value; all twelve comparison operators.
    String,
    /// `true` / `false` / null; only `-eq` and `-ne`.
    Boolean,
    /// `devicePhysicalIds`, `systemLabels`: `-any`/`-all`, or comparisons with any-item semantics.
    StringCollection,
    /// `memberOf`: only `-any (group.objectId -in [...])`, as the whole rule.
    MemberOf,
    /// `organizationalUnit`: accepted (Entra accepts it) but never matches.
    Unsupported,
}

/// An interned device property (index into the static table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Property(u8);

struct Def {
    name: &'static str,
    kind: PropertyKind,
    /// Values Entra documents; anything else is accepted with a warning (it would never match).
    allowed: &'static [&'static str],
}

const fn s(name: &'static str) -> Def {
    Def {
        name,
        kind: PropertyKind::String,
        allowed: &[],
    }
}

static PROPERTIES: [Def; 35] = [
    Def {
        name: "accountEnabled",
        kind: PropertyKind::Boolean,
        allowed: &[],
    },
    s("deviceCategory"),
    s("deviceId"),
    s("deviceManagementAppId"),
    s("deviceManufacturer"),
    s("deviceModel"),
    s("displayName"),
    s("deviceOSType"),
    s("deviceOSVersion"),
    Def {
        name: "deviceOwnership",
        kind: PropertyKind::String,
        allowed: &["Personal", "Company", "Unknown"],
    },
    Def {
        name: "deviceTrustType",
        kind: PropertyKind::String,
        allowed: &["AzureAD", "ServerAD", "Workplace"],
    },
    s("enrollmentProfileName"),
    s("extensionAttribute1"),
    s("extensionAttribute2"),
    s("extensionAttribute3"),
    s("extensionAttribute4"),
    s("extensionAttribute5"),
    s("extensionAttribute6"),
    s("extensionAttribute7"),
    s("extensionAttribute8"),
    s("extensionAttribute9"),
    s("extensionAttribute10"),
    s("extensionAttribute11"),
    s("extensionAttribute12"),
    s("extensionAttribute13"),
    s("extensionAttribute14"),
    s("extensionAttribute15"),
    Def {
        name: "isRooted",
        kind: PropertyKind::Boolean,
        allowed: &[],
    },
    Def {
        name: "managementType",
        kind: PropertyKind::String,
        allowed: &["MDM", "PC"],
    },
    s("objectId"),
    Def {
        name: "profileType",
        kind: PropertyKind::String,
        allowed: &["RegisteredDevice", "SecureVM", "Printer", "Shared", "IoT"],
    },
    Def {
        name: "organizationalUnit",
        kind: PropertyKind::Unsupported,
        allowed: &[],
    },
    Def {
        name: "devicePhysicalIds",
        kind: PropertyKind::StringCollection,
        allowed: &[],
    },
    Def {
        name: "systemLabels",
        kind: PropertyKind::StringCollection,
        allowed: &[],
    },
    Def {
        name: "memberOf",
        kind: PropertyKind::MemberOf,
        allowed: &[],
    },
];

/// Number of known properties (ids are `0..COUNT`).
pub(crate) const COUNT: usize = PROPERTIES.len();

impl Property {
    /// `memberOf` (last entry of the table; checked by a unit test).
    pub const MEMBER_OF: Property = Property(34);

    /// Case-insensitive lookup (Entra's own examples mix `devicePhysicalIDs`/`devicePhysicalIds`).
    pub fn lookup(name: &str) -> Option<Property> {
        PROPERTIES
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(name))
            .and_then(|i| u8::try_from(i).ok())
            .map(Property)
    }

    /// Canonical spelling, used by the printer and in diagnostics.
    pub fn name(self) -> &'static str {
        PROPERTIES[self.0 as usize].name
    }

    pub fn kind(self) -> PropertyKind {
        PROPERTIES[self.0 as usize].kind
    }

    /// Documented values for enumerated properties (empty = any value).
    pub fn allowed_values(self) -> &'static [&'static str] {
        PROPERTIES[self.0 as usize].allowed
    }

    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    /// Every known property, in id order.
    pub fn all() -> impl Iterator<Item = Property> {
        (0..COUNT)
            .filter_map(|i| u8::try_from(i).ok())
            .map(Property)
    }
}

impl std::fmt::Display for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device.{}", self.name())
    }
}
