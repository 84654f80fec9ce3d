//! What the CLI's process tests share.
#![allow(dead_code)]

use std::process::Output;

/// Asserts that the `keyway` process behind `out` exited with `code`; when it did not, the
/// failure shows both of its streams.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
