//! The emulator's wire behaviour, checked with a plain HTTPS client: the shapes and statuses
//! the real services answer with.

use keyway_emulator::{
    Emulator, EmulatorOptions, FederatedIdentityCredential, Identity, Role, Service,
    ServiceAccountToken, Vault,
};
use serde_json::Value;

struct World {
    emulator: Emulator,
    http: reqwest::Client,
    tenant: String,
    app: Identity,
    vault: Vault,
}

async fn world() -> World {
    let emulator = Emulator::start().await.unwrap();
    let (app, vault) = emulator
        .workload_vault("rest-vault", "ns", "sa", Role::SecretsOfficer)
        .await
        .unwrap();
    let tenant = app.tenant_id.clone();
    World {
        http: emulator.http_client().unwrap(),
        emulator,
        tenant,
        app,
        vault,
    }
}

impl World {
    async fn exchange(
        &self,
        tenant: &str,
        client_id: &str,
        scope: &str,
        assertion: &str,
    ) -> (u16, Value) {
        self.emulator
            .request_token(tenant, client_id, scope, assertion)
            .await
            .unwrap()
    }

    /// GETs `url` without a token and reads the answer as JSON.
    async fn get_json(&self, url: String) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn assertion(&self) -> String {
        self.emulator
            .mint_service_account_token(&ServiceAccountToken::new("ns", "sa"))
    }

    async fn token(&self) -> String {
        let (status, body) = self
            .exchange(
                &self.tenant,
                &self.app.client_id,
                VAULT_SCOPE,
                &self.assertion(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn vault_call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let token = self.token().await;
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.vault.url()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }
}

fn aadsts(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or_default()
}

/// One token request to the emulated Entra and what its answer must say (each `Some` is
/// checked).
struct TokenCase {
    name: &'static str,
    /// Done just before the request.
    before: Option<fn(&World)>,
    tenant: String,
    client_id: String,
    scope: &'static str,
    assertion: String,
    status: Option<u16>,
    aadsts: Option<u64>,
    error: Option<&'static str>,
    /// Text `error_description` must contain.
    mentions: Option<&'static str>,
}

impl World {
    /// A request for a vault token as the app, with `assertion`, that checks nothing yet.
    fn token_case(&self, name: &'static str, assertion: String) -> TokenCase {
        TokenCase {
            name,
            before: None,
            tenant: self.tenant.clone(),
            client_id: self.app.client_id.clone(),
            scope: VAULT_SCOPE,
            assertion,
            status: None,
            aadsts: None,
            error: None,
            mentions: None,
        }
    }

    /// Runs the cases in order, checking each answer; returns the answers' bodies.
    async fn exchange_all(&self, cases: Vec<TokenCase>) -> Vec<Value> {
        let mut answers = Vec::new();
        for c in cases {
            if let Some(before) = c.before {
                before(self);
            }
            let (status, body) = self
                .exchange(&c.tenant, &c.client_id, c.scope, &c.assertion)
                .await;
            let name = c.name;
            if let Some(expected) = c.status {
                assert_eq!(status, expected, "{name}: {body}");
            }
            if let Some(expected) = c.aadsts {
                assert_eq!(aadsts(&body), expected, "{name}: {body}");
            }
            if let Some(expected) = c.error {
                assert_eq!(body["error"].as_str(), Some(expected), "{name}: {body}");
            }
            if let Some(text) = c.mentions {
                let description = body["error_description"].as_str().unwrap_or_default();
                assert!(description.contains(text), "{name}: {description}");
            }
            answers.push(body);
        }
        answers
    }

    /// Sends each request to the vault in order, checking each answer; returns the answers'
    /// headers and bodies.
    async fn call_all(&self, cases: Vec<VaultCase>) -> Vec<(reqwest::header::HeaderMap, Value)> {
        let mut answers = Vec::new();
        for c in cases {
            if let Some(before) = c.before {
                before(self);
            }
            let (status, headers, body) = self.vault_call(c.method, c.path, c.body).await;
            let name = c.name;
            assert_eq!(status, c.status, "{name}: {body}");
            if let Some((pointer, expected)) = c.expect {
                assert_eq!(
                    body.pointer(pointer).and_then(Value::as_str),
                    Some(expected),
                    "{name}: {body}"
                );
            }
            answers.push((headers, body));
        }
        answers
    }
}

const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
const SECRET_A: &str = "/secrets/a?api-version=2025-07-01";
const CERT_PEM: &str = "/secrets/cert-pem?api-version=2025-07-01";

/// One request to the vault and what its answer must be.
struct VaultCase {
    name: &'static str,
    /// Done just before the request.
    before: Option<fn(&World)>,
    method: reqwest::Method,
    path: &'static str,
    body: Option<Value>,
    status: u16,
    /// A JSON pointer into the answer and the string expected there.
    expect: Option<(&'static str, &'static str)>,
}

impl VaultCase {
    fn before(mut self, before: fn(&World)) -> VaultCase {
        self.before = Some(before);
        self
    }

    fn status(mut self, status: u16) -> VaultCase {
        self.status = status;
        self
    }

    /// The answer's `error.code`.
    fn code(mut self, code: &'static str) -> VaultCase {
        self.expect = Some(("/error/code", code));
        self
    }

    /// The answer's `error.innererror.code`.
    fn inner(mut self, code: &'static str) -> VaultCase {
        self.expect = Some(("/error/innererror/code", code));
        self
    }
}

fn get(name: &'static str, path: &'static str) -> VaultCase {
    VaultCase {
        name,
        before: None,
        method: reqwest::Method::GET,
        path,
        body: None,
        status: 200,
        expect: None,
    }
}

fn put(name: &'static str, path: &'static str, body: Value) -> VaultCase {
    VaultCase {
        method: reqwest::Method::PUT,
        body: Some(body),
        ..get(name, path)
    }
}

fn delete(name: &'static str, path: &'static str) -> VaultCase {
    VaultCase {
        method: reqwest::Method::DELETE,
        ..get(name, path)
    }
}

#[tokio::test]
async fn entra_success_shape() {
    let w = world().await;
    let (status, body) = w
        .exchange(&w.tenant, &w.app.client_id, VAULT_SCOPE, &w.assertion())
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"].is_i64() && body["ext_expires_in"].is_i64(),
        "{body}"
    );
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn entra_failures_answer_like_entra() {
    let w = world().await;
    let assertion = w.assertion();
    // The app's assertion with one claim changed.
    let minted = |change: &dyn Fn(&mut ServiceAccountToken)| {
        let mut spec = ServiceAccountToken::new("ns", "sa");
        change(&mut spec);
        w.emulator.mint_service_account_token(&spec)
    };
    let issued_in =
        |minutes| Some(time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes));
    let issuer_with_slash = format!("{}/", w.emulator.issuer_url());
    // A token signed by some other key than the issuer's.
    let other = Emulator::start().await.unwrap();
    let mut foreign = ServiceAccountToken::new("ns", "sa");
    foreign.issuer = Some(w.emulator.issuer_url());

    let answers = w
        .exchange_all(vec![
            TokenCase {
                tenant: "no-such-tenant".into(),
                status: Some(400),
                aadsts: Some(90002),
                ..w.token_case("an unknown tenant", assertion.clone())
            },
            TokenCase {
                client_id: "00000000-0000-0000-0000-000000000000".into(),
                status: Some(400),
                aadsts: Some(700016),
                error: Some("unauthorized_client"),
                ..w.token_case("an unknown client", assertion.clone())
            },
            TokenCase {
                scope: "https://vault.azure.net",
                aadsts: Some(70011),
                error: Some("invalid_scope"),
                ..w.token_case("a scope without /.default", assertion.clone())
            },
            TokenCase {
                aadsts: Some(700211),
                ..w.token_case(
                    "an issuer the identity has no credential for (trailing slash differs)",
                    minted(&|spec| spec.issuer = Some(issuer_with_slash.clone())),
                )
            },
            TokenCase {
                aadsts: Some(70021),
                mentions: Some("api://something-else"),
                ..w.token_case(
                    "a wrong audience: no credential matches",
                    minted(&|spec| spec.audiences = vec!["api://something-else".into()]),
                )
            },
            TokenCase {
                aadsts: Some(700024),
                ..w.token_case(
                    "not yet valid beyond the 5 minutes of skew",
                    minted(&|spec| spec.issued_at = issued_in(10)),
                )
            },
            TokenCase {
                status: Some(200),
                ..w.token_case(
                    "not yet valid within the 5 minutes of skew",
                    minted(&|spec| spec.issued_at = issued_in(4)),
                )
            },
            TokenCase {
                aadsts: Some(700027),
                ..w.token_case(
                    "signed by another key than the issuer's",
                    other.mint_service_account_token(&foreign),
                )
            },
            TokenCase {
                before: Some(|w| w.emulator.set_clock_skew(time::Duration::hours(3))),
                aadsts: Some(700024),
                ..w.token_case(
                    "a fresh assertion, the emulated clock 3 hours ahead",
                    assertion.clone(),
                )
            },
        ])
        .await;

    // Entra's error body, in full, on the first.
    let body = &answers[0];
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS90002: "), "{description}");
    assert!(
        description.contains("\r\nTrace ID: ")
            && description.contains("\r\nCorrelation ID: ")
            && description.contains("\r\nTimestamp: ")
    );
    for key in [
        "error",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    ] {
        assert!(body.get(key).is_some(), "missing {key}: {body}");
    }
}

#[tokio::test]
async fn issuer_documents_and_key_rotation() {
    let w = world().await;
    let discovery = w
        .get_json(format!(
            "{}/.well-known/openid-configuration",
            w.emulator.issuer_url()
        ))
        .await;
    assert_eq!(discovery["issuer"], w.emulator.issuer_url());
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0],
        "RS256"
    );
    let old_token = w.assertion();
    w.emulator.rotate_issuer_key().unwrap();
    let jwks = w
        .get_json(discovery["jwks_uri"].as_str().unwrap().to_string())
        .await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        assert_eq!(
            (
                key["kty"].as_str(),
                key["alg"].as_str(),
                key["use"].as_str(),
                key["e"].as_str()
            ),
            (Some("RSA"), Some("RS256"), Some("sig"), Some("AQAB"))
        );
    }
    // Tokens from before and after the rotation both exchange.
    w.exchange_all(vec![
        TokenCase {
            status: Some(200),
            ..w.token_case("a token from before the rotation", old_token)
        },
        TokenCase {
            status: Some(200),
            ..w.token_case("a token from after it", w.assertion())
        },
    ])
    .await;
    // The kid follows Kubernetes' rule over the public key.
    let pem = pem_der(&w.emulator.issuer_public_keys_pem()[0]);
    assert_eq!(
        keys[0]["kid"].as_str().unwrap(),
        keyway_emulator::kubernetes_kid(&pem)
    );
}

fn pem_der(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[tokio::test]
async fn vault_challenge_comes_before_anything_else() {
    let w = world().await;
    let response = w
        .http
        .put(format!(
            "{}/secrets/x?api-version=2025-07-01",
            w.vault.url()
        ))
        .body("not even json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            w.emulator.authority_host(),
            w.tenant
        )
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");
}

#[tokio::test]
async fn vault_errors_and_shapes() {
    let w = world().await;
    let pem = serde_json::json!({"value": "abc", "contentType": "application/x-pem-file", "tags": {"file-encoding": "hex"}});
    let again = serde_json::json!({"value": "again"});
    let answers = w
        .call_all(vec![
            put("a PEM secret with a tag", CERT_PEM, pem),
            get(
                "a missing secret",
                "/secrets/missing/?api-version=2025-07-01",
            )
            .status(404)
            .code("SecretNotFound"),
            get(
                "an api-version the service does not know",
                "/secrets/cert-pem/?api-version=1999-01-01",
            )
            .status(400)
            .code("BadParameter"),
            get(
                "7.x versions are accepted",
                "/secrets/cert-pem/?api-version=7.4",
            ),
            put(
                "a name with an underscore",
                "/secrets/bad_name?api-version=2025-07-01",
                serde_json::json!({"value": "x"}),
            )
            .status(400),
            put(
                "a value over 25 KiB",
                CERT_PEM,
                serde_json::json!({"value": "x".repeat(25 * 1024 + 1)}),
            )
            .status(400),
            get(
                "maxresults over 25",
                "/secrets?api-version=2025-07-01&maxresults=26",
            )
            .status(400)
            .code("BadParameter"),
            get("a disabled secret", CERT_PEM)
                .before(|w| w.vault.set_enabled("cert-pem", false).unwrap())
                .status(403)
                .inner("SecretDisabled"),
            delete("delete", CERT_PEM),
            put("set a deleted name", CERT_PEM, again.clone())
                .status(409)
                .inner("ObjectIsDeletedButRecoverable"),
            delete("purge", "/deletedsecrets/cert-pem?api-version=2025-07-01").status(204),
            put("set a purged name", CERT_PEM, again),
        ])
        .await;

    let bundle = &answers[0].1;
    let id = bundle["id"].as_str().unwrap();
    let version = id.rsplit('/').next().unwrap();
    assert!(id.starts_with(&format!("{}/secrets/cert-pem/", w.vault.url())));
    assert!(
        version.len() == 32 && version.bytes().all(|b| b.is_ascii_hexdigit()),
        "{version}"
    );
    assert_eq!(
        bundle["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    assert!(bundle["attributes"]["created"].is_i64());
    assert_eq!(bundle["tags"]["file-encoding"], "hex");

    let deleted = &answers[8].1;
    assert!(
        deleted["recoveryId"]
            .as_str()
            .unwrap()
            .ends_with("/deletedsecrets/cert-pem")
    );
}

#[tokio::test]
async fn paging_links_back_to_the_same_vault() {
    let w = world().await;
    for i in 0..30 {
        w.vault.set_secret(&format!("s{i:02}"), "v").unwrap();
    }
    let (_, _, page) = w
        .vault_call(
            reqwest::Method::GET,
            "/secrets?api-version=2025-07-01&maxresults=25",
            None,
        )
        .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 25);
    assert!(
        page["value"][0].get("value").is_none(),
        "lists never carry values"
    );
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/secrets?", w.vault.url())),
        "{next}"
    );
    // The SDK re-encodes $skiptoken as %24skiptoken; both work.
    let path = next
        .trim_start_matches(w.vault.url())
        .replace("$skiptoken", "%24skiptoken");
    let (_, _, rest) = w.vault_call(reqwest::Method::GET, &path, None).await;
    assert_eq!(rest["value"].as_array().unwrap().len(), 5);
    assert!(rest["nextLink"].is_null());
}

#[tokio::test]
async fn roles_and_tenants_are_enforced() {
    let w = world().await;
    w.vault.set_secret("a", "1").unwrap();
    w.vault.revoke(&w.app, Role::SecretsOfficer);
    w.call_all(vec![
        get("no role", SECRET_A)
            .status(403)
            .inner("ForbiddenByRbac"),
        get("Secrets User reads", SECRET_A).before(|w| w.vault.grant(&w.app, Role::SecretsUser)),
        put(
            "Secrets User writes",
            SECRET_A,
            serde_json::json!({"value": "2"}),
        )
        .status(403),
    ])
    .await;

    // A token for another tenant's identity is refused by the vault.
    let other_tenant = w.emulator.add_tenant(None);
    let stranger = w.emulator.add_identity(&other_tenant, "stranger").unwrap();
    w.emulator
        .add_federated_credential(
            &stranger,
            FederatedIdentityCredential::for_service_account(&w.emulator.issuer_url(), "ns", "sa"),
        )
        .unwrap();
    let (_, body) = w
        .exchange(
            &other_tenant,
            &stranger.client_id,
            VAULT_SCOPE,
            &w.assertion(),
        )
        .await;
    let response = w
        .http
        .get(format!(
            "{}/secrets/a?api-version=2025-07-01",
            w.vault.url()
        ))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let e: Value = response.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("AKV10032"));
}

#[tokio::test]
async fn faults_and_counters() {
    let w = world().await;
    w.vault.set_secret("a", "1").unwrap();
    let answers = w
        .call_all(vec![
            get("an injected 503", SECRET_A)
                .before(|w| {
                    w.emulator
                        .faults()
                        .fail_next(Service::KeyVault, Some("GetSecret"), 503, 1)
                })
                .status(503)
                .code("ServiceUnavailable"),
            get("the call after it", SECRET_A),
        ])
        .await;
    assert_eq!(answers[0].0["retry-after"], "1");

    w.emulator.faults().drop_next(Service::KeyVault, None, 1);
    let token = w.token().await;
    let dropped = w
        .http
        .get(format!(
            "{}/secrets/a?api-version=2025-07-01",
            w.vault.url()
        ))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "the connection is closed without an answer"
    );

    let counters = w
        .get_json(format!("{}/_emulator/requests", w.vault.url()))
        .await;
    let find = |service: &str, op: &str, status: u64| {
        counters["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["service"] == service && r["operation"] == op && r["status"] == status)
            .map(|r| r["count"].as_u64().unwrap())
    };
    assert_eq!(find("keyvault", "GetSecret", 503), Some(1));
    assert_eq!(find("keyvault", "GetSecret", 200), Some(1));
    assert_eq!(find("keyvault", "GetSecret", 0), Some(1));
    assert_eq!(find("entra", "Token", 200), Some(3));
}

#[tokio::test]
async fn vault_contents_survive_a_restart_with_a_state_dir() {
    let dir = std::env::temp_dir().join(format!("keyway-emulator-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = EmulatorOptions {
        state_dir: Some(dir.clone()),
        ..EmulatorOptions::default()
    };
    {
        let emulator = Emulator::start_with(options.clone()).await.unwrap();
        let tenant = emulator.add_tenant(Some("tenant-a"));
        let vault = emulator.add_vault(&tenant, "kept").await.unwrap();
        vault.set_secret("survivor", "still here").unwrap();
    }
    // The state file holds secret values: the owner's alone, from its creation on.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("vaults/kept.json")), 0o600);
        assert_eq!(mode(&dir.join("vaults")), 0o700);
        let names: Vec<_> = std::fs::read_dir(dir.join("vaults"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["kept.json"], "no temporary file left behind");
    }
    let emulator = Emulator::start_with(options).await.unwrap();
    let tenant = emulator.add_tenant(Some("tenant-a"));
    let vault = emulator.add_vault(&tenant, "kept").await.unwrap();
    assert_eq!(
        vault.secret_value("survivor").as_deref(),
        Some("still here")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_issuer_trusted_inline_needs_no_discovery() {
    let w = world().await;
    // A real cluster's issuer the emulator cannot reach: trust its keys inline.
    let unreachable = "https://oidc.example.invalid/cluster-1/";
    w.emulator
        .trust_issuer_inline(unreachable, w.emulator.issuer_jwks());
    w.emulator
        .add_federated_credential(
            &w.app,
            FederatedIdentityCredential {
                name: "inline".into(),
                issuer: unreachable.into(),
                subject: "system:serviceaccount:ns:sa".into(),
                audiences: vec!["api://AzureADTokenExchange".into()],
            },
        )
        .unwrap();
    let mut spec = ServiceAccountToken::new("ns", "sa");
    spec.issuer = Some(unreachable.into());
    let (status, body) = w
        .exchange(
            &w.tenant,
            &w.app.client_id,
            VAULT_SCOPE,
            &w.emulator.mint_service_account_token(&spec),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.emulator
            .counters()
            .count(Service::Issuer, "OpenIdConfiguration"),
        0
    );
}

#[tokio::test]
async fn faults_can_be_injected_over_https() {
    let w = world().await;
    w.vault.set_secret("a", "1").unwrap();
    let inject = |body: Value| {
        let http = w.http.clone();
        let url = format!("{}/_emulator/faults", w.emulator.authority_host());
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(inject(serde_json::json!({"service": "keyvault", "operation": "GetSecret", "status": 500, "count": 1})).await, 200);
    w.call_all(vec![
        get("the injected 500", SECRET_A).status(500),
        get("the call after it", SECRET_A),
    ])
    .await;
    assert_eq!(
        inject(serde_json::json!({"status": 500})).await,
        400,
        "a status fault needs a service"
    );
    assert_eq!(
        inject(serde_json::json!({"issuer_unreachable": true})).await,
        200
    );
    w.exchange_all(vec![TokenCase {
        aadsts: Some(90061),
        ..w.token_case("the issuer unreachable", w.assertion())
    }])
    .await;
    assert_eq!(inject(serde_json::json!({"clear": true})).await, 200);
    w.call_all(vec![get("after clear", SECRET_A)]).await;
}
