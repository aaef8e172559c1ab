//! The closed loop: plant -> sensors -> the real `rack-control` coolant controller ->
//! actuators -> plant, every control period, with the scenario's workload and faults.
//!
//! Time runs from `-warmup_s` (initial workload, steady state reached) to `duration_s`; KPIs
//! are measured from 0. The controller's clock is the simulation time since the warm-up began,
//! so `step` sees exactly what a board would: readings with time stamps, and nothing else.

use rack_control::Instant;
use rack_control::coolant::{
    CoolantConfig, CoolantController, CoolantEvent, CoolantInputs, MAX_RACKS, MAX_SUPPLY_SENSORS,
    MAX_ZONES, RackReport,
};
use rack_control::pid::PidConfig;

use rack_node::coolant::CoolantApp;
use rack_node::{Node, NodeConfig};

use crate::plant::sensors::{Sensor, SensorSpec, millis};
use crate::plant::{Actuators, Environment, RowPlant};
use crate::report::trace::{FocusRack, Marker, PowerTrace, RunResult, TraceRow};
use crate::run::power_row::PowerRow;
use crate::scenario::commissioning::{Control, controller_config};
use crate::scenario::{Fault, LeakDetector, Scenario, SensorId};

/// Control period and plant step, s.
pub const DT_S: f64 = 0.1;
/// AC voltage below which the PSUs drop out, % of nominal (assumed).
pub const PSU_DROPOUT_PCT: f64 = 85.0;
/// Time the power controllers take to shed a rack after an isolation request, s (assumed).
pub const ISOLATION_SHED_S: f64 = 2.0;

struct Sensors {
    supply: Vec<Sensor>,
    ret: Sensor,
    primary_supply: Sensor,
    primary_return: Sensor,
    flow: Sensor,
    dp: Sensor,
    valve: Sensor,
}

impl Sensors {
    fn new(seed: u64) -> Self {
        // Pt100 in a thermowell: 0.02 K noise, 0.01 K resolution, 1 s lag (assumed).
        let temp = SensorSpec {
            noise_sd: 0.02,
            quantum: 0.01,
            lag_s: 1.0,
        };
        let s = |k: u64, spec| Sensor::new(spec, seed.wrapping_mul(31).wrapping_add(k));
        Self {
            supply: (0..MAX_SUPPLY_SENSORS as u64).map(|k| s(k, temp)).collect(),
            ret: s(10, temp),
            primary_supply: s(11, temp),
            primary_return: s(12, temp),
            flow: s(
                13,
                SensorSpec {
                    noise_sd: 3.0,
                    quantum: 0.1,
                    lag_s: 0.5,
                },
            ),
            dp: s(
                14,
                SensorSpec {
                    noise_sd: 0.2,
                    quantum: 0.1,
                    lag_s: 0.2,
                },
            ),
            valve: s(
                15,
                SensorSpec {
                    noise_sd: 0.2,
                    quantum: 0.1,
                    lag_s: 0.0,
                },
            ),
        }
    }

    fn get(&mut self, id: SensorId) -> Option<&mut Sensor> {
        match id {
            SensorId::Supply0 => self.supply.get_mut(0),
            SensorId::Supply1 => self.supply.get_mut(1),
            SensorId::Supply2 => self.supply.get_mut(2),
            SensorId::Return => Some(&mut self.ret),
            SensorId::PrimarySupply => Some(&mut self.primary_supply),
            SensorId::PrimaryReturn => Some(&mut self.primary_return),
            SensorId::Flow => Some(&mut self.flow),
            SensorId::Dp => Some(&mut self.dp),
            SensorId::ValveFeedback => Some(&mut self.valve),
        }
    }
}

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
    let p = scenario.row;
    // In a processor-in-the-loop run the ARM binary has its built-in settings: the host build
    // beside it must have exactly the same to be compared bit for bit.
    let config = if pil.is_some() {
        CoolantConfig::default()
    } else {
        controller_config(scenario, control, temp_pid)
    };
    let mut pil_steps = 0u64;
    let mut pil_mismatches = 0u64;
    let mut pil_error: Option<String> = None;
    // The CDU's controller runs inside its node, the same node code a board runs.
    let mut cdu = Node::new(
        CoolantApp::new(CoolantController::new(config)),
        NodeConfig {
            serial: "CDU-SIM-0",
            ..NodeConfig::default()
        },
        Instant(0),
    );
    let initial_load = scenario.workload.level(0.0);
    let mut plant = RowPlant::new(
        p,
        initial_load,
        f64::from(config.supply_setpoint_c),
        scenario.seed,
    );
    let mut sensors = Sensors::new(scenario.seed);
    let mut inputs = CoolantInputs::uniform(Instant(0), config.supply_setpoint_c);
    let mut actuators = Actuators {
        valve_demand_pct: 50.0,
        pump_speed_pct: vec![0.0; p.pumps],
        rack_valve_open: vec![true; p.racks],
    };
    let mut env = Environment {
        facility_supply_c: scenario.facility.supply_at(0.0),
        facility_flow_fraction: 1.0,
        rack_demand_w: vec![0.0; p.racks],
        rack_powered: vec![true; p.racks],
        tray_commands: vec![None; p.racks],
    };
    let mut leak_moisture = [false; MAX_ZONES];
    let mut leak_float = [false; MAX_ZONES];
    let mut row_bus_silent = false;
    let mut isolation_requested_at: [Option<f64>; MAX_RACKS] = [None; MAX_RACKS];
    let mut kpis = crate::report::KpiTracker::new(scenario);
    let mut trace = Vec::new();
    let mut markers = Vec::new();
    let mut next_fault = 0;
    let mut power = PowerRow::new(scenario, control);
    let mut bus_lost = vec![false; p.racks];
    let mut sag_until: Option<f64> = None;
    let mut cdu_out = *cdu.app.controller.outputs();
    let mut last_event_seq = 0;
    let mut rack_peak_gpu_c = vec![f64::MIN; p.racks];

    let record_every = (scenario.duration_s / 20_000.0).max(DT_S);
    let mut next_record = 0.0;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // durations are positive
    let steps = ((scenario.warmup_s + scenario.duration_s) / DT_S).round() as u64;
    for k in 1..=steps {
        let elapsed = k as f64 * DT_S;
        let t = elapsed - scenario.warmup_s;
        let now = Instant(millis(elapsed));

        // Faults due now.
        while let Some(event) = scenario.faults.get(next_fault).filter(|f| f.at_s <= t) {
            next_fault += 1;
            markers.push(Marker {
                t_s: event.at_s,
                device: fault_device(&event.fault, p.racks),
                label: fault_label(&event.fault),
                fault: true,
            });
            kpis.fault(t, &event.fault);
            match &event.fault {
                Fault::PumpTrip { pump } => plant.trip_pump(*pump),
                Fault::Sensor { sensor, failure } => {
                    if let Some(s) = sensors.get(*sensor) {
                        s.set_fault(*failure, elapsed);
                    }
                }
                Fault::Leak {
                    zone,
                    detector,
                    wet,
                } => {
                    let slot = match detector {
                        LeakDetector::Moisture => leak_moisture.get_mut(*zone),
                        LeakDetector::Float => leak_float.get_mut(*zone),
                    };
                    if let Some(slot) = slot {
                        *slot = *wet;
                    }
                }
                Fault::ValveStuck => plant.stick_valve(),
                Fault::ReservoirDrain { lpm } => plant.drain_reservoir(*lpm),
                Fault::RowBusSilence { silent } => row_bus_silent = *silent,
                Fault::AcLoss { lost } => {
                    if let Some(power) = power.as_mut() {
                        power.ac_present = !*lost;
                    }
                }
                Fault::AcSag {
                    volts_pct,
                    duration_s,
                } => {
                    // PSUs hold up 20 ms (DOMAIN.md): a deeper sag is an outage at this step.
                    if *volts_pct < PSU_DROPOUT_PCT
                        && let Some(power) = power.as_mut()
                    {
                        power.ac_present = false;
                        sag_until = Some(event.at_s + duration_s.max(DT_S));
                    }
                }
                Fault::PsuFail { rack, shelf, psu } => {
                    if let Some(slot) = power
                        .as_mut()
                        .and_then(|pw| pw.electrical.get_mut(*rack))
                        .and_then(|e| e.psu_failed.get_mut(*shelf))
                        .and_then(|s| s.get_mut(*psu))
                    {
                        *slot = true;
                    }
                }
                Fault::TrayFault { rack, tray, factor } => plant.fault_tray(*rack, *tray, *factor),
            }
        }

        if let (Some(until), Some(power)) = (sag_until, power.as_mut())
            && t >= until
        {
            power.ac_present = true;
            sag_until = None;
            kpis.ac_restored(t);
        }

        // Environment: workload, facility water, racks shed after an isolation request.
        let t_env = t.max(0.0);
        env.facility_supply_c = scenario.facility.supply_at(t_env);
        env.facility_flow_fraction = scenario.facility.flow_at(t_env);
        for (r, demand) in env.rack_demand_w.iter_mut().enumerate() {
            *demand = scenario.workload.rack_level(r, t_env) * p.rack_design_power_w;
        }
        if let Some(power) = power.as_mut() {
            // The racks' own controllers cap, shed and isolate; a collapsed bus cuts the trays.
            power.control(now, &plant, &cdu_out, &mut env.tray_commands);
            for (powered, lost) in env.rack_powered.iter_mut().zip(&bus_lost) {
                *powered = !lost;
            }
        } else {
            for (r, powered) in env.rack_powered.iter_mut().enumerate() {
                if let Some(at) = isolation_requested_at.get(r).copied().flatten() {
                    *powered = t - at < ISOLATION_SHED_S;
                }
            }
        }
        plant.step(DT_S, &actuators, &env);
        if let Some(power) = power.as_mut() {
            power.electrical_step(DT_S, &plant, &mut bus_lost);
        }
        let s = &plant.state;

        // Sensors and row bus into the controller's inputs.
        for (i, sensor) in sensors.supply.iter_mut().enumerate() {
            if let Some(slot) = inputs.supply_temps_c.get_mut(i) {
                *slot = sensor.sample(elapsed, DT_S, s.supply_c);
            }
        }
        inputs.return_temp_c = sensors.ret.sample(elapsed, DT_S, s.return_c);
        inputs.primary_supply_temp_c =
            sensors
                .primary_supply
                .sample(elapsed, DT_S, s.primary_supply_c);
        inputs.primary_return_temp_c =
            sensors
                .primary_return
                .sample(elapsed, DT_S, s.primary_return_c);
        inputs.flow_lpm = sensors.flow.sample(elapsed, DT_S, s.flow_lpm);
        inputs.dp_kpa = sensors.dp.sample(elapsed, DT_S, s.dp_kpa);
        inputs.valve_feedback_pct = sensors.valve.sample(elapsed, DT_S, s.valve_pct);
        inputs.reservoir_level_ok = plant.reservoir_level_ok();
        #[allow(clippy::cast_possible_truncation)]
        {
            inputs.reservoir_level_pct = s.reservoir_level_pct as f32;
        }
        for (i, tach) in inputs.pump_tach_rpm.iter_mut().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            {
                *tach = s.pump_rpm.get(i).copied().unwrap_or(0.0) as f32;
            }
        }
        inputs.leak_moisture = leak_moisture;
        inputs.leak_float = leak_float;
        if !row_bus_silent {
            for (r, report) in inputs.rack_reports.iter_mut().enumerate().take(p.racks) {
                #[allow(clippy::cast_possible_truncation)]
                {
                    *report = Some(RackReport {
                        input_power_w: s.rack_power_w.get(r).copied().unwrap_or(0.0) as f32,
                        hottest_gpu_c: s.rack_hottest_gpu_c.get(r).copied().unwrap_or(0.0) as f32,
                        at: now,
                    });
                }
            }
        }

        let arm = match pil.as_deref_mut() {
            Some(link) => match link.exchange(rack_node::plant_io::coolant_sample(
                now.as_millis() * 1000,
                &inputs,
                false,
            )) {
                Ok(cmd) => Some(rack_node::plant_io::coolant_command_of(&cmd)),
                Err(e) => {
                    pil_error = Some(e);
                    break;
                }
            },
            None => None,
        };
        cdu.step(now, |app| app.step(now, &inputs));
        let mut out = *cdu.app.controller.outputs();
        if let Some(arm) = arm {
            // The ARM binary drives the plant; the host build on the same inputs must agree.
            pil_steps += 1;
            if arm != rack_node::plant_io::coolant_command_from_outputs(&out) {
                pil_mismatches += 1;
            }
            out.valve_demand_pct = arm.valve_demand_pct;
            out.pump_speed_pct = arm.pump_speed_pct;
            out.rack_valve_open = arm.rack_valve_open;
            out.isolation_requests = arm.isolation_requests;
            out.headroom_w = arm.headroom_w;
        }
        cdu_out = out;
        actuators.valve_demand_pct = f64::from(out.valve_demand_pct);
        for (i, speed) in actuators.pump_speed_pct.iter_mut().enumerate() {
            *speed = f64::from(out.pump_speed_pct.get(i).copied().unwrap_or(0.0));
        }
        for (r, open) in actuators.rack_valve_open.iter_mut().enumerate() {
            *open = out.rack_valve_open.get(r).copied().unwrap_or(true);
            if out.isolation_requests & (1 << r) != 0
                && let Some(slot) = isolation_requested_at.get_mut(r)
                && slot.is_none()
            {
                *slot = Some(t);
            }
        }

        // Alarms and transitions since the last step, as markers and KPI timings.
        let events = cdu.app.controller.events();
        let mut newest = last_event_seq;
        events.read_from(last_event_seq + 1, usize::MAX, |record| {
            newest = record.seq;
            if t >= 0.0 {
                if let Some(label) = event_label(record.event) {
                    markers.push(Marker {
                        t_s: t,
                        device: "CDU".into(),
                        label,
                        fault: false,
                    });
                }
                if let CoolantEvent::AlarmRaised { alarm, .. } = record.event {
                    kpis.alarm(t, alarm);
                }
            }
        });
        last_event_seq = newest;
        let mut live = Live {
            t,
            now,
            cdu: &mut cdu,
            grid_w: power.as_ref().map_or(0.0, PowerRow::grid_w),
            racks: power.as_mut().map_or(&mut [], |pw| pw.nodes.as_mut_slice()),
            stop: false,
        };
        hook(&mut live);
        if live.stop {
            break;
        }

        if t >= 0.0 {
            for (peak, now_c) in rack_peak_gpu_c.iter_mut().zip(&s.rack_hottest_gpu_c) {
                *peak = peak.max(*now_c);
            }
            kpis.step(t, DT_S, &plant, &out);
            if let Some(power) = &power {
                kpis.power_step(
                    t,
                    DT_S,
                    &power.electrical,
                    |r| power.controller(r),
                    &bus_lost,
                );
            }
            if scenario.record_trace && t + 1e-9 >= next_record {
                next_record += record_every;
                trace.push(TraceRow {
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
                    power: power.as_ref().map(|pw| PowerTrace {
                        row_grid_kw: pw.grid_w() / 1e3,
                        row_ramp_kw_per_s: kpis.row_ramp_w_per_s() / 1e3,
                        racks: std::array::from_fn(|r| pw.rack_trace(r)),
                    }),
                });
            }
            if k % 1000 == 0 {
                progress(t / scenario.duration_s);
            }
        }
        if t.abs() < DT_S / 2.0 {
            kpis.start_energy(&plant);
        }
    }
    let mut kpis = kpis.finish(&plant);
    if pil.is_some() {
        #[allow(clippy::cast_precision_loss)] // step counts
        {
            kpis.insert("pil_steps".into(), pil_steps as f64);
            kpis.insert("pil_mismatches".into(), pil_mismatches as f64);
        }
        if let Some(e) = pil_error {
            markers.push(Marker {
                t_s: 0.0,
                device: "CDU".into(),
                label: format!("PIL stopped: {e}"),
                fault: true,
            });
            kpis.insert("pil_failed".into(), 1.0);
        }
    }
    let focus_rack = power
        .is_some()
        .then(|| focus_rack(scenario, &isolation_requested_at, &rack_peak_gpu_c));
    RunResult {
        trace,
        markers,
        kpis,
        focus_rack,
        row: p,
    }
}

/// The rack a report shows: the first a fault acted on, else the first isolated, else the one
/// whose GPU ran hottest.
fn focus_rack(scenario: &Scenario, isolated_at: &[Option<f64>], peak_gpu_c: &[f64]) -> FocusRack {
    let racks = scenario.row.racks;
    let faulted = scenario.faults.iter().find_map(|f| match f.fault {
        Fault::PsuFail { rack, .. } => Some((rack, "a PSU failed")),
        Fault::TrayFault { rack, .. } => Some((rack, "a tray faulted")),
        Fault::Leak { zone, .. } if zone < racks => Some((zone, "it leaked")),
        _ => None,
    });
    let (rack, why) = faulted
        .or_else(|| {
            isolated_at
                .iter()
                .position(Option::is_some)
                .map(|r| (r, "it was isolated"))
        })
        .unwrap_or_else(|| {
            let hottest = peak_gpu_c
                .iter()
                .enumerate()
                .fold(
                    (0, f64::MIN),
                    |best, (r, c)| if *c > best.1 { (r, *c) } else { best },
                )
                .0;
            (hottest, "its GPU ran hottest")
        });
    FocusRack {
        rack,
        why: why.into(),
    }
}

/// The device a fault acts on, as the event list names it.
fn fault_device(fault: &Fault, racks: usize) -> String {
    match fault {
        Fault::PsuFail { rack, .. } | Fault::TrayFault { rack, .. } => format!("rack {rack}"),
        Fault::Leak { zone, .. } if *zone < racks => format!("rack {zone}"),
        Fault::AcLoss { .. } | Fault::AcSag { .. } | Fault::RowBusSilence { .. } => "row".into(),
        _ => "CDU".into(),
    }
}

fn fault_label(fault: &Fault) -> String {
    match fault {
        Fault::PumpTrip { pump } => format!("pump {pump} trips"),
        Fault::Sensor {
            sensor,
            failure: Some(f),
        } => format!("{sensor:?} {f:?}").to_lowercase(),
        Fault::Sensor {
            sensor,
            failure: None,
        } => format!("{sensor:?} repaired").to_lowercase(),
        Fault::Leak {
            zone,
            detector,
            wet,
        } => format!(
            "leak zone {zone} {detector:?} {}",
            if *wet { "wet" } else { "dry" }
        )
        .to_lowercase(),
        Fault::ValveStuck => "valve stuck".into(),
        Fault::ReservoirDrain { lpm } => format!("reservoir drains {lpm} L/min"),
        Fault::RowBusSilence { silent } => if *silent {
            "row bus silent"
        } else {
            "row bus back"
        }
        .into(),
        Fault::AcLoss { lost } => if *lost { "AC lost" } else { "AC back" }.into(),
        Fault::AcSag {
            volts_pct,
            duration_s,
        } => format!("AC sags to {volts_pct} % for {duration_s} s"),
        Fault::PsuFail { rack, shelf, psu } => format!("rack {rack} PSU {shelf}.{psu} fails"),
        Fault::TrayFault { rack, tray, factor } => {
            format!("rack {rack} tray {tray} draws {factor}x")
        }
    }
}

fn event_label(event: CoolantEvent) -> Option<String> {
    match event {
        CoolantEvent::AlarmRaised { alarm, instance } => Some(format!("{alarm:?} {instance}")),
        CoolantEvent::StateChanged { to, .. } => Some(format!("-> {to:?}")),
        CoolantEvent::LeadPumpChanged { to, .. } => Some(format!("lead -> pump {to}")),
        CoolantEvent::RackIsolated { rack } => Some(format!("rack {rack} isolated")),
        _ => None,
    }
}
