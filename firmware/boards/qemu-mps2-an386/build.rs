//! Puts memory.x where the linker (cortex-m-rt's link.x) finds it.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::expect_used)]
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
