//! # rack-tests
//!
//! End-to-end tests across rackloop's crates, in `tests/tests/`:
//!
//! - `rackctl_qemu`: `rackctl`, as a technician runs it, against the coolant controller's ARM
//!   image in QEMU, over the image's UART0 (bridged to a TCP port);
//! - `protocol_client`: a v1 protocol client (framing, sequence numbers, every request a device
//!   receives) against the coolant and power device nodes;
//! - `campus`: `racksim campus` as a process, with one and two threads: the summary and the
//!   CSV byte for byte the same.
//!
//! This library holds what they share: where the workspace's binaries are.

use std::path::PathBuf;
use std::process::Command;

/// The path of the workspace binary `name` of package `package`, built now if the test run has
/// not built it (a test of this crate alone does not build other packages' binaries).
pub fn binary(package: &str, name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .ok_or_else(|| format!("no target folder above {}", exe.display()))?;
    let path = profile_dir.join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--locked", "--package", package, "--bin", name])
            .status()
            .map_err(|e| format!("cannot start cargo to build {name}: {e}"))?;
        if !status.success() {
            return Err(format!("building {name} failed ({status})"));
        }
    }
    Ok(path)
}
