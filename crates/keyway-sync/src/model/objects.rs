//! `spec.parameters.objects` of an Azure SecretProviderClass: a YAML string holding `array:` of
//! YAML strings, each one object. Parsed into typed objects with the provider's validation
//! rules; every error names its field path.

use std::collections::BTreeSet;
use std::fmt;

use keyway_cert::Encoding;
use serde::{Deserialize, Serialize};

use crate::error::{FieldProblem, Result, SyncError};

/// What to fetch for an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// A secret (also a certificate's backing secret: key and chain).
    Secret,
    /// A key: its public key as PEM.
    Key,
    /// A certificate: the leaf as PEM.
    Cert,
}

/// The output format of a certificate-backed secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectFormat {
    /// PEM: PKCS#8 keys then the chain.
    Pem,
    /// The PKCS#12 as Key Vault holds it.
    Pfx,
}

/// One object to sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVaultObject {
    /// `objectName`: the Key Vault object.
    pub name: String,
    /// `objectAlias`: the file (or source path) name; the object name when absent.
    pub alias: Option<String>,
    /// `objectVersion`: a pinned version; `None` for the newest.
    pub version: Option<String>,
    /// `objectVersionHistory`: the N newest enabled versions (from the pinned `version` when
    /// there is one, older ones following), at `<name>/0` … `<name>/N-1`. A history of 1 or
    /// less is a single file `<name>`, as the provider writes it; see [`Self::history`].
    pub version_history: Option<u32>,
    /// `objectType`.
    pub object_type: ObjectType,
    /// `objectFormat` (secrets only).
    pub format: Option<ObjectFormat>,
    /// `objectEncoding` (secrets only).
    pub encoding: Option<Encoding>,
    /// `filePermission`, e.g. `0o644`.
    pub file_permission: Option<u32>,
}

impl KeyVaultObject {
    /// A plain secret object for `name`.
    pub fn secret(name: impl Into<String>) -> KeyVaultObject {
        KeyVaultObject {
            name: name.into(),
            alias: None,
            version: None,
            version_history: None,
            object_type: ObjectType::Secret,
            format: None,
            encoding: None,
            file_permission: None,
        }
    }

    /// The number of versions written as a history (`<name>/i`), when more than one: a
    /// history of 1 or less is a single file `<name>`, as the provider writes it.
    pub fn history(&self) -> Option<u32> {
        self.version_history.filter(|&n| n > 1)
    }

    /// The output name: the alias, else the object name.
    pub fn output_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// The rule of `objectFormat`, whoever built the object: `pfx` only with objectType secret.
pub fn check_format(
    object_type: ObjectType,
    format: Option<ObjectFormat>,
) -> std::result::Result<(), FieldProblem> {
    if format == Some(ObjectFormat::Pfx) && object_type != ObjectType::Secret {
        return Err(FieldProblem::PfxNeedsSecret { object_type });
    }
    Ok(())
}

/// The rule of `objectEncoding`, whoever built the object: only with objectType secret (a key
/// or certificate is read as Key Vault returns it).
pub fn check_encoding(
    object_type: ObjectType,
    encoding: Option<Encoding>,
) -> std::result::Result<(), FieldProblem> {
    if encoding.is_some() && object_type != ObjectType::Secret {
        return Err(FieldProblem::EncodingNeedsSecret { object_type });
    }
    Ok(())
}

/// The rule of an output name (`objectAlias`, else `objectName`), whoever built the object (a
/// SecretProviderClass or [`crate::SyncSpec::new`]): a plain relative path inside the
/// directory, by the directory sink's own rule ([`crate::DirectorySink::check_name`]), and
/// without `..` anywhere, not even inside a component (`a..b`), as the Secrets Store CSI Azure
/// provider refuses.
pub fn check_output_name(output: &str) -> std::result::Result<(), FieldProblem> {
    crate::sink::DirectorySink::check_name(output).map_err(FieldProblem::NotARelativePath)?;
    if output.contains("..") {
        return Err(FieldProblem::DotDotInName(output.to_string()));
    }
    Ok(())
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectType::Secret => "secret",
            ObjectType::Key => "key",
            ObjectType::Cert => "cert",
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct ObjectsDocument {
    #[serde(default)]
    array: Vec<Item>,
}

/// One entry of `array:`: as the provider writes it, a YAML string holding one object; keyway
/// also takes the object inline.
#[derive(Debug)]
enum Item {
    Text(String),
    Object(RawObject),
    Other,
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML string holding one object")
            }
            fn visit_str<E>(self, text: &str) -> Result<Item, E> {
                Ok(Item::Text(text.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
                RawObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Item::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Item::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
                Ok(Item::Other)
            }
            fn visit_unit<E>(self) -> Result<Item, E> {
                Ok(Item::Other)
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// An object's fields as the provider's Go struct reads them: strings holding the scalar's
/// text exactly (`objectVersion: 1.10` is `1.10`, `filePermission: 0644` is `0644`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    object_name: Option<String>,
    object_alias: Option<String>,
    object_version: Option<String>,
    object_version_history: Option<String>,
    object_type: Option<String>,
    object_format: Option<String>,
    object_encoding: Option<String>,
    file_permission: Option<String>,
}

/// A field's text, trimmed as the provider trims it; blank is unset.
fn text(value: &Option<String>) -> Option<String> {
    let s = value.as_deref()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Parses `spec.parameters.objects`. `base` is the field path prefix for errors.
pub fn parse_objects(yaml: &str, base: &str) -> Result<Vec<KeyVaultObject>> {
    let document: ObjectsDocument = if yaml.trim().is_empty() {
        ObjectsDocument::default()
    } else {
        crate::yaml::from_str(yaml).map_err(|e| {
            SyncError::invalid(
                base,
                format!("is not YAML with an `array:` of objects: {e}"),
            )
        })?
    };
    let mut objects = Vec::new();
    let mut outputs = BTreeSet::new();
    for (i, item) in document.array.into_iter().enumerate() {
        let path = format!("{base}[{i}]");
        let raw: RawObject = match item {
            Item::Text(inner) => crate::yaml::from_str(&inner)
                .map_err(|e| SyncError::invalid(&path, format!("is not a YAML object: {e}")))?,
            Item::Object(raw) => raw,
            Item::Other => {
                return Err(SyncError::invalid(
                    &path,
                    "must be a YAML string holding one object",
                ));
            }
        };
        let object = validate(&raw, &path)?;
        let output = object.output_name().to_ascii_lowercase();
        if !outputs.insert(output) {
            return Err(SyncError::invalid(
                &path,
                format!(
                    "writes `{}`, which another object writes too; give one an objectAlias",
                    object.output_name()
                ),
            ));
        }
        objects.push(object);
    }
    Ok(objects)
}

fn validate(raw: &RawObject, path: &str) -> Result<KeyVaultObject> {
    let field = |name: &str| format!("{path}.{name}");
    let name = text(&raw.object_name).ok_or_else(|| {
        SyncError::invalid(field("objectName"), FieldProblem::Required { hint: "" })
    })?;
    // Case-sensitive, as the provider's fetch is: `Secret` fails its mount.
    let object_type = match text(&raw.object_type).as_deref() {
        Some("secret") => ObjectType::Secret,
        Some("key") => ObjectType::Key,
        Some("cert") => ObjectType::Cert,
        Some(other) => {
            let hint = match other.to_ascii_lowercase().as_str() {
                lower @ ("secret" | "key" | "cert") => {
                    format!(" (types are lowercase, as the provider reads them: write {lower})")
                }
                _ => String::new(),
            };
            return Err(SyncError::invalid(
                field("objectType"),
                format!("{other:?} is not one of secret, key, cert{hint}"),
            ));
        }
        None => {
            return Err(SyncError::invalid(
                field("objectType"),
                FieldProblem::Required {
                    hint: ": one of secret, key, cert",
                },
            ));
        }
    };
    let format = match text(&raw.object_format)
        .map(|t| t.to_ascii_lowercase())
        .as_deref()
    {
        None => None,
        Some("pem") => Some(ObjectFormat::Pem),
        Some("pfx") => Some(ObjectFormat::Pfx),
        Some(other) => {
            return Err(SyncError::invalid(
                field("objectFormat"),
                format!("{other:?} is not one of pem, pfx"),
            ));
        }
    };
    check_format(object_type, format)
        .map_err(|problem| SyncError::invalid(field("objectFormat"), problem))?;
    let encoding = match text(&raw.object_encoding) {
        None => None,
        Some(given) => match given.to_ascii_lowercase().as_str() {
            "utf-8" => Some(Encoding::Utf8),
            "hex" => Some(Encoding::Hex),
            "base64" => Some(Encoding::Base64),
            _ => {
                return Err(SyncError::invalid(
                    field("objectEncoding"),
                    format!(
                        "{given:?} is not one of utf-8, hex, base64 (any letter case; \
                         the provider refuses other spellings such as utf8)"
                    ),
                ));
            }
        },
    };
    check_encoding(object_type, encoding)
        .map_err(|problem| SyncError::invalid(field("objectEncoding"), problem))?;
    let alias = text(&raw.object_alias);
    // The output name becomes a file name: a plain relative path inside the directory, by the
    // directory sink's own rule.
    let (output, output_field) = match &alias {
        Some(alias) => (alias, "objectAlias"),
        None => (&name, "objectName"),
    };
    check_output_name(output)
        .map_err(|problem| SyncError::invalid(field(output_field), problem))?;
    let version = text(&raw.object_version).filter(|v| !v.eq_ignore_ascii_case("latest"));
    // As the provider: 1 or less (0, negative) is a single file `<name>`; more is a history
    // at `<name>/0` …, starting at the pinned objectVersion when there is one.
    let version_history = match text(&raw.object_version_history) {
        None => None,
        Some(n) => match n.parse::<i32>() {
            Ok(n) if n <= 1 => None,
            Ok(n) => Some(n.unsigned_abs()),
            Err(_) => {
                return Err(SyncError::invalid(
                    field("objectVersionHistory"),
                    format!("{n:?} is not an integer (a 32-bit count of versions)"),
                ));
            }
        },
    };
    let file_permission = match text(&raw.file_permission) {
        None => None,
        // Octal digits as Go's strconv.ParseInt(s, 8, 32) reads them: `0644`, `644`; no `0o`.
        Some(p) => match u32::from_str_radix(&p, 8) {
            Ok(mode) if mode <= 0o777 => Some(mode),
            _ => {
                return Err(SyncError::invalid(
                    field("filePermission"),
                    format!("{p:?} is not an octal file mode such as 0644"),
                ));
            }
        },
    };
    Ok(KeyVaultObject {
        name,
        alias,
        version,
        version_history,
        object_type,
        format,
        encoding,
        file_permission,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "spec.parameters.objects";

    #[test]
    fn parses_the_provider_shape() {
        let yaml = "array:\n  - |\n    objectName: cert1\n    objectType: cert\n    objectVersion: \"\"\n  - |\n    objectName: db\n    objectAlias: conf/db-password\n    objectType: secret\n    objectEncoding: base64\n    filePermission: \"0640\"\n    objectVersionHistory: 3\n";
        let objects = parse_objects(yaml, BASE).unwrap();
        assert_eq!(objects[0].object_type, ObjectType::Cert);
        assert_eq!(objects[0].version, None);
        assert_eq!(objects[1].output_name(), "conf/db-password");
        assert_eq!(objects[1].encoding, Some(Encoding::Base64));
        assert_eq!(objects[1].file_permission, Some(0o640));
        assert_eq!(objects[1].version_history, Some(3));
    }

    /// Fields are read as the provider's Go struct reads them, as the scalar's text: an
    /// unquoted `1.10` is the version `1.10` (not the number 1.1), `0640` is the permission
    /// 0640 — whether the object is a YAML string (the provider's shape) or inline.
    #[test]
    fn scalars_keep_their_text() {
        for yaml in [
            "array:\n  - |\n    objectName: db\n    objectType: secret\n    objectVersion: 1.10\n    filePermission: 0640\n",
            "array:\n  - objectName: db\n    objectType: secret\n    objectVersion: 1.10\n    filePermission: 0640\n",
        ] {
            let objects = parse_objects(yaml, BASE).unwrap();
            assert_eq!(objects[0].version.as_deref(), Some("1.10"), "{yaml}");
            assert_eq!(objects[0].file_permission, Some(0o640), "{yaml}");
        }
        // A mapping where a text belongs is refused at the item, not read as nothing.
        let error = parse_objects(
            "array:\n  - |\n    objectName: db\n    objectVersion: {a: 1}\n",
            BASE,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(&format!("{BASE}[0]")), "{error}");
    }

    #[test]
    fn errors_name_the_field_path() {
        let err = |item: &str| {
            parse_objects(
                &format!("array:\n  - |\n    {}\n", item.replace('\n', "\n    ")),
                BASE,
            )
            .unwrap_err()
            .to_string()
        };
        // (item, what the message starts with)
        for (item, start) in [
            (
                "objectName: a\nobjectType: secret\nobjectEncoding: hexx",
                "spec.parameters.objects[0].objectEncoding: \"hexx\" is not one of utf-8, hex, base64",
            ),
            (
                "objectName: a\nobjectType: secret\nobjectAlias: a..b",
                "spec.parameters.objects[0].objectAlias: must be a plain",
            ),
            (
                "objectType: secret",
                "spec.parameters.objects[0].objectName: is required",
            ),
            (
                "objectName: ../x\nobjectType: secret",
                "spec.parameters.objects[0].objectName: must be a plain",
            ),
        ] {
            let e = err(item);
            assert!(e.starts_with(start), "{e}");
        }
        // (item, what the message says somewhere)
        for (item, part) in [
            (
                "objectName: a\nobjectType: secret\nobjectEncoding: utf8",
                "such as utf8",
            ),
            (
                "objectName: a\nobjectType: cert\nobjectFormat: pfx",
                "only allowed with objectType secret",
            ),
            (
                "objectName: a\nobjectType: key\nobjectEncoding: hex",
                "objectEncoding: is only allowed",
            ),
            (
                "objectName: a\nobjectType: secret\nobjectAlias: ../etc/passwd",
                "without `..`",
            ),
            (
                "objectName: a\nobjectType: secret\nfilePermission: \"999\"",
                "octal",
            ),
            (
                "objectName: a\nobjectType: password",
                "not one of secret, key, cert",
            ),
        ] {
            let e = err(item);
            assert!(e.contains(part), "{e}");
        }
        for escape in ["/etc/passwd", "a/../../x", "..data", "a//b", "./a"] {
            let e = err(&format!(
                "objectName: a\nobjectType: secret\nobjectAlias: {escape:?}"
            ));
            assert!(
                e.starts_with("spec.parameters.objects[0].objectAlias: must be a plain"),
                "{e}"
            );
        }
        let dup = parse_objects("array:\n  - |\n    objectName: a\n    objectType: secret\n  - |\n    objectName: A\n    objectType: secret\n", BASE).unwrap_err();
        assert!(
            dup.to_string().contains("objects[1]") && dup.to_string().contains("objectAlias"),
            "{dup}"
        );
    }
}
