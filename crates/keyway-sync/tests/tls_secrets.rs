//! `kubernetes.io/tls` Secrets hold what the Secret Store extension writes: the certificate
//! chain (leaf first) in `tls.crt` and the leaf's PKCS#8 private key in `tls.key` — from a PEM
//! secret with its blocks in any order, a base64 PFX secret (legacy and AES PKCS#12) and a Key
//! Vault certificate — or nothing at all, with an error naming the SecretSync item, when the
//! object has no key. Through the emulated Entra and Key Vault and the Kubernetes stand-in (or
//! `KEYWAY_TEST_KUBECONFIG`'s cluster); the Secret's values are checked by parsing them.

use std::sync::Arc;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use keyway_cert::testing::{KeyKind, TestPki};
use keyway_cert::{Bundle, ContentType, Encoding, ParseOptions, PrivateKey};
use keyway_emulator::SecretSpec;
use keyway_emulator::testing::TestCluster;
use keyway_sync::controller::Controller;
use keyway_sync::{
    KeyVaultObject, KeyVaultSource, KubernetesSecretSink, ObjectFormat, ObjectType, Remap,
    SecretProviderClass, SecretSync, SyncSpec, Syncer,
};
use kube::Api;
use kube::api::PostParams;

mod support;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// keyway-cert's OpenSSL fixtures (`-legacy` is RC2/3DES, which nothing here can generate).
fn cert_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../keyway-cert/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn tls_sync(name: &str, crt_source: &str, key_source: &str) -> SecretSync {
    support::secret_sync_of(
        name,
        "certs",
        "sync",
        "kubernetes.io/tls",
        &[(crt_source, "tls.crt"), (key_source, "tls.key")],
        &[],
    )
}

fn object(name: &str, object_type: ObjectType) -> KeyVaultObject {
    KeyVaultObject {
        object_type,
        ..KeyVaultObject::secret(name)
    }
}

/// Checks a `kubernetes.io/tls` Secret by parsing it: `tls.crt` only certificates, the leaf
/// first, each issued by the next, `leaf_cn` the leaf's; `tls.key` one PKCS#8 `PRIVATE KEY`
/// that belongs to the leaf. Returns the number of certificates.
fn assert_tls_secret(secret: &Secret, leaf_cn: &str, what: &str) -> usize {
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"), "{what}");
    let data = secret.data.as_ref().unwrap();
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(keys, ["tls.crt", "tls.key"], "{what}");

    let pem_only = ParseOptions {
        content_type: Some(ContentType::Pem),
        password: None,
    };
    let crt = Bundle::parse(&data["tls.crt"].0, pem_only).unwrap();
    assert!(crt.private_keys().is_empty(), "{what}: a key in tls.crt");
    assert!(
        crt.crls().is_empty() && crt.ignored_blocks().is_empty(),
        "{what}"
    );
    let certs = crt.certificates();
    assert!(!certs.is_empty(), "{what}");
    let leaf = certs[0].details();
    assert!(
        leaf.subject.contains(leaf_cn),
        "{what}: leaf {}",
        leaf.subject
    );
    assert!(!leaf.is_ca, "{what}: a CA first");
    for pair in certs.windows(2) {
        assert!(pair[1].is_issuer_of(&pair[0]), "{what}: not in chain order");
    }

    let key = pem::parse(&data["tls.key"].0).unwrap();
    assert_eq!(key.tag(), "PRIVATE KEY", "{what}: tls.key is PKCS#8");
    assert!(
        pem::parse_many(&data["tls.key"].0).unwrap().len() == 1,
        "{what}: one block in tls.key"
    );
    let key = PrivateKey::from_pkcs8_der(key.contents()).unwrap();
    assert_eq!(
        key.matches(&certs[0]),
        Some(true),
        "{what}: key of the leaf"
    );
    certs.len()
}

/// A cluster with the CRDs and a workload identity `sync`, a vault it may read, and a source
/// reading that vault through workload identity federation (what the CLI and the controller
/// do).
struct Setup {
    cluster: TestCluster,
    vault: keyway_emulator::Vault,
    source: Arc<KeyVaultSource>,
}

async fn setup(test: &str) -> Setup {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds(test, &crds).await.unwrap();
    let (vault, source) = support::vault::federated_vault(&cluster, "tls-vault", "sync").await;
    Setup {
        cluster,
        vault,
        source: Arc::new(source),
    }
}

impl Setup {
    /// Creates `sync` in the cluster and syncs `objects` into its Secret once.
    async fn sync_once(
        &self,
        sync: &SecretSync,
        objects: Vec<KeyVaultObject>,
    ) -> keyway_sync::SyncReport {
        let created =
            Api::<SecretSync>::namespaced(self.cluster.client(), self.cluster.namespace())
                .create(&PostParams::default(), sync)
                .await
                .unwrap();
        self.run_fresh(&created, objects).await
    }

    /// One cycle of a new syncer (no state: a restarted process) for the SecretSync `created`,
    /// assembled as the controller assembles it (`Remap::for_secret_sync` over
    /// `KubernetesSecretSink::for_secret_sync`).
    async fn run_fresh(
        &self,
        created: &SecretSync,
        objects: Vec<KeyVaultObject>,
    ) -> keyway_sync::SyncReport {
        let sink = KubernetesSecretSink::for_secret_sync(self.cluster.client(), created).unwrap();
        let spec = SyncSpec::new(self.vault.url(), objects).unwrap();
        let sink = Remap::for_secret_sync(sink, created, &spec).unwrap();
        let syncer = Syncer::new(spec, self.source.clone(), Arc::new(sink));
        syncer.run_once().await
    }

    async fn secret(&self, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.cluster.client(), self.cluster.namespace())
            .get_opt(name)
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_secrets_hold_the_chain_and_the_pkcs8_key_from_pem_pfx_and_certificates() {
    let s = setup("tls-values").await;
    let ec = TestPki::generate(KeyKind::EcP256, &["pem.local"]);
    let rsa = TestPki::generate(KeyKind::Rsa2048, &["pfx.local"]);
    let kv = TestPki::generate(KeyKind::EcP384, &["kv.local"]);

    // A PEM secret with the key and the chain in no particular order.
    let shuffled = [
        ec.root.pem(),
        ec.leaf.key_pem().to_string(),
        ec.intermediate.pem(),
        ec.leaf.pem(),
    ]
    .concat();
    let pem_spec = |value: String| SecretSpec {
        value,
        content_type: Some("application/x-pem-file".into()),
        ..SecretSpec::default()
    };
    s.vault
        .put_secret("pem", pem_spec(shuffled.clone()))
        .unwrap();
    // Base64 PFX secrets: OpenSSL's -legacy (RC2/3DES) and AES (PBES2), by content type or by
    // objectEncoding.
    let pfx_spec = |value: String| SecretSpec {
        value,
        content_type: Some("application/x-pkcs12".into()),
        ..SecretSpec::default()
    };
    let legacy = cert_fixture("leaf-rsa-legacy.pfx");
    s.vault
        .put_secret("pfx-legacy", pfx_spec(b64(&legacy)))
        .unwrap();
    s.vault
        .set_secret("pfx-legacy-encoded", &b64(&legacy))
        .unwrap();
    let aes = rsa.pkcs12("");
    s.vault.put_secret("pfx-aes", pfx_spec(b64(&aes))).unwrap();
    s.vault.set_secret("pfx-aes-encoded", &b64(&aes)).unwrap();
    // Key Vault certificates: imported from a PFX and from a PEM (their backing secrets).
    s.vault
        .import_certificate("kv-pfx", &b64(&kv.pkcs12("")), "application/x-pkcs12")
        .unwrap();
    s.vault
        .import_certificate("kv-pem", &shuffled, "application/x-pem-file")
        .unwrap();

    let base64_encoded = |name: &str| KeyVaultObject {
        encoding: Some(Encoding::Base64),
        ..KeyVaultObject::secret(name)
    };
    let cases: Vec<(&str, KeyVaultObject, &str)> = vec![
        ("pem", KeyVaultObject::secret("pem"), "pem.local"),
        (
            "pfx-legacy",
            KeyVaultObject::secret("pfx-legacy"),
            "opcua-server",
        ),
        (
            "pfx-legacy-encoded",
            base64_encoded("pfx-legacy-encoded"),
            "opcua-server",
        ),
        ("pfx-aes", KeyVaultObject::secret("pfx-aes"), "pfx.local"),
        (
            "pfx-aes-encoded",
            base64_encoded("pfx-aes-encoded"),
            "pfx.local",
        ),
        ("kv-pfx", KeyVaultObject::secret("kv-pfx"), "kv.local"),
        (
            "kv-pfx-as-pfx",
            KeyVaultObject {
                alias: Some("kv-pfx-as-pfx".into()),
                format: Some(ObjectFormat::Pfx),
                ..KeyVaultObject::secret("kv-pfx")
            },
            "kv.local",
        ),
        ("kv-pem", KeyVaultObject::secret("kv-pem"), "pem.local"),
    ];
    for (name, object, leaf_cn) in cases {
        let source = object.output_name().to_string();
        let report = s
            .sync_once(&tls_sync(name, &source, &source), vec![object])
            .await;
        assert!(report.all_synced() && report.written, "{name}: {report:?}");
        let secret = s.secret(name).await.unwrap();
        assert_eq!(assert_tls_secret(&secret, leaf_cn, name), 3, "{name}");
    }

    // The chain and the key from two objects: a PEM chain and a PEM key.
    s.vault
        .put_secret("chain", pem_spec(rsa.chain_pem(false)))
        .unwrap();
    s.vault
        .put_secret("key", pem_spec(rsa.leaf.key_pem().to_string()))
        .unwrap();
    let report = s
        .sync_once(
            &tls_sync("two-objects", "chain", "key"),
            vec![
                KeyVaultObject::secret("chain"),
                KeyVaultObject::secret("key"),
            ],
        )
        .await;
    assert!(report.all_synced() && report.written, "{report:?}");
    let secret = s.secret("two-objects").await.unwrap();
    assert_tls_secret(&secret, "pfx.local", "two objects");

    // A restart while the objects cannot be read: what the Secret holds is read back for them
    // (SecretSink::current) and splits into the same two values — kept, not refused.
    for (name, objects) in [
        ("pem", vec![KeyVaultObject::secret("pem")]),
        (
            "two-objects",
            vec![
                KeyVaultObject::secret("chain"),
                KeyVaultObject::secret("key"),
            ],
        ),
    ] {
        for object in &objects {
            s.vault.set_enabled(&object.name, false).unwrap();
        }
        let created = Api::<SecretSync>::namespaced(s.cluster.client(), s.cluster.namespace())
            .get(name)
            .await
            .unwrap();
        let before = s.secret(name).await.unwrap().data;
        let report = s.run_fresh(&created, objects).await;
        assert!(
            report.sink_error.is_none() && report.objects.iter().all(|o| o.kept_previous),
            "{name}: {report:?}"
        );
        assert_eq!(s.secret(name).await.unwrap().data, before, "{name}");
    }
    s.cluster.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_secret_without_a_key_or_a_certificate_is_refused_and_never_written() {
    let s = setup("tls-refused").await;
    let pki = TestPki::generate(KeyKind::EcP256, &["nokey.local"]);
    s.vault
        .set_secret("chain-only", &pki.chain_pem(false))
        .unwrap();
    s.vault.set_secret("key-only", &pki.leaf.key_pem()).unwrap();
    s.vault
        .import_certificate("kv-cert", &pki.chain_pem(true), "application/x-pem-file")
        .unwrap();

    let cases: Vec<(&str, KeyVaultObject, &str, &str)> = vec![
        (
            "chain-only",
            KeyVaultObject::secret("chain-only"),
            "spec.secretObject.data[1].sourcePath",
            "no private key",
        ),
        (
            "key-only",
            KeyVaultObject::secret("key-only"),
            "spec.secretObject.data[0].sourcePath",
            "no certificate",
        ),
        // objectType cert is the leaf alone: no key for tls.key.
        (
            "kv-cert",
            object("kv-cert", ObjectType::Cert),
            "spec.secretObject.data[1].sourcePath",
            "no private key",
        ),
    ];
    for (name, object, field, why) in cases {
        let source = object.output_name().to_string();
        let report = s
            .sync_once(&tls_sync(name, &source, &source), vec![object])
            .await;
        assert!(!report.written, "{name}: {report:?}");
        let error = report
            .sink_error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            error.starts_with(field)
                && error.contains(why)
                && error.contains(&format!("{source:?}")),
            "{name}: {error}"
        );
        assert!(
            !error.contains("BEGIN") && !error.contains(&pki.chain_pem(false)[40..80]),
            "{name}: no value in the error"
        );
        assert!(
            report
                .objects
                .iter()
                .all(|o| !o.error.as_deref().unwrap_or_default().is_empty()),
            "{name}: the objects are reported failed: {report:?}"
        );
        assert!(
            s.secret(name).await.is_none(),
            "{name}: a Secret was written"
        );
    }

    // A tls SecretSync that maps only tls.crt is refused before anything is read.
    let mut one_key = tls_sync("one-key", "chain-only", "chain-only");
    one_key.spec.secret_object.data.pop();
    let created = Api::<SecretSync>::namespaced(s.cluster.client(), s.cluster.namespace())
        .create(&PostParams::default(), &one_key)
        .await
        .unwrap();
    let err = KubernetesSecretSink::for_secret_sync(s.cluster.client(), &created).unwrap_err();
    assert!(
        err.to_string().starts_with("spec.secretObject.data:")
            && err.to_string().contains("tls.key"),
        "{err}"
    );
    s.cluster.cleanup().await;
}

/// The controller writes the same Secret, and reports the refusal on the SecretSync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_writes_tls_secrets_and_reports_a_missing_key() {
    let support::Fixture {
        cluster,
        tenant,
        app,
        vault,
        options,
        ..
    } = support::fixture("tls-controller").await;
    let (client, ns) = (cluster.client(), cluster.namespace());
    let kv = TestPki::generate(KeyKind::Rsa2048, &["controller.local"]);
    vault
        .import_certificate("web-cert", &b64(&kv.pkcs12("")), "application/x-pkcs12")
        .unwrap();
    vault
        .set_secret("chain-only", &kv.chain_pem(false))
        .unwrap();
    let mut class = support::provider_class(&tenant, &app.client_id, &["web-cert", "chain-only"]);
    class.metadata.name = Some("certs".into());
    Api::<SecretProviderClass>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    let syncs: Api<SecretSync> = Api::namespaced(client.clone(), ns);
    for sync in [
        tls_sync("web", "web-cert", "web-cert"),
        tls_sync("nokey", "chain-only", "chain-only"),
    ] {
        syncs.create(&PostParams::default(), &sync).await.unwrap();
    }
    let running = support::spawn(Controller::new(client.clone(), options), None);

    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let web = support::eventually("the tls Secret", || async {
        secrets.get_opt("web").await.unwrap()
    })
    .await;
    assert_eq!(assert_tls_secret(&web, "controller.local", "controller"), 3);

    let message = support::eventually("the refusal on the SecretSync", || async {
        let sync = syncs.get("nokey").await.unwrap();
        sync.status?
            .conditions?
            .into_iter()
            .find(|c| c.status == "False" && c.message.contains("tls.key"))
            .map(|c| c.message)
    })
    .await;
    assert!(
        message.contains("spec.secretObject.data[1].sourcePath")
            && message.contains("\"chain-only\"")
            && message.contains("no private key"),
        "{message}"
    );
    assert!(secrets.get_opt("nokey").await.unwrap().is_none());
    running.stop().await;
    cluster.cleanup().await;
}
