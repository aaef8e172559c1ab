//! The commands: each sends its request, and prints the answer or says why it failed.

use rack_protocol::Message;
use rack_protocol::message::{
    AckAlarm, AckAllAlarms, Command, GetAlarms, GetEvents, GetIdentity, GetSetpoint, GetTelemetry,
    SetMode, SetSetpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, ModeSetting, OperatingMode, PumpControlMode, Refusal,
};
use serde_json::json;

use clap::CommandFactory;

use crate::cli::{Cli, Cmd, ModeArg, PumpCmd, RackCmd, TrayCmd};
use crate::discover::discover;
use crate::link::{Link, LinkError};
use crate::render::{event_line, kebab, telemetry_text, to_json};
use crate::watch::watch;
use crate::{Failure, open, units};

/// Runs the command `cli` names.
pub(crate) fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "rackctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Cmd::Discover { tcp, host } => discover(cli, tcp, host),
        Cmd::Status => status(cli, &mut open(cli)?),
        Cmd::Watch { interval, count } => watch(cli, *interval, *count),
        Cmd::Get { name } => get(cli, name),
        Cmd::Set { name, value } => set(cli, name, value),
        Cmd::Mode { mode } => {
            let mode = match mode {
                ModeArg::Auto => ModeSetting::Operating(OperatingMode::Auto),
                ModeArg::Standby => ModeSetting::Operating(OperatingMode::Standby),
                ModeArg::Dp => ModeSetting::PumpControl(PumpControlMode::DifferentialPressure),
                ModeArg::Flow => ModeSetting::PumpControl(PumpControlMode::Flow),
            };
            simple(cli, &Message::SetMode(SetMode { mode }), "mode")
        }
        Cmd::Alarms => alarms(cli),
        Cmd::Ack {
            code,
            instance,
            all,
        } => ack(cli, code.as_deref(), *instance, *all),
        Cmd::Log { since } => log(cli, &mut open(cli)?, *since),
        Cmd::Pump { action } => {
            let action = match action {
                PumpCmd::Lead { pump } => Action::SetLeadPump(*pump),
                PumpCmd::Rotate => Action::RotateLead,
            };
            simple(cli, &Message::Command(Command { action }), "pump command")
        }
        Cmd::Tray { action } => {
            let action = match action {
                TrayCmd::Enable { tray } => Action::EnableTray(*tray),
                TrayCmd::Disable { tray } => Action::DisableTray(*tray),
            };
            simple(cli, &Message::Command(Command { action }), "tray command")
        }
        Cmd::Rack {
            action: RackCmd::Restore { rack },
        } => simple(
            cli,
            &Message::Command(Command {
                action: Action::RestoreRack(*rack),
            }),
            "rack restore",
        ),
        Cmd::ClearLatched => simple(
            cli,
            &Message::Command(Command {
                action: Action::ClearLatched,
            }),
            "clear",
        ),
    }
}

/// `get NAME`: a setting's value and its allowed range.
fn get(cli: &Cli, name: &str) -> Result<(), Failure> {
    let named = units::lookup(name).map_err(Failure::Usage)?;
    let answer = open(cli)?.request(&Message::GetSetpoint(GetSetpoint { id: named.id }))?;
    show_setpoint(cli, named, &answer)
}

/// `set NAME VALUE`: changes a setting; a refusal names why and the allowed range.
fn set(cli: &Cli, name: &str, value: &str) -> Result<(), Failure> {
    let named = units::lookup(name).map_err(Failure::Usage)?;
    let raw = units::parse(named, value).map_err(Failure::Usage)?;
    let answer = open(cli)?.request(&Message::SetSetpoint(SetSetpoint {
        id: named.id,
        value: raw,
    }))?;
    if let Message::Refused(r) = &answer {
        return Err(refused(
            cli,
            &format!("{name} {value}"),
            r.reason,
            Some(named),
        ));
    }
    show_setpoint(cli, named, &answer)
}

/// `alarms`: the device's alarm list.
fn alarms(cli: &Cli) -> Result<(), Failure> {
    let answer = open(cli)?.request(&Message::GetAlarms(GetAlarms))?;
    let Message::Alarms(a) = &answer else {
        return Err(unexpected(&answer));
    };
    if cli.json {
        println!(
            "{}",
            json!({ "alarms": to_json(&a.entries), "total": a.total })
        );
    } else if a.entries.is_empty() {
        println!("no alarms");
    } else {
        for e in &a.entries {
            println!(
                "{:<8} {:<22} instance {:<3} {}{} raised at {:.1} s",
                format!("{:?}", e.severity),
                kebab(&format!("{:?}", e.code)),
                e.instance,
                if e.active { "active" } else { "cleared" },
                if e.acknowledged { ", acknowledged" } else { "" },
                e.raised_at_ms as f64 / 1000.0
            );
        }
    }
    Ok(())
}

/// `ack CODE INSTANCE` or `ack --all`.
fn ack(cli: &Cli, code: Option<&str>, instance: u8, all: bool) -> Result<(), Failure> {
    let message = if all {
        Message::AckAllAlarms(AckAllAlarms)
    } else {
        let code = code.ok_or_else(|| {
            Failure::Usage("name an alarm (e.g. `ack pump-fault 0`) or use --all".into())
        })?;
        Message::AckAlarm(AckAlarm {
            code: alarm_code(code)?,
            instance,
        })
    };
    simple(cli, &message, "acknowledgement")
}

/// Sends a request whose answer is Ack or Refused.
pub(crate) fn simple(cli: &Cli, message: &Message, what: &str) -> Result<(), Failure> {
    match open(cli)?.request(message)? {
        Message::Ack(_) => {
            if cli.json {
                println!("{}", json!({ "ok": true }));
            } else {
                println!("ok");
            }
            Ok(())
        }
        Message::Refused(r) => Err(refused(cli, what, r.reason, None)),
        other => Err(unexpected(&other)),
    }
}

pub(crate) fn refused(
    cli: &Cli,
    what: &str,
    reason: Refusal,
    named: Option<&units::Named>,
) -> Failure {
    let text = match (reason, named) {
        (Refusal::OutOfRange { min, max }, Some(n)) => {
            format!(
                "refused: {what} is out of range; allowed {} ..= {}",
                units::display(n, min),
                units::display(n, max)
            )
        }
        (Refusal::OutOfRange { min, max }, None) => {
            format!("refused: {what} is out of range; allowed {min} ..= {max}")
        }
        (Refusal::WrongMode { current }, _) => {
            format!("refused: {what} needs another mode (the device is in {current:?})")
        }
        (Refusal::NotPermitted, _) => format!("refused: {what} is not permitted now"),
        (Refusal::NotSupported, _) => format!("refused: this device does not support {what}"),
        (Refusal::NoSuchInstance { count }, _) => format!(
            "refused: no such instance; this device has {count} (0..={})",
            count.saturating_sub(1)
        ),
    };
    if cli.json {
        println!(
            "{}",
            json!({ "refused": to_json(&reason), "message": text })
        );
    }
    Failure::Refused(text)
}

pub(crate) fn unexpected(m: &Message) -> Failure {
    Failure::Link(LinkError::Io(std::io::Error::other(format!(
        "unexpected answer {:?}",
        m.kind()
    ))))
}

pub(crate) fn show_setpoint(
    cli: &Cli,
    named: &units::Named,
    answer: &Message,
) -> Result<(), Failure> {
    match answer {
        Message::Setpoint(s) => {
            if cli.json {
                println!(
                    "{}",
                    json!({ "name": named.name, "value": s.value, "min": s.min, "max": s.max,
                            "unit": named.unit, "scale": named.scale,
                            "display": units::display(named, s.value) })
                );
            } else {
                println!(
                    "{} = {} (allowed {} ..= {})",
                    named.name,
                    units::display(named, s.value),
                    units::display(named, s.min),
                    units::display(named, s.max)
                );
            }
            Ok(())
        }
        Message::Refused(r) => Err(refused(cli, named.name, r.reason, Some(named))),
        other => Err(unexpected(other)),
    }
}

pub(crate) fn alarm_code(text: &str) -> Result<AlarmCode, Failure> {
    let name = |c: &AlarmCode| kebab(&format!("{c:?}"));
    AlarmCode::ALL
        .into_iter()
        .find(|c| name(c) == text)
        .ok_or_else(|| {
            let names: Vec<String> = AlarmCode::ALL.iter().map(name).collect();
            Failure::Usage(format!(
                "unknown alarm `{text}`; the alarms are: {}",
                names.join(", ")
            ))
        })
}

pub(crate) fn status(cli: &Cli, link: &mut Link) -> Result<(), Failure> {
    let identity = link.request(&Message::GetIdentity(GetIdentity))?;
    let telemetry = link.request(&Message::GetTelemetry(GetTelemetry))?;
    let alarms = link.request(&Message::GetAlarms(GetAlarms))?;
    if cli.json {
        let payload = |m: &Message| match m {
            Message::Identity(x) => to_json(x),
            Message::CoolantTelemetry(x) => to_json(x),
            Message::PowerTelemetry(x) => to_json(x),
            Message::Alarms(x) => to_json(x),
            other => json!({ "unexpected": format!("{:?}", other.kind()) }),
        };
        println!(
            "{}",
            json!({ "identity": payload(&identity), "telemetry": payload(&telemetry), "alarms": payload(&alarms) })
        );
        return Ok(());
    }
    if let Message::Identity(id) = &identity {
        println!(
            "{:?} {}  firmware {}.{}.{}  protocol v{}  up {:.0} s",
            id.device_kind,
            id.serial_number,
            id.firmware_version.major,
            id.firmware_version.minor,
            id.firmware_version.patch,
            id.protocol_version,
            id.uptime_ms as f64 / 1000.0
        );
    }
    println!("{}", telemetry_text(&telemetry));
    if let Message::Alarms(a) = &alarms {
        let active: Vec<String> = a
            .entries
            .iter()
            .filter(|e| e.active)
            .map(|e| format!("{} {}", kebab(&format!("{:?}", e.code)), e.instance))
            .collect();
        println!(
            "alarms: {}",
            if active.is_empty() {
                "none active".to_owned()
            } else {
                active.join(", ")
            }
        );
    }
    Ok(())
}

/// Reads every event from `since`: the events, the sequence number to read from next, and
/// how many were overwritten before they could be read.
pub(crate) fn fetch_events(
    link: &mut Link,
    since: u32,
) -> Result<(Vec<rack_protocol::types::Event>, u32, u32), Failure> {
    let mut from = since;
    let mut all = Vec::new();
    let mut lost = 0;
    loop {
        let answer = link.request(&Message::GetEvents(GetEvents { from_seq: from }))?;
        let Message::Events(batch) = &answer else {
            return Err(unexpected(&answer));
        };
        lost += batch.lost;
        all.extend(batch.events.iter().copied());
        from = batch.next_seq;
        if !batch.more {
            return Ok((all, from, lost));
        }
    }
}

/// Prints the events from `since`.
pub(crate) fn log(cli: &Cli, link: &mut Link, since: u32) -> Result<(), Failure> {
    let (events, next, lost) = fetch_events(link, since)?;
    if cli.json {
        println!(
            "{}",
            json!({ "events": to_json(&events), "next_seq": next, "lost": lost })
        );
    } else {
        if lost > 0 {
            println!("({lost} events were overwritten before they could be read)");
        }
        for e in &events {
            println!("{}", event_line(e));
        }
    }
    Ok(())
}
