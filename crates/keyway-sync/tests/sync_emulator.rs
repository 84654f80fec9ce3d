//! Syncs through workload identity federation from the emulated Key Vault into a directory,
//! over HTTPS with the official SecretClient underneath.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use keyway_cert::testing::{KeyKind, TestPki};
use keyway_emulator::{Emulator, Role, SecretSpec, Service, Vault};
use keyway_sync::{
    DirectorySink, KeyVaultObject, KeyVaultSource, KeyVaultSourceOptions, ObjectFormat, ObjectType,
    Outcome, SourceFailure, SyncSpec, Syncer, parse_objects,
};

mod support;

struct World {
    emulator: Emulator,
    vault: Vault,
    source: Arc<KeyVaultSource>,
    dir: PathBuf,
}

async fn world(test: &str) -> World {
    let emulator = Emulator::start().await.unwrap();
    // What `az iot ops secretsync enable` grants: Secrets User (values) and Reader (keys).
    let (app, vault) = emulator
        .workload_vault("sync-vault", "default", "sync", Role::SecretsUser)
        .await
        .unwrap();
    vault.grant(&app, Role::Reader);
    let credential = emulator
        .workload_credential(&app, "default", "sync")
        .unwrap();
    let source = support::vault::source(&emulator, &vault, credential);
    let dir = std::env::temp_dir().join(format!("keyway-sync-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World {
        emulator,
        vault,
        source: Arc::new(source),
        dir,
    }
}

impl World {
    fn syncer(&self, objects: Vec<KeyVaultObject>) -> Syncer {
        let spec = SyncSpec::new(self.vault.url(), objects).unwrap();
        Syncer::new(
            spec,
            self.source.clone(),
            Arc::new(DirectorySink::new(&self.dir).unwrap()),
        )
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn put(&self, name: &str, value: &str, content_type: Option<&str>, tags: &[(&str, &str)]) {
        self.vault
            .put_secret(
                name,
                SecretSpec {
                    value: value.into(),
                    content_type: content_type.map(str::to_string),
                    tags: tags
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    disabled: false,
                },
            )
            .unwrap();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pem_labels(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| l.starts_with("-----BEGIN"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_type_encoding_and_format_the_provider_allows() {
    let w = world("matrix").await;
    let pki = TestPki::generate(KeyKind::EcP256, &["opcua-server.local"]);
    let chain = pki.chain_pem(false);
    let pfx = pki.pkcs12("");
    let pfx_b64 = base64::engine::general_purpose::STANDARD.encode(&pfx);
    w.vault.set_secret("db-password", "s3cret").unwrap();
    w.put(
        "chain-pem",
        &hex(chain.as_bytes()),
        Some("application/x-pem-file"),
        &[("file-encoding", "hex")],
    );
    w.put(
        "leaf-der",
        &hex(pki.leaf.der()),
        Some("application/pkix-cert"),
        &[("file-encoding", "hex")],
    );
    w.vault.set_secret("blob", "AAECAw==").unwrap();
    w.vault
        .import_certificate("tls-cert", &pfx_b64, "application/x-pkcs12")
        .unwrap();
    w.vault
        .import_certificate("pem-cert", &pki.chain_pem(true), "application/x-pem-file")
        .unwrap();

    let objects = parse_objects(
        r#"
array:
  - |
    objectName: db-password
    objectType: secret
  - |
    objectName: chain-pem
    objectType: secret
  - |
    objectName: leaf-der
    objectType: secret
  - |
    objectName: blob
    objectType: secret
    objectEncoding: base64
  - |
    objectName: blob
    objectAlias: blob-text
    objectType: secret
    objectEncoding: utf-8
  - |
    objectName: blob
    objectAlias: blob-hex
    objectType: secret
    objectEncoding: hex
  - |
    objectName: tls-cert
    objectType: secret
    filePermission: "0600"
  - |
    objectName: tls-cert
    objectAlias: tls-pfx
    objectType: secret
    objectFormat: pfx
  - |
    objectName: tls-cert
    objectAlias: tls-pfx-binary
    objectType: secret
    objectFormat: pfx
    objectEncoding: base64
  - |
    objectName: tls-cert
    objectAlias: tls-leaf
    objectType: cert
  - |
    objectName: tls-cert
    objectAlias: tls-public-key
    objectType: key
  - |
    objectName: pem-cert
    objectType: secret
"#,
        "objects",
    )
    .unwrap();
    let report = w.syncer(objects).run_once().await;
    let outcomes: Vec<(&str, Outcome)> = report
        .objects
        .iter()
        .map(|o| (o.output.as_str(), o.outcome))
        .collect();
    // "AAECAw==" is not hex: that one object fails, everything else lands.
    assert_eq!(report.failed(), 1, "{outcomes:?}");
    let failed = report
        .objects
        .iter()
        .find(|o| o.outcome == Outcome::Failed)
        .unwrap();
    assert_eq!(failed.output, "blob-hex");
    assert!(
        failed
            .error
            .as_ref()
            .unwrap()
            .contains("hex decoding failed at byte offset 5"),
        "{failed:?}"
    );

    assert_eq!(w.read("db-password"), b"s3cret");
    // Without objectEncoding the value is written as stored, as the provider writes it; the
    // file-encoding tag only earns a finding saying how to get the decoded bytes.
    assert_eq!(
        w.read("chain-pem"),
        hex(chain.as_bytes()).as_bytes(),
        "hex with the file-encoding tag but no objectEncoding is written as stored"
    );
    assert_eq!(w.read("leaf-der"), hex(pki.leaf.der()).as_bytes());
    for output in ["chain-pem", "leaf-der"] {
        let findings = &report
            .objects
            .iter()
            .find(|o| o.output == output)
            .unwrap()
            .findings;
        assert!(
            findings
                .iter()
                .any(|f| f.code == keyway_cert::FindingCode::StoredEncoded
                    && f.message.contains("set objectEncoding: hex")),
            "{output}: {findings:?}"
        );
    }
    assert_eq!(w.read("blob"), [0u8, 1, 2, 3]);
    assert_eq!(w.read("blob-text"), b"AAECAw==");
    let bundle = w.read("tls-cert");
    assert_eq!(pem_labels(&bundle)[0], "-----BEGIN PRIVATE KEY-----");
    assert_eq!(
        pem_labels(&bundle).len(),
        4,
        "the key, then leaf, intermediate, root"
    );
    assert!(String::from_utf8_lossy(&bundle).ends_with(&chain));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.dir.join("tls-cert"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(w.read("tls-pfx"), pfx_b64.as_bytes());
    assert_eq!(w.read("tls-pfx-binary"), pfx);
    assert_eq!(w.read("tls-leaf"), pki.leaf.pem().as_bytes());
    assert_eq!(
        pem_labels(&w.read("tls-public-key")),
        ["-----BEGIN PUBLIC KEY-----"]
    );
    assert_eq!(
        w.read("pem-cert"),
        pki.chain_pem(true).as_bytes(),
        "a PEM certificate's secret is written unchanged"
    );
    let tls = report
        .objects
        .iter()
        .find(|o| o.output == "tls-cert")
        .unwrap();
    assert!(
        tls.findings
            .iter()
            .any(|f| f.code == keyway_cert::FindingCode::SelfSigned),
        "certificate findings are reported"
    );
}

/// Key Vault's `updated` has one-second resolution: a sync in the same second as a write must
/// read again next time. Let the second pass so steady-state counts are exact.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

fn hex(bytes: &[u8]) -> String {
    keyway_cert::encode_for_upload(bytes, keyway_cert::Encoding::Hex).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_changed_is_fetched_and_written() {
    let w = world("steady").await;
    let objects: Vec<KeyVaultObject> = (0..60)
        .map(|i| {
            let name = format!("s{i:02}");
            w.vault.set_secret(&name, &format!("value {i}")).unwrap();
            KeyVaultObject::secret(name)
        })
        .collect();
    settle().await;
    let syncer = w.syncer(objects);
    let first = syncer.run_once().await;
    assert!(first.all_synced(), "{first:?}");
    assert_eq!(
        (first.calls.list, first.calls.get, first.written),
        (3, 60, true)
    );

    w.emulator.counters().reset();
    let steady = syncer.run_once().await;
    assert_eq!(
        (steady.calls.list, steady.calls.get, steady.written),
        (3, 0, false),
        "⌈60/25⌉ list calls, nothing else"
    );
    assert!(
        steady
            .objects
            .iter()
            .all(|o| o.outcome == Outcome::Unchanged)
    );
    assert_eq!(
        w.emulator.counters().count(Service::KeyVault, "GetSecret"),
        0
    );
    assert_eq!(
        w.emulator.counters().count(Service::KeyVault, "GetSecrets"),
        3
    );

    w.vault.set_secret("s07", "rotated").unwrap();
    let rotated = syncer.run_once().await;
    assert_eq!(
        (rotated.calls.list, rotated.calls.get, rotated.written),
        (3, 1, true)
    );
    let updated: Vec<&str> = rotated
        .objects
        .iter()
        .filter(|o| o.outcome == Outcome::Updated)
        .map(|o| o.output.as_str())
        .collect();
    assert_eq!(updated, ["s07"]);
    assert_eq!(w.read("s07"), b"rotated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_object_keeps_its_previous_data_and_recovers() {
    let w = world("failures").await;
    for name in ["a", "b", "c"] {
        w.vault.set_secret(name, &format!("{name}-1")).unwrap();
    }
    settle().await;
    let syncer = w.syncer(
        ["a", "b", "c"]
            .into_iter()
            .map(KeyVaultObject::secret)
            .collect(),
    );
    assert!(syncer.run_once().await.all_synced());

    // Disabled, missing upstream, and a vault error on a changed secret.
    w.vault.set_enabled("a", false).unwrap();
    w.vault.set_secret("b", "b-2").unwrap();
    w.emulator
        .faults()
        .fail_next(Service::KeyVault, Some("GetSecret"), 500, 20);
    let report = syncer.run_once().await;
    let by = |name: &str| {
        report
            .objects
            .iter()
            .find(|o| o.output == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (by("a").outcome, by("a").failure),
        (Outcome::Failed, Some(SourceFailure::Disabled))
    );
    assert_eq!(
        (by("b").outcome, by("b").failure),
        (Outcome::Failed, Some(SourceFailure::Unavailable))
    );
    assert!(by("a").kept_previous && by("b").kept_previous);
    assert_eq!(by("c").outcome, Outcome::Unchanged);
    assert_eq!(
        w.read("a"),
        b"a-1",
        "nothing is removed or blanked by a failure"
    );
    assert_eq!(w.read("b"), b"b-1");
    assert_eq!(w.read("c"), b"c-1");

    w.emulator.faults().clear();
    w.vault.set_enabled("a", true).unwrap();
    let recovered = syncer.run_once().await;
    assert!(recovered.all_synced(), "{recovered:?}");
    assert_eq!(w.read("b"), b"b-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_listing_falls_back_to_reading_each_object() {
    let w = world("fallback").await;
    for name in ["a", "b"] {
        w.vault.set_secret(name, name).unwrap();
    }
    w.emulator
        .faults()
        .fail_next(Service::KeyVault, Some("GetSecrets"), 403, 100);
    let syncer = w.syncer(["a", "b"].into_iter().map(KeyVaultObject::secret).collect());
    let report = syncer.run_once().await;
    assert!(report.listing_fallback && report.all_synced(), "{report:?}");
    assert_eq!(report.calls.get, 2);
    let again = syncer.run_once().await;
    assert_eq!(
        (again.calls.get, again.written),
        (2, false),
        "without a listing every object is read, but unchanged content is not rewritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_versions_and_version_history() {
    let w = world("versions").await;
    let v1 = w.vault.set_secret("api-key", "one").unwrap();
    w.vault.set_secret("api-key", "two").unwrap();
    w.vault.set_secret("api-key", "three").unwrap();
    let pinned = KeyVaultObject {
        alias: Some("api-key-v1".into()),
        version: Some(v1),
        ..KeyVaultObject::secret("api-key")
    };
    let history = KeyVaultObject {
        alias: Some("api-key-history".into()),
        version_history: Some(2),
        ..KeyVaultObject::secret("api-key")
    };
    let syncer = w.syncer(vec![pinned, history]);
    let first = syncer.run_once().await;
    assert!(first.all_synced(), "{first:?}");
    assert_eq!(w.read("api-key-v1"), b"one");
    assert_eq!(w.read("api-key-history/0"), b"three");
    assert_eq!(w.read("api-key-history/1"), b"two");
    let second = syncer.run_once().await;
    assert_eq!(
        second.calls.get, 0,
        "pinned and already-synced versions are never re-fetched"
    );
    assert_eq!(second.calls.versions, 1);
    let _ = (ObjectType::Secret, ObjectFormat::Pem, Path::new("."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_objects_read_the_keys_api() {
    let w = world("keys").await;
    let pki = TestPki::generate(KeyKind::Rsa2048, &["signer"]);
    let leaf = keyway_cert::Certificate::from_der(pki.leaf.der()).unwrap();
    let spki = leaf.x509().unwrap().public_key().raw.to_vec();
    w.vault.create_key("signing-key", &spki).unwrap();
    let ec = TestPki::generate(KeyKind::EcP384, &["ec-signer"]);
    let ec_spki = keyway_cert::Certificate::from_der(ec.leaf.der())
        .unwrap()
        .x509()
        .unwrap()
        .public_key()
        .raw
        .to_vec();
    w.vault.create_key("ec-key", &ec_spki).unwrap();
    let key = |name: &str| KeyVaultObject {
        object_type: ObjectType::Key,
        ..KeyVaultObject::secret(name)
    };
    settle().await;
    let syncer = w.syncer(vec![key("signing-key"), key("ec-key"), key("no-such-key")]);
    let report = syncer.run_once().await;
    let pem_der = |name: &str| pem::parse(w.read(name)).unwrap().into_contents();
    assert_eq!(
        pem_der("signing-key"),
        spki,
        "the PUBLIC KEY PEM is the key's SubjectPublicKeyInfo"
    );
    assert_eq!(pem_der("ec-key"), ec_spki);
    assert_eq!(report.failed(), 1);
    assert_eq!(
        w.emulator
            .counters()
            .count_status(Service::KeyVault, "GetKey", 200),
        2
    );
    let steady = syncer.run_once().await;
    assert_eq!(
        (steady.calls.get, steady.calls.list),
        (0, 1),
        "one keys listing, no reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_vault_is_refused() {
    let w = world("plain-http").await;
    let credential = w
        .emulator
        .workload_credential(
            &w.emulator
                .add_workload_identity(w.vault.tenant_id(), "other", "default", "other")
                .unwrap(),
            "default",
            "other",
        )
        .unwrap();
    let plain = w.vault.url().replacen("https://", "http://", 1);
    let error = KeyVaultSource::new(&plain, credential, KeyVaultSourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("vault_url") && error.contains("not https"),
        "{error}"
    );
}

/// A new process (a fresh syncer over the same directory) reports as unchanged what the
/// directory already holds byte for byte, and as updated only what rotated; an object that stays
/// unchanged within one process keeps reporting its findings.
#[tokio::test]
async fn a_fresh_syncer_reports_only_what_changed_and_findings_persist() {
    use keyway_cert::testing::{CertSpec, Issued};
    let w = world("fresh").await;
    let soon = Issued::self_signed(&CertSpec {
        not_after: time::OffsetDateTime::now_utc() + time::Duration::days(10),
        ..CertSpec::default()
    });
    w.put("cert", &soon.pem(), Some("application/x-pem-file"), &[]);
    w.put("password", "one", None, &[]);
    let objects = || {
        vec![
            KeyVaultObject::secret("cert"),
            KeyVaultObject::secret("password"),
        ]
    };
    let first = w.syncer(objects()).run_once().await;
    assert!(first.all_synced(), "{first:?}");

    w.put("password", "two", None, &[]);
    let syncer = w.syncer(objects());
    let fresh = syncer.run_once().await;
    let outcome = |r: &keyway_sync::SyncReport, name: &str| {
        r.objects.iter().find(|o| o.output == name).unwrap().outcome
    };
    assert_eq!(outcome(&fresh, "cert"), Outcome::Unchanged, "{fresh:?}");
    assert_eq!(outcome(&fresh, "password"), Outcome::Updated, "{fresh:?}");

    // The next cycle of the same process does not fetch the certificate again, and still
    // reports that it expires soon.
    let again = syncer.run_once().await;
    let cert = again.objects.iter().find(|o| o.output == "cert").unwrap();
    assert_eq!(cert.outcome, Outcome::Unchanged);
    assert!(
        cert.findings
            .iter()
            .any(|f| f.code == keyway_cert::FindingCode::ExpiresSoon),
        "{:?}",
        cert.findings
    );
}
