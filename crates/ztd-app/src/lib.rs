//! The use cases of ztd. Each public method of [`App`] is one use case: it opens one transaction, asks
//! `ztd-core` for the decisions, writes them and their events through `ztd-store`, and commits. Derived
//! state (dynamic group membership, every device's intended profile and assignment status) is brought up to
//! date inside the same transaction as the change that caused it, so no reader ever sees it stale.
//!
//! This crate knows neither HTTP (that is `ztd-server`) nor SQL (that is `ztd-store`).

use std::sync::{Arc, Mutex};

use ztd_core::{DomainError, IdSource, TenantId, Timestamp};
use ztd_store::{Store, StoreError};

pub mod audit;
mod boot;
pub mod clients;
pub mod demo;
pub mod device_policies;
mod devices;
pub mod drs;
mod enrollment;
mod explain;
pub mod grants;
pub mod graph_imports;
mod groups;
mod import;
pub mod lab_ca;
pub mod mdm;
mod profiles;
pub mod scope;
pub mod signing;
mod targeting;
mod tenants;
pub mod users;

pub use boot::{BootOutcome, ProvisioningPlan};
pub use clients::{ClientAuthentication, ClientSpec, NewClient, Principal};
pub use devices::{DeviceContact, DeviceUpdate, SerialDeletion};
pub use explain::{DeviceExplanation, GroupVerdict};
pub use groups::{GroupMember, MemberKinds, NewGroup};
pub use import::{ImportRow, RowOutcome, RowResult};
pub use tenants::{Bootstrap, BootstrapOutcome, ADMIN_SCOPES, PERMISSION_FAMILIES};
pub use ztd_core::corporate::CorporateIdentifier;
pub use ztd_core::sync::{SyncPolicy, SyncState, SyncStatus, SyncTrigger};
/// The typed queries of the read use cases (filters the store answers, keyset paging).
pub use ztd_store::{DeviceQuery, DirectoryQuery, ImportQuery, ManagedDeviceQuery, UserQuery};

/// The current time. Injected so tests control it.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "the production clock")]
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(millis)
    }
}

/// Random bytes (secrets, keys, the random digits of device names). Injected so tests control it; the one
/// production source is the operating system's CSPRNG.
pub trait Randomness: Send + Sync {
    fn fill_bytes(&self, out: &mut [u8]);
}

/// The operating system's cryptographic random source.
#[derive(Debug, Default)]
pub struct OsRandomness;

impl Randomness for OsRandomness {
    fn fill_bytes(&self, out: &mut [u8]) {
        use rand::RngCore;
        rand::rngs::OsRng.fill_bytes(out);
    }
}

/// Random v4 UUIDs: unguessable ids with no order (tests that want ids unrelated to time).
#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        OsRandomness.fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// Time-ordered UUIDs (version 7): still unique and unguessable in their 74 random bits, but new ids sort
/// after old ones, so the primary keys and membership indexes of a large import grow at their end instead of
/// at random places (measured: a membership insert stays flat as the table grows instead of slowing 2x).
#[derive(Debug, Default)]
pub struct TimeOrderedIds;

impl IdSource for TimeOrderedIds {
    #[allow(
        clippy::disallowed_methods,
        reason = "the production id source: reads the clock and draws its random bits itself"
    )]
    fn next_uuid(&mut self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is invalid; every problem found is listed.
    #[error("{}", join_errors(.0))]
    Invalid(Vec<DomainError>),
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

fn join_errors(errors: &[DomainError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    pub fn not_found(kind: ztd_core::error::ObjectKind, id: impl ToString) -> Self {
        Self::Domain(DomainError::not_found(kind, id))
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![DomainError::invalid(field, message)])
    }

    /// A store failure that a later retry may not see: the database is unreachable or aborted the
    /// transaction to resolve a conflict. Anything else from the store (a corrupt stored value, a broken
    /// contract) will fail again, and is an internal error rather than "retry later".
    pub fn store_failure_is_transient(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Database(_) | StoreError::Retryable(_))
        )
    }

    /// The store refused a write because it would duplicate something unique (a ZTDID, an identity key, a
    /// declared identifier): the caller's request conflicts with the stored state, not a failure.
    pub fn store_conflict(&self) -> Option<&str> {
        match self {
            Self::Store(StoreError::Conflict(message)) => Some(message),
            _ => None,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The application: a store, a clock and an id source.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Arc<Mutex<Box<dyn IdSource + Send>>>,
    random: Arc<dyn Randomness>,
    /// The boot path's cache and contact log (per node).
    boot: Arc<boot::BootState>,
    /// Tenants' signing keys (per node) and where new ones come from.
    keys: Arc<signing::KeyCache>,
    key_factory: Arc<dyn signing::KeyFactory>,
    /// The device registration service's nonce key and device CAs (per node).
    drs: Arc<drs::DrsState>,
    /// Bounds the password hashes computed at once (each is memory-hard and takes a core for tens of ms).
    password_work: Arc<tokio::sync::Semaphore>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>, ids: Box<dyn IdSource + Send>) -> Self {
        Self {
            store,
            clock,
            ids: Arc::new(Mutex::new(ids)),
            random: Arc::new(OsRandomness),
            boot: Arc::default(),
            keys: Arc::default(),
            key_factory: Arc::new(signing::AwsLcKeys),
            drs: Arc::default(),
            password_work: Arc::new(tokio::sync::Semaphore::new(users::PASSWORD_HASHES_AT_ONCE)),
        }
    }

    /// The same app drawing its random bytes from `random` instead of the operating system.
    pub fn with_randomness(mut self, random: Arc<dyn Randomness>) -> Self {
        self.random = random;
        self
    }

    /// An app on the system clock with time-ordered ids.
    pub fn with_defaults(store: Store) -> Self {
        Self::new(store, Arc::new(SystemClock), Box::new(TimeOrderedIds))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A fresh id from the app's id source (request ids, trace ids: everything that needs one).
    pub fn new_id(&self) -> uuid::Uuid {
        self.next_uuid()
    }

    /// Random bytes from the app's random source.
    /// 32 bytes from the app's randomness source (secrets handed to a client).
    pub fn random_secret(&self) -> [u8; 32] {
        self.random_bytes::<32>()
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.random.fill_bytes(&mut out);
        out
    }

    fn next_uuid(&self) -> uuid::Uuid {
        match self.ids.lock() {
            Ok(mut ids) => ids.next_uuid(),
            // A poisoned lock only means another thread panicked mid-draw; the source itself is still usable.
            Err(poisoned) => poisoned.into_inner().next_uuid(),
        }
    }

    fn event(
        &self,
        tenant: TenantId,
        kind: ztd_core::event::EventKind,
        subject: impl ToString,
        data: serde_json::Value,
    ) -> ztd_core::event::Event {
        ztd_core::event::Event {
            tenant_id: tenant,
            id: self.next_uuid(),
            at: self.now(),
            kind: kind.as_str().to_string(),
            subject: subject.to_string(),
            data,
            actor: audit::actor_in(tenant),
        }
    }
}
