//! The emulator: shared state, the listeners, and the handle tests and programs drive it by.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::json;

use crate::clock::Clock;
use crate::counters::{Counters, RequestCount, Service};
use keyway_identity::{FederatedIdentityCredential, Jwks};

use crate::arm::{self, ArmState};
use crate::entra::{self, Directory, Identity};
use crate::error::{EmulatorError, Result};
use crate::faults::Faults;
use crate::issuer::{self, ServiceAccountToken};
use crate::keyvault::{self, NewVersion, Role, ThrottleLimits, VaultState};
use crate::kubernetes::{self, ApiAccess, KubeState};
use crate::server::{self, Listener, ServiceSpec};
use crate::signing::SigningKey;
use crate::tls::Tls;

/// How to start an emulator. `Default`: loopback, no persisted state, one-hour access tokens.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The address every listener binds (port 0: each service gets a free port).
    pub bind: IpAddr,
    /// Where vault contents are kept across restarts; `None` keeps them in memory only.
    pub state_dir: Option<PathBuf>,
    /// Lifetime of the access tokens the emulated Entra issues (`expires_in`).
    pub token_lifetime: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            state_dir: None,
            token_lifetime: Duration::from_secs(3599),
        }
    }
}

/// State every emulated service shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub clock: Clock,
    pub faults: Arc<Faults>,
    pub counters: Arc<Counters>,
    pub tls: Tls,
    /// Trusts the emulator's CA: how Entra fetches issuer discovery documents.
    pub http: reqwest::Client,
    pub entra_key: SigningKey,
    /// The Entra key's public half, as the vault verifies access tokens with it.
    pub entra_jwks: Jwks,
    issuer_keys: RwLock<Vec<Arc<SigningKey>>>,
    directory: Mutex<Directory>,
    authority_url: OnceLock<String>,
    issuer_url: OnceLock<String>,
    pub token_lifetime: Duration,
}

impl Shared {
    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The issuer's keys, the current (signing) one first.
    pub fn issuer_keys(&self) -> Vec<Arc<SigningKey>> {
        self.issuer_keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn authority_url(&self) -> String {
        self.authority_url.get().cloned().unwrap_or_default()
    }

    pub fn issuer_url(&self) -> String {
        self.issuer_url.get().cloned().unwrap_or_default()
    }
}

/// The emulator's own endpoints, on every listener: counters and fault injection.
fn control_routes(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/_emulator/requests", axum::routing::get(requests_endpoint))
        .route("/_emulator/faults", axum::routing::post(faults_endpoint))
        .with_state(shared)
}

/// `GET /_emulator/requests` on every listener: the counters as
/// `{"requests": [{"service", "operation", "status", "count"}]}`.
async fn requests_endpoint(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!({ "requests": shared.counters.snapshot() }))
}

/// A fault to inject, as `POST <any listener>/_emulator/faults` takes it (JSON). Every field is
/// optional; each one given is applied.
///
/// `{"service":"keyvault","operation":"GetSecret","status":503,"count":2}` fails the next two
/// `GetSecret` calls; `{"service":"keyvault","drop":1}` drops the next connection;
/// `{"service":"entra","latency_ms":200}` slows Entra down; `{"issuer_unreachable":true}`,
/// `{"clock_skew_seconds":600}`, `{"clear":true}` do what they say.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FaultRequest {
    /// Remove every fault first.
    #[serde(default)]
    pub clear: bool,
    /// The service the rule applies to.
    pub service: Option<Service>,
    /// The operation (all operations of the service when absent).
    pub operation: Option<String>,
    /// Answer with this status...
    pub status: Option<u16>,
    /// ...this many times (default 1).
    pub count: Option<u32>,
    /// `Retry-After` seconds for the failures (default 1 for 429 and 503).
    pub retry_after: Option<u32>,
    /// Drop this many connections.
    pub drop: Option<u32>,
    /// Delay every answer by this many milliseconds (0 removes it).
    pub latency_ms: Option<u64>,
    /// Make the issuer unreachable, or reachable again.
    pub issuer_unreachable: Option<bool>,
    /// Skew the emulated clock by this many seconds.
    pub clock_skew_seconds: Option<i64>,
}

impl Emulator {
    /// Applies a [`FaultRequest`].
    pub fn apply_fault(&self, request: &FaultRequest) -> Result<()> {
        apply_fault(&self.shared, request)
    }
}

fn apply_fault(shared: &Shared, request: &FaultRequest) -> Result<()> {
    let faults = &shared.faults;
    if request.clear {
        faults.clear();
        shared.clock.set_skew(time::Duration::ZERO);
    }
    let needs_service =
        request.status.is_some() || request.drop.is_some() || request.latency_ms.is_some();
    if needs_service && request.service.is_none() {
        return Err(EmulatorError::Invalid(
            "a status, drop or latency fault needs a service".into(),
        ));
    }
    let operation = request.operation.as_deref().filter(|o| *o != "*");
    if let (Some(service), Some(status)) = (request.service, request.status) {
        let retry_after = request
            .retry_after
            .or(matches!(status, 429 | 503).then_some(1));
        faults.fail_next_with_retry_after(
            service,
            operation,
            status,
            request.count.unwrap_or(1),
            retry_after,
        );
    }
    if let (Some(service), Some(count)) = (request.service, request.drop) {
        faults.drop_next(service, operation, count);
    }
    if let (Some(service), Some(ms)) = (request.service, request.latency_ms) {
        faults.set_latency(service, operation, Duration::from_millis(ms));
    }
    if let Some(unreachable) = request.issuer_unreachable {
        faults.set_issuer_unreachable(unreachable);
    }
    if let Some(seconds) = request.clock_skew_seconds {
        shared.clock.set_skew(time::Duration::seconds(seconds));
    }
    Ok(())
}

/// `POST /_emulator/faults` on every listener: applies a [`FaultRequest`].
async fn faults_endpoint(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<FaultRequest>,
) -> (axum::http::StatusCode, Json<serde_json::Value>) {
    match apply_fault(&shared, &request) {
        Ok(()) => (axum::http::StatusCode::OK, Json(json!({ "applied": true }))),
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

/// A running emulator: Entra ID, an OIDC issuer and any number of Key Vaults, each on its own
/// HTTPS port on loopback. Dropping it stops every listener.
///
/// ```no_run
/// # async fn demo() -> Result<(), keyway_emulator::EmulatorError> {
/// use keyway_emulator::{Emulator, FederatedIdentityCredential, Role, ServiceAccountToken};
/// let emulator = Emulator::start().await?;
/// let tenant = emulator.add_tenant(None);
/// let app = emulator.add_identity(&tenant, "sync")?;
/// emulator.add_federated_credential(&app, FederatedIdentityCredential::for_service_account(&emulator.issuer_url(), "default", "default"))?;
/// let vault = emulator.add_vault(&tenant, "demo").await?;
/// vault.grant(&app, Role::SecretsUser);
/// vault.set_secret("db-password", "s3cret")?;
/// let assertion = emulator.mint_service_account_token(&ServiceAccountToken::new("default", "default"));
/// # let _ = assertion; Ok(()) }
/// ```
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    options: EmulatorOptions,
    entra: Listener,
    issuer: Listener,
    kubernetes: Listener,
    kube: Arc<KubeState>,
    arm: Listener,
    arm_state: Arc<ArmState>,
    vaults: Mutex<Vec<(Arc<VaultState>, Arc<Listener>)>>,
}

impl Emulator {
    /// Starts an emulator with the default options.
    pub async fn start() -> Result<Emulator> {
        Self::start_with(EmulatorOptions::default()).await
    }

    /// Starts an emulator.
    pub async fn start_with(options: EmulatorOptions) -> Result<Emulator> {
        let tls = Tls::generate()?;
        let entra_key = SigningKey::generate()?;
        let http = tls.client()?;
        let shared = Arc::new(Shared {
            clock: Clock::default(),
            faults: Arc::new(Faults::default()),
            counters: Arc::new(Counters::default()),
            http,
            tls,
            entra_jwks: Jwks {
                keys: vec![entra_key.jwk().clone()],
            },
            entra_key,
            issuer_keys: RwLock::new(vec![Arc::new(SigningKey::generate()?)]),
            directory: Mutex::new(Directory::default()),
            authority_url: OnceLock::new(),
            issuer_url: OnceLock::new(),
            token_lifetime: options.token_lifetime,
        });
        if let Some(dir) = &options.state_dir {
            std::fs::create_dir_all(dir).map_err(|e| EmulatorError::State {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let bind = SocketAddr::new(options.bind, 0);
        let entra = serve(
            &shared,
            bind,
            Service::Entra,
            entra::router(shared.clone()),
            entra::operation,
            entra::fault_response,
        )
        .await?;
        let issuer = serve(
            &shared,
            bind,
            Service::Issuer,
            issuer::router(shared.clone()),
            issuer::operation,
            issuer::fault_response,
        )
        .await?;
        let kube = Arc::new(KubeState::new());
        let kubernetes = serve(
            &shared,
            bind,
            Service::Kubernetes,
            kubernetes::router(shared.clone(), kube.clone()),
            kubernetes::operation,
            kubernetes::fault_response,
        )
        .await?;
        let arm_state = Arc::new(ArmState::default());
        let arm = serve(
            &shared,
            bind,
            Service::Arm,
            arm::router(shared.clone(), arm_state.clone()),
            arm::operation,
            arm::fault_response,
        )
        .await?;
        let _ = shared.authority_url.set(entra.base_url());
        let _ = shared.issuer_url.set(issuer.base_url());
        Ok(Emulator {
            shared,
            options,
            entra,
            issuer,
            kubernetes,
            kube,
            arm,
            arm_state,
            vaults: Mutex::new(Vec::new()),
        })
    }

    /// The Entra authority host, `https://127.0.0.1:PORT` (what `AZURE_AUTHORITY_HOST` names).
    pub fn authority_host(&self) -> String {
        self.shared.authority_url()
    }

    /// The OIDC issuer URL, exactly as it appears in minted tokens (no trailing slash).
    pub fn issuer_url(&self) -> String {
        self.shared.issuer_url()
    }

    /// The Kubernetes API server stand-in's URL.
    pub fn kubernetes_url(&self) -> String {
        self.kubernetes.base_url()
    }

    /// The bearer token the Kubernetes API stand-in accepts (cluster-admin).
    pub fn kubernetes_token(&self) -> &str {
        &self.kube.token
    }

    /// Compacts the Kubernetes stand-in's watch history, as etcd does: a watch from an older
    /// resourceVersion then gets `410 Gone` and its client must list again.
    pub fn compact_kubernetes_history(&self) {
        self.kube.compact();
    }

    /// Resets every open connection to the Kubernetes stand-in, watches included, as an API
    /// server restart looks to its clients; the stored objects stay, as etcd keeps them.
    pub fn restart_kubernetes(&self) {
        self.kubernetes.reset_connections();
    }

    /// A kubeconfig for the stand-in: its URL, the emulator's CA, the bearer token.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with_token(&self.kube.token)
    }

    /// Adds a user to the Kubernetes stand-in and returns its bearer token. The stand-in has
    /// no RBAC — every user may do everything — but it records what each user does
    /// ([`Emulator::kubernetes_access`]), so a test can hold a component's Role to the verbs
    /// it really uses.
    pub fn add_kubernetes_user(&self, user: &str) -> String {
        self.kube.add_user(user)
    }

    /// Every kind of access (user, verb, group, resource) the stand-in has served.
    pub fn kubernetes_access(&self) -> Vec<ApiAccess> {
        self.kube.access()
    }

    /// A kubeconfig for the stand-in that authenticates with `token` (from
    /// [`Emulator::add_kubernetes_user`], or [`Emulator::kubernetes_token`]).
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: keyway-emulator\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: keyway-admin\n  user:\n    token: {}\ncontexts:\n- name: keyway-emulator\n  context:\n    cluster: keyway-emulator\n    user: keyway-admin\n    namespace: default\ncurrent-context: keyway-emulator\n",
            self.kubernetes_url(),
            token
        )
    }

    /// Writes [`Emulator::kubeconfig`] to `path`, readable by the owner only.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        let state = |e: std::io::Error| EmulatorError::State {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::write(path, self.kubeconfig()).map_err(state)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(state)?;
        }
        Ok(())
    }

    /// The CA that signed every listener's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.shared.tls.ca_pem()
    }

    /// Writes the CA to `path` (for `SSL_CERT_FILE` or another language's SDK).
    pub fn write_ca(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.ca_pem()).map_err(|e| EmulatorError::State {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// A reqwest client that trusts the emulator's CA, with connect and read timeouts.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        self.shared.tls.client()
    }

    /// An Azure SDK transport over [`Emulator::http_client`].
    pub fn transport(&self) -> Result<azure_core::http::Transport> {
        Ok(azure_core::http::Transport::new(Arc::new(
            self.http_client()?,
        )))
    }

    /// The cloud configuration that points Azure SDK credentials at the emulated Entra.
    pub fn cloud(&self) -> Arc<azure_core::cloud::CloudConfiguration> {
        let mut custom = azure_core::cloud::CustomConfiguration::default();
        custom.authority_host = self.authority_host();
        Arc::new(custom.into())
    }

    /// Azure SDK client options for the emulator: its transport, its cloud, and a retry policy
    /// fit for tests (3 retries from 100 ms).
    pub fn client_options(&self) -> Result<azure_core::http::ClientOptions> {
        use azure_core::http::{ExponentialRetryOptions, RetryOptions};
        Ok(azure_core::http::ClientOptions {
            transport: Some(self.transport()?),
            cloud: Some(self.cloud()),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                max_retries: 3,
                initial_delay: azure_core::time::Duration::milliseconds(100),
                max_delay: azure_core::time::Duration::seconds(2),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Registers a tenant (a fresh GUID when `id` is `None`) and returns its id.
    pub fn add_tenant(&self, id: Option<&str>) -> String {
        let id = id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
        self.shared.directory().add_tenant(&id);
        id
    }

    /// Registers `domain` (e.g. `contoso.onmicrosoft.com`) as a verified domain of `tenant_id`,
    /// so the emulated Entra resolves it wherever a tenant is named — the discovery documents
    /// and the token endpoint — to the tenant id, as Entra does. A domain belongs to one tenant.
    pub fn add_tenant_domain(&self, tenant_id: &str, domain: &str) -> Result<()> {
        let labels_ok = domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !labels_ok || !domain.contains('.') || domain.len() > 253 {
            return Err(EmulatorError::Invalid(format!(
                "domain {domain:?} must be a DNS name with at least two labels of a-z, 0-9 and - (such as contoso.onmicrosoft.com)"
            )));
        }
        let mut directory = self.shared.directory();
        if !directory.has_tenant(tenant_id) {
            return Err(EmulatorError::NotFound {
                kind: "tenant",
                name: tenant_id.to_string(),
            });
        }
        directory
            .add_domain(tenant_id, domain)
            .map_err(EmulatorError::Invalid)
    }

    /// Registers an application / managed identity in `tenant_id`, with fresh client and
    /// object ids.
    pub fn add_identity(&self, tenant_id: &str, name: &str) -> Result<Identity> {
        self.add_identity_with_ids(
            tenant_id,
            name,
            &uuid::Uuid::new_v4().to_string(),
            &uuid::Uuid::new_v4().to_string(),
        )
    }

    /// Registers an identity with given client and object ids (to survive restarts).
    pub fn add_identity_with_ids(
        &self,
        tenant_id: &str,
        name: &str,
        client_id: &str,
        object_id: &str,
    ) -> Result<Identity> {
        let identity = Identity {
            name: name.to_string(),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            object_id: object_id.to_string(),
        };
        if !self.shared.directory().add_identity(identity.clone()) {
            return Err(EmulatorError::NotFound {
                kind: "tenant",
                name: tenant_id.to_string(),
            });
        }
        Ok(identity)
    }

    /// Registers an identity that trusts the emulated issuer's tokens for
    /// `system:serviceaccount:<namespace>:<service_account>` — the usual setup in one call.
    pub fn add_workload_identity(
        &self,
        tenant_id: &str,
        name: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Identity> {
        let identity = self.add_identity(tenant_id, name)?;
        let credential = FederatedIdentityCredential::for_service_account(
            &self.issuer_url(),
            namespace,
            service_account,
        );
        self.add_federated_credential(&identity, credential)?;
        Ok(identity)
    }

    /// Asks the emulated Entra for a token over HTTPS, as any client would (client-credentials
    /// grant with `assertion` as the jwt-bearer client assertion). Returns the HTTP status and
    /// the JSON body, success or failure, for tests that look at the wire.
    pub async fn request_token(
        &self,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
        assertion: &str,
    ) -> Result<(u16, serde_json::Value)> {
        let url = format!("{}/{tenant_id}/oauth2/v2.0/token", self.authority_host());
        let client_error = |e: reqwest::Error| EmulatorError::Client(e.to_string());
        let response = self
            .shared
            .http
            .post(&url)
            .form(&[
                ("client_id", client_id),
                ("scope", scope),
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ])
            .send()
            .await
            .map_err(client_error)?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.map_err(client_error)?))
    }

    /// The official-SDK-ready `TokenCredential` of `identity`, exchanging a service-account token
    /// minted now for `namespace/service_account` (the identity must trust it, as
    /// [`Emulator::add_workload_identity`] arranges), over this emulator's transport.
    pub fn workload_credential(
        &self,
        identity: &Identity,
        namespace: &str,
        service_account: &str,
    ) -> Result<Arc<keyway_identity::FederatedCredential>> {
        let assertion =
            self.mint_service_account_token(&ServiceAccountToken::new(namespace, service_account));
        keyway_identity::FederatedCredential::new(
            &identity.tenant_id,
            &identity.client_id,
            &self.authority_host(),
            Arc::new(keyway_identity::StaticAssertion::new(assertion)),
            keyway_identity::FederatedCredentialOptions {
                client_options: self.client_options()?,
                ..Default::default()
            },
        )
        .map_err(|e| EmulatorError::Invalid(e.to_string()))
    }

    /// A Key Vault access token for a workload identity registered with
    /// [`Emulator::add_workload_identity`], exchanged for a freshly minted service-account token.
    pub async fn vault_token(
        &self,
        identity: &Identity,
        namespace: &str,
        service_account: &str,
    ) -> Result<String> {
        let assertion =
            self.mint_service_account_token(&ServiceAccountToken::new(namespace, service_account));
        let (status, body) = self
            .request_token(
                &identity.tenant_id,
                &identity.client_id,
                "https://vault.azure.net/.default",
                &assertion,
            )
            .await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                EmulatorError::Invalid(format!("the token request answered {status}: {body}"))
            })
    }

    /// Adds (or replaces, by name) a federated identity credential on `identity`.
    pub fn add_federated_credential(
        &self,
        identity: &Identity,
        credential: FederatedIdentityCredential,
    ) -> Result<()> {
        if self.shared.directory().add_federated_credential(
            &identity.tenant_id,
            &identity.client_id,
            credential,
        ) {
            Ok(())
        } else {
            Err(EmulatorError::NotFound {
                kind: "identity",
                name: identity.client_id.clone(),
            })
        }
    }

    /// Trusts `issuer` through JWKs given here instead of fetching its discovery document (for
    /// issuers the emulator cannot reach, such as a real cluster's).
    pub fn trust_issuer_inline(&self, issuer: &str, jwks: Jwks) {
        self.shared.directory().trust_issuer_inline(issuer, jwks);
    }

    /// Mints a service-account token signed by the emulated issuer.
    pub fn mint_service_account_token(&self, spec: &ServiceAccountToken) -> String {
        issuer::mint(&self.shared, spec)
    }

    /// Rotates the issuer's signing key: a new key signs from now on; the JWKS keeps the
    /// previous one so tokens already issued still verify.
    pub fn rotate_issuer_key(&self) -> Result<()> {
        let key = Arc::new(SigningKey::generate()?);
        let mut keys = self
            .shared
            .issuer_keys
            .write()
            .unwrap_or_else(|p| p.into_inner());
        keys.insert(0, key);
        keys.truncate(2);
        Ok(())
    }

    /// The issuer's public keys (current first), PEM.
    pub fn issuer_public_keys_pem(&self) -> Vec<String> {
        self.shared
            .issuer_keys()
            .iter()
            .map(|k| k.public_key_pem().to_string())
            .collect()
    }

    /// The issuer's JWKs (current first), as its JWKS document lists them.
    pub fn issuer_jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .shared
                .issuer_keys()
                .iter()
                .map(|k| k.jwk().clone())
                .collect(),
        }
    }

    /// Starts a vault named `name` in `tenant_id`, on its own port; with a state directory its
    /// contents are loaded from and saved to `<state_dir>/vaults/<name>.json`.
    pub async fn add_vault(&self, tenant_id: &str, name: &str) -> Result<Vault> {
        let valid = (3..=24).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(EmulatorError::Invalid(format!(
                "vault name {name:?} must be 3-24 characters of 0-9, a-z, A-Z and -"
            )));
        }
        if !self.shared.directory().has_tenant(tenant_id) {
            return Err(EmulatorError::NotFound {
                kind: "tenant",
                name: tenant_id.to_string(),
            });
        }
        let state_file = match &self.options.state_dir {
            Some(dir) => {
                let vaults = dir.join("vaults");
                std::fs::create_dir_all(&vaults).map_err(|e| EmulatorError::State {
                    path: vaults.display().to_string(),
                    reason: e.to_string(),
                })?;
                Some(vaults.join(format!("{name}.json")))
            }
            None => None,
        };
        let state = Arc::new(VaultState::new(name, tenant_id, state_file)?);
        let listener = serve(
            &self.shared,
            SocketAddr::new(self.options.bind, 0),
            Service::KeyVault,
            keyvault::router(self.shared.clone(), state.clone()),
            keyvault::operation,
            keyvault::fault_response,
        )
        .await?;
        let _ = state.url.set(listener.base_url());
        self.arm_state.add_vault(state.clone());
        self.vaults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((state.clone(), Arc::new(listener)));
        Ok(Vault {
            state,
            clock_owner: self.shared.clone(),
        })
    }

    /// The Azure Resource Manager stand-in's endpoint, `https://127.0.0.1:PORT` (in place of
    /// `https://management.azure.com`).
    pub fn arm_url(&self) -> String {
        self.arm.base_url()
    }

    /// Makes `identity` readable through the ARM stand-in as the user-assigned identity
    /// `/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity.name}`;
    /// returns that id. Federated credentials put there are trusted by the emulated Entra; Key
    /// Vault roles assigned on an emulated vault's scope are granted on it.
    pub fn add_arm_identity(
        &self,
        subscription: &str,
        resource_group: &str,
        identity: &Identity,
    ) -> String {
        let id = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
            identity.name
        );
        self.arm_state.add_identity(&id, identity.clone());
        id
    }

    /// Role assignments made through the ARM stand-in: (scope, role definition id, principal).
    pub fn role_assignments(&self) -> Vec<(String, String, String)> {
        self.arm_state.assignments()
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The request counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Every request counter (also served at `<any listener>/_emulator/requests`).
    pub fn requests(&self) -> Vec<RequestCount> {
        self.shared.counters.snapshot()
    }

    /// Skews the emulated services' clock (positive: they run ahead of real time).
    pub fn set_clock_skew(&self, skew: time::Duration) {
        self.shared.clock.set_skew(skew);
    }

    /// Serves one request in process: the same routing, counters and fault injection as over
    /// HTTPS, without the socket and TLS — for fuzzing the services' request parsing and for
    /// measuring the handlers alone. [`Service::KeyVault`] means the vault added last. `None`
    /// when there is no such service or the fault injector dropped the connection.
    pub async fn dispatch(
        &self,
        service: Service,
        request: axum::http::Request<Vec<u8>>,
    ) -> Option<axum::http::Response<axum::body::Bytes>> {
        let request = request.map(axum::body::Body::from);
        let response = match service {
            Service::Entra => self.entra.dispatch(request).await,
            Service::Issuer => self.issuer.dispatch(request).await,
            Service::Kubernetes => self.kubernetes.dispatch(request).await,
            Service::Arm => self.arm.dispatch(request).await,
            Service::KeyVault => {
                let last = self
                    .vaults
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last()
                    .map(|(_, listener)| listener.clone())?;
                last.dispatch(request).await
            }
        }?;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.ok()?;
        Some(axum::http::Response::from_parts(parts, bytes))
    }

    /// Stops every listener.
    pub fn stop(&self) {
        self.entra.stop();
        self.issuer.stop();
        self.kubernetes.stop();
        self.arm.stop();
        for (_, listener) in self.vaults.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener.stop();
        }
    }
}

async fn serve(
    shared: &Arc<Shared>,
    bind: SocketAddr,
    service: Service,
    router: axum::Router,
    operation: server::OperationOf,
    fault_response: server::FaultResponse,
) -> Result<Listener> {
    server::serve(
        bind,
        shared.tls.server_config(),
        ServiceSpec {
            service,
            router: router.merge(control_routes(shared.clone())),
            operation,
            fault_response,
        },
        shared.counters.clone(),
        shared.faults.clone(),
    )
    .await
}

/// What to store in a secret version, for seeding a vault without going through its API.
/// `Debug` never shows the value.
#[derive(Clone, Default)]
pub struct SecretSpec {
    /// The value.
    pub value: String,
    /// The content type.
    pub content_type: Option<String>,
    /// Tags (e.g. `file-encoding`).
    pub tags: Vec<(String, String)>,
    /// Whether the version is enabled (default true).
    pub disabled: bool,
}

impl std::fmt::Debug for SecretSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSpec")
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("content_type", &self.content_type)
            .field("tags", &self.tags)
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// An emulated vault.
#[derive(Debug, Clone)]
pub struct Vault {
    state: Arc<VaultState>,
    clock_owner: Arc<Shared>,
}

impl Vault {
    /// The vault's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The vault URL, `https://127.0.0.1:PORT` (what `SecretClient::new` takes).
    pub fn url(&self) -> &str {
        self.state.url()
    }

    /// The tenant the vault belongs to.
    pub fn tenant_id(&self) -> &str {
        &self.state.tenant_id
    }

    /// Assigns `role` on this vault to `identity`.
    pub fn grant(&self, identity: &Identity, role: Role) {
        self.state.grant(&identity.object_id, role);
    }

    /// Removes `role` on this vault from `identity`.
    pub fn revoke(&self, identity: &Identity, role: Role) {
        self.state.revoke(&identity.object_id, role);
    }

    /// Changes the throttling budget.
    pub fn set_throttle(&self, limits: ThrottleLimits) {
        *self.state.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    /// Adds a secret version directly (no HTTP, no auth, not counted); returns the version id.
    pub fn set_secret(&self, name: &str, value: &str) -> Result<String> {
        self.put_secret(
            name,
            SecretSpec {
                value: value.into(),
                ..SecretSpec::default()
            },
        )
    }

    /// Adds a secret version with content type, tags and enabled flag; returns the version id.
    pub fn put_secret(&self, name: &str, spec: SecretSpec) -> Result<String> {
        self.write(name, spec, false)
    }

    /// Imports a Key Vault certificate as `az keyvault certificate import` creates it: the
    /// backing secret (`kid` set, `managed: true`) with `value` — base64 PKCS#12
    /// (`application/x-pkcs12`) or PEM (`application/x-pem-file`) — and the key of the same name
    /// and version holding the leaf's public key.
    pub fn import_certificate(
        &self,
        name: &str,
        value: &str,
        content_type: &str,
    ) -> Result<String> {
        let spki = leaf_public_key(value, content_type)?;
        let version = self.write(
            name,
            SecretSpec {
                value: value.into(),
                content_type: Some(content_type.into()),
                ..SecretSpec::default()
            },
            true,
        )?;
        self.add_key(name, version.clone(), &spki, true)?;
        Ok(version)
    }

    /// Creates a version of a standalone key from its public key (DER `SubjectPublicKeyInfo`,
    /// RSA or EC P-256/P-384); returns the version id. Only the public half is held: the
    /// emulator serves `GET /keys`, not cryptographic operations.
    pub fn create_key(&self, name: &str, spki_der: &[u8]) -> Result<String> {
        let version = uuid::Uuid::new_v4().simple().to_string();
        self.add_key(name, version.clone(), spki_der, false)?;
        Ok(version)
    }

    fn add_key(&self, name: &str, version: String, spki_der: &[u8], managed: bool) -> Result<()> {
        let jwk = keyway_identity::Jwk::from_spki_der(spki_der).map_err(EmulatorError::Invalid)?;
        let public: std::collections::BTreeMap<String, String> = [
            ("kty", Some(jwk.kty)),
            ("n", jwk.n),
            ("e", jwk.e),
            ("crv", jwk.crv),
            ("x", jwk.x),
            ("y", jwk.y),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .add_key(name, version, public, managed, now)
            .map_err(|e| EmulatorError::Invalid(format!("cannot add key {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    fn write(&self, name: &str, spec: SecretSpec, certificate: bool) -> Result<String> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        let tags = (!spec.tags.is_empty()).then(|| spec.tags.into_iter().collect());
        let version = store
            .set(
                name,
                NewVersion {
                    value: spec.value,
                    content_type: spec.content_type,
                    tags,
                    enabled: Some(!spec.disabled),
                    nbf: None,
                    exp: None,
                    certificate,
                },
                now,
                self.state.url(),
            )
            .map(|v| v.version.clone())
            .map_err(|e| EmulatorError::Invalid(format!("cannot set secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(version)
    }

    /// The latest value of a secret, if it exists (for assertions in tests).
    pub fn secret_value(&self, name: &str) -> Option<String> {
        let store = self.state.store();
        store
            .secret(name)
            .ok()
            .and_then(|s| s.latest())
            .map(|v| v.value.clone())
    }

    /// Enables or disables the latest version of a secret.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<()> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .update(
                name,
                None,
                keyvault::Changes {
                    enabled: Some(enabled),
                    ..Default::default()
                },
                now,
            )
            .map_err(|e| EmulatorError::Invalid(format!("cannot update secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    /// Deletes a secret (soft delete: recoverable, as with purge protection), as another
    /// client of the vault might in the middle of a sync.
    pub fn delete_secret(&self, name: &str) -> Result<()> {
        let now = self.clock_owner.clock.unix();
        let mut store = self.state.store();
        store
            .delete(name, now)
            .map_err(|e| EmulatorError::Invalid(format!("cannot delete secret {name:?}: {e:?}")))?;
        self.state.persist(&store);
        Ok(())
    }

    /// Recovers a deleted secret with all its versions, as Key Vault's recover operation does
    /// (a deleted name cannot be set again until it is recovered or purged).
    pub fn recover_secret(&self, name: &str) -> Result<()> {
        let mut store = self.state.store();
        store.recover(name).map_err(|e| {
            EmulatorError::Invalid(format!("cannot recover secret {name:?}: {e:?}"))
        })?;
        self.state.persist(&store);
        Ok(())
    }

    /// Names of the live (not deleted) secrets.
    pub fn secret_names(&self) -> Vec<String> {
        self.state
            .store()
            .secrets
            .values()
            .map(|s| s.name.clone())
            .collect()
    }
}

/// The leaf certificate's public key of a certificate's backing secret value.
fn leaf_public_key(value: &str, content_type: &str) -> Result<Vec<u8>> {
    use keyway_cert::{Bundle, ContentType, DecodeOptions, Encoding, ParseOptions, decode_value};
    let invalid =
        |e: keyway_cert::CertError| EmulatorError::Invalid(format!("certificate value: {e}"));
    let content_type: ContentType = content_type.parse().map_err(invalid)?;
    let encoding = (content_type == ContentType::Pkcs12).then_some(Encoding::Base64);
    let decoded = decode_value(
        value.as_bytes(),
        DecodeOptions {
            encoding,
            file_encoding_tag: None,
        },
    )
    .map_err(invalid)?;
    let bundle = Bundle::parse(
        decoded.bytes(),
        ParseOptions {
            content_type: Some(content_type),
            password: None,
        },
    )
    .map_err(invalid)?;
    let leaf = bundle.chain().leaf().ok_or_else(|| {
        EmulatorError::Invalid("the certificate value holds no certificate".into())
    })?;
    let x509 = bundle.certificates()[leaf].x509().map_err(invalid)?;
    Ok(x509.public_key().raw.to_vec())
}
