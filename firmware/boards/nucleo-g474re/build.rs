//! defmt's linker script for the binaries (embassy-stm32's `memory-x` feature provides
//! `memory.x`, cortex-m-rt `link.x`).
fn main() {
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
