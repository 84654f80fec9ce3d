//! An MSAL-based client that is not the Rust SDK — Python's `msal`, from PyPI — gets a Key
//! Vault token from the emulated Entra the way it gets one from Entra: instance discovery,
//! then the tenant's OpenID metadata, then the client-credentials grant with a federated
//! client assertion. The token it gets reads a secret from an emulated vault.
//!
//! The msal tests run `tests/msal_client.py` with `python3`; without `python3`, or without
//! the `msal` module, they say so and check nothing, unless `KEYWAY_REQUIRE_MSAL=1` makes that
//! a failure. CI installs the pinned `msal` (`.ci/run`). The documents' shapes and errors are
//! checked over plain HTTPS as well, without Python.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use keyway_emulator::{Emulator, Identity, Role, Service, ServiceAccountToken, Vault};
use serde_json::Value;

/// Whether `python3` with `msal` is here; `None` (after saying why) when it is not.
fn python_with_msal() -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("KEYWAY_PYTHON").unwrap_or("python3".into()));
    let why = match Command::new(&python)
        .args(["-c", "import msal; print(msal.__version__)"])
        .output()
    {
        Ok(output) if output.status.success() => return Some(python),
        Ok(output) => format!(
            "the msal module is not importable ({}); pip install msal to run this test",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => format!("{} cannot be run ({e})", python.display()),
    };
    assert!(
        std::env::var("KEYWAY_REQUIRE_MSAL").as_deref() != Ok("1"),
        "KEYWAY_REQUIRE_MSAL=1 but {why}"
    );
    eprintln!("{why}: nothing checked");
    None
}

struct World {
    emulator: Emulator,
    tenant: String,
    app: Identity,
    vault: Vault,
    dir: PathBuf,
}

const NAMESPACE: &str = "payments";
const SERVICE_ACCOUNT: &str = "msal-client";

async fn world(name: &str) -> World {
    let emulator = Emulator::start().await.unwrap();
    let tenant = emulator.add_tenant(None);
    emulator
        .add_tenant_domain(&tenant, "contoso.onmicrosoft.com")
        .unwrap();
    let app = emulator
        .add_workload_identity(&tenant, "msal-app", NAMESPACE, SERVICE_ACCOUNT)
        .unwrap();
    let vault = emulator.add_vault(&tenant, "msal-vault").await.unwrap();
    vault.grant(&app, Role::SecretsUser);
    vault.set_secret("db-password", "from-msal").unwrap();
    let dir = std::env::temp_dir().join(format!("keyway-msal-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    let token =
        emulator.mint_service_account_token(&ServiceAccountToken::new(NAMESPACE, SERVICE_ACCOUNT));
    std::fs::write(dir.join("token"), token).unwrap();
    World {
        emulator,
        tenant,
        app,
        vault,
        dir,
    }
}

impl World {
    /// Runs the msal client for `authority_tenant` (off the runtime the emulator serves on)
    /// and returns what it printed.
    async fn msal(&self, python: &Path, authority_tenant: &str, capabilities: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/msal_client.py");
        let mut command = Command::new(python);
        command
            .arg(script)
            .arg(self.emulator.authority_host())
            .arg(authority_tenant)
            .arg(&self.app.client_id)
            .arg(self.dir.join("token"))
            .args(capabilities)
            .env("REQUESTS_CA_BUNDLE", self.dir.join("ca.pem"))
            // Nothing from the machine's environment steers the client elsewhere.
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("MSAL_FORCE_REGION");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the msal client failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Reads the secret with `token`, as a Key Vault client would.
    async fn read_secret(&self, token: &str) -> (u16, Value) {
        let response = self
            .emulator
            .http_client()
            .unwrap()
            .get(format!(
                "{}/secrets/db-password?api-version=2025-07-01",
                self.vault.url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn entra_count(&self, operation: &str, status: u16) -> u64 {
        self.emulator
            .counters()
            .count_status(Service::Entra, operation, status)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The payload of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn urls(outcome: &Value) -> Vec<String> {
    outcome["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["url"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn msal_python_gets_a_vault_token_through_instance_and_tenant_discovery() {
    let Some(python) = python_with_msal() else {
        return;
    };
    let w = world("guid").await;
    let authority = w.emulator.authority_host();

    let outcome = w.msal(&python, &w.tenant, &["cp1"]).await;
    assert_eq!(outcome["ok"], true, "{outcome}");
    let result = &outcome["result"];
    assert_eq!(result["token_type"], "Bearer", "{result}");
    assert_eq!(result["token_source"], "identity_provider", "{result}");
    // The second call came from msal's cache: the emulator's answer was cacheable.
    assert_eq!(outcome["second_source"], "cache", "{outcome}");
    assert_eq!(
        outcome["token_endpoint"].as_str(),
        Some(format!("{authority}/{}/oauth2/v2.0/token", w.tenant).as_str())
    );

    // msal asked the emulator's instance discovery, then the v2.0 metadata it named, then
    // the token endpoint the metadata named — and nothing else.
    let urls = urls(&outcome);
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert!(
        urls[0].starts_with(&format!("{authority}/common/discovery/instance?")),
        "{urls:?}"
    );
    assert_eq!(
        urls[1],
        format!(
            "{authority}/{}/v2.0/.well-known/openid-configuration",
            w.tenant
        )
    );
    assert_eq!(
        urls[2],
        format!("{authority}/{}/oauth2/v2.0/token", w.tenant)
    );
    assert_eq!(w.entra_count("InstanceDiscovery", 200), 1);
    assert_eq!(w.entra_count("OpenIdConfiguration", 200), 1);
    assert_eq!(w.entra_count("Token", 200), 1);

    let token = result["access_token"].as_str().unwrap();
    let claims = claims(token);
    assert_eq!(claims["aud"], "https://vault.azure.net", "{claims}");
    assert_eq!(claims["tid"], w.tenant.as_str(), "{claims}");
    assert_eq!(claims["appid"], w.app.client_id.as_str(), "{claims}");
    // msal sent the client capability in `claims`; Entra puts it in the token.
    assert_eq!(claims["xms_cc"], serde_json::json!(["cp1"]), "{claims}");

    // The token is the emulated Entra's: the vault verifies it and serves the secret.
    let (status, body) = w.read_secret(token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], "from-msal");
}

#[tokio::test]
async fn msal_python_names_the_tenant_by_domain() {
    let Some(python) = python_with_msal() else {
        return;
    };
    let w = world("domain").await;
    let outcome = w.msal(&python, "Contoso.onmicrosoft.com", &[]).await;
    assert_eq!(outcome["ok"], true, "{outcome}");
    // The metadata names the tenant by id, so msal posts to the id's token endpoint.
    assert_eq!(
        outcome["token_endpoint"].as_str(),
        Some(
            format!(
                "{}/{}/oauth2/v2.0/token",
                w.emulator.authority_host(),
                w.tenant
            )
            .as_str()
        )
    );
    let token = outcome["result"]["access_token"].as_str().unwrap();
    let claims = claims(token);
    assert_eq!(claims["tid"], w.tenant.as_str(), "{claims}");
    assert!(claims.get("xms_cc").is_none(), "{claims}");
    assert_eq!(w.read_secret(token).await.0, 200);
}

#[tokio::test]
async fn msal_python_reports_an_unknown_tenant_as_entra_does() {
    let Some(python) = python_with_msal() else {
        return;
    };
    let w = world("unknown").await;
    let unknown = "11111111-2222-3333-4444-555555555555";
    let outcome = w.msal(&python, unknown, &[]).await;
    assert_eq!(outcome["ok"], false, "{outcome}");
    // msal's own words, from Entra's answer to the metadata request.
    let error = outcome["error"].as_str().unwrap();
    assert!(
        error.contains("Unable to get authority configuration")
            && error.contains("double check your tenant name or GUID"),
        "{error}"
    );
    let cause = outcome["cause"].as_str().unwrap();
    assert!(
        cause.contains("AADSTS90002")
            && cause.contains(&format!("Tenant '{unknown}' not found"))
            && cause.contains("invalid_tenant"),
        "{cause}"
    );
    assert_eq!(w.entra_count("OpenIdConfiguration", 400), 1);
    assert_eq!(w.emulator.counters().count(Service::Entra, "Token"), 0);
}

// ---- The documents over plain HTTPS: shapes and errors, no Python needed. ----

async fn get(emulator: &Emulator, path: &str) -> (u16, Value) {
    let response = emulator
        .http_client()
        .unwrap()
        .get(format!("{}{path}", emulator.authority_host()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn the_v2_metadata_has_entras_shape() {
    let w = world("v2").await;
    let a = w.emulator.authority_host();
    let t = &w.tenant;
    let (status, doc) = get(
        &w.emulator,
        &format!("/{t}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    for (key, value) in [
        ("issuer", format!("{a}/{t}/v2.0")),
        ("token_endpoint", format!("{a}/{t}/oauth2/v2.0/token")),
        (
            "authorization_endpoint",
            format!("{a}/{t}/oauth2/v2.0/authorize"),
        ),
        (
            "device_authorization_endpoint",
            format!("{a}/{t}/oauth2/v2.0/devicecode"),
        ),
        (
            "end_session_endpoint",
            format!("{a}/{t}/oauth2/v2.0/logout"),
        ),
        ("jwks_uri", format!("{a}/{t}/discovery/v2.0/keys")),
        ("cloud_instance_name", "microsoftonline.com".into()),
        ("tenant_region_scope", "WW".into()),
    ] {
        assert_eq!(doc[key].as_str(), Some(value.as_str()), "{key}: {doc}");
    }
    for (key, member) in [
        ("response_types_supported", "code"),
        ("subject_types_supported", "pairwise"),
        ("id_token_signing_alg_values_supported", "RS256"),
        ("token_endpoint_auth_methods_supported", "private_key_jwt"),
        ("scopes_supported", "openid"),
        ("claims_supported", "tid"),
    ] {
        let values = doc[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {doc}"));
        assert!(values.iter().any(|v| v == member), "{key}: {doc}");
    }
    // The jwks_uri serves the keys the access tokens are signed with.
    let (status, jwks) = get(&w.emulator, &format!("/{t}/discovery/v2.0/keys")).await;
    assert_eq!(
        (status, jwks["keys"][0]["kty"].as_str()),
        (200, Some("RSA"))
    );

    // A domain name and an upper-case id name the same tenant; the document names it by id.
    for alias in ["CONTOSO.onmicrosoft.com".to_string(), t.to_uppercase()] {
        let (status, by_alias) = get(
            &w.emulator,
            &format!("/{alias}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!((status, &by_alias), (200, &doc), "{alias}");
    }

    // common and organizations: endpoints under that name, the `{tenantid}` issuer, no region.
    for audience in ["common", "organizations"] {
        let (status, doc) = get(
            &w.emulator,
            &format!("/{audience}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["issuer"], format!("{a}/{{tenantid}}/v2.0"));
        assert_eq!(
            doc["token_endpoint"],
            format!("{a}/{audience}/oauth2/v2.0/token")
        );
        assert!(doc["tenant_region_scope"].is_null(), "{doc}");
    }
}

#[tokio::test]
async fn the_v1_metadata_has_entras_shape() {
    let w = world("v1").await;
    let a = w.emulator.authority_host();
    let t = &w.tenant;
    let (status, doc) = get(
        &w.emulator,
        &format!("/{t}/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    // The v1.0 issuer is the one the emulated access tokens carry.
    assert_eq!(doc["issuer"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(doc["token_endpoint"], format!("{a}/{t}/oauth2/token"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{a}/{t}/oauth2/authorize")
    );
    assert_eq!(doc["jwks_uri"], format!("{a}/common/discovery/keys"));
    assert_eq!(doc["scopes_supported"], serde_json::json!(["openid"]));
    let (status, jwks) = get(&w.emulator, "/common/discovery/keys").await;
    assert_eq!(
        (status, jwks["keys"][0]["kty"].as_str()),
        (200, Some("RSA"))
    );

    let (status, doc) = get(&w.emulator, "/common/.well-known/openid-configuration").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["issuer"], "https://sts.windows.net/{tenantid}/");
    // v1.0 knows no `organizations`, as on Entra.
    let (status, body) = get(
        &w.emulator,
        "/organizations/.well-known/openid-configuration",
    )
    .await;
    assert_eq!((status, aadsts(&body)), (400, 90002), "{body}");
}

#[tokio::test]
async fn unknown_tenants_get_aadsts90002() {
    let w = world("tenant-errors").await;
    for tenant in [
        "11111111-2222-3333-4444-555555555555",
        "fabrikam.onmicrosoft.com",
        "no-such-tenant",
    ] {
        for path in [
            format!("/{tenant}/v2.0/.well-known/openid-configuration"),
            format!("/{tenant}/.well-known/openid-configuration"),
        ] {
            let (status, body) = get(&w.emulator, &path).await;
            assert_eq!(
                (status, body["error"].as_str(), aadsts(&body)),
                (400, Some("invalid_tenant"), 90002),
                "{path}: {body}"
            );
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.starts_with(&format!("AADSTS90002: Tenant '{tenant}' not found.")),
                "{description}"
            );
            assert!(description.contains("\r\nTrace ID: "), "{description}");
        }
    }
}

#[tokio::test]
async fn instance_discovery_answers_for_the_emulator_only() {
    let w = world("instance").await;
    let a = w.emulator.authority_host();
    let port = a.rsplit(':').next().unwrap().to_string();
    let discover = |endpoint: String| {
        format!(
            "/common/discovery/instance?api-version=1.1&authorization_endpoint={}",
            endpoint
                .replace('%', "%25")
                .replace(':', "%3A")
                .replace('/', "%2F")
        )
    };

    let (status, body) = get(
        &w.emulator,
        &discover(format!("{a}/{}/oauth2/v2.0/authorize", w.tenant)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("{a}/{}/v2.0/.well-known/openid-configuration", w.tenant)
    );
    assert_eq!(body["api-version"], "1.1");
    let host = format!("127.0.0.1:{port}");
    assert_eq!(body["metadata"][0]["preferred_network"], host.as_str());
    assert_eq!(body["metadata"][0]["preferred_cache"], host.as_str());
    assert_eq!(
        body["metadata"][0]["aliases"],
        serde_json::json!([host, format!("localhost:{port}")])
    );

    // The v1.0 authorization endpoint leads to the v1.0 document; localhost is an alias.
    let (status, body) = get(
        &w.emulator,
        &discover(format!("https://localhost:{port}/common/oauth2/authorize")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tenant_discovery_endpoint"],
        format!("{a}/common/.well-known/openid-configuration")
    );

    // Another host, another port, not an authorization endpoint: Entra's invalid_instance.
    for endpoint in [
        "https://login.example.com/common/oauth2/v2.0/authorize".to_string(),
        format!("https://127.0.0.1:1/{}/oauth2/v2.0/authorize", w.tenant),
        format!("{a}/{}/oauth2/v2.0/token", w.tenant),
    ] {
        let (status, body) = get(&w.emulator, &discover(endpoint.clone())).await;
        assert_eq!(
            (status, body["error"].as_str(), aadsts(&body)),
            (400, Some("invalid_instance"), 50049),
            "{endpoint}: {body}"
        );
    }

    let (status, body) = get(&w.emulator, "/common/discovery/instance?api-version=1.1").await;
    assert_eq!((status, aadsts(&body)), (400, 900144), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("'authorization_endpoint'")
    );
    assert_eq!(w.entra_count("InstanceDiscovery", 200), 2);
}

#[tokio::test]
async fn the_token_endpoint_takes_what_msal_sends() {
    // The form and headers msal sends for a federated client assertion, byte for byte in
    // what matters: `client_info=1`, `claims`, the `x-client-*` headers; and the tenant by
    // domain name.
    let w = world("form").await;
    let assertion = w
        .emulator
        .mint_service_account_token(&ServiceAccountToken::new(NAMESPACE, SERVICE_ACCOUNT));
    let claims_param = r#"{"access_token": {"xms_cc": {"values": ["cp1", "cp2"]}}}"#;
    let response = w
        .emulator
        .http_client()
        .unwrap()
        .post(format!(
            "{}/contoso.onmicrosoft.com/oauth2/v2.0/token",
            w.emulator.authority_host()
        ))
        .header("x-client-sku", "MSAL.Python")
        .header("x-client-ver", "1.39.0")
        .header("x-client-os", "linux")
        .header("x-ms-lib-capability", "retry-after, h429")
        .header("client-request-id", "0b0f7c3c-3f0e-4b53-9d8e-7f6f1d1f4b8e")
        .header("x-client-current-telemetry", "4|730,2|,,,|")
        .form(&[
            ("client_id", w.app.client_id.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://vault.azure.net/.default"),
            ("client_info", "1"),
            ("claims", claims_param),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let claims = claims(token);
    assert_eq!(claims["tid"], w.tenant.as_str());
    assert_eq!(claims["xms_cc"], serde_json::json!(["cp1", "cp2"]));
    assert_eq!(w.read_secret(token).await.0, 200);
}

#[test]
fn domains_are_checked_and_belong_to_one_tenant() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emulator = Emulator::start().await.unwrap();
        let one = emulator.add_tenant(None);
        let two = emulator.add_tenant(None);
        emulator
            .add_tenant_domain(&one, "contoso.onmicrosoft.com")
            .unwrap();
        // Again for the same tenant is fine; for another tenant it is not.
        emulator
            .add_tenant_domain(&one, "CONTOSO.onmicrosoft.com")
            .unwrap();
        let taken = emulator
            .add_tenant_domain(&two, "contoso.onmicrosoft.com")
            .unwrap_err()
            .to_string();
        assert!(taken.contains("already a verified domain"), "{taken}");
        for bad in ["contoso", "-contoso.com", "a..b", "a/b.com", "a b.com", ""] {
            assert!(emulator.add_tenant_domain(&one, bad).is_err(), "{bad:?}");
        }
        assert!(
            emulator
                .add_tenant_domain("no-such-tenant", "fabrikam.com")
                .is_err()
        );
    });
}
