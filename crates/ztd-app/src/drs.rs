//! The device registration service (docs/device-registration.md): each tenant's device CA, joining and
//! registering devices (with the tie to their Autopilot registration), certificate-authenticated devices,
//! server nonces, and Primary Refresh Tokens.
//!
//! The messages and their crypto are `ztd-drs`'s; this module decides who may do what and writes it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ztd_core::directory::DirectoryDevice;
use ztd_core::event::EventKind;
use ztd_core::user::User;
use ztd_core::{DirectoryDeviceId, DirectoryObjectId, TenantId, Timestamp, Ztdid};
use ztd_drs::certificate::{DeviceCertificateFields, JoinKind};
use ztd_drs::messages::JoinRequest;
use ztd_drs::nonce::{JoinTicket, NoncePurpose};
use ztd_drs::RsaPublicKey;
use ztd_store::{Lock, StoredDeviceCertificate, StoredRefreshToken};

use crate::targeting::{refresh_devices, Targeting};
use crate::users::refresh_hash;
use crate::{App, AppError, AppResult};

/// How long a device certificate is valid: ten years, as Entra's device certificates are (a device does not
/// renew it; leaving and joining again issues a new one).
pub const DEVICE_CERTIFICATE_DAYS: i64 = 3_650;
/// How long a `srv_challenge` nonce may be redeemed after it was issued.
pub const CHALLENGE_NONCE_SECS: i64 = 300;
/// How long a join ticket from a boot answer ties a join to its Autopilot registration.
pub const JOIN_TICKET_SECS: i64 = 24 * 3_600;
/// How long a Primary Refresh Token lives (Entra's: 14 days, renewed while in use).
pub const PRT_LIFETIME_MILLIS: i64 = 14 * 24 * 3_600_000;
/// The region written into device certificates (`.284.8`).
const REGION: &str = "NA";

const NONCE_KEY_SETTING: &str = "drs-nonce-key";

/// A kind of CA every tenant has, created at its first use and kept as a tenant setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TenantCaKind {
    setting: &'static str,
    common_name: &'static str,
}

impl TenantCaKind {
    pub(crate) const fn new(setting: &'static str, common_name: &'static str) -> Self {
        Self {
            setting,
            common_name,
        }
    }
}

/// The device registration service's CA: it issues device certificates.
pub(crate) const DEVICE_CA: TenantCaKind = TenantCaKind {
    setting: "device-ca",
    common_name: ztd_drs::certificate::DEVICE_CA_COMMON_NAME,
};

/// Per-node state: the nonce key and the tenants' CAs, read once.
#[derive(Default)]
pub(crate) struct DrsState {
    nonce_key: tokio::sync::OnceCell<[u8; 32]>,
    cas: RwLock<HashMap<(TenantId, TenantCaKind), Arc<TenantCa>>>,
}

/// A tenant's CA, ready to issue.
pub(crate) struct TenantCa {
    pub(crate) cert_der: Vec<u8>,
    pub(crate) issuer: ztd_drs::DeviceCaIssuer,
}

#[derive(Serialize, Deserialize)]
struct StoredCa {
    certificate: String,
    key: String,
}

/// An administrator's change to a device object (Graph `PATCH devices/{id}`).
#[derive(Clone, Debug, Default)]
pub struct DirectoryObjectUpdate {
    pub account_enabled: Option<bool>,
    pub display_name: Option<String>,
}

/// Why a join or registration is refused (each maps to a DRS error answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The request cannot be used as sent; the text says which part and why.
    Invalid(String),
    /// The join ticket names an Autopilot registration that no longer exists.
    AutopilotDeviceDeleted(Ztdid),
    /// The join ticket is forged, expired, or of another tenant.
    InvalidTicket(String),
}

/// A completed join.
#[derive(Clone, Debug)]
pub struct Joined {
    pub certificate_der: Vec<u8>,
    /// SHA-1 of the certificate, upper hex (the answer's `Thumbprint`).
    pub thumbprint: String,
    pub object: DirectoryDevice,
    /// The Autopilot registration the join was tied to.
    pub autopilot: Option<Ztdid>,
}

/// A device that proved itself with a current certificate of its tenant's device CA.
#[derive(Clone, Debug)]
pub struct AuthenticatedDevice {
    pub tenant_id: TenantId,
    pub object: DirectoryDevice,
    pub certificate: ztd_drs::certificate::DeviceCertificate,
    pub transport_key: RsaPublicKey,
}

/// Why a certificate does not authenticate a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceRefusal {
    /// Not a certificate ztd issued (or altered), revoked, or expired.
    UnknownCertificate,
    /// Its device object was deleted.
    ObjectDeleted,
    /// Its device object is disabled.
    Disabled,
}

/// Why a `request_nonce` is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonceRefusal(pub String);

/// A PRT just issued: the token, and its session key for the device (encrypted to its transport key).
#[derive(Clone, Debug)]
pub struct IssuedPrt {
    pub prt: String,
    pub session_key_jwe: String,
    pub expires_in_secs: i64,
}

/// A PRT presented with a session-key-signed request, once found: its user, device and session key.
#[derive(Clone, Debug)]
pub struct PrtSession {
    pub user: User,
    pub device: AuthenticatedDevice,
    pub session_key: Vec<u8>,
    pub expires_at: Timestamp,
}

/// Why a presented PRT does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrtRefusal {
    /// Not a PRT ztd issued, expired or revoked.
    Invalid,
    UserDisabled,
    Device(DeviceRefusal),
}

fn internal(what: &str, err: impl std::fmt::Display) -> AppError {
    AppError::Store(ztd_store::StoreError::Corrupt(format!("{what}: {err}")))
}

fn nonce_hash(nonce: &str) -> String {
    hex::encode(Sha256::digest(nonce.as_bytes()))
}

fn offset(at: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(at.0.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

impl App {
    /// The deployment's nonce key (created once, shared by every node through the database).
    pub(crate) async fn nonce_key(&self) -> AppResult<[u8; 32]> {
        let key = self
            .drs
            .nonce_key
            .get_or_try_init(|| async {
                let fresh = STANDARD.encode(self.random_bytes::<32>());
                let mut tx = self.store.begin().await?;
                let stored = tx.init_server_setting(NONCE_KEY_SETTING, &fresh).await?;
                tx.commit().await?;
                let bytes = STANDARD
                    .decode(stored)
                    .map_err(|e| internal("the nonce key", e))?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|e| internal("the nonce key", e))
            })
            .await?;
        Ok(*key)
    }

    /// A tenant's device CA, created at its first use.
    async fn device_ca(&self, tenant: TenantId) -> AppResult<Arc<TenantCa>> {
        self.tenant_ca(tenant, DEVICE_CA).await
    }

    /// A tenant's CA of `kind`, created at its first use (every node agrees on the first one written).
    pub(crate) async fn tenant_ca(
        &self,
        tenant: TenantId,
        kind: TenantCaKind,
    ) -> AppResult<Arc<TenantCa>> {
        if let Some(ca) = self
            .drs
            .cas
            .read()
            .ok()
            .and_then(|c| c.get(&(tenant, kind)).cloned())
        {
            return Ok(ca);
        }
        let existing = {
            let mut tx = self.store.begin_read().await?;
            tx.get_setting(tenant, kind.setting).await?
        };
        let stored = match existing {
            Some(stored) => stored,
            None => {
                let tenant_row = self.tenant(tenant).await?;
                let key = self.key_factory.generate_rsa_2048()?;
                let now = self.now();
                let cert = ztd_drs::certificate::create_tenant_ca(
                    kind.common_name,
                    tenant.0,
                    &tenant_row.display_name,
                    &key,
                    self.random_bytes::<16>(),
                    offset(now) - time::Duration::days(1),
                    offset(now) + time::Duration::days(DEVICE_CERTIFICATE_DAYS * 2),
                )
                .map_err(|e| internal("creating a tenant CA", e))?;
                let value = serde_json::to_string(&StoredCa {
                    certificate: STANDARD.encode(&cert),
                    key: STANDARD.encode(&key),
                })
                .map_err(|e| internal(kind.setting, e))?;
                let mut tx = self.store.begin().await?;
                let stored = tx.init_setting(tenant, kind.setting, &value).await?;
                tx.commit().await?;
                stored
            }
        };
        let parsed: StoredCa =
            serde_json::from_str(&stored).map_err(|e| internal(kind.setting, e))?;
        let cert_der = STANDARD
            .decode(parsed.certificate)
            .map_err(|e| internal(kind.setting, e))?;
        let key = STANDARD
            .decode(parsed.key)
            .map_err(|e| internal(kind.setting, e))?;
        let issuer =
            ztd_drs::DeviceCaIssuer::new(&cert_der, &key).map_err(|e| internal(kind.setting, e))?;
        let ca = Arc::new(TenantCa { cert_der, issuer });
        if let Ok(mut cas) = self.drs.cas.write() {
            cas.insert((tenant, kind), ca.clone());
        }
        Ok(ca)
    }

    /// The tenant's device CA certificate (DER): what a relying party trusts to check device certificates.
    pub async fn device_ca_certificate(&self, tenant: TenantId) -> AppResult<Vec<u8>> {
        Ok(self.device_ca(tenant).await?.cert_der.clone())
    }

    /// A fresh `srv_challenge` nonce: MACed with the deployment's key, good once within
    /// [`CHALLENGE_NONCE_SECS`].
    pub async fn server_challenge(&self) -> AppResult<String> {
        let key = self.nonce_key().await?;
        Ok(ztd_drs::nonce::mint_nonce(
            &key,
            NoncePurpose::Challenge,
            self.now().0.div_euclid(1000),
            self.random_bytes::<16>(),
            &[],
        ))
    }

    /// Redeems a `request_nonce`: it must be one of ztd's challenges, fresh, and not redeemed before.
    pub async fn redeem_challenge(&self, nonce: &str) -> AppResult<Result<(), NonceRefusal>> {
        let key = self.nonce_key().await?;
        let now = self.now();
        let issued = match ztd_drs::nonce::verify_nonce(
            &key,
            NoncePurpose::Challenge,
            nonce,
            &[],
            now.0.div_euclid(1000),
            CHALLENGE_NONCE_SECS,
        ) {
            Ok(issued) => issued,
            Err(err) => return Ok(Err(NonceRefusal(err.to_string()))),
        };
        let expires = Timestamp((issued + CHALLENGE_NONCE_SECS + 60) * 1000);
        let mut tx = self.store.begin().await?;
        let fresh = tx.redeem_nonce(&nonce_hash(nonce), expires, now).await?;
        tx.commit().await?;
        if fresh {
            Ok(Ok(()))
        } else {
            Ok(Err(NonceRefusal(
                "the request_nonce was used before; ask for a new one (grant_type=srv_challenge)"
                    .into(),
            )))
        }
    }

    /// The join ticket a boot answer carries: it ties the device's join to its Autopilot registration.
    pub(crate) async fn join_ticket(
        &self,
        device: &ztd_core::device::AutopilotDevice,
    ) -> AppResult<String> {
        let key = self.nonce_key().await?;
        Ok(ztd_drs::nonce::mint_join_ticket(
            &key,
            &JoinTicket {
                tenant_id: device.tenant_id.0,
                ztdid: device.ztdid.0,
                object_id: device.directory_object_id.0,
                device_id: device.directory_device_id.0,
                issued_at: self.now().0.div_euclid(1000),
            },
            self.random_bytes::<16>(),
        ))
    }

    /// Joins (JoinType 0/8) or registers (4) a device for `user` of `tenant`. A join that carries a valid
    /// join ticket (`attributes.ztdJoinTicket`) takes over the device object its Autopilot registration
    /// created: same object, same `deviceId`, physical ids kept, now enabled. Any other join creates a new
    /// object, as Entra does. Issues the device certificate from the tenant's device CA.
    pub async fn join_device(
        &self,
        tenant: TenantId,
        user: &User,
        request: &JoinRequest,
    ) -> AppResult<Result<Joined, JoinRefusal>> {
        let invalid = |text: String| Ok(Err(JoinRefusal::Invalid(text)));
        let present = request.attributes.as_ref().is_some_and(|attributes| {
            attributes
                .keys()
                .any(|k| k.eq_ignore_ascii_case("ztdJoinTicket"))
        });
        let ticket_text = request.attribute("ztdJoinTicket");
        if present && ticket_text.is_none() {
            return Ok(Err(JoinRefusal::InvalidTicket(
                "ztdJoinTicket must be the text of the boot answer's joinTicket".into(),
            )));
        }
        let Some(kind) = JoinKind::from_join_type(request.join_type) else {
            return invalid(format!(
                "JoinType {} is not supported: use 0 (join) or 4 (register)",
                request.join_type
            ));
        };
        if kind == JoinKind::Hybrid {
            return invalid("JoinType 6 (hybrid join) is completed with PUT /EnrollmentServer/device/{id} by a device whose object was synced from Active Directory; ztd has no synced objects yet".into());
        }
        let der = match request.certificate_request_der() {
            Ok(der) => der,
            Err(err) => return invalid(err.to_string()),
        };
        let csr = match ztd_drs::csr::parse_certificate_request(&der) {
            Ok(csr) => csr,
            Err(err) => return invalid(err.to_string()),
        };
        let Some(transport_text) = request.transport_key.as_deref() else {
            return invalid("TransportKey is required: the device's public transport key (a BCRYPT_RSAKEY_BLOB, base64)".into());
        };
        let transport = match RsaPublicKey::from_transport_key(transport_text) {
            Ok(key) => key,
            Err(err) => return invalid(err.to_string()),
        };
        let name = request
            .device_display_name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default();
        if name.is_empty() || name.chars().count() > 256 {
            return invalid(
                "DeviceDisplayName is required: the device's name, at most 256 characters".into(),
            );
        }
        let os = clip(request.device_type.as_deref().unwrap_or("Windows"), 64);
        let os_version = clip(request.os_version.as_deref().unwrap_or_default(), 64);
        let ticket = match ticket_text {
            None => None,
            Some(text) => {
                let key = self.nonce_key().await?;
                match ztd_drs::nonce::verify_join_ticket(
                    &key,
                    text,
                    self.now().0.div_euclid(1000),
                    JOIN_TICKET_SECS,
                ) {
                    Ok(ticket) if ticket.tenant_id == tenant.0 => Some(ticket),
                    Ok(_) => {
                        return Ok(Err(JoinRefusal::InvalidTicket(
                            "the join ticket was issued to a device of another tenant".into(),
                        )))
                    }
                    Err(err) => return Ok(Err(JoinRefusal::InvalidTicket(err.to_string()))),
                }
            }
        };
        let ca = self.device_ca(tenant).await?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        // A ticket is good once (a device that must join again boots again, proving its hardware again);
        // redeemed in this transaction, so a join that fails leaves it usable.
        if let (Some(ticket), Some(text)) = (&ticket, ticket_text) {
            let expires = Timestamp((ticket.issued_at + JOIN_TICKET_SECS + 60) * 1000);
            if !tx
                .redeem_nonce(&nonce_hash(text.trim()), expires, now)
                .await?
            {
                return Ok(Err(JoinRefusal::InvalidTicket(
                    "the join ticket was used by an earlier join; boot the device again for a new one"
                        .into(),
                )));
            }
        }
        // The object: the Autopilot registration's, or a new one.
        let (mut object, autopilot, created) = match &ticket {
            Some(ticket) => {
                let ztdid = Ztdid(ticket.ztdid);
                let registration = tx.get_device(tenant, ztdid).await?;
                let Some(registration) = registration else {
                    return Ok(Err(JoinRefusal::AutopilotDeviceDeleted(ztdid)));
                };
                let Some(object) = tx
                    .get_directory_device(tenant, registration.directory_object_id)
                    .await?
                else {
                    return Ok(Err(JoinRefusal::AutopilotDeviceDeleted(ztdid)));
                };
                (object, Some(registration), false)
            }
            None => (
                DirectoryDevice {
                    tenant_id: tenant,
                    id: DirectoryObjectId(self.next_uuid()),
                    device_id: DirectoryDeviceId(self.next_uuid()),
                    display_name: String::new(),
                    account_enabled: true,
                    physical_ids: Vec::new(),
                    operating_system: String::new(),
                    operating_system_version: String::new(),
                    manufacturer: String::new(),
                    model: String::new(),
                    trust_type: String::new(),
                    enrollment_profile_name: String::new(),
                    ztdid: None,
                    created_at: now,
                    alternative_security_id: String::new(),
                    registered_user_id: None,
                },
                None,
                true,
            ),
        };
        let certificate = match ca.issuer.issue(
            &csr,
            &DeviceCertificateFields {
                device_id: object.device_id.0,
                tenant_id: tenant.0,
                user_object_id: Some(user.id.0),
                join: kind,
                region: REGION.to_string(),
                serial: self.random_bytes::<16>(),
                not_before: offset(now) - time::Duration::minutes(5),
                not_after: offset(now) + time::Duration::days(DEVICE_CERTIFICATE_DAYS),
            },
        ) {
            Ok(der) => der,
            Err(err) => return invalid(err.to_string()),
        };
        let parsed = ztd_drs::certificate::parse_device_certificate(&certificate)
            .map_err(|e| internal("an issued device certificate", e))?;
        object.display_name = name.to_string();
        object.account_enabled = true;
        object.operating_system = os;
        object.operating_system_version = os_version;
        object.trust_type = kind.trust_type().to_string();
        object.alternative_security_id =
            ztd_drs::certificate::alternative_security_id(&certificate, &csr.public_key);
        object.registered_user_id = Some(user.id);
        if let Some(registration) = &autopilot {
            // The profile the device was given names the object (Entra's enrollmentProfileName).
            if let Some(profile) = registration.assignment.intended_profile_id {
                if let Some(profile) = tx.get_profile(tenant, profile).await? {
                    object.enrollment_profile_name = profile.display_name.clone();
                }
            }
        }
        // A device joins with one certificate at a time: an earlier one (before a reset) stops working, and
        // so do the PRTs and tokens of that earlier join.
        tx.revoke_device_certificates(tenant, object.id, now)
            .await?;
        tx.revoke_device_tokens(tenant, object.id, now).await?;
        if created {
            tx.insert_directory_devices(std::slice::from_ref(&object))
                .await?;
        } else {
            tx.update_directory_device(&object).await?;
        }
        tx.insert_device_certificate(&StoredDeviceCertificate {
            thumbprint: hex::encode(parsed.sha256),
            tenant_id: tenant,
            object_id: object.id,
            device_id: object.device_id,
            certificate: STANDARD.encode(&certificate),
            transport_key: STANDARD.encode(transport.to_pkcs1_der()),
            trust_type: object.trust_type.clone(),
            issued_at: now,
            expires_at: Timestamp(parsed.not_after.saturating_mul(1000)),
            revoked_at: None,
        })
        .await?;
        retarget(&mut tx, tenant, autopilot.clone(), &object, now).await?;
        let event_kind = match kind {
            JoinKind::Registered => EventKind::DirectoryObjectRegistered,
            _ => EventKind::DirectoryObjectJoined,
        };
        tx.append_events(&[self.event(
            tenant,
            event_kind,
            object.id,
            serde_json::json!({
                "deviceId": object.device_id,
                "displayName": object.display_name,
                "trustType": object.trust_type,
                "userPrincipalName": user.user_principal_name,
                "ztdid": autopilot.as_ref().map(|a| a.ztdid),
                "certificateThumbprint": parsed.sha1_thumbprint,
            }),
        )])
        .await?;
        tx.commit().await?;
        Ok(Ok(Joined {
            certificate_der: certificate,
            thumbprint: parsed.sha1_thumbprint,
            object,
            autopilot: autopilot.map(|a| a.ztdid),
        }))
    }

    /// The device a certificate (DER, as presented over TLS or in a request's `x5c`) authenticates: a
    /// certificate ztd issued, byte for byte, not revoked or expired, whose object exists and is enabled.
    pub async fn authenticate_device(
        &self,
        certificate: &[u8],
    ) -> AppResult<Result<AuthenticatedDevice, DeviceRefusal>> {
        let Ok(parsed) = ztd_drs::certificate::parse_device_certificate(certificate) else {
            return Ok(Err(DeviceRefusal::UnknownCertificate));
        };
        let mut tx = self.store.begin_read().await?;
        let Some(stored) = tx
            .find_device_certificate(&hex::encode(parsed.sha256))
            .await?
        else {
            return Ok(Err(DeviceRefusal::UnknownCertificate));
        };
        device_of(&mut tx, stored, parsed, self.now()).await
    }

    /// A device leaves (DRS `DELETE`): its certificates are revoked; an object it created goes, with its
    /// memberships; an Autopilot registration's object returns to the disabled placeholder it was before the
    /// join (the registration still owns it).
    pub async fn leave_device(&self, device: &AuthenticatedDevice) -> AppResult<()> {
        let tenant = device.tenant_id;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        let Some(mut object) = tx.get_directory_device(tenant, device.object.id).await? else {
            return Ok(());
        };
        tx.revoke_device_certificates(tenant, object.id, now)
            .await?;
        tx.revoke_device_tokens(tenant, object.id, now).await?;
        match object.ztdid {
            None => {
                tx.delete_directory_device(tenant, object.id).await?;
            }
            Some(ztdid) => {
                let registration = tx.get_device(tenant, ztdid).await?;
                object.account_enabled = false;
                object.trust_type = String::new();
                object.alternative_security_id = String::new();
                object.registered_user_id = None;
                object.enrollment_profile_name = String::new();
                object.operating_system_version = String::new();
                if let Some(registration) = &registration {
                    object.display_name = registration.serial_number.clone();
                }
                tx.update_directory_device(&object).await?;
                retarget(&mut tx, tenant, registration, &object, now).await?;
            }
        }
        tx.append_events(&[self.event(
            tenant,
            EventKind::DirectoryObjectLeft,
            object.id,
            serde_json::json!({ "deviceId": object.device_id, "displayName": object.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A fresh key-derivation context and AES-GCM nonce for an encrypted answer to a session-key-signed
    /// request.
    pub fn derivation_nonces(&self) -> ([u8; 24], [u8; 12]) {
        (self.random_bytes::<24>(), self.random_bytes::<12>())
    }

    /// Changes a device object's `accountEnabled` or `displayName`. A disabled device's certificate, PRTs
    /// and tokens stop working (they are checked against the object at every use) until it is enabled
    /// again. Dynamic groups follow in the same transaction.
    pub async fn update_directory_object(
        &self,
        tenant: TenantId,
        id: DirectoryObjectId,
        update: DirectoryObjectUpdate,
    ) -> AppResult<DirectoryDevice> {
        if let Some(name) = &update.display_name {
            if name.trim().is_empty() || name.chars().count() > 256 {
                return Err(AppError::invalid(
                    "displayName",
                    "a device's displayName has 1 to 256 characters",
                ));
            }
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock(Lock::Targeting(tenant)).await?;
        let mut object = tx
            .get_directory_device(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found(ztd_core::error::ObjectKind::DirectoryDevice, id))?;
        let before = object.clone();
        if let Some(enabled) = update.account_enabled {
            object.account_enabled = enabled;
        }
        if let Some(name) = update.display_name {
            object.display_name = name.trim().to_string();
        }
        if object == before {
            return Ok(object);
        }
        tx.update_directory_device(&object).await?;
        let registration = match object.ztdid {
            Some(ztdid) => tx.get_device(tenant, ztdid).await?,
            None => None,
        };
        retarget(&mut tx, tenant, registration, &object, now).await?;
        tx.append_events(&[self.event(
            tenant,
            EventKind::DirectoryObjectUpdated,
            id,
            serde_json::json!({ "accountEnabled": object.account_enabled, "displayName": object.display_name }),
        )])
        .await?;
        tx.commit().await?;
        Ok(object)
    }

    /// Whether a device object exists and is enabled (a device's own tokens work only then).
    pub async fn device_object_enabled(
        &self,
        tenant: TenantId,
        object: DirectoryObjectId,
    ) -> AppResult<bool> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .get_directory_device(tenant, object)
            .await?
            .is_some_and(|o| o.account_enabled))
    }

    /// Records a Windows Hello for Business key a user registered (`POST /EnrollmentServer/key/`).
    pub async fn register_user_key(
        &self,
        user: &User,
        device: Option<DirectoryObjectId>,
        key_blob: &str,
    ) -> AppResult<Result<uuid::Uuid, JoinRefusal>> {
        let decoded = STANDARD.decode(key_blob.trim()).ok();
        let Some(key) = decoded.and_then(|d| RsaPublicKey::from_bcrypt_blob(&d).ok()) else {
            return Ok(Err(JoinRefusal::Invalid(
                "kngc must be the Hello key's public BCRYPT_RSAKEY_BLOB, base64".into(),
            )));
        };
        let id = self.next_uuid();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.insert_device_user_key(
            user.tenant_id,
            id,
            user.id,
            device,
            &STANDARD.encode(key.to_bcrypt_blob()),
            now,
        )
        .await?;
        tx.append_events(&[self.event(
            user.tenant_id,
            EventKind::DirectoryObjectKeyRegistered,
            user.id,
            serde_json::json!({ "keyId": id, "device": device }),
        )])
        .await?;
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// Issues a PRT to `user` on `device`: a refresh token bound to the device and a fresh session key, the
    /// key encrypted to the device's transport key.
    pub async fn issue_prt(
        &self,
        device: &AuthenticatedDevice,
        user: &User,
        client_id: &str,
        session_key: Option<&[u8]>,
    ) -> AppResult<IssuedPrt> {
        let key: [u8; 32] = match session_key.and_then(|k| <[u8; 32]>::try_from(k).ok()) {
            Some(key) => key,
            None => self.random_bytes::<32>(),
        };
        let session_key_jwe =
            ztd_drs::jose::session_key_jwe(&key, &device.transport_key, self.random_bytes::<12>())
                .map_err(|e| internal("encrypting the session key", e))?;
        let prt = format!(
            "ztdprt1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.random_bytes::<48>())
        );
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.insert_refresh_token(&StoredRefreshToken {
            token_hash: refresh_hash(&prt),
            tenant_id: user.tenant_id,
            family_id: self.next_uuid().to_string(),
            user_id: user.id,
            client_id: client_id.to_string(),
            created_at: now,
            expires_at: Timestamp(now.0.saturating_add(PRT_LIFETIME_MILLIS)),
            used_at: None,
            revoked_at: None,
            confidential: false,
            kind: "prt".into(),
            device_object_id: Some(device.object.id),
            session_key: Some(STANDARD.encode(key)),
        })
        .await?;
        tx.commit().await?;
        Ok(IssuedPrt {
            prt,
            session_key_jwe,
            expires_in_secs: PRT_LIFETIME_MILLIS / 1000,
        })
    }

    /// The session of a presented PRT: its user (enabled), its device (authenticated by its current
    /// certificate) and session key. A PRT is used many times; renewal issues a successor.
    pub async fn prt_session(&self, prt: &str) -> AppResult<Result<PrtSession, PrtRefusal>> {
        // One read: the PRT, its user, its device's current certificate and object.
        let mut tx = self.store.begin_read().await?;
        let stored = tx.find_refresh_token(&refresh_hash(prt.trim())).await?;
        let Some(stored) = stored.filter(|s| s.kind == "prt" && s.revoked_at.is_none()) else {
            return Ok(Err(PrtRefusal::Invalid));
        };
        let now = self.now();
        if now.0 >= stored.expires_at.0 {
            return Ok(Err(PrtRefusal::Invalid));
        }
        let (Some(object_id), Some(session_key)) = (stored.device_object_id, &stored.session_key)
        else {
            return Ok(Err(PrtRefusal::Invalid));
        };
        let session_key = STANDARD
            .decode(session_key)
            .map_err(|e| internal("a stored session key", e))?;
        let user = tx.get_user(stored.tenant_id, stored.user_id).await?;
        let Some(user) = user.filter(|u| u.account_enabled) else {
            return Ok(Err(PrtRefusal::UserDisabled));
        };
        let Some(certificate) = tx
            .current_device_certificate(stored.tenant_id, object_id)
            .await?
        else {
            return Ok(Err(PrtRefusal::Device(DeviceRefusal::UnknownCertificate)));
        };
        let parsed = STANDARD
            .decode(&certificate.certificate)
            .ok()
            .and_then(|der| ztd_drs::certificate::parse_device_certificate(&der).ok())
            .ok_or_else(|| internal("a stored device certificate", "does not parse"))?;
        let device = match device_of(&mut tx, certificate, parsed, now).await? {
            Ok(device) => device,
            Err(refusal) => return Ok(Err(PrtRefusal::Device(refusal))),
        };
        Ok(Ok(PrtSession {
            user,
            device,
            session_key,
            expires_at: stored.expires_at,
        }))
    }

    /// A refresh token for `client_id` obtained through a PRT: bound to the PRT's device, so the tokens it
    /// is exchanged for carry the device too.
    pub async fn device_bound_refresh_token(
        &self,
        user: &User,
        client_id: &str,
        device: DirectoryObjectId,
    ) -> AppResult<String> {
        let mut tx = self.store.begin().await?;
        let family = self.next_uuid().to_string();
        let token = self
            .insert_refresh_token_bound(&mut tx, user, client_id, &family, false, Some(device))
            .await?;
        tx.commit().await?;
        Ok(token)
    }
}

/// The device a certificate row authenticates, read in `tx`: not revoked or expired, its object there (the
/// same object) and enabled.
async fn device_of(
    tx: &mut ztd_store::Tx,
    stored: StoredDeviceCertificate,
    parsed: ztd_drs::certificate::DeviceCertificate,
    now: Timestamp,
) -> AppResult<Result<AuthenticatedDevice, DeviceRefusal>> {
    if stored.revoked_at.is_some() || now.0 >= stored.expires_at.0 {
        return Ok(Err(DeviceRefusal::UnknownCertificate));
    }
    let Some(object) = tx
        .get_directory_device(stored.tenant_id, stored.object_id)
        .await?
    else {
        return Ok(Err(DeviceRefusal::ObjectDeleted));
    };
    if object.device_id != stored.device_id {
        return Ok(Err(DeviceRefusal::ObjectDeleted));
    }
    if !object.account_enabled {
        return Ok(Err(DeviceRefusal::Disabled));
    }
    let transport = STANDARD
        .decode(&stored.transport_key)
        .ok()
        .and_then(|der| RsaPublicKey::from_pkcs1_der(&der).ok())
        .ok_or_else(|| internal("a stored transport key", "does not parse"))?;
    Ok(Ok(AuthenticatedDevice {
        tenant_id: stored.tenant_id,
        object,
        certificate: parsed,
        transport_key: transport,
    }))
}

/// Re-targets one device object after a change to it (its dynamic groups, and its registration's
/// profile), in the change's transaction.
async fn retarget(
    tx: &mut ztd_store::Tx,
    tenant: TenantId,
    registration: Option<ztd_core::device::AutopilotDevice>,
    object: &DirectoryDevice,
    now: Timestamp,
) -> AppResult<()> {
    let targeting = Targeting::load(tx, tenant).await?;
    refresh_devices(
        tx,
        tenant,
        &targeting,
        &[(registration, object.clone())],
        now,
    )
    .await
}

fn clip(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect()
}
