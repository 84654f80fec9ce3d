//! YAML as keyway reads and writes it: one parser for every manifest, `objects` string and file
//! a user hands over.
//!
//! The parser is [`serde_saphyr`], pure Rust and panic-free, with budgets on depth (64), nodes,
//! aliases and documents, so a hostile manifest (a "billion laughs", a 100,000-deep nesting)
//! is refused instead of exhausting the controller. (Until this module keyway used
//! `serde_yaml_ng`, which rests on `unsafe-libyaml`, libyaml transpiled to unsafe Rust and no
//! longer maintained.)
//!
//! Scalars resolve as Kubernetes' own YAML reader (YAML 1.1, through `sigs.k8s.io/yaml`) does
//! where it matters for manifests: `0644` is octal (420), `yes`/`no` are booleans. Duplicate
//! keys are refused, as `kubectl` refuses them. Fields declared as strings keep the scalar's
//! text exactly (`objectVersion: 1.10` reads `1.10`, as the CSI provider's Go structs do).
//! Errors say the line and column and never quote the input (a K3s config holds the cluster
//! token; a manifest may hold anything).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML parse or serialisation failure: line and column and what was expected, never the
/// input's text.
pub type Error = serde_saphyr::Error;

/// The parser options every keyway YAML read uses (see the module documentation).
pub fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    options
}

/// One YAML document as `T`. More than one document is an error.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text.strip_prefix('\u{feff}').unwrap_or(text), options())
}

/// [`from_str`] of bytes that must be UTF-8.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_saphyr::from_slice_with_options(bytes, options())
}

/// Every document of a stream (`---` separated), empty ones left out.
pub fn documents(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    serde_saphyr::from_multiple_with_options::<serde_json::Value>(
        text.strip_prefix('\u{feff}').unwrap_or(text),
        options(),
    )
    .map(|documents| documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// `value` as a YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_resolve_as_kubernetes_reads_them() {
        let value: serde_json::Value = from_str("mode: 0644\nenabled: yes\nname: '0644'").unwrap();
        assert_eq!(value["mode"], 420);
        assert_eq!(value["enabled"], true);
        assert_eq!(value["name"], "0644");
    }

    #[test]
    fn string_fields_keep_the_scalar_text() {
        #[derive(serde::Deserialize)]
        struct Object {
            version: String,
        }
        let object: Object = from_str("version: 1.10").unwrap();
        assert_eq!(object.version, "1.10");
    }

    #[test]
    fn hostile_documents_are_refused_without_quoting_them() {
        let deep = format!("a: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(from_str::<serde_json::Value>(&deep).is_err());
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                      g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]";
        assert!(from_str::<serde_json::Value>(laughs).is_err());
        let error =
            from_str::<serde_json::Value>("token: K10secret::server:abc\nx: [").unwrap_err();
        assert!(!error.to_string().contains("K10secret"), "{error}");
        let duplicate = from_str::<serde_json::Value>("a: 1\na: 2").unwrap_err();
        assert!(duplicate.to_string().contains("duplicate"), "{duplicate}");
    }

    #[test]
    fn a_stream_yields_its_documents_without_the_empty_ones() {
        let all = documents("---\nkind: A\n---\n---\nkind: B\n").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1]["kind"], "B");
    }
}
