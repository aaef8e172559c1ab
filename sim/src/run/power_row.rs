//! The racks' power side in a run: one real `rack-control` power controller and one
//! electrical plant per rack, wired to the thermal plant (tray caps, floors, enables; tray
//! power and GPU temperatures back) and to the CDU (power reports, headroom, isolation
//! requests).

use rack_control::Instant;
use rack_control::coolant::CoolantOutputs;
use rack_control::power::{
    PSUS_PER_SHELF, PowerController, PowerInputs, PowerOutputs, SHELVES, TRAYS,
};
use rack_node::power::PowerApp;
use rack_node::{Node, NodeConfig};
use rack_protocol::types::ResetCause;

use crate::plant::electrical::RackElectrical;
use crate::plant::{RowPlant, TrayCommands};
use crate::scenario::Scenario;
use crate::scenario::commissioning::{Control, power_config};

/// Every rack's power controller and electrical plant.
#[derive(Debug)]
pub struct PowerRow {
    /// Each rack's power controller inside its node (the same node code a board runs).
    pub nodes: Vec<Node<PowerApp>>,
    /// The electrical plants, one per rack.
    pub electrical: Vec<RackElectrical>,
    /// The AC feed is up.
    pub ac_present: bool,
    /// Each rack's power controller is halted until then (a `controller_halt` fault).
    halted_until: Vec<Option<f64>>,
    /// Each rebooted controller's takeover: when it reset, and the trays on at that moment.
    takeovers: Vec<Option<(f64, [bool; TRAYS])>>,
    /// Most trays that were on at a reset and that the rebooted controller switched off
    /// within the takeover window (none for a run without a reset).
    pub takeover_trays_off: Option<usize>,
}

/// Serial numbers of the simulated racks' power controllers.
const RACK_SERIALS: [&str; 16] = [
    "RACK-SIM-00",
    "RACK-SIM-01",
    "RACK-SIM-02",
    "RACK-SIM-03",
    "RACK-SIM-04",
    "RACK-SIM-05",
    "RACK-SIM-06",
    "RACK-SIM-07",
    "RACK-SIM-08",
    "RACK-SIM-09",
    "RACK-SIM-10",
    "RACK-SIM-11",
    "RACK-SIM-12",
    "RACK-SIM-13",
    "RACK-SIM-14",
    "RACK-SIM-15",
];

/// Rack `r`'s node around `controller`, booted at `now` for `cause`.
fn rack_node(
    r: usize,
    controller: PowerController,
    now: Instant,
    cause: ResetCause,
) -> Node<PowerApp> {
    let serial = RACK_SERIALS.get(r).copied().unwrap_or("RACK-SIM");
    let mut node = Node::new(
        PowerApp::new(controller),
        NodeConfig {
            serial,
            ..NodeConfig::default()
        },
        now,
    );
    node.record_reset(now, cause, None);
    node
}

impl PowerRow {
    /// The power side of `scenario`, if it has one.
    pub fn new(scenario: &Scenario, control: Control) -> Option<Self> {
        let settings = scenario.power.as_ref()?;
        let config = power_config(scenario, settings, control);
        let racks = scenario.row.racks;
        let nodes: Vec<Node<PowerApp>> = (0..racks)
            .map(|r| {
                let controller = if settings.cold_start {
                    PowerController::new(config)
                } else {
                    PowerController::running(config)
                };
                rack_node(r, controller, Instant(0), ResetCause::PowerOn)
            })
            .collect();
        Some(Self {
            nodes,
            electrical: (0..racks)
                .map(|_| RackElectrical::new(settings.electrical))
                .collect(),
            ac_present: true,
            halted_until: vec![None; racks],
            takeovers: vec![None; racks],
            takeover_trays_off: None,
        })
    }

    /// Halts rack `r`'s power controller until `until` (s), when it resets.
    pub fn halt(&mut self, r: usize, until: f64) {
        if let Some(slot) = self.halted_until.get_mut(r) {
            *slot = Some(until);
        }
    }

    /// Steps every controller on the plant's last state; writes each rack's tray commands.
    /// `cdu`: the CDU's outputs and when it sent them (the headroom broadcast's age). A halted
    /// controller steps nothing: its I/O expanders and the trays' power limits hold what it
    /// last set (docs/failsafe.md); at the end of its halt it resets and boots afresh.
    pub fn control(
        &mut self,
        t: f64,
        now: Instant,
        plant: &RowPlant,
        (cdu, cdu_at): (&CoolantOutputs, Instant),
        commands: &mut [Option<TrayCommands>],
    ) {
        let trays = plant.p.trays_per_rack.min(TRAYS);
        for (r, (node, command)) in self.nodes.iter_mut().zip(commands).enumerate() {
            let Some(elec) = self.electrical.get(r) else {
                continue;
            };
            if let Some(slot) = self.halted_until.get_mut(r)
                && let Some(until) = *slot
            {
                if t + 1e-9 < until {
                    continue;
                }
                *slot = None;
                if let Some(takeover) = self.takeovers.get_mut(r) {
                    *takeover = Some((t, node.app.controller.outputs().tray_enable));
                }
                self.takeover_trays_off.get_or_insert(0);
                // What its flash keeps survives: the settings in force and the keys.
                let keys = node.keys_mut().clone();
                let controller = PowerController::new(*node.app.controller.config());
                *node = rack_node(r, controller, now, ResetCause::Pin);
                *node.keys_mut() = keys;
            }
            let mut inputs = PowerInputs {
                ac_present: self.ac_present && !elec.tripped,
                input_power_w: 0.0,
                feed_current_a: 0.0,
                psu_present: [[true; PSUS_PER_SHELF]; SHELVES],
                psu_fault: elec.psu_failed,
                tray_demand_w: [0.0; TRAYS],
                tray_power_w: [0.0; TRAYS],
                tray_hottest_gpu_c: [0.0; TRAYS],
                bbu_soc: 0.0,
                headroom: Some((cdu.headroom_w, cdu_at)),
                isolation_requested: cdu.isolation_requests & (1 << r) != 0,
            };
            #[allow(clippy::cast_possible_truncation)] // sensor values fit f32
            {
                inputs.input_power_w = elec.state.input_power_w as f32;
                inputs.feed_current_a = elec.state.feed_current_a as f32;
                inputs.bbu_soc = elec.soc as f32;
                let slots = inputs
                    .tray_demand_w
                    .iter_mut()
                    .zip(&mut inputs.tray_power_w)
                    .zip(&mut inputs.tray_hottest_gpu_c);
                for (((d, p), h), reading) in slots.zip(plant.trays(r)).take(trays) {
                    *d = reading.demand_w as f32;
                    *p = reading.power_w as f32;
                    *h = reading.hottest_c as f32;
                }
            }
            node.step(now, |app| app.step(now, &inputs));
            let out = node.app.controller.outputs();
            if let Some(Some((reset_at, before))) = self.takeovers.get(r)
                && t - reset_at <= crate::report::TAKEOVER_WINDOW_S
            {
                let off = before
                    .iter()
                    .zip(&out.tray_enable)
                    .filter(|(was, now)| **was && !**now)
                    .count();
                let most = self.takeover_trays_off.get_or_insert(0);
                *most = (*most).max(off);
            }
            // Written in place: the commands are the plant's input until the next step.
            let c = command.get_or_insert(TrayCommands {
                enable: [false; TRAYS],
                cap_w: [0.0; TRAYS],
                floor_w: [0.0; TRAYS],
            });
            let from = out
                .tray_enable
                .iter()
                .zip(&out.tray_cap_w)
                .zip(&out.tray_floor_w);
            let to = c.enable.iter_mut().zip(&mut c.cap_w).zip(&mut c.floor_w);
            for (((enable, cap), floor), ((e, c), f)) in to.zip(from).take(trays) {
                *enable = *e;
                *cap = f64::from(*c);
                *floor = f64::from(*f);
            }
        }
    }

    /// Steps every rack's electrical plant with the trays' load from the thermal plant and
    /// writes which racks lost their bus into `bus_lost`.
    pub fn electrical_step(&mut self, dt_s: f64, plant: &RowPlant, bus_lost: &mut [bool]) {
        let trays = plant.p.trays_per_rack.min(TRAYS);
        let ac = self.ac_present;
        let racks = self.electrical.iter_mut().zip(&self.nodes).zip(bus_lost);
        for (r, ((elec, node), lost)) in racks.enumerate() {
            let out = node.app.controller.outputs();
            let load: f64 = plant.trays(r).take(trays).map(|t| t.power_w).sum();
            // A halted controller commands no battery power: the BBUs fall back to their own
            // behaviour (carry the bus on AC loss, else stand by).
            let halted = self.halted_until.get(r).copied().flatten().is_some();
            let target = (out.smoothing && !halted).then_some(f64::from(out.grid_target_w));
            let bbu_w = if halted {
                0.0
            } else {
                f64::from(out.bbu_power_w)
            };
            elec.step(
                dt_s,
                load,
                out.tray_enable.get(..trays).unwrap_or(&out.tray_enable),
                &out.psu_enable,
                target,
                bbu_w,
                ac,
            );
            *lost = elec.state.bus_lost;
        }
    }

    /// Rack `r`'s power controller's last outputs.
    pub fn output(&self, r: usize) -> Option<&PowerOutputs> {
        self.controller(r).map(PowerController::outputs)
    }

    /// Rack `r`'s power controller.
    pub fn controller(&self, r: usize) -> Option<&PowerController> {
        self.nodes.get(r).map(|n| &n.app.controller)
    }

    /// Rack `r`'s power for the trace (zeros for a rack the row does not have).
    #[allow(clippy::cast_possible_truncation)] // kW values for a plot and a CSV
    pub fn rack_trace(&self, r: usize) -> crate::report::trace::RackPowerTrace {
        let (Some(elec), Some(out)) = (self.electrical.get(r), self.output(r)) else {
            return crate::report::trace::RackPowerTrace::default();
        };
        let caps_w: f32 = out
            .tray_cap_w
            .iter()
            .zip(&out.tray_enable)
            .filter(|(_, enabled)| **enabled)
            .map(|(cap, _)| *cap)
            .sum();
        crate::report::trace::RackPowerTrace {
            grid_kw: (elec.state.input_power_w / 1e3) as f32,
            budget_kw: out.budget_w / 1e3,
            caps_kw: caps_w / 1e3,
            bbu_kw: (elec.state.bbu_power_w / 1e3) as f32,
            bbu_soc_pct: (elec.soc * 100.0) as f32,
        }
    }

    /// Row input power from the grid, W.
    pub fn grid_w(&self) -> f64 {
        self.electrical.iter().map(|e| e.state.input_power_w).sum()
    }
}
