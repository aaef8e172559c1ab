//! The bootloader's memory.x, for this crate's binary only: the images that use this crate's
//! flash driver have their own.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::panic)]

#[path = "../memory_x.rs"]
mod memory_x;

fn main() {
    memory_x::install(false);
}
