//! Real Helm for the tests of deploy/helm/keyway: `helm lint` and `helm template` by Helm 4's
//! own Go SDK, which the Python package `helm-python-sdk` binds (no helm binary), run through
//! `tests/helm_chart.py`.
//!
//! Without `python3` (or `KEYWAY_PYTHON`), or without the `helm_python` module, [`Helm::find`]
//! says so and the test checks nothing — unless `KEYWAY_REQUIRE_HELM=1` (set by `.ci/run`,
//! which installs the pinned package) makes that a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Exit status of helm_chart.py when `helm_python` cannot be imported.
const MODULE_ABSENT: i32 = 3;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// deploy/helm/keyway.
pub fn chart() -> PathBuf {
    repo().join("deploy/helm/keyway")
}

/// Helm 4 through `python3 tests/helm_chart.py`.
pub struct Helm {
    python: PathBuf,
    script: PathBuf,
}

impl Helm {
    /// Helm, when `python3` can import `helm_python`; `None`, after printing why `test` checks
    /// nothing, when it cannot. Panics instead when `KEYWAY_REQUIRE_HELM=1`.
    pub fn find(test: &str) -> Option<Helm> {
        let helm = Helm {
            python: PathBuf::from(std::env::var_os("KEYWAY_PYTHON").unwrap_or("python3".into())),
            script: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_chart.py"),
        };
        let why = match helm.run(&["version"]) {
            Ok(output) if output.status.success() => return Some(helm),
            Ok(output) if output.status.code() == Some(MODULE_ABSENT) => {
                String::from_utf8_lossy(&output.stderr).trim().to_string()
            }
            Ok(output) => panic!(
                "helm_chart.py version failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(e) => format!("{} cannot be run ({e})", helm.python.display()),
        };
        assert!(
            std::env::var("KEYWAY_REQUIRE_HELM").as_deref() != Ok("1"),
            "KEYWAY_REQUIRE_HELM=1 but {why}"
        );
        eprintln!("{test}: {why}; the chart was not checked by Helm");
        None
    }

    fn run(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new(&self.python)
            .arg(&self.script)
            .args(args)
            .output()
    }

    fn outcome(&self, args: &[&str]) -> Result<String, String> {
        let output = self
            .run(args)
            .unwrap_or_else(|e| panic!("{} cannot be run: {e}", self.python.display()));
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "helm {} ({}):\n{stdout}{}",
                args[0],
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// `helm lint <chart>`: its messages when no chart failed, else the messages and errors.
    pub fn lint(&self, chart: &Path) -> Result<String, String> {
        self.outcome(&["lint", &chart.to_string_lossy()])
    }

    /// `helm template <chart> --namespace <namespace> --set <set>...` (with `--include-crds`
    /// when `include_crds`): the manifests, or Helm's error.
    pub fn template(
        &self,
        chart: &Path,
        namespace: &str,
        set: &[&str],
        include_crds: bool,
    ) -> Result<String, String> {
        let chart = chart.to_string_lossy();
        let mut args = vec!["template", &chart, "--namespace", namespace];
        for value in set {
            args.extend(["--set", value]);
        }
        if include_crds {
            args.push("--include-crds");
        }
        self.outcome(&args)
    }

    /// The chart's documents for a release in `namespace` with `set`, as JSON values; panics
    /// with Helm's error when it does not render.
    pub fn render(&self, namespace: &str, set: &[&str]) -> Vec<serde_json::Value> {
        let text = self
            .template(&chart(), namespace, set, false)
            .unwrap_or_else(|e| panic!("{e}"));
        documents(&text)
    }
}

/// The YAML documents of `text` as JSON values, without empty (comment-only) ones.
pub fn documents(text: &str) -> Vec<serde_json::Value> {
    keyway_sync::yaml::documents(text).unwrap_or_else(|e| panic!("{e} in\n{text}"))
}

/// Every document of the `*.yaml` files in `dir` (under the repository), by file name order.
pub fn documents_in(dir: &str) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| documents(&std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// (kind, namespace, name) of a document.
pub fn key(doc: &serde_json::Value) -> (String, String, String) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&doc["kind"]),
        text(&doc["metadata"]["namespace"]),
        text(&doc["metadata"]["name"]),
    )
}

/// `docs` by [`key`]; panics when two share one.
pub fn by_key(docs: &[serde_json::Value]) -> BTreeMap<(String, String, String), serde_json::Value> {
    let mut map = BTreeMap::new();
    for doc in docs {
        assert!(
            map.insert(key(doc), doc.clone()).is_none(),
            "{:?} twice",
            key(doc)
        );
    }
    map
}

/// Asserts that `rendered` and `plain` hold the same objects, naming each one that differs.
pub fn assert_same_objects(
    what: &str,
    rendered: &[serde_json::Value],
    plain: &[serde_json::Value],
) {
    let (rendered, plain) = (by_key(rendered), by_key(plain));
    for (key, object) in &plain {
        let Some(ours) = rendered.get(key) else {
            panic!("{what}: the chart does not render {key:?}");
        };
        assert!(
            ours == object,
            "{what}: the chart's {key:?} differs:\nchart: {}\nplain: {}",
            serde_json::to_string_pretty(ours).unwrap(),
            serde_json::to_string_pretty(object).unwrap()
        );
    }
    let extra: Vec<_> = rendered
        .keys()
        .filter(|k| !plain.contains_key(*k))
        .collect();
    assert!(
        extra.is_empty(),
        "{what}: the chart renders more: {extra:?}"
    );
}
