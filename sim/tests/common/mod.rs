//! What the command-line tests share: running `racksim` from the crate's folder, and a fresh
//! temporary folder per test.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `racksim` with `args` in `sim/`.
pub fn racksim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_racksim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("racksim runs")
}

/// An empty folder of its own for the test `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("racksim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}
