//! The images' memory.x (the active slot; `embassy-stm32`'s `memory-x` would give the whole
//! flash) where the linker (cortex-m-rt's link.x) finds it, and defmt's linker script.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::expect_used)]
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    // Two arguments: flip-link reads `-L DIR` to find memory.x.
    println!("cargo:rustc-link-arg-bins=-L");
    println!("cargo:rustc-link-arg-bins={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=memory.x");
}
