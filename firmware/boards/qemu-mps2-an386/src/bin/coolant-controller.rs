//! The coolant controller (CDU) node on QEMU: host protocol on UART0, plant I/O on UART1.
//! Its clock is the simulator's: each plant sample carries the time of the step it asks for.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use qemu_mps2_an386::run;
use rack_control::Instant;
use rack_control::coolant::{CoolantConfig, CoolantController};
use rack_node::coolant::CoolantApp;
use rack_node::plant_io::{coolant_command, coolant_inputs};
use rack_node::{Node, NodeConfig};
use rack_protocol::decoder::FrameDecoder;
use static_cell::StaticCell;

#[entry]
fn main() -> ! {
    // In .bss, so the image's static RAM shows what a node needs; built in place (a node
    // built on the stack and moved would cost its size in stack, twice).
    static NODE: StaticCell<Node<CoolantApp>> = StaticCell::new();
    static DECODER: StaticCell<FrameDecoder> = StaticCell::new();
    let node = NODE.init_with(|| {
        Node::new(
            CoolantApp::new(CoolantController::new(CoolantConfig::default())),
            NodeConfig {
                serial: "CDU-QEMU-0",
                ..NodeConfig::default()
            },
            Instant(0),
        )
    });
    let decoder = DECODER.init_with(FrameDecoder::new);
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
