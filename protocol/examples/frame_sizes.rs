//! Prints the wire size of a full coolant and a full power telemetry snapshot beside the bytes
//! a Modbus RTU master exchanges to read the same points.
//!
//! Run: `cargo run -p rack-protocol --example frame_sizes`
//!
//! The Modbus model, stated so the comparison can be checked:
//! - every point is read at the same resolution as in our message: one 16-bit register where
//!   the value fits 16 bits (temperatures in 0.01 degC, flow in 0.1 L/min, states as enums),
//!   two registers for 32-bit values (power in W, bit masks, the CDU's headroom), four for the
//!   64-bit uptime;
//! - a read is `Read Input Registers` (function 0x04): request = address 1 + function 1 +
//!   start 2 + count 2 + CRC 2 = 8 bytes; response = address 1 + function 1 + byte count 1 +
//!   2 per register + CRC 2; at most 125 registers per read (the Modbus limit);
//! - two layouts: **contiguous**, every point in one block (the best case a map can offer), and
//!   **per object**, one block per object as real CDU and ORV3 maps lay them out (the sensors,
//!   the status, each pump, each leak zone; each power shelf, tray and BBU; in ORV3 each PSU and
//!   BBU is even its own Modbus slave, which this model does not charge for).
#![allow(clippy::print_stdout, clippy::indexing_slicing, clippy::expect_used)]

#[allow(dead_code)] // the example uses the two snapshots only
#[path = "../tests/common/samples.rs"]
mod samples;

use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::Message;

const REQUEST_BYTES: usize = 8;
const RESPONSE_OVERHEAD_BYTES: usize = 5;
const MAX_REGISTERS_PER_READ: usize = 125;

/// Bytes exchanged to read blocks of registers, each block with as few reads as Modbus allows.
fn modbus_bytes(blocks: &[usize]) -> (usize, usize) {
    let mut bytes = 0;
    let mut reads = 0;
    for &registers in blocks {
        let mut left = registers;
        while left > 0 {
            let count = left.min(MAX_REGISTERS_PER_READ);
            bytes += REQUEST_BYTES + RESPONSE_OVERHEAD_BYTES + 2 * count;
            reads += 1;
            left -= count;
        }
    }
    (bytes, reads)
}

fn wire_len(message: &Message) -> usize {
    let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
    frame::encode(1, message, &mut wire).expect("snapshot fits a frame")
}

fn report(name: &str, message: &Message, per_object: &[usize]) {
    let framed = wire_len(message);
    let registers: usize = per_object.iter().sum();
    let (contiguous, contiguous_reads) = modbus_bytes(&[registers]);
    let (objects, object_reads) = modbus_bytes(per_object);
    println!("{name}: {registers} Modbus registers' worth of points");
    println!("  rack-protocol frame (COBS, header, CRC, delimiter): {framed:4} bytes");
    println!(
        "  Modbus RTU, one contiguous block ({contiguous_reads} read{}): {contiguous:4} bytes  -> ratio {:.2}",
        if contiguous_reads == 1 { "" } else { "s" },
        framed as f64 / contiguous as f64
    );
    println!(
        "  Modbus RTU, one block per object ({object_reads} reads):   {objects:4} bytes  -> ratio {:.2}",
        framed as f64 / objects as f64
    );
}

fn main() {
    let coolant = samples::coolant_telemetry();
    // sensors block: 3 supply + return + primary supply + primary return + flow + dP + valve +
    // reservoir + setpoint; status block: uptime 4, state, mode, pump control, lead pump,
    // isolated racks 2, sensor faults 2, headroom 2, active alarms; per pump: speed, state;
    // per leak zone: moisture, float.
    let mut coolant_blocks = vec![3 + 1 + 2 + 2 + 2 + 1, 4 + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 1];
    coolant_blocks.extend(std::iter::repeat_n(2, coolant.pumps.len()));
    coolant_blocks.extend(std::iter::repeat_n(2, coolant.leak_detectors.len() / 2));
    report(
        "coolant telemetry (3 supply sensors, 3 pumps, 9 leak zones)",
        &Message::CoolantTelemetry(coolant),
        &coolant_blocks,
    );

    let power = samples::power_telemetry();
    // status block: uptime 4, state, mode, input power 2, budget 2, bus voltage, AC present,
    // breaker, I2t, active alarms; per shelf: power 2 + 6 PSU states; per tray: power, cap,
    // state, hottest GPU; per BBU: state of charge, power 2, state.
    let mut power_blocks = vec![4 + 1 + 1 + 2 + 2 + 1 + 1 + 1 + 1 + 1];
    power_blocks.extend(std::iter::repeat_n(2 + 6, power.shelves.len()));
    power_blocks.extend(std::iter::repeat_n(4, power.trays.len()));
    power_blocks.extend(std::iter::repeat_n(4, power.bbus.len()));
    report(
        "power telemetry (8 shelves x 6 PSUs, 18 trays, 8 BBUs)",
        &Message::PowerTelemetry(power),
        &power_blocks,
    );
    println!("largest frame of protocol v1: {MAX_WIRE_FRAME_SIZE} bytes");
}
