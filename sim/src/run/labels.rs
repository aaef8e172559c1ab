//! How a run names what happened: the device and label of a fault, the label of a CDU event,
//! and the rack the report shows.

use rack_control::coolant::CoolantEvent;

use crate::report::trace::FocusRack;
use crate::scenario::{Fault, Scenario};

/// The rack a report shows: the first a fault acted on, else the first isolated, else the one
/// whose GPU ran hottest.
pub(super) fn focus_rack(
    scenario: &Scenario,
    isolated_at: &[Option<f64>],
    peak_gpu_c: &[f64],
) -> FocusRack {
    let racks = scenario.row.racks;
    let faulted = scenario.faults.iter().find_map(|f| match f.fault {
        Fault::PsuFail { rack, .. } => Some((rack, "a PSU failed")),
        Fault::TrayFault { rack, .. } => Some((rack, "a tray faulted")),
        Fault::ControllerHalt {
            rack: Some(rack), ..
        } => Some((rack, "its power controller halted")),
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
pub(super) fn fault_device(fault: &Fault, racks: usize) -> String {
    match fault {
        Fault::PsuFail { rack, .. }
        | Fault::TrayFault { rack, .. }
        | Fault::ControllerHalt {
            rack: Some(rack), ..
        } => format!("rack {rack}"),
        Fault::Leak { zone, .. } if *zone < racks => format!("rack {zone}"),
        Fault::AcLoss { .. } | Fault::AcSag { .. } | Fault::RowBusSilence { .. } => "row".into(),
        _ => "CDU".into(),
    }
}

pub(super) fn fault_label(fault: &Fault) -> String {
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
        Fault::ControllerHalt { duration_s, .. } => {
            format!("controller halted {duration_s} s, then reset")
        }
    }
}

pub(super) fn event_label(event: CoolantEvent) -> Option<String> {
    match event {
        CoolantEvent::AlarmRaised { alarm, instance } => Some(format!("{alarm:?} {instance}")),
        CoolantEvent::StateChanged { to, .. } => Some(format!("-> {to:?}")),
        CoolantEvent::LeadPumpChanged { to, .. } => Some(format!("lead -> pump {to}")),
        CoolantEvent::RackIsolated { rack } => Some(format!("rack {rack} isolated")),
        _ => None,
    }
}
