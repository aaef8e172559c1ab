//! The physical row: a CDU with N+1 pumps, a counter-flow plate heat exchanger and a primary
//! valve, serving racks of compute trays through supply and return manifolds.
//!
//! Hydraulics are quasi-static (they settle in well under a control period): each step solves
//! the pump curves (affinity laws: head ~ speed^2) against the racks' branches (pressure drop
//! ~ flow^1.85, isolated racks closed), a bypass, and the CDU's own losses (~ flow^2).
//!
//! Thermal state is a loop of mixed volumes, integrated explicitly with every node updated from
//! the previous step's temperatures: CDU outlet (supply sensor) -> supply manifold (tanks in
//! series: the transport delay) -> each rack's trays in parallel (coolant volume; GPUs with
//! cold plates as thermal masses, conductance growing with flow; junction = cold plate + P x R)
//! -> rack return mix -> return manifold -> reservoir -> heat exchanger (eps-NTU, no volume) ->
//! CDU outlet. Because every heat flow leaves one node exactly as it enters another, the energy
//! ledger (heat in = rejected + stored) closes to rounding; the KPI checks it.

use rack_control::power::TRAYS;

use crate::plant::hydraulics::{Flows, Network};
use crate::plant::params::RowParams;
use crate::plant::trays::{Rack, RacksStep, Tray, TrayStep, step_rack_trays};
use devices::installed_flow_fraction;

/// What the controller (through the actuator models) commands.
#[derive(Debug, Clone, PartialEq)]
pub struct Actuators {
    /// Primary valve demand, %.
    pub valve_demand_pct: f64,
    /// Pump speed commands, % (0 = off).
    pub pump_speed_pct: Vec<f64>,
    /// Rack isolation valves, true = open.
    pub rack_valve_open: Vec<bool>,
    /// The controller's heartbeat output: it toggles once per healthy control step, and the
    /// fail-safe relay holds only while it does (a level that stops changing is a dead
    /// controller, whatever the level). `None`: the devices are driven directly, the relay
    /// bypassed (a commissioning test set, a bench).
    pub heartbeat: Option<bool>,
}

/// Conditions outside the controller's reach at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// Facility water supply temperature, degC.
    pub facility_supply_c: f64,
    /// Facility water flow available, as a fraction of what the valve would pass (1 = all;
    /// less when the facility's pumps or pressure fall short).
    pub facility_flow_fraction: f64,
    /// Each rack's input power demand from its workload, W.
    pub rack_demand_w: Vec<f64>,
    /// Each rack's power is on (false once electrically isolated).
    pub rack_powered: Vec<bool>,
    /// Each rack's power controller's commands to its trays; `None`: the trays follow the
    /// workload uncapped.
    pub tray_commands: Vec<Option<TrayCommands>>,
}

/// A power controller's commands to one rack's trays (trays past the controller's count: off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrayCommands {
    /// Tray power enables.
    pub enable: [bool; TRAYS],
    /// GPU power caps, W (the GPUs hold their tray under it).
    pub cap_w: [f64; TRAYS],
    /// Power floors, W (the GPUs burn up to it when the workload asks less).
    pub floor_w: [f64; TRAYS],
}

/// One tray's electrical and thermal reading.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrayReading {
    /// What the workload asks of the tray, W.
    pub demand_w: f64,
    /// What it draws, W.
    pub power_w: f64,
    /// Its hottest GPU junction, degC.
    pub hottest_c: f64,
}

/// Plant state and its ledgers.
#[derive(Debug, Clone)]
pub struct RowPlant {
    /// Parameters.
    pub p: RowParams,
    pump_speed: Vec<f64>,
    pump_tripped: Vec<bool>,
    /// Where the valve's plug stands, % (what passes water).
    valve_pct: f64,
    /// Where its actuator stands, % (what its position feedback reports): the plug follows it
    /// through the linkage's play.
    valve_actuator_pct: f64,
    /// The actuator is running toward its demand (it starts once the demand leaves its
    /// deadband and stops on arrival).
    valve_running: bool,
    valve_stuck: bool,
    /// The controller's fail-safe relay and what the field devices do without it.
    field: devices::FieldFailsafe,
    cdu_outlet_c: f64,
    supply_manifold: Vec<f64>,
    racks: Vec<Rack>,
    return_manifold: Vec<f64>,
    reservoir_c: f64,
    reservoir_level_pct: f64,
    reservoir_drain_lpm: f64,
    /// Last step's racks' dP, kPa: where the next hydraulic solve starts.
    last_dp_kpa: Option<f64>,
    /// Last solved values.
    pub state: PlantState,
    ledger: Ledger,
}

/// What sensors can see, and what the KPIs need, after a step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlantState {
    /// Secondary supply (CDU outlet), degC.
    pub supply_c: f64,
    /// Secondary return at the CDU, degC.
    pub return_c: f64,
    /// Facility supply, degC.
    pub primary_supply_c: f64,
    /// Facility return, degC.
    pub primary_return_c: f64,
    /// Secondary flow, L/min.
    pub flow_lpm: f64,
    /// Differential pressure across the racks, kPa.
    pub dp_kpa: f64,
    /// Valve plug position, %.
    pub valve_pct: f64,
    /// Valve actuator position (the position feedback), %.
    pub valve_actuator_pct: f64,
    /// Pump speeds, rpm.
    pub pump_rpm: Vec<f64>,
    /// Pump electrical power, W.
    pub pump_power_w: f64,
    /// Heat rejected by the heat exchanger, W.
    pub hx_heat_w: f64,
    /// Heat into the liquid, W.
    pub heat_in_w: f64,
    /// Each rack's input power, W.
    pub rack_power_w: Vec<f64>,
    /// Each rack's hottest GPU junction, degC.
    pub rack_hottest_gpu_c: Vec<f64>,
    /// The row's hottest GPU junction, degC.
    pub hottest_gpu_c: f64,
    /// GPUs (trays) throttling.
    pub throttling_trays: usize,
    /// Trays whose GPUs have shut down at their shutdown temperature (they stay off).
    pub shutdown_trays: usize,
    /// Reservoir level, %.
    pub reservoir_level_pct: f64,
    /// Each rack's coolant flow, L/min.
    pub rack_flow_lpm: Vec<f64>,
    /// The controller's fail-safe relay is energised (false: the field devices are on their
    /// fail positions).
    pub failsafe_relay: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Ledger {
    heat_in_j: f64,
    rejected_j: f64,
    initial_stored_j: f64,
    pump_energy_j: f64,
}

/// Energy accounting of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyBalance {
    /// Heat into the liquid, J.
    pub heat_in_j: f64,
    /// Heat rejected to facility water, J.
    pub rejected_j: f64,
    /// Change of heat stored in the loop and the GPUs, J.
    pub stored_j: f64,
    /// |in - rejected - stored| / in, %.
    pub error_pct: f64,
    /// Pump electrical energy, kWh.
    pub pump_energy_kwh: f64,
}

impl RowPlant {
    /// A row in steady state at `load` (fraction of design power) with the supply at
    /// `supply_c`; `seed` spreads tray power shares (+/- 3 %).
    pub fn new(p: RowParams, load: f64, supply_c: f64, seed: u64) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            // xorshift64*: a tiny deterministic spread, no need for a full RNG here.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        let tray_kg_s = p.secondary_design_kg_s() / (p.racks * p.trays_per_rack) as f64;
        let tray_heat =
            load * p.rack_design_power_w / p.trays_per_rack as f64 * p.liquid_capture_fraction;
        let tray_rise = tray_heat / (tray_kg_s * p.secondary_cp_j_per_kg_k);
        let racks = (0..p.racks)
            .map(|_| {
                let mut shares: Vec<f64> = (0..p.trays_per_rack)
                    .map(|_| 0.97 + 0.06 * next())
                    .collect();
                let mean = shares.iter().sum::<f64>() / shares.len() as f64;
                shares.iter_mut().for_each(|s| *s /= mean);
                Rack {
                    trays: shares
                        .into_iter()
                        .map(|share| Tray {
                            coolant_c: supply_c + tray_rise,
                            gpu_c: supply_c
                                + tray_rise * 0.5
                                + load * 1000.0 * p.cold_plate_r_design_k_per_w,
                            share,
                            throttled: false,
                            shut_down: false,
                            overdraw: 1.0,
                            last: TrayReading::default(),
                        })
                        .collect(),
                    flow_kg_s: p.secondary_design_kg_s() / p.racks as f64,
                    power_w: load * p.rack_design_power_w,
                }
            })
            .collect();
        let return_c = supply_c + tray_rise;
        let mut plant = Self {
            pump_speed: (0..p.pumps)
                .map(|i| if i == 0 { p.pump_design_speed } else { 0.0 })
                .collect(),
            pump_tripped: vec![false; p.pumps],
            valve_pct: 50.0,
            valve_actuator_pct: 50.0,
            valve_running: false,
            valve_stuck: false,
            field: devices::FieldFailsafe::new(p.pumps),
            cdu_outlet_c: supply_c,
            supply_manifold: vec![supply_c; p.manifold_segments],
            racks,
            return_manifold: vec![return_c; p.manifold_segments],
            reservoir_c: return_c,
            reservoir_level_pct: p.reservoir_level_pct,
            reservoir_drain_lpm: 0.0,
            last_dp_kpa: None,
            state: PlantState {
                failsafe_relay: true,
                ..PlantState::default()
            },
            ledger: Ledger::default(),
            p,
        };
        plant.ledger.initial_stored_j = plant.stored_heat_j();
        plant
    }

    /// Starts the valve at `pct` (used to begin a run near its steady state).
    pub fn set_valve(&mut self, pct: f64) {
        self.valve_pct = pct.clamp(0.0, 100.0);
        self.valve_actuator_pct = self.valve_pct;
    }

    /// Trips pump `i` (it coasts down and ignores commands until reset).
    pub fn trip_pump(&mut self, i: usize) {
        if let Some(t) = self.pump_tripped.get_mut(i) {
            *t = true;
        }
    }

    /// Makes tray `tray` of rack `rack` draw `factor` x its demand regardless of its cap.
    pub fn fault_tray(&mut self, rack: usize, tray: usize, factor: f64) {
        if let Some(t) = self.racks.get_mut(rack).and_then(|r| r.trays.get_mut(tray)) {
            t.overdraw = factor;
        }
    }

    /// The last readings of rack `rack`'s trays, in order (none for a rack past the row).
    pub fn trays(&self, rack: usize) -> impl Iterator<Item = &TrayReading> {
        self.racks
            .get(rack)
            .into_iter()
            .flat_map(|r| r.trays.iter().map(|t| &t.last))
    }

    /// Freezes the valve where it is.
    pub fn stick_valve(&mut self) {
        self.valve_stuck = true;
    }

    /// Starts draining the reservoir at `lpm`.
    pub fn drain_reservoir(&mut self, lpm: f64) {
        self.reservoir_drain_lpm = lpm;
    }

    /// Whether the reservoir level switch is closed.
    pub fn reservoir_level_ok(&self) -> bool {
        self.reservoir_level_pct > self.p.reservoir_switch_pct
    }

    /// Heat held by every thermal node now, J (relative to 0 degC).
    fn stored_heat_j(&self) -> f64 {
        let p = &self.p;
        let c_per_l = p.secondary_density_kg_per_l * p.secondary_cp_j_per_kg_k;
        let seg_supply = p.supply_manifold_l / p.manifold_segments as f64 * c_per_l;
        let seg_return = p.return_manifold_l / p.manifold_segments as f64 * c_per_l;
        let mut e = self.cdu_outlet_c * p.cdu_outlet_l * c_per_l
            + self.reservoir_c * p.reservoir_l * c_per_l
            + self.supply_manifold.iter().sum::<f64>() * seg_supply
            + self.return_manifold.iter().sum::<f64>() * seg_return;
        let tray_c = p.tray_coolant_l * c_per_l;
        let gpu_c = p.gpu_heat_capacity_j_per_k * p.gpus_per_tray as f64;
        for rack in &self.racks {
            for tray in &rack.trays {
                e += tray.coolant_c * tray_c + tray.gpu_c * gpu_c;
            }
        }
        e
    }

    /// The energy ledger so far.
    pub fn energy_balance(&self) -> EnergyBalance {
        let stored = self.stored_heat_j() - self.ledger.initial_stored_j;
        let l = self.ledger;
        let error_pct = if l.heat_in_j > 0.0 {
            (l.heat_in_j - l.rejected_j - stored).abs() / l.heat_in_j * 100.0
        } else {
            0.0
        };
        EnergyBalance {
            heat_in_j: l.heat_in_j,
            rejected_j: l.rejected_j,
            stored_j: stored,
            error_pct,
            pump_energy_kwh: l.pump_energy_j / 3.6e6,
        }
    }

    /// Advances the plant by `dt_s`.
    pub fn step(&mut self, dt_s: f64, act: &Actuators, env: &Environment) {
        let p = self.p;
        self.move_actuators(dt_s, act);
        let flows = self.solve_hydraulics(act);
        let total_kg_s = flows.racks_kg_s + flows.bypass_kg_s;
        let cp = p.secondary_cp_j_per_kg_k;
        let c_per_l = p.secondary_density_kg_per_l * cp;

        // Heat exchanger (no volume): reservoir outlet is the hot inlet.
        let hot_in = self.reservoir_c;
        let facility_c = env.facility_supply_c + p.facility_supply_offset_k;
        let primary_kg_s = (env.facility_flow_fraction * p.facility_flow_factor).clamp(0.0, 1.0)
            * p.primary_max_flow_factor
            * p.primary_design_kg_s()
            * installed_flow_fraction(&p, self.valve_pct);
        let (hx_w, primary_return_c) =
            self.heat_exchanger(total_kg_s, primary_kg_s, hot_in, facility_c);
        let hot_out = if total_kg_s > 0.0 {
            hot_in - hx_w / (total_kg_s * cp)
        } else {
            hot_in
        };

        // Every node from the previous temperatures (flux-conservative explicit step).
        let mdot_cp = total_kg_s * cp;
        let rack_inlet = self.step_supply_side(dt_s, mdot_cp, hot_out, c_per_l);
        let mut heat_in_w = 0.0;
        let racks = self.step_racks(dt_s, act, env, &flows, rack_inlet, &mut heat_in_w);
        let return_inlet = if total_kg_s > 0.0 {
            racks.return_mix_w / mdot_cp
        } else {
            rack_inlet
        };
        self.step_return_side(dt_s, mdot_cp, return_inlet, c_per_l);

        let pump_power = self.pump_power_w(&flows);
        self.ledger.heat_in_j += heat_in_w * dt_s;
        self.ledger.rejected_j += hx_w * dt_s;
        self.ledger.pump_energy_j += pump_power * dt_s;
        // Every field of the state is set; its per-rack and per-pump lists keep their buffers.
        let state = &mut self.state;
        state.supply_c = self.cdu_outlet_c;
        state.return_c = self.reservoir_c;
        state.primary_supply_c = facility_c;
        state.primary_return_c = primary_return_c;
        state.flow_lpm = total_kg_s / p.secondary_density_kg_per_l * 60.0;
        state.dp_kpa = flows.dp_kpa;
        state.valve_pct = self.valve_pct;
        state.valve_actuator_pct = self.valve_actuator_pct;
        state.pump_rpm.clear();
        state
            .pump_rpm
            .extend(self.pump_speed.iter().map(|s| s * p.pump_max_rpm));
        state.pump_power_w = pump_power;
        state.hx_heat_w = hx_w;
        state.heat_in_w = heat_in_w;
        state.hottest_gpu_c = racks.hottest_c;
        state.throttling_trays = racks.throttling;
        state.shutdown_trays = racks.shut_down;
        state.reservoir_level_pct = self.reservoir_level_pct;
    }

    /// The CDU outlet and the supply manifold's tanks, each from its upstream neighbour's
    /// previous temperature; returns the temperature reaching the racks.
    fn step_supply_side(&mut self, dt_s: f64, mdot_cp: f64, hot_out: f64, c_per_l: f64) -> f64 {
        let p = self.p;
        let old_outlet = self.cdu_outlet_c;
        self.cdu_outlet_c += dt_s * mdot_cp * (hot_out - old_outlet) / (p.cdu_outlet_l * c_per_l);
        let seg_supply = p.supply_manifold_l / p.manifold_segments as f64 * c_per_l;
        advance_tanks(
            &mut self.supply_manifold,
            dt_s * mdot_cp / seg_supply,
            old_outlet,
        )
    }

    /// The return manifold's tanks from the racks' mixed return, the reservoir, and its level.
    fn step_return_side(&mut self, dt_s: f64, mdot_cp: f64, return_inlet: f64, c_per_l: f64) {
        let p = self.p;
        let seg_return = p.return_manifold_l / p.manifold_segments as f64 * c_per_l;
        let upstream = advance_tanks(
            &mut self.return_manifold,
            dt_s * mdot_cp / seg_return,
            return_inlet,
        );
        let old_reservoir = self.reservoir_c;
        self.reservoir_c += dt_s * mdot_cp * (upstream - old_reservoir) / (p.reservoir_l * c_per_l);
        self.reservoir_level_pct = (self.reservoir_level_pct
            - self.reservoir_drain_lpm * dt_s / 60.0 / p.reservoir_l * 100.0)
            .max(0.0);
    }

    /// Every rack's trays at `rack_inlet`: their power (the workload under the power
    /// controllers' caps and floors, GPU protection), heat and temperatures; adds the heat into
    /// the liquid to `heat_in_w` and records each rack's power, hottest GPU and flow.
    fn step_racks(
        &mut self,
        dt_s: f64,
        act: &Actuators,
        env: &Environment,
        flows: &Flows,
        rack_inlet: f64,
        heat_in_w: &mut f64,
    ) -> RacksStep {
        let p = self.p;
        let cp = p.secondary_cp_j_per_kg_k;
        let c_per_l = p.secondary_density_kg_per_l * cp;
        // The tray loop's constants, divisions done once: a step multiplies (a step's cost is
        // mostly this loop, and a division costs several multiplications' time).
        let mut k = TrayStep {
            rack_inlet,
            dt_per_tray_cap: dt_s / (p.tray_coolant_l * c_per_l),
            dt_per_gpu_cap: dt_s / (p.gpu_heat_capacity_j_per_k * p.gpus_per_tray as f64),
            // Junction over cold plate per watt of one GPU: its own resistance plus the hot
            // spot's share of junction and plate.
            junction_k_per_w: (p.gpu_junction_r_k_per_w
                + p.hot_spot_fraction * (p.gpu_junction_r_k_per_w + p.cold_plate_r_design_k_per_w))
                / p.gpus_per_tray as f64,
            g_plate: 0.0,
            tray_mdot_cp: 0.0,
            demand_per_tray: 0.0,
        };
        let trays = p.trays_per_rack as f64;
        let mut out = RacksStep {
            return_mix_w: flows.bypass_kg_s * cp * rack_inlet,
            hottest_c: f64::MIN,
            throttling: 0,
            shut_down: 0,
        };
        let rack_power = &mut self.state.rack_power_w;
        let rack_hottest = &mut self.state.rack_hottest_gpu_c;
        let rack_flow_lpm = &mut self.state.rack_flow_lpm;
        rack_power.clear();
        rack_hottest.clear();
        rack_flow_lpm.clear();
        // Cold plate conductance for the last flow ratio seen (open racks share one flow).
        let mut plate: Option<(f64, f64)> = None;
        for (r, rack) in self.racks.iter_mut().enumerate() {
            rack.flow_kg_s = if self.field.rack_open(act, r) {
                flows.open_rack_kg_s
            } else {
                0.0
            };
            rack_flow_lpm.push(rack.flow_kg_s / p.secondary_density_kg_per_l * 60.0);
            let powered = env.rack_powered.get(r).copied().unwrap_or(true);
            let demand = if powered {
                env.rack_demand_w.get(r).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            let tray_kg_s = rack.flow_kg_s / trays;
            let flow_ratio =
                (rack.flow_kg_s / (p.secondary_design_kg_s() / p.racks as f64)).max(0.0);
            k.g_plate = match plate {
                Some((ratio, g)) if ratio.to_bits() == flow_ratio.to_bits() => g,
                _ => {
                    let g = if flow_ratio > 0.0 {
                        p.gpus_per_tray as f64 / p.cold_plate_r_design_k_per_w
                            * flow_ratio.powf(p.cold_plate_flow_exponent)
                    } else {
                        0.0
                    };
                    plate = Some((flow_ratio, g));
                    g
                }
            };
            let commands = env.tray_commands.get(r).and_then(Option::as_ref);
            k.demand_per_tray = demand / trays;
            k.tray_mdot_cp = tray_kg_s * cp;
            let (rack_w, rack_max, rack_out_w) =
                step_rack_trays(rack, &p, &k, commands, heat_in_w, &mut out);
            out.return_mix_w += rack_out_w;
            rack.power_w = rack_w;
            rack_power.push(rack_w);
            rack_hottest.push(rack_max);
            out.hottest_c = out.hottest_c.max(rack_max);
        }
        out
    }

    fn move_actuators(&mut self, dt_s: f64, act: &Actuators) {
        let p = self.p;
        let relay = self.field.step(dt_s, act, p.failsafe_relay_dropout_s);
        self.state.failsafe_relay = relay;
        if !self.valve_stuck {
            if relay {
                self.move_valve(dt_s, act.valve_demand_pct.clamp(0.0, 100.0));
            } else {
                self.spring_valve_open(dt_s);
            }
        }
        let level_ok = self.reservoir_level_pct > 0.0;
        for (i, speed) in self.pump_speed.iter_mut().enumerate() {
            let tripped = self.pump_tripped.get(i).copied().unwrap_or(false);
            let command = self.field.pump_command(act, i, p.pump_failsafe_speed_pct) / 100.0;
            let (target, tau) = if tripped || !level_ok {
                (0.0, p.pump_coastdown_tau_s)
            } else if command < *speed {
                (command.clamp(0.0, 1.0), p.pump_coastdown_tau_s)
            } else {
                (command.clamp(0.0, 1.0), p.pump_spinup_tau_s)
            };
            *speed += (target - *speed) * (1.0 - (-dt_s / tau).exp());
        }
    }

    /// The loop's hydraulic network at the pumps' present speeds with `n_open` racks open.
    fn network(&self, n_open: f64) -> Network<'_> {
        Network::new(&self.p, &self.pump_speed, n_open)
    }

    fn solve_hydraulics(&mut self, act: &Actuators) -> Flows {
        let p = self.p;
        let n_open = (0..p.racks)
            .filter(|&r| self.field.rack_open(act, r))
            .count() as f64;
        let net = self.network(n_open);
        let dp = net.solve(self.last_dp_kpa);
        let rho = p.secondary_density_kg_per_l;
        // Every open rack has the same branch: one flow for all of them.
        let (branch_lps, bypass_lps) = net.branches(dp);
        let q = net.n_open * branch_lps + bypass_lps;
        let open_rack_kg_s = branch_lps * rho;
        let bypass_kg_s = bypass_lps * rho;
        let head_kpa = dp + net.k_internal * q * q;
        self.last_dp_kpa = Some(dp);
        let mut racks_kg_s = 0.0;
        for r in 0..p.racks {
            racks_kg_s += if self.field.rack_open(act, r) {
                open_rack_kg_s
            } else {
                0.0
            };
        }
        Flows {
            open_rack_kg_s,
            racks_kg_s,
            bypass_kg_s,
            dp_kpa: dp,
            head_kpa,
        }
    }

    fn pump_power_w(&self, flows: &Flows) -> f64 {
        let total_lps = (flows.racks_kg_s + flows.bypass_kg_s) / self.p.secondary_density_kg_per_l;
        // Hydraulic power = head x flow; kPa x L/s = W.
        flows.head_kpa * total_lps / self.p.pump_efficiency
    }
}

/// One step of a manifold's tanks in series, each from its upstream neighbour's previous
/// temperature (`blend` = dt x mdot cp / a tank's heat capacity); returns the last tank's
/// previous temperature, what leaves the manifold this step.
fn advance_tanks(tanks: &mut [f64], blend: f64, inlet: f64) -> f64 {
    let mut upstream = inlet;
    for t in tanks {
        let old = *t;
        *t += blend * (upstream - old);
        upstream = old;
    }
    upstream
}

mod devices;
#[cfg(test)]
mod tests;
