//! Fuzzes a whole rack power controller node: frames, signed and not, through its host link,
//! with control steps between; see `node_harness.rs` for the script and invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rack_control::power::{PowerConfig, PowerController};
use rack_node::power::PowerApp;

#[path = "node_harness.rs"]
mod node_harness;

fuzz_target!(|data: &[u8]| {
    let app = PowerApp::new(PowerController::new(PowerConfig::default()));
    node_harness::run(node_harness::node(app), data, |node, now| {
        let mut inputs = rack_node::rack_bus::initial_inputs(80.0);
        inputs.ac_present = true;
        node.step(now, |app| app.step(now, &inputs));
    });
});
