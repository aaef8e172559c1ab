//! Plant I/O for processor-in-the-loop runs: how a coolant controller's inputs travel in a
//! [`PlantSample`] and its outputs in an [`ActuatorCommand`]. The simulator and the QEMU board
//! both use these functions, so the channel map exists once.
//!
//! Sample channels (analog, `f32`, engineering units):
//!
//! | channels | meaning |
//! |---|---|
//! | 0..3 | secondary supply temperatures, degC |
//! | 3, 4, 5 | secondary return, primary supply, primary return, degC |
//! | 6, 7, 8, 9 | flow L/min, differential pressure kPa, valve feedback %, reservoir level % |
//! | 10..13 | pump tachs, rpm |
//! | 13..23 | age of readings 0..10 (the ten sensors above), ms |
//! | 23 + 3r, +1, +2 | rack r's report: input power W, hottest GPU degC, age ms (negative: none ever received) |
//!
//! Racks after the last one that ever reported are left out (a row of 8 racks sends 47
//! channels, not 71): every byte crosses QEMU's UART one at a time, so the sample is kept short.
//!
//! Digital inputs: bits 0..17 moisture detectors (zones), 17..34 float switches, 34 reservoir
//! level switch, 35..38 pump over-current, 127 end of run.
//!
//! Command channels: analog 0 valve demand %, 1..4 pump speeds %, 4 thermal headroom W;
//! digital bits 0..16 rack valves open, 16..32 isolation requests, 32 the heartbeat that holds
//! the fail-safe relay (it toggles once per healthy step).
//!
//! Times are the simulator's: `sim_time_us` is the firmware's clock. Ages are whole
//! milliseconds carried exactly in `f32` (exact up to 4.6 h), so a stale reading is stale on
//! the board too.

use rack_control::Instant;
use rack_control::coolant::{
    CoolantInputs, CoolantOutputs, MAX_PUMPS, MAX_RACKS, MAX_SUPPLY_SENSORS, MAX_ZONES, RackReport,
};
use rack_control::sensor::Reading;
use rack_protocol::message::{ActuatorCommand, PlantSample};

/// Digital bit that ends a processor-in-the-loop run.
pub const END_OF_RUN_BIT: u32 = 127;
/// Digital bit that makes the QEMU image fault (an undefined instruction) on this sample: the
/// test of its fault handler and of the fault record it keeps for the next boot.
pub const FAULT_INJECTION_BIT: u32 = 126;

/// Whether a sample asks the QEMU image to fault (tests only).
pub fn injects_fault(sample: &PlantSample) -> bool {
    sample.digital >> FAULT_INJECTION_BIT & 1 == 1
}
const RESERVOIR_BIT: u32 = 34;
const OVERCURRENT_BIT: u32 = 35;
const FLOAT_BIT: u32 = 17;
const HEARTBEAT_BIT: u32 = 32;
const READINGS: usize = 10;
const READING_AGE: usize = 13;
const REPORTS: usize = READING_AGE + READINGS;

fn millis_of(sim_time_us: u64) -> Instant {
    Instant(sim_time_us / 1000)
}

fn age_ms(now: Instant, at: Instant) -> f32 {
    #[allow(clippy::cast_precision_loss)] // ages are far below 2^24 ms
    let age = now.as_millis().saturating_sub(at.as_millis()) as f32;
    age
}

fn readings(inputs: &CoolantInputs) -> [Reading; READINGS] {
    let s = inputs.supply_temps_c;
    [
        s[0],
        s[1],
        s[2],
        inputs.return_temp_c,
        inputs.primary_supply_temp_c,
        inputs.primary_return_temp_c,
        inputs.flow_lpm,
        inputs.dp_kpa,
        inputs.valve_feedback_pct,
        Reading {
            value: inputs.reservoir_level_pct,
            at: inputs.flow_lpm.at,
        },
    ]
}

/// The sample the simulator sends for `inputs` at `sim_time_us`.
pub fn coolant_sample(sim_time_us: u64, inputs: &CoolantInputs, end: bool) -> PlantSample {
    let now = millis_of(sim_time_us);
    let mut analog = heapless::Vec::new();
    let r = readings(inputs);
    for x in &r {
        let _ = analog.push(x.value);
    }
    for t in &inputs.pump_tach_rpm {
        let _ = analog.push(*t);
    }
    for x in &r {
        let _ = analog.push(age_ms(now, x.at));
    }
    let reporting = inputs
        .rack_reports
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |last| last + 1);
    for report in inputs.rack_reports.iter().take(reporting) {
        let _ = analog.push(report.map_or(0.0, |x| x.input_power_w));
        let _ = analog.push(report.map_or(0.0, |x| x.hottest_gpu_c));
        let _ = analog.push(report.map_or(-1.0, |x| age_ms(now, x.at)));
    }
    let mut digital = 0u128;
    for (z, (wet, float)) in inputs
        .leak_moisture
        .iter()
        .zip(&inputs.leak_float)
        .enumerate()
    {
        digital |= u128::from(*wet) << z;
        digital |= u128::from(*float) << (FLOAT_BIT as usize + z);
    }
    digital |= u128::from(inputs.reservoir_level_ok) << RESERVOIR_BIT;
    for (p, oc) in inputs.pump_overcurrent.iter().enumerate() {
        digital |= u128::from(*oc) << (OVERCURRENT_BIT as usize + p);
    }
    digital |= u128::from(end) << END_OF_RUN_BIT;
    PlantSample {
        sim_time_us,
        analog,
        digital,
    }
}

/// The controller's time and inputs from a sample (board side). Missing channels read as
/// out of range, so a short sample fails validation instead of looking healthy.
pub fn coolant_inputs(sample: &PlantSample) -> (Instant, CoolantInputs) {
    let now = millis_of(sample.sim_time_us);
    let a = |i: usize| sample.analog.get(i).copied().unwrap_or(f32::NAN);
    let at = |i: usize| {
        let age = a(READING_AGE + i);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole, non-negative ms
        let age_ms = if age.is_finite() && age >= 0.0 {
            age as u64
        } else {
            0
        };
        Instant(now.as_millis().saturating_sub(age_ms))
    };
    let reading = |i: usize| Reading {
        value: a(i),
        at: at(i),
    };
    let bit = |b: u32| sample.digital >> b & 1 == 1;
    let mut inputs = CoolantInputs::uniform(now, f32::NAN);
    for (i, slot) in inputs
        .supply_temps_c
        .iter_mut()
        .enumerate()
        .take(MAX_SUPPLY_SENSORS)
    {
        *slot = reading(i);
    }
    inputs.return_temp_c = reading(3);
    inputs.primary_supply_temp_c = reading(4);
    inputs.primary_return_temp_c = reading(5);
    inputs.flow_lpm = reading(6);
    inputs.dp_kpa = reading(7);
    inputs.valve_feedback_pct = reading(8);
    inputs.reservoir_level_pct = a(9);
    for (p, tach) in inputs.pump_tach_rpm.iter_mut().enumerate() {
        *tach = a(10 + p);
    }
    for (r, report) in inputs.rack_reports.iter_mut().enumerate() {
        let base = REPORTS + 3 * r;
        // A rack left out of the sample (NaN) never reported, as one with a negative age.
        let age = a(base + 2);
        *report = (age >= 0.0).then(|| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            // whole, non-negative ms
            let age_ms = age as u64;
            RackReport {
                input_power_w: a(base),
                hottest_gpu_c: a(base + 1),
                at: Instant(now.as_millis().saturating_sub(age_ms)),
            }
        });
    }
    for z in 0..MAX_ZONES {
        #[allow(clippy::cast_possible_truncation)] // z < 17
        let z32 = z as u32;
        if let Some(slot) = inputs.leak_moisture.get_mut(z) {
            *slot = bit(z32);
        }
        if let Some(slot) = inputs.leak_float.get_mut(z) {
            *slot = bit(FLOAT_BIT + z32);
        }
    }
    inputs.reservoir_level_ok = bit(RESERVOIR_BIT);
    for (p, oc) in inputs.pump_overcurrent.iter_mut().enumerate() {
        #[allow(clippy::cast_possible_truncation)] // p < 3
        {
            *oc = bit(OVERCURRENT_BIT + p as u32);
        }
    }
    (now, inputs)
}

/// Whether a sample ends the run.
pub fn is_end_of_run(sample: &PlantSample) -> bool {
    sample.digital >> END_OF_RUN_BIT & 1 == 1
}

/// The command the board sends for `outputs` and its `heartbeat` level (answering the sample
/// of `sim_time_us`).
pub fn coolant_command(
    sim_time_us: u64,
    outputs: &CoolantOutputs,
    heartbeat: bool,
) -> ActuatorCommand {
    let mut analog = heapless::Vec::new();
    let _ = analog.push(outputs.valve_demand_pct);
    for s in &outputs.pump_speed_pct {
        let _ = analog.push(*s);
    }
    let _ = analog.push(outputs.headroom_w);
    let mut digital = 0u64;
    for (r, open) in outputs.rack_valve_open.iter().enumerate() {
        digital |= u64::from(*open) << r;
    }
    digital |= u64::from(outputs.isolation_requests) << 16;
    digital |= u64::from(heartbeat) << HEARTBEAT_BIT;
    ActuatorCommand {
        sim_time_us,
        analog,
        digital,
    }
}

/// What a command asks of the plant (simulator side).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolantCommand {
    /// Valve demand, %.
    pub valve_demand_pct: f32,
    /// Pump speeds, %.
    pub pump_speed_pct: [f32; MAX_PUMPS],
    /// Thermal headroom, W.
    pub headroom_w: f32,
    /// Rack valves open.
    pub rack_valve_open: [bool; MAX_RACKS],
    /// Isolation requests, bit n = rack n.
    pub isolation_requests: u16,
    /// The heartbeat's level.
    pub heartbeat: bool,
}

/// Decodes a command (simulator side).
pub fn coolant_command_of(cmd: &ActuatorCommand) -> CoolantCommand {
    let a = |i: usize| cmd.analog.get(i).copied().unwrap_or(0.0);
    let mut out = CoolantCommand {
        valve_demand_pct: a(0),
        pump_speed_pct: [0.0; MAX_PUMPS],
        headroom_w: a(1 + MAX_PUMPS),
        rack_valve_open: [true; MAX_RACKS],
        #[allow(clippy::cast_possible_truncation)] // 16 bits by construction
        isolation_requests: (cmd.digital >> 16) as u16,
        heartbeat: cmd.digital >> HEARTBEAT_BIT & 1 == 1,
    };
    for (p, s) in out.pump_speed_pct.iter_mut().enumerate() {
        *s = a(1 + p);
    }
    for (r, open) in out.rack_valve_open.iter_mut().enumerate() {
        *open = cmd.digital >> r & 1 == 1;
    }
    out
}

/// The same decoded view of the host build's outputs and heartbeat, to compare bit for bit.
pub fn coolant_command_from_outputs(outputs: &CoolantOutputs, heartbeat: bool) -> CoolantCommand {
    coolant_command_of(&coolant_command(0, outputs, heartbeat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_survive_the_sample_exactly() {
        let now = Instant(123_456);
        let mut inputs = CoolantInputs::uniform(now, 30.125);
        inputs.flow_lpm = Reading {
            value: 1_301.5,
            at: Instant(122_000),
        }; // stale by 1.456 s
        inputs.leak_float[3] = true;
        inputs.pump_overcurrent[1] = true;
        inputs.reservoir_level_ok = false;
        inputs.rack_reports[2] = Some(RackReport {
            input_power_w: 118_400.0,
            hottest_gpu_c: 71.5,
            at: Instant(123_356),
        });
        let sample = coolant_sample(123_456_000, &inputs, false);
        let (t, back) = coolant_inputs(&sample);
        assert_eq!(t, now);
        assert_eq!(back.flow_lpm, inputs.flow_lpm);
        assert_eq!(back.supply_temps_c, inputs.supply_temps_c);
        assert_eq!(back.leak_float, inputs.leak_float);
        assert_eq!(back.pump_overcurrent, inputs.pump_overcurrent);
        assert_eq!(back.reservoir_level_ok, inputs.reservoir_level_ok);
        assert_eq!(back.rack_reports, inputs.rack_reports);
        assert!(!is_end_of_run(&sample));
        assert!(is_end_of_run(&coolant_sample(0, &inputs, true)));
    }
}

/// Power controller sample channels (analog): 0 input power W, 1 feed current A, 2 BBU state of
/// charge (0..=1), 3 CDU headroom W, 4 headroom age ms (negative: none), then per tray
/// (18 each) demand W, power W, hottest GPU degC. Digital: bit 0 AC present, 1 isolation
/// requested, 2..50 PSU present (shelf x 6 + PSU), 50..98 PSU fault, 127 end of run.
pub mod power {
    use rack_control::Instant;
    use rack_control::power::{PSUS_PER_SHELF, PowerInputs, PowerOutputs, SHELVES, TRAYS};
    use rack_protocol::message::{ActuatorCommand, PlantSample};

    use super::{END_OF_RUN_BIT, age_ms, millis_of};

    const PSU_PRESENT_BIT: usize = 2;
    const PSU_FAULT_BIT: usize = PSU_PRESENT_BIT + SHELVES * PSUS_PER_SHELF;

    /// The sample the simulator sends for `inputs` at `sim_time_us`.
    pub fn sample(sim_time_us: u64, inputs: &PowerInputs, end: bool) -> PlantSample {
        let now = millis_of(sim_time_us);
        let mut analog = heapless::Vec::new();
        let (headroom, age) = inputs
            .headroom
            .map_or((0.0, -1.0), |(h, at)| (h, age_ms(now, at)));
        for v in [
            inputs.input_power_w,
            inputs.feed_current_a,
            inputs.bbu_soc,
            headroom,
            age,
        ] {
            let _ = analog.push(v);
        }
        for series in [
            &inputs.tray_demand_w,
            &inputs.tray_power_w,
            &inputs.tray_hottest_gpu_c,
        ] {
            for v in series {
                let _ = analog.push(*v);
            }
        }
        let mut digital =
            u128::from(inputs.ac_present) | u128::from(inputs.isolation_requested) << 1;
        for (i, (present, fault)) in inputs
            .psu_present
            .iter()
            .flatten()
            .zip(inputs.psu_fault.iter().flatten())
            .enumerate()
        {
            digital |= u128::from(*present) << (PSU_PRESENT_BIT + i);
            digital |= u128::from(*fault) << (PSU_FAULT_BIT + i);
        }
        digital |= u128::from(end) << END_OF_RUN_BIT;
        PlantSample {
            sim_time_us,
            analog,
            digital,
        }
    }

    /// The controller's time and inputs from a sample (board side).
    pub fn inputs(sample: &PlantSample) -> (Instant, PowerInputs) {
        let now = millis_of(sample.sim_time_us);
        let a = |i: usize| sample.analog.get(i).copied().unwrap_or(f32::NAN);
        let bit = |b: usize| sample.digital >> b & 1 == 1;
        let age = a(4);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole, non-negative ms
        let headroom =
            (age >= 0.0).then(|| (a(3), Instant(now.as_millis().saturating_sub(age as u64))));
        let mut inputs = PowerInputs {
            ac_present: bit(0),
            input_power_w: a(0),
            feed_current_a: a(1),
            psu_present: [[false; PSUS_PER_SHELF]; SHELVES],
            psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
            tray_demand_w: [0.0; TRAYS],
            tray_power_w: [0.0; TRAYS],
            tray_hottest_gpu_c: [0.0; TRAYS],
            bbu_soc: a(2),
            headroom,
            isolation_requested: bit(1),
        };
        for (i, (present, fault)) in inputs
            .psu_present
            .iter_mut()
            .flatten()
            .zip(inputs.psu_fault.iter_mut().flatten())
            .enumerate()
        {
            *present = bit(PSU_PRESENT_BIT + i);
            *fault = bit(PSU_FAULT_BIT + i);
        }
        for t in 0..TRAYS {
            if let (Some(d), Some(p), Some(h)) = (
                inputs.tray_demand_w.get_mut(t),
                inputs.tray_power_w.get_mut(t),
                inputs.tray_hottest_gpu_c.get_mut(t),
            ) {
                *d = a(5 + t);
                *p = a(5 + TRAYS + t);
                *h = a(5 + 2 * TRAYS + t);
            }
        }
        (now, inputs)
    }

    /// The command the board sends: analog budget W, BBU power W, PSU target W, per tray cap W
    /// and floor W, then per shelf the PSU enables as a 6-bit mask (exact in `f32`); digital
    /// bits 0..18 tray enables, 18 smoothing.
    pub fn command(sim_time_us: u64, o: &PowerOutputs) -> ActuatorCommand {
        let mut analog = heapless::Vec::new();
        for v in [o.budget_w, o.bbu_power_w, o.grid_target_w] {
            let _ = analog.push(v);
        }
        for v in o.tray_cap_w.iter().chain(&o.tray_floor_w) {
            let _ = analog.push(*v);
        }
        for shelf in &o.psu_enable {
            let mask = shelf
                .iter()
                .enumerate()
                .fold(0u8, |m, (p, on)| m | u8::from(*on) << p);
            let _ = analog.push(f32::from(mask));
        }
        let mut digital = u64::from(o.smoothing) << TRAYS;
        for (t, on) in o.tray_enable.iter().enumerate() {
            digital |= u64::from(*on) << t;
        }
        ActuatorCommand {
            sim_time_us,
            analog,
            digital,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn power_inputs_survive_the_sample_exactly() {
            let mut i = PowerInputs {
                ac_present: true,
                input_power_w: 118_400.5,
                feed_current_a: 166.25,
                psu_present: [[true; PSUS_PER_SHELF]; SHELVES],
                psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
                tray_demand_w: [6_600.0; TRAYS],
                tray_power_w: [6_500.0; TRAYS],
                tray_hottest_gpu_c: [71.25; TRAYS],
                bbu_soc: 0.875,
                headroom: Some((180_000.0, Instant(9_900))),
                isolation_requested: false,
            };
            i.psu_fault[7][5] = true;
            i.tray_power_w[17] = 1.5;
            let (now, back) = inputs(&sample(10_000_000, &i, false));
            assert_eq!(now, Instant(10_000));
            assert_eq!(back, i);
        }
    }
}
