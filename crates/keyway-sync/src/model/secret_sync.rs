//! `SecretSync` (`secret-sync.x-k8s.io/v1alpha1`), the Secret Store extension's model: which
//! SecretProviderClass objects land in which keys of which Kubernetes Secret.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{FieldProblem, MetadataMap, Result, SyncError};
use crate::model::spec::SyncSpec;

/// The spec of a SecretSync.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secret-sync.x-k8s.io",
    version = "v1alpha1",
    kind = "SecretSync",
    plural = "secretsyncs",
    namespaced,
    status = "SecretSyncStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncSpec {
    /// The SecretProviderClass in the same namespace.
    pub secret_provider_class_name: String,
    /// The service account whose token is exchanged for Key Vault access.
    pub service_account_name: String,
    /// The Secret to write.
    pub secret_object: SecretObject,
    /// Any change of this value forces a resync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_synchronization: Option<String>,
    /// The controller meant to handle this SecretSync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sync_controller_name: Option<String>,
}

/// The Secret a SecretSync writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretObject {
    /// The Secret type (default `Opaque`).
    #[serde(rename = "type", default = "opaque")]
    pub type_: String,
    /// Which object goes to which key (at least one; target keys unique).
    pub data: Vec<SecretObjectData>,
    /// Labels for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations for the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

fn opaque() -> String {
    "Opaque".into()
}

/// One key of the Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretObjectData {
    /// The object's output name in the SecretProviderClass (alias, else name; `name/0` for
    /// version history).
    pub source_path: String,
    /// The key in the Secret.
    pub target_key: String,
}

/// The Secret types a SecretSync may write unless narrowed: data Secrets only. A type the API
/// server fills itself (`kubernetes.io/service-account-token`: a non-expiring token for any
/// service account named in an annotation) or that bootstraps nodes is never written, so the
/// right to create SecretSyncs is not the right to mint credentials.
pub const ALLOWED_SECRET_TYPES: [&str; 5] = [
    "Opaque",
    "kubernetes.io/tls",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
];

/// The label every Secret keyway writes carries (the Secret Store extension's); label and
/// annotation keys under it are the controller's own, refused in `spec.secretObject`.
pub const MANAGED_LABEL: &str = "secrets-store.sync.x-k8s.io";

/// The Secret type whose keys are fixed: `tls.crt` and `tls.key`.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// The two keys of a `kubernetes.io/tls` Secret.
pub const TLS_SECRET_KEYS: [&str; 2] = [
    keyway_cert::TLS_CERTIFICATE_KEY,
    keyway_cert::TLS_PRIVATE_KEY_KEY,
];

/// Annotations the API server acts on for some Secret types (a service-account token is filled
/// for the account they name): refused on any Secret a SecretSync writes.
pub const RESERVED_SECRET_ANNOTATIONS: [&str; 2] = [
    "kubernetes.io/service-account.name",
    "kubernetes.io/service-account.uid",
];

impl SecretObject {
    /// Checks the Secret's type against `allowed` (at most [`ALLOWED_SECRET_TYPES`]; pass a
    /// narrower list to allow less) and refuses the annotations the API server reserves, naming
    /// the field — before anything is written.
    pub fn check_type(&self, allowed: &[&str]) -> Result<()> {
        let permitted = |t: &str| allowed.contains(&t) && ALLOWED_SECRET_TYPES.contains(&t);
        if !permitted(&self.type_) {
            let list: Vec<&str> = allowed
                .iter()
                .copied()
                .filter(|t| ALLOWED_SECRET_TYPES.contains(t))
                .collect();
            return Err(SyncError::invalid(
                "spec.secretObject.type",
                FieldProblem::SecretTypeNotAllowed {
                    secret_type: self.type_.clone(),
                    allowed: list.into_iter().map(str::to_string).collect(),
                },
            ));
        }
        if let Some(key) = self
            .annotations
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| RESERVED_SECRET_ANNOTATIONS.contains(&k.as_str()))
        {
            return Err(SyncError::invalid(
                "spec.secretObject.annotations",
                FieldProblem::ApiServerAnnotation { key: key.clone() },
            ));
        }
        Ok(())
    }

    /// Refuses label and annotation keys under [`MANAGED_LABEL`], which the controller keeps
    /// for itself (labels first), naming the field.
    pub fn check_metadata(&self) -> Result<()> {
        for (field, map, keys) in [
            ("labels", MetadataMap::Labels, &self.labels),
            ("annotations", MetadataMap::Annotations, &self.annotations),
        ] {
            if let Some(key) = keys
                .iter()
                .flatten()
                .map(|(k, _)| k)
                .find(|k| k.starts_with(MANAGED_LABEL))
            {
                return Err(SyncError::invalid(
                    format!("spec.secretObject.{field}"),
                    FieldProblem::ReservedKey {
                        map,
                        key: key.clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// The keys a Secret of this type must hold: a `kubernetes.io/tls` Secret maps exactly
    /// `tls.crt` and `tls.key` (what the API server requires of such a Secret); other types
    /// take any keys.
    pub fn check_secret_keys(&self) -> Result<()> {
        if self.type_ != TLS_SECRET_TYPE {
            return Ok(());
        }
        if let Some((i, item)) = self
            .data
            .iter()
            .enumerate()
            .find(|(_, d)| !TLS_SECRET_KEYS.contains(&d.target_key.as_str()))
        {
            return Err(SyncError::invalid(
                format!("spec.secretObject.data[{i}].targetKey"),
                FieldProblem::TlsKeyNotAllowed {
                    key: item.target_key.clone(),
                },
            ));
        }
        if let Some(missing) = TLS_SECRET_KEYS
            .iter()
            .find(|k| !self.data.iter().any(|d| d.target_key == **k))
        {
            return Err(SyncError::invalid(
                "spec.secretObject.data",
                FieldProblem::TlsKeyMissing { missing },
            ));
        }
        Ok(())
    }

    /// Every rule of the Secret itself, in this order: its type ([`Self::check_type`], against
    /// `allowed`), its labels and annotations ([`Self::check_metadata`]) and the keys its type
    /// requires ([`Self::check_secret_keys`]). What a Secret sink checks before it writes.
    pub fn check(&self, allowed: &[&str]) -> Result<()> {
        self.check_type(allowed)?;
        self.check_metadata()?;
        self.check_secret_keys()
    }
}

/// Where a SecretSync's data is written, for the rules that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncTarget<'a> {
    /// A Kubernetes Secret (the controller, `keyway sync --to-kubernetes`) whose type must be
    /// one of `allowed_types` (at most [`ALLOWED_SECRET_TYPES`]) and whose keys must be what
    /// its type requires ([`SecretObject::check_secret_keys`]).
    Secret {
        /// The Secret types allowed.
        allowed_types: &'a [&'a str],
    },
    /// Files in a directory (`keyway sync --to-dir`): the type must be one of
    /// [`ALLOWED_SECRET_TYPES`], and each `targetKey` a name the directory sink writes
    /// ([`crate::DirectorySink::check_name`]: not `..data`). A type's own keys are a Secret's
    /// rule, not a directory's: a `kubernetes.io/tls` SecretSync may write `tls.crt` alone.
    Directory,
}

/// The pattern the SecretSync CRD (`secretsyncs.secret-sync.x-k8s.io`, as shipped in `crds/`)
/// gives `spec.secretObject.data[*].sourcePath` and `targetKey`, both at most 253 long: an API
/// server refuses a SecretSync whose keys do not match, so [`SecretSyncSpec::mapping`] checks
/// `targetKey` with it too, and a file the CLI reads or a manifest `cluster render` writes fails
/// the same way.
pub const SECRET_SYNC_DATA_PATTERN: &str =
    r"^[A-Za-z0-9.]([-A-Za-z0-9]+([-._a-zA-Z0-9]?[A-Za-z0-9])*)?(\/([0-9]+))*$";

/// Whether `value` is a `sourcePath` or `targetKey` the SecretSync CRD admits
/// ([`SECRET_SYNC_DATA_PATTERN`], at most 253 long).
pub fn in_secret_sync_pattern(value: &str) -> bool {
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        // A constant, compiled by this module's tests: cannot fail at run time.
        regex::Regex::new(SECRET_SYNC_DATA_PATTERN).expect("the CRD's pattern compiles")
    });
    (1..=MAX_SECRET_KEY_LEN).contains(&value.len()) && PATTERN.is_match(value)
}

/// The longest key a Kubernetes Secret's `data` accepts.
pub const MAX_SECRET_KEY_LEN: usize = 253;

/// Checks that `key` can be a key of a Kubernetes Secret's `data` (and so a file name in a
/// directory, never a path): 1 to 253 of `a-z`, `A-Z`, `0-9`, `-`, `_`, `.`, and not `.` or
/// `..` — what the API server accepts. `path` names the field in the error
/// (`spec.secretObject.data[1].targetKey`).
pub fn validate_secret_key(key: &str, path: &str) -> Result<()> {
    let problem = if key.is_empty() {
        FieldProblem::Required { hint: "" }
    } else if key.len() > MAX_SECRET_KEY_LEN {
        FieldProblem::SecretKeyTooLong {
            length: key.chars().count(),
        }
    } else if key == "." || key == ".." {
        FieldProblem::NotASecretKey {
            key: key.to_string(),
            character: None,
        }
    } else if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        FieldProblem::NotASecretKey {
            key: key.to_string(),
            character: Some(bad),
        }
    } else {
        return Ok(());
    };
    Err(SyncError::invalid(path, problem))
}

impl SecretSyncSpec {
    /// The whole check of `spec.secretObject.data`, the one every caller makes (the CLI, the
    /// controller through [`crate::Remap::for_secret_sync`], the renderers): at least one item,
    /// every `targetKey` a Kubernetes Secret key ([`validate_secret_key`]) that the SecretSync
    /// CRD's pattern admits ([`SECRET_SYNC_DATA_PATTERN`]), used once, every `sourcePath` given
    /// and — when `spec` is known — a path the SecretProviderClass writes
    /// ([`SyncSpec::outputs`]). (The CRD gives `sourcePath` the same pattern, which an alias in a
    /// subdirectory, `app/password`, does not match; that check is not made here yet.) Returns the `(sourcePath, targetKey)` pairs in order; errors
    /// name the field (`spec.secretObject.data[1].targetKey`) and say what is allowed.
    pub fn mapping(&self, spec: Option<&SyncSpec>) -> Result<Vec<(String, String)>> {
        let data = &self.secret_object.data;
        if data.is_empty() {
            return Err(SyncError::invalid(
                "spec.secretObject.data",
                FieldProblem::NoData,
            ));
        }
        let outputs = spec.map(SyncSpec::outputs);
        let mut targets = std::collections::BTreeSet::new();
        let mut mapping = Vec::with_capacity(data.len());
        for (i, item) in data.iter().enumerate() {
            let at = format!("spec.secretObject.data[{i}]");
            validate_secret_key(&item.target_key, &format!("{at}.targetKey"))?;
            if !in_secret_sync_pattern(&item.target_key) {
                return Err(SyncError::invalid(
                    format!("{at}.targetKey"),
                    FieldProblem::NotInCrdPattern {
                        value: item.target_key.clone(),
                    },
                ));
            }
            if !targets.insert(item.target_key.as_str()) {
                return Err(SyncError::invalid(
                    format!("{at}.targetKey"),
                    FieldProblem::DuplicateTargetKey {
                        key: item.target_key.clone(),
                    },
                ));
            }
            if item.source_path.is_empty() {
                return Err(SyncError::invalid(
                    format!("{at}.sourcePath"),
                    FieldProblem::Required {
                        hint: ": an object's output in the SecretProviderClass",
                    },
                ));
            }
            // The CRD's pattern holds for sourcePath too: a real API server refuses
            // `app/password` (an alias naming a file in a subdirectory).
            if !in_secret_sync_pattern(&item.source_path) {
                return Err(SyncError::invalid(
                    format!("{at}.sourcePath"),
                    FieldProblem::NotInCrdPattern {
                        value: item.source_path.clone(),
                    },
                ));
            }
            if let Some(outputs) = &outputs
                && !outputs.contains(&item.source_path)
            {
                return Err(SyncError::invalid(
                    format!("{at}.sourcePath"),
                    FieldProblem::UnknownSourcePath {
                        source_path: item.source_path.clone(),
                        outputs: outputs.clone(),
                    },
                ));
            }
            mapping.push((item.source_path.clone(), item.target_key.clone()));
        }
        Ok(mapping)
    }

    /// That `spec.secretProviderClassName` is `class_name`, the name of the SecretProviderClass
    /// given with this SecretSync: in a cluster a SecretSync reads the class it names, so one
    /// used with another class (`keyway sync --provider-class`) would not do there what it does
    /// here. (The controller looks the class up by this name, so it cannot mismatch there.)
    pub fn check_provider_class(&self, class_name: &str) -> Result<()> {
        if self.secret_provider_class_name == class_name {
            return Ok(());
        }
        Err(SyncError::invalid(
            "spec.secretProviderClassName",
            FieldProblem::ProviderClassMismatch {
                named: self.secret_provider_class_name.clone(),
                given: class_name.to_string(),
            },
        ))
    }

    /// Every rule of a SecretSync, checked against its SecretProviderClass's `spec` for
    /// `target` — the one check the CLI, the controller and `cluster render` make, in one
    /// order, so they refuse the same SecretSyncs with the same field path: the Secret's type
    /// ([`SecretObject::check_type`]), its labels and annotations
    /// ([`SecretObject::check_metadata`]), the mapping ([`Self::mapping`]), then what the
    /// target requires (a Secret: the keys of its type; a directory: file names). Returns the
    /// `(sourcePath, targetKey)` pairs in order.
    pub fn validate(
        &self,
        spec: &SyncSpec,
        target: SyncTarget<'_>,
    ) -> Result<Vec<(String, String)>> {
        let object = &self.secret_object;
        match target {
            SyncTarget::Secret { allowed_types } => object.check_type(allowed_types)?,
            SyncTarget::Directory => object.check_type(&ALLOWED_SECRET_TYPES)?,
        }
        object.check_metadata()?;
        let mapping = self.mapping(Some(spec))?;
        match target {
            SyncTarget::Secret { .. } => object.check_secret_keys()?,
            SyncTarget::Directory => {
                for (i, (_, target_key)) in mapping.iter().enumerate() {
                    crate::sink::DirectorySink::check_name(target_key).map_err(|e| {
                        SyncError::invalid(
                            format!("spec.secretObject.data[{i}].targetKey"),
                            FieldProblem::NotAFileName(e),
                        )
                    })?;
                }
            }
        }
        Ok(mapping)
    }
}

/// What the controller reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncStatus {
    /// A hash of what was last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_hash: Option<String>,
    /// When the last successful sync finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_sync_time: Option<Time>,
    /// Conditions in the Secret Store extension's vocabulary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::objects::KeyVaultObject;

    fn sync(items: &[(&str, &str)]) -> SecretSyncSpec {
        SecretSyncSpec {
            secret_object: SecretObject {
                type_: "Opaque".into(),
                data: items
                    .iter()
                    .map(|(source, target)| SecretObjectData {
                        source_path: source.to_string(),
                        target_key: target.to_string(),
                    })
                    .collect(),
                ..SecretObject::default()
            },
            ..SecretSyncSpec::default()
        }
    }

    #[test]
    fn secret_keys_are_what_the_api_server_accepts() {
        for good in [
            "a",
            "tls.crt",
            ".dotfile",
            "..data",
            "A-b_c.9",
            &"k".repeat(253),
        ] {
            validate_secret_key(good, "k").unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/b",
            "a\\b",
            "a b",
            "ключ",
            "a\0",
            &"k".repeat(254),
        ] {
            let e = validate_secret_key(bad, "spec.secretObject.data[3].targetKey").unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("spec.secretObject.data[3].targetKey: "),
                "{e}"
            );
        }
        let e = validate_secret_key("../x", "p").unwrap_err().to_string();
        assert!(
            e.contains("'/' is not allowed") && e.contains("a-z, A-Z, 0-9"),
            "{e}"
        );
    }

    #[test]
    fn the_mapping_check_names_the_item() {
        let spec = SyncSpec::new(
            "https://v.vault.azure.net",
            vec![
                KeyVaultObject::secret("db"),
                KeyVaultObject {
                    version_history: Some(2),
                    ..KeyVaultObject::secret("hist")
                },
            ],
        )
        .unwrap();
        let pairs = sync(&[("db", "password"), ("db", "copy"), ("hist/1", "old")])
            .mapping(Some(&spec))
            .unwrap();
        assert_eq!(pairs.len(), 3);
        let err = |items: &[(&str, &str)], spec: Option<&SyncSpec>| {
            sync(items).mapping(spec).unwrap_err().to_string()
        };
        assert!(err(&[], None).starts_with("spec.secretObject.data: at least one"));
        assert!(
            err(&[("db", "ok"), ("db", "/abs")], None)
                .starts_with("spec.secretObject.data[1].targetKey: ")
        );
        assert!(
            err(&[("db", "k"), ("db", "k")], Some(&spec))
                .starts_with("spec.secretObject.data[1].targetKey: \"k\" is used")
        );
        assert!(
            err(&[("nope", "k")], Some(&spec)).starts_with("spec.secretObject.data[0].sourcePath")
        );
        assert!(err(&[("", "k")], None).starts_with("spec.secretObject.data[0].sourcePath"));
        // Without the SecretProviderClass, sourcePaths are not checked against it.
        sync(&[("nope", "k")]).mapping(None).unwrap();
    }

    /// The pattern is the CRD's own, and keys it refuses are refused before the API server
    /// would refuse the SecretSync.
    #[test]
    fn data_keys_follow_the_secretsync_crds_pattern() {
        let crd = crate::model::crds()
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some("secretsyncs.secret-sync.x-k8s.io"))
            .unwrap();
        let crd = serde_json::to_value(crd).unwrap();
        let item = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/\
                    secretObject/properties/data/items/properties";
        for field in ["sourcePath", "targetKey"] {
            let schema = &crd.pointer(&format!("{item}/{field}")).unwrap();
            assert_eq!(schema["pattern"], SECRET_SYNC_DATA_PATTERN, "{field}");
            assert_eq!(schema["maxLength"], MAX_SECRET_KEY_LEN, "{field}");
        }
        for good in [
            "a",
            "tls.crt",
            "db-password",
            "opcua-server.der",
            "name/0",
            "hist/12/3",
            ".dotfile",
            "a-",
        ] {
            assert!(in_secret_sync_pattern(good), "{good}");
        }
        for bad in [
            "", "a.der", "x_y.der", "..data", "conf/db", "a/", "a..b", "a_", "-a", "a b",
        ] {
            assert!(!in_secret_sync_pattern(bad), "{bad}");
        }
        assert!(!in_secret_sync_pattern(&"k".repeat(254)));
        let spec = SyncSpec::new(
            "https://v.vault.azure.net",
            vec![KeyVaultObject::secret("db")],
        )
        .unwrap();
        let e = sync(&[("db", "a.der")]).mapping(Some(&spec)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.secretObject.data[0].targetKey: \"a.der\" is refused by"),
            "{e}"
        );
    }

    /// A SecretSync used with a class it does not name is refused at its field, both names said.
    #[test]
    fn check_provider_class_refuses_another_class() {
        let mut ss = sync(&[("a", "a")]);
        ss.secret_provider_class_name = "web".into();
        assert!(ss.check_provider_class("web").is_ok());
        let err = ss.check_provider_class("app").unwrap_err();
        let SyncError::Invalid { path, problem } = &err else {
            panic!("{err}");
        };
        assert_eq!(path, "spec.secretProviderClassName");
        assert_eq!(
            problem,
            &FieldProblem::ProviderClassMismatch {
                named: "web".into(),
                given: "app".into()
            }
        );
        assert!(err.to_string().contains("\"web\"") && err.to_string().contains("\"app\""));
    }

    /// One check, one order for every caller; what differs is what the target itself needs.
    #[test]
    fn validate_checks_the_secretsync_then_what_the_target_needs() {
        let spec = SyncSpec::new(
            "https://v.vault.azure.net",
            vec![KeyVaultObject::secret("db"), KeyVaultObject::secret("cert")],
        )
        .unwrap();
        let secret = SyncTarget::Secret {
            allowed_types: &ALLOWED_SECRET_TYPES,
        };
        let refusal = |sync: &SecretSyncSpec, target| match sync.validate(&spec, target) {
            Err(SyncError::Invalid { path, problem }) => (path, problem),
            other => panic!("{other:?}"),
        };
        // The type before the mapping, for both targets: the same first error.
        let mut token = sync(&[("nope", "k")]);
        token.secret_object.type_ = "kubernetes.io/service-account-token".into();
        for target in [secret, SyncTarget::Directory] {
            let (path, problem) = refusal(&token, target);
            assert_eq!(path, "spec.secretObject.type");
            assert!(matches!(problem, FieldProblem::SecretTypeNotAllowed { .. }));
        }
        // A narrower allow-list refuses more.
        let mut tls = sync(&[("cert", "tls.crt")]);
        tls.secret_object.type_ = TLS_SECRET_TYPE.into();
        let (_, problem) = refusal(
            &tls,
            SyncTarget::Secret {
                allowed_types: &["Opaque"],
            },
        );
        assert!(matches!(problem, FieldProblem::SecretTypeNotAllowed { .. }));
        // A kubernetes.io/tls Secret needs both keys; files do not.
        let (path, problem) = refusal(&tls, secret);
        assert_eq!(path, "spec.secretObject.data");
        assert_eq!(problem, FieldProblem::TlsKeyMissing { missing: "tls.key" });
        assert_eq!(
            tls.validate(&spec, SyncTarget::Directory).unwrap(),
            [("cert".to_string(), "tls.crt".to_string())]
        );
        // `..data` is a Secret key, but neither the SecretSync CRD's pattern nor the directory
        // sink takes it: refused for both targets at the same field.
        let dotdata = sync(&[("db", "..data")]);
        for target in [secret, SyncTarget::Directory] {
            let (path, problem) = refusal(&dotdata, target);
            assert_eq!(path, "spec.secretObject.data[0].targetKey");
            assert!(matches!(problem, FieldProblem::NotInCrdPattern { .. }));
        }
        // Reserved keys name their map, which the controller's condition reason follows.
        let mut labelled = sync(&[("db", "k")]);
        labelled.secret_object.labels =
            Some(BTreeMap::from([(format!("{MANAGED_LABEL}/x"), "y".into())]));
        let (path, problem) = refusal(&labelled, secret);
        assert_eq!(path, "spec.secretObject.labels");
        assert!(matches!(
            problem,
            FieldProblem::ReservedKey {
                map: MetadataMap::Labels,
                ..
            }
        ));
    }
}
