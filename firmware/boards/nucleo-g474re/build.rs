//! The images' memory.x (the active slot; `embassy-stm32`'s `memory-x` would give the whole
//! flash) and defmt's linker script.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::panic)]

#[path = "../memory_x.rs"]
mod memory_x;

fn main() {
    memory_x::install(true);
}
