//! The coolant controller (CDU) node on QEMU: host protocol on UART0, plant I/O on UART1.
//! Its clock is the simulator's: each plant sample carries the time of the step it asks for.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use qemu_mps2_an386::{Uart, exit, idle, start_tick};
use rack_control::Instant;
use rack_control::coolant::{CoolantConfig, CoolantController};
use rack_node::coolant::CoolantApp;
use rack_node::plant_io::{coolant_command, coolant_inputs, is_end_of_run};
use rack_node::{Node, NodeConfig};
use rack_protocol::Message;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};

#[entry]
fn main() -> ! {
    let host = Uart::HOST;
    let plant = Uart::PLANT;
    host.init();
    plant.init();
    cortex_m_semihosting::hprintln!("coolant-controller: up");
    start_tick(50);

    // In .bss, so the image's static RAM shows what a node needs.
    let Some(node) = cortex_m::singleton!(: Node<CoolantApp> = Node::new(
        CoolantApp::new(CoolantController::new(CoolantConfig::default())),
        NodeConfig { serial: "CDU-QEMU-0", ..NodeConfig::default() },
        Instant(0),
    )) else {
        exit(false)
    };
    let Some(plant_decoder) = cortex_m::singleton!(: FrameDecoder = FrameDecoder::new()) else {
        exit(false)
    };
    let mut now = Instant(0);
    let mut host_bytes = [0u8; 64];
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    loop {
        let mut n = 0;
        while let (Some(slot), Some(b)) = (host_bytes.get_mut(n), host.read()) {
            *slot = b;
            n += 1;
        }
        if let Some(bytes) = host_bytes.get(..n)
            && n > 0
        {
            node.on_bytes(now, bytes, &mut |f| host.write_all(f));
        }
        let mut busy = n > 0;
        while let Some(b) = plant.read() {
            busy = true;
            let Some(Ok(request)) = plant_decoder.push(b) else {
                continue;
            };
            let Message::PlantSample(sample) = request.message else {
                continue;
            };
            let (t, inputs) = coolant_inputs(&sample);
            now = t;
            node.step(now, |app| app.step(now, &inputs));
            let command = Message::ActuatorCommand(coolant_command(
                sample.sim_time_us,
                node.app.controller.outputs(),
            ));
            if let Ok(len) = frame::encode(request.seq, &command, &mut wire)
                && let Some(bytes) = wire.get(..len)
            {
                plant.write_all(bytes);
            }
            node.poll(now, &mut |f| host.write_all(f));
            if is_end_of_run(&sample) {
                cortex_m_semihosting::hprintln!(
                    "coolant-controller: end of run at {} ms",
                    now.as_millis()
                );
                exit(true);
            }
        }
        if !busy {
            idle();
        }
    }
}
