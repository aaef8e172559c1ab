//! A rack's power controller node on QEMU: host protocol on UART0, plant I/O on UART1.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use qemu_mps2_an386::run;
use rack_control::Instant;
use rack_control::power::{PowerConfig, PowerController};
use rack_node::plant_io::power;
use rack_node::power::PowerApp;
use rack_node::{Node, NodeConfig};
use rack_protocol::decoder::FrameDecoder;
use static_cell::StaticCell;

#[entry]
fn main() -> ! {
    // In .bss, so the image's static RAM shows what a node needs; built in place (a node
    // built on the stack and moved would cost its size in stack, twice).
    static NODE: StaticCell<Node<PowerApp>> = StaticCell::new();
    static DECODER: StaticCell<FrameDecoder> = StaticCell::new();
    let node = NODE.init_with(|| {
        Node::new(
            PowerApp::new(PowerController::new(PowerConfig::default())),
            NodeConfig {
                serial: "RACK-QEMU-0",
                ..NodeConfig::default()
            },
            Instant(0),
        )
    });
    let decoder = DECODER.init_with(FrameDecoder::new);
    node.keys_mut().install_build_keys();
    run("power-controller", node, decoder, |node, sample| {
        let (now, inputs) = power::inputs(sample);
        node.step(now, |app| app.step(now, &inputs));
        (
            now,
            power::command(sample.sim_time_us, node.app.controller.outputs()),
        )
    })
}
