//! Field errors as the real API server words them (apimachinery's `field.Error`): a field path,
//! a kind (`Required value`, `Invalid value`, ...), the bad value where the kind shows one, and a
//! detail — `spec.data[0].targetKey: Invalid value: "..": spec.data[0].targetKey in body should
//! match '^...$'`.

use serde_json::Value;

/// The kind of a field error (apimachinery's `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Required,
    Invalid,
    /// `Invalid value` for a value of the wrong type (its own cause reason).
    TypeInvalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Duplicate,
}

impl Kind {
    /// The `reason` of a `StatusCause`.
    pub fn reason(self) -> &'static str {
        match self {
            Kind::Required => "FieldValueRequired",
            Kind::Invalid => "FieldValueInvalid",
            Kind::TypeInvalid => "FieldValueTypeInvalid",
            Kind::NotSupported => "FieldValueNotSupported",
            Kind::Forbidden => "FieldValueForbidden",
            Kind::TooLong => "FieldValueTooLong",
            Kind::TooMany => "FieldValueTooMany",
            Kind::Duplicate => "FieldValueDuplicate",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Required => "Required value",
            Kind::Invalid | Kind::TypeInvalid => "Invalid value",
            Kind::NotSupported => "Unsupported value",
            Kind::Forbidden => "Forbidden",
            Kind::TooLong => "Too long",
            Kind::TooMany => "Too many",
            Kind::Duplicate => "Duplicate value",
        }
    }
}

/// One field error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub kind: Kind,
    /// `spec.secretObject.data[0].targetKey`.
    pub field: String,
    /// The bad value, for the kinds that show one.
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn new(kind: Kind, field: &str, value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError {
            kind,
            field: field.to_string(),
            value,
            detail: detail.into(),
        }
    }

    pub fn required(field: &str, detail: impl Into<String>) -> Self {
        Self::new(Kind::Required, field, None, detail)
    }

    pub fn forbidden(field: &str, detail: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, field, None, detail)
    }

    pub fn invalid(field: &str, value: Value, detail: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, field, Some(value), detail)
    }

    pub fn not_supported(field: &str, value: Value, supported: &[Value]) -> Self {
        let quoted: Vec<String> = supported
            .iter()
            .map(|v| match v {
                Value::String(s) => quote(s),
                other => quote(&other.to_string()),
            })
            .collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(Kind::NotSupported, field, Some(value), detail)
    }

    /// The message without the field: `Required value`, `Invalid value: "x": detail`.
    pub fn body(&self) -> String {
        let mut body = self.kind.words().to_string();
        if let (Some(value), false) = (
            &self.value,
            matches!(self.kind, Kind::Required | Kind::Forbidden | Kind::TooLong),
        ) {
            body.push_str(": ");
            body.push_str(&render(value));
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A bad value as Go's `%q` / `%v` / JSON shows it.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A double-quoted string with Go's escapes for quotes, backslashes and control characters.
pub(crate) fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The errors as one message: the only one, or `[a, b]` (duplicates once), as the server's
/// aggregate prints them.
pub(crate) fn aggregate(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let text = e.to_string();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// `parent.name` (just `name` at the root).
pub(crate) fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[key]` / `parent[0]`.
pub(crate) fn index(parent: &str, key: impl std::fmt::Display) -> String {
    format!("{parent}[{key}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_read_like_the_servers() {
        assert_eq!(
            FieldError::required(
                "spec.x.items.type",
                "must not be empty for specified array items"
            )
            .to_string(),
            "spec.x.items.type: Required value: must not be empty for specified array items"
        );
        assert_eq!(
            FieldError::invalid("spec.k", json!(".."), "spec.k in body should match '^a$'")
                .to_string(),
            "spec.k: Invalid value: \"..\": spec.k in body should match '^a$'"
        );
        assert_eq!(
            FieldError::not_supported("s", json!("Maybe"), &[json!("True"), json!("False")])
                .to_string(),
            "s: Unsupported value: \"Maybe\": supported values: \"True\", \"False\""
        );
        assert_eq!(
            FieldError::new(
                Kind::TooLong,
                "m",
                Some(json!("<value omitted>")),
                "may not be more than 3 bytes"
            )
            .to_string(),
            "m: Too long: may not be more than 3 bytes"
        );
        let two = [FieldError::required("a", ""), FieldError::required("b", "")];
        assert_eq!(aggregate(&two), "[a: Required value, b: Required value]");
        assert_eq!(aggregate(&two[..1]), "a: Required value");
    }
}
