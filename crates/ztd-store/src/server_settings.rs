//! Server-wide settings: the only rows that belong to no tenant. They hold the node-shared secrets of the
//! server itself (the access-token signing key), never tenant data.

use crate::codec::text;
use crate::{StoreError, Tx};

impl Tx {
    /// GLOBAL: a server-wide setting.
    pub async fn get_server_setting(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let q = sqlx::query("SELECT value FROM server_settings WHERE name = $1").bind(name);
        self.fetch_one_map(q, |row| text(row, "value")).await
    }

    /// GLOBAL: sets a server-wide setting only if it is not set yet, so concurrent first starts of several
    /// nodes agree on one value; returns the value that is stored afterwards.
    pub async fn init_server_setting(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<String, StoreError> {
        let q = sqlx::query("INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value);
        self.execute(q).await?;
        self.get_server_setting(name).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "server setting {name} vanished after it was written"
            ))
        })
    }
}
