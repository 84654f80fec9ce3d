//! `kubectl` against the Kubernetes API stand-in, for the basics users reach for: `get`, `apply`
//! (client- and server-side), `create -f`, `delete`, `api-resources`. Runs when `kubectl` is on
//! `PATH` (or `KEYWAY_KUBECTL` names one); without it the test says so and checks nothing, unless
//! `KEYWAY_REQUIRE_KUBECTL=1` makes a missing `kubectl` a failure. Like every Kubernetes test
//! here, it runs against the real cluster `KEYWAY_TEST_KUBECONFIG` names, when set.

use std::path::{Path, PathBuf};
use std::process::Command;

use keyway_emulator::Emulator;
use serde_json::Value;

fn kubectl_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEYWAY_KUBECTL") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
}

struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs kubectl; panics with its stderr when it fails.
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.run(&all)).expect("kubectl prints JSON")
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn kubectl_gets_applies_and_deletes() {
    let Some(binary) = kubectl_binary() else {
        assert!(
            std::env::var("KEYWAY_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "KEYWAY_REQUIRE_KUBECTL=1 but no kubectl on PATH"
        );
        eprintln!("kubectl not found on PATH: nothing checked");
        return;
    };
    let dir = std::env::temp_dir().join(format!("keyway-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (kubeconfig, _emulator) = match std::env::var("KEYWAY_TEST_KUBECONFIG") {
        Ok(path) => (PathBuf::from(path), None),
        Err(_) => {
            let emulator = Emulator::start().await.unwrap();
            let path = write(&dir, "kubeconfig", &emulator.kubeconfig());
            (PathBuf::from(path), Some(emulator))
        }
    };
    let kubectl = Kubectl { binary, kubeconfig };
    let ns = format!("keyway-kubectl-{}", std::process::id());
    // kubectl is synchronous: run it off the runtime the emulator serves on.
    let dir_for_run = dir.clone();
    tokio::task::spawn_blocking(move || {
        let dir = dir_for_run;
        let namespaces = kubectl.json(&["get", "ns"]);
        assert!(
            namespaces["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["metadata"]["name"] == "default")
        );
        let resources = kubectl.run(&["api-resources", "--no-headers"]);
        assert!(resources.lines().any(|l| l.starts_with("serviceaccounts") && l.contains(" sa ")));

        let manifest = write(
            &dir,
            "app.yaml",
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
                 apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sync\n  namespace: {ns}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: {ns}\n  labels:\n    tier: edge\nstringData:\n  greeting: hello\n"
            ),
        );
        kubectl.run(&["apply", "-f", &manifest]);
        // A second apply finds the ServiceAccount unchanged.
        assert!(kubectl.run(&["apply", "-f", &manifest]).contains("serviceaccount/sync unchanged"));
        let secret = kubectl.json(&["get", "secret", "plain", "-n", &ns]);
        assert_eq!(secret["data"]["greeting"], "aGVsbG8=");
        assert!(secret.get("stringData").is_none());
        let selected = kubectl.json(&["get", "secrets", "-n", &ns, "-l", "tier=edge"]);
        assert_eq!(selected["items"].as_array().unwrap().len(), 1);
        let sa = kubectl.json(&["get", "sa", "sync", "-n", &ns]);
        assert_eq!(sa["kind"], "ServiceAccount");

        // The CRDs keyway ships, then a custom resource through server-side apply.
        let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
        kubectl.run(&["apply", "-f", crds.to_str().unwrap()]);
        let spc = write(
            &dir,
            "spc.yaml",
            &format!(
                "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  name: vault\n  namespace: {ns}\n\
                 spec:\n  provider: azure\n  parameters:\n    keyvaultName: kv\n    tenantId: t\n    clientID: c\n"
            ),
        );
        kubectl.run(&["apply", "--server-side", "-f", &spc]);
        let applied = kubectl.json(&["get", "secretproviderclass", "vault", "-n", &ns, "--show-managed-fields"]);
        assert_eq!(applied["spec"]["provider"], "azure");
        assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "kubectl");

        kubectl.run(&["delete", "-f", &spc]);
        // Deleting the namespace takes its contents.
        kubectl.run(&["delete", "namespace", &ns]);
        let left = kubectl.json(&["get", "secrets,serviceaccounts", "-n", &ns]);
        assert_eq!(left["items"].as_array().unwrap().len(), 0, "{left}");
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
