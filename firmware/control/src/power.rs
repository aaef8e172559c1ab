//! A rack's power controller.
//!
//! ## Theory of operation
//! Every `period_ms` (100 ms) the board or simulator calls [`PowerController::step`] with the
//! AC feed's state and power, the feed current, the PSUs' presence and faults, each compute
//! tray's demand, power and hottest GPU, the battery backup units' state of charge, the row's
//! thermal headroom from the CDU, and any isolation request. The step:
//! 1. **sequences** power-up: PSUs pass their insert debounce, are enabled and settle; then
//!    trays are enabled one every `tray_stagger_s`, so inrush stays under the breaker's
//!    instantaneous limit: a full rack is on in `psu_debounce_s + psu_settle_s + 18 x
//!    tray_stagger_s` (1 + 0.5 + 9 = 10.5 s by default). A faulted PSU is switched off, retried
//!    after `psu_fault_off_s`, watched through `psu_probation_s`; the others carry the load
//!    (timings from Oxide's psc-seq-server, DOMAIN.md);
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

use crate::Instant;
use crate::alarm::AlarmTable;
use crate::events::EventLog;

/// Alarms the power controller raises (named as in the protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerAlarm {
    /// AC input lost: on battery.
    AcLoss,
    /// Demand is held below what it asks by the caps.
    PowerCapped,
    /// The thermal budget holds the rack below its host budget.
    ThermalDerate,
    /// A tray is shed (instance: tray).
    TrayShed,
    /// A PSU faulted (instance: shelf x 8 + PSU).
    PsuFault,
    /// BBU state of charge below the ride-through reserve.
    BbuLow,
}

/// Power shelves per rack.
pub const SHELVES: usize = 8;
/// PSUs per shelf.
pub const PSUS_PER_SHELF: usize = 6;
/// Compute trays per rack.
pub const TRAYS: usize = 18;
// Alarm bookkeeping keeps a bit per tray and per PSU.
const _: () = assert!(TRAYS <= 32 && SHELVES * PSUS_PER_SHELF <= 64);

/// The larger of `a` and `b`; `b` if `a` is NaN, as `f32::max` where `b` is not NaN.
///
/// The per-tray loops use these rather than `f32::max`/`min`: on x86 the NaN handling of those
/// costs a compare and a blend on top of `maxss` (a seventh of the step's instructions), and on
/// the Cortex-M4F they are calls to `fmaxf`/`fminf`. Every use has a `b` that is not NaN, and
/// where the sign of a zero result could differ, it cannot change what the step computes from it
/// (noted at each).
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The smaller of `a` and `b`; `b` if `a` is NaN, as `f32::min` where `b` is not NaN.
fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// The trays whose `values` entry passes `test`, a bit per tray.
fn mask_where<T: Copy>(values: &[T; TRAYS], test: impl Fn(T) -> bool) -> u32 {
    values
        .iter()
        .enumerate()
        .fold(0, |m, (t, v)| m | (u32::from(test(*v)) << t))
}

/// The fitted trays at each priority level in use (a bit per tray), highest level first, and
/// how many levels are in use.
fn priority_groups(config: &PowerConfig) -> ([u32; TRAYS], usize) {
    // At most TRAYS (< 32) trays: the shift cannot overflow.
    let mut left = (1u32 << config.trays.min(TRAYS)) - 1;
    let mut groups = [0u32; TRAYS];
    let mut len = 0;
    // The highest level among the trays not yet grouped, and its trays, until none is left.
    while let Some(level) = bits(left)
        .filter_map(|t| config.tray_priority.get(t).copied())
        .max()
    {
        let trays = mask_where(&config.tray_priority, |p| p == level) & left;
        if let Some(g) = groups.get_mut(len) {
            *g = trays;
            len += 1;
        }
        left &= !trays;
    }
    (groups, len)
}

/// The trays in a mask, lowest first.
fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let t = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            t
        })
    })
}

/// Events the log holds.
pub const EVENT_LOG_LEN: usize = 64;

/// The controller's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Everything off.
    Off,
    /// PSUs and trays being brought up.
    Sequencing,
    /// All trays on, demand within budget.
    Running,
    /// Demand above budget: caps are holding it.
    Capped,
    /// On battery.
    RideThrough,
    /// Shedding trays to protect the breaker.
    Shedding,
    /// Electrically isolated (leak).
    Isolated,
}

/// Why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerReason {
    /// Start.
    Boot,
    /// Sequencing finished.
    SequenceComplete,
    /// Demand above the budget.
    OverBudget,
    /// Demand back within budget.
    WithinBudget,
    /// AC input lost.
    AcLoss,
    /// AC input back.
    AcRestored,
    /// The breaker's I2t margin was running out.
    Overcurrent,
    /// A tray drew far above its cap.
    TrayFault,
    /// The CDU asked to isolate the rack.
    IsolationRequested,
    /// A PSU faulted.
    PsuFault,
    /// Heat: the thermal budget is below demand.
    ThermalLimit,
    /// A technician asked.
    Command,
}

/// What the state machine reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTrigger {
    /// Start.
    Start,
    /// All trays on.
    SequenceDone,
    /// Demand above budget.
    OverBudget,
    /// Demand within budget.
    WithinBudget,
    /// AC lost.
    AcLost,
    /// AC back.
    AcBack,
    /// Shedding for the breaker.
    Shed,
    /// Shedding done.
    ShedDone,
    /// Isolate.
    Isolate,
}

/// The state machine: (from, trigger, to).
pub const TRANSITIONS: &[(PowerState, PowerTrigger, PowerState)] = &[
    (PowerState::Off, PowerTrigger::Start, PowerState::Sequencing),
    (
        PowerState::Sequencing,
        PowerTrigger::SequenceDone,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::OverBudget,
        PowerState::Capped,
    ),
    (
        PowerState::Capped,
        PowerTrigger::WithinBudget,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::Capped,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::Sequencing,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::RideThrough,
        PowerTrigger::AcBack,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::Shed,
        PowerState::Shedding,
    ),
    (PowerState::Capped, PowerTrigger::Shed, PowerState::Shedding),
    (
        PowerState::Shedding,
        PowerTrigger::ShedDone,
        PowerState::Capped,
    ),
    (PowerState::Off, PowerTrigger::Isolate, PowerState::Isolated),
    (
        PowerState::Sequencing,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Running,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Capped,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::RideThrough,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Shedding,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
];

/// What the event log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerEvent {
    /// The state machine moved.
    StateChanged {
        /// From.
        from: PowerState,
        /// To.
        to: PowerState,
        /// Why.
        reason: PowerReason,
    },
    /// A tray was shed or enabled.
    TrayChanged {
        /// Which.
        tray: u8,
        /// Enabled after the change.
        enabled: bool,
        /// Why.
        reason: PowerReason,
    },
    /// A PSU faulted.
    PsuFaulted {
        /// Shelf.
        shelf: u8,
        /// PSU in the shelf.
        psu: u8,
    },
}

/// Settings. Defaults follow DOMAIN.md (GB200 NVL72 class rack, ORV3 HPR shelves).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerConfig {
    /// Control period, ms.
    pub period_ms: u32,
    /// Trays fitted.
    pub trays: usize,
    /// Host budget for rack input power, W.
    pub budget_w: f32,
    /// Feed breaker rated current, A.
    pub breaker_rated_a: f32,
    /// Feed line-to-line voltage, V.
    pub feed_voltage_v: f32,
    /// Thermal trip constant: at I = k x rated the breaker trips after `breaker_k_s / (k^2 - 1)` s.
    pub breaker_k_s: f32,
    /// Shed when the breaker's modelled thermal state passes this fraction of trip.
    pub breaker_shed_at: f32,
    /// Budget share of the breaker's continuous rating.
    pub breaker_budget_fraction: f32,
    /// PSU rating, W (5.5 kW).
    pub psu_rating_w: f32,
    /// PSU efficiency used to turn input budget into DC caps.
    pub psu_efficiency: f32,
    /// Largest tray cap, W.
    pub tray_max_w: f32,
    /// Smallest tray cap of an enabled tray, W.
    pub tray_floor_w: f32,
    /// Tray priorities (higher keeps power longer).
    pub tray_priority: [u8; TRAYS],
    /// A tray drawing more than this multiple of its cap for `tray_fault_s` is faulted.
    pub tray_fault_ratio: f32,
    /// See `tray_fault_ratio`, s.
    pub tray_fault_s: f32,
    /// Delay between tray enables in the power-on sequence, s.
    pub tray_stagger_s: f32,
    /// PSU insert debounce, s (1 s).
    pub psu_debounce_s: f32,
    /// PSU settle time after enable, s (0.5 s).
    pub psu_settle_s: f32,
    /// A faulted PSU stays off this long before a retry, s (5 s).
    pub psu_fault_off_s: f32,
    /// A retried PSU is on probation this long, s (4 s).
    pub psu_probation_s: f32,
    /// GPU temperature the thermal budget holds the hottest GPU below, degC (slowdown 83 - 3).
    pub gpu_limit_c: f32,
    /// Thermal budget integral gain, W per K per s.
    pub thermal_gain_w_per_k_s: f32,
    /// The CDU's headroom broadcast is stale after this long, s.
    pub headroom_stale_s: f32,
    /// Budget while the headroom broadcast is stale, W.
    pub conservative_budget_w: f32,
    /// Racks sharing the row's headroom.
    pub racks_in_row: f32,
    /// BBU usable energy when full, J.
    pub bbu_energy_j: f32,
    /// BBU largest discharge power, W.
    pub bbu_max_discharge_w: f32,
    /// BBU largest charge power, W.
    pub bbu_max_charge_w: f32,
    /// Guaranteed ride-through, s.
    pub ride_through_s: f32,
    /// Grid smoothing on.
    pub smoothing: bool,
    /// Grid-side ramp limit, W/s.
    pub ramp_limit_w_per_s: f32,
    /// Grid-side low-pass time constant, s.
    pub smoothing_tau_s: f32,
    /// State of charge kept for ride-through; smoothing works above it.
    pub soc_reserve: f32,
    /// Highest state of charge smoothing charges to.
    pub soc_max: f32,
    /// Highest power floor the GPUs are asked to burn while smoothing, when storage cannot
    /// absorb a drop, W (the trade of energy for a steadier grid that NVML's power smoothing
    /// makes too).
    pub power_floor_w: f32,
    /// Delay between tray sheds when isolating, s.
    pub isolation_shed_interval_s: f32,
    /// Static caps (the conventional baseline): every tray capped at budget / trays, no
    /// smoothing, no thermal budget.
    pub static_caps: bool,
}

impl Default for PowerConfig {
    fn default() -> Self {
        Self {
            period_ms: 100,
            trays: TRAYS,
            budget_w: 132_000.0,
            breaker_rated_a: 200.0,
            feed_voltage_v: 415.0,
            breaker_k_s: 100.0,
            breaker_shed_at: 0.5,
            breaker_budget_fraction: 0.95,
            psu_rating_w: 5_500.0,
            psu_efficiency: 0.96,
            tray_max_w: 9_000.0,
            tray_floor_w: 1_500.0,
            tray_priority: [1; TRAYS],
            tray_fault_ratio: 1.8,
            tray_fault_s: 0.5,
            tray_stagger_s: 0.5,
            psu_debounce_s: 1.0,
            psu_settle_s: 0.5,
            psu_fault_off_s: 5.0,
            psu_probation_s: 4.0,
            gpu_limit_c: 80.0,
            thermal_gain_w_per_k_s: 1_500.0,
            headroom_stale_s: 5.0,
            conservative_budget_w: 0.8 * 132_000.0,
            racks_in_row: 8.0,
            bbu_energy_j: 120_000.0 * 240.0,
            bbu_max_discharge_w: 160_000.0,
            bbu_max_charge_w: 15_000.0,
            ride_through_s: 300.0,
            smoothing: true,
            ramp_limit_w_per_s: 2_000.0,
            smoothing_tau_s: 30.0,
            soc_reserve: 0.5,
            soc_max: 0.95,
            power_floor_w: 0.8 * 132_000.0,
            isolation_shed_interval_s: 0.2,
            static_caps: false,
        }
    }
}

/// What the controller reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerInputs {
    /// AC input present.
    pub ac_present: bool,
    /// Rack input power from the AC feed, W.
    pub input_power_w: f32,
    /// Feed current, A.
    pub feed_current_a: f32,
    /// PSUs fitted.
    pub psu_present: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// PSUs reporting a fault.
    pub psu_fault: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// Each tray's demand (what its GPUs ask for), W.
    pub tray_demand_w: [f32; TRAYS],
    /// Each tray's power, W.
    pub tray_power_w: [f32; TRAYS],
    /// Each tray's hottest GPU, degC.
    pub tray_hottest_gpu_c: [f32; TRAYS],
    /// BBU state of charge, 0..=1.
    pub bbu_soc: f32,
    /// The row's thermal headroom and when it was received.
    pub headroom: Option<(f32, Instant)>,
    /// The CDU asks to isolate this rack.
    pub isolation_requested: bool,
}

/// What the controller commands and reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerOutputs {
    /// Tray power enables.
    pub tray_enable: [bool; TRAYS],
    /// Tray GPU power caps, W.
    pub tray_cap_w: [f32; TRAYS],
    /// Tray power floors (the GPUs burn up to this when asked less), W.
    pub tray_floor_w: [f32; TRAYS],
    /// PSU enables.
    pub psu_enable: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// BBU power into the bus (positive: discharge), W.
    pub bbu_power_w: f32,
    /// Budget in force, W (input side).
    pub budget_w: f32,
    /// While `smoothing`: the PSUs' output target on the bus, W (the BBUs supply or absorb the
    /// difference to the load at once).
    pub grid_target_w: f32,
    /// Smoothing is in force: the PSUs follow `grid_target_w`.
    pub smoothing: bool,
    /// State.
    pub state: PowerState,
    /// Trays shed to protect the breaker or for a fault.
    pub shed_trays: u32,
    /// Modelled breaker thermal state, fraction of trip.
    pub breaker_thermal: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Psu {
    Absent,
    Debouncing(Instant),
    Settling(Instant),
    Ok,
    Faulted(Instant),
    Probation(Instant),
}

/// The power controller.
#[derive(Debug, Clone)]
pub struct PowerController {
    config: PowerConfig,
    state: PowerState,
    last_step: Option<Instant>,
    psus: [[Psu; PSUS_PER_SHELF]; SHELVES],
    /// PSUs `Ok`, and `Ok` or on probation (carrying load), as of the last pass over them.
    psus_ok: u8,
    psus_up: u8,
    /// PSUs `Faulted`, a bit per shelf x `PSUS_PER_SHELF` + PSU.
    psus_faulted: u64,
    /// Every PSU was `Absent` or `Ok` after the last pass (no timer running) and their
    /// enables are as that pass set them: with the same inputs again, a pass changes nothing.
    psus_settled: bool,
    /// The PSU inputs of the last pass.
    last_psu_present: [[bool; PSUS_PER_SHELF]; SHELVES],
    last_psu_fault: [[bool; PSUS_PER_SHELF]; SHELVES],
    /// Which tray-shed and PSU-fault alarm instances were last set present (bit per tray, bit
    /// per shelf x `PSUS_PER_SHELF` + PSU): setting an absent condition again is a no-op.
    shed_alarms_set: u32,
    psu_alarms_set: u64,
    /// The trays at each priority level in use (a bit per tray), highest level first, and how
    /// many levels there are: fixed by the config, so found once rather than every step.
    priority_groups: [u32; TRAYS],
    priority_levels: usize,
    sequence_next: usize,
    sequence_at: Option<Instant>,
    shed: [bool; TRAYS],
    over_cap_since: [Option<Instant>; TRAYS],
    last_shed_at: Option<Instant>,
    thermal_budget_w: f32,
    breaker_thermal: f32,
    grid_filtered_w: Option<f32>,
    grid_target_w: f32,
    on_battery_since: Option<Instant>,
    last_demand_w: [f32; TRAYS],
    alarms: AlarmTable<PowerAlarm, 32>,
    events: EventLog<PowerEvent, EVENT_LOG_LEN>,
    outputs: PowerOutputs,
}

impl PowerController {
    /// A controller in `Off`; it starts sequencing on the first step with AC present.
    pub fn new(config: PowerConfig) -> Self {
        let config = PowerConfig {
            trays: config.trays.clamp(1, TRAYS),
            ..config
        };
        let (priority_groups, priority_levels) = priority_groups(&config);
        Self {
            priority_groups,
            priority_levels,
            state: PowerState::Off,
            last_step: None,
            psus: [[Psu::Absent; PSUS_PER_SHELF]; SHELVES],
            psus_ok: 0,
            psus_up: 0,
            psus_faulted: 0,
            psus_settled: false,
            last_psu_present: [[false; PSUS_PER_SHELF]; SHELVES],
            last_psu_fault: [[false; PSUS_PER_SHELF]; SHELVES],
            shed_alarms_set: 0,
            psu_alarms_set: 0,
            sequence_next: 0,
            sequence_at: None,
            shed: [false; TRAYS],
            over_cap_since: [None; TRAYS],
            last_shed_at: None,
            thermal_budget_w: config.budget_w,
            breaker_thermal: 0.0,
            grid_filtered_w: None,
            grid_target_w: 0.0,
            on_battery_since: None,
            last_demand_w: [0.0; TRAYS],
            alarms: AlarmTable::new(),
            events: EventLog::new(),
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
        c.psus = [[Psu::Ok; PSUS_PER_SHELF]; SHELVES];
        c.count_psus();
        c.sequence_next = c.config.trays;
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
    pub fn alarms(&self) -> &AlarmTable<PowerAlarm, 32> {
        &self.alarms
    }

    /// Acknowledges an alarm; false if it is not listed.
    pub fn acknowledge(&mut self, alarm: PowerAlarm, instance: u8) -> bool {
        self.alarms.acknowledge(alarm, instance)
    }

    /// Acknowledges every alarm.
    pub fn acknowledge_all(&mut self) {
        self.alarms.acknowledge_all();
    }

    /// The trays' demand seen in the last step, W.
    pub fn last_demand_w(&self) -> &[f32; TRAYS] {
        &self.last_demand_w
    }

    /// The event log.
    pub fn events(&self) -> &EventLog<PowerEvent, EVENT_LOG_LEN> {
        &self.events
    }

    /// The allowed host budget range, W: every tray's floor up to the breaker's rating.
    pub fn budget_range(&self) -> (f32, f32) {
        let min = self.config.tray_floor_w * self.config.trays as f32 / self.config.psu_efficiency;
        (min, self.breaker_budget_w())
    }

    /// Sets the host budget; refused (with the allowed range) outside the breaker's rating.
    pub fn set_budget(&mut self, budget_w: f32) -> Result<(), (f32, f32)> {
        let (min, max) = self.budget_range();
        if !(budget_w >= min && budget_w <= max) {
            return Err((min, max));
        }
        self.config.budget_w = budget_w;
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
            if let (Some(e), Some(s)) = (
                self.outputs.tray_enable.get_mut(tray),
                self.shed.get_mut(tray),
            ) {
                *e = true;
                *s = false;
            }
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            self.events.push(
                now,
                PowerEvent::TrayChanged {
                    tray: tray as u8,
                    enabled: true,
                    reason: PowerReason::Command,
                },
            );
        } else {
            self.shed_tray(now, tray, PowerReason::Command);
        }
        Some(())
    }

    fn breaker_budget_w(&self) -> f32 {
        let c = &self.config;
        libm::sqrtf(3.0) * c.feed_voltage_v * c.breaker_rated_a * 0.99 * c.breaker_budget_fraction
    }

    /// One step.
    pub fn step(&mut self, now: Instant, inputs: &PowerInputs) -> &PowerOutputs {
        let period_s = self.config.period_ms as f32 / 1000.0;
        let dt = self
            .last_step
            .map_or(period_s, |l| now.secs_since(l).clamp(0.0, 1.0));
        self.last_step = Some(now);
        self.last_demand_w = inputs.tray_demand_w;

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
        self.manage_psus(now, inputs);
        self.sequence(now);
        self.ride_through(now, inputs);
        self.protect(now, inputs, dt);
        // The PSUs' states (and so this) change only in `manage_psus`, above.
        let electrical = self.electrical_budget_w();
        let load = self.load_w(inputs);
        let budget = self.budget(now, inputs, dt, electrical, load);
        self.outputs.budget_w = budget;
        // Nothing below enables or sheds a tray.
        let enabled = self.enabled_mask();
        self.allot(budget, inputs, enabled);
        self.smooth(inputs, dt, electrical, load, enabled);

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
        self.outputs.budget_w = budget;
        self.outputs.state = self.state;
        self.outputs.breaker_thermal = self.breaker_thermal;
        let shed = mask_where(&self.shed, |s| s);
        self.update_alarms(now, inputs, budget, electrical, shed);
        self.outputs.shed_trays = shed.count_ones();
        &self.outputs
    }

    fn manage_psus(&mut self, now: Instant, inputs: &PowerInputs) {
        if self.psus_settled
            && inputs.psu_present == self.last_psu_present
            && inputs.psu_fault == self.last_psu_fault
        {
            // Nothing to time and nothing new: the pass below would change nothing.
            return;
        }
        self.last_psu_present = inputs.psu_present;
        self.last_psu_fault = inputs.psu_fault;
        let c = self.config;
        for s in 0..SHELVES {
            for p in 0..PSUS_PER_SHELF {
                let present = inputs
                    .psu_present
                    .get(s)
                    .and_then(|r| r.get(p))
                    .copied()
                    .unwrap_or(false);
                let fault = inputs
                    .psu_fault
                    .get(s)
                    .and_then(|r| r.get(p))
                    .copied()
                    .unwrap_or(false);
                let Some(psu) = self.psus.get_mut(s).and_then(|r| r.get_mut(p)) else {
                    continue;
                };
                let next = match *psu {
                    _ if !present => Psu::Absent,
                    Psu::Absent => Psu::Debouncing(now),
                    Psu::Debouncing(at) if now.secs_since(at) >= c.psu_debounce_s => {
                        Psu::Settling(now)
                    }
                    Psu::Settling(at) if now.secs_since(at) >= c.psu_settle_s => Psu::Ok,
                    Psu::Ok | Psu::Probation(_) if fault => Psu::Faulted(now),
                    Psu::Faulted(at) if now.secs_since(at) >= c.psu_fault_off_s => {
                        Psu::Probation(now)
                    }
                    Psu::Probation(at) if now.secs_since(at) >= c.psu_probation_s => Psu::Ok,
                    other => other,
                };
                let newly_faulted =
                    matches!(next, Psu::Faulted(_)) && !matches!(*psu, Psu::Faulted(_));
                *psu = next;
                if let Some(e) = self
                    .outputs
                    .psu_enable
                    .get_mut(s)
                    .and_then(|r| r.get_mut(p))
                {
                    *e = matches!(next, Psu::Settling(_) | Psu::Ok | Psu::Probation(_));
                }
                if newly_faulted {
                    #[allow(clippy::cast_possible_truncation)] // < 8
                    self.events.push(
                        now,
                        PowerEvent::PsuFaulted {
                            shelf: s as u8,
                            psu: p as u8,
                        },
                    );
                }
            }
        }
        self.count_psus();
    }

    /// Counts the PSUs by state after a pass over them.
    fn count_psus(&mut self) {
        let (mut ok, mut up, mut settled, mut faulted) = (0u8, 0u8, true, 0u64);
        for (i, psu) in self.psus.iter().flatten().enumerate() {
            match psu {
                Psu::Ok => {
                    ok += 1;
                    up += 1;
                }
                Psu::Probation(_) => {
                    up += 1;
                    settled = false;
                }
                Psu::Faulted(_) => {
                    faulted |= 1 << i;
                    settled = false;
                }
                Psu::Absent => {}
                Psu::Debouncing(_) | Psu::Settling(_) => settled = false,
            }
        }
        self.psus_faulted = faulted;
        self.psus_ok = ok;
        self.psus_up = up;
        self.psus_settled = settled;
    }

    fn psu_capacity_w(&self) -> f32 {
        f32::from(self.psus_up) * self.config.psu_rating_w
    }

    fn sequence(&mut self, now: Instant) {
        if self.state != PowerState::Sequencing {
            return;
        }
        // Trays start once at least half the PSUs are up (N of N+N).
        let needed = SHELVES * PSUS_PER_SHELF / 2;
        if usize::from(self.psus_ok) < needed {
            return;
        }
        let due = self
            .sequence_at
            .is_none_or(|at| now.secs_since(at) >= self.config.tray_stagger_s);
        if due && self.sequence_next < self.config.trays {
            if let Some(e) = self.outputs.tray_enable.get_mut(self.sequence_next) {
                *e = true;
            }
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            self.events.push(
                now,
                PowerEvent::TrayChanged {
                    tray: self.sequence_next as u8,
                    enabled: true,
                    reason: PowerReason::Boot,
                },
            );
            self.sequence_next += 1;
            self.sequence_at = Some(now);
        }
        if self.sequence_next >= self.config.trays {
            self.fire(
                now,
                PowerTrigger::SequenceDone,
                PowerReason::SequenceComplete,
            );
        }
    }

    fn ride_through(&mut self, now: Instant, inputs: &PowerInputs) {
        if !inputs.ac_present && self.on_battery_since.is_none() {
            self.on_battery_since = Some(now);
            self.fire(now, PowerTrigger::AcLost, PowerReason::AcLoss);
        } else if inputs.ac_present && self.on_battery_since.is_some() {
            self.on_battery_since = None;
            self.fire(now, PowerTrigger::AcBack, PowerReason::AcRestored);
            // Resume smoothing from where the grid is now taking the load.
            self.grid_filtered_w = None;
        }
    }

    /// Models the breaker's thermal state and sheds trays before it could trip.
    fn protect(&mut self, now: Instant, inputs: &PowerInputs, dt: f32) {
        let c = &self.config;
        let ratio = inputs.feed_current_a / c.breaker_rated_a;
        // Heats above rated current, cools below, in units of "fraction of trip".
        self.breaker_thermal =
            (self.breaker_thermal + (ratio * ratio - 1.0) * dt / c.breaker_k_s).max(0.0);

        // A tray far above its cap is faulted: shed it. The trays to shed are gathered and shed
        // after the pass, in tray order as before: shedding one changes no later tray's test.
        // Every slot is walked (a fixed count, so the compiler checks no bounds): a tray past
        // `config.trays` is never enabled and never timed.
        let mut faulted = 0u32;
        for t in 0..TRAYS {
            let (Some(power), Some(cap), Some(enabled), Some(since)) = (
                inputs.tray_power_w.get(t),
                self.outputs.tray_cap_w.get(t),
                self.outputs.tray_enable.get(t),
                self.over_cap_since.get_mut(t),
            ) else {
                continue;
            };
            // (A zero's sign cannot change the comparison.)
            if *enabled && *power > c.tray_fault_ratio * max(*cap, c.tray_floor_w) {
                let at = *since.get_or_insert(now);
                if now.secs_since(at) >= c.tray_fault_s {
                    *since = None;
                    faulted |= 1 << t;
                }
            } else {
                *since = None;
            }
        }
        let shed_at = c.breaker_shed_at;
        for t in bits(faulted) {
            self.shed_tray(now, t, PowerReason::TrayFault);
        }

        let interval_ok = self.last_shed_at.is_none_or(|at| now.secs_since(at) >= 0.5);
        if self.breaker_thermal >= shed_at && ratio > 1.0 && interval_ok {
            if let Some(t) = self.lowest_priority_enabled() {
                self.fire(now, PowerTrigger::Shed, PowerReason::Overcurrent);
                self.shed_tray(now, t, PowerReason::Overcurrent);
            }
        } else if self.state == PowerState::Shedding && ratio < 1.0 {
            self.fire(now, PowerTrigger::ShedDone, PowerReason::WithinBudget);
        }
    }

    /// The enabled trays, a bit per tray. Trays past `config.trays` are never enabled (every
    /// path that enables one checks it), so its population is the enabled count.
    fn enabled_mask(&self) -> u32 {
        mask_where(&self.outputs.tray_enable, |e| e)
    }

    fn lowest_priority_enabled(&self) -> Option<usize> {
        (0..self.config.trays)
            .rev()
            .filter(|&t| self.outputs.tray_enable.get(t).copied().unwrap_or(false))
            .min_by_key(|&t| self.config.tray_priority.get(t).copied().unwrap_or(0))
    }

    fn shed_tray(&mut self, now: Instant, t: usize, reason: PowerReason) {
        if let (Some(e), Some(s)) = (self.outputs.tray_enable.get_mut(t), self.shed.get_mut(t))
            && *e
        {
            *e = false;
            *s = true;
            self.last_shed_at = Some(now);
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            self.events.push(
                now,
                PowerEvent::TrayChanged {
                    tray: t as u8,
                    enabled: false,
                    reason,
                },
            );
        }
    }

    /// The host's budget bounded by the breaker and the healthy PSUs, input side, W.
    fn electrical_budget_w(&self) -> f32 {
        let c = &self.config;
        c.budget_w
            .min(self.breaker_budget_w())
            .min(self.psu_capacity_w() / c.psu_efficiency)
    }

    /// The budget in force (input side, W), within `electrical` (`electrical_budget_w`), with
    /// the trays drawing `load` (`load_w`).
    fn budget(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
        dt: f32,
        electrical: f32,
        load: f32,
    ) -> f32 {
        let c = self.config;
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
        if let Some(since) = self.on_battery_since {
            // Spread the BBUs' remaining energy over the rest of the guaranteed time.
            let remaining_s = (c.ride_through_s - now.secs_since(since)).max(1.0);
            let energy = inputs.bbu_soc.clamp(0.0, 1.0) * c.bbu_energy_j;
            budget = budget.min(energy / remaining_s).min(c.bbu_max_discharge_w);
        }
        budget.max(floor_total)
    }

    /// Allots per-tray caps: floors first, then by priority, proportional to demand. `enabled`
    /// is `enabled_mask()`.
    fn allot(&mut self, budget_w: f32, inputs: &PowerInputs, enabled: u32) {
        let c = &self.config;
        let n = c.trays;
        #[allow(clippy::cast_precision_loss)] // at most TRAYS
        let count = enabled.count_ones().max(1) as f32;
        let dc_budget = budget_w * c.psu_efficiency;
        if c.static_caps {
            for cap in self.outputs.tray_cap_w.iter_mut().take(n) {
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
            if let (Some(out), Some(cap)) = (self.outputs.tray_cap_w.get_mut(t), caps.get(t)) {
                *out = min(cap + spare, c.tray_max_w);
            }
        }
    }

    /// Grid-side smoothing with the BBUs: the PSUs' output follows a low-passed, ramp-limited
    /// target; the BBUs on the bus take the difference within their state-of-charge window.
    /// `enabled` is `enabled_mask()`.
    fn smooth(&mut self, inputs: &PowerInputs, dt: f32, electrical: f32, load: f32, enabled: u32) {
        let c = &self.config;
        self.outputs.tray_floor_w = [0.0; TRAYS];
        if self.on_battery_since.is_some() {
            self.outputs.smoothing = false;
            self.outputs.bbu_power_w = load;
            self.grid_filtered_w = None;
            return;
        }
        if !c.smoothing || c.static_caps || self.state == PowerState::Sequencing {
            // Recharge toward full when not smoothing.
            self.outputs.smoothing = false;
            self.outputs.bbu_power_w = if inputs.bbu_soc < c.soc_max {
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
        if !self.outputs.smoothing {
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
        for (t, f) in self.outputs.tray_floor_w.iter_mut().enumerate() {
            *f = if enabled & (1 << t) != 0 { floor } else { 0.0 };
        }
        self.outputs.smoothing = true;
        self.outputs.bbu_power_w = load - self.grid_target_w;
        self.outputs.grid_target_w = self.grid_target_w;
    }

    /// `shed_now` is the shed trays, a bit per tray.
    fn update_alarms(
        &mut self,
        now: Instant,
        inputs: &PowerInputs,
        budget: f32,
        electrical: f32,
        shed_now: u32,
    ) {
        let c = &self.config;
        let capped = self.state == PowerState::Capped;
        let thermal =
            !c.static_caps && self.thermal_budget_w < electrical && budget <= self.thermal_budget_w;
        let on_battery = self.on_battery_since.is_some();
        let alarms = &mut self.alarms;
        let mut set = |alarm, instance, critical, present| {
            let _ = alarms.set(now, alarm, instance, critical, present);
        };
        set(PowerAlarm::AcLoss, 0, true, on_battery);
        set(PowerAlarm::PowerCapped, 0, false, capped);
        set(PowerAlarm::ThermalDerate, 0, false, thermal && capped);
        set(PowerAlarm::BbuLow, 0, false, inputs.bbu_soc < c.soc_reserve);
        // Setting a condition absent when it was last set absent changes nothing (an alarm is
        // then unlisted or already cleared), so only instances present now or last time are set,
        // in the same order: the calls that matter, without 66 table searches a step.
        // Trays past `config.trays` are never shed (they are never enabled).
        for t in bits(shed_now | self.shed_alarms_set) {
            #[allow(clippy::cast_possible_truncation)] // < TRAYS
            set(
                PowerAlarm::TrayShed,
                t as u8,
                true,
                shed_now & (1 << t) != 0,
            );
        }
        self.shed_alarms_set = shed_now;
        let faulted_now = self.psus_faulted;
        let mut psus = faulted_now | self.psu_alarms_set;
        while psus != 0 {
            let i = psus.trailing_zeros() as usize;
            psus &= psus - 1;
            let (s, p) = (i / PSUS_PER_SHELF, i % PSUS_PER_SHELF);
            #[allow(clippy::cast_possible_truncation)] // < 64
            set(
                PowerAlarm::PsuFault,
                (s * 8 + p) as u8,
                false,
                faulted_now & (1 << i) != 0,
            );
        }
        self.psu_alarms_set = faulted_now;
    }

    /// The trays' DC load as measured last step, W.
    fn load_w(&self, inputs: &PowerInputs) -> f32 {
        inputs.tray_power_w.iter().take(self.config.trays).sum()
    }

    fn isolate(&mut self, now: Instant) {
        let due = self
            .last_shed_at
            .is_none_or(|at| now.secs_since(at) >= self.config.isolation_shed_interval_s);
        if due {
            if let Some(t) = self.lowest_priority_enabled() {
                self.shed_tray(now, t, PowerReason::IsolationRequested);
            } else {
                self.outputs.psu_enable = [[false; PSUS_PER_SHELF]; SHELVES];
                // The enables no longer follow the PSUs' states: the next pass must set them.
                self.psus_settled = false;
            }
        }
        self.outputs.bbu_power_w = 0.0;
        self.outputs.tray_floor_w = [0.0; TRAYS];
    }

    fn fire(&mut self, now: Instant, trigger: PowerTrigger, reason: PowerReason) {
        let Some(&(from, _, to)) = TRANSITIONS
            .iter()
            .find(|(f, t, _)| *f == self.state && *t == trigger)
        else {
            return;
        };
        self.state = to;
        self.events
            .push(now, PowerEvent::StateChanged { from, to, reason });
    }
}

#[cfg(test)]
#[path = "power_tests.rs"]
mod tests;
