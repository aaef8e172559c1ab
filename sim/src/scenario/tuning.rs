//! Tuning the supply temperature loop by a standard method from an identified step response.
//!
//! The bump test a commissioning engineer would do, on the simulated plant: full design load,
//! pumps at their commissioning speed, valve held until steady, then stepped open by
//! `STEP_PCT`; the supply sensor's response (1 s sensor lag included) is fitted to a
//! first-order-plus-dead-time model by the two-point method (28.3 % and 63.2 % of the final
//! change: tau = 1.5 (t63 - t28), theta = t63 - tau; a response that starts fast and goes on
//! slowly, which puts that theta below zero, is read by its first clear movement instead:
//! theta = t5, tau = t63 - t5), and the PI is set by Skogestad's SIMC
//! rules with the tight choice `tau_c = theta`: `Kc = tau / (|K| (tau_c + theta))`,
//! `Ti = min(tau, 4 (tau_c + theta))`. Both the baseline and rackloop's controller use this PI,
//! so their comparison measures what feed-forward and pump control add, not a tuning gap.
//!
//! The same test times the valve's actuator (its position feedback from the step to arrival)
//! and the PI never asks the valve to move faster than that. A test that cannot give a model is
//! refused with the reason, as an engineer would refuse it: the valve saturated at the
//! operating point (no room for the step), a response too small to read, or a dead time
//! shorter than the sensor's sampling can resolve even by its first movement. A test during
//! which the GPUs' own protection acted (a tray slowed down or shut down: its heat gone, the
//! supply falls for that reason and not the valve's) is refused too; a valve position that
//! starves the GPUs counts as too closed when the operating point is sought. Refused for
//! saturation or for the GPUs at design load, the test is taken at 75 %, then 50 % load.

use rack_control::pid::PidConfig;
use serde::Serialize;

use crate::plant::params::RowParams;
use crate::plant::{Actuators, Environment, RowPlant};

/// Valve step of the bump test, %.
pub const STEP_PCT: f64 = 5.0;
const SETTLE_S: f64 = 1200.0;
const RECORD_S: f64 = 900.0;
const DT_S: f64 = 0.1;

/// The identified model and the PI it gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tuning {
    /// Valve step, %.
    pub step_pct: f64,
    /// The load the test was taken at, fraction of design (design load unless the valve had
    /// no room there or the GPUs protected themselves).
    pub load: f64,
    /// Valve position before the step, %.
    pub valve_before_pct: f64,
    /// Process gain, K per % valve (negative: opening cools).
    pub gain_k_per_pct: f64,
    /// Time constant, s.
    pub tau_s: f64,
    /// Dead time, s.
    pub theta_s: f64,
    /// Proportional gain, % valve per K.
    pub kc_pct_per_k: f64,
    /// Integral time, s.
    pub ti_s: f64,
    /// The valve actuator's full-stroke time as the step timed it, s.
    pub valve_stroke_s: f64,
    /// How the model was read off the response.
    pub method: &'static str,
}

/// The two-point method's name.
pub const TWO_POINT: &str = "two-point (28 %, 63 %)";
/// The fallback's name: dead time to the first movement.
pub const FIRST_MOVEMENT: &str = "first movement (5 %) and 63 %";
/// The two-point time constant with the dead time its first movement shows.
pub const TWO_POINT_FIRST_MOVEMENT: &str =
    "two-point (28 %, 63 %), dead time from its first movement (5 %)";
/// Where a first-order response reaches 5 % of its change, in time constants: ln(1 / 0.95).
const FIVE_PCT_TAU: f64 = 0.051_293_294_387_550_5;

impl Tuning {
    /// The PI as the controller's setting.
    pub fn pid(&self) -> PidConfig {
        #[allow(clippy::cast_possible_truncation)] // gains fit f32
        PidConfig {
            kp: self.kc_pct_per_k as f32,
            ti_s: self.ti_s as f32,
            td_s: 0.0,
            derivative_filter: 0.1,
            out_min: 0.0,
            out_max: 100.0,
            // Never faster than the valve was timed to move.
            slew_per_s: (100.0 / self.valve_stroke_s) as f32,
            reverse: true,
        }
    }
}

/// Runs the bump test on a row with parameters `p`, facility water at `facility_c`.
pub fn identify(p: &RowParams, facility_c: f64, setpoint_c: f64) -> Result<Tuning, String> {
    // At design load if the valve has room for the step there, else at the highest load
    // that leaves it room (as an engineer bump-tests at whatever load the row carries).
    let mut refusal = String::new();
    for load in [1.0, 0.75, 0.5] {
        match bump_test(p, facility_c, setpoint_c, load) {
            Ok(t) => return Ok(t),
            Err(e) if e.starts_with(SATURATED) || e.starts_with(GPUS_PROTECTED) => refusal = e,
            Err(e) => return Err(e),
        }
    }
    Err(refusal)
}

/// The start of the refusal of a test whose valve had no room for the step.
const SATURATED: &str = "refused: saturated";
/// The start of the refusal of a test during which the GPUs' own protection cut the heat.
const GPUS_PROTECTED: &str = "refused: GPUs protected";

/// Whether the GPUs' own protection acts on `plant` now: a tray slowed down, or one shut down
/// since the start (a shutdown holds). Their heat is then not the load the test is at.
fn protected(plant: &RowPlant) -> bool {
    plant.state.throttling_trays > 0 || plant.state.shutdown_trays > 0
}

fn bump_test(p: &RowParams, facility_c: f64, setpoint_c: f64, load: f64) -> Result<Tuning, String> {
    let mut plant = RowPlant::new(*p, load, setpoint_c, 0);
    let env = Environment {
        facility_supply_c: facility_c,
        facility_flow_fraction: 1.0,
        rack_demand_w: vec![load * p.rack_design_power_w; p.racks],
        rack_powered: vec![true; p.racks],
        tray_commands: vec![None; p.racks],
    };
    let mut act = Actuators {
        valve_demand_pct: 0.0,
        pump_speed_pct: (0..p.pumps)
            .map(|i| {
                if i == 0 {
                    p.pump_design_speed * 100.0
                } else {
                    0.0
                }
            })
            .collect(),
        rack_valve_open: vec![true; p.racks],
        heartbeat: None,
    };
    // The row's GPUs slow down even with the valve wide open: this load cannot be tested
    // (its heat would not be the load's).
    let mut open = plant.clone();
    settle(&mut open, &mut act, &env, 100.0, 600.0);
    if protected(&open) {
        return Err(format!(
            "{GPUS_PROTECTED}: at {:.0} % load the GPUs slow down or shut down even with the valve \
             wide open (hottest {:.1} degC), so the row does not carry the load the test needs",
            load * 100.0,
            open.state.hottest_gpu_c
        ));
    }
    // Find the valve position that holds the setpoint at this load (bisection on the
    // steady state), so the step is taken at the operating point. A valve so far closed that
    // the GPUs protect themselves is too closed, whatever the supply then reads: their heat
    // is gone (a row whose trays shut down cools to the facility water).
    let (mut lo, mut hi) = (0.0f64, 100.0f64);
    for _ in 0..12 {
        let v = 0.5 * (lo + hi);
        let mut trial = plant.clone();
        let supply = settle(&mut trial, &mut act, &env, v, 600.0);
        if supply > setpoint_c || protected(&trial) {
            lo = v;
        } else {
            hi = v;
        }
    }
    let held = 0.5 * (lo + hi);
    if !(STEP_PCT..=100.0 - STEP_PCT).contains(&held) {
        return Err(format!(
            "{SATURATED}: the valve needs {held:.1} % to hold {setpoint_c} degC at {:.0} % load, \
             no room for a {STEP_PCT} % step at design, 75 % or 50 % load: the CDU cannot hold this row \
             (size the CDU, the heat exchanger or the facility water for it)",
            load * 100.0
        ));
    }
    let v0 = held;
    let y0 = settle(&mut plant, &mut act, &env, v0, SETTLE_S);
    act.valve_demand_pct = v0 + STEP_PCT;
    let mut y = y0;
    let mut samples = Vec::new();
    let mut arrived_s = None;
    // The supply sensor as the row has it (its lag).
    let lag = (1.0 - (-DT_S / p.supply_sensor_lag_s.max(DT_S)).exp()).min(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let steps = (RECORD_S / DT_S) as usize;
    for k in 1..=steps {
        plant.step(DT_S, &act, &env);
        y += (plant.state.supply_c - y) * lag;
        let t = k as f64 * DT_S;
        samples.push((t, y));
        if arrived_s.is_none() && plant.state.valve_actuator_pct >= v0 + STEP_PCT - 0.01 {
            arrived_s = Some(t);
        }
    }
    if protected(&plant) {
        return Err(format!(
            "{GPUS_PROTECTED}: at {:.0} % load the GPUs slowed down or shut down during the test \
             (valve at {v0:.1} %, hottest {:.1} degC), so the response is not the row's",
            load * 100.0,
            plant.state.hottest_gpu_c
        ));
    }
    let Some(arrived_s) = arrived_s else {
        return Err(format!(
            "refused: the valve did not follow the {STEP_PCT} % step within {RECORD_S} s (its position feedback stayed at {:.1} %)",
            plant.state.valve_actuator_pct
        ));
    };
    let valve_stroke_s = arrived_s / STEP_PCT * 100.0;
    fit(&samples, y0, v0, valve_stroke_s, load)
}

/// The first-order-plus-dead-time fit of the recorded response `samples` (from `y0`, the
/// valve stepped from `v0`, the row at `load`) by the two-point method, and the SIMC PI it gives.
fn fit(
    samples: &[(f64, f64)],
    y0: f64,
    v0: f64,
    valve_stroke_s: f64,
    load: f64,
) -> Result<Tuning, String> {
    let y_end = samples.last().map_or(y0, |s| s.1);
    let change = y_end - y0;
    if change.abs() < 1e-3 {
        return Err(format!(
            "refused: the bump test moved the supply by only {change:.4} K: the plant is not controllable by the valve here"
        ));
    }
    let time_at = |fraction: f64| {
        samples
            .iter()
            .find(|(_, v)| (v - y0) / change >= fraction)
            .map(|(t, _)| *t)
    };
    let (Some(t28), Some(t63)) = (time_at(0.283), time_at(0.632)) else {
        return Err("refused: the bump test response never reached 63 % of its change".into());
    };
    let two_point_tau = 1.5 * (t63 - t28);
    let (tau, theta, method) = if t63 - two_point_tau >= 2.0 * DT_S {
        // The model may not move before the response does: a first-order-plus-dead-time
        // response moves 5 % of its change 0.051 tau after its dead time, so a response that
        // moved later has that much more dead time (a sensor's lag and the valve's travel,
        // which the two points miss when a fast part is followed by a slow one: read as
        // 0.2 s where the supply had not moved 5 % for 2.5 s, the PI hunted +-0.8 K).
        let theta = t63 - two_point_tau;
        let first = time_at(0.05).map_or(theta, |t05| t05 - two_point_tau * FIVE_PCT_TAU);
        if first > theta + DT_S {
            (two_point_tau, first, TWO_POINT_FIRST_MOVEMENT)
        } else {
            (two_point_tau, theta, TWO_POINT)
        }
    } else {
        // A response that starts fast and goes on slowly (the exchanger answers at once, the
        // cooled water's trip round the loop later) puts the two-point dead time below zero:
        // take the dead time to the first clear movement (5 % of the change; it came before
        // the 28 %) and the time constant from there to 63 %.
        let t05 = time_at(0.05).unwrap_or(t28);
        if t05 < 2.0 * DT_S {
            return Err(format!(
                "refused: inconclusive (the supply moved 5 % of its change {t05:.1} s after the step, \
                 t28 = {t28:.1} s, t63 = {t63:.1} s): a dead time shorter than the {DT_S} s sampling \
                 can resolve gives no model to tune on"
            ));
        }
        (t63 - t05, t05, FIRST_MOVEMENT)
    };
    if tau < 2.0 * DT_S {
        return Err(format!(
            "refused: inconclusive (tau = {tau:.2} s from t28 = {t28:.1} s, t63 = {t63:.1} s): \
             a response faster than the {DT_S} s sampling can resolve gives no model to tune on"
        ));
    }
    let gain = change / STEP_PCT;
    let tau_c = theta;
    Ok(Tuning {
        step_pct: STEP_PCT,
        load,
        valve_before_pct: v0,
        gain_k_per_pct: gain,
        tau_s: tau,
        theta_s: theta,
        kc_pct_per_k: tau / (gain.abs() * (tau_c + theta)),
        ti_s: tau.min(4.0 * (tau_c + theta)),
        valve_stroke_s,
        method,
    })
}

fn settle(
    plant: &mut RowPlant,
    act: &mut Actuators,
    env: &Environment,
    valve: f64,
    seconds: f64,
) -> f64 {
    act.valve_demand_pct = valve;
    plant.set_valve(valve);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let steps = (seconds / DT_S) as usize;
    for _ in 0..steps {
        plant.step(DT_S, act, env);
    }
    plant.state.supply_c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bump_test_finds_a_cooling_valve_and_a_sane_model() {
        let t = identify(&RowParams::default(), 25.0, 30.0).unwrap();
        assert!(t.gain_k_per_pct < 0.0, "opening the valve cools: {t:?}");
        assert!(t.tau_s > 1.0 && t.tau_s < 300.0, "{t:?}");
        assert!(t.theta_s > 0.0 && t.theta_s < t.tau_s * 2.0, "{t:?}");
        assert!(t.kc_pct_per_k > 0.0 && t.ti_s > 0.0, "{t:?}");
        assert!((t.valve_stroke_s - 30.0).abs() < 1.0, "{t:?}");
        let slow = RowParams {
            valve_stroke_s: 120.0,
            ..RowParams::default()
        };
        let t = identify(&slow, 25.0, 30.0).unwrap();
        assert!((t.valve_stroke_s - 120.0).abs() < 2.0, "{t:?}");
        assert!((t.pid().slew_per_s - 100.0 / 120.0).abs() < 0.02, "{t:?}");
    }

    #[test]
    fn a_saturated_bump_test_is_refused_with_the_reason() {
        // 24 racks on the 8-rack CDU's heat exchanger and pumps: not even half load holds.
        let p = RowParams {
            racks: 24,
            ..RowParams::default()
        };
        let e = identify(&p, 25.0, 30.0).unwrap_err();
        assert!(e.starts_with("refused: saturated"), "{e}");
        // 16 racks hold at half load, where the test is taken; the response starts fast
        // (the small rise of a half-loaded exchanger), so it is read by its first movement
        // rather than floored at the sampling time (which gave a limit-cycling PI).
        let p = RowParams {
            racks: 16,
            ..RowParams::default()
        };
        let t = identify(&p, 25.0, 30.0).unwrap();
        assert!(t.theta_s >= 0.5 && t.kc_pct_per_k < 100.0, "{t:?}");
    }

    #[test]
    fn a_test_is_not_taken_on_a_row_whose_gpus_protect_themselves() {
        // Cold plates 35 % over nameplate: at design load the GPUs pass their 83 degC slowdown
        // even with the supply at its setpoint, so the heat is not the load's. The test is
        // taken at 75 % load, on a row that carries it, at the valve that holds it there.
        let hot = RowParams {
            cold_plate_r_design_k_per_w: 0.025 * 1.35,
            facility_flow_factor: 0.66,
            ..RowParams::default()
        };
        let e = bump_test(&hot, 25.0, 30.0, 1.0).unwrap_err();
        assert!(e.starts_with("refused: GPUs protected"), "{e}");
        let t = identify(&hot, 25.0, 30.0).unwrap();
        assert_eq!(t.load, 0.75, "{t:?}");
        let at_design = identify(&RowParams::default(), 25.0, 30.0).unwrap();
        assert_eq!(at_design.load, 1.0);
        // The step is taken where the valve holds the loaded row (short of facility water, as
        // open as the nameplate row's at design load), and the response is the loaded row's:
        // not the small one of a row whose trays shut down and left the supply near the
        // facility water (such a test had read 0.09 K/% at 44 % open and tuned a PI that
        // hunted +-1.4 K for a whole day).
        assert!(
            t.valve_before_pct > 80.0 && t.valve_before_pct < 95.0,
            "{t:?}"
        );
        assert!(
            t.gain_k_per_pct.abs() > 0.5 * at_design.gain_k_per_pct.abs(),
            "{t:?} {at_design:?}"
        );
        // Slowing down at every load: refused, saying so.
        let cooked = RowParams {
            cold_plate_r_design_k_per_w: 0.025 * 6.0,
            ..RowParams::default()
        };
        let e = identify(&cooked, 25.0, 30.0).unwrap_err();
        assert!(e.starts_with("refused: GPUs protected"), "{e}");
        assert!(e.contains("50 % load"), "{e}");
    }

    /// A recorded response `y(t)` sampled as the bump test samples it.
    fn record(y: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (1..=9_000)
            .map(|k| {
                let t = f64::from(k) * DT_S;
                (t, y(t))
            })
            .collect()
    }

    #[test]
    fn a_response_that_starts_fast_is_read_by_its_first_movement() {
        // A first-order-plus-dead-time response reads by the two points.
        let fopdt = record(|t| {
            if t < 3.0 {
                0.0
            } else {
                -(1.0 - (-(t - 3.0) / 20.0).exp())
            }
        });
        let t = fit(&fopdt, 0.0, 50.0, 30.0, 1.0).unwrap();
        assert_eq!(t.method, TWO_POINT);
        assert!(
            (t.theta_s - 3.0).abs() < 0.3 && (t.tau_s - 20.0).abs() < 0.5,
            "{t:?}"
        );
        // A third at once (1 s after a 1 s dead time), the rest over 60 s: the two-point dead
        // time is negative, so the dead time is the first movement's.
        let fast_then_slow = record(|t| {
            if t < 1.0 {
                0.0
            } else {
                let s = t - 1.0;
                -(0.33 * (1.0 - (-s).exp()) + 0.67 * (1.0 - (-s / 60.0).exp()))
            }
        });
        let t = fit(&fast_then_slow, 0.0, 50.0, 30.0, 1.0).unwrap();
        assert_eq!(t.method, FIRST_MOVEMENT);
        assert!(t.theta_s > 1.0 && t.theta_s < 1.5, "{t:?}");
        assert!(t.tau_s > 20.0 && t.kc_pct_per_k > 0.0, "{t:?}");
        // 55 % through a lag of two 2 s stages (a sensor's lag, the valve's travel) after a
        // 1 s dead time, the rest over 40 s: the two points read a dead time of 0.5 s, but the
        // response had not moved 5 % until 1.9 s, which puts the model's dead time at 1.35 s
        // (a PI 0.37 times as strong).
        let lagged_then_slow = record(|t| {
            if t < 1.0 {
                0.0
            } else {
                let s = t - 1.0;
                let fast = 1.0 - (1.0 + s / 2.0) * (-s / 2.0).exp();
                -(0.55 * fast + 0.45 * (1.0 - (-s / 40.0).exp()))
            }
        });
        let t = fit(&lagged_then_slow, 0.0, 50.0, 30.0, 1.0).unwrap();
        assert_eq!(t.method, TWO_POINT_FIRST_MOVEMENT, "{t:?}");
        assert!((t.tau_s - 10.8).abs() < 0.2, "{t:?}");
        assert!((t.theta_s - 1.35).abs() < 0.1, "{t:?}");
        // Moving within the first sample: refused, with why.
        let instant = record(|t| -(1.0 - (-t / 30.0).exp()) - 0.3);
        let e = fit(&instant, 0.0, 50.0, 30.0, 1.0).unwrap_err();
        assert!(e.starts_with("refused: inconclusive"), "{e}");
    }
}
