//! The commands: each sends its request, and prints the answer or says why it failed.

use rack_protocol::Message;
use rack_protocol::message::{
    AckAlarm, AckAllAlarms, Command, GetAlarms, GetCounters, GetDiagnostics, GetEvents,
    GetIdentity, GetSetpoint, GetTelemetry, SetMode, SetSetpoint,
};
use rack_protocol::types::{
    Action, AlarmCode, AuthRefusal, ModeSetting, OperatingMode, PumpControlMode, Refusal,
    UpdateProblem,
};
use serde_json::json;

use clap::CommandFactory;

use crate::cli::{Cli, Cmd, FirmwareCmd, ModeArg, PumpCmd, RackCmd, TrayCmd};
use crate::discover::discover;
use crate::firmware;
use crate::link::{Link, LinkError};
use crate::render::{event_line, kebab, telemetry_text, to_json};
use crate::watch::watch;
use crate::{Failure, open, units};
use std::time::Duration;

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
                ModeArg::Standby => {
                    confirm(
                        cli,
                        "`mode standby` stops a CDU's pumps: the row loses its cooling, and \
                         GPUs at load reach their slowdown temperature within a minute",
                    )?;
                    ModeSetting::Operating(OperatingMode::Standby)
                }
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
                TrayCmd::Disable { tray } => {
                    confirm(
                        cli,
                        &format!("`tray disable {tray}` powers the tray off and stops its jobs"),
                    )?;
                    Action::DisableTray(*tray)
                }
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
        Cmd::Firmware {
            action: FirmwareCmd::Status,
        } => firmware::status(cli),
        Cmd::Firmware {
            action:
                FirmwareCmd::Update {
                    image,
                    no_swap,
                    reconnect_s,
                },
        } => firmware::update(cli, image, *no_swap, Duration::from_secs(*reconnect_s)),
        Cmd::ClearLatched => simple(
            cli,
            &Message::Command(Command {
                action: Action::ClearLatched,
            }),
            "clear",
        ),
    }
}

/// Asks before a command that stops cooling or power: on a terminal the user types `yes`;
/// elsewhere (a script) the command needs `--yes`.
fn confirm(cli: &Cli, what: &str) -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    if cli.yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(format!(
            "{what}; not on a terminal, so add --yes to do it"
        )));
    }
    eprint!("{what}.\nType yes to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::Usage("not done: the answer was not `yes`".into()))
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
        out!(
            "{}",
            json!({ "alarms": to_json(&a.entries), "total": a.total })
        );
    } else if a.entries.is_empty() {
        out!("no alarms");
    } else {
        for e in &a.entries {
            out!(
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
                out!("{}", json!({ "ok": true }));
            } else {
                out!("ok");
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
        (Refusal::Unauthorized(why), _) => format!("refused: {what}: {}", auth_text(why)),
        (Refusal::NoSuchAlarm, _) => {
            format!("refused: {what}: no such alarm is listed (see `rackctl alarms`)")
        }
        (Refusal::WrongDevice { device }, _) => format!(
            "refused: {what} is for the other kind of device; this one is a {}",
            device_name(device)
        ),
        (Refusal::Image(why), _) => format!("refused: {what}: {why}"),
        (Refusal::Update(why), _) => format!("refused: {what}: {}", update_text(why)),
    };
    if cli.json {
        out!(
            "{}",
            json!({ "refused": to_json(&reason), "message": text })
        );
    }
    Failure::Refused(text)
}

/// What an update's refusal means for the technician.
fn update_text(why: UpdateProblem) -> String {
    match why {
        UpdateProblem::OutOfOrder { expected } => {
            format!("the device needs the image from byte {expected} next (resume from there)")
        }
        UpdateProblem::NotReceiving => "no update is in progress (begin it again)".into(),
        UpdateProblem::NotVerified => {
            "the update slot holds no whole, verified image to swap to".into()
        }
        UpdateProblem::TooLong => "more bytes than the image's header says".into(),
        UpdateProblem::OnTrial => "the running image is on trial and the update slot holds the \
             image to roll back to: wait until it has marked itself good (`rackctl firmware status`)"
            .into(),
        UpdateProblem::Flash => "the device's flash refused an erase, a write or a read".into(),
    }
}

/// What an authentication refusal means for the technician.
fn auth_text(why: AuthRefusal) -> String {
    match why {
        AuthRefusal::MissingMac => "changes need a key, and none is configured (--key-file FILE, \
             RACKCTL_KEY or key_file in ~/.config/rackctl/config.toml)"
            .into(),
        AuthRefusal::BadMac => "the device does not accept this key's secret".into(),
        AuthRefusal::UnknownKey => "the device holds no key with this id".into(),
        AuthRefusal::Replayed => {
            "the request's counter was not above the last one (a replay, or this host's clock \
             is behind another's using the same key)"
                .into()
        }
        AuthRefusal::RoleTooLow { needed } => {
            format!("this needs a key with the {} role", needed.name())
        }
    }
}

fn device_name(kind: rack_protocol::types::DeviceKind) -> &'static str {
    match kind {
        rack_protocol::types::DeviceKind::CoolantController => "coolant controller (CDU)",
        rack_protocol::types::DeviceKind::PowerController => "rack power controller",
    }
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
                out!(
                    "{}",
                    json!({ "name": named.name, "value": s.value, "min": s.min, "max": s.max,
                            "unit": named.unit, "scale": named.scale,
                            "display": units::display(named, s.value) })
                );
            } else {
                out!(
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
    // A version-1 device has no counters: it does not answer, and status goes on without.
    let counters = match &identity {
        Message::Identity(id) if id.protocol_version >= 2 => {
            match link.request(&Message::GetCounters(GetCounters))? {
                Message::Counters(c) => Some(c),
                _ => None,
            }
        }
        _ => None,
    };
    // Version 3 keeps a health record: why it last reset, its build, its buses' errors.
    let diagnostics = match &identity {
        Message::Identity(id) if id.protocol_version >= 3 => {
            match link.request(&Message::GetDiagnostics(GetDiagnostics))? {
                Message::Diagnostics(d) => Some(d),
                _ => None,
            }
        }
        _ => None,
    };
    if cli.json {
        let payload = |m: &Message| match m {
            Message::Identity(x) => to_json(x),
            Message::CoolantTelemetry(x) => to_json(x),
            Message::PowerTelemetry(x) => to_json(x),
            Message::Alarms(x) => to_json(x),
            other => json!({ "unexpected": format!("{:?}", other.kind()) }),
        };
        let counters = counters.map_or(serde_json::Value::Null, |c| {
            json!({ "frames": c.frames, "frame_rejects": c.frame_rejects,
                    "writes_accepted": c.writes_accepted,
                    "auth_refusals": { "missing_mac": c.auth_refusals[0], "bad_mac": c.auth_refusals[1],
                        "unknown_key": c.auth_refusals[2], "replayed": c.auth_refusals[3],
                        "role_too_low": c.auth_refusals[4] },
                    "refusals_not_logged": c.refusals_not_logged })
        });
        out!(
            "{}",
            json!({ "identity": payload(&identity), "telemetry": payload(&telemetry),
                    "alarms": payload(&alarms), "counters": counters,
                    "diagnostics": diagnostics.as_ref().map_or(serde_json::Value::Null, to_json) })
        );
        return Ok(());
    }
    if let Message::Identity(id) = &identity {
        out!(
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
    out!("{}", telemetry_text(&telemetry));
    if let Message::Alarms(a) = &alarms {
        let active: Vec<String> = a
            .entries
            .iter()
            .filter(|e| e.active)
            .map(|e| format!("{} {}", kebab(&format!("{:?}", e.code)), e.instance))
            .collect();
        out!(
            "alarms: {}",
            if active.is_empty() {
                "none active".to_owned()
            } else {
                active.join(", ")
            }
        );
    }
    if let Some(c) = counters {
        let [cobs, long, short, crc, version, kind, body] = c.frame_rejects;
        let [missing, bad, unknown, replayed, role] = c.auth_refusals;
        out!(
            "link: {} frames; rejected {} (COBS {cobs}, too long {long}, too short {short}, \
             CRC {crc}, version {version}, kind {kind}, body {body})",
            c.frames,
            c.frame_rejects.iter().sum::<u32>()
        );
        out!(
            "writes: {} accepted; refused {} (no MAC {missing}, bad MAC {bad}, unknown key \
             {unknown}, replayed {replayed}, role too low {role})",
            c.writes_accepted,
            c.auth_refusals.iter().sum::<u32>()
        );
    }
    if let Some(d) = diagnostics {
        out!("{}", diagnostics_text(&d));
    }
    Ok(())
}

/// The health record as `status` prints it: the last reset's cause (and the task the
/// watchdog found late), a saved fault, the stack, the buses, the settings, the build.
fn diagnostics_text(d: &rack_protocol::message::Diagnostics) -> String {
    let mut reset = format!("last reset: {}", kebab(&format!("{:?}", d.reset_cause)));
    if let Some(task) = d.missed_task {
        reset.push_str(&format!(
            " ({} missed its deadline)",
            kebab(&format!("{task:?}"))
        ));
    }
    if let Some(f) = d.fault {
        reset.push_str(&format!(
            "; fault at pc 0x{:08x} (lr 0x{:08x}, cfsr 0x{:08x}, hfsr 0x{:08x})",
            f.pc, f.lr, f.cfsr, f.hfsr
        ));
    }
    let stack = match d.stack_peak_bytes {
        Some(peak) if d.stack_size_bytes > 0 => {
            format!("stack {peak} of {} B used", d.stack_size_bytes)
        }
        Some(peak) => format!("stack {peak} B used"),
        None => "stack not measured".to_owned(),
    };
    format!(
        "{reset}\nhealth: {stack}; bus errors: field {}, row {}; settings {}; build {}",
        d.field_bus_errors,
        d.row_bus_errors,
        kebab(&format!("{:?}", d.settings)),
        if d.build.is_empty() {
            "unknown"
        } else {
            d.build.as_str()
        }
    )
}

/// Reads every event from `since`: the events, the sequence number to read from next, and
/// how many were overwritten before they could be read.
pub(crate) fn fetch_events(
    link: &mut Link,
    since: u32,
) -> Result<(Vec<rack_protocol::types::Event>, u32, u32), Failure> {
    let mut from = since;
    let mut all = Vec::new();
    let mut lost = 0u32;
    // A device holds at most a few hundred events: a log that never ends, or does not move
    // on, is a faulty device, not a reason to loop for ever.
    for _ in 0..MAX_EVENT_BATCHES {
        let answer = link.request(&Message::GetEvents(GetEvents { from_seq: from }))?;
        let Message::Events(batch) = &answer else {
            return Err(unexpected(&answer));
        };
        lost = lost.saturating_add(batch.lost);
        all.extend(batch.events.iter().copied());
        let moved = batch.next_seq > from;
        from = batch.next_seq;
        if !batch.more {
            return Ok((all, from, lost));
        }
        if !moved {
            return Err(Failure::Link(LinkError::Io(std::io::Error::other(
                format!(
                    "the device says more events wait after {from} but does not move on; \
                 stopped after {} events",
                    all.len()
                ),
            ))));
        }
    }
    Err(Failure::Link(LinkError::Io(std::io::Error::other(
        format!(
            "the device's log did not end after {MAX_EVENT_BATCHES} batches ({} events); stopped",
            all.len()
        ),
    ))))
}

/// The most event batches one read of the log takes (a device's ring holds far fewer).
const MAX_EVENT_BATCHES: usize = 1_000;

/// Prints the events from `since`.
pub(crate) fn log(cli: &Cli, link: &mut Link, since: u32) -> Result<(), Failure> {
    let (events, next, lost) = fetch_events(link, since)?;
    if cli.json {
        out!(
            "{}",
            json!({ "events": to_json(&events), "next_seq": next, "lost": lost })
        );
    } else {
        if lost > 0 {
            out!("({lost} events were overwritten before they could be read)");
        }
        for e in &events {
            out!("{}", event_line(e));
        }
    }
    Ok(())
}
