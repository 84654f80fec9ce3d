//! A certificate uploaded with `az keyvault secret set --encoding hex`: decode it, check it, and
//! write `tls.crt` / `tls.key` the way a `kubernetes.io/tls` Secret holds them.
//!
//! Run: `cargo run --example hex_certificate_to_tls [VALUE_FILE] [OUT_DIR]`
//! Without arguments it makes a fresh PKI and "uploads" it first, so it runs anywhere.

use keyway::cert::testing::{KeyKind, TestPki};
use keyway::cert::{
    Bundle, DecodeOptions, Encoding, ParseOptions, ValidationOptions, decode_value,
    encode_for_upload,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let value_file = args.next().map(std::path::PathBuf::from);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "target/example-tls".into()));
    run(value_file.as_deref(), &out)
}

/// Decodes, checks and writes the value in `value_file` (or a fresh one) to `out`.
pub fn run(
    value_file: Option<&std::path::Path>,
    out: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    // 1. The secret value, as Key Vault returns it (a hex string, tagged file-encoding=hex).
    let value = match value_file {
        Some(path) => std::fs::read(path)?,
        None => {
            let pki = TestPki::generate(KeyKind::EcP256, &["mqtt-broker.local"]);
            encode_for_upload(pki.chain_pem(true).as_bytes(), Encoding::Hex)?.into_bytes()
        }
    };

    // 2. Decode: the tag says hex; without a tag keyway would sniff it.
    let options = DecodeOptions {
        file_encoding_tag: Some("hex"),
        ..Default::default()
    };
    let decoded = decode_value(&value, options)?;

    // 3. Parse whatever the bytes hold: PEM, DER or PKCS#12.
    let bundle = Bundle::parse(decoded.bytes(), ParseOptions::default())?;

    // 4. Validate now (the library never reads the clock itself).
    let report = bundle.validate(&ValidationOptions::at(time::OffsetDateTime::now_utc()));
    for finding in &report.findings {
        println!(
            "{:<7} {:<16} {}",
            finding.severity, finding.code, finding.message
        );
    }
    if report.has_errors() {
        return Err("the certificate has errors; not writing it".into());
    }

    // 5. tls.crt = the chain leaf → root, tls.key = the leaf's key as PKCS#8.
    let tls = bundle.tls_pair()?;
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("tls.crt"), &tls.certificate_chain)?;
    std::fs::write(out.join("tls.key"), tls.private_key.as_bytes())?;
    println!(
        "wrote {}/tls.crt and tls.key ({} certificates)",
        out.display(),
        bundle.certificates().len()
    );
    Ok(())
}
