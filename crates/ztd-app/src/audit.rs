//! The audit log: who made each administrative change. The actor travels with the work of one request or
//! command (a task-local), so every event a use case appends names it without each use case taking it as a
//! parameter; the events are the log. A request learns its caller only when its token is verified, inside
//! the handler, so the server opens an empty slot per request ([`with_actor_slot`]) and fills it then
//! ([`set_actor`]). Events appended with no actor (devices, sign-ins, ztd's own background work) are not in
//! the log.

use std::future::Future;
use std::sync::{Arc, Mutex};

use ztd_core::error::ObjectKind;
use ztd_core::event::{Actor, AuditCategory, Event, EventKind};
use ztd_core::TenantId;

use crate::{App, AppError, AppResult};

/// Who is acting, and in which tenant (`None`: the operator, in any tenant).
#[derive(Clone, Debug)]
struct Acting {
    tenant: Option<TenantId>,
    actor: Actor,
}

tokio::task_local! {
    static ACTING: Arc<Mutex<Option<Acting>>>;
}

/// Runs `work` with an empty actor slot, which [`set_actor`] fills once the caller is known.
pub async fn with_actor_slot<F: Future>(work: F) -> F::Output {
    ACTING.scope(Arc::new(Mutex::new(None)), work).await
}

/// Runs `work` as the operator `actor`, in any tenant (a `ztd` command run against the database).
pub async fn acting_as<F: Future>(actor: Actor, work: F) -> F::Output {
    let acting = Acting {
        tenant: None,
        actor,
    };
    ACTING.scope(Arc::new(Mutex::new(Some(acting))), work).await
}

/// Names the caller of the current work, acting in `tenant`; outside a slot it does nothing.
pub fn set_actor(tenant: TenantId, actor: Actor) {
    let acting = Acting {
        tenant: Some(tenant),
        actor,
    };
    let _ = ACTING.try_with(|slot| *lock(slot) = Some(acting));
}

/// The caller of the current work and the tenant it acts in, if known.
pub fn current_caller() -> Option<(Option<TenantId>, Actor)> {
    ACTING
        .try_with(|slot| lock(slot).clone())
        .ok()
        .flatten()
        .map(|acting| (acting.tenant, acting.actor))
}

/// The actor of a change in `tenant`: the current caller when it acts there. A caller's work never
/// names it on another tenant's events.
pub(crate) fn actor_in(tenant: TenantId) -> Option<Actor> {
    current_caller()
        .filter(|(acting_in, _)| acting_in.is_none_or(|t| t == tenant))
        .map(|(_, actor)| actor)
}

fn lock(slot: &Mutex<Option<Acting>>) -> std::sync::MutexGuard<'_, Option<Acting>> {
    // A poisoned slot only means a panic while it was held; its value is still whole.
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An administrative request that was refused (a 4xx or 5xx to a change): the log records attempts too.
#[derive(Clone, Debug)]
pub struct RefusedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// The longest path and message a refusal records (a refused request's text is the caller's, not ours).
const MAX_REFUSAL_TEXT: usize = 512;

fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_REFUSAL_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl App {
    /// The audit log of a tenant, newest first: up to `limit` entries numbered below `before`, each with its
    /// number (what the next page starts below), of the `visible` categories only.
    pub async fn audit_events(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
        visible: &[AuditCategory],
    ) -> AppResult<Vec<(i64, Event)>> {
        let hidden: Vec<&str> = AuditCategory::ALL
            .into_iter()
            .filter(|category| !visible.contains(category))
            .flat_map(|category| category.areas().iter().copied())
            .collect();
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_audit_events(tenant, before, limit, &hidden).await?)
    }

    /// One entry of the log, if it is of a `visible` category.
    pub async fn audit_event(
        &self,
        tenant: TenantId,
        id: uuid::Uuid,
        visible: &[AuditCategory],
    ) -> AppResult<Event> {
        let mut tx = self.store.single_read().await?;
        tx.get_audit_event(tenant, id)
            .await?
            .map(|(_, event)| event)
            .filter(|event| visible.contains(&AuditCategory::of(&event.kind)))
            .ok_or_else(|| AppError::not_found(ObjectKind::AuditEvent, id))
    }

    /// Records a refused administrative request of `actor` (one use case of its own: nothing else changed).
    pub async fn record_refusal(
        &self,
        tenant: TenantId,
        actor: Actor,
        refused: RefusedRequest,
    ) -> AppResult<()> {
        let mut event = self.event(
            tenant,
            EventKind::RequestRefused,
            bounded(&refused.path),
            serde_json::json!({
                "method": bounded(&refused.method),
                "status": refused.status,
                "code": bounded(&refused.code),
                "message": bounded(&refused.message),
            }),
        );
        event.actor = Some(actor);
        let mut tx = self.store.begin().await?;
        tx.append_events(&[event]).await?;
        tx.commit().await?;
        Ok(())
    }
}
