//! A vault whose listing pages somewhere it should not: to another host (the Azure SDK would
//! send that host the bearer token) or to itself forever. The listing is refused before the
//! token leaves, ends instead of looping, and says which link and why.

mod support;

use keyway_emulator::{Emulator, Service};
use keyway_sync::{KeyVaultSource, SecretSource, SyncError};

/// A vault with one secret, read by a workload identity that holds Secrets User on it.
async fn vault_and_source(emulator: &Emulator) -> (keyway_emulator::Vault, KeyVaultSource) {
    let (vault, source) = support::vault::workload_source(emulator, "paging-vault").await;
    vault.set_secret("db-password", "s3cret").unwrap();
    (vault, source)
}

fn refusal(error: SyncError) -> String {
    let text = error.to_string();
    assert!(matches!(error, SyncError::Source { .. }), "{error:?}");
    text
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_before_the_token_goes_there() {
    let emulator = Emulator::start().await.unwrap();
    let (vault, source) = vault_and_source(&emulator).await;
    // The thief: another vault of the same emulator, so another origin whose TLS the client
    // trusts — only the guard stands between it and the vault's bearer token.
    let thief_tenant = emulator.add_tenant(None);
    let thief_vault = emulator.add_vault(&thief_tenant, "thief").await.unwrap();
    let link = format!(
        "{}/secrets?api-version=2025-07-01&$skiptoken=x",
        thief_vault.url()
    );
    // One honest listing first, so the client holds its token and the count below is pages.
    assert_eq!(source.list().await.unwrap().len(), 1);
    let before = emulator.counters().count(Service::KeyVault, "GetSecrets");
    emulator.faults().force_next_link(Some(&link));

    let text = refusal(source.list().await.unwrap_err());
    // `https://host:port`: what stays of a URL without its path.
    let origin = |url: &str| url.split('/').take(3).collect::<Vec<_>>().join("/");
    assert!(
        text.contains(&origin(thief_vault.url())),
        "names the link's origin: {text}"
    );
    assert!(
        text.contains(&origin(vault.url())),
        "and the vault's: {text}"
    );
    assert_eq!(
        emulator.counters().count(Service::KeyVault, "GetSecrets") - before,
        1,
        "the vault's first page only: no request reached the other vault"
    );

    // A vault that pages normally again lists normally.
    emulator.faults().force_next_link(None);
    let listed = source.list().await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_next_link_to_the_same_page_ends_the_listing() {
    let emulator = Emulator::start().await.unwrap();
    let (vault, source) = vault_and_source(&emulator).await;
    let link = format!(
        "{}/secrets?api-version=2025-07-01&maxresults=25",
        vault.url()
    );
    emulator.faults().force_next_link(Some(&link));

    let text = refusal(source.list().await.unwrap_err());
    assert!(text.contains(&link), "names the repeated link: {text}");
    // The first page and the link it names once: the repeat is caught, not followed again.
    assert!(
        emulator.counters().count(Service::KeyVault, "GetSecrets") <= 3,
        "{:?}",
        emulator.requests()
    );
}
