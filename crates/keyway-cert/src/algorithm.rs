//! Names for the algorithm identifiers found in certificates and keys.

use x509_parser::x509::AlgorithmIdentifier;

/// rsaEncryption.
pub(crate) const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// id-ecPublicKey.
pub(crate) const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// id-Ed25519.
pub(crate) const ED25519: &str = "1.3.101.112";

const SIGNATURE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.10", "rsassaPss"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
    ("1.2.840.10045.4.3.1", "ecdsa-with-SHA224"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
    ("1.2.840.10040.4.3", "dsa-with-sha1"),
    ("1.3.101.112", "Ed25519"),
    ("1.3.101.113", "Ed448"),
];

const CURVE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.10045.3.1.7", "P-256"),
    ("1.3.132.0.34", "P-384"),
    ("1.3.132.0.35", "P-521"),
    ("1.3.132.0.10", "secp256k1"),
];

/// The conventional name of a signature algorithm OID, or the dotted OID.
pub(crate) fn signature_algorithm_name(alg: &AlgorithmIdentifier<'_>) -> String {
    let oid = alg.algorithm.to_id_string();
    lookup(SIGNATURE_NAMES, &oid).map_or(oid, str::to_string)
}

/// Whether a signature algorithm name uses a broken hash (MD2, MD5, SHA-1).
pub(crate) fn is_weak_signature(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("md2") || lower.contains("md5") || lower.contains("sha1")
}

/// The curve name for a named-curve OID (dotted).
pub(crate) fn curve_name(oid: &str) -> Option<&'static str> {
    lookup(CURVE_NAMES, oid)
}

/// `RSA`, `EC P-256`, `Ed25519`, ... for a subject public key algorithm.
pub(crate) fn key_algorithm_name(alg: &AlgorithmIdentifier<'_>) -> String {
    let oid = alg.algorithm.to_id_string();
    match oid.as_str() {
        RSA_ENCRYPTION => "RSA".into(),
        "1.2.840.113549.1.1.10" => "RSA-PSS".into(),
        ED25519 => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        EC_PUBLIC_KEY => {
            let curve = alg
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|c| c.to_id_string());
            match curve.as_deref().map(|c| (c, curve_name(c))) {
                Some((_, Some(name))) => format!("EC {name}"),
                Some((dotted, None)) => format!("EC {dotted}"),
                None => "EC".into(),
            }
        }
        _ => oid,
    }
}

fn lookup(table: &[(&str, &'static str)], oid: &str) -> Option<&'static str> {
    table.iter().find(|(o, _)| *o == oid).map(|(_, n)| *n)
}
