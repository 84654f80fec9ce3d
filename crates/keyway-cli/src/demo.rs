//! `keyway demo`: the main job on embedded defaults, offline, in seconds.
//!
//! Today it runs the certificate pipeline end to end on a PKI it makes itself: the three shapes
//! a certificate takes as a Key Vault secret (a PEM chain stored with `--encoding hex`, a DER
//! certificate stored with `--encoding hex`, a Key Vault certificate's base64 PKCS#12 backing
//! secret) are decoded by their tags, parsed, ordered, validated and written as the Secrets
//! Store CSI Azure provider would write them. It touches nothing but the output directory.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyway_cert::testing::{KeyKind, TestPki, pkcs12};
use keyway_cert::time::OffsetDateTime;
use keyway_cert::{
    Bundle, ContentType, DecodeOptions, Encoding, OutputFormat, ParseOptions, ValidationOptions,
    decode_value, encode_for_upload,
};

use crate::error::CliError;
use crate::input;

/// Options of `keyway demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the synced files.
    #[arg(long, default_value = "keyway-demo")]
    out: PathBuf,
}

/// A secret as Key Vault would hold it: value, content type, tags.
struct StoredSecret {
    name: &'static str,
    value: String,
    content_type: ContentType,
    file_encoding_tag: &'static str,
    output: OutputFormat,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let pki = TestPki::generate(
        KeyKind::Rsa2048,
        &["opcua-server.local", "urn:contoso:opcua:server"],
    );
    let chain_pem = pki.chain_pem(false);
    // Key Vault returns a certificate's chain in whatever order it was imported: shuffle it.
    let backing_pfx = pkcs12(&pki.leaf, &[&pki.root, &pki.leaf, &pki.intermediate], "");

    let secrets = [
        StoredSecret {
            name: "opcua-chain-pem",
            value: encode_for_upload(chain_pem.as_bytes(), Encoding::Hex)?,
            content_type: ContentType::Pem,
            file_encoding_tag: "hex",
            output: OutputFormat::PemBundle,
        },
        StoredSecret {
            name: "opcua-server-der",
            value: encode_for_upload(pki.leaf.der(), Encoding::Hex)?,
            content_type: ContentType::PkixCert,
            file_encoding_tag: "hex",
            output: OutputFormat::TrustList,
        },
        StoredSecret {
            name: "opcua-server-tls",
            value: encode_for_upload(&backing_pfx, Encoding::Base64)?,
            content_type: ContentType::Pkcs12,
            file_encoding_tag: "base64",
            output: OutputFormat::Tls,
        },
    ];

    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::io(args.out.display().to_string(), e))?;
    let at = ValidationOptions::at(OffsetDateTime::now_utc());
    let mut report = String::new();
    let _ = writeln!(
        report,
        "keyway demo: certificates stored as Key Vault secrets, decoded and converted offline\n"
    );
    let mut errors = 0;
    for secret in &secrets {
        let decoded = decode_value(
            secret.value.as_bytes(),
            DecodeOptions {
                encoding: None,
                file_encoding_tag: Some(secret.file_encoding_tag),
            },
        )?;
        let bundle = Bundle::parse(
            decoded.bytes(),
            ParseOptions {
                content_type: Some(secret.content_type),
                password: None,
            },
        )?;
        let validation = bundle.validate(&at);
        errors += usize::from(validation.has_errors());
        let files = bundle.render(secret.output, decoded.bytes(), secret.name)?;
        let dir = args.out.join(secret.name);
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(dir.display().to_string(), e))?;
        for file in &files {
            input::write_atomic(&dir.join(&file.name), &file.contents, file.sensitive)?;
        }
        let order: Vec<String> = validation.chain.path.iter().map(usize::to_string).collect();
        let _ = writeln!(
            report,
            "{:<18} {} chars of {} ({}) → {} certificate(s), {} key(s), chain {}{}",
            secret.name,
            secret.value.len(),
            secret.file_encoding_tag,
            secret.content_type,
            bundle.certificates().len(),
            bundle.private_keys().len(),
            order.join("→"),
            if validation.chain.complete() {
                " complete"
            } else {
                ""
            },
        );
        for f in &validation.findings {
            let _ = writeln!(
                report,
                "{:<18}   {} {}: {}",
                "", f.severity, f.code, f.message
            );
        }
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                format!(
                    "{}/{} ({} B{})",
                    secret.name,
                    f.name,
                    f.contents.len(),
                    if f.sensitive { ", 0600" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(report, "{:<18}   wrote {}", "", names.join(", "));
    }
    let _ = writeln!(
        report,
        "\n{} secrets, {} with errors, written under {} in {} ms",
        secrets.len(),
        errors,
        args.out.display(),
        started.elapsed().as_millis()
    );
    print!("{report}");
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
