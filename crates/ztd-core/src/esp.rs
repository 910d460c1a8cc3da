//! Enrollment Status Page configurations (Graph `windows10EnrollmentCompletionPageConfiguration`).

use serde::{Deserialize, Serialize};

use crate::profile::AssignmentTarget;
use crate::{TenantId, Timestamp};

/// The id suffix of a tenant's default ESP: `{tenantId}_DefaultWindows10EnrollmentCompletionPageConfiguration`.
pub const DEFAULT_ESP_SUFFIX: &str = "_DefaultWindows10EnrollmentCompletionPageConfiguration";

/// The most ESP configurations a tenant may hold, the default included.
pub const MAX_ESP_PER_TENANT: usize = 51;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EspSettings {
    pub show_installation_progress: bool,
    pub block_device_setup_retry_by_user: bool,
    pub allow_device_reset_on_install_failure: bool,
    pub allow_log_collection_on_install_failure: bool,
    pub custom_error_message: Option<String>,
    pub install_progress_timeout_in_minutes: i32,
    pub allow_device_use_on_install_failure: bool,
    pub selected_mobile_app_ids: Vec<String>,
    pub allow_non_blocking_app_installation: bool,
    pub install_quality_updates: bool,
    pub track_install_progress_for_autopilot_only: bool,
    pub disable_user_status_tracking_after_first_user: bool,
}

impl Default for EspSettings {
    /// The service defaults: progress shown, 60-minute timeout, block until all apps install.
    fn default() -> Self {
        Self {
            show_installation_progress: true,
            block_device_setup_retry_by_user: false,
            allow_device_reset_on_install_failure: false,
            allow_log_collection_on_install_failure: false,
            custom_error_message: None,
            install_progress_timeout_in_minutes: 60,
            allow_device_use_on_install_failure: false,
            selected_mobile_app_ids: Vec::new(),
            allow_non_blocking_app_installation: false,
            install_quality_updates: true,
            track_install_progress_for_autopilot_only: false,
            disable_user_status_tracking_after_first_user: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EspConfiguration {
    pub tenant_id: TenantId,
    /// A UUID, or `{tenantId}_DefaultWindows10EnrollmentCompletionPageConfiguration` for the default.
    pub id: String,
    pub display_name: String,
    pub description: String,
    /// Lower number wins. The default ESP has priority 0 and applies only when nothing else does.
    pub priority: i32,
    pub settings: EspSettings,
    pub assignments: Vec<AssignmentTarget>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EspConfiguration {
    pub fn is_default(&self) -> bool {
        self.id.ends_with(DEFAULT_ESP_SUFFIX)
    }

    pub fn default_id(tenant_id: TenantId) -> String {
        format!("{tenant_id}{DEFAULT_ESP_SUFFIX}")
    }
}
