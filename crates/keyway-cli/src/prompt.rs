//! A secret value typed on the terminal, as `read -s` reads it: echo off while it is typed,
//! asked twice, and the terminal's settings put back on every way out — the value read, an
//! error, or a signal (Ctrl-C, Ctrl-\, a hang-up, `kill`), after which the process ends with
//! 128 + the signal's number. After Ctrl-Z and `fg`, echo is turned off again. The value is
//! never echoed nor printed.
//!
//! The terminal is driven through rustix's safe termios calls (the workspace forbids `unsafe`)
//! and the signals through tokio's, which stay installed for the life of the process: the
//! watcher therefore keeps ending the process on them after the prompt too, as their default
//! action would.

use std::io::{Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::Signal;
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};
use tokio::signal::unix::{SignalKind, signal};
use zeroize::Zeroizing;

use crate::error::CliError;

/// A terminal's line holds 4,095 bytes on Linux (canonical mode): what is typed past them is
/// dropped without a word, the same way for both entries, so a line this long may have been cut
/// and is refused. Longer values come from a file or a pipe.
const TERMINAL_LINE: usize = 4095;

/// Asks for `name`'s value twice on the terminal that is standard input, without echo, and
/// returns it without the newline of Enter. The prompts go to standard error. An empty value,
/// the end of input (Ctrl-D) or two different values are input errors (exit 2).
pub async fn read_value_twice(name: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let saved = tcgetattr(std::io::stdin()).map_err(|e| CliError::io("<stdin>", e.into()))?;
    let mut echo_off = saved.clone();
    echo_off
        .local_modes
        .remove(LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK | LocalModes::ECHONL);
    let armed = Arc::new(AtomicBool::new(false));
    // The watcher is in place before echo goes off: no moment without it.
    watch_signals(saved.clone(), echo_off.clone(), armed.clone())?;
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let hidden = Hidden {
            saved,
            echo_off,
            armed,
        };
        let first = hidden.read(&format!("Value for {name}: "))?;
        if first.is_empty() {
            return Err(CliError::Input(
                "no value typed (an empty line): nothing was written".into(),
            ));
        }
        let again = hidden.read(&format!("Value for {name} (again): "))?;
        if *first != *again {
            return Err(CliError::Input(
                "the two values typed differ: nothing was written; type the same value twice"
                    .into(),
            ));
        }
        Ok(first)
    })
    .await
    .map_err(|e| CliError::io("<stdin>", std::io::Error::other(e.to_string())))?
}

/// The terminal's settings as found and with echo off.
struct Hidden {
    saved: Termios,
    echo_off: Termios,
    armed: Arc<AtomicBool>,
}

impl Hidden {
    /// Shows `prompt` on standard error and reads one line with echo off; the settings are put
    /// back before it returns, whatever it returns.
    fn read(&self, prompt: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
        let stdin = std::io::stdin();
        // Read straight from the descriptor: std's buffered stdin would keep a copy.
        let mut terminal = std::fs::File::from(
            stdin
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| CliError::io("<stdin>", e))?,
        );
        let _restore = Restore(self);
        self.armed.store(true, Ordering::SeqCst);
        // Flush: what was typed ahead (and so shown) is not taken as the value, as getpass does.
        tcsetattr(&stdin, OptionalActions::Flush, &self.echo_off)
            .map_err(|e| CliError::io("<stdin>", e.into()))?;
        let mut stderr = std::io::stderr();
        let _ = stderr.write_all(prompt.as_bytes());
        let _ = stderr.flush();
        read_line(&mut terminal)
    }
}

/// Puts the terminal's settings back on drop, and ends the prompt's line (Enter was not echoed).
struct Restore<'a>(&'a Hidden);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.0.saved);
        self.0.armed.store(false, Ordering::SeqCst);
        let _ = std::io::stderr().write_all(b"\n");
    }
}

/// One line (without its newline), read into a buffer that never grows (no stray copies).
fn read_line(terminal: &mut std::fs::File) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut line = Zeroizing::new(Vec::with_capacity(TERMINAL_LINE + 1024));
    let mut chunk = Zeroizing::new([0u8; 1024]);
    loop {
        let n = match terminal.read(&mut chunk[..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::io("<stdin>", e)),
        };
        if n == 0 {
            return Err(CliError::Input(
                "the input ended (Ctrl-D) before Enter: nothing was written".into(),
            ));
        }
        let part = &chunk[..n];
        let end = part.iter().position(|b| *b == b'\n');
        let part = &part[..end.unwrap_or(n)];
        if line.len() + part.len() >= TERMINAL_LINE {
            return Err(CliError::Input(format!(
                "the value typed is {TERMINAL_LINE} bytes or more, so it may have been cut by \
                 the terminal's line limit ({TERMINAL_LINE} bytes): nothing was written; pipe it \
                 to --from-stdin (e.g. `keyway secrets add NAME --from-stdin < value.txt`) or \
                 use --from-file"
            )));
        }
        line.extend_from_slice(part);
        if end.is_some() {
            return Ok(line);
        }
    }
}

/// From now on, SIGINT, SIGTERM, SIGHUP and SIGQUIT put the terminal back (while a prompt is
/// open) and end the process with 128 + the signal's number; SIGCONT turns echo off again
/// while a prompt is open (the shell sets its own modes while a job is stopped).
fn watch_signals(
    saved: Termios,
    echo_off: Termios,
    armed: Arc<AtomicBool>,
) -> Result<(), CliError> {
    let listen = |signal_: Signal| {
        signal(SignalKind::from_raw(signal_.as_raw()))
            .map_err(|e| CliError::io("signal handler", e))
    };
    let mut interrupt = listen(Signal::INT)?;
    let mut terminate = listen(Signal::TERM)?;
    let mut hangup = listen(Signal::HUP)?;
    let mut quit = listen(Signal::QUIT)?;
    let mut resumed = listen(Signal::CONT)?;
    tokio::spawn(async move {
        let ended_by = loop {
            tokio::select! {
                _ = interrupt.recv() => break Signal::INT,
                _ = terminate.recv() => break Signal::TERM,
                _ = hangup.recv() => break Signal::HUP,
                _ = quit.recv() => break Signal::QUIT,
                _ = resumed.recv() => {
                    if armed.load(Ordering::SeqCst) {
                        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &echo_off);
                    }
                }
            }
        };
        if armed.load(Ordering::SeqCst) {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &saved);
        }
        let _ = std::io::stderr().write_all(b"\ninterrupted\n");
        std::process::exit(128 + ended_by.as_raw());
    });
    Ok(())
}
