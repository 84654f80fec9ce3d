//! What a Key Vault failure says: the host that could not be reached and why, Key Vault's own
//! code and message with the role that grants the operation, and a file set as az sets it.

use std::sync::Arc;

use keyway_cert::Encoding;
use keyway_emulator::{Emulator, Role};
use keyway_sync::source::SecretUpload;
use keyway_sync::{KeyVaultSource, KeyVaultSourceOptions, SecretSource, SourceFailure, SyncError};

mod support;

#[tokio::test]
async fn an_unreachable_vault_names_the_host_and_the_cause() {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "app", "default", "app")
        .unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut client_options = emulator.client_options().unwrap();
    client_options.retry = azure_core::http::RetryOptions::none();
    let source = KeyVaultSource::new(
        &url,
        emulator
            .workload_credential(&app, "default", "app")
            .unwrap(),
        KeyVaultSourceOptions {
            client_options,
            verify_challenge_resource: false,
            ..Default::default()
        },
    )
    .unwrap();
    match source.list().await.unwrap_err() {
        SyncError::Source {
            failure, message, ..
        } => {
            assert_eq!(failure, SourceFailure::Unavailable, "{message}");
            assert!(message.contains(&url), "the host: {message}");
            assert!(
                message.contains("Connection refused") && message.contains("nothing listens"),
                "the cause and the fix: {message}"
            );
            assert!(!message.contains("no longer be retried"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refusal_carries_key_vault_s_words_and_the_missing_role() {
    let emulator = Emulator::start().await.unwrap();
    let (app, vault) = emulator
        .workload_vault("errors-vault", "default", "app", Role::SecretsUser)
        .await
        .unwrap();
    let credential: Arc<dyn azure_core::credentials::TokenCredential> = emulator
        .workload_credential(&app, "default", "app")
        .unwrap();
    let client = azure_security_keyvault_secrets::SecretClient::new(
        vault.url(),
        credential.clone(),
        Some(azure_security_keyvault_secrets::SecretClientOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: Some(false),
            ..Default::default()
        }),
    )
    .unwrap();
    let upload = SecretUpload::new("greeting", b"a\r\nb", Encoding::Utf8, None).unwrap();
    let text = upload.send(&client).await.unwrap_err().to_string();
    assert!(text.contains("ForbiddenByRbac"), "{text}");
    assert!(text.contains("Key Vault Secrets Officer"), "{text}");
    assert!(!text.contains("\\r\\n") && !text.contains('\r'), "{text}");

    // With the role, the value is stored as az stores it: text mode turns CRLF into LF, and
    // the file-encoding tag is set.
    vault.grant(&app, Role::SecretsOfficer);
    upload.send(&client).await.unwrap();
    let source = support::vault::source(&emulator, &vault, credential);
    let stored = source.get("greeting", None).await.unwrap();
    assert_eq!(stored.value.as_bytes(), b"a\nb");
    assert_eq!(
        stored
            .properties
            .tags
            .get("file-encoding")
            .map(String::as_str),
        Some("utf-8")
    );

    // Keys need a keys role: the hint names it, not Secrets User.
    let keys = source.list_keys().await.unwrap_err().to_string();
    assert!(
        keys.contains("Key Vault Reader or Key Vault Crypto User"),
        "{keys}"
    );
}
