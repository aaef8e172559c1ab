//! Every physical parameter of the simulated row, in one struct, with its source.
//!
//! Sources are in `docs/domain.md` of the project's shared folder; **(assumed)** marks a value no
//! primary source confirmed. The design point: 8 racks of 120 kW (GB200 NVL72 class), 90 % of
//! it into the liquid loop, PG25 secondary at 10 K rise (~1.5 L/min per kW), secondary supply
//! 30 degC (Redfish CDU mockup), facility water at 25 degC (inside ASHRAE W32), a CDU near
//! 1 MW (`LiquidStack` CDU-1MW class), 35 kPa across the racks (Redfish mockup).

use serde::{Deserialize, Serialize};

use crate::validate::{Invalid, Range, check_fields};

/// Parameters of one row: a CDU and its racks. Scenario files may override any field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RowParams {
    /// Racks in the row (DOMAIN: a ~1 MW CDU serves ~8 racks).
    pub racks: usize,
    /// Compute trays per rack (NVL72: 18).
    pub trays_per_rack: usize,
    /// GPUs per compute tray (NVL72: 4).
    pub gpus_per_tray: usize,
    /// Rack input power at 100 % workload, W (GB200 NVL72 ~120 kW).
    pub rack_design_power_w: f64,
    /// Share of rack power carried away by the liquid loop (assumed 0.9).
    pub liquid_capture_fraction: f64,
    /// Share of a tray's power dissipated in its GPUs (assumed 0.6: 4 x ~1 kW of 6.7 kW).
    pub gpu_power_fraction: f64,
    /// Junction-to-cold-plate resistance per GPU, K/W (assumed; with the cold plate, 0.04 K/W total).
    pub gpu_junction_r_k_per_w: f64,
    /// Cold-plate-to-coolant resistance per GPU at design flow, K/W (assumed, see above).
    pub cold_plate_r_design_k_per_w: f64,
    /// Exponent of cold plate conductance vs flow (turbulent convection, ~0.8; LBNL `ColdPlateR_P` fit).
    pub cold_plate_flow_exponent: f64,
    /// Heat capacity of one GPU with its cold plate, J/K (assumed: ~0.65 kg copper).
    pub gpu_heat_capacity_j_per_k: f64,
    /// Coolant volume in one tray, L (assumed).
    pub tray_coolant_l: f64,
    /// GPU slowdown temperature, degC (H100 class ~83, assumed for GB200).
    pub gpu_slowdown_c: f64,
    /// GPU shutdown temperature, degC (~90-92, assumed).
    pub gpu_shutdown_c: f64,
    /// GPU power while throttled, fraction of demand (assumed).
    pub throttle_power_fraction: f64,
    /// Spread of the hottest GPU above its tray's mean (hot spot), fraction of the GPU rise (assumed).
    pub hot_spot_fraction: f64,

    /// Secondary coolant density, kg/L (PG25).
    pub secondary_density_kg_per_l: f64,
    /// Secondary coolant specific heat, J/(kg K) (PG25 ~3.9 kJ/kg K).
    pub secondary_cp_j_per_kg_k: f64,
    /// Facility water specific heat, J/(kg K).
    pub primary_cp_j_per_kg_k: f64,
    /// Design secondary temperature rise, K (DOMAIN: flow per kW at 10 K).
    pub design_rise_k: f64,
    /// Supply manifold volume, CDU to racks, L (assumed: ~20 m of DN150 pipe).
    pub supply_manifold_l: f64,
    /// Return manifold volume, racks to CDU, L (assumed).
    pub return_manifold_l: f64,
    /// Tanks in series modelling each manifold's transport delay.
    pub manifold_segments: usize,
    /// Reservoir volume in the return path, L (assumed).
    pub reservoir_l: f64,
    /// CDU secondary volume from heat exchanger to supply sensor, L (assumed).
    pub cdu_outlet_l: f64,

    /// Differential pressure across the racks at design flow, kPa (Redfish mockup: 35).
    pub rack_dp_design_kpa: f64,
    /// Pressure drop inside the CDU (heat exchanger, strainer, piping) at design flow, kPa (assumed).
    pub cdu_internal_dp_design_kpa: f64,
    /// Exponent of a rack branch's pressure drop vs flow (LBNL cold plate: 1.85).
    pub rack_flow_exponent: f64,
    /// Bypass flow at the design differential pressure, fraction of design flow (assumed).
    pub bypass_fraction: f64,
    /// Pumps fitted (N+1 with N = 1).
    pub pumps: usize,
    /// Pump shut-off head at full speed, kPa (assumed pump curve).
    pub pump_shutoff_kpa: f64,
    /// Pump speed at which one pump delivers design flow, fraction (commissioning point).
    pub pump_design_speed: f64,
    /// Pump full speed, rpm.
    pub pump_max_rpm: f64,
    /// Pump spin-up time constant, s (assumed VFD ramp).
    pub pump_spinup_tau_s: f64,
    /// Pump coast-down time constant after a trip, s (assumed).
    pub pump_coastdown_tau_s: f64,
    /// Wire-to-water efficiency of a pump at its best point (assumed).
    pub pump_efficiency: f64,

    /// Heat exchanger UA at design flows, W/K (sized for a 5 K approach at design, DOMAIN 3-5 K).
    pub hx_ua_design_w_per_k: f64,
    /// Facility water flow with the valve fully open, as a multiple of design primary flow (assumed).
    pub primary_max_flow_factor: f64,
    /// Equal-percentage valve rangeability (assumed, typical 50).
    pub valve_rangeability: f64,
    /// Valve actuator full-stroke time, s (assumed electric actuator).
    pub valve_stroke_s: f64,
    /// Reservoir level at start, %.
    pub reservoir_level_pct: f64,
    /// Level below which the level switch opens, %.
    pub reservoir_switch_pct: f64,

    // What a row really is beside its nameplate: each defaults to the ideal device, so a row
    // is its nameplate until a scenario's `[plant]` says otherwise (docs/domain.md, "Field
    // devices").
    /// Valve positioner deadband, % of stroke: the actuator moves only once its demand is
    /// this far from where it stands (DOMAIN: ~0.5-1 % for electric actuators, assumed).
    pub valve_deadband_pct: f64,
    /// Valve linkage hysteresis (backlash), % of stroke: the plug lags the actuator by this
    /// play when the motion reverses (assumed, same order as the deadband).
    pub valve_hysteresis_pct: f64,
    /// Valve authority: its pressure drop fully open over the primary circuit's; below 1 the
    /// installed characteristic bends from equal-percentage toward linear (1: inherent).
    pub valve_authority: f64,
    /// Exponent of the heat exchanger's film coefficients vs flow (turbulent plate
    /// exchangers ~0.6-0.8).
    pub hx_film_flow_exponent: f64,
    /// Supply temperature sensors' first-order lag, s (DOMAIN: thermowell RTD 2-10 s).
    pub supply_sensor_lag_s: f64,
    /// Return temperature sensor's lag, s.
    pub return_sensor_lag_s: f64,
    /// Facility supply and return sensors' lag, s.
    pub facility_sensor_lag_s: f64,
    /// Flow meter's averaging lag, s (DOMAIN: ultrasonic 0.5-2 s).
    pub flow_sensor_lag_s: f64,
    /// Differential pressure transmitter's damping, s.
    pub dp_sensor_lag_s: f64,
    /// Flow meter gain: what it reads over the true flow (DOMAIN: +-10 % uncertainty).
    pub flow_meter_gain: f64,
    /// Racks' power reports over their true input power (meter gain error).
    pub power_report_gain: f64,
    /// Age of the racks' power reports when they reach the CDU, s (metering and bus delay).
    pub power_report_delay_s: f64,
    /// Facility supply temperature beside what the scenario's `[facility]` names, K
    /// (DOMAIN: +-2 K).
    pub facility_supply_offset_k: f64,
    /// Facility flow available as a fraction of what the `[facility]` profile gives
    /// (DOMAIN: 60-100 % of design).
    pub facility_flow_factor: f64,

    // The field devices' fail positions (docs/failsafe.md): what holds the row while its
    // controller is dead, hung, resetting or being flashed.
    /// Time without a heartbeat edge from the controller before its fail-safe relay drops, s
    /// (a retriggerable watchdog relay; 0.5 s is two missed heartbeats at 100 ms plus margin).
    pub failsafe_relay_dropout_s: f64,
    /// Time the unpowered facility valve actuator's spring takes to drive it fully open, s
    /// (spring-return electric actuators: about 20 s, e.g. Belimo's spring-return series).
    pub valve_spring_return_s: f64,
    /// Speed the pump drives run at once the fail-safe relay drops (the drive's constant-speed
    /// input, set at commissioning to the controller's own failsafe speed), %.
    pub pump_failsafe_speed_pct: f64,
}

impl Default for RowParams {
    fn default() -> Self {
        Self {
            racks: 8,
            trays_per_rack: 18,
            gpus_per_tray: 4,
            rack_design_power_w: 120_000.0,
            liquid_capture_fraction: 0.9,
            gpu_power_fraction: 0.6,
            gpu_junction_r_k_per_w: 0.015,
            cold_plate_r_design_k_per_w: 0.025,
            cold_plate_flow_exponent: 0.8,
            gpu_heat_capacity_j_per_k: 250.0,
            tray_coolant_l: 1.5,
            gpu_slowdown_c: 83.0,
            gpu_shutdown_c: 91.0,
            throttle_power_fraction: 0.7,
            hot_spot_fraction: 0.05,
            secondary_density_kg_per_l: 1.02,
            secondary_cp_j_per_kg_k: 3_900.0,
            primary_cp_j_per_kg_k: 4_186.0,
            design_rise_k: 10.0,
            supply_manifold_l: 120.0,
            return_manifold_l: 120.0,
            manifold_segments: 4,
            reservoir_l: 80.0,
            cdu_outlet_l: 30.0,
            rack_dp_design_kpa: 35.0,
            cdu_internal_dp_design_kpa: 50.0,
            rack_flow_exponent: 1.85,
            bypass_fraction: 0.03,
            pumps: 2,
            pump_shutoff_kpa: 150.0,
            pump_design_speed: 0.85,
            pump_max_rpm: 3_600.0,
            pump_spinup_tau_s: 0.8,
            pump_coastdown_tau_s: 1.5,
            pump_efficiency: 0.65,
            hx_ua_design_w_per_k: 175_000.0,
            primary_max_flow_factor: 1.6,
            valve_rangeability: 50.0,
            valve_stroke_s: 30.0,
            reservoir_level_pct: 85.0,
            reservoir_switch_pct: 20.0,
            valve_deadband_pct: 0.0,
            valve_hysteresis_pct: 0.0,
            valve_authority: 1.0,
            hx_film_flow_exponent: 0.8,
            supply_sensor_lag_s: 1.0,
            return_sensor_lag_s: 1.0,
            facility_sensor_lag_s: 1.0,
            flow_sensor_lag_s: 0.5,
            dp_sensor_lag_s: 0.2,
            flow_meter_gain: 1.0,
            power_report_gain: 1.0,
            power_report_delay_s: 0.0,
            facility_supply_offset_k: 0.0,
            facility_flow_factor: 1.0,
            failsafe_relay_dropout_s: 0.5,
            valve_spring_return_s: 20.0,
            pump_failsafe_speed_pct: 90.0,
        }
    }
}

/// The physical range of every [`RowParams`] field: a file outside these fails before any
/// simulation, naming the field. Wide enough for any row a CDU vendor sells (a 4-rack row to
/// a 16-rack row on a 2 MW CDU, water or glycol, slow or fast actuators), narrow enough that
/// the models stay inside the physics they were written for.
pub const ROW_RANGES: &[Range] = &[
    Range::new(
        "racks",
        1.0,
        rack_control::coolant::MAX_RACKS as f64,
        "the coolant controller serves at most 16 racks",
    ),
    Range::new(
        "trays_per_rack",
        1.0,
        72.0,
        "compute trays in a rack; NVL72 has 18",
    ),
    Range::new(
        "gpus_per_tray",
        1.0,
        16.0,
        "GPUs on a tray's cold plates; NVL72 has 4",
    ),
    Range::new(
        "rack_design_power_w",
        5_000.0,
        400_000.0,
        "W at 100 % load; GB200/GB300 racks draw 120-140 kW",
    ),
    Range::new(
        "liquid_capture_fraction",
        0.3,
        1.0,
        "share of rack power into the liquid; ~0.9 for NVL72",
    ),
    Range::new(
        "gpu_power_fraction",
        0.05,
        1.0,
        "share of a tray's power in its GPUs",
    ),
    Range::new(
        "gpu_junction_r_k_per_w",
        0.001,
        0.2,
        "K/W junction to cold plate; ~0.015",
    ),
    Range::new(
        "cold_plate_r_design_k_per_w",
        0.001,
        0.2,
        "K/W cold plate to coolant; ~0.025",
    ),
    Range::new(
        "cold_plate_flow_exponent",
        0.3,
        1.2,
        "convection vs flow; ~0.8 turbulent",
    ),
    Range::new(
        "gpu_heat_capacity_j_per_k",
        10.0,
        10_000.0,
        "J/K of a GPU with its cold plate",
    ),
    Range::new("tray_coolant_l", 0.05, 20.0, "L of coolant in a tray"),
    Range::new("gpu_slowdown_c", 60.0, 110.0, "degC; ~83 for H100 class"),
    Range::new("gpu_shutdown_c", 60.0, 120.0, "degC; ~90-92 for H100 class"),
    Range::new(
        "throttle_power_fraction",
        0.05,
        1.0,
        "share of demand a throttled GPU still draws",
    ),
    Range::new(
        "hot_spot_fraction",
        0.0,
        1.0,
        "hot spot above the tray mean, share of the GPU rise",
    ),
    Range::new(
        "secondary_density_kg_per_l",
        0.8,
        1.3,
        "kg/L; water 1.0, PG25 1.02, PG50 1.05",
    ),
    Range::new(
        "secondary_cp_j_per_kg_k",
        2_500.0,
        4_300.0,
        "J/(kg K); water 4186, PG25 ~3900",
    ),
    Range::new(
        "primary_cp_j_per_kg_k",
        2_500.0,
        4_300.0,
        "J/(kg K); facility water 4186",
    ),
    Range::new(
        "design_rise_k",
        2.0,
        25.0,
        "K across the racks at design; 10 K gives ~1.5 L/min per kW",
    ),
    Range::new(
        "supply_manifold_l",
        1.0,
        5_000.0,
        "L from CDU to racks; 20 m of DN150 is ~350 L",
    ),
    Range::new("return_manifold_l", 1.0, 5_000.0, "L from racks to CDU"),
    Range::new(
        "manifold_segments",
        1.0,
        64.0,
        "tanks in series modelling each manifold's transport delay",
    ),
    Range::new(
        "reservoir_l",
        1.0,
        5_000.0,
        "L in the return path's reservoir",
    ),
    Range::new(
        "cdu_outlet_l",
        0.5,
        1_000.0,
        "L from heat exchanger to supply sensor",
    ),
    Range::new(
        "rack_dp_design_kpa",
        5.0,
        300.0,
        "kPa across the racks at design flow; Redfish mockup 35",
    ),
    Range::new(
        "cdu_internal_dp_design_kpa",
        1.0,
        300.0,
        "kPa inside the CDU at design flow",
    ),
    Range::new(
        "rack_flow_exponent",
        1.0,
        2.5,
        "pressure drop vs flow; 1.85 for cold plates, 2 turbulent",
    ),
    Range::new(
        "bypass_fraction",
        0.001,
        0.5,
        "bypass flow at design dP, share of design flow",
    ),
    Range::new(
        "pumps",
        2.0,
        rack_control::coolant::MAX_PUMPS as f64,
        "N+1 pumps; the controller drives at most 3",
    ),
    Range::new(
        "pump_shutoff_kpa",
        10.0,
        1_000.0,
        "kPa at zero flow and full speed",
    ),
    Range::new(
        "pump_design_speed",
        0.3,
        1.0,
        "share of full speed at which one pump gives design flow",
    ),
    Range::new("pump_max_rpm", 500.0, 20_000.0, "rpm at full speed"),
    Range::new("pump_spinup_tau_s", 0.05, 60.0, "s, the drive's ramp"),
    Range::new("pump_coastdown_tau_s", 0.05, 120.0, "s after a trip"),
    Range::new(
        "pump_efficiency",
        0.1,
        0.95,
        "wire to water at the best point",
    ),
    Range::new(
        "hx_ua_design_w_per_k",
        1_000.0,
        10_000_000.0,
        "W/K at design flows; 175 kW/K gives a 5 K approach for 864 kW",
    ),
    Range::new(
        "primary_max_flow_factor",
        1.0,
        5.0,
        "facility flow with the valve open, multiple of design",
    ),
    Range::new(
        "valve_rangeability",
        5.0,
        200.0,
        "equal-percentage rangeability; typical 50",
    ),
    Range::new(
        "valve_stroke_s",
        1.0,
        300.0,
        "s full stroke; electric actuators 9-150",
    ),
    Range::new("reservoir_level_pct", 0.0, 100.0, "% at start"),
    Range::new(
        "reservoir_switch_pct",
        0.0,
        100.0,
        "% at which the level switch opens",
    ),
    Range::new(
        "valve_deadband_pct",
        0.0,
        10.0,
        "% of stroke; electric actuators ~0.5-1",
    ),
    Range::new(
        "valve_hysteresis_pct",
        0.0,
        10.0,
        "% of stroke of linkage play",
    ),
    Range::new(
        "valve_authority",
        0.05,
        1.0,
        "valve dp fully open over the circuit's; 1 is the inherent characteristic",
    ),
    Range::new(
        "hx_film_flow_exponent",
        0.3,
        1.0,
        "film coefficient ~ flow^n; turbulent plates 0.6-0.8",
    ),
    Range::new("supply_sensor_lag_s", 0.0, 60.0, "s; thermowell RTDs 2-10"),
    Range::new("return_sensor_lag_s", 0.0, 60.0, "s; thermowell RTDs 2-10"),
    Range::new(
        "facility_sensor_lag_s",
        0.0,
        60.0,
        "s; thermowell RTDs 2-10",
    ),
    Range::new(
        "flow_sensor_lag_s",
        0.0,
        30.0,
        "s; ultrasonic meters average 0.5-2",
    ),
    Range::new("dp_sensor_lag_s", 0.0, 30.0, "s of transmitter damping"),
    Range::new(
        "flow_meter_gain",
        0.5,
        1.5,
        "reading over true flow; +-10 % is common",
    ),
    Range::new(
        "power_report_gain",
        0.5,
        1.5,
        "reported over true rack power",
    ),
    Range::new(
        "power_report_delay_s",
        0.0,
        30.0,
        "s a rack's power report is old on arrival",
    ),
    Range::new(
        "facility_supply_offset_k",
        -20.0,
        20.0,
        "K added to the [facility] supply temperature",
    ),
    Range::new(
        "facility_flow_factor",
        0.0,
        1.0,
        "fraction of the [facility] flow that arrives",
    ),
    Range::new(
        "failsafe_relay_dropout_s",
        0.05,
        10.0,
        "s without a heartbeat before the fail-safe relay drops",
    ),
    Range::new(
        "valve_spring_return_s",
        5.0,
        300.0,
        "s for the spring to open the unpowered valve; spring-return actuators ~20",
    ),
    Range::new(
        "pump_failsafe_speed_pct",
        30.0,
        100.0,
        "% the drives run on their constant-speed input with the controller dead",
    ),
];

impl RowParams {
    /// Checks every field against [`ROW_RANGES`] and the fields that must agree: a GPU shuts
    /// down above its slowdown temperature, and one pump at its design speed reaches the design
    /// point (its shut-off head at that speed above the design head), else no speed of the
    /// lead pump gives design flow.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_fields(self, ROW_RANGES)?;
        if self.gpu_shutdown_c <= self.gpu_slowdown_c {
            return Err(Invalid::new(
                "gpu_shutdown_c",
                self.gpu_shutdown_c,
                format!(
                    "> gpu_slowdown_c = {} (a GPU slows down before it shuts down)",
                    self.gpu_slowdown_c
                ),
            ));
        }
        let design_head_kpa = self.rack_dp_design_kpa + self.cdu_internal_dp_design_kpa;
        let shutoff_at_design_speed = self.pump_shutoff_kpa * self.pump_design_speed.powi(2);
        if shutoff_at_design_speed <= design_head_kpa {
            return Err(Invalid::new(
                "pump_shutoff_kpa",
                self.pump_shutoff_kpa,
                format!(
                    "> {:.1} with this design point (one pump at pump_design_speed = {} has {:.1} kPa at zero flow, \
                     below the design head rack_dp_design_kpa + cdu_internal_dp_design_kpa = {:.1} kPa: it cannot deliver design flow)",
                    design_head_kpa / self.pump_design_speed.powi(2),
                    self.pump_design_speed,
                    shutoff_at_design_speed,
                    design_head_kpa
                ),
            ));
        }
        Ok(())
    }

    /// Heat into the liquid at 100 % workload, W.
    pub fn design_heat_w(&self) -> f64 {
        self.racks as f64 * self.rack_design_power_w * self.liquid_capture_fraction
    }

    /// Secondary design mass flow, kg/s.
    pub fn secondary_design_kg_s(&self) -> f64 {
        self.design_heat_w() / (self.secondary_cp_j_per_kg_k * self.design_rise_k)
    }

    /// Secondary design flow, L/min.
    pub fn secondary_design_lpm(&self) -> f64 {
        self.secondary_design_kg_s() / self.secondary_density_kg_per_l * 60.0
    }

    /// Primary design mass flow (10 K rise on the facility side), kg/s.
    pub fn primary_design_kg_s(&self) -> f64 {
        self.design_heat_w() / (self.primary_cp_j_per_kg_k * 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_range_and_the_defaults_are_inside() {
        let p = RowParams::default();
        assert_eq!(
            crate::validate::unlisted_fields(&p, ROW_RANGES),
            Vec::<String>::new()
        );
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn a_pump_that_cannot_reach_its_design_point_is_refused() {
        let p = RowParams {
            pump_shutoff_kpa: 127.5,
            cdu_internal_dp_design_kpa: 62.5,
            ..RowParams::default()
        };
        let e = p.validate().unwrap_err();
        assert_eq!(e.field, "pump_shutoff_kpa");
        assert!(e.allowed.starts_with("> 134.9"), "{e}");
    }
}
