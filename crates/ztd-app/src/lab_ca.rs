//! The lab's own certificate authority: one root per deployment (kept in the database, so every node serves
//! under the same root), which issues ztd's TLS certificate for its own address and for the Microsoft host
//! names that unmodified clients hard-code. A lab machine or a tool trusts the exported root (`ztd ca export`)
//! and reaches ztd through its CONNECT proxy or a hosts-file entry (docs/lab-ingress.md).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};

use crate::{App, AppError, AppResult};

const LAB_CA_SETTING: &str = "lab-ca";

/// The Microsoft host names ztd answers for in a lab: sign-in, Graph, device registration, enrollment and
/// management.
pub const MICROSOFT_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "device.login.microsoftonline.com",
    "graph.microsoft.com",
    "graph.windows.net",
    "enterpriseregistration.windows.net",
    "enrollment.manage.microsoft.com",
    "manage.microsoft.com",
    "*.manage.microsoft.com",
    "ztd.dm.microsoft.com",
];

/// The lab root: its certificate (to export and trust) and key (to issue with).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabCa {
    pub cert_pem: String,
    key_pem: String,
    common_name: String,
}

fn failed(what: &str, err: impl std::fmt::Display) -> AppError {
    AppError::Store(ztd_store::StoreError::Corrupt(format!("{what}: {err}")))
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "ztd lab");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    params
}

impl LabCa {
    fn generate(common_name: &str) -> AppResult<Self> {
        let key = KeyPair::generate().map_err(|e| failed("lab CA key", e))?;
        let cert = ca_params(common_name)
            .self_signed(&key)
            .map_err(|e| failed("lab CA certificate", e))?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            common_name: common_name.to_string(),
        })
    }

    /// A server certificate for `names` (DNS names, wildcards, IP addresses) signed by this root, with its
    /// key: `(certificate chain PEM, private key PEM)`.
    pub fn issue_server_certificate(&self, names: &[String]) -> AppResult<(String, String)> {
        let ca_key = KeyPair::from_pem(&self.key_pem).map_err(|e| failed("lab CA key", e))?;
        // The same name and key as the stored root: what this signs verifies against the exported certificate.
        let issuer = ca_params(&self.common_name)
            .self_signed(&ca_key)
            .map_err(|e| failed("lab CA certificate", e))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            names.first().map_or("ztd", String::as_str),
        );
        params.distinguished_name = name;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .as_str()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|e| failed("a certificate name", e)),
            })
            .collect::<AppResult<_>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2049, 12, 31);
        let key = KeyPair::generate().map_err(|e| failed("server key", e))?;
        let cert = params
            .signed_by(&key, &issuer, &ca_key)
            .map_err(|e| failed("server certificate", e))?;
        Ok((
            format!("{}{}", cert.pem(), self.cert_pem),
            key.serialize_pem(),
        ))
    }
}

impl App {
    /// The deployment's lab root, created on first use (one per database, whichever node asks first).
    pub async fn lab_ca(&self) -> AppResult<LabCa> {
        let stored = {
            let mut tx = self.store.begin_read().await?;
            tx.get_server_setting(LAB_CA_SETTING).await?
        };
        let stored = match stored {
            Some(stored) => stored,
            None => {
                // The first use: make one; if another node stored one meanwhile, theirs is kept.
                let common_name = format!(
                    "ztd lab root {}",
                    &self.next_uuid().simple().to_string()[..8]
                );
                let fresh = tokio::task::spawn_blocking(move || LabCa::generate(&common_name))
                    .await
                    .map_err(|e| failed("lab CA generation", e))??;
                let fresh = serde_json::to_string(&fresh).map_err(|e| failed("lab CA", e))?;
                let mut tx = self.store.begin().await?;
                let stored = tx.init_server_setting(LAB_CA_SETTING, &fresh).await?;
                tx.commit().await?;
                stored
            }
        };
        serde_json::from_str(&stored).map_err(|e| failed("the stored lab CA", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_certificate_chains_to_the_stored_root() {
        let ca = LabCa::generate("ztd lab root test").unwrap();
        let (chain, key) = ca
            .issue_server_certificate(&["login.microsoftonline.com".into(), "127.0.0.1".into()])
            .unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert_eq!(
            chain.matches("BEGIN CERTIFICATE").count(),
            2,
            "leaf then root"
        );
        assert!(chain.ends_with(&ca.cert_pem));
    }
}
