//! A Kubernetes cluster for tests (feature `testing`): the real cluster `KEYWAY_TEST_KUBECONFIG`
//! names when it is set, else the emulator's API server stand-in — with a fresh namespace either
//! way, and the emulated Entra ID and Key Vault beside it. The same test then runs offline in CI
//! and against a real cluster unchanged.
//!
//! ```no_run
//! # async fn run() -> keyway_emulator::Result<()> {
//! use keyway_emulator::testing::TestCluster;
//!
//! let cluster = TestCluster::start("my-test").await?;
//! let tenant = cluster.emulator().add_tenant(None);
//! // An identity that trusts the cluster's tokens for a service account in the test namespace.
//! let identity = cluster.add_workload_identity(&tenant, "app", "sync").await?;
//! // Or, in one call: a tenant, such an identity (for `reader`) and a vault it may read.
//! let (reader, vault) = cluster.workload_vault("my-vault", "reader", keyway_emulator::Role::SecretsUser).await?;
//! // ... TokenRequest → Entra → Key Vault → Secrets in cluster.namespace() ...
//! cluster.cleanup().await;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::{
    Emulator, EmulatorError, FederatedIdentityCredential, Identity, Jwks, Result, Role, Vault,
};

/// The variable naming a real cluster's kubeconfig for tests.
pub const KUBECONFIG_VARIABLE: &str = "KEYWAY_TEST_KUBECONFIG";

/// How long [`eventually`] waits before it calls a test hung. Generous on purpose: a loaded
/// 2-core CI machine runs several controllers at once, and a watch that failed several times
/// in a row waits out kube-runtime's backoff (up to 30 s, jittered) before it re-lists.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(180);

/// Polls `check` every 200 ms until it holds, and returns at once when it does; panics with
/// `what` after [`PATIENCE`]. The wait is for an event, not a budget: the limit only ends a
/// test that would otherwise hang.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Adds the vault `vault_name` to `identity`'s tenant and grants `identity` `role` on it.
async fn grant_vault(
    emulator: &Emulator,
    identity: Identity,
    vault_name: &str,
    role: Role,
) -> Result<(Identity, Vault)> {
    let vault = emulator.add_vault(&identity.tenant_id, vault_name).await?;
    vault.grant(&identity, role);
    Ok((identity, vault))
}

impl Emulator {
    /// What a test of anything that reads Key Vault through workload identity federation
    /// starts from (feature `testing`): in a fresh tenant, the identity `service_account`,
    /// trusting the emulated issuer's tokens for
    /// `system:serviceaccount:<namespace>:<service_account>`, and the vault `vault_name`, in
    /// which it holds `role`. The tenant is the identity's `tenant_id`. For a cluster's own
    /// tokens, see [`TestCluster::workload_vault`].
    pub async fn workload_vault(
        &self,
        vault_name: &str,
        namespace: &str,
        service_account: &str,
        role: Role,
    ) -> Result<(Identity, Vault)> {
        let tenant = self.add_tenant(None);
        let identity =
            self.add_workload_identity(&tenant, service_account, namespace, service_account)?;
        grant_vault(self, identity, vault_name, role).await
    }
}

/// A cluster and a fresh namespace in it, beside a running [`Emulator`].
pub struct TestCluster {
    emulator: Emulator,
    client: Client,
    namespace: String,
    kubeconfig: Option<PathBuf>,
}

/// Neither the client's credentials nor the emulator's secrets are shown.
impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("namespace", &self.namespace)
            .field("real", &self.is_real())
            .finish_non_exhaustive()
    }
}

fn kube_error(what: &str) -> impl Fn(kube::Error) -> EmulatorError + '_ {
    move |e| EmulatorError::Invalid(format!("{what}: {e}"))
}

impl TestCluster {
    /// Starts the emulator, connects to the cluster (`KEYWAY_TEST_KUBECONFIG`'s, else the
    /// stand-in) and creates the namespace `keyway-<test>-<pid>-<n>`.
    pub async fn start(test: &str) -> Result<TestCluster> {
        let emulator = Emulator::start().await?;
        let kubeconfig = std::env::var_os(KUBECONFIG_VARIABLE).map(PathBuf::from);
        let parsed = match &kubeconfig {
            Some(path) => Kubeconfig::read_from(path).map_err(|e| {
                EmulatorError::Invalid(format!("{KUBECONFIG_VARIABLE}={}: {e}", path.display()))
            })?,
            None => Kubeconfig::from_yaml(&emulator.kubeconfig())
                .map_err(|e| EmulatorError::Invalid(format!("the stand-in's kubeconfig: {e}")))?,
        };
        let config = Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
            .await
            .map_err(|e| EmulatorError::Invalid(format!("kubeconfig: {e}")))?;
        let client = Client::try_from(config).map_err(kube_error("kube client"))?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let namespace = format!(
            "keyway-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut ns = Namespace::default();
        ns.metadata.name = Some(namespace.clone());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(kube_error("creating the test namespace"))?;
        Ok(TestCluster {
            emulator,
            client,
            namespace,
            kubeconfig,
        })
    }

    /// [`TestCluster::start`], then the CustomResourceDefinitions in the YAML files of
    /// `crds_dir` installed (see [`TestCluster::install_crds_from`]).
    pub async fn start_with_crds(test: &str, crds_dir: &Path) -> Result<TestCluster> {
        let cluster = TestCluster::start(test).await?;
        cluster.install_crds_from(crds_dir).await?;
        Ok(cluster)
    }

    /// In a fresh tenant, the workload identity `service_account` (the ServiceAccount created
    /// in the test namespace, its tokens from this cluster's issuer trusted, as
    /// [`TestCluster::add_workload_identity`] does) and the vault `vault_name`, in which it
    /// holds `role`. The tenant is the identity's `tenant_id`.
    pub async fn workload_vault(
        &self,
        vault_name: &str,
        service_account: &str,
        role: Role,
    ) -> Result<(Identity, Vault)> {
        let tenant = self.emulator.add_tenant(None);
        let identity = self
            .add_workload_identity(&tenant, service_account, service_account)
            .await?;
        grant_vault(&self.emulator, identity, vault_name, role).await
    }

    /// The emulated Entra ID, OIDC issuer and Key Vault (and the stand-in, when in use).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// A client of the cluster.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The test's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether this is a real cluster (`KEYWAY_TEST_KUBECONFIG`) rather than the stand-in.
    pub fn is_real(&self) -> bool {
        self.kubeconfig.is_some()
    }

    /// The kubeconfig a separate process (a CLI under test) uses to reach the same cluster.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        match &self.kubeconfig {
            Some(real) => std::fs::copy(real, path)
                .map(|_| ())
                .map_err(|e| EmulatorError::State {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }),
            None => self.emulator.write_kubeconfig(path),
        }
    }

    /// The issuer of the cluster's service-account tokens, trusted by the emulated Entra: the
    /// emulator's own issuer for the stand-in; for a real cluster, its discovery document and
    /// JWKS, read through the API server and registered inline.
    pub async fn trust_service_account_issuer(&self) -> Result<String> {
        if !self.is_real() {
            return Ok(self.emulator.issuer_url());
        }
        let get = |path: &str| {
            http::Request::get(path)
                .body(Vec::new())
                .map_err(|e| EmulatorError::Invalid(e.to_string()))
        };
        let discovery = self
            .client
            .request::<serde_json::Value>(get("/.well-known/openid-configuration")?)
            .await
            .map_err(kube_error("the cluster's OIDC discovery document"))?;
        let issuer = discovery["issuer"]
            .as_str()
            .ok_or_else(|| EmulatorError::Invalid("the discovery document has no issuer".into()))?
            .to_string();
        let jwks: Jwks = self
            .client
            .request(get("/openid/v1/jwks")?)
            .await
            .map_err(kube_error("the cluster's JWKS"))?;
        self.emulator.trust_issuer_inline(&issuer, jwks);
        Ok(issuer)
    }

    /// Creates the ServiceAccount `service_account` in the test namespace and an identity in
    /// `tenant_id` whose federated credential trusts its tokens from this cluster's issuer.
    pub async fn add_workload_identity(
        &self,
        tenant_id: &str,
        name: &str,
        service_account: &str,
    ) -> Result<Identity> {
        let mut account = ServiceAccount::default();
        account.metadata.name = Some(service_account.into());
        Api::<ServiceAccount>::namespaced(self.client.clone(), &self.namespace)
            .create(&PostParams::default(), &account)
            .await
            .map_err(kube_error("creating the service account"))?;
        let issuer = self.trust_service_account_issuer().await?;
        let identity = self.emulator.add_identity(tenant_id, name)?;
        self.emulator.add_federated_credential(
            &identity,
            FederatedIdentityCredential::for_service_account(
                &issuer,
                &self.namespace,
                service_account,
            ),
        )?;
        Ok(identity)
    }

    /// Installs CustomResourceDefinitions (server-side apply, so a real cluster's existing ones
    /// are updated) and waits until the API serves them.
    pub async fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<()> {
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let mut body = crd.clone();
            body.metadata.managed_fields = None;
            body.metadata.resource_version = None;
            api.patch(
                &name,
                &PatchParams::apply("keyway-tests").force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(kube_error("applying a CustomResourceDefinition"))?;
            let established = kube::runtime::wait::conditions::is_crd_established();
            let wait = kube::runtime::wait::await_condition(api.clone(), &name, established);
            tokio::time::timeout(std::time::Duration::from_secs(60), wait)
                .await
                .map_err(|_| EmulatorError::Invalid(format!("{name} not established in 60 s")))?
                .map_err(|e| EmulatorError::Invalid(format!("waiting for {name}: {e}")))?;
        }
        Ok(())
    }

    /// Installs the CustomResourceDefinitions in the YAML files of `dir` (such as deploy/crds).
    pub async fn install_crds_from(&self, dir: &Path) -> Result<()> {
        let unreadable = |e: &dyn std::fmt::Display| EmulatorError::State {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| unreadable(&e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut crds = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| unreadable(&e))?;
            let crd: CustomResourceDefinition =
                serde_saphyr::from_str(&text).map_err(|e| EmulatorError::State {
                    path: file.display().to_string(),
                    reason: e.to_string(),
                })?;
            crds.push(crd);
        }
        self.install_crds(&crds).await
    }

    /// Deletes the test namespace (and, with it, what the test made there).
    pub async fn cleanup(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}
