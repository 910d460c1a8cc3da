//! Configuration profiles and compliance policies (docs/mdm.md): the admin's use cases (create, update,
//! delete, assign, read statuses, the tenant's compliance settings), and what a management session does
//! with them (deliver and remove configuration, evaluate compliance).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ztd_core::device_policy::{
    self, AssignmentTarget, ComplianceRules, DevicePolicy, PolicyAssignment, PolicyDeviceState,
    PolicyKind, PolicyStatus, SettingState,
};
use ztd_core::error::ObjectKind;
use ztd_core::managed::{
    CommandOrigin, CommandOutcome, CommandState, ManagedDevice, MdmCommand, QueuedCommand,
};
use ztd_core::scope::FilterRef;
use ztd_core::{MdmCommandId, TenantId, Timestamp};

use crate::{App, AppError, AppResult};

const MDM_SETTINGS: &str = "mdm-settings";
/// The longest terms of use.
pub const MAX_TERMS_CHARS: usize = 20_000;
/// How long the terms page's form, and an acceptance, stay good.
pub const TERMS_TICKET_SECS: i64 = 3_600;

/// The most assignments one policy may have.
pub const MAX_ASSIGNMENTS: usize = 100;

/// Graph's server-set properties of a policy document: never stored from a request.
const SERVER_PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "version",
    "@odata.context",
    "assignments",
    "deviceStatuses",
    "deviceStatusOverview",
];

/// The tenant's device management settings (Graph `deviceManagement.settings`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MdmSettings {
    /// "Mark devices with no compliance policy assigned as": `true` not compliant, `false` compliant
    /// (Intune's default).
    pub secure_by_default: bool,
    /// Intune's "compliance status validity period" (days; default 30): kept and shown as set; ztd does not
    /// yet mark a device that stopped checking in as non-compliant.
    pub device_compliance_checkin_threshold_days: u32,
    /// The MDM terms of use a user accepts before enrolling (ztd's own setting; none by default). When set,
    /// a user's enrollment must carry the acceptance (`EnrollmentData`) the terms page handed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_use: Option<String>,
}

impl Default for MdmSettings {
    fn default() -> Self {
        Self {
            secure_by_default: false,
            device_compliance_checkin_threshold_days: 30,
            terms_of_use: None,
        }
    }
}

/// A device's state for a policy, with the device's names (Graph `deviceStatuses`).
#[derive(Clone, Debug)]
pub struct PolicyDeviceStatus {
    pub state: PolicyDeviceState,
    pub device: ManagedDevice,
}

fn kind_of(kind: PolicyKind) -> ObjectKind {
    match kind {
        PolicyKind::Configuration => ObjectKind::DeviceConfiguration,
        PolicyKind::Compliance => ObjectKind::DeviceCompliancePolicy,
    }
}

/// A document's `roleScopeTagIds` as sent (`None`: absent or null), or why it cannot be read.
fn document_tags(doc: &Map<String, Value>) -> AppResult<Option<Vec<String>>> {
    match doc.get(crate::scope::TAGS_FIELD) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    AppError::invalid(crate::scope::TAGS_FIELD, "scope tag ids are strings")
                })
            })
            .collect::<AppResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(AppError::invalid(
            crate::scope::TAGS_FIELD,
            "roleScopeTagIds is an array of scope tag ids",
        )),
    }
}

fn strip(mut doc: Map<String, Value>) -> Map<String, Value> {
    for key in SERVER_PROPERTIES {
        doc.remove(*key);
    }
    doc
}

impl App {
    pub async fn device_policies(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
    ) -> AppResult<Vec<DevicePolicy>> {
        let mut tx = self.store.single_read().await?;
        Ok(tx.list_device_policies(tenant, kind).await?)
    }

    /// Every policy of a kind with its assignments (Graph `$expand=assignments` on the collection), read
    /// in one snapshot and two queries whatever the number of policies.
    pub async fn device_policies_with_assignments(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
    ) -> AppResult<Vec<(DevicePolicy, Vec<PolicyAssignment>)>> {
        let mut tx = self.store.begin_read().await?;
        let policies = tx.list_device_policies(tenant, kind).await?;
        let mut by_policy: std::collections::HashMap<uuid::Uuid, Vec<PolicyAssignment>> =
            std::collections::HashMap::new();
        for (policy, assignment) in tx.policy_assignments(tenant, kind, None).await? {
            by_policy.entry(policy).or_default().push(assignment);
        }
        Ok(policies
            .into_iter()
            .map(|p| {
                let assignments = by_policy.remove(&p.id).unwrap_or_default();
                (p, assignments)
            })
            .collect())
    }

    pub async fn device_policy(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> AppResult<DevicePolicy> {
        let mut tx = self.store.single_read().await?;
        tx.get_device_policy(tenant, kind, id)
            .await?
            .ok_or_else(|| AppError::not_found(kind_of(kind), id))
    }

    /// Creates a policy from the Graph document an admin posted.
    pub async fn create_device_policy(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        document: Map<String, Value>,
    ) -> AppResult<DevicePolicy> {
        let mut document = strip(document);
        let display_name = device_policy::validate(kind, &document)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let tags = crate::scope::tags_of(&mut tx, tenant, document_tags(&document)?, &[]).await?;
        document.insert(crate::scope::TAGS_FIELD.into(), serde_json::json!(tags));
        let policy = DevicePolicy {
            tenant_id: tenant,
            kind,
            id: self.next_uuid(),
            display_name,
            document,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        tx.insert_device_policy(&policy).await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// Updates a policy with the properties an admin sent (merged onto the stored document; its type
    /// cannot change). Devices apply a changed configuration profile at their next session.
    pub async fn update_device_policy(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
        patch: Map<String, Value>,
    ) -> AppResult<DevicePolicy> {
        let mut tx = self.store.begin().await?;
        let mut policy = tx
            .get_device_policy(tenant, kind, id)
            .await?
            .ok_or_else(|| AppError::not_found(kind_of(kind), id))?;
        let stored_type = policy.document.get("@odata.type").cloned();
        let patch = strip(patch);
        if let (Some(sent), Some(stored)) = (patch.get("@odata.type"), &stored_type) {
            if sent != stored {
                return Err(AppError::invalid(
                    "@odata.type",
                    "a policy's type cannot change; create a new policy instead",
                ));
            }
        }
        if let Some(sent) = document_tags(&patch)? {
            let kept = document_tags(&policy.document)?.unwrap_or_default();
            let tags = crate::scope::tags_of(&mut tx, tenant, Some(sent), &kept).await?;
            policy
                .document
                .insert(crate::scope::TAGS_FIELD.into(), serde_json::json!(tags));
        }
        let patch: Map<String, Value> = patch
            .into_iter()
            .filter(|(k, _)| k != crate::scope::TAGS_FIELD)
            .collect();
        policy.document.extend(patch);
        policy.display_name = device_policy::validate(kind, &policy.document)?;
        policy.version += 1;
        policy.updated_at = self.now();
        if !tx.update_device_policy(&policy).await? {
            return Err(AppError::Store(ztd_store::StoreError::Conflict(
                "the policy changed while this update was made; read it again and retry".into(),
            )));
        }
        tx.commit().await?;
        Ok(policy)
    }

    /// Deletes a policy; devices remove what it set at their next session.
    pub async fn delete_device_policy(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_device_policy(tenant, kind, id).await? {
            return Err(AppError::not_found(kind_of(kind), id));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn policy_assignments(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> AppResult<Vec<PolicyAssignment>> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_device_policy(tenant, kind, id).await?.is_none() {
            return Err(AppError::not_found(kind_of(kind), id));
        }
        Ok(tx
            .policy_assignments(tenant, kind, Some(id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    /// Sets a policy's assignments (Graph `assign`: the list replaces the previous one; `add` keeps the
    /// previous ones and adds these). Group targets must name groups of the tenant.
    pub async fn assign_device_policy(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
        targets: Vec<(AssignmentTarget, Option<FilterRef>)>,
        add: bool,
    ) -> AppResult<Vec<PolicyAssignment>> {
        if targets.len() > MAX_ASSIGNMENTS {
            return Err(AppError::invalid(
                "assignments",
                format!("a policy has at most {MAX_ASSIGNMENTS} assignments"),
            ));
        }
        let mut tx = self.store.begin().await?;
        // Assignment writes take the targeting lock, as a filter's deletion does (no assignment can name a
        // filter being deleted).
        tx.lock(ztd_store::Lock::Targeting(tenant)).await?;
        if tx.get_device_policy(tenant, kind, id).await?.is_none() {
            return Err(AppError::not_found(kind_of(kind), id));
        }
        for (target, filter) in &targets {
            if filter.is_some() && matches!(target, AssignmentTarget::ExclusionGroup { .. }) {
                return Err(AppError::invalid(
                    "target.deviceAndAppManagementAssignmentFilterId",
                    "an exclusion group assignment takes no filter (Intune filters inclusions only)",
                ));
            }
            crate::scope::check_filter(&mut tx, tenant, filter.as_ref()).await?;
            if let AssignmentTarget::Group { group_id }
            | AssignmentTarget::ExclusionGroup { group_id } = target
            {
                if tx.get_group(tenant, *group_id).await?.is_none() {
                    return Err(AppError::invalid(
                        "target.groupId",
                        format!("no group {group_id} in this tenant"),
                    ));
                }
            }
        }
        let mut assignments: Vec<PolicyAssignment> = if add {
            tx.policy_assignments(tenant, kind, Some(id))
                .await?
                .into_iter()
                .map(|(_, a)| a)
                .collect()
        } else {
            Vec::new()
        };
        for (target, filter) in targets {
            // The same target again: the later filter wins (an `add` changes an assignment's filter).
            if let Some(same) = assignments.iter_mut().find(|a| a.target == target) {
                same.filter = filter;
                continue;
            }
            assignments.push(PolicyAssignment {
                id: format!("{id}_{}", self.next_uuid().simple()),
                target,
                filter,
            });
        }
        if assignments.len() > MAX_ASSIGNMENTS {
            return Err(AppError::invalid(
                "assignments",
                format!("a policy has at most {MAX_ASSIGNMENTS} assignments"),
            ));
        }
        tx.replace_policy_assignments(tenant, kind, id, &assignments)
            .await?;
        tx.commit().await?;
        Ok(assignments)
    }

    /// Removes one assignment of a policy.
    pub async fn delete_policy_assignment(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
        assignment: &str,
    ) -> AppResult<()> {
        let mut tx = self.store.begin().await?;
        let mut assignments: Vec<PolicyAssignment> = tx
            .policy_assignments(tenant, kind, Some(id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let before = assignments.len();
        assignments.retain(|a| a.id != assignment);
        if assignments.len() == before {
            return Err(AppError::not_found(
                ObjectKind::PolicyAssignment,
                assignment,
            ));
        }
        tx.replace_policy_assignments(tenant, kind, id, &assignments)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every managed device's state for a policy, with the device.
    pub async fn policy_device_statuses(
        &self,
        tenant: TenantId,
        kind: PolicyKind,
        id: uuid::Uuid,
    ) -> AppResult<Vec<PolicyDeviceStatus>> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_device_policy(tenant, kind, id).await?.is_none() {
            return Err(AppError::not_found(kind_of(kind), id));
        }
        let mut out = Vec::new();
        for state in tx.policy_states_of_policy(tenant, kind, id).await? {
            if let Some(device) = tx
                .get_managed_device(tenant, state.managed_device_id)
                .await?
            {
                out.push(PolicyDeviceStatus { state, device });
            }
        }
        Ok(out)
    }

    pub async fn mdm_settings(&self, tenant: TenantId) -> AppResult<MdmSettings> {
        let mut tx = self.store.single_read().await?;
        read_settings(&mut tx, tenant).await
    }

    /// Changes the tenant's device management settings.
    pub async fn update_mdm_settings(
        &self,
        tenant: TenantId,
        settings: MdmSettings,
    ) -> AppResult<MdmSettings> {
        if !(1..=120).contains(&settings.device_compliance_checkin_threshold_days) {
            return Err(AppError::invalid(
                "settings.deviceComplianceCheckinThresholdDays",
                "between 1 and 120 days",
            ));
        }
        if settings
            .terms_of_use
            .as_ref()
            .is_some_and(|t| t.trim().is_empty() || t.chars().count() > MAX_TERMS_CHARS)
        {
            return Err(AppError::invalid(
                "settings.ztdTermsOfUse",
                format!("the terms are 1 to {MAX_TERMS_CHARS} characters (or null for none)"),
            ));
        }
        let mut tx = self.store.begin().await?;
        let text = serde_json::to_string(&settings)
            .map_err(|e| AppError::invalid("settings", e.to_string()))?;
        tx.put_setting(tenant, MDM_SETTINGS, &text).await?;
        tx.commit().await?;
        Ok(settings)
    }
}

impl App {
    /// A ticket for the terms page's form, bound to the user who was shown the terms.
    pub async fn terms_form_ticket(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
    ) -> AppResult<String> {
        self.terms_ticket(tenant, user, ztd_drs::nonce::NoncePurpose::TermsForm)
            .await
    }

    /// The acceptance of the terms by a user who just signed in on the Federated sign-in page and ticked
    /// "I accept" there.
    pub async fn terms_acceptance(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
    ) -> AppResult<String> {
        self.terms_ticket(tenant, user, ztd_drs::nonce::NoncePurpose::TermsAccepted)
            .await
    }

    /// The user accepted the terms (their form's ticket checked): the acceptance the device hands back at
    /// enrollment as `EnrollmentData` (Entra's `OpaqueBlob`). `None` when the form's ticket is not this
    /// user's or is too old.
    pub async fn accept_terms(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
        form_ticket: &str,
    ) -> AppResult<Option<String>> {
        if !self
            .terms_ticket_valid(
                tenant,
                user,
                ztd_drs::nonce::NoncePurpose::TermsForm,
                form_ticket,
            )
            .await?
        {
            return Ok(None);
        }
        Ok(Some(
            self.terms_ticket(tenant, user, ztd_drs::nonce::NoncePurpose::TermsAccepted)
                .await?,
        ))
    }

    /// Whether `blob` is this user's acceptance of the terms.
    pub(crate) async fn terms_accepted(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
        blob: &str,
    ) -> AppResult<bool> {
        self.terms_ticket_valid(
            tenant,
            user,
            ztd_drs::nonce::NoncePurpose::TermsAccepted,
            blob,
        )
        .await
    }

    async fn terms_ticket(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
        purpose: ztd_drs::nonce::NoncePurpose,
    ) -> AppResult<String> {
        let key = self.nonce_key().await?;
        Ok(ztd_drs::nonce::mint_nonce(
            &key,
            purpose,
            self.now().0.div_euclid(1000),
            self.random_bytes::<16>(),
            format!("{tenant}:{user}").as_bytes(),
        ))
    }

    async fn terms_ticket_valid(
        &self,
        tenant: TenantId,
        user: ztd_core::DirectoryObjectId,
        purpose: ztd_drs::nonce::NoncePurpose,
        text: &str,
    ) -> AppResult<bool> {
        let key = self.nonce_key().await?;
        Ok(ztd_drs::nonce::verify_nonce(
            &key,
            purpose,
            text.trim(),
            format!("{tenant}:{user}").as_bytes(),
            self.now().0.div_euclid(1000),
            TERMS_TICKET_SECS,
        )
        .is_ok())
    }
}

pub(crate) async fn read_settings(
    tx: &mut ztd_store::Tx,
    tenant: TenantId,
) -> AppResult<MdmSettings> {
    Ok(tx
        .get_setting(tenant, MDM_SETTINGS)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// The groups a managed device's directory object and user are members of.
async fn device_groups(
    tx: &mut ztd_store::Tx,
    device: &ManagedDevice,
) -> AppResult<BTreeSet<ztd_core::GroupId>> {
    let members: Vec<ztd_core::DirectoryObjectId> = device
        .directory_object_id
        .into_iter()
        .chain(device.user_id)
        .collect();
    if members.is_empty() {
        return Ok(BTreeSet::new());
    }
    Ok(tx
        .memberships_of(device.tenant_id, &members)
        .await?
        .into_iter()
        .map(|(_, group, _)| group)
        .collect())
}

/// The policies of a kind that target a device.
async fn targeted(
    tx: &mut ztd_store::Tx,
    device: &ManagedDevice,
    kind: PolicyKind,
    groups: &BTreeSet<ztd_core::GroupId>,
) -> AppResult<Vec<DevicePolicy>> {
    let tenant = device.tenant_id;
    let mut by_policy: BTreeMap<uuid::Uuid, Vec<PolicyAssignment>> = BTreeMap::new();
    for (policy, assignment) in tx.policy_assignments(tenant, kind, None).await? {
        by_policy.entry(policy).or_default().push(assignment);
    }
    let has_user = device.user_id.is_some();
    let named = device_policy::filters_named(by_policy.values().flatten());
    let matching = crate::scope::matching_filters(tx, device, &named).await?;
    let mut out = Vec::new();
    for policy in tx.list_device_policies(tenant, kind).await? {
        let assignments = by_policy.get(&policy.id).map(Vec::as_slice).unwrap_or(&[]);
        if device_policy::targets(assignments, groups, has_user, &matching) {
            out.push(policy);
        }
    }
    Ok(out)
}

/// Brings a device's configuration in line with what targets it, at the start of a session: a profile
/// it has not received at its current version is queued (each setting replaced), and what a profile no
/// longer targeting it (unassigned or deleted) had set is queued for removal. Returns the commands queued.
pub(crate) async fn reconcile_configuration(
    app: &App,
    tx: &mut ztd_store::Tx,
    device: &ManagedDevice,
    open: &[QueuedCommand],
    now: Timestamp,
) -> AppResult<Vec<QueuedCommand>> {
    let tenant = device.tenant_id;
    let groups = device_groups(tx, device).await?;
    let policies = targeted(tx, device, PolicyKind::Configuration, &groups).await?;
    let states = tx
        .policy_states_of_device(tenant, PolicyKind::Configuration, device.id)
        .await?;
    let mut queued = Vec::new();
    let queue = |origin: CommandOrigin, command: MdmCommand| QueuedCommand {
        tenant_id: tenant,
        managed_device_id: device.id,
        id: MdmCommandId(app.next_uuid()),
        origin,
        command,
        state: CommandState::Pending,
        sent_in: None,
        outcome: CommandOutcome::default(),
        created_at: now,
        completed_at: None,
    };
    for policy in &policies {
        let current = states.iter().find(|s| s.policy_id == policy.id);
        let origin = CommandOrigin::Configuration {
            policy: policy.id.to_string(),
            version: policy.version,
            removal: false,
        };
        if open.iter().any(|c| c.origin == origin) {
            continue;
        }
        // Delivered at this version and answered: nothing to do. A delivery that failed, or that was voided
        // (the device enrolled again while it was out), goes again.
        let delivered = current.is_some_and(|s| {
            s.version == policy.version
                && !matches!(s.status, PolicyStatus::Pending | PolicyStatus::Error)
        });
        if delivered {
            continue;
        }
        let settings = device_policy::oma_settings(&policy.document)?;
        if settings.is_empty() {
            continue;
        }
        let command = queue(
            origin,
            MdmCommand::Sequence(device_policy::delivery(&settings)),
        );
        tx.insert_mdm_command(&command).await?;
        tx.upsert_policy_state(&PolicyDeviceState {
            tenant_id: tenant,
            kind: PolicyKind::Configuration,
            policy_id: policy.id,
            managed_device_id: device.id,
            version: policy.version,
            status: PolicyStatus::Pending,
            settings: settings
                .iter()
                .map(|s| SettingState {
                    setting: s.oma_uri.clone(),
                    status: PolicyStatus::Pending,
                    detail: None,
                })
                .collect(),
            reported_at: now,
        })
        .await?;
        queued.push(command);
    }
    for state in &states {
        if policies.iter().any(|p| p.id == state.policy_id) {
            continue;
        }
        let uris: Vec<String> = state.settings.iter().map(|s| s.setting.clone()).collect();
        if !uris.is_empty() {
            let command = queue(
                CommandOrigin::Configuration {
                    policy: state.policy_id.to_string(),
                    version: state.version,
                    removal: true,
                },
                MdmCommand::Sequence(device_policy::removal(&uris)),
            );
            tx.insert_mdm_command(&command).await?;
            queued.push(command);
        }
        tx.delete_policy_state(
            tenant,
            PolicyKind::Configuration,
            state.policy_id,
            device.id,
        )
        .await?;
    }
    Ok(queued)
}

/// Records a configuration profile's delivery answered by the device: each setting's status.
pub(crate) async fn record_configuration(
    tx: &mut ztd_store::Tx,
    device: &ManagedDevice,
    command: &QueuedCommand,
    now: Timestamp,
) -> AppResult<()> {
    let CommandOrigin::Configuration {
        policy,
        version,
        removal: false,
    } = &command.origin
    else {
        return Ok(());
    };
    let Ok(policy) = uuid::Uuid::parse_str(policy) else {
        return Ok(());
    };
    let states = tx
        .policy_states_of_device(device.tenant_id, PolicyKind::Configuration, device.id)
        .await?;
    let Some(mut state) = states
        .into_iter()
        .find(|s| s.policy_id == policy && s.version == *version)
    else {
        return Ok(());
    };
    for status in &command.outcome.statuses {
        let Some(index) = status.index.checked_sub(1) else {
            continue;
        };
        if let Some(setting) = state.settings.get_mut(index as usize) {
            setting.status = if ztd_mdm::syncml::status::is_success(status.code) {
                PolicyStatus::Compliant
            } else {
                PolicyStatus::Error
            };
            setting.detail = Some(status.code.to_string());
        }
    }
    state.status = if state
        .settings
        .iter()
        .any(|s| s.status == PolicyStatus::Pending)
    {
        PolicyStatus::Pending
    } else {
        device_policy::overall(&state.settings)
    };
    state.reported_at = now;
    tx.upsert_policy_state(&state).await?;
    Ok(())
}

/// Evaluates the compliance policies targeting a device against what it reported, records each policy's
/// state, and sets the device's compliance (with its grace period).
pub(crate) async fn evaluate_compliance(
    tx: &mut ztd_store::Tx,
    device: &mut ManagedDevice,
    now: Timestamp,
) -> AppResult<()> {
    let tenant = device.tenant_id;
    let groups = device_groups(tx, device).await?;
    let policies = targeted(tx, device, PolicyKind::Compliance, &groups).await?;
    let settings = read_settings(tx, tenant).await?;
    let previous = tx
        .policy_states_of_device(tenant, PolicyKind::Compliance, device.id)
        .await?;
    let mut verdicts = Vec::new();
    for policy in &policies {
        let rules = ComplianceRules::from_document(&policy.document)?;
        let states = rules.evaluate(device);
        let status = device_policy::overall(&states);
        verdicts.push((status, rules.grace_period_hours));
        tx.upsert_policy_state(&PolicyDeviceState {
            tenant_id: tenant,
            kind: PolicyKind::Compliance,
            policy_id: policy.id,
            managed_device_id: device.id,
            version: policy.version,
            status,
            settings: states,
            reported_at: now,
        })
        .await?;
    }
    for state in previous {
        if !policies.iter().any(|p| p.id == state.policy_id) {
            tx.delete_policy_state(tenant, PolicyKind::Compliance, state.policy_id, device.id)
                .await?;
        }
    }
    let (state, since) = device_policy::device_compliance(
        &verdicts,
        settings.secure_by_default,
        device.noncompliant_since,
        now,
    );
    device.compliance_state = state;
    device.noncompliant_since = since;
    device.grace_period_ends_at = match (state, since) {
        (ztd_core::managed::ComplianceState::InGracePeriod, Some(since)) => {
            let hours = verdicts
                .iter()
                .filter(|(s, _)| matches!(s, PolicyStatus::NonCompliant | PolicyStatus::Error))
                .map(|(_, h)| *h)
                .min()
                .unwrap_or(0);
            Some(device_policy::grace_period_end(since, hours))
        }
        _ => None,
    };
    Ok(())
}
