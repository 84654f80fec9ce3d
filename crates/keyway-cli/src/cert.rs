//! `keyway cert ...`: inspect, encode and convert certificates stored as Key Vault secrets.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use keyway_cert::time::format_description::well_known::Rfc3339;
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_cert::{
    Bundle, CertificateDetails, ContentType, CrlDetails, DecodeOptions, Decoded, Encoding,
    EncodingSource, Finding, OutputFormat, ParseOptions, Validation, ValidationOptions,
    decode_value, encode_for_upload,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::input;
use crate::output::out;
use crate::report::{self, Report};

/// The `cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Decode a certificate secret and show its certificates, chain and findings.
    ///
    /// Exit 0 when there is no error finding, 1 when there is one, 2 when the input cannot be
    /// decoded or parsed.
    Inspect {
        #[command(flatten)]
        input: InputArgs,
        /// Judge validity at this time (RFC 3339) instead of now.
        #[arg(long, value_parser = parse_time)]
        at: Option<OffsetDateTime>,
        /// Warn about certificates that expire within this many days.
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        expiry_warning: u32,
        /// Print one JSON object instead of the human report.
        #[arg(long)]
        json: bool,
    },
    /// Print exactly the value `az keyvault secret set --encoding ... --file PATH` would store.
    Encode {
        /// The file to encode, or - for standard input.
        path: String,
        /// The encoding to store the file in.
        #[arg(long, value_parser = parse_encoding_name)]
        encoding: Encoding,
    },
    /// Convert a certificate secret into the files the Secrets Store CSI Azure provider writes.
    Convert {
        #[command(flatten)]
        input: InputArgs,
        /// What to produce: pem (keys then chain), leaf, public-key, der, tls (tls.crt + tls.key),
        /// pfx (PKCS#12 passthrough), trust-list (.der and .crl files).
        #[arg(long, value_parser = |s: &str| s.parse::<OutputFormat>())]
        to: OutputFormat,
        /// Output file, or directory (tls and trust-list always write a directory); - for
        /// standard output (single-file outputs only).
        #[arg(long)]
        out: PathBuf,
        /// Base name of the files written into a directory.
        #[arg(long, default_value = "certificate")]
        name: String,
    },
}

/// How to read and decode the input.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The secret value (as downloaded, or as a file), or - for standard input.
    #[arg(default_value = "-")]
    path: String,
    /// The value's encoding; auto uses the file-encoding tag, else sniffs.
    #[arg(long, default_value = "auto", value_parser = parse_encoding_choice)]
    encoding: EncodingChoice,
    /// The secret's content type (application/x-pem-file, application/pkix-cert,
    /// application/x-pkcs12); sniffed when absent.
    #[arg(long, value_parser = |s: &str| s.parse::<ContentType>())]
    content_type: Option<ContentType>,
    /// The secret's file-encoding tag, as the az CLI sets it.
    #[arg(long, value_name = "VALUE")]
    file_encoding_tag: Option<String>,
    /// Read the PKCS#12 password from the first line of this file. Without it or
    /// --password-stdin the password is KEYWAY_PKCS12_PASSWORD, else empty (Key Vault's is).
    #[arg(long, value_name = "PATH", conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the PKCS#12 password from the first line of standard input (the value must then
    /// come from a file).
    #[arg(long)]
    password_stdin: bool,
    /// Refused: a password on the command line is visible to every user in the process list.
    #[arg(long, hide = true, value_name = "PASSWORD", value_parser = refuse_password)]
    password: Option<RefusedPassword>,
}

/// The environment variable holding the PKCS#12 password.
const PASSWORD_ENV: &str = "KEYWAY_PKCS12_PASSWORD";

/// The longest password file or standard input read for a password.
const PASSWORD_MAX_BYTES: u64 = 64 * 1024;

/// The value given to the removed `--password`, dropped unread.
#[derive(Debug, Clone)]
struct RefusedPassword;

fn refuse_password(_: &str) -> Result<RefusedPassword, std::convert::Infallible> {
    Ok(RefusedPassword)
}

/// A PKCS#12 password: zeroed on drop, redacted in `Debug`.
struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl InputArgs {
    /// The password from --password-file, --password-stdin or the environment, in that order.
    fn password(&self) -> Result<Option<Password>, CliError> {
        if self.password.is_some() {
            return Err(CliError::Input(format!(
                "--password is not accepted: a password on the command line is visible to every \
                 user in the process list; set {PASSWORD_ENV}, or use --password-file PATH or \
                 --password-stdin"
            )));
        }
        if let Some(path) = &self.password_file {
            let shown = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|e| CliError::io(&shown, e))?;
            return first_line(file, &shown).map(Some);
        }
        if self.password_stdin {
            if self.path == "-" {
                return Err(CliError::Input(
                    "--password-stdin: standard input cannot carry both the password and the \
                     value; give the value as a file, or use --password-file"
                        .into(),
                ));
            }
            return first_line(std::io::stdin().lock(), "<stdin>").map(Some);
        }
        match std::env::var(PASSWORD_ENV) {
            Ok(value) => Ok(Some(Password(Zeroizing::new(value)))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(CliError::Input(format!("{PASSWORD_ENV} is not UTF-8 text")))
            }
        }
    }
}

/// The first line of `source` (without its line ending) as a password; `shown` names it.
fn first_line(source: impl std::io::Read, shown: &str) -> Result<Password, CliError> {
    use std::io::Read as _;
    let mut bytes = Zeroizing::new(Vec::new());
    source
        .take(PASSWORD_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(shown, e))?;
    if bytes.len() as u64 > PASSWORD_MAX_BYTES {
        return Err(CliError::Input(format!(
            "{shown}: longer than {PASSWORD_MAX_BYTES} bytes; a PKCS#12 password is its first line"
        )));
    }
    let mut line: &[u8] = &bytes;
    if let Some(end) = line.iter().position(|&b| b == b'\n') {
        line = &line[..end];
    }
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    let text = std::str::from_utf8(line)
        .map_err(|_| CliError::Input(format!("{shown}: the password is not UTF-8 text")))?;
    Ok(Password(Zeroizing::new(text.to_owned())))
}

#[derive(Debug, Clone, Copy)]
struct EncodingChoice(Option<Encoding>);

fn parse_encoding_choice(s: &str) -> Result<EncodingChoice, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(EncodingChoice(None));
    }
    parse_encoding_name(s).map(|e| EncodingChoice(Some(e)))
}

fn parse_encoding_name(s: &str) -> Result<Encoding, String> {
    s.parse::<Encoding>().map_err(|e| e.to_string())
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}); e.g. 2026-01-31T12:00:00Z"))
}

/// Runs one `cert` subcommand.
pub fn run(command: CertCommand) -> Result<ExitCode, CliError> {
    match command {
        CertCommand::Inspect {
            input,
            at,
            expiry_warning,
            json,
        } => {
            let (decoded, bundle) = load(&input)?;
            let mut options = ValidationOptions::at(at.unwrap_or_else(OffsetDateTime::now_utc));
            options.expiry_warning = Duration::days(i64::from(expiry_warning));
            let validation = bundle.validate(&options);
            let report = InspectReport::new(&decoded, &bundle, &validation);
            report::print(&report, json);
            Ok(if validation.has_errors() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        CertCommand::Encode { path, encoding } => {
            let bytes = input::read_limited(&path, keyway_stores::MAX_INPUT_FILE_BYTES)?;
            out!("{}", encode_for_upload(&bytes, encoding)?);
            Ok(ExitCode::SUCCESS)
        }
        CertCommand::Convert {
            input,
            to,
            out,
            name,
        } => {
            let (decoded, bundle) = load(&input)?;
            let files = bundle.render(to, decoded.bytes(), &name)?;
            let validation = bundle.validate(&ValidationOptions::at(OffsetDateTime::now_utc()));
            for finding in validation
                .findings
                .iter()
                .filter(|f| f.severity != keyway_cert::Severity::Info)
            {
                eprintln!(
                    "{}: {} ({})",
                    finding.severity, finding.message, finding.code
                );
            }
            write_outputs(&files, to, &out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(args: &InputArgs) -> Result<(Decoded, Bundle), CliError> {
    let password = args.password()?;
    let raw = input::read_limited(&args.path, keyway_stores::MAX_INPUT_FILE_BYTES)?;
    let decoded = decode_value(
        &raw,
        DecodeOptions {
            encoding: args.encoding.0,
            file_encoding_tag: args.file_encoding_tag.as_deref(),
        },
    )?;
    let bundle = Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: args.content_type,
            password: password.as_ref().map(|p| p.0.as_str()),
        },
    )?;
    Ok((decoded, bundle))
}

fn write_outputs(
    files: &[keyway_cert::OutputFile],
    format: OutputFormat,
    out: &Path,
) -> Result<(), CliError> {
    if out.as_os_str() == "-" {
        if format.is_directory() {
            return Err(CliError::Input(format!(
                "--to {format} writes several files; give a directory to --out"
            )));
        }
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        for file in files {
            stdout
                .write_all(&file.contents)
                .map_err(|e| CliError::io("<stdout>", e))?;
        }
        return Ok(());
    }
    let into_dir = format.is_directory() || out.is_dir();
    if into_dir {
        std::fs::create_dir_all(out).map_err(|e| CliError::io(out.display().to_string(), e))?;
    }
    for file in files {
        let path = if into_dir {
            out.join(&file.name)
        } else {
            out.to_path_buf()
        };
        input::write_atomic(&path, &file.contents, file.sensitive)?;
        eprintln!("wrote {} ({} bytes)", path.display(), file.contents.len());
    }
    Ok(())
}

/// The JSON shape of `keyway cert inspect --json`.
#[derive(Debug, Serialize)]
struct InspectReport<'a> {
    encoding: Encoding,
    encoding_source: EncodingSource,
    content_type: ContentType,
    certificates: Vec<CertificateEntry<'a>>,
    chain: ChainEntry,
    private_keys: usize,
    private_key_algorithms: Vec<String>,
    crls: usize,
    revocation_lists: Vec<&'a CrlDetails>,
    findings: &'a [Finding],
}

#[derive(Debug, Serialize)]
struct CertificateEntry<'a> {
    index: usize,
    #[serde(flatten)]
    details: &'a CertificateDetails,
}

#[derive(Debug, Serialize)]
struct ChainEntry {
    order: Vec<usize>,
    complete: bool,
    unlinked: Vec<usize>,
}

impl<'a> InspectReport<'a> {
    fn new(decoded: &Decoded, bundle: &'a Bundle, validation: &'a Validation) -> Self {
        InspectReport {
            encoding: decoded.encoding(),
            encoding_source: decoded.source(),
            content_type: bundle.format(),
            certificates: bundle
                .certificates()
                .iter()
                .enumerate()
                .map(|(index, c)| CertificateEntry {
                    index,
                    details: c.details(),
                })
                .collect(),
            chain: ChainEntry {
                order: validation.chain.path.clone(),
                complete: validation.chain.complete(),
                unlinked: validation.chain.unlinked.clone(),
            },
            private_keys: bundle.private_keys().len(),
            private_key_algorithms: bundle
                .private_keys()
                .iter()
                .map(|k| k.algorithm().to_string())
                .collect(),
            crls: bundle.crls().len(),
            revocation_lists: bundle.crls().iter().map(|c| c.details()).collect(),
            findings: &validation.findings,
        }
    }
}

impl Report for InspectReport<'_> {
    fn human(&self) -> String {
        let mut out = String::new();
        let source = match self.encoding_source {
            EncodingSource::Explicit => "as asked",
            EncodingSource::Tag => "from the file-encoding tag",
            EncodingSource::Sniffed => "sniffed",
        };
        let _ = writeln!(out, "encoding   {} ({source})", self.encoding);
        let _ = writeln!(
            out,
            "content    {}: {} certificate(s), {} private key(s){}, {} CRL(s)",
            self.content_type,
            self.certificates.len(),
            self.private_keys,
            if self.private_key_algorithms.is_empty() {
                String::new()
            } else {
                format!(" [{}]", self.private_key_algorithms.join(", "))
            },
            self.crls
        );
        for cert in &self.certificates {
            let d = cert.details;
            let role = match self.chain.order.iter().position(|&i| i == cert.index) {
                Some(0) => " (leaf)",
                Some(p) if p + 1 == self.chain.order.len() && d.self_issued => " (root)",
                Some(_) => " (intermediate)",
                None => " (not in chain)",
            };
            let _ = writeln!(out, "\n[{}] {}{role}", cert.index, d.subject);
            let _ = writeln!(out, "    issuer     {}", d.issuer);
            let _ = writeln!(out, "    serial     {}", d.serial);
            let _ = writeln!(
                out,
                "    valid      {} → {}",
                rfc3339(d.not_before),
                rfc3339(d.not_after)
            );
            if !d.san.is_empty() {
                let san: Vec<String> = d.san.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "    san        {}", san.join(", "));
            }
            let ca = match (d.is_ca, d.path_len) {
                (true, Some(n)) => format!("yes, path length {n}"),
                (true, None) => "yes".into(),
                (false, _) => "no".into(),
            };
            let _ = writeln!(out, "    ca         {ca}");
            let _ = writeln!(
                out,
                "    key        {} {} bits, signed {}",
                d.key_algorithm, d.key_bits, d.signature_algorithm
            );
            if !d.key_usage.is_empty() || !d.extended_key_usage.is_empty() {
                let _ = writeln!(
                    out,
                    "    usage      {}",
                    [d.key_usage.join(", "), d.extended_key_usage.join(", ")]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            let _ = writeln!(out, "    sha1       {}", d.sha1);
            let _ = writeln!(out, "    sha256     {}", d.sha256);
        }
        for (i, crl) in self.revocation_lists.iter().enumerate() {
            let _ = writeln!(out, "\nCRL [{i}] {}", crl.issuer);
            let next = crl.next_update.map_or_else(|| "-".to_string(), rfc3339);
            let _ = writeln!(
                out,
                "    updated    {} (next {next})",
                rfc3339(crl.this_update)
            );
            let _ = writeln!(out, "    revoked    {}", crl.revoked);
        }
        if !self.certificates.is_empty() {
            let order: Vec<String> = self.chain.order.iter().map(usize::to_string).collect();
            let state = if self.chain.complete {
                "complete"
            } else {
                "incomplete"
            };
            let _ = writeln!(out, "\nchain      {} ({state})", order.join(" → "));
        }
        if self.findings.is_empty() {
            let _ = writeln!(out, "findings   none");
        } else {
            let _ = writeln!(out, "findings");
            for f in self.findings {
                let _ = writeln!(
                    out,
                    "  {:<8} {:<20} {}",
                    f.severity.to_string(),
                    f.code.as_str(),
                    f.message
                );
            }
        }
        out
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}
