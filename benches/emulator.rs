//! How fast the emulated Key Vault answers authenticated secret GETs on loopback, so it is
//! never the bottleneck of a benchmark or a test.
//!
//! Run: `cargo bench --bench emulator` (prints its figures; no criterion). Client and server
//! share the machine: on 2 cores the figure is what both together sustain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyway_emulator::{Emulator, Role, ThrottleLimits};

/// Concurrent connections, each with its own client (and so its own TLS connection), one
/// request in flight on each.
const CONCURRENCY: usize = 64;
const DURATION: Duration = Duration::from_secs(5);

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    let app = emulator
        .add_workload_identity(&tenant, "bench", "default", "bench")
        .unwrap();
    let vault = emulator.add_vault(&tenant, "bench").await.unwrap();
    vault.grant(&app, Role::SecretsUser);
    vault.set_secret("db-password", &"x".repeat(64)).unwrap();
    // Measure the emulator, not the real service's 4,000-per-10-s budget it enforces by default.
    vault.set_throttle(ThrottleLimits {
        others: u32::MAX,
        ..ThrottleLimits::default()
    });

    let clients: Vec<reqwest::Client> = (0..CONCURRENCY)
        .map(|_| emulator.http_client().unwrap())
        .collect();
    let token = Arc::new(
        emulator
            .vault_token(&app, "default", "bench")
            .await
            .unwrap(),
    );
    let url = Arc::new(format!(
        "{}/secrets/db-password/?api-version=2025-07-01",
        vault.url()
    ));

    // Warm up connections.
    for http in &clients {
        http.get(url.as_str())
            .bearer_auth(token.as_str())
            .send()
            .await
            .unwrap();
    }
    emulator.counters().reset();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for http in clients {
        let (url, token, stop, ok) = (url.clone(), token.clone(), stop.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let response = http
                    .get(url.as_str())
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                response.bytes().await.unwrap();
                latencies.push(t.elapsed());
                ok.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    tokio::time::sleep(DURATION).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let count = ok.load(Ordering::Relaxed);
    let counted =
        emulator
            .counters()
            .count_status(keyway_emulator::Service::KeyVault, "GetSecret", 200);
    println!(
        "emulator: authenticated GET /secrets/{{name}} over HTTPS (HTTP/2), {CONCURRENCY} connections, {DURATION:?}"
    );
    println!("  requests      {count} (the emulator counted {counted})");
    println!(
        "  throughput    {:.0} GETs/s",
        count as f64 / elapsed.as_secs_f64()
    );
    println!("  latency p50   {:?}", pct(0.50));
    println!("  latency p99   {:?}", pct(0.99));
}
