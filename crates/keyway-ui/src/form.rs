//! Reading forms: multipart uploads (in memory, each file at most 64 KiB) and query values.

use std::collections::BTreeMap;

use axum::extract::Multipart;
use axum::http::StatusCode;
use keyway_stores::InputFile;

use crate::error::UiError;
use crate::session::Session;
use crate::uploads::MAX_FILE_BYTES;

/// The most a text field may weigh.
const MAX_FIELD_BYTES: usize = 4096;

/// A multipart form: its text fields and its files (by field name).
#[derive(Default)]
pub(crate) struct Upload {
    fields: BTreeMap<String, String>,
    files: BTreeMap<String, InputFile>,
}

impl Upload {
    /// Reads `multipart` to its end, in memory, and checks its `csrf` field is `session`'s.
    pub async fn read(mut multipart: Multipart, session: &Session) -> Result<Upload, UiError> {
        let mut upload = Upload::default();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return Err(multipart_error(e)),
            };
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(file_name) => {
                    let bytes = field.bytes().await.map_err(multipart_error)?;
                    if file_name.is_empty() && bytes.is_empty() {
                        // A file input left empty.
                        continue;
                    }
                    if bytes.len() > MAX_FILE_BYTES {
                        return Err(UiError::TooLarge {
                            file: file_name,
                            limit: MAX_FILE_BYTES / 1024,
                        });
                    }
                    upload
                        .files
                        .insert(name, InputFile::new(file_name, bytes.to_vec()));
                }
                None => {
                    let text = field.text().await.map_err(multipart_error)?;
                    if text.len() > MAX_FIELD_BYTES {
                        return Err(UiError::bad_form(&name, "too long"));
                    }
                    upload.fields.insert(name, text);
                }
            }
        }
        session.require_csrf(upload.field("csrf"))?;
        Ok(upload)
    }

    /// Text field `name`, if given and not empty.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// File field `name`, required.
    pub fn take_file(&mut self, name: &str, what: &str) -> Result<InputFile, UiError> {
        self.files
            .remove(name)
            .ok_or_else(|| UiError::bad_form(name, format!("choose {what}")))
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> UiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        UiError::TooLarge {
            file: "the upload".into(),
            limit: MAX_FILE_BYTES / 1024,
        }
    } else {
        UiError::bad_form("upload", e.body_text())
    }
}
