//! A rack's power controller.
//!
//! ## Theory of operation
//! Every `period_ms` (100 ms) the board or simulator calls [`PowerController::step`] with the
//! AC feed's state and power, the feed current, the PSUs' presence and faults, each compute
//! tray's demand, power and hottest GPU, the battery backup units' state of charge, the row's
//! thermal headroom from the CDU, and any isolation request. The step:
//! 1. **sequences** power-up: PSUs pass their insert debounce, are enabled and settle; then
//!    trays are enabled one every `tray_stagger_s`, so inrush stays under the breaker's
//!    instantaneous limit: the first tray comes on once the PSUs are debounced and settled,
//!    the last `17 x tray_stagger_s` later (with the PSUs seen at the first step, 0.1 + 1 +
//!    0.5 + 8.5 = 10.1 s by default). A faulted PSU is switched off, retried
//!    after `psu_fault_off_s`, watched through `psu_probation_s`; the others carry the load
//!    (timings from Oxide's psc-seq-server, docs/domain.md);
//! 2. **sets the budget**: the least of the host's budget, the breaker's continuous rating,
//!    the healthy PSUs' capacity, the thermal budget (an integral loop holding the hottest GPU
//!    below `gpu_limit_c`, ahead of the GPUs' own slowdown, and the CDU's headroom share; a
//!    conservative cap when the headroom broadcast is stale), and on battery the power that
//!    makes the BBUs last `ride_through_s`;
//! 3. **allots per-tray caps**: every enabled tray gets its floor; the rest goes to trays in
//!    priority order, in proportion to their demand within a priority. The caps take effect in
//!    the next step, so a demand above budget is capped within one period plus the GPUs' own
//!    power-limit response (bounded at 0.5 s in the tests);
//! 4. **protects** the feed breaker: its thermal (I2t) state is modelled from the measured
//!    current; before it could trip, the lowest-priority trays are shed one by one, each with
//!    the reason recorded; a tray drawing far above its cap is shed as faulted;
//! 5. **rides through** AC loss on the BBUs (they take the bus by themselves within 2 ms; the
//!    controller caps power so they last the configured time) and recovers when AC returns;
//! 6. **smooths grid power**: the grid-side target follows the load through a low-pass filter
//!    and a ramp limit; the BBUs supply or absorb the difference within their state-of-charge
//!    window (keeping the ride-through reserve); when storage cannot absorb a drop, the trays'
//!    power floor is raised so the grid sees no deeper swing;
//! 7. honours an **isolation request** from the CDU (a leak): trays are shed lowest priority
//!    first, one every `isolation_shed_interval_s`, then the PSUs are switched off.
//!
//! ## States
//! `Off -> Sequencing -> Running <-> Capped`; `RideThrough` while on battery; `Shedding` while
//! protecting the breaker; `Isolated` after an isolation request. [`TRANSITIONS`] is the table.
//!
//! ## Parts
//! [`PowerController`] is an orchestrator over parts, each its own module with its own state
//! and step: `sequencer`, `psu_supervisor`, `allocator` (budget and caps), `breaker_guard`,
//! `smoothing` (ride-through and grid smoothing), and `alarms`; tray masks and the shed trays
//! in `trays`. Alarm changes and events go through one [`crate::annunciator::Annunciator`].

mod alarms;
mod allocator;
mod breaker_guard;
mod config;
mod io;
mod machine;
mod psu_supervisor;
mod sequencer;
mod smoothing;
mod trays;

use crate::Instant;
use crate::alarm::AlarmTable;
use crate::annunciator::{StepClock, transition};
use crate::events::EventLog;

pub use config::PowerConfig;
pub use io::{PowerInputs, PowerOutputs};
pub use machine::{PowerAlarm, PowerEvent, PowerReason, PowerState, PowerTrigger, TRANSITIONS};

use alarms::{AlarmInputs, PowerAlarms};
use allocator::CapAllocator;
use breaker_guard::{BreakerAction, BreakerGuard};
use psu_supervisor::PsuSupervisor;
use sequencer::Sequencer;
use smoothing::GridSmoother;
use trays::{Shed, lowest_priority_enabled, mask_where};

/// Power shelves per rack.
pub const SHELVES: usize = 8;
/// PSUs per shelf.
pub const PSUS_PER_SHELF: usize = 6;
/// Compute trays per rack.
pub const TRAYS: usize = 18;
// Alarm bookkeeping keeps a bit per tray and per PSU.
const _: () = assert!(TRAYS <= 32 && SHELVES * PSUS_PER_SHELF <= 64);

/// Events the log holds.
pub const EVENT_LOG_LEN: usize = 64;
/// A tray drawing this much or more when the controller boots is on (an enabled tray draws
/// its idle power, hundreds of watts; a disabled one nothing).
pub const WARM_START_TRAY_W: f32 = 100.0;
/// Alarms the table holds.
pub const ALARM_TABLE_LEN: usize = 32;

/// The controller's alarm table and event log.
type Annunciator =
    crate::annunciator::Annunciator<PowerAlarm, PowerEvent, ALARM_TABLE_LEN, EVENT_LOG_LEN>;

/// The power controller: the orchestrator over its parts.
#[derive(Debug, Clone)]
pub struct PowerController {
    config: PowerConfig,
    state: PowerState,
    clock: StepClock,
    psus: PsuSupervisor,
    sequencer: Sequencer,
    shed: Shed,
    breaker: BreakerGuard,
    allocator: CapAllocator,
    smoother: GridSmoother,
    alarm_book: PowerAlarms,
    last_demand_w: [f32; TRAYS],
    annunciator: Annunciator,
    outputs: PowerOutputs,
}

impl PowerController {
    /// A controller in `Off`; it starts sequencing on the first step with AC present.
    pub fn new(config: PowerConfig) -> Self {
        let config = PowerConfig {
            trays: config.trays.clamp(1, TRAYS),
            ..config
        };
        Self {
            state: PowerState::Off,
            clock: StepClock::new(),
            psus: PsuSupervisor::new(),
            sequencer: Sequencer::new(),
            shed: Shed::new(),
            breaker: BreakerGuard::new(),
            allocator: CapAllocator::new(&config),
            smoother: GridSmoother::new(),
            alarm_book: PowerAlarms::default(),
            last_demand_w: [0.0; TRAYS],
            annunciator: Annunciator::new(),
            outputs: PowerOutputs {
                tray_enable: [false; TRAYS],
                tray_cap_w: [config.tray_floor_w; TRAYS],
                tray_floor_w: [0.0; TRAYS],
                psu_enable: [[false; PSUS_PER_SHELF]; SHELVES],
                bbu_power_w: 0.0,
                budget_w: config.budget_w,
                grid_target_w: 0.0,
                smoothing: false,
                state: PowerState::Off,
                shed_trays: 0,
                breaker_thermal: 0.0,
            },
            config,
        }
    }

    /// A controller already running (all PSUs and trays on), as after a completed sequence.
    pub fn running(config: PowerConfig) -> Self {
        let mut c = Self::new(config);
        c.state = PowerState::Running;
        c.psus = PsuSupervisor::all_ok();
        c.sequencer = Sequencer::done();
        c.outputs.psu_enable = [[true; PSUS_PER_SHELF]; SHELVES];
        for (i, e) in c.outputs.tray_enable.iter_mut().enumerate() {
            *e = i < c.config.trays;
        }
        c.outputs.state = PowerState::Running;
        c
    }

    /// Settings.
    pub fn config(&self) -> &PowerConfig {
        &self.config
    }

    /// State.
    pub fn state(&self) -> PowerState {
        self.state
    }

    /// The last outputs.
    pub fn outputs(&self) -> &PowerOutputs {
        &self.outputs
    }

    /// The alarm table.
    pub fn alarms(&self) -> &AlarmTable<PowerAlarm, ALARM_TABLE_LEN> {
        self.annunciator.alarms()
    }

    /// Acknowledges an alarm; false if it is not listed.
    pub fn acknowledge(&mut self, alarm: PowerAlarm, instance: u8) -> bool {
        self.annunciator.alarms_mut().acknowledge(alarm, instance)
    }

    /// Acknowledges every alarm.
    pub fn acknowledge_all(&mut self) {
        self.annunciator.alarms_mut().acknowledge_all();
    }

    /// The trays' demand seen in the last step, W.
    pub fn last_demand_w(&self) -> &[f32; TRAYS] {
        &self.last_demand_w
    }

    /// The event log.
    pub fn events(&self) -> &EventLog<PowerEvent, EVENT_LOG_LEN> {
        self.annunciator.events()
    }

    /// The allowed host budget range, W: every tray's floor up to the breaker's rating.
    pub fn budget_range(&self) -> (f32, f32) {
        let min = self.config.tray_floor_w * self.config.trays as f32 / self.config.psu_efficiency;
        (min, self.breaker_budget_w())
    }

    /// Sets the host budget; refused (with the allowed range) outside the breaker's rating.
    /// The power floor follows a budget set below it down to the budget: a floor above the
    /// cap could never be held, and a technician lowering a cap in a hurry means the cap.
    pub fn set_budget(&mut self, budget_w: f32) -> Result<(), (f32, f32)> {
        let (min, max) = self.budget_range();
        if !(budget_w >= min && budget_w <= max) {
            return Err((min, max));
        }
        self.config.budget_w = budget_w;
        self.config.power_floor_w = self.config.power_floor_w.min(budget_w);
        Ok(())
    }

    /// Sets the grid-side ramp limit, W/s; refused outside 100 ..= 100 000.
    pub fn set_ramp_limit(&mut self, w_per_s: f32) -> Result<(), (f32, f32)> {
        let (min, max) = (100.0, 100_000.0);
        if !(w_per_s >= min && w_per_s <= max) {
            return Err((min, max));
        }
        self.config.ramp_limit_w_per_s = w_per_s;
        Ok(())
    }

    /// Sets the highest smoothing power floor, W; refused outside 0 ..= the budget.
    pub fn set_power_floor(&mut self, floor_w: f32) -> Result<(), (f32, f32)> {
        let (min, max) = (0.0, self.config.budget_w);
        if !(floor_w >= min && floor_w <= max) {
            return Err((min, max));
        }
        self.config.power_floor_w = floor_w;
        Ok(())
    }

    /// Sets the guaranteed ride-through time, s; refused outside 10 ..= 1800.
    pub fn set_ride_through(&mut self, seconds: f32) -> Result<(), (f32, f32)> {
        let (min, max) = (10.0, 1_800.0);
        if !(seconds >= min && seconds <= max) {
            return Err((min, max));
        }
        self.config.ride_through_s = seconds;
        Ok(())
    }

    /// Disables (technician) or re-enables a tray; `None` if there is no such tray.
    pub fn set_tray_enabled(&mut self, now: Instant, tray: usize, enabled: bool) -> Option<()> {
        if tray >= self.config.trays {
            return None;
        }
        if enabled {
            if let Some(e) = self.outputs.tray_enable.get_mut(tray) {
                *e = true;
                self.shed.restore(tray);
            }
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            self.annunciator.log(
                now,
                PowerEvent::TrayChanged {
                    tray: tray as u8,
                    enabled: true,
                    reason: PowerReason::Command,
                },
            );
        } else {
            self.shed.shed(
                now,
                tray,
                PowerReason::Command,
                &mut self.outputs.tray_enable,
                &mut self.annunciator,
            );
        }
        Some(())
    }

    /// A controller that boots on a powered rack (reset, flashed or power-cycled while its
    /// I/O expanders held the shelves and trays as they were, docs/failsafe.md) takes the rack
    /// over as it finds it: PSUs on, the trays that draw power on, and a power-on sequence
    /// interrupted by the reset resumed after the last tray that is on. A tray that is off
    /// before it stays off (it was shed; the reason went with the reset). Nothing is switched
    /// off and nothing re-sequenced.
    fn take_over_if_powered(&mut self, now: Instant, inputs: &PowerInputs) {
        let trays = self.config.trays;
        let powered = |i: usize| {
            inputs
                .tray_power_w
                .get(i)
                .is_some_and(|w| *w >= WARM_START_TRAY_W)
        };
        let Some(last_on) = (0..trays).rev().find(|&i| powered(i)) else {
            return;
        };
        self.psus = PsuSupervisor::all_ok();
        self.outputs.psu_enable = [[true; PSUS_PER_SHELF]; SHELVES];
        for (i, e) in self.outputs.tray_enable.iter_mut().enumerate() {
            *e = i < trays && powered(i);
        }
        let next = last_on + 1;
        if next >= trays {
            self.sequencer = Sequencer::done();
            self.fire(now, PowerTrigger::TakeOver, PowerReason::Boot);
        } else {
            self.sequencer = Sequencer::resume(next, now);
            self.fire(now, PowerTrigger::Start, PowerReason::Boot);
        }
        self.outputs.state = self.state;
    }

    /// One step: each part in turn, in a fixed order.
    pub fn step(&mut self, now: Instant, inputs: &PowerInputs) -> &PowerOutputs {
        let (dt, first) = self.clock.tick(now, self.config.period_ms);
        self.last_demand_w = inputs.tray_demand_w;
        if first && self.state == PowerState::Off && inputs.ac_present {
            self.take_over_if_powered(now, inputs);
        }

        if inputs.isolation_requested && self.state != PowerState::Isolated {
            self.fire(now, PowerTrigger::Isolate, PowerReason::IsolationRequested);
        }
        if self.state == PowerState::Isolated {
            self.isolate(now);
            self.outputs.state = self.state;
            return &self.outputs;
        }
        if self.state == PowerState::Off && inputs.ac_present {
            self.fire(now, PowerTrigger::Start, PowerReason::Boot);
        }
        let c = self.config;
        self.psus.step(
            now,
            inputs,
            &c,
            &mut self.outputs.psu_enable,
            &mut self.annunciator,
        );
        if self.state == PowerState::Sequencing
            && self.sequencer.step(
                now,
                &c,
                self.psus.ok(),
                &mut self.outputs.tray_enable,
                &mut self.annunciator,
            )
        {
            self.fire(
                now,
                PowerTrigger::SequenceDone,
                PowerReason::SequenceComplete,
            );
        }
        if let Some((trigger, reason)) = self.smoother.ride_through(now, inputs) {
            self.fire(now, trigger, reason);
        }
        self.protect(now, inputs, dt);
        // The PSUs' states (and so this) change only in the PSU supervisor's step, above.
        let electrical = self.electrical_budget_w();
        let load = self.load_w(inputs);
        let budget = self.allocator.budget(
            now,
            inputs,
            &c,
            dt,
            electrical,
            load,
            self.smoother.on_battery_since(),
        );
        self.outputs.budget_w = budget;
        // Nothing below enables or sheds a tray.
        let enabled = mask_where(&self.outputs.tray_enable, |e| e);
        self.allocator
            .allot(budget, inputs, &c, enabled, &mut self.outputs);
        self.smoother.smooth(
            inputs,
            &c,
            self.state,
            dt,
            electrical,
            load,
            enabled,
            &mut self.outputs,
        );
        self.follow_budget(now, inputs, budget);
        self.outputs.budget_w = budget;
        self.outputs.state = self.state;
        self.outputs.breaker_thermal = self.breaker.thermal;
        self.update_alarms(now, inputs, budget, electrical);
        &self.outputs
    }

    /// `Capped` while the trays ask more than the budget (with a margin either way).
    fn follow_budget(&mut self, now: Instant, inputs: &PowerInputs, budget: f32) {
        let demand: f32 = inputs
            .tray_demand_w
            .iter()
            .take(self.config.trays)
            .sum::<f32>()
            / self.config.psu_efficiency;
        if demand > budget * 1.001 {
            let reason = if budget < self.config.budget_w {
                PowerReason::ThermalLimit
            } else {
                PowerReason::OverBudget
            };
            self.fire(now, PowerTrigger::OverBudget, reason);
        } else if demand < budget * 0.98 {
            self.fire(now, PowerTrigger::WithinBudget, PowerReason::WithinBudget);
        }
    }

    /// Sets the alarms from this step's findings, and the shed count.
    fn update_alarms(&mut self, now: Instant, inputs: &PowerInputs, budget: f32, electrical: f32) {
        let c = &self.config;
        let shed = self.shed.mask();
        let thermal_w = self.allocator.thermal_budget_w;
        let thermal = !c.static_caps && thermal_w < electrical && budget <= thermal_w;
        let capped = self.state == PowerState::Capped;
        self.alarm_book.update(
            now,
            AlarmInputs {
                on_battery: self.smoother.on_battery_since().is_some(),
                capped,
                thermal_derate: thermal && capped,
                bbu_low: inputs.bbu_soc < c.soc_reserve,
                shed,
                psus_faulted: self.psus.faulted(),
            },
            &mut self.annunciator,
        );
        self.outputs.shed_trays = shed.count_ones();
    }

    /// The breaker guard's step and what it asks of the state machine.
    fn protect(&mut self, now: Instant, inputs: &PowerInputs, dt: f32) {
        let action = self.breaker.step(
            now,
            inputs,
            &self.config,
            dt,
            self.state == PowerState::Shedding,
            &mut self.shed,
            &mut self.outputs,
            &mut self.annunciator,
        );
        match action {
            BreakerAction::Shed(t) => {
                self.fire(now, PowerTrigger::Shed, PowerReason::Overcurrent);
                self.shed.shed(
                    now,
                    t,
                    PowerReason::Overcurrent,
                    &mut self.outputs.tray_enable,
                    &mut self.annunciator,
                );
            }
            BreakerAction::Relieved => {
                self.fire(now, PowerTrigger::ShedDone, PowerReason::WithinBudget);
            }
            BreakerAction::None => {}
        }
    }

    fn breaker_budget_w(&self) -> f32 {
        let c = &self.config;
        crate::sqrt(3.0) * c.feed_voltage_v * c.breaker_rated_a * 0.99 * c.breaker_budget_fraction
    }

    /// The host's budget bounded by the breaker and the healthy PSUs, input side, W.
    fn electrical_budget_w(&self) -> f32 {
        let c = &self.config;
        c.budget_w
            .min(self.breaker_budget_w())
            .min(self.psus.capacity_w(c) / c.psu_efficiency)
    }

    /// The trays' DC load as measured last step, W.
    fn load_w(&self, inputs: &PowerInputs) -> f32 {
        inputs.tray_power_w.iter().take(self.config.trays).sum()
    }

    /// Isolation: trays shed lowest priority first, one every `isolation_shed_interval_s`,
    /// then the PSUs switched off.
    fn isolate(&mut self, now: Instant) {
        let due = self
            .shed
            .last_at
            .is_none_or(|at| now.secs_since(at) >= self.config.isolation_shed_interval_s);
        if due {
            if let Some(t) = lowest_priority_enabled(&self.config, &self.outputs.tray_enable) {
                self.shed.shed(
                    now,
                    t,
                    PowerReason::IsolationRequested,
                    &mut self.outputs.tray_enable,
                    &mut self.annunciator,
                );
            } else {
                self.outputs.psu_enable = [[false; PSUS_PER_SHELF]; SHELVES];
                self.psus.enables_overridden();
            }
        }
        self.outputs.bbu_power_w = 0.0;
        self.outputs.tray_floor_w = [0.0; TRAYS];
    }

    /// Applies `trigger` if [`TRANSITIONS`] has a move for it from the current state.
    fn fire(&mut self, now: Instant, trigger: PowerTrigger, reason: PowerReason) {
        let from = self.state;
        let Some(to) = transition(TRANSITIONS, from, trigger) else {
            return;
        };
        self.state = to;
        self.annunciator
            .log(now, PowerEvent::StateChanged { from, to, reason });
    }
}

#[cfg(test)]
mod tests;

/// Inputs the parts' tests start from.
#[cfg(test)]
mod tests_support {
    use super::*;

    /// Every PSU fitted and healthy, 5 kW per tray, AC present, rated current.
    pub fn inputs() -> PowerInputs {
        PowerInputs {
            ac_present: true,
            input_power_w: 5_000.0 * TRAYS as f32 / 0.96,
            feed_current_a: 150.0,
            psu_present: [[true; PSUS_PER_SHELF]; SHELVES],
            psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
            tray_demand_w: [5_000.0; TRAYS],
            tray_power_w: [5_000.0; TRAYS],
            tray_hottest_gpu_c: [70.0; TRAYS],
            bbu_soc: 0.9,
            headroom: Some((400_000.0, Instant(0))),
            isolation_requested: false,
        }
    }
}
