//! A headless Chromium driven over the Chrome DevTools Protocol (its WebSocket): just what the
//! browser test needs — open a page, run an expression, set a file input, take a screenshot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// The Chromium binary: `KEYWAY_CHROMIUM`, else the first of the usual names on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEYWAY_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running headless Chromium with one page attached.
pub struct Browser {
    _child: Child,
    _profile: TempDir,
    outgoing: mpsc::UnboundedSender<Message>,
    waiters: Waiters,
    next_id: AtomicU64,
    session: String,
}

impl Browser {
    /// Starts `binary` headless with a new, empty profile and opens one page.
    pub async fn launch(binary: &Path) -> Browser {
        let profile = TempDir::new("keyway-ui-chromium");
        // The flags of a headless run on a machine without network or GPU: no background
        // connections (refused here anyway), no sandbox (tests may run as root).
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        // Chromium writes its port and browser endpoint into the profile once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let endpoint = keyway_emulator::testing::eventually("Chromium's DevTools port", || {
            let port_file = port_file.clone();
            async move {
                let text = std::fs::read_to_string(&port_file).ok()?;
                let mut lines = text.lines();
                let (port, path) = (lines.next()?, lines.next()?);
                Some(format!("ws://127.0.0.1:{port}{path}"))
            }
        })
        .await;
        let (socket, _) = tokio_tungstenite::connect_async(&endpoint)
            .await
            .expect("connect to Chromium's DevTools");
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let waiters: Waiters = Arc::default();
        let dispatch = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = value.get("id").and_then(Value::as_u64)
                    && let Some(waiter) = dispatch.lock().await.remove(&id)
                {
                    let _ = waiter.send(value);
                }
            }
        });
        let mut browser = Browser {
            _child: child,
            _profile: profile,
            outgoing,
            waiters,
            next_id: AtomicU64::new(1),
            session: String::new(),
        };
        let target = browser
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.call("Page.enable", json!({})).await;
        browser.resize(1280, 800).await;
        browser
    }

    /// Sends `method` (to the page once attached) and returns its result; a protocol error
    /// fails the test.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .await
            .unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// Sends `method`; `Err` is the protocol's error.
    pub async fn try_call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().await.insert(id, tx);
        self.outgoing
            .send(Message::Text(message.to_string().into()))
            .expect("the DevTools connection is open");
        let answer = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap_or_else(|_| panic!("{method}: no answer from Chromium"))
            .expect("the DevTools connection is open");
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    /// The viewport's size in CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    /// Opens `url` and waits until the new document has loaded.
    pub async fn open(&self, url: &str) {
        self.eval("window.__keyway_old = true").await;
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_for_new_document().await;
    }

    /// Waits until the document that replaced the current one (a navigation, a form's
    /// submission) has loaded.
    pub async fn wait_for_new_document(&self) {
        keyway_emulator::testing::eventually("the next page loaded", || async {
            // While the old document goes, the evaluation may fail: try again.
            let done = self
                .try_call(
                    "Runtime.evaluate",
                    json!({
                        "expression": "window.__keyway_old !== true && document.readyState === 'complete'",
                        "returnByValue": true
                    }),
                )
                .await
                .ok()?;
            (done["result"]["value"] == json!(true)).then_some(())
        })
        .await;
    }

    /// Runs `script` in the page (marking the current document, so a submission it starts
    /// can be waited for) and waits for the next page.
    pub async fn submit(&self, script: &str) {
        self.eval("window.__keyway_old = true").await;
        self.eval(script).await;
        self.wait_for_new_document().await;
    }

    /// Evaluates `expression` in the page; returns its value.
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// The page's text.
    pub async fn text(&self) -> String {
        self.eval("document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Sets the file input `selector` to `file` (as a user choosing it would).
    pub async fn choose_file(&self, selector: &str, file: &Path) {
        let document = self.call("DOM.getDocument", json!({})).await;
        let root = document["root"]["nodeId"].clone();
        let node = self
            .call(
                "DOM.querySelector",
                json!({ "nodeId": root, "selector": selector }),
            )
            .await;
        self.call(
            "DOM.setFileInputFiles",
            json!({ "files": [file.display().to_string()], "nodeId": node["nodeId"] }),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), uuid_like()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
