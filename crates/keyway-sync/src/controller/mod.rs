//! The SecretSync controller (feature `controller`): a drop-in for the Secret Store extension's
//! sync controller, driven by the same SecretSync and SecretProviderClass objects, built on
//! kube-runtime.
//!
//! A SecretSync is reconciled when it is created or its spec (or `forceSynchronization`)
//! changes, when the SecretProviderClass it names changes, when its Secret changes or is deleted
//! (the Secret is compared with what the cluster holds, so it is recreated, and edited data
//! restored), and once per poll interval. Every SecretSync reading one vault with one identity shares a
//! [`SharedSource`] — one listing per cycle and one read per changed secret — and every source
//! of a vault shares one [`RequestBudget`](crate::source::RequestBudget); all SecretSyncs of a vault are requeued to the
//! vault's cycle, so a poll costs ⌈N/25⌉ list calls plus one GET per changed secret. Credentials
//! (TokenRequest for the SecretSync's service account, exchanged with the SecretProviderClass's
//! `clientID`/`tenantID`) are shared per (namespace, service account, client, tenant).
//!
//! SecretSyncs, SecretProviderClasses and the Secrets keyway manages are read from watch-fed
//! stores, never one by one, and the status is written only when it changes: a poll that finds
//! nothing new makes no API-server request at all (tests/quiet_poll.rs counts them).

mod events;
mod leader;
mod state;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use azure_core::http::ClientOptions;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller as Runtime};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, predicates};
use kube::{Api, Client, Resource, ResourceExt};

use crate::error::{FieldProblem, MetadataMap, Result, SyncError};
use crate::model::secret_provider_class::SecretProviderClass;
use crate::model::secret_sync::{SecretSync, SyncTarget};
use crate::model::spec::SyncSpec;
use crate::sink::{KubernetesSecretSink, Remap, SecretCache};
use crate::source::SharedSource;
use crate::syncer::Syncer;
use state::{CredentialKey, Registry};
use status::{Reason, Verdict};

pub use leader::{LeaderElection, LeaseTiming};
pub use state::ControllerMetrics;

/// The field manager of status updates.
pub const STATUS_FIELD_MANAGER: &str = "keyway-controller";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    /// A label selector SecretSyncs must match (`app=edge,tier!=test`).
    pub selector: Option<String>,
    /// Time between polls of a vault.
    pub poll_interval: Duration,
    /// Random spread of each vault's poll, as a fraction of the interval (0.1 = ±10 %).
    pub jitter: f64,
    /// Requests per 10 seconds to one vault, across every identity reading it.
    pub requests_per_10s: u32,
    /// Entra authority host; `None` takes the SecretProviderClass's cloud's.
    pub authority_host: Option<String>,
    /// Transport and retry for Entra and Key Vault.
    pub client_options: ClientOptions,
    /// Verify the vault challenge's resource. `false` turns verification off for vaults on a
    /// loopback address only (an emulator, which cannot be `*.vault.azure.net`); every other
    /// vault is always verified.
    pub verify_challenge_resource: bool,
    /// Vault name → URL, for private endpoints and emulators; others use the cloud's suffix.
    pub vault_urls: BTreeMap<String, String>,
    /// Handle only SecretSyncs whose `secretSyncControllerName` is empty or this.
    pub controller_name: String,
    /// Who reports Events (the Deployment's name, the Pod's name).
    pub reporter: String,
    /// Reconciles running at once (bounds memory and the bursts the API server sees); 64 by
    /// default. While the vault's budget is spent, reconciles waiting for it hold their slots
    /// and those whose values are already read wait behind them: at 5,000 SecretSyncs and
    /// 4,000 requests per 10 s, 16 took the first sync to 38.9 s, 64 to 32.1 s (peak RSS
    /// +5 MiB), 256 to 30.1 s (+19 MiB).
    pub max_concurrent_reconciles: u16,
    /// API-server requests under way at once, watches apart; 16 by default, 0 counts as 1.
    /// Reconciles write in bursts, and each request under way holds a connection of its own
    /// (HTTP/1.1) with its TLS and read buffers, which stays open a while after: at 5,000
    /// SecretSyncs 64 reconciles kept about 60 connections open, with 16 the controller had 26
    /// to 36 sockets open in all (docs/benchmarks.md, "Fleet scale, sixth pass"). A response is
    /// read whole before its slot is freed, within 60 s. (Not a flag of `keyway controller`.)
    pub max_api_requests_in_flight: u16,
    /// The Secret types SecretSyncs may write: at most
    /// [`crate::model::secret_sync::ALLOWED_SECRET_TYPES`] (the default), narrower to allow less.
    pub allowed_secret_types: Vec<String>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            namespaces: Vec::new(),
            selector: None,
            poll_interval: Duration::from_secs(3600),
            jitter: 0.1,
            requests_per_10s: 2000,
            authority_host: None,
            client_options: ClientOptions::default(),
            verify_challenge_resource: true,
            vault_urls: BTreeMap::new(),
            controller_name: "keyway".into(),
            reporter: "keyway-controller".into(),
            max_concurrent_reconciles: 64,
            max_api_requests_in_flight: 16,
            allowed_secret_types: crate::model::secret_sync::ALLOWED_SECRET_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
        }
    }
}

/// What every reconcile shares.
struct Context {
    client: Client,
    options: ControllerOptions,
    registry: Registry,
    recorder: events::Events,
    /// Per watched scope (a namespace, or `None` for all): the watch-fed copy of the Secrets
    /// keyway manages, which the sinks compare with instead of a GET per reconcile.
    secrets: std::sync::Mutex<Vec<(Option<String>, SecretCache)>>,
    /// Per watched scope: the watch-fed copy of the SecretProviderClasses, which reconciles read
    /// instead of a GET each, and whether the scope's watches have listed.
    watched: std::sync::Mutex<Vec<(Option<String>, Watched)>>,
}

/// One scope's watch-fed SecretProviderClasses, and whether its class and Secret watches have
/// listed (their stores are empty before, which does not mean "none").
#[derive(Clone)]
struct Watched {
    classes: reflector::Store<SecretProviderClass>,
    classes_listed: Listed,
    secrets_listed: Listed,
}

/// Whether a watch has listed once, for any number of waiters. (kube-runtime's
/// `Store::wait_until_ready` wakes only the last of several concurrent waiters — its one-shot
/// channel keeps one waker — so the reconciles started before the listing would wait forever.)
#[derive(Clone)]
struct Listed(tokio::sync::watch::Receiver<bool>);

impl Listed {
    /// A signal, and the function that raises it when the watch's listing ends (an
    /// `inspect` of the watch's events).
    fn new<K>() -> (
        Listed,
        impl FnMut(&std::result::Result<watcher::Event<K>, watcher::Error>),
    ) {
        let (sender, receiver) = tokio::sync::watch::channel(false);
        let raise = move |event: &std::result::Result<watcher::Event<K>, watcher::Error>| {
            if let Ok(watcher::Event::InitDone) = event {
                sender.send_replace(true);
            }
        };
        (Listed(receiver), raise)
    }

    /// Waits until the watch has listed; fails when it stopped before.
    async fn wait(&self, what: &str) -> std::result::Result<(), String> {
        self.0
            .clone()
            .wait_for(|listed| *listed)
            .await
            .map(|_| ())
            .map_err(|_| format!("the {what} watch stopped before it listed"))
    }
}

impl Context {
    /// The Secret cache whose scope holds `namespace`.
    fn secret_cache(&self, namespace: &str) -> Option<SecretCache> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, store)| store.clone())
    }

    /// The SecretProviderClass `namespace/name` from the watch of its scope, once that watch
    /// and the scope's Secret watch have listed: `None` when the cluster has no such class —
    /// creating it later triggers the SecretSyncs naming it.
    async fn provider_class(
        &self,
        namespace: &str,
        name: &str,
    ) -> std::result::Result<Option<Arc<SecretProviderClass>>, String> {
        let watched = self
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, watched)| watched.clone())
            .ok_or_else(|| format!("namespace {namespace} is not watched"))?;
        watched.classes_listed.wait("SecretProviderClass").await?;
        // The sink reads the Secret cache next; the cache waits for its listing too, but a
        // watch that stopped is reported here, naming it.
        watched.secrets_listed.wait("Secret").await?;
        Ok(watched.classes.get(&ObjectRef::new(name).within(namespace)))
    }
}

/// The SecretSync controller. Clones share state.
#[derive(Clone)]
pub struct Controller {
    context: Arc<Context>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("namespaces", &self.context.options.namespaces)
            .field("poll_interval", &self.context.options.poll_interval)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller writing through `client`. Every request it makes through it is counted by
    /// verb (`keyway_apiserver_requests_total`; a [`LeaderElection`]'s own client is not).
    pub fn new(client: Client, options: ControllerOptions) -> Controller {
        let registry = Registry::new(&options);
        let client = api_client(
            client,
            registry.metrics.clone(),
            options.max_api_requests_in_flight,
        );
        let recorder = events::Events::new(
            client.clone(),
            Reporter {
                controller: options.reporter.clone(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Controller {
            context: Arc::new(Context {
                client,
                registry,
                options,
                recorder,
                secrets: std::sync::Mutex::new(Vec::new()),
                watched: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> Arc<ControllerMetrics> {
        self.context.registry.metrics.clone()
    }

    /// Runs while this replica holds the Lease of `election`, until `shutdown` completes: waits
    /// to be leader, reconciles while it renews, stops writing when the Lease is lost (and
    /// campaigns again), and releases the Lease on shutdown so a standby takes over at once.
    pub async fn run_as_leader(
        &self,
        election: &LeaderElection,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let shutdown = futures::future::FutureExt::shared(shutdown);
        loop {
            tokio::select! {
                _ = shutdown.clone() => return,
                _ = election.acquire() => {}
            }
            tracing::info!("leading: reconciling");
            // Losing the Lease drops the controller future: reconciles stop at once.
            let lost = tokio::select! {
                _ = self.run(shutdown.clone()) => false,
                _ = election.hold() => true,
            };
            if lost {
                tracing::warn!("lost the Lease: stopped writing");
                continue;
            }
            if let Err(error) = election.release().await {
                tracing::warn!(%error, "releasing the Lease");
            }
            return;
        }
    }

    /// Runs until `shutdown` completes (in-flight reconciles finish first).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let shutdown = futures::future::FutureExt::shared(shutdown);
        let scopes: Vec<Option<String>> = if self.context.options.namespaces.is_empty() {
            vec![None]
        } else {
            self.context
                .options
                .namespaces
                .iter()
                .cloned()
                .map(Some)
                .collect()
        };
        let runs = scopes.into_iter().map(|namespace| {
            let context = self.context.clone();
            let shutdown = shutdown.clone();
            async move {
                let api =
                    |client: Client| -> (Api<SecretSync>, Api<SecretProviderClass>, Api<Secret>) {
                        match &namespace {
                            Some(ns) => (
                                Api::namespaced(client.clone(), ns),
                                Api::namespaced(client.clone(), ns),
                                Api::namespaced(client, ns),
                            ),
                            None => (
                                Api::all(client.clone()),
                                Api::all(client.clone()),
                                Api::all(client),
                            ),
                        }
                    };
                let (syncs, classes, secrets) = api(context.client.clone());
                let mut config = watcher::Config::default();
                if let Some(selector) = &context.options.selector {
                    config = config.labels(selector);
                }
                // Only spec changes (generation) trigger from the SecretSync watch: the status
                // this controller writes must not trigger another reconcile (kube-runtime's
                // `for_stream`, behind its `unstable-runtime` feature).
                let (reader, writer) = reflector::store();
                let trigger =
                    reflector::reflector(writer, watcher::watcher(syncs, config).modify(lean))
                        .default_backoff()
                        .applied_objects()
                        .predicate_filter(predicates::generation, Default::default());
                let runtime = Runtime::for_stream(trigger, reader).with_config(
                    kube::runtime::controller::Config::default()
                        .concurrency(context.options.max_concurrent_reconciles),
                );
                let store = runtime.store();
                // Deleted SecretSyncs are not reconciled: forget their syncers each poll.
                let pruning = {
                    let (store, context, namespace) =
                        (store.clone(), context.clone(), namespace.clone());
                    async move {
                        loop {
                            tokio::time::sleep(context.options.poll_interval).await;
                            let live = store.state().iter().filter_map(|sync| sync.uid()).collect();
                            context.registry.retain(namespace.as_deref(), &live);
                        }
                    }
                };
                // The Secrets keyway manages, watched once: the watch both triggers the owning
                // SecretSync (a deleted or edited Secret is reconciled) and feeds the cache the
                // sinks compare with.
                let (scope_cache, mut secret_writer) = {
                    // A new run (leadership regained) starts a fresh index in the cache the
                    // existing sinks hold: a stale copy never stands for the cluster.
                    let mut caches = context.secrets.lock().unwrap_or_else(|p| p.into_inner());
                    let cache = match caches.iter().find(|(scope, _)| *scope == namespace) {
                        Some((_, cache)) => cache.clone(),
                        None => {
                            let cache = SecretCache::default();
                            caches.push((namespace.clone(), cache.clone()));
                            cache
                        }
                    };
                    let writer = cache.watch();
                    (cache, writer)
                };
                let (secrets_listed, secrets_raise) = Listed::new();
                let secret_events = watcher::watcher(
                    secrets,
                    watcher::Config::default().labels(crate::sink::MANAGED_LABEL),
                )
                .modify(SecretCache::digest)
                .inspect_ok(move |event| secret_writer.apply(event))
                .default_backoff()
                .inspect(secrets_raise)
                .touched_objects()
                // A Secret as this process just wrote it: the reconcile that wrote it knows.
                .try_filter(move |secret| futures::future::ready(!scope_cache.own_write(secret)));
                // The SecretProviderClasses, watched once: the watch both triggers the
                // SecretSyncs naming a changed (or created, or deleted) class and feeds the
                // store reconciles read the class from. The reflector updates the store before
                // it passes the event on, so a triggered reconcile reads the new class. A new
                // run swaps in its store, as for the Secrets.
                let (class_store, class_writer) = reflector::store();
                let (classes_listed, classes_raise) = Listed::new();
                {
                    let mut watched = context.watched.lock().unwrap_or_else(|p| p.into_inner());
                    watched.retain(|(scope, _)| *scope != namespace);
                    watched.push((
                        namespace.clone(),
                        Watched {
                            classes: class_store,
                            classes_listed,
                            secrets_listed,
                        },
                    ));
                }
                let class_events = reflector::reflector(
                    class_writer,
                    watcher::watcher(classes, watcher::Config::default()).modify(lean),
                )
                .default_backoff()
                .inspect(classes_raise)
                .touched_objects();
                let controller = runtime
                    .owns_stream(secret_events)
                    .watches_stream(class_events, move |class| {
                        // A changed SecretProviderClass resyncs every SecretSync naming it.
                        let namespace = class.namespace();
                        let name = class.name_any();
                        store
                            .state()
                            .into_iter()
                            .filter(|sync| {
                                sync.namespace() == namespace
                                    && sync.spec.secret_provider_class_name == name
                            })
                            .map(|sync| ObjectRef::from_obj(sync.as_ref()))
                            .collect::<Vec<_>>()
                    })
                    .graceful_shutdown_on(shutdown.clone())
                    .run(reconcile, error_policy, context)
                    .for_each(|result| async move {
                        if let Err(error) = result {
                            tracing::debug!(%error, "reconcile trigger");
                        }
                    });
                // After the shutdown, reconciles under way get SHUTDOWN_GRACE to finish;
                // kube-runtime's graceful drain alone never ends while a watch has not listed
                // (an API server that cannot be reached), and the process must still stop.
                let deadline = {
                    let shutdown = shutdown.clone();
                    async move {
                        shutdown.await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    }
                };
                tokio::select! {
                    _ = controller => {}
                    _ = pruning => {}
                    _ = deadline => {
                        tracing::warn!(
                            "stopped {} s after the shutdown with reconciles or watches still under way",
                            SHUTDOWN_GRACE.as_secs()
                        );
                    }
                }
            }
        });
        futures::future::join_all(runs).await;
    }
}

/// What the watch-fed stores of SecretSyncs and SecretProviderClasses keep of an object: all but
/// its `managedFields` and a client-side `kubectl apply`'s copy of the object in an annotation,
/// which nothing here reads. (The Secrets' index keeps neither in the first place.)
fn lean<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// How long reconciles under way may take to finish after a shutdown (a pod's default grace
/// period is 30 s). A reconcile stopped then has written nothing or one whole Secret.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a request other than a watch may take, its response read whole, before it fails
/// and frees its slot: the kube client sets no read timeout, and a request hanging on a
/// half-open connection would otherwise hold a slot for good.
const API_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `client`, counting each request by verb in `metrics` before it goes out, with at most
/// `in_flight` requests other than watches under way at once (at least one). Such a request
/// holds its slot until its response is read whole (at most [`API_REQUEST_TIMEOUT`]), so its
/// connection is free again when the next one starts; a watch streams for minutes and never
/// waits for a slot. (The controller sends no other streaming request; one added, such as
/// `follow=true` logs, must bypass the slots as watches do.)
fn api_client(client: Client, metrics: Arc<ControllerMetrics>, in_flight: u16) -> Client {
    let namespace = client.default_namespace().to_string();
    let valid_until = *client.valid_until();
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(in_flight.max(1))));
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let verb = verb(request.method(), request.uri());
        metrics.api_request(verb);
        let (client, slots) = (client.clone(), slots.clone());
        async move {
            if verb == "watch" {
                return client.send(request).await;
            }
            // The semaphore is never closed.
            let _slot = slots.acquire().await.ok();
            let exchange = async {
                let (parts, body) = client.send(request).await?.into_parts();
                let body = kube::client::Body::from(body.collect_bytes().await?);
                Ok(http::Response::from_parts(parts, body))
            };
            tokio::time::timeout(API_REQUEST_TIMEOUT, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(kube::Error::Service(
                        format!(
                            "no whole answer from the API server within {} s",
                            API_REQUEST_TIMEOUT.as_secs()
                        )
                        .into(),
                    ))
                })
        }
    });
    Client::new(service, namespace).with_valid_until(valid_until)
}

/// A request's verb as RBAC names it: a GET is a `watch` (`watch=true`), a `get` (a named
/// object or its subresource) or a `list`.
fn verb(method: &http::Method, uri: &http::Uri) -> &'static str {
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let rest = match parts.first() {
        Some(&"api") => parts.get(2..),
        Some(&"apis") => parts.get(3..),
        _ => None,
    }
    .unwrap_or_default();
    let named = match rest {
        ["namespaces", _, _] => false,
        [_, _, ..] => true,
        _ => false,
    };
    let watch = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    match *method {
        http::Method::GET if watch => "watch",
        http::Method::GET if named => "get",
        http::Method::GET => "list",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

/// A reconcile that could not even write its status (the API server failing) is retried like a
/// failed sync: within 30 s, or a poll when that is shorter.
fn error_policy(_sync: Arc<SecretSync>, error: &SyncError, context: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed");
    Action::requeue(retry_after_failure(&context.options))
}

fn retry_after_failure(options: &ControllerOptions) -> Duration {
    Duration::from_secs(30).min(options.poll_interval)
}

/// Reconciles one SecretSync: sync, then status, Events and metrics.
async fn reconcile(sync: Arc<SecretSync>, context: Arc<Context>) -> Result<Action> {
    let options = &context.options;
    if sync.meta().deletion_timestamp.is_some() {
        context.registry.forget(&sync);
        return Ok(Action::await_change());
    }
    if let Some(name) = sync.spec.secret_sync_controller_name.as_deref()
        && !name.is_empty()
        && name != options.controller_name
    {
        return Ok(Action::await_change());
    }
    let started = std::time::Instant::now();
    let (verdict, requeue) = sync_one(&sync, &context).await;
    context
        .registry
        .metrics
        .reconciled(verdict.reason, started.elapsed());
    report(&sync, &context, &verdict).await?;
    Ok(Action::requeue(requeue))
}

/// How long ago `sync` was created (by the API server's clock; `None` when it does not say).
fn age(sync: &SecretSync) -> Option<Duration> {
    let created = sync.metadata.creation_timestamp.as_ref()?.0;
    let elapsed = k8s_openapi::jiff::Timestamp::now().duration_since(created);
    Duration::try_from(elapsed).ok()
}

/// Runs the sync; every failure becomes a verdict, so the status tells it.
async fn sync_one(sync: &SecretSync, context: &Context) -> (Verdict, Duration) {
    let options = &context.options;
    let retry = retry_after_failure(options);
    let fail = |reason: Reason, message: String| Verdict {
        reason,
        message,
        written: false,
        sync_hash: None,
    };
    let namespace = sync.namespace().unwrap_or_default();
    let class_name = &sync.spec.secret_provider_class_name;
    // From the watch-fed store, never a GET: a quiet poll costs the API server nothing.
    let class = match context.provider_class(&namespace, class_name).await {
        Ok(Some(class)) => class,
        Ok(None) => {
            let message = format!(
                "SecretProviderClass {namespace}/{class_name} not found; create it or fix spec.secretProviderClassName"
            );
            return (fail(Reason::ControllerSpcError, message), retry);
        }
        Err(e) => {
            let message = format!("reading SecretProviderClass {namespace}/{class_name}: {e}");
            return (fail(Reason::ControllerSpcError, message), retry);
        }
    };
    let spec = match SyncSpec::from_provider_class(&class) {
        Ok(spec) => spec,
        Err(e) => {
            return (
                fail(Reason::UserInputValidationFailed, e.to_string()),
                options.poll_interval,
            );
        }
    };
    let spec = match spec
        .vault_name
        .as_ref()
        .and_then(|name| options.vault_urls.get(&name.to_ascii_lowercase()))
    {
        Some(url) => match spec.clone().with_vault_url(url) {
            Ok(spec) => spec,
            Err(e) => {
                return (
                    fail(Reason::UserInputValidationFailed, e.to_string()),
                    options.poll_interval,
                );
            }
        },
        None => spec,
    };
    let (Some(client_id), Some(tenant_id)) = (spec.client_id.clone(), spec.tenant_id.clone())
    else {
        let message = "spec.parameters.clientID and spec.parameters.tenantID are required for workload identity".to_string();
        return (
            fail(Reason::UserInputValidationFailed, message),
            options.poll_interval,
        );
    };
    let allowed: Vec<&str> = options
        .allowed_secret_types
        .iter()
        .map(String::as_str)
        .collect();
    // Every rule of the SecretSync, the CLI's check too, before anything is written: a bad
    // target key never reaches the Secret.
    let mapping = match sync.spec.validate(
        &spec,
        SyncTarget::Secret {
            allowed_types: &allowed,
        },
    ) {
        Ok(mapping) => mapping,
        Err(e) => {
            return (
                fail(invalid_reason(&e), e.to_string()),
                options.poll_interval,
            );
        }
    };
    let sink = match KubernetesSecretSink::for_secret_sync(context.client.clone(), sync) {
        Ok(sink) => {
            let sink =
                sink.with_restoration_counter(context.registry.metrics.restoration_counter());
            match context.secret_cache(&namespace) {
                Some(cache) => sink.with_cache(cache),
                None => sink,
            }
        }
        Err(e) => {
            return (
                fail(invalid_reason(&e), e.to_string()),
                options.poll_interval,
            );
        }
    };
    let authority = options
        .authority_host
        .clone()
        .unwrap_or_else(|| spec.cloud.authority_host().to_string());
    let key = CredentialKey {
        namespace: namespace.clone(),
        service_account: sync.spec.service_account_name.clone(),
        client_id,
        tenant_id,
        authority_host: authority.clone(),
    };
    let (source, cycle_in) =
        match context
            .registry
            .source(&context.client, &key, &authority, &spec.vault_url)
        {
            Ok(found) => found,
            Err(e) => {
                return (
                    fail(Reason::UserInputValidationFailed, e.to_string()),
                    options.poll_interval,
                );
            }
        };
    let class_version = class.resource_version().unwrap_or_default();
    let fingerprint = format!(
        "{}/{}/{}",
        class_version,
        sync.meta().generation.unwrap_or_default(),
        sync.spec
            .force_synchronization
            .as_deref()
            .unwrap_or_default()
    );
    // What the SecretSync does not map is neither fetched nor reported.
    let spec = spec.restricted_to(mapping.iter().map(|(source, _)| source.as_str()));
    let sink = Arc::new(Remap::new(sink, mapping));
    let source_key = (spec.vault_url.clone(), key.clone());
    let (syncer, replaced) = context.registry.syncer(sync, source_key, &fingerprint, || {
        let spec = context.registry.shared_spec(
            (namespace.clone(), class_name.clone()),
            &class_version,
            spec,
        );
        Syncer::new(spec, source.clone() as Arc<SharedSource>, sink)
    });
    if replaced {
        // A changed spec or a forced sync reads the vault afresh, not this cycle's answers.
        source.expire().await;
    }
    let mut report = syncer.run_once().await;
    // A SecretSync created after the shared listing was taken may map secrets created since
    // then: its misses are checked against a new listing instead of failing until the listing
    // expires. (SecretSyncs older than the listing, all of them at start-up, never re-list.)
    if report
        .objects
        .iter()
        .any(|o| o.failure == Some(crate::error::SourceFailure::NotFound))
        && let (Some(listed), Some(age)) = (source.listing_age().await, age(sync))
        // creationTimestamp has whole seconds: a SecretSync within a second of the listing
        // counts as newer.
        && age < listed + Duration::from_secs(1)
    {
        source.expire_now();
        report = syncer.run_once().await;
    }
    context.registry.metrics.observe(&report);
    let created = status::created(sync.status.as_ref());
    let force = sync.spec.force_synchronization.clone().unwrap_or_default();
    let verdict = status::verdict(&report, created, replaced, &force);
    // A failed sync is retried soon (bounded by the cycle), not a whole poll later.
    let requeue = if verdict.reason.succeeded() {
        cycle_in
    } else {
        cycle_in.min(retry)
    };
    (verdict, requeue)
}

/// The condition reason of a SecretSync or SecretProviderClass that breaks a rule: a key under
/// the controller's own prefix in the Secret's labels or annotations has the Secret Store
/// extension's own reasons; every other rule is `UserInputValidationFailed`.
fn invalid_reason(error: &SyncError) -> Reason {
    match error {
        SyncError::Invalid {
            problem: FieldProblem::ReservedKey { map, .. },
            ..
        } => match map {
            MetadataMap::Labels => Reason::InvalidClusterSecretLabelError,
            MetadataMap::Annotations => Reason::InvalidClusterSecretAnnotationError,
        },
        _ => Reason::UserInputValidationFailed,
    }
}

/// Writes the status and the Events for a verdict.
async fn report(sync: &SecretSync, context: &Context, verdict: &Verdict) -> Result<()> {
    let namespace = sync.namespace().unwrap_or_default();
    let api: Api<SecretSync> = Api::namespaced(context.client.clone(), &namespace);
    let created = status::created(sync.status.as_ref());
    let next = status::next_status(
        sync.status.as_ref(),
        verdict,
        created,
        sync.meta().generation,
        Time(k8s_openapi::jiff::Timestamp::now()),
    );
    if sync.status.as_ref() != Some(&next) {
        api.patch_status(
            &sync.name_any(),
            &PatchParams::apply(STATUS_FIELD_MANAGER).force(),
            &Patch::Apply(serde_json::json!({
                "apiVersion": "secret-sync.x-k8s.io/v1alpha1",
                "kind": "SecretSync",
                "status": next,
            })),
        )
        .await
        .map_err(|e| {
            let target = format!("SecretSync {namespace}/{} status", sync.name_any());
            SyncError::sink(target, e.to_string()).with_cause(e)
        })?;
    }
    let event = if !verdict.reason.succeeded() {
        Some(Event {
            type_: EventType::Warning,
            reason: verdict.reason.as_str().into(),
            note: Some(verdict.message.chars().take(1000).collect()),
            action: "Sync".into(),
            secondary: None,
        })
    } else if verdict.written {
        let targets: Vec<&str> = sync
            .spec
            .secret_object
            .data
            .iter()
            .map(|d| d.target_key.as_str())
            .collect();
        Some(Event {
            type_: EventType::Normal,
            reason: verdict.reason.as_str().into(),
            note: Some(format!(
                "Secret {namespace}/{} written: {}",
                sync.name_any(),
                targets.join(", ")
            )),
            action: "Sync".into(),
            secondary: None,
        })
    } else {
        None
    };
    if let Some(event) = event
        && let Err(error) = context
            .recorder
            .publish(&event, &sync.object_ref(&()))
            .await
    {
        tracing::warn!(%error, "publishing an Event");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GET of `uri` through `client`, sent from a task of its own.
    fn get(client: &Client, uri: &str) -> tokio::task::JoinHandle<kube::Result<()>> {
        let client = client.clone();
        let request = http::Request::get(uri)
            .body(kube::client::Body::from(Vec::new()))
            .unwrap();
        tokio::spawn(async move { client.send(request).await.map(|_| ()) })
    }

    /// Lets every task of the current-thread runtime run until it waits.
    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    /// A controller whose API server cannot be reached still stops after a shutdown (its
    /// watches never list, which kube-runtime's graceful drain alone waits for).
    #[tokio::test(start_paused = true)]
    async fn a_controller_stops_when_its_api_server_cannot_be_reached() {
        let config = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let controller = Controller::new(
            client,
            ControllerOptions {
                namespaces: vec!["team".into()],
                ..ControllerOptions::default()
            },
        );
        let stopped = tokio::time::timeout(
            SHUTDOWN_GRACE * 3,
            controller.run(tokio::time::sleep(Duration::from_secs(1))),
        )
        .await;
        assert!(stopped.is_ok(), "still running after the grace");
    }

    /// A response holds its slot until its body is read whole, not only its headers.
    #[tokio::test]
    async fn a_slot_is_freed_when_the_body_is_read_whole() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let received = Arc::new(AtomicUsize::new(0));
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let finished = Arc::new(std::sync::Mutex::new(Some(finished)));
        let server = {
            let received = received.clone();
            tower::service_fn(move |_: http::Request<kube::client::Body>| {
                received.fetch_add(1, Ordering::SeqCst);
                // The first answer's headers come at once, its body when the test says.
                let rest = finished.lock().unwrap().take();
                async move {
                    let body = futures::stream::once(async move {
                        if let Some(rest) = rest {
                            rest.await.ok();
                        }
                        Ok::<_, std::convert::Infallible>(http_body::Frame::data(
                            bytes::Bytes::from_static(b"{}"),
                        ))
                    });
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::StreamBody::new(body),
                    ))
                }
            })
        };
        let client = api_client(
            Client::new(server, "default"),
            Arc::new(ControllerMetrics::default()),
            1,
        );
        let first = get(&client, "/api/v1/namespaces/a/secrets/first");
        settle().await;
        let second = get(&client, "/api/v1/namespaces/a/secrets/second");
        settle().await;
        assert_eq!(
            received.load(Ordering::SeqCst),
            1,
            "the first body is still coming: the second waits"
        );
        finish.send(()).unwrap();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(received.load(Ordering::SeqCst), 2);
    }

    /// A request the API server never answers fails after the timeout and frees its slot.
    #[tokio::test(start_paused = true)]
    async fn a_request_never_answered_fails_and_frees_its_slot() {
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = {
            let answered = answered.clone();
            tower::service_fn(move |_: http::Request<kube::client::Body>| {
                // The first request hangs for good, the next is answered.
                let hang = !answered.swap(true, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        kube::client::Body::from(b"{}".to_vec()),
                    ))
                }
            })
        };
        let client = api_client(
            Client::new(server, "default"),
            Arc::new(ControllerMetrics::default()),
            1,
        );
        let secret = "/api/v1/namespaces/a/secrets/s";
        let (hanging, next) = (get(&client, secret), get(&client, secret));
        let error = hanging.await.unwrap().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no whole answer from the API server within 60 s"),
            "{error}"
        );
        next.await.unwrap().unwrap();
    }

    /// Requests other than watches wait for a slot: with 2 slots, 6 requests and 2 watches sent
    /// at once reach the API server as the 2 watches and 2 requests; the rest follow as answers
    /// come back, and all are answered.
    #[tokio::test]
    async fn api_requests_in_flight_are_bounded_and_watches_are_not() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // An API server that answers a request only when the test lets it (watches and the
        // others apart), counting those waiting for an answer.
        let waiting = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(tokio::sync::Semaphore::new(0));
        let watch_answers = Arc::new(tokio::sync::Semaphore::new(0));
        let server = {
            let (waiting, answers, watch_answers) =
                (waiting.clone(), answers.clone(), watch_answers.clone());
            tower::service_fn(move |request: http::Request<kube::client::Body>| {
                let waiting = waiting.clone();
                let answers = match request.uri().query() {
                    Some(q) if q.contains("watch=true") => watch_answers.clone(),
                    _ => answers.clone(),
                };
                async move {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    answers.acquire().await.unwrap().forget();
                    waiting.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        kube::client::Body::from(b"{}".to_vec()),
                    ))
                }
            })
        };
        let metrics = Arc::new(ControllerMetrics::default());
        let client = api_client(Client::new(server, "default"), metrics.clone(), 2);
        let mut sent = Vec::new();
        for _ in 0..2 {
            sent.push(get(&client, "/api/v1/namespaces/a/secrets?watch=true"));
        }
        for i in 0..6 {
            sent.push(get(&client, &format!("/api/v1/namespaces/a/secrets/s{i}")));
        }
        settle().await;
        assert_eq!(
            waiting.load(Ordering::SeqCst),
            4,
            "2 watches and 2 requests"
        );
        answers.add_permits(1);
        settle().await;
        assert_eq!(waiting.load(Ordering::SeqCst), 4, "an answer frees a slot");
        answers.add_permits(5);
        watch_answers.add_permits(2);
        for sent in sent {
            sent.await.unwrap().unwrap();
        }
        assert_eq!(waiting.load(Ordering::SeqCst), 0);
        let counted: u64 = metrics.api_requests().iter().map(|(_, count)| count).sum();
        assert_eq!(counted, 8, "every request counted once");
    }

    #[test]
    fn requests_are_counted_under_their_rbac_verb() {
        let get = http::Method::GET;
        let cases = [
            (
                &get,
                "/api/v1/namespaces/team/secrets?labelSelector=x",
                "list",
            ),
            (
                &get,
                "/api/v1/namespaces/team/secrets?watch=true&resourceVersion=1",
                "watch",
            ),
            (&get, "/api/v1/secrets?watch=1", "watch"),
            (&get, "/api/v1/namespaces/team/secrets/app", "get"),
            (&get, "/api/v1/namespaces/team", "get"),
            (&get, "/api/v1/namespaces", "list"),
            (
                &get,
                "/apis/secret-sync.x-k8s.io/v1alpha1/secretsyncs",
                "list",
            ),
            (
                &get,
                "/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/team/secretsyncs/app",
                "get",
            ),
            (
                &http::Method::PATCH,
                "/apis/secret-sync.x-k8s.io/v1alpha1/namespaces/team/secretsyncs/app/status",
                "patch",
            ),
            (
                &http::Method::POST,
                "/api/v1/namespaces/team/serviceaccounts/sync/token",
                "create",
            ),
            (
                &http::Method::DELETE,
                "/api/v1/namespaces/team/secrets/app",
                "delete",
            ),
        ];
        for (method, uri, expected) in cases {
            assert_eq!(
                verb(method, &uri.parse().unwrap()),
                expected,
                "{method} {uri}"
            );
        }
    }

    /// The watch-fed stores keep no managedFields and no client-side apply copy, and every
    /// other annotation.
    #[test]
    fn stored_objects_are_lean() {
        let mut secret = Secret::default();
        secret.metadata.managed_fields = Some(vec![Default::default(); 2]);
        secret.metadata.annotations = Some(BTreeMap::from([
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                "{\"kind\":\"Secret\"}".to_string(),
            ),
            ("team".to_string(), "edge".to_string()),
        ]));
        lean(&mut secret);
        assert_eq!(secret.metadata.managed_fields, None);
        assert_eq!(
            secret.metadata.annotations,
            Some(BTreeMap::from([("team".to_string(), "edge".to_string())]))
        );
    }

    /// The condition reason follows the rule broken, never the message's text.
    #[test]
    fn invalid_inputs_get_their_reason_by_variant() {
        let reserved = |map| {
            SyncError::invalid(
                "anywhere",
                FieldProblem::ReservedKey {
                    map,
                    key: "secrets-store.sync.x-k8s.io/x".into(),
                },
            )
        };
        assert_eq!(
            invalid_reason(&reserved(MetadataMap::Labels)),
            Reason::InvalidClusterSecretLabelError
        );
        assert_eq!(
            invalid_reason(&reserved(MetadataMap::Annotations)),
            Reason::InvalidClusterSecretAnnotationError
        );
        // Text that merely looks like a labels error is not one.
        let lookalike = SyncError::invalid("spec.secretObject.labels", "anything");
        assert_eq!(
            invalid_reason(&lookalike),
            Reason::UserInputValidationFailed
        );
        let annotation = SyncError::invalid(
            "spec.secretObject.annotations",
            FieldProblem::ApiServerAnnotation {
                key: "kubernetes.io/service-account.name".into(),
            },
        );
        assert_eq!(
            invalid_reason(&annotation),
            Reason::UserInputValidationFailed
        );
    }
}
