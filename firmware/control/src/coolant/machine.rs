//! The controller's states, the triggers that move them, the table of every move, and what
//! the event log records with the reason for each.

use crate::annunciator::AlarmEvent;

/// The controller's states.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoolantState {
    /// Pumps off.
    Stopped,
    /// Pumps starting; supply alarms inhibited.
    Startup,
    /// Normal control.
    Running,
    /// Control continues with a fault present (sensor, pump, valve, isolated rack).
    Degraded,
    /// No valid supply measurement: valve fully open, pumps at a safe speed.
    Failsafe,
}

/// Why something happened.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Controller start.
    Boot,
    /// A technician or host asked.
    Command,
    /// Start-up finished.
    StartupComplete,
    /// A sensor failed validation.
    SensorFault,
    /// No valid secondary supply sensor.
    NoValidSupplySensor,
    /// A pump faulted.
    PumpFault,
    /// The valve does not follow its demand.
    ValveFault,
    /// A confirmed leak.
    Leak,
    /// Reservoir level switch open.
    ReservoirLow,
    /// The fault cleared.
    Recovered,
    /// Scheduled lead pump rotation.
    LeadRotation,
}

/// Alarm codes (named as in the protocol).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alarm {
    /// Supply above setpoint + band, held for the delay.
    SupplyTempHigh,
    /// Supply below setpoint - band, held for the delay.
    SupplyTempLow,
    /// A sensor failed validation (instance: [`sensor_index`]).
    SensorFault,
    /// No valid supply sensor: failsafe.
    SupplySensorsLost,
    /// A leak detector is wet (instance: zone; critical once confirmed).
    LeakDetected,
    /// Reservoir level low.
    ReservoirLow,
    /// A pump faulted (instance: pump).
    PumpFault,
    /// The valve does not follow its demand.
    ValveFault,
    /// The loop cannot hold the supply setpoint.
    CannotHoldSetpoint,
    /// No rack power reports on the row bus.
    RowBusSilent,
}

impl Alarm {
    /// Every alarm, in declaration order: the one list node, simulator and tools walk.
    pub const ALL: [Alarm; 10] = [
        Alarm::SupplyTempHigh,
        Alarm::SupplyTempLow,
        Alarm::SensorFault,
        Alarm::SupplySensorsLost,
        Alarm::LeakDetected,
        Alarm::ReservoirLow,
        Alarm::PumpFault,
        Alarm::ValveFault,
        Alarm::CannotHoldSetpoint,
        Alarm::RowBusSilent,
    ];
}

/// What the event log records.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoolantEvent {
    /// The state machine moved.
    StateChanged {
        /// From.
        from: CoolantState,
        /// To.
        to: CoolantState,
        /// Why.
        reason: Reason,
    },
    /// An alarm was raised.
    AlarmRaised {
        /// Which.
        alarm: Alarm,
        /// Instance.
        instance: u8,
    },
    /// An alarm's condition cleared.
    AlarmCleared {
        /// Which.
        alarm: Alarm,
        /// Instance.
        instance: u8,
    },
    /// The lead pump changed.
    LeadPumpChanged {
        /// Old lead.
        from: u8,
        /// New lead.
        to: u8,
        /// Failover or rotation.
        reason: Reason,
    },
    /// A rack was isolated.
    RackIsolated {
        /// Which rack.
        rack: u8,
    },
    /// The feed-forward from the row bus was dropped (false) or resumed (true).
    FeedForward {
        /// Active after the change.
        active: bool,
    },
    /// The supply setpoint changed, 0.01 degC.
    SetpointChanged {
        /// New setpoint, 0.01 degC.
        centi_c: i32,
    },
}

/// What the state machine reacts to.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Start the pumps.
    Start,
    /// Start-up finished.
    StartupDone,
    /// A fault appeared.
    Fault,
    /// All faults cleared.
    FaultsCleared,
    /// No valid supply measurement.
    SupplyLost,
    /// A supply measurement is back.
    SupplyRestored,
    /// Stop.
    Stop,
}

/// The state machine: (from, trigger, to). Anything not here is not a transition.
pub const TRANSITIONS: &[(CoolantState, Trigger, CoolantState)] = &[
    (CoolantState::Stopped, Trigger::Start, CoolantState::Startup),
    (
        CoolantState::Startup,
        Trigger::StartupDone,
        CoolantState::Running,
    ),
    (
        CoolantState::Startup,
        Trigger::Fault,
        CoolantState::Degraded,
    ),
    (
        CoolantState::Running,
        Trigger::Fault,
        CoolantState::Degraded,
    ),
    (
        CoolantState::Degraded,
        Trigger::FaultsCleared,
        CoolantState::Running,
    ),
    (
        CoolantState::Startup,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Running,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Degraded,
        Trigger::SupplyLost,
        CoolantState::Failsafe,
    ),
    (
        CoolantState::Failsafe,
        Trigger::SupplyRestored,
        CoolantState::Degraded,
    ),
    (CoolantState::Startup, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Running, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Degraded, Trigger::Stop, CoolantState::Stopped),
    (CoolantState::Failsafe, Trigger::Stop, CoolantState::Stopped),
];

impl AlarmEvent<Alarm> for CoolantEvent {
    fn raised(alarm: Alarm, instance: u8) -> Self {
        Self::AlarmRaised { alarm, instance }
    }

    fn cleared(alarm: Alarm, instance: u8) -> Self {
        Self::AlarmCleared { alarm, instance }
    }
}
