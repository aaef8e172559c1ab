//! The bootloader's memory.x (the flash's first 32 KiB, the RAM's top) and defmt's linker
//! script, for this crate's binary only: the images that use its library have their own.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::panic)]

#[path = "../memory_x.rs"]
mod memory_x;

fn main() {
    memory_x::install(true);
}
