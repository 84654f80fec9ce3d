//! Every example that shows one idea runs, against the emulators it starts itself: an example
//! that no longer works fails here, not in a reader's hands. Each `main` runs on its own runtime,
//! as `cargo run --example` runs it.

#[path = "../examples/sync_provider_class_to_directory.rs"]
mod sync_provider_class_to_directory;

#[path = "../examples/embed_controller.rs"]
mod embed_controller;

#[path = "../examples/custom_secret_source.rs"]
mod custom_secret_source;

#[path = "../examples/read_secret_with_workload_identity.rs"]
mod read_secret_with_workload_identity;

#[path = "../examples/emulator_with_azure_sdk.rs"]
mod emulator_with_azure_sdk;

#[path = "../examples/hex_certificate_to_tls.rs"]
#[allow(dead_code)] // its `main` reads the command line; the test calls `run`
mod hex_certificate_to_tls;

#[test]
fn sync_a_provider_class_into_a_directory() {
    sync_provider_class_to_directory::main().expect("the example runs");
}

#[test]
fn embed_the_controller() {
    embed_controller::main().expect("the example runs");
}

#[test]
fn write_a_custom_secret_source() {
    custom_secret_source::main().expect("the example runs");
}

#[test]
fn read_a_secret_with_workload_identity() {
    read_secret_with_workload_identity::main().expect("the example runs");
}

#[test]
fn the_emulators_under_the_official_azure_sdk() {
    emulator_with_azure_sdk::main().expect("the example runs");
}

#[test]
fn decode_a_hex_certificate_into_tls_files() {
    let out = std::env::temp_dir().join(format!("keyway-example-tls-{}", std::process::id()));
    hex_certificate_to_tls::run(None, &out).expect("the example runs");
    let crt = std::fs::read_to_string(out.join("tls.crt")).unwrap();
    let key = std::fs::read_to_string(out.join("tls.key")).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        crt.matches("BEGIN CERTIFICATE").count() >= 2,
        "the chain, leaf first"
    );
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
}
