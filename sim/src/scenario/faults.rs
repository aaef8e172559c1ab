//! The faults a scenario injects, with what they act on.

use serde::{Deserialize, Serialize};

use crate::plant::sensors::SensorFault;

/// A fault at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEvent {
    /// When, s after warm-up.
    pub at_s: f64,
    /// What.
    pub fault: Fault,
}

/// Injectable faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Fault {
    /// A pump trips and coasts down.
    PumpTrip {
        /// Which pump (0 is the lead at start).
        pump: usize,
    },
    /// A sensor fails (or is repaired with `fault` absent).
    Sensor {
        /// Which sensor.
        sensor: SensorId,
        /// The failure; absent repairs it.
        #[serde(default)]
        failure: Option<SensorFault>,
    },
    /// A leak detector gets wet (or dries, with `wet = false`).
    Leak {
        /// Zone: rack index, or the number of racks for the CDU.
        zone: usize,
        /// Which detector.
        detector: LeakDetector,
        /// Wet (true) or dry.
        #[serde(default = "yes")]
        wet: bool,
    },
    /// The primary valve freezes.
    ValveStuck,
    /// The reservoir drains.
    ReservoirDrain {
        /// Drain rate, L/min.
        lpm: f64,
    },
    /// The racks' power reports stop (or resume with `silent = false`).
    RowBusSilence {
        /// Silent (true) or back.
        #[serde(default = "yes")]
        silent: bool,
    },
    /// The AC feed of every rack fails (or returns with `lost = false`).
    AcLoss {
        /// Lost (true) or back.
        #[serde(default = "yes")]
        lost: bool,
    },
    /// The AC voltage sags to `volts_pct` of nominal for `duration_s`: below 85 % the PSUs
    /// drop out after their 20 ms hold-up and the BBUs carry the bus until it recovers.
    AcSag {
        /// Remaining voltage, % of nominal.
        volts_pct: f64,
        /// Duration, s.
        duration_s: f64,
    },
    /// A PSU fails.
    PsuFail {
        /// Rack.
        rack: usize,
        /// Shelf (0..=7).
        shelf: usize,
        /// PSU in the shelf (0..=5).
        psu: usize,
    },
    /// A tray faults and draws `factor` x its demand regardless of its cap.
    TrayFault {
        /// Rack.
        rack: usize,
        /// Tray (0..=17).
        tray: usize,
        /// Multiple of its demand.
        factor: f64,
    },
    /// A controller stops (hung, halted by a debugger, flashing) for `duration_s`, then resets
    /// and boots afresh. Its outputs hold their last values meanwhile; its heartbeat stops, so
    /// its fail-safe relay drops and the field devices go to their fail positions
    /// (docs/failsafe.md). `rack` absent: the CDU's coolant controller; else that rack's power
    /// controller (its I/O expanders hold the shelves and trays as they were).
    ControllerHalt {
        /// The rack whose power controller halts; absent for the CDU's.
        #[serde(default)]
        rack: Option<usize>,
        /// How long it stays halted before its reset, s.
        duration_s: f64,
    },
}

/// A fault's `kind` as the file spells it (`pump_trip`, `ac_loss`, ...).
pub(crate) fn fault_kind(fault: &Fault) -> String {
    toml::Value::try_from(fault)
        .ok()
        .and_then(|v| v.get("kind")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn yes() -> bool {
    true
}

/// Analog sensors of the CDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorId {
    /// Secondary supply temperature sensor 0.
    Supply0,
    /// Secondary supply temperature sensor 1.
    Supply1,
    /// Secondary supply temperature sensor 2.
    Supply2,
    /// Secondary return temperature.
    Return,
    /// Facility supply temperature.
    PrimarySupply,
    /// Facility return temperature.
    PrimaryReturn,
    /// Secondary flow.
    Flow,
    /// Differential pressure.
    Dp,
    /// Valve position feedback.
    ValveFeedback,
}

/// Leak detector kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakDetector {
    /// Moisture-sensing cable.
    Moisture,
    /// Float switch in the drip pan.
    Float,
}
