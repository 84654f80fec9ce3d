//! `keyway sync --to-kubernetes` with a `kubernetes.io/tls` SecretSync, as an operator runs it
//! (Kubernetes: the stand-in, or the real cluster `KEYWAY_TEST_KUBECONFIG` names): the Secret
//! holds the chain (leaf first) in `tls.crt` and the leaf's PKCS#8 key in `tls.key`, checked by
//! parsing them; an object without a key writes nothing and says which SecretSync item is at
//! fault; a tls SecretSync without `tls.key` is a usage error.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use keyway_cert::testing::{KeyKind, TestPki};
use keyway_cert::{Bundle, ContentType, ParseOptions, PrivateKey};
use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Identity, Role, ServiceAccountToken};
use support::assert_exit;

struct Setup {
    cluster: TestCluster,
    tenant: String,
    reader: Identity,
    vault: keyway_emulator::Vault,
    dir: PathBuf,
}

async fn setup(test: &str) -> Setup {
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let cluster = TestCluster::start_with_crds(test, &crds).await.unwrap();
    let emulator = cluster.emulator();
    let (reader, vault) = emulator
        .workload_vault("tls-cli-vault", "default", "reader", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = reader.tenant_id.clone();
    let dir = std::env::temp_dir().join(format!("keyway-tls-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    let token = emulator.mint_service_account_token(&ServiceAccountToken::new("default", "reader"));
    std::fs::write(dir.join("reader.jwt"), token).unwrap();
    cluster.write_kubeconfig(&dir.join("kubeconfig")).unwrap();
    Setup {
        cluster,
        tenant,
        reader,
        vault,
        dir,
    }
}

impl Setup {
    /// [`Setup::sync`] with `object` mapped to both `tls.crt` and `tls.key`.
    fn sync_tls_pair(&self, name: &str, object: &str) -> Output {
        self.sync(name, object, &[(object, "tls.crt"), (object, "tls.key")])
    }

    /// `keyway sync --to-kubernetes` for the SecretProviderClass syncing `object` and a tls
    /// SecretSync `name` mapping `data` (sourcePath, targetKey).
    fn sync(&self, name: &str, object: &str, data: &[(&str, &str)]) -> Output {
        let namespace = self.cluster.namespace();
        self.sync_into(
            name,
            object,
            data,
            &["--to-kubernetes", "--namespace", namespace],
        )
    }

    /// [`Setup::sync`] into the directory `name` under the set-up's directory instead
    /// (`--to-dir`); returns the run and the directory.
    fn sync_to_dir(&self, name: &str, object: &str, data: &[(&str, &str)]) -> (Output, PathBuf) {
        let dir = self.dir.join(format!("{name}-files"));
        let target = dir.to_str().unwrap();
        (
            self.sync_into(name, object, data, &["--to-dir", target]),
            dir,
        )
    }

    /// `keyway sync` of `name` (as [`Setup::sync`] describes) with `target`'s arguments.
    fn sync_into(
        &self,
        name: &str,
        object: &str,
        data: &[(&str, &str)],
        target: &[&str],
    ) -> Output {
        let spc = format!(
            "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {{name: {name}}}\nspec:\n  provider: azure\n  parameters:\n    keyvaultName: tls-cli-vault\n    objects: |\n      array:\n        - |\n          objectName: {object}\n          objectType: secret\n"
        );
        let items: String = data
            .iter()
            .map(|(source, target)| {
                format!("      - {{sourcePath: {source}, targetKey: {target}}}\n")
            })
            .collect();
        let ss = format!(
            "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {{name: {name}}}\nspec:\n  serviceAccountName: reader\n  secretProviderClassName: {name}\n  secretObject:\n    type: kubernetes.io/tls\n    data:\n{items}"
        );
        let (spc_file, ss_file) = (
            self.dir.join(format!("{name}-spc.yaml")),
            self.dir.join(format!("{name}-ss.yaml")),
        );
        std::fs::write(&spc_file, spc).unwrap();
        std::fs::write(&ss_file, ss).unwrap();
        Command::new(env!("CARGO_BIN_EXE_keyway"))
            .args(["sync", "--provider-class"])
            .arg(&spc_file)
            .arg("--secret-sync")
            .arg(&ss_file)
            .args(target)
            .env("AZURE_CLIENT_ID", &self.reader.client_id)
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_FEDERATED_TOKEN_FILE", self.dir.join("reader.jwt"))
            .env(
                "AZURE_AUTHORITY_HOST",
                self.cluster.emulator().authority_host(),
            )
            .env("SSL_CERT_FILE", self.dir.join("ca.pem"))
            .env("KEYWAY_VAULT_URL", self.vault.url())
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .output()
            .unwrap()
    }

    async fn secret(&self, name: &str) -> Option<Secret> {
        kube::Api::<Secret>::namespaced(self.cluster.client(), self.cluster.namespace())
            .get_opt(name)
            .await
            .unwrap()
    }
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The DER inside a single PEM block, and its label.
fn pem_block(text: &[u8]) -> (String, Vec<u8>) {
    let text = std::str::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let label = lines[0]
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .unwrap()
        .to_string();
    assert_eq!(
        lines.last().copied(),
        Some(format!("-----END {label}-----").as_str()),
        "one block"
    );
    let body: String = lines[1..lines.len() - 1].concat();
    (
        label,
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
    )
}

/// `tls.crt`: only certificates, leaf (`leaf_cn`) first, each issued by the next; `tls.key`:
/// one PKCS#8 key, the leaf's.
fn assert_tls_secret(secret: &Secret, leaf_cn: &str, what: &str) {
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"), "{what}");
    let data = secret.data.as_ref().unwrap();
    assert_tls_pair(&data["tls.crt"].0, &data["tls.key"].0, leaf_cn, what);
}

/// [`assert_tls_secret`]'s checks of the two values, wherever they were written.
fn assert_tls_pair(tls_crt: &[u8], tls_key: &[u8], leaf_cn: &str, what: &str) {
    let crt = Bundle::parse(
        tls_crt,
        ParseOptions {
            content_type: Some(ContentType::Pem),
            password: None,
        },
    )
    .unwrap();
    assert!(crt.private_keys().is_empty(), "{what}: a key in tls.crt");
    let certs = crt.certificates();
    assert_eq!(certs.len(), 3, "{what}");
    assert!(certs[0].details().subject.contains(leaf_cn), "{what}");
    for pair in certs.windows(2) {
        assert!(pair[1].is_issuer_of(&pair[0]), "{what}: chain order");
    }
    let (label, der) = pem_block(tls_key);
    assert_eq!(label, "PRIVATE KEY", "{what}: PKCS#8");
    let key = PrivateKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(key.matches(&certs[0]), Some(true), "{what}: the leaf's key");
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_to_kubernetes_splits_tls_secrets_and_refuses_keyless_objects() {
    let s = setup("tls").await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pki = TestPki::generate(KeyKind::EcP256, &["cli.local"]);

    // A Key Vault certificate (its backing secret, a base64 PFX).
    s.vault
        .import_certificate("web-cert", &b64(&pki.pkcs12("")), "application/x-pkcs12")
        .unwrap();
    assert_exit(&s.sync_tls_pair("web", "web-cert"), 0);
    assert_tls_secret(&s.secret("web").await.unwrap(), "cli.local", "certificate");

    // A PEM secret with the key after the chain.
    let pem = [pki.chain_pem(false), pki.leaf.key_pem().to_string()].concat();
    s.vault.set_secret("pem-bundle", &pem).unwrap();
    assert_exit(&s.sync_tls_pair("pem", "pem-bundle"), 0);
    assert_tls_secret(&s.secret("pem").await.unwrap(), "cli.local", "PEM");

    // A chain without its key: nothing written, the item and the object named.
    s.vault
        .set_secret("chain-only", &pki.chain_pem(false))
        .unwrap();
    let out = s.sync(
        "nokey",
        "chain-only",
        &[("chain-only", "tls.crt"), ("chain-only", "tls.key")],
    );
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("spec.secretObject.data[1].sourcePath")
            && text.contains("\"chain-only\"")
            && text.contains("no private key"),
        "{text}"
    );
    assert!(s.secret("nokey").await.is_none(), "a Secret was written");

    // A tls SecretSync without tls.key: a usage error before anything is read.
    let out = s.sync("half", "chain-only", &[("chain-only", "tls.crt")]);
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("spec.secretObject.data") && text.contains("tls.key"),
        "{text}"
    );
    assert!(s.secret("half").await.is_none());
    let _ = std::fs::remove_dir_all(&s.dir);
    s.cluster.cleanup().await;
}

/// `keyway sync --to-dir` with a `kubernetes.io/tls` SecretSync writes the two files the
/// Secret gets: `tls.crt` only the chain, leaf first, and `tls.key` the leaf's PKCS#8 key, not
/// the mapped value twice; an object without a key writes nothing and names the item.
#[tokio::test(flavor = "multi_thread")]
async fn sync_to_dir_splits_tls_secret_syncs_as_the_secret_gets_them() {
    let s = setup("tls-dir").await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pki = TestPki::generate(KeyKind::EcP256, &["dir.local"]);
    let read = |dir: &PathBuf, file: &str| std::fs::read(dir.join(file)).unwrap();

    // A Key Vault certificate (its backing secret, a base64 PFX).
    s.vault
        .import_certificate("web-cert", &b64(&pki.pkcs12("")), "application/x-pkcs12")
        .unwrap();
    let pair = [("web-cert", "tls.crt"), ("web-cert", "tls.key")];
    let (out, dir) = s.sync_to_dir("web", "web-cert", &pair);
    assert_exit(&out, 0);
    assert_tls_pair(
        &read(&dir, "tls.crt"),
        &read(&dir, "tls.key"),
        "dir.local",
        "certificate",
    );

    // A PEM secret with the key after the chain.
    let pem = [pki.chain_pem(false), pki.leaf.key_pem().to_string()].concat();
    s.vault.set_secret("pem-bundle", &pem).unwrap();
    let pair = [("pem-bundle", "tls.crt"), ("pem-bundle", "tls.key")];
    let (out, dir) = s.sync_to_dir("pem", "pem-bundle", &pair);
    assert_exit(&out, 0);
    assert_tls_pair(
        &read(&dir, "tls.crt"),
        &read(&dir, "tls.key"),
        "dir.local",
        "PEM",
    );

    // A chain without its key: nothing written, the item and the object named.
    s.vault
        .set_secret("chain-only", &pki.chain_pem(false))
        .unwrap();
    let pair = [("chain-only", "tls.crt"), ("chain-only", "tls.key")];
    let (out, dir) = s.sync_to_dir("nokey", "chain-only", &pair);
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("spec.secretObject.data[1].sourcePath")
            && text.contains("\"chain-only\"")
            && text.contains("no private key"),
        "{text}"
    );
    assert!(
        !dir.join("tls.crt").exists() && !dir.join("tls.key").exists(),
        "a file was written"
    );
    let _ = std::fs::remove_dir_all(&s.dir);
    s.cluster.cleanup().await;
}
