//! The emulator: its options, the start of every listener, and the [`Emulator`] handle tests
//! and programs drive it by. The state the services share lives in `state.rs`, the directory
//! in `directory.rs`, the control endpoints in `control.rs`, and the [`crate::Vault`] handle
//! beside the Key Vault service (`keyvault/vault.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyway_identity::{FederatedIdentityCredential, Jwks};

use crate::arm::{self, ArmState, IotOperationsInstance};
use crate::control::{self, FaultRequest};
use crate::counters::{Counters, RequestCount, Service};
use crate::directory::{self, Identity};
use crate::entra;
use crate::error::{EmulatorError, Result};
use crate::faults::Faults;
use crate::issuer::{self, ServiceAccountToken};
use crate::keyvault::{self, Vault, VaultState};
use crate::kubernetes::{self, ApiAccess, KubeState};
use crate::server::{self, Listener, ServiceSpec};
use crate::state::Shared;

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
        let shared = Arc::new(Shared::new(options.token_lifetime)?);
        if let Some(dir) = &options.state_dir {
            std::fs::create_dir_all(dir).map_err(|e| EmulatorError::State {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let bind = SocketAddr::new(options.bind, 0);
        let start = |spec| serve(&shared, bind, spec);
        let entra = start(entra::service(shared.clone())).await?;
        let issuer = start(issuer::service(shared.clone())).await?;
        let kube = Arc::new(KubeState::new());
        let kubernetes = start(kubernetes::service(shared.clone(), kube.clone())).await?;
        let arm_state = Arc::new(ArmState::default());
        let arm = start(arm::service(shared.clone(), arm_state.clone())).await?;
        shared.set_urls(entra.base_url(), issuer.base_url());
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
        if !directory::is_domain_name(domain) {
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
        self.shared.rotate_issuer_key()
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
                // Private: the vaults' state files hold secret values.
                let mut builder = std::fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&vaults).map_err(|e| EmulatorError::State {
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
            keyvault::service(self.shared.clone(), state.clone()),
        )
        .await?;
        let _ = state.url.set(listener.base_url());
        self.arm_state.add_vault(state.clone());
        self.vaults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((state.clone(), Arc::new(listener)));
        Ok(Vault::new(state, self.shared.clone()))
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

    /// An Azure IoT Operations instance `name` in `resource_group`, readable through the ARM
    /// stand-in with its custom location (for namespace `namespace`), connected cluster and IoT
    /// Operations extension (configuration `settings`); secret sync resources can then be
    /// made with that custom location as their `extendedLocation`.
    pub fn add_iot_operations_instance(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        namespace: &str,
        settings: &std::collections::BTreeMap<String, String>,
    ) -> IotOperationsInstance {
        self.arm_state
            .edge
            .add_instance(subscription, resource_group, name, namespace, settings)
    }

    /// The ARM resource `id` as the stand-in holds it (instances, custom locations,
    /// extensions, secret sync resources), if it exists.
    pub fn arm_resource(&self, id: &str) -> Option<serde_json::Value> {
        self.arm_state.edge.resource(id)
    }

    /// Sets the SecretSync `id`'s `properties.status`, as the extension reports it from the
    /// cluster; false when there is no such resource.
    pub fn set_arm_secret_sync_status(&self, id: &str, status: serde_json::Value) -> bool {
        self.arm_state.edge.set_status(id, status)
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

    /// Applies a [`FaultRequest`], as `POST <any listener>/_emulator/faults` does.
    pub fn apply_fault(&self, request: &FaultRequest) -> Result<()> {
        control::apply_fault(&self.shared, request)
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

/// Starts a listener on `bind` for `spec`, with the control endpoints beside its routes.
async fn serve(shared: &Arc<Shared>, bind: SocketAddr, mut spec: ServiceSpec) -> Result<Listener> {
    spec.router = spec.router.merge(control::routes(shared.clone()));
    server::serve(
        bind,
        shared.tls.server_config(),
        spec,
        shared.counters.clone(),
        shared.faults.clone(),
    )
    .await
}
