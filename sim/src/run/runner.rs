//! The closed loop: plant -> sensors -> the real `rack-control` coolant controller ->
//! actuators -> plant, every control period, with the scenario's workload and faults.
//!
//! Time runs from `-warmup_s` (initial workload, steady state reached) to `duration_s`; KPIs
//! are measured from 0. The controller's clock is the simulation time since the warm-up began,
//! so `step` sees exactly what a board would: readings with time stamps, and nothing else.

use rack_control::Instant;
use rack_control::coolant::{
    CoolantConfig, CoolantController, CoolantEvent, CoolantInputs, CoolantOutputs, MAX_RACKS,
    MAX_ZONES, RackReport,
};
use rack_control::pid::PidConfig;

use rack_node::coolant::CoolantApp;
use rack_node::{Node, NodeConfig};
use rack_protocol::types::ResetCause;

use crate::plant::sensors::millis;
use crate::plant::{Actuators, Environment, RowPlant};
use crate::report::trace::{Marker, PowerTrace, RunResult, TraceRow};
use crate::run::labels::{event_label, fault_device, fault_label, focus_rack};
use crate::run::power_row::PowerRow;
use crate::run::sensors::Sensors;
use crate::scenario::commissioning::{Control, controller_config};
use crate::scenario::{Fault, LeakDetector, Scenario};

/// Control period and plant step, s.
pub const DT_S: f64 = 0.1;
/// AC voltage below which the PSUs drop out, % of nominal (assumed).
pub const PSU_DROPOUT_PCT: f64 = 85.0;
/// Time the power controllers take to shed a rack after an isolation request, s (assumed).
pub const ISOLATION_SHED_S: f64 = 2.0;

/// Runs `scenario` with `control` and the temperature loop tuning `temp_pid`.
pub fn run(
    scenario: &Scenario,
    control: Control,
    temp_pid: PidConfig,
    progress: impl FnMut(f64),
) -> RunResult {
    run_live(scenario, control, temp_pid, progress, &mut |_| {}, None)
}

/// What a live hook sees after every control step: the time and the devices, to serve them
/// (`racksim serve`) or inspect them; setting `stop` ends the run.
#[derive(Debug)]
pub struct Live<'a> {
    /// Simulation time, s (negative during warm-up).
    pub t: f64,
    /// The devices' clock.
    pub now: Instant,
    /// The CDU's node.
    pub cdu: &'a mut Node<CoolantApp>,
    /// The racks' power nodes (empty without a `[power]` section).
    pub racks: &'a mut [Node<rack_node::power::PowerApp>],
    /// The row's input power from the grid, W (0 without a `[power]` section).
    pub grid_w: f64,
    /// Set to end the run.
    pub stop: bool,
}

/// [`run`] with a hook called after every control step.
pub fn run_live(
    scenario: &Scenario,
    control: Control,
    temp_pid: PidConfig,
    mut progress: impl FnMut(f64),
    hook: &mut dyn FnMut(&mut Live),
    mut pil: Option<&mut crate::run::pil::Pil>,
) -> RunResult {
    let mut row = RowStepper::new(scenario, control, temp_pid, pil.is_some());
    for k in 1..=row.steps() {
        if !row.step(k, pil.as_deref_mut(), hook) {
            break;
        }
        let t = k as f64 * DT_S - scenario.warmup_s;
        if t >= 0.0 && k % 1000 == 0 {
            progress(t / scenario.duration_s);
        }
    }
    row.finish(pil.is_some())
}

/// One row's closed loop, a control step at a time: what [`run_live`] runs to the end, and
/// what a campus runs beside its other rows (a batch of facility steps at a time, the
/// facility water set for each).
pub struct RowStepper<'s> {
    row: RowRun<'s>,
    record_every: f64,
    next_record: f64,
}

impl<'s> RowStepper<'s> {
    /// The row of `scenario` before its first step.
    pub fn new(scenario: &'s Scenario, control: Control, temp_pid: PidConfig, pil: bool) -> Self {
        Self {
            row: RowRun::new(scenario, control, temp_pid, pil),
            record_every: (scenario.duration_s / 20_000.0).max(DT_S),
            next_record: 0.0,
        }
    }

    /// Control steps from the start of the warm-up to the end.
    pub fn steps(&self) -> u64 {
        let s = self.row.scenario;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // durations are positive
        let steps = ((s.warmup_s + s.duration_s) / DT_S).round() as u64;
        steps
    }

    /// The facility water this row sees from now on, instead of its scenario's profile:
    /// (supply temperature, degC; flow as a fraction of full). A campus's water plant sets it.
    pub fn set_facility(&mut self, facility: Option<(f64, f64)>) {
        self.row.facility = facility;
    }

    /// Control step `k` (from 1): plant, sensors, controllers, events, hook, measurements.
    /// False when the run ends here (the hook asked, or the processor-in-the-loop link failed).
    pub fn step(
        &mut self,
        k: u64,
        pil: Option<&mut crate::run::pil::Pil>,
        hook: &mut dyn FnMut(&mut Live),
    ) -> bool {
        let row = &mut self.row;
        let elapsed = k as f64 * DT_S;
        let t = elapsed - row.scenario.warmup_s;
        let now = Instant(millis(elapsed));
        row.inject_faults(t, elapsed);
        row.environment_and_plant(t, now);
        row.read_sensors(elapsed, now);
        if let Err(e) = row.control(t, now, pil) {
            row.pil_error = Some(e);
            return false;
        }
        row.collect_events(t);
        if row.serve_hook(t, now, hook) {
            return false;
        }
        if t >= 0.0 {
            row.measure(t, &mut self.next_record, self.record_every);
        }
        if t.abs() < DT_S / 2.0 {
            row.kpis.start_energy(&row.plant);
        }
        true
    }

    /// Heat the row's CDU rejects to the facility water now, W.
    pub fn heat_to_facility_w(&self) -> f64 {
        self.row.plant.state.hx_heat_w
    }

    /// The row's input power from the grid now, W (0 without a `[power]` section).
    pub fn grid_w(&self) -> f64 {
        self.row.power.as_ref().map_or(0.0, PowerRow::grid_w)
    }

    /// The headroom the CDU broadcasts to its racks now, W.
    pub fn headroom_w(&self) -> f64 {
        f64::from(self.row.cdu_out.headroom_w)
    }

    /// The run's KPIs, markers and trace.
    pub fn finish(self, pil: bool) -> RunResult {
        self.row.finish(pil)
    }
}

/// The CDU's node around a controller with `config`, as the runs build it.
/// It logs why it booted: `cause` (power-on at the start of a run, the reset line after a
/// halt), as a board reads it.
fn cdu_node(config: CoolantConfig, now: Instant, cause: ResetCause) -> Node<CoolantApp> {
    let mut node = Node::new(
        CoolantApp::new(CoolantController::new(config)),
        NodeConfig {
            serial: "CDU-SIM-0",
            ..NodeConfig::default()
        },
        now,
    );
    node.record_reset(now, cause, None);
    node
}

/// One row's closed loop: the plant, its sensors, the CDU's node, the racks' power side, and
/// what the run records. [`run_live`] calls its steps in order, every control period.
struct RowRun<'s> {
    scenario: &'s Scenario,
    cdu: Node<CoolantApp>,
    plant: RowPlant,
    sensors: Sensors,
    inputs: CoolantInputs,
    actuators: Actuators,
    env: Environment,
    leak_moisture: [bool; MAX_ZONES],
    leak_float: [bool; MAX_ZONES],
    row_bus_silent: bool,
    isolation_requested_at: [Option<f64>; MAX_RACKS],
    kpis: crate::report::KpiTracker,
    trace: Vec<TraceRow>,
    markers: Vec<Marker>,
    next_fault: usize,
    power: Option<PowerRow>,
    bus_lost: Vec<bool>,
    sag_until: Option<f64>,
    /// The CDU's outputs in force (the ARM binary's in a processor-in-the-loop run), and
    /// when it last stepped (the headroom broadcast's age).
    cdu_out: CoolantOutputs,
    cdu_out_at: Instant,
    /// The CDU's controller is halted until then (a `controller_halt` fault), then resets.
    cdu_halted_until: Option<f64>,
    /// The ARM binary is halted in QEMU.
    pil_halted: bool,
    last_event_seq: u32,
    rack_peak_gpu_c: Vec<f64>,
    /// The racks' (power, hottest GPU) as reported, newest last: the row bus's delay.
    report_history: std::collections::VecDeque<Vec<(f64, f64)>>,
    pil_steps: u64,
    pil_mismatches: u64,
    pil_error: Option<String>,
    /// The facility water a campus's plant sets, instead of the scenario's profile.
    facility: Option<(f64, f64)>,
}

impl<'s> RowRun<'s> {
    fn new(scenario: &'s Scenario, control: Control, temp_pid: PidConfig, pil: bool) -> Self {
        // The plant is the row as it really is; the controllers know its nameplate.
        let p = scenario.truth();
        // In a processor-in-the-loop run the ARM binary has its built-in settings: the host
        // build beside it must have exactly the same to be compared bit for bit.
        let config = if pil {
            CoolantConfig::default()
        } else {
            controller_config(scenario, control, temp_pid)
        };
        // The CDU's controller runs inside its node, the same node code a board runs.
        let cdu = cdu_node(config, Instant(0), ResetCause::PowerOn);
        let cdu_out = *cdu.app.controller.outputs();
        Self {
            scenario,
            cdu,
            plant: RowPlant::new(
                p,
                scenario.workload.level(0.0),
                f64::from(config.supply_setpoint_c),
                scenario.seed,
            ),
            sensors: Sensors::new(scenario.seed, &p),
            inputs: CoolantInputs::uniform(Instant(0), config.supply_setpoint_c),
            actuators: Actuators {
                valve_demand_pct: 50.0,
                pump_speed_pct: vec![0.0; p.pumps],
                rack_valve_open: vec![true; p.racks],
                heartbeat: Some(false),
            },
            env: Environment {
                facility_supply_c: scenario.facility.supply_at(0.0),
                facility_flow_fraction: 1.0,
                rack_demand_w: vec![0.0; p.racks],
                rack_powered: vec![true; p.racks],
                tray_commands: vec![None; p.racks],
            },
            leak_moisture: [false; MAX_ZONES],
            leak_float: [false; MAX_ZONES],
            row_bus_silent: false,
            isolation_requested_at: [None; MAX_RACKS],
            kpis: crate::report::KpiTracker::new(scenario),
            trace: Vec::new(),
            markers: Vec::new(),
            next_fault: 0,
            power: PowerRow::new(scenario, control),
            bus_lost: vec![false; p.racks],
            sag_until: None,
            cdu_out,
            cdu_out_at: Instant(0),
            cdu_halted_until: None,
            pil_halted: false,
            last_event_seq: 0,
            rack_peak_gpu_c: vec![f64::MIN; p.racks],
            report_history: std::collections::VecDeque::new(),
            pil_steps: 0,
            pil_mismatches: 0,
            pil_error: None,
            facility: None,
        }
    }

    /// Injects the faults due at `t` (marked, timed for the KPIs) and ends an AC sag.
    fn inject_faults(&mut self, t: f64, elapsed: f64) {
        while let Some(event) = self
            .scenario
            .faults
            .get(self.next_fault)
            .filter(|f| f.at_s <= t)
        {
            self.next_fault += 1;
            self.markers.push(Marker {
                t_s: event.at_s,
                device: fault_device(&event.fault, self.scenario.row.racks),
                label: fault_label(&event.fault),
                fault: true,
            });
            self.kpis.fault(t, &event.fault);
            match &event.fault {
                Fault::PumpTrip { pump } => self.plant.trip_pump(*pump),
                Fault::Sensor { sensor, failure } => {
                    if let Some(s) = self.sensors.get(*sensor) {
                        s.set_fault(*failure, elapsed);
                    }
                }
                Fault::Leak {
                    zone,
                    detector,
                    wet,
                } => {
                    let slot = match detector {
                        LeakDetector::Moisture => self.leak_moisture.get_mut(*zone),
                        LeakDetector::Float => self.leak_float.get_mut(*zone),
                    };
                    if let Some(slot) = slot {
                        *slot = *wet;
                    }
                }
                Fault::ValveStuck => self.plant.stick_valve(),
                Fault::ReservoirDrain { lpm } => self.plant.drain_reservoir(*lpm),
                Fault::RowBusSilence { silent } => self.row_bus_silent = *silent,
                Fault::AcLoss { lost } => {
                    if let Some(power) = self.power.as_mut() {
                        power.ac_present = !*lost;
                    }
                }
                Fault::AcSag {
                    volts_pct,
                    duration_s,
                } => {
                    // PSUs hold up 20 ms (docs/domain.md): a deeper sag is an outage at this step.
                    if *volts_pct < PSU_DROPOUT_PCT
                        && let Some(power) = self.power.as_mut()
                    {
                        power.ac_present = false;
                        self.sag_until = Some(event.at_s + duration_s.max(DT_S));
                    }
                }
                Fault::PsuFail { rack, shelf, psu } => {
                    if let Some(slot) = self
                        .power
                        .as_mut()
                        .and_then(|pw| pw.electrical.get_mut(*rack))
                        .and_then(|e| e.psu_failed.get_mut(*shelf))
                        .and_then(|s| s.get_mut(*psu))
                    {
                        *slot = true;
                    }
                }
                Fault::TrayFault { rack, tray, factor } => {
                    self.plant.fault_tray(*rack, *tray, *factor);
                }
                Fault::ControllerHalt { rack, duration_s } => {
                    let until = event.at_s + duration_s;
                    match rack {
                        None => self.cdu_halted_until = Some(until),
                        Some(r) => {
                            if let Some(power) = self.power.as_mut() {
                                power.halt(*r, until);
                            }
                        }
                    }
                }
            }
        }

        if let (Some(until), Some(power)) = (self.sag_until, self.power.as_mut())
            && t >= until
        {
            power.ac_present = true;
            self.sag_until = None;
            self.kpis.ac_restored(t);
        }
    }

    /// Sets the environment (workload, facility water, the racks' power controllers' commands
    /// or, without them, racks shed after an isolation request) and steps the plant.
    fn environment_and_plant(&mut self, t: f64, now: Instant) {
        // Environment: workload, facility water, racks shed after an isolation request.
        let t_env = t.max(0.0);
        (self.env.facility_supply_c, self.env.facility_flow_fraction) =
            self.facility.unwrap_or_else(|| {
                (
                    self.scenario.facility.supply_at(t_env),
                    self.scenario.facility.flow_at(t_env),
                )
            });
        for (r, demand) in self.env.rack_demand_w.iter_mut().enumerate() {
            *demand =
                self.scenario.workload.rack_level(r, t_env) * self.plant.p.rack_design_power_w;
        }
        if let Some(power) = self.power.as_mut() {
            // The racks' own controllers cap, shed and isolate; a collapsed bus cuts the trays.
            power.control(
                t,
                now,
                &self.plant,
                (&self.cdu_out, self.cdu_out_at),
                &mut self.env.tray_commands,
            );
            for (powered, lost) in self.env.rack_powered.iter_mut().zip(&self.bus_lost) {
                *powered = !lost;
            }
        } else {
            for (r, powered) in self.env.rack_powered.iter_mut().enumerate() {
                if let Some(at) = self.isolation_requested_at.get(r).copied().flatten() {
                    *powered = t - at < ISOLATION_SHED_S;
                }
            }
        }
        self.plant.step(DT_S, &self.actuators, &self.env);
        if let Some(power) = self.power.as_mut() {
            power.electrical_step(DT_S, &self.plant, &mut self.bus_lost);
        }
    }

    /// Samples the sensors and the row bus into the controller's inputs.
    fn read_sensors(&mut self, elapsed: f64, now: Instant) {
        let s = &self.plant.state;
        // Sensors and row bus into the controller's self.inputs.
        for (i, sensor) in self.sensors.supply.iter_mut().enumerate() {
            if let Some(slot) = self.inputs.supply_temps_c.get_mut(i) {
                *slot = sensor.sample(elapsed, DT_S, s.supply_c);
            }
        }
        self.inputs.return_temp_c = self.sensors.ret.sample(elapsed, DT_S, s.return_c);
        self.inputs.primary_supply_temp_c =
            self.sensors
                .primary_supply
                .sample(elapsed, DT_S, s.primary_supply_c);
        self.inputs.primary_return_temp_c =
            self.sensors
                .primary_return
                .sample(elapsed, DT_S, s.primary_return_c);
        let p = &self.plant.p;
        self.inputs.flow_lpm =
            self.sensors
                .flow
                .sample(elapsed, DT_S, s.flow_lpm * p.flow_meter_gain);
        self.inputs.dp_kpa = self.sensors.dp.sample(elapsed, DT_S, s.dp_kpa);
        self.inputs.valve_feedback_pct =
            self.sensors
                .valve
                .sample(elapsed, DT_S, s.valve_actuator_pct);
        self.inputs.reservoir_level_ok = self.plant.reservoir_level_ok();
        #[allow(clippy::cast_possible_truncation)]
        {
            self.inputs.reservoir_level_pct = s.reservoir_level_pct as f32;
        }
        for (i, tach) in self.inputs.pump_tach_rpm.iter_mut().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            {
                *tach = s.pump_rpm.get(i).copied().unwrap_or(0.0) as f32;
            }
        }
        self.inputs.leak_moisture = self.leak_moisture;
        self.inputs.leak_float = self.leak_float;
        self.report_power(now);
    }

    /// The racks' power reports on the row bus, as their meters see them (gain) and as old as
    /// the bus makes them (delay); none while the bus is silent.
    fn report_power(&mut self, now: Instant) {
        let s = &self.plant.state;
        let p = &self.plant.p;
        // A history only when there is a delay: a campus steps thousands of rows.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a few steps
        let delay_steps = (p.power_report_delay_s / DT_S).round() as usize;
        if delay_steps > 0 {
            self.report_history.push_back(
                s.rack_power_w
                    .iter()
                    .zip(&s.rack_hottest_gpu_c)
                    .map(|(w, gpu)| (*w, *gpu))
                    .collect(),
            );
            while self.report_history.len() > delay_steps + 1 {
                self.report_history.pop_front();
            }
        }
        let gain = p.power_report_gain;
        if !self.row_bus_silent {
            for (r, report) in self
                .inputs
                .rack_reports
                .iter_mut()
                .enumerate()
                .take(self.scenario.row.racks)
            {
                let (w, gpu) = match self.report_history.front() {
                    Some(old) if delay_steps > 0 => old.get(r).copied().unwrap_or((0.0, 0.0)),
                    _ => (
                        s.rack_power_w.get(r).copied().unwrap_or(0.0),
                        s.rack_hottest_gpu_c.get(r).copied().unwrap_or(0.0),
                    ),
                };
                let w = w * gain;
                #[allow(clippy::cast_possible_truncation)]
                {
                    *report = Some(RackReport {
                        input_power_w: w as f32,
                        hottest_gpu_c: gpu as f32,
                        at: now,
                    });
                }
            }
        }
    }

    /// Steps the CDU's node (in a processor-in-the-loop run the sample goes to the ARM binary
    /// too, and its commands drive the plant) and applies the outputs. A halted controller
    /// steps nothing: its outputs hold, its heartbeat stops; at the end of the halt it resets.
    fn control(
        &mut self,
        t: f64,
        now: Instant,
        mut pil: Option<&mut crate::run::pil::Pil>,
    ) -> Result<(), String> {
        if let Some(until) = self.cdu_halted_until {
            if t + 1e-9 < until {
                if let Some(link) = pil.as_deref_mut()
                    && !self.pil_halted
                {
                    link.halt()?;
                    self.pil_halted = true;
                }
                return Ok(());
            }
            self.cdu_halted_until = None;
            if let Some(link) = pil.as_deref_mut() {
                link.reset()?;
                self.pil_halted = false;
            }
            self.reset_cdu(t, now);
        }
        let arm = match pil {
            Some(link) => {
                let boots = link.boots();
                let command = link.exchange(&rack_node::plant_io::coolant_sample(
                    now.as_millis() * 1000,
                    &self.inputs,
                    false,
                ))?;
                if link.boots() > boots {
                    // The firmware reset on its own (an update's swap): it answered this step
                    // afresh, and so does the host build.
                    self.reset_cdu(t, now);
                }
                Some(rack_node::plant_io::coolant_command_of(&command))
            }
            None => None,
        };
        self.cdu.step(now, |app| app.step(now, &self.inputs));
        let mut out = *self.cdu.app.controller.outputs();
        let mut heartbeat = self.cdu.heartbeat();
        if let Some(arm) = arm {
            // The ARM binary drives the plant; the host build on the same inputs must agree.
            self.pil_steps += 1;
            if arm != rack_node::plant_io::coolant_command_from_outputs(&out, heartbeat) {
                self.pil_mismatches += 1;
            }
            out.valve_demand_pct = arm.valve_demand_pct;
            out.pump_speed_pct = arm.pump_speed_pct;
            out.rack_valve_open = arm.rack_valve_open;
            out.isolation_requests = arm.isolation_requests;
            out.headroom_w = arm.headroom_w;
            heartbeat = arm.heartbeat;
        }
        self.cdu_out = out;
        self.cdu_out_at = now;
        self.actuators.heartbeat = Some(heartbeat);
        self.actuators.valve_demand_pct = f64::from(out.valve_demand_pct);
        for (i, speed) in self.actuators.pump_speed_pct.iter_mut().enumerate() {
            *speed = f64::from(out.pump_speed_pct.get(i).copied().unwrap_or(0.0));
        }
        for (r, open) in self.actuators.rack_valve_open.iter_mut().enumerate() {
            *open = out.rack_valve_open.get(r).copied().unwrap_or(true);
            if out.isolation_requests & (1 << r) != 0
                && let Some(slot) = self.isolation_requested_at.get_mut(r)
                && slot.is_none()
            {
                *slot = Some(t);
            }
        }

        Ok(())
    }

    /// The CDU's controller resets after a halt: a fresh node and controller boot on the row
    /// as they find it. What a board keeps in flash survives: the settings in force and the
    /// protocol keys.
    fn reset_cdu(&mut self, t: f64, now: Instant) {
        let keys = self.cdu.keys_mut().clone();
        self.cdu = cdu_node(*self.cdu.app.controller.config(), now, ResetCause::Pin);
        *self.cdu.keys_mut() = keys;
        self.last_event_seq = 0;
        self.kpis.controller_reset(t);
        if t >= 0.0 {
            self.markers.push(Marker {
                t_s: t,
                device: "CDU".into(),
                label: "controller reset".into(),
                fault: false,
            });
        }
    }

    /// The CDU's alarms and transitions since the last step, as markers and KPI timings.
    fn collect_events(&mut self, t: f64) {
        // Alarms and transitions since the last step, as self.markers and KPI timings.
        let events = self.cdu.app.controller.events();
        let mut newest = self.last_event_seq;
        events.read_from(self.last_event_seq + 1, usize::MAX, |record| {
            newest = record.seq;
            if t >= 0.0 {
                if let Some(label) = event_label(record.event) {
                    self.markers.push(Marker {
                        t_s: t,
                        device: "CDU".into(),
                        label,
                        fault: false,
                    });
                }
                if let CoolantEvent::AlarmRaised { alarm, .. } = record.event {
                    self.kpis.alarm(t, alarm);
                }
            }
        });
        self.last_event_seq = newest;
    }

    /// Calls the live hook; true if it asks to stop.
    fn serve_hook(&mut self, t: f64, now: Instant, hook: &mut dyn FnMut(&mut Live)) -> bool {
        let grid_w = self.power.as_ref().map_or(0.0, PowerRow::grid_w);
        let mut live = Live {
            t,
            now,
            cdu: &mut self.cdu,
            grid_w,
            racks: self
                .power
                .as_mut()
                .map_or(&mut [], |pw| pw.nodes.as_mut_slice()),
            stop: false,
        };
        hook(&mut live);
        live.stop
    }

    /// The KPIs' step and the trace's row, from `t = 0`.
    fn measure(&mut self, t: f64, next_record: &mut f64, record_every: f64) {
        let s = &self.plant.state;
        let out = self.cdu_out;
        for (peak, now_c) in self.rack_peak_gpu_c.iter_mut().zip(&s.rack_hottest_gpu_c) {
            *peak = peak.max(*now_c);
        }
        self.kpis.step(t, DT_S, &self.plant, &out);
        if let Some(power) = &self.power {
            self.kpis.power_step(
                t,
                DT_S,
                &power.electrical,
                |r| power.controller(r),
                &self.bus_lost,
            );
        }
        if self.scenario.record_trace && t + 1e-9 >= *next_record {
            *next_record += record_every;
            self.trace.push(TraceRow {
                t_s: t,
                supply_c: s.supply_c,
                setpoint_c: f64::from(out.supply_setpoint_c),
                return_c: s.return_c,
                facility_c: s.primary_supply_c,
                flow_lpm: s.flow_lpm,
                dp_kpa: s.dp_kpa,
                dp_setpoint_kpa: f64::from(out.dp_setpoint_kpa),
                valve_pct: s.valve_pct,
                pump_rpm: std::array::from_fn(|i| s.pump_rpm.get(i).copied().unwrap_or(0.0)),
                hottest_gpu_c: s.hottest_gpu_c,
                heat_in_kw: s.heat_in_w / 1e3,
                hx_kw: s.hx_heat_w / 1e3,
                headroom_kw: f64::from(out.headroom_w) / 1e3,
                pump_kw: s.pump_power_w / 1e3,
                row_power_kw: s.rack_power_w.iter().sum::<f64>() / 1e3,
                state: Some(out.state),
                feed_forward: out.feed_forward_active,
                power: self.power.as_ref().map(|pw| PowerTrace {
                    row_grid_kw: pw.grid_w() / 1e3,
                    row_ramp_kw_per_s: self.kpis.row_ramp_w_per_s() / 1e3,
                    racks: std::array::from_fn(|r| pw.rack_trace(r)),
                }),
            });
        }
    }

    /// The KPIs, the markers and the trace of the run.
    fn finish(mut self, pil: bool) -> RunResult {
        let mut kpis = self.kpis.finish(&self.plant);
        if let Some(off) = self.power.as_ref().and_then(|p| p.takeover_trays_off) {
            #[allow(clippy::cast_precision_loss)] // a count of trays
            kpis.insert("takeover_trays_off".into(), off as f64);
        }
        if pil {
            #[allow(clippy::cast_precision_loss)] // step counts
            {
                kpis.insert("pil_steps".into(), self.pil_steps as f64);
                kpis.insert("pil_mismatches".into(), self.pil_mismatches as f64);
            }
            if let Some(e) = self.pil_error {
                self.markers.push(Marker {
                    t_s: 0.0,
                    device: "CDU".into(),
                    label: format!("PIL stopped: {e}"),
                    fault: true,
                });
                kpis.insert("pil_failed".into(), 1.0);
            }
        }
        let focus_rack = self.power.is_some().then(|| {
            focus_rack(
                self.scenario,
                &self.isolation_requested_at,
                &self.rack_peak_gpu_c,
            )
        });
        RunResult {
            trace: self.trace,
            markers: self.markers,
            kpis,
            focus_rack,
            row: self.plant.p,
        }
    }
}
