//! Puts the bootloader's memory.x where the linker (cortex-m-rt's link.x) finds it, for this
//! crate's binary only: the images that use this crate's flash driver have their own.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::expect_used)]
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    // A link argument for this package's binaries, not a search path that cargo would pass on
    // to the images that depend on the library.
    // Two arguments: flip-link reads `-L DIR` to find memory.x.
    println!("cargo:rustc-link-arg-bins=-L");
    println!("cargo:rustc-link-arg-bins={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
