//! Alarms as Redfish events: a watcher compares each device's alarm list with the last it saw
//! and sends an `Event` for every alarm raised or cleared, and for a link lost or restored,
//! to every Server-Sent Events client. Message ids are the Environmental registry's where it
//! has one (`LeakDetectedCritical`, `PumpFailed`, `ValveUnableToReachSetPoint`, ...), else the
//! `ResourceEvent` registry's generic `ResourceErrorsDetected` / `ResourceErrorsCorrected`.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rack_protocol::types::{AlarmCode, Severity};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::tree::{ENVIRONMENTAL, RESOURCE_EVENT, alarm_origin};
use crate::model::{Device, Row, snapshot};

/// (message id, its message, its arguments, its severity) for an alarm raised or cleared.
fn message(
    d: &Device,
    devices: &[Device],
    code: AlarmCode,
    instance: u8,
    severity: Severity,
    raised: bool,
) -> (String, String, Vec<String>, &'static str) {
    let origin = alarm_origin(d, devices, code, instance);
    let name = origin.rsplit('/').next().unwrap_or_default().to_owned();
    let sev = match (raised, severity) {
        (false, _) => "OK",
        (true, Severity::Warning) => "Warning",
        (true, Severity::Critical) => "Critical",
    };
    let env = |id: &str, text: String| {
        (
            format!("{ENVIRONMENTAL}.{id}"),
            text,
            vec![name.clone()],
            sev,
        )
    };
    match (code, raised) {
        (AlarmCode::LeakDetected, true) if severity == Severity::Critical => env(
            "LeakDetectedCritical",
            format!("Leak detector '{name}' reports a critical level leak."),
        ),
        (AlarmCode::LeakDetected, true) => env(
            "LeakDetectedWarning",
            format!("Leak detector '{name}' reports a warning level leak."),
        ),
        (AlarmCode::LeakDetected, false) => env(
            "LeakDetectedNormal",
            format!("Leak detector '{name}' has returned to normal."),
        ),
        (AlarmCode::PumpFault, true) => env("PumpFailed", format!("Pump '{name}' has failed.")),
        (AlarmCode::PumpFault, false) => {
            env("PumpRestored", format!("Pump '{name}' was restored."))
        }
        (AlarmCode::ValveFault, true) => env(
            "ValveUnableToReachSetPoint",
            format!("Valve '{name}' is unable to reach the desired set point."),
        ),
        (AlarmCode::ReservoirLow, true) => env(
            "FluidLevelWarning",
            format!("Fluid level '{name}' reading violates the warning level."),
        ),
        (AlarmCode::ReservoirLow, false) => env(
            "FluidLevelNormal",
            format!("Fluid level '{name}' reading is within normal operating range."),
        ),
        _ => {
            let what = format!("{code:?}");
            let id = if raised {
                "ResourceErrorsDetected"
            } else {
                "ResourceErrorsCorrected"
            };
            let text = if raised {
                format!("The resource '{name}' has detected errors of type '{what}'.")
            } else {
                format!("The resource '{name}' has corrected errors of type '{what}'.")
            };
            (
                format!("{RESOURCE_EVENT}.{id}"),
                text,
                vec![name, what],
                sev,
            )
        }
    }
}

/// What the watcher knows of a device: whether it has been heard from, its link, its active
/// alarms.
#[derive(Default)]
struct Seen {
    heard: bool,
    link_up: bool,
    alarms: BTreeSet<(u8, u8, bool)>,
}

fn code_of(index: u8) -> Option<AlarmCode> {
    AlarmCode::ALL.get(usize::from(index)).copied()
}

fn index_of(code: AlarmCode) -> u8 {
    AlarmCode::ALL
        .iter()
        .position(|c| *c == code)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// Watches the row every `period` and sends its events (as JSON text) to `tx`, until the
/// runtime stops.
pub async fn watch(row: Row, tx: broadcast::Sender<String>, period: Duration) {
    let mut seen: Vec<Seen> = Vec::new();
    let mut next_id: u64 = 0;
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let devices = snapshot(&row);
        seen.resize_with(devices.len(), Seen::default);
        let mut records = Vec::new();
        for (d, s) in devices.iter().zip(seen.iter_mut()) {
            if !d.link_up {
                if s.link_up {
                    records.push(link_record(d, false));
                }
                s.link_up = false;
                continue;
            }
            let now: BTreeSet<(u8, u8, bool)> = d
                .alarms
                .iter()
                .filter(|a| a.active)
                .map(|a| {
                    (
                        index_of(a.code),
                        a.instance,
                        a.severity == Severity::Critical,
                    )
                })
                .collect();
            // The first answer is the baseline: what was already so raises no event.
            if s.heard {
                if !s.link_up {
                    records.push(link_record(d, true));
                }
                for (raised, set) in [
                    (true, now.difference(&s.alarms)),
                    (false, s.alarms.difference(&now)),
                ] {
                    for &(code, instance, critical) in set {
                        let Some(code) = code_of(code) else { continue };
                        let severity = if critical {
                            Severity::Critical
                        } else {
                            Severity::Warning
                        };
                        records.push(record(d, &devices, code, instance, severity, raised));
                    }
                }
            }
            s.heard = true;
            s.link_up = true;
            s.alarms = now;
        }
        for mut r in records {
            next_id += 1;
            if let Some(o) = r.as_object_mut() {
                o.insert("EventId".into(), next_id.to_string().into());
            }
            let event = json!({
                "@odata.type": "#Event.v1_11_0.Event",
                "Id": next_id.to_string(),
                "Name": "rackloop alarm",
                "Events": [r],
            });
            // No subscriber is not an error: the event is simply not wanted now.
            let _ = tx.send(event.to_string());
        }
    }
}

fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn record(
    d: &Device,
    devices: &[Device],
    code: AlarmCode,
    instance: u8,
    severity: Severity,
    raised: bool,
) -> Value {
    let (id, text, args, sev) = message(d, devices, code, instance, severity, raised);
    json!({
        "EventTimestamp": timestamp(),
        "MessageId": id,
        "Message": text,
        "MessageArgs": args,
        "MessageSeverity": sev,
        "OriginOfCondition": { "@odata.id": alarm_origin(d, devices, code, instance) },
    })
}

fn link_record(d: &Device, up: bool) -> Value {
    let origin = format!("/redfish/v1/Chassis/{}", d.name);
    let (id, health) = if up {
        ("ResourceStatusChangedOK", "OK")
    } else {
        ("ResourceStatusChangedCritical", "Critical")
    };
    json!({
        "EventTimestamp": timestamp(),
        "MessageId": format!("{RESOURCE_EVENT}.{id}"),
        "Message": format!("The health of resource '{}' has changed to {health}.", d.name),
        "MessageArgs": [d.name, health],
        "MessageSeverity": health,
        "OriginOfCondition": { "@odata.id": origin },
    })
}

/// The SSE stream of events from now on.
pub async fn stream(tx: &broadcast::Sender<String>) -> Response {
    let rx = tx.subscribe();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(text) => {
                    let id = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_owned))
                        .unwrap_or_default();
                    return Some((Ok::<_, Infallible>(Event::default().id(id).data(text)), rx));
                }
                // A client too slow for the events it missed: carry on from the newest.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rack_host::link::Target;

    #[test]
    fn alarms_take_the_environmental_registrys_ids_where_it_has_one() {
        let d = Device::new("cdu".into(), Target::Tcp("x:1".into()));
        let devices = [d.clone()];
        for (code, severity, raised, expected) in [
            (AlarmCode::PumpFault, Severity::Critical, true, "PumpFailed"),
            (
                AlarmCode::PumpFault,
                Severity::Critical,
                false,
                "PumpRestored",
            ),
            (
                AlarmCode::LeakDetected,
                Severity::Warning,
                true,
                "LeakDetectedWarning",
            ),
            (
                AlarmCode::LeakDetected,
                Severity::Critical,
                true,
                "LeakDetectedCritical",
            ),
            (
                AlarmCode::LeakDetected,
                Severity::Critical,
                false,
                "LeakDetectedNormal",
            ),
            (
                AlarmCode::ValveFault,
                Severity::Warning,
                true,
                "ValveUnableToReachSetPoint",
            ),
            (
                AlarmCode::ReservoirLow,
                Severity::Warning,
                true,
                "FluidLevelWarning",
            ),
        ] {
            assert_eq!(
                message(&d, &devices, code, 0, severity, raised).0,
                format!("Environmental.1.3.0.{expected}"),
                "{code:?} raised {raised}"
            );
        }
        let (id, text, args, severity) = message(
            &d,
            &devices,
            AlarmCode::RowBusSilent,
            0,
            Severity::Warning,
            true,
        );
        assert_eq!(id, "ResourceEvent.1.3.0.ResourceErrorsDetected");
        assert_eq!(args, ["cdu", "RowBusSilent"]);
        assert!(text.contains("RowBusSilent"));
        assert_eq!(severity, "Warning");
        let pump = message(
            &d,
            &devices,
            AlarmCode::PumpFault,
            1,
            Severity::Critical,
            true,
        );
        assert_eq!(pump.1, "Pump '2' has failed.");
    }
}
