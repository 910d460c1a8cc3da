//! Directory device objects (`directory_devices`).

use ztd_core::directory::DirectoryDevice;
use ztd_core::{DirectoryObjectId, TenantId};

use crate::codec::{
    flag, id, int, json, opt_id, parse_page, text, to_json, ts, Cell, Columns, PackedRow,
};
use crate::devices::push_limit_offset;
use crate::tx::{in_list, param, Bind, Filter, Q};
use crate::{Backend, DirectoryQuery, StoreError, Tx};

/// A row of a group's member page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberRow {
    Device(Box<DirectoryDevice>),
    /// A user member, by id.
    User(DirectoryObjectId),
    /// A membership whose object is gone.
    Missing(DirectoryObjectId),
}

pub(crate) const DIRECTORY_COLS: &str =
    "tenant_id, id, device_id, display_name, display_name_lower, account_enabled, \
    physical_ids, operating_system, operating_system_version, manufacturer, model, trust_type, \
    enrollment_profile_name, ztdid, created_at, alternative_security_id, registered_user_id";
const DIRECTORY_COL_COUNT: usize = 17;

/// A member page's row on SQLite that is not a stored directory listing: a user member, or a device
/// membership without its device.
const NOT_A_LISTING: [&str; 2] = ["id", "is_user"];

fn bind_directory<'q>(q: Q<'q>, d: &'q DirectoryDevice) -> Q<'q> {
    q.bind(d.tenant_id.to_string())
        .bind(d.id.to_string())
        .bind(d.device_id.to_string())
        .bind(d.display_name.as_str())
        .bind(d.display_name.to_lowercase())
        .bind(i64::from(d.account_enabled))
        .bind(to_json(&d.physical_ids))
        .bind(d.operating_system.as_str())
        .bind(d.operating_system_version.as_str())
        .bind(d.manufacturer.as_str())
        .bind(d.model.as_str())
        .bind(d.trust_type.as_str())
        .bind(d.enrollment_profile_name.as_str())
        .bind(d.ztdid.map(|z| z.to_string()))
        .bind(d.created_at.0)
        .bind(d.alternative_security_id.as_str())
        .bind(d.registered_user_id.map(|u| u.to_string()))
}

fn directory_device(row: &impl Columns) -> Result<DirectoryDevice, StoreError> {
    Ok(DirectoryDevice {
        tenant_id: id(row, "tenant_id")?,
        id: id(row, "id")?,
        device_id: id(row, "device_id")?,
        display_name: text(row, "display_name")?,
        account_enabled: flag(row, "account_enabled")?,
        physical_ids: json(row, "physical_ids")?,
        operating_system: text(row, "operating_system")?,
        operating_system_version: text(row, "operating_system_version")?,
        manufacturer: text(row, "manufacturer")?,
        model: text(row, "model")?,
        trust_type: text(row, "trust_type")?,
        enrollment_profile_name: text(row, "enrollment_profile_name")?,
        ztdid: opt_id(row, "ztdid")?,
        created_at: ts(row, "created_at")?,
        alternative_security_id: text(row, "alternative_security_id")?,
        registered_user_id: opt_id(row, "registered_user_id")?,
    })
}

impl Tx {
    pub async fn insert_directory_devices(
        &mut self,
        devices: &[DirectoryDevice],
    ) -> Result<(), StoreError> {
        let head = format!("INSERT INTO directory_devices ({DIRECTORY_COLS}) VALUES ");
        let mut rows: Vec<&DirectoryDevice> = devices.iter().collect();
        rows.sort_unstable_by_key(|d| d.id);
        self.insert_rows(&head, DIRECTORY_COL_COUNT, "", &rows, |q, d| {
            bind_directory(q, d)
        })
        .await
    }

    /// Rewrites every field but the tenant, object id and creation time; a no-op when absent.
    pub async fn update_directory_device(&mut self, d: &DirectoryDevice) -> Result<(), StoreError> {
        // $15 (created_at) is bound but unused: the row keeps its creation time.
        let sql = "UPDATE directory_devices SET device_id = $3, display_name = $4, display_name_lower = $5, \
            account_enabled = $6, physical_ids = $7, operating_system = $8, operating_system_version = $9, \
            manufacturer = $10, model = $11, trust_type = $12, enrollment_profile_name = $13, ztdid = $14, \
            alternative_security_id = $16, registered_user_id = $17 WHERE tenant_id = $1 AND id = $2";
        self.execute(bind_directory(sqlx::query(sql), d))
            .await
            .map(drop)
    }

    /// Deletes the object and its group memberships.
    pub async fn delete_directory_device(
        &mut self,
        tenant: TenantId,
        id: DirectoryObjectId,
    ) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        let q = sqlx::query("DELETE FROM group_members WHERE tenant_id = $1 AND member_id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        self.execute(q).await?;
        let q = sqlx::query("DELETE FROM directory_devices WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str());
        Ok(self.execute(q).await? > 0)
    }

    pub async fn get_directory_device(
        &mut self,
        tenant: TenantId,
        id: DirectoryObjectId,
    ) -> Result<Option<DirectoryDevice>, StoreError> {
        let sql = format!(
            "SELECT {DIRECTORY_COLS} FROM directory_devices WHERE tenant_id = $1 AND id = $2"
        );
        let q = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id.to_string());
        self.fetch_one_map(q, directory_device).await
    }

    /// The objects among `ids` that exist in the tenant, ordered by id: one statement per few thousand ids
    /// instead of one per object.
    pub async fn get_directory_devices(
        &mut self,
        tenant: TenantId,
        ids: &[DirectoryObjectId],
    ) -> Result<Vec<DirectoryDevice>, StoreError> {
        let tenant = tenant.to_string();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.rows_per_statement(1, 1)) {
            let sql = format!(
                "SELECT {DIRECTORY_COLS} FROM directory_devices WHERE tenant_id = {} AND id IN ({}) ORDER BY id",
                param(self.backend(), 1),
                in_list(self.backend(), 2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for id in chunk {
                q = q.bind(id.to_string());
            }
            out.extend(self.fetch_map(q, directory_device).await?);
        }
        Ok(out)
    }

    /// Filtered page ordered by object id.
    pub async fn list_directory_devices(
        &mut self,
        tenant: TenantId,
        q: &DirectoryQuery,
    ) -> Result<Vec<DirectoryDevice>, StoreError> {
        let mut filter = Filter::new(&tenant.to_string());
        if let Some(device_id) = q.device_id {
            filter.and("device_id = {}", Bind::Text(device_id.to_string()));
        }
        if let Some(name) = &q.display_name {
            filter.and("display_name_lower = {}", Bind::Text(name.to_lowercase()));
        }
        if let Some(after) = q.after {
            filter.and("id > {}", Bind::Text(after.to_string()));
        }
        let names: Vec<&str> = DIRECTORY_COLS.split(", ").collect();
        let mut objects = match self.backend() {
            // The objects' stored listings, read from `directory_devices_listing` in id order, unless a
            // filter has an index of its own.
            Backend::Sqlite => {
                let index = match (q.device_id, &q.display_name) {
                    (None, None) => " INDEXED BY directory_devices_listing",
                    _ => "",
                };
                let mut sql = format!(
                    "SELECT listing FROM directory_devices{index} WHERE {} ORDER BY id",
                    filter.sql
                );
                push_limit_offset(&mut sql, &mut filter, q.limit, None);
                self.fetch_listing(&sql, filter.binds, &names, |row| directory_device(row))
                    .await?
            }
            Backend::Postgres => {
                let mut sql = format!(
                    "SELECT {DIRECTORY_COLS} FROM directory_devices WHERE {} ORDER BY id",
                    filter.sql
                );
                push_limit_offset(&mut sql, &mut filter, q.limit, None);
                self.fetch_packed(&sql, filter.binds, &names, |row| directory_device(row))
                    .await?
            }
        };
        objects.sort_unstable_by_key(|o| o.id);
        Ok(objects)
    }

    /// One page of a group's members in member-id order after `after`, in one statement: device members
    /// whole, user members by id only (the caller reads those users, usually none, with
    /// [`Tx::get_users`]). `kind` limits the page to `"device"` or `"user"` members.
    pub async fn group_member_page(
        &mut self,
        tenant: TenantId,
        group: ztd_core::GroupId,
        after: Option<DirectoryObjectId>,
        limit: u32,
        kind: Option<&str>,
    ) -> Result<Vec<MemberRow>, StoreError> {
        let mut filter = Filter::new(&tenant.to_string());
        filter.sql = filter.sql.replace("tenant_id", "m.tenant_id");
        filter.and("m.group_id = {}", Bind::Text(group.to_string()));
        if let Some(after) = after {
            filter.and("m.member_id > {}", Bind::Text(after.to_string()));
        }
        // A literal, not a parameter, so SQLite can use the partial index of user members.
        match kind {
            Some("user") => filter.sql.push_str(" AND m.member_type = 'user'"),
            Some(_) => filter.sql.push_str(" AND m.member_type = 'device'"),
            None => {}
        }
        // Driven by the membership primary key (tenant, group, member): a page reads its own rows only.
        if self.backend() == Backend::Sqlite {
            // A device member is its stored listing, read from the index `directory_devices_listing` alone
            // (a scalar subquery: through a join SQLite 3.46 packs the listing again from the table row),
            // passed through as stored (wrapping it in more columns copied every listing twice and
            // counted its characters: 27% of the page's SQL); a user, or a device membership without its
            // device, is the shorter array `[id, is_user]`.
            let mut sql = format!(
                "SELECT COALESCE((SELECT x.listing FROM directory_devices x \
                 INDEXED BY directory_devices_listing WHERE x.tenant_id = m.tenant_id \
                 AND x.id = m.member_id AND m.member_type <> 'user'), \
                 json_array(m.member_id, m.member_type = 'user')) AS listing \
                 FROM group_members m WHERE {} ORDER BY m.member_id",
                filter.sql
            );
            push_limit_offset(&mut sql, &mut filter, Some(limit), None);
            let page = self.fetch_listing_text(&sql, filter.binds).await?;
            let directory_names: Vec<&str> = DIRECTORY_COLS.split(", ").collect();
            return parse_page::<Vec<Cell<'_>>>(&page)?
                .into_iter()
                .map(|values| {
                    if values.len() == NOT_A_LISTING.len() {
                        let row = PackedRow::new(&NOT_A_LISTING, values);
                        let member = id(&row, "id")?;
                        Ok(if flag(&row, "is_user")? {
                            MemberRow::User(member)
                        } else {
                            // A device membership without its device (never written: they are deleted
                            // together).
                            MemberRow::Missing(member)
                        })
                    } else {
                        let row = PackedRow::new(&directory_names, values);
                        Ok(MemberRow::Device(Box::new(directory_device(&row)?)))
                    }
                })
                .collect();
        }
        // PostgreSQL packs the page at read time: a user member's row has only its id (the device columns
        // are NULL).
        let cols = DIRECTORY_COLS
            .split(", ")
            .map(|c| match c {
                "id" => "COALESCE(d.id, m.member_id) AS id".to_string(),
                c => format!("d.{c} AS {c}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut names = vec!["is_user"];
        names.extend(DIRECTORY_COLS.split(", "));
        let mut sql = format!(
            "SELECT CASE WHEN m.member_type = 'user' THEN 1 ELSE 0 END AS is_user, {cols} \
             FROM group_members m \
             LEFT JOIN directory_devices d ON d.tenant_id = m.tenant_id AND d.id = m.member_id \
             WHERE {} ORDER BY m.member_id",
            filter.sql
        );
        push_limit_offset(&mut sql, &mut filter, Some(limit), None);
        let decode = |row: &PackedRow<'_>| {
            let member: DirectoryObjectId = id(row, "id")?;
            Ok(match (int(row, "is_user")?, row.opt_str("tenant_id")?) {
                (1, _) => MemberRow::User(member),
                (_, Some(_)) => MemberRow::Device(Box::new(directory_device(row)?)),
                // A device membership without its device (never written: they are deleted together).
                (_, None) => MemberRow::Missing(member),
            })
        };
        self.fetch_packed(&sql, filter.binds, &names, decode).await
    }

    /// The members of a group, of one kind (`"device"` or `"user"`) or all, counted in the membership index.
    pub async fn count_group_members(
        &mut self,
        tenant: TenantId,
        group: ztd_core::GroupId,
        kind: Option<&str>,
    ) -> Result<u64, StoreError> {
        // A literal, not a parameter, as in the member page: SQLite then uses the partial index of users.
        let sql = match kind {
            Some("user") => "SELECT COUNT(*) AS n FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_type = 'user'",
            Some(_) => "SELECT COUNT(*) AS n FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_type = 'device'",
            None => "SELECT COUNT(*) AS n FROM group_members WHERE tenant_id = $1 AND group_id = $2",
        };
        self.count(
            sqlx::query(sql)
                .bind(tenant.to_string())
                .bind(group.to_string()),
        )
        .await
    }

    /// Every directory object of the tenant, ordered by object id.
    pub async fn all_directory_devices(
        &mut self,
        tenant: TenantId,
    ) -> Result<Vec<DirectoryDevice>, StoreError> {
        let sql = format!(
            "SELECT {DIRECTORY_COLS} FROM directory_devices WHERE tenant_id = $1 ORDER BY id"
        );
        self.fetch_map(sqlx::query(&sql).bind(tenant.to_string()), directory_device)
            .await
    }
}
