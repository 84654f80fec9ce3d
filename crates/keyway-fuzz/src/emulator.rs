//! The emulators' request parsing: any method, path, headers and body into any service,
//! served in process (same routing, auth checks and handlers as over HTTPS).
//!
//! Input layout: byte 0 picks the service, byte 1 the method, byte 2 the content type, byte 3
//! whether a valid bearer token is sent (so the fuzzer gets past authentication); then the
//! path and query up to the first newline; the rest is the body.

use std::sync::OnceLock;

use keyway_emulator::{Emulator, Role, Service};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    emulator: Emulator,
    vault_token: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (emulator, vault_token) = runtime.block_on(async {
            let emulator = Emulator::start().await.expect("the emulator starts");
            let tenant = emulator.add_tenant(Some("00000000-0000-0000-0000-00000000f022"));
            let identity = emulator
                .add_workload_identity(&tenant, "fuzz", "default", "fuzz")
                .expect("an identity");
            let vault = emulator.add_vault(&tenant, "fuzz").await.expect("a vault");
            vault.grant(&identity, Role::SecretsOfficer);
            vault.set_secret("seed", "value").expect("a secret");
            let token = emulator
                .vault_token(&identity, "default", "fuzz")
                .await
                .expect("a vault token");
            (emulator, token)
        });
        Fixture {
            runtime,
            emulator,
            vault_token,
        }
    })
}

const SERVICES: [Service; 5] = [
    Service::Entra,
    Service::Issuer,
    Service::KeyVault,
    Service::Kubernetes,
    Service::Arm,
];
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
];

/// One request into one emulated service. Any answer is fine; a panic (in a handler) or a
/// 5xx is a finding (no faults are injected). The fixture's state carries over from input to
/// input (objects created stay), as a long-running server's would.
pub fn emulator_request(data: &[u8]) {
    let [service, method, content_type, auth, rest @ ..] = data else {
        return;
    };
    let service = SERVICES[*service as usize % SERVICES.len()];
    let (path, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let fixture = fixture();
    let mut request = http::Request::builder()
        .method(METHODS[*method as usize % METHODS.len()])
        .uri(path)
        .header(
            "content-type",
            CONTENT_TYPES[*content_type as usize % CONTENT_TYPES.len()],
        );
    if auth % 2 == 1 {
        let token = match service {
            Service::Kubernetes => fixture.emulator.kubernetes_token(),
            _ => &fixture.vault_token,
        };
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let Ok(request) = request.body(body.to_vec()) else {
        return;
    };
    // A watch streams until its timeout (30 minutes by default, as on a real server): what
    // matters is that the request was parsed and answered, so stop reading after a moment.
    let response = fixture.runtime.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_millis(250),
            fixture.emulator.dispatch(service, request),
        )
        .await
    });
    if let Ok(Some(response)) = response {
        assert!(
            !response.status().is_server_error(),
            "{service} answered {} to a request it should refuse or serve",
            response.status()
        );
    }
}
