//! Tenants, events and per-tenant settings.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use ztd_core::event::Event;
use ztd_core::tenant::{Tenant, VerifiedDomain};
use ztd_core::TenantId;

use crate::codec::{corrupt, flag, id, int, json, opt_text, text, to_json, ts};
use crate::tx::{bind_all, Bind, Filter};
use crate::{StoreError, Tx};

const TENANT_COLS: &str = "tenant_id, display_name, domain, created_at";
const EVENT_COLS: &str = "tenant_id, id, seq, at, kind, subject, data, actor";

fn tenant(row: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: id(row, "tenant_id")?,
        display_name: text(row, "display_name")?,
        domain: text(row, "domain")?,
        created_at: ts(row, "created_at")?,
    })
}

fn verified_domain(row: &AnyRow) -> Result<VerifiedDomain, StoreError> {
    Ok(VerifiedDomain {
        tenant_id: id(row, "tenant_id")?,
        name: text(row, "domain")?,
        is_default: flag(row, "is_default")?,
        created_at: ts(row, "created_at")?,
    })
}

fn event(row: &AnyRow) -> Result<Event, StoreError> {
    let raw = text(row, "id")?;
    Ok(Event {
        tenant_id: id(row, "tenant_id")?,
        id: uuid::Uuid::parse_str(&raw).map_err(|_| corrupt(format!("event id {raw:?}")))?,
        at: ts(row, "at")?,
        kind: text(row, "kind")?,
        subject: text(row, "subject")?,
        data: json(row, "data")?,
        actor: opt_text(row, "actor")?
            .map(|raw| serde_json::from_str(&raw).map_err(|e| corrupt(format!("event actor: {e}"))))
            .transpose()?,
    })
}

impl Tx {
    pub async fn insert_tenant(&mut self, t: &Tenant) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO tenants ({TENANT_COLS}) VALUES ($1, $2, $3, $4)");
        let q = sqlx::query(&sql)
            .bind(t.id.to_string())
            .bind(t.display_name.as_str())
            .bind(t.domain.as_str())
            .bind(t.created_at.0);
        self.execute(q).await.map(drop)
    }

    pub async fn get_tenant(&mut self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE tenant_id = $1");
        self.fetch_one_map(sqlx::query(&sql).bind(id.to_string()), tenant)
            .await
    }

    /// GLOBAL: every tenant, oldest first.
    pub async fn list_tenants(&mut self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLS} FROM tenants ORDER BY created_at, tenant_id");
        self.fetch_map(sqlx::query(&sql), tenant).await
    }

    /// Fails with a conflict when another tenant verified the domain (GLOBAL uniqueness).
    pub async fn insert_tenant_domain(&mut self, d: &VerifiedDomain) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO tenant_domains (tenant_id, domain, domain_lower, is_default, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(d.tenant_id.to_string())
        .bind(d.name.as_str())
        .bind(d.name.to_ascii_lowercase())
        .bind(i64::from(d.is_default))
        .bind(d.created_at.0);
        self.execute(q).await.map(drop)
    }

    /// The tenant's verified domains, the default first.
    pub async fn list_tenant_domains(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<VerifiedDomain>, StoreError> {
        let q = sqlx::query(
            "SELECT tenant_id, domain, is_default, created_at FROM tenant_domains WHERE tenant_id = $1 \
             ORDER BY is_default DESC, domain_lower",
        )
        .bind(tenant.to_string());
        self.fetch_map(q, verified_domain).await
    }

    /// GLOBAL: the tenant that verified a domain (any case).
    pub async fn find_domain(
        &mut self,
        domain: &str,
    ) -> Result<Option<VerifiedDomain>, StoreError> {
        let q = sqlx::query(
            "SELECT tenant_id, domain, is_default, created_at FROM tenant_domains WHERE domain_lower = $1",
        )
        .bind(domain.to_ascii_lowercase());
        self.fetch_one_map(q, verified_domain).await
    }

    pub async fn delete_tenant_domain(
        &mut self,
        tenant: TenantId,
        domain: &str,
    ) -> Result<bool, StoreError> {
        let q =
            sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain_lower = $2")
                .bind(tenant.to_string())
                .bind(domain.to_ascii_lowercase());
        Ok(self.execute(q).await? > 0)
    }

    /// Appends events. Each gets the next of its tenant's sequence numbers, drawn from the tenant's counter
    /// row, which this transaction then holds until it commits: appenders of one tenant take turns, so the
    /// numbers are unique on any number of nodes and become visible in order (see
    /// [`Tx::list_events_after`]). Append events last in a use case: the turn lasts until the commit.
    pub async fn append_events(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let mut counts: BTreeMap<TenantId, i64> = BTreeMap::new();
        for e in events {
            *counts.entry(e.tenant_id).or_insert(0) += 1;
        }
        // Tenants in a fixed order, so two multi-tenant appends cannot wait for each other in a cycle.
        let mut next_seq: BTreeMap<TenantId, i64> = BTreeMap::new();
        for (tenant, count) in counts {
            let q = sqlx::query(
                "INSERT INTO event_counters (tenant_id, last_seq) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET last_seq = event_counters.last_seq + $2 \
                 RETURNING last_seq",
            )
            .bind(tenant.to_string())
            .bind(count);
            let last = self
                .fetch_one_map(q, |row| int(row, "last_seq"))
                .await?
                .ok_or_else(|| corrupt("event counter: no row returned"))?;
            next_seq.insert(tenant, last - count + 1);
        }
        let rows: Vec<(i64, &Event)> = events
            .iter()
            .map(|e| {
                let seq = next_seq.entry(e.tenant_id).or_insert(1);
                *seq += 1;
                (*seq - 1, e)
            })
            .collect();
        let head = format!("INSERT INTO events ({EVENT_COLS}) VALUES ");
        self.insert_rows(&head, 8, "", &rows, |q, (seq, e)| {
            q.bind(e.tenant_id.to_string())
                .bind(e.id.hyphenated().to_string())
                .bind(*seq)
                .bind(e.at.0)
                .bind(e.kind.as_str())
                .bind(e.subject.as_str())
                .bind(to_json(&e.data))
                .bind(e.actor.as_ref().map(to_json))
        })
        .await
    }

    /// The feed: a tenant's events with a sequence number above `after`, in sequence order, each with its
    /// number. Reading on from the last number seen never misses an event, however late it commits: a
    /// number becomes visible only after every smaller one of the tenant has.
    pub async fn list_events_after(
        &mut self,
        tenant: TenantId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(after)
            .bind(i64::from(limit));
        self.fetch_map(q, |row| Ok((int(row, "seq")?, event(row)?)))
            .await
    }

    /// The audit log: a tenant's events that have an actor, newest first by sequence number, those numbered
    /// below `before` when given, each with its number.
    /// Events of the `hidden_areas` (the part of a kind before its dot) are left out.
    pub async fn list_audit_events(
        &mut self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
        hidden_areas: &[&str],
    ) -> Result<Vec<(i64, Event)>, StoreError> {
        // `area.` ≤ kind < `area/` is "kind starts with `area.`" without LIKE's wildcards ('/' follows '.').
        let hidden: String = (0..hidden_areas.len())
            .map(|n| {
                format!(
                    " AND NOT (kind >= ${} AND kind < ${})",
                    4 + 2 * n,
                    5 + 2 * n
                )
            })
            .collect();
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE tenant_id = $1 AND actor IS NOT NULL AND seq < $2{hidden} \
             ORDER BY seq DESC LIMIT $3"
        );
        let mut q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit));
        for area in hidden_areas {
            q = q.bind(format!("{area}.")).bind(format!("{area}/"));
        }
        self.fetch_map(q, |row| Ok((int(row, "seq")?, event(row)?)))
            .await
    }

    /// One event of the audit log, by id.
    pub async fn get_audit_event(
        &mut self,
        tenant: TenantId,
        id: uuid::Uuid,
    ) -> Result<Option<(i64, Event)>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE tenant_id = $1 AND id = $2 AND actor IS NOT NULL"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.hyphenated().to_string());
        self.fetch_one_map(q, |row| Ok((int(row, "seq")?, event(row)?)))
            .await
    }

    /// Newest first (by timestamp, then append order), only those of `kind`.
    pub async fn list_events_of_kind(
        &mut self,
        tenant: TenantId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE tenant_id = $1 AND kind = $2 \
             ORDER BY at DESC, seq DESC, id DESC LIMIT $3"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(kind)
            .bind(i64::from(limit));
        self.fetch_map(q, event).await
    }

    /// Newest first (by timestamp, then append order), optionally only those about `subject`.
    pub async fn list_events(
        &mut self,
        tenant: TenantId,
        subject: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let mut filter = Filter::new(&tenant.to_string());
        if let Some(subject) = subject {
            filter.and("subject = {}", Bind::Text(subject.to_string()));
        }
        let limit_param = filter.param(Bind::Int(i64::from(limit)));
        let sql = format!(
            "SELECT {EVENT_COLS} FROM events WHERE {} ORDER BY at DESC, seq DESC, id DESC LIMIT {limit_param}",
            filter.sql
        );
        self.fetch_map(bind_all(sqlx::query(&sql), filter.binds), event)
            .await
    }

    pub async fn get_setting(
        &mut self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let q = sqlx::query("SELECT value FROM settings WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.to_string())
            .bind(key);
        self.fetch_one_map(q, |row| text(row, "value")).await
    }

    pub async fn put_setting(
        &mut self,
        tenant: TenantId,
        key: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO settings (tenant_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value",
        )
        .bind(tenant.to_string())
        .bind(key)
        .bind(value);
        self.execute(q).await.map(drop)
    }
}
