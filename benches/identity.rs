//! FederatedCredential: what a token costs from the cache, and a full exchange against the
//! emulated Entra ID (read the token file, POST over HTTPS, verify the assertion's signature
//! and fetch the issuer's documents at the emulator, sign the access token).
//!
//! Run: `cargo bench --bench identity`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keyway_emulator::{Emulator, ServiceAccountToken};
use keyway_identity::{FederatedCredential, FederatedCredentialOptions, ProjectedTokenFile};

const SCOPE: &str = "https://vault.azure.net/.default";

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (emulator, credential, token_file) = runtime.block_on(async {
        let emulator = Emulator::start().await.unwrap();
        let tenant = emulator.add_tenant(None);
        let app = emulator
            .add_workload_identity(&tenant, "bench", "default", "bench")
            .unwrap();
        let token_file =
            std::env::temp_dir().join(format!("keyway-bench-identity-{}.jwt", std::process::id()));
        std::fs::write(
            &token_file,
            emulator.mint_service_account_token(&ServiceAccountToken::new("default", "bench")),
        )
        .unwrap();
        let credential = FederatedCredential::new(
            &tenant,
            &app.client_id,
            &emulator.authority_host(),
            Arc::new(ProjectedTokenFile::new(&token_file)),
            FederatedCredentialOptions {
                client_options: emulator.client_options().unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
        (emulator, credential, token_file)
    });

    let mut group = c.benchmark_group("identity");
    group.bench_function("get_token/hot_cache", |b| {
        b.iter(|| runtime.block_on(credential.token(&[SCOPE])).unwrap())
    });
    group.bench_function("exchange/cold_against_emulator", |b| {
        b.iter(|| runtime.block_on(credential.exchange(&[SCOPE])).unwrap())
    });
    group.finish();
    drop(emulator);
    let _ = std::fs::remove_file(token_file);
}

criterion_group!(identity, benches);
criterion_main!(identity);
