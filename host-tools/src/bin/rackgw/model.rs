//! The gateway's live model of the row: what each device last answered, and whether its link
//! is up. The exporters read it; only the pollers write it.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use rack_host::link::Target;
use rack_protocol::Message;
use rack_protocol::message::{Counters, Identity, Setpoint};
use rack_protocol::types::AlarmEntry;

/// The CDU's name in every interface (the racks are `rack-N`).
pub const CDU: &str = "cdu";

/// One device as the gateway knows it.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its name in every interface: `cdu`, `rack-0`, `rack-1`, ...
    pub name: String,
    /// Where it is.
    pub target: Target,
    /// Its identity, once it answered.
    pub identity: Option<Identity>,
    /// Its last telemetry (`CoolantTelemetry` or `PowerTelemetry`).
    pub telemetry: Option<Message>,
    /// Its alarm list.
    pub alarms: Vec<AlarmEntry>,
    /// Its protocol counters.
    pub counters: Option<Counters>,
    /// Its setpoints and commissioning values, as last read.
    pub setpoints: Vec<Setpoint>,
    /// Whether the last poll was answered in full: values are shown only while it is.
    pub link_up: bool,
    /// When the last full poll was answered.
    pub updated: Option<Instant>,
    /// Polls that failed (no answer, a broken link), since the gateway started.
    pub link_errors: u64,
    /// Why the link is down, while it is.
    pub error: Option<String>,
}

impl Device {
    /// A device not yet heard from.
    pub fn new(name: String, target: Target) -> Self {
        Self {
            name,
            target,
            identity: None,
            telemetry: None,
            alarms: Vec::new(),
            counters: None,
            setpoints: Vec::new(),
            link_up: false,
            updated: None,
            link_errors: 0,
            error: None,
        }
    }

    /// Whether this is the row's CDU (else a rack's power controller), known before it answers.
    pub fn is_cdu(&self) -> bool {
        self.name == CDU
    }

    /// The telemetry, only while the link is up: a value is never shown stale as live.
    pub fn live(&self) -> Option<&Message> {
        self.telemetry.as_ref().filter(|_| self.link_up)
    }
}

/// The row: every device, in the order given (the CDU first).
pub type Row = Arc<RwLock<Vec<Device>>>;

/// A copy of the row as it is now (the exporters work on a copy, never holding the lock).
pub fn snapshot(row: &Row) -> Vec<Device> {
    row.read().map(|r| r.clone()).unwrap_or_default()
}
