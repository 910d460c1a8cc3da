//! Deployment profiles, their assignments, and ESP configurations. Settings are versioned JSON documents
//! (`{"v":1,...}`) whose shape is owned here, so the domain types can change without rewriting stored rows:
//! a new shape gets a new version and a decoder for the old one.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use ztd_core::esp::{EspConfiguration, EspSettings};
use ztd_core::profile::{DeploymentProfile, DeviceType, JoinType, OobeSettings, ProfileAssignment};
use ztd_core::scope::{FilterMode, FilterRef};
use ztd_core::{ProfileId, TenantId};

use crate::codec::{
    corrupt, document, from_value, id, int32, json, opt_text, parse_id, target_from_parts,
    target_parts, text, to_json, ts, versioned, TargetDoc,
};
use crate::{StoreError, Tx};

/// Profile settings, document version 1. `oobe` and the enums use the domain's camelCase wire names.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileDocV1 {
    description: String,
    device_type: DeviceType,
    join_type: JoinType,
    oobe: OobeSettings,
    locale: String,
    preprovisioning_allowed: bool,
    hardware_hash_extraction_enabled: bool,
    device_name_template: String,
    hybrid_skip_connectivity_check: bool,
    management_service_app_id: Option<String>,
    role_scope_tag_ids: Vec<String>,
}

/// ESP settings, document version 1.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EspDocV1 {
    show_installation_progress: bool,
    block_device_setup_retry_by_user: bool,
    allow_device_reset_on_install_failure: bool,
    allow_log_collection_on_install_failure: bool,
    custom_error_message: Option<String>,
    install_progress_timeout_in_minutes: i32,
    allow_device_use_on_install_failure: bool,
    selected_mobile_app_ids: Vec<String>,
    allow_non_blocking_app_installation: bool,
    install_quality_updates: bool,
    track_install_progress_for_autopilot_only: bool,
    disable_user_status_tracking_after_first_user: bool,
    /// Absent in documents written before scope tags were stored: the default ESP carries none, the
    /// others `["0"]` (what Graph showed for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role_scope_tag_ids: Option<Vec<String>>,
}

fn profile_doc(p: &DeploymentProfile) -> String {
    versioned(
        1,
        &ProfileDocV1 {
            description: p.description.clone(),
            device_type: p.device_type,
            join_type: p.join_type,
            oobe: p.oobe,
            locale: p.locale.clone(),
            preprovisioning_allowed: p.preprovisioning_allowed,
            hardware_hash_extraction_enabled: p.hardware_hash_extraction_enabled,
            device_name_template: p.device_name_template.clone(),
            hybrid_skip_connectivity_check: p.hybrid_skip_connectivity_check,
            management_service_app_id: p.management_service_app_id.clone(),
            role_scope_tag_ids: p.role_scope_tag_ids.clone(),
        },
    )
}

fn profile(row: &AnyRow) -> Result<DeploymentProfile, StoreError> {
    let doc: ProfileDocV1 = match document(row, "document")? {
        (1, body) => from_value("document", body)?,
        (v, _) => return Err(corrupt(format!("profile document version {v} is unknown"))),
    };
    Ok(DeploymentProfile {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        display_name: text(row, "display_name")?,
        description: doc.description,
        device_type: doc.device_type,
        join_type: doc.join_type,
        oobe: doc.oobe,
        locale: doc.locale,
        preprovisioning_allowed: doc.preprovisioning_allowed,
        hardware_hash_extraction_enabled: doc.hardware_hash_extraction_enabled,
        device_name_template: doc.device_name_template,
        hybrid_skip_connectivity_check: doc.hybrid_skip_connectivity_check,
        management_service_app_id: doc.management_service_app_id,
        role_scope_tag_ids: doc.role_scope_tag_ids,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn assignment(row: &AnyRow) -> Result<ProfileAssignment, StoreError> {
    let kind = text(row, "target_kind")?;
    let group = opt_text(row, "target_group_id")?;
    let filter = match (opt_text(row, "filter_id")?, opt_text(row, "filter_type")?) {
        (Some(filter_id), Some(mode)) => Some(FilterRef {
            filter_id: parse_id("filter_id", &filter_id)?,
            mode: FilterMode::parse(&mode)
                .ok_or_else(|| corrupt(format!("unknown filter type {mode:?}")))?,
        }),
        _ => None,
    };
    Ok(ProfileAssignment {
        tenant_id: id(row, "tenant_id")?,
        id: text(row, "id")?,
        profile_id: id(row, "profile_id")?,
        target: target_from_parts(&kind, group.as_deref())?,
        filter,
        created_at: ts(row, "created_at")?,
    })
}

fn esp_doc(s: &EspSettings, role_scope_tag_ids: &[String]) -> String {
    versioned(
        1,
        &EspDocV1 {
            show_installation_progress: s.show_installation_progress,
            block_device_setup_retry_by_user: s.block_device_setup_retry_by_user,
            allow_device_reset_on_install_failure: s.allow_device_reset_on_install_failure,
            allow_log_collection_on_install_failure: s.allow_log_collection_on_install_failure,
            custom_error_message: s.custom_error_message.clone(),
            install_progress_timeout_in_minutes: s.install_progress_timeout_in_minutes,
            allow_device_use_on_install_failure: s.allow_device_use_on_install_failure,
            selected_mobile_app_ids: s.selected_mobile_app_ids.clone(),
            allow_non_blocking_app_installation: s.allow_non_blocking_app_installation,
            install_quality_updates: s.install_quality_updates,
            track_install_progress_for_autopilot_only: s.track_install_progress_for_autopilot_only,
            disable_user_status_tracking_after_first_user: s
                .disable_user_status_tracking_after_first_user,
            role_scope_tag_ids: Some(role_scope_tag_ids.to_vec()),
        },
    )
}

fn esp(row: &AnyRow) -> Result<EspConfiguration, StoreError> {
    let doc: EspDocV1 = match document(row, "document")? {
        (1, body) => from_value("document", body)?,
        (v, _) => return Err(corrupt(format!("ESP document version {v} is unknown"))),
    };
    let targets: Vec<TargetDoc> = json(row, "assignments")?;
    let assignments = targets
        .iter()
        .map(|t| target_from_parts(&t.kind, t.group_id.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let assignment_filters = assignments
        .iter()
        .zip(&targets)
        .filter_map(|(target, doc)| doc.filter.map(|f| (*target, f)))
        .collect();
    let id_text = text(row, "id")?;
    let role_scope_tag_ids = doc.role_scope_tag_ids.clone().unwrap_or_else(|| {
        if id_text.ends_with(ztd_core::esp::DEFAULT_ESP_SUFFIX) {
            Vec::new()
        } else {
            vec![ztd_core::scope::DEFAULT_SCOPE_TAG_ID.to_string()]
        }
    });
    Ok(EspConfiguration {
        tenant_id: id(row, "tenant_id")?,
        id: id_text,
        display_name: text(row, "display_name")?,
        description: text(row, "description")?,
        priority: int32(row, "priority")?,
        settings: EspSettings {
            show_installation_progress: doc.show_installation_progress,
            block_device_setup_retry_by_user: doc.block_device_setup_retry_by_user,
            allow_device_reset_on_install_failure: doc.allow_device_reset_on_install_failure,
            allow_log_collection_on_install_failure: doc.allow_log_collection_on_install_failure,
            custom_error_message: doc.custom_error_message,
            install_progress_timeout_in_minutes: doc.install_progress_timeout_in_minutes,
            allow_device_use_on_install_failure: doc.allow_device_use_on_install_failure,
            selected_mobile_app_ids: doc.selected_mobile_app_ids,
            allow_non_blocking_app_installation: doc.allow_non_blocking_app_installation,
            install_quality_updates: doc.install_quality_updates,
            track_install_progress_for_autopilot_only: doc
                .track_install_progress_for_autopilot_only,
            disable_user_status_tracking_after_first_user: doc
                .disable_user_status_tracking_after_first_user,
        },
        assignments,
        assignment_filters,
        role_scope_tag_ids,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

const PROFILE_COLS: &str = "tenant_id, id, display_name, document, created_at, updated_at";
const ASSIGNMENT_COLS: &str =
    "tenant_id, id, profile_id, target_kind, target_group_id, created_at, filter_id, filter_type";
const ESP_COLS: &str =
    "tenant_id, id, display_name, description, priority, document, assignments, created_at, updated_at";

impl Tx {
    pub async fn insert_profile(&mut self, p: &DeploymentProfile) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO profiles ({PROFILE_COLS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let q = sqlx::query(&sql)
            .bind(p.tenant_id.to_string())
            .bind(p.id.to_string())
            .bind(p.display_name.as_str())
            .bind(profile_doc(p))
            .bind(p.created_at.0)
            .bind(p.updated_at.0);
        self.execute(q).await.map(drop)
    }

    /// Rewrites everything but the tenant, id and creation time; a no-op when absent.
    pub async fn update_profile(&mut self, p: &DeploymentProfile) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE profiles SET display_name = $3, document = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(p.tenant_id.to_string())
        .bind(p.id.to_string())
        .bind(p.display_name.as_str())
        .bind(profile_doc(p))
        .bind(p.updated_at.0);
        self.execute(q).await.map(drop)
    }

    /// Deletes the profile and its assignments.
    pub async fn delete_profile(
        &mut self,
        tenant: TenantId,
        id: ProfileId,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        let q =
            sqlx::query("DELETE FROM profile_assignments WHERE tenant_id = $1 AND profile_id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str());
        self.execute(q).await?;
        let q = sqlx::query("DELETE FROM profiles WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_profile(
        &mut self,
        tenant: TenantId,
        id: ProfileId,
    ) -> Result<Option<DeploymentProfile>, StoreError> {
        let sql = format!("SELECT {PROFILE_COLS} FROM profiles WHERE tenant_id = $1 AND id = $2");
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string());
        self.fetch_one_map(q, profile).await
    }

    /// Oldest first.
    pub async fn list_profiles(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<DeploymentProfile>, StoreError> {
        let sql = format!(
            "SELECT {PROFILE_COLS} FROM profiles WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), profile)
            .await
    }

    pub async fn count_profiles(&mut self, tenant: TenantId) -> Result<u64, StoreError> {
        let q = sqlx::query("SELECT COUNT(*) AS n FROM profiles WHERE tenant_id = $1")
            .bind(tenant.to_string());
        self.count(q).await
    }

    /// `Conflict` if the id exists; a database error if the profile does not.
    pub async fn insert_profile_assignment(
        &mut self,
        a: &ProfileAssignment,
    ) -> Result<(), StoreError> {
        let (kind, group) = target_parts(a.target);
        let sql = format!(
            "INSERT INTO profile_assignments ({ASSIGNMENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let q = sqlx::query(&sql)
            .bind(a.tenant_id.to_string())
            .bind(a.id.as_str())
            .bind(a.profile_id.to_string())
            .bind(kind)
            .bind(group)
            .bind(a.created_at.0)
            .bind(a.filter.map(|f| f.filter_id.to_string()))
            .bind(a.filter.map(|f| f.mode.as_str()));
        self.execute(q).await.map(drop)
    }

    pub async fn delete_profile_assignment(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM profile_assignments WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id);
        Ok(self.execute(q).await? > 0)
    }

    /// Oldest first.
    pub async fn list_profile_assignments(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<ProfileAssignment>, StoreError> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLS} FROM profile_assignments WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), assignment)
            .await
    }

    /// Inserts or replaces (keeping the original creation time).
    pub async fn upsert_esp(&mut self, e: &EspConfiguration) -> Result<(), StoreError> {
        let targets: Vec<TargetDoc> = e
            .assignments
            .iter()
            .map(|t| {
                let (kind, group_id) = target_parts(*t);
                TargetDoc {
                    kind: kind.into(),
                    group_id,
                    filter: e.filter_of(*t),
                }
            })
            .collect();
        let sql = format!(
            "INSERT INTO esp_configurations ({ESP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, \
             description = excluded.description, priority = excluded.priority, document = excluded.document, \
             assignments = excluded.assignments, updated_at = excluded.updated_at"
        );
        let q = sqlx::query(&sql)
            .bind(e.tenant_id.to_string())
            .bind(e.id.as_str())
            .bind(e.display_name.as_str())
            .bind(e.description.as_str())
            .bind(i64::from(e.priority))
            .bind(esp_doc(&e.settings, &e.role_scope_tag_ids))
            .bind(to_json(&targets))
            .bind(e.created_at.0)
            .bind(e.updated_at.0);
        self.execute(q).await.map(drop)
    }

    pub async fn delete_esp(&mut self, tenant: TenantId, id: &str) -> Result<bool, StoreError> {
        let q = sqlx::query("DELETE FROM esp_configurations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id);
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_esp(
        &mut self,
        tenant: TenantId,
        id: &str,
    ) -> Result<Option<EspConfiguration>, StoreError> {
        let sql =
            format!("SELECT {ESP_COLS} FROM esp_configurations WHERE tenant_id = $1 AND id = $2");
        let q = sqlx::query(&sql).bind(tenant.to_string()).bind(id);
        self.fetch_one_map(q, esp).await
    }

    /// Ordered by priority (lower wins), then id.
    pub async fn list_esps(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<EspConfiguration>, StoreError> {
        let sql = format!(
            "SELECT {ESP_COLS} FROM esp_configurations WHERE tenant_id = $1 ORDER BY priority, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), esp)
            .await
    }
}
