//! Device groups (`device_groups`) and their membership (`group_members`).

use sqlx::any::AnyRow;
use ztd_core::group::{Group, MembershipSource};
use ztd_core::{DirectoryObjectId, GroupId, TenantId};

use crate::codec::{flag, id, opt_text, source, source_str, text, ts};
use crate::tx::{in_list, param, placeholders};
use crate::{StoreError, Tx};

const GROUP_COLS: &str =
    "tenant_id, id, display_name, description, membership_rule, rule_processing_on, created_at";

fn group(row: &AnyRow) -> Result<Group, StoreError> {
    Ok(Group {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        display_name: text(row, "display_name")?,
        description: text(row, "description")?,
        membership_rule: opt_text(row, "membership_rule")?,
        rule_processing_on: flag(row, "rule_processing_on")?,
        created_at: ts(row, "created_at")?,
    })
}

fn membership(row: &AnyRow) -> Result<(DirectoryObjectId, GroupId, MembershipSource), StoreError> {
    Ok((
        id(row, "member_id")?,
        id(row, "group_id")?,
        source(row, "source")?,
    ))
}

impl Tx {
    pub async fn insert_group(&mut self, g: &Group) -> Result<(), StoreError> {
        let sql =
            format!("INSERT INTO device_groups ({GROUP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let q = sqlx::query(&sql)
            .bind(g.tenant_id.to_string())
            .bind(g.id.to_string())
            .bind(g.display_name.as_str())
            .bind(g.description.as_str())
            .bind(g.membership_rule.as_deref())
            .bind(i64::from(g.rule_processing_on))
            .bind(g.created_at.0);
        self.execute(q).await.map(drop)
    }

    /// Rewrites name, description, rule and processing state; a no-op when absent.
    pub async fn update_group(&mut self, g: &Group) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE device_groups SET display_name = $3, description = $4, membership_rule = $5, \
             rule_processing_on = $6 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(g.tenant_id.to_string())
        .bind(g.id.to_string())
        .bind(g.display_name.as_str())
        .bind(g.description.as_str())
        .bind(g.membership_rule.as_deref())
        .bind(i64::from(g.rule_processing_on));
        self.execute(q).await.map(drop)
    }

    /// Deletes the group and its memberships. Profile and ESP assignments that target it are left to the
    /// application (it decides whether to drop or reject them), so a stale target may remain.
    pub async fn delete_group(
        &mut self,
        tenant: TenantId,
        id: GroupId,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        let q = sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.execute(q).await?;
        let q = sqlx::query("DELETE FROM device_groups WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_group(
        &mut self,
        tenant: TenantId,
        id: GroupId,
    ) -> Result<Option<Group>, StoreError> {
        let sql =
            format!("SELECT {GROUP_COLS} FROM device_groups WHERE tenant_id = $1 AND id = $2");
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string());
        self.fetch_one_map(q, group).await
    }

    /// Ordered by display name, then id.
    pub async fn list_groups(&mut self, tenant: TenantId) -> Result<Vec<Group>, StoreError> {
        let sql = format!(
            "SELECT {GROUP_COLS} FROM device_groups WHERE tenant_id = $1 ORDER BY display_name, id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), group)
            .await
    }

    /// Idempotent: an existing membership is kept as is (its source is not changed).
    pub async fn add_members(
        &mut self,
        tenant: TenantId,
        members: &[(GroupId, DirectoryObjectId, MembershipSource)],
    ) -> Result<(), StoreError> {
        let tenant = tenant.to_string();
        let mut rows: Vec<(&str, &(GroupId, DirectoryObjectId, MembershipSource))> =
            members.iter().map(|m| (tenant.as_str(), m)).collect();
        // Key order turns the primary-key inserts of a large batch into appends (measurably faster on SQLite).
        rows.sort_unstable_by_key(|(_, (group, member, _))| (*group, *member));
        self.insert_rows(
            "INSERT INTO group_members (tenant_id, group_id, member_id, source) VALUES ",
            4,
            " ON CONFLICT DO NOTHING",
            &rows,
            |q, (tenant, (group, member, src))| {
                q.bind(*tenant)
                    .bind(group.to_string())
                    .bind(member.to_string())
                    .bind(source_str(*src))
            },
        )
        .await
    }

    /// Adds one membership; `false` when it already existed. Atomic on both engines (the insert is the
    /// check): of concurrent adds of the same member, exactly one returns `true`.
    pub async fn add_member(
        &mut self,
        tenant: TenantId,
        group: GroupId,
        member: DirectoryObjectId,
        source: MembershipSource,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO group_members (tenant_id, group_id, member_id, source) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(group.to_string())
        .bind(member.to_string())
        .bind(source_str(source));
        Ok(self.execute(q).await? == 1)
    }

    /// Adds a user to a static group; `false` when it was a member already (atomic, as [`Tx::add_member`]).
    pub async fn add_user_member(
        &mut self,
        tenant: TenantId,
        group: GroupId,
        user: DirectoryObjectId,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "INSERT INTO group_members (tenant_id, group_id, member_id, source, member_type) \
             VALUES ($1, $2, $3, $4, 'user') ON CONFLICT DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(group.to_string())
        .bind(user.to_string())
        .bind(source_str(MembershipSource::Static));
        Ok(self.execute(q).await? == 1)
    }

    /// Removes one membership; `false` when there was none. Of concurrent removals, exactly one returns
    /// `true`.
    pub async fn remove_member(
        &mut self,
        tenant: TenantId,
        group: GroupId,
        member: DirectoryObjectId,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
        )
        .bind(tenant.to_string())
        .bind(group.to_string())
        .bind(member.to_string());
        Ok(self.execute(q).await? == 1)
    }

    pub async fn remove_members(
        &mut self,
        tenant: TenantId,
        members: &[(GroupId, DirectoryObjectId)],
    ) -> Result<(), StoreError> {
        let tenant = tenant.to_string();
        for chunk in members.chunks(self.rows_per_statement(2, 1)) {
            let sql = format!(
                "DELETE FROM group_members WHERE tenant_id = {} AND (group_id, member_id) IN (VALUES {})",
                param(self.backend(), 1),
                placeholders(self.backend(), 2, chunk.len(), 2)
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for (group, member) in chunk {
                q = q.bind(group.to_string()).bind(member.to_string());
            }
            self.execute(q).await?;
        }
        Ok(())
    }

    /// Ordered by member id.
    pub async fn group_members(
        &mut self,
        tenant: TenantId,
        group: GroupId,
    ) -> Result<Vec<(DirectoryObjectId, MembershipSource)>, StoreError> {
        let q = sqlx::query(
            "SELECT member_id, source FROM group_members WHERE tenant_id = $1 AND group_id = $2 \
             ORDER BY member_id",
        )
        .bind(tenant.to_string())
        .bind(group.to_string());
        self.fetch_map(q, |row| Ok((id(row, "member_id")?, source(row, "source")?)))
            .await
    }

    /// The groups of each given member, ordered by member, then group.
    pub async fn memberships_of(
        &mut self,
        tenant: TenantId,
        members: &[DirectoryObjectId],
    ) -> Result<Vec<(DirectoryObjectId, GroupId, MembershipSource)>, StoreError> {
        let tenant = tenant.to_string();
        let mut out = Vec::new();
        for chunk in members.chunks(self.rows_per_statement(1, 1)) {
            // No ORDER BY: asked to sort, SQLite walks the primary key (tenant, group, member) — every
            // membership of the tenant — instead of the member index. Sorted here instead.
            let sql = format!(
                "SELECT member_id, group_id, source FROM group_members WHERE tenant_id = {} \
                 AND member_id IN ({})",
                param(self.backend(), 1),
                in_list(self.backend(), 2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for member in chunk {
                q = q.bind(member.to_string());
            }
            out.extend(self.fetch_map(q, membership).await?);
        }
        out.sort_unstable_by_key(|(member, group, _)| (*member, *group));
        Ok(out)
    }

    /// Every membership of the tenant, ordered by member, then group.
    pub async fn all_memberships(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<(DirectoryObjectId, GroupId, MembershipSource)>, StoreError> {
        let q = sqlx::query(
            "SELECT member_id, group_id, source FROM group_members WHERE tenant_id = $1 \
             ORDER BY member_id, group_id",
        )
        .bind(tenant.to_string());
        self.fetch_map(q, membership).await
    }
}
