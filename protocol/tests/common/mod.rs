//! Shared by the protocol's integration tests.
#![allow(dead_code)] // each test binary uses part of it

pub mod samples;
pub mod strategies;
