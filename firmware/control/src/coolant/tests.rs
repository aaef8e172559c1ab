//! The coolant controller's logic on hand-made inputs (the closed-loop behaviour is tested
//! against the plant in `rack-sim`'s scenarios).

#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use super::*;
use crate::sensor::Reading;

/// A bench: ideal pumps (tach follows the command), steady sensors that read exactly the same
/// value every sample (quiet transmitters on a steady process), fresh rack reports.
struct Bench {
    c: CoolantController,
    inputs: CoolantInputs,
    now: Instant,
    dead_pumps: [bool; MAX_PUMPS],
    /// What each rack reports drawing, W.
    rack_power_w: f32,
    /// What the supply sensors read (those not failed), degC.
    supply_c: f32,
    /// A supply sensor whose reading the bench leaves as it is.
    frozen_supply: Option<usize>,
}

impl Bench {
    fn new(config: CoolantConfig) -> Self {
        let mut inputs = CoolantInputs::uniform(Instant(0), 30.0);
        inputs.return_temp_c.value = 40.0;
        inputs.primary_supply_temp_c.value = 25.0;
        inputs.primary_return_temp_c.value = 35.0;
        inputs.flow_lpm.value = 1_300.0;
        inputs.dp_kpa.value = 35.0;
        Self {
            c: CoolantController::new(config),
            inputs,
            now: Instant(0),
            dead_pumps: [false; MAX_PUMPS],
            rack_power_w: 120_000.0,
            supply_c: 30.0,
            frozen_supply: None,
        }
    }

    /// Runs for `seconds`, refreshing every reading's time stamp (the values stay as they are).
    fn run(&mut self, seconds: f32) {
        let steps = libm::roundf(seconds * 10.0) as u32;
        for _ in 0..steps {
            self.now = self.now.plus_millis(100);
            let at = self.now;
            for (i, r) in self.inputs.supply_temps_c.iter_mut().enumerate() {
                if self.frozen_supply == Some(i) {
                    r.at = at;
                } else if r.value > -100.0 {
                    *r = Reading {
                        value: self.supply_c,
                        at,
                    };
                }
            }
            for r in [
                &mut self.inputs.return_temp_c,
                &mut self.inputs.primary_supply_temp_c,
                &mut self.inputs.primary_return_temp_c,
                &mut self.inputs.flow_lpm,
                &mut self.inputs.dp_kpa,
            ] {
                r.at = at;
            }
            self.inputs.valve_feedback_pct = Reading {
                value: self.c.outputs().valve_demand_pct,
                at,
            };
            for (i, tach) in self.inputs.pump_tach_rpm.iter_mut().enumerate() {
                let command = self.c.outputs().pump_speed_pct[i];
                *tach = if self.dead_pumps[i] {
                    0.0
                } else {
                    command / 100.0 * 3_600.0
                };
            }
            for (r, report) in self.inputs.rack_reports.iter_mut().enumerate().take(8) {
                let _ = r;
                *report = Some(RackReport {
                    input_power_w: self.rack_power_w,
                    hottest_gpu_c: 70.0,
                    at,
                });
            }
            let inputs = self.inputs;
            self.c.step(self.now, &inputs);
        }
    }

    /// The bench's inputs with every process reading taken now (a first step by hand).
    fn readings_now(&self) -> CoolantInputs {
        let mut inputs = self.inputs;
        for r in inputs.supply_temps_c.iter_mut().chain([
            &mut inputs.return_temp_c,
            &mut inputs.primary_supply_temp_c,
            &mut inputs.primary_return_temp_c,
            &mut inputs.flow_lpm,
            &mut inputs.dp_kpa,
        ]) {
            r.at = self.now;
        }
        inputs
    }

    fn events(&self) -> heapless::Vec<CoolantEvent, 64> {
        self.c.events().iter().map(|r| r.event).collect()
    }
}

#[test]
fn the_transition_table_is_a_function_and_every_state_can_stop() {
    for (i, (from, trigger, _)) in TRANSITIONS.iter().enumerate() {
        for (other_from, other_trigger, _) in TRANSITIONS.iter().skip(i + 1) {
            assert!(
                !(from == other_from && trigger == other_trigger),
                "{from:?} {trigger:?} twice"
            );
        }
    }
    for state in [
        CoolantState::Startup,
        CoolantState::Running,
        CoolantState::Degraded,
        CoolantState::Failsafe,
    ] {
        assert!(
            TRANSITIONS.iter().any(|(f, t, to)| *f == state
                && *t == Trigger::Stop
                && *to == CoolantState::Stopped)
        );
    }
}

#[test]
fn it_starts_runs_and_records_why() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    assert_eq!(b.c.state(), CoolantState::Running);
    let speeds = b.c.outputs().pump_speed_pct;
    assert!(speeds[0] > 0.0);
    assert_eq!(speeds[1], speeds[0], "both pumps run, at one speed");
    assert_eq!(speeds[2], 0.0, "a pump not fitted stays off");
    // A CDU commissioned for one pump at a time: the other stands by.
    let mut b = Bench::new(CoolantConfig {
        running_pumps: 1,
        ..CoolantConfig::default()
    });
    b.run(10.0);
    assert!(b.c.outputs().pump_speed_pct[0] > 0.0);
    assert_eq!(
        b.c.outputs().pump_speed_pct[1],
        0.0,
        "one pump runs, the other stands by"
    );
    let events = b.events();
    assert!(events.contains(&CoolantEvent::StateChanged {
        from: CoolantState::Stopped,
        to: CoolantState::Startup,
        reason: Reason::Boot
    }));
    assert!(events.contains(&CoolantEvent::StateChanged {
        from: CoolantState::Startup,
        to: CoolantState::Running,
        reason: Reason::StartupComplete
    }));
}

#[test]
fn pumps_do_not_start_without_reservoir_level() {
    let mut b = Bench::new(CoolantConfig::default());
    b.inputs.reservoir_level_ok = false;
    b.run(30.0);
    assert_eq!(b.c.state(), CoolantState::Stopped);
    assert_eq!(b.c.outputs().pump_speed_pct, [0.0; MAX_PUMPS]);
    assert!(b.c.alarms().is_active(Alarm::ReservoirLow, 0));
    b.inputs.reservoir_level_ok = true;
    b.run(1.0);
    assert_eq!(b.c.state(), CoolantState::Startup);
}

#[test]
fn a_leak_that_dries_within_the_reaction_delay_isolates_nothing() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    b.inputs.leak_moisture[3] = true;
    b.run(0.1);
    assert!(
        b.c.alarms().is_active(Alarm::LeakDetected, 3),
        "alarm at once"
    );
    b.run(10.0);
    b.inputs.leak_moisture[3] = false;
    b.run(20.0);
    assert_eq!(b.c.outputs().isolation_requests, 0);
    assert!(b.c.outputs().rack_valve_open[3]);
    assert!(!b.c.alarms().is_active(Alarm::LeakDetected, 3));
}

#[test]
fn a_confirmed_leak_sheds_the_rack_first_then_closes_its_valve() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    b.inputs.leak_float[3] = true;
    b.run(14.9);
    assert_eq!(
        b.c.outputs().isolation_requests,
        0,
        "not before the reaction delay"
    );
    b.run(0.2);
    assert_eq!(b.c.outputs().isolation_requests, 1 << 3);
    assert!(
        b.c.outputs().rack_valve_open[3],
        "power is shed before the flow stops"
    );
    b.run(5.0);
    assert!(!b.c.outputs().rack_valve_open[3]);
    assert!(
        b.c.outputs()
            .rack_valve_open
            .iter()
            .take(8)
            .enumerate()
            .all(|(r, open)| *open == (r != 3))
    );
    assert_eq!(b.c.state(), CoolantState::Degraded);
    assert_eq!(
        b.c.restore_rack(3),
        Err(SettingError::NotPermitted),
        "still wet"
    );
    b.inputs.leak_float[3] = false;
    b.run(0.1);
    assert_eq!(b.c.restore_rack(3), Ok(()));
    assert_eq!(
        b.c.restore_rack(9),
        Err(SettingError::NoSuchInstance { count: 8 })
    );
}

#[test]
fn a_dead_lead_pump_fails_over_to_the_standby() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    b.dead_pumps[0] = true;
    b.run(5.0);
    assert_eq!(b.c.outputs().lead_pump, 1);
    assert_eq!(b.c.outputs().pump_states[0], PumpState::Faulted);
    assert_eq!(b.c.outputs().pump_states[1], PumpState::Running);
    assert!(b.c.alarms().is_active(Alarm::PumpFault, 0));
    assert!(b.events().contains(&CoolantEvent::LeadPumpChanged {
        from: 0,
        to: 1,
        reason: Reason::PumpFault
    }));
}

#[test]
fn the_lead_rotates_at_its_interval_without_a_gap() {
    let mut b = Bench::new(CoolantConfig {
        lead_rotation_interval_s: 60.0,
        running_pumps: 1,
        ..CoolantConfig::default()
    });
    b.run(59.0);
    assert_eq!(b.c.outputs().lead_pump, 0);
    let mut both_seen = false;
    for _ in 0..50 {
        b.run(0.1);
        let out = b.c.outputs();
        assert!(
            out.pump_speed_pct.iter().any(|s| *s > 0.0),
            "a pump always runs"
        );
        both_seen |= out.pump_speed_pct[0] > 0.0 && out.pump_speed_pct[1] > 0.0;
    }
    assert!(both_seen, "the new lead starts before the old one stops");
    assert_eq!(b.c.outputs().lead_pump, 1);
    assert!(b.events().contains(&CoolantEvent::LeadPumpChanged {
        from: 0,
        to: 1,
        reason: Reason::LeadRotation
    }));
}

#[test]
fn losing_every_supply_sensor_goes_failsafe_and_says_so() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    for r in b.inputs.supply_temps_c.iter_mut() {
        r.value = -999.0;
    }
    b.run(0.1);
    let out = *b.c.outputs();
    assert_eq!(out.state, CoolantState::Failsafe);
    assert_eq!(out.valve_demand_pct, 100.0);
    assert_eq!(
        out.pump_speed_pct[0],
        CoolantConfig::default().failsafe_pump_speed_pct
    );
    assert!(b.c.alarms().is_active(Alarm::SupplySensorsLost, 0));
    assert!(b.events().contains(&CoolantEvent::StateChanged {
        from: CoolantState::Running,
        to: CoolantState::Failsafe,
        reason: Reason::NoValidSupplySensor
    }));
}

#[test]
fn a_setpoint_outside_its_range_is_refused_with_the_range() {
    let mut c = CoolantController::new(CoolantConfig::default());
    assert_eq!(
        c.set_supply_setpoint(Instant(0), 50.0),
        Err(SettingError::OutOfRange {
            min: 10.0,
            max: 35.0
        })
    );
    assert_eq!(
        c.set_supply_setpoint(Instant(0), f32::NAN),
        Err(SettingError::OutOfRange {
            min: 10.0,
            max: 35.0
        })
    );
    assert_eq!(c.set_supply_setpoint(Instant(0), 32.0), Ok(()));
    assert_eq!(c.config().supply_setpoint_c, 32.0);
    assert_eq!(
        c.events().iter().last().map(|r| r.event),
        Some(CoolantEvent::SetpointChanged { centi_c: 3200 })
    );
}

#[test]
fn a_silent_row_bus_drops_the_feed_forward_and_raises_an_alarm() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(10.0);
    assert!(b.c.outputs().feed_forward_active);
    let before = b.c.outputs().valve_demand_pct;
    // Reports stop: they keep their last time stamps.
    let frozen = b.inputs.rack_reports;
    for _ in 0..10 {
        b.now = b.now.plus_millis(100);
        let mut inputs = b.inputs;
        inputs.rack_reports = frozen;
        inputs.restamp_readings(b.now);
        b.c.step(b.now, &inputs);
    }
    let out = b.c.outputs();
    assert!(!out.feed_forward_active);
    assert!(
        (out.valve_demand_pct - before).abs() < 1.0,
        "no bump: {before} -> {}",
        out.valve_demand_pct
    );
    assert!(b.c.alarms().is_active(Alarm::RowBusSilent, 0));
}

#[test]
fn quiet_transmitters_on_a_steady_process_are_healthy() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(600.0);
    assert_eq!(b.c.outputs().sensor_faults, 0);
    assert!(!b.c.alarms().any_active(Alarm::SensorFault));
    assert_eq!(b.c.state(), CoolantState::Running);
}

#[test]
fn a_return_transmitter_frozen_while_the_load_steps_is_stuck() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(30.0);
    assert!(!b.c.alarms().any_active(Alarm::SensorFault));
    // The racks halve their power; a live return transmitter would fall ~4.5 K.
    b.rack_power_w = 60_000.0;
    b.run(4.0);
    assert!(
        !b.c.alarms()
            .is_active(Alarm::SensorFault, sensor_index::RETURN)
    );
    b.run(2.0);
    assert!(
        b.c.alarms()
            .is_active(Alarm::SensorFault, sensor_index::RETURN)
    );
    assert_eq!(
        b.c.outputs().sensor_faults,
        1 << sensor_index::RETURN | 1 << sensor_index::PRIMARY_RETURN,
        "both return transmitters stayed put; the facility supply has no witness"
    );
}

#[test]
fn a_supply_transmitter_frozen_while_its_partners_move_is_stuck() {
    let mut b = Bench::new(CoolantConfig::default());
    b.run(30.0);
    // Sensor 0 freezes; the water its partners see warms 0.3 K.
    b.frozen_supply = Some(0);
    b.supply_c = 30.3;
    b.run(4.0);
    assert!(
        !b.c.alarms()
            .is_active(Alarm::SensorFault, sensor_index::SUPPLY_0)
    );
    b.run(2.0);
    assert!(
        b.c.alarms()
            .is_active(Alarm::SensorFault, sensor_index::SUPPLY_0)
    );
    assert!(
        !b.c.alarms()
            .is_active(Alarm::SensorFault, sensor_index::SUPPLY_0 + 1)
    );
}

#[test]
fn supply_alarms_are_live_once_the_supply_has_reached_its_band_after_start() {
    // Started on a row already at its setpoint: the inhibit is over at once.
    let mut b = Bench::new(CoolantConfig::default());
    b.run(30.0);
    b.supply_c = 33.0;
    b.run(119.0);
    assert!(
        !b.c.alarms().is_active(Alarm::SupplyTempHigh, 0),
        "its 120 s delay"
    );
    b.run(2.0);
    assert!(b.c.alarms().is_active(Alarm::SupplyTempHigh, 0));

    // Started warm (a pull-down): inhibited until the supply first reaches its band.
    let mut b = Bench::new(CoolantConfig::default());
    b.supply_c = 35.0;
    b.run(600.0);
    assert!(!b.c.alarms().is_active(Alarm::SupplyTempHigh, 0));
    b.supply_c = 30.5;
    b.run(10.0);
    b.supply_c = 33.0;
    b.run(121.0);
    assert!(b.c.alarms().is_active(Alarm::SupplyTempHigh, 0));
}

#[test]
fn a_controller_that_boots_on_a_running_row_takes_it_over_without_a_bump() {
    let config = CoolantConfig::default();
    let mut b = Bench::new(config);
    // Reset while its fail-safe relay held the row: the drives kept pump 1 running at their
    // fail-safe speed, the valve's spring opened it fully.
    b.now = Instant(100);
    let at = b.now;
    let mut inputs = b.readings_now();
    inputs.valve_feedback_pct = Reading { value: 100.0, at };
    inputs.pump_tach_rpm = [0.0, 0.9 * config.pump_max_rpm, 0.0];
    b.c.step(at, &inputs);
    let first = *b.c.outputs();
    let valve_step = config.temp_pid.slew_per_s * 0.1 + 1e-3;
    let pump_step = config.pump_pid.slew_per_s * 0.1 + 1e-3;
    assert_eq!(first.lead_pump, 1, "the pump that runs is the lead");
    assert_eq!(
        first.pump_speed_pct[0], 0.0,
        "the stopped pump stays stopped"
    );
    assert!(
        (first.pump_speed_pct[1] - 90.0).abs() <= pump_step,
        "{first:?}"
    );
    assert!(
        (first.valve_demand_pct - 100.0).abs() <= valve_step,
        "{first:?}"
    );
    // From there on, each step moves within the loops' slews, and the loop closes the valve
    // the spring opened as the supply runs cold.
    b.supply_c = 29.0;
    let mut last = first;
    for _ in 0..600 {
        b.run(0.1);
        let now = *b.c.outputs();
        assert!(
            (now.valve_demand_pct - last.valve_demand_pct).abs() <= valve_step,
            "{last:?} -> {now:?}"
        );
        assert!(
            (now.pump_speed_pct[1] - last.pump_speed_pct[1]).abs() <= pump_step,
            "{last:?} -> {now:?}"
        );
        if b.c.state() == CoolantState::Startup {
            assert_eq!(now.pump_speed_pct[0], 0.0, "no assist while starting");
        }
        last = now;
    }
    assert_eq!(b.c.state(), CoolantState::Running);
    assert!(last.valve_demand_pct < 99.0, "the loop took the valve over");
    assert_eq!(
        last.pump_speed_pct[0], last.pump_speed_pct[1],
        "running, the other pump assists at the lead's speed"
    );
}

#[test]
fn a_controller_that_boots_with_both_pumps_turning_keeps_both_running() {
    let config = CoolantConfig::default();
    let mut b = Bench::new(config);
    // Both drives ran on at their fail-safe speed through the reset.
    b.now = Instant(100);
    let at = b.now;
    let mut inputs = b.readings_now();
    inputs.pump_tach_rpm = [0.9 * config.pump_max_rpm, 0.9 * config.pump_max_rpm, 0.0];
    b.c.step(at, &inputs);
    let pump_step = config.pump_pid.slew_per_s * 0.1 + 1e-3;
    let first = b.c.outputs().pump_speed_pct;
    assert!(
        (first[0] - 90.0).abs() <= pump_step && (first[1] - 90.0).abs() <= pump_step,
        "both run on from their speed: {first:?}"
    );
    let mut last = [first[0], first[1]];
    for _ in 0..600 {
        b.run(0.1);
        let now = b.c.outputs().pump_speed_pct;
        for i in 0..2 {
            assert!(
                (now[i] - last[i]).abs() <= pump_step,
                "pump {i}: {} -> {} in {:?}",
                last[i],
                now[i],
                b.c.state()
            );
        }
        last = [now[0], now[1]];
    }
    assert_eq!(b.c.state(), CoolantState::Running);
}

#[test]
fn a_controller_that_boots_on_a_stopped_row_starts_the_first_pump_at_its_start_speed() {
    let config = CoolantConfig::default();
    let mut b = Bench::new(config);
    b.run(0.1);
    let out = b.c.outputs();
    assert_eq!(out.lead_pump, 0);
    assert_eq!(out.pump_speed_pct[0], config.pump_start_speed_pct);
}
