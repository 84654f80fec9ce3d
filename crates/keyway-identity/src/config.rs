//! The configuration the azure-workload-identity webhook injects into a pod.

use std::path::PathBuf;

use crate::error::{IdentityError, Result};

/// The public cloud's authority host.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// What a workload needs to federate: who it is, where its token is, where Entra is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentityConfig {
    /// `AZURE_CLIENT_ID`: the client id of the identity (not its object id).
    pub client_id: String,
    /// `AZURE_TENANT_ID`.
    pub tenant_id: String,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub token_file: PathBuf,
    /// `AZURE_AUTHORITY_HOST`, without a trailing slash.
    pub authority_host: String,
}

const WEBHOOK_FIX: &str = "the azure-workload-identity webhook sets it when the pod has the label azure.workload.identity/use: \"true\" and its service account the annotation azure.workload.identity/client-id";

impl WorkloadIdentityConfig {
    /// Reads `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and
    /// `AZURE_AUTHORITY_HOST` (default `https://login.microsoftonline.com`).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same, reading variables through `lookup` (for tests and other sources).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |variable: &'static str| -> Result<String> {
            match lookup(variable).map(|v| v.trim().to_string()) {
                Some(v) if !v.is_empty() => Ok(v),
                Some(_) => Err(IdentityError::Config {
                    variable,
                    problem: "is empty".into(),
                    fix: WEBHOOK_FIX.into(),
                }),
                None => Err(IdentityError::Config {
                    variable,
                    problem: "is not set".into(),
                    fix: WEBHOOK_FIX.into(),
                }),
            }
        };
        let client_id = required("AZURE_CLIENT_ID")?;
        check_guid("AZURE_CLIENT_ID", &client_id)?;
        let tenant_id = required("AZURE_TENANT_ID")?;
        check_tenant(&tenant_id)?;
        let token_file = PathBuf::from(required("AZURE_FEDERATED_TOKEN_FILE")?);
        let authority_host = match lookup("AZURE_AUTHORITY_HOST").map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => v,
            _ => DEFAULT_AUTHORITY_HOST.to_string(),
        };
        check_authority(&authority_host)?;
        Ok(WorkloadIdentityConfig {
            client_id,
            tenant_id,
            token_file,
            authority_host: authority_host.trim_end_matches('/').to_string(),
        })
    }
}

/// A client id is a GUID.
pub(crate) fn check_guid(variable: &'static str, value: &str) -> Result<()> {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Config {
            variable,
            problem: format!("is {value:?}, not a GUID"),
            fix: "use the identity's client (application) id, e.g. from `az identity show --query clientId`".into(),
        })
    }
}

/// A tenant is a GUID or a domain name.
pub(crate) fn check_tenant(value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Config {
            variable: "AZURE_TENANT_ID",
            problem: format!("is {value:?}, not a tenant id or domain"),
            fix: "use the directory (tenant) id, e.g. from `az account show --query tenantId`"
                .into(),
        })
    }
}

pub(crate) fn check_authority(value: &str) -> Result<()> {
    let ok = value.starts_with("https://") || value.starts_with("http://");
    if ok && value.len() > "https://".len() {
        Ok(())
    } else {
        Err(IdentityError::Config {
            variable: "AZURE_AUTHORITY_HOST",
            problem: format!("is {value:?}, not a URL"),
            fix: "use the cloud's authority, e.g. https://login.microsoftonline.com".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<WorkloadIdentityConfig> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkloadIdentityConfig::from_lookup(|k| map.get(k).cloned())
    }

    const CLIENT: (&str, &str) = ("AZURE_CLIENT_ID", "00000000-1111-2222-3333-444444444444");
    const TENANT: (&str, &str) = ("AZURE_TENANT_ID", "contoso.onmicrosoft.com");
    const FILE: (&str, &str) = (
        "AZURE_FEDERATED_TOKEN_FILE",
        "/var/run/secrets/azure/wi/token/azure-identity-token",
    );

    #[test]
    fn every_missing_value_is_its_own_error_with_the_fix() {
        let ok = config(&[CLIENT, TENANT, FILE]).unwrap();
        assert_eq!(ok.authority_host, DEFAULT_AUTHORITY_HOST);
        for (missing, name) in [
            (0, "AZURE_CLIENT_ID"),
            (1, "AZURE_TENANT_ID"),
            (2, "AZURE_FEDERATED_TOKEN_FILE"),
        ] {
            let mut vars = vec![CLIENT, TENANT, FILE];
            vars.remove(missing);
            let e = config(&vars).unwrap_err();
            assert!(
                matches!(&e, IdentityError::Config { variable, .. } if *variable == name),
                "{e}"
            );
            assert!(e.to_string().contains("azure.workload.identity/use"), "{e}");
        }
        let e = config(&[("AZURE_CLIENT_ID", "my-app"), TENANT, FILE]).unwrap_err();
        assert!(e.to_string().contains("not a GUID"), "{e}");
        let host = config(&[
            CLIENT,
            TENANT,
            FILE,
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
        ])
        .unwrap();
        assert_eq!(host.authority_host, "https://login.microsoftonline.us");
        assert!(config(&[CLIENT, TENANT, FILE, ("AZURE_AUTHORITY_HOST", "login")]).is_err());
    }
}
