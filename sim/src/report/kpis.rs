//! KPIs, measured step by step while a scenario runs.
//!
//! KPIs are measured on the plant's true values (not the sensors'), from `t = 0`:
//!
//! | KPI | meaning |
//! |---|---|
//! | `max_gpu_temp_c` | hottest GPU junction |
//! | `throttle_s` | time any GPU spent throttling (above its slowdown temperature) |
//! | `gpu_shutdowns` | trays whose GPUs shut down at their shutdown temperature (they stay off) |
//! | `supply_temp_max_dev_c` | largest \|supply - setpoint\| from `kpi.window_start_s` |
//! | `supply_temp_max_dev_in_authority_c` | the same, only while the valve is below 95 % (while holding is possible) |
//! | `supply_temp_settle_s` | from `kpi.disturbance_at_s` to the last exit from the settle band |
//! | `supply_temp_pp_c` | supply peak-to-peak from `kpi.window_start_s` |
//! | `pump_energy_kwh` | pump electrical energy |
//! | `energy_balance_error_pct` | \|heat in - rejected - stored\| / heat in |
//! | `flow_min_pct`, `flow_recovery_s` | after the first fault: the lowest flow, and the time from the fault after which the flow never again falls below 90 %, both against the flow just before the fault |
//! | `standby_pump_start_s` | after the first pump trip: time until another pump runs above half speed |
//! | `failsafe_s` | after the first fault: time to the Failsafe state |
//! | `isolation_s` | after the first leak: time until a rack's valve closed |
//! | `other_racks_max_gpu_c` | hottest GPU of the racks never isolated |
//! | `ff_drop_s`, `valve_jump_at_ff_drop_pct` | after the row bus went silent: time until the feed-forward was dropped, and the valve demand's change in that step |
//! | `headroom_start_kw`, `headroom_end_kw` | thermal headroom broadcast at the start and end |
//! | `max_pump_speed_pct` | highest pump speed command |
//! | `alarm_<name>_s` | after the first fault (or 0): time to the first such alarm; absent if never raised |
//! | `failsafe_relay_s` | time the CDU's fail-safe relay was dropped (its field devices on their fail positions) |
//! | `takeover_valve_step_pct`, `takeover_pump_step_pct` | after a controller reset (`controller_halt`), over `TAKEOVER_WINDOW_S`: the largest step of the valve demand and of any pump's speed command, the first one measured from where the device stood |
//!
//! With a `[power]` section (rack power controllers and electrical plant):
//!
//! | KPI | meaning |
//! |---|---|
//! | `breaker_trips` | racks whose feed breaker tripped |
//! | `max_feed_current_ratio` | highest feed current / breaker rating, any rack |
//! | `tray_power_loss_s` | time any rack's bus collapsed (trays lost power) |
//! | `all_trays_on_s` | time until every rack had all its trays on |
//! | `cap_response_s` | longest time any rack's draw (tray load through the PSUs) stayed above 102 % of its budget |
//! | `cap_fairness` | rack 0 at the end: largest / smallest share of demand above floor granted, over capped trays (1 = proportional) |
//! | `min_budget_kw` | lowest budget any rack had in force |
//! | `trays_shed_max` | most trays any rack had shed (breaker protection or tray fault) |
//! | `min_bbu_soc_pct`, `max_bbu_discharge_pct` | lowest state of charge, highest discharge as % of the BBUs' limit |
//! | `ac_recovery_s` | after AC returns: time until no rack is on battery |
//! | `rack_ramp_max_w_per_s`, `row_ramp_max_kw_per_s` | largest grid-side change over one second, per rack and for the row |
//! | `row_grid_pp_kw` | row grid power peak-to-peak from `kpi.window_start_s` |
//! | `isolation_shed_s` | isolation request to all of the rack's trays off |
//! | `other_racks_trays_off` | most trays off in any rack never asked to isolate |
//! | `takeover_trays_off` | after a rack's power controller reset (`controller_halt` with `rack`), over `TAKEOVER_WINDOW_S`: most of the trays on at the reset that the rebooted controller switched off |

use std::collections::BTreeMap;

use rack_control::coolant::{Alarm, CoolantOutputs, CoolantState};
use rack_control::power::PowerController;

use crate::plant::RowPlant;
use crate::plant::electrical::RackElectrical;
use crate::scenario::kpi_names::alarm_kpi;
use crate::scenario::{Fault, Scenario};

/// KPIs by name.
pub type Kpis = BTreeMap<String, f64>;

/// How long after a controller reset its takeover is watched, s.
pub const TAKEOVER_WINDOW_S: f64 = 120.0;

/// A rebooted controller's takeover: the largest steps of its commands, the first one from
/// where each device stood (a valve its spring opened, a pump its drive ran at its preset).
#[derive(Debug, Clone, Default)]
struct Takeover {
    reset_at: Option<f64>,
    /// Last step's commands (none before the first after the reset).
    last: Option<(f64, Vec<f64>)>,
    valve_step: f64,
    pump_step: f64,
    relay_dropped_s: f64,
}

impl Takeover {
    fn step(&mut self, t: f64, dt: f64, plant: &RowPlant, out: &CoolantOutputs) {
        let s = &plant.state;
        if !s.failsafe_relay {
            self.relay_dropped_s += dt;
        }
        let Some(reset_at) = self.reset_at else {
            return;
        };
        if t - reset_at > TAKEOVER_WINDOW_S {
            return;
        }
        let valve = f64::from(out.valve_demand_pct);
        let pumps: Vec<f64> = out
            .pump_speed_pct
            .iter()
            .take(plant.p.pumps)
            .map(|x| f64::from(*x))
            .collect();
        let (valve_from, pumps_from) = self.last.take().unwrap_or_else(|| {
            (
                s.valve_actuator_pct,
                s.pump_rpm
                    .iter()
                    .map(|rpm| rpm / plant.p.pump_max_rpm * 100.0)
                    .collect(),
            )
        });
        self.valve_step = self.valve_step.max((valve - valve_from).abs());
        for (now, from) in pumps.iter().zip(&pumps_from) {
            self.pump_step = self.pump_step.max((now - from).abs());
        }
        self.last = Some((valve, pumps));
    }
}

/// Accumulates KPIs step by step.
#[derive(Debug, Clone)]
pub struct KpiTracker {
    takeover: Takeover,
    window_start_s: f64,
    disturbance_at_s: f64,
    band_c: f64,
    max_gpu: f64,
    throttle_s: f64,
    gpu_shutdowns: usize,
    max_dev: f64,
    max_dev_in_authority: f64,
    last_outside: Option<f64>,
    supply_min: f64,
    supply_max: f64,
    first_fault: Option<f64>,
    flow_at_fault: Option<f64>,
    flow_min: Option<f64>,
    /// Last time after the fault the flow was below 90 % of the flow before it.
    flow_last_low: Option<f64>,
    last_flow: f64,
    tripped: Vec<usize>,
    trip_at: Option<f64>,
    standby_started: Option<f64>,
    alarms: BTreeMap<String, f64>,
    failsafe_at: Option<f64>,
    leak_at: Option<f64>,
    isolated_at: Option<f64>,
    ever_isolated: Vec<bool>,
    rack_max_gpu: Vec<f64>,
    silence_at: Option<f64>,
    ff_dropped: Option<f64>,
    valve_jump: Option<f64>,
    last_valve_demand: f64,
    last_ff: bool,
    headroom_start: Option<f64>,
    headroom_end: f64,
    max_pump_speed: f64,
    energy_at_start: Option<(f64, f64, f64, f64)>,
    power: Option<PowerKpis>,
}

/// KPIs of the racks' power side.
#[derive(Debug, Clone, Default)]
struct PowerKpis {
    max_current_ratio: f64,
    bus_lost_s: f64,
    all_on_at: Option<f64>,
    over_since: Vec<Option<f64>>,
    cap_response: f64,
    min_budget: f64,
    shed_max: u32,
    min_soc: f64,
    max_discharge: f64,
    ac_back_at: Option<f64>,
    recovered: Option<f64>,
    rack_hist: Vec<std::collections::VecDeque<f64>>,
    row_hist: std::collections::VecDeque<f64>,
    rack_ramp: f64,
    row_ramp: f64,
    row_ramp_now: f64,
    row_min: f64,
    row_max: f64,
    isolated_at: Vec<Option<f64>>,
    isolation_shed: Option<f64>,
    other_off: usize,
    trips: usize,
    fairness: Option<f64>,
}

/// Steps of 0.1 s in a second (the ramps are taken over a second).
const SECOND: usize = 10;

impl PowerKpis {
    /// Rack `r`'s part of a step; returns whether all its trays are on and whether it is on
    /// battery.
    fn rack_step(
        &mut self,
        r: usize,
        t: f64,
        dt: f64,
        window: f64,
        elec: &RackElectrical,
        controller: &PowerController,
    ) -> (bool, bool) {
        let k = self;
        let out = controller.outputs();
        let limit = elec.p.breaker_rated_a;
        k.max_current_ratio = k.max_current_ratio.max(elec.state.feed_current_a / limit);
        let trays = controller.config().trays;
        let on = out.tray_enable.iter().take(trays).filter(|e| **e).count();
        let budget = f64::from(out.budget_w);
        k.min_budget = k.min_budget.min(budget);
        if let Some(since) = k.over_since.get_mut(r) {
            // The rack's draw before storage (the trays through the PSUs) against its budget.
            let efficiency = f64::from(controller.config().psu_efficiency);
            if elec.state.load_w / efficiency > 1.02 * budget && elec.state.ac_ok {
                let at = *since.get_or_insert(t);
                k.cap_response = k.cap_response.max(t - at + dt);
            } else {
                *since = None;
            }
        }
        k.shed_max = k.shed_max.max(out.shed_trays);
        k.min_soc = k.min_soc.min(elec.soc * 100.0);
        k.max_discharge = k
            .max_discharge
            .max(elec.state.bbu_power_w / elec.p.bbu_max_discharge_w * 100.0);
        let battery = out.state == rack_control::power::PowerState::RideThrough;
        if let Some(hist) = k.rack_hist.get_mut(r) {
            hist.push_back(elec.state.input_power_w);
            if hist.len() > SECOND {
                let old = hist.pop_front().unwrap_or(0.0);
                if t >= window {
                    k.rack_ramp = k.rack_ramp.max((elec.state.input_power_w - old).abs());
                }
            }
        }
        let isolated = out.state == rack_control::power::PowerState::Isolated;
        if let Some(at) = k.isolated_at.get_mut(r) {
            if isolated && at.is_none() {
                *at = Some(t);
            }
            if let Some(start) = *at
                && on == 0
                && k.isolation_shed.is_none()
            {
                k.isolation_shed = Some(t - start);
            }
            if at.is_none() {
                k.other_off = k.other_off.max(trays - on);
            }
        }
        (on == trays, battery)
    }

    /// Puts the power side's KPIs into `k`.
    fn finish(self, k: &mut Kpis) {
        let p = self;
        let mut put = |name: &str, v: f64| {
            k.insert(name.into(), v);
        };
        put("breaker_trips", p.trips as f64);
        put("max_feed_current_ratio", p.max_current_ratio);
        put("tray_power_loss_s", p.bus_lost_s);
        put("cap_response_s", p.cap_response);
        put("min_budget_kw", p.min_budget / 1e3);
        put("trays_shed_max", f64::from(p.shed_max));
        put("min_bbu_soc_pct", p.min_soc);
        put("max_bbu_discharge_pct", p.max_discharge.max(0.0));
        put("rack_ramp_max_w_per_s", p.rack_ramp);
        put("row_ramp_max_kw_per_s", p.row_ramp / 1e3);
        put("row_grid_pp_kw", (p.row_max - p.row_min).max(0.0) / 1e3);
        put("other_racks_trays_off", p.other_off as f64);
        for (name, v) in [
            ("all_trays_on_s", p.all_on_at),
            ("ac_recovery_s", p.recovered),
            ("isolation_shed_s", p.isolation_shed),
            ("cap_fairness", p.fairness),
        ] {
            if let Some(v) = v {
                put(name, v);
            }
        }
    }

    /// The row's grid power `grid` (W) at `t`: its ramp over a second and its range.
    fn row_step(&mut self, t: f64, window: f64, grid: f64) {
        let k = self;
        k.row_hist.push_back(grid);
        if k.row_hist.len() > SECOND {
            let old = k.row_hist.pop_front().unwrap_or(grid);
            k.row_ramp_now = (grid - old).abs();
            if t >= window {
                k.row_ramp = k.row_ramp.max(k.row_ramp_now);
            }
        }
        if t >= window {
            k.row_min = k.row_min.min(grid);
            k.row_max = k.row_max.max(grid);
        }
    }
}

impl KpiTracker {
    /// A tracker for `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            takeover: Takeover::default(),
            window_start_s: scenario.kpi.window_start_s,
            disturbance_at_s: scenario.kpi.disturbance_at_s,
            band_c: scenario.kpi.settle_band_c,
            max_gpu: f64::MIN,
            throttle_s: 0.0,
            gpu_shutdowns: 0,
            max_dev: 0.0,
            max_dev_in_authority: 0.0,
            last_outside: None,
            supply_min: f64::MAX,
            supply_max: f64::MIN,
            first_fault: None,
            flow_at_fault: None,
            flow_min: None,
            flow_last_low: None,
            last_flow: 0.0,
            tripped: Vec::new(),
            trip_at: None,
            standby_started: None,
            alarms: BTreeMap::new(),
            failsafe_at: None,
            leak_at: None,
            isolated_at: None,
            ever_isolated: vec![false; scenario.row.racks],
            rack_max_gpu: vec![f64::MIN; scenario.row.racks],
            silence_at: None,
            ff_dropped: None,
            valve_jump: None,
            last_valve_demand: 0.0,
            last_ff: false,
            headroom_start: None,
            headroom_end: 0.0,
            max_pump_speed: 0.0,
            energy_at_start: None,
            power: scenario.power.as_ref().map(|_| PowerKpis {
                over_since: vec![None; scenario.row.racks],
                min_budget: f64::MAX,
                min_soc: f64::MAX,
                rack_hist: vec![std::collections::VecDeque::new(); scenario.row.racks],
                row_min: f64::MAX,
                row_max: f64::MIN,
                isolated_at: vec![None; scenario.row.racks],
                ..PowerKpis::default()
            }),
        }
    }

    /// The row's grid-side ramp over the last second, W/s.
    pub fn row_ramp_w_per_s(&self) -> f64 {
        self.power.as_ref().map_or(0.0, |p| p.row_ramp_now)
    }

    /// One step of the power side at `t`.
    pub fn power_step<'a>(
        &mut self,
        t: f64,
        dt: f64,
        electrical: &[RackElectrical],
        controller: impl Fn(usize) -> Option<&'a PowerController>,
        bus_lost: &[bool],
    ) {
        let window = self.window_start_s;
        let Some(k) = self.power.as_mut() else { return };
        if bus_lost.iter().any(|l| *l) {
            k.bus_lost_s += dt;
        }
        let mut all_on = true;
        let mut any_battery = false;
        for (r, elec) in electrical.iter().enumerate() {
            let Some(controller) = controller(r) else {
                continue;
            };
            let (on, battery) = k.rack_step(r, t, dt, window, elec, controller);
            all_on &= on;
            any_battery |= battery;
        }
        if all_on && k.all_on_at.is_none() {
            k.all_on_at = Some(t);
        }
        if let (Some(back), None, false) = (k.ac_back_at, k.recovered, any_battery) {
            k.recovered = Some(t - back);
        }
        let grid: f64 = electrical.iter().map(|e| e.state.input_power_w).sum();
        k.row_step(t, window, grid);
        k.trips = electrical.iter().filter(|e| e.tripped).count();
        // Fairness of rack 0's allotment, at the latest step it was capped.
        if let Some(c) = controller(0)
            && let out = c.outputs()
            && out.state == rack_control::power::PowerState::Capped
        {
            k.fairness = Some(fairness(c, out));
        }
    }

    /// Notes the energy ledger at `t = 0`.
    pub fn start_energy(&mut self, plant: &RowPlant) {
        let e = plant.energy_balance();
        self.energy_at_start = Some((e.heat_in_j, e.rejected_j, e.stored_j, e.pump_energy_kwh));
    }

    /// Notes that AC came back at `t` (after an outage or a sag).
    pub fn ac_restored(&mut self, t: f64) {
        if let Some(k) = self.power.as_mut() {
            k.ac_back_at.get_or_insert(t);
        }
    }

    /// Notes a fault at `t`.
    pub fn fault(&mut self, t: f64, fault: &Fault) {
        self.first_fault.get_or_insert(t);
        self.flow_at_fault.get_or_insert(self.last_flow);
        match fault {
            Fault::PumpTrip { pump } => {
                self.tripped.push(*pump);
                self.trip_at.get_or_insert(t);
            }
            Fault::Leak { wet: true, .. } => {
                self.leak_at.get_or_insert(t);
            }
            Fault::RowBusSilence { silent: true } => {
                self.silence_at.get_or_insert(t);
            }
            Fault::AcLoss { lost: false } => self.ac_restored(t),
            _ => {}
        }
    }

    /// The CDU's controller was reset at `t` (after a halt): its takeover is watched from its
    /// first step.
    pub fn controller_reset(&mut self, t: f64) {
        self.takeover.reset_at = Some(t);
        self.takeover.last = None;
    }

    /// Notes an alarm raised at `t`.
    pub fn alarm(&mut self, t: f64, alarm: Alarm) {
        let since = self.first_fault.unwrap_or(0.0);
        self.alarms
            .entry(alarm_kpi(alarm))
            .or_insert((t - since).max(0.0));
    }

    /// One step at `t`.
    pub fn step(&mut self, t: f64, dt: f64, plant: &RowPlant, out: &CoolantOutputs) {
        self.takeover.step(t, dt, plant, out);
        let s = &plant.state;
        let setpoint = f64::from(out.supply_setpoint_c);
        self.max_gpu = self.max_gpu.max(s.hottest_gpu_c);
        if s.throttling_trays > 0 {
            self.throttle_s += dt;
        }
        self.gpu_shutdowns = self.gpu_shutdowns.max(s.shutdown_trays);
        if t >= self.window_start_s {
            self.max_dev = self.max_dev.max((s.supply_c - setpoint).abs());
            if out.valve_demand_pct < 95.0 {
                self.max_dev_in_authority =
                    self.max_dev_in_authority.max((s.supply_c - setpoint).abs());
            }
            self.supply_min = self.supply_min.min(s.supply_c);
            self.supply_max = self.supply_max.max(s.supply_c);
        }
        if t >= self.disturbance_at_s && (s.supply_c - setpoint).abs() > self.band_c {
            self.last_outside = Some(t);
        }
        if let (Some(fault_t), Some(at_fault)) = (self.first_fault, self.flow_at_fault) {
            let min = self.flow_min.get_or_insert(s.flow_lpm);
            *min = min.min(s.flow_lpm);
            if s.flow_lpm < 0.9 * at_fault {
                self.flow_last_low = Some(t - fault_t);
            }
        }
        self.last_flow = s.flow_lpm;
        if let Some(trip_t) = self.trip_at
            && self.standby_started.is_none()
        {
            let design_rpm = plant.p.pump_design_speed * plant.p.pump_max_rpm;
            let other_running = s
                .pump_rpm
                .iter()
                .enumerate()
                .any(|(i, rpm)| !self.tripped.contains(&i) && *rpm >= 0.5 * design_rpm);
            if other_running {
                self.standby_started = Some(t - trip_t);
            }
        }
        if out.state == CoolantState::Failsafe && self.failsafe_at.is_none() {
            self.failsafe_at = Some(t - self.first_fault.unwrap_or(0.0));
        }
        for (r, open) in out
            .rack_valve_open
            .iter()
            .enumerate()
            .take(self.ever_isolated.len())
        {
            if !open {
                if let Some(flag) = self.ever_isolated.get_mut(r) {
                    *flag = true;
                }
                if let (Some(leak_t), None) = (self.leak_at, self.isolated_at) {
                    self.isolated_at = Some(t - leak_t);
                }
            }
        }
        for (m, gpu) in self.rack_max_gpu.iter_mut().zip(&s.rack_hottest_gpu_c) {
            *m = m.max(*gpu);
        }
        let valve = f64::from(out.valve_demand_pct);
        if let (Some(silence_t), None, true, false) = (
            self.silence_at,
            self.ff_dropped,
            self.last_ff,
            out.feed_forward_active,
        ) {
            self.ff_dropped = Some(t - silence_t);
            self.valve_jump = Some((valve - self.last_valve_demand).abs());
        }
        self.last_ff = out.feed_forward_active;
        self.last_valve_demand = valve;
        let headroom = f64::from(out.headroom_w) / 1e3;
        self.headroom_start.get_or_insert(headroom);
        self.headroom_end = headroom;
        for speed in out.pump_speed_pct {
            self.max_pump_speed = self.max_pump_speed.max(f64::from(speed));
        }
    }

    /// The KPIs at the end of the run.
    pub fn finish(self, plant: &RowPlant) -> Kpis {
        let mut k = Kpis::new();
        let e = plant.energy_balance();
        let (in0, rej0, st0, pump0) = self.energy_at_start.unwrap_or((0.0, 0.0, 0.0, 0.0));
        let heat_in = e.heat_in_j - in0;
        let imbalance = heat_in - (e.rejected_j - rej0) - (e.stored_j - st0);
        k.insert(
            "energy_balance_error_pct".into(),
            if heat_in > 0.0 {
                imbalance.abs() / heat_in * 100.0
            } else {
                0.0
            },
        );
        k.insert("pump_energy_kwh".into(), e.pump_energy_kwh - pump0);
        k.insert("max_gpu_temp_c".into(), self.max_gpu);
        k.insert("throttle_s".into(), self.throttle_s);
        k.insert("failsafe_relay_s".into(), self.takeover.relay_dropped_s);
        if self.takeover.reset_at.is_some() {
            k.insert("takeover_valve_step_pct".into(), self.takeover.valve_step);
            k.insert("takeover_pump_step_pct".into(), self.takeover.pump_step);
        }
        #[allow(clippy::cast_precision_loss)] // a count of trays
        k.insert("gpu_shutdowns".into(), self.gpu_shutdowns as f64);
        k.insert("supply_temp_max_dev_c".into(), self.max_dev);
        k.insert(
            "supply_temp_max_dev_in_authority_c".into(),
            self.max_dev_in_authority,
        );
        k.insert(
            "supply_temp_pp_c".into(),
            (self.supply_max - self.supply_min).max(0.0),
        );
        k.insert(
            "supply_temp_settle_s".into(),
            self.last_outside
                .map_or(0.0, |t| (t - self.disturbance_at_s).max(0.0)),
        );
        if let (Some(at), Some(min)) = (self.flow_at_fault, self.flow_min)
            && at > 0.0
        {
            k.insert("flow_min_pct".into(), min / at * 100.0);
        }
        let optional = [
            (
                "flow_recovery_s",
                self.first_fault.map(|_| self.flow_last_low.unwrap_or(0.0)),
            ),
            ("standby_pump_start_s", self.standby_started),
            ("failsafe_s", self.failsafe_at),
            ("isolation_s", self.isolated_at),
            ("ff_drop_s", self.ff_dropped),
            ("valve_jump_at_ff_drop_pct", self.valve_jump),
            ("headroom_start_kw", self.headroom_start),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                k.insert(name.into(), v);
            }
        }
        k.insert("headroom_end_kw".into(), self.headroom_end);
        k.insert("max_pump_speed_pct".into(), self.max_pump_speed);
        let others = self
            .rack_max_gpu
            .iter()
            .zip(&self.ever_isolated)
            .filter(|(_, iso)| !**iso)
            .map(|(g, _)| *g)
            .fold(f64::MIN, f64::max);
        if others > f64::MIN {
            k.insert("other_racks_max_gpu_c".into(), others);
        }
        k.extend(self.alarms);
        if let Some(p) = self.power {
            p.finish(&mut k);
        }
        k
    }
}

/// Rack 0's allotment fairness: over its enabled trays whose cap holds them below demand, the
/// largest granted share of (demand - floor) over the smallest (1 = strictly proportional).
fn fairness(
    c: &rack_control::power::PowerController,
    out: &rack_control::power::PowerOutputs,
) -> f64 {
    let cfg = c.config();
    let shares: Vec<f64> = (0..cfg.trays)
        .filter(|&t| out.tray_enable.get(t).copied().unwrap_or(false))
        .filter_map(|t| {
            let cap = f64::from(*out.tray_cap_w.get(t)?);
            let demand = f64::from(*c.last_demand_w().get(t)?);
            let floor = f64::from(cfg.tray_floor_w);
            (demand > cap * 1.001 && demand > floor).then(|| (cap - floor) / (demand - floor))
        })
        .collect();
    let max = shares.iter().copied().fold(f64::MIN, f64::max);
    let min = shares.iter().copied().fold(f64::MAX, f64::min);
    if shares.is_empty() || min <= 0.0 {
        1.0
    } else {
        max / min
    }
}
