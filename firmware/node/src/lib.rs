//! # rack-node
//!
//! A controller as an application: the protocol endpoint, telemetry subscription, alarms, the
//! event log, persistent-config hooks and the watchdog health signal, without I/O, so that the
//! boards and the simulator run the same code.
//!
//! Empty for now: it lands with the firmware images issue. It is built for
//! `thumbv7em-none-eabihf` by `cargo xtask test` from the start.
#![no_std]
