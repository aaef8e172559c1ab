//! The part of the boards' build scripts they share (each takes it in with `#[path]`): the
//! crate's `memory.x` put where the linker (cortex-m-rt's `link.x`) finds it, for the crate's
//! binaries only (a board's bootloader library is also a dependency of its images, which have
//! their own `memory.x`).

use std::path::PathBuf;

/// Copies `memory.x` into `OUT_DIR` and points the binaries' link at it; with `defmt`, links
/// defmt's script too. A build script reports failure by panicking.
pub fn install(defmt: bool) {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("cargo sets OUT_DIR for a build script")
    };
    if let Err(e) = std::fs::copy("memory.x", out.join("memory.x")) {
        panic!("copy memory.x: {e}");
    }
    // Two arguments: flip-link reads `-L DIR` to find memory.x.
    println!("cargo:rustc-link-arg-bins=-L");
    println!("cargo:rustc-link-arg-bins={}", out.display());
    if defmt {
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed=memory.x");
}
