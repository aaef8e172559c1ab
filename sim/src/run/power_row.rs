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
                let serial = RACK_SERIALS.get(r).copied().unwrap_or("RACK-SIM");
                Node::new(
                    PowerApp::new(controller),
                    NodeConfig {
                        serial,
                        ..NodeConfig::default()
                    },
                    Instant(0),
                )
            })
            .collect();
        Some(Self {
            nodes,
            electrical: (0..racks)
                .map(|_| RackElectrical::new(settings.electrical))
                .collect(),
            ac_present: true,
        })
    }

    /// Steps every controller on the plant's last state; writes each rack's tray commands.
    pub fn control(
        &mut self,
        now: Instant,
        plant: &RowPlant,
        cdu: &CoolantOutputs,
        commands: &mut [Option<TrayCommands>],
    ) {
        let trays = plant.p.trays_per_rack.min(TRAYS);
        for (r, (node, command)) in self.nodes.iter_mut().zip(commands).enumerate() {
            let Some(elec) = self.electrical.get(r) else {
                continue;
            };
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
                headroom: Some((cdu.headroom_w, now)),
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
            let target = out.smoothing.then_some(f64::from(out.grid_target_w));
            elec.step(
                dt_s,
                load,
                out.tray_enable.get(..trays).unwrap_or(&out.tray_enable),
                &out.psu_enable,
                target,
                f64::from(out.bbu_power_w),
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
