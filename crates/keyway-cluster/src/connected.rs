//! What `az connectedk8s show` says about an Arc-enabled cluster's workload identity: whether
//! the OIDC issuer and workload identity are enabled, and the issuer URL.

use serde_json::Value;

use crate::error::{ClusterError, Field, Result};

/// The workload identity facts of a connected cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectedCluster {
    /// The cluster's name, when the output carries it.
    pub name: Option<String>,
    /// `oidcIssuerProfile.enabled`.
    pub oidc_issuer_enabled: Option<bool>,
    /// `oidcIssuerProfile.issuerUrl`: the issuer Azure hosts for the cluster.
    pub issuer_url: Option<String>,
    /// `oidcIssuerProfile.selfHostedIssuerUrl`: an issuer the cluster's owner hosts instead.
    pub self_hosted_issuer_url: Option<String>,
    /// `securityProfile.workloadIdentity.enabled`.
    pub workload_identity_enabled: Option<bool>,
}

impl ConnectedCluster {
    /// Reads `az connectedk8s show` JSON (the whole resource, or its `properties`).
    pub fn from_json(bytes: &[u8]) -> Result<ConnectedCluster> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ClusterError::invalid(
                Field::ConnectedCluster,
                format!(
                    "not JSON at line {} column {}: {e}; pass the output of `az connectedk8s show -n NAME -g GROUP`",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if !value.is_object() {
            return Err(ClusterError::invalid(
                Field::ConnectedCluster,
                "expected the JSON object `az connectedk8s show` prints",
            ));
        }
        let root = if value.get("oidcIssuerProfile").is_none() && value["properties"].is_object() {
            &value["properties"]
        } else {
            &value
        };
        let text = |v: &Value, field: &'static str| -> Result<Option<String>> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) if s.is_empty() => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(ClusterError::invalid(
                    Field::ConnectedClusterField(field),
                    format!("expected a string, found {other}"),
                )),
            }
        };
        let flag = |v: &Value, field: &'static str| -> Result<Option<bool>> {
            match v {
                Value::Null => Ok(None),
                Value::Bool(b) => Ok(Some(*b)),
                other => Err(ClusterError::invalid(
                    Field::ConnectedClusterField(field),
                    format!("expected true or false, found {other}"),
                )),
            }
        };
        let oidc = &root["oidcIssuerProfile"];
        Ok(ConnectedCluster {
            name: text(&value["name"], "name")?,
            oidc_issuer_enabled: flag(&oidc["enabled"], "oidcIssuerProfile.enabled")?,
            issuer_url: text(&oidc["issuerUrl"], "oidcIssuerProfile.issuerUrl")?,
            self_hosted_issuer_url: text(
                &oidc["selfHostedIssuerUrl"],
                "oidcIssuerProfile.selfHostedIssuerUrl",
            )?,
            workload_identity_enabled: flag(
                &root["securityProfile"]["workloadIdentity"]["enabled"],
                "securityProfile.workloadIdentity.enabled",
            )?,
        })
    }

    /// The issuer tokens must carry: the self-hosted one when set, else Azure's.
    pub fn effective_issuer(&self) -> Option<&str> {
        self.self_hosted_issuer_url
            .as_deref()
            .or(self.issuer_url.as_deref())
    }
}
