//! Fuzzes a whole coolant controller node (CDU): frames, signed and not, through its host
//! link, with control steps between; see `node_harness.rs` for the script and invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rack_control::coolant::{CoolantConfig, CoolantController, CoolantInputs};
use rack_node::coolant::CoolantApp;

#[path = "node_harness.rs"]
mod node_harness;

fuzz_target!(|data: &[u8]| {
    let app = CoolantApp::new(CoolantController::new(CoolantConfig::default()));
    node_harness::run(node_harness::node(app), data, |node, now| {
        let inputs = CoolantInputs::uniform(now, 30.0);
        node.step(now, |app| app.step(now, &inputs));
    });
});
