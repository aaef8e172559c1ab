//! The row plant's valve, its installed characteristic and the GPUs' protection.

use super::devices::installed_flow_fraction;
use super::*;

fn row(p: RowParams) -> (RowPlant, Actuators, Environment) {
    let plant = RowPlant::new(p, 1.0, 30.0, 1);
    let act = Actuators {
        valve_demand_pct: 50.0,
        pump_speed_pct: vec![p.pump_design_speed * 100.0, 0.0],
        rack_valve_open: vec![true; p.racks],
        heartbeat: None,
    };
    let env = Environment {
        facility_supply_c: 25.0,
        facility_flow_fraction: 1.0,
        rack_demand_w: vec![p.rack_design_power_w; p.racks],
        rack_powered: vec![true; p.racks],
        tray_commands: vec![None; p.racks],
    };
    (plant, act, env)
}

#[test]
fn the_valve_ignores_demands_inside_its_deadband_and_its_plug_lags_by_the_play() {
    let p = RowParams {
        valve_deadband_pct: 1.0,
        valve_hysteresis_pct: 2.0,
        ..RowParams::default()
    };
    let (mut plant, mut act, env) = row(p);
    act.valve_demand_pct = 50.4;
    for _ in 0..100 {
        plant.step(0.1, &act, &env);
    }
    assert_eq!(plant.state.valve_actuator_pct, 50.0, "inside the deadband");
    act.valve_demand_pct = 60.0;
    for _ in 0..100 {
        plant.step(0.1, &act, &env);
    }
    assert_eq!(plant.state.valve_actuator_pct, 60.0);
    assert!((plant.state.valve_pct - 59.0).abs() < 1e-9, "the play");
    act.valve_demand_pct = 58.0;
    for _ in 0..100 {
        plant.step(0.1, &act, &env);
    }
    assert!(
        (plant.state.valve_pct - 59.0).abs() < 1e-9,
        "reversal inside the play"
    );
}

#[test]
fn authority_below_one_passes_more_water_part_open_and_the_same_full_open() {
    let inherent = RowParams::default();
    let installed = RowParams {
        valve_authority: 0.3,
        ..RowParams::default()
    };
    assert!(
        installed_flow_fraction(&installed, 50.0) > 1.5 * installed_flow_fraction(&inherent, 50.0)
    );
    assert!((installed_flow_fraction(&installed, 100.0) - 1.0).abs() < 1e-12);
}

#[test]
fn gpus_without_cooling_shut_their_trays_down_and_stay_off() {
    let p = RowParams::default();
    let (mut plant, mut act, env) = row(p);
    act.pump_speed_pct = vec![0.0, 0.0];
    let mut hottest = f64::MIN;
    for _ in 0..3_000 {
        plant.step(0.1, &act, &env);
        hottest = hottest.max(plant.state.hottest_gpu_c);
    }
    assert_eq!(plant.state.shutdown_trays, p.racks * p.trays_per_rack);
    assert!(hottest < p.gpu_shutdown_c + 5.0, "{hottest}");
    assert!(plant.state.rack_power_w.iter().all(|w| *w == 0.0));
}

#[test]
fn without_heartbeats_the_relay_drops_and_the_field_devices_go_to_their_fail_positions() {
    let p = RowParams::default();
    let (mut plant, mut act, env) = row(p);
    plant.set_valve(40.0);
    act.valve_demand_pct = 40.0;
    act.rack_valve_open[2] = false;
    act.heartbeat = Some(false);
    // A live controller: the heartbeat toggles every step.
    for _ in 0..50 {
        act.heartbeat = act.heartbeat.map(|b| !b);
        plant.step(0.1, &act, &env);
    }
    assert!(plant.state.failsafe_relay);
    assert_eq!(plant.state.rack_flow_lpm[2], 0.0, "rack 2 isolated");
    // Dead: the level stays; the relay drops after its dropout time.
    let mut dropped_after = None;
    for k in 1..=300 {
        plant.step(0.1, &act, &env);
        if dropped_after.is_none() && !plant.state.failsafe_relay {
            dropped_after = Some(k);
        }
    }
    assert_eq!(dropped_after, Some(5), "0.5 s without an edge");
    assert_eq!(
        plant.state.valve_actuator_pct, 100.0,
        "the spring opened the valve"
    );
    let max_rpm = p.pump_max_rpm;
    assert!(
        (plant.state.pump_rpm[0] / max_rpm - p.pump_failsafe_speed_pct / 100.0).abs() < 0.01,
        "the running drive at its preset: {:?}",
        plant.state.pump_rpm
    );
    assert_eq!(
        plant.state.pump_rpm[1], 0.0,
        "the stopped drive stays stopped"
    );
    assert!(
        plant.state.rack_flow_lpm[2] > 0.0,
        "normally open: rack 2 reopened"
    );
    // Back: the first edge pulls the relay in and the devices follow their commands again.
    act.heartbeat = act.heartbeat.map(|b| !b);
    plant.step(0.1, &act, &env);
    assert!(plant.state.failsafe_relay);
    assert_eq!(plant.state.rack_flow_lpm[2], 0.0);
    for _ in 0..100 {
        act.heartbeat = act.heartbeat.map(|b| !b);
        plant.step(0.1, &act, &env);
    }
    assert!(
        plant.state.valve_actuator_pct < 100.0,
        "the actuator drives again"
    );
}

#[test]
fn the_spring_opens_the_valve_at_its_own_speed() {
    let p = RowParams {
        valve_spring_return_s: 40.0,
        ..RowParams::default()
    };
    let (mut plant, mut act, env) = row(p);
    plant.set_valve(0.0);
    act.valve_demand_pct = 0.0;
    act.heartbeat = Some(true);
    // Dead from the start: 0.5 s to drop, then 100 % in 40 s; 10 s later it stands at 25 %.
    for _ in 0..105 {
        plant.step(0.1, &act, &env);
    }
    assert!(
        (plant.state.valve_actuator_pct - 25.0).abs() < 0.3,
        "{}",
        plant.state.valve_actuator_pct
    );
}
