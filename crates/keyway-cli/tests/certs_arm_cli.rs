//! `keyway certs --target arm` as an operator runs it: the process against the emulator's
//! Azure Resource Manager stand-in (an IoT Operations instance, its custom location and
//! extension) and Key Vault — the stores' SecretProviderClass and SecretSyncs are ARM
//! resources, and the client certificate's connector settings go to the extension.

#[path = "../../keyway-stores/tests/support/arm.rs"]
mod arm_support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};

use arm_support::{ArmInstance, ArmSpec, GROUP};
use keyway_cert::testing::{CertSpec, Issued};
use serde_json::Value;

const SUBSCRIPTION: &str = "sub-cli";
const VAULT: &str = "arm-cli-vault";

/// The instance (keyway-stores' ARM set-up) and the CLI's files and environment for it.
struct Setup {
    arm: ArmInstance,
    environment: Vec<(&'static str, OsString)>,
    dir: PathBuf,
}

impl std::ops::Deref for Setup {
    type Target = ArmInstance;

    fn deref(&self) -> &ArmInstance {
        &self.arm
    }
}

/// An IoT Operations instance `aio-1` with secret sync enabled (its default class made
/// through ARM), a vault, and an operator identity (Secrets Officer) for the CLI.
async fn setup() -> Setup {
    let arm = arm_support::arm_instance(ArmSpec {
        subscription: SUBSCRIPTION,
        vault: VAULT,
        default_class: "spc-ops-cli",
        client_id_parameter: "clientId",
        settings: BTreeMap::new(),
    })
    .await;
    let dir = std::env::temp_dir().join(format!("keyway-certs-arm-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let environment = arm.process_environment(&dir);
    Setup {
        arm,
        environment,
        dir,
    }
}

impl Setup {
    /// `keyway ARGS --target arm --subscription S --resource-group G --instance aio-1` as the
    /// operator; no kubeconfig at all.
    fn keyway(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_keyway"))
            .args(args)
            .args([
                "--target",
                "arm",
                "--subscription",
                SUBSCRIPTION,
                "--resource-group",
                GROUP,
                "--instance",
                "aio-1",
            ])
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }

    fn arm(&self, kind: &str, name: &str) -> Option<Value> {
        self.emulator.arm_resource(&format!(
            "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.SecretSyncController/{kind}/{name}"
        ))
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn certificate(name: &str) -> Issued {
    Issued::self_signed(&CertSpec {
        common_name: name.into(),
        san: vec![format!("urn:contoso:{name}")],
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_through_azure_resource_manager() {
    let s = setup().await;
    let server = certificate("opcua-server");
    let file = s.write("opc_server.der", server.der());

    let out = s.keyway(&["certs", "trust", "add", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sync = s
        .arm("secretSyncs", "aio-opc-ua-broker-trust-list")
        .expect("the trust list's SecretSync is an ARM resource");
    assert_eq!(
        sync["extendedLocation"]["name"],
        s.instance.custom_location_id.as_str()
    );
    assert!(
        s.arm("azureKeyVaultSecretProviderClasses", "opc-ua-connector")
            .is_some()
    );

    let out = s.keyway(&["certs", "list", "trust", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &listing[0]["entries"][0];
    assert_eq!(entry["target_key"], "opc_server.der", "{listing:#}");
    assert_eq!(entry["secret_name"], "opc-server-der");

    // The client certificate's connector settings go to the IoT Operations extension.
    let client = certificate("opcua-connector");
    let der = s.write("connector.der", client.der());
    let pem = s.write("connector.pem", client.key_pem().as_bytes());
    let out = s.keyway(&[
        "certs",
        "client",
        "add",
        "--public-key-file",
        &der,
        "--private-key-file",
        &pem,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("connector settings: set on the IoT Operations extension"),
        "{}",
        text(&out)
    );
    let settings = s.emulator.arm_resource(&s.instance.extension_id).unwrap()["properties"]
        ["configurationSettings"]
        .clone();
    assert_eq!(
        settings["connectors.values.securityPki.applicationUri"], "urn:contoso:opcua-connector",
        "{settings:#}"
    );

    // Removal without --yes off a terminal is refused; with it the SecretSync goes.
    let out = s.keyway(&["certs", "trust", "remove", "opc_server.der"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = s.keyway(&["certs", "trust", "remove", "opc_server.der", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        s.arm("secretSyncs", "aio-opc-ua-broker-trust-list")
            .is_none()
    );

    // A synced secret through the instance's default class, as an ARM SecretSync.
    let value = s.write("pw.txt", b"correct horse");
    let out = s.keyway(&[
        "secrets",
        "add",
        "db-password",
        "--from-file",
        &value,
        "--synced-name",
        "db",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("correct horse"));
    let db = s.arm("secretSyncs", "db").expect("the SecretSync db");
    assert_eq!(db["properties"]["secretProviderClassName"], "spc-ops-cli");
    let out = s.keyway(&["secrets", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"secret_sync\": \"db\""));
    let out = s.keyway(&["secrets", "remove", "db", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.arm("secretSyncs", "db").is_none());

    // --namespace that is not the instance's is named.
    let out = s.keyway(&["certs", "list", "--namespace", "elsewhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lives in namespace azure-iot-operations"),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&s.dir);
}
