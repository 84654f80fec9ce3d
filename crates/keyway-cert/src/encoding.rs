//! Secret-value encodings: what `az keyvault secret set --encoding ...` stores, and how to get
//! the file bytes back.
//!
//! The choice of encoding for a value follows the az CLI's download rule, made explicit: an
//! encoding given by the caller (an `objectEncoding`, a flag) wins; else the `file-encoding` tag
//! the az CLI writes on upload; else the value is sniffed (PEM armour, then hex, then base64,
//! then raw). The result says which encoding was used and why.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::{CertError, Result};

/// How a file's bytes are stored in a secret value (the az CLI's `--encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The value is the file's text as it is (the az CLI default). Binary input stays binary.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Lowercase hex of the file's bytes, no separators (decoding accepts either case).
    Hex,
    /// Standard base64 with a newline every 76 characters and at the end.
    Base64,
    /// 7-bit ASCII text.
    Ascii,
    /// The value's text re-encoded as UTF-16, little endian.
    #[serde(rename = "utf-16le")]
    Utf16Le,
    /// The value's text re-encoded as UTF-16, big endian.
    #[serde(rename = "utf-16be")]
    Utf16Be,
}

impl Encoding {
    /// Every encoding.
    pub const ALL: [Encoding; 6] = [
        Encoding::Utf8,
        Encoding::Hex,
        Encoding::Base64,
        Encoding::Ascii,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
    ];

    /// The name the az CLI and the `file-encoding` tag use.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Ascii => "ascii",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Encoding {
    type Err = CertError;

    /// Parses an encoding name, case-insensitively, with or without the dash (`utf8`, `UTF-8`).
    fn from_str(s: &str) -> Result<Self> {
        let normalised = s.trim().to_ascii_lowercase().replace(['-', '_'], "");
        Ok(match normalised.as_str() {
            "utf8" => Encoding::Utf8,
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            "ascii" => Encoding::Ascii,
            "utf16le" => Encoding::Utf16Le,
            "utf16be" => Encoding::Utf16Be,
            _ => {
                return Err(CertError::UnknownEncoding {
                    given: s.to_string(),
                });
            }
        })
    }
}

/// Why a value was decoded with the encoding it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingSource {
    /// The caller named it (`objectEncoding`, `--encoding`).
    Explicit,
    /// The secret's `file-encoding` tag named it.
    Tag,
    /// Nothing named it; the value's shape gave it away.
    Sniffed,
}

/// What decides how a value is decoded. `Default` sniffs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions<'a> {
    /// An encoding that wins over everything else.
    pub encoding: Option<Encoding>,
    /// The secret's `file-encoding` tag, if it has one; used when `encoding` is `None`.
    pub file_encoding_tag: Option<&'a str>,
}

/// A decoded secret value: the file bytes, and how they were obtained.
///
/// The bytes may be a private key; they are wiped on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Decoded {
    bytes: Zeroizing<Vec<u8>>,
    encoding: Encoding,
    source: EncodingSource,
}

impl Decoded {
    /// The decoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoding that was used.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Why that encoding was used.
    pub fn source(&self) -> EncodingSource {
        self.source
    }
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field(
                "bytes",
                &format_args!("<{} bytes redacted>", self.bytes.len()),
            )
            .field("encoding", &self.encoding)
            .field("source", &self.source)
            .finish()
    }
}

/// Decodes a secret value (or a file holding one) into the bytes that were uploaded.
///
/// ```
/// use keyway_cert::{decode_value, DecodeOptions, Encoding, EncodingSource};
/// let decoded = decode_value(b"68656c6c6f", DecodeOptions::default())?;
/// assert_eq!(decoded.bytes(), b"hello");
/// assert_eq!(decoded.encoding(), Encoding::Hex);
/// assert_eq!(decoded.source(), EncodingSource::Sniffed);
/// # Ok::<(), keyway_cert::CertError>(())
/// ```
pub fn decode_value(value: &[u8], options: DecodeOptions<'_>) -> Result<Decoded> {
    let (encoding, source) = match (options.encoding, options.file_encoding_tag) {
        (Some(encoding), _) => (encoding, EncodingSource::Explicit),
        (None, Some(tag)) => (tag.parse()?, EncodingSource::Tag),
        (None, None) => (sniff(value), EncodingSource::Sniffed),
    };
    let bytes = decode_as(value, encoding)?;
    Ok(Decoded {
        bytes,
        encoding,
        source,
    })
}

/// Decodes `value` with exactly `encoding`.
pub fn decode_as(value: &[u8], encoding: Encoding) -> Result<Zeroizing<Vec<u8>>> {
    match encoding {
        Encoding::Utf8 => Ok(Zeroizing::new(value.to_vec())),
        Encoding::Hex => decode_hex(value),
        Encoding::Base64 => decode_base64(value),
        Encoding::Ascii => match value.iter().position(|b| !b.is_ascii()) {
            Some(offset) => Err(CertError::Decode {
                encoding,
                offset,
                reason: format!("byte 0x{:02x} is not ASCII", value[offset]),
            }),
            None => Ok(Zeroizing::new(value.to_vec())),
        },
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let text = utf8(value, encoding)?;
            let little = encoding == Encoding::Utf16Le;
            let mut out = Vec::with_capacity(text.len() * 2);
            for unit in text.encode_utf16() {
                out.extend_from_slice(&if little {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            Ok(Zeroizing::new(out))
        }
    }
}

/// Guesses the encoding of a value that nothing names: PEM armour means text as is; then an
/// even run of hex digits; then base64 that decodes; else the bytes as they are.
pub fn sniff(value: &[u8]) -> Encoding {
    if contains(value, b"-----BEGIN ") {
        return Encoding::Utf8;
    }
    let trimmed = value.trim_ascii();
    if trimmed.is_empty() {
        return Encoding::Utf8;
    }
    if trimmed.len().is_multiple_of(2) && trimmed.iter().all(u8::is_ascii_hexdigit) {
        return Encoding::Hex;
    }
    let base64_alphabet = |b: &u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
    };
    if trimmed.iter().all(base64_alphabet) && decode_base64(value).is_ok() {
        return Encoding::Base64;
    }
    Encoding::Utf8
}

/// Encodes file bytes into the secret value `az keyvault secret set --encoding <encoding>`
/// would store, byte for byte. az reads the text encodings (utf-8, utf-16le, utf-16be, ascii)
/// in Python's text mode, so `\r\n` and a lone `\r` are stored as `\n`, and refuses a file that
/// does not decode in the named encoding; hex and base64 keep every byte.
///
/// ```
/// use keyway_cert::{encode_for_upload, Encoding};
/// assert_eq!(encode_for_upload(b"\x01\xab", Encoding::Hex)?, "01ab");
/// assert_eq!(encode_for_upload(b"hello", Encoding::Base64)?, "aGVsbG8=\n");
/// assert_eq!(encode_for_upload(b"a\r\nb\rc", Encoding::Utf8)?, "a\nb\nc");
/// # Ok::<(), keyway_cert::CertError>(())
/// ```
pub fn encode_for_upload(bytes: &[u8], encoding: Encoding) -> Result<String> {
    let text = match encoding {
        Encoding::Hex => return Ok(hex::encode(bytes)),
        Encoding::Base64 => return Ok(base64_mime(bytes)),
        Encoding::Utf8 => utf8(bytes, encoding)?.to_owned(),
        Encoding::Ascii => {
            decode_as(bytes, Encoding::Ascii)?;
            String::from_utf8_lossy(bytes).into_owned()
        }
        Encoding::Utf16Le | Encoding::Utf16Be => utf16(bytes, encoding)?,
    };
    Ok(universal_newlines(text))
}

/// What Python's text mode does to a file az reads with a text encoding: `\r\n` and a lone
/// `\r` become `\n`.
fn universal_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn utf16(bytes: &[u8], encoding: Encoding) -> Result<String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(CertError::Decode {
            encoding,
            offset: bytes.len() - 1,
            reason: "odd number of bytes: UTF-16 has two bytes per unit".into(),
        });
    }
    let units = bytes.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if encoding == Encoding::Utf16Le {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    let mut text = String::with_capacity(bytes.len() / 2);
    for (index, decoded) in char::decode_utf16(units).enumerate() {
        match decoded {
            Ok(c) => text.push(c),
            Err(_) => {
                return Err(CertError::Decode {
                    encoding,
                    offset: index * 2,
                    reason: "unpaired UTF-16 surrogate".into(),
                });
            }
        }
    }
    Ok(text)
}

/// Python's `base64.encodebytes`: standard alphabet, a newline after every 76 characters and
/// at the end (nothing at all for empty input).
fn base64_mime(bytes: &[u8]) -> String {
    let flat = STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 + 1);
    for line in flat.as_bytes().chunks(76) {
        // Base64 output is ASCII, so every chunk boundary is a char boundary.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn utf8(bytes: &[u8], encoding: Encoding) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| CertError::Decode {
        encoding,
        offset: e.valid_up_to(),
        reason: "invalid UTF-8; binary files need --encoding hex or base64".into(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn decode_hex(value: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let start = value.len() - value.trim_ascii_start().len();
    let digits = value.trim_ascii();
    if let Ok(bytes) = hex::decode(digits) {
        return Ok(Zeroizing::new(bytes));
    }
    // Only on failure: find the first bad character, or say the length is odd.
    if let Some(i) = digits.iter().position(|b| !b.is_ascii_hexdigit()) {
        let byte = digits[i];
        let shown = if byte.is_ascii_graphic() {
            format!("{:?}", byte as char)
        } else {
            format!("byte 0x{byte:02x}")
        };
        return Err(CertError::Decode {
            encoding: Encoding::Hex,
            offset: start + i,
            reason: format!(
                "{shown} is not a hex digit (0-9, a-f, A-F); separators are not allowed"
            ),
        });
    }
    Err(CertError::Decode {
        encoding: Encoding::Hex,
        offset: start + digits.len(),
        reason: format!(
            "odd number of hex digits ({}): every byte is two digits, so the value is truncated",
            digits.len()
        ),
    })
}

fn decode_base64(value: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    // Keep the offset of every kept character so errors point into the original value.
    let mut compact = Zeroizing::new(Vec::with_capacity(value.len()));
    let mut offsets = Vec::with_capacity(value.len());
    for (offset, &b) in value.iter().enumerate() {
        if !b.is_ascii_whitespace() {
            compact.push(b);
            offsets.push(offset);
        }
    }
    let at = |i: usize| offsets.get(i).copied().unwrap_or(value.len());
    let error = |offset: usize, reason: String| CertError::Decode {
        encoding: Encoding::Base64,
        offset,
        reason,
    };
    STANDARD.decode(&*compact).map(Zeroizing::new).map_err(|e| match e {
        base64::DecodeError::InvalidByte(i, b) => {
            let hint = if matches!(b, b'-' | b'_') {
                "; this looks like base64url, which Key Vault's base64 encoding does not use"
            } else if b == b'=' {
                "; padding may only stand at the end"
            } else {
                ""
            };
            let shown = if b.is_ascii_graphic() {
                format!("{:?}", b as char)
            } else {
                format!("byte 0x{b:02x}")
            };
            error(at(i), format!("{shown} is not in the base64 alphabet{hint}"))
        }
        base64::DecodeError::InvalidLength(n) => error(
            value.len(),
            format!("{n} base64 characters cannot be a whole value (truncated, or missing '=' padding)"),
        ),
        base64::DecodeError::InvalidLastSymbol(i, _) => error(
            at(i),
            "the last character has bits set that no byte uses (truncated or altered value)".into(),
        ),
        base64::DecodeError::InvalidPadding => {
            let first_pad = compact.iter().position(|&b| b == b'=').unwrap_or(compact.len());
            error(at(first_pad), "bad base64 padding: expected '=' to fill the last group of 4".into())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_offset(r: Result<Zeroizing<Vec<u8>>>) -> usize {
        match r {
            Err(CertError::Decode { offset, .. }) => offset,
            other => panic!("expected a decode error, got {other:?}"),
        }
    }

    #[test]
    fn hex_accepts_either_case_and_reports_offsets() {
        assert_eq!(&*decode_as(b"0aFF", Encoding::Hex).unwrap(), &[0x0a, 0xff]);
        assert_eq!(err_offset(decode_as(b"0a0", Encoding::Hex)), 3);
        assert_eq!(err_offset(decode_as(b"0a:b", Encoding::Hex)), 2);
        assert_eq!(err_offset(decode_as(b"  0a0g", Encoding::Hex)), 5);
    }

    #[test]
    fn base64_accepts_newlines_and_reports_offsets() {
        let text = base64_mime(&[7u8; 100]);
        assert!(text.contains('\n'));
        assert_eq!(
            &*decode_as(text.as_bytes(), Encoding::Base64).unwrap(),
            &[7u8; 100]
        );
        assert_eq!(err_offset(decode_as(b"aGVs\nbG8*", Encoding::Base64)), 8);
        assert_eq!(err_offset(decode_as(b"aGVsbG8", Encoding::Base64)), 7);
        let CertError::Decode { reason, .. } = decode_value(
            b"ab-_",
            DecodeOptions {
                encoding: Some(Encoding::Base64),
                file_encoding_tag: None,
            },
        )
        .unwrap_err() else {
            panic!()
        };
        assert!(reason.contains("base64url"), "{reason}");
    }

    #[test]
    fn base64_mime_matches_python_encodebytes() {
        // python3 -c 'import base64;print(repr(base64.encodebytes(bytes(range(60)))))'
        let expected =
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\nOTo7\n";
        assert_eq!(base64_mime(&(0u8..60).collect::<Vec<_>>()), expected);
        assert_eq!(base64_mime(b""), "");
    }

    #[test]
    fn choice_follows_explicit_then_tag_then_sniffing() {
        let hexed = b"3031";
        let explicit = decode_value(
            hexed,
            DecodeOptions {
                encoding: Some(Encoding::Utf8),
                file_encoding_tag: Some("hex"),
            },
        )
        .unwrap();
        assert_eq!(
            (explicit.bytes(), explicit.source()),
            (&b"3031"[..], EncodingSource::Explicit)
        );
        let tagged = decode_value(
            hexed,
            DecodeOptions {
                encoding: None,
                file_encoding_tag: Some("hex"),
            },
        )
        .unwrap();
        assert_eq!(
            (tagged.bytes(), tagged.source()),
            (&b"01"[..], EncodingSource::Tag)
        );
        let sniffed = decode_value(hexed, DecodeOptions::default()).unwrap();
        assert_eq!(sniffed.encoding(), Encoding::Hex);
        assert!(matches!(
            decode_value(
                hexed,
                DecodeOptions {
                    encoding: None,
                    file_encoding_tag: Some("rot13")
                }
            ),
            Err(CertError::UnknownEncoding { .. })
        ));
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Encoding::Utf8
        );
        assert_eq!(sniff(b"deadBEEF"), Encoding::Hex);
        assert_eq!(sniff(b"aGVsbG8=\n"), Encoding::Base64);
        assert_eq!(sniff(&[0x30, 0x82, 0x01]), Encoding::Utf8);
        assert_eq!(sniff(b""), Encoding::Utf8);
    }

    #[test]
    fn utf16_round_trip() {
        let le = decode_as("hé".as_bytes(), Encoding::Utf16Le).unwrap();
        assert_eq!(&*le, &[b'h', 0, 0xe9, 0]);
        assert_eq!(encode_for_upload(&le, Encoding::Utf16Le).unwrap(), "hé");
        let be = decode_as("hé".as_bytes(), Encoding::Utf16Be).unwrap();
        assert_eq!(encode_for_upload(&be, Encoding::Utf16Be).unwrap(), "hé");
    }

    #[test]
    fn text_encodings_store_newlines_as_az_reads_them() {
        let windows = b"-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n";
        let unix = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert_eq!(encode_for_upload(windows, Encoding::Utf8).unwrap(), unix);
        assert_eq!(encode_for_upload(windows, Encoding::Ascii).unwrap(), unix);
        assert_eq!(
            encode_for_upload(b"a\rb\r\r\nc", Encoding::Utf8).unwrap(),
            "a\nb\n\nc"
        );
        let le: Vec<u8> = "x\r\ny".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(encode_for_upload(&le, Encoding::Utf16Le).unwrap(), "x\ny");
        // Binary encodings keep every byte.
        assert_eq!(encode_for_upload(b"\r\n", Encoding::Hex).unwrap(), "0d0a");
        assert_eq!(
            encode_for_upload(b"\r\n", Encoding::Base64).unwrap(),
            "DQo=\n"
        );
    }

    #[test]
    fn upload_of_binary_as_utf8_names_the_fix() {
        let err = encode_for_upload(&[0x30, 0x82, 0xff], Encoding::Utf8).unwrap_err();
        assert!(err.to_string().contains("--encoding hex"), "{err}");
    }

    #[test]
    fn debug_is_redacted() {
        let d = decode_value(b"secret-value", DecodeOptions::default()).unwrap();
        let shown = format!("{d:?}");
        assert!(
            !shown.contains("secret-value") && shown.contains("12 bytes"),
            "{shown}"
        );
    }
}
