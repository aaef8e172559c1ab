//! The pressure loop: the running pumps' speed holds the secondary differential pressure (or
//! the flow, or a fixed speed). The pressure setpoint is **reset from the heat load**: the
//! pressure that gives the flow for the design temperature rise at the load's envelope (the
//! row's load, or its most loaded open rack's if that is more: one pressure feeds them all)
//! (`dp_design x envelope^flow_exponent`; the envelope rises with the load at once and decays
//! over `dp_reset_decay_s`, so a load that swings, as training does, keeps a steady flow),
//! raised by `dp_per_margin_kpa_per_k` for every kelvin the hottest GPU is short of its margin
//! below slowdown, held between the reset's floor and 1.3 x design, and moved no faster than
//! `dp_setpoint_slew_kpa_per_s`. The floor is `dp_min_kpa` for a fast valve and rises to the
//! design pressure for a slow one (`dp_reset_stroke_s`): a load step on a reset row raises the
//! flow and so the heat the exchanger sees at once, which only a fast valve can cancel.
//!
//! Without the racks' reports the load and the GPU temperatures are unknown: it holds the
//! design pressure rather than guess low. In Failsafe, or with the controlled variable
//! unmeasurable, the pumps run at the failsafe speed.

use crate::pid::Pid;

use super::sensors::SensorBank;
use super::{CoolantConfig, CoolantInputs, CoolantState, PumpControl};

/// The pump loop's PID and its setpoint.
#[derive(Debug, Clone)]
pub(super) struct PressureLoop {
    pid: Pid,
    /// The differential pressure setpoint in force, kPa.
    pub dp_setpoint_kpa: f32,
    /// The load's envelope the reset follows, fraction of design (none before the first step).
    envelope: Option<f32>,
}

impl PressureLoop {
    pub fn new(config: &CoolantConfig) -> Self {
        Self {
            pid: Pid::new(config.pump_pid, config.pump_min_speed_pct),
            dp_setpoint_kpa: config.dp_design_kpa,
            envelope: None,
        }
    }

    /// A pump is starting: the loop takes over from the start speed, or from `running_pct`,
    /// the speed a pump already turns at (a warm start: no bump).
    pub fn start(&mut self, config: &CoolantConfig, running_pct: Option<f32>) {
        self.pid
            .force(running_pct.unwrap_or(config.pump_start_speed_pct));
    }

    /// Moves the setpoint and returns the lead pump's speed, %. `supply_lost`: no valid supply
    /// measurement this step (Failsafe now or about to be).
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn step(
        &mut self,
        config: &CoolantConfig,
        state: CoolantState,
        supply_lost: bool,
        heat_w: f32,
        peak_rack_w: f32,
        hottest_gpu_c: Option<f32>,
        inputs: &CoolantInputs,
        sensors: &SensorBank,
        dt: f32,
    ) -> f32 {
        let c = config;
        // The load the reset follows: the row's, or its most loaded rack's if more (one
        // differential pressure feeds every rack).
        #[allow(clippy::cast_precision_loss)] // at most MAX_RACKS
        let rack_design_w = c.design_heat_w / c.racks.max(1) as f32;
        let load_fraction = if hottest_gpu_c.is_some() {
            (heat_w / c.design_heat_w)
                .max(peak_rack_w / rack_design_w)
                .clamp(0.0, 1.5)
        } else {
            1.0
        };
        let envelope = self.envelope.map_or(load_fraction, |e| {
            load_fraction.max(e - dt / c.dp_reset_decay_s.max(dt))
        });
        self.envelope = Some(envelope);
        let mut dp_target = c.dp_design_kpa * crate::pow(envelope, c.flow_exponent);
        if let Some(gpu) = hottest_gpu_c {
            let shortfall = c.gpu_margin_k - (c.gpu_slowdown_c - gpu);
            if shortfall > 0.0 {
                dp_target += shortfall * c.dp_per_margin_kpa_per_k;
            }
        }
        let dp_target = dp_target.clamp(c.dp_reset_floor_kpa(), c.dp_design_kpa * 1.3);
        let max_change = c.dp_setpoint_slew_kpa_per_s * dt;
        self.dp_setpoint_kpa += (dp_target - self.dp_setpoint_kpa).clamp(-max_change, max_change);

        match state {
            CoolantState::Stopped => 0.0,
            _ if state == CoolantState::Failsafe || supply_lost => {
                self.pid.force(c.failsafe_pump_speed_pct);
                c.failsafe_pump_speed_pct
            }
            _ => match c.pump_control {
                PumpControl::DifferentialPressure if sensors.dp.status().usable() => {
                    self.pid
                        .step(self.dp_setpoint_kpa, inputs.dp_kpa.value, 0.0, dt)
                }
                PumpControl::Flow if sensors.flow.status().usable() => {
                    self.pid
                        .step(c.flow_setpoint_lpm, inputs.flow_lpm.value, 0.0, dt)
                }
                PumpControl::FixedSpeed(pct) => {
                    self.pid.force(pct);
                    pct
                }
                // The controlled variable is unmeasurable: hold a safe speed.
                _ => {
                    self.pid.force(c.failsafe_pump_speed_pct);
                    c.failsafe_pump_speed_pct
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Instant;

    /// A pressure loop with the default config and steady readings.
    struct Bench {
        config: CoolantConfig,
        sensors: SensorBank,
        inputs: CoolantInputs,
        p: PressureLoop,
    }

    impl Bench {
        fn new() -> Self {
            let config = CoolantConfig::default();
            Self {
                sensors: SensorBank::new(&config),
                inputs: CoolantInputs::uniform(Instant(0), 30.0),
                p: PressureLoop::new(&config),
                config,
            }
        }

        /// `seconds` one-second steps in `state` at `heat_w` with the hottest GPU at `gpu_c`;
        /// the last speed.
        fn run(
            &mut self,
            seconds: u32,
            state: CoolantState,
            lost: bool,
            heat_w: f32,
            gpu_c: Option<f32>,
        ) -> f32 {
            let mut speed = f32::NAN;
            for _ in 0..seconds {
                speed = self.p.step(
                    &self.config,
                    state,
                    lost,
                    heat_w,
                    // The load spread evenly over the racks.
                    heat_w / self.config.racks as f32,
                    gpu_c,
                    &self.inputs,
                    &self.sensors,
                    1.0,
                );
            }
            speed
        }
    }

    #[test]
    fn the_setpoint_follows_the_load_at_its_slew_and_rises_for_a_hot_gpu() {
        let mut b = Bench::new();
        // A valve fast enough for the full reset.
        b.config.temp_pid.slew_per_s = 100.0 / 20.0;
        let half = 0.5 * b.config.design_heat_w;
        let running = CoolantState::Running;
        // From the design pressure down toward 35 x 0.5^1.85 = 9.7 kPa at 5 kPa/s.
        b.run(1, running, false, half, Some(60.0));
        assert!(
            (b.p.dp_setpoint_kpa - 30.0).abs() < 1e-4,
            "{}",
            b.p.dp_setpoint_kpa
        );
        b.run(10, running, false, half, Some(60.0));
        let expected = 35.0 * libm::powf(0.5, 1.85);
        assert!(
            (b.p.dp_setpoint_kpa - expected).abs() < 1e-3,
            "{}",
            b.p.dp_setpoint_kpa
        );
        // 3 K short of the 3 K margin below 83 degC: 9 kPa more.
        b.run(10, running, false, half, Some(83.0));
        assert!((b.p.dp_setpoint_kpa - (expected + 9.0)).abs() < 1e-3);
        // Without reports: the design pressure.
        b.run(10, running, false, half, None);
        assert!((b.p.dp_setpoint_kpa - 35.0).abs() < 1e-4);
    }

    #[test]
    fn one_rack_at_full_load_keeps_the_design_pressure_on_a_half_loaded_row() {
        let mut b = Bench::new();
        b.config.temp_pid.slew_per_s = 100.0 / 20.0;
        let c = b.config;
        let half = 0.5 * c.design_heat_w;
        let rack_full = c.design_heat_w / c.racks as f32;
        for _ in 0..60 {
            b.p.step(
                &c,
                CoolantState::Running,
                false,
                half,
                rack_full,
                Some(60.0),
                &b.inputs,
                &b.sensors,
                1.0,
            );
        }
        assert!(
            (b.p.dp_setpoint_kpa - c.dp_design_kpa).abs() < 1e-3,
            "{}",
            b.p.dp_setpoint_kpa
        );
    }

    #[test]
    fn the_reset_is_shallower_for_a_slower_valve() {
        let low = 0.2 * CoolantConfig::default().design_heat_w;
        let floor_for = |stroke_s: f32| {
            let mut b = Bench::new();
            b.config.temp_pid.slew_per_s = 100.0 / stroke_s;
            b.run(120, CoolantState::Running, false, low, Some(60.0));
            b.p.dp_setpoint_kpa
        };
        // 20 s: the full reset; 50 s: half way to the design pressure; 80 s and more: none.
        assert!((floor_for(20.0) - 8.0).abs() < 1e-3, "{}", floor_for(20.0));
        assert!((floor_for(50.0) - 21.5).abs() < 1e-3, "{}", floor_for(50.0));
        assert!((floor_for(80.0) - 35.0).abs() < 1e-3, "{}", floor_for(80.0));
        assert!(
            (floor_for(150.0) - 35.0).abs() < 1e-3,
            "{}",
            floor_for(150.0)
        );
    }

    #[test]
    fn without_a_supply_reading_the_pumps_run_at_the_failsafe_speed() {
        let mut b = Bench::new();
        let speed = b.run(1, CoolantState::Running, true, 0.0, None);
        assert_eq!(speed, b.config.failsafe_pump_speed_pct);
        assert_eq!(b.run(1, CoolantState::Stopped, true, 0.0, None), 0.0);
    }
}
