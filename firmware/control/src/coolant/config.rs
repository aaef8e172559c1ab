//! Every setting of the coolant controller, with its default and where the default comes from.

use crate::annunciator::CONTROL_PERIOD_MS;
use crate::pid::PidConfig;
use crate::sensor::SensorLimits;

use super::model::HxModel;

/// Which variable the pumps hold.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PumpControl {
    /// Secondary differential pressure, with the setpoint reset from the heat load.
    DifferentialPressure,
    /// Secondary flow.
    Flow,
    /// A fixed speed, % (the conventional constant-speed CDU; also a manual override).
    FixedSpeed(f32),
}

/// Every setting of the controller. Defaults follow `docs/domain.md` (sources there).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolantConfig {
    /// Control period, ms.
    pub period_ms: u32,
    /// Racks served.
    pub racks: usize,
    /// Secondary supply sensors fitted (1..=3).
    pub supply_sensors: usize,
    /// Pumps fitted (2..=3).
    pub pumps: usize,
    /// Pumps that run at once, sharing the flow at one speed (1..=`pumps`); the others stand
    /// by. With two or more running, a trip loses that pump's share of the flow, not all of
    /// it, while the others speed up (a lead/standby CDU's flow falls to its standby's
    /// spin-up, ~30 % for ~2 s).
    pub running_pumps: usize,
    /// Secondary supply setpoint, degC (Redfish CDU mockup: 30).
    pub supply_setpoint_c: f32,
    /// Allowed supply setpoint range, degC (Redfish mockup: 10..=35).
    pub supply_setpoint_min_c: f32,
    /// Allowed supply setpoint range, degC.
    pub supply_setpoint_max_c: f32,
    /// Supply temperature PID (output: valve %, reverse acting). Its slew limit is the
    /// valve actuator's speed (100 % over its full-stroke time): the loops never ask the valve
    /// to move faster than it can.
    pub temp_pid: PidConfig,
    /// Heat exchanger and valve nameplate, for feed-forward and headroom.
    pub hx: HxModel,
    /// Use the feed-forward from the racks' power reports.
    pub feed_forward: bool,
    /// Share of rack input power that reaches the liquid loop (assumed 0.9).
    pub liquid_capture_fraction: f32,
    /// A rack report older than this is stale, s.
    pub report_stale_after_s: f32,
    /// Time constant of the heat's arrival at the heat exchanger at design flow, s (the loop's
    /// volume over the design flow): the feed-forward follows the reported heat through this
    /// lag, which grows as the flow falls.
    pub feed_forward_lag_s: f32,
    /// How far the feed-forward trusts the measured return over the lag model: it takes the
    /// heat arriving at the exchanger as `w` x the measured heat (return temperature and flow)
    /// plus `1 - w` x the lagged reports, `w = factor x feed_forward_lag_s / valve stroke`
    /// (0..1). A valve that crosses its stroke within a few loop lags can wait for the heat
    /// and cancel it as measured (exact in phase and size, whatever the piping); a slower one
    /// must start on the reports' anticipation. 3: measured alone for strokes up to 48 s on
    /// the default 16 s lag.
    pub measured_heat_stroke_factor: f32,
    /// A reported heat that turns back by more than this share of the design heat swings
    /// (synchronized training) rather than steps: the reports' anticipation is then left out
    /// for `swing_hold_strokes` valve strokes, since a valve that cannot follow the swing
    /// only chases it out of phase; the measured heat alone leads the valve (measured on the
    /// training-oscillation sweep).
    pub swing_reversal_fraction: f32,
    /// How long a swing keeps the anticipation out, in valve strokes.
    pub swing_hold_strokes: f32,
    /// Pumps hold differential pressure or flow.
    pub pump_control: PumpControl,
    /// Differential pressure at design flow, kPa (Redfish mockup: 35).
    pub dp_design_kpa: f32,
    /// Lowest differential pressure setpoint, kPa.
    pub dp_min_kpa: f32,
    /// Flow setpoint when holding flow, L/min.
    pub flow_setpoint_lpm: f32,
    /// Design heat load of the row, W.
    pub design_heat_w: f32,
    /// Design secondary temperature rise, K (10 K: 1.43 L/min per kW for water).
    pub design_rise_k: f32,
    /// Largest secondary flow the pumps deliver, as a multiple of design flow.
    pub max_flow_factor: f32,
    /// Coolant density, kg/L.
    pub coolant_density_kg_per_l: f32,
    /// Hydraulic exponent of the racks' pressure drop vs flow (cold plates: 1.85).
    pub flow_exponent: f32,
    /// GPU slowdown temperature, degC (H100 class ~83, assumed).
    pub gpu_slowdown_c: f32,
    /// GPU margin below slowdown the pumps keep, K: the pressure rises above the load's reset
    /// for a GPU within it. 3 K is where the racks' power controllers start capping (their
    /// `gpu_limit_c`); a wider margin raises the flow on rows whose GPUs run warm but safe,
    /// which, once the valve is wide open, warms the supply for every rack.
    pub gpu_margin_k: f32,
    /// Differential pressure added per K of missing GPU margin, kPa/K.
    pub dp_per_margin_kpa_per_k: f32,
    /// Largest setpoint change rate of the pump loop, kPa/s.
    pub dp_setpoint_slew_kpa_per_s: f32,
    /// The load envelope the pressure reset follows decays over this time, s: swings faster
    /// than this keep the flow steady.
    pub dp_reset_decay_s: f32,
    /// The pressure reset's depth follows the commissioned valve stroke: a valve at most
    /// `[0]` s per stroke gets the full reset (down to `dp_min_kpa`), one of `[1]` s or
    /// more none (the design pressure), linear between. A load step on a reset row raises the
    /// flow and the return temperature the exchanger sees at once; only a fast valve cancels
    /// that, so a slow one keeps the flow up (measured on the load-step sweep).
    pub dp_reset_stroke_s: [f32; 2],
    /// Pump loop PID (output: speed %).
    pub pump_pid: PidConfig,
    /// Pump speed at 100 %, rpm.
    pub pump_max_rpm: f32,
    /// Lowest running speed, %.
    pub pump_min_speed_pct: f32,
    /// Speed a pump starts at before the pressure loop takes over, %.
    pub pump_start_speed_pct: f32,
    /// Pump speed in failsafe, %.
    pub failsafe_pump_speed_pct: f32,
    /// Time a pump is given to reach speed before it is judged, s.
    pub pump_spinup_s: f32,
    /// Tach below this fraction of command: under-speed.
    pub pump_underspeed_fraction: f32,
    /// Under-speed or lost tach for this long: fault, s.
    pub pump_fault_delay_s: f32,
    /// Lead pump rotation interval, s (0 disables).
    pub lead_rotation_interval_s: f32,
    /// Supply alarm band around the setpoint, K (Coolcentric: 2).
    pub supply_alarm_band_k: f32,
    /// Supply alarm delay, s (Coolcentric: 120).
    pub supply_alarm_delay_s: f32,
    /// Supply alarm hysteresis, K (Coolcentric: 1).
    pub supply_alarm_hysteresis_k: f32,
    /// Supply alarms inhibited after start until the supply first enters its band, at most
    /// this long, s (Coolcentric: 1200).
    pub startup_inhibit_s: f32,
    /// Start-up lasts at least this long, s.
    pub startup_min_s: f32,
    /// Leak reaction delay, s (Redfish mockup `ReactionDelaySeconds`: 15).
    pub leak_reaction_delay_s: f32,
    /// After electrical isolation is requested, the rack's valve closes this much later, s.
    pub isolation_valve_delay_s: f32,
    /// Valve feedback this far from demand...
    pub valve_fault_tolerance_pct: f32,
    /// ...for this long is a valve fault, s.
    pub valve_fault_delay_s: f32,
    /// Supply this far above setpoint with the valve wide open...
    pub cannot_hold_excess_k: f32,
    /// ...for this long raises `CannotHoldSetpoint`, s.
    pub cannot_hold_delay_s: f32,
    /// Redundant supply sensors further apart than this disagree, K.
    pub supply_vote_tolerance_k: f32,
    /// Temperature sensor limits.
    pub temp_sensor: SensorLimits,
    /// Flow sensor limits, L/min.
    pub flow_sensor: SensorLimits,
    /// Differential pressure sensor limits, kPa.
    pub dp_sensor: SensorLimits,
    /// Valve feedback limits, %.
    pub valve_sensor: SensorLimits,
}

impl Default for CoolantConfig {
    fn default() -> Self {
        let design_heat_w = 8.0 * 120_000.0 * 0.9;
        let design_rise_k = 10.0;
        let cp = 3_900.0; // PG25: ~1.5 L/min per kW at 10 K
        let secondary_design_kg_s = design_heat_w / (cp * design_rise_k);
        let temp = SensorLimits {
            min: -5.0,
            max: 95.0,
            stale_after_s: 1.0,
            invalid_after_s: 10.0,
            max_slew_per_s: 0.5,
            worst_is_high: true,
            stuck_epsilon: 0.0,
            stuck_after_s: 5.0,
            // Ten times the Pt100 transmitters' 0.01 K resolution, five times their noise.
            stuck_witness_delta: 0.1,
        };
        Self {
            period_ms: CONTROL_PERIOD_MS,
            racks: 8,
            supply_sensors: 3,
            pumps: 2,
            running_pumps: 2,
            supply_setpoint_c: 30.0,
            supply_setpoint_min_c: 10.0,
            supply_setpoint_max_c: 35.0,
            temp_pid: PidConfig {
                kp: 6.0,
                ti_s: 40.0,
                td_s: 0.0,
                derivative_filter: 0.1,
                out_min: 0.0,
                out_max: 100.0,
                // The valve's speed: a 30 s actuator (the row's nameplate) moves 3.3 %/s.
                slew_per_s: 100.0 / 30.0,
                reverse: true,
            },
            hx: HxModel {
                ua_design_w_per_k: 175_000.0,
                secondary_design_kg_s,
                primary_max_kg_s: 1.6 * design_heat_w / (4_186.0 * 10.0),
                primary_design_kg_s: design_heat_w / (4_186.0 * 10.0),
                secondary_cp_j_per_kg_k: cp,
                primary_cp_j_per_kg_k: 4_186.0,
                valve_rangeability: 50.0,
            },
            feed_forward: true,
            liquid_capture_fraction: 0.9,
            report_stale_after_s: 0.5,
            // 350 L of manifolds, reservoir and CDU at 1,303 L/min.
            feed_forward_lag_s: 16.0,
            measured_heat_stroke_factor: 3.0,
            swing_reversal_fraction: 0.1,
            swing_hold_strokes: 0.5,
            pump_control: PumpControl::DifferentialPressure,
            dp_design_kpa: 35.0,
            dp_min_kpa: 8.0,
            flow_setpoint_lpm: 1_300.0,
            design_heat_w,
            design_rise_k,
            max_flow_factor: 1.2,
            coolant_density_kg_per_l: 1.02,
            flow_exponent: 1.85,
            gpu_slowdown_c: 83.0,
            gpu_margin_k: 3.0,
            dp_per_margin_kpa_per_k: 3.0,
            dp_setpoint_slew_kpa_per_s: 5.0,
            dp_reset_decay_s: 900.0,
            dp_reset_stroke_s: [20.0, 80.0],
            pump_pid: PidConfig {
                kp: 0.8,
                ti_s: 2.0,
                td_s: 0.0,
                derivative_filter: 0.1,
                out_min: 30.0,
                out_max: 100.0,
                slew_per_s: 50.0,
                reverse: false,
            },
            pump_max_rpm: 3_600.0,
            pump_min_speed_pct: 30.0,
            pump_start_speed_pct: 60.0,
            failsafe_pump_speed_pct: 90.0,
            pump_spinup_s: 2.0,
            pump_underspeed_fraction: 0.7,
            pump_fault_delay_s: 1.0,
            lead_rotation_interval_s: 7.0 * 24.0 * 3600.0,
            supply_alarm_band_k: 2.0,
            supply_alarm_delay_s: 120.0,
            supply_alarm_hysteresis_k: 1.0,
            startup_inhibit_s: 1200.0,
            startup_min_s: 5.0,
            leak_reaction_delay_s: 15.0,
            isolation_valve_delay_s: 5.0,
            valve_fault_tolerance_pct: 10.0,
            valve_fault_delay_s: 60.0,
            cannot_hold_excess_k: 0.5,
            cannot_hold_delay_s: 60.0,
            supply_vote_tolerance_k: 0.5,
            temp_sensor: temp,
            flow_sensor: SensorLimits {
                min: 0.0,
                max: 4_000.0,
                max_slew_per_s: 50.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
            dp_sensor: SensorLimits {
                min: 0.0,
                max: 250.0,
                max_slew_per_s: 5.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
            valve_sensor: SensorLimits {
                min: -5.0,
                max: 105.0,
                max_slew_per_s: 10.0,
                worst_is_high: false,
                stuck_epsilon: 0.0,
                stuck_after_s: 0.0,
                ..temp
            },
        }
    }
}

impl CoolantConfig {
    /// The valve's full stroke as commissioned (the supply PI's slew), s; 0 for a valve the PI
    /// does not pace.
    pub fn valve_stroke_s(&self) -> f32 {
        if self.temp_pid.slew_per_s > 0.0 {
            100.0 / self.temp_pid.slew_per_s
        } else {
            0.0
        }
    }

    /// The feed-forward's weight on the measured heat, 0..1 (see
    /// `measured_heat_stroke_factor`).
    pub fn measured_heat_weight(&self) -> f32 {
        let reach = self.measured_heat_stroke_factor * self.feed_forward_lag_s;
        let stroke = self.valve_stroke_s();
        // A negative factor (misconfigured) gives no weight, not a negative one.
        if stroke <= reach {
            1.0
        } else {
            (reach / stroke).max(0.0)
        }
    }

    /// The lowest pressure the load reset goes to for the commissioned valve, kPa (see
    /// `dp_reset_stroke_s`).
    pub fn dp_reset_floor_kpa(&self) -> f32 {
        let [full, none] = self.dp_reset_stroke_s;
        let depth = if none > full {
            ((none - self.valve_stroke_s()) / (none - full)).clamp(0.0, 1.0)
        } else if self.valve_stroke_s() <= full {
            1.0
        } else {
            0.0
        };
        let floor = self.dp_min_kpa.min(self.dp_design_kpa);
        self.dp_design_kpa - depth * (self.dp_design_kpa - floor)
    }
}
