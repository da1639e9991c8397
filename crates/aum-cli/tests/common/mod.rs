//! What the CLI's test binaries share: running the built `aum` and reading its output.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::Command;

/// The `aum` binary of this build.
pub fn aum() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aum"))
}

/// Runs `cmd`, asserts that it succeeded (showing its stderr if not) and returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
