//! `SyncSpec`: what to sync from where, validated once. Built from a SecretProviderClass (and
//! optionally a SecretSync), or directly in code without any Kubernetes types.

use crate::error::{FieldProblem, Result, SyncError};
use crate::model::objects::{
    KeyVaultObject, check_encoding, check_format, check_output_name, parse_objects,
};
use crate::model::secret_provider_class::SecretProviderClass;

/// The Azure clouds a SecretProviderClass can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Cloud {
    /// `AzurePublicCloud` (the default).
    Public,
    /// `AzureChinaCloud`.
    China,
    /// `AzureUSGovernmentCloud`.
    UsGovernment,
}

impl Cloud {
    /// The Key Vault DNS suffix.
    pub fn vault_suffix(self) -> &'static str {
        match self {
            Cloud::Public => "vault.azure.net",
            Cloud::China => "vault.azure.cn",
            Cloud::UsGovernment => "vault.usgovcloudapi.net",
        }
    }

    /// The Entra authority host.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com",
            Cloud::China => "https://login.chinacloudapi.cn",
            Cloud::UsGovernment => "https://login.microsoftonline.us",
        }
    }
}

/// A validated description of one sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// The vault's name (from `keyvaultName`), if known.
    pub vault_name: Option<String>,
    /// The vault URL, e.g. `https://myvault.vault.azure.net`.
    pub vault_url: String,
    /// `tenantID` (or `tenantId`).
    pub tenant_id: Option<String>,
    /// `clientID`: the workload identity's client id.
    pub client_id: Option<String>,
    /// `cloudName`.
    pub cloud: Cloud,
    /// The objects, in order.
    pub objects: Vec<KeyVaultObject>,
}

impl SyncSpec {
    /// A spec built in code: a vault URL and objects, validated by a SecretProviderClass's rules
    /// where they apply to typed objects: names, outputs that are plain relative paths
    /// ([`crate::model::objects::check_output_name`]), `pfx` and encodings for secrets only
    /// ([`crate::model::objects::check_format`], [`crate::model::objects::check_encoding`]),
    /// file modes up to `0o777`, unique outputs.
    pub fn new(vault_url: impl Into<String>, objects: Vec<KeyVaultObject>) -> Result<SyncSpec> {
        let vault_url = vault_url.into();
        if !vault_url.starts_with("https://") {
            return Err(SyncError::invalid(
                "vault_url",
                format!("{vault_url:?} must be an https URL"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, o) in objects.iter().enumerate() {
            if o.name.is_empty()
                || !o
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(SyncError::invalid(
                    format!("objects[{i}].name"),
                    format!("{:?} is not a Key Vault object name", o.name),
                ));
            }
            if let Some(alias) = &o.alias
                && let Err(problem) = check_output_name(alias)
            {
                return Err(SyncError::invalid(format!("objects[{i}].alias"), problem));
            }
            check_format(o.object_type, o.format)
                .map_err(|problem| SyncError::invalid(format!("objects[{i}].format"), problem))?;
            check_encoding(o.object_type, o.encoding)
                .map_err(|problem| SyncError::invalid(format!("objects[{i}].encoding"), problem))?;
            if let Some(mode) = o.file_permission.filter(|&mode| mode > 0o777) {
                return Err(SyncError::invalid(
                    format!("objects[{i}].file_permission"),
                    FieldProblem::FileModeTooLarge { mode },
                ));
            }
            if !seen.insert(o.output_name().to_ascii_lowercase()) {
                return Err(SyncError::invalid(
                    format!("objects[{i}]"),
                    format!("writes `{}` twice", o.output_name()),
                ));
            }
        }
        Ok(SyncSpec {
            vault_name: None,
            vault_url: vault_url.trim_end_matches('/').to_string(),
            tenant_id: None,
            client_id: None,
            cloud: Cloud::Public,
            objects,
        })
    }

    /// The spec of an Azure SecretProviderClass, with the provider's validation rules.
    pub fn from_provider_class(spc: &SecretProviderClass) -> Result<SyncSpec> {
        let spec = &spc.spec;
        if let Some(provider) = spec.provider.as_deref()
            && !provider.eq_ignore_ascii_case("azure")
        {
            return Err(SyncError::invalid(
                "spec.provider",
                format!("{provider:?} is not azure"),
            ));
        }
        let param = |key: &str| {
            spec.parameters
                .get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let vault_name = param("keyvaultName").ok_or_else(|| {
            SyncError::invalid(
                "spec.parameters.keyvaultName",
                FieldProblem::Required { hint: "" },
            )
        })?;
        if let Err(problem) = crate::model::vault_name::check_vault_name(&vault_name) {
            return Err(SyncError::invalid(
                "spec.parameters.keyvaultName",
                FieldProblem::VaultName {
                    name: vault_name,
                    problem,
                },
            ));
        }
        let true_flags: Vec<&str> = [
            "usePodIdentity",
            "useVMManagedIdentity",
            "useAzureTokenProxy",
        ]
        .into_iter()
        .filter(|k| param(k).is_some_and(|v| v.eq_ignore_ascii_case("true")))
        .collect();
        if true_flags.len() > 1 {
            return Err(SyncError::invalid(
                "spec.parameters",
                format!(
                    "at most one of usePodIdentity, useVMManagedIdentity, useAzureTokenProxy may be true, not {}",
                    true_flags.join(" and ")
                ),
            ));
        }
        let cloud = match param("cloudName")
            .map(|c| c.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("azurepubliccloud") => Cloud::Public,
            Some("azurechinacloud") => Cloud::China,
            Some("azureusgovernmentcloud") => Cloud::UsGovernment,
            Some(other) => {
                return Err(SyncError::invalid(
                    "spec.parameters.cloudName",
                    format!(
                        "{other:?} is not one of AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud"
                    ),
                ));
            }
        };
        let objects = parse_objects(
            spec.parameters
                .get("objects")
                .map(String::as_str)
                .unwrap_or_default(),
            "spec.parameters.objects",
        )?;
        if objects.is_empty() {
            // The provider mounts nothing and says nothing; a sync of nothing is a mistake.
            return Err(SyncError::invalid(
                "spec.parameters.objects",
                "names no object: give `array:` items such as `- |` + `objectName: NAME` + \
                 `objectType: secret`",
            ));
        }
        Ok(SyncSpec {
            vault_url: format!(
                "https://{}.{}",
                vault_name.to_ascii_lowercase(),
                cloud.vault_suffix()
            ),
            vault_name: Some(vault_name),
            tenant_id: param("tenantID").or_else(|| param("tenantId")),
            client_id: param("clientID").or_else(|| param("clientId")),
            cloud,
            objects,
        })
    }

    /// Only the objects whose outputs one of `source_paths` names (a SecretSync's mapping):
    /// what nothing maps is neither fetched nor reported. An object with version history is
    /// kept when any of its `output/i` paths is named.
    pub fn restricted_to<'a>(&self, source_paths: impl IntoIterator<Item = &'a str>) -> SyncSpec {
        let paths: Vec<&str> = source_paths.into_iter().collect();
        let named = |o: &KeyVaultObject| {
            let output = o.output_name();
            paths.iter().any(|p| {
                *p == output
                    || (o.history().is_some()
                        && p.strip_prefix(output)
                            .is_some_and(|rest| rest.starts_with('/')))
            })
        };
        SyncSpec {
            objects: self.objects.iter().filter(|o| named(o)).cloned().collect(),
            ..self.clone()
        }
    }

    /// Every path the spec writes, in spec order: each object's output name, and for an object
    /// with `objectVersionHistory: N` its `output/0` … `output/N-1` instead. A SecretSync's
    /// `sourcePath` must be one of these.
    pub fn outputs(&self) -> Vec<String> {
        self.objects
            .iter()
            .flat_map(|o| match o.history() {
                Some(n) => (0..n).map(|i| format!("{}/{i}", o.output_name())).collect(),
                None => vec![o.output_name().to_string()],
            })
            .collect()
    }

    /// The same spec against another vault URL (the emulator, a private endpoint). An error
    /// names the parameter, `vault_url`; a caller that took it from a flag or an option names
    /// that.
    pub fn with_vault_url(mut self, vault_url: &str) -> Result<SyncSpec> {
        if !vault_url.starts_with("https://") {
            return Err(SyncError::invalid(
                "vault_url",
                format!("{vault_url:?} must be an https URL"),
            ));
        }
        self.vault_url = vault_url.trim_end_matches('/').to_string();
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::objects::{ObjectFormat, ObjectType};

    /// A spec built in code is held to the SecretProviderClass's rules for the same options.
    #[test]
    fn a_spec_in_code_keeps_the_provider_class_rules() {
        // (object, what the error starts with)
        for (object, start) in [
            (
                KeyVaultObject {
                    alias: Some("a..b".into()),
                    ..KeyVaultObject::secret("a")
                },
                "objects[0].alias: must be a plain relative path",
            ),
            (
                KeyVaultObject {
                    object_type: ObjectType::Key,
                    encoding: Some(keyway_cert::Encoding::Hex),
                    ..KeyVaultObject::secret("k")
                },
                "objects[0].encoding: is only allowed with objectType secret",
            ),
            (
                KeyVaultObject {
                    object_type: ObjectType::Cert,
                    format: Some(ObjectFormat::Pfx),
                    ..KeyVaultObject::secret("c")
                },
                "objects[0].format: pfx is only allowed",
            ),
            (
                KeyVaultObject {
                    file_permission: Some(0o1777),
                    ..KeyVaultObject::secret("m")
                },
                "objects[0].file_permission: 0o1777",
            ),
        ] {
            let e = SyncSpec::new("https://v.vault.azure.net", vec![object])
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(start), "{e}");
        }
        SyncSpec::new(
            "https://v.vault.azure.net",
            vec![KeyVaultObject {
                format: Some(ObjectFormat::Pfx),
                encoding: Some(keyway_cert::Encoding::Base64),
                file_permission: Some(0o640),
                ..KeyVaultObject::secret("ok")
            }],
        )
        .unwrap();
    }
}
