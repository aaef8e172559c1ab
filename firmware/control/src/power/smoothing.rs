//! Ride-through and grid smoothing.
//!
//! **Ride-through**: on AC loss the BBUs take the bus by themselves (within 2 ms); the
//! controller enters `RideThrough`, the allocator caps the rack so the BBUs last the
//! guaranteed time, and when AC returns the controller resumes from where the grid then takes
//! the load.
//!
//! **Grid smoothing**: the PSUs' output follows a low-passed (`smoothing_tau_s`), ramp-limited
//! (`ramp_limit_w_per_s`) target; the BBUs on the bus take the difference within their
//! state-of-charge window (keeping the ride-through reserve, leaning the target so they
//! recharge); a drop deeper than they can absorb is burnt by the GPUs up to the power floor,
//! so the grid does not see it (NVML's power-smoothing floor does the same). Off, sequencing
//! or on the baseline's static caps, the BBUs recharge toward full.

use crate::Instant;

use super::{PowerConfig, PowerInputs, PowerOutputs, PowerReason, PowerState, PowerTrigger, TRAYS};

/// Where the rack's power comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    /// The AC feed.
    Ac,
    /// The BBUs, since AC was lost.
    Battery { since: Instant },
}

/// The feed and the smoothing filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GridSmoother {
    feed: Feed,
    /// The low-passed load plus lean, W (none until smoothing starts).
    grid_filtered_w: Option<f32>,
    /// The PSUs' ramp-limited output target, W.
    grid_target_w: f32,
}

impl GridSmoother {
    pub const fn new() -> Self {
        Self {
            feed: Feed::Ac,
            grid_filtered_w: None,
            grid_target_w: 0.0,
        }
    }

    /// Since when the rack is on battery, if it is.
    pub fn on_battery_since(&self) -> Option<Instant> {
        match self.feed {
            Feed::Ac => None,
            Feed::Battery { since } => Some(since),
        }
    }

    /// Follows the AC feed: the move for the state machine when it is lost or comes back.
    pub fn ride_through(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
    ) -> Option<(PowerTrigger, PowerReason)> {
        match self.feed {
            Feed::Ac if !inputs.ac_present => {
                self.feed = Feed::Battery { since: now };
                Some((PowerTrigger::AcLost, PowerReason::AcLoss))
            }
            Feed::Battery { .. } if inputs.ac_present => {
                self.feed = Feed::Ac;
                // Resume smoothing from where the grid is now taking the load.
                self.grid_filtered_w = None;
                Some((PowerTrigger::AcBack, PowerReason::AcRestored))
            }
            _ => None,
        }
    }

    /// Grid-side smoothing with the BBUs: the PSUs' output follows a low-passed, ramp-limited
    /// target; the BBUs on the bus take the difference within their state-of-charge window.
    /// `enabled` is the enabled trays' mask.
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn smooth(
        &mut self,
        inputs: &PowerInputs,
        config: &PowerConfig,
        state: PowerState,
        dt: f32,
        electrical: f32,
        load: f32,
        enabled: u32,
        outputs: &mut PowerOutputs,
    ) {
        let c = config;
        outputs.tray_floor_w = [0.0; TRAYS];
        if self.on_battery_since().is_some() {
            outputs.smoothing = false;
            outputs.bbu_power_w = load;
            self.grid_filtered_w = None;
            return;
        }
        if !c.smoothing || c.static_caps || state == PowerState::Sequencing {
            // Recharge toward full when not smoothing.
            outputs.smoothing = false;
            outputs.bbu_power_w = if inputs.bbu_soc < c.soc_max {
                -c.bbu_max_charge_w
            } else {
                0.0
            };
            self.grid_filtered_w = None;
            return;
        }
        // Below the reserve the target leans up so the BBUs recharge; near full it leans down.
        let lean = if inputs.bbu_soc < c.soc_reserve {
            0.5 * c.bbu_max_charge_w
        } else if inputs.bbu_soc > c.soc_max {
            -0.5 * c.bbu_max_charge_w
        } else {
            0.0
        };
        let filtered = self.grid_filtered_w.get_or_insert(load);
        *filtered += (load + lean - *filtered) * (dt / c.smoothing_tau_s.max(dt));
        if !outputs.smoothing {
            self.grid_target_w = load;
        }
        let max_step = c.ramp_limit_w_per_s * c.psu_efficiency * dt;
        self.grid_target_w += (*filtered - self.grid_target_w).clamp(-max_step, max_step);
        // The grid side answers to the host's and the breaker's limits (the thermal part of the
        // budget concerns the trays' heat, which the caps already hold).
        self.grid_target_w = self.grid_target_w.min(electrical * c.psu_efficiency);
        // The BBUs can supply down to `target - max discharge` only above the reserve, and
        // absorb up to `max charge` only below the top of their window.
        let can_discharge = if inputs.bbu_soc > c.soc_reserve * 0.9 {
            c.bbu_max_discharge_w
        } else {
            0.0
        };
        let can_charge = if inputs.bbu_soc < 1.0 {
            c.bbu_max_charge_w
        } else {
            0.0
        };
        self.grid_target_w = self.grid_target_w.max(load - can_discharge);
        // A drop deeper than the BBUs can absorb: the GPUs burn up to the floor, so the grid
        // does not see it (NVML's power-smoothing floor does the same on the GPU).
        let floor_total = (self.grid_target_w - can_charge).clamp(0.0, c.power_floor_w.max(0.0));
        #[allow(clippy::cast_precision_loss)] // at most TRAYS
        let on = enabled.count_ones().max(1) as f32;
        let floor = (floor_total / on).min(c.tray_max_w);
        for (t, f) in outputs.tray_floor_w.iter_mut().enumerate() {
            *f = if enabled & (1 << t) != 0 { floor } else { 0.0 };
        }
        outputs.smoothing = true;
        outputs.bbu_power_w = load - self.grid_target_w;
        outputs.grid_target_w = self.grid_target_w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerController;

    #[test]
    fn a_load_drop_reaches_the_grid_no_faster_than_the_ramp_limit() {
        let config = PowerConfig::default();
        let mut outputs = *PowerController::running(config).outputs();
        let inputs = crate::power::tests_support::inputs();
        let mut g = GridSmoother::new();
        let enabled = (1 << TRAYS) - 1;
        for _ in 0..600 {
            g.smooth(
                &inputs,
                &config,
                PowerState::Running,
                0.1,
                200_000.0,
                100_000.0,
                enabled,
                &mut outputs,
            );
        }
        let before = outputs.grid_target_w;
        g.smooth(
            &inputs,
            &config,
            PowerState::Running,
            0.1,
            200_000.0,
            20_000.0,
            enabled,
            &mut outputs,
        );
        let step = before - outputs.grid_target_w;
        let limit = config.ramp_limit_w_per_s * config.psu_efficiency * 0.1;
        assert!(step <= limit + 1e-3, "{step} W in one step, limit {limit}");
        assert!(outputs.bbu_power_w < 0.0, "the BBUs absorb the difference");
    }

    #[test]
    fn ac_loss_and_return_are_the_moves_of_a_ride_through() {
        let mut g = GridSmoother::new();
        let mut inputs = crate::power::tests_support::inputs();
        inputs.ac_present = false;
        assert_eq!(
            g.ride_through(Instant(100), &inputs),
            Some((PowerTrigger::AcLost, PowerReason::AcLoss))
        );
        assert_eq!(g.on_battery_since(), Some(Instant(100)));
        assert_eq!(g.ride_through(Instant(200), &inputs), None);
        inputs.ac_present = true;
        assert_eq!(
            g.ride_through(Instant(300), &inputs),
            Some((PowerTrigger::AcBack, PowerReason::AcRestored))
        );
        assert_eq!(g.on_battery_since(), None);
    }
}
