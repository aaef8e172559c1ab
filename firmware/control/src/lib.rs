//! # rack-control
//!
//! The control laws, safety logic and state machines of rackloop's two controllers, as
//! deterministic `step(now, &inputs) -> outputs` functions: no I/O, no clock reads, no
//! allocation, no panics. This crate depends on nothing of ours.
//!
//! Empty for now: the coolant controller and the power controller land with their own issues.
//! It is built for `thumbv7em-none-eabihf` by `cargo xtask test` from the start, so that
//! nothing that needs `std` can creep in.
#![no_std]
