//! The bodies of keyway's fuzz targets, one function per parser, so that the coverage-guided
//! fuzzers in `fuzz/` (cargo-fuzz, libFuzzer) and the corpus replay test run exactly the same
//! code. Each function takes arbitrary bytes; a panic, or a broken invariant (which panics), is a
//! finding. [`TARGETS`] names them all; `tests/corpora.rs` replays every committed corpus file
//! through them in an ordinary `cargo test`.
//!
//! ```
//! // What a fuzzer does with each input, and what the replay test does with each corpus file:
//! keyway_fuzz::run("secret_value", b"68656c6c6f");
//! keyway_fuzz::run("jwt_claims", b"not.a.jwt");
//! ```

mod certificates;
mod cluster;
mod emulator;
mod identity;
mod sync;

pub use certificates::{der, pem_bundle, pkcs12, secret_value};
pub use cluster::k3s_config;
pub use emulator::emulator_request;
pub use identity::{entra_error, jwt_claims};
pub use sync::{secret_provider_class, spc_objects};

/// A fuzz target: its name (the directory of its corpus under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: [Target; 10] = [
    ("secret_value", secret_value),
    ("pem_bundle", pem_bundle),
    ("der", der),
    ("pkcs12", pkcs12),
    ("spc_objects", spc_objects),
    ("jwt_claims", jwt_claims),
    ("entra_error", entra_error),
    ("k3s_config", k3s_config),
    ("emulator_request", emulator_request),
    ("secret_provider_class", secret_provider_class),
];

/// Runs the target called `name` on `data`; panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    let (_, body) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target named {name:?}"));
    body(data)
}
