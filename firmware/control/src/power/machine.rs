//! The power controller's states, triggers, the table of every move, its alarms, and what
//! its event log records (every alarm raise and clear among them).

use crate::annunciator::AlarmEvent;

/// Alarms the power controller raises (named as in the protocol).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerAlarm {
    /// AC input lost: on battery.
    AcLoss,
    /// Demand is held below what it asks by the caps.
    PowerCapped,
    /// The thermal budget holds the rack below its host budget.
    ThermalDerate,
    /// A tray is shed (instance: tray).
    TrayShed,
    /// A PSU faulted (instance: shelf x 8 + PSU).
    PsuFault,
    /// BBU state of charge below the ride-through reserve.
    BbuLow,
}

impl PowerAlarm {
    /// Every alarm, in declaration order: the one list node, simulator and tools walk.
    pub const ALL: [PowerAlarm; 6] = [
        PowerAlarm::AcLoss,
        PowerAlarm::PowerCapped,
        PowerAlarm::ThermalDerate,
        PowerAlarm::TrayShed,
        PowerAlarm::PsuFault,
        PowerAlarm::BbuLow,
    ];
}

/// The controller's states.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Everything off.
    Off,
    /// PSUs and trays being brought up.
    Sequencing,
    /// All trays on, demand within budget.
    Running,
    /// Demand above budget: caps are holding it.
    Capped,
    /// On battery.
    RideThrough,
    /// Shedding trays to protect the breaker.
    Shedding,
    /// Electrically isolated (leak).
    Isolated,
}

/// Why.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerReason {
    /// Start.
    Boot,
    /// Sequencing finished.
    SequenceComplete,
    /// Demand above the budget.
    OverBudget,
    /// Demand back within budget.
    WithinBudget,
    /// AC input lost.
    AcLoss,
    /// AC input back.
    AcRestored,
    /// The breaker's I2t margin was running out.
    Overcurrent,
    /// A tray drew far above its cap.
    TrayFault,
    /// The CDU asked to isolate the rack.
    IsolationRequested,
    /// A PSU faulted.
    PsuFault,
    /// Heat: the thermal budget is below demand.
    ThermalLimit,
    /// A technician asked.
    Command,
}

/// What the state machine reacts to.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTrigger {
    /// Start.
    Start,
    /// All trays on.
    SequenceDone,
    /// Demand above budget.
    OverBudget,
    /// Demand within budget.
    WithinBudget,
    /// AC lost.
    AcLost,
    /// AC back.
    AcBack,
    /// Shedding for the breaker.
    Shed,
    /// Shedding done.
    ShedDone,
    /// Isolate.
    Isolate,
    /// Booted on a rack whose every tray is on: take it over as it runs.
    TakeOver,
}

/// The state machine: (from, trigger, to).
pub const TRANSITIONS: &[(PowerState, PowerTrigger, PowerState)] = &[
    (PowerState::Off, PowerTrigger::Start, PowerState::Sequencing),
    (PowerState::Off, PowerTrigger::TakeOver, PowerState::Running),
    (
        PowerState::Sequencing,
        PowerTrigger::SequenceDone,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::OverBudget,
        PowerState::Capped,
    ),
    (
        PowerState::Capped,
        PowerTrigger::WithinBudget,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::Capped,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::Sequencing,
        PowerTrigger::AcLost,
        PowerState::RideThrough,
    ),
    (
        PowerState::RideThrough,
        PowerTrigger::AcBack,
        PowerState::Running,
    ),
    (
        PowerState::Running,
        PowerTrigger::Shed,
        PowerState::Shedding,
    ),
    (PowerState::Capped, PowerTrigger::Shed, PowerState::Shedding),
    (
        PowerState::Shedding,
        PowerTrigger::ShedDone,
        PowerState::Capped,
    ),
    (PowerState::Off, PowerTrigger::Isolate, PowerState::Isolated),
    (
        PowerState::Sequencing,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Running,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Capped,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::RideThrough,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
    (
        PowerState::Shedding,
        PowerTrigger::Isolate,
        PowerState::Isolated,
    ),
];

/// What the event log records.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerEvent {
    /// The state machine moved.
    StateChanged {
        /// From.
        from: PowerState,
        /// To.
        to: PowerState,
        /// Why.
        reason: PowerReason,
    },
    /// A tray was shed or enabled.
    TrayChanged {
        /// Which.
        tray: u8,
        /// Enabled after the change.
        enabled: bool,
        /// Why.
        reason: PowerReason,
    },
    /// A PSU faulted.
    PsuFaulted {
        /// Shelf.
        shelf: u8,
        /// PSU in the shelf.
        psu: u8,
    },
    /// An alarm was raised.
    AlarmRaised {
        /// Which.
        alarm: PowerAlarm,
        /// Instance.
        instance: u8,
    },
    /// An alarm's condition cleared.
    AlarmCleared {
        /// Which.
        alarm: PowerAlarm,
        /// Instance.
        instance: u8,
    },
}

impl AlarmEvent<PowerAlarm> for PowerEvent {
    fn raised(alarm: PowerAlarm, instance: u8) -> Self {
        Self::AlarmRaised { alarm, instance }
    }

    fn cleared(alarm: PowerAlarm, instance: u8) -> Self {
        Self::AlarmCleared { alarm, instance }
    }
}
