//! A rack's power controller node on QEMU: host protocol on UART0, plant I/O on UART1.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use qemu_mps2_an386::{exit, run};
use rack_control::Instant;
use rack_control::power::{PowerConfig, PowerController};
use rack_node::plant_io::power;
use rack_node::power::PowerApp;
use rack_node::{Node, NodeConfig};
use rack_protocol::decoder::FrameDecoder;

#[entry]
fn main() -> ! {
    // In .bss, so the image's static RAM shows what a node needs.
    let Some(node) = cortex_m::singleton!(: Node<PowerApp> = Node::new(
        PowerApp::new(PowerController::new(PowerConfig::default())),
        NodeConfig { serial: "RACK-QEMU-0", ..NodeConfig::default() },
        Instant(0),
    )) else {
        exit(false)
    };
    let Some(decoder) = cortex_m::singleton!(: FrameDecoder = FrameDecoder::new()) else {
        exit(false)
    };
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
