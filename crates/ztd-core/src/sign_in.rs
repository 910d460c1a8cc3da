//! Sign-ins that finish on another request: the authorization code flow (a person signs in on ztd's page,
//! the application redeems the code) and the device code flow (a person enters the code shown on a device,
//! the device polls). Both are a pending sign-in with a secret the client redeems exactly once.

use serde::{Deserialize, Serialize};

use crate::ids::DirectoryObjectId;
use crate::{TenantId, Timestamp};

/// An authorization code is redeemed within ten minutes (Entra's documented lifetime).
pub const AUTHORIZATION_CODE_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// A device code waits fifteen minutes for the person (Entra's `expires_in: 900`).
pub const DEVICE_CODE_LIFETIME_MS: i64 = 15 * 60 * 1000;
/// How often a device polls, in seconds (Entra's `interval`).
pub const DEVICE_CODE_INTERVAL_SECS: i64 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantKind {
    AuthorizationCode,
    DeviceCode,
}

impl GrantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "device_code",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorization_code" => Some(Self::AuthorizationCode),
            "device_code" => Some(Self::DeviceCode),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantStatus {
    /// Waiting for the person (device code only).
    Pending,
    /// Signed in; the client may redeem it once.
    Approved,
    /// The person refused (device code only).
    Declined,
    Redeemed,
}

impl GrantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Redeemed => "redeemed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "declined" => Some(Self::Declined),
            "redeemed" => Some(Self::Redeemed),
            _ => None,
        }
    }
}

/// A sign-in waiting to be redeemed. Only the SHA-256 of its code is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSignIn {
    pub code_hash: String,
    pub kind: GrantKind,
    /// Device code: what the person types (canonical form).
    pub user_code: Option<String>,
    /// The tenant the request's path named (`None`: `common` or `organizations`).
    pub requested_tenant: Option<TenantId>,
    pub client_id: String,
    /// Who signed in, once someone did.
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<DirectoryObjectId>,
    /// The v2 `scope` or v1 `resource` the client asked for, as sent.
    pub scope: Option<String>,
    pub resource: Option<String>,
    /// Whether the request came to a v2.0 endpoint.
    pub v2: bool,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// Echoed into the id token (OpenID Connect).
    pub nonce: Option<String>,
    pub status: GrantStatus,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    /// The device whose PRT signed the user in (single sign-on): what the code is redeemed for is bound to it.
    pub device_object_id: Option<DirectoryObjectId>,
}

/// Why a code could not be redeemed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedeemRefusal {
    /// No such code, or it belongs to another client or redirect URI.
    Unknown,
    /// The person has not finished yet (device code): poll again.
    Pending,
    Declined,
    Expired,
    /// Redeemed before: a code is good once.
    AlreadyRedeemed,
    /// The PKCE verifier does not answer the challenge.
    PkceMismatch,
    /// Presented at another tenant's token endpoint than its user's: refused, and left redeemable.
    WrongTenant,
}

impl PendingSignIn {
    /// Whether `client_id` may redeem it at `now`, from its state alone (PKCE and the redirect URI are checked
    /// by the caller, which knows the request).
    pub fn redeemable_by(&self, client_id: &str, now: Timestamp) -> Result<(), RedeemRefusal> {
        if !self.client_id.eq_ignore_ascii_case(client_id) {
            return Err(RedeemRefusal::Unknown);
        }
        match self.status {
            GrantStatus::Redeemed => Err(RedeemRefusal::AlreadyRedeemed),
            _ if now.0 > self.expires_at.0 => Err(RedeemRefusal::Expired),
            GrantStatus::Pending => Err(RedeemRefusal::Pending),
            GrantStatus::Declined => Err(RedeemRefusal::Declined),
            GrantStatus::Approved => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(status: GrantStatus) -> PendingSignIn {
        PendingSignIn {
            code_hash: "h".into(),
            kind: GrantKind::DeviceCode,
            user_code: Some("BCDFGHJKM".into()),
            requested_tenant: None,
            client_id: "App".into(),
            tenant_id: None,
            user_id: None,
            scope: None,
            resource: None,
            v2: true,
            redirect_uri: None,
            code_challenge: None,
            code_challenge_method: None,
            nonce: None,
            status,
            expires_at: Timestamp(1_000),
            created_at: Timestamp(0),
            device_object_id: None,
        }
    }

    #[test]
    fn a_code_is_redeemed_once_by_its_client_in_time() {
        let now = Timestamp(500);
        assert_eq!(
            grant(GrantStatus::Approved).redeemable_by("app", now),
            Ok(())
        );
        assert_eq!(
            grant(GrantStatus::Approved).redeemable_by("other", now),
            Err(RedeemRefusal::Unknown)
        );
        assert_eq!(
            grant(GrantStatus::Pending).redeemable_by("app", now),
            Err(RedeemRefusal::Pending)
        );
        assert_eq!(
            grant(GrantStatus::Declined).redeemable_by("app", now),
            Err(RedeemRefusal::Declined)
        );
        assert_eq!(
            grant(GrantStatus::Redeemed).redeemable_by("app", now),
            Err(RedeemRefusal::AlreadyRedeemed)
        );
        assert_eq!(
            grant(GrantStatus::Approved).redeemable_by("app", Timestamp(1_001)),
            Err(RedeemRefusal::Expired)
        );
        assert_eq!(
            grant(GrantStatus::Pending).redeemable_by("app", Timestamp(1_001)),
            Err(RedeemRefusal::Expired)
        );
        for status in [
            GrantStatus::Pending,
            GrantStatus::Approved,
            GrantStatus::Declined,
            GrantStatus::Redeemed,
        ] {
            assert_eq!(GrantStatus::parse(status.as_str()), Some(status));
        }
    }
}
