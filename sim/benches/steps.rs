//! One step of each part a campus run repeats: the coolant controller, the power controller,
//! a row's thermal-hydraulic plant and one rack's electrical plant.
//!
//! `cargo bench -p rack-sim --bench steps`
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rack_control::Instant;
use rack_control::coolant::{CoolantConfig, CoolantController, CoolantInputs, RackReport};
use rack_control::power::{
    PSUS_PER_SHELF, PowerConfig, PowerController, PowerInputs, SHELVES, TRAYS,
};
use rack_sim::plant::electrical::{ElectricalParams, RackElectrical};
use rack_sim::plant::params::RowParams;
use rack_sim::plant::{Actuators, Environment, RowPlant};

fn coolant(c: &mut Criterion) {
    let mut controller = CoolantController::new(CoolantConfig::default());
    let mut inputs = CoolantInputs::uniform(Instant(0), 30.0);
    inputs.flow_lpm.value = 900.0;
    inputs.dp_kpa.value = 150.0;
    inputs.valve_feedback_pct.value = 60.0;
    inputs.reservoir_level_ok = true;
    inputs.reservoir_level_pct = 80.0;
    inputs.pump_tach_rpm = [3000.0, 0.0, 0.0];
    for r in inputs.rack_reports.iter_mut().take(8) {
        *r = Some(RackReport {
            input_power_w: 120_000.0,
            hottest_gpu_c: 70.0,
            at: Instant(0),
        });
    }
    let mut t = 0;
    // The racks' power swings as a training job's does, so the feed-forward solves for a
    // moving heat load every step (held at one load, its solve starts on the answer).
    c.bench_function("coolant controller step", |b| {
        b.iter(|| {
            t += 100;
            let now = Instant(t);
            inputs.restamp_readings(now);
            let power = if (t / 2_000).is_multiple_of(2) {
                120_000.0
            } else {
                70_000.0
            };
            for r in inputs.rack_reports.iter_mut().flatten() {
                r.at = now;
                r.input_power_w = power;
            }
            black_box(controller.step(now, black_box(&inputs)));
        });
    });
}

fn power(c: &mut Criterion) {
    let mut controller = PowerController::new(PowerConfig::default());
    let mut inputs = PowerInputs {
        ac_present: true,
        input_power_w: 120_000.0,
        feed_current_a: 160.0,
        psu_present: [[true; PSUS_PER_SHELF]; SHELVES],
        psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
        tray_demand_w: [6_800.0; TRAYS],
        tray_power_w: [6_500.0; TRAYS],
        tray_hottest_gpu_c: [72.0; TRAYS],
        bbu_soc: 0.9,
        headroom: Some((300_000.0, Instant(0))),
        isolation_requested: false,
    };
    let mut t = 0;
    // Past the power-on sequence, into steady running.
    for _ in 0..200 {
        t += 100;
        inputs.headroom = Some((300_000.0, Instant(t)));
        controller.step(Instant(t), &inputs);
    }
    c.bench_function("power controller step", |b| {
        b.iter(|| {
            t += 100;
            inputs.headroom = Some((300_000.0, Instant(t)));
            black_box(controller.step(Instant(t), black_box(&inputs)));
        });
    });
}

fn row_plant(c: &mut Criterion) {
    let p = RowParams::default();
    let mut plant = RowPlant::new(p, 0.8, 30.0, 1);
    let act = Actuators {
        valve_demand_pct: 60.0,
        pump_speed_pct: vec![80.0, 0.0, 0.0],
        rack_valve_open: vec![true; p.racks],
        heartbeat: None,
    };
    let mut env = Environment {
        facility_supply_c: 25.0,
        facility_flow_fraction: 1.0,
        rack_demand_w: vec![110_000.0; p.racks],
        rack_powered: vec![true; p.racks],
        tray_commands: vec![None; p.racks],
    };
    // The load swings as a training job's does (a plant held at one load settles to a fixed
    // point, where its vanishing differences turn subnormal and slow: not what a run sees).
    let mut k = 0u32;
    c.bench_function("row plant step (CDU loop and 8 racks)", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            let level = if (k / 20).is_multiple_of(2) {
                110_000.0
            } else {
                60_000.0
            };
            env.rack_demand_w.fill(level);
            plant.step(0.1, black_box(&act), black_box(&env));
        });
    });
}

fn rack_plant(c: &mut Criterion) {
    let mut rack = RackElectrical::new(ElectricalParams::default());
    let enable = [true; TRAYS];
    let psus = [[true; PSUS_PER_SHELF]; SHELVES];
    c.bench_function("rack electrical plant step", |b| {
        b.iter(|| {
            rack.step(
                0.1,
                black_box(118_000.0),
                &enable,
                &psus,
                Some(117_000.0),
                0.0,
                true,
            );
            black_box(&rack);
        });
    });
}

criterion_group!(benches, coolant, power, row_plant, rack_plant);
criterion_main!(benches);
