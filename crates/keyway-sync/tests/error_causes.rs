//! A source failure keeps the error it failed with: a caller walks `Error::source` down to the
//! Azure SDK's error (and its HTTP status) instead of parsing the message, the text stays what
//! it was, and a clone keeps the cause.

use std::error::Error as _;

use keyway_emulator::Emulator;
use keyway_sync::{SecretSource, SourceFailure, SyncError};

mod support;

#[tokio::test]
async fn a_refused_read_keeps_the_sdk_error_under_it() {
    let emulator = Emulator::start().await.unwrap();
    let (_vault, source) = support::vault::workload_source(&emulator, "causes-vault").await;

    let error = source.get("no-such-secret", None).await.unwrap_err();
    let SyncError::Source {
        failure,
        status,
        source: Some(cause),
        ..
    } = &error
    else {
        panic!("a source failure with its cause: {error:?}");
    };
    assert_eq!((*failure, *status), (SourceFailure::NotFound, Some(404)));
    let sdk = cause
        .get()
        .downcast_ref::<azure_core::Error>()
        .expect("the Azure SDK's error");
    assert_eq!(sdk.http_status().map(u16::from), Some(404));
    // Through the standard chain too, and the message is the library's own words, not the
    // SDK's dump.
    assert!(error.source().is_some(), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with("no-such-secret: not found, HTTP 404 ("),
        "{text}"
    );
    // Clone keeps it (the cause is shared).
    let copy = error.clone();
    assert_eq!(copy, error);
    assert!(copy.source().is_some());
}

/// A directory that cannot be made keeps the operating system's error, kind included.
#[test]
fn a_sink_failure_keeps_the_operating_system_s_error() {
    let file = std::env::temp_dir().join(format!("keyway-causes-{}", std::process::id()));
    std::fs::write(&file, b"not a directory").unwrap();
    let error = keyway_sync::DirectorySink::new(file.join("secrets")).unwrap_err();
    let _ = std::fs::remove_file(&file);
    let SyncError::Sink {
        source: Some(cause),
        ..
    } = &error
    else {
        panic!("a sink failure with its cause: {error:?}");
    };
    let io = cause
        .get()
        .downcast_ref::<std::io::Error>()
        .expect("the operating system's error");
    assert_ne!(io.kind(), std::io::ErrorKind::Other, "{io}");
    assert!(error.to_string().starts_with("writing "), "{error}");
}
