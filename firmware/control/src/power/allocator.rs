//! The cap allocator: the budget in force and each tray's share of it.
//!
//! The **budget** is the least of the electrical budget (the host's budget, the breaker's
//! continuous rating, the healthy PSUs' capacity), the **thermal budget** (an integral loop
//! holding the hottest GPU below `gpu_limit_c`, ahead of the GPUs' own slowdown), the CDU's
//! headroom share (a conservative budget when its broadcast is stale), and on battery the power
//! that makes the BBUs last the ride-through time; never below every tray's floor.
//!
//! The **caps**: every enabled tray gets its floor; the rest goes to the trays level by level,
//! highest priority first, in proportion to their demand within a level; what is left after
//! every demand is met is spread evenly. The caps take effect in the next step.

use crate::Instant;

use super::trays::{bits, max, min, priority_groups};
use super::{PowerConfig, PowerInputs, PowerOutputs, TRAYS};

/// The trays grouped by priority and the thermal budget's integral.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CapAllocator {
    /// The trays at each priority level in use (a bit per tray), highest level first, and how
    /// many levels there are: fixed by the config, so found once rather than every step.
    priority_groups: [u32; TRAYS],
    priority_levels: usize,
    /// The thermal loop's budget, W (input side).
    pub thermal_budget_w: f32,
}

impl CapAllocator {
    pub fn new(config: &PowerConfig) -> Self {
        let (priority_groups, priority_levels) = priority_groups(config);
        Self {
            priority_groups,
            priority_levels,
            thermal_budget_w: config.budget_w,
        }
    }

    /// The budget in force (input side, W), within `electrical` (`electrical_budget_w`), with
    /// the trays drawing `load` (`load_w`).
    #[allow(clippy::too_many_arguments)] // the step's inputs, each from its own part
    pub fn budget(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
        config: &PowerConfig,
        dt: f32,
        electrical: f32,
        load: f32,
        on_battery_since: Option<Instant>,
    ) -> f32 {
        let c = *config;
        let mut budget = electrical;
        if c.static_caps {
            return budget;
        }
        // Thermal: integral loop on the hottest GPU, bounded by the CDU headroom share.
        let hottest = inputs
            .tray_hottest_gpu_c
            .iter()
            .take(c.trays)
            .copied()
            // A NaN reading is passed over, as `f32::max` does (the running value is never NaN);
            // a zero's sign cannot change `error` below.
            .fold(f32::MIN, |hottest, t| max(t, hottest));
        let error = c.gpu_limit_c - hottest;
        let floor_total = c.tray_floor_w * c.trays as f32 / c.psu_efficiency;
        self.thermal_budget_w = (self.thermal_budget_w + c.thermal_gain_w_per_k_s * error * dt)
            .clamp(floor_total, c.budget_w);
        let drawn = load / c.psu_efficiency;
        budget = budget.min(self.thermal_budget_w);
        match inputs.headroom {
            Some((headroom, at)) if now.secs_since(at) <= c.headroom_stale_s => {
                let share = headroom / c.racks_in_row.max(1.0);
                budget = budget.min(drawn + share / 0.9);
            }
            _ => budget = budget.min(c.conservative_budget_w),
        }
        if let Some(since) = on_battery_since {
            // Spread the BBUs' remaining energy over the rest of the guaranteed time.
            let remaining_s = (c.ride_through_s - now.secs_since(since)).max(1.0);
            let energy = inputs.bbu_soc.clamp(0.0, 1.0) * c.bbu_energy_j;
            budget = budget.min(energy / remaining_s).min(c.bbu_max_discharge_w);
        }
        budget.max(floor_total)
    }

    /// Allots per-tray caps: floors first, then by priority, proportional to demand. `enabled`
    /// is the enabled trays' mask.
    pub fn allot(
        &self,
        budget_w: f32,
        inputs: &PowerInputs,
        config: &PowerConfig,
        enabled: u32,
        outputs: &mut PowerOutputs,
    ) {
        let c = config;
        let n = c.trays;
        #[allow(clippy::cast_precision_loss)] // at most TRAYS
        let count = enabled.count_ones().max(1) as f32;
        let dc_budget = budget_w * c.psu_efficiency;
        if c.static_caps {
            for cap in outputs.tray_cap_w.iter_mut().take(n) {
                *cap = (c.budget_w * c.psu_efficiency / n as f32).min(c.tray_max_w);
            }
            return;
        }
        let mut remaining = dc_budget - c.tray_floor_w * count;
        let mut caps = [c.tray_floor_w; TRAYS];
        // Each enabled tray's demand above its floor.
        let mut wants = [0.0f32; TRAYS];
        for t in 0..TRAYS {
            let (Some(want), Some(demand)) = (wants.get_mut(t), inputs.tray_demand_w.get(t)) else {
                continue;
            };
            if enabled & (1 << t) != 0 {
                // A zero's sign: a zero `need` is skipped, and adding a zero changes no cap.
                *want = max(*demand - c.tray_floor_w, 0.0);
            }
        }
        // Level by level, highest first; a level without enabled trays changes nothing.
        let groups = self
            .priority_groups
            .get(..self.priority_levels)
            .unwrap_or(&[]);
        for group in groups {
            if remaining <= 0.0 {
                break;
            }
            let members = group & enabled;
            let want = |t: usize| wants.get(t).copied().unwrap_or(0.0);
            let need: f32 = bits(members).map(want).sum();
            if need <= 0.0 {
                continue;
            }
            let share = (remaining / need).min(1.0);
            for t in bits(members) {
                if let Some(cap) = caps.get_mut(t) {
                    *cap += want(t) * share;
                }
            }
            remaining -= need * share;
        }
        // Budget left after every demand is met is spread evenly, so caps do not pin trays
        // exactly at their present demand.
        let spare = remaining.max(0.0) / count;
        for t in 0..n {
            if let (Some(out), Some(cap)) = (outputs.tray_cap_w.get_mut(t), caps.get(t)) {
                *out = min(cap + spare, c.tray_max_w);
            }
        }
    }
}
