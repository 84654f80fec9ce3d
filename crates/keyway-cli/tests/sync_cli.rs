//! `keyway secret set` and `keyway sync` as an operator runs them, against an in-process emulator
//! (Kubernetes: the stand-in, or the real cluster `KEYWAY_TEST_KUBECONFIG` names).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};

use keyway_emulator::testing::TestCluster;
use keyway_emulator::{Emulator, Identity, Role, ServiceAccountToken};
use support::assert_exit;

struct Setup {
    /// The emulators, and the Kubernetes cluster: the stand-in, or `KEYWAY_TEST_KUBECONFIG`'s.
    cluster: TestCluster,
    tenant: String,
    reader: Identity,
    officer: Identity,
    vault_url: String,
    dir: PathBuf,
}

async fn setup(test: &str) -> Setup {
    let cluster = TestCluster::start(test).await.unwrap();
    let emulator = cluster.emulator();
    let (reader, vault) = emulator
        .workload_vault("cli-vault", "default", "reader", Role::SecretsUser)
        .await
        .unwrap();
    let tenant = reader.tenant_id.clone();
    let officer = emulator
        .add_workload_identity(&tenant, "officer", "default", "officer")
        .unwrap();
    vault.grant(&officer, Role::SecretsOfficer);
    let dir = std::env::temp_dir().join(format!("keyway-sync-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    emulator.write_ca(&dir.join("ca.pem")).unwrap();
    for sa in ["reader", "officer"] {
        let token = emulator.mint_service_account_token(&ServiceAccountToken::new("default", sa));
        std::fs::write(dir.join(format!("{sa}.jwt")), token).unwrap();
    }
    Setup {
        vault_url: vault.url().to_string(),
        cluster,
        tenant,
        reader,
        officer,
        dir,
    }
}

impl Setup {
    fn emulator(&self) -> &Emulator {
        self.cluster.emulator()
    }

    fn keyway(&self, identity: &Identity, sa: &str, args: &[&str]) -> Output {
        self.command(identity, &self.dir.join(format!("{sa}.jwt")))
            .args(args)
            .output()
            .unwrap()
    }

    /// `keyway sync --provider-class SPC [--secret-sync SS] --to-dir TARGET` as the reader.
    fn sync_to_dir(
        &self,
        provider_class: &std::path::Path,
        secret_sync: Option<&std::path::Path>,
        target: &std::path::Path,
    ) -> Output {
        let mut command = self.command(&self.reader, &self.dir.join("reader.jwt"));
        command
            .arg("sync")
            .arg("--provider-class")
            .arg(provider_class);
        if let Some(secret_sync) = secret_sync {
            command.arg("--secret-sync").arg(secret_sync);
        }
        command.arg("--to-dir").arg(target).output().unwrap()
    }

    /// Uploads a new leaf certificate's DER as `server-cert`, as az does with `--encoding hex`
    /// (by the officer), and returns the DER.
    fn upload_server_der(&self) -> Vec<u8> {
        let der =
            keyway_cert::testing::TestPki::generate(keyway_cert::testing::KeyKind::EcP256, &["a"])
                .leaf
                .der()
                .to_vec();
        let file = self.dir.join("server.der");
        std::fs::write(&file, &der).unwrap();
        let out = self.keyway(
            &self.officer,
            "officer",
            &[
                "secret",
                "set",
                "--name",
                "server-cert",
                "--file",
                file.to_str().unwrap(),
                "--encoding",
                "hex",
                "--content-type",
                "application/pkix-cert",
            ],
        );
        assert_exit(&out, 0);
        der
    }

    /// Stores `value` as the secret `name` (by the officer), through `keyway secret set`.
    fn set_secret_text(&self, name: &str, value: &str) {
        let file = self.dir.join("v.txt");
        std::fs::write(&file, value).unwrap();
        let set = self.keyway(
            &self.officer,
            "officer",
            &[
                "secret",
                "set",
                "--name",
                name,
                "--file",
                file.to_str().unwrap(),
            ],
        );
        assert_exit(&set, 0);
    }

    /// Writes `spc.yaml`: [`SPC`] with its first object (`server-cert` as a secret) only.
    fn write_server_cert_spc(&self) -> PathBuf {
        let spc = self.dir.join("spc.yaml");
        std::fs::write(
            &spc,
            SPC.split("        - |\n          objectName: server-cert\n          objectAlias")
                .next()
                .unwrap(),
        )
        .unwrap();
        spc
    }

    /// `keyway ARGS` as the reader, started with its output piped.
    fn spawn_as_reader(&self, args: &[&str]) -> std::process::Child {
        self.command(&self.reader, &self.dir.join("reader.jwt"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `keyway ARGS` as the reader with the token exchange held back, waits until its
    /// cycle is under way (the vault's challenge, answered at once, is counted), sends SIGINT
    /// and returns what the process left; the faults are cleared after.
    async fn interrupt_mid_cycle(&self, args: &[&str]) -> Output {
        let challenged_before = self
            .emulator()
            .counters()
            .count(keyway_emulator::Service::KeyVault, "GetSecrets");
        self.emulator().faults().set_latency(
            keyway_emulator::Service::Entra,
            Some("Token"),
            std::time::Duration::from_secs(600),
        );
        let child = self.spawn_as_reader(args);
        // Interrupted only once the cycle is under way (its first vault call made).
        keyway_emulator::testing::eventually("the cycle's first vault call", || async {
            (self
                .emulator()
                .counters()
                .count(keyway_emulator::Service::KeyVault, "GetSecrets")
                > challenged_before)
                .then_some(())
        })
        .await;
        interrupt(&child);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        self.emulator().faults().clear();
        out
    }

    /// `keyway` as `identity` with the token file `token`, the emulators' CA and vault, and the
    /// cluster's kubeconfig when one was written.
    fn command(&self, identity: &Identity, token: &std::path::Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyway"));
        command
            .env("AZURE_CLIENT_ID", &identity.client_id)
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_FEDERATED_TOKEN_FILE", token)
            .env("AZURE_AUTHORITY_HOST", self.emulator().authority_host())
            .env("SSL_CERT_FILE", self.dir.join("ca.pem"))
            .env("KEYWAY_VAULT_URL", &self.vault_url)
            .env("KUBECONFIG", self.dir.join("kubeconfig"));
        command
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends SIGINT to `child`.
fn interrupt(child: &std::process::Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

const SPC: &str = r#"
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: app}
spec:
  provider: azure
  parameters:
    keyvaultName: cli-vault
    objects: |
      array:
        - |
          objectName: server-cert
          objectType: secret
        - |
          objectName: server-cert
          objectAlias: server.pem
          objectType: cert
"#;

#[tokio::test(flavor = "multi_thread")]
async fn upload_like_az_then_sync_into_a_directory() {
    let s = setup("flow").await;
    let der = s.upload_server_der();

    // The reader may not upload: Key Vault answers and refuses (exit 1, not "unreachable").
    let denied = s.keyway(
        &s.reader,
        "reader",
        &[
            "secret",
            "set",
            "--name",
            "x",
            "--file",
            s.dir.join("server.der").to_str().unwrap(),
            "--encoding",
            "hex",
        ],
    );
    assert_exit(&denied, 1);

    // The value is stored as az stores it (hex text, tag file-encoding: hex): objectEncoding
    // hex writes the DER, as the provider does.
    std::fs::write(
        s.dir.join("spc.yaml"),
        SPC.replace(
            "objectType: secret\n",
            "objectType: secret\n          objectEncoding: hex\n",
        ),
    )
    .unwrap();
    let target = s.dir.join("out");
    let spc_path = s.dir.join("spc.yaml");
    let args = [
        "sync",
        "--provider-class",
        spc_path.to_str().unwrap(),
        "--to-dir",
        target.to_str().unwrap(),
        "--json",
    ];
    let out = s.keyway(&s.reader, "reader", &args);
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["calls"]["get"], 2);
    assert_eq!(
        std::fs::read(target.join("server-cert")).unwrap(),
        der,
        "hex-stored DER decoded by objectEncoding hex (as the provider decodes it)"
    );
    assert!(
        std::fs::read_to_string(target.join("server.pem"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    // With a SecretSync: only its objects, under its target keys.
    std::fs::write(
        s.dir.join("ss.yaml"),
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: app}\nspec:\n  serviceAccountName: reader\n  secretProviderClassName: app\n  secretObject:\n    type: kubernetes.io/tls\n    data:\n      - {sourcePath: server.pem, targetKey: tls.crt}\n",
    )
    .unwrap();
    let mapped = s.dir.join("mapped");
    let out = s.sync_to_dir(
        &s.dir.join("spc.yaml"),
        Some(&s.dir.join("ss.yaml")),
        &mapped,
    );
    assert_exit(&out, 0);
    let names: Vec<String> = std::fs::read_dir(&mapped)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with(".."))
        .collect();
    assert_eq!(names, ["tls.crt"]);

    // A sourcePath that is not an object is a usage error naming the field.
    std::fs::write(
        s.dir.join("bad.yaml"),
        std::fs::read_to_string(s.dir.join("ss.yaml"))
            .unwrap()
            .replace("server.pem", "nope"),
    )
    .unwrap();
    let out = s.sync_to_dir(
        &s.dir.join("spc.yaml"),
        Some(&s.dir.join("bad.yaml")),
        &mapped,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.secretObject.data[0].sourcePath"));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_for_bad_manifests_failed_objects_and_an_unreachable_vault() {
    let s = setup("codes").await;
    std::fs::write(
        s.dir.join("bad.yaml"),
        SPC.replace("objectType: cert", "objectType: certificate"),
    )
    .unwrap();
    let target = s.dir.join("out");
    let out = s.sync_to_dir(&s.dir.join("bad.yaml"), None, &target);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.parameters.objects[1].objectType"));

    // Objects missing from the vault: exit 1, and the report says which.
    std::fs::write(s.dir.join("spc.yaml"), SPC).unwrap();
    let out = s.sync_to_dir(&s.dir.join("spc.yaml"), None, &target);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
    // A first run where every object failed publishes nothing: no empty `..data` set that
    // consumers would start on without their secrets.
    let entries: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(entries.is_empty(), "published from nothing: {entries:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing published"));

    // The vault down for good: exit 3.
    s.emulator()
        .faults()
        .fail_next(keyway_emulator::Service::KeyVault, None, 503, 1000);
    let out = s.sync_to_dir(&s.dir.join("spc.yaml"), None, &target);
    assert_exit(&out, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_into_a_kubernetes_secret_owned_by_the_secretsync() {
    let s = setup("kube").await;
    s.cluster
        .write_kubeconfig(&s.dir.join("kubeconfig"))
        .unwrap();
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    s.cluster.install_crds_from(&crds).await.unwrap();
    let namespace = s.cluster.namespace().to_string();
    let vault_secret =
        keyway_cert::testing::TestPki::generate(keyway_cert::testing::KeyKind::EcP256, &["a"]);
    std::fs::write(s.dir.join("server.der"), vault_secret.leaf.der()).unwrap();
    let out = s.keyway(
        &s.officer,
        "officer",
        &[
            "secret",
            "set",
            "--name",
            "server-cert",
            "--file",
            s.dir.join("server.der").to_str().unwrap(),
            "--encoding",
            "hex",
            "--content-type",
            "application/pkix-cert",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(s.dir.join("spc.yaml"), SPC).unwrap();
    std::fs::write(
        s.dir.join("ss.yaml"),
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: app}\nspec:\n  serviceAccountName: reader\n  secretProviderClassName: app\n  secretObject:\n    type: Opaque\n    data:\n      - {sourcePath: server.pem, targetKey: ca.crt}\n",
    )
    .unwrap();
    let out = s
        .command(&s.reader, &s.dir.join("reader.jwt"))
        .args([
            "sync",
            "--provider-class",
            s.dir.join("spc.yaml").to_str().unwrap(),
            "--secret-sync",
            s.dir.join("ss.yaml").to_str().unwrap(),
            "--to-kubernetes",
            "--namespace",
            &namespace,
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let secret =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(s.cluster.client(), &namespace)
            .get("app")
            .await
            .unwrap();
    let secret = serde_json::to_value(secret).unwrap();
    assert!(secret["data"]["ca.crt"].is_string(), "{secret}");
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["kind"],
        "SecretSync"
    );
    assert_eq!(
        secret["metadata"]["labels"]["secrets-store.sync.x-k8s.io"],
        ""
    );

    // Without --secret-sync the Secret is named after the SecretProviderClass (`app` too):
    // the SecretSync owns it, so it is not taken over and keeps its ownerReference.
    let out = s
        .command(&s.reader, &s.dir.join("reader.jwt"))
        .args([
            "sync",
            "--provider-class",
            s.dir.join("spc.yaml").to_str().unwrap(),
        ])
        .args(["--to-kubernetes", "--namespace", &namespace])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("it belongs to SecretSync app"), "{stdout}");
    let kept =
        kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(s.cluster.client(), &namespace)
            .get("app")
            .await
            .unwrap();
    assert_eq!(
        kept.metadata.owner_references.unwrap()[0].kind,
        "SecretSync"
    );

    // A type the API server fills itself is refused before anything is created in the cluster.
    std::fs::write(
        s.dir.join("token.yaml"),
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: token}\nspec:\n  serviceAccountName: reader\n  secretProviderClassName: app\n  secretObject:\n    type: kubernetes.io/service-account-token\n    data:\n      - {sourcePath: server.pem, targetKey: token}\n",
    )
    .unwrap();
    let out = s
        .command(&s.reader, &s.dir.join("reader.jwt"))
        .args([
            "sync",
            "--provider-class",
            s.dir.join("spc.yaml").to_str().unwrap(),
        ])
        .args(["--secret-sync", s.dir.join("token.yaml").to_str().unwrap()])
        .args(["--to-kubernetes", "--namespace", &namespace])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("spec.secretObject.type"), "{stderr}");
    let syncs = kube::Api::<keyway_sync::SecretSync>::namespaced(s.cluster.client(), &namespace);
    assert!(
        syncs.get_opt("token").await.unwrap().is_none(),
        "nothing is created before the file is checked"
    );
}

/// A SecretSync mapping `server.pem` to `key`, as YAML.
fn secret_sync_to(key: &str) -> String {
    format!(
        "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {{name: app}}\nspec:\n  serviceAccountName: reader\n  secretProviderClassName: app\n  secretObject:\n    type: Opaque\n    data:\n      - sourcePath: server.pem\n        targetKey: {}\n",
        serde_json::to_string(key).unwrap()
    )
}

/// Every entry under `dir`, recursively, without following links.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `targetKey` is a Kubernetes Secret key, never a path: each escape form is a usage error
/// (exit 2) naming the field, and nothing is written inside or outside `--to-dir`.
#[tokio::test(flavor = "multi_thread")]
async fn target_keys_that_escape_the_directory_are_refused() {
    let s = setup("escape").await;
    std::fs::write(s.dir.join("spc.yaml"), SPC).unwrap();
    let absolute = s.dir.join("absolute-target");
    let target = s.dir.join("out");
    std::fs::write(s.dir.join("ss.yaml"), secret_sync_to("ok")).unwrap();
    let before = tree(&s.dir);
    for key in [
        absolute.to_str().unwrap(),
        "../x",
        "a/../../x",
        "a/b",
        "..",
        ".",
        "..data",
        "",
    ] {
        std::fs::write(s.dir.join("ss.yaml"), secret_sync_to(key)).unwrap();
        let out = s.sync_to_dir(
            &s.dir.join("spc.yaml"),
            Some(&s.dir.join("ss.yaml")),
            &target,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key:?}: {stderr}");
        assert!(
            stderr.contains("spec.secretObject.data[0].targetKey"),
            "{key:?}: {stderr}"
        );
        assert!(!target.exists(), "{key:?}: the directory was created");
        assert!(!absolute.exists() && !s.dir.join("x").exists());
        assert_eq!(tree(&s.dir), before, "{key:?}");
    }
}

/// A symlink planted in `--to-dir` (at a synced name, and as `..data`) is replaced, never
/// written through or read as the current set.
#[tokio::test(flavor = "multi_thread")]
async fn a_symlink_planted_in_the_target_directory_is_not_written_through() {
    let s = setup("planted").await;
    s.upload_server_der();
    std::fs::write(s.dir.join("spc.yaml"), SPC).unwrap();
    std::fs::write(s.dir.join("ss.yaml"), secret_sync_to("ca.crt")).unwrap();
    let outside = s.dir.join("outside");
    std::fs::create_dir_all(outside.join("fake-data")).unwrap();
    std::fs::write(outside.join("victim"), "victim").unwrap();
    std::fs::write(outside.join("fake-data").join("ca.crt"), "planted").unwrap();
    let target = s.dir.join("out");
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), target.join("ca.crt")).unwrap();
    std::os::unix::fs::symlink(outside.join("fake-data"), target.join("..data")).unwrap();
    let before = tree(&outside);

    let out = s.sync_to_dir(
        &s.dir.join("spc.yaml"),
        Some(&s.dir.join("ss.yaml")),
        &target,
    );
    assert_exit(&out, 0);
    assert_eq!(tree(&outside), before, "nothing written outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("victim")).unwrap(),
        "victim"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("fake-data").join("ca.crt")).unwrap(),
        "planted"
    );
    assert!(
        std::fs::read_to_string(target.join("ca.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(
        std::fs::read_link(target.join("ca.crt")).unwrap(),
        std::path::Path::new("..data/ca.crt")
    );
}

/// `keyway sync` as people use it: a file as `cluster render` prints it (several documents,
/// picked by kind), only what the SecretSync maps is read, an expired certificate is named and
/// fails the run, a second run of the same content says "unchanged", wrong kinds and empty
/// object lists say what was expected, and a missing token file is input (exit 2).
#[tokio::test(flavor = "multi_thread")]
async fn sync_reads_what_is_mapped_names_findings_and_says_what_it_expected() {
    use keyway_cert::testing::{CertSpec, Issued};
    let s = setup("behaviour").await;
    let expired = Issued::self_signed(&CertSpec {
        not_before: time::OffsetDateTime::now_utc() - time::Duration::days(30),
        not_after: time::OffsetDateTime::now_utc() - time::Duration::days(1),
        ..CertSpec::default()
    });
    std::fs::write(s.dir.join("old.pem"), expired.pem()).unwrap();
    let set = s.keyway(
        &s.officer,
        "officer",
        &[
            "secret",
            "set",
            "--name",
            "old-cert",
            "--file",
            s.dir.join("old.pem").to_str().unwrap(),
            "--content-type",
            "application/x-pem-file",
        ],
    );
    assert_exit(&set, 0);

    let manifests = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader}\n---\n\
        apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: app}\n\
        spec:\n  provider: azure\n  parameters:\n    keyvaultName: cli-vault\n    objects: |\n      array:\n\
        \x20       - |\n          objectName: old-cert\n          objectType: secret\n\
        \x20       - |\n          objectName: not-in-the-vault\n          objectType: secret\n---\n\
        apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: app}\n\
        spec:\n  serviceAccountName: reader\n  secretProviderClassName: app\n  secretObject:\n\
        \x20   type: Opaque\n    data:\n      - {sourcePath: old-cert, targetKey: cert.pem}\n";
    let file = s.dir.join("rendered.yaml");
    std::fs::write(&file, manifests).unwrap();
    let target = s.dir.join("out");
    let sync =
        |provider_class: &std::path::Path| s.sync_to_dir(provider_class, Some(&file), &target);
    let first = sync(&file);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(1),
        "an expired certificate is invalid: {stdout}"
    );
    assert!(
        stdout.contains("error expired"),
        "the finding is named: {stdout}"
    );
    assert!(
        !stdout.contains("not-in-the-vault"),
        "unmapped objects are not read: {stdout}"
    );
    assert!(stdout.contains("1 updated"), "{stdout}");
    assert_eq!(
        std::fs::read(target.join("cert.pem")).unwrap(),
        expired.pem().as_bytes()
    );
    let second = sync(&file);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("0 updated, 1 unchanged"),
        "a second process finds the same content unchanged: {stdout}"
    );

    // A file without the kind asked for says what it expected and what it found.
    let only_sync = s.dir.join("only-sync.yaml");
    std::fs::write(&only_sync, manifests.split("---\n").nth(2).unwrap()).unwrap();
    let wrong = sync(&only_sync);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no SecretProviderClass here (found: SecretSync)"),
        "{stderr}"
    );

    // An object list that names nothing is a mistake, not a sync of nothing.
    let empty = s.dir.join("empty.yaml");
    std::fs::write(
        &empty,
        SPC.split("    objects:").next().unwrap().to_string() + "    objects: |\n      array: []\n",
    )
    .unwrap();
    let out = s.sync_to_dir(&empty, None, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("spec.parameters.objects: names no object"),
        "{stderr}"
    );

    // A missing token file is input, as in `identity check`.
    let out = s
        .command(&s.reader, &s.dir.join("no-such.jwt"))
        .args([
            "sync",
            "--provider-class",
            file.to_str().unwrap(),
            "--to-dir",
        ])
        .arg(s.dir.join("elsewhere"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
}

/// SIGINT in the middle of a cycle (the vault is slow) stops the process at once, and the set
/// synced before is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_a_cycle_stops_at_once_and_keeps_the_previous_set() {
    let s = setup("sigint").await;
    s.set_secret_text("server-cert", "first");
    let spc = s.write_server_cert_spc();
    let target = s.dir.join("out");
    let args = [
        "sync",
        "--provider-class",
        spc.to_str().unwrap(),
        "--to-dir",
        target.to_str().unwrap(),
    ];
    assert_eq!(s.keyway(&s.reader, "reader", &args).status.code(), Some(0));

    // The cycle starts with the vault's challenge (answered at once), then the token
    // exchange, which is held back: the process is mid-cycle once the challenge is counted.
    let out = s.interrupt_mid_cycle(&args).await;
    assert_exit(&out, 130);
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_eq!(std::fs::read(target.join("server-cert")).unwrap(), b"first");
}

/// On a host, synced files are the owner's alone (0600 in 0700 directories, whatever the
/// umask), unless the SecretProviderClass sets filePermission; a second run with the same
/// content writes nothing (the modes read back match).
#[tokio::test(flavor = "multi_thread")]
async fn synced_files_are_private_unless_file_permission_says_otherwise() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup("modes").await;
    for name in ["private-one", "shared-one"] {
        s.set_secret_text(name, "value");
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let spc = |objects: &str| {
        format!(
            "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {{name: app}}\nspec:\n  provider: azure\n  parameters:\n    keyvaultName: cli-vault\n    objects: |\n      array:\n{objects}"
        )
    };
    let private = s.dir.join("private.yaml");
    std::fs::write(
        &private,
        spc("        - |\n          objectName: private-one\n          objectType: secret\n"),
    )
    .unwrap();
    let target = s.dir.join("private-out");
    let args = |spc: &std::path::Path, target: &std::path::Path| {
        vec![
            "sync".to_string(),
            "--provider-class".into(),
            spc.display().to_string(),
            "--to-dir".into(),
            target.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        s.keyway(&s.reader, "reader", &a)
    };
    let out = run(args(&private, &target));
    assert_exit(&out, 0);
    assert_eq!(mode(&target.join("private-one")), 0o600);
    assert_eq!(
        mode(&target.join("..data")),
        0o700,
        "the generation directory"
    );
    let again = run(args(&private, &target));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing written"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    let shared = s.dir.join("shared.yaml");
    std::fs::write(
        &shared,
        spc("        - |\n          objectName: shared-one\n          objectType: secret\n          filePermission: \"0644\"\n"),
    )
    .unwrap();
    let target = s.dir.join("shared-out");
    let out = run(args(&shared, &target));
    assert_exit(&out, 0);
    assert_eq!(mode(&target.join("shared-one")), 0o644);
    assert_eq!(mode(&target.join("..data")), 0o755);
}

/// One rule for exit codes: Entra ID refusing the identity (AADSTS) is a refusal, exit 1, as
/// in `secret set`; Entra ID not answering is unreachable, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn an_entra_refusal_exits_1_and_an_unreachable_entra_exits_3() {
    let s = setup("entra-codes").await;
    let spc = s.dir.join("spc.yaml");
    std::fs::write(&spc, SPC).unwrap();
    let target = s.dir.join("out");
    // The officer's token presented as the reader: no federated credential matches.
    let refused = s
        .command(&s.reader, &s.dir.join("officer.jwt"))
        .arg("sync")
        .arg("--provider-class")
        .arg(&spc)
        .arg("--to-dir")
        .arg(&target)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("AADSTS70021"), "{stdout}");

    s.emulator()
        .faults()
        .drop_next(keyway_emulator::Service::Entra, None, 1000);
    let unreachable = s.sync_to_dir(&spc, None, &target);
    assert_exit(&unreachable, 3);
    s.emulator().faults().clear();
}

/// `keyway sync --interval` prints each cycle's summary as it completes; SIGINT while it waits
/// for the next cycle exits 0, and SIGINT during a cycle (the vault is slow) exits 130 and
/// leaves the set synced before as it was.
#[tokio::test(flavor = "multi_thread")]
async fn sync_interval_prints_each_cycle_and_stops_on_sigint() {
    use std::io::BufRead;
    let s = setup("interval").await;
    s.set_secret_text("server-cert", "first");
    let spc = s.write_server_cert_spc();
    let target = s.dir.join("out");
    let args = [
        "sync",
        "--provider-class",
        spc.to_str().unwrap(),
        "--to-dir",
        target.to_str().unwrap(),
        "--interval",
        "1h",
    ];

    // Between cycles: the first cycle's summary line, then SIGINT during the hour's wait.
    let mut child = s.spawn_as_reader(&args);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        (line, stdout)
    })
    .await
    .unwrap();
    let (line, mut stdout) = first;
    assert!(
        line.starts_with("1 updated, 0 unchanged, 0 failed;") && line.contains("call(s); written,"),
        "{line}"
    );
    interrupt(&child);
    let out = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        (child.wait_with_output().unwrap(), rest)
    })
    .await
    .unwrap();
    let (out, rest) = out;
    assert_exit(&out, 0);
    assert_eq!(rest, "", "one cycle, one line");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_eq!(std::fs::read(target.join("server-cert")).unwrap(), b"first");

    // Mid-cycle: the token exchange is held back, as in the one-shot test above.
    s.set_secret_text("server-cert", "second");
    let out = s.interrupt_mid_cycle(&args).await;
    assert_exit(&out, 130);
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_eq!(out.stdout, b"", "no cycle completed");
    assert_eq!(std::fs::read(target.join("server-cert")).unwrap(), b"first");
}

/// A SecretSync reads the SecretProviderClass it names: run with another class, a cluster
/// would read a different class than the file given, so the sync is refused (exit 2) before
/// anything is written, naming the field, both names and the fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_sync_naming_another_provider_class_is_refused() {
    let s = setup("class-name").await;
    std::fs::write(s.dir.join("spc.yaml"), SPC).unwrap();
    std::fs::write(
        s.dir.join("ss.yaml"),
        secret_sync_to("ok").replace(
            "secretProviderClassName: app",
            "secretProviderClassName: nope",
        ),
    )
    .unwrap();
    let target = s.dir.join("out");
    let before = tree(&s.dir);
    let out = s.sync_to_dir(
        &s.dir.join("spc.yaml"),
        Some(&s.dir.join("ss.yaml")),
        &target,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for expected in ["spec.secretProviderClassName", "\"nope\"", "\"app\""] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!target.exists(), "the directory was created");
    assert_eq!(tree(&s.dir), before);
}
