//! What a Key Vault request asks for: the operation its method and path name (with the
//! trailing-slash and version forms the SDKs send), and the operation's name in the REST
//! specification, which the counters and the fault injector use.

use axum::http::Method;

/// A Key Vault request, parsed from method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Set(&'a str),
    Get(&'a str, Option<&'a str>),
    List,
    Versions(&'a str),
    Update(&'a str, Option<&'a str>),
    Delete(&'a str),
    ListDeleted,
    GetDeleted(&'a str),
    Recover(&'a str),
    Purge(&'a str),
    ListKeys,
    GetKey(&'a str, Option<&'a str>),
    Unknown,
}

impl<'a> Op<'a> {
    pub fn parse(method: &Method, path: &'a str) -> Op<'a> {
        let mut parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // A trailing slash (`/secrets/name/`) means "no version".
        if parts.len() > 1 && parts.last() == Some(&"") {
            parts.pop();
        }
        match (method, parts.as_slice()) {
            (&Method::PUT, ["secrets", name]) => Op::Set(name),
            (&Method::GET, ["secrets"]) => Op::List,
            (&Method::GET, ["secrets", name, "versions"]) => Op::Versions(name),
            (&Method::GET, ["secrets", name]) => Op::Get(name, None),
            (&Method::GET, ["secrets", name, version]) => Op::Get(name, Some(version)),
            (&Method::PATCH, ["secrets", name]) => Op::Update(name, None),
            (&Method::PATCH, ["secrets", name, version]) => Op::Update(name, Some(version)),
            (&Method::DELETE, ["secrets", name]) => Op::Delete(name),
            (&Method::GET, ["deletedsecrets"]) => Op::ListDeleted,
            (&Method::GET, ["deletedsecrets", name]) => Op::GetDeleted(name),
            (&Method::POST, ["deletedsecrets", name, "recover"]) => Op::Recover(name),
            (&Method::DELETE, ["deletedsecrets", name]) => Op::Purge(name),
            (&Method::GET, ["keys"]) => Op::ListKeys,
            (&Method::GET, ["keys", name]) => Op::GetKey(name, None),
            (&Method::GET, ["keys", name, version]) => Op::GetKey(name, Some(version)),
            _ => Op::Unknown,
        }
    }

    /// The operation name of the REST specification.
    pub fn name(self) -> &'static str {
        match self {
            Op::Set(_) => "SetSecret",
            Op::Get(..) => "GetSecret",
            Op::List => "GetSecrets",
            Op::Versions(_) => "GetSecretVersions",
            Op::Update(..) => "UpdateSecret",
            Op::Delete(_) => "DeleteSecret",
            Op::ListDeleted => "GetDeletedSecrets",
            Op::GetDeleted(_) => "GetDeletedSecret",
            Op::Recover(_) => "RecoverDeletedSecret",
            Op::Purge(_) => "PurgeDeletedSecret",
            Op::ListKeys => "GetKeys",
            Op::GetKey(..) => "GetKey",
            Op::Unknown => "Unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_like_the_sdk_sends_them() {
        let get = Method::GET;
        assert_eq!(Op::parse(&get, "/secrets/a/"), Op::Get("a", None));
        assert_eq!(Op::parse(&get, "/secrets/a"), Op::Get("a", None));
        assert_eq!(
            Op::parse(&get, "/secrets/a/0123"),
            Op::Get("a", Some("0123"))
        );
        assert_eq!(Op::parse(&get, "/secrets/a/versions"), Op::Versions("a"));
        assert_eq!(Op::parse(&get, "/secrets"), Op::List);
        assert_eq!(
            Op::parse(&Method::PATCH, "/secrets/a/"),
            Op::Update("a", None)
        );
        assert_eq!(
            Op::parse(&Method::POST, "/deletedsecrets/a/recover"),
            Op::Recover("a")
        );
        assert_eq!(
            Op::parse(&Method::DELETE, "/deletedsecrets/a"),
            Op::Purge("a")
        );
        assert_eq!(Op::parse(&Method::POST, "/secrets/a"), Op::Unknown);
    }
}
