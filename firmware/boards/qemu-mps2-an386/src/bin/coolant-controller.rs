//! The coolant controller (CDU) node on QEMU: host protocol on UART0, plant I/O on UART1.
//! Its clock is the simulator's: each plant sample carries the time of the step it asks for.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use qemu_mps2_an386::{exit, run};
use rack_control::Instant;
use rack_control::coolant::{CoolantConfig, CoolantController};
use rack_node::coolant::CoolantApp;
use rack_node::plant_io::{coolant_command, coolant_inputs};
use rack_node::{Node, NodeConfig};
use rack_protocol::decoder::FrameDecoder;

#[entry]
fn main() -> ! {
    // In .bss, so the image's static RAM shows what a node needs.
    let Some(node) = cortex_m::singleton!(: Node<CoolantApp> = Node::new(
        CoolantApp::new(CoolantController::new(CoolantConfig::default())),
        NodeConfig { serial: "CDU-QEMU-0", ..NodeConfig::default() },
        Instant(0),
    )) else {
        exit(false)
    };
    let Some(decoder) = cortex_m::singleton!(: FrameDecoder = FrameDecoder::new()) else {
        exit(false)
    };
    node.keys_mut().install_build_keys();
    run("coolant-controller", node, decoder, |node, sample| {
        let (now, inputs) = coolant_inputs(sample);
        node.step(now, |app| app.step(now, &inputs));
        (
            now,
            coolant_command(
                sample.sim_time_us,
                node.app.controller.outputs(),
                node.heartbeat(),
            ),
        )
    })
}
