//! The power controller's logic on hand-made inputs (closed-loop behaviour against the
//! electrical and thermal plant is tested in `rack-sim`'s scenarios).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use super::trays::{max, min};
use super::*;

fn inputs(demand_per_tray_w: f32) -> PowerInputs {
    PowerInputs {
        ac_present: true,
        input_power_w: demand_per_tray_w * TRAYS as f32 / 0.96,
        feed_current_a: 150.0,
        psu_present: [[true; PSUS_PER_SHELF]; SHELVES],
        psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
        tray_demand_w: [demand_per_tray_w; TRAYS],
        tray_power_w: [demand_per_tray_w; TRAYS],
        tray_hottest_gpu_c: [70.0; TRAYS],
        bbu_soc: 0.9,
        headroom: Some((400_000.0, Instant(0))),
        isolation_requested: false,
    }
}

fn run(c: &mut PowerController, from_ms: u64, seconds: f32, inputs: &mut PowerInputs) -> u64 {
    let steps = (seconds * 10.0).round() as u64;
    let mut now = from_ms;
    for _ in 0..steps {
        now += 100;
        inputs.headroom = inputs.headroom.map(|(h, _)| (h, Instant(now)));
        c.step(Instant(now), inputs);
    }
    now
}

/// Trays draw `w` once enabled, nothing while off.
fn draw_when_on(c: &PowerController, i: &mut PowerInputs, w: f32) {
    for (p, e) in i.tray_power_w.iter_mut().zip(&c.outputs().tray_enable) {
        *p = if *e { w } else { 0.0 };
    }
}

fn static_config() -> PowerConfig {
    PowerConfig {
        smoothing: false,
        ..PowerConfig::default()
    }
}

#[test]
fn the_transition_table_is_a_function_and_every_live_state_can_isolate() {
    for (i, (from, trigger, _)) in TRANSITIONS.iter().enumerate() {
        for (f, t, _) in TRANSITIONS.iter().skip(i + 1) {
            assert!(!(from == f && trigger == t), "{from:?} {trigger:?} twice");
        }
    }
    for state in [
        PowerState::Off,
        PowerState::Sequencing,
        PowerState::Running,
        PowerState::Capped,
        PowerState::RideThrough,
        PowerState::Shedding,
    ] {
        assert!(TRANSITIONS.iter().any(|(f, t, to)| *f == state
            && *t == PowerTrigger::Isolate
            && *to == PowerState::Isolated));
    }
}

#[test]
fn a_cold_rack_comes_up_in_the_documented_time_one_tray_at_a_time() {
    let mut c = PowerController::new(static_config());
    let mut i = inputs(6_000.0);
    // A cold rack: its trays are off and draw nothing.
    i.tray_power_w = [0.0; TRAYS];
    let mut now = 0;
    // When each tray came on, in order.
    let mut on_at: heapless::Vec<u64, TRAYS> = heapless::Vec::new();
    for _ in 0..200 {
        now = run(&mut c, now, 0.1, &mut i);
        draw_when_on(&c, &mut i, 6_000.0);
        let on = c.outputs().tray_enable.iter().filter(|e| **e).count();
        assert!(on <= on_at.len() + 1, "two trays in one step at {now} ms");
        if on > on_at.len() {
            on_at.push(now).unwrap();
        }
    }
    // The PSUs are seen at the first step (0.1 s), debounced 1 s, settled 0.5 s: the first
    // tray comes on at 1.6 s, then one every 0.5 s: the 18th at 1.6 + 17 x 0.5 = 10.1 s.
    assert_eq!(on_at.len(), TRAYS);
    assert_eq!(on_at[0], 1_600, "debounce and settle first");
    for pair in on_at.windows(2) {
        assert_eq!(pair[1] - pair[0], 500, "0.5 s stagger: {on_at:?}");
    }
    assert_eq!(on_at[TRAYS - 1], 10_100);
    assert_eq!(c.state(), PowerState::Running);
}

#[test]
fn caps_hold_the_budget_in_proportion_to_demand_and_never_below_the_floor() {
    let mut config = static_config();
    config.budget_w = 100_000.0;
    let mut c = PowerController::running(config);
    let mut i = inputs(0.0);
    for (t, d) in i.tray_demand_w.iter_mut().enumerate() {
        *d = if t < 9 { 8_000.0 } else { 4_000.0 };
    }
    i.tray_demand_w[17] = 500.0; // asks less than the floor
    i.tray_power_w = i.tray_demand_w;
    run(&mut c, 0, 1.0, &mut i);
    let out = c.outputs();
    let total: f32 = out.tray_cap_w.iter().sum();
    assert!(
        (total - 100_000.0 * 0.96).abs() < 1.0,
        "caps sum to the DC budget: {total}"
    );
    let floor = config.tray_floor_w;
    assert!(out.tray_cap_w.iter().all(|cap| *cap >= floor - 1e-3));
    let share = |t: usize| (out.tray_cap_w[t] - floor) / (i.tray_demand_w[t] - floor);
    assert!(
        (share(0) - share(12)).abs() < 1e-4,
        "same share of demand: {} vs {}",
        share(0),
        share(12)
    );
    assert_eq!(c.state(), PowerState::Capped);
}

#[test]
fn higher_priority_trays_are_served_first() {
    let mut config = static_config();
    config.budget_w = 90_000.0;
    for (t, p) in config.tray_priority.iter_mut().enumerate() {
        *p = if t < 6 { 3 } else { 1 };
    }
    let mut c = PowerController::running(config);
    let mut i = inputs(7_000.0);
    run(&mut c, 0, 0.5, &mut i);
    let out = c.outputs();
    assert!(
        out.tray_cap_w[..6].iter().all(|cap| *cap >= 7_000.0 - 1e-2),
        "{:?}",
        &out.tray_cap_w[..6]
    );
    assert!(out.tray_cap_w[6..].iter().all(|cap| *cap < 7_000.0));
}

#[test]
fn a_hot_breaker_sheds_the_lowest_priority_trays_first_and_says_why() {
    let mut config = static_config();
    for (t, p) in config.tray_priority.iter_mut().enumerate() {
        *p = if t == 4 { 0 } else { 2 };
    }
    let mut c = PowerController::running(config);
    let mut i = inputs(6_000.0);
    i.feed_current_a = 1.5 * config.breaker_rated_a; // heats at (2.25 - 1) / 100 per s
    run(&mut c, 0, 45.0, &mut i);
    let shed: heapless::Vec<u8, 32> = c
        .events()
        .iter()
        .filter_map(|r| match r.event {
            PowerEvent::TrayChanged {
                tray,
                enabled: false,
                reason: PowerReason::Overcurrent,
            } => Some(tray),
            _ => None,
        })
        .collect();
    assert_eq!(shed.first(), Some(&4), "lowest priority first: {shed:?}");
    assert!(
        c.outputs().breaker_thermal < 1.0,
        "shed before the modelled trip"
    );
    assert!(!c.outputs().tray_enable[4]);
    assert!(c.alarms().is_active(PowerAlarm::TrayShed, 4));
}

#[test]
fn on_battery_power_is_capped_to_last_the_ride_through() {
    let mut c = PowerController::running(static_config());
    let mut i = inputs(6_600.0);
    i.ac_present = false;
    i.bbu_soc = 1.0;
    run(&mut c, 0, 0.2, &mut i);
    let c_cfg = *c.config();
    let expected = c_cfg.bbu_energy_j / c_cfg.ride_through_s;
    assert_eq!(c.state(), PowerState::RideThrough);
    assert!(
        c.alarms().is_active(PowerAlarm::AcLoss, 0),
        "on battery is alarmed"
    );
    assert!(
        (c.outputs().budget_w - expected).abs() / expected < 0.01,
        "{} vs {expected}",
        c.outputs().budget_w
    );
    i.ac_present = true;
    run(&mut c, 200, 0.2, &mut i);
    assert_ne!(c.state(), PowerState::RideThrough);
}

#[test]
fn an_isolation_request_sheds_every_tray_in_order_then_the_psus() {
    let mut c = PowerController::running(static_config());
    let mut i = inputs(6_000.0);
    i.isolation_requested = true;
    let now = run(&mut c, 0, 3.5, &mut i);
    assert_eq!(c.state(), PowerState::Isolated);
    assert!(
        c.outputs().tray_enable.iter().all(|e| !e),
        "all shed within 18 x 0.2 s"
    );
    run(&mut c, now, 0.3, &mut i);
    assert!(c.outputs().psu_enable.iter().flatten().all(|e| !e));
}

#[test]
fn a_faulted_psu_is_switched_off_retried_and_watched() {
    let mut c = PowerController::running(static_config());
    let mut i = inputs(6_000.0);
    i.psu_fault[2][3] = true;
    let now = run(&mut c, 0, 0.2, &mut i);
    assert!(!c.outputs().psu_enable[2][3]);
    i.psu_fault[2][3] = false;
    let now = run(&mut c, now, 5.0, &mut i);
    assert!(
        c.outputs().psu_enable[2][3],
        "retried after the fault-off time"
    );
    assert!(
        c.events()
            .iter()
            .any(|r| r.event == PowerEvent::PsuFaulted { shelf: 2, psu: 3 })
    );
    let _ = now;
}

#[test]
fn a_budget_beyond_the_breaker_is_refused_with_the_range() {
    let mut c = PowerController::running(static_config());
    let refused = c.set_budget(500_000.0);
    assert!(refused.is_err(), "a budget beyond the breaker was accepted");
    let (min, max) = refused.unwrap_err();
    assert!(
        min > 0.0 && max < 500_000.0 && max > 130_000.0,
        "{min}..{max}"
    );
    assert!(c.set_budget(110_000.0).is_ok());
    assert!(c.set_budget(f32::NAN).is_err());
}

#[test]
fn a_hot_gpu_lowers_the_budget_before_it_reaches_slowdown() {
    let mut c = PowerController::running(static_config_thermal());
    let mut i = inputs(6_600.0);
    run(&mut c, 0, 1.0, &mut i);
    let cool = c.outputs().budget_w;
    i.tray_hottest_gpu_c[7] = 82.0;
    run(&mut c, 1000, 5.0, &mut i);
    assert!(
        c.outputs().budget_w < cool - 5_000.0,
        "{cool} -> {}",
        c.outputs().budget_w
    );
}

fn static_config_thermal() -> PowerConfig {
    PowerConfig {
        smoothing: false,
        static_caps: false,
        ..PowerConfig::default()
    }
}

#[test]
fn smoothing_limits_the_grid_side_ramp() {
    let mut c = PowerController::running(PowerConfig::default());
    let mut i = inputs(6_600.0);
    run(&mut c, 0, 5.0, &mut i);
    let before = c.outputs().grid_target_w;
    // The load halves at once.
    i.tray_power_w = [3_300.0; TRAYS];
    i.tray_demand_w = [3_300.0; TRAYS];
    run(&mut c, 5000, 1.0, &mut i);
    let after = c.outputs().grid_target_w;
    let limit = c.config().ramp_limit_w_per_s * c.config().psu_efficiency;
    assert!(before - after <= limit * 1.0 + 1.0, "{before} -> {after}");
    assert!(
        c.outputs().tray_floor_w.iter().any(|f| *f > 0.0),
        "the GPUs are asked to burn what the BBUs cannot absorb"
    );
}

#[test]
fn psu_fault_alarms_latch_clear_and_come_back_through_acknowledgement() {
    let mut c = PowerController::running(static_config());
    let mut i = inputs(6_000.0);
    let instance = 2 * 8 + 3;
    let listed = |c: &PowerController| {
        c.alarms()
            .iter()
            .find(|a| a.code == PowerAlarm::PsuFault && a.instance == instance)
            .map(|a| a.active)
    };
    i.psu_fault[2][3] = true;
    let now = run(&mut c, 0, 0.2, &mut i);
    assert_eq!(listed(&c), Some(true), "raised with the fault");
    // The PSU reports healthy again: after fault-off and probation it is back, and the
    // alarm is cleared but stays listed until a technician acknowledges it.
    i.psu_fault[2][3] = false;
    let now = run(&mut c, now, 10.0, &mut i);
    assert!(c.outputs().psu_enable[2][3]);
    assert_eq!(listed(&c), Some(false), "cleared, latched");
    assert!(c.acknowledge(PowerAlarm::PsuFault, instance));
    let now = run(&mut c, now, 1.0, &mut i);
    assert_eq!(listed(&c), None, "removed once acknowledged");
    // A second fault raises it again; acknowledged while active, it goes when the fault does.
    i.psu_fault[2][3] = true;
    let now = run(&mut c, now, 0.2, &mut i);
    assert_eq!(listed(&c), Some(true));
    assert!(c.acknowledge(PowerAlarm::PsuFault, instance));
    i.psu_fault[2][3] = false;
    run(&mut c, now, 10.0, &mut i);
    assert_eq!(listed(&c), None);
}

#[test]
fn a_pulled_psu_drops_out_at_once_and_a_reinserted_one_is_debounced_then_counted() {
    let c0 = PowerController::running(static_config());
    let full = c0.psus.capacity_w(c0.config());
    let rating = c0.config().psu_rating_w;
    let mut c = c0;
    let mut i = inputs(6_000.0);
    // Steady with nothing new: steps change nothing.
    let now = run(&mut c, 0, 1.0, &mut i);
    assert_eq!(c.psus.capacity_w(c.config()), full);
    i.psu_present[5][1] = false;
    let now = run(&mut c, now, 0.1, &mut i);
    assert!(!c.outputs().psu_enable[5][1]);
    assert_eq!(c.psus.capacity_w(c.config()), full - rating);
    i.psu_present[5][1] = true;
    let now = run(&mut c, now, 0.9, &mut i);
    assert!(!c.outputs().psu_enable[5][1], "still debouncing");
    let now = run(&mut c, now, 0.3, &mut i);
    assert!(c.outputs().psu_enable[5][1], "settling: switched on");
    assert_eq!(
        c.psus.capacity_w(c.config()),
        full - rating,
        "not counted while settling"
    );
    run(&mut c, now, 1.0, &mut i);
    assert_eq!(c.psus.capacity_w(c.config()), full, "counted once settled");
}

#[test]
fn the_tray_loops_min_and_max_agree_with_f32s_where_b_is_a_number() {
    let values = [
        f32::NAN,
        f32::NEG_INFINITY,
        f32::MIN,
        -1.5,
        -0.0,
        0.0,
        1e-40,
        2.5,
        6_000.0,
        f32::MAX,
        f32::INFINITY,
    ];
    for a in values {
        for b in values.into_iter().filter(|b| !b.is_nan()) {
            // Equal as numbers (a zero's sign is `f32::max`'s choice; see `max`).
            assert!(max(a, b) == a.max(b), "max({a}, {b})");
            assert!(min(a, b) == a.min(b), "min({a}, {b})");
        }
    }
}

#[test]
fn a_nan_gpu_reading_is_passed_over_as_a_cold_one_is() {
    // Most trays run hot enough that the thermal budget integrates down; the last tray's reading is
    // NaN in one controller and far below the others in the other: every output must match.
    // (The last tray: a NaN first or in the middle would be passed over whichever way round.)
    let mut hot = inputs(6_000.0);
    hot.tray_hottest_gpu_c = [86.0; TRAYS];
    let mut with_nan = hot;
    with_nan.tray_hottest_gpu_c[TRAYS - 1] = f32::NAN;
    let mut with_cold = hot;
    with_cold.tray_hottest_gpu_c[TRAYS - 1] = -40.0;
    let mut a = PowerController::running(PowerConfig::default());
    let mut b = PowerController::running(PowerConfig::default());
    let budget_before = a.outputs().budget_w;
    let mut now = 0;
    for _ in 0..300 {
        now += 100;
        with_nan.headroom = Some((400_000.0, Instant(now)));
        with_cold.headroom = with_nan.headroom;
        let (x, y) = (
            *a.step(Instant(now), &with_nan),
            *b.step(Instant(now), &with_cold),
        );
        assert_eq!(x, y, "at {now} ms");
    }
    assert!(
        a.outputs().budget_w < budget_before,
        "the thermal loop acted"
    );
}

/// The caps as the controller allotted them before its priority levels were grouped once per
/// config and its passes fused: every level from the highest, filtering the trays each time.
fn allot_reference(
    c: &PowerConfig,
    enabled: &[bool; TRAYS],
    demand: &[f32; TRAYS],
    budget_w: f32,
    out: &mut [f32; TRAYS],
) {
    let n = c.trays;
    let count = enabled.iter().take(n).filter(|e| **e).count().max(1) as f32;
    let mut remaining = budget_w * c.psu_efficiency - c.tray_floor_w * count;
    let mut caps = [c.tray_floor_w; TRAYS];
    let want = |t: usize| (demand[t] - c.tray_floor_w).max(0.0);
    for level in (0..=u8::MAX).rev() {
        let in_level = |t: &usize| enabled[*t] && c.tray_priority[*t] == level;
        if !(0..n).any(|t| in_level(&t)) {
            continue;
        }
        if remaining <= 0.0 {
            break;
        }
        let need: f32 = (0..n).filter(in_level).map(want).sum();
        if need <= 0.0 {
            continue;
        }
        let share = (remaining / need).min(1.0);
        for t in (0..n).filter(in_level) {
            caps[t] += want(t) * share;
        }
        remaining -= need * share;
    }
    let spare = remaining.max(0.0) / count;
    for t in 0..n {
        out[t] = (caps[t] + spare).min(c.tray_max_w);
    }
}

#[test]
fn caps_are_allotted_bit_for_bit_as_by_the_plain_level_by_level_walk() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as u32
    };
    for case in 0..20_000 {
        let mut config = PowerConfig {
            trays: 1 + (next() as usize % TRAYS),
            ..PowerConfig::default()
        };
        // One level, a few, or any of 256.
        let levels = [1, 2, 3, 256][next() as usize % 4];
        for p in &mut config.tray_priority {
            *p = (next() % levels) as u8;
        }
        let mut c = PowerController::running(config);
        let mut enabled = [false; TRAYS];
        for (t, e) in enabled.iter_mut().enumerate().take(c.config.trays) {
            *e = next() % 5 != 0;
            c.outputs.tray_enable[t] = *e;
        }
        let mut demand = [0.0; TRAYS];
        for d in &mut demand {
            *d = match next() % 10 {
                0 => config.tray_floor_w,
                1 => 0.0,
                2 => f32::NAN,
                _ => (next() % 9_000) as f32 + (next() % 1_000) as f32 / 1_000.0,
            };
        }
        let mut inputs = inputs(0.0);
        inputs.tray_demand_w = demand;
        let budget = (next() % 200_000) as f32;
        let mut expected = c.outputs.tray_cap_w;
        allot_reference(&c.config, &enabled, &demand, budget, &mut expected);
        let enabled_mask = super::trays::mask_where(&c.outputs.tray_enable, |e| e);
        c.allocator
            .allot(budget, &inputs, &c.config, enabled_mask, &mut c.outputs);
        let bits = |caps: &[f32; TRAYS]| caps.map(f32::to_bits);
        assert_eq!(
            bits(&c.outputs.tray_cap_w),
            bits(&expected),
            "case {case}: {:?} vs {expected:?} (priorities {:?}, enabled {enabled:?}, demand \
             {demand:?}, budget {budget})",
            c.outputs.tray_cap_w,
            config.tray_priority
        );
    }
}

#[test]
fn ac_loss_history_is_in_the_event_log_as_the_cdus_alarms_are() {
    let mut c = PowerController::running(static_config());
    let mut i = inputs(5_000.0);
    let now = run(&mut c, 0, 1.0, &mut i);
    i.ac_present = false;
    let now = run(&mut c, now, 2.0, &mut i);
    i.ac_present = true;
    run(&mut c, now, 2.0, &mut i);
    let alarm_events: heapless::Vec<PowerEvent, 8> = c
        .events()
        .iter()
        .map(|r| r.event)
        .filter(|e| {
            matches!(
                e,
                PowerEvent::AlarmRaised {
                    alarm: PowerAlarm::AcLoss,
                    ..
                } | PowerEvent::AlarmCleared {
                    alarm: PowerAlarm::AcLoss,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(
        alarm_events.as_slice(),
        &[
            PowerEvent::AlarmRaised {
                alarm: PowerAlarm::AcLoss,
                instance: 0
            },
            PowerEvent::AlarmCleared {
                alarm: PowerAlarm::AcLoss,
                instance: 0
            }
        ],
        "the raise and the clear of the AC loss, in order"
    );
}

#[test]
fn a_controller_that_boots_on_a_running_rack_takes_it_over_as_it_is() {
    let mut c = PowerController::new(static_config());
    let mut i = inputs(6_000.0);
    // Tray 4 was shed before the reset: it draws nothing.
    i.tray_power_w[4] = 0.0;
    run(&mut c, 0, 0.1, &mut i);
    assert_eq!(c.state(), PowerState::Running, "no power-on sequence");
    let out = c.outputs();
    assert!(out.psu_enable.iter().flatten().all(|e| *e));
    for (t, e) in out.tray_enable.iter().enumerate() {
        assert_eq!(*e, t != 4, "tray {t}: on as found");
    }
    let events: heapless::Vec<PowerEvent, 64> = c.events().iter().map(|r| r.event).collect();
    assert!(events.contains(&PowerEvent::StateChanged {
        from: PowerState::Off,
        to: PowerState::Running,
        reason: PowerReason::Boot
    }));
    // Nothing switched off later either.
    run(&mut c, 100, 20.0, &mut i);
    assert_eq!(
        c.outputs().tray_enable.iter().filter(|e| **e).count(),
        TRAYS - 1
    );
}

#[test]
fn a_reset_during_the_power_on_sequence_resumes_it_after_the_last_tray_on() {
    let mut c = PowerController::new(static_config());
    let mut i = inputs(6_000.0);
    for w in i.tray_power_w.iter_mut().skip(7) {
        *w = 0.0;
    }
    let now = run(&mut c, 0, 0.1, &mut i);
    assert_eq!(c.state(), PowerState::Sequencing);
    assert_eq!(c.outputs().tray_enable.iter().filter(|e| **e).count(), 7);
    // The 11 others follow one per stagger (0.5 s), the first of them a stagger later.
    let mut now = now;
    for _ in 0..55 {
        now = run(&mut c, now, 0.1, &mut i);
        draw_when_on(&c, &mut i, 6_000.0);
    }
    run(&mut c, now, 0.1, &mut i);
    assert_eq!(c.state(), PowerState::Running);
    assert!(c.outputs().tray_enable.iter().all(|e| *e));
}
