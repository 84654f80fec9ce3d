//! Struct fields matched the way Go's `encoding/json` matches them: a key that is a field's
//! name exactly goes to that field; otherwise a key equal to a field's name ignoring case goes
//! to it. Programs written in Go (AAD Pod Identity among them) read `ClientID:`, `clientID:`
//! and `clientid:` alike, so manifests written for them do too — the Dapr guide's
//! `AzureIdentity` says `ResourceID:` and `ClientID:`.
//!
//! A null value leaves its field at the default, as in Go. Where Go lets the last of two keys for one field win silently, [`from_value`] refuses two
//! keys that fill one field with different values (`spec.ClientID` and `spec.clientID`):
//! which one a Go program used depends on their order, and guessing an identity is worse than
//! asking.

use serde::de::{self, DeserializeOwned, Visitor};

use crate::error::{ClusterError, Field, Result};

/// Deserializes `T` from a YAML mapping at `path` (for messages, e.g. `spec`), its top-level
/// keys matched to `T`'s field names as Go does: exactly, else ignoring case.
pub(crate) fn from_value<T: DeserializeOwned>(value: &serde_json::Value, path: &str) -> Result<T> {
    let value = match value {
        serde_json::Value::Object(mapping) => {
            let fields = field_names::<T>();
            let mut folded = serde_json::Map::new();
            // Which key filled each field, for the message when a second one does too.
            let mut filled_by: Vec<(String, String)> = Vec::new();
            for (key, item) in mapping {
                let name = key.as_str();
                let field = fields
                    .iter()
                    .find(|f| **f == name)
                    .or_else(|| fields.iter().find(|f| fold(f) == fold(name)))
                    .copied();
                let Some(field) = field else {
                    folded.insert(key.clone(), item.clone());
                    continue;
                };
                // Go leaves a field alone when the value is null (`ClientID:` with nothing).
                if item.is_null() {
                    continue;
                }
                if let Some((_, earlier)) = filled_by.iter().find(|(f, _)| f == field) {
                    if folded.get(field) != Some(item) {
                        return Err(ClusterError::invalid(
                            Field::Manifest(format!("{path}.{name}")),
                            format!(
                                "{earlier} is given too, with another value; both set the field {field} (keys are matched ignoring case, as AAD Pod Identity does): keep one"
                            ),
                        ));
                    }
                    continue;
                }
                filled_by.push((field.to_string(), name.to_string()));
                folded.insert(field.to_string(), item.clone());
            }
            serde_json::Value::Object(folded)
        }
        // No spec at all reads as an empty one, as in Go; the caller says what is missing.
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        other => other.clone(),
    };
    serde_json::from_value(value)
        .map_err(|e| ClusterError::invalid(Field::Manifest(path.to_string()), e.to_string()))
}

/// Go's case folding of a field name (`appendFoldedName`): ASCII letters upper-cased, any other
/// character lower-cased and then upper-cased (so the Kelvin sign matches `k`, `ſ` matches `s`).
fn fold(name: &str) -> String {
    // Go's mappings are one character to one; where Rust's is longer, the character stays.
    fn one(mut mapped: impl Iterator<Item = char>, c: char) -> char {
        match (mapped.next(), mapped.next()) {
            (Some(m), None) => m,
            _ => c,
        }
    }
    name.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_uppercase()
            } else {
                let lower = one(c.to_lowercase(), c);
                one(lower.to_uppercase(), lower)
            }
        })
        .collect()
}

/// The field names `T`'s derived `Deserialize` expects (after its renames), asked of the
/// derive itself so they cannot drift from the struct: a deserializer that only records what
/// `deserialize_struct` is told.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Recorder<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names recorded")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Stop {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for Recorder<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> std::result::Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Recorder(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(rename = "clientID", default)]
        client_id: String,
        #[serde(default)]
        selector: String,
    }

    fn spec(yaml: &str) -> Result<Spec> {
        from_value(&keyway_sync::yaml::from_str(yaml).unwrap(), "spec")
    }

    #[test]
    fn keys_match_fields_exactly_else_ignoring_case() {
        assert_eq!(field_names::<Spec>(), ["clientID", "selector"]);
        let expected = Spec {
            client_id: "c".into(),
            selector: "s".into(),
        };
        assert_eq!(spec("{ClientID: c, Selector: s}").unwrap(), expected);
        assert_eq!(
            spec("{clientid: c, SELECTOR: s, other: 1}").unwrap(),
            expected
        );
        // Null reads as empty, as in Go.
        assert_eq!(
            spec("~").unwrap(),
            Spec {
                client_id: String::new(),
                selector: String::new()
            }
        );
        assert_eq!(spec("{clientID: ~, selector: s}").unwrap().client_id, "");
        // The Kelvin sign folds to k, as in Go.
        assert_eq!(fold("\u{212a}ey"), fold("KEY"));
        // The same value twice is one value; two different values are refused, naming both.
        assert_eq!(
            spec("{clientID: c, ClientID: c, selector: s}").unwrap(),
            expected
        );
        // (Keys are visited in the JSON object's order, sorted: `ClientID` before `clientID`.)
        let twice = spec("{clientID: a, ClientID: b}").unwrap_err().to_string();
        assert!(
            twice.starts_with("spec.clientID: ClientID is given too"),
            "{twice}"
        );
    }
}
