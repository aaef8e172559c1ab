//! A PID law with the settings `OpenBMC`'s `phosphor-pid-control` makes first-class: integral limits,
//! output limits, output slew limit and feed-forward; derivative on the measurement (no kick on
//! a setpoint change), filtered.
//!
//! Sign convention: `error = measurement - setpoint` when `reverse` (for example a valve that
//! must open when the coolant is too hot), `setpoint - measurement` otherwise.
//!
//! Bumpless feed-forward changes: when the feed-forward term is dropped (its source went stale)
//! or resumed, the integral absorbs the difference, so the output does not jump.
//!
//! [`Pid::step_tracking`] is the same PI with **external reset feedback** (Shinskey): the
//! integral is a first-order lag of where the actuator really is (its position feedback), not of
//! what was asked of it. While the actuator follows, it is the PI above; while it cannot (a
//! valve slower than its nameplate, a deadband, a seized stem) the integral does not wind up, so
//! the loop does not overshoot when the actuator catches up, whatever its real speed.

/// Gains and limits.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PidConfig {
    /// Proportional gain, output units per unit of error.
    pub kp: f32,
    /// Integral time, s (0 disables the integral).
    pub ti_s: f32,
    /// Derivative time, s (0 disables the derivative).
    pub td_s: f32,
    /// Derivative filter time constant as a fraction of `td_s`.
    pub derivative_filter: f32,
    /// Output limits.
    pub out_min: f32,
    /// Output limits.
    pub out_max: f32,
    /// Largest output change per second (0 disables the slew limit).
    pub slew_per_s: f32,
    /// Error is measurement minus setpoint (true) or setpoint minus measurement (false).
    pub reverse: bool,
}

/// PID state.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pid {
    /// Settings.
    pub config: PidConfig,
    integral: f32,
    last_measurement: Option<f32>,
    derivative: f32,
    feed_forward: f32,
    output: f32,
}

impl Pid {
    /// A PID starting at `initial_output`.
    pub fn new(config: PidConfig, initial_output: f32) -> Self {
        let output = initial_output.clamp(config.out_min, config.out_max);
        Self {
            config,
            integral: output,
            last_measurement: None,
            derivative: 0.0,
            feed_forward: 0.0,
            output,
        }
    }

    /// The last output.
    pub fn output(&self) -> f32 {
        self.output
    }

    /// The feed-forward term in force.
    pub fn feed_forward(&self) -> f32 {
        self.feed_forward
    }

    /// Changes the feed-forward term without a bump in the output: the integral takes up the
    /// difference. Use it when a feed-forward source is dropped (`0.0`) or resumed.
    pub fn set_feed_forward_bumpless(&mut self, feed_forward: f32) {
        self.integral += self.feed_forward - feed_forward;
        self.feed_forward = feed_forward;
    }

    /// Forces the output (manual mode, failsafe); the next step continues from it.
    pub fn force(&mut self, output: f32) {
        let output = output.clamp(self.config.out_min, self.config.out_max);
        self.integral = output - self.feed_forward;
        self.output = output;
        self.last_measurement = None;
        self.derivative = 0.0;
    }

    /// One step with external reset feedback: `actual` is the actuator's measured position
    /// (output units). The integral lags `actual - feed_forward` with the integral time, so it
    /// holds what the actuator achieved, never more; otherwise as [`Pid::step`] (derivative,
    /// limits, slew). Without an integral time it is [`Pid::step`].
    pub fn step_tracking(
        &mut self,
        setpoint: f32,
        measurement: f32,
        feed_forward: f32,
        actual: f32,
        dt_s: f32,
    ) -> f32 {
        let c = self.config;
        if c.ti_s <= 0.0 || !actual.is_finite() {
            return self.step(setpoint, measurement, feed_forward, dt_s);
        }
        let Some((error, feed_forward)) = self.begin(setpoint, measurement, feed_forward, dt_s)
        else {
            return self.output;
        };
        self.integral += (actual - feed_forward - self.integral) * (dt_s / c.ti_s).min(1.0);
        self.finish(c.kp * error, feed_forward, dt_s)
    }

    /// The common start of a step: `None` when the step cannot be taken (no time passed, a
    /// non-finite reading), else the error and the feed-forward to use (0 when not finite),
    /// with the derivative updated.
    fn begin(
        &mut self,
        setpoint: f32,
        measurement: f32,
        feed_forward: f32,
        dt_s: f32,
    ) -> Option<(f32, f32)> {
        let c = self.config;
        if dt_s <= 0.0 || dt_s.is_nan() || !measurement.is_finite() || !setpoint.is_finite() {
            return None;
        }
        let feed_forward = if feed_forward.is_finite() {
            feed_forward
        } else {
            0.0
        };
        let sign = if c.reverse { -1.0 } else { 1.0 };
        let error = sign * (setpoint - measurement);
        // Derivative on measurement, first-order filtered.
        if c.td_s > 0.0
            && let Some(last) = self.last_measurement
        {
            let raw = -sign * c.kp * c.td_s * (measurement - last) / dt_s;
            let tf = (c.derivative_filter * c.td_s).max(dt_s);
            self.derivative += (raw - self.derivative) * dt_s / tf;
        }
        self.last_measurement = Some(measurement);
        Some((error, feed_forward))
    }

    /// The common end of a step: the integral clamped (with the feed-forward it stays inside
    /// the output range, so it never holds more than the output could use), the output limited
    /// and slewed.
    fn finish(&mut self, proportional: f32, feed_forward: f32, dt_s: f32) -> f32 {
        let c = self.config;
        self.integral = self
            .integral
            .clamp(c.out_min - feed_forward, c.out_max - feed_forward);
        self.feed_forward = feed_forward;
        let target = (proportional + self.integral + self.derivative + feed_forward)
            .clamp(c.out_min, c.out_max);
        self.output = if c.slew_per_s > 0.0 {
            let max_change = c.slew_per_s * dt_s;
            self.output + (target - self.output).clamp(-max_change, max_change)
        } else {
            target
        };
        self.output
    }

    /// One step of `dt_s` seconds with feed-forward `feed_forward` (output units).
    pub fn step(&mut self, setpoint: f32, measurement: f32, feed_forward: f32, dt_s: f32) -> f32 {
        let c = self.config;
        let Some((error, feed_forward)) = self.begin(setpoint, measurement, feed_forward, dt_s)
        else {
            return self.output;
        };
        let proportional = c.kp * error;
        // Integral with conditional integration (clamping anti-windup): integrate only when
        // the output is not saturated in the direction the error pushes it.
        let mut integral = self.integral;
        if c.ti_s > 0.0 {
            integral += c.kp * error * dt_s / c.ti_s;
        }
        let unclamped = proportional + integral + self.derivative + feed_forward;
        let saturated_high = unclamped > c.out_max && error > 0.0;
        let saturated_low = unclamped < c.out_min && error < 0.0;
        if !(saturated_high || saturated_low) {
            self.integral = integral;
        }
        self.finish(proportional, feed_forward, dt_s)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
mod tests {
    use super::*;

    fn config() -> PidConfig {
        PidConfig {
            kp: 2.0,
            ti_s: 10.0,
            td_s: 0.0,
            derivative_filter: 0.1,
            out_min: 0.0,
            out_max: 100.0,
            slew_per_s: 0.0,
            reverse: true,
        }
    }

    /// A first-order plant: y' = (gain * u - y) / tau.
    fn run(pid: &mut Pid, setpoint: f32, mut y: f32, seconds: f32) -> f32 {
        let dt = 0.1;
        let steps = (seconds * 10.0).round() as u32;
        for _ in 0..steps {
            let u = pid.step(setpoint, y, 0.0, dt);
            // reverse-acting: more output lowers y
            y += (50.0 - 0.5 * u - y) * dt / 5.0;
        }
        y
    }

    /// The plant of `run` behind an actuator that moves at most `rate` per second; returns the
    /// largest undershoot below the setpoint and the final value.
    fn run_slow_actuator(pid: &mut Pid, tracking: bool, rate: f32) -> (f32, f32) {
        let dt = 0.1;
        let (mut y, mut actual) = (30.0f32, 40.0f32);
        let mut lowest = y;
        for k in 0..6_000 {
            // The load rises at 10 s: the plant needs 20 % more output.
            let disturbance = if k > 100 { 10.0 } else { 0.0 };
            let u = if tracking {
                pid.step_tracking(30.0, y, 0.0, actual, dt)
            } else {
                pid.step(30.0, y, 0.0, dt)
            };
            actual += (u - actual).clamp(-rate * dt, rate * dt);
            y += (50.0 + disturbance - 0.5 * actual - y) * dt / 5.0;
            if k > 100 {
                lowest = lowest.min(y);
            }
        }
        (30.0 - lowest, y)
    }

    #[test]
    fn tracking_the_actuator_does_not_wind_up_behind_a_slow_one() {
        let mut plain = Pid::new(config(), 40.0);
        let mut tracking = Pid::new(config(), 40.0);
        let (plain_under, plain_end) = run_slow_actuator(&mut plain, false, 0.2);
        let (tracking_under, tracking_end) = run_slow_actuator(&mut tracking, true, 0.2);
        assert!((plain_end - 30.0).abs() < 0.05 && (tracking_end - 30.0).abs() < 0.05);
        assert!(
            tracking_under < 0.5 * plain_under,
            "overshoot below the setpoint: tracking {tracking_under}, plain {plain_under}"
        );
        // With an actuator that follows, tracking is the same PI.
        let mut a = Pid::new(config(), 0.0);
        let mut b = Pid::new(config(), 0.0);
        let mut y = 50.0;
        for _ in 0..3_000 {
            let u = a.step(30.0, y, 0.0, 0.1);
            let v = b.step_tracking(30.0, y, 0.0, b.output(), 0.1);
            assert!((u - v).abs() < 0.5, "{u} {v}");
            y += (50.0 - 0.5 * u - y) * 0.1 / 5.0;
        }
    }

    #[test]
    fn holds_a_first_order_plant_at_its_setpoint() {
        let mut pid = Pid::new(config(), 0.0);
        let y = run(&mut pid, 30.0, 50.0, 300.0);
        assert!((y - 30.0).abs() < 0.01, "y = {y}");
        assert!((pid.output() - 40.0).abs() < 0.1);
    }

    #[test]
    fn integral_does_not_wind_up_while_saturated() {
        let mut pid = Pid::new(config(), 0.0);
        // Setpoint unreachable (needs output 140 %): output saturates at 100.
        run(&mut pid, -20.0, 50.0, 600.0);
        assert!(pid.output() > 99.0, "at the limit: {}", pid.output());
        // A reachable setpoint again: the output leaves saturation at once, not after unwinding.
        let mut y = 0.0;
        let mut left_saturation_after = None;
        for i in 0..100 {
            let u = pid.step(30.0, y, 0.0, 0.1);
            y = 20.0;
            if u < 100.0 && left_saturation_after.is_none() {
                left_saturation_after = Some(i);
            }
        }
        assert_eq!(left_saturation_after, Some(0));
    }

    #[test]
    fn dropping_the_feed_forward_does_not_bump_the_output() {
        let mut pid = Pid::new(config(), 0.0);
        for _ in 0..100 {
            pid.step(30.0, 30.0, 25.0, 0.1);
        }
        let before = pid.output();
        pid.set_feed_forward_bumpless(0.0);
        let after = pid.step(30.0, 30.0, 0.0, 0.1);
        assert!((after - before).abs() < 1e-4, "{before} -> {after}");
    }

    #[test]
    fn the_slew_limit_bounds_each_step() {
        let mut pid = Pid::new(
            PidConfig {
                slew_per_s: 5.0,
                ..config()
            },
            0.0,
        );
        let out = pid.step(0.0, 100.0, 0.0, 0.1);
        assert!((out - 0.5).abs() < 1e-5, "{out}");
    }

    #[test]
    fn a_setpoint_change_does_not_kick_the_derivative() {
        let mut pid = Pid::new(
            PidConfig {
                td_s: 5.0,
                ..config()
            },
            50.0,
        );
        pid.step(30.0, 30.0, 0.0, 0.1);
        let a = pid.step(30.0, 30.0, 0.0, 0.1);
        let b = pid.step(20.0, 30.0, 0.0, 0.1);
        // Only the proportional and integral terms move: 2 * 10 + 2 * 10 * 0.1 / 10.
        assert!((b - a - 20.2).abs() < 1e-3, "{a} -> {b}");
    }

    #[test]
    fn bad_numbers_hold_the_output() {
        let mut pid = Pid::new(config(), 42.0);
        assert!((pid.step(30.0, f32::NAN, 0.0, 0.1) - 42.0).abs() < f32::EPSILON);
        assert!((pid.step(30.0, 31.0, 0.0, 0.0) - 42.0).abs() < f32::EPSILON);
    }
}
