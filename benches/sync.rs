//! keyway-sync at scale against the emulated Key Vault: the first full sync of N secrets, and a
//! steady-state cycle with nothing changed, for N = 1,000 and 10,000. Prints its figures.
//!
//! Run: `cargo bench --bench sync`. The emulator's throttle is lifted and the source's rate
//! limit raised so the figure is keyway's own; in production the default limit (2,000 requests
//! per 10 s, half the real budget) bounds a first sync of 10,000 secrets to ~50 s by design.

use std::sync::Arc;
use std::time::Instant;

use keyway_emulator::{Emulator, Role, Service, ThrottleLimits};
use keyway_sync::{
    KeyVaultObject, KeyVaultSource, KeyVaultSourceOptions, MemorySink, SyncSpec, Syncer,
};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for n in [1_000usize, 10_000] {
            run(n).await;
        }
    });
}

async fn run(n: usize) {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "bench", "default", "bench")
        .unwrap();
    let vault = emulator.add_vault(&tenant, "bench").await.unwrap();
    vault.grant(&app, Role::SecretsUser);
    vault.set_throttle(ThrottleLimits {
        others: u32::MAX,
        ..ThrottleLimits::default()
    });
    let objects: Vec<KeyVaultObject> = (0..n)
        .map(|i| {
            let name = format!("secret-{i:05}");
            vault
                .set_secret(&name, &format!("value-{i}-{}", "x".repeat(48)))
                .unwrap();
            KeyVaultObject::secret(name)
        })
        .collect();
    // Key Vault's `updated` has one-second resolution; let the seeding second pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let credential = emulator
        .workload_credential(&app, "default", "bench")
        .unwrap();
    let source = KeyVaultSource::new(
        vault.url(),
        credential,
        KeyVaultSourceOptions {
            client_options: emulator.client_options().unwrap(),
            verify_challenge_resource: false,
            max_concurrency: 32,
            requests_per_10s: u32::MAX,
            budget: None,
        },
    )
    .unwrap();
    let sink = Arc::new(MemorySink::new());
    let syncer = Syncer::new(
        SyncSpec::new(vault.url(), objects).unwrap(),
        Arc::new(source),
        sink.clone(),
    );

    let started = Instant::now();
    let first = syncer.run_once().await;
    let first_time = started.elapsed();
    assert!(first.all_synced());
    emulator.counters().reset();
    let started = Instant::now();
    let steady = syncer.run_once().await;
    let steady_time = started.elapsed();
    let gets = emulator.counters().count(Service::KeyVault, "GetSecret");
    let lists = emulator
        .counters()
        .count_status(Service::KeyVault, "GetSecrets", 200);
    println!("sync N = {n}");
    println!(
        "  first sync     {:.2} s, {:.0} secrets/s ({} list + {} get calls)",
        first_time.as_secs_f64(),
        n as f64 / first_time.as_secs_f64(),
        first.calls.list,
        first.calls.get
    );
    println!(
        "  steady cycle   {} ms, {lists} list calls (ceil(N/25) = {}), {gets} GETs, {} sink writes in total",
        steady_time.as_millis(),
        n.div_ceil(25),
        sink.writes()
    );
    println!("  peers per poll {n} GETs (one per object)");
    assert_eq!((steady.calls.get, steady.written), (0, false));
}
