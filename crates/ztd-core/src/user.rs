//! Users of a tenant's directory: who may sign in, with which password, in which role, and the smart lockout
//! that stops password guessing without letting a stranger lock a user out for long.

use serde::{Deserialize, Serialize};

use crate::{DirectoryObjectId, DomainError, TenantId, Timestamp};

/// What a user may do in the admin API when calling it as themselves (delegated tokens), in the manner of
/// Intune's built-in roles. A delegated token's permissions are its scopes limited by its user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserRole {
    /// No administrative access: the user signs in to devices and nothing else.
    User,
    /// Reads everything an administrator reads; changes nothing.
    ReadOnly,
    /// Manages Autopilot registrations, profiles, groups and devices; not the directory's users.
    AutopilotOperator,
    /// Everything.
    Administrator,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ReadOnly => "readOnly",
            Self::AutopilotOperator => "autopilotOperator",
            Self::Administrator => "administrator",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::User,
            Self::ReadOnly,
            Self::AutopilotOperator,
            Self::Administrator,
        ]
        .into_iter()
        .find(|role| role.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Whether the role allows `access` to a permission family (`DeviceManagementServiceConfig`, `User`, ...).
    pub fn allows(self, family: &str, write: bool) -> bool {
        match self {
            Self::User => false,
            Self::ReadOnly => !write,
            // `Directory` covers users too, so an operator writes neither.
            Self::AutopilotOperator => {
                !write
                    || !(family.eq_ignore_ascii_case("User")
                        || family.eq_ignore_ascii_case("Directory"))
            }
            Self::Administrator => true,
        }
    }
}

/// A directory user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub tenant_id: TenantId,
    /// The object id (users are directory objects, like devices, and can be group members).
    pub id: DirectoryObjectId,
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub mail: String,
    pub account_enabled: bool,
    pub role: UserRole,
    /// The password as a PHC string (argon2id); `None` for a user who cannot sign in with a password.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    pub force_change_password_next_sign_in: bool,
    pub lockout: Lockout,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Checks a user principal name: `local@domain`, with the domain one of the tenant's verified domains.
pub fn validate_upn(upn: &str, verified_domains: &[String]) -> Result<(), DomainError> {
    let invalid = |message: String| Err(DomainError::invalid("userPrincipalName", message));
    let upn = upn.trim();
    let Some((local, domain)) = upn.rsplit_once('@') else {
        return invalid(format!("{upn:?} is not local@domain"));
    };
    if local.is_empty() || local.len() > 64 || upn.len() > 113 {
        return invalid(
            "the part before @ must be 1 to 64 characters, the whole name at most 113".into(),
        );
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c);
    if !local.chars().all(allowed) || local.starts_with('.') || local.ends_with('.') {
        return invalid(format!(
            "{local:?} may contain only letters, digits and ' . - _ ! # ^ ~, not starting or ending with a dot"
        ));
    }
    if !verified_domains
        .iter()
        .any(|verified| verified.eq_ignore_ascii_case(domain))
    {
        return invalid(format!(
            "the domain {domain:?} is not a verified domain of this tenant ({})",
            verified_domains.join(", ")
        ));
    }
    Ok(())
}

/// Smart lockout, as Entra describes it: [`LOCKOUT_THRESHOLD`] failed passwords lock the account for
/// [`LOCKOUT_BASE_MS`], each further lockout twice as long up to [`LOCKOUT_MAX_MS`]; the same wrong password
/// tried again counts once; and failures from sources the user signed in from before ("familiar") are
/// counted apart from the others, so a stranger guessing from elsewhere does not lock the user out of their
/// own machines.
pub const LOCKOUT_THRESHOLD: u32 = 10;
pub const LOCKOUT_BASE_MS: i64 = 60_000;
pub const LOCKOUT_MAX_MS: i64 = 15 * 60_000;
/// Wrong passwords remembered per counter (as digests) so that a repeat does not count again.
const REMEMBERED_WRONG_PASSWORDS: usize = 3;
/// Sources remembered as familiar per user.
const FAMILIAR_SOURCES: usize = 8;

/// One lockout counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockoutCounter {
    pub failures: u32,
    /// Lockouts so far without a successful sign-in: each one lasts twice as long as the one before.
    pub lockouts: u32,
    pub locked_until: Option<Timestamp>,
    /// Digests of the last wrong passwords.
    pub recent_wrong: Vec<String>,
}

impl LockoutCounter {
    /// Until when the counter is locked, if it is at `now`.
    pub fn locked_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.locked_until.filter(|until| now.0 < until.0)
    }

    /// A wrong password (identified by `digest`) at `now`.
    pub fn record_failure(&mut self, digest: &str, now: Timestamp) {
        if self.recent_wrong.iter().any(|seen| seen == digest) {
            return;
        }
        if self.recent_wrong.len() == REMEMBERED_WRONG_PASSWORDS {
            self.recent_wrong.remove(0);
        }
        self.recent_wrong.push(digest.to_string());
        self.failures += 1;
        if self.failures >= LOCKOUT_THRESHOLD {
            let doubling = self.lockouts.min(8);
            let length = (LOCKOUT_BASE_MS << doubling).min(LOCKOUT_MAX_MS);
            self.locked_until = Some(Timestamp(now.0.saturating_add(length)));
            self.lockouts += 1;
            // After a lockout the next single failure locks again (as Entra does), for longer.
            self.failures = LOCKOUT_THRESHOLD - 1;
        }
    }
}

/// A user's lockout state: one counter for familiar sources, one for the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Lockout {
    pub familiar: LockoutCounter,
    pub unfamiliar: LockoutCounter,
    /// Sources (client addresses) of recent successful sign-ins, newest last.
    pub familiar_sources: Vec<String>,
}

impl Lockout {
    fn counter(&mut self, source: &str) -> &mut LockoutCounter {
        if self.is_familiar(source) {
            &mut self.familiar
        } else {
            &mut self.unfamiliar
        }
    }

    pub fn is_familiar(&self, source: &str) -> bool {
        self.familiar_sources.iter().any(|s| s == source)
    }

    /// Until when sign-ins from `source` are refused, if they are at `now`.
    pub fn locked_for(&self, source: &str, now: Timestamp) -> Option<Timestamp> {
        if self.is_familiar(source) {
            self.familiar.locked_at(now)
        } else {
            self.unfamiliar.locked_at(now)
        }
    }

    pub fn record_failure(&mut self, source: &str, digest: &str, now: Timestamp) {
        self.counter(source).record_failure(digest, now);
    }

    /// A successful sign-in from `source`: its counter starts over and the source becomes familiar.
    pub fn record_success(&mut self, source: &str) {
        *self.counter(source) = LockoutCounter::default();
        self.familiar_sources.retain(|s| s != source);
        if self.familiar_sources.len() == FAMILIAR_SOURCES {
            self.familiar_sources.remove(0);
        }
        self.familiar_sources.push(source.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_upn_must_be_in_a_verified_domain() {
        let domains = vec!["contoso.example".to_string()];
        assert!(validate_upn("ada@contoso.example", &domains).is_ok());
        assert!(validate_upn("Ada.Lovelace@CONTOSO.example", &domains).is_ok());
        assert!(validate_upn("ada@fabrikam.example", &domains).is_err());
        assert!(validate_upn("ada", &domains).is_err());
        assert!(validate_upn("@contoso.example", &domains).is_err());
        assert!(validate_upn("a b@contoso.example", &domains).is_err());
        assert!(validate_upn(".ada@contoso.example", &domains).is_err());
    }

    #[test]
    fn ten_different_wrong_passwords_lock_for_a_minute_then_longer() {
        let mut counter = LockoutCounter::default();
        for n in 0..9 {
            counter.record_failure(&format!("wrong-{n}"), Timestamp(0));
        }
        assert_eq!(counter.locked_at(Timestamp(0)), None);
        counter.record_failure("wrong-9", Timestamp(1_000));
        assert_eq!(counter.locked_at(Timestamp(1_000)), Some(Timestamp(61_000)));
        assert_eq!(
            counter.locked_at(Timestamp(61_000)),
            None,
            "the lockout ends"
        );
        counter.record_failure("wrong-10", Timestamp(70_000));
        assert_eq!(
            counter.locked_at(Timestamp(70_000)),
            Some(Timestamp(190_000)),
            "the next failure locks again, twice as long"
        );
        for n in 0..20 {
            counter.record_failure(&format!("more-{n}"), Timestamp(10_000_000 * (n + 1)));
        }
        let until = counter.locked_until.unwrap().0;
        let last_failure = 10_000_000 * 20;
        assert_eq!(
            until - last_failure,
            LOCKOUT_MAX_MS,
            "never longer than the cap"
        );
    }

    #[test]
    fn the_same_wrong_password_counts_once() {
        let mut counter = LockoutCounter::default();
        for _ in 0..50 {
            counter.record_failure("same", Timestamp(0));
        }
        assert_eq!(counter.failures, 1);
        assert_eq!(counter.locked_at(Timestamp(0)), None);
    }

    #[test]
    fn a_stranger_does_not_lock_the_user_out_of_a_familiar_machine() {
        let mut lockout = Lockout::default();
        lockout.record_success("10.0.0.5");
        for n in 0..30 {
            lockout.record_failure("203.0.113.9", &format!("guess-{n}"), Timestamp(0));
        }
        assert!(lockout.locked_for("203.0.113.9", Timestamp(0)).is_some());
        assert_eq!(lockout.locked_for("10.0.0.5", Timestamp(0)), None);
    }

    #[test]
    fn roles_limit_what_a_user_may_do() {
        assert!(!UserRole::User.allows("DeviceManagementServiceConfig", false));
        assert!(UserRole::ReadOnly.allows("DeviceManagementServiceConfig", false));
        assert!(!UserRole::ReadOnly.allows("DeviceManagementServiceConfig", true));
        assert!(UserRole::AutopilotOperator.allows("DeviceManagementServiceConfig", true));
        assert!(!UserRole::AutopilotOperator.allows("User", true));
        assert!(!UserRole::AutopilotOperator.allows("Directory", true));
        assert!(UserRole::AutopilotOperator.allows("Directory", false));
        assert!(UserRole::Administrator.allows("User", true));
        assert_eq!(
            UserRole::parse("AutopilotOperator"),
            Some(UserRole::AutopilotOperator)
        );
    }
}
