//! `keyway secrets add NAME --from-stdin` typed on a terminal, through a pseudo-terminal that is
//! the process's controlling terminal (so Ctrl-C is a real SIGINT from the line discipline):
//! the value is asked for twice without echo, two different values or Ctrl-C write nothing, and
//! the terminal's settings are put back every time. The cluster is the stand-in, or
//! `KEYWAY_TEST_KUBECONFIG`'s, with the instance set up as keyway-stores' tests set it up.
//!
//! Where no pseudo-terminal (or util-linux `setsid --ctty`) can be had, the test says so on its
//! output and passes, unless `KEYWAY_REQUIRE_PTY=1`, where it fails.
#![cfg(unix)]

#[path = "../../keyway-stores/tests/support/mod.rs"]
mod stores;

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{LocalModes, tcgetattr};
use stores::{Env, env, eventually, set_count};

/// A pseudo-terminal: the master end read into a transcript by a thread, the slave end for the
/// child (and for reading its settings).
struct Pty {
    master: File,
    slave: OwnedFd,
    transcript: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn open() -> std::io::Result<Pty> {
        let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
        rustix::pty::grantpt(&master)?;
        rustix::pty::unlockpt(&master)?;
        let name = rustix::pty::ptsname(&master, Vec::new())?;
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let master = File::from(master);
        let transcript = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, into) = (master.try_clone()?, transcript.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            // Ends when the slave is closed (EIO) with the test's Pty.
            while let Ok(n @ 1..) = reader.read(&mut chunk) {
                into.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Ok(Pty {
            master,
            slave,
            transcript,
        })
    }

    fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.transcript.lock().unwrap()).into_owned()
    }

    /// Types `keys` as a user would.
    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    async fn wait_for(&self, text: &str) {
        eventually(&format!("{text:?} on the terminal"), || async {
            self.transcript().contains(text).then_some(())
        })
        .await;
        // Whatever the child wrote around it is in the transcript by now, too.
    }

    /// Whether the terminal echoes what is typed.
    fn echoes(&self) -> bool {
        tcgetattr(&self.slave)
            .unwrap()
            .local_modes
            .contains(LocalModes::ECHO)
    }
}

/// Why this machine cannot run the test, if it cannot.
fn no_pty_reason() -> Option<String> {
    if let Err(e) = Pty::open() {
        return Some(format!("no pseudo-terminal: {e}"));
    }
    match Command::new("setsid").arg("--help").output() {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("--ctty") => None,
        Ok(_) => Some("`setsid` has no --ctty option".into()),
        Err(e) => Some(format!("no `setsid` command: {e}")),
    }
}

/// The CLI's files and environment for `env`'s instance (keyway-stores' support).
struct Cli {
    dir: PathBuf,
    environment: Vec<(&'static str, std::ffi::OsString)>,
}

impl Cli {
    fn new(env: &Env, test: &str) -> Cli {
        let dir = std::env::temp_dir().join(format!("keyway-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let environment = stores::process_environment(env, &dir);
        Cli { dir, environment }
    }

    /// `keyway secrets add NAME --from-stdin ...` in a new session whose controlling terminal
    /// is `pty`, with all three streams on it.
    fn add(&self, env: &Env, pty: &Pty, name: &str, synced: &str) -> Child {
        let stream = || Stdio::from(pty.slave.try_clone().unwrap());
        Command::new("setsid")
            .args(["--ctty", "--wait", env!("CARGO_BIN_EXE_keyway")])
            .args(["secrets", "add", name, "--from-stdin"])
            .args(["--synced-name", synced, "--key", "value"])
            .args(["--namespace", env.cluster.namespace()])
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .stdin(stream())
            .stdout(stream())
            .stderr(stream())
            .spawn()
            .unwrap()
    }
}

async fn exited(mut child: Child) -> ExitStatus {
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_typed_on_a_terminal_is_asked_twice_without_echo() {
    if let Some(reason) = no_pty_reason() {
        if std::env::var("KEYWAY_REQUIRE_PTY").as_deref() == Ok("1") {
            panic!("KEYWAY_REQUIRE_PTY=1 and this machine cannot run the test: {reason}");
        }
        println!("SKIPPED (not tested here): {reason}; KEYWAY_REQUIRE_PTY=1 makes this fail");
        return;
    }
    let env = env("secrets-prompt").await;
    let cli = Cli::new(&env, "secrets-prompt");
    let value = "tr0ub4dor & 3 spaces ";

    // Typed twice, the same: stored as typed (without Enter's newline), never shown.
    let mut pty = Pty::open().unwrap();
    assert!(pty.echoes(), "a fresh terminal echoes");
    let child = cli.add(&env, &pty, "typed-password", "typed");
    pty.wait_for("Value for typed-password: ").await;
    assert!(!pty.echoes(), "echo is off while the value is typed");
    pty.type_keys(format!("{value}\r").as_bytes());
    pty.wait_for("Value for typed-password (again): ").await;
    assert!(!pty.echoes(), "echo is off while the value is typed again");
    pty.type_keys(format!("{value}\r").as_bytes());
    let status = exited(child).await;
    let transcript = pty.transcript();
    assert_eq!(status.code(), Some(0), "{transcript}");
    assert!(pty.echoes(), "echo is back after the prompt");
    assert!(
        !transcript.contains("tr0ub4dor"),
        "never echoed: {transcript}"
    );
    assert_eq!(
        env.vault.secret_value("typed-password").as_deref(),
        Some(value)
    );
    assert_eq!(set_count(&env), 1);

    // Two different values: exit 2, nothing written, echo back.
    let mut pty = Pty::open().unwrap();
    let child = cli.add(&env, &pty, "mistyped", "mistyped");
    pty.wait_for("Value for mistyped: ").await;
    pty.type_keys(b"first-try\r");
    pty.wait_for("Value for mistyped (again): ").await;
    pty.type_keys(b"frist-try\r");
    let status = exited(child).await;
    let transcript = pty.transcript();
    assert_eq!(status.code(), Some(2), "{transcript}");
    assert!(
        transcript.contains("the two values typed differ: nothing was written"),
        "{transcript}"
    );
    assert!(!transcript.contains("first-try") && !transcript.contains("frist-try"));
    assert!(pty.echoes(), "echo is back after a mismatch");
    assert_eq!(env.vault.secret_value("mistyped"), None);
    assert_eq!(set_count(&env), 1);

    // Ctrl-C at the second prompt, half a value typed: the terminal's SIGINT ends it (exit
    // 130), the settings are put back, nothing is written.
    let mut pty = Pty::open().unwrap();
    let child = cli.add(&env, &pty, "cancelled", "cancelled");
    pty.wait_for("Value for cancelled: ").await;
    pty.type_keys(b"half-typed\r");
    pty.wait_for("Value for cancelled (again): ").await;
    pty.type_keys(b"half\x03");
    let status = exited(child).await;
    let transcript = pty.transcript();
    assert_eq!(status.code(), Some(130), "{status:?}: {transcript}");
    assert!(transcript.contains("interrupted"), "{transcript}");
    assert!(!transcript.contains("half"), "{transcript}");
    assert!(pty.echoes(), "echo is back after Ctrl-C");
    assert_eq!(env.vault.secret_value("cancelled"), None);
    assert_eq!(set_count(&env), 1);

    // 5,000 characters typed: the terminal's line keeps 4,095 of them (both times alike), so
    // a line that long is refused rather than stored cut: exit 2, nothing written.
    let long = "x".repeat(5000);
    let mut pty = Pty::open().unwrap();
    let mut child = cli.add(&env, &pty, "too-long", "too-long");
    pty.wait_for("Value for too-long: ").await;
    pty.type_keys(format!("{long}\r").as_bytes());
    let asked_again = eventually("a second prompt or the end", || {
        let seen = if pty.transcript().contains("Value for too-long (again): ") {
            Some(true)
        } else {
            child.try_wait().unwrap().map(|_| false)
        };
        async move { seen }
    })
    .await;
    if asked_again {
        pty.type_keys(format!("{long}\r").as_bytes());
    }
    let status = exited(child).await;
    let transcript = pty.transcript();
    assert_eq!(status.code(), Some(2), "{transcript}");
    assert!(
        transcript.contains("may have been cut by the terminal's line limit")
            && transcript.contains("--from-file"),
        "{transcript}"
    );
    assert!(!transcript.contains("xxxx"), "never echoed: {transcript}");
    assert!(pty.echoes(), "echo is back after a value too long");
    assert_eq!(env.vault.secret_value("too-long"), None);
    assert_eq!(set_count(&env), 1);

    let _ = std::fs::remove_dir_all(&cli.dir);
    env.cluster.cleanup().await;
}
