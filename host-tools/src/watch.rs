//! `rackctl watch`: the live view of a device, redrawn at an interval, with its latest events.

use std::io::IsTerminal;
use std::time::Duration;

use rack_protocol::Message;
use rack_protocol::message::GetTelemetry;
use serde_json::{Value, json};

use crate::cli::Cli;
use crate::commands::fetch_events;
use crate::link::Link;
use crate::render::{event_line, telemetry_text, to_json};
use crate::{Failure, failure_text, open};

/// Events shown under the live view.
const WATCH_HISTORY: usize = 10;

pub(crate) fn watch(cli: &Cli, interval: f64, count: Option<u64>) -> Result<(), Failure> {
    if !(0.05..=3600.0).contains(&interval) {
        return Err(Failure::Usage(format!(
            "--interval {interval} is outside the allowed 0.05..=3600 s"
        )));
    }
    let tty = std::io::stdout().is_terminal() && !cli.json;
    let mut link: Option<Link> = None;
    let mut next_event = 1;
    let mut history: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    // Every update counts toward --count, answered or not: a watch of a device that is down
    // still ends, with the last failure.
    let mut updates = 0u64;
    let mut shown = 0u64;
    let mut last_failure: Option<Failure> = None;
    let mut last_uptime = 0u64;
    while count.is_none_or(|n| updates < n) {
        updates += 1;
        if link.is_none() {
            match open(cli) {
                Ok(l) => link = Some(l),
                Err(e @ Failure::Usage(_)) => return Err(e),
                Err(e) => last_failure = Some(e),
            }
        }
        let reading = link.as_mut().map(|l| {
            let telemetry = l.request(&Message::GetTelemetry(GetTelemetry))?;
            let uptime = match &telemetry {
                Message::CoolantTelemetry(t) => t.uptime_ms,
                Message::PowerTelemetry(t) => t.uptime_ms,
                _ => 0,
            };
            // A restart resets the device's uptime and its log: read it again from the start.
            if uptime < last_uptime {
                next_event = 1;
                history.push_back("(device restarted)".to_owned());
            }
            last_uptime = uptime;
            let (events, next, lost) = fetch_events(l, next_event)?;
            next_event = next;
            Ok::<_, Failure>((telemetry, events, lost))
        });
        match reading {
            Some(Ok((telemetry, events, lost))) => {
                if lost > 0 {
                    history.push_back(format!(
                        "({lost} events overwritten before they could be read)"
                    ));
                }
                history.extend(events.iter().map(event_line));
                while history.len() > WATCH_HISTORY {
                    history.pop_front();
                }
                if cli.json {
                    let payload = match &telemetry {
                        Message::CoolantTelemetry(t) => to_json(t),
                        Message::PowerTelemetry(t) => to_json(t),
                        _ => Value::Null,
                    };
                    out!(
                        "{}",
                        json!({ "telemetry": payload, "events": to_json(&events) })
                    );
                } else {
                    if tty {
                        crate::print_text(format_args!("\x1b[2J\x1b[H"));
                    }
                    out!("{}", telemetry_text(&telemetry));
                    out!("recent events:");
                    for line in &history {
                        out!("  {line}");
                    }
                }
                shown += 1;
            }
            Some(Err(e)) => {
                link = None;
                eprintln!("rackctl: {}; retrying", failure_text(&e));
                last_failure = Some(e);
            }
            None => {
                if let Some(e) = &last_failure {
                    eprintln!("rackctl: {}; retrying", failure_text(e));
                }
            }
        }
        if count.is_none_or(|n| updates < n) {
            std::thread::sleep(Duration::from_secs_f64(interval));
        }
    }
    match last_failure {
        Some(e) if shown == 0 => Err(e),
        _ => Ok(()),
    }
}
